/*
 * ratelimit_approx.c -- the cluster_approx estimate table and its sync job
 * (ratelimit_approx.h). Times: `rnow` is Redis' clock as estimated locally (ev_now()
 * plus the offset read from the last sync answer), so that window edges line up with
 * the other instances' even when the machines' clocks differ.
 */
#include "ratelimit_approx.h"

#include "log.h"
#include "ratelimit_scripts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define NBUCKETS 4096 /* power of two */

typedef struct entry_s entry_t;
struct entry_s {
    entry_t *hnext;
    entry_t *older, *newer; /* LRU list, newest first */
    mg__rl_approx_t *a;
    const mg_rl_conf_t *c;
    mg_redis_req_t *req;         /* sync in flight, or NULL */
    double seen_a, seen_b;       /* fixed: count; sliding: current, previous; token: tokens */
    double seen_w;               /* window number of seen_a (token: Redis time of the answer) */
    bool known;                  /* an answer came */
    double pending, pending_w;   /* consumed here, not yet sent; its window */
    double inflight, inflight_w; /* sent, not yet answered */
    double used;                 /* ev_now() of the last take */
    double synced;               /* ev_now() of the last sync sent */
    uint32_t hash;
    size_t klen;
    char key[];
};

struct mg__rl_approx_s {
    struct ev_loop *loop;
    mg_redis_t *redis;
    ev_timer tick;
    double interval;
    double offset; /* Redis clock - ev_time(), from sync answers */
    bool have_offset;
    entry_t *buckets[NBUCKETS];
    entry_t *newest, *oldest;
    size_t count;
};

/* Limits with the same key value hash apart. */
static uint32_t hash_of(mg_str_t k, const mg_rl_conf_t *c)
{
    return mg_hash32(k.p, k.len) ^ (uint32_t)(uintptr_t)c;
}

static double rnow_of(mg__rl_approx_t *a)
{
    return ev_now(a->loop) + (a->have_offset ? a->offset : mg_redis_clock_offset(a->redis));
}

static double burst_of(const mg_rl_conf_t *c)
{
    return c->burst > 0 ? c->burst : c->limit;
}

/* Seconds after its last use an entry still matters to the cluster's figures. */
static double horizon_of(const mg_rl_conf_t *c)
{
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        return burst_of(c) / (c->limit / c->window) + c->sync_interval;
    }
    return (c->algorithm == MG_RL_SLIDING_WINDOW ? 2 : 1) * c->window + c->sync_interval;
}

