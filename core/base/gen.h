/*
 * gen.h -- a config generation as a worker runs it: the immutable conf snapshot, the
 * router built from it and the per-worker upstream runtimes (pools, balancers). This is
 * the type and its reference count only; server/gen_build.c assembles one.
 *
 * Reference counted: the worker holds one reference for its current generation and
 * every request holds one from start to end, so a reload frees an old generation only
 * when its last request is done.
 */
#ifndef MG_GEN_H
#define MG_GEN_H

#include "mg_core.h"

struct mg_gen_s {
    int refcnt;
    void (*dispose)(mg_gen_t *g);       /* frees it when the last reference goes: the layer that
                                         * built it (server/gen_build.c) installs it */
    uint64_t id;                        /* 1, 2, ... increasing with each successful reload */
    mg_conf_t *conf;                    /* owned */
    mg_router_t *router;                /* owned */
    mg_upstream_t **upstreams;          /* owned, conf->nupstreams entries, same order */
    mg_worker_t *worker;                /* borrowed */
    mg_lua_t *lua;                      /* owned; NULL when no plugin is configured */
    struct mg_rl_cluster_s *rl_cluster; /* owned; NULL without `redis` or before a worker */
    struct mg_rl_metrics_s *rl_metrics; /* owned; the route limits' decision series
                                         * (ratelimit.h), NULL when nothing counts */
    mg_http_chain_t *chains;            /* owned; one handler chain per route, same order */
    mg_http_chain_t *admin_chain;       /* owned; the admin listener's */
    mg_http_filters_t *filters;         /* owned; what every answer goes through */
    struct mg_tls_server_s *tls;        /* what TLS listeners serve (one reference); NULL
                                         * without certificates */
    struct mg_gen_metrics_s *metrics;   /* owned; this worker's series (server/metrics.h),
                                         * NULL when metrics are off or before a worker */
};

static inline mg_gen_t *mg_gen_retain(mg_gen_t *g)
{
    g->refcnt++;
    return g;
}

/* Drops one reference; the last one disposes of the generation. NULL is a no-op. */
static inline void mg_gen_release(mg_gen_t *g)
{
    if (g != NULL && --g->refcnt == 0) {
        g->dispose(g);
    }
}

#endif
