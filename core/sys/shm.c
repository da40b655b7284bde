/*
 * shm.c -- shared-memory zones: one anonymous MAP_SHARED mapping per zone, created by
 * the master before fork so every worker sees it at the same address.
 *
 * Layout of a zone:
 *
 *   [ mg_shm_zone_t header (lock, allocator state, name) ][ bump region ........ ]
 *
 * The allocator hands out blocks that start with a 16-byte block header. Requests up to
 * a page go to power-of-two size classes (16 B .. 4 KiB of payload) with one free list
 * per class; larger requests get runs of whole pages from a first-fit, address-ordered
 * free list whose neighbours are merged on free. Both are carved from one bump region.
 * Everything inside the zone refers to other zone memory by offset from the zone start,
 * so the layout would survive a different mapping address.
 *
 * The lock is a process-shared robust mutex: a worker that dies while holding it does
 * not wedge the others. The data it was changing may be half-updated; the allocator and
 * hash table only link a block in after filling it, which keeps that window small.
 */
#include "shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHM_MAGIC 0x6d67736dU /* "mgsm" */
#define BLK_MAGIC 0xb10cU
#define BLK_HDR 16    /* keeps payloads 16-byte aligned */
#define MIN_SHIFT 4   /* smallest class: 16 bytes of payload */
#define PAGE_SHIFT 12 /* largest class: one 4 KiB page of payload */
#define NCLASSES (PAGE_SHIFT - MIN_SHIFT + 1)
#define PAGE ((size_t)1 << PAGE_SHIFT)
#define LARGE_CLASS 0xffffU

typedef uint64_t shm_off; /* offset from the zone start; 0 means "none" */

/* The header in front of every block. `size` is the whole block, header included. */
typedef struct {
    uint16_t magic;
    uint16_t cls; /* size class index, or LARGE_CLASS for a page run */
    uint32_t pad;
    uint64_t size;
} blk_t;

/* A free page run; lives in the run's first bytes (where the block header would be). */
typedef struct {
    uint64_t size;
    shm_off next;
} run_t;

struct mg_shm_zone_s {
    uint32_t magic;
    uint32_t pad;
    size_t size;           /* bytes mapped */
    pthread_mutex_t mutex; /* guards everything below */
    shm_off bump;          /* first never-used byte */
    shm_off free_small[NCLASSES];
    shm_off free_runs; /* address-ordered list of run_t */
    size_t free_bytes; /* bytes on free lists (small + runs) */
    char name[64];
};

struct mg_shm_hash_s {
    shm_off self; /* offset of this table, to find the zone from the table */
    size_t mask;  /* nbuckets - 1 */
    size_t count;
    shm_off buckets; /* offset of an array of nbuckets shm_off */
};

/* An entry: header, then the key padded to 8 bytes, then the value. */
typedef struct {
    shm_off next;
    uint32_t hash;
    uint32_t klen;
    uint32_t vlen;
    uint32_t pad;
    char bytes[];
} entry_t;

static inline char *at(mg_shm_zone_t *z, shm_off off)
{
    return (char *)z + off;
}

static inline shm_off off_of(mg_shm_zone_t *z, const void *p)
{
    return (shm_off)((const char *)p - (const char *)z);
}

static inline size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

static size_t header_size(void)
{
    return align_up(sizeof(mg_shm_zone_t), 64);
}

/* Zones */

