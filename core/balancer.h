/*
 * balancer.h -- one interface over every load-balancing algorithm.
 *
 * Each algorithm lives in its own balancer_<name>.c behind an ops table. A balancer
 * instance belongs to one upstream of one generation in one worker (per-worker state;
 * algorithms that need cross-worker state keep it in shared memory).
 */
#ifndef MG_BALANCER_H
#define MG_BALANCER_H

#include "mg_core.h"

/* Most nodes an upstream may have (the loader refuses more). */
#define MG_BALANCER_MAX_NODES 256

/* What a pick may look at. `skip` has bit i set for node i that must not be picked:
 * already tried by this request, or unavailable (down, ejected, breaker open, at its
 * connection limit). */
typedef struct {
    uint64_t skip[MG_BALANCER_MAX_NODES / 64];
    mg_str_t hash_key; /* for hashing algorithms; may be empty */
} mg_balancer_ctx_t;

static inline bool mg_balancer_skipped(const mg_balancer_ctx_t *ctx, size_t i)
{
    return ctx != NULL && (ctx->skip[i >> 6] & ((uint64_t)1 << (i & 63))) != 0;
}

static inline void mg_balancer_skip(mg_balancer_ctx_t *ctx, size_t i)
{
    ctx->skip[i >> 6] |= (uint64_t)1 << (i & 63);
}

typedef struct {
    const char *name;
    /* Creates state for `u`'s nodes; NULL when out of memory. */
    void *(*create)(const mg_upstream_conf_t *u);
    /* Returns a node index in [0, u->nnodes), or -1 when every node is excluded. */
    int (*pick)(void *state, const mg_balancer_ctx_t *ctx);
    void (*destroy)(void *state);
} mg_balancer_ops_t;

struct mg_balancer_s {
    const mg_balancer_ops_t *ops;
    void *state;
};

extern const mg_balancer_ops_t mg_balancer_roundrobin;

/* Creates the balancer the upstream asks for. MG_OK or MG_ERROR. */
int mg_balancer_init(mg_balancer_t *b, const mg_upstream_conf_t *u);
void mg_balancer_dispose(mg_balancer_t *b);

static inline int mg_balancer_pick(mg_balancer_t *b, const mg_balancer_ctx_t *ctx)
{
    return b->ops->pick(b->state, ctx);
}

#endif
