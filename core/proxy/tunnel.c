/*
 * tunnel.c -- a WebSocket tunnel (RFC 6455 §4 done, the frames are not ours to read):
 * bytes relayed as they come between the client connection, in the session's tunnel
 * mode, and the upstream connection that carried the handshake.
 *
 *   client -> upstream: the session hands the client's bytes over (on_body); what the
 *       upstream socket does not take waits in `out`; past TUNNEL_HIGH the client is
 *       paused until the upstream took all but TUNNEL_LOW of it.
 *   upstream -> client: read into a per-process scratch buffer and written with
 *       mg_http_tunnel_write(), which keeps what the client does not take; when that is
 *       over the session's mark, upstream reads stop until on_writable.
 *
 * Ends: the upstream's end of stream ends the tunnel once what it sent is out to the
 * client (the session then shuts the client side and closes). The client's end of
 * stream is passed on (the upstream's write side is shut once `out` is written) and
 * the upstream gets TUNNEL_HALF_CLOSE seconds to finish; a reset or a timeout on
 * either side ends it at once. An idle tunnel holds no buffer of its own: `out` is
 * freed whenever it is drained.
 *
 * The tunnel lives in its request's pool and keeps the request (and so its generation)
 * until it ends: a reload in place never cuts it.
 */
#include "tunnel.h"

#include "bytes.h"
#include "conf.h"
#include "gen.h"
#include "log.h"
#include "pool.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TUNNEL_HIGH (64 * 1024) /* bytes waiting for the upstream: pause the client */
#define TUNNEL_LOW (16 * 1024)  /* ... and resume it under this */
#define TUNNEL_HALF_CLOSE 5.0   /* seconds the upstream has after the client's end */
#define TUNNEL_READ (16 * 1024) /* one read from the upstream (a TLS record) */

typedef struct {
    mg_request_t *r;        /* NULL once the request is gone */
    mg_upstream_conn_t *uc; /* owned; NULL once closed */
    struct ev_loop *loop;
    ev_timer timer;       /* lazily re-armed towards deadline() */
    double idle_timeout;  /* the route's timeouts.tunnel */
    double send_timeout;  /* the upstream's timeouts.send */
    double opened;        /* when the 101 went down */
    double last_active;   /* the last byte moved, either way */
    double up_progress;   /* the last write to the upstream (or when `out` filled) */
    double client_eof_at; /* when the client shut its side (0: not yet) */
    char *out;            /* client bytes the upstream has not taken: [opos, olen) */
    size_t ocap, olen, opos;
    unsigned io_events, rd_want, wr_want;
    bool up_paused;     /* the client's output is full: no upstream reads */
    bool client_paused; /* we said MG_AGAIN to the session */
    bool up_shut;       /* the upstream's write side was shut */
    bool done;          /* ended: nothing moves any more */
} tunnel_t;

static char scratch[TUNNEL_READ];

static bool out_pending(const tunnel_t *t)
{
    return t->olen > t->opos;
}

static double now(const tunnel_t *t)
{
    return ev_now(t->loop);
}

/* ---- watchers ---- */

static void update_io(tunnel_t *t)
{
    if (t->uc == NULL) {
        return;
    }
    unsigned ev = 0;
    if (!t->up_paused) {
        ev |= t->rd_want != 0 ? t->rd_want : EV_READ;
    }
    if (out_pending(t)) {
        ev |= t->wr_want != 0 ? t->wr_want : EV_WRITE;
    }
    if (ev != t->io_events) {
        ev_io_stop(t->loop, &t->uc->io);
        if (ev != 0) {
            ev_io_modify(&t->uc->io, (int)ev);
            ev_io_start(t->loop, &t->uc->io);
        }
        t->io_events = ev;
    }
}

static double deadline(const tunnel_t *t)
{
    double d = t->last_active + t->idle_timeout;
    if (out_pending(t) && t->send_timeout > 0) {
        d = MG_MIN(d, t->up_progress + t->send_timeout);
    }
    if (t->client_eof_at > 0) {
        d = MG_MIN(d, t->client_eof_at + TUNNEL_HALF_CLOSE);
    }
    return d;
}

static void arm(tunnel_t *t)
{
    t->timer.repeat = MG_MAX(deadline(t) - now(t), 0.001);
    ev_timer_again(t->loop, &t->timer);
}

/* ---- the end ---- */

