/*
 * shdict.h -- shared dictionaries: key/value stores in shared memory for Lua plugins
 * (mg.shared.<name>), declared in YAML (`shared_dicts: { name: size }`).
 *
 * Each dict is its own zone, created by the master before fork, so every worker sees
 * the same entries; every operation takes the zone's lock, which makes incr atomic
 * across workers. Values are numbers, strings or booleans with an optional TTL
 * (CLOCK_MONOTONIC, common to all processes). A full dict evicts its least recently
 * used entries for set/add/incr (reported as `forcible`); safe_set/safe_add never evict.
 */
#ifndef MG_SHDICT_H
#define MG_SHDICT_H

#include "mg_core.h"

typedef struct mg_shdict_s mg_shdict_t;

/* Creates dict `name` of `size` bytes (rounded up to pages, at least 32 KiB) unless one
 * with that name and size exists (then it is kept with its entries). Master, before
 * fork. MG_OK or MG_ERROR (errno set). */
int mg_shdict_create(const char *name, size_t size);

/* Unmaps every dict of this process. */
void mg_shdict_destroy_all(void);

/* Figures for /status. */
typedef struct {
    size_t count, capacity, free_bytes;
    uint64_t evictions;
} mg_shdict_stats_t;
size_t mg_shdict_number(void);
const char *mg_shdict_stats(size_t i, mg_shdict_stats_t *out);

/* ---- Called from Lua through the FFI (lua/moongate/shared.lua) ---- */

enum { MG_SHDICT_NIL = 0, MG_SHDICT_NUMBER, MG_SHDICT_STRING, MG_SHDICT_BOOLEAN };
enum { MG_SHDICT_SET = 0, MG_SHDICT_ADD, MG_SHDICT_REPLACE, MG_SHDICT_SAFE_SET,
       MG_SHDICT_SAFE_ADD };
#define MG_SHDICT_NOT_NUMBER -5

typedef struct {
    int type;
    double num;  /* NUMBER, or BOOLEAN as 0/1 */
    size_t len;  /* STRING length */
    int stale;   /* expired (get with stale_ok) */
} mg_shdict_val_t;

/* NULL when there is no such dict. */
mg_shdict_t *mg_shdict_find(const char *name, size_t len);

/* MG_OK with *out filled (a string is copied into buf when out->len <= cap; otherwise
 * call again with a buffer of out->len bytes), MG_DECLINED when absent (or expired,
 * unless stale_ok). */
int mg_shdict_get(mg_shdict_t *d, const char *key, size_t klen, mg_shdict_val_t *out,
                  char *buf, size_t cap, int stale_ok);

/* op MG_SHDICT_*; type MG_SHDICT_NIL deletes. ttl in seconds, 0 = none. MG_OK,
 * MG_DECLINED (add: exists; replace: absent) or MG_ERROR (no memory). */
int mg_shdict_store(mg_shdict_t *d, int op, const char *key, size_t klen, int type, double num,
                    const char *str, size_t slen, double ttl, int *forcible);

/* Adds delta to a number. Absent: created as init + delta when has_init (with
 * init_ttl), else MG_DECLINED. MG_OK with the new value in *out, MG_SHDICT_NOT_NUMBER,
 * or MG_ERROR (no memory). */
int mg_shdict_incr(mg_shdict_t *d, const char *key, size_t klen, double delta, int has_init,
                   double init, double init_ttl, double *out, int *forcible);

/* MG_OK or MG_DECLINED (absent). */
int mg_shdict_delete(mg_shdict_t *d, const char *key, size_t klen);

/* Seconds left (0 = never expires) into *out: MG_OK, or MG_DECLINED when absent. */
int mg_shdict_ttl(mg_shdict_t *d, const char *key, size_t klen, double *out);

/* Sets a new TTL (0 = never): MG_OK or MG_DECLINED. */
int mg_shdict_expire(mg_shdict_t *d, const char *key, size_t klen, double ttl);

/* The keys of up to `max` live entries (0 = all), most recently used first, packed
 * into buf as a 2-byte big-endian length then the key's bytes. Expired entries met on
 * the way are dropped, not listed. Walks the LRU list from its head under the lock and
 * stops at the max-th live key, so the cost is max + the expired entries met (each met
 * once: it is dropped), whatever the dict holds; max 0 walks every entry. Returns how
 * many keys were written, or -1 when buf (cap bytes) was too small: *need is then the
 * size this call would have needed, so a retry with that much (plus room for writes in
 * between) gets them. */
long mg_shdict_get_keys(mg_shdict_t *d, size_t max, char *buf, size_t cap, size_t *need);

void mg_shdict_flush_all(mg_shdict_t *d);
size_t mg_shdict_count(mg_shdict_t *d);
size_t mg_shdict_capacity(mg_shdict_t *d);
size_t mg_shdict_free_space(mg_shdict_t *d);

#endif
