/*
 * ratelimit.c -- a route's limits on the request path (see ratelimit.h): the key of
 * each limit, the check in the local zone or through the cluster client, the waits
 * (cluster answers, leaky-bucket delays), the rejection answer and the headers of
 * allowed responses.
 *
 * A check walks the route's list in order and may stop on a cluster check that
 * answers later; the walk then goes on from the callback. Limits before a rejection
 * have counted the request (as nginx's limit_req does); concurrency slots taken are
 * given back when the request ends, never earlier and exactly once.
 */
#include "ratelimit.h"

#include "clock.h"
#include "conf.h"
#include "gen.h"
#include "http_phase.h"
#include "log.h"
#include "metrics_store.h"
#include "pool.h"
#include "ratelimit_cluster.h"
#include "ratelimit_zone.h"
#include "worker.h"

#include <ev.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MG_RL_MAX 16 /* limits per route (conf_ratelimit.c) */

/* A concurrency slot to give back at the end. */
typedef struct {
    mg_rl_conf_t conf;  /* a copy: the local share differs from the route's limit */
    mg_rl_zone_t *zone; /* NULL for a cluster slot */
    mg_str_t key;       /* in r's pool */
} held_t;

/* A rejection's answer; made only when a limit rejects. */
typedef struct {
    mg_header_t hdrs[6];
    size_t nhdrs;
    char hbuf[160];
    char body[320];
    size_t blen;
} rl_answer_t;

/* Per request, made (zeroed) by every limited request: keep it small, the rarer parts
 * hang off it and are made on first use. */
struct mg_rl_req_s {
    mg_request_t *r;
    mg_rl_cluster_t *cl;
    held_t *held; /* MG_RL_MAX entries, made by the first concurrency slot */
    size_t nheld;
    /* RateLimit-* for allowed responses: the most restrictive limit with headers */
    mg_rl_result_t shown;
    bool has_shown;
    /* the walk in progress */
    unsigned stages;
    size_t next;
    mg_str_t consumer;
    mg_str_t key; /* of the limit being checked */
    double delay; /* the longest leaky-bucket delay so far */
    bool delayed; /* the limit being checked made the request wait (metrics) */
    mg_rl_done_fn done;
    void *arg;
    void *pending; /* cluster check handle */
    ev_timer timer;
    bool timer_on;
    rl_answer_t *ans; /* the rejection, or NULL */
};

typedef struct mg_rl_req_s rl_req_t;

static bool uses_consumer(const mg_rl_conf_t *c)
{
    for (size_t i = 0; i < c->nkey; i++) {
        if (c->key[i].kind == MG_RL_KEY_CONSUMER) {
            return true;
        }
    }
    return false;
}

static bool in_stages(const mg_rl_conf_t *c, unsigned stages)
{
    return (stages & (uses_consumer(c) ? MG_RL_CONSUMER : MG_RL_EARLY)) != 0;
}

bool mg_rl_route_has(const mg_route_conf_t *route, unsigned stages)
{
    for (size_t i = 0; route != NULL && i < route->nrate_limits; i++) {
        if (in_stages(&route->rate_limits[i], stages)) {
            return true;
        }
    }
    return false;
}

/* ---- keys ---- */

mg_str_t mg_rl_key_part_value(const mg_request_t *r, const mg_rl_key_part_t *p, mg_str_t consumer)
{
    mg_str_t name = mg_str(p->name, p->len);
    switch (p->kind) {
    case MG_RL_KEY_REMOTE_ADDR:
        return r->remote_addr;
    case MG_RL_KEY_HEADER:
        return mg_http_header(r, name);
    case MG_RL_KEY_QUERY:
        return mg_http_query_arg(r, name);
    case MG_RL_KEY_COOKIE:
        return mg_http_cookie(r, name);
    case MG_RL_KEY_CONSUMER:
        return consumer;
    case MG_RL_KEY_ROUTE:
        return r->match.route != NULL ? mg_str(r->match.route->name, strlen(r->match.route->name))
                                      : MG_NULL_STR;
    }
    return MG_NULL_STR;
}

/* The key value of limit `c`: its parts joined by 0x1f (a byte no part holds). MG_OK,
 * MG_DECLINED when a part has no value, MG_ERROR (out of memory). */