static int init_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0) {
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    }
    if (rc == 0) {
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
        rc = pthread_mutex_init(m, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    return rc;
}

/* Creates a zone of `size` bytes rounded up to whole pages; `name` is copied (truncated
 * to 63 bytes). Master only, before fork. Returns NULL with errno set on failure. */
mg_shm_zone_t *mg_shm_zone_create(const char *name, size_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t psz = pg > 0 ? (size_t)pg : PAGE;
    if (size < header_size() + PAGE) {
        size = header_size() + PAGE;
    }
    size = align_up(size, psz);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    mg_shm_zone_t *z = p; /* the mapping is zero-filled */
    int rc = init_mutex(&z->mutex);
    if (rc != 0) {
        munmap(p, size);
        errno = rc;
        return NULL;
    }
    z->magic = SHM_MAGIC;
    z->size = size;
    z->bump = header_size();
    snprintf(z->name, sizeof(z->name), "%s", name ? name : "");
    return z;
}

/* Unmaps the zone in this process; other processes keep their mapping. NULL is a
 * no-op. */
void mg_shm_zone_destroy(mg_shm_zone_t *zone)
{
    if (zone != NULL) {
        munmap(zone, zone->size);
    }
}

/* The zone's name (owned by the zone). */
const char *mg_shm_zone_name(const mg_shm_zone_t *zone)
{
    return zone->name;
}

/* Takes the zone lock, blocking. Returns 0 normally, 1 when the previous holder died
 * holding it (the lock is then marked consistent and held by the caller), MG_ERROR when
 * the mutex is unusable. */
int mg_shm_lock(mg_shm_zone_t *zone)
{
    int rc = pthread_mutex_lock(&zone->mutex);
    if (rc == 0) {
        return 0;
    }
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&zone->mutex);
        return 1;
    }
    return MG_ERROR;
}

/* Releases the zone lock taken by mg_shm_lock. */
void mg_shm_unlock(mg_shm_zone_t *zone)
{
    pthread_mutex_unlock(&zone->mutex);
}

/* Allocator */

static int class_of(size_t size)
{
    int c = 0;
    while (((size_t)1 << (c + MIN_SHIFT)) < size) {
        c++;
    }
    return c;
}

/* Takes `size` bytes (a multiple of PAGE) from the bump region. 0 when full. */
static shm_off bump_take(mg_shm_zone_t *z, size_t size)
{
    if (z->size - z->bump < size) {
        return 0;
    }
    shm_off off = z->bump;
    z->bump += size;
    return off;
}

/* First fit over the free runs; splits off the tail of a larger run. 0 when none fits. */
static shm_off runs_take(mg_shm_zone_t *z, size_t size)
{
    shm_off *link = &z->free_runs;
    while (*link != 0) {
        run_t *r = (run_t *)at(z, *link);
        if (r->size >= size) {
            shm_off off = *link;
            if (r->size - size >= PAGE) {
                run_t *rest = (run_t *)at(z, off + size);
                rest->size = r->size - size;
                rest->next = r->next;
                *link = off + size;
            } else {
                size = r->size;
                *link = r->next;
            }
            z->free_bytes -= size;
            blk_t *b = (blk_t *)at(z, off);
            b->size = size;
            return off;
        }
        link = &r->next;
    }
    return 0;
}

/* Returns a run to the address-ordered free list, merging it with free neighbours and
 * giving it back to the bump region when it is the last thing carved. */
static void runs_put(mg_shm_zone_t *z, shm_off off, size_t size)
{
    shm_off *link = &z->free_runs;
    run_t *prev = NULL;
    while (*link != 0 && *link < off) {
        prev = (run_t *)at(z, *link);
        link = &prev->next;
    }
    run_t *r = (run_t *)at(z, off);
    r->size = size;
    r->next = *link;
    z->free_bytes += size;
    if (r->next != 0 && off + r->size == r->next) {
        run_t *n = (run_t *)at(z, r->next);
        r->size += n->size;
        r->next = n->next;
    }
    *link = off;
    if (prev != NULL && off_of(z, prev) + prev->size == off) {
        prev->size += r->size;
        prev->next = r->next;
        r = prev;
        off = off_of(z, prev);
    }
    if (r->next == 0 && off + r->size == z->bump) {
        /* unlink the tail run and hand it back to the bump region */
        shm_off *l = &z->free_runs;
        while (*l != off) {
            l = &((run_t *)at(z, *l))->next;
        }
        *l = 0;
        z->bump = off;
        z->free_bytes -= r->size;
    }
}

