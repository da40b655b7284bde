/*
 * http_conn.c -- a client connection: accept, the read buffer, the driver loop that
 * feeds llhttp, output with backpressure, timeouts, the end of each request and
 * keep-alive, drain and close.
 *
 * Re-entrancy: a producer may call back into us (mg_http_write, mg_http_finish, ...)
 * from inside our own callbacks. Every entry point brackets its work with
 * mg__conn_enter()/mg__conn_leave(): only the outermost leave() runs the driver again
 * or frees a closed connection, so no frame ever touches freed memory and 1,000
 * pipelined requests are answered by a loop, not by recursion.
 *
 * Timeouts use one ev_timer per connection, re-armed lazily (nginx style): the
 * connection records its current deadline and the timer, when it fires early,
 * re-arms itself for the rest, so no timer operation happens per read or write.
 */
#include "http_conn_int.h"

#include "bytes.h"
#include "conf.h"
#include "gen.h"
#include "http_parse.h"
#include "log.h"
#include "pool.h"
#include "tls.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODY_MIN_RATE 1024.0 /* bytes/s a body must average after the first timeout */
#define LINGER_TIME 2.0

double mg__conn_now(const mg_conn_t *c)
{
    return ev_now(c->w->loop);
}

static const mg_http_conf_t *hconf(const mg_conn_t *c)
{
    return &c->w->gen->conf->http;
}

/* ---- watchers and deadlines ---- */

static bool out_pending(const mg_conn_t *c)
{
    return c->olen > c->opos;
}

static bool body_wanted(const mg_conn_t *c)
{
    return c->r != NULL && !c->msg_done && !c->paused;
}

/* Whether the driver reads from the socket in the current state. */
static bool wants_read(const mg_conn_t *c)
{
    switch (c->state) {
    case MG_C_IDLE:
        return c->olen - c->opos < MG_HTTP_OUT_HIGH && !c->want_close;
    case MG_C_HEAD:
    case MG_C_DISCARD:
    case MG_C_PROXY:
        return true;
    case MG_C_ACTIVE:
        return body_wanted(c);
    case MG_C_LINGER:
        return !out_pending(c);
    case MG_C_TLS:
        return false; /* the handshake says what it waits for (tp.want) */
    case MG_C_TUNNEL:
        return c->r != NULL && !c->paused;
    }
    return false;
}

/* The body has an idle limit between reads and, after one such period, a floor on its
 * average rate: a client trickling 1 byte/s resets any idle timer but not this. */
static double body_deadline(const mg_conn_t *c, const mg_http_conf_t *h)
{
    double idle = c->last_read + h->client_body_timeout;
    if (c->r == NULL) {
        return idle;
    }
    double rate = c->r->start + h->client_body_timeout + (double)c->body_read / BODY_MIN_RATE;
    return MG_MIN(idle, rate);
}

static double deadline(const mg_conn_t *c)
{
    const mg_http_conf_t *h = hconf(c);
    /* a request's body and answer go by its route's `http:` when it has one */
    const mg_http_conf_t *rl = c->r != NULL ? c->r->limits : h;
    if (out_pending(c)) {
        return c->last_write + rl->send_timeout;
    }
    switch (c->state) {
    case MG_C_IDLE:
        if (c->w->draining) {
            return c->w->drain_idle_until;
        }
        if (c->nrequests == 0) {
            return c->last_read + h->client_header_timeout;
        }
        /* counted from the end of the last response, not from the last byte read: an
         * answer slower than the timeout must not close the connection right after it */
        return h->keepalive_timeout > 0 ? MG_MAX(c->last_read, c->idle_since) + h->keepalive_timeout
                                        : 0;
    case MG_C_HEAD:
        return c->r != NULL ? c->r->start + h->client_header_timeout : 0;
    case MG_C_ACTIVE:
        return body_wanted(c) ? body_deadline(c, rl) : 0;
    case MG_C_DISCARD:
        return body_deadline(c, rl);
    case MG_C_LINGER:
        return c->deadline;
    case MG_C_TLS:
        return c->last_read + c->w->gen->conf->tls.handshake_timeout;
    case MG_C_PROXY:
        return c->last_read + h->client_header_timeout; /* last_read: the accept */
    case MG_C_TUNNEL:
        return 0; /* the tunnel keeps its own idle timer */
    }
    return 0;
}

/* EV_READ stays registered while a request is served even though nothing is read
 * then: most clients send nothing meanwhile, and dropping and re-adding the interest
 * costs two epoll_ctl calls per request. It is registered then even when the request
 * came with the connection (read before any watcher): a client that resets while its
 * request waits must be seen. Only a read event that arrives while no input is wanted
 * (level-triggered: it would repeat) takes it off. */
