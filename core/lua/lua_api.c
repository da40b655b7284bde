/*
 * lua_api.c -- the C half of the plugin API: plain functions that lua/moongate/
 * calls through LuaJIT's FFI (declared in lua_ffi.h, exported from the binary with
 * -Wl,-E). They take the task the runtime was handed for the current run, never a
 * request pointer kept in Lua, and check that the task still has its request.
 *
 * Strings go out as mg_str_t views (valid until the request changes them; the Lua side
 * copies them into Lua strings at once) and come in as pointer + length, copied into
 * the request's pool. Return codes are the core's (MG_OK, MG_DECLINED, MG_ERROR,
 * MG_AGAIN); which phase may call what is the Lua side's check.
 */
#include "lua_int.h"

#include "http_phase.h"
#include "tls.h"
#include "trace.h"

#include "conf.h"
#include "gen.h"
#include "clock.h"
#include "log.h"
#include "lua_ffi.h"
#include "pool.h"
#include "router.h"
#include "health.h"
#include "upstream.h"
#include "worker.h"

#include "llhttp.h"

#include <lauxlib.h>
#include <stdio.h>

/* What mg_lua_req_get() / mg_lua_req_set() address. Keep in step with ffi.lua. */
enum {
    F_METHOD = 0,
    F_PATH,
    F_QUERY,
    F_HOST,
    F_REMOTE_ADDR,
    F_ROUTE,
    F_REQUEST_ID,
    F_URI,
    F_SCHEME,
    F_UPSTREAM_ADDR,
    F_UPSTREAM,
    F_TRACE_ID,
    F_PEER_ADDR,
};

/* mg_lua_req_num() */
enum {
    N_START = 0,
    N_ELAPSED,
    N_UPSTREAM_TIME,
    N_STATUS,
    N_UPSTREAM_STATUS,
    N_REMOTE_PORT,
    N_BYTES_SENT,
    N_HTTP_MINOR,
    N_CONTENT_LENGTH,
    N_UPSTREAM_CONNECT_TIME,
    N_UPSTREAM_HEADER_TIME,
    N_PLUGIN_TIME, /* + phase: N_PLUGIN_TIME + MG_PHASE_LOG is the last */
};

char *mg__lua_pool_copy(mg_lua_task_t *t, const char *s, size_t len)
{
    return t->r != NULL ? mg_pool_strndup(t->r->pool, s != NULL ? s : "", len) : NULL;
}

/* ---- mg.tls ---- */

int mg_lua_tls_var(mg_lua_task_t *t, int var, char *buf, size_t len)
{
    if (t->r == NULL || !t->r->tls || var < 0 || var >= MG_TLS_VAR_N) {
        return -1;
    }
    return mg_tls_var(mg_http_transport(t->r), (mg_tls_var_t)var, buf, len);
}

/* ---- request fields ---- */

int mg_lua_req_get(mg_lua_task_t *t, int what, mg_str_t *out)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return MG_ERROR;
    }
    const mg_route_conf_t *route = r->match.route;
    switch (what) {
    case F_METHOD:
        *out = r->method_name;
        break;
    case F_PATH:
        *out = r->path;
        break;
    case F_QUERY:
        *out = r->query;
        break;
    case F_HOST:
        *out = r->host;
        break;
    case F_REMOTE_ADDR:
        *out = r->remote_addr;
        break;
    case F_ROUTE:
        *out = route ? mg_str(route->name, strlen(route->name)) : MG_NULL_STR;
        break;
    case F_REQUEST_ID:
        *out = r->request_id;
        break;
    case F_URI:
        *out = r->target;
        break;
    case F_SCHEME:
        *out = r->tls ? MG_STR("https") : MG_STR("http");
        break;
    case F_UPSTREAM_ADDR:
        *out = r->upstream_addr;
        break;
    case F_UPSTREAM: {
        const mg_upstream_conf_t *up = mg_request_upstream(r);
        *out = up != NULL ? mg_str(up->name, strlen(up->name)) : MG_NULL_STR;
        break;
    }
    case F_TRACE_ID:
        mg_trace_begin(r); /* nothing without `tracing:` */
        *out = r->trace_id;
        break;
    case F_PEER_ADDR:
        *out = r->peer_addr;
        break;
    default:
        return MG_ERROR;
    }
    return MG_OK;
}