static void lru_unlink(mg__rl_approx_t *a, entry_t *e)
{
    if (e->newer) {
        e->newer->older = e->older;
    } else {
        a->newest = e->older;
    }
    if (e->older) {
        e->older->newer = e->newer;
    } else {
        a->oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void lru_push(mg__rl_approx_t *a, entry_t *e)
{
    e->older = a->newest;
    e->newer = NULL;
    if (a->newest) {
        a->newest->newer = e;
    }
    a->newest = e;
    if (a->oldest == NULL) {
        a->oldest = e;
    }
}

static void entry_free(mg__rl_approx_t *a, entry_t *e)
{
    entry_t **pp = &a->buckets[e->hash & (NBUCKETS - 1)];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    lru_unlink(a, e);
    mg_redis_cancel(e->req);
    a->count--;
    free(e);
}

static entry_t *entry_get(mg__rl_approx_t *a, const mg_rl_conf_t *c, mg_str_t k, double rnow)
{
    uint32_t h = hash_of(k, c);
    entry_t **head = &a->buckets[h & (NBUCKETS - 1)];
    for (entry_t *e = *head; e != NULL; e = e->hnext) {
        if (e->hash == h && e->c == c && e->klen == k.len && memcmp(e->key, k.p, k.len) == 0) {
            lru_unlink(a, e);
            lru_push(a, e);
            return e;
        }
    }
    if (a->count >= MG__RL_APPROX_MAX) {
        entry_free(a, a->oldest);
    }
    entry_t *e = calloc(1, sizeof(*e) + k.len + 1);
    if (e == NULL) {
        return NULL;
    }
    e->a = a;
    e->c = c;
    e->hash = h;
    e->klen = k.len;
    memcpy(e->key, k.p, k.len);
    e->seen_w = -1;
    e->pending_w = e->inflight_w = -1;
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        e->seen_a = burst_of(c); /* a fresh bucket until Redis says otherwise */
        e->seen_w = rnow;
    }
    e->hnext = *head;
    *head = e;
    lru_push(a, e);
    a->count++;
    return e;
}

static void take_token(entry_t *e, double rnow, double cost, mg_rl_result_t *res)
{
    const mg_rl_conf_t *c = e->c;
    double b = burst_of(c), r = c->limit / c->window;
    double tok = MG_MIN(b, e->seen_a + MG_MAX(rnow - e->seen_w, 0) * r) - e->inflight - e->pending;
    res->allowed = tok >= cost;
    if (res->allowed) {
        e->pending += cost;
        tok -= cost;
    }
    res->limit = b;
    res->remaining = floor(MG_MAX(tok, 0));
    res->reset = MG_MAX(b - tok, 0) / r;
    res->retry_after = res->allowed ? 0 : (cost - tok) / r;
}

static void take_fixed(entry_t *e, double rnow, double cost, mg_rl_result_t *res)
{
    const mg_rl_conf_t *c = e->c;
    double w = floor(rnow / c->window);
    if (e->pending_w != w) {
        e->pending = 0; /* a window that is over: no longer matters */
        e->pending_w = w;
    }
    double est =
        (e->seen_w == w ? e->seen_a : 0) + (e->inflight_w == w ? e->inflight : 0) + e->pending;
    res->allowed = est + cost <= c->limit;
    if (res->allowed) {
        e->pending += cost;
        est += cost;
    }
    res->limit = c->limit;
    res->remaining = floor(MG_MAX(c->limit - est, 0));
    res->reset = MG_MAX((w + 1) * c->window - rnow, 0);
    res->retry_after = res->allowed ? 0 : res->reset;
}

static void take_sliding(entry_t *e, double rnow, double cost, mg_rl_result_t *res)
{
    const mg_rl_conf_t *c = e->c;
    double W = c->window, L = c->limit;
    double w = floor(rnow / W);
    if (e->pending_w != w) {
        e->pending = 0;
        e->pending_w = w;
    }
    double cur = 0, prev = 0;
    if (e->seen_w == w) {
        cur = e->seen_a;
        prev = e->seen_b;
    } else if (e->seen_w == w - 1) {
        prev = e->seen_a;
    }
    if (e->inflight_w == w) {
        cur += e->inflight;
    } else if (e->inflight_w == w - 1) {
        prev += e->inflight;
    }
    cur += e->pending;
    double el = MG_MIN(MG_MAX((rnow - w * W) / W, 0), 1);
    double est = prev * (1 - el) + cur;
    res->allowed = est + cost <= L;
    res->retry_after = 0;
    if (res->allowed) {
        e->pending += cost;
        cur += cost;
        est += cost;
    } else if (prev > 0 && L - cur - cost >= 0) {
        res->retry_after = (w + 1 - (L - cur - cost) / prev) * W - rnow;
    } else {
        double f = cur > 0 ? MG_MAX(0, 1 - (L - cost) / cur) : 0;
        res->retry_after = (w + 1 + f) * W - rnow;
    }
    res->limit = L;
    res->remaining = floor(MG_MAX(L - est, 0));
    res->reset = cur > 0 ? (w + 2) * W - rnow : prev > 0 ? (w + 1) * W - rnow : 0;
    res->retry_after = MG_MAX(res->retry_after, 0);
}

void mg__rl_approx_take(mg__rl_approx_t *a, const mg_rl_conf_t *c, mg_str_t rkey, double cost,
                        mg_rl_result_t *res)
{
    double rnow = rnow_of(a);
    memset(res, 0, sizeof(*res));
    if (c->sync_interval > 0 && c->sync_interval < a->interval) {
        a->interval = c->sync_interval;
        a->tick.repeat = a->interval;
        ev_timer_again(a->loop, &a->tick);
    }
    entry_t *e = entry_get(a, c, rkey, rnow);
    if (e == NULL) {
        /* out of memory: this one check goes by the limit alone */
        res->allowed = cost <= c->limit;
        res->limit = c->limit;
        return;
    }
    e->used = ev_now(a->loop);
    switch (c->algorithm) {
    case MG_RL_TOKEN_BUCKET:
        take_token(e, rnow, cost, res);
        break;
    case MG_RL_SLIDING_WINDOW:
        take_sliding(e, rnow, cost, res);
        break;
    default:
        take_fixed(e, rnow, cost, res);
        break;
    }
}

/* ---- the sync job ---- */

static double num(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        return (double)r->integer;
    }
    return r->str ? strtod(r->str, NULL) : 0;
}

/* Logs (debug) the cluster's figure this worker now goes by: what each worker has seen
 * of the others' consumption, and when, is what cluster_approx's overshoot comes from. */
