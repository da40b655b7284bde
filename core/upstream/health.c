/*
 * health.c -- the rules that decide whether a node may take a request, and the calls
 * the proxy makes to apply them (see health.h for the order).
 *
 * All state is in the shared node table and changed with atomics, never under a lock:
 * every worker reads it on each pick, any worker may record an outcome. A state change
 * (an ejection, a breaker move) is made with a compare-and-swap, and only the process
 * whose swap won logs it, so each transition is logged once for the whole node. Counts
 * read and then acted on may race by one between workers (two workers ejecting the
 * last allowed node at the same instant, say); the bounds are documented as such.
 */
#include "health.h"

#include "clock.h"
#include "gen.h"
#include "log.h"
#include "upstream.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- active checks ---- */

int mg_health_probe_result(mg_node_state_t *s, const mg_hc_active_conf_t *a, bool ok)
{
    bool down = atomic_load(&s->down) != 0;
    if (ok) {
        atomic_store(&s->hc_fail, 0);
        int n = atomic_fetch_add(&s->hc_ok, 1) + 1;
        if (down && n >= a->healthy_threshold) {
            atomic_store(&s->down, 0);
            return 1;
        }
        return 0;
    }
    atomic_store(&s->hc_ok, 0);
    int n = atomic_fetch_add(&s->hc_fail, 1) + 1;
    if (!down && n >= a->unhealthy_threshold) {
        atomic_store(&s->down, 1);
        return -1;
    }
    return 0;
}

/* ---- passive checks ---- */

double mg_health_ejection_time(const mg_hc_passive_conf_t *p, int n)
{
    double t = p->base_ejection_time * (n > 0 ? n : 1);
    return t < p->max_ejection_time ? t : p->max_ejection_time;
}

bool mg_health_may_eject(const mg_hc_passive_conf_t *p, size_t nnodes, size_t ejected)
{
    if (nnodes < 2 || p->max_ejection_percent <= 0) {
        return false;
    }
    size_t cap = nnodes * (size_t)p->max_ejection_percent / 100;
    return ejected < (cap > 0 ? cap : 1);
}

bool mg_health_is_ejected(const mg_node_state_t *s, double now)
{
    return atomic_load(&((mg_node_state_t *)s)->ejected_until) > now;
}

bool mg_health_passive_record(mg_node_state_t *s, const mg_hc_passive_conf_t *p,
                              mg_health_outcome_t o)
{
    switch (o) {
    case MG_HEALTH_OK:
        /* stores only when needed: a healthy node's cache line stays shared */
        if (atomic_load(&s->fails) != 0) {
            atomic_store(&s->fails, 0);
        }
        if (atomic_load(&s->fails_5xx) != 0) {
            atomic_store(&s->fails_5xx, 0);
        }
        return false;
    case MG_HEALTH_5XX: {
        int n5 = atomic_fetch_add(&s->fails_5xx, 1) + 1;
        return p->consecutive_5xx > 0 && n5 >= p->consecutive_5xx;
    }
    case MG_HEALTH_FAILURE: {
        /* no answer at all is at least as bad as a 5xx: it counts for both */
        int n = atomic_fetch_add(&s->fails, 1) + 1;
        int n5 = atomic_fetch_add(&s->fails_5xx, 1) + 1;
        return (p->consecutive_failures > 0 && n >= p->consecutive_failures) ||
               (p->consecutive_5xx > 0 && n5 >= p->consecutive_5xx);
    }
    default:
        return false;
    }
}

double mg_health_eject(mg_node_state_t *s, const mg_hc_passive_conf_t *p, double now)
{
    double until = atomic_load(&s->ejected_until);
    if (until > now) {
        return 0;
    }
    int n = atomic_load(&s->ejections);
    /* back for at least as long as it was out: the next ejection starts over */
    if (n > 0 && now - until >= mg_health_ejection_time(p, n)) {
        n = 0;
    }
    n++;
    double len = mg_health_ejection_time(p, n);
    if (!atomic_compare_exchange_strong(&s->ejected_until, &until, now + len)) {
        return 0;
    }
    atomic_store(&s->ejections, n);
    atomic_fetch_add(&s->ejected_total, 1); /* rare: only the worker that won the swap */
    atomic_store(&s->fails, 0);
    atomic_store(&s->fails_5xx, 0);
    return len;
}

