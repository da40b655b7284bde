/*
 * http_proxy.c -- relays one request to an upstream node and the response back.
 *
 * One proxy_t per proxied request, taken from a per-process free list (so a keep-alive
 * benchmark mallocs nothing per request) and holding the response read buffer. Its
 * life:
 *
 *   try_start ─ pick a node (balancer, skipping tried ones), take a pooled connection or
 *   │           connect; the head and whatever body is buffered go out in one writev
 *   ├─ flush_out / on_body: request body streams up through a bounded buffer; the
 *   │           client is paused (MG_AGAIN) while it is full
 *   ├─ do_read: llhttp (response mode, strict) parses; the first body bytes go down in
 *   │           one write with the response head; downstream backpressure stops reads
 *   └─ complete: connection back to the pool when both messages were whole
 *
 * A failure before any response byte goes through mg_proxy_retry_decide(); after the
 * head went to the client the only honest answer is to cut the client connection.
 *
 * Re-entrancy: mg_http_write() may run on_abort, and mg_http_body_resume() may run
 * on_body, inside our own frames. Every entry point brackets its work with
 * enter()/leave(); an abort only marks the proxy dead while it is busy, and the
 * outermost leave() frees it, so no frame ever touches freed memory.
 */
#include "http_proxy_int.h"

#include "clock.h"
#include "gen.h"
#include "http.h"
#include "lua_runtime.h"
#include "pool.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

static proxy_t *free_list;
static int nfree;

static const mg_http_handler_t detached_handler = {NULL, NULL, NULL, NULL};

static void try_start(proxy_t *p, bool fresh_same_node);
static void start_after_body(proxy_t *p);
static void flush_out(proxy_t *p, bool may_read);

/* ---- lifetime ---- */

static proxy_t *proxy_new(void)
{
    proxy_t *p = free_list;
    if (p != NULL) {
        free_list = p->next_free;
        nfree--;
    } else if ((p = malloc(sizeof(*p))) == NULL) {
        return NULL;
    }
    memset(p, 0, offsetof(proxy_t, hdr));
    return p;
}

static void proxy_free(proxy_t *p)
{
    if (nfree >= PROXY_FREE_MAX) {
        free(p);
        return;
    }
    p->next_free = free_list;
    free_list = p;
    nfree++;
}

static void enter(proxy_t *p)
{
    p->busy++;
}

static void leave(proxy_t *p)
{
    if (--p->busy == 0 && p->dead) {
        proxy_free(p);
    }
}

static void conn_stop(proxy_t *p)
{
    if (p->conn != NULL && p->io_events != 0) {
        ev_io_stop(p->loop, &p->conn->io);
    }
    p->io_events = 0;
}

/* Gives the try's connection back (keep = poolable) and stops its timer. */
static void conn_drop(proxy_t *p, bool keep)
{
    ev_timer_stop(p->loop, &p->timer);
    if (p->conn != NULL) {
        conn_stop(p);
        mg_upstream_release(p->conn, keep);
        p->conn = NULL;
    }
    p->connecting = false;
}

/* Unhooks the proxy from its request; it is freed when the last frame leaves. */
static mg_request_t *detach(proxy_t *p, bool keep)
{
    mg_request_t *r = p->r;
    mg__proxy_try_end(p, false, false); /* the request ends mid-try: e.g. client gone */
    conn_drop(p, keep);
    if (p->waiting) {
        p->waiting = false;
        mg_health_pending_leave(p->up);
    }
    if (p->trial) {
        mg__proxy_observe(p, MG_HEALTH_NONE);
    }
    if (p->ref != NULL) {
        p->ref->p = NULL;
        p->ref = NULL;
    }
    if (r != NULL) {
        r->handler = &detached_handler;
        r->handler_data = NULL;
    }
    p->r = NULL;
    p->dead = true;
    return r;
}

static void kill_proxy(proxy_t *p)
{
    p->r = NULL; /* the request is going away: never touch it again */
    detach(p, false);
    if (p->busy == 0) {
        proxy_free(p);
    }
}

/* Pool cleanup: the request ended without telling us (or after we detached). */
static void on_pool_cleanup(void *data)
{
    proxy_ref_t *ref = data;
    if (ref->p != NULL) {
        kill_proxy(ref->p);
    }
}