double mg_lua_req_num(mg_lua_task_t *t, int what)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return -1;
    }
    switch (what) {
    case N_START:
        return r->start_wall;
    case N_ELAPSED:
        return ev_time() - r->start_wall;
    case N_UPSTREAM_TIME:
        return r->upstream_time;
    case N_UPSTREAM_CONNECT_TIME:
        return r->upstream_connect_time;
    case N_UPSTREAM_HEADER_TIME:
        return r->upstream_header_time;
    case N_STATUS:
        return r->status;
    case N_UPSTREAM_STATUS:
        return r->upstream_status;
    case N_REMOTE_PORT:
        return r->remote_port;
    case N_BYTES_SENT:
        return (double)r->bytes_sent;
    case N_HTTP_MINOR:
        return r->http_minor;
    case N_CONTENT_LENGTH:
        return (double)r->content_length;
    default:
        if (what >= N_PLUGIN_TIME && what <= N_PLUGIN_TIME + MG_PHASE_LOG) {
            return mg_lua_phase_time(r, what - N_PLUGIN_TIME);
        }
        return -1;
    }
}

static bool token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

static bool is_token(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!token_char((unsigned char)p[i])) {
            return false;
        }
    }
    return len > 0;
}

/* Bytes that may go into a request line or a header value as they are. */
static bool clean_text(const char *p, size_t len, bool spaces_ok)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == 0x7f || (c < 0x20 && c != '\t') || (!spaces_ok && (c == ' ' || c == '\t'))) {
            return false;
        }
    }
    return true;
}

static int set_method(mg_request_t *r, const char *p, size_t len)
{
    for (int m = 0; m <= 45; m++) {
        const char *name = llhttp_method_name((llhttp_method_t)m);
        if (name != NULL && strlen(name) == len && memcmp(name, p, len) == 0) {
            if (m == HTTP_CONNECT || m == HTTP_TRACE) {
                return MG_DECLINED;
            }
            r->method = m;
            r->method_name = mg_str(name, len);
            r->is_head = m == HTTP_HEAD;
            return MG_OK;
        }
    }
    return MG_DECLINED;
}

/* MG_OK, MG_DECLINED (a value the field cannot take) or MG_ERROR. */
int mg_lua_req_set(mg_lua_task_t *t, int what, const char *p, size_t len)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return MG_ERROR;
    }
    if (what == F_METHOD) {
        return set_method(r, p, len);
    }
    if (what == F_PATH && (len == 0 || p[0] != '/' || !clean_text(p, len, false) ||
                           memchr(p, '?', len) != NULL || memchr(p, '#', len) != NULL)) {
        return MG_DECLINED;
    }
    if (what == F_QUERY && (!clean_text(p, len, false) || memchr(p, '#', len) != NULL)) {
        return MG_DECLINED;
    }
    if (what != F_PATH && what != F_QUERY) {
        return MG_ERROR;
    }
    char *copy = mg__lua_pool_copy(t, p, len);
    if (copy == NULL) {
        return MG_ERROR;
    }
    if (what == F_PATH) {
        r->path = mg_str(copy, len);
    } else {
        r->query = mg_str(copy, len);
    }
    return MG_OK;
}

/* ---- header lists (request headers, response headers in header_filter) ---- */

typedef struct {
    mg_header_t **arr;
    size_t *n;
    size_t *cap;
} hlist_t;

