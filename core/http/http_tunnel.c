/*
 * http_tunnel.c -- the HTTP/1 session's tunnel mode: after a 101 head the connection
 * stops parsing HTTP and carries raw bytes both ways for a producer (the proxy's
 * WebSocket tunnel). This file opens the mode and writes for it; the driver in
 * http_conn.c hands the client's bytes over (tunnel_feed) and reports its end of stream.
 *
 * An open tunnel costs what an idle keep-alive connection costs plus its request: the
 * head is copied into the request's pool when the tunnel opens, so the read buffer goes
 * back to the free list whenever the client has nothing pending, and the output buffer
 * is freed once drained (http_conn.c).
 */
#include "http_conn_int.h"

#include "conf.h"
#include "gen.h"
#include "log.h"
#include "pool.h"
#include "websocket.h"
#include "worker.h"

#include <stdio.h>

/* handshakes of this worker between their check and their end (open or failed) */
static int64_t pending;

void mg_http_tunnel_pending(int delta)
{
    pending += delta;
}

int64_t mg_http_tunnels_open(const mg_worker_t *w)
{
    int64_t n = pending;
    if (w->all_stats == NULL) {
        return n;
    }
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            n += __atomic_load_n(&s->conn_states[MG_C_TUNNEL], __ATOMIC_RELAXED);
        }
    }
    return n;
}

void mg__http_ws_refuse(mg_request_t *r, int status, const char *why)
{
    mg_conn_t *c = r->conn;
    mg_worker_stats_t *s = c->w->stats;
    __atomic_store_n(&s->bad_requests, s->bad_requests + 1, __ATOMIC_RELAXED);
    mg_log_info("rejected with %d: %s, client: %s, request_id: %.*s", status, why, c->addr,
                (int)r->request_id.len, r->request_id.p);
    c->want_close = true;
    if (status != 426) {
        mg_http_error(r, status);
        return;
    }
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":\"upgrade required\",\"status\":426,\"request_id\":\"%.*s\"}\n",
                     (int)MG_MIN(r->request_id.len, 128), r->request_id.p);
    const mg_header_t hdrs[] = {
        {MG_STR("Content-Type"), MG_STR("application/json")},
        {MG_STR("Sec-WebSocket-Version"), MG_STR("13")},
    };
    mg_http_respond_headers(r, 426, hdrs, MG_NELEMS(hdrs), body, (size_t)n);
}

/* A view into the head [lo, lo + len) of the read buffer moves to the same place in
 * `copy`; views elsewhere (the pool, the config) stay. */
static void rebase(mg_str_t *s, const char *lo, size_t len, const char *copy)
{
    if (s->p != NULL && s->p >= lo && s->p < lo + len) {
        s->p = copy + (s->p - lo);
    }
}

/* Copies the request head out of the read buffer into the pool, so that the buffer can
 * go while the tunnel idles, and moves the bytes the client sent after its handshake to
 * the buffer's front. MG_ERROR when out of memory. */
static int head_to_pool(mg_conn_t *c, mg_request_t *r)
{
    const char *lo = c->buf + c->hs;
    size_t len = c->body_base > c->hs ? c->body_base - c->hs : 0;
    char *copy = mg_pool_alloc(r->pool, len ? len : 1);
    if (copy == NULL) {
        return MG_ERROR;
    }
    memcpy(copy, lo, len);
    mg_str_t *views[] = {&r->target,     &r->query,  &r->host_header, &r->connection,
                         &r->request_id, &r->ws_key, &r->path,        &r->match.wildcard};
    for (size_t i = 0; i < MG_NELEMS(views); i++) {
        rebase(views[i], lo, len, copy);
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        rebase(&r->headers[i].name, lo, len, copy);
        rebase(&r->headers[i].value, lo, len, copy);
    }
    for (size_t i = 0; i < r->match.nparams; i++) {
        rebase(&r->match.params[i].value, lo, len, copy);
    }
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = c->hs = c->body_base = 0;
    if (c->len == 0) {
        mg__buf_give(c);
    }
    return MG_OK;
}

int mg_http_tunnel_open(mg_request_t *r, const mg_http_handler_t *h, void *data)
{
    mg_conn_t *c = r->conn;
    int rc = MG_OK;
    mg__conn_enter(c);
    r->keepalive = false; /* the connection ends with the tunnel */
    if (c->buf != NULL && head_to_pool(c, r) != MG_OK) {
        mg__conn_abort(c, 0, "out of memory opening a tunnel");
        rc = MG_ERROR;
        goto out;
    }
    r->tunnel = true;
    r->handler = h;
    r->handler_data = data;
    c->paused = false;
    c->msg_done = true; /* nothing of HTTP is parsed on this connection any more */
    mg__conn_set_state(c, MG_C_TUNNEL);
    /* the 101 head, held back by the session writer until now */
    if (c->session->send_body(r, NULL, 0, false) == MG_ERROR) {
        rc = MG_ERROR;
    }
out:
    mg__conn_leave(c); /* the driver hands over what the client already sent */
    return rc;
}

int mg_http_tunnel_write(mg_request_t *r, const char *data, size_t len)
{
    r->body_bytes_sent += len; /* the tunnel's bytes are its body, for the log */
    return mg_http_write(r, data, len);
}
