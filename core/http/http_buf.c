/*
 * http_buf.c -- the client side's memory: read buffers and request pools come from
 * per-process free lists (one worker per process), so a keep-alive benchmark mallocs
 * nothing per request and an idle connection holds neither. After a burst, the free
 * lists are cut and the heap's free pages go back to the system (mg_http_mem_tick()):
 * glibc keeps freed small blocks in its arena otherwise, and a worker that once held
 * 5,000 requests would keep their memory forever.
 */
#include "http_conn_int.h"

#include "conf.h"
#include "gen.h"
#include "pool.h"
#include "worker.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BUF_FREE_MAX 256 /* pooled read buffers per worker (4 MiB) */
#define POOL_FREE_MAX 256

static mg_pool_t *pool_free[POOL_FREE_MAX];
static int npool_free;

int mg__buf_take(mg_conn_t *c)
{
    mg_worker_t *w = c->w;
    if (w->buf_free != NULL) {
        c->buf = w->buf_free;
        w->buf_free = *(void **)c->buf;
        w->nbuf_free--;
    } else if ((c->buf = malloc(MG_HTTP_BUF_SIZE)) == NULL) {
        return MG_ERROR;
    }
    c->cap = MG_HTTP_BUF_SIZE;
    c->big_buf = false;
    c->len = c->pos = c->hs = 0;
    return MG_OK;
}

static void buf_put(mg_worker_t *w, char *buf, bool big)
{
    if (!big && w->nbuf_free < BUF_FREE_MAX) {
        *(void **)buf = w->buf_free;
        w->buf_free = buf;
        w->nbuf_free++;
    } else {
        free(buf);
    }
}

void mg__buf_give(mg_conn_t *c)
{
    if (c->buf != NULL) {
        buf_put(c->w, c->buf, c->big_buf);
    }
    c->buf = NULL;
    c->cap = c->len = c->pos = c->hs = 0;
}

/* Moves the buffer into one of cap bytes (spans are offsets: nothing points into it). */
static int buf_resize(mg_conn_t *c, size_t cap)
{
    char *p = c->big_buf ? realloc(c->buf, cap) : malloc(cap);
    if (p == NULL) {
        return MG_ERROR;
    }
    if (!c->big_buf) {
        memcpy(p, c->buf, c->len);
        buf_put(c->w, c->buf, false);
    }
    c->buf = p;
    c->cap = (uint32_t)cap;
    c->big_buf = true;
    return MG_OK;
}

int mg__buf_reserve(mg_conn_t *c, size_t cap)
{
    return c->cap >= cap ? MG_OK : buf_resize(c, cap);
}

int mg__buf_body_room(mg_conn_t *c)
{
    size_t want = 0;
    if (c->parser.flags & F_CHUNKED) {
        want = MG_HTTP_BUF_BODY_ROOM;
    } else if (c->parser.flags & F_CONTENT_LENGTH) {
        want = (size_t)MG_MIN(c->parser.content_length, (uint64_t)MG_HTTP_BUF_BODY_ROOM);
    }
    /* a chunk line needs a little room too, and a read of one byte is no read */
    want = want > 0 ? MG_MAX(want, (size_t)256) : 0;
    if (c->cap - c->pos >= want) {
        return MG_OK;
    }
    return buf_resize(c, (size_t)c->pos + MG_MAX(want, c->len - c->pos));
}

/* Makes room while a large head arrives: first by dropping the bytes of the requests
 * before it, then by growing up to what the limits allow. */
int mg__buf_grow(mg_conn_t *c)
{
    const mg_http_conf_t *h = &c->w->gen->conf->http;
    size_t limit = h->max_request_line + h->max_header_size + 16384;
    if (c->hs > 0) {
        memmove(c->buf, c->buf + c->hs, c->len - c->hs);
        c->len -= c->hs;
        c->pos -= c->hs;
        c->hs = 0;
        return MG_OK;
    }
    if (c->cap >= limit) {
        return MG_ERROR;
    }
    return buf_resize(c, MG_MIN((size_t)c->cap * 2, limit));
}

mg_pool_t *mg__conn_pool_take(void)
{
    if (npool_free > 0) {
        return pool_free[--npool_free];
    }
    return mg_pool_create(MG_HTTP_POOL_SIZE);
}

