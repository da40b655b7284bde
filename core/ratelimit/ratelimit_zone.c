/*
 * ratelimit_zone.c -- local limiter state in shared zones (see ratelimit_zone.h).
 */
#include "ratelimit_zone.h"

#include "shm.h"
#include "shm_lru.h"

#include <errno.h>
#include <stdio.h>

#define MG_RL_ZONES_MAX 64
#define EVICT_TRIES 16
#define KEY_MAX 1024 /* longer key values are cut: a client must not cost the zone more */

struct mg_rl_zone_s {
    char name[65];
    size_t size;
    mg_shm_zone_t *zone;
    mg_shm_lru_t *t;
};

static mg_rl_zone_t zones[MG_RL_ZONES_MAX];
static size_t nzones;

int mg_rl_zone_create(const char *name, size_t size)
{
    for (size_t i = 0; i < nzones; i++) {
        if (strcmp(zones[i].name, name) == 0 && zones[i].size == size) {
            return MG_OK;
        }
    }
    if (nzones == MG_RL_ZONES_MAX || strlen(name) > 64) {
        errno = ENOSPC;
        return MG_ERROR;
    }
    char zname[80];
    snprintf(zname, sizeof(zname), "ratelimit:%s", name);
    mg_shm_zone_t *z = mg_shm_zone_create(zname, size);
    if (z == NULL) {
        return MG_ERROR;
    }
    mg_shm_lru_t *t = mg_shm_lru_create(z, 128); /* about one bucket per key */
    if (t == NULL) {
        mg_shm_zone_destroy(z);
        errno = ENOMEM;
        return MG_ERROR;
    }
    /* a resized zone replaces the old one for new generations; the old mapping stays
     * for workers of the previous generation until the master exits */
    for (size_t i = 0; i < nzones; i++) {
        if (strcmp(zones[i].name, name) == 0) {
            zones[i].name[0] = '\0';
        }
    }
    mg_rl_zone_t *rz = &zones[nzones++];
    snprintf(rz->name, sizeof(rz->name), "%s", name);
    rz->size = size;
    rz->zone = z;
    rz->t = t;
    return MG_OK;
}

void mg_rl_zone_destroy_all(void)
{
    for (size_t i = 0; i < nzones; i++) {
        mg_shm_zone_destroy(zones[i].zone);
    }
    nzones = 0;
}

mg_rl_zone_t *mg_rl_zone_find(const char *name, size_t len)
{
    for (size_t i = 0; i < nzones; i++) {
        if (strlen(zones[i].name) == len && memcmp(zones[i].name, name, len) == 0) {
            return &zones[i];
        }
    }
    return NULL;
}

/* "<name>\0<key>" into buf (KEY_MAX + name); returns its length. */
static size_t state_key(char *buf, size_t cap, const mg_rl_conf_t *c, mg_str_t key)
{
    size_t nlen = MG_MIN(strlen(c->name), cap / 2);
    memcpy(buf, c->name, nlen);
    buf[nlen] = '\0';
    size_t klen = MG_MIN(key.len, cap - nlen - 1);
    if (klen > 0) {
        memcpy(buf + nlen + 1, key.p, klen);
    }
    return nlen + 1 + klen;
}

int mg_rl_zone_take(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key, double now, double cost,
                    mg_rl_result_t *out)
{
    char buf[KEY_MAX + 128];
    size_t klen = state_key(buf, sizeof(buf), c, key);
    mg_shm_lock(z->zone);
    mg_shm_lru_ent_t *e = mg_shm_lru_find(z->t, buf, klen);
    if (e == NULL) {
        e = mg_shm_lru_insert(z->t, buf, klen, sizeof(mg_rl_state_t), EVICT_TRIES, NULL, NULL);
        if (e == NULL) {
            mg_shm_unlock(z->zone);
            *out = (mg_rl_result_t){.allowed = true, .limit = c->limit, .remaining = c->limit};
            return MG_ERROR;
        }
        mg_rl_state_init(mg_shm_lru_val(e), c, now);
    } else {
        mg_shm_lru_touch(z->t, e);
    }
    mg_rl_take(mg_shm_lru_val(e), c, now, cost, out);
    mg_shm_unlock(z->zone);
    return MG_OK;
}

void mg_rl_zone_release(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key)
{
    char buf[KEY_MAX + 128];
    size_t klen = state_key(buf, sizeof(buf), c, key);
    mg_shm_lock(z->zone);
    mg_shm_lru_ent_t *e = mg_shm_lru_find(z->t, buf, klen);
    if (e != NULL) {
        mg_rl_release(mg_shm_lru_val(e));
    }
    mg_shm_unlock(z->zone);
}

double mg_rl_zone_peek(mg_rl_zone_t *z, const mg_rl_conf_t *c, mg_str_t key)
{
    char buf[KEY_MAX + 128];
    size_t klen = state_key(buf, sizeof(buf), c, key);
    mg_shm_lock(z->zone);
    mg_shm_lru_ent_t *e = mg_shm_lru_find(z->t, buf, klen);
    double v = e != NULL ? ((mg_rl_state_t *)mg_shm_lru_val(e))->a : -1;
    mg_shm_unlock(z->zone);
    return v;
}

size_t mg_rl_zone_number(void)
{
    return nzones;
}

const char *mg_rl_zone_stats(size_t i, mg_rl_zone_stats_t *out)
{
    mg_rl_zone_t *z = &zones[i];
    mg_shm_lock(z->zone);
    out->count = z->t->count;
    out->evictions = z->t->evictions;
    mg_shm_unlock(z->zone);
    out->capacity = z->size;
    out->free_bytes = mg_shm_free_bytes(z->zone);
    return z->name[0] != '\0' ? z->name : NULL;
}

size_t mg_rl_zone_entry_bytes(size_t klen)
{
    /* the zone allocator: a 16-byte block header, payload rounded to a power of two */
    size_t payload = sizeof(mg_shm_lru_ent_t) + ((klen + 7) & ~(size_t)7) + sizeof(mg_rl_state_t);
    size_t cls = 16;
    while (cls < payload) {
        cls <<= 1;
    }
    return cls + 16;
}