/* ---- circuit breaker ---- */

const char *mg_breaker_name(int state)
{
    switch (state) {
    case MG_BREAKER_OPEN:
        return "open";
    case MG_BREAKER_HALF_OPEN:
        return "half_open";
    default:
        return "closed";
    }
}

/* Moves the breaker from `from` to `to` at `now`; true when this call made the move. */
static bool breaker_move(mg_node_state_t *s, int from, int to, double now)
{
    /* the stamp goes first: whoever sees the new state must see its time. When the swap
     * loses, another process made a move at about the same instant and its stamp is as
     * good as ours. */
    atomic_store(&s->breaker_since, now);
    int32_t exp = from;
    return atomic_compare_exchange_strong(&s->breaker, &exp, to);
}

mg_breaker_state_t mg_breaker_state(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now,
                                    bool *changed)
{
    int st = atomic_load(&s->breaker);
    if (changed != NULL) {
        *changed = false;
    }
    double since = atomic_load(&s->breaker_since);
    if (st == MG_BREAKER_OPEN && now - since >= b->open_time) {
        /* no trial can be running while open, so the slots start free */
        atomic_store(&s->trials, 0);
        if (breaker_move(s, MG_BREAKER_OPEN, MG_BREAKER_HALF_OPEN, now)) {
            if (changed != NULL) {
                *changed = true;
            }
        }
        return (mg_breaker_state_t)atomic_load(&s->breaker);
    }
    if (st == MG_BREAKER_HALF_OPEN && now - since >= b->open_time &&
        atomic_load(&s->trials) >= b->half_open_requests) {
        /* trials that never reported (their worker died) must not keep the node out
         * for good: after another open_time the slots are handed out again */
        atomic_store(&s->trials, 0);
        atomic_store(&s->breaker_since, now);
    }
    return (mg_breaker_state_t)st;
}

bool mg_breaker_available(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now)
{
    switch (mg_breaker_state(s, b, now, NULL)) {
    case MG_BREAKER_CLOSED:
        return true;
    case MG_BREAKER_HALF_OPEN:
        return atomic_load(&s->trials) < b->half_open_requests;
    default:
        return false;
    }
}

int mg_breaker_acquire(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now, bool *trial)
{
    *trial = false;
    switch (mg_breaker_state(s, b, now, NULL)) {
    case MG_BREAKER_CLOSED:
        return MG_OK;
    case MG_BREAKER_HALF_OPEN: {
        int32_t t = atomic_load(&s->trials);
        while (t < b->half_open_requests) {
            if (atomic_compare_exchange_weak(&s->trials, &t, t + 1)) {
                *trial = true;
                return MG_OK;
            }
        }
        return MG_DECLINED;
    }
    default:
        return MG_DECLINED;
    }
}

/* Gives a trial slot back, never below zero (the slots may have been reset meanwhile). */
static void trial_release(mg_node_state_t *s)
{
    int32_t t = atomic_load(&s->trials);
    while (t > 0 && !atomic_compare_exchange_weak(&s->trials, &t, t - 1)) {
    }
}

int mg_breaker_record(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, mg_health_outcome_t o,
                      bool trial, double now)
{
    if (trial) {
        trial_release(s);
    }
    if (o == MG_HEALTH_NONE) {
        return -1;
    }
    bool bad = o != MG_HEALTH_OK;
    switch (atomic_load(&s->breaker)) {
    case MG_BREAKER_CLOSED:
        if (!bad) {
            if (atomic_load(&s->brk_fails) != 0) {
                atomic_store(&s->brk_fails, 0);
            }
            return -1;
        }
        if (atomic_fetch_add(&s->brk_fails, 1) + 1 >= b->failures &&
            breaker_move(s, MG_BREAKER_CLOSED, MG_BREAKER_OPEN, now)) {
            atomic_store(&s->brk_fails, 0);
            return MG_BREAKER_OPEN;
        }
        return -1;
    case MG_BREAKER_HALF_OPEN:
        /* only the trials decide; a request that started before the breaker opened
         * says nothing about the node now */
        if (!trial) {
            return -1;
        }
        if (bad) {
            return breaker_move(s, MG_BREAKER_HALF_OPEN, MG_BREAKER_OPEN, now) ? MG_BREAKER_OPEN
                                                                               : -1;
        }
        if (breaker_move(s, MG_BREAKER_HALF_OPEN, MG_BREAKER_CLOSED, now)) {
            atomic_store(&s->brk_fails, 0);
            return MG_BREAKER_CLOSED;
        }
        return -1;
    default:
        return -1; /* open: late answers of requests sent before it opened */
    }
}

