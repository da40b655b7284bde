/*
 * balancer_chash.c -- consistent hashing on a ring of virtual nodes (as haproxy's
 * lb_chash and nginx's `hash ... consistent`).
 *
 * Each node puts CHASH_POINTS_PER_WEIGHT points per unit of weight on a 64-bit ring;
 * a point's position is a hash of the node's address and the point's number, never of
 * the node's index, so a node keeps its points when others are added or removed. A key
 * goes to the node of the first point at or after the key's hash. Adding one node to N
 * therefore moves only the keys that land on its new points (about 1/(N+1) of them, all
 * to the new node) and removing one moves only that node's keys (about 1/N); with 160
 * points per weight unit a node's share is within a few percent of its weight's.
 *
 * A skipped node (tried, unavailable) sends the key on along the ring to the next
 * point of a node not skipped, so its keys spread over the others instead of all
 * landing on one neighbour, and each key's fallback is stable.
 *
 * The ring is capped at CHASH_MAX_POINTS: past it every node's point count is scaled
 * down in proportion (at least one point each).
 */
#include "balancer.h"

#include "conf.h"

#include <stdlib.h>

#define CHASH_POINTS_PER_WEIGHT 160
#define CHASH_MAX_POINTS (1 << 18)

typedef struct {
    uint64_t hash;
    uint32_t node;
} chash_point_t;

typedef struct {
    size_t n;
    size_t npoints;
    chash_point_t points[];
} chash_state_t;

static int point_cmp(const void *a, const void *b)
{
    const chash_point_t *x = a, *y = b;
    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return x->node < y->node ? -1 : x->node > y->node; /* same spot: still deterministic */
}

static size_t points_of(int weight, double scale)
{
    double p = (double)CHASH_POINTS_PER_WEIGHT * (weight > 0 ? weight : 1) * scale;
    return p < 1 ? 1 : (size_t)p;
}

static void *chash_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    double total = 0;
    for (size_t i = 0; i < u->nnodes; i++) {
        total +=
            (double)CHASH_POINTS_PER_WEIGHT * (u->nodes[i].weight > 0 ? u->nodes[i].weight : 1);
    }
    double scale = total > CHASH_MAX_POINTS ? CHASH_MAX_POINTS / total : 1.0;
    size_t npoints = 0;
    for (size_t i = 0; i < u->nnodes; i++) {
        npoints += points_of(u->nodes[i].weight, scale);
    }
    chash_state_t *s = calloc(1, sizeof(*s) + (npoints ? npoints : 1) * sizeof(chash_point_t));
    if (s == NULL) {
        return NULL;
    }
    s->n = u->nnodes;
    size_t k = 0;
    for (size_t i = 0; i < u->nnodes; i++) {
        const char *addr = u->nodes[i].addr.text != NULL ? u->nodes[i].addr.text : "";
        uint64_t base = mg_balancer_hash(addr, strlen(addr), 0);
        size_t np = points_of(u->nodes[i].weight, scale);
        for (size_t j = 0; j < np; j++) {
            s->points[k].hash = mg_balancer_mix(base + (j + 1) * UINT64_C(0x9e3779b97f4a7c15));
            s->points[k].node = (uint32_t)i;
            k++;
        }
    }
    s->npoints = k;
    qsort(s->points, s->npoints, sizeof(chash_point_t), point_cmp);
    return s;
}

/* The index of the first point at or after h (wrapping to 0). */
static size_t ring_find(const chash_state_t *s, uint64_t h)
{
    size_t lo = 0, hi = s->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->points[mid].hash < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == s->npoints ? 0 : lo;
}

static int chash_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    chash_state_t *s = state;
    size_t avail = 0;
    for (size_t i = 0; i < s->n; i++) {
        avail += !mg_balancer_skipped(ctx, i);
    }
    if (s->npoints == 0 || avail == 0) {
        return -1; /* rather than a walk around the whole ring */
    }
    mg_str_t key = ctx != NULL ? ctx->hash_key : MG_NULL_STR;
    size_t at = ring_find(s, mg_balancer_hash(key.p, key.len, 0));
    for (size_t i = 0; i < s->npoints; i++) {
        uint32_t node = s->points[(at + i) % s->npoints].node;
        if (!mg_balancer_skipped(ctx, node)) {
            return (int)node;
        }
    }
    return -1;
}

static void chash_destroy(void *state)
{
    free(state);
}

/* Consistent hash ring, 160 virtual nodes per weight unit. */
const mg_balancer_ops_t mg_balancer_chash = {
    .name = "chash",
    .create = chash_create,
    .pick = chash_pick,
    .destroy = chash_destroy,
};
