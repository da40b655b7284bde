/*
 * resolver_cache.h -- the answers a worker's resolver (resolver.h) keeps: host name and
 * address family to addresses (or a negative answer) until a deadline. No I/O and no
 * clock of its own: every time is passed in, so the unit tests drive it.
 *
 * A hash table over lower-cased names with an LRU list. The number of entries is
 * bounded: adding one to a full cache evicts the least recently used entry that no
 * lookup is running for (a busy entry has waiters pointing at it). When every entry
 * is busy the cache grows past its bound rather than fail a lookup; the bound holds
 * again as lookups end.
 */
#ifndef MG_RESOLVER_CACHE_H
#define MG_RESOLVER_CACHE_H

#include "mg_core.h"

#include <sys/socket.h>

#define MG_RESOLVER_MAX_ADDRS 64 /* addresses kept per name (an upstream name's nodes) */
#define MG_RESOLVER_NAME_MAX 253 /* longest host name, without a final dot */

/* One address, without the sockaddr around it. */
typedef struct {
    sa_family_t family; /* AF_INET or AF_INET6 */
    uint8_t a[16];      /* 4 or 16 bytes, network order */
} mg_rcache_addr_t;

typedef struct mg_rcache_entry_s mg_rcache_entry_t;
struct mg_rcache_entry_s {
    mg_rcache_entry_t *hnext;       /* hash chain */
    mg_rcache_entry_t *prev, *next; /* LRU list, most recent first */
    uint32_t hash;
    int family;      /* AF_UNSPEC, AF_INET or AF_INET6: part of the key */
    bool answered;   /* an answer (or error) was stored */
    double expires;  /* the answer is fresh before this time */
    const char *err; /* static text of a negative answer, else NULL */
    size_t naddrs;
    mg_rcache_addr_t addrs[MG_RESOLVER_MAX_ADDRS];
    void *busy;  /* the owner's lookup running for it; never evicted */
    char name[]; /* lower-cased, NUL-terminated */
};

typedef struct {
    mg_rcache_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count, max;
    mg_rcache_entry_t *head, *tail; /* LRU list */
    uint64_t evictions;
} mg_rcache_t;

/* Sets up c (the caller's storage) for at most `max` entries (>= 1). MG_OK, or
 * MG_ERROR when out of memory. */
int mg_rcache_init(mg_rcache_t *c, size_t max);

/* Frees every entry; busy ones too (their owner must have let go). */
void mg_rcache_dispose(mg_rcache_t *c);

/* The entry for `name` (any case; a final dot ignored) and `family`, moved to the front
 * of the LRU list, or NULL. Fresh or not: see mg_rcache_fresh(). */
mg_rcache_entry_t *mg_rcache_find(mg_rcache_t *c, const char *name, int family);

/* A new entry without an answer for `name` and `family` (not present yet), at the
 * front; may evict idle entries to keep the bound. NULL when out of memory or when the
 * name is longer than MG_RESOLVER_NAME_MAX. */
mg_rcache_entry_t *mg_rcache_add(mg_rcache_t *c, const char *name, int family);

/* Stores an answer: n addresses (at most MG_RESOLVER_MAX_ADDRS are kept), or when
 * err != NULL a negative answer (static text). Fresh until now + ttl. */
void mg_rcache_set(mg_rcache_entry_t *e, const mg_rcache_addr_t *addrs, size_t n, const char *err,
                   double ttl, double now);

/* True when e holds an answer that has not expired at `now`. */
static inline bool mg_rcache_fresh(const mg_rcache_entry_t *e, double now)
{
    return e->answered && now < e->expires;
}

/* Removes and frees e (it must not be busy). */
void mg_rcache_remove(mg_rcache_t *c, mg_rcache_entry_t *e);

#endif