static int hfind(const mg_header_t *h, size_t n, const char *name, size_t nlen, int idx,
                 mg_str_t *out)
{
    mg_str_t want = mg_str(name, nlen);
    for (size_t i = 0; i < n; i++) {
        if (mg_str_caseeq(h[i].name, want) && idx-- == 0) {
            *out = h[i].value;
            return MG_OK;
        }
    }
    return MG_DECLINED;
}

int mg__lua_hchange(mg_pool_t *pool, mg_header_t **arr, size_t *n, size_t *cap, bool *owned,
                    const char *name, size_t nlen, const char *value, size_t vlen, int mode)
{
    mg_str_t want = mg_str(name, nlen);
    if (!*owned || (mode != H_CLEAR && *n == *cap)) {
        size_t ncap = *n + 8;
        mg_header_t *copy = mg_pool_alloc(pool, ncap * sizeof(*copy));
        if (copy == NULL) {
            return MG_ERROR;
        }
        if (*n > 0) {
            memcpy(copy, *arr, *n * sizeof(*copy));
        }
        *arr = copy;
        *cap = ncap;
        *owned = true;
    }
    mg_header_t *h = *arr;
    if (mode != H_ADD) {
        size_t k = 0;
        for (size_t i = 0; i < *n; i++) {
            if (!mg_str_caseeq(h[i].name, want)) {
                h[k++] = h[i];
            }
        }
        *n = k;
    }
    if (mode == H_CLEAR) {
        return MG_OK;
    }
    char *nc = mg_pool_strndup(pool, name, nlen);
    char *vc = mg_pool_strndup(pool, value, vlen);
    if (nc == NULL || vc == NULL) {
        return MG_ERROR;
    }
    h[(*n)++] = (mg_header_t){mg_str(nc, nlen), mg_str(vc, vlen)};
    return MG_OK;
}

static bool header_ok(const char *name, size_t nlen, const char *value, size_t vlen, int mode)
{
    return is_token(name, nlen) && (mode == H_CLEAR || clean_text(value, vlen, true));
}

/* Headers whose meaning the gateway owns: framing and the connection. */
static bool reserved_header(const char *name, size_t nlen)
{
    mg_str_t n = mg_str(name, nlen);
    return mg_str_caseeq(n, MG_STR("Content-Length")) ||
           mg_str_caseeq(n, MG_STR("Transfer-Encoding")) ||
           mg_str_caseeq(n, MG_STR("Connection")) || mg_str_caseeq(n, MG_STR("Upgrade")) ||
           mg_str_caseeq(n, MG_STR("Expect"));
}

int mg_lua_req_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out)
{
    return t->r != NULL ? hfind(t->r->headers, t->r->nheaders, name, nlen, idx, out) : MG_ERROR;
}

int mg_lua_req_header_count(mg_lua_task_t *t)
{
    return t->r != NULL ? (int)t->r->nheaders : 0;
}

int mg_lua_req_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value)
{
    if (t->r == NULL || i < 0 || (size_t)i >= t->r->nheaders) {
        return MG_DECLINED;
    }
    *name = t->r->headers[i].name;
    *value = t->r->headers[i].value;
    return MG_OK;
}

/* MG_OK, MG_DECLINED (a name or value that may not be set) or MG_ERROR. */
int mg_lua_req_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                          size_t vlen, int mode)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return MG_ERROR;
    }
    if (!header_ok(name, nlen, value, vlen, mode) || reserved_header(name, nlen)) {
        return MG_DECLINED;
    }
    bool is_host = mg_str_caseeq(mg_str(name, nlen), MG_STR("Host"));
    if (is_host && mode != H_SET) {
        return MG_DECLINED;
    }
    bool owned = t->req_hdrs_owned;
    int rc = mg__lua_hchange(r->pool, &r->headers, &r->nheaders, &t->req_hdrs_cap, &owned, name,
                             nlen, value, vlen, mode);
    t->req_hdrs_owned = owned;
    if (rc == MG_OK && is_host) {
        mg_str_t v = r->headers[r->nheaders - 1].value;
        r->host_header = v;
        const char *colon = memchr(v.p, ':', v.len);
        r->host = mg_str(v.p, colon != NULL && v.p[0] != '[' ? (size_t)(colon - v.p) : v.len);
    }
    return rc;
}