void mg__conn_pool_give(mg_pool_t *p)
{
    mg_pool_reset(p);
    if (npool_free < POOL_FREE_MAX) {
        pool_free[npool_free++] = p;
    } else {
        mg_pool_destroy(p);
    }
}

/* ---- giving memory back after a burst ---- */

#define TRIM_EVERY_TICKS 2      /* the check runs every other tick */
#define TRIM_MIN_RSS (4u << 20)    /* resident growth since the last trim worth a new one */
/* ... or freed heap bytes: small objects that outlived a trim (pooled upstream
 * connections, say) pin a page each, so little freed can give back much */
#define TRIM_MIN_FREED (512u << 10)
/* ... and once more this many ticks after a trim: what timers free later (idle pooled
 * upstream connections, after their keepalive_timeout) is too little to be counted, yet
 * each pins a page */
#define TRIM_SETTLE_TICKS 16
#define FREE_KEEP_QUIET 16      /* buffers and pools the free lists keep after a burst */

static struct {
    size_t peak;      /* most client connections seen since the last trim */
    unsigned ticks;
    size_t rss_after;  /* resident bytes right after the last trim */
    size_t free_after; /* free heap bytes right after it */
    unsigned since;    /* ticks since it; 0 before any */
} T;

/* The process's resident bytes (/proc/self/statm), 0 when unknown. */
static size_t rss_bytes(void)
{
    char buf[128];
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f == NULL) {
        return 0;
    }
    bool ok = fgets(buf, sizeof(buf), f) != NULL && sscanf(buf, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Cuts the free lists down to `keep` entries each. */
static void free_lists_cut(mg_worker_t *w, size_t keep)
{
    while (w->nbuf_free > keep) {
        char *b = w->buf_free;
        w->buf_free = *(void **)b;
        w->nbuf_free--;
        free(b);
    }
    while ((size_t)npool_free > keep) {
        mg_pool_destroy(pool_free[--npool_free]);
    }
}

bool mg__mem_trim_due(size_t peak, size_t nconns, unsigned since, size_t rss, size_t rss_after,
                      size_t freed, size_t free_after)
{
    if (nconns * 2 > peak) {
        return false; /* a steady load reuses what it freed: only after a fall */
    }
    if (since == TRIM_SETTLE_TICKS) {
        return true;
    }
    /* Either says another trim gives back: more resident (pages trimmed before were
     * touched again by requests still running then, and freed again: the free count
     * stayed put), or more memory freed since the last one (the rest of a burst
     * ended). */
    return rss > rss_after + TRIM_MIN_RSS || freed > free_after + TRIM_MIN_FREED;
}

bool mg_http_mem_tick(mg_worker_t *w)
{
    T.peak = MG_MAX(T.peak, w->nconns);
    if (T.since > 0 && T.since <= TRIM_SETTLE_TICKS) {
        T.since++;
    }
    if (T.since == TRIM_SETTLE_TICKS) {
        return mg__mem_trim_due(T.peak, w->nconns, T.since, 0, 0, 0, 0);
    }
    if (++T.ticks % TRIM_EVERY_TICKS != 0 || w->nconns * 2 > T.peak) {
        return false; /* mallinfo2() walks the free chunks: not while busy */
    }
    size_t freed = mallinfo2().fordblks;
    if (freed < T.free_after) {
        T.free_after = freed; /* the heap was reused: count from here */
    }
    return mg__mem_trim_due(T.peak, w->nconns, T.since, rss_bytes(), T.rss_after, freed,
                            T.free_after);
}

void mg_http_mem_trim(mg_worker_t *w)
{
    size_t before = rss_bytes();
    free_lists_cut(w, FREE_KEEP_QUIET);
    malloc_trim(0);
    T.rss_after = rss_bytes();
    T.free_after = mallinfo2().fordblks; /* a trim leaves the chunks free, pages gone */
    T.peak = w->nconns;
    T.since = T.since == TRIM_SETTLE_TICKS ? TRIM_SETTLE_TICKS + 1 : 1; /* settled once */
    mg_log_info("memory given back after a burst: resident %zu KiB -> %zu KiB, %zu connection(s)",
                before >> 10, T.rss_after >> 10, w->nconns);
}