static void update_watchers(mg_conn_t *c)
{
    int want = wants_read(c) && !c->eof ? EV_READ : 0;
    if (want) {
        c->read_spurious = false;
    } else if (((c->io_events & EV_READ) || c->state == MG_C_ACTIVE) && !c->read_spurious &&
               !c->eof) {
        want = EV_READ;
    }
    if (c->state == MG_C_TLS) {
        want = c->tp.want;
    }
    int ev = want | (out_pending(c) || c->read_wants_write ? EV_WRITE : 0);
    if (ev != c->io_events) {
        ev_io_stop(c->w->loop, &c->io);
        if (ev != 0) {
            ev_io_modify(&c->io, ev); /* not ev_io_set: that forces an epoll_ctl */
            ev_io_start(c->w->loop, &c->io);
        }
        c->io_events = ev;
    }
    if (c->state != MG_C_LINGER) {
        c->deadline = deadline(c);
    }
    if (c->deadline <= 0) {
        return; /* a stale timer firing later finds no deadline and does nothing */
    }
    if (c->armed_at <= 0 || c->deadline < c->armed_at) {
        ev_timer_stop(c->w->loop, &c->timer);
        ev_timer_set(&c->timer, MG_MAX(c->deadline - mg__conn_now(c), 0.001), 0.);
        ev_timer_start(c->w->loop, &c->timer);
        c->armed_at = c->deadline;
    }
}

/* ---- posted endings ---- */

/* The end of a request (log handlers, the generation's release, the pool) and the start
 * of the next pipelined one run from the loop, after the callback that finished the
 * response has returned: nothing a producer or a plugin still has on its stack is freed
 * under it, whatever ended the request. */
static void post_end(mg_conn_t *c, bool keep)
{
    mg_worker_t *w = c->w;
    if (c->end_posted) {
        c->end_keep = c->end_keep && keep;
        return;
    }
    c->end_posted = true;
    c->end_keep = keep;
    c->posted_next = NULL;
    *w->posted_tail = c;
    w->posted_tail = &c->posted_next;
}

static void on_posted(struct ev_loop *loop, ev_prepare *pw, int revents)
{
    mg_worker_t *w = (mg_worker_t *)((char *)pw - offsetof(mg_worker_t, posted_watcher));
    while (w->posted != NULL) {
        mg_conn_t *c = w->posted;
        w->posted = c->posted_next;
        if (w->posted == NULL) {
            w->posted_tail = &w->posted;
        }
        c->end_posted = false;
        mg__conn_enter(c);
        mg__conn_end_request(c, c->end_keep);
        mg__conn_leave(c); /* runs the driver: the next request, the discard, the close */
    }
}

void mg_http_worker_init(mg_worker_t *w)
{
    w->posted = NULL;
    w->posted_tail = &w->posted;
    ev_prepare_init(&w->posted_watcher, on_posted);
    ev_prepare_start(w->loop, &w->posted_watcher);
    ev_unref(w->loop); /* a pending ending alone does not keep the loop running */
}

/* ---- close ---- */

static void conn_free(mg_conn_t *c)
{
    if (c->pool != NULL) {
        mg__conn_pool_give(c->pool);
    }
    mg__buf_give(c);
    free(c->out);
    free(c);
}

static void conn_close(mg_conn_t *c)
{
    if (c->closed) {
        return;
    }
    mg_worker_t *w = c->w;
    if (c->r != NULL) {
        /* every way out ends the request: its generation and pool must never outlive
         * the connection (a head cut short used to pin its generation forever) */
        post_end(c, false);
    }
    ev_io_stop(w->loop, &c->io);
    ev_timer_stop(w->loop, &c->timer);
    mg_transport_close(&c->tp);
    mg__conn_state_count(c, -1);
    c->closed = true;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    w->nconns--;
    if (c->busy == 0 && !c->end_posted) {
        conn_free(c);
    }
}

/* ---- the driver ---- */

static void parse(mg_conn_t *c);
static int read_some(mg_conn_t *c);
static void linger(mg_conn_t *c);

/* The connection is between requests. Only flags here: this may run inside llhttp's
 * callbacks, where the buffer must not move; idle_tidy() does the rest from run(). */
static void to_idle(mg_conn_t *c)
{
    mg__conn_set_state(c, MG_C_IDLE);
    c->msg_done = c->head_done = c->paused = false;
}

/* Moves pipelined bytes to the front, or gives the buffers back when there are none,
 * so an idle keep-alive connection holds nothing but its struct. */
