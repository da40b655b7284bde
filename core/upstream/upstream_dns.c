/*
 * upstream_dns.c -- nodes given by host name: resolved by the worker's resolver
 * (sys/resolver.h) without blocking, re-resolved when their answer's TTL runs out (or
 * after `resolver.valid` when set), each answer merged into the running upstream's
 * nodes (nodeset.h) without a reload.
 *
 * Every worker resolves for itself, as nginx's `resolve` does; the workers agree on
 * node identity anyway, because a node's shared state (nodestate.h: health, breaker,
 * ewma, in-flight counts) is keyed by its upstream and its "ip:port": an address that
 * stays keeps its state in every worker and across reloads, a new one starts with its
 * own.
 *
 * One watch per configured name. A plain name asks for its A and AAAA records; every
 * address becomes a node with the configured node's port and weight. `srv: true` asks
 * for SRV records, keeps the lowest-priority group (RFC 2782), then resolves each
 * target in turn: its addresses become nodes with the record's port and weight. A
 * failed round (timeout, SERVFAIL, NXDOMAIN, no address, an SRV target that does not
 * resolve) changes nothing: the last good answer keeps serving, one error line says
 * so, one notice says when the name resolves again, and the round is retried after
 * RETRY seconds.
 *
 * The last good answer of each name is also kept per process (seeds below), so that
 * the next generation of a reload starts with the nodes the previous one had instead
 * of none while its first answer comes.
 */
#include "upstream_int.h"

#include "log.h"
#include "nodeset.h"
#include "resolver.h"
#include "worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY 5.0       /* a failed round is tried again after this long (s) */
#define DEFAULT_TTL 30. /* an answer without a TTL ("localhost") is asked again after */
#define TEXT_LEN (INET6_ADDRSTRLEN + 8)
#define HOST_LEN (MG_RESOLVER_NAME_MAX + 8) /* "target:port" */

typedef char host_t[HOST_LEN];

typedef struct watch_s watch_t;

typedef struct mg_upstream_dns_s {
    mg_upstream_t *u;
    const mg_upstream_conf_t *orig; /* the conf as loaded (borrowed) */
    mg_upstream_conf_t eff;         /* u->conf: orig with the nodes of now */
    mg_node_conf_t nodes[MG_UPSTREAM_MAX_NODES];
    char texts[MG_UPSTREAM_MAX_NODES][TEXT_LEN]; /* "ip:port" of the nodes from DNS */
    mg_nodeset_slot_t slots[MG_UPSTREAM_MAX_NODES];
    mg_nodeset_t set;
    mg_nodeset_event_t events[MG_UPSTREAM_MAX_NODES];
    watch_t *watches;
    size_t nwatches;
    bool was_current; /* its generation was the worker's current one at some round */
} dns_t;

struct watch_s {
    dns_t *d;
    int origin; /* conf->nodes index */
    const mg_node_conf_t *node;
    ev_timer timer; /* the next round */
    bool timer_on;
    mg_resolver_t *r;         /* the resolver the queries below went to */
    mg_resolver_query_t *q;   /* A/AAAA of the name or of the current SRV target */
    mg_resolver_srvq_t *sq;   /* the SRV query */
    mg_resolver_srv_t *group; /* SRV: the records in use (malloc'd), next to resolve */
    size_t ngroup, next;
    unsigned maxw;
    mg_nodeset_addr_t *found; /* this round's addresses (malloc'd) */
    host_t *found_host;       /* SRV: the "target:port" each came from (malloc'd) */
    size_t nfound;
    double ttl;               /* this round's smallest TTL */
    const char *err;          /* why the last round failed; NULL after a success */
    double last_ok, last_err; /* wall-clock times, 0 = never */
    bool resolved;            /* an answer was ever merged (or seeded) */
};

/* ---- the last good answers of this process ---- */

typedef struct seed_s {
    struct seed_s *next;
    char *key; /* "upstream\nname as written" */
    size_t n;
    host_t *hosts; /* SRV: each address' "target:port" (malloc'd); NULL for a name */
    mg_nodeset_addr_t addrs[];
} seed_t;

static seed_t *seeds;

