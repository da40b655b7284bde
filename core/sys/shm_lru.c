/*
 * shm_lru.c -- a hash table with an LRU list inside a shared zone (see shm_lru.h).
 */
#include "shm_lru.h"

#include "shm.h"

mg_shm_lru_t *mg_shm_lru_create(mg_shm_zone_t *zone, size_t bytes_per_bucket)
{
    size_t free_bytes = mg_shm_free_bytes(zone);
    size_t nb = 64;
    while (nb * bytes_per_bucket < free_bytes) {
        nb *= 2;
    }
    size_t size = sizeof(mg_shm_lru_t) + nb * sizeof(mg_shm_lru_ent_t *);
    mg_shm_lru_t *t = mg_shm_alloc(zone, size);
    if (t == NULL) {
        return NULL;
    }
    memset(t, 0, size);
    t->zone = zone;
    t->nbuckets = nb;
    return t;
}

static mg_shm_lru_ent_t **slot_of(mg_shm_lru_t *t, uint32_t hv, const char *k, size_t klen)
{
    mg_shm_lru_ent_t **pp = &t->buckets[hv & (t->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        mg_shm_lru_ent_t *e = *pp;
        if (e->hash == hv && e->klen == klen && memcmp(e->data, k, klen) == 0) {
            return pp;
        }
    }
    return pp;
}

mg_shm_lru_ent_t *mg_shm_lru_find(mg_shm_lru_t *t, const char *key, size_t klen)
{
    return *slot_of(t, mg_hash32(key, klen), key, klen);
}

static void lru_unlink(mg_shm_lru_t *t, mg_shm_lru_ent_t *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        t->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        t->tail = e->prev;
    }
}

static void lru_front(mg_shm_lru_t *t, mg_shm_lru_ent_t *e)
{
    e->prev = NULL;
    e->next = t->head;
    if (t->head != NULL) {
        t->head->prev = e;
    }
    t->head = e;
    if (t->tail == NULL) {
        t->tail = e;
    }
}

void mg_shm_lru_touch(mg_shm_lru_t *t, mg_shm_lru_ent_t *e)
{
    if (t->head != e) {
        lru_unlink(t, e);
        lru_front(t, e);
    }
}

void mg_shm_lru_remove(mg_shm_lru_t *t, mg_shm_lru_ent_t *e)
{
    mg_shm_lru_ent_t **pp = slot_of(t, e->hash, e->data, e->klen);
    if (*pp == e) {
        *pp = e->hnext;
    }
    lru_unlink(t, e);
    t->count--;
    mg_shm_free_locked(t->zone, e);
}

mg_shm_lru_ent_t *mg_shm_lru_insert(mg_shm_lru_t *t, const char *key, size_t klen, size_t vlen,
                                    int max_evict, mg_shm_lru_evict_fn on_evict, void *arg)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        return NULL;
    }
    size_t size = sizeof(mg_shm_lru_ent_t) + ((klen + 7) & ~(size_t)7) + vlen;
    mg_shm_lru_ent_t *e = mg_shm_alloc_locked(t->zone, size);
    for (int i = 0; e == NULL && i < max_evict && t->tail != NULL; i++) {
        mg_shm_lru_ent_t *victim = t->tail;
        if (on_evict != NULL) {
            on_evict(victim, arg);
        }
        mg_shm_lru_remove(t, victim);
        t->evictions++;
        e = mg_shm_alloc_locked(t->zone, size);
    }
    if (e == NULL) {
        return NULL;
    }
    e->hash = mg_hash32(key, klen);
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    memcpy(e->data, key, klen);
    mg_shm_lru_ent_t **pp = slot_of(t, e->hash, key, klen);
    e->hnext = NULL;
    *pp = e;
    lru_front(t, e);
    t->count++;
    return e;
}
