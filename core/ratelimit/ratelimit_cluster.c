/*
 * ratelimit_cluster.c -- cluster-wide limits (ratelimit_cluster.h): one script per
 * check over the worker's Redis client for `scope: cluster`, the local estimate of
 * ratelimit_approx.c for `scope: cluster_approx`, and the helpers the caller needs to
 * apply `redis_failure`.
 */
#include "ratelimit_cluster.h"

#include "metrics_store.h"
#include "ratelimit_approx.h"
#include "ratelimit_scripts.h"
#include "redis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct mg_rl_cluster_s {
    struct ev_loop *loop;
    const mg_conf_t *conf;
    mg_redis_t *redis;
    mg__rl_approx_t *approx;
    char consequence[128];
    uint64_t checks;
    uint64_t fallbacks;
};

static uint64_t *m_cells; /* this worker's checks and fallbacks; NULL: not counting */

static void count(int cell)
{
    if (m_cells != NULL) {
        mg_metrics_add(&m_cells[cell], 1);
    }
}

void mg_rl_cluster_metrics_bind(bool on)
{
    m_cells =
        on ? mg_metrics_series(MG_STR(MG_RL_CLUSTER_METRICS_KEY), MG_RL_CLUSTER_M_CELLS, 0) : NULL;
}

/* One cluster check waiting for Redis; the handle given to the caller. */
typedef struct {
    mg_rl_cluster_t *cl;
    const mg_rl_conf_t *c;
    mg_rl_cluster_cb cb;
    void *arg;
    mg_redis_req_t *req;
} check_t;

static const char *failure_name(mg_rl_failure_t f)
{
    return f == MG_RL_FAIL_ALLOW ? "allow" : f == MG_RL_FAIL_REJECT ? "reject" : "local";
}

/* The end of the outage line (what the routes' cluster limits do meanwhile) into
 * cl->consequence; returns the shortest cluster_approx sync interval (0: none). */
static double describe_failure(mg_rl_cluster_t *cl)
{
    unsigned used = 0;
    double interval = 0;
    for (size_t i = 0; i < cl->conf->nroutes; i++) {
        const mg_route_conf_t *r = &cl->conf->routes[i];
        for (size_t j = 0; j < r->nrate_limits; j++) {
            const mg_rl_conf_t *c = &r->rate_limits[j];
            if (c->scope == MG_RL_LOCAL) {
                continue;
            }
            used |= 1u << c->redis_failure;
            if (c->scope == MG_RL_CLUSTER_APPROX && c->sync_interval > 0 &&
                (interval == 0 || c->sync_interval < interval)) {
                interval = c->sync_interval;
            }
        }
    }
    if (used == 0 || (used & (used - 1)) != 0) {
        snprintf(cl->consequence, sizeof(cl->consequence),
                 "cluster limits apply their redis_failure");
    } else {
        snprintf(cl->consequence, sizeof(cl->consequence), "cluster limits use redis_failure=%s",
                 failure_name((mg_rl_failure_t)__builtin_ctz(used)));
    }
    return interval;
}

mg_rl_cluster_t *mg_rl_cluster_create(struct ev_loop *loop, const mg_conf_t *conf)
{
    if (conf->redis == NULL) {
        return NULL;
    }
    mg_rl_cluster_t *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return NULL;
    }
    cl->loop = loop;
    cl->conf = conf;
    double interval = describe_failure(cl);
    cl->redis = mg_redis_create(loop, conf->redis, mg__rl_scripts(), MG__RL_NSCRIPTS,
                                cl->consequence);
    if (cl->redis == NULL) {
        free(cl);
        return NULL;
    }
    cl->approx = mg__rl_approx_create(loop, cl->redis, interval > 0 ? interval : 0.1);
    if (cl->approx == NULL) {
        mg_redis_destroy(cl->redis);
        free(cl);
        return NULL;
    }
    return cl;
}

void mg_rl_cluster_destroy(mg_rl_cluster_t *cl)
{
    if (cl == NULL) {
        return;
    }
    mg__rl_approx_destroy(cl->approx);
    mg_redis_destroy(cl->redis);
    free(cl);
}