static void idle_tidy(mg_conn_t *c)
{
    if (c->buf != NULL && c->pos >= c->len) {
        mg__buf_give(c);
    } else if (c->buf != NULL && c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    c->hs = 0;
    if (c->buf == NULL && !out_pending(c)) {
        if (c->pool != NULL) {
            mg__conn_pool_give(c->pool);
            c->pool = NULL;
        }
        free(c->out);
        c->out = NULL;
        c->ocap = c->olen = c->opos = 0;
    }
}

/* Error-log lines about what clients send on their own (a failed handshake): at most
 * LOG_BURST a second per worker, so a flood of bad handshakes cannot flood the log. */
#define LOG_BURST 10

static void log_limited(const mg_conn_t *c, const char *why)
{
    static double second;
    static unsigned n, dropped;
    double now = mg__conn_now(c);
    if (now - second >= 1) {
        if (dropped > 0) {
            mg_log_info("%u more such lines in the last second were not logged", dropped);
        }
        second = now;
        n = dropped = 0;
    }
    if (n++ < LOG_BURST) {
        mg_log_info("%s, client: %s", why, c->addr);
    } else {
        dropped++;
    }
}

static int flush_out(mg_conn_t *c);
static int out_append(mg_conn_t *c, const char *p, size_t len);

/* Plain HTTP on a TLS port: answered in clear text, as nginx does, so that whoever
 * typed http:// instead of https:// sees why. */
static void answer_plain_http(mg_conn_t *c)
{
    static const char msg[] = "HTTP/1.1 400 Bad Request\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Length: 47\r\n"
                              "Connection: close\r\n\r\n"
                              "The plain HTTP request was sent to a TLS port.\n";
    mg_tls_to_plain(&c->tp);
    mg__conn_set_state(c, MG_C_LINGER);
    c->deadline = 0;
    if (out_append(c, msg, sizeof(msg) - 1) != MG_OK) {
        conn_close(c);
        return;
    }
    flush_out(c);
}

/* One step of the handshake: MG_OK once done (the connection waits for a request). */
static int tls_handshake(mg_conn_t *c)
{
    int rc = c->tp.ops->handshake(&c->tp);
    if (rc == MG_OK) {
        mg__conn_set_state(c, MG_C_IDLE);
        c->readable = true; /* the first request may have come with the last flight */
        c->last_read = mg__conn_now(c);
        return MG_OK;
    }
    if (rc == MG_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "TLS handshake failed: %s", mg_tls_error(&c->tp));
        log_limited(c, why);
        if (mg_tls_plain_http(&c->tp)) {
            answer_plain_http(c);
        } else {
            conn_close(c);
        }
    }
    return MG_ERROR;
}

/* The PROXY protocol header: MG_OK once read (the handshake or the first request
 * follows). A bad or missing one closes the connection without an answer, as HAProxy
 * and nginx do: whatever sent it does not speak the protocol the listener expects. */
static int proxy_header(mg_conn_t *c)
{
    const char *why = NULL;
    int rc = mg__conn_proxy_read(c, &why);
    if (rc == MG_OK) {
        mg__conn_set_state(c, mg_transport_is_tls(&c->tp) ? MG_C_TLS : MG_C_IDLE);
        c->readable = true;
        c->last_read = mg__conn_now(c);
    } else if (rc == MG_ERROR) {
        log_limited(c, why);
        conn_close(c);
    }
    return rc;
}

/* Tunnel mode: what the client sent goes to the producer raw, all of it at once (it
 * copies what it cannot write); MG_AGAIN stops reads until mg_http_body_resume(). */
static void tunnel_feed(mg_conn_t *c)
{
    mg_request_t *r = c->r;
    const char *p = c->buf + c->pos;
    uint32_t n = c->len - c->pos;
    c->pos = c->len;
    r->request_length += n;
    const mg_http_handler_t *h = r->handler;
    int rc = h != NULL && h->on_body != NULL ? h->on_body(r, p, n) : MG_OK;
    if (c->r != r || c->closed) {
        return;
    }
    if (rc == MG_AGAIN) {
        c->paused = true;
    }
    if (c->pos == c->len) {
        mg__buf_give(c); /* handed over whole: a quiet tunnel holds no read buffer */
    }
}