/* ---- retry budget ---- */

void mg_retry_budget_count(mg_upstream_state_t *s, double now)
{
    double since = atomic_load(&s->budget_since);
    if (now - since >= MG_RETRY_BUDGET_WINDOW &&
        atomic_compare_exchange_strong(&s->budget_since, &since, now)) {
        /* the previous window weighs half in the next one: a cheap sliding window */
        bool stale = now - since >= 2 * MG_RETRY_BUDGET_WINDOW;
        atomic_store(&s->requests, stale ? 0 : atomic_load(&s->requests) / 2);
        atomic_store(&s->retries, stale ? 0 : atomic_load(&s->retries) / 2);
    }
    atomic_fetch_add(&s->requests, 1);
}

bool mg_retry_budget_allows(const mg_upstream_state_t *s, const mg_health_conf_t *h)
{
    if (!h->retry_budget) {
        return true;
    }
    mg_upstream_state_t *m = (mg_upstream_state_t *)s;
    double cap = h->retry_ratio * (double)atomic_load(&m->requests);
    if (cap < h->retry_min) {
        cap = h->retry_min;
    }
    return (double)(atomic_load(&m->retries) + 1) <= cap;
}

/* ---- the prober's lease ---- */

bool mg_health_lease(mg_upstream_state_t *s, int64_t me, double now, double ttl)
{
    double until = atomic_load(&s->prober_until);
    int64_t pid = atomic_load(&s->prober_pid);
    if (pid != me && pid != 0 && now < until) {
        return false;
    }
    /* the expiry is the token: of two processes taking an expired lease, one swaps */
    if (!atomic_compare_exchange_strong(&s->prober_until, &until, now + ttl)) {
        return false;
    }
    atomic_store(&s->prober_pid, me);
    return true;
}

void mg_health_lease_release(mg_upstream_state_t *s, int64_t me)
{
    int64_t exp = me;
    if (atomic_compare_exchange_strong(&s->prober_pid, &exp, 0)) {
        atomic_store(&s->prober_until, 0);
    }
}

/* ---- the proxy's calls ---- */

void mg_health_request(mg_upstream_t *u)
{
    if (u->conf->health.retry_budget) {
        mg_retry_budget_count(u->state, mg_mono_now());
    }
}

size_t mg_health_filter(mg_upstream_t *u, mg_balancer_ctx_t *ctx)
{
    const mg_health_conf_t *h = &u->conf->health;
    for (size_t w = 0; u->dns != NULL && w < MG_NELEMS(ctx->skip); w++) {
        ctx->skip[w] |= u->gone[w]; /* DNS took them away */
    }
    if (!h->active.on && !h->passive.on && !h->breaker.on) {
        size_t skipped = 0; /* the common case costs a popcount, not a walk */
        for (size_t w = 0; w < MG_NELEMS(ctx->skip); w++) {
            skipped += (size_t)__builtin_popcountll(ctx->skip[w]);
        }
        return u->conf->nnodes - MG_MIN(skipped, u->conf->nnodes);
    }
    bool timed = h->passive.on || h->breaker.on;
    double now = timed ? mg_mono_now() : 0;
    size_t left = 0;
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        if (mg_balancer_skipped(ctx, i)) {
            continue;
        }
        mg_node_state_t *s = u->nodes[i].state;
        bool out = (h->active.on && atomic_load(&s->down)) ||
                   (h->passive.on && mg_health_is_ejected(s, now));
        if (!out && h->breaker.on) {
            bool changed;
            mg_breaker_state_t st = mg_breaker_state(s, &h->breaker, now, &changed);
            if (changed) {
                mg_log_notice("upstream \"%s\" node %s: circuit breaker half-open after %gs "
                              "open, letting %d trial request(s) through",
                              u->conf->name, mg_upstream_node_addr(u, (int)i), h->breaker.open_time,
                              h->breaker.half_open_requests);
            }
            out =
                st == MG_BREAKER_OPEN || (st == MG_BREAKER_HALF_OPEN &&
                                          atomic_load(&s->trials) >= h->breaker.half_open_requests);
        }
        if (out) {
            mg_balancer_skip(ctx, i);
        } else {
            left++;
        }
    }
    return left;
}

