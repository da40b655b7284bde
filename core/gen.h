/*
 * gen.h -- a config generation as a worker runs it: the immutable conf snapshot, the
 * router built from it and the per-worker upstream runtimes (pools, balancers).
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
    uint64_t id;                        /* 1, 2, ... increasing with each successful reload */
    mg_conf_t *conf;                    /* owned */
    mg_router_t *router;                /* owned */
    mg_upstream_t **upstreams;          /* owned, conf->nupstreams entries, same order */
    mg_worker_t *worker;                /* borrowed */
    mg_lua_t *lua;                      /* owned; NULL when no plugin is configured */
    struct mg_rl_cluster_s *rl_cluster; /* owned; NULL without `redis` or before a worker */
};

/* Builds a generation for worker `w` from `conf` (taken, also on failure). Returns it with
 * one reference, or NULL with a message in err. */
mg_gen_t *mg_gen_create(mg_worker_t *w, mg_conf_t *conf, uint64_t id, char *err, size_t errlen);

static inline mg_gen_t *mg_gen_retain(mg_gen_t *g)
{
    g->refcnt++;
    return g;
}

/* Drops one reference; the last one frees the generation. */
void mg_gen_release(mg_gen_t *g);

/* How many generations of this process are alive: the current one plus those that
 * in-flight requests still hold. A number that grows with every reload is a leak. */
unsigned mg_gen_live_count(void);

/* Attaches a generation built before its worker existed (mg_gen_create with w == NULL,
 * e.g. by the master right after fork) to worker `w`: its upstream runtimes start using
 * w's loop. Call before the first request uses it. */
void mg_gen_bind(mg_gen_t *g, mg_worker_t *w);

#endif