static void run(mg_conn_t *c)
{
    while (!c->closed && !c->end_posted) {
        if (c->state == MG_C_PROXY) {
            if (proxy_header(c) != MG_OK) {
                break;
            }
            continue;
        }
        if (c->state == MG_C_TLS) {
            if (tls_handshake(c) != MG_OK) {
                break;
            }
            continue;
        }
        if (c->state == MG_C_LINGER) {
            linger(c);
            break;
        }
        if (c->state == MG_C_IDLE) {
            idle_tidy(c);
        }
        /* pipelined requests already read are answered even when closing (the last
         * with Connection: close); only new reads stop */
        if (c->state == MG_C_IDLE && c->buf != NULL && c->pos < c->len &&
            c->olen - c->opos < MG_HTTP_OUT_HIGH) {
            if (c->nrequests == 0 && c->pos == 0 && (unsigned char)c->buf[0] == 0x16 &&
                !mg_transport_is_tls(&c->tp)) {
                /* a TLS ClientHello on a plain port: no HTTP answer would be read */
                log_limited(c, "TLS handshake sent to a plain HTTP port");
                conn_close(c);
                break;
            }
            if (mg__request_begin(c) != MG_OK) {
                conn_close(c);
                break;
            }
        }
        if (c->state == MG_C_TUNNEL && c->buf != NULL && c->pos < c->len && wants_read(c)) {
            tunnel_feed(c);
            continue;
        }
        /* a zero-length run lets a paused parser reach the end of a bodiless message */
        if (c->buf != NULL && c->state != MG_C_IDLE && c->state != MG_C_TUNNEL &&
            c->state != MG_C_LINGER && (c->state != MG_C_ACTIVE || body_wanted(c)) &&
            (c->pos < c->len ||
             (!c->msg_done && !c->paused && llhttp_get_errno(&c->parser) == HPE_PAUSED))) {
            parse(c);
            continue;
        }
        if (!wants_read(c) || c->eof || !c->readable) {
            break;
        }
        if (read_some(c) != MG_OK) {
            break;
        }
    }
    if (!c->closed) {
        update_watchers(c);
    }
}

void mg__conn_enter(mg_conn_t *c)
{
    c->busy++;
}

void mg__conn_leave(mg_conn_t *c)
{
    if (c->busy == 1 && !c->closed) {
        run(c);
    }
    if (--c->busy == 0 && c->closed && !c->end_posted) {
        conn_free(c);
    }
}

/* llhttp stops on a coding after "chunked" itself. A repeated "chunked" is ambiguous
 * framing (400); any other coding is one we do not implement (501). */
static int te_error_status(const mg_conn_t *c)
{
    const char *at = llhttp_get_error_pos(&c->parser);
    const char *lo = c->buf + c->hs, *hi = c->buf + c->len;
    if (at == NULL || at < lo || at > hi) {
        return 400;
    }
    const char *b = at, *e = at;
    while (b > lo && b[-1] != '\n' && b[-1] != ':') {
        b--;
    }
    while (e < hi && *e != '\r' && *e != '\n') {
        e++;
    }
    size_t n = mg_http_list_count(mg_str(b, (size_t)(e - b)), MG_STR("chunked"));
    int lines = 0;
    for (const char *p = lo; p + 19 <= at; p++) {
        lines += p[0] == '\n' && mg_str_caseeq(mg_str(p + 1, 18), MG_STR("Transfer-Encoding:"));
    }
    return n > 1 || lines > 1 ? 400 : 501;
}

/* Feeds unparsed bytes to llhttp, or to the chunked decoder while a chunked body is
 * read (it calls llhttp's callbacks as llhttp would), and acts on where it stopped. */