void mg__proxy_finish(proxy_t *p, bool ok, bool keep)
{
    mg_request_t *r = detach(p, keep);
    if (r != NULL) {
        mg_http_finish(r, ok);
    }
}

void mg__proxy_fail(proxy_t *p, int status)
{
    if (p->r != NULL) {
        p->r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(p->r);
    }
    if (p->r != NULL && p->r->header_sent) {
        mg__proxy_finish(p, false, false);
        return;
    }
    mg_request_t *r = detach(p, false);
    if (r != NULL) {
        mg_http_error(r, status);
    }
}

void mg__proxy_observe(proxy_t *p, mg_health_outcome_t o)
{
    mg_health_observe(p->up, p->node, o, p->trial);
    p->trial = false;
}

void mg__proxy_log_try(proxy_t *p, mg_log_level_t level, const char *what, const char *why)
{
    mg_request_t *r = p->r;
    mg_log_error(level, "upstream \"%s\" node %s: %s%s%s, client: %.*s, request_id: %.*s",
                 p->up->conf->name, mg_upstream_node_addr(p->up, p->node), what,
                 why != NULL ? ": " : "", why != NULL ? why : "", (int)r->remote_addr.len,
                 r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
}

/* ---- watchers ---- */

static bool out_pending(const proxy_t *p)
{
    return !p->out_broken && (p->hsent < p->hlen || p->bsent < p->blen);
}

bool mg__proxy_request_sent(const proxy_t *p)
{
    return !out_pending(p) && !p->out_broken && (p->body_done || !p->r->has_body);
}

void mg__proxy_update_io(proxy_t *p)
{
    if (p->conn == NULL || p->connecting) {
        return;
    }
    unsigned ev = (out_pending(p) ? EV_WRITE : 0) | (p->down_paused ? 0 : EV_READ);
    if (ev == p->io_events) {
        return;
    }
    if (p->io_events != 0) {
        ev_io_stop(p->loop, &p->conn->io);
    }
    p->io_events = ev;
    if (ev != 0) {
        ev_io_modify(&p->conn->io, (int)ev); /* same fd: no forced epoll_ctl */
        ev_io_start(p->loop, &p->conn->io);
    }
}

/* Re-arms the one timer for what we wait on now: a write (send timeout), the response
 * (read timeout), or nothing of the upstream's doing (stopped). */
void mg__proxy_touch_timer(proxy_t *p)
{
    const mg_upstream_conf_t *c = p->up->conf;
    double t = 0;
    if (p->conn == NULL || p->connecting) {
        return;
    }
    if (out_pending(p)) {
        t = c->send_timeout;
    } else if (!p->down_paused && (p->resp_started || mg__proxy_request_sent(p) || p->out_broken)) {
        t = c->read_timeout;
    }
    if (t <= 0) {
        ev_timer_stop(p->loop, &p->timer);
        return;
    }
    p->timer.repeat = t;
    ev_timer_again(p->loop, &p->timer);
}

static void try_connect(proxy_t *p);

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    proxy_t *p = w->data;
    enter(p);
    if (p->waiting) {
        try_connect(p);
    } else if (p->connecting) {
        mg__proxy_try_failed(p, MG_PROXY_ERR_CONNECT_TIMEOUT, NULL);
    } else if (!p->head_done) {
        mg__proxy_try_failed(p, MG_PROXY_ERR_TIMEOUT, out_pending(p) ? "sending" : "reading");
    } else {
        mg__proxy_log_try(p, MG_LOG_ERROR, "timed out reading the response body", NULL);
        mg__proxy_finish(p, false, false);
    }
    leave(p);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy_t *p = w->data;
    unsigned id = p->try_id;
    enter(p);
    if ((revents & EV_WRITE) && !p->dead) {
        flush_out(p, true);
    }
    if ((revents & EV_READ) && !p->dead && p->try_id == id && p->conn != NULL) {
        mg__proxy_do_read(p);
    }
    leave(p);
}

static void connected(proxy_t *p)
{
    if (p->r != NULL) {
        p->r->upstream_connect_time = mg_mono_now() - p->try_began;
    }
    p->connecting = false;
    p->conn->requests++;
    /* the fd was set when the connection was made: ev_io_init would make libev
     * re-register it with epoll on every request */
    ev_set_cb(&p->conn->io, on_io);
    ev_io_modify(&p->conn->io, 0);
    p->conn->io.data = p;
    p->io_events = 0;
    flush_out(p, true);
    if (!p->dead && p->conn != NULL) {
        mg__proxy_update_io(p);
        mg__proxy_touch_timer(p);
    }
}

