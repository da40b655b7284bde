/*
 * nodeset.c -- merging a DNS answer into an upstream's node slots (nodeset.h), and the
 * SRV record selection of RFC 2782.
 */
#include "nodeset.h"

#include <netinet/in.h>
#include <string.h>

#define MAX_NODE_WEIGHT 1000

bool mg_nodeset_addr_eq(const struct sockaddr_storage *a, socklen_t alen,
                        const struct sockaddr_storage *b, socklen_t blen)
{
    if (a->ss_family != b->ss_family || alen != blen) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

static bool in_answer(const mg_nodeset_addr_t *addrs, size_t n, const mg_nodeset_slot_t *sl,
                      int *weight)
{
    for (size_t i = 0; i < n; i++) {
        if (mg_nodeset_addr_eq(&addrs[i].sa, addrs[i].salen, &sl->sa, sl->salen)) {
            *weight = addrs[i].weight;
            return true;
        }
    }
    return false;
}

/* The slot holding `a`: live under any name (*live set), or gone under `origin`; -1. */
static long find(const mg_nodeset_t *s, int origin, const mg_nodeset_addr_t *a, bool *live)
{
    long gone = -1;
    for (size_t i = 0; i < s->n; i++) {
        const mg_nodeset_slot_t *sl = &s->slots[i];
        if (!mg_nodeset_addr_eq(&sl->sa, sl->salen, &a->sa, a->salen)) {
            continue;
        }
        if (!sl->gone) {
            *live = true;
            return (long)i;
        }
        if (sl->origin == origin && gone < 0) {
            gone = (long)i;
        }
    }
    *live = false;
    return gone;
}

/* A slot for a new address: a gone one nobody uses (not one that just went: a request
 * may still be told about it this turn), else one at the end; -1 when full. */
static long free_slot(mg_nodeset_t *s, const mg_nodeset_event_t *events)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->slots[i].gone && s->slots[i].refs == 0 && events[i] != MG_NODESET_GONE) {
            return (long)i;
        }
    }
    if (s->n < s->cap) {
        memset(&s->slots[s->n], 0, sizeof(s->slots[s->n]));
        s->slots[s->n].gone = true;
        return (long)s->n++;
    }
    return -1;
}

/* Marks the live slots of `origin` missing from the answer gone; updates the others'
 * weights. Returns the changes. */
static size_t drop_missing(mg_nodeset_t *s, int origin, const mg_nodeset_addr_t *addrs, size_t n,
                           mg_nodeset_event_t *events)
{
    size_t changed = 0;
    for (size_t i = 0; i < s->n; i++) {
        mg_nodeset_slot_t *sl = &s->slots[i];
        int w;
        if (sl->gone || sl->origin != origin) {
            continue;
        }
        if (!in_answer(addrs, n, sl, &w)) {
            sl->gone = true;
            events[i] = MG_NODESET_GONE;
            changed++;
        } else if (w != sl->weight) {
            sl->weight = w;
            events[i] = MG_NODESET_WEIGHT;
            changed++;
        }
    }
    return changed;
}

size_t mg_nodeset_merge(mg_nodeset_t *s, int origin, const mg_nodeset_addr_t *addrs, size_t n,
                        mg_nodeset_event_t *events, size_t *dropped)
{
    size_t lost = 0;
    memset(events, 0, s->cap * sizeof(*events));
    if (n > MG_NODESET_PER_NAME) {
        lost += n - MG_NODESET_PER_NAME;
        n = MG_NODESET_PER_NAME;
    }
    size_t changed = drop_missing(s, origin, addrs, n, events);
    for (size_t i = 0; i < n; i++) {
        bool live;
        long at = find(s, origin, &addrs[i], &live);
        if (live) {
            continue; /* kept above, a duplicate, or another name's already */
        }
        if (at < 0 && (at = free_slot(s, events)) < 0) {
            lost++;
            continue;
        }
        mg_nodeset_slot_t *sl = &s->slots[at];
        sl->origin = origin;
        sl->sa = addrs[i].sa;
        sl->salen = addrs[i].salen;
        sl->weight = addrs[i].weight;
        sl->gone = false;
        /* a slot that went and came back in one answer is not a change at all */
        events[at] = events[at] == MG_NODESET_GONE ? MG_NODESET_SAME : MG_NODESET_NEW;
        changed += events[at] == MG_NODESET_NEW ? 1 : 0;
    }
    if (dropped != NULL) {
        *dropped = lost;
    }
    return changed;
}

size_t mg_nodeset_live(const mg_nodeset_t *s, int origin)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        n += !s->slots[i].gone && (origin < 0 || s->slots[i].origin == origin);
    }
    return n;
}

size_t mg_nodeset_srv_group(const mg_resolver_srv_t *recs, size_t n, size_t *out)
{
    unsigned best = 65536;
    for (size_t i = 0; i < n; i++) {
        best = recs[i].priority < best ? recs[i].priority : best;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].priority == best) {
            out[k++] = i;
        }
    }
    return k;
}

int mg_nodeset_srv_weight(unsigned w, unsigned max)
{
    if (max > MAX_NODE_WEIGHT) {
        w = (unsigned)((unsigned long)w * MAX_NODE_WEIGHT / max);
    }
    return w < 1 ? 1 : (int)w;
}
