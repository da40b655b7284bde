/*
 * http_buf.c -- the client side's memory: read buffers and request pools come from
 * per-process free lists (one worker per process), so a keep-alive benchmark mallocs
 * nothing per request and an idle connection holds neither.
 */
#include "http_conn_int.h"

#include "conf.h"
#include "gen.h"
#include "pool.h"
#include "worker.h"

#include <stdlib.h>

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
    size_t cap = MG_MIN((size_t)c->cap * 2, limit);
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