int mg_health_begin(mg_upstream_t *u, int node, bool *trial)
{
    const mg_health_conf_t *h = &u->conf->health;
    mg_node_state_t *s = u->nodes[node].state;
    *trial = false;
    if (h->breaker.on && mg_breaker_acquire(s, &h->breaker, mg_mono_now(), trial) != MG_OK) {
        return MG_DECLINED;
    }
    return MG_OK; /* `requests` is counted by mg_upstream_try_begin() */
}

/* Ejects `node` after its passive threshold was reached, within max_ejection_percent. */
static void eject(mg_upstream_t *u, int node, double now)
{
    const mg_hc_passive_conf_t *p = &u->conf->health.passive;
    mg_node_state_t *s = u->nodes[node].state;
    size_t ejected = 0, nodes = 0;
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        if (!mg_upstream_node_gone(u, (int)i)) { /* nodes DNS took away do not count */
            nodes++;
            ejected += mg_health_is_ejected(u->nodes[i].state, now);
        }
    }
    if (mg_health_is_ejected(s, now)) {
        return;
    }
    if (!mg_health_may_eject(p, nodes, ejected)) {
        mg_log_debug("upstream \"%s\" node %s: not ejected, %zu of %zu node(s) already are "
                     "(max_ejection_percent %d)",
                     u->conf->name, mg_upstream_node_addr(u, node), ejected, u->conf->nnodes,
                     p->max_ejection_percent);
        return;
    }
    int fails = atomic_load(&s->fails), fails_5xx = atomic_load(&s->fails_5xx);
    bool by_failures = p->consecutive_failures > 0 && fails >= p->consecutive_failures;
    double len = mg_health_eject(s, p, now);
    if (len > 0) {
        mg_log_warn("upstream \"%s\" node %s ejected for %gs (ejection %d in a row): %d %s in "
                    "a row",
                    u->conf->name, mg_upstream_node_addr(u, node), len, atomic_load(&s->ejections),
                    by_failures ? fails : fails_5xx,
                    by_failures ? "failures" : "5xx answers or failures");
    }
}

void mg_health_observe(mg_upstream_t *u, int node, mg_health_outcome_t o, bool trial)
{
    const mg_health_conf_t *h = &u->conf->health;
    mg_node_state_t *s = u->nodes[node].state;
    if (o == MG_HEALTH_5XX) {
        atomic_fetch_add(&s->failures, 1); /* failed tries: mg_upstream_try_end() */
    }
    if (!h->passive.on && !h->breaker.on) {
        return;
    }
    double now = mg_mono_now();
    if (h->passive.on && mg_health_passive_record(s, &h->passive, o)) {
        eject(u, node, now);
    }
    if (!h->breaker.on) {
        return;
    }
    int to = mg_breaker_record(s, &h->breaker, o, trial, now);
    if (to == MG_BREAKER_OPEN) {
        mg_log_warn("upstream \"%s\" node %s: circuit breaker open for %gs: %s", u->conf->name,
                    mg_upstream_node_addr(u, node), h->breaker.open_time,
                    trial ? "the half-open trial failed" : "too many failures in a row");
    } else if (to == MG_BREAKER_CLOSED) {
        mg_log_notice("upstream \"%s\" node %s: circuit breaker closed: the trial succeeded",
                      u->conf->name, mg_upstream_node_addr(u, node));
    }
}

bool mg_health_retry_allowed(mg_upstream_t *u)
{
    return mg_retry_budget_allows(u->state, &u->conf->health);
}

void mg_health_retry_spend(mg_upstream_t *u)
{
    if (u->conf->health.retry_budget) {
        atomic_fetch_add(&u->state->retries, 1);
    }
}