static void on_connect_io(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy_t *p = w->data;
    enter(p);
    int rc = mg_upstream_connect_result(p->conn);
    ev_io_stop(loop, w);
    p->io_events = 0;
    ev_timer_stop(loop, &p->timer);
    if (rc == 0) {
        connected(p);
    } else {
        mg__proxy_try_failed(p, MG_PROXY_ERR_CONNECT, strerror(-rc));
    }
    leave(p);
}

int mg_proxy_handler(mg_request_t *r, const void *data)
{
    if (mg_http_continue(r) == MG_OK) {
        mg_proxy_start(r);
    }
    return MG_DONE;
}

/* ---- tries ---- */

static void try_reset(proxy_t *p);

/* The node of the next try: a Lua balancer's choice on the first try, else the
 * balancer's among the nodes neither tried nor unavailable (health.h). Returns -1 after
 * answering the request when none is left: 503 at once when no node was available to
 * begin with, else the status of the last failure. */
static int pick_node(proxy_t *p)
{
    mg_upstream_t *up = p->up;
    int node = p->tries == 0 && p->r->lua != NULL ? mg_lua_peer(p->r) : -1;
    if (node >= 0) {
        return node; /* the plugin owns its choice */
    }
    if (mg_health_filter(up, &p->bctx) > 0) {
        while ((node = mg_balancer_pick(&up->balancer, &p->bctx)) >= 0) {
            if (mg_health_begin(up, node, &p->trial) == MG_OK) {
                return node;
            }
            mg_balancer_skip(&p->bctx, (size_t)node); /* its last trial slot went elsewhere */
        }
    }
    if (p->tries == 0) {
        mg_request_t *r = p->r;
        mg_log_err("upstream \"%s\": no healthy upstream node, client: %.*s, request_id: %.*s",
                   up->conf->name, (int)r->remote_addr.len, r->remote_addr.p,
                   (int)r->request_id.len, r->request_id.p);
        mg__proxy_fail(p, 503);
    } else {
        mg__proxy_fail(p, mg_proxy_err_status(p->last_err));
    }
    return -1;
}

static void try_start(proxy_t *p, bool fresh_same_node)
{
    mg_upstream_t *up = p->up;
    if (!fresh_same_node) {
        if (p->tries == 0) {
            mg_health_request(up);
        }
        int node = pick_node(p);
        if (node < 0) {
            return;
        }
        p->node = node;
        mg_balancer_skip(&p->bctx, (size_t)node);
        p->tries++;
    }
    try_reset(p);
    p->r->upstream_addr =
        mg_str(mg_upstream_node_addr(up, p->node), strlen(mg_upstream_node_addr(up, p->node)));
    mg__proxy_try_end(p, false, false); /* never two open tries */
    p->try_open = true;
    p->try_began = mg_mono_now();
    mg_upstream_try_begin(up, p->node);

    p->conn = fresh_same_node ? NULL : mg_upstream_acquire(up, p->node);
    if (p->conn != NULL) {
        connected(p);
        return;
    }
    try_connect(p);
}

/* At max_connections: waits (polling, since the connection that frees a slot may be
 * another worker's) while fewer than max_pending requests wait, for at most the connect
 * timeout; else 503 at once. */
