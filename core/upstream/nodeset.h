/*
 * nodeset.h -- the node slots of an upstream whose nodes come from DNS, and how a new
 * answer for one configured node merges into them. Pure: no socket, no clock, no
 * allocation; upstream_dns.c applies what a merge reports to the running upstream.
 *
 * A slot's index is what the balancer picks and what a request in flight holds, so an
 * index never changes meaning while anyone uses it: an address that leaves the answer
 * is marked gone (never picked again) rather than removed, and its slot is given to a
 * new address only once nothing in this worker refers to it (refs == 0). An address
 * that comes back while its slot is still gone takes that slot again.
 */
#ifndef MG_NODESET_H
#define MG_NODESET_H

#include "mg_core.h"
#include "resolver.h"

#include <sys/socket.h>

/* Addresses one configured name may give (the rest of an answer is left out, logged). */
#define MG_NODESET_PER_NAME 64

/* What a merge did to a slot. */
typedef enum {
    MG_NODESET_SAME = 0, /* untouched (another name's, or kept with the same weight) */
    MG_NODESET_NEW,      /* took an address: new, revived, or a reused slot */
    MG_NODESET_GONE,     /* its address left the answer */
    MG_NODESET_WEIGHT,   /* kept, with another weight */
} mg_nodeset_event_t;

typedef struct {
    int origin;                 /* the configured node (conf->nodes index) it comes from */
    struct sockaddr_storage sa; /* the address with its port */
    socklen_t salen;
    int weight;
    bool gone;     /* left its name's answer: never picked */
    unsigned refs; /* this worker's tries and connections on it (owner-maintained) */
} mg_nodeset_slot_t;

typedef struct {
    mg_nodeset_slot_t *slots; /* caller's storage, cap entries */
    size_t n, cap;
} mg_nodeset_t;

/* One address of an answer, with the weight its node gets. */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t salen;
    int weight;
} mg_nodeset_addr_t;

/* Merges the answer `addrs[0..n)` for configured node `origin` into s: its live slots
 * whose address is in the answer stay (weight updated), the others become gone; each
 * address not live yet under any name takes a slot (its own gone slot, a gone slot
 * with refs == 0, or a new one at the end). At most MG_NODESET_PER_NAME addresses of
 * the answer are taken; duplicates count once. events[0..cap) is set for every slot.
 * Returns how many slots changed; *dropped (may be NULL) counts the addresses left out
 * (over the per-name cap, or no slot left). */
size_t mg_nodeset_merge(mg_nodeset_t *s, int origin, const mg_nodeset_addr_t *addrs, size_t n,
                        mg_nodeset_event_t *events, size_t *dropped);

/* Live (not gone) slots of `origin`; -1 counts every name's. */
size_t mg_nodeset_live(const mg_nodeset_t *s, int origin);

/* True when a and b are the same address and port. */
bool mg_nodeset_addr_eq(const struct sockaddr_storage *a, socklen_t alen,
                        const struct sockaddr_storage *b, socklen_t blen);

/* RFC 2782 selection: the records of the lowest priority value, into out[] as indexes
 * of recs (in their order). Returns how many. */
size_t mg_nodeset_srv_group(const mg_resolver_srv_t *recs, size_t n, size_t *out);

/* A node weight (1..1000, the range `weight:` takes) for SRV weight `w` among the
 * group's largest weight `max`: the SRV weight itself when max <= 1000, else scaled
 * down in proportion; 0 (RFC 2782: "very small chance") becomes 1. */
int mg_nodeset_srv_weight(unsigned w, unsigned max);

#endif
