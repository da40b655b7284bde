/*
 * ratelimit_zone.h -- the shared-memory zones of local limiter state
 * (`rate_limit_zones:`), one zone per entry, created by the master before fork.
 *
 * A zone maps "<limiter name>\0<key value>" to an mg_rl_state_t in an LRU hash table
 * (shm_lru.c). A check finds or creates the key's state and runs the arithmetic of
 * ratelimit_algo.c under the zone lock, so the workers of a node together allow
 * exactly the limit. When the zone is full, the least recently used keys are evicted
 * (a key that comes back starts fresh) and counted for /status.
 */
#ifndef MG_RATELIMIT_ZONE_H
#define MG_RATELIMIT_ZONE_H

#include "ratelimit_algo.h"

typedef struct mg_rl_zone_s mg_rl_zone_t;

/* Creates zone `name` of `size` bytes unless one with that name and size exists (then
 * it is kept with its state, across reloads). Master, before fork. MG_OK, or MG_ERROR
 * with errno set. */
int mg_rl_zone_create(const char *name, size_t size);

/* Unmaps every zone of this process. */
void mg_rl_zone_destroy_all(void);

/* The zone named `name`, or NULL. */
mg_rl_zone_t *mg_rl_zone_find(const char *name, size_t len);

/* Checks limiter `c` for `key` (borrowed) at `now` (mg_mono_now()) and consumes `cost`
 * when allowed, atomically across workers. The result goes to *out. MG_OK, or MG_ERROR
 * when the zone cannot hold the key even after evicting (then *out says allowed: a
 * limiter that cannot count fails open, and the caller logs it). */
int mg_rl_zone_take(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key, double now, double cost,
                    mg_rl_result_t *out);

/* Gives back one concurrency slot of `c` for `key`; an absent (evicted) key is a
 * no-op, and the count never goes below zero. */
void mg_rl_zone_release(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key);

/* The in-flight count (concurrency) or the current count of `key`, -1 when absent.
 * For tests and /status. */
double mg_rl_zone_peek(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key);

/* Figures for /status. */
typedef struct {
    size_t count;    /* keys held */
    size_t capacity; /* zone bytes */
    size_t free_bytes;
    uint64_t evictions;
} mg_rl_zone_stats_t;
size_t mg_rl_zone_number(void);
/* Zone i's name (NULL for a zone replaced by a resize), and its figures. */
const char *mg_rl_zone_stats(size_t i, mg_rl_zone_stats_t *out);

/* Bytes one key costs in a zone, for the documentation and the tests: the entry with
 * a key of `klen` bytes, as the zone allocator rounds it. */
size_t mg_rl_zone_entry_bytes(size_t klen);

#endif