/* Closes the upstream side and stops everything of ours; the request is left alone. */
static void close_upstream(tunnel_t *t)
{
    if (t->uc != NULL) {
        ev_io_stop(t->loop, &t->uc->io);
        mg_upstream_release(t->uc, false); /* a switched connection is never pooled */
        t->uc = NULL;
    }
    ev_timer_stop(t->loop, &t->timer);
    free(t->out);
    t->out = NULL;
    t->ocap = t->olen = t->opos = 0;
    t->done = true;
}

/* Ends the tunnel: the upstream closes, the request ends (what the client has pending is
 * flushed before its connection closes) and its log phase runs. */
static void tunnel_end(tunnel_t *t, const char *why)
{
    mg_request_t *r = t->r;
    close_upstream(t);
    t->r = NULL;
    if (r == NULL) {
        return;
    }
    r->upstream_time = MG_MAX(r->upstream_header_time, 0) + (now(t) - t->opened);
    if (why != NULL) {
        mg_log_info("tunnel closed: %s, client: %.*s, request_id: %.*s", why,
                    (int)r->remote_addr.len, r->remote_addr.p, (int)r->request_id.len,
                    r->request_id.p);
    }
    mg_http_finish(r, true);
}

static void on_pool_cleanup(void *data)
{
    tunnel_t *t = data;
    t->r = NULL;
    close_upstream(t);
}

/* ---- client -> upstream ---- */

/* Writes what waits for the upstream. MG_OK, or MG_ERROR when the tunnel ended. */
static int flush_up(tunnel_t *t)
{
    while (out_pending(t)) {
        ssize_t n = mg_transport_write(&t->uc->tp, t->out + t->opos, t->olen - t->opos);
        t->wr_want = n == -EAGAIN ? (unsigned)t->uc->tp.want : 0;
        if (n == -EAGAIN) {
            break;
        }
        if (n < 0) {
            tunnel_end(t, "upstream connection reset");
            return MG_ERROR;
        }
        t->opos += (size_t)n;
        t->up_progress = t->last_active = now(t);
    }
    if (!out_pending(t)) {
        free(t->out); /* an idle tunnel holds no buffer */
        t->out = NULL;
        t->ocap = t->olen = t->opos = 0;
    }
    if (!out_pending(t) && t->client_eof_at > 0 && !t->up_shut) {
        t->up_shut = true;
        mg_transport_shutdown(&t->uc->tp); /* the client's end of stream, passed on */
    }
    if (t->client_paused && t->olen - t->opos < TUNNEL_LOW && t->r != NULL) {
        t->client_paused = false;
        mg_http_body_resume(t->r); /* may hand more bytes over at once */
    }
    return t->done ? MG_ERROR : MG_OK;
}

static int on_client_data(mg_request_t *r, const char *data, size_t len)
{
    tunnel_t *t = r->handler_data;
    if (t == NULL || t->done || len == 0) {
        return MG_OK;
    }
    t->last_active = now(t);
    size_t done = 0;
    if (!out_pending(t)) {
        ssize_t n = mg_transport_write(&t->uc->tp, data, len);
        t->wr_want = n == -EAGAIN ? (unsigned)t->uc->tp.want : 0;
        if (n < 0 && n != -EAGAIN) {
            tunnel_end(t, "upstream connection reset");
            return MG_OK;
        }
        done = n > 0 ? (size_t)n : 0;
        t->up_progress = t->last_active;
    }
    if (done < len &&
        mg_bytes_append(&t->out, &t->ocap, &t->olen, &t->opos, data + done, len - done) != MG_OK) {
        tunnel_end(t, "out of memory");
        return MG_OK;
    }
    update_io(t);
    if (t->olen - t->opos > TUNNEL_HIGH) {
        t->client_paused = true;
        return MG_AGAIN;
    }
    return MG_OK;
}

/* The client shut its side: passed on once its last bytes are written. */
static void on_client_eof(mg_request_t *r)
{
    tunnel_t *t = r->handler_data;
    if (t == NULL || t->done) {
        return;
    }
    t->client_eof_at = now(t);
    if (flush_up(t) == MG_OK) {
        update_io(t);
        arm(t);
    }
}

static void on_client_abort(mg_request_t *r)
{
    tunnel_t *t = r->handler_data;
    if (t != NULL && !t->done) {
        r->upstream_time = MG_MAX(r->upstream_header_time, 0) + (now(t) - t->opened);
        t->r = NULL; /* no mg_http_* call on r after an abort */
        close_upstream(t);
    }
}

/* ---- upstream -> client ---- */

