/*
 * balancer_fixture.h -- an upstream conf and its node slots for the balancer tests.
 *
 * Node i has the address "10.0.<i/250>.<i%250+1>:80" (what chash, ip_hash and sticky
 * hash), the weight given, and a private zeroed mg_node_state_t the test can set
 * (inflight, ewma) to stand for what the other workers did.
 */
#ifndef MG_BALANCER_FIXTURE_H
#define MG_BALANCER_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "balancer.h"
#include "conf.h"

#define FX_MAX 64

typedef struct {
    mg_upstream_conf_t u;
    mg_node_conf_t nodes[FX_MAX];
    char addrs[FX_MAX][32];
    mg_node_state_t slots[FX_MAX];
    mg_node_state_t *states[FX_MAX];
    mg_balancer_t b;
} fx_t;

/* Fills f for n nodes with the weights given (NULL: all 1), first node numbered
 * `first` in its address, and creates the balancer `kind`. */
static inline void fx_init_from(fx_t *f, mg_lb_kind_t kind, const int *weights, size_t n, int first)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        int k = first + (int)i;
        snprintf(f->addrs[i], sizeof(f->addrs[i]), "10.0.%d.%d:80", k / 250, k % 250 + 1);
        f->nodes[i].addr.text = f->addrs[i];
        f->nodes[i].weight = weights != NULL ? weights[i] : 1;
        f->states[i] = &f->slots[i];
    }
    f->u.name = "test";
    f->u.balancer = kind;
    f->u.nodes = f->nodes;
    f->u.nnodes = n;
    f->u.sticky = (mg_sticky_conf_t){
        .cookie = "mg_node", .fallback = MG_LB_ROUNDROBIN, .path = "/", .httponly = true};
}

static inline int fx_init(fx_t *f, mg_lb_kind_t kind, const int *weights, size_t n)
{
    fx_init_from(f, kind, weights, n, 0);
    return mg_balancer_init(&f->b, &f->u, f->states);
}

static inline mg_balancer_ctx_t fx_key(const char *key)
{
    mg_balancer_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.hash_key = mg_str(key, strlen(key));
    return ctx;
}

#endif
