/*
 * metrics_store.c -- per-slot regions of series (see metrics_store.h).
 *
 * A region: a header, an open-addressing index of entry offsets, then entries bump
 * allocated and never freed. An entry is its key and its cells. The writer fills an
 * entry, then publishes its offset in the index with a release store; a reader follows
 * the index with acquire loads, so it sees either no entry or a whole one. Nothing is
 * ever removed, so a reader never meets a half-gone entry.
 */
#include "metrics_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAGIC 0x6d6f6f6e6d657472ull /* "moonmetr" */
#define INDEX (MG_METRICS_SERIES * 2)

typedef struct {
    uint64_t magic;     /* set when a worker first attached */
    uint32_t used;      /* bytes of entries, after the index */
    uint32_t nseries;   /* entries added */
    uint32_t index[INDEX]; /* entry offsets from the region's start, 0 = empty */
} region_t;

typedef struct {
    uint32_t hash;
    uint16_t klen;
    uint16_t flags;
    uint32_t ncells;
    uint32_t pad;
    char key[]; /* klen bytes, padded to 8, then the cells */
} entry_t;

static char *base;      /* the mapping: nslots regions */
static int nslots;
static region_t *mine;  /* this worker's region */

#define ENTRIES_AT (sizeof(region_t))

static region_t *region(int slot)
{
    return (region_t *)(base + (size_t)slot * MG_METRICS_REGION);
}

int mg_metrics_init(int slots)
{
    if (base != NULL) {
        return MG_OK;
    }
    size_t size = (size_t)slots * MG_METRICS_REGION;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        return MG_ERROR;
    }
    base = p;
    nslots = slots;
    return MG_OK;
}

static uint32_t hash_key(mg_str_t key, uint32_t ncells)
{
    uint32_t h = 2166136261u ^ ncells;
    for (size_t i = 0; i < key.len; i++) {
        h = (h ^ (unsigned char)key.p[i]) * 16777619u;
    }
    return h;
}

static size_t key_room(size_t klen)
{
    return (klen + 7) & ~(size_t)7;
}

static uint64_t *cells_of(entry_t *e)
{
    return (uint64_t *)(e->key + key_room(e->klen));
}

static entry_t *entry_at(region_t *rg, uint32_t off)
{
    return (entry_t *)((char *)rg + off);
}

/* The index position of key in rg: its entry's, or the empty one where it would go
 * (*found false); -1 when the index is full. */
static long probe(region_t *rg, mg_str_t key, uint32_t ncells, uint32_t h, bool *found)
{
    *found = false;
    for (uint32_t n = 0, i = h & (INDEX - 1); n < INDEX; n++, i = (i + 1) & (INDEX - 1)) {
        uint32_t off = __atomic_load_n(&rg->index[i], __ATOMIC_ACQUIRE);
        if (off == 0) {
            return i;
        }
        entry_t *e = entry_at(rg, off);
        if (e->hash == h && e->ncells == ncells && e->klen == key.len &&
            memcmp(e->key, key.p, key.len) == 0) {
            *found = true;
            return i;
        }
    }
    return -1;
}

void mg_metrics_attach(int slot)
{
    mine = NULL;
    if (base == NULL || slot < 0 || slot >= nslots) {
        return;
    }
    mine = region(slot);
    if (mine->magic != MAGIC) {
        mine->used = 0;
        mine->nseries = 0;
        __atomic_store_n(&mine->magic, MAGIC, __ATOMIC_RELEASE);
        return;
    }
    for (uint32_t i = 0; i < INDEX; i++) {
        uint32_t off = mine->index[i];
        if (off != 0 && (entry_at(mine, off)->flags & MG_METRICS_GAUGE)) {
            entry_t *e = entry_at(mine, off);
            for (uint32_t c = 0; c < e->ncells; c++) {
                mg_metrics_set(&cells_of(e)[c], 0);
            }
        }
    }
}

uint64_t *mg_metrics_series(mg_str_t key, uint32_t ncells, unsigned flags)
{
    if (mine == NULL || ncells == 0 || ncells > MG_METRICS_MAX_CELLS || key.len > UINT16_MAX) {
        return NULL;
    }
    uint32_t h = hash_key(key, ncells);
    bool found;
    long i = probe(mine, key, ncells, h, &found);
    if (i < 0) {
        return NULL;
    }
    if (found) {
        return cells_of(entry_at(mine, mine->index[i]));
    }
    size_t need = sizeof(entry_t) + key_room(key.len) + (size_t)ncells * sizeof(uint64_t);
    if (mine->nseries >= MG_METRICS_SERIES || ENTRIES_AT + mine->used + need > MG_METRICS_REGION) {
        return NULL;
    }
    uint32_t off = (uint32_t)(ENTRIES_AT + mine->used);
    entry_t *e = entry_at(mine, off);
    e->hash = h;
    e->klen = (uint16_t)key.len;
    e->flags = (uint16_t)flags;
    e->ncells = ncells;
    memcpy(e->key, key.p, key.len);
    memset(cells_of(e), 0, (size_t)ncells * sizeof(uint64_t));
    mine->used += (uint32_t)need;
    mine->nseries++;
    __atomic_store_n(&mine->index[i], off, __ATOMIC_RELEASE);
    return cells_of(e);
}