/* Whether the matched route has a wildcard path, so that "*" is one of its params. */
static bool has_wildcard(const mg_request_t *r)
{
    const mg_route_conf_t *rc = r->match.route;
    for (size_t i = 0; rc != NULL && i < rc->npaths; i++) {
        size_t n = strlen(rc->paths[i]);
        if (n >= 2 && rc->paths[i][n - 2] == '/' && rc->paths[i][n - 1] == '*') {
            return r->match.wildcard.p != NULL;
        }
    }
    return false;
}

int mg_lua_req_param_count(mg_lua_task_t *t)
{
    return t->r != NULL ? (int)t->r->match.nparams + has_wildcard(t->r) : 0;
}

/* Route params in order, then the wildcard as "*" when the route has one. */
int mg_lua_req_param_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value)
{
    mg_request_t *r = t->r;
    if (r == NULL || i < 0) {
        return MG_DECLINED;
    }
    if ((size_t)i < r->match.nparams) {
        *name = r->match.params[i].name;
        *value = r->match.params[i].value;
        return MG_OK;
    }
    if ((size_t)i == r->match.nparams && has_wildcard(r)) {
        *name = MG_STR("*");
        *value = r->match.wildcard;
        return MG_OK;
    }
    return MG_DECLINED;
}

/* Matches the request again after a rewrite changed it: the new route index, or -1
 * when nothing matches (the request keeps its route). */
int mg_lua_req_reroute(mg_lua_task_t *t)
{
    mg_request_t *r = t->r;
    mg_route_match_t m;
    if (r == NULL || mg_router_match(r->gen->router, r->host, r->method, r->path, &m) != MG_OK) {
        return -1;
    }
    r->match = m;
    r->chain = &r->gen->chains[m.route->index]; /* the engine goes on in the new chain */
    t->phases = mg_lua_route_phases(t->lua, m.route->index);
    return m.route->index;
}

/* The consumer an access plugin named (NULL: none), for the limits keyed on it: the
 * consumer-limits phase reads r->consumer. */
void mg_lua_req_set_consumer(mg_lua_task_t *t, const char *name, size_t len)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return;
    }
    char *copy = name != NULL ? mg_pool_strndup(r->pool, name, len) : NULL;
    r->consumer = copy != NULL ? mg_str(copy, len) : MG_NULL_STR;
}

/* ---- the request body ---- */

int mg_lua_req_body_read(mg_lua_task_t *t, size_t max)
{
    if (t->r == NULL) {
        return MG_ERROR;
    }
    return mg__lua_body_read(t, max);
}

/* The body read so far: MG_OK (complete), MG_DECLINED (none), MG_AGAIN (partial: over
 * the limit asked for). */
int mg_lua_req_body(mg_lua_task_t *t, mg_str_t *out)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return MG_ERROR;
    }
    if (!r->has_body && !t->body_replaced) {
        *out = MG_NULL_STR;
        return MG_DECLINED;
    }
    *out = mg_str(t->body, t->body_len);
    return t->body_done ? MG_OK : MG_AGAIN;
}

/* Replaces the body sent upstream. The client's body must have been read whole first
 * (MG_DECLINED otherwise), so nothing of it is left on the connection. */
int mg_lua_req_body_set(mg_lua_task_t *t, const char *p, size_t len)
{
    mg_request_t *r = t->r;
    if (r == NULL) {
        return MG_ERROR;
    }
    if (r->has_body && !t->body_done) {
        return MG_DECLINED;
    }
    char *copy = mg__lua_pool_copy(t, p, len);
    if (copy == NULL) {
        return MG_ERROR;
    }
    t->body = copy;
    t->body_len = t->body_cap = len;
    t->body_done = true;
    t->body_replaced = true;
    r->chunked = false;
    r->content_length = (int64_t)len;
    r->has_body = len > 0;
    return MG_OK;
}

