/*
 * shdict.c -- shared dictionaries (see shdict.h).
 *
 * Inside a dict's zone: a header with the bucket array and the LRU list ends, then
 * entries from the zone's allocator. An entry holds its key and value bytes after a
 * fixed part; the mapping has the same address in every worker (created before fork),
 * so plain pointers link entries. Expired entries are dropped when met, and a few from
 * the LRU tail on every write.
 */
#include "shdict.h"

#include "shm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MG_SHDICT_MAX 64
#define MG_SHDICT_MIN_SIZE (32u << 10)
#define EVICT_TRIES 30

typedef struct ent_s ent_t;
struct ent_s {
    ent_t *hnext;
    ent_t *prev, *next; /* LRU: head is the most recent */
    uint32_t hash;
    uint16_t klen;
    uint8_t type;
    uint32_t vlen;
    double num;
    int64_t expires; /* ms, CLOCK_MONOTONIC; 0 = never */
    char data[];     /* key, then value */
};

typedef struct {
    size_t nbuckets;
    size_t count;
    uint64_t evictions;
    ent_t *head, *tail;
    ent_t *buckets[];
} dict_hdr_t;

struct mg_shdict_s {
    char name[65];
    size_t size;
    mg_shm_zone_t *zone;
    dict_hdr_t *h;
};

static mg_shdict_t dicts[MG_SHDICT_MAX];
static size_t ndicts;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    }
    return h;
}

int mg_shdict_create(const char *name, size_t size)
{
    if (size < MG_SHDICT_MIN_SIZE) {
        size = MG_SHDICT_MIN_SIZE;
    }
    for (size_t i = 0; i < ndicts; i++) {
        if (strcmp(dicts[i].name, name) == 0 && dicts[i].size == size) {
            return MG_OK;
        }
    }
    if (ndicts == MG_SHDICT_MAX || strlen(name) > 64) {
        errno = ENOSPC;
        return MG_ERROR;
    }
    char zname[80];
    snprintf(zname, sizeof(zname), "dict:%s", name);
    mg_shm_zone_t *z = mg_shm_zone_create(zname, size);
    if (z == NULL) {
        return MG_ERROR;
    }
    size_t nb = 64;
    while (nb * 256 < size) {
        nb *= 2; /* about one bucket per 256 bytes of zone */
    }
    dict_hdr_t *h = mg_shm_alloc(z, sizeof(*h) + nb * sizeof(ent_t *));
    if (h == NULL) {
        mg_shm_zone_destroy(z);
        errno = ENOMEM;
        return MG_ERROR;
    }
    memset(h, 0, sizeof(*h) + nb * sizeof(ent_t *));
    h->nbuckets = nb;
    /* a resized dict replaces the old one for new lookups; the old mapping stays for
     * workers of the previous generation until the master exits */
    for (size_t i = 0; i < ndicts; i++) {
        if (strcmp(dicts[i].name, name) == 0) {
            dicts[i].name[0] = '\0';
        }
    }
    mg_shdict_t *d = &dicts[ndicts++];
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->size = size;
    d->zone = z;
    d->h = h;
    return MG_OK;
}

void mg_shdict_destroy_all(void)
{
    for (size_t i = 0; i < ndicts; i++) {
        mg_shm_zone_destroy(dicts[i].zone);
    }
    ndicts = 0;
}

mg_shdict_t *mg_shdict_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ndicts; i++) {
        if (strlen(dicts[i].name) == len && memcmp(dicts[i].name, name, len) == 0) {
            return &dicts[i];
        }
    }
    return NULL;
}

/* ---- entries (zone lock held) ---- */

static void lru_unlink(dict_hdr_t *h, ent_t *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        h->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        h->tail = e->prev;
    }
}

static void lru_front(dict_hdr_t *h, ent_t *e)
{
    e->prev = NULL;
    e->next = h->head;
    if (h->head != NULL) {
        h->head->prev = e;
    }
    h->head = e;
    if (h->tail == NULL) {
        h->tail = e;
    }
}

