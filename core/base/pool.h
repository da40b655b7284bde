/*
 * pool.h -- per-request / per-config memory arenas with cleanup handlers.
 *
 * A pool hands out memory that lives until the pool is reset or destroyed; nothing
 * is freed one piece at a time. Cleanup handlers run (last added first) when the
 * pool is reset or destroyed, which is how sockets and timers tied to a request are
 * released. Not thread-safe; moongate workers are single-threaded.
 */
#ifndef MG_POOL_H
#define MG_POOL_H

#include "mg_core.h"

typedef void (*mg_pool_cleanup_fn)(void *data);

/* Creates a pool whose chunks are `chunk_size` bytes (a larger request gets its own
 * chunk). Returns NULL when out of memory. The caller owns the pool. */
mg_pool_t *mg_pool_create(size_t chunk_size);

/* Runs the cleanups, frees every chunk and the pool itself. NULL is a no-op. */
void mg_pool_destroy(mg_pool_t *pool);

/* Runs the cleanups and forgets every allocation, keeping the first chunk for reuse. */
void mg_pool_reset(mg_pool_t *pool);

/* Memory aligned for any type, or NULL when out of memory. */
void *mg_pool_alloc(mg_pool_t *pool, size_t size);
void *mg_pool_calloc(mg_pool_t *pool, size_t size);

/* NUL-terminated copies owned by the pool. */
char *mg_pool_strdup(mg_pool_t *pool, const char *s);
char *mg_pool_strndup(mg_pool_t *pool, const char *s, size_t len);

/* Registers fn(data) to run at reset/destroy. Returns MG_OK or MG_ERROR (no memory). */
int mg_pool_cleanup_add(mg_pool_t *pool, mg_pool_cleanup_fn fn, void *data);

/* Bytes handed out since create/reset (for tests and accounting). */
size_t mg_pool_used(const mg_pool_t *pool);

#endif