/* ---- the response ---- */

int mg_lua_resp_status(mg_lua_task_t *t)
{
    return t->resp_status;
}

int mg_lua_resp_set_status(mg_lua_task_t *t, int status)
{
    if (status < 200 || status > 599) {
        return MG_DECLINED;
    }
    t->resp_status = status;
    return MG_OK;
}

static const mg_header_t *resp_list(const mg_lua_task_t *t, size_t *n)
{
    *n = t->resp_hdrs != NULL ? t->nresp : t->nresp_in;
    return t->resp_hdrs != NULL ? t->resp_hdrs : t->resp_in;
}

int mg_lua_resp_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out)
{
    size_t n;
    const mg_header_t *h = resp_list(t, &n);
    return hfind(h, n, name, nlen, idx, out);
}

int mg_lua_resp_header_count(mg_lua_task_t *t)
{
    size_t n;
    resp_list(t, &n);
    return (int)n;
}

int mg_lua_resp_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value)
{
    size_t n;
    const mg_header_t *h = resp_list(t, &n);
    if (i < 0 || (size_t)i >= n) {
        return MG_DECLINED;
    }
    *name = h[i].name;
    *value = h[i].value;
    return MG_OK;
}

int mg_lua_resp_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                           size_t vlen, int mode)
{
    if (t->r == NULL) {
        return MG_ERROR;
    }
    if (!header_ok(name, nlen, value, vlen, mode) || reserved_header(name, nlen)) {
        return MG_DECLINED;
    }
    bool owned = t->resp_hdrs != NULL;
    mg_header_t *arr = owned ? t->resp_hdrs : (mg_header_t *)t->resp_in;
    size_t n = owned ? t->nresp : t->nresp_in;
    int rc =
        mg__lua_hchange(t->r->pool, &arr, &n, &t->cresp, &owned, name, nlen, value, vlen, mode);
    if (rc == MG_OK) {
        t->resp_hdrs = arr;
        t->nresp = n;
    }
    return rc;
}

void mg_lua_note_response(mg_request_t *r, const void *list, size_t n, int status)
{
    const mg_header_t *hdrs = list;
    mg_lua_task_t *t = r->lua;
    if (t == NULL) {
        return;
    }
    t->resp_status = status;
    if (t->resp_hdrs != NULL) {
        return; /* a header_filter made its own copy already */
    }
    /* the proxy's header array is reused: body_filter and log need a copy */
    mg_header_t *copy = mg_pool_alloc(r->pool, (n ? n : 1) * sizeof(*copy));
    if (copy == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *nm = mg_pool_strndup(r->pool, hdrs[i].name.p, hdrs[i].name.len);
        char *v = mg_pool_strndup(r->pool, hdrs[i].value.p, hdrs[i].value.len);
        if (nm == NULL || v == NULL) {
            return;
        }
        copy[i] = (mg_header_t){mg_str(nm, hdrs[i].name.len), mg_str(v, hdrs[i].value.len)};
    }
    t->resp_hdrs = copy;
    t->nresp = t->cresp = n;
}

/* The body_filter chunk: MG_OK, *eof set on the last call. */
int mg_lua_body_chunk(mg_lua_task_t *t, mg_str_t *out, int *eof)
{
    *out = mg_str(t->chunk, t->chunk_len);
    *eof = t->chunk_eof;
    return MG_OK;
}

/* A header of the answer a rewrite/access plugin gives. */
int mg_lua_exit_header(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                       size_t vlen)
{
    if (t->r == NULL) {
        return MG_ERROR;
    }
    if (!header_ok(name, nlen, value, vlen, H_ADD)) {
        return MG_DECLINED;
    }
    bool owned = t->exit_hdrs != NULL;
    return mg__lua_hchange(t->r->pool, &t->exit_hdrs, &t->nexit, &t->cexit, &owned, name, nlen,
                           value, vlen, H_ADD);
}