static void parse(mg_conn_t *c)
{
    uint32_t from = c->pos;
    mg_request_t *r = c->r;
    const char *stop = c->buf + c->len;
    llhttp_errno_t e = HPE_OK;
    if (c->chunked.state != 0) {
        const char *p = c->buf + c->pos;
        while (e == HPE_OK && p < stop) {
            size_t used;
            mg_str_t d;
            int rc = mg_http_chunked_decode(&c->chunked, p, (size_t)(stop - p), &used, &d);
            p += used;
            if (rc == MG_OK) {
                e = (llhttp_errno_t)mg__http_settings.on_body(&c->parser, d.p, d.len);
            } else if (rc == MG_DONE) {
                e = (llhttp_errno_t)mg__http_settings.on_message_complete(&c->parser);
            } else if (rc == MG_ERROR) {
                c->err_status = c->chunked.status;
                c->err_reason = c->chunked.why;
                e = HPE_USER;
            }
        }
        stop = p;
    } else {
        if (llhttp_get_errno(&c->parser) == HPE_PAUSED) {
            llhttp_resume(&c->parser);
        }
        if (c->state == MG_C_HEAD && !c->head_done) {
            mg_http_framing_tabs(c->buf + c->hs, c->pos - c->hs, c->len - c->hs);
        }
        e = llhttp_execute(&c->parser, c->buf + c->pos, c->len - c->pos);
        if (e == HPE_PAUSED) {
            stop = llhttp_get_error_pos(&c->parser);
        }
    }
    if (c->closed) {
        return;
    }
    if (e == HPE_OK || e == HPE_PAUSED) {
        c->pos = (uint32_t)(stop - c->buf);
    }
    if (r != NULL && r == c->r) {
        r->request_length += c->pos - from;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        int status = c->err_status != 0 ? c->err_status : 400;
        const char *why =
            c->err_reason != NULL ? c->err_reason : llhttp_get_error_reason(&c->parser);
        /* a version we do not speak is 505; no version at all (HTTP/0.9), or a line
         * that goes wrong after a good version, is 400 */
        uint32_t v = c->hs + c->url_off + c->url_len + 6;
        if (e == HPE_INVALID_VERSION && c->url_len > 0 && v <= c->len &&
            memcmp(c->buf + v - 6, " HTTP/", 6) == 0) {
            status = mg_http_version_error_status(c->buf + v, c->len - v);
        }
        if (e == HPE_INVALID_TRANSFER_ENCODING && c->err_status == 0) {
            status = te_error_status(c);
        }
        /* a method we do not know is 501 (RFC 9110 §9.1), also one llhttp knows only
         * for RTSP (DESCRIBE .. FLUSH) */
        if (e == HPE_INVALID_METHOD ||
            (e == HPE_INVALID_CONSTANT && c->parser.method >= HTTP_DESCRIBE &&
             c->parser.method <= HTTP_FLUSH)) {
            status = mg_http_method_error_status(c->buf + c->hs, c->len - c->hs);
            why = status == 501 ? "unknown method" : why;
        }
        c->pos = c->len;
        if (c->r != NULL && c->state != MG_C_DISCARD) {
            mg__request_reject(c, status, why);
        } else {
            c->want_close = true;
            conn_close(c);
        }
        return;
    }
    if (c->state == MG_C_HEAD && c->head_done) {
        if (mg__buf_body_room(c) != MG_OK) {
            mg__request_reject(c, 500, "out of memory for the request body");
            return;
        }
        mg__conn_set_state(c, MG_C_ACTIVE);
        c->body_base = c->pos;
        mg__request_dispatch(c);
    } else if (c->state == MG_C_DISCARD && c->msg_done) {
        to_idle(c);
    }
}

static int read_some(mg_conn_t *c)
{
    if (c->buf == NULL && mg__buf_take(c) != MG_OK) {
        conn_close(c);
        return MG_ERROR;
    }
    if (c->pos == c->len && c->state != MG_C_HEAD) {
        /* everything read was parsed: body bytes are gone, reuse the space after the
         * head (the request's header pointers stay valid; a tunnel's head was copied) */
        c->len = c->pos = c->state == MG_C_ACTIVE ? MG_MIN(c->body_base, c->len) : 0;
    }
    if (c->len == c->cap) {
        if (c->state != MG_C_HEAD || mg__buf_grow(c) != MG_OK) {
            if (c->state == MG_C_HEAD) {
                mg__request_reject(c, c->head_bytes > 0 ? 431 : 414, "request head too large");
            } else {
                conn_close(c);
            }
            return MG_ERROR;
        }
    }
    size_t room = c->cap - c->len;
    ssize_t n = mg_transport_read(&c->tp, c->buf + c->len, room);
    if (n > 0) {
        /* a short read emptied the socket: wait for the next event instead of a read
         * that would only say EAGAIN */
        c->readable = (size_t)n == room;
        c->len += (uint32_t)n;
        c->last_read = mg__conn_now(c);
        return MG_OK;
    }
    if (n == -EAGAIN) {
        c->readable = false;
        c->read_wants_write = c->tp.want == EV_WRITE && mg_transport_is_tls(&c->tp);
        if ((c->state == MG_C_IDLE || c->state == MG_C_TUNNEL) && c->len == 0) {
            mg__buf_give(c); /* an idle connection holds no buffer while it waits */
        }
        return MG_AGAIN;
    }
    c->eof = true;
    if (c->state == MG_C_TUNNEL && c->r != NULL && n == 0) {
        /* the client shut its side: the tunnel decides how the other side ends */
        const mg_http_handler_t *h = c->r->handler;
        if (h != NULL && h->on_body_end != NULL) {
            h->on_body_end(c->r);
        }
    } else if (c->state == MG_C_TUNNEL && c->r != NULL) {
        mg__conn_abort(c, 0, "client connection reset in a tunnel");
    } else if (c->state == MG_C_ACTIVE && c->r != NULL) {
        mg__conn_abort(c, 400,
                       n == 0 ? "client closed the connection while sending the body"
                              : "client connection reset");
    } else if (c->state == MG_C_HEAD && c->r != NULL) {
        mg__conn_abort(c, 400,
                       n == 0 ? "client closed the connection while sending the head"
                              : "client connection reset");
    } else {
        conn_close(c);
    }
    return MG_ERROR;
}