static seed_t **seed_find(const char *up, const char *text)
{
    size_t ul = strlen(up);
    seed_t **pp = &seeds;
    for (; *pp != NULL; pp = &(*pp)->next) {
        const char *k = (*pp)->key;
        if (strncmp(k, up, ul) == 0 && k[ul] == '\n' && strcmp(k + ul + 1, text) == 0) {
            break;
        }
    }
    return pp;
}

static void seed_store(const char *up, const char *text, const mg_nodeset_addr_t *a,
                       const host_t *hosts, size_t n)
{
    seed_t **pp = seed_find(up, text);
    host_t *h = hosts != NULL ? malloc(n * sizeof(*h) + 1) : NULL;
    seed_t *s = hosts == NULL || h != NULL ? realloc(*pp, sizeof(seed_t) + n * sizeof(*a)) : NULL;
    if (s == NULL) {
        free(h);
        return; /* only a reload's head start is lost */
    }
    if (*pp == NULL) {
        s->next = NULL;
        s->hosts = NULL;
        size_t len = strlen(up) + strlen(text) + 2;
        if ((s->key = malloc(len)) == NULL) {
            free(s);
            return;
        }
        snprintf(s->key, len, "%s\n%s", up, text);
    }
    *pp = s;
    s->n = n;
    memcpy(s->addrs, a, n * sizeof(*a));
    free(s->hosts);
    s->hosts = h;
    if (h != NULL) {
        memcpy(h, hosts, n * sizeof(*h));
    }
}

/* ---- applying an answer ---- */

static void addr_text(const struct sockaddr_storage *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port;
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *s4 = (const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, len, "%s:%u", ip, port);
    }
}

/* The name the node in `slot` is known by: the configured "name:port", or for SRV the
 * "target:port" its address came with (hosts[] runs along addrs[]). */
static const char *host_of_slot(const watch_t *w, size_t slot, const mg_nodeset_addr_t *addrs,
                                const host_t *hosts, size_t n)
{
    const mg_nodeset_slot_t *sl = &w->d->slots[slot];
    for (size_t i = 0; hosts != NULL && i < n; i++) {
        if (mg_nodeset_addr_eq(&addrs[i].sa, addrs[i].salen, &sl->sa, sl->salen)) {
            return hosts[i];
        }
    }
    return w->node->addr.text;
}

/* Slot i took an address: the conf entry, then the runtime node. */
static int take(dns_t *d, size_t i, const char *host)
{
    mg_nodeset_slot_t *sl = &d->slots[i];
    mg_node_conf_t *nc = &d->nodes[i];
    addr_text(&sl->sa, d->texts[i], TEXT_LEN);
    *nc = (mg_node_conf_t){.weight = sl->weight};
    nc->addr.text = d->texts[i];
    nc->addr.sa = sl->sa;
    nc->addr.salen = sl->salen;
    return mg__upstream_node_take(d->u, (int)i, host);
}

static void log_change(dns_t *d, watch_t *w, size_t added, size_t gone)
{
    char list[1024];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < d->set.n && len < sizeof(list) - TEXT_LEN - 8; i++) {
        if (!d->slots[i].gone && d->slots[i].origin == w->origin) {
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "",
                                    d->texts[i]);
        }
    }
    mg_log_info("upstream \"%s\": %s%s resolves to %s (%zu new, %zu gone)", d->orig->name,
                w->node->addr.text, w->node->srv ? " (SRV)" : "", len ? list : "nothing", added,
                gone);
}

/* Merges addrs (with their SRV hosts, or NULL) into the nodes and applies what moved;
 * logs the change unless `quiet` (a reload's seed: nothing changed for the operator). */