bool mg_health_conn_open(mg_upstream_t *u, int node)
{
    int max = u->conf->health.max_connections;
    int64_t n = atomic_fetch_add(&u->state->connections, 1);
    if (max > 0 && n >= max) {
        atomic_fetch_sub(&u->state->connections, 1);
        return false;
    }
    atomic_fetch_add(&u->nodes[node].state->connections, 1);
    return true;
}

bool mg_health_conn_at_max(const mg_upstream_t *u)
{
    int max = u->conf->health.max_connections;
    return max > 0 && atomic_load(&u->state->connections) >= max;
}

void mg_health_conn_closed(mg_upstream_t *u, int node)
{
    atomic_fetch_sub(&u->state->connections, 1);
    atomic_fetch_sub(&u->nodes[node].state->connections, 1);
}

/* ---- /status ---- */

static const char *health_name(const mg_upstream_t *u, mg_node_state_t *s, double now)
{
    const mg_health_conf_t *h = &u->conf->health;
    if (h->active.on && atomic_load(&s->down)) {
        return "unhealthy";
    }
    if (h->passive.on && mg_health_is_ejected(s, now)) {
        return "ejected";
    }
    return "healthy";
}

const char *mg_health_node_state(const mg_upstream_t *u, int node, double now)
{
    return health_name(u, u->nodes[node].state, now);
}

/* snprintf into buf at *len; false once it no longer fits. */
static bool put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap) {
        return false;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len) {
        *len = cap;
        return false;
    }
    *len += (size_t)n;
    return true;
}

size_t mg_health_status_json(const mg_gen_t *g, char *buf, size_t cap)
{
    size_t len = 0;
    double now = mg_mono_now();
    put(buf, cap, &len, "\"upstreams\":[");
    for (size_t i = 0; i < g->conf->nupstreams; i++) {
        const mg_upstream_t *u = g->upstreams[i];
        mg_upstream_state_t *us = u->state;
        put(buf, cap, &len,
            "%s{\"name\":\"%s\",\"connections\":%lld,\"pending\":%lld,\"queued\":%lld,"
            "\"requests\":%llu,\"retries\":%llu,\"prober_pid\":%lld,\"nodes\":[",
            i ? "," : "", u->conf->name, (long long)atomic_load(&us->connections),
            (long long)atomic_load(&us->pending), (long long)atomic_load(&us->queued),
            (unsigned long long)atomic_load(&us->requests),
            (unsigned long long)atomic_load(&us->retries),
            u->conf->health.active.on ? (long long)atomic_load(&us->prober_pid) : 0LL);
        bool first = true;
        for (size_t j = 0; j < u->conf->nnodes; j++) {
            if (mg_upstream_node_gone(u, (int)j)) {
                continue;
            }
            mg_node_state_t *s = u->nodes[j].state;
            put(buf, cap, &len,
                "%s{\"address\":\"%s\",\"health\":\"%s\",\"breaker\":\"%s\",\"inflight\":%lld,"
                "\"connections\":%lld,\"requests\":%llu,\"failures\":%llu,\"ejections\":%d",
                first ? "" : ",", mg_upstream_node_addr(u, (int)j), health_name(u, s, now),
                u->conf->health.breaker.on ? mg_breaker_name(atomic_load(&s->breaker)) : "off",
                (long long)atomic_load(&s->inflight), (long long)atomic_load(&s->connections),
                (unsigned long long)atomic_load(&s->requests),
                (unsigned long long)atomic_load(&s->failures), atomic_load(&s->ejections));
            if (u->nodes[j].host != NULL) {
                put(buf, cap, &len, ",\"resolved_from\":\"%s\"", u->nodes[j].host);
            }
            put(buf, cap, &len, "}");
            first = false;
        }
        put(buf, cap, &len, "]");
        if (u->dns != NULL) {
            put(buf, cap, &len, ",\"dns\":[");
            len += mg_upstream_dns_status_json(u, buf + MG_MIN(len, cap), cap - MG_MIN(len, cap));
            put(buf, cap, &len, "]");
        }
        put(buf, cap, &len, "}");
    }
    put(buf, cap, &len, "],");
    return len;
}
