/*
 * shm.h -- shared-memory zones created by the master before fork.
 *
 * A zone is one anonymous MAP_SHARED mapping with a header, a lock and a slab-style
 * allocator; workers inherit it across fork() at the same address. On top of a zone
 * sits a fixed-bucket hash table of variable-size entries. The lock is a process-shared
 * robust pthread mutex: if a holder dies, the next locker gets it (EOWNERDEAD), marks it
 * consistent and goes on.
 *
 * Offsets, not pointers, are stored inside zones where possible; the mapping address is
 * the same in every worker because it is created before fork.
 */
#ifndef MG_SHM_H
#define MG_SHM_H

#include "mg_core.h"

/* Creates a zone of `size` bytes (rounded up to pages) named `name` (copied). Call in
 * the master before fork. Returns NULL on failure (errno set). */
mg_shm_zone_t *mg_shm_zone_create(const char *name, size_t size);

/* Unmaps the zone (in this process). */
void mg_shm_zone_destroy(mg_shm_zone_t *zone);

const char *mg_shm_zone_name(const mg_shm_zone_t *zone);

/* Lock/unlock the zone's mutex. mg_shm_lock recovers a lock whose holder died
 * (logs nothing: returns 1 in that case so the caller may log, 0 otherwise). */
int mg_shm_lock(mg_shm_zone_t *zone);
void mg_shm_unlock(mg_shm_zone_t *zone);

/* Allocator inside the zone; caller holds the lock. Returns NULL when full. */
void *mg_shm_alloc_locked(mg_shm_zone_t *zone, size_t size);
void mg_shm_free_locked(mg_shm_zone_t *zone, void *p);

/* Locking wrappers of the above. */
void *mg_shm_alloc(mg_shm_zone_t *zone, size_t size);
void mg_shm_free(mg_shm_zone_t *zone, void *p);

/* Free bytes left in the zone (approximate, for /status). */
size_t mg_shm_free_bytes(mg_shm_zone_t *zone);

/* A hash table inside a zone. Keys and values are byte strings copied into the zone.
 * All functions take the zone lock themselves unless named _locked. */
typedef struct mg_shm_hash_s mg_shm_hash_t;

/* Creates the table in `zone` with `nbuckets` buckets (rounded to a power of two).
 * Master, before fork. NULL when the zone is too small. */
mg_shm_hash_t *mg_shm_hash_create(mg_shm_zone_t *zone, size_t nbuckets);

/* Sets key to value (replacing). MG_OK, or MG_ERROR when the zone is full. */
int mg_shm_hash_set(mg_shm_hash_t *h, mg_str_t key, const void *val, size_t vlen);

/* Copies at most `cap` bytes of the value into `out`; returns the value's full length,
 * or -1 when absent. */
ssize_t mg_shm_hash_get(mg_shm_hash_t *h, mg_str_t key, void *out, size_t cap);

/* Atomically adds `delta` to an int64 value (creating it as `delta` when absent). Writes
 * the new value to *out. MG_OK or MG_ERROR (zone full). */
int mg_shm_hash_incr(mg_shm_hash_t *h, mg_str_t key, int64_t delta, int64_t *out);

/* Removes key. MG_OK, or MG_DECLINED when absent. */
int mg_shm_hash_delete(mg_shm_hash_t *h, mg_str_t key);

size_t mg_shm_hash_count(mg_shm_hash_t *h);

/* Per-worker counters live in a fixed array inside the main zone (see worker.h). */

#endif