static ent_t **slot_of(dict_hdr_t *h, uint32_t hv, const char *k, size_t klen)
{
    ent_t **pp = &h->buckets[hv & (h->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        ent_t *e = *pp;
        if (e->hash == hv && e->klen == klen && memcmp(e->data, k, klen) == 0) {
            return pp;
        }
    }
    return pp;
}

static void remove_ent(mg_shdict_t *d, ent_t *e)
{
    dict_hdr_t *h = d->h;
    ent_t **pp = slot_of(h, e->hash, e->data, e->klen);
    if (*pp == e) {
        *pp = e->hnext;
    }
    lru_unlink(h, e);
    h->count--;
    mg_shm_free_locked(d->zone, e);
}

static bool expired(const ent_t *e, int64_t now)
{
    return e->expires != 0 && e->expires <= now;
}

/* Drops up to n expired entries from the LRU tail. */
static void expire_some(mg_shdict_t *d, int64_t now, int n)
{
    ent_t *e = d->h->tail;
    while (e != NULL && n-- > 0) {
        ent_t *prev = e->prev;
        if (expired(e, now)) {
            remove_ent(d, e);
        }
        e = prev;
    }
}

/* The live entry for key (expired ones are removed unless stale_ok), or NULL. */
static ent_t *lookup(mg_shdict_t *d, const char *k, size_t klen, int64_t now, bool stale_ok,
                     bool *stale)
{
    ent_t *e = *slot_of(d->h, hash(k, klen), k, klen);
    *stale = false;
    if (e != NULL && expired(e, now)) {
        if (!stale_ok) {
            remove_ent(d, e);
            return NULL;
        }
        *stale = true;
    }
    return e;
}

/* Allocates an entry, evicting from the LRU tail when allowed. */
static ent_t *alloc_ent(mg_shdict_t *d, size_t size, bool evict, int *forcible, int64_t now)
{
    ent_t *e = mg_shm_alloc_locked(d->zone, size);
    for (int i = 0; e == NULL && evict && i < EVICT_TRIES && d->h->tail != NULL; i++) {
        ent_t *victim = d->h->tail;
        if (!expired(victim, now) && forcible != NULL) {
            *forcible = 1;
        }
        remove_ent(d, victim);
        d->h->evictions++;
        e = mg_shm_alloc_locked(d->zone, size);
    }
    return e;
}

static int64_t expiry(double ttl, int64_t now)
{
    return ttl > 0 ? now + (int64_t)ceil(ttl * 1000) : 0;
}

static void lock(mg_shdict_t *d)
{
    mg_shm_lock(d->zone);
}

static void unlock(mg_shdict_t *d)
{
    mg_shm_unlock(d->zone);
}

/* ---- operations ---- */

int mg_shdict_get(mg_shdict_t *d, const char *key, size_t klen, mg_shdict_val_t *out,
                  char *buf, size_t cap, int stale_ok)
{
    int64_t now = now_ms();
    bool stale;
    lock(d);
    ent_t *e = lookup(d, key, klen, now, stale_ok != 0, &stale);
    if (e == NULL) {
        unlock(d);
        return MG_DECLINED;
    }
    out->type = e->type;
    out->num = e->num;
    out->len = e->vlen;
    out->stale = stale;
    if (e->type == MG_SHDICT_STRING && e->vlen <= cap) {
        memcpy(buf, e->data + e->klen, e->vlen);
    }
    if (!stale) {
        lru_unlink(d->h, e);
        lru_front(d->h, e);
    }
    unlock(d);
    return MG_OK;
}

int mg_shdict_store(mg_shdict_t *d, int op, const char *key, size_t klen, int type, double num,
                    const char *str, size_t slen, double ttl, int *forcible)
{
    if (klen == 0 || klen > 65535) {
        return MG_ERROR;
    }
    int64_t now = now_ms();
    bool stale;
    if (forcible != NULL) {
        *forcible = 0;
    }
    lock(d);
    expire_some(d, now, 3);
    ent_t *old = lookup(d, key, klen, now, false, &stale);
    if ((op == MG_SHDICT_ADD || op == MG_SHDICT_SAFE_ADD) && old != NULL) {
        unlock(d);
        return MG_DECLINED;
    }
    if (op == MG_SHDICT_REPLACE && old == NULL) {
        unlock(d);
        return MG_DECLINED;
    }
    if (type == MG_SHDICT_NIL) {
        if (old != NULL) {
            remove_ent(d, old);
        }
        unlock(d);
        return MG_OK;
    }
    size_t vlen = type == MG_SHDICT_STRING ? slen : 0;
    if (old != NULL) {
        remove_ent(d, old);
    }
    bool evict = op != MG_SHDICT_SAFE_SET && op != MG_SHDICT_SAFE_ADD;
    ent_t *e = alloc_ent(d, sizeof(ent_t) + klen + vlen, evict, forcible, now);
    if (e == NULL) {
        unlock(d);
        return MG_ERROR;
    }
    e->hash = hash(key, klen);
    e->klen = (uint16_t)klen;
    e->type = (uint8_t)type;
    e->vlen = (uint32_t)vlen;
    e->num = num;
    e->expires = expiry(ttl, now);
    memcpy(e->data, key, klen);
    if (vlen > 0) {
        memcpy(e->data + klen, str, vlen);
    }
    ent_t **pp = slot_of(d->h, e->hash, key, klen);
    e->hnext = NULL;
    *pp = e;
    lru_front(d->h, e);
    d->h->count++;
    unlock(d);
    return MG_OK;
}

int mg_shdict_incr(mg_shdict_t *d, const char *key, size_t klen, double delta, int has_init,
                   double init, double init_ttl, double *out, int *forcible)
{
    int64_t now = now_ms();
    bool stale;
    if (forcible != NULL) {
        *forcible = 0;
    }
    lock(d);
    ent_t *e = lookup(d, key, klen, now, false, &stale);
    if (e != NULL) {
        if (e->type != MG_SHDICT_NUMBER) {
            unlock(d);
            return MG_SHDICT_NOT_NUMBER;
        }
        e->num += delta;
        *out = e->num;
        lru_unlink(d->h, e);
        lru_front(d->h, e);
        unlock(d);
        return MG_OK;
    }
    unlock(d);
    if (!has_init) {
        return MG_DECLINED;
    }
    /* absent: an add, so that two workers racing here do not both create it */
    int rc = mg_shdict_store(d, MG_SHDICT_ADD, key, klen, MG_SHDICT_NUMBER, init + delta, NULL,
                             0, init_ttl, forcible);
    if (rc == MG_DECLINED) {
        return mg_shdict_incr(d, key, klen, delta, 0, 0, 0, out, forcible);
    }
    *out = init + delta;
    return rc;
}

int mg_shdict_delete(mg_shdict_t *d, const char *key, size_t klen)
{
    int64_t now = now_ms();
    bool stale;
    lock(d);
    ent_t *e = lookup(d, key, klen, now, false, &stale);
    if (e != NULL) {
        remove_ent(d, e);
    }
    unlock(d);
    return e != NULL ? MG_OK : MG_DECLINED;
}

int mg_shdict_ttl(mg_shdict_t *d, const char *key, size_t klen, double *out)
{
    int64_t now = now_ms();
    bool stale;
    lock(d);
    ent_t *e = lookup(d, key, klen, now, false, &stale);
    if (e != NULL) {
        *out = e->expires == 0 ? 0 : (double)(e->expires - now) / 1000.0;
    }
    unlock(d);
    return e != NULL ? MG_OK : MG_DECLINED;
}

int mg_shdict_expire(mg_shdict_t *d, const char *key, size_t klen, double ttl)
{
    int64_t now = now_ms();
    bool stale;
    lock(d);
    ent_t *e = lookup(d, key, klen, now, false, &stale);
    if (e != NULL) {
        e->expires = expiry(ttl, now);
    }
    unlock(d);
    return e != NULL ? MG_OK : MG_DECLINED;
}

void mg_shdict_flush_all(mg_shdict_t *d)
{
    lock(d);
    while (d->h->head != NULL) {
        remove_ent(d, d->h->head);
    }
    unlock(d);
}

size_t mg_shdict_count(mg_shdict_t *d)
{
    return d->h->count;
}

size_t mg_shdict_capacity(mg_shdict_t *d)
{
    return d->size;
}

size_t mg_shdict_free_space(mg_shdict_t *d)
{
    return mg_shm_free_bytes(d->zone);
}

size_t mg_shdict_number(void)
{
    return ndicts;
}

const char *mg_shdict_stats(size_t i, mg_shdict_stats_t *out)
{
    mg_shdict_t *d = &dicts[i];
    out->count = d->h->count;
    out->capacity = d->size;
    out->free_bytes = mg_shm_free_bytes(d->zone);
    out->evictions = d->h->evictions;
    return d->name;
}