/* Carves one block of class `c` from the bump region, or when that is exhausted,
 * turns a free page run into blocks of that class. 0 when the zone is full. */
static shm_off small_refill(mg_shm_zone_t *z, int c)
{
    size_t bsize = BLK_HDR + ((size_t)1 << (c + MIN_SHIFT));
    if (z->size - z->bump >= bsize) {
        shm_off off = z->bump;
        z->bump += bsize;
        return off;
    }
    size_t rsize = align_up(bsize, PAGE);
    shm_off run = runs_take(z, rsize);
    if (run == 0) {
        return 0;
    }
    rsize = ((blk_t *)at(z, run))->size;
    /* keep the first block, put the others on the class's free list */
    for (size_t o = bsize; o + bsize <= rsize; o += bsize) {
        blk_t *b = (blk_t *)at(z, run + o);
        b->magic = BLK_MAGIC;
        b->cls = (uint16_t)c;
        b->size = bsize;
        *(shm_off *)(b + 1) = z->free_small[c];
        z->free_small[c] = run + o;
        z->free_bytes += bsize;
    }
    return run;
}

/* Allocates `size` bytes (16-byte aligned) inside the zone. The caller holds the lock.
 * Returns NULL when the zone is full or size is 0. */
void *mg_shm_alloc_locked(mg_shm_zone_t *zone, size_t size)
{
    mg_shm_zone_t *z = zone;
    if (size == 0 || size > z->size) {
        return NULL;
    }
    shm_off off;
    blk_t *b;
    if (size <= PAGE) {
        int c = class_of(size);
        size_t bsize = BLK_HDR + ((size_t)1 << (c + MIN_SHIFT));
        off = z->free_small[c];
        if (off != 0) {
            z->free_small[c] = *(shm_off *)at(z, off + BLK_HDR);
            z->free_bytes -= bsize;
        } else if ((off = small_refill(z, c)) == 0) {
            return NULL;
        }
        b = (blk_t *)at(z, off);
        b->cls = (uint16_t)c;
        b->size = bsize;
    } else {
        size_t rsize = align_up(size + BLK_HDR, PAGE);
        off = runs_take(z, rsize);
        if (off == 0 && (off = bump_take(z, rsize)) != 0) {
            ((blk_t *)at(z, off))->size = rsize;
        }
        if (off == 0) {
            return NULL;
        }
        b = (blk_t *)at(z, off);
        b->cls = LARGE_CLASS;
    }
    b->magic = BLK_MAGIC;
    return b + 1;
}

/* Frees a block from mg_shm_alloc_locked. The caller holds the lock. NULL is a no-op;
 * a pointer that is not a live block of this zone is ignored. */
void mg_shm_free_locked(mg_shm_zone_t *zone, void *p)
{
    mg_shm_zone_t *z = zone;
    if (p == NULL || (char *)p < at(z, header_size() + BLK_HDR) || (char *)p >= at(z, z->bump)) {
        return;
    }
    blk_t *b = (blk_t *)p - 1;
    if (b->magic != BLK_MAGIC) {
        return;
    }
    b->magic = 0; /* catches a double free */
    shm_off off = off_of(z, b);
    if (b->cls == LARGE_CLASS) {
        runs_put(z, off, b->size);
        return;
    }
    if (b->cls >= NCLASSES) {
        return;
    }
    *(shm_off *)p = z->free_small[b->cls];
    z->free_small[b->cls] = off;
    z->free_bytes += b->size;
}

/* Locking wrapper of mg_shm_alloc_locked. */
void *mg_shm_alloc(mg_shm_zone_t *zone, size_t size)
{
    mg_shm_lock(zone);
    void *p = mg_shm_alloc_locked(zone, size);
    mg_shm_unlock(zone);
    return p;
}

/* Locking wrapper of mg_shm_free_locked. */
void mg_shm_free(mg_shm_zone_t *zone, void *p)
{
    mg_shm_lock(zone);
    mg_shm_free_locked(zone, p);
    mg_shm_unlock(zone);
}