static void log_synced(const entry_t *e)
{
    int klen = (int)MG_MIN(e->klen, 200);
    switch (e->c->algorithm) {
    case MG_RL_TOKEN_BUCKET:
        mg_log_debug("cluster_approx %.*s synced: %g tokens", klen, e->key, e->seen_a);
        break;
    case MG_RL_SLIDING_WINDOW:
        mg_log_debug("cluster_approx %.*s synced: window %.0f count %g previous %g", klen, e->key,
                     e->seen_w, e->seen_a, e->seen_b);
        break;
    default:
        mg_log_debug("cluster_approx %.*s synced: window %.0f count %g", klen, e->key, e->seen_w,
                     e->seen_a);
        break;
    }
}

static void on_synced(void *arg, int status, const redisReply *rep)
{
    entry_t *e = arg;
    mg__rl_approx_t *a = e->a;
    e->req = NULL;
    size_t want = e->c->algorithm == MG_RL_TOKEN_BUCKET   ? 2
                  : e->c->algorithm == MG_RL_FIXED_WINDOW ? 3
                                                          : 4;
    if (status != MG_REDIS_OK || rep->type != REDIS_REPLY_ARRAY || rep->elements != want) {
        /* sent again with the next sync: counted twice if Redis did apply it, which errs
         * on the strict side */
        if (e->inflight_w == e->pending_w || e->c->algorithm == MG_RL_TOKEN_BUCKET) {
            e->pending += e->inflight;
        }
        e->inflight = 0;
        return;
    }
    double now = num(rep->element[want - 1]);
    a->offset = now - ev_time();
    a->have_offset = true;
    if (e->c->algorithm == MG_RL_TOKEN_BUCKET) {
        e->seen_a = num(rep->element[0]);
        e->seen_w = now;
    } else {
        e->seen_w = num(rep->element[0]);
        e->seen_a = num(rep->element[1]);
        e->seen_b = want == 4 ? num(rep->element[2]) : 0;
    }
    e->known = true;
    e->inflight = 0;
    log_synced(e);
}

static void sync_entry(mg__rl_approx_t *a, entry_t *e)
{
    const mg_rl_conf_t *c = e->c;
    char b[4][32];
    const char *args[5] = {e->key, b[0], b[1], b[2], b[3]};
    size_t lens[5] = {e->klen};
    int n, script;
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        script = MG__RL_SYNC_TOKEN;
        n = 4;
        snprintf(b[0], 32, "%.17g", c->limit);
        snprintf(b[1], 32, "%.17g", c->window);
        snprintf(b[2], 32, "%.17g", burst_of(c));
        snprintf(b[3], 32, "%.17g", e->pending);
    } else {
        script = c->algorithm == MG_RL_FIXED_WINDOW ? MG__RL_SYNC_FIXED : MG__RL_SYNC_SLIDING;
        n = 3;
        snprintf(b[0], 32, "%.17g", c->window);
        snprintf(b[1], 32, "%.17g", e->pending);
        snprintf(b[2], 32, "%.17g", e->pending_w < 0 ? -1.0 : e->pending_w);
    }
    for (int i = 0; i < n; i++) {
        lens[i + 1] = strlen(b[i]);
    }
    e->inflight = e->pending;
    e->inflight_w = e->pending_w;
    e->pending = 0;
    e->synced = ev_now(a->loop);
    if (mg_redis_eval(a->redis, mg__rl_scripts()[script], 1, n + 1, args, lens, on_synced, e,
                      &e->req) != MG_OK) {
        e->req = NULL;
        e->pending += e->inflight;
        e->inflight = 0;
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg__rl_approx_t *a = t->data;
    double now = ev_now(loop);
    if (!mg_redis_available(a->redis)) {
        return;
    }
    entry_t *next;
    for (entry_t *e = a->newest; e != NULL; e = next) {
        next = e->older;
        if (e->req != NULL) {
            continue;
        }
        bool active = now - e->used <= horizon_of(e->c);
        if (!active && e->pending == 0) {
            entry_free(a, e);
            continue;
        }
        if (now - e->synced >= e->c->sync_interval * 0.9) {
            sync_entry(a, e);
        }
    }
}

mg__rl_approx_t *mg__rl_approx_create(struct ev_loop *loop, mg_redis_t *redis, double interval)
{
    mg__rl_approx_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->loop = loop;
    a->redis = redis;
    a->interval = interval > 0 ? interval : 0.1;
    ev_init(&a->tick, on_tick);
    a->tick.repeat = a->interval;
    a->tick.data = a;
    ev_timer_again(loop, &a->tick);
    return a;
}

void mg__rl_approx_destroy(mg__rl_approx_t *a)
{
    if (a == NULL) {
        return;
    }
    ev_timer_stop(a->loop, &a->tick);
    while (a->newest != NULL) {
        entry_free(a, a->newest);
    }
    free(a);
}

size_t mg__rl_approx_count(const mg__rl_approx_t *a)
{
    return a->count;
}