static void conn_wait(proxy_t *p)
{
    mg_upstream_t *up = p->up;
    const mg_health_conf_t *h = &up->conf->health;
    double limit = up->conf->connect_timeout > 0 ? up->conf->connect_timeout : 3.;
    const char *why = NULL;
    if (!p->waiting) {
        if (mg_health_pending_enter(up)) {
            p->waiting = true;
            p->wait_start = ev_now(p->loop);
        } else {
            why = "max_pending requests already wait";
        }
    } else if (ev_now(p->loop) - p->wait_start >= limit) {
        why = "no connection freed within the connect timeout";
    }
    if (why != NULL) {
        mg_request_t *r = p->r;
        mg_log_warn("upstream \"%s\": at max_connections (%d) and %s: 503, client: %.*s, "
                    "request_id: %.*s",
                    up->conf->name, h->max_connections, why, (int)r->remote_addr.len,
                    r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
        mg__proxy_fail(p, 503);
        return;
    }
    p->timer.repeat = 0.01;
    ev_timer_again(p->loop, &p->timer);
}

/* Opens the try's connection (no pooled one was usable). */
static void try_connect(proxy_t *p)
{
    mg_upstream_t *up = p->up;
    int rc = mg_upstream_connect(up, p->node, &p->conn);
    if (rc == -EBUSY && mg_upstream_evict_idle(up)) {
        rc = mg_upstream_connect(up, p->node, &p->conn); /* an idle one made room */
    }
    if (rc == -EBUSY) {
        conn_wait(p);
        return;
    }
    if (p->waiting) {
        p->waiting = false;
        mg_health_pending_leave(up);
        ev_timer_stop(p->loop, &p->timer);
    }
    if (rc == MG_OK) {
        connected(p);
    } else if (rc == MG_AGAIN) {
        p->connecting = true;
        ev_set_cb(&p->conn->io, on_connect_io);
        ev_io_modify(&p->conn->io, EV_WRITE);
        p->conn->io.data = p;
        ev_io_start(p->loop, &p->conn->io);
        p->io_events = EV_WRITE;
        p->timer.repeat = up->conf->connect_timeout > 0 ? up->conf->connect_timeout : 3.;
        ev_timer_again(p->loop, &p->timer);
    } else if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
        mg__proxy_try_failed(p, MG_PROXY_ERR_NO_SOCKET, strerror(-rc));
    } else {
        mg__proxy_try_failed(p, MG_PROXY_ERR_CONNECT, strerror(-rc));
    }
}

void mg__proxy_try_end(proxy_t *p, bool failed, bool measured)
{
    if (!p->try_open) {
        return;
    }
    p->try_open = false;
    double took = mg_mono_now() - p->try_began;
    mg_upstream_try_end(p->up, p->node, failed, failed || measured ? took : -1);
}

/* Forgets what the previous try sent and received; the buffered request is replayed. */
static void try_reset(proxy_t *p)
{
    p->try_id++;
    p->hsent = 0;
    p->bsent = 0;
    p->wrote = false;
    p->out_broken = false;
    p->rlen = 0;
    p->resp_started = false;
    p->head_done = false;
    p->resp_done = false;
    p->extra = false;
    p->nhdr = 0;
    p->in_value = false;
    p->reason = MG_NULL_STR;
    p->why = NULL;
    llhttp_reset(&p->parser);
}

void mg__proxy_try_failed(proxy_t *p, mg_proxy_err_t err, const char *why)
{
    mg_proxy_try_t t = {
        .err = err,
        .method = p->r->method,
        .sent = p->wrote,
        .replayable = !p->body_dropped,
        .reused = p->conn != NULL && p->conn->reused,
        .stale_retried = p->stale_retried,
        .tries = p->tries,
        .retries = p->up->conf->retries,
        .elapsed = ev_now(p->loop) - p->first_start,
        .retry_timeout = p->up->conf->retry_timeout,
        .no_budget = !mg_health_retry_allowed(p->up),
    };
    mg__proxy_log_try(p, MG_LOG_WARN, mg_proxy_err_name(err), why);
    p->last_err = err;
    int rc = mg_proxy_retry_decide(&t);
    /* out of descriptors is ours, and a pooled connection closed under us is the
     * keep-alive race: neither says anything about the node */
    bool node_fault = err != MG_PROXY_ERR_NO_SOCKET && !(t.reused && err == MG_PROXY_ERR_IO);
    mg__proxy_try_end(p, node_fault, false);
    conn_drop(p, false);
    mg__proxy_observe(p, node_fault ? MG_HEALTH_FAILURE : MG_HEALTH_NONE);

    if (rc >= 300 && t.no_budget) {
        t.no_budget = false;
        if (mg_proxy_retry_decide(&t) == MG_PROXY_RETRY) {
            mg__proxy_log_try(p, MG_LOG_WARN, "not retried", "the retry budget is spent");
        }
    }
    if (rc == MG_PROXY_RETRY) {
        mg_health_retry_spend(p->up);
        try_start(p, false);
    } else if (rc == MG_PROXY_RETRY_FRESH) {
        p->stale_retried = true;
        try_start(p, true);
    } else {
        mg__proxy_fail(p, rc);
    }
}