static int build_key(rl_req_t *st, const mg_rl_conf_t *c, mg_str_t *out)
{
    mg_str_t parts[8];
    size_t n = MG_MIN(c->nkey, MG_NELEMS(parts)), total = 0;
    for (size_t i = 0; i < n; i++) {
        parts[i] = mg_rl_key_part_value(st->r, &c->key[i], st->consumer);
        if (parts[i].len == 0) {
            return MG_DECLINED;
        }
        total += parts[i].len + 1;
    }
    if (n == 1) {
        *out = parts[0];
        return MG_OK;
    }
    char *buf = mg_pool_alloc(st->r->pool, total);
    if (buf == NULL) {
        return MG_ERROR;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + off, parts[i].p, parts[i].len);
        off += parts[i].len;
        buf[off++] = '\x1f';
    }
    *out = mg_str(buf, off - 1);
    return MG_OK;
}

/* ---- the answer ---- */

static void add_header(rl_answer_t *a, mg_str_t name, const char *fmt, double v, size_t *off)
{
    int n = snprintf(a->hbuf + *off, sizeof(a->hbuf) - *off, fmt, v);
    if (n <= 0 || *off + (size_t)n >= sizeof(a->hbuf)) {
        return;
    }
    a->hdrs[a->nhdrs++] = (mg_header_t){name, mg_str(a->hbuf + *off, (size_t)n)};
    *off += (size_t)n;
}

/* Seconds as the headers write them: whole, rounded up. */
static double whole(double s)
{
    return s > 0 ? ceil(s - 1e-9) : 0;
}

/* Makes the rejection answer of limit `c` (res NULL: a missing key). Returns the
 * status. */
