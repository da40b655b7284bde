/*
 * lua_native.c -- plugin work done in C, without entering Lua: a bundled plugin may
 * compile a config into a native handler (lua/moongate/native.lua), and a route whose
 * every plugin has one for each of its phases runs them from the phase engine directly.
 * No task, no coroutine and no Lua call are made for such a request, which is most of
 * what a plugin costs when its own work is a lookup.
 *
 * Two kinds:
 *  - cidr: ip-restriction's check of the client address against its allow and deny
 *    matchers (lua_cidr.c), with the plugin's refusal (status, JSON body);
 *  - token: a cache of credentials a plugin verified in Lua (jwt-auth): the token, the
 *    wall-clock window in which it stays valid, the consumer it names and the request
 *    headers to set. A hit applies them; anything else (no token, a form the fast path
 *    does not read, a miss, an expired entry) declines, and the phase runs in Lua as
 *    before, where the plugin verifies and fills the cache.
 *
 * Natives are made and freed by the Lua side (ffi.gc) and kept alive by the runtime for
 * the state's life; a route's chain (mg_lua_native_route) borrows them and dies with
 * the state. A native is used by one worker's loop only.
 */
#include "lua_int.h"

#include "cidr.h"
#include "lua_ffi.h"
#include "gen.h"
#include "metrics_store.h"
#include "pool.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NATIVE_CIDR = 1, NATIVE_TOKEN };

#define TOKEN_MAX 8192      /* longer tokens are not cached */
#define TOKEN_HEADERS_MAX 8 /* header names a token may come from */

/* One cached credential: one malloc'd block, the strings after the struct. */
typedef struct {
    uint32_t hash;
    uint32_t nset;   /* headers to set */
    double from, to; /* wall-clock seconds */
    mg_str_t token;
    mg_str_t consumer;
    mg_header_t set[]; /* nset, then the bytes */
} tentry_t;

struct mg_lua_native_s {
    int kind;
    /* cidr */
    const mg_lua_cidr_t *allow, *deny;
    int status;
    char *msg; /* the refusal's "error", JSON-encoded (with its quotes) */
    size_t msg_len;
    /* token */
    mg_str_t from[TOKEN_HEADERS_MAX]; /* header names, in the plugin's order */
    bool bearer[TOKEN_HEADERS_MAX];   /* Authorization: only "Bearer <token>" */
    size_t nfrom;
    mg_str_t *clear; /* names cleared on every request the cache answers */
    size_t nclear;
    bool hide; /* remove the header the token came in */
    tentry_t **slots;
    size_t mask; /* slots - 1 (a power of two) */
    size_t used;
    uint64_t hits, misses;
};

struct mg_lua_native_chain_s {
    int phase;
    size_t n;
    mg_lua_native_t **h;
    int *cell; /* plugin index * 8 + phase of each, for the call counters */
};

/* ---- making them (from Lua) ---- */

mg_lua_native_t *mg_lua_native_cidr(const mg_lua_cidr_t *allow, const mg_lua_cidr_t *deny,
                                    int status, const char *msg_json, size_t mlen)
{
    mg_lua_native_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->kind = NATIVE_CIDR;
    n->allow = allow;
    n->deny = deny;
    n->status = status;
    n->msg = strndup(msg_json, mlen); /* JSON text: no NUL inside */
    n->msg_len = mlen;
    if (n->msg == NULL) {
        free(n);
        return NULL;
    }
    return n;
}

/* Splits "a\0b\0c\0" (len bytes) into mg_str_t views of a copy owned by *block. */
static size_t split_names(const char *packed, size_t len, mg_str_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k < max;) {
        size_t l = strnlen(packed + i, len - i);
        out[k++] = mg_str(packed + i, l);
        i += l + 1;
    }
    return k;
}

static size_t count_names(const char *packed, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        k += packed[i] == '\0';
    }
    return k;
}

