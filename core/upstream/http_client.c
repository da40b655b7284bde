/*
 * http_client.c -- the exchange of the one outbound HTTP/1.1 client (http_client.h) on a
 * libev loop; its pure parts (URLs, request heads, framing) are http_client_head.c.
 *
 * An exchange writes the head and the user's body through the connection's transport,
 * and reads the response into the user's buffer. The head is parsed in place: the
 * buffer is not reused until the head is complete, so header spans stay valid and
 * spans split across reads are adjacent. Body bytes go to on_body straight from the
 * buffer. One timer follows what the exchange waits on: the connect and the
 * transport's handshake (connect timeout), a write (send timeout), the response (read
 * timeout), or nothing of the peer's doing (stopped).
 *
 * TLS changes two things. A new connection runs its handshake before the request
 * goes out (a pooled one had it). And a read may wait for writability or a write for
 * readability, so the watcher follows what each said (rd_want, wr_want). OpenSSL's
 * rule that a write retried after -EAGAIN starts with the same bytes holds by
 * construction: a flush always starts at the first byte not yet taken.
 */
#include "http_client.h"

#include <stdlib.h>

#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- watchers (weak ones never keep the loop alive) ---- */

static void io_stop(mg_http_client_t *cl)
{
    if (cl->io_events != 0) {
        if (cl->weak) {
            ev_ref(cl->loop);
        }
        ev_io_stop(cl->loop, &cl->conn->io);
        cl->io_events = 0;
    }
}

static void io_set(mg_http_client_t *cl, unsigned ev)
{
    if (ev == cl->io_events) {
        return;
    }
    io_stop(cl);
    if (ev != 0) {
        ev_io_modify(&cl->conn->io, (int)ev); /* same fd: no forced epoll_ctl */
        ev_io_start(cl->loop, &cl->conn->io);
        if (cl->weak) {
            ev_unref(cl->loop);
        }
        cl->io_events = ev;
    }
}

/* Arms the timer t seconds from now; t <= 0 stops it. */
static void timer_set(mg_http_client_t *cl, double t)
{
    bool was = ev_is_active(&cl->timer);
    if (t <= 0) {
        if (was) {
            if (cl->weak) {
                ev_ref(cl->loop);
            }
            ev_timer_stop(cl->loop, &cl->timer);
        }
        return;
    }
    cl->timer.repeat = t;
    ev_timer_again(cl->loop, &cl->timer);
    if (!was && cl->weak) {
        ev_unref(cl->loop);
    }
}

/* ---- the exchange's state ---- */

static bool out_pending(const mg_http_client_t *cl)
{
    return !cl->out_broken &&
           (cl->hsent < cl->hlen || (cl->body != NULL && cl->body->sent < cl->body->len));
}

bool mg_http_client_request_sent(const mg_http_client_t *cl)
{
    return !out_pending(cl) && !cl->out_broken && (cl->body == NULL || cl->body->end);
}

static bool running(const mg_http_client_t *cl)
{
    return cl->state >= MG_HTTP_CLIENT_CONNECTING && cl->state <= MG_HTTP_CLIENT_BODY;
}

static unsigned want_read(const mg_http_client_t *cl)
{
    return cl->rd_want != 0 ? cl->rd_want : EV_READ;
}

static unsigned want_write(const mg_http_client_t *cl)
{
    return cl->wr_want != 0 ? cl->wr_want : EV_WRITE;
}

static void update_io(mg_http_client_t *cl)
{
    io_set(cl, (out_pending(cl) ? want_write(cl) : 0) | (cl->paused ? 0 : want_read(cl)));
}

/* Re-arms the timer for what the exchange waits on now. */
static void touch_timer(mg_http_client_t *cl)
{
    double t = 0;
    if (cl->total_timeout > 0) {
        return; /* one deadline, armed at the start */
    }
    if (out_pending(cl)) {
        t = cl->send_timeout;
    } else if (!cl->paused && (cl->state >= MG_HTTP_CLIENT_WAITING || cl->out_broken)) {
        t = cl->read_timeout;
    }
    timer_set(cl, t);
}