/* ---- logging and time ---- */

void mg_lua_log(mg_lua_task_t *t, int level, const char *msg, size_t len)
{
    if (level < MG_LOG_DEBUG || level > MG_LOG_ALERT) {
        level = MG_LOG_ERROR;
    }
    if (t != NULL && t->r != NULL) {
        mg_log_error((mg_log_level_t)level, "%.*s, client: %.*s, request_id: %.*s", (int)len, msg,
                     (int)t->r->remote_addr.len, t->r->remote_addr.p, (int)t->r->request_id.len,
                     t->r->request_id.p);
    } else {
        mg_log_error((mg_log_level_t)level, "%.*s", (int)len, msg);
    }
}

/* The wall clock now, not the loop's cached time: a plugin that has been running for a
 * while sees the time move. */
double mg_lua_now(mg_lua_task_t *t)
{
    return ev_time();
}

/* The runtime starts the plugins of `phase` inside the current run: the time so far
 * goes to the phase before (see mg_lua_phase_time). */
void mg_lua_phase_begin(mg_lua_task_t *t, int phase)
{
    mg__lua_time_switch(t, phase);
}

int mg_lua_sleep(mg_lua_task_t *t, double seconds)
{
    return mg__lua_sleep(t, seconds);
}

/* ---- the balancer ---- */

/* The request's upstream as this worker runs it (mg.upstream.set's, else the route's):
 * its node list follows DNS for names. */
static mg_upstream_t *route_upstream(mg_lua_task_t *t)
{
    const mg_upstream_conf_t *uc = t->r != NULL ? mg_request_upstream(t->r) : NULL;
    if (uc == NULL || t->r->gen == NULL) {
        return NULL;
    }
    return t->r->gen->upstreams[uc->index];
}

int mg_lua_upstream_node_count(mg_lua_task_t *t)
{
    const mg_upstream_t *u = route_upstream(t);
    return u != NULL ? (int)u->conf->nnodes : 0;
}

int mg_lua_upstream_node(mg_lua_task_t *t, int i, mg_str_t *addr, int *weight)
{
    if (i < 0 || i >= mg_lua_upstream_node_count(t)) {
        return MG_DECLINED;
    }
    const mg_upstream_t *u = route_upstream(t);
    const mg_node_conf_t *n = &u->conf->nodes[i];
    *addr = mg_str(n->addr.text, strlen(n->addr.text));
    /* a node DNS took away keeps its index (requests may hold it) with weight 0 */
    *weight = mg_upstream_node_gone(u, i) ? 0 : n->weight;
    return MG_OK;
}

/* What every worker sees of node `i` right now (nodestate.h): out[0] requests in
 * flight, out[1] tries sent, out[2] tries failed, out[3] the ewma latency estimate in
 * seconds (0 = not measured). MG_DECLINED for no such node. */
int mg_lua_upstream_node_load(mg_lua_task_t *t, int i, double *out)
{
    if (i < 0 || i >= mg_lua_upstream_node_count(t)) {
        return MG_DECLINED;
    }
    const mg_upstream_t *u = route_upstream(t);
    const mg_node_state_t *st = u->nodes[i].state;
    out[0] = (double)atomic_load_explicit(&st->inflight, memory_order_relaxed);
    out[1] = (double)atomic_load_explicit(&st->requests, memory_order_relaxed);
    out[2] = (double)atomic_load_explicit(&st->failures, memory_order_relaxed);
    out[3] = atomic_load_explicit(&st->ewma, memory_order_relaxed);
    return MG_OK;
}

/* A node's health as balancer.lua names it (lua_ffi.h). */
enum { MG_LUA_NODE_HEALTHY = 0, MG_LUA_NODE_UNHEALTHY, MG_LUA_NODE_EJECTED, MG_LUA_NODE_GONE };