mg_lua_native_t *mg_lua_native_token(int cap, const char *from, size_t flen, const char *clear,
                                     size_t clen, int hide)
{
    mg_lua_native_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->kind = NATIVE_TOKEN;
    n->hide = hide != 0;
    size_t slots = 16;
    while (slots < (size_t)(cap > 0 ? cap : 1) && slots < ((size_t)1 << 24)) {
        slots <<= 1;
    }
    n->slots = calloc(slots, sizeof(*n->slots));
    /* the names are kept in one copy: "from" first, then "clear" */
    n->msg = malloc(flen + clen + 1);
    n->nclear = count_names(clear, clen);
    n->clear = calloc(n->nclear ? n->nclear : 1, sizeof(*n->clear));
    if (n->slots == NULL || n->msg == NULL || n->clear == NULL) {
        mg_lua_native_free(n);
        return NULL;
    }
    n->mask = slots - 1;
    memcpy(n->msg, from, flen);
    memcpy(n->msg + flen, clear, clen);
    n->nfrom = split_names(n->msg, flen, n->from, TOKEN_HEADERS_MAX);
    for (size_t i = 0; i < n->nfrom; i++) {
        n->bearer[i] = mg_str_caseeq(n->from[i], MG_STR("Authorization"));
    }
    split_names(n->msg + flen, clen, n->clear, n->nclear);
    return n;
}

void mg_lua_native_token_flush(mg_lua_native_t *n)
{
    if (n == NULL || n->kind != NATIVE_TOKEN) {
        return;
    }
    for (size_t i = 0; i <= n->mask; i++) {
        free(n->slots[i]);
        n->slots[i] = NULL;
    }
    n->used = 0;
}

void mg_lua_native_free(mg_lua_native_t *n)
{
    if (n == NULL) {
        return;
    }
    if (n->slots != NULL) {
        mg_lua_native_token_flush(n);
    }
    free(n->slots);
    free(n->clear);
    free(n->msg);
    free(n);
}

/* set: "name\0value\0" * nset. */
int mg_lua_native_token_put(mg_lua_native_t *n, const char *tok, size_t tlen, double from,
                            double to, const char *consumer, size_t clen, const char *set,
                            size_t slen, int nset)
{
    if (n == NULL || n->kind != NATIVE_TOKEN || tlen == 0 || tlen > TOKEN_MAX || nset < 0 ||
        nset > 64 || slen > 65536 || clen > 1024 || !(from <= to)) {
        return MG_DECLINED;
    }
    size_t size = sizeof(tentry_t) + (size_t)nset * sizeof(mg_header_t) + tlen + clen + slen;
    tentry_t *e = malloc(size);
    if (e == NULL) {
        return MG_ERROR;
    }
    char *p = (char *)(e->set + nset);
    e->hash = mg_hash32(tok, tlen);
    e->from = from;
    e->to = to;
    memcpy(p, tok, tlen);
    e->token = mg_str(p, tlen);
    p += tlen;
    memcpy(p, consumer, clen);
    e->consumer = mg_str(clen > 0 ? p : NULL, clen);
    p += clen;
    memcpy(p, set, slen);
    mg_str_t parts[128];
    size_t np = split_names(p, slen, parts, MG_NELEMS(parts));
    e->nset = (uint32_t)(np / 2 < (size_t)nset ? np / 2 : (size_t)nset);
    for (uint32_t i = 0; i < e->nset; i++) {
        e->set[i] = (mg_header_t){parts[2 * i], parts[2 * i + 1]};
    }
    tentry_t **slot = &n->slots[e->hash & n->mask];
    if (*slot == NULL) {
        n->used++;
    }
    free(*slot); /* a direct-mapped cache: the newer credential takes the slot */
    *slot = e;
    return MG_OK;
}

/* hits, misses, entries: for tests and /status */
void mg_lua_native_token_stats(const mg_lua_native_t *n, double *out)
{
    out[0] = (double)n->hits;
    out[1] = (double)n->misses;
    out[2] = (double)n->used;
}

/* ---- the chains of a state's routes ---- */

static void chain_free(mg_lua_native_chain_t *c)
{
    if (c != NULL) {
        free(c->h);
        free(c->cell);
        free(c);
    }
}