static void merge(dns_t *d, watch_t *w, const mg_nodeset_addr_t *addrs, const host_t *hosts,
                  size_t n, bool quiet)
{
    mg_upstream_t *u = d->u;
    for (size_t i = 0; i < d->set.n; i++) {
        d->slots[i].refs = u->nodes[i].refs;
    }
    size_t dropped;
    size_t changed = mg_nodeset_merge(&d->set, w->origin, addrs, n, d->events, &dropped);
    if (dropped > 0) {
        mg_log_warn("upstream \"%s\": %s gives more addresses than it may (%d per name, %d "
                    "nodes in all): %zu left out",
                    d->orig->name, w->node->addr.text, MG_NODESET_PER_NAME, MG_UPSTREAM_MAX_NODES,
                    dropped);
    }
    if (changed == 0) {
        return;
    }
    size_t added = 0, gone = 0;
    bool probing = u->health != NULL; /* the prober's list of nodes follows */
    if (probing) {
        mg_health_stop(u);
    }
    d->eff.nnodes = d->set.n;
    for (size_t i = 0; i < d->set.n; i++) {
        switch (d->events[i]) {
        case MG_NODESET_NEW:
            added++;
            if (take(d, i, host_of_slot(w, i, addrs, hosts, n)) != MG_OK) {
                mg_log_err("upstream \"%s\": out of memory for node %s", d->orig->name,
                           d->texts[i]);
                d->slots[i].gone = true;
                mg__upstream_node_gone(u, (int)i);
            }
            break;
        case MG_NODESET_GONE:
            gone++;
            mg__upstream_node_gone(u, (int)i);
            break;
        case MG_NODESET_WEIGHT:
            d->nodes[i].weight = d->slots[i].weight;
            break;
        case MG_NODESET_SAME:
            break;
        }
    }
    if (mg__upstream_rebalance(u) != MG_OK) {
        mg_log_err("upstream \"%s\": out of memory rebuilding the balancer: the new addresses "
                   "of %s wait for the next answer",
                   d->orig->name, w->node->addr.text);
        for (size_t i = 0; i < d->set.n; i++) {
            if (d->events[i] == MG_NODESET_NEW) {
                d->slots[i].gone = true;
                mg__upstream_node_gone(u, (int)i);
            }
        }
    }
    if (probing) {
        mg_health_start(u);
    }
    if (!quiet) {
        log_change(d, w, added, gone);
    }
}

/* ---- rounds ---- */

static void round_start(watch_t *w);

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    watch_t *w = t->data;
    ev_ref(loop);
    w->timer_on = false;
    round_start(w);
}

/* The next round in `after` seconds. The timer never keeps a draining loop alive. */
static void schedule(watch_t *w, double after)
{
    mg_upstream_t *u = w->d->u;
    if (w->timer_on) {
        ev_ref(u->loop);
        ev_timer_stop(u->loop, &w->timer);
    }
    ev_timer_set(&w->timer, after, 0.);
    ev_timer_start(u->loop, &w->timer);
    ev_unref(u->loop);
    w->timer_on = true;
}

static void round_clear(watch_t *w)
{
    free(w->group);
    free(w->found);
    free(w->found_host);
    w->group = NULL;
    w->found = NULL;
    w->found_host = NULL;
    w->ngroup = w->next = w->nfound = 0;
}

static void round_failed(watch_t *w, const char *err)
{
    dns_t *d = w->d;
    if (w->err == NULL) { /* one line per outage, not one per round or request */
        mg_log_err("upstream \"%s\": cannot resolve %s%s: %s; %s", d->orig->name,
                   w->node->addr.text, w->node->srv ? " (SRV)" : "", err,
                   w->resolved ? "its last addresses keep serving"
                               : "it has no node until it resolves");
    }
    w->err = err;
    w->last_err = ev_now(d->u->loop);
    round_clear(w);
    schedule(w, RETRY);
}

static void round_done(watch_t *w)
{
    dns_t *d = w->d;
    if (w->err != NULL) {
        mg_log_notice("upstream \"%s\": %s resolves again", d->orig->name, w->node->addr.text);
    }
    w->err = NULL;
    w->last_ok = ev_now(d->u->loop);
    merge(d, w, w->found, w->found_host, w->nfound, false);
    seed_store(d->orig->name, w->node->addr.text, w->found, w->found_host, w->nfound);
    w->resolved = true;
    double ttl = w->ttl > 0 ? w->ttl : DEFAULT_TTL;
    round_clear(w);
    schedule(w, ttl);
}

/* Adds an answer's addresses with `port` and `weight` to the round (`target`: the SRV
 * target they came from, else NULL). */