/* `<prefix><name>:<key>` into buf (cap bytes), or into a malloc'ed buffer when longer
 * (*heap set; the caller frees it). */
static mg_str_t make_key(const mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key,
                         char *buf, size_t cap, char **heap)
{
    const char *prefix = cl->conf->redis->prefix ? cl->conf->redis->prefix : "mg:";
    const char *name = c->name ? c->name : "";
    size_t pl = strlen(prefix), nl = strlen(name), len = pl + nl + 1 + key.len;
    char *p = buf;
    *heap = NULL;
    if (len > cap) {
        p = *heap = malloc(len);
        if (p == NULL) {
            return MG_NULL_STR;
        }
    }
    memcpy(p, prefix, pl);
    memcpy(p + pl, name, nl);
    p[pl + nl] = ':';
    if (key.len) {
        memcpy(p + pl + nl + 1, key.p, key.len);
    }
    return mg_str(p, len);
}

static double burst_of(const mg_rl_conf_t *c)
{
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        return c->burst > 0 ? c->burst : c->limit;
    }
    return c->burst;
}

static void on_checked(void *arg, int status, const redisReply *rep)
{
    check_t *k = arg;
    mg_rl_cluster_t *cl = k->cl;
    const mg_rl_conf_t *c = k->c;
    mg_rl_cluster_cb cb = k->cb;
    void *cb_arg = k->arg;
    mg_rl_result_t res;
    free(k);
    if (status != MG_REDIS_OK || rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
        cl->fallbacks++;
        count(MG_RL_CLUSTER_M_FALLBACKS);
        cb(cb_arg, MG_RL_CLUSTER_UNAVAILABLE, NULL);
        return;
    }
    long long v[5];
    for (int i = 0; i < 5; i++) {
        v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
    }
    memset(&res, 0, sizeof(res));
    res.allowed = v[0] == 1;
    res.limit = c->algorithm == MG_RL_TOKEN_BUCKET   ? burst_of(c)
                : c->algorithm == MG_RL_LEAKY_BUCKET ? c->burst + 1
                                                     : c->limit;
    res.remaining = (double)v[1];
    res.reset = (double)v[2] / 1000;
    res.retry_after = (double)v[3] / 1000;
    res.delay = (double)v[4] / 1000;
    cb(cb_arg, MG_RL_CLUSTER_OK, &res);
}

static int take_script(const mg_rl_conf_t *c)
{
    switch (c->algorithm) {
    case MG_RL_TOKEN_BUCKET:
        return MG__RL_TAKE_TOKEN;
    case MG_RL_LEAKY_BUCKET:
        return MG__RL_TAKE_LEAKY;
    case MG_RL_FIXED_WINDOW:
        return MG__RL_TAKE_FIXED;
    case MG_RL_SLIDING_WINDOW:
        return MG__RL_TAKE_SLIDING;
    default:
        return MG__RL_TAKE_CONC;
    }
}

static bool approx_capable(const mg_rl_conf_t *c)
{
    return c->scope == MG_RL_CLUSTER_APPROX &&
           (c->algorithm == MG_RL_TOKEN_BUCKET || c->algorithm == MG_RL_FIXED_WINDOW ||
            c->algorithm == MG_RL_SLIDING_WINDOW);
}