static int reject(rl_req_t *st, const mg_rl_conf_t *c, const mg_rl_result_t *res, const char *why)
{
    mg_request_t *r = st->r;
    rl_answer_t *a = st->ans != NULL ? st->ans : mg_pool_alloc(r->pool, sizeof(*a));
    if (a == NULL) {
        return 500;
    }
    st->ans = a;
    size_t off = 0;
    a->nhdrs = 0;
    a->hdrs[a->nhdrs++] = (mg_header_t){MG_STR("Content-Type"), MG_STR("application/json")};
    if (res != NULL) {
        add_header(a, MG_STR("Retry-After"), "%.0f", whole(res->retry_after), &off);
        add_header(a, MG_STR("RateLimit-Limit"), "%.0f", floor(res->limit), &off);
        add_header(a, MG_STR("RateLimit-Remaining"), "%.0f", floor(res->remaining), &off);
        add_header(a, MG_STR("RateLimit-Reset"), "%.0f", whole(res->reset), &off);
    }
    int n = snprintf(a->body, sizeof(a->body),
                     "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%.*s\"}\n", why, c->status,
                     (int)MG_MIN(r->request_id.len, 128), r->request_id.p);
    a->blen = n > 0 ? MG_MIN((size_t)n, sizeof(a->body) - 1) : 0;
    mg_log_info("rate limit \"%s\": %s, client: %.*s, request_id: %.*s", c->name, why,
                (int)r->remote_addr.len, r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
    return c->status;
}

void mg_rl_answer(mg_request_t *r, const mg_header_t **hdrs, size_t *nhdrs, const char **body,
                  size_t *len)
{
    const rl_answer_t *a = r->rl != NULL ? r->rl->ans : NULL;
    *hdrs = a != NULL ? a->hdrs : NULL;
    *nhdrs = a != NULL ? a->nhdrs : 0;
    *body = a != NULL ? a->body : "";
    *len = a != NULL ? a->blen : 0;
}

/* ---- per-request state ---- */

static void on_cleanup(void *data)
{
    rl_req_t *st = data;
    mg_request_t *r = st->r;
    if (st->timer_on) {
        ev_timer_stop(r->worker->loop, &st->timer);
        st->timer_on = false;
    }
    if (st->pending != NULL) {
        mg_rl_cluster_cancel(st->cl, st->pending);
        st->pending = NULL;
    }
    for (size_t i = 0; i < st->nheld; i++) {
        held_t *h = &st->held[i];
        if (h->zone != NULL) {
            mg_rl_zone_release(h->zone, &h->conf, h->key);
        } else {
            mg_rl_cluster_release(st->cl, &h->conf, h->key);
        }
    }
    st->nheld = 0;
    r->rl = NULL;
}

static void on_delay(struct ev_loop *loop, ev_timer *w, int revents);

static rl_req_t *state_of(mg_request_t *r)
{
    if (r->rl != NULL) {
        return r->rl;
    }
    rl_req_t *st = mg_pool_calloc(r->pool, sizeof(*st));
    if (st == NULL || mg_pool_cleanup_add(r->pool, on_cleanup, st) != MG_OK) {
        return NULL;
    }
    st->r = r;
    st->cl = r->gen->rl_cluster;
    ev_init(&st->timer, on_delay);
    st->timer.data = st;
    r->rl = st;
    return st;
}

/* Keeps the figures of an allowed check for the response headers. */
static void note_allowed(rl_req_t *st, const mg_rl_conf_t *c, const mg_rl_result_t *res)
{
    if (c->headers && (!st->has_shown || res->remaining < st->shown.remaining)) {
        st->shown = *res;
        st->has_shown = true;
    }
}

static int hold(rl_req_t *st, const mg_rl_conf_t *c, mg_rl_zone_t *zone)
{
    if (st->held == NULL &&
        (st->held = mg_pool_alloc(st->r->pool, MG_RL_MAX * sizeof(*st->held))) == NULL) {
        return MG_ERROR;
    }
    if (st->nheld == MG_RL_MAX) {
        return MG_ERROR;
    }
    char *copy = mg_pool_strndup(st->r->pool, st->key.p, st->key.len);
    if (copy == NULL) {
        return MG_ERROR;
    }
    held_t *h = &st->held[st->nheld++];
    h->conf = *c;
    h->zone = zone;
    h->key = mg_str(copy, st->key.len);
    return MG_OK;
}

/* An answer for limit `c`: 0 to go on, or the rejection status. */
static int apply(rl_req_t *st, const mg_rl_conf_t *c, mg_rl_zone_t *zone, const mg_rl_result_t *res)
{
    if (!res->allowed) {
        return reject(st, c, res, "rate limit exceeded");
    }
    if (c->algorithm == MG_RL_CONCURRENCY && hold(st, c, zone) != MG_OK) {
        /* a slot we could not record would never be given back: refuse it instead */
        if (zone != NULL) {
            mg_rl_zone_release(zone, c, st->key);
        }
        return reject(st, c, res, "out of memory");
    }
    note_allowed(st, c, res);
    st->delay = MG_MAX(st->delay, res->delay);
    st->delayed = res->delay > 0;
    return 0;
}

/* The local check of `c` (or of its share of a cluster limit). */
static int check_local(rl_req_t *st, const mg_rl_conf_t *c)
{
    mg_rl_zone_t *z = mg_rl_zone_find(c->zone, strlen(c->zone));
    mg_rl_result_t res;
    if (z == NULL || mg_rl_zone_take(z, c, st->key, mg_mono_now(), 1, &res) != MG_OK) {
        mg_log_warn("rate limit \"%s\": zone \"%s\" %s, request allowed", c->name, c->zone,
                    z == NULL ? "does not exist" : "is full even after evicting");
        return 0;
    }
    return apply(st, c, z, &res);
}

/* Redis could not answer: redis_failure decides. */
static int cluster_failed(rl_req_t *st, const mg_rl_conf_t *c)
{
    switch (c->redis_failure) {
    case MG_RL_FAIL_ALLOW:
        return 0;
    case MG_RL_FAIL_REJECT: {
        mg_rl_result_t res = {.limit = c->limit, .retry_after = 1, .reset = 1};
        return reject(st, c, &res, "rate limit unavailable");
    }
    case MG_RL_FAIL_LOCAL:
        break;
    }
    mg_rl_conf_t share;
    mg_rl_cluster_local_conf(c, &share);
    return check_local(st, &share);
}

static void walk_on(rl_req_t *st);

struct mg_rl_metrics_s {
    size_t *first;    /* per route: the entry of its first limit in cells */
    uint64_t **cells; /* per limit of every route; "_other" where no room was left */
};

/* Limit c decided on the request (rc: 0 to go on, or the rejection status): counted
 * when the request's generation counts. */
static void decided(rl_req_t *st, const mg_rl_conf_t *c, int rc)
{
    const struct mg_rl_metrics_s *m = st->r->gen->rl_metrics;
    if (m == NULL) {
        return;
    }
    uint64_t *cells = m->cells[m->first[st->r->match.route->index] + (size_t)c->index];
    int d = rc != 0 ? MG_RL_REJECTED : st->delayed ? MG_RL_DELAYED : MG_RL_ALLOWED;
    if (cells != NULL) {
        mg_metrics_add(&cells[d], 1);
    }
}

static void on_cluster(void *arg, int status, const mg_rl_result_t *res)
{
    rl_req_t *st = arg;
    const mg_rl_conf_t *c = &st->r->match.route->rate_limits[st->next];
    st->pending = NULL;
    int rc = status == MG_RL_CLUSTER_OK ? apply(st, c, NULL, res) : cluster_failed(st, c);
    decided(st, c, rc);
    if (rc != 0) {
        st->done(st->r, rc, st->arg);
        return;
    }
    st->next++;
    walk_on(st);
}

/* Checks limits from st->next on. Returns MG_OK (all passed, delay noted), a status,
 * or MG_AGAIN (a cluster check is out). */
static int walk(rl_req_t *st)
{
    const mg_route_conf_t *route = st->r->match.route;
    for (; st->next < route->nrate_limits; st->next++) {
        const mg_rl_conf_t *c = &route->rate_limits[st->next];
        if (!in_stages(c, st->stages)) {
            continue;
        }
        st->delayed = false;
        int k = build_key(st, c, &st->key);
        if (k == MG_DECLINED && !c->missing_reject) {
            decided(st, c, 0);
            continue;
        }
        if (k != MG_OK) {
            int rc =
                reject(st, c, NULL, k == MG_DECLINED ? "rate limit key missing" : "out of memory");
            decided(st, c, rc);
            return rc;
        }
        int rc;
        if (c->scope == MG_RL_LOCAL) {
            rc = check_local(st, c);
        } else {
            mg_rl_result_t res;
            int cr = st->cl != NULL ? mg_rl_cluster_check(st->cl, c, st->key, 1, &res, on_cluster,
                                                          st, &st->pending)
                                    : MG_DECLINED;
            if (cr == MG_AGAIN) {
                return MG_AGAIN;
            }
            st->pending = NULL;
            rc = cr == MG_OK ? apply(st, c, NULL, &res) : cluster_failed(st, c);
        }
        decided(st, c, rc);
        if (rc != 0) {
            return rc;
        }
    }
    return MG_OK;
}

static void on_delay(struct ev_loop *loop, ev_timer *w, int revents)
{
    rl_req_t *st = w->data;
    st->timer_on = false;
    st->done(st->r, MG_OK, st->arg);
}

/* After the walk passed: a delay waits on the timer, else MG_OK. */
static int finish_walk(rl_req_t *st)
{
    if (st->delay <= 0) {
        return MG_OK;
    }
    ev_timer_set(&st->timer, st->delay, 0.);
    ev_timer_start(st->r->worker->loop, &st->timer);
    st->timer_on = true;
    st->delay = 0;
    return MG_AGAIN;
}

/* Goes on after a cluster answer (from the loop). */
static void walk_on(rl_req_t *st)
{
    int rc = walk(st);
    if (rc == MG_OK) {
        rc = finish_walk(st);
    }
    if (rc != MG_AGAIN) {
        st->done(st->r, rc, st->arg);
    }
}

int mg_rl_check(mg_request_t *r, unsigned stages, mg_str_t consumer, mg_rl_done_fn done, void *arg)
{
    if (!mg_rl_route_has(r->match.route, stages)) {
        return MG_OK;
    }
    rl_req_t *st = state_of(r);
    if (st == NULL) {
        mg_log_err("out of memory checking rate limits, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        return 500;
    }
    st->stages = stages;
    st->next = 0;
    st->delay = 0;
    st->done = done;
    st->arg = arg;
    /* the consumer's name outlives the walk: a cluster answer may come later */
    st->consumer = consumer.len > 0
                       ? mg_str(mg_pool_strndup(r->pool, consumer.p, consumer.len), consumer.len)
                       : MG_NULL_STR;
    if (consumer.len > 0 && st->consumer.p == NULL) {
        return 500;
    }
    int rc = walk(st);
    return rc == MG_OK ? finish_walk(st) : rc;
}

/* ---- the phase handler ---- */

static void respond(mg_request_t *r, int rc)
{
    if (rc == 500 && (r->rl == NULL || r->rl->ans == NULL)) {
        mg_http_error(r, 500);
        return;
    }
    const mg_header_t *hdrs;
    size_t n, len;
    const char *body;
    mg_rl_answer(r, &hdrs, &n, &body, &len);
    mg_http_respond_headers(r, rc, hdrs, n, body, len);
}

/* A wait ended (from the loop): go on, or answer the rejection. */
static void on_done(mg_request_t *r, int rc, void *arg)
{
    if (rc != MG_OK) {
        respond(r, rc);
        rc = MG_DONE;
    }
    mg_http_phase_resume(r, rc);
}

int mg_rl_phase(mg_request_t *r, const void *data)
{
    unsigned stage = (unsigned)(uintptr_t)data;
    int rc = mg_rl_check(r, stage, r->consumer, on_done, NULL);
    if (rc == MG_OK) {
        return MG_OK;
    }
    if (rc == MG_AGAIN) {
        /* nothing of the body is read while the request waits; the producer resumes */
        mg_http_body_hold(r);
        return MG_AGAIN;
    }
    respond(r, rc);
    return MG_DONE;
}

/* ---- allowed responses ---- */

static size_t response_headers(mg_request_t *r, mg_header_t *out)
{
    rl_req_t *st = r->rl;
    if (st == NULL || !st->has_shown || st->ans != NULL) {
        return 0; /* a rejection carries its own */
    }
    char *buf = mg_pool_alloc(r->pool, 96);
    if (buf == NULL) {
        return 0;
    }
    int a = snprintf(buf, 32, "%.0f", floor(st->shown.limit));
    int b = snprintf(buf + 32, 32, "%.0f", floor(st->shown.remaining));
    int c = snprintf(buf + 64, 32, "%.0f", whole(st->shown.reset));
    out[0] = (mg_header_t){MG_STR("RateLimit-Limit"), mg_str(buf, (size_t)a)};
    out[1] = (mg_header_t){MG_STR("RateLimit-Remaining"), mg_str(buf + 32, (size_t)b)};
    out[2] = (mg_header_t){MG_STR("RateLimit-Reset"), mg_str(buf + 64, (size_t)c)};
    return 3;
}

int mg_rl_header_filter(mg_request_t *r, mg_http_head_t *h)
{
    if (r->rl != NULL && h->nextra + 3 <= MG_HTTP_HEAD_EXTRA) {
        h->nextra += response_headers(r, h->extra + h->nextra);
    }
    return MG_OK;
}

/* ---- metrics ---- */

mg_str_t mg_rl_metrics_key(char *buf, size_t cap, const char *route, const char *limit)
{
    int n = snprintf(buf, cap, "l%c%s%c%s", MG_METRICS_SEP, route, MG_METRICS_SEP, limit);
    return mg_str(buf, n < 0 ? 0 : MG_MIN((size_t)n, cap - 1));
}

void mg_rl_metrics_free(mg_gen_t *g)
{
    if (g->rl_metrics != NULL) {
        free(g->rl_metrics->first);
        free(g->rl_metrics->cells);
        free(g->rl_metrics);
        g->rl_metrics = NULL;
    }
}

int mg_rl_metrics_bind(mg_gen_t *g)
{
    const mg_conf_t *conf = g->conf;
    size_t total = 0;
    for (size_t i = 0; i < conf->nroutes; i++) {
        total += conf->routes[i].nrate_limits;
    }
    if (total == 0 || g->rl_metrics != NULL) {
        return MG_OK;
    }
    struct mg_rl_metrics_s *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->first = calloc(conf->nroutes, sizeof(*m->first))) == NULL ||
        (m->cells = calloc(total, sizeof(*m->cells))) == NULL) {
        if (m != NULL) {
            free(m->first);
        }
        free(m);
        return MG_ERROR;
    }
    char key[1024];
    /* "_other" first: it must find room whatever comes after */
    uint64_t *other = mg_metrics_series(mg_rl_metrics_key(key, sizeof(key), "_other", "_other"),
                                        MG_RL_DECISIONS, 0);
    size_t at = 0;
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *rt = &conf->routes[i];
        m->first[i] = at;
        for (size_t j = 0; j < rt->nrate_limits; j++, at++) {
            uint64_t *c = mg_metrics_series(
                mg_rl_metrics_key(key, sizeof(key), rt->name, rt->rate_limits[j].name),
                MG_RL_DECISIONS, 0);
            m->cells[at] = c != NULL ? c : other;
        }
    }
    g->rl_metrics = m;
    return MG_OK;
}