/* The health of the first `n` nodes (at most the node count), in one pass: health[i]
 * MG_LUA_NODE_HEALTHY, _UNHEALTHY (active checks hold it down), _EJECTED (passive) or
 * _GONE (DNS took it away); breaker[i] its circuit breaker's state (MG_BREAKER_*), -1
 * when the upstream has no breaker; available[i] 1 when the balancer may pick it now
 * (health.h's mg_health_filter). Returns how many nodes were filled. */
int mg_lua_upstream_node_health(mg_lua_task_t *t, int n, int *health, int *breaker, int *available)
{
    mg_upstream_t *u = route_upstream(t);
    if (u == NULL || n <= 0) {
        return 0;
    }
    n = MG_MIN(n, (int)u->conf->nnodes);
    const mg_health_conf_t *h = &u->conf->health;
    double now = mg_mono_now();
    mg_balancer_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    mg_health_filter(u, &ctx);
    for (int i = 0; i < n; i++) {
        available[i] = !mg_balancer_skipped(&ctx, (size_t)i);
        breaker[i] =
            h->breaker.on ? (int)mg_breaker_state(u->nodes[i].state, &h->breaker, now, NULL) : -1;
        const char *st = mg_health_node_state(u, i, now);
        health[i] = mg_upstream_node_gone(u, i)    ? MG_LUA_NODE_GONE
                    : strcmp(st, "unhealthy") == 0 ? MG_LUA_NODE_UNHEALTHY
                    : strcmp(st, "ejected") == 0   ? MG_LUA_NODE_EJECTED
                                                   : MG_LUA_NODE_HEALTHY;
    }
    return n;
}

/* Picks node `i` (0-based) of the request's upstream for the first try: MG_OK, or
 * MG_DECLINED for no such node or one DNS took away, or MG_AGAIN (without force) when it
 * is unavailable now (down, ejected, breaker open): the request is then balanced as
 * usual. The proxy checks an unforced choice again when it picks (http_proxy.c). */
int mg_lua_set_peer(mg_lua_task_t *t, int i, int force)
{
    if (i < 0 || i >= mg_lua_upstream_node_count(t) ||
        mg_upstream_node_gone(route_upstream(t), i)) {
        return MG_DECLINED;
    }
    mg_balancer_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    if (!force &&
        (mg_health_filter(route_upstream(t), &ctx) == 0 || mg_balancer_skipped(&ctx, (size_t)i))) {
        t->peer = -1;
        t->peer_forced = false;
        return MG_AGAIN;
    }
    t->peer = i;
    t->peer_forced = force != 0;
    return MG_OK;
}

/* ---- the request's upstream (mg.upstream) ---- */

/* Sends the request to upstream `name` instead of the route's: MG_OK, MG_DECLINED when
 * no upstream has that name, MG_ERROR when the route answers by itself (`return:`). A
 * node picked with set_peer for the previous upstream is forgotten. */
int mg_lua_upstream_set(mg_lua_task_t *t, const char *name, size_t len)
{
    mg_request_t *r = t->r;
    if (r == NULL || r->gen == NULL || r->match.route == NULL) {
        return MG_DECLINED;
    }
    if (r->match.route->ret != NULL) {
        return MG_ERROR;
    }
    const mg_conf_t *conf = r->gen->conf;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const mg_upstream_conf_t *uc = &conf->upstreams[i];
        if (strlen(uc->name) == len && memcmp(uc->name, name, len) == 0) {
            if (uc != mg_request_upstream(r)) {
                t->peer = -1;
                t->peer_forced = false;
            }
            r->upstream = uc;
            return MG_OK;
        }
    }
    return MG_DECLINED;
}

/* ---- the watchdog ---- */

int32_t *mg_lua_watch_cell(mg_lua_task_t *t)
{
    return &mg__lua_where;
}

mg_lua_task_t **mg_lua_task_cell(void)
{
    return &mg__lua_task_now;
}

size_t mg_lua_memory_used(mg_lua_task_t *t)
{
    return t != NULL && t->lua != NULL ? t->lua->mem : 0;
}