/* ---- the lazy read buffer (rbuf NULL at init) ---- */

#define RBUF_FREE_MAX 64 /* buffers kept for reuse per process: 1 MiB at most */

typedef union rbuf_free_u {
    union rbuf_free_u *next;
    char bytes[MG_HTTP_CLIENT_RBUF];
} rbuf_free_t;

static rbuf_free_t *rbuf_free;
static int rbuf_nfree;

static int rbuf_take(mg_http_client_t *cl)
{
    rbuf_free_t *b = rbuf_free;
    if (b != NULL) {
        rbuf_free = b->next;
        rbuf_nfree--;
    } else if ((b = malloc(sizeof(*b))) == NULL) {
        return MG_ERROR;
    }
    cl->rbuf = b->bytes;
    cl->rcap = sizeof(*b);
    return MG_OK;
}

/* Gives a lazy buffer back unless it holds the start of a head. */
static void rbuf_give(mg_http_client_t *cl, bool always)
{
    if (!cl->rbuf_lazy || cl->rbuf == NULL || (!always && cl->rlen > 0 &&
                                                 cl->state != MG_HTTP_CLIENT_BODY)) {
        return;
    }
    rbuf_free_t *b = (rbuf_free_t *)(void *)cl->rbuf;
    cl->rbuf = NULL;
    if (rbuf_nfree >= RBUF_FREE_MAX) {
        free(b);
        return;
    }
    b->next = rbuf_free;
    rbuf_free = b;
    rbuf_nfree++;
}

/* Stops the exchange's watchers and gives its connection back (keep: poolable). */
static void end_exchange(mg_http_client_t *cl, bool keep)
{
    rbuf_give(cl, true);
    if (cl->conn != NULL) {
        io_stop(cl);
        if (keep && cl->keep_conn && cl->conn->up == NULL) {
            cl->kept = cl->conn;
        } else {
            mg_upstream_release(cl->conn, keep);
        }
        cl->conn = NULL;
    }
    timer_set(cl, 0);
    cl->seq++;
}

static void fail(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    /* part of an answer came: the request got there */
    if (err == MG_HTTP_CLIENT_ERR_IO && cl->state == MG_HTTP_CLIENT_WAITING && cl->rlen > 0) {
        err = MG_HTTP_CLIENT_ERR_BAD_RESPONSE;
    }
    end_exchange(cl, false);
    cl->state = MG_HTTP_CLIENT_FAILED;
    cl->ops->on_error(cl, err, why);
}

/* The whole response was read: pool the connection when both messages were whole. */
static void complete(mg_http_client_t *cl)
{
    bool keep =
        !cl->extra && mg_http_client_request_sent(cl) && llhttp_should_keep_alive(&cl->parser);
    end_exchange(cl, keep);
    cl->ops->on_done(cl);
}

void mg_http_client_abort(mg_http_client_t *cl)
{
    if (running(cl) || cl->conn != NULL) {
        end_exchange(cl, false);
    }
    rbuf_give(cl, true); /* after a 101 too: the upgraded exchange never ended */
    cl->state = MG_HTTP_CLIENT_IDLE;
}

void mg_http_client_dispose(mg_http_client_t *cl)
{
    mg_http_client_abort(cl);
    mg_upstream_release(cl->kept, false); /* a kept connection the user did not take */
    cl->kept = NULL;
    if (cl->hdr != cl->hdr_inline) {
        free(cl->hdr);
    }
    cl->hdr = cl->hdr_inline;
    cl->hcap = MG_HTTP_CLIENT_INLINE_FIELDS;
    cl->nhdr = 0;
}

/* ---- the response (llhttp, response mode, strict) ---- */