static void linger(mg_conn_t *c)
{
    char sink[4096];
    if (out_pending(c)) {
        return;
    }
    if (c->deadline <= 0) {
        mg_transport_shutdown(&c->tp);
        c->deadline = mg__conn_now(c) + LINGER_TIME;
        mg__buf_give(c);
    }
    for (;;) {
        ssize_t n = mg_transport_read(&c->tp, sink, sizeof(sink));
        if (n > 0) {
            continue;
        }
        if (n == -EAGAIN) {
            return;
        }
        conn_close(c);
        return;
    }
}

/* ---- events ---- */


/* One byte peeked at without taking it: 1, 0 at EOF, or -1 with errno. */
static ssize_t peek_byte(const mg_conn_t *c)
{
    char b;
    return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
}

/* A read event came while a request is served and no input is wanted: true when the
 * client reset the connection. It is gone for good, so its request stops now (an
 * upstream wait or a queued place is given back at once). A FIN alone is a half-close:
 * the answer is still due (as are pipelined bytes, read later). */
static bool reset_while_served(mg_conn_t *c)
{
    if (c->state != MG_C_ACTIVE || c->r == NULL || c->end_posted || c->closed) {
        return false;
    }
    ssize_t n = peek_byte(c);
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    mg_conn_t *c = (mg_conn_t *)io;
    mg__conn_enter(c);
    if ((revents & EV_WRITE) && out_pending(c)) {
        flush_out(c);
    }
    if ((revents & EV_WRITE) && c->read_wants_write) {
        c->read_wants_write = false;
        c->readable = true;
    }
    if (revents & EV_READ) {
        c->readable = true;
        c->read_spurious = !wants_read(c);
        if (c->read_spurious && reset_while_served(c)) {
            mg__conn_abort(c, 0, "client connection reset while its request was served");
        }
    }
    mg__conn_leave(c);
}

/* Whether the client's bytes wait in the socket, unread. */
static bool bytes_waiting(const mg_conn_t *c)
{
    return peek_byte(c) > 0;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_conn_t *c = (mg_conn_t *)((char *)t - offsetof(mg_conn_t, timer));
    double now = ev_now(loop);
    c->armed_at = 0;
    if (c->deadline <= 0 || c->end_posted) {
        return; /* a posted ending re-arms what the connection waits for next */
    }
    mg__conn_enter(c);
    if (now + 0.0005 < c->deadline) {
        update_watchers(c); /* fired early: the deadline moved later meanwhile */
    } else if (c->state == MG_C_PROXY) {
        log_limited(c, "PROXY protocol header timed out");
        conn_close(c);
    } else if (c->state == MG_C_TLS) {
        mg_tls_fail(&c->tp, MG_TLS_FAIL_TIMEOUT, "handshake timed out");
        log_limited(c, "TLS handshake timed out");
        conn_close(c);
    } else if (out_pending(c)) {
        mg__conn_abort(c, 0, "client timed out reading the response");
    } else if (c->state == MG_C_HEAD && c->r != NULL) {
        mg__request_reject(c, 408, "client timed out sending the request head");
    } else if (c->state == MG_C_ACTIVE && c->r != NULL && !c->r->header_sent) {
        mg_request_t *r = c->r;
        const mg_http_handler_t *h = r->handler;
        r->handler = NULL;
        if (h != NULL && h->on_abort != NULL) {
            h->on_abort(r);
        }
        c->want_close = true;
        mg_log_info("client timed out sending the request body, client: %.*s, request_id: %.*s",
                    (int)r->remote_addr.len, r->remote_addr.p, (int)r->request_id.len,
                    r->request_id.p);
        mg_http_error(r, 408);
    } else if (c->state == MG_C_ACTIVE && c->r != NULL) {
        mg__conn_abort(c, 0, "client timed out sending the request body");
    } else if (c->state == MG_C_IDLE && c->w->draining && !c->readable && wants_read(c) &&
               !c->eof && bytes_waiting(c)) {
        /* a request arrived with the end of the drain's grace (libev runs this timer
         * before the read event of the same round): answer it, with Connection: close,
         * rather than reset it by closing over unread bytes */
        c->readable = true;
    } else {
        conn_close(c); /* idle keep-alive, silent client, discard or linger */
    }
    mg__conn_leave(c);
}

const mg_transport_t *mg_http_transport(const mg_request_t *r)
{
    return &r->conn->tp;
}

/* ---- accept, drain, close all ---- */

