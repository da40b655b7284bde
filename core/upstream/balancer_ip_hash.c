/*
 * balancer_ip_hash.c -- the same client (or key) always goes to the same node.
 *
 * The key (the client's address by default, IPv4 and IPv6 alike, or what `hash_on`
 * names) is hashed onto a table where each node appears `weight` times, so a node of
 * weight 2 gets twice the keys. While the node list does not change, a key keeps its
 * node across workers, reloads and restarts. A skipped node (tried, unavailable) sends
 * the key on to a rehash of it, as nginx does, and after a few misses to the next
 * node of the table, so the fallback is stable too.
 *
 * Changing the node list remaps most keys (a key's slot is its hash modulo the table
 * size); chash (balancer_chash.c) remaps only about 1/N of them.
 */
#include "balancer.h"

#include "conf.h"

#include <stdlib.h>

#define IPH_REHASHES 20

typedef struct {
    size_t n;      /* nodes */
    size_t nslots; /* sum of the weights */
    uint16_t slots[];
} iph_state_t;

static void *iph_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    size_t total = 0;
    for (size_t i = 0; i < u->nnodes; i++) {
        total += (size_t)(u->nodes[i].weight > 0 ? u->nodes[i].weight : 1);
    }
    iph_state_t *s = calloc(1, sizeof(*s) + (total ? total : 1) * sizeof(uint16_t));
    if (s == NULL) {
        return NULL;
    }
    s->n = u->nnodes;
    s->nslots = total;
    size_t k = 0;
    for (size_t i = 0; i < u->nnodes; i++) {
        for (int w = u->nodes[i].weight > 0 ? u->nodes[i].weight : 1; w > 0; w--) {
            s->slots[k++] = (uint16_t)i;
        }
    }
    return s;
}

static int iph_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    iph_state_t *s = state;
    if (s->nslots == 0) {
        return -1;
    }
    mg_str_t key = ctx != NULL ? ctx->hash_key : MG_NULL_STR;
    uint64_t h = mg_balancer_hash(key.p, key.len, 0);
    for (int i = 0; i < IPH_REHASHES; i++) {
        int node = s->slots[h % s->nslots];
        if (!mg_balancer_skipped(ctx, (size_t)node)) {
            return node;
        }
        h = mg_balancer_mix(h + 1);
    }
    size_t start = h % s->nslots;
    for (size_t i = 0; i < s->nslots; i++) {
        int node = s->slots[(start + i) % s->nslots];
        if (!mg_balancer_skipped(ctx, (size_t)node)) {
            return node;
        }
    }
    return -1;
}

static void iph_destroy(void *state)
{
    free(state);
}

/* Hash of the client address (or hash_on key) over a weighted table. */
const mg_balancer_ops_t mg_balancer_ip_hash = {
    .name = "ip_hash",
    .create = iph_create,
    .pick = iph_pick,
    .destroy = iph_destroy,
};