int mg_lua_native_route(void *state, int route, int phase, mg_lua_native_t **h, const int *cell,
                        int n)
{
    mg_lua_t *lua = state;
    size_t nroutes = lua->conf->nroutes;
    if (route < 0 || (size_t)route >= nroutes || phase < 0 || phase > MG_PHASE_ACCESS || n <= 0) {
        return MG_ERROR;
    }
    if (lua->native == NULL) {
        lua->native = calloc(nroutes * 2, sizeof(*lua->native));
        if (lua->native == NULL) {
            return MG_ERROR;
        }
    }
    mg_lua_native_chain_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return MG_ERROR;
    }
    c->phase = phase;
    c->n = (size_t)n;
    c->h = malloc((size_t)n * sizeof(*c->h));
    c->cell = malloc((size_t)n * sizeof(*c->cell));
    if (c->h == NULL || c->cell == NULL) {
        chain_free(c);
        return MG_ERROR;
    }
    memcpy(c->h, h, (size_t)n * sizeof(*c->h));
    memcpy(c->cell, cell, (size_t)n * sizeof(*c->cell));
    chain_free(lua->native[route * 2 + phase]);
    lua->native[route * 2 + phase] = c;
    return MG_OK;
}

const mg_lua_native_chain_t *mg_lua_route_native(const mg_lua_t *lua, int route, int phase)
{
    if (lua == NULL || lua->native == NULL || route < 0 || (size_t)route >= lua->nroutes ||
        phase < 0 || phase > MG_PHASE_ACCESS) {
        return NULL;
    }
    return lua->native[route * 2 + phase];
}

void mg__lua_native_destroy(mg_lua_t *lua)
{
    if (lua->native == NULL) {
        return;
    }
    for (size_t i = 0; i < lua->conf->nroutes * 2; i++) {
        chain_free(lua->native[i]);
    }
    free(lua->native);
    lua->native = NULL;
}

/* ---- the request path ---- */

/* The plugin's refusal, as the Lua path gives it: {"error":..,"status":..,"request_id":..} */
static int refuse(mg_request_t *r, const mg_lua_native_t *n)
{
    size_t cap = n->msg_len + r->request_id.len + 64;
    char *body = mg_pool_alloc(r->pool, cap);
    if (body == NULL) {
        return 500;
    }
    int len = snprintf(body, cap, "{\"error\":%s,\"status\":%d,\"request_id\":\"%.*s\"}\n", n->msg,
                       n->status, (int)r->request_id.len, r->request_id.p);
    mg_header_t ct = {MG_STR("Content-Type"), MG_STR("application/json")};
    mg_http_respond_headers(r, n->status, &ct, 1, body, (size_t)len);
    return MG_DONE;
}

/* MG_OK, or the status of the refusal (answered by the caller, after counting). */
static int run_cidr(const mg_request_t *r, const mg_lua_native_t *n)
{
    mg_ip_t ip;
    bool parsed = mg_ip_parse(r->remote_addr.p, r->remote_addr.len, &ip) == MG_OK;
    /* an address that does not parse (a unix socket client) is refused rather than let
     * through unchecked, as in the plugin's Lua */
    if (n->deny != NULL && (!parsed || mg_lua_cidr_match_ip(n->deny, &ip))) {
        return n->status;
    }
    if (n->allow != NULL && (!parsed || !mg_lua_cidr_match_ip(n->allow, &ip))) {
        return n->status;
    }
    return MG_OK;
}

static const mg_header_t *find_header(const mg_request_t *r, mg_str_t name, size_t *count)
{
    const mg_header_t *first = NULL;
    *count = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (mg_str_caseeq(r->headers[i].name, name)) {
            first = first != NULL ? first : &r->headers[i];
            (*count)++;
        }
    }
    return first;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The token in the first of the plugin's headers the request has, in the plain forms
 * only: "Bearer <token>" (Authorization) or a bare value without blanks (others). An
 * empty view: let Lua read it. */
static mg_str_t token_of(const mg_request_t *r, const mg_lua_native_t *n, size_t *which)
{
    for (size_t i = 0; i < n->nfrom; i++) {
        size_t count;
        const mg_header_t *h = find_header(r, n->from[i], &count);
        if (h == NULL) {
            continue;
        }
        mg_str_t v = h->value;
        *which = i;
        if (n->bearer[i]) {
            if (v.len <= 7 || memcmp(v.p, "Bearer ", 7) != 0) {
                return MG_NULL_STR;
            }
            v = mg_str(v.p + 7, v.len - 7);
        }
        for (size_t k = 0; k < v.len; k++) {
            if (is_space(v.p[k])) {
                return MG_NULL_STR;
            }
        }
        return v;
    }
    return MG_NULL_STR;
}