/* ---- request going up ---- */

/* Writes the head and buffered body; resumes the client once the buffer drained. With
 * may_read, a write error hands over to mg__proxy_do_read() so that an answer the upstream sent
 * before closing (say a 413) still reaches the client. */
static void flush_out(proxy_t *p, bool may_read)
{
    if (p->in_flush || p->conn == NULL || p->connecting) {
        return;
    }
    p->in_flush = true;
    bool progress = false;
    while (out_pending(p)) {
        struct iovec iov[2];
        int n = 0;
        if (p->hsent < p->hlen) {
            iov[n++] = (struct iovec){p->head + p->hsent, p->hlen - p->hsent};
        }
        if (p->bsent < p->blen) {
            iov[n++] = (struct iovec){p->body + p->bsent, p->blen - p->bsent};
        }
        ssize_t w = mg_transport_writev(&p->conn->tp, iov, n);
        if (w < 0) {
            if (w != -EAGAIN) {
                p->out_broken = true;
            }
            break;
        }
        progress = true;
        p->wrote = true;
        size_t hw = MG_MIN((size_t)w, p->hlen - p->hsent);
        p->hsent += hw;
        p->bsent += (size_t)w - hw;
        if (!out_pending(p) && p->body_paused && p->r != NULL) {
            p->body_paused = false;
            mg_http_body_resume(p->r); /* may append through on_body */
            if (p->dead) {
                break;
            }
        }
    }
    p->in_flush = false;
    if (p->dead || p->conn == NULL) {
        return;
    }
    mg__proxy_update_io(p);
    if (progress || p->out_broken) {
        mg__proxy_touch_timer(p);
    }
    if (p->out_broken && may_read) {
        mg__proxy_do_read(p);
    }
}

/* Appends to the body buffer, growing it while the whole body still fits the replay
 * window and sliding out sent bytes beyond that (then no replay is possible). */
static int body_reserve(proxy_t *p, size_t need)
{
    if (p->blen + need <= p->bcap) {
        return MG_OK;
    }
    if (p->bsent > 0 && p->blen + need > PROXY_BODY_MAX) {
        memmove(p->body, p->body + p->bsent, p->blen - p->bsent);
        p->blen -= p->bsent;
        p->bsent = 0;
        p->body_dropped = true;
        if (p->blen + need <= p->bcap) {
            return MG_OK;
        }
    }
    size_t cap = MG_MAX(p->blen + need, MG_MIN(p->bcap * 2, (size_t)PROXY_BODY_MAX));
    char *nb = mg_pool_alloc(p->r->pool, cap);
    if (nb == NULL) {
        return MG_ERROR;
    }
    if (p->blen > 0) {
        memcpy(nb, p->body, p->blen);
    }
    p->body = nb;
    p->bcap = cap;
    return MG_OK;
}

static void body_append(proxy_t *p, const char *data, size_t len)
{
    if (p->r->chunked) {
        int n = snprintf(p->body + p->blen, 20, "%zx\r\n", len);
        p->blen += (size_t)n;
        memcpy(p->body + p->blen, data, len);
        p->blen += len;
        memcpy(p->body + p->blen, "\r\n", 2);
        p->blen += 2;
    } else {
        memcpy(p->body + p->blen, data, len);
        p->blen += len;
    }
}

static int on_req_body(mg_request_t *r, const char *data, size_t len)
{
    proxy_t *p = r->handler_data;
    int rc = MG_OK;
    if (p == NULL || len == 0) {
        return MG_OK;
    }
    enter(p);
    if (body_reserve(p, len + (r->chunked ? 24 : 0)) != MG_OK) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "out of memory buffering the request body", NULL);
        mg__proxy_fail(p, 500);
    } else {
        body_append(p, data, len);
        if (p->body_wait && p->blen >= PROXY_BODY_MAX) {
            start_after_body(p);
        }
        /* no reads here: finishing the request from inside the client's own body
         * callback is left to the upstream watcher */
        flush_out(p, false);
        if (!p->dead && p->blen - p->bsent >= PROXY_BODY_MAX) {
            p->body_paused = true;
            rc = MG_AGAIN;
        }
    }
    leave(p);
    return rc;
}