void mg_http_conn_accept(mg_worker_t *w, int fd, const mg_listener_t *l,
                         const struct sockaddr *sa, socklen_t salen)
{
    mg_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mg_log_crit("out of memory accepting a connection");
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->w = w;
    c->fd = fd;
    if (!l->tls) {
        mg_transport_init_plain(&c->tp, fd);
    } else if (w->gen->tls == NULL || mg_transport_init_tls_server(&c->tp, fd, w->gen->tls) != MG_OK) {
        mg_log_crit("cannot start a TLS connection: %s",
                    w->gen->tls == NULL ? "no certificate" : "out of memory");
        close(fd);
        free(c);
        return;
    } else {
        c->state = MG_C_TLS; /* counted below, with the connection */
    }
    if (l->proxy_protocol) {
        c->state = MG_C_PROXY; /* before the handshake too: the header comes first */
    }
    c->admin = l->admin;
    mg__conn_state_count(c, 1);
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s6->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s4->sin_port);
    } else {
        snprintf(c->addr, sizeof(c->addr), "unix");
    }
    c->session = &mg_http1_session;
    llhttp_init(&c->parser, HTTP_REQUEST, &mg__http_settings);
    c->parser.data = c;
    ev_io_init(&c->io, on_io, fd, 0);
    ev_init(&c->timer, on_timer);
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    c->last_read = c->last_write = ev_now(w->loop);
    c->readable = true;
    /* data usually arrives with the connection: try to read it now */
    mg__conn_enter(c);
    mg__conn_leave(c);
}

void mg_http_conns_drain(mg_worker_t *w)
{
    /* w->draining makes every answer from now on close its connection. An idle one is
     * not closed now but at w->drain_idle_until (deadline()): a request already on its
     * way is answered, where a close would make it fail */
    mg_conn_t *next;
    for (mg_conn_t *c = w->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == MG_C_IDLE) {
            mg__conn_enter(c); /* re-arms the timer for the new deadline */
            mg__conn_leave(c);
        }
    }
}

void mg_http_conns_census(const mg_worker_t *w, mg_http_census_t *out)
{
    *out = (mg_http_census_t){0, 0, 0};
    for (const mg_conn_t *c = w->conns; c != NULL; c = c->next) {
        out->conns++;
        out->bytes += c->olen - c->opos;
        /* a request ended but still flushing is no longer in flight */
        const mg_request_t *r = c->end_posted ? NULL : c->r;
        if (r == NULL) {
            continue;
        }
        out->requests++;
        if (r->body_length > r->body_bytes_sent) {
            out->bytes += r->body_length - r->body_bytes_sent;
        }
    }
}

const char *mg_http_conn_state_name(int state)
{
    switch (state) {
    case MG_C_IDLE:
        return "idle";
    case MG_C_HEAD:
        return "reading";
    case MG_C_ACTIVE:
        return "active";
    case MG_C_DISCARD:
        return "discarding";
    case MG_C_LINGER:
        return "closing";
    case MG_C_TLS:
        return "handshake";
    case MG_C_PROXY:
        return "proxy_header";
    case MG_C_TUNNEL:
        return "tunnel";
    }
    return NULL;
}

void mg_http_conns_close_all(mg_worker_t *w)
{
    while (w->conns != NULL) {
        mg_conn_t *c = w->conns;
        mg__conn_enter(c);
        if (c->r != NULL) {
            mg__conn_abort(c, 0, "worker stopping");
        }
        conn_close(c);
        mg__conn_leave(c);
    }
    on_posted(w->loop, &w->posted_watcher, 0); /* the loop will not run them: now */
}

/* ---- output ---- */

static int out_append(mg_conn_t *c, const char *p, size_t len)
{
    if (c->opos > 0 && c->opos == c->olen) {
        c->opos = c->olen = 0;
    }
    return mg_bytes_append(&c->out, &c->ocap, &c->olen, &c->opos, p, len);
}

/* Writes pending output. MG_OK, or MG_ERROR when the client is gone (then aborted). */
static int flush_out(mg_conn_t *c)
{
    while (out_pending(c)) {
        ssize_t n = mg_transport_write(&c->tp, c->out + c->opos, c->olen - c->opos);
        if (n > 0) {
            c->opos += (size_t)n;
            c->last_write = mg__conn_now(c);
            continue;
        }
        if (n == -EAGAIN) {
            break;
        }
        mg__conn_abort(c, 0, "client connection reset while sending the response");
        return MG_ERROR;
    }
    if (c->state == MG_C_TUNNEL && !out_pending(c) && c->out != NULL) {
        free(c->out); /* an idle tunnel holds no buffer */
        c->out = NULL;
        c->ocap = c->olen = c->opos = 0;
    }
    if (c->out_paused && c->olen - c->opos < MG_HTTP_OUT_LOW && c->r != NULL) {
        c->out_paused = false;
        if (c->r->handler != NULL && c->r->handler->on_writable != NULL) {
            c->r->handler->on_writable(c->r);
        }
    }
    return MG_OK;
}