static int run_token(mg_request_t *r, mg_lua_native_t *n)
{
    size_t which = 0;
    mg_str_t tok = token_of(r, n, &which);
    if (tok.len == 0 || tok.len > TOKEN_MAX) {
        return MG_DECLINED;
    }
    uint32_t hash = mg_hash32(tok.p, tok.len);
    const tentry_t *e = n->slots[hash & n->mask];
    double now = ev_time();
    if (e == NULL || e->hash != hash || !mg_str_eq(e->token, tok) || now < e->from || now > e->to) {
        n->misses++;
        return MG_DECLINED;
    }
    n->hits++;
    bool owned = false;
    size_t cap = r->nheaders;
    int rc = MG_OK;
    for (size_t i = 0; i < n->nclear && rc == MG_OK; i++) {
        rc = mg__lua_hchange(r->pool, &r->headers, &r->nheaders, &cap, &owned, n->clear[i].p,
                             n->clear[i].len, NULL, 0, H_CLEAR);
    }
    for (uint32_t i = 0; i < e->nset && rc == MG_OK; i++) {
        rc = mg__lua_hchange(r->pool, &r->headers, &r->nheaders, &cap, &owned, e->set[i].name.p,
                             e->set[i].name.len, e->set[i].value.p, e->set[i].value.len, H_SET);
    }
    if (n->hide && rc == MG_OK) {
        rc = mg__lua_hchange(r->pool, &r->headers, &r->nheaders, &cap, &owned, n->from[which].p,
                             n->from[which].len, NULL, 0, H_CLEAR);
    }
    if (rc != MG_OK) {
        return 500;
    }
    if (e->consumer.len > 0) {
        char *c = mg_pool_strndup(r->pool, e->consumer.p, e->consumer.len);
        if (c == NULL) {
            return 500;
        }
        r->consumer = mg_str(c, e->consumer.len);
    }
    return MG_OK;
}

/* Counts a native call as the Lua path counts a plugin's (its time is under a
 * microsecond: observed as 0, the first bucket). */
static void count_call(const mg_lua_t *lua, int cell, bool ok)
{
    uint64_t **pc = mg_lua_plugin_cells((void *)lua);
    uint64_t *cells = pc != NULL && cell >= 0 ? pc[cell] : NULL;
    if (cells == NULL) {
        return;
    }
    const mg_metrics_conf_t *mc = &lua->conf->metrics;
    mg_metrics_add(&cells[MG_LUA_PM_CALLS], 1);
    if (!ok) {
        mg_metrics_add(&cells[MG_LUA_PM_ERRORS], 1);
    }
    mg_metrics_observe(cells + MG_LUA_PM_HIST, mc->buckets, (uint32_t)mc->nbuckets, 0);
}

int mg__lua_native_run(mg_request_t *r, mg_lua_native_t *n)
{
    return n->kind == NATIVE_CIDR ? run_cidr(r, n) : run_token(r, n);
}

static void count_native(const mg_lua_t *lua, int which)
{
    mg_worker_stats_t *ws = lua->w != NULL ? lua->w->stats : NULL;
    if (ws != NULL) {
        __atomic_store_n(&ws->lua_native[which], ws->lua_native[which] + 1, __ATOMIC_RELAXED);
    }
}

int mg_lua_native_handler(mg_request_t *r, const void *data)
{
    const mg_lua_native_chain_t *c = data;
    mg_lua_t *lua = r->gen->lua;
    /* a request that already runs plugins in Lua (an earlier phase declined) stays there */
    if (r->lua != NULL) {
        return mg__lua_run_phase(r, c->phase);
    }
    for (size_t i = 0; i < c->n; i++) {
        mg_lua_native_t *n = c->h[i];
        int rc = mg__lua_native_run(r, n);
        if (rc == MG_DECLINED) {
            /* the whole phase runs in Lua, from its first plugin: the natives before
             * this one only checked, or set what Lua sets again */
            count_native(lua, 1);
            return mg__lua_run_phase(r, c->phase);
        }
        /* counted first: the answer may end the request */
        count_call(lua, c->cell[i], rc == MG_OK || n->kind == NATIVE_CIDR);
        if (rc != MG_OK) {
            count_native(lua, 0);
            return n->kind == NATIVE_CIDR ? refuse(r, n) : rc;
        }
    }
    count_native(lua, 0);
    return MG_OK;
}