static mg_http_client_t *client_of(llhttp_t *h)
{
    return h->data;
}

/* Stops the parser: a callback of ours found the response bad. */
static int stop(mg_http_client_t *cl, const char *why)
{
    cl->stop_err = MG_HTTP_CLIENT_ERR_BAD_RESPONSE;
    cl->why = why;
    return -1;
}

static int on_message_begin(llhttp_t *h)
{
    mg_http_client_t *cl = client_of(h);
    cl->nhdr = 0;
    cl->in_value = false;
    cl->reason = MG_NULL_STR;
    return 0;
}

/* Spans of one element arrive in pieces when a read splits it; the buffer is never
 * moved while the head is incomplete, so the pieces are adjacent and just extend. */
static void span_extend(mg_str_t *s, const char *at, size_t len)
{
    if (s->p == NULL) {
        s->p = at;
        s->len = len;
    } else {
        s->len = (size_t)(at + len - s->p);
    }
}

static int on_status(llhttp_t *h, const char *at, size_t len)
{
    span_extend(&client_of(h)->reason, at, len);
    return 0;
}

/* Room for one more field: the array doubles, up to max_fields. */
static int hdr_room(mg_http_client_t *cl)
{
    if (cl->nhdr >= cl->max_fields) {
        return stop(cl, "more response header fields than response_headers.max_fields");
    }
    if (cl->nhdr < cl->hcap) {
        return 0;
    }
    size_t cap = MG_MIN(cl->hcap * 2, cl->max_fields);
    mg_header_t *a = cl->hdr != cl->hdr_inline ? realloc(cl->hdr, cap * sizeof(*a))
                                               : malloc(cap * sizeof(*a));
    if (a == NULL) {
        cl->stop_err = MG_HTTP_CLIENT_ERR_NO_SOCKET;
        cl->why = "out of memory for the response headers";
        return -1;
    }
    if (cl->hdr == cl->hdr_inline) {
        memcpy(a, cl->hdr_inline, cl->nhdr * sizeof(*a));
    }
    cl->hdr = a;
    cl->hcap = cap;
    return 0;
}

/* Head bytes so far: every span of the head lies in the read buffer from its start. */
static int head_size_ok(mg_http_client_t *cl, const char *at, size_t len)
{
    if ((size_t)(at + len - cl->rbuf) > cl->max_head_size) {
        return stop(cl, "response head larger than response_headers.max_size");
    }
    return 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t len)
{
    mg_http_client_t *cl = client_of(h);
    if (cl->state == MG_HTTP_CLIENT_BODY) {
        return 0; /* trailers: never merged into the headers, never passed on */
    }
    if (head_size_ok(cl, at, len) != 0) {
        return -1;
    }
    if (cl->nhdr == 0 || cl->in_value) {
        if (hdr_room(cl) != 0) {
            return -1;
        }
        cl->hdr[cl->nhdr++] = (mg_header_t){MG_NULL_STR, MG_NULL_STR};
        cl->in_value = false;
    }
    span_extend(&cl->hdr[cl->nhdr - 1].name, at, len);
    return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t len)
{
    mg_http_client_t *cl = client_of(h);
    if (cl->state == MG_HTTP_CLIENT_BODY) {
        return 0;
    }
    if (memchr(at, '\0', len) != NULL) {
        return stop(cl, "NUL in a response header");
    }
    if (head_size_ok(cl, at, len) != 0) {
        return -1;
    }
    if (!cl->in_value) {
        cl->in_value = true;
        cl->hdr[cl->nhdr - 1].value = MG_NULL_STR;
    }
    span_extend(&cl->hdr[cl->nhdr - 1].value, at, len);
    return 0;
}