int mg_http_writev(mg_request_t *r, const struct iovec *iov, int iovcnt)
{
    mg_conn_t *c = r->conn;
    size_t total = 0, done = 0;
    int rc = MG_OK;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    mg__conn_enter(c);
    r->header_sent = true;
    r->bytes_sent += total;
    if (!out_pending(c) && total > 0) {
        ssize_t n = mg_transport_writev(&c->tp, iov, iovcnt);
        if (n < 0 && n != -EAGAIN) {
            mg__conn_abort(c, 0, "client connection reset while sending the response");
            rc = MG_ERROR;
            goto out;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done > 0) {
            c->last_write = mg__conn_now(c);
        }
    } else if (!out_pending(c)) {
        c->last_write = mg__conn_now(c);
    }
    for (int i = 0; i < iovcnt && done < total; i++) {
        size_t l = iov[i].iov_len;
        if (done >= l) {
            done -= l;
            total -= l;
            continue;
        }
        if (out_append(c, (const char *)iov[i].iov_base + done, l - done) != MG_OK) {
            mg__conn_abort(c, 0, "out of memory buffering the response");
            rc = MG_ERROR;
            goto out;
        }
        total -= l;
        done = 0;
    }
    if (c->olen - c->opos > MG_HTTP_OUT_HIGH) {
        c->out_paused = true;
        rc = MG_AGAIN;
    }
out:
    mg__conn_leave(c);
    return rc;
}

int mg_http_write(mg_request_t *r, const char *data, size_t len)
{
    struct iovec iov = {(void *)data, len};
    return mg_http_writev(r, &iov, 1);
}

/* ---- the end of a request ---- */

void mg__conn_end_request(mg_conn_t *c, bool keep)
{
    mg_request_t *r = c->r;
    mg_worker_t *w = c->w;
    if (r == NULL) {
        return;
    }
    if (r->status == 0) {
        r->status = 499; /* the client went away before an answer */
    }
    mg__request_log(r);
    __atomic_store_n(&w->stats->requests, w->stats->requests + 1, __ATOMIC_RELAXED);
    c->r = NULL;
    c->out_paused = false;
    mg_gen_t *g = r->gen;
    /* the pool's cleanups release what the producer tied to the request */
    mg_pool_reset(c->pool);
    mg_gen_release(g);
    c->idle_since = mg__conn_now(c);
    if (!keep || c->want_close || c->closed) {
        c->want_close = true;
        mg__conn_set_state(c, MG_C_LINGER);
        c->deadline = 0;
    } else if (!c->msg_done) {
        mg__conn_set_state(c, MG_C_DISCARD);
        c->paused = false;
    } else {
        to_idle(c);
    }
}

void mg__conn_abort(mg_conn_t *c, int status, const char *why)
{
    mg_request_t *r = c->end_posted ? NULL : c->r; /* a finished one is only flushing */
    if (c->end_posted) {
        post_end(c, false);
    }
    if (r != NULL) {
        const mg_http_handler_t *h = r->handler;
        r->handler = NULL;
        if (h != NULL && h->on_abort != NULL) {
            h->on_abort(r);
        }
        mg_log_info("%s, client: %.*s, request_id: %.*s", why, (int)r->remote_addr.len,
                    r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
        if (!r->header_sent && status > 0) {
            r->status = status;
        }
        post_end(c, false);
    }
    conn_close(c);
}

bool mg_http_keepalive(mg_request_t *r)
{
    mg_conn_t *c = r->conn;
    if (!r->keepalive || c->want_close || c->w->draining || c->eof ||
        c->nrequests >= (uint32_t)hconf(c)->keepalive_requests) {
        r->keepalive = false; /* latched: a later answer must agree with the head */
    }
    return r->keepalive;
}

void mg_http_finish(mg_request_t *r, bool ok)
{
    mg_conn_t *c = r->conn;
    if (c->end_posted) {
        return; /* ended already (a client fault came first) */
    }
    r->handler = NULL; /* the producer is done: nothing more is delivered to it */
    post_end(c, ok && mg_http_keepalive(r));
}

void mg_http_body_hold(mg_request_t *r)
{
    r->conn->paused = true;
    r->body_held = true;
}

void mg_http_body_resume(mg_request_t *r)
{
    mg_conn_t *c = r->conn;
    mg__conn_enter(c);
    c->paused = false; /* the outermost leave() runs the driver, which reads on */
    mg__conn_leave(c);
}