uint64_t *mg_metrics_lookup(mg_str_t key, uint32_t ncells)
{
    if (mine == NULL || ncells == 0 || key.len > UINT16_MAX) {
        return NULL;
    }
    bool found;
    long i = probe(mine, key, ncells, hash_key(key, ncells), &found);
    return found ? cells_of(entry_at(mine, mine->index[i])) : NULL;
}

static bool in_use(int slot)
{
    return __atomic_load_n(&region(slot)->magic, __ATOMIC_ACQUIRE) == MAGIC;
}

/* The cells of series key in slot s's region, or NULL: not in use, skipped, absent. */
static const uint64_t *slot_cells(int s, mg_str_t key, uint32_t ncells, uint32_t h,
                                  bool (*skip)(int slot, void *arg), void *arg)
{
    if (!in_use(s) || (skip != NULL && skip(s, arg))) {
        return NULL;
    }
    region_t *rg = region(s);
    bool found;
    long i = probe(rg, key, ncells, h, &found);
    return found ? cells_of(entry_at(rg, __atomic_load_n(&rg->index[i], __ATOMIC_ACQUIRE)))
                 : NULL;
}

size_t mg_metrics_sum(mg_str_t key, uint32_t ncells, bool (*skip)(int slot, void *arg), void *arg,
                      uint64_t *out)
{
    memset(out, 0, (size_t)ncells * sizeof(uint64_t));
    uint32_t h = hash_key(key, ncells);
    size_t n = 0;
    for (int s = 0; base != NULL && s < nslots; s++) {
        const uint64_t *c = slot_cells(s, key, ncells, h, skip, arg);
        for (uint32_t j = 0; c != NULL && j < ncells; j++) {
            out[j] += __atomic_load_n(&c[j], __ATOMIC_RELAXED);
        }
        n += c != NULL;
    }
    return n;
}

size_t mg_metrics_sum_f(mg_str_t key, uint32_t ncells, bool (*skip)(int slot, void *arg), void *arg,
                        double *out)
{
    for (uint32_t j = 0; j < ncells; j++) {
        out[j] = 0;
    }
    uint32_t h = hash_key(key, ncells);
    size_t n = 0;
    for (int s = 0; base != NULL && s < nslots; s++) {
        const uint64_t *c = slot_cells(s, key, ncells, h, skip, arg);
        for (uint32_t j = 0; c != NULL && j < ncells; j++) {
            uint64_t bits = __atomic_load_n(&c[j], __ATOMIC_RELAXED);
            double d;
            memcpy(&d, &bits, sizeof(d));
            out[j] += d;
        }
        n += c != NULL;
    }
    return n;
}

long mg_metrics_each(mg_str_t prefix,
                     void (*fn)(mg_str_t key, uint32_t ncells, unsigned flags, void *arg), void *arg)
{
    long count = 0;
    for (int s = 0; base != NULL && s < nslots; s++) {
        if (!in_use(s)) {
            continue;
        }
        region_t *rg = region(s);
        for (uint32_t i = 0; i < INDEX; i++) {
            uint32_t off = __atomic_load_n(&rg->index[i], __ATOMIC_ACQUIRE);
            if (off == 0) {
                continue;
            }
            const entry_t *e = entry_at(rg, off);
            mg_str_t key = mg_str(e->key, e->klen);
            if (e->klen < prefix.len || memcmp(e->key, prefix.p, prefix.len) != 0) {
                continue;
            }
            /* the same key in several regions is told once: by the first that has it */
            bool seen = false;
            for (int t = 0; t < s && !seen; t++) {
                seen = slot_cells(t, key, e->ncells, e->hash, NULL, NULL) != NULL;
            }
            if (!seen) {
                fn(key, e->ncells, e->flags, arg);
                count++;
            }
        }
    }
    return count;
}

size_t mg_metrics_count(void)
{
    return mine != NULL ? mine->nseries : 0;
}

void mg_metrics_observe(uint64_t *h, const double *bounds, uint32_t nbounds, double secs)
{
    if (secs < 0) {
        secs = 0;
    }
    uint32_t lo = 0, hi = nbounds; /* the first bound >= secs, or nbounds */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (bounds[mid] < secs) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    mg_metrics_add(&h[lo], 1);
    mg_metrics_add(&h[nbounds + 1], (uint64_t)(secs * 1e9 + 0.5));
}
