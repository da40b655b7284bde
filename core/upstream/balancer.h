/*
 * balancer.h -- one interface over every load-balancing algorithm.
 *
 * Each algorithm lives in its own balancer_<name>.c behind an ops table. A balancer
 * instance belongs to one upstream of one generation in one worker (per-worker state;
 * algorithms that need cross-worker state read and write the nodes' shared slots,
 * nodestate.h, with atomics).
 *
 * The proxy asks for a node with mg_balancer_pick() before each try, brackets the try
 * with mg_upstream_try_begin()/mg_upstream_try_end() (upstream.c), which keep the
 * shared in-flight counts and feed mg_balancer_observe(), and, for a sticky upstream,
 * adds the Set-Cookie mg_balancer_cookie() returns to the response.
 */
#ifndef MG_BALANCER_H
#define MG_BALANCER_H

#include "mg_core.h"

#include "conf.h"
#include "nodestate.h"

/* Most nodes an upstream may have (the loader refuses more). */
#define MG_BALANCER_MAX_NODES MG_UPSTREAM_MAX_NODES

/* What a pick may look at. `skip` has bit i set for node i that must not be picked:
 * already tried by this request, or unavailable (down, ejected, breaker open, at its
 * connection limit). */
typedef struct {
    uint64_t skip[MG_BALANCER_MAX_NODES / 64];
    /* The request's key (mg_balancer_key()): what chash and ip_hash hash, the sticky
     * cookie's value; may be empty. Borrowed from the request. */
    mg_str_t hash_key;
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
    /* Creates state for `u`'s nodes. `states` has u->nnodes slots (borrowed, they
     * outlive the balancer). NULL when out of memory. */
    void *(*create)(const mg_upstream_conf_t *u, mg_node_state_t *const *states);
    /* Returns a node index in [0, u->nnodes), or -1 when every node is excluded.
     * `ctx` may be NULL (nothing skipped, no key). */
    int (*pick)(void *state, const mg_balancer_ctx_t *ctx);
    /* Optional: one try on `node` ended, `seconds` after it began (time to the
     * response head), or failed (`seconds` is then how long it took to fail). */
    void (*observe)(void *state, int node, bool failed, double seconds);
    /* Optional: the Set-Cookie value that binds the client to `node`, or an empty
     * string when the request's key already names it. Borrowed from the state. */
    mg_str_t (*cookie)(void *state, const mg_balancer_ctx_t *ctx, int node);
    void (*destroy)(void *state);
} mg_balancer_ops_t;

struct mg_balancer_s {
    const mg_balancer_ops_t *ops;
    void *state;
    mg_node_state_t **own; /* private node slots when the caller passed none */
};

extern const mg_balancer_ops_t mg_balancer_roundrobin;
extern const mg_balancer_ops_t mg_balancer_least_conn;
extern const mg_balancer_ops_t mg_balancer_ip_hash;
extern const mg_balancer_ops_t mg_balancer_chash;
extern const mg_balancer_ops_t mg_balancer_ewma;
extern const mg_balancer_ops_t mg_balancer_random;
extern const mg_balancer_ops_t mg_balancer_sticky;

/* Fills the caller's `b` with the algorithm named by `kind` and its state for u's
 * nodes (`u` is borrowed and must outlive `b`). `states` holds u->nnodes shared node
 * slots (borrowed, they must outlive `b`); NULL gives the balancer private zeroed
 * slots (tests, or a process without the shared table). MG_OK, or MG_ERROR for an
 * unknown algorithm or when out of memory (then `b` needs no dispose). */
int mg_balancer_init_kind(mg_balancer_t *b, mg_lb_kind_t kind, const mg_upstream_conf_t *u,
                          mg_node_state_t *const *states);

/* mg_balancer_init_kind() with the algorithm u->balancer names. */
int mg_balancer_init(mg_balancer_t *b, const mg_upstream_conf_t *u, mg_node_state_t *const *states);

/* Frees the algorithm's state. Safe on a `b` whose init failed or that was disposed. */
void mg_balancer_dispose(mg_balancer_t *b);

static inline int mg_balancer_pick(mg_balancer_t *b, const mg_balancer_ctx_t *ctx)
{
    return b->ops->pick(b->state, ctx);
}

/* Tells the algorithm how one try on `node` went (see ops.observe). */
static inline void mg_balancer_observe(mg_balancer_t *b, int node, bool failed, double seconds)
{
    if (b->ops->observe != NULL) {
        b->ops->observe(b->state, node, failed, seconds);
    }
}

/* The Set-Cookie value to send with the response of `node` (sticky upstreams whose
 * client is new or moved), or an empty string. Borrowed from `b`. */
static inline mg_str_t mg_balancer_cookie(mg_balancer_t *b, const mg_balancer_ctx_t *ctx, int node)
{
    return b->ops->cookie != NULL ? b->ops->cookie(b->state, ctx, node) : MG_NULL_STR;
}

/* The request's balancing key for upstream `u` (borrowed from `r`): the sticky cookie's
 * value for a sticky upstream; for chash and ip_hash what hash_on names, the client's
 * address when that is absent from the request; empty for the other algorithms. */
mg_str_t mg_balancer_key(const mg_upstream_conf_t *u, const mg_request_t *r);

/* ---- sticky cookie tokens (balancer_sticky.c) ---- */

#define MG_STICKY_TOKEN_LEN 16

/* The token naming the node at `addr` (as written in the config) in sticky cookies. */
uint64_t mg_balancer_sticky_token(const char *addr);

/* Writes a token as 16 lower-case hex digits and a NUL. */
void mg_balancer_sticky_format(uint64_t token, char out[MG_STICKY_TOKEN_LEN + 1]);

/* Reads a token written by mg_balancer_sticky_format(): MG_OK, or MG_DECLINED for
 * anything else (wrong length, other characters). */
int mg_balancer_sticky_parse(mg_str_t s, uint64_t *token);

/* ---- helpers the algorithms share (balancer.c) ---- */

/* A 64-bit hash of `len` bytes with good avalanche (FNV-1a, then a 64-bit finaliser),
 * the same in every process and release: keys and rings must not move on a restart. */
uint64_t mg_balancer_hash(const void *data, size_t len, uint64_t seed);

/* The 64-bit finaliser alone: a bijection that mixes every bit into every other. */
static inline uint64_t mg_balancer_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* A per-process pseudo-random 64-bit number (xorshift; seeded from the pid and the
 * clock on first use). Not for anything secret. */
uint64_t mg_balancer_rand(void);

/* A node drawn at random among those not skipped, with probability proportional to its
 * weight; `except` (or -1) is left out too. -1 when none is left. */
int mg__balancer_weighted_random(const int *weights, size_t n, const mg_balancer_ctx_t *ctx,
                                 int except);

/* The nodes as algorithms that read the shared figures see them (ewma, random): each
 * node's weight and its slot in shared memory. */
typedef struct {
    size_t n;
    int weights[MG_BALANCER_MAX_NODES];
    mg_node_state_t *st[MG_BALANCER_MAX_NODES];
} mg__balancer_shared_t;

/* A mg__balancer_shared_t for u's nodes (free()d by the caller's destroy); NULL when out
 * of memory. */
mg__balancer_shared_t *mg__balancer_shared_create(const mg_upstream_conf_t *u,
                                                  mg_node_state_t *const *states);

/* Requests in flight to a node across workers, never negative. */
static inline int64_t mg__balancer_inflight(const mg_node_state_t *st)
{
    int64_t v = atomic_load_explicit(&st->inflight, memory_order_relaxed);
    return v > 0 ? v : 0;
}

#endif