int mg_rl_cluster_check(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key, double cost,
                        mg_rl_result_t *res, mg_rl_cluster_cb cb, void *arg, void **handle)
{
    char buf[256], *heap;
    cl->checks++;
    count(MG_RL_CLUSTER_M_CHECKS);
    if (handle != NULL) {
        *handle = NULL;
    }
    if (!mg_redis_available(cl->redis)) {
        cl->fallbacks++;
        count(MG_RL_CLUSTER_M_FALLBACKS);
        return MG_DECLINED;
    }
    mg_str_t rkey = make_key(cl, c, key, buf, sizeof(buf), &heap);
    if (rkey.p == NULL) {
        cl->fallbacks++;
        count(MG_RL_CLUSTER_M_FALLBACKS);
        return MG_DECLINED;
    }
    if (approx_capable(c)) {
        mg__rl_approx_take(cl->approx, c, rkey, cost, res);
        free(heap);
        return MG_OK;
    }
    char b[5][32];
    const char *args[6] = {rkey.p, b[0], b[1], b[2], b[3], b[4]};
    size_t lens[6] = {rkey.len};
    int n;
    if (c->algorithm == MG_RL_CONCURRENCY) {
        n = 3;
        snprintf(b[0], 32, "%.17g", c->limit);
        snprintf(b[1], 32, "%.0f", MG_MAX(1, floor(cost)));
        snprintf(b[2], 32, "%d", MG__RL_CONC_TTL * 1000);
    } else {
        n = 5;
        snprintf(b[0], 32, "%.17g", c->limit);
        snprintf(b[1], 32, "%.17g", c->window);
        snprintf(b[2], 32, "%.17g", burst_of(c));
        snprintf(b[3], 32, "%.17g", cost);
        snprintf(b[4], 32, "%d", c->delay ? 1 : 0);
    }
    for (int i = 0; i < n; i++) {
        lens[i + 1] = strlen(b[i]);
    }
    check_t *k = malloc(sizeof(*k));
    if (k == NULL) {
        free(heap);
        cl->fallbacks++;
        count(MG_RL_CLUSTER_M_FALLBACKS);
        return MG_DECLINED;
    }
    k->cl = cl;
    k->c = c;
    k->cb = cb;
    k->arg = arg;
    int rc = mg_redis_eval(cl->redis, mg__rl_scripts()[take_script(c)], 1, n + 1, args, lens,
                           on_checked, k, &k->req);
    free(heap);
    if (rc != MG_OK) {
        free(k);
        cl->fallbacks++;
        count(MG_RL_CLUSTER_M_FALLBACKS);
        return MG_DECLINED;
    }
    if (handle != NULL) {
        *handle = k;
    }
    return MG_AGAIN;
}

void mg_rl_cluster_cancel(mg_rl_cluster_t *cl, void *handle)
{
    check_t *k = handle;
    if (k == NULL) {
        return;
    }
    mg_redis_cancel(k->req);
    free(k);
}

static void on_released(void *arg, int status, const redisReply *rep)
{
}

void mg_rl_cluster_release(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key)
{
    char buf[256], *heap, ttl[16];
    mg_str_t rkey = make_key(cl, c, key, buf, sizeof(buf), &heap);
    if (rkey.p == NULL) {
        return;
    }
    const char *args[2] = {rkey.p, ttl};
    size_t lens[2] = {rkey.len, (size_t)snprintf(ttl, sizeof(ttl), "%d", MG__RL_CONC_TTL * 1000)};
    /* Redis unavailable: the slot stays counted there until the key idles out */
    mg_redis_eval(cl->redis, mg__rl_scripts()[MG__RL_RELEASE_CONC], 1, 2, args, lens,
                  on_released, NULL, NULL);
    free(heap);
}

void mg_rl_cluster_local_conf(const mg_rl_conf_t *c, mg_rl_conf_t *out)
{
    int nodes = c->nodes > 0 ? c->nodes : 1;
    *out = *c;
    out->scope = MG_RL_LOCAL;
    out->limit = MG_MAX(1, floor(c->limit / nodes));
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        out->burst = MG_MAX(1, floor(burst_of(c) / nodes));
    } else if (c->algorithm == MG_RL_LEAKY_BUCKET) {
        out->burst = floor(c->burst / nodes);
    }
}

void mg_rl_cluster_stats(const mg_rl_cluster_t *cl, mg_rl_cluster_stats_t *out)
{
    mg_redis_stats_t rs;
    memset(out, 0, sizeof(*out));
    if (cl == NULL) {
        return;
    }
    mg_redis_stats(cl->redis, &rs);
    out->checks = cl->checks;
    out->failures = rs.failures;
    out->timeouts = rs.timeouts;
    out->fallbacks = cl->fallbacks;
    out->connected = rs.connected > 0;
}