static void round_add(watch_t *w, const mg_resolver_answer_t *a, uint16_t port, int weight,
                      const char *target)
{
    for (size_t i = 0; i < a->naddrs && w->nfound < MG_NODESET_PER_NAME * 2; i++) {
        if (target != NULL) {
            snprintf(w->found_host[w->nfound], HOST_LEN, "%s:%u", target, port);
        }
        mg_nodeset_addr_t *f = &w->found[w->nfound++];
        memset(f, 0, sizeof(*f));
        f->sa = a->addrs[i];
        if (f->sa.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)&f->sa)->sin6_port = htons(port);
            f->salen = sizeof(struct sockaddr_in6);
        } else {
            ((struct sockaddr_in *)&f->sa)->sin_port = htons(port);
            f->salen = sizeof(struct sockaddr_in);
        }
        f->weight = weight;
    }
    if (a->ttl > 0 && (w->ttl <= 0 || a->ttl < w->ttl)) {
        w->ttl = a->ttl;
    }
}

static void srv_next(watch_t *w);

static void on_addrs(void *arg, const mg_resolver_answer_t *a)
{
    watch_t *w = arg;
    w->q = NULL;
    if (a->naddrs == 0) {
        round_failed(w, a->err != NULL ? a->err : "no address");
        return;
    }
    if (w->group == NULL) {
        round_add(w, a, w->node->port, w->node->weight, NULL);
        round_done(w);
        return;
    }
    const mg_resolver_srv_t *rec = &w->group[w->next];
    round_add(w, a, rec->port, mg_nodeset_srv_weight(rec->weight, w->maxw), rec->target);
    w->next++;
    srv_next(w);
}

/* Resolves `host`: the answer comes through on_addrs, now or from the loop. */
static void ask_addrs(watch_t *w, const char *host)
{
    mg_resolver_answer_t *now = malloc(sizeof(*now));
    if (now == NULL) {
        round_failed(w, "out of memory");
        return;
    }
    w->q = mg_resolver_resolve(w->r, host, AF_UNSPEC, 0, on_addrs, w, now);
    if (w->q == NULL) {
        on_addrs(w, now);
    }
    free(now);
}

/* SRV: the next target of the group, or the end of the round. */
static void srv_next(watch_t *w)
{
    if (w->next < w->ngroup) {
        ask_addrs(w, w->group[w->next].target);
    } else {
        round_done(w);
    }
}

static void on_srv(void *arg, const mg_resolver_srv_answer_t *a)
{
    watch_t *w = arg;
    w->sq = NULL;
    if (a->n == 0) {
        round_failed(w, a->err != NULL ? a->err : "no SRV record");
        return;
    }
    size_t idx[MG_RESOLVER_MAX_SRV];
    size_t k = mg_nodeset_srv_group(a->recs, a->n, idx);
    w->group = malloc(k * sizeof(*w->group));
    w->found_host = malloc(MG_NODESET_PER_NAME * 2 * sizeof(*w->found_host));
    if (w->group == NULL || w->found_host == NULL) {
        round_failed(w, "out of memory");
        return;
    }
    w->maxw = 0;
    for (size_t i = 0; i < k; i++) {
        w->group[i] = a->recs[idx[i]];
        w->maxw = w->group[i].weight > w->maxw ? w->group[i].weight : w->maxw;
    }
    w->ngroup = k;
    w->next = 0;
    w->ttl = a->ttl;
    srv_next(w);
}

static void round_start(watch_t *w)
{
    mg_upstream_t *u = w->d->u;
    w->r = u->worker != NULL ? u->worker->resolver : NULL;
    if (!mg_upstream_current(u)) {
        /* a generation replaced by a reload, or a draining worker: its last requests
         * finish on the nodes it has. One built but not installed yet asks again. */
        if (!w->d->was_current && u->worker != NULL && !u->worker->draining) {
            schedule(w, 1.0);
        }
        return;
    }
    w->d->was_current = true;
    if (w->r == NULL) {
        round_failed(w, "the worker has no resolver");
        return;
    }
    w->found = calloc(MG_NODESET_PER_NAME * 2, sizeof(*w->found));
    if (w->found == NULL) {
        round_failed(w, "out of memory");
        return;
    }
    w->ttl = 0;
    if (!w->node->srv) {
        ask_addrs(w, w->node->host);
        return;
    }
    w->sq = mg_resolver_srv(w->r, w->node->host, on_srv, w);
    if (w->sq == NULL) {
        round_failed(w, "bad SRV name or out of memory");
    }
}

/* ---- the runtime's side ---- */