/* Bytes never carved plus bytes on free lists. Approximate: free small blocks only
 * serve their own class. Takes the lock. */
size_t mg_shm_free_bytes(mg_shm_zone_t *zone)
{
    mg_shm_lock(zone);
    size_t n = zone->size - zone->bump + zone->free_bytes;
    mg_shm_unlock(zone);
    return n;
}

/* Hash table */

static inline mg_shm_zone_t *zone_of(mg_shm_hash_t *h)
{
    return (mg_shm_zone_t *)((char *)h - h->self);
}

static inline shm_off *bucket(mg_shm_hash_t *h, uint32_t hash)
{
    return (shm_off *)at(zone_of(h), h->buckets) + (hash & h->mask);
}

static inline char *entry_val(entry_t *e)
{
    return e->bytes + align_up(e->klen, 8);
}

/* Finds key; returns the link pointing at its entry (so it can be replaced or unlinked),
 * or NULL when absent. Caller holds the lock. */
static shm_off *find_link(mg_shm_hash_t *h, mg_str_t key, uint32_t hash)
{
    mg_shm_zone_t *z = zone_of(h);
    shm_off *link = bucket(h, hash);
    while (*link != 0) {
        entry_t *e = (entry_t *)at(z, *link);
        if (e->hash == hash && e->klen == key.len &&
            (key.len == 0 || memcmp(e->bytes, key.p, key.len) == 0)) {
            return link;
        }
        link = &e->next;
    }
    return NULL;
}

static entry_t *entry_new(mg_shm_zone_t *z, mg_str_t key, uint32_t hash, const void *val,
                          size_t vlen)
{
    if (key.len > UINT32_MAX || vlen > UINT32_MAX) {
        return NULL;
    }
    entry_t *e = mg_shm_alloc_locked(z, sizeof(entry_t) + align_up(key.len, 8) + vlen);
    if (e == NULL) {
        return NULL;
    }
    e->next = 0;
    e->hash = hash;
    e->klen = (uint32_t)key.len;
    e->vlen = (uint32_t)vlen;
    if (key.len > 0) {
        memcpy(e->bytes, key.p, key.len);
    }
    if (vlen > 0) {
        memcpy(entry_val(e), val, vlen);
    }
    return e;
}

/* Creates a table with `nbuckets` (rounded up to a power of two, at least 1) buckets
 * inside `zone`. Master, before fork. Returns NULL when the zone is too small. */
mg_shm_hash_t *mg_shm_hash_create(mg_shm_zone_t *zone, size_t nbuckets)
{
    size_t n = 1;
    while (n < nbuckets && n < ((size_t)1 << 40)) {
        n <<= 1;
    }
    mg_shm_lock(zone);
    mg_shm_hash_t *h = mg_shm_alloc_locked(zone, sizeof(*h));
    shm_off *b = mg_shm_alloc_locked(zone, n * sizeof(shm_off));
    if (h == NULL || b == NULL) {
        mg_shm_free_locked(zone, h);
        mg_shm_free_locked(zone, b);
        mg_shm_unlock(zone);
        return NULL;
    }
    memset(b, 0, n * sizeof(shm_off));
    h->self = off_of(zone, h);
    h->mask = n - 1;
    h->count = 0;
    h->buckets = off_of(zone, b);
    mg_shm_unlock(zone);
    return h;
}

/* Sets key to a copy of val. The old entry stays in place when the zone is full.
 * Takes the lock. MG_OK, or MG_ERROR when the zone is full. */