static int on_headers_complete(llhttp_t *h)
{
    mg_http_client_t *cl = client_of(h);
    int status = h->status_code;
    if (status == 101 && !cl->upgrade) {
        return stop(cl, "101 Switching Protocols to a request that asked for none");
    }
    if (status < 200 && status != 101) {
        return 1; /* interim: the real answer follows */
    }
    /* field by field: the extra headers are the user's to add, never cleared */
    mg_http_client_head_t hd;
    mg_http_head_t *head = &hd.head;
    head->status = status;
    head->reason = cl->reason;
    head->connection = MG_NULL_STR;
    head->gateway = false;
    head->nextra = 0;
    hd.frame = mg_http_client_framing(cl->head_request, status, (h->flags & F_CONTENT_LENGTH) != 0,
                                      h->content_length, (h->flags & F_CHUNKED) != 0,
                                      &head->content_length);
    for (size_t i = 0; i < cl->nhdr; i++) {
        cl->hdr[i].value = mg_str_trim(cl->hdr[i].value);
        if (mg_str_caseeq(cl->hdr[i].name, MG_STR("Connection"))) {
            head->connection = cl->hdr[i].value;
        }
    }
    head->headers = cl->hdr;
    head->nheaders = cl->nhdr;
    head->headers_size = 0;
    if (cl->nhdr > 0) {
        /* every span lies in the read buffer, in order: their extent, plus what a writer
         * may add per line (": " and CRLF against a bare ':'), bounds a copy of them */
        const mg_header_t *last = &cl->hdr[cl->nhdr - 1];
        const char *end =
            last->value.p != NULL ? last->value.p + last->value.len : last->name.p + last->name.len;
        head->headers_size = (size_t)(end - cl->hdr[0].name.p) + 4 * cl->nhdr;
    }
    cl->state = MG_HTTP_CLIENT_BODY;
    unsigned seq = cl->seq;
    int rc = cl->ops->on_head(cl, &hd);
    if (cl->seq != seq) {
        return -1; /* aborted or restarted meanwhile */
    }
    if (rc != MG_OK) {
        cl->stop_err = MG_HTTP_CLIENT_ERR_REFUSED;
        cl->why = NULL;
        return -1;
    }
    if (status == 101) {
        cl->state = MG_HTTP_CLIENT_UPGRADED;
        return HPE_PAUSED; /* what follows the head is the new protocol's: parse() */
    }
    return hd.frame == MG_HTTP_BODY_NONE ? 1 : 0;
}

