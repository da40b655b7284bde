/*
 * shm_lru.h -- a hash table with a least-recently-used list, inside a shared zone.
 *
 * What the Lua shared dicts (shdict.c) and the rate-limit zones (ratelimit_zone.c) have
 * in common: byte-string keys, a value area of the caller's layout, lookups that move
 * an entry to the front, and inserts that evict from the back when the zone is full.
 * The table lives in its zone (created by the master before fork, so plain pointers
 * work in every worker). Every function expects the caller to hold the zone's lock.
 */
#ifndef MG_SHM_LRU_H
#define MG_SHM_LRU_H

#include "mg_core.h"

typedef struct mg_shm_lru_ent_s mg_shm_lru_ent_t;
struct mg_shm_lru_ent_s {
    mg_shm_lru_ent_t *hnext;       /* bucket chain */
    mg_shm_lru_ent_t *prev, *next; /* LRU: head is the most recent */
    uint32_t hash;
    uint32_t klen;
    uint32_t vlen;
    uint32_t pad;
    char data[]; /* key, padded to 8 bytes, then the value */
};

typedef struct {
    mg_shm_zone_t *zone;
    size_t nbuckets;
    size_t count;
    uint64_t evictions; /* entries dropped to make room */
    mg_shm_lru_ent_t *head, *tail;
    mg_shm_lru_ent_t *buckets[];
} mg_shm_lru_t;

/* Called for each entry evicted by mg_shm_lru_insert, before it is freed. */
typedef void (*mg_shm_lru_evict_fn)(const mg_shm_lru_ent_t *victim, void *arg);

/* Creates a table in `zone` with about one bucket per `bytes_per_bucket` of the zone.
 * Master, before fork. NULL when the zone is too small. Takes the lock itself. */
mg_shm_lru_t *mg_shm_lru_create(mg_shm_zone_t *zone, size_t bytes_per_bucket);

/* The entry of `key`, or NULL. Does not touch the LRU order. */
mg_shm_lru_ent_t *mg_shm_lru_find(mg_shm_lru_t *t, const char *key, size_t klen);

/* Moves `e` to the front (most recently used). */
void mg_shm_lru_touch(mg_shm_lru_t *t, mg_shm_lru_ent_t *e);

/* Unlinks and frees `e`. */
void mg_shm_lru_remove(mg_shm_lru_t *t, mg_shm_lru_ent_t *e);

/* Adds a new entry for `key` (absent: the caller checked) with `vlen` bytes of value
 * left for the caller to fill, at the front. When the zone is full, evicts up to
 * `max_evict` entries from the back (calling on_evict, which may be NULL). NULL when no
 * room could be made. */
mg_shm_lru_ent_t *mg_shm_lru_insert(mg_shm_lru_t *t, const char *key, size_t klen, size_t vlen,
                                    int max_evict, mg_shm_lru_evict_fn on_evict, void *arg);

/* The value area of an entry. */
static inline void *mg_shm_lru_val(mg_shm_lru_ent_t *e)
{
    return e->data + ((e->klen + 7u) & ~7u);
}

#endif