/* The first try starts once the body is complete or fills the buffer: a body up to
 * PROXY_BODY_MAX is checked whole (framing, limits) before a byte goes upstream, so a
 * request the client side rejects halfway reaches no upstream (nginx buffers bodies
 * the same way, on disk). Larger bodies stream from there with bounded memory. */
static void start_after_body(proxy_t *p)
{
    p->body_wait = false;
    p->first_start = ev_now(p->loop);
    try_start(p, false);
}

static void on_req_body_end(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p == NULL) {
        return;
    }
    enter(p);
    if (r->chunked) {
        if (body_reserve(p, 5) == MG_OK) {
            memcpy(p->body + p->blen, "0\r\n\r\n", 5);
            p->blen += 5;
        }
    }
    p->body_done = true;
    if (p->body_wait) {
        start_after_body(p);
    }
    flush_out(p, false);
    if (!p->dead && p->conn != NULL && !p->connecting) {
        mg__proxy_touch_timer(p);
    }
    leave(p);
}

static void on_client_writable(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p == NULL || !p->down_paused) {
        return;
    }
    enter(p);
    p->down_paused = false;
    mg__proxy_update_io(p);
    mg__proxy_touch_timer(p);
    leave(p);
}

static void on_client_abort(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p != NULL) {
        kill_proxy(p);
    }
}

static const mg_http_handler_t proxy_handler = {
    .on_body = on_req_body,
    .on_body_end = on_req_body_end,
    .on_writable = on_client_writable,
    .on_abort = on_client_abort,
};

/* ---- start ---- */

/* Plugins may have read some or all of the body before the proxy took over: it goes
 * first, then the client is resumed for the rest. */
static void take_plugin_body(proxy_t *p)
{
    mg_request_t *r = p->r;
    const char *data;
    size_t len;
    bool done;
    if (r->lua == NULL || !mg_lua_take_body(r, &data, &len, &done)) {
        if (r->body_held) {
            r->body_held = false; /* held while a rate limit waited: read it now */
            mg_http_body_resume(r);
        }
        return;
    }
    int rc = len > 0 ? on_req_body(r, data, len) : MG_OK;
    if (p->dead) {
        return;
    }
    if (done) {
        on_req_body_end(r);
    } else if (rc == MG_OK) {
        mg_http_body_resume(r);
    }
}

void mg_proxy_start(mg_request_t *r)
{
    const mg_upstream_conf_t *uc = r->match.route->upstream;
    proxy_t *p = proxy_new();
    proxy_ref_t *ref = mg_pool_alloc(r->pool, sizeof(*ref));
    size_t hsize = mg_proxy_request_head_size(r, uc->host);
    char *head = mg_pool_alloc(r->pool, hsize);
    if (p == NULL || ref == NULL || head == NULL ||
        mg_pool_cleanup_add(r->pool, on_pool_cleanup, ref) != MG_OK) {
        if (p != NULL) {
            proxy_free(p);
        }
        mg_log_err("out of memory proxying, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        mg_http_error(r, 500);
        return;
    }
    ref->p = p;
    p->ref = ref;
    p->r = r;
    p->up = r->gen->upstreams[uc->index];
    p->loop = r->worker->loop;
    p->head = head;
    p->hlen = mg_proxy_build_request_head(r, uc->host, head);
    p->first_start = ev_now(p->loop);
    p->bctx.hash_key = mg_balancer_key(uc, r);
    if (r->has_body && r->content_length >= 0) {
        p->bcap = (size_t)MG_MIN(r->content_length, (int64_t)PROXY_BODY_MAX);
    } else if (r->has_body) {
        p->bcap = PROXY_BODY_MIN;
    }
    if (p->bcap > 0 && (p->body = mg_pool_alloc(r->pool, p->bcap)) == NULL) {
        p->bcap = 0;
    }
    ev_init(&p->timer, on_timer);
    p->timer.data = p;
    llhttp_init(&p->parser, HTTP_RESPONSE, &mg__proxy_resp_settings);
    p->parser.data = p;

    r->handler = &proxy_handler;
    r->handler_data = p;
    enter(p);
    if (r->has_body) {
        p->body_wait = true; /* see start_after_body() */
        take_plugin_body(p);
    } else {
        try_start(p, false);
    }
    leave(p);
}
