/*
 * shdict.c -- shared dictionaries (see shdict.h).
 *
 * Inside a dict's zone: an LRU hash table (shm_lru.c) whose entries hold the key, then
 * a typed value (number, boolean or string) with its expiry. Expired entries are
 * dropped when met, and a few from the LRU tail on every write.
 */
#include "shdict.h"

#include "shm.h"
#include "shm_lru.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MG_SHDICT_MAX 64
#define MG_SHDICT_MIN_SIZE (32u << 10)
#define EVICT_TRIES 30

/* The value area of a table entry: the typed value, then a string's bytes. */
typedef struct {
    double num;
    int64_t expires; /* ms, CLOCK_MONOTONIC; 0 = never */
    uint32_t slen;
    uint8_t type;
    char str[];
} dval_t;

struct mg_shdict_s {
    char name[65];
    size_t size;
    mg_shm_zone_t *zone;
    mg_shm_lru_t *h;
};

static mg_shdict_t dicts[MG_SHDICT_MAX];
static size_t ndicts;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    /* a resized dict takes its old slot: the processes still using the old mapping
     * (workers of the previous generation) hold their own copy of it, made at fork, so
     * this process lets go of its own and the table never fills up with resizes */
    mg_shdict_t *old = NULL;
    for (size_t i = 0; i < ndicts; i++) {
        if (strcmp(dicts[i].name, name) == 0) {
            old = &dicts[i];
        }
    }
    if ((old == NULL && ndicts == MG_SHDICT_MAX) || strlen(name) > 64) {
        errno = ENOSPC;
        return MG_ERROR;
    }
    char zname[80];
    snprintf(zname, sizeof(zname), "dict:%s", name);
    mg_shm_zone_t *z = mg_shm_zone_create(zname, size);
    if (z == NULL) {
        return MG_ERROR;
    }
    mg_shm_lru_t *h = mg_shm_lru_create(z, 256); /* about one bucket per 256 bytes */
    if (h == NULL) {
        mg_shm_zone_destroy(z);
        errno = ENOMEM;
        return MG_ERROR;
    }
    if (old != NULL) {
        mg_shm_zone_destroy(old->zone);
    }
    mg_shdict_t *d = old != NULL ? old : &dicts[ndicts++];
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

typedef mg_shm_lru_ent_t ent_t;

static dval_t *val_of(ent_t *e)
{
    return mg_shm_lru_val(e);
}

static void remove_ent(mg_shdict_t *d, ent_t *e)
{
    mg_shm_lru_remove(d->h, e);
}

static bool expired(const ent_t *e, int64_t now)
{
    const dval_t *v = mg_shm_lru_val((ent_t *)e);
    return v->expires != 0 && v->expires <= now;
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
    ent_t *e = mg_shm_lru_find(d->h, k, klen);
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

typedef struct {
    int *forcible;
    int64_t now;
} evict_ctx_t;

/* A live entry pushed out is what set/add/incr report as `forcible`. */
static void on_evict(const ent_t *victim, void *arg)
{
    evict_ctx_t *ec = arg;
    if (!expired(victim, ec->now) && ec->forcible != NULL) {
        *ec->forcible = 1;
    }
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

int mg_shdict_get(mg_shdict_t *d, const char *key, size_t klen, mg_shdict_val_t *out, char *buf,
                  size_t cap, int stale_ok)
{
    int64_t now = now_ms();
    bool stale;
    lock(d);
    ent_t *e = lookup(d, key, klen, now, stale_ok != 0, &stale);
    if (e == NULL) {
        unlock(d);
        return MG_DECLINED;
    }
    dval_t *v = val_of(e);
    out->type = v->type;
    out->num = v->num;
    out->len = v->slen;
    out->stale = stale;
    if (v->type == MG_SHDICT_STRING && v->slen <= cap) {
        memcpy(buf, v->str, v->slen);
    }
    if (!stale) {
        mg_shm_lru_touch(d->h, e);
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
    evict_ctx_t ec = {forcible, now};
    ent_t *e = mg_shm_lru_insert(d->h, key, klen, sizeof(dval_t) + vlen, evict ? EVICT_TRIES : 0,
                                 on_evict, &ec);
    if (e == NULL) {
        unlock(d);
        return MG_ERROR;
    }
    dval_t *v = val_of(e);
    v->type = (uint8_t)type;
    v->slen = (uint32_t)vlen;
    v->num = num;
    v->expires = expiry(ttl, now);
    if (vlen > 0) {
        memcpy(v->str, str, vlen);
    }
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
        dval_t *v = val_of(e);
        if (v->type != MG_SHDICT_NUMBER) {
            unlock(d);
            return MG_SHDICT_NOT_NUMBER;
        }
        v->num += delta;
        *out = v->num;
        mg_shm_lru_touch(d->h, e);
        unlock(d);
        return MG_OK;
    }
    unlock(d);
    if (!has_init) {
        return MG_DECLINED;
    }
    /* absent: an add, so that two workers racing here do not both create it */
    int rc = mg_shdict_store(d, MG_SHDICT_ADD, key, klen, MG_SHDICT_NUMBER, init + delta, NULL, 0,
                             init_ttl, forcible);
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
        int64_t exp = val_of(e)->expires;
        *out = exp == 0 ? 0 : (double)(exp - now) / 1000.0;
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
        val_of(e)->expires = expiry(ttl, now);
    }
    unlock(d);
    return e != NULL ? MG_OK : MG_DECLINED;
}

long mg_shdict_get_keys(mg_shdict_t *d, size_t max, char *buf, size_t cap, size_t *need)
{
    int64_t now = now_ms();
    size_t used = 0;
    long n = 0;
    lock(d);
    ent_t *e = d->h->head;
    while (e != NULL && (max == 0 || (size_t)n < max)) {
        ent_t *next = e->next;
        if (expired(e, now)) {
            remove_ent(d, e); /* never listed, and never walked over again */
        } else {
            if (used + 2 + e->klen <= cap) {
                buf[used] = (char)(e->klen >> 8);
                buf[used + 1] = (char)(e->klen & 0xff);
                memcpy(buf + used + 2, e->data, e->klen);
            }
            used += 2 + e->klen;
            n++;
        }
        e = next;
    }
    unlock(d);
    *need = used;
    return used <= cap ? n : -1;
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