static void on_client_writable(mg_request_t *r)
{
    tunnel_t *t = r->handler_data;
    if (t == NULL || t->done || !t->up_paused) {
        return;
    }
    t->up_paused = false;
    update_io(t);
}

/* Reads what the upstream sent and hands it to the client, until the socket is empty,
 * the client's output is full or the tunnel ends. */
static void read_up(tunnel_t *t)
{
    while (!t->done && !t->up_paused) {
        ssize_t n = mg_transport_read(&t->uc->tp, scratch, sizeof(scratch));
        t->rd_want = n == -EAGAIN ? (unsigned)t->uc->tp.want : 0;
        if (n == -EAGAIN) {
            return;
        }
        if (n <= 0) {
            if (out_pending(t)) {
                flush_up(t); /* the last of the client's bytes, if the upstream takes them */
            }
            if (!t->done) {
                tunnel_end(t, n == 0 ? NULL : "upstream connection reset");
            }
            return;
        }
        t->last_active = now(t);
        int rc = mg_http_tunnel_write(t->r, scratch, (size_t)n);
        if (t->done) {
            return; /* the client went away: on_abort closed everything */
        }
        if (rc == MG_AGAIN) {
            t->up_paused = true;
        }
        if ((size_t)n < sizeof(scratch)) {
            return; /* drained: wait for the next readiness */
        }
    }
}

static void on_up_io(struct ev_loop *loop, ev_io *w, int revents)
{
    tunnel_t *t = w->data;
    if ((revents & (t->wr_want != 0 ? t->wr_want : EV_WRITE)) && out_pending(t)) {
        if (flush_up(t) != MG_OK) {
            return;
        }
    }
    if (!t->done && !t->up_paused && (revents & (t->rd_want != 0 ? t->rd_want : EV_READ))) {
        read_up(t);
    }
    if (!t->done) {
        update_io(t);
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    tunnel_t *t = w->data;
    if (t->done) {
        return;
    }
    if (now(t) + 0.0005 < deadline(t)) {
        arm(t); /* activity moved the deadline: the timer is re-armed lazily */
        return;
    }
    const char *why = t->client_eof_at > 0 ? "upstream did not close after the client"
                      : out_pending(t)     ? "upstream timed out reading"
                                           : "idle timeout";
    tunnel_end(t, why);
}

static const mg_http_handler_t tunnel_handler = {
    .on_body = on_client_data,
    .on_body_end = on_client_eof,
    .on_writable = on_client_writable,
    .on_abort = on_client_abort,
};

/* ---- start ---- */

int mg_tunnel_admit(mg_request_t *r)
{
    int max = r->gen->conf->http.max_tunnels;
    int64_t open = mg_http_tunnels_open(r->worker);
    if (max <= 0 || open < max) {
        return 0;
    }
    mg_log_warn("route \"%s\": %lld tunnels open, http.max_tunnels is %d: 503, client: %.*s, "
                "request_id: %.*s",
                r->match.route->name, (long long)open, max, (int)r->remote_addr.len,
                r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
    return 503;
}

void mg_tunnel_start(mg_request_t *r, mg_upstream_conn_t *uc, const char *rest, size_t len)
{
    tunnel_t *t = mg_pool_calloc(r->pool, sizeof(*t));
    if (t == NULL || mg_pool_cleanup_add(r->pool, on_pool_cleanup, t) != MG_OK) {
        mg_upstream_release(uc, false);
        mg_log_err("out of memory opening a tunnel, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        mg_http_finish(r, false);
        return;
    }
    t->r = r;
    t->uc = uc;
    t->loop = r->worker->loop;
    t->idle_timeout = r->match.route->tunnel_timeout;
    t->send_timeout = mg_request_upstream(r)->send_timeout;
    t->opened = t->last_active = t->up_progress = now(t);
    ev_set_cb(&uc->io, on_up_io);
    uc->io.data = t;
    ev_init(&t->timer, on_timer);
    t->timer.data = t;
    if (mg_http_tunnel_open(r, &tunnel_handler, t) != MG_OK || t->done) {
        return; /* the client went away meanwhile: on_abort closed the upstream */
    }
    if (len > 0) {
        /* the upstream's first bytes, read with its 101 head */
        t->last_active = now(t);
        if (mg_http_tunnel_write(r, rest, len) == MG_AGAIN) {
            t->up_paused = true;
        }
        if (t->done) {
            return;
        }
    }
    arm(t);
    update_io(t);
}
