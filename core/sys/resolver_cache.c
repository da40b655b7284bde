/*
 * resolver_cache.c -- the resolver's answers by name: a chained hash table (FNV-1a over
 * the lower-cased name, mixed with the family) and an LRU list for eviction.
 */
#include "resolver_cache.h"

#include <stdlib.h>
#include <string.h>

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 'a' - 'A') : ch;
}

/* The length of the name as keyed: without one final dot. */
static size_t key_len(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && name[n - 1] == '.' ? n - 1 : n;
}

static uint32_t hash_of(const char *name, size_t n, int family)
{
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)lower(name[i])) * 16777619u;
    }
    return h;
}

static bool same_name(const char *stored, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (stored[i] != lower(name[i])) {
            return false;
        }
    }
    return stored[n] == '\0';
}

int mg_rcache_init(mg_rcache_t *c, size_t max)
{
    memset(c, 0, sizeof(*c));
    c->max = max > 0 ? max : 1;
    c->nbuckets = 16;
    while (c->nbuckets < c->max) {
        c->nbuckets *= 2;
    }
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    return c->buckets != NULL ? MG_OK : MG_ERROR;
}

void mg_rcache_dispose(mg_rcache_t *c)
{
    for (mg_rcache_entry_t *e = c->head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    free(c->buckets);
    memset(c, 0, sizeof(*c));
}

static void lru_unlink(mg_rcache_t *c, mg_rcache_entry_t *e)
{
    *(e->prev ? &e->prev->next : &c->head) = e->next;
    *(e->next ? &e->next->prev : &c->tail) = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(mg_rcache_t *c, mg_rcache_entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    *(c->head ? &c->head->prev : &c->tail) = e;
    c->head = e;
}

mg_rcache_entry_t *mg_rcache_find(mg_rcache_t *c, const char *name, int family)
{
    size_t n = key_len(name);
    uint32_t h = hash_of(name, n, family);
    for (mg_rcache_entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && e->family == family && same_name(e->name, name, n)) {
            if (c->head != e) {
                lru_unlink(c, e);
                lru_push(c, e);
            }
            return e;
        }
    }
    return NULL;
}

void mg_rcache_remove(mg_rcache_t *c, mg_rcache_entry_t *e)
{
    mg_rcache_entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    free(e);
}

/* Makes room for one more: the least recently used idle entries go first. */
static void evict(mg_rcache_t *c)
{
    for (mg_rcache_entry_t *e = c->tail, *prev; e != NULL && c->count >= c->max; e = prev) {
        prev = e->prev;
        if (e->busy == NULL) {
            mg_rcache_remove(c, e);
            c->evictions++;
        }
    }
}

mg_rcache_entry_t *mg_rcache_add(mg_rcache_t *c, const char *name, int family)
{
    size_t n = key_len(name);
    if (n > MG_RESOLVER_NAME_MAX) {
        return NULL;
    }
    evict(c);
    mg_rcache_entry_t *e = calloc(1, sizeof(*e) + n + 1);
    if (e == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        e->name[i] = lower(name[i]);
    }
    e->family = family;
    e->hash = hash_of(name, n, family);
    mg_rcache_entry_t **b = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    lru_push(c, e);
    c->count++;
    return e;
}

void mg_rcache_set(mg_rcache_entry_t *e, const mg_rcache_addr_t *addrs, size_t n, const char *err,
                   double ttl, double now)
{
    e->answered = true;
    e->err = err;
    e->naddrs = err != NULL ? 0 : MG_MIN(n, (size_t)MG_RESOLVER_MAX_ADDRS);
    if (e->naddrs > 0) {
        memcpy(e->addrs, addrs, e->naddrs * sizeof(*addrs));
    }
    e->expires = now + (ttl > 0 ? ttl : 0);
}