/* What on_body said, for llhttp. */
static int body_result(mg_http_client_t *cl, unsigned seq, int rc)
{
    if (cl->seq != seq) {
        return -1;
    }
    if (rc == MG_AGAIN) {
        cl->paused = true;
    } else if (rc != MG_OK) {
        cl->stop_err = MG_HTTP_CLIENT_ERR_REFUSED;
        cl->why = NULL;
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *h, const char *at, size_t len)
{
    mg_http_client_t *cl = client_of(h);
    unsigned seq = cl->seq;
    return body_result(cl, seq, cl->ops->on_body(cl, at, len));
}

static int on_message_complete(llhttp_t *h)
{
    mg_http_client_t *cl = client_of(h);
    if (cl->state != MG_HTTP_CLIENT_BODY) {
        return 0; /* the end of an interim answer */
    }
    cl->state = MG_HTTP_CLIENT_DONE;
    return HPE_PAUSED; /* anything after the response is not ours to parse */
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* A 101 the user accepted: the exchange ends here and its connection goes to the user.
 * `rest` is what followed the head in this read. Nothing touches cl after the call. */
static void upgraded(mg_http_client_t *cl, const char *rest, size_t len)
{
    mg_upstream_conn_t *conn = cl->conn;
    io_stop(cl);
    timer_set(cl, 0);
    cl->conn = NULL;
    cl->seq++;
    cl->ops->on_upgrade(cl, conn, rest, len);
}

/* Feeds n new bytes at data to the parser. False when the exchange is over (or no
 * longer the one this frame started with). */
static bool parse(mg_http_client_t *cl, const char *data, size_t n)
{
    unsigned seq = cl->seq;
    llhttp_errno_t e = llhttp_execute(&cl->parser, data, n);
    if (cl->seq != seq) {
        return false;
    }
    if (e == HPE_PAUSED && cl->state == MG_HTTP_CLIENT_UPGRADED) {
        const char *at = llhttp_get_error_pos(&cl->parser);
        upgraded(cl, at, (size_t)(data + n - at));
        return false;
    }
    if (e == HPE_PAUSED && cl->state == MG_HTTP_CLIENT_DONE) {
        cl->extra = llhttp_get_error_pos(&cl->parser) < data + n;
        complete(cl);
        return false;
    }
    if (e != HPE_OK) {
        if (cl->stop_err == MG_HTTP_CLIENT_ERR_REFUSED) {
            fail(cl, MG_HTTP_CLIENT_ERR_REFUSED, NULL);
            return false;
        }
        /* llhttp replaces the reason of a callback error with a generic one */
        const char *why = cl->why != NULL ? cl->why : llhttp_get_error_reason(&cl->parser);
        fail(cl, MG_HTTP_CLIENT_ERR_BAD_RESPONSE, why != NULL ? why : llhttp_errno_name(e));
        return false;
    }
    if (cl->state == MG_HTTP_CLIENT_BODY) {
        /* the read ended: the user may flush what it holds (a head alone) */
        if (body_result(cl, seq, cl->ops->on_body(cl, NULL, 0)) < 0) {
            if (cl->seq == seq) {
                fail(cl, MG_HTTP_CLIENT_ERR_REFUSED, NULL);
            }
            return false;
        }
    }
    return true;
}

static void on_eof(mg_http_client_t *cl)
{
    if (cl->state != MG_HTTP_CLIENT_BODY) {
        fail(cl, MG_HTTP_CLIENT_ERR_IO, "upstream closed the connection");
        return;
    }
    llhttp_errno_t e = llhttp_finish(&cl->parser); /* ends a body read to the close */
    if (cl->state == MG_HTTP_CLIENT_DONE && (e == HPE_OK || e == HPE_PAUSED)) {
        cl->extra = true; /* closed: not reusable */
        complete(cl);
        return;
    }
    fail(cl, MG_HTTP_CLIENT_ERR_IO, "upstream closed before the end of the body");
}

/* Reads and parses until EAGAIN, a pause or the end. */
static void do_read(mg_http_client_t *cl)
{
    unsigned seq = cl->seq;
    while (!cl->paused) {
        if (cl->rbuf == NULL && rbuf_take(cl) != MG_OK) {
            fail(cl, MG_HTTP_CLIENT_ERR_NO_SOCKET, "out of memory for a read buffer");
            return;
        }
        bool in_head = cl->state != MG_HTTP_CLIENT_BODY;
        char *dst = in_head ? cl->rbuf + cl->rlen : cl->rbuf;
        size_t room = in_head ? cl->rcap - cl->rlen : cl->rcap;
        if (room == 0) {
            fail(cl, MG_HTTP_CLIENT_ERR_BAD_RESPONSE, "response head larger than the read buffer");
            return;
        }
        ssize_t n = mg_transport_read(&cl->conn->tp, dst, room);
        cl->rd_want = n == -EAGAIN ? cl->conn->tp.want : 0;
        if (n < 0) {
            if (n == -EAGAIN) {
                break;
            }
            fail(cl, MG_HTTP_CLIENT_ERR_IO, strerror((int)-n));
            return;
        }
        if (n == 0) {
            on_eof(cl);
            return;
        }
        if (cl->state == MG_HTTP_CLIENT_SENDING) {
            cl->state = MG_HTTP_CLIENT_WAITING; /* the peer answers before the end */
        }
        if (in_head) {
            cl->rlen += (size_t)n; /* counted first: a failure in the head sees it */
        }
        if (!parse(cl, dst, (size_t)n) || cl->seq != seq) {
            return;
        }
        touch_timer(cl);
        if ((size_t)n < room) {
            break; /* drained: wait for the next readiness instead of an EAGAIN */
        }
    }
    rbuf_give(cl, false); /* what was read went to the callbacks */
    update_io(cl);
}

/* ---- the request going out ---- */

/* Writes the head and the body due. False when the exchange is over (or no longer the
 * one this frame started with). The caller then sets the watcher and the timer. */
static bool flush(mg_http_client_t *cl)
{
    bool progress = false;
    while (out_pending(cl)) {
        struct iovec iov[2];
        int n = 0;
        mg_http_client_body_t *b = cl->body;
        if (cl->hsent < cl->hlen) {
            iov[n++] = (struct iovec){(char *)cl->head + cl->hsent, cl->hlen - cl->hsent};
        }
        if (b != NULL && b->sent < b->len) {
            iov[n++] = (struct iovec){b->data + b->sent, b->len - b->sent};
        }
        ssize_t w = mg_transport_writev(&cl->conn->tp, iov, n);
        cl->wr_want = w == -EAGAIN ? cl->conn->tp.want : 0;
        if (w < 0) {
            if (w != -EAGAIN) {
                cl->out_broken = true;
            }
            break;
        }
        progress = true;
        cl->wrote = true;
        size_t hw = MG_MIN((size_t)w, cl->hlen - cl->hsent);
        cl->hsent += hw;
        if (b != NULL) {
            b->sent += (size_t)w - hw;
        }
    }
    if (cl->state == MG_HTTP_CLIENT_SENDING && mg_http_client_request_sent(cl)) {
        cl->state = MG_HTTP_CLIENT_WAITING;
    }
    if (progress && !out_pending(cl) && cl->ops->on_sent != NULL) {
        unsigned seq = cl->seq;
        cl->ops->on_sent(cl); /* may feed more, which a nested flush writes */
        return cl->seq == seq;
    }
    return true;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    mg_http_client_t *cl = w->data;
    unsigned seq = cl->seq;
    if ((revents & want_write(cl)) && out_pending(cl)) {
        if (!flush(cl) || cl->seq != seq) {
            return;
        }
        update_io(cl);
        touch_timer(cl);
        if (cl->out_broken) {
            do_read(cl); /* an answer sent before the close (say a 413) still counts */
            return;
        }
    }
    if (revents & want_read(cl)) {
        do_read(cl);
    }
}

void mg_http_client_send(mg_http_client_t *cl)
{
    if (cl->conn == NULL || cl->state == MG_HTTP_CLIENT_CONNECTING || !running(cl)) {
        return;
    }
    unsigned seq = cl->seq;
    if (flush(cl) && cl->seq == seq) {
        update_io(cl);
        touch_timer(cl); /* the end of the body starts the read timeout */
    }
}

void mg_http_client_resume(mg_http_client_t *cl)
{
    if (!cl->paused || cl->conn == NULL) {
        return;
    }
    cl->paused = false;
    update_io(cl);
    touch_timer(cl);
}

/* ---- connecting ---- */

static void connected(mg_http_client_t *cl)
{
    mg_upstream_conn_t *c = cl->conn;
    cl->state = MG_HTTP_CLIENT_SENDING;
    c->requests++;
    /* the fd was set when the connection was made: ev_io_init would make libev
     * re-register it with epoll on every request */
    ev_set_cb(&c->io, on_io);
    ev_io_modify(&c->io, 0);
    c->io.data = cl;
    cl->io_events = 0;
    unsigned seq = cl->seq;
    if (cl->ops->on_connect != NULL) {
        cl->ops->on_connect(cl);
        if (cl->seq != seq) {
            return;
        }
    }
    if (flush(cl) && cl->seq == seq) {
        update_io(cl);
        touch_timer(cl);
    }
}

/* Advances the transport's handshake (none for plain TCP: done at once) on a new
 * connection. The connect timer keeps running: the handshake is part of the connect. */
static void handshake(mg_http_client_t *cl)
{
    mg_transport_t *t = &cl->conn->tp;
    cl->shaking = true;
    int rc = t->ops->handshake(t);
    if (rc == MG_AGAIN) {
        io_set(cl, t->want != 0 ? (unsigned)t->want : EV_READ);
        return;
    }
    cl->shaking = false;
    io_stop(cl);
    if (cl->total_timeout <= 0) {
        timer_set(cl, 0);
    }
    if (rc == MG_OK) {
        connected(cl);
        return;
    }
    /* the reason is the connection's, which the failure closes */
    snprintf(cl->tls_why, sizeof(cl->tls_why), "%s", mg_tls_error(t));
    fail(cl, MG_HTTP_CLIENT_ERR_TLS, cl->tls_why);
}

static void on_handshake_io(struct ev_loop *loop, ev_io *w, int revents)
{
    handshake(w->data);
}

static void on_connect_io(struct ev_loop *loop, ev_io *w, int revents)
{
    mg_http_client_t *cl = w->data;
    int rc = mg_upstream_connect_result(cl->conn);
    mg_upstream_connected(cl->conn); /* its node may start another connect */
    if (rc != 0) {
        io_stop(cl);
        if (cl->total_timeout <= 0) {
            timer_set(cl, 0);
        }
        fail(cl, MG_HTTP_CLIENT_ERR_CONNECT, strerror(-rc));
        return;
    }
    ev_set_cb(&cl->conn->io, on_handshake_io);
    handshake(cl);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    mg_http_client_t *cl = w->data;
    int d = cl->deferred;
    if (d != 0) {
        cl->deferred = 0;
        bool ours = d == -EMFILE || d == -ENFILE || d == -ENOBUFS || d == -ENOMEM;
        fail(cl, ours ? MG_HTTP_CLIENT_ERR_NO_SOCKET : MG_HTTP_CLIENT_ERR_CONNECT, strerror(-d));
    } else if (cl->state == MG_HTTP_CLIENT_CONNECTING && cl->shaking) {
        mg_tls_fail(&cl->conn->tp, MG_TLS_FAIL_TIMEOUT, "handshake timed out"); /* counted */
        fail(cl, MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT, "during the TLS handshake");
    } else if (cl->state == MG_HTTP_CLIENT_CONNECTING) {
        fail(cl, MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT, NULL);
    } else {
        fail(cl, MG_HTTP_CLIENT_ERR_TIMEOUT, out_pending(cl) ? "sending" : "reading");
    }
}

void mg_http_client_init(mg_http_client_t *cl, struct ev_loop *loop,
                         const mg_http_client_ops_t *ops, void *data, char *rbuf, size_t rcap)
{
    memset(cl, 0, offsetof(mg_http_client_t, hdr_inline)); /* filled as it is used */
    cl->hdr = cl->hdr_inline;
    cl->hcap = MG_HTTP_CLIENT_INLINE_FIELDS;
    cl->max_fields = MG_HTTP_CLIENT_MAX_FIELDS;
    cl->max_head_size = MG_HTTP_CLIENT_MAX_HEAD_SIZE;
    cl->ops = ops;
    cl->data = data;
    cl->loop = loop;
    cl->rbuf = rbuf;
    cl->rcap = rcap;
    cl->rbuf_lazy = rbuf == NULL;
    ev_init(&cl->timer, on_timer);
    cl->timer.data = cl;
    /* the parser is set up by each exchange's start */
}

/* A new exchange: forgets the previous one. */
static void exchange_reset(mg_http_client_t *cl, const char *head, size_t hlen,
                           mg_http_client_body_t *body)
{
    if (running(cl) || cl->conn != NULL) {
        end_exchange(cl, false); /* stops the timer too: it only runs with an exchange */
    }
    cl->seq++;
    cl->state = MG_HTTP_CLIENT_CONNECTING;
    cl->head = head;
    cl->hlen = hlen;
    cl->hsent = 0;
    cl->body = body;
    cl->wrote = cl->reused = cl->out_broken = cl->paused = cl->extra = false;
    cl->kept = NULL;
    cl->deferred = 0;
    cl->shaking = false;
    cl->rd_want = cl->wr_want = 0;
    cl->stop_err = MG_HTTP_CLIENT_ERR_BAD_RESPONSE;
    cl->rlen = 0;
    cl->why = NULL;
    llhttp_init(&cl->parser, HTTP_RESPONSE, &settings);
    cl->parser.data = cl;
    if (cl->total_timeout > 0) {
        timer_set(cl, cl->total_timeout);
    }
}

/* Goes on with a connection mg_upstream_connect()/mg_upstream_open() answered rc for. */
static void begin(mg_http_client_t *cl, mg_upstream_conn_t *c, int rc)
{
    if (rc == MG_OK && cl->reused) {
        cl->conn = c;
        connected(cl);
    } else if (rc == MG_OK) {
        /* connected at once (a local peer): the handshake may still take a while */
        cl->conn = c;
        ev_set_cb(&c->io, on_handshake_io);
        c->io.data = cl;
        if (cl->total_timeout <= 0) {
            timer_set(cl, cl->connect_timeout);
        }
        handshake(cl);
    } else if (rc == MG_AGAIN) {
        cl->conn = c;
        ev_set_cb(&c->io, on_connect_io);
        c->io.data = cl;
        io_set(cl, EV_WRITE);
        if (cl->total_timeout <= 0) {
            timer_set(cl, cl->connect_timeout);
        }
    } else {
        cl->deferred = rc; /* reported from the loop, like every other failure */
        timer_set(cl, 1e-9);
    }
}

int mg_http_client_start_node(mg_http_client_t *cl, mg_upstream_t *u, int node, bool fresh,
                              const char *head, size_t hlen, mg_http_client_body_t *body)
{
    exchange_reset(cl, head, hlen, body);
    mg_upstream_conn_t *c = fresh ? NULL : mg_upstream_acquire(u, node);
    if (c != NULL) {
        cl->reused = true;
        begin(cl, c, MG_OK);
        return MG_OK;
    }
    int rc = mg_upstream_connect(u, node, &c);
    if (rc == -EBUSY && mg_upstream_evict_idle(u)) {
        rc = mg_upstream_connect(u, node, &c); /* an idle one made room */
    }
    if (rc == -EBUSY || rc == -EALREADY) {
        timer_set(cl, 0);
        cl->state = MG_HTTP_CLIENT_IDLE;
        return -EBUSY;
    }
    begin(cl, c, rc);
    return MG_OK;
}

int mg_http_client_start_conn(mg_http_client_t *cl, mg_upstream_conn_t *c, const char *head,
                              size_t hlen, mg_http_client_body_t *body)
{
    exchange_reset(cl, head, hlen, body);
    cl->reused = true;
    begin(cl, c, MG_OK);
    return MG_OK;
}

int mg_http_client_start_addr(mg_http_client_t *cl, const struct sockaddr *sa, socklen_t salen,
                              const char *head, size_t hlen, mg_http_client_body_t *body)
{
    mg_upstream_conn_t *c = NULL;
    exchange_reset(cl, head, hlen, body);
    int rc = mg_upstream_open(sa, salen, &c);
    if (c != NULL && (rc == MG_OK || rc == MG_AGAIN)) {
        int trc = mg_upstream_conn_tls(c, cl->tls);
        if (trc != MG_OK) {
            mg_upstream_release(c, false);
            c = NULL;
            rc = trc;
        }
    }
    begin(cl, c, rc);
    return MG_OK;
}
