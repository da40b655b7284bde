/*
 * balancer_sticky.c -- session affinity by cookie.
 *
 * A client's cookie (`sticky.cookie`, default "mg_node") names its node by an opaque
 * token: 16 hex digits of a hash of the node's address. The token says nothing about
 * the node's index or address, stays the same across reloads, restarts and gateway
 * instances (any instance behind an L4 balancer honours any other's cookie), and
 * changes only when the node's address does.
 *
 * A request whose cookie names a node that may be picked goes there. A new client (no
 * cookie, or one naming no node of this upstream) and a client whose node is skipped
 * (down, ejected, already tried by this request) get a node from the fallback
 * algorithm, and the response carries a Set-Cookie naming the node that answered, so
 * the client sticks to it from then on.
 */
#include "balancer.h"

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>

#define STICKY_SEED UINT64_C(0x6d676e6f64650001)
#define COOKIE_MAX 512

typedef struct {
    size_t n;
    mg_balancer_t fallback;
    uint64_t tokens[MG_BALANCER_MAX_NODES];
    mg_str_t cookies[MG_BALANCER_MAX_NODES]; /* Set-Cookie values, into `buf` */
    char *buf;
} sticky_state_t;

uint64_t mg_balancer_sticky_token(const char *addr)
{
    return mg_balancer_hash(addr, strlen(addr), STICKY_SEED);
}

void mg_balancer_sticky_format(uint64_t token, char out[MG_STICKY_TOKEN_LEN + 1])
{
    snprintf(out, MG_STICKY_TOKEN_LEN + 1, "%016llx", (unsigned long long)token);
}

int mg_balancer_sticky_parse(mg_str_t s, uint64_t *token)
{
    if (s.len != MG_STICKY_TOKEN_LEN) {
        return MG_DECLINED;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return MG_DECLINED;
        }
        v = v << 4 | (uint64_t)d;
    }
    *token = v;
    return MG_OK;
}

/* "NAME=TOKEN; Path=P[; Max-Age=N][; Secure][; HttpOnly]" into dst (COOKIE_MAX). */
static size_t format_cookie(const mg_sticky_conf_t *c, uint64_t token, char *dst)
{
    char tok[MG_STICKY_TOKEN_LEN + 1];
    char age[32] = "";
    mg_balancer_sticky_format(token, tok);
    if (c->max_age > 0) {
        snprintf(age, sizeof(age), "; Max-Age=%.0f", c->max_age < 1 ? 1 : c->max_age);
    }
    int n = snprintf(dst, COOKIE_MAX, "%s=%s; Path=%s%s%s%s", c->cookie ? c->cookie : "mg_node",
                     tok, c->path ? c->path : "/", age, c->secure ? "; Secure" : "",
                     c->httponly ? "; HttpOnly" : "");
    return n < 0 ? 0 : MG_MIN((size_t)n, (size_t)COOKIE_MAX - 1);
}

static void *sticky_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    sticky_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->n = MG_MIN(u->nnodes, (size_t)MG_BALANCER_MAX_NODES);
    s->buf = malloc((s->n ? s->n : 1) * COOKIE_MAX);
    mg_lb_kind_t fb = u->sticky.fallback == MG_LB_STICKY ? MG_LB_ROUNDROBIN : u->sticky.fallback;
    if (s->buf == NULL || mg_balancer_init_kind(&s->fallback, fb, u, states) != MG_OK) {
        free(s->buf);
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        const char *addr = u->nodes[i].addr.text != NULL ? u->nodes[i].addr.text : "";
        s->tokens[i] = mg_balancer_sticky_token(addr);
        char *dst = s->buf + i * COOKIE_MAX;
        s->cookies[i] = mg_str(dst, format_cookie(&u->sticky, s->tokens[i], dst));
    }
    return s;
}

/* The node the request's cookie names, or -1. */
static int cookie_node(const sticky_state_t *s, const mg_balancer_ctx_t *ctx)
{
    uint64_t token;
    if (ctx == NULL || mg_balancer_sticky_parse(ctx->hash_key, &token) != MG_OK) {
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->tokens[i] == token) {
            return (int)i;
        }
    }
    return -1;
}

static int sticky_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    sticky_state_t *s = state;
    int node = cookie_node(s, ctx);
    if (node >= 0 && !mg_balancer_skipped(ctx, (size_t)node)) {
        return node;
    }
    return mg_balancer_pick(&s->fallback, ctx);
}

static void sticky_observe(void *state, int node, bool failed, double seconds)
{
    sticky_state_t *s = state;
    mg_balancer_observe(&s->fallback, node, failed, seconds);
}

static mg_str_t sticky_cookie(void *state, const mg_balancer_ctx_t *ctx, int node)
{
    sticky_state_t *s = state;
    if (node < 0 || (size_t)node >= s->n || cookie_node(s, ctx) == node) {
        return MG_NULL_STR;
    }
    return s->cookies[node];
}

static void sticky_destroy(void *state)
{
    sticky_state_t *s = state;
    mg_balancer_dispose(&s->fallback);
    free(s->buf);
    free(s);
}

/* Cookie affinity over a fallback algorithm for new and moved clients. */
const mg_balancer_ops_t mg_balancer_sticky = {
    .name = "sticky",
    .create = sticky_create,
    .pick = sticky_pick,
    .observe = sticky_observe,
    .cookie = sticky_cookie,
    .destroy = sticky_destroy,
};