/* Seeds the nodes of every name with what this process last resolved for it. */
static void seed_all(dns_t *d)
{
    for (size_t i = 0; i < d->nwatches; i++) {
        watch_t *w = &d->watches[i];
        seed_t *s = *seed_find(d->orig->name, w->node->addr.text);
        if (s != NULL && s->n > 0) {
            w->resolved = true;
            for (size_t j = 0; !w->node->srv && j < s->n; j++) {
                s->addrs[j].weight = w->node->weight; /* the reload may have changed it */
            }
            merge(d, w, s->addrs, s->hosts, s->n, true);
        }
    }
}

int mg__upstream_dns_create(mg_upstream_t *u, const mg_upstream_conf_t *c)
{
    dns_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return MG_ERROR;
    }
    d->u = u;
    d->orig = c;
    d->eff = *c;
    d->eff.nodes = d->nodes;
    d->eff.nnodes = 0;
    d->set = (mg_nodeset_t){.slots = d->slots, .cap = MG_UPSTREAM_MAX_NODES};
    d->watches = calloc(c->nnodes, sizeof(*d->watches));
    if (d->watches == NULL) {
        free(d);
        return MG_ERROR;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        const mg_node_conf_t *nc = &c->nodes[i];
        if (nc->host != NULL) {
            watch_t *w = &d->watches[d->nwatches++];
            *w = (watch_t){.d = d, .origin = (int)i, .node = nc};
            ev_init(&w->timer, on_timer);
            w->timer.data = w;
            continue;
        }
        mg_nodeset_slot_t *sl = &d->slots[d->set.n];
        *sl = (mg_nodeset_slot_t){
            .origin = (int)i, .sa = nc->addr.sa, .salen = nc->addr.salen, .weight = nc->weight};
        d->nodes[d->set.n++] = *nc;
    }
    d->eff.nnodes = d->set.n;
    u->dns = d;
    u->conf = &d->eff;
    seed_all(d);
    return MG_OK;
}

void mg__upstream_dns_start(mg_upstream_t *u)
{
    dns_t *d = u->dns;
    for (size_t i = 0; d != NULL && i < d->nwatches; i++) {
        schedule(&d->watches[i], 0.);
    }
}

void mg__upstream_dns_destroy(mg_upstream_t *u)
{
    dns_t *d = u->dns;
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->nwatches; i++) {
        watch_t *w = &d->watches[i];
        mg_resolver_cancel(w->q);
        mg_resolver_srv_cancel(w->sq);
        if (w->timer_on) {
            ev_ref(u->loop);
            ev_timer_stop(u->loop, &w->timer);
        }
        round_clear(w);
    }
    u->conf = d->orig;
    u->dns = NULL;
    free(d->watches);
    free(d);
}

const char *mg_upstream_dns_empty_reason(const mg_upstream_t *u)
{
    const dns_t *d = u->dns;
    if (d == NULL || mg_nodeset_live(&d->set, -1) > 0) {
        return NULL;
    }
    for (size_t i = 0; i < d->nwatches; i++) {
        if (d->watches[i].err != NULL) {
            return d->watches[i].err;
        }
    }
    return "no answer yet";
}

size_t mg_upstream_dns_status_json(const mg_upstream_t *u, char *buf, size_t cap)
{
    const dns_t *d = u->dns;
    size_t len = 0;
    for (size_t i = 0; d != NULL && i < d->nwatches && len < cap; i++) {
        const watch_t *w = &d->watches[i];
        len +=
            (size_t)snprintf(buf + len, cap - len, "%s{\"name\":\"%s\",\"srv\":%s,\"addresses\":[",
                             i ? "," : "", w->node->addr.text, w->node->srv ? "true" : "false");
        size_t k = 0;
        for (size_t j = 0; j < d->set.n && len < cap; j++) {
            if (!d->slots[j].gone && d->slots[j].origin == w->origin) {
                len +=
                    (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", k++ ? "," : "", d->texts[j]);
            }
        }
        if (len < cap) {
            len += (size_t)snprintf(buf + len, cap - len,
                                    "],\"last_success\":%.3f,\"last_error\":%.3f,\"error\":%s%s%s}",
                                    w->last_ok, w->last_err, w->err ? "\"" : "",
                                    w->err ? w->err : "null", w->err ? "\"" : "");
        }
    }
    return MG_MIN(len, cap);
}