int mg_shm_hash_set(mg_shm_hash_t *h, mg_str_t key, const void *val, size_t vlen)
{
    mg_shm_zone_t *z = zone_of(h);
    uint32_t hash = mg_hash32(key.p, key.len);
    int rc = MG_OK;
    mg_shm_lock(z);
    shm_off *link = find_link(h, key, hash);
    entry_t *old = link ? (entry_t *)at(z, *link) : NULL;
    if (old != NULL && old->vlen == vlen) {
        if (vlen > 0) {
            memcpy(entry_val(old), val, vlen);
        }
    } else {
        entry_t *e = entry_new(z, key, hash, val, vlen);
        if (e == NULL) {
            rc = MG_ERROR;
        } else if (old != NULL) {
            e->next = old->next;
            *link = off_of(z, e);
            mg_shm_free_locked(z, old);
        } else {
            shm_off *head = bucket(h, hash);
            e->next = *head;
            *head = off_of(z, e);
            h->count++;
        }
    }
    mg_shm_unlock(z);
    return rc;
}

/* Copies up to `cap` bytes of key's value into out (borrowed). Returns the value's full
 * length, or -1 when the key is absent. Takes the lock. */
ssize_t mg_shm_hash_get(mg_shm_hash_t *h, mg_str_t key, void *out, size_t cap)
{
    mg_shm_zone_t *z = zone_of(h);
    uint32_t hash = mg_hash32(key.p, key.len);
    ssize_t n = -1;
    mg_shm_lock(z);
    shm_off *link = find_link(h, key, hash);
    if (link != NULL) {
        entry_t *e = (entry_t *)at(z, *link);
        size_t c = MG_MIN(cap, (size_t)e->vlen);
        if (c > 0) {
            memcpy(out, entry_val(e), c);
        }
        n = (ssize_t)e->vlen;
    }
    mg_shm_unlock(z);
    return n;
}

/* Adds delta to key's int64 value under the lock, creating it as delta when absent; the
 * new value goes to *out (may be NULL). MG_OK; MG_ERROR when the zone is full or the
 * existing value is not 8 bytes long. */
int mg_shm_hash_incr(mg_shm_hash_t *h, mg_str_t key, int64_t delta, int64_t *out)
{
    mg_shm_zone_t *z = zone_of(h);
    uint32_t hash = mg_hash32(key.p, key.len);
    int rc = MG_OK;
    int64_t v = delta;
    mg_shm_lock(z);
    shm_off *link = find_link(h, key, hash);
    if (link != NULL) {
        entry_t *e = (entry_t *)at(z, *link);
        if (e->vlen != sizeof(int64_t)) {
            rc = MG_ERROR;
        } else {
            /* wraps like the unsigned arithmetic it is, instead of signed overflow UB */
            memcpy(&v, entry_val(e), sizeof(v));
            v = (int64_t)((uint64_t)v + (uint64_t)delta);
            memcpy(entry_val(e), &v, sizeof(v));
        }
    } else {
        entry_t *e = entry_new(z, key, hash, &v, sizeof(v));
        if (e == NULL) {
            rc = MG_ERROR;
        } else {
            shm_off *head = bucket(h, hash);
            e->next = *head;
            *head = off_of(z, e);
            h->count++;
        }
    }
    mg_shm_unlock(z);
    if (rc == MG_OK && out != NULL) {
        *out = v;
    }
    return rc;
}

/* Removes key and frees its entry. Takes the lock. MG_OK, or MG_DECLINED when absent. */
int mg_shm_hash_delete(mg_shm_hash_t *h, mg_str_t key)
{
    mg_shm_zone_t *z = zone_of(h);
    uint32_t hash = mg_hash32(key.p, key.len);
    mg_shm_lock(z);
    shm_off *link = find_link(h, key, hash);
    if (link == NULL) {
        mg_shm_unlock(z);
        return MG_DECLINED;
    }
    entry_t *e = (entry_t *)at(z, *link);
    *link = e->next;
    h->count--;
    mg_shm_free_locked(z, e);
    mg_shm_unlock(z);
    return MG_OK;
}

/* Number of keys in the table. Takes the lock. */
size_t mg_shm_hash_count(mg_shm_hash_t *h)
{
    mg_shm_zone_t *z = zone_of(h);
    mg_shm_lock(z);
    size_t n = h->count;
    mg_shm_unlock(z);
    return n;
}
