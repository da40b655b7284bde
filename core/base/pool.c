/*
 * pool.c -- arena allocator with cleanup handlers (see pool.h).
 *
 * Chunks form a singly linked list; allocation bumps a pointer in the newest chunk.
 * Allocations larger than a quarter of the chunk size get a dedicated chunk placed
 * behind the current one, so one big allocation does not waste the current chunk.
 */
#include "pool.h"

#include <stdlib.h>

#define MG_POOL_ALIGN 16

typedef struct mg_pool_chunk_s {
    struct mg_pool_chunk_s *next;
    size_t size; /* usable bytes after the header */
    size_t used;
} mg_pool_chunk_t;

typedef struct mg_pool_cleanup_s {
    struct mg_pool_cleanup_s *next;
    mg_pool_cleanup_fn fn;
    void *data;
} mg_pool_cleanup_t;

struct mg_pool_s {
    mg_pool_chunk_t *head; /* current chunk (allocation happens here) */
    mg_pool_cleanup_t *cleanups;
    size_t chunk_size;
    size_t used;
};

#define CHUNK_HDR ((sizeof(mg_pool_chunk_t) + MG_POOL_ALIGN - 1) & ~(size_t)(MG_POOL_ALIGN - 1))

static mg_pool_chunk_t *chunk_new(size_t size)
{
    mg_pool_chunk_t *c = malloc(CHUNK_HDR + size);
    if (c == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

mg_pool_t *mg_pool_create(size_t chunk_size)
{
    mg_pool_t *pool = malloc(sizeof(*pool));
    if (pool == NULL) {
        return NULL;
    }
    if (chunk_size < 256) {
        chunk_size = 256;
    }
    pool->chunk_size = chunk_size;
    pool->cleanups = NULL;
    pool->used = 0;
    pool->head = chunk_new(chunk_size);
    if (pool->head == NULL) {
        free(pool);
        return NULL;
    }
    return pool;
}

static void run_cleanups(mg_pool_t *pool)
{
    while (pool->cleanups != NULL) {
        mg_pool_cleanup_t *c = pool->cleanups;
        pool->cleanups = c->next; /* a cleanup may not see itself again */
        c->fn(c->data);
    }
}

void mg_pool_destroy(mg_pool_t *pool)
{
    if (pool == NULL) {
        return;
    }
    run_cleanups(pool);
    mg_pool_chunk_t *c = pool->head;
    while (c != NULL) {
        mg_pool_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(pool);
}

void mg_pool_reset(mg_pool_t *pool)
{
    run_cleanups(pool);
    /* keep the oldest chunk of the default size: it is the last in the list */
    mg_pool_chunk_t *c = pool->head, *keep = NULL;
    while (c != NULL) {
        mg_pool_chunk_t *next = c->next;
        if (next == NULL && c->size == pool->chunk_size) {
            keep = c;
        } else {
            free(c);
        }
        c = next;
    }
    if (keep == NULL) {
        keep = chunk_new(pool->chunk_size);
        /* out of memory here leaves an empty pool; the next alloc retries */
    }
    if (keep != NULL) {
        keep->used = 0;
    }
    pool->head = keep;
    pool->used = 0;
}

void *mg_pool_alloc(mg_pool_t *pool, size_t size)
{
    size = (size + MG_POOL_ALIGN - 1) & ~(size_t)(MG_POOL_ALIGN - 1);
    mg_pool_chunk_t *c = pool->head;
    if (c != NULL && c->size - c->used >= size) {
        void *p = (char *)c + CHUNK_HDR + c->used;
        c->used += size;
        pool->used += size;
        return p;
    }
    if (size > pool->chunk_size / 4 && c != NULL) {
        /* dedicated chunk, linked behind the current one */
        mg_pool_chunk_t *big = chunk_new(size);
        if (big == NULL) {
            return NULL;
        }
        big->used = size;
        big->next = c->next;
        c->next = big;
        pool->used += size;
        return (char *)big + CHUNK_HDR;
    }
    mg_pool_chunk_t *n = chunk_new(MG_MAX(pool->chunk_size, size));
    if (n == NULL) {
        return NULL;
    }
    n->next = c;
    pool->head = n;
    n->used = size;
    pool->used += size;
    return (char *)n + CHUNK_HDR;
}

void *mg_pool_calloc(mg_pool_t *pool, size_t size)
{
    void *p = mg_pool_alloc(pool, size);
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}

char *mg_pool_strndup(mg_pool_t *pool, const char *s, size_t len)
{
    char *d = mg_pool_alloc(pool, len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *mg_pool_strdup(mg_pool_t *pool, const char *s)
{
    return mg_pool_strndup(pool, s, strlen(s));
}

int mg_pool_cleanup_add(mg_pool_t *pool, mg_pool_cleanup_fn fn, void *data)
{
    mg_pool_cleanup_t *c = mg_pool_alloc(pool, sizeof(*c));
    if (c == NULL) {
        return MG_ERROR;
    }
    c->fn = fn;
    c->data = data;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return MG_OK;
}

size_t mg_pool_used(const mg_pool_t *pool)
{
    return pool->used;
}
