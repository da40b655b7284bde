/*
 * http_proxy_resp.c -- the response half of the proxy: parses what the upstream answers
 * (llhttp, response mode, every lenient flag off) and sends it to the client with our own
 * framing.
 *
 * The response head is parsed in place: the read buffer is not reused until the head is
 * complete, so header spans stay valid and split spans are adjacent. The head is built
 * once and held back until the first body bytes, so a small response leaves in one
 * write. Body bytes go down straight from the read buffer; mg_http_write() copies only
 * what the client socket does not take, and a full client buffer stops upstream reads.
 */
#include "http_proxy_int.h"

#include "http.h"
#include "lua_runtime.h"
#include "pool.h"
#include "ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

static proxy_t *parser_proxy(llhttp_t *h)
{
    return h->data;
}

/* Writes iov to the client, led by the response head while it waits. -1 when the client
 * is gone (the proxy is dead then), 0 otherwise; a full client buffer pauses reads. */
static int down_write(proxy_t *p, const struct iovec *body, int n)
{
    struct iovec iov[4];
    int cnt = 0;
    if (p->pending_len > 0) {
        iov[cnt++] = (struct iovec){p->pending_head, p->pending_len};
        p->pending_len = 0;
    }
    for (int i = 0; i < n; i++) {
        if (body[i].iov_len > 0) {
            iov[cnt++] = body[i];
        }
    }
    if (cnt == 0) {
        return 0;
    }
    int rc = mg_http_writev(p->r, iov, cnt);
    if (rc == MG_ERROR || p->dead) {
        return -1;
    }
    if (rc == MG_AGAIN) {
        p->down_paused = true;
    }
    return 0;
}

static int on_resp_begin(llhttp_t *h)
{
    proxy_t *p = parser_proxy(h);
    p->nhdr = 0;
    p->in_value = false;
    p->reason = MG_NULL_STR;
    return 0;
}

/* Spans of one element arrive in pieces when a read splits it; the read buffer is never
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

static int on_resp_status(llhttp_t *h, const char *at, size_t len)
{
    span_extend(&parser_proxy(h)->reason, at, len);
    return 0;
}

static int on_resp_header_field(llhttp_t *h, const char *at, size_t len)
{
    proxy_t *p = parser_proxy(h);
    if (p->head_done) {
        return 0; /* trailers: never merged into the headers, never forwarded */
    }
    if (p->nhdr == 0 || p->in_value) {
        if (p->nhdr == PROXY_MAX_HEADERS) {
            parser_proxy(h)->why = "too many response headers";
            return -1;
        }
        p->hdr[p->nhdr++] = (mg_header_t){MG_NULL_STR, MG_NULL_STR};
        p->in_value = false;
    }
    span_extend(&p->hdr[p->nhdr - 1].name, at, len);
    return 0;
}

static int on_resp_header_value(llhttp_t *h, const char *at, size_t len)
{
    proxy_t *p = parser_proxy(h);
    if (p->head_done) {
        return 0;
    }
    if (memchr(at, '\0', len) != NULL) {
        parser_proxy(h)->why = "NUL in a response header";
        return -1;
    }
    if (!p->in_value) {
        p->in_value = true;
        p->hdr[p->nhdr - 1].value = MG_NULL_STR;
    }
    span_extend(&p->hdr[p->nhdr - 1].value, at, len);
    return 0;
}

/* Picks the framing towards the client from the upstream's and the client's. */
static mg_proxy_frame_t choose_frame(proxy_t *p, int status, bool *no_body)
{
    mg_request_t *r = p->r;
    llhttp_t *h = &p->parser;
    bool has_cl = (h->flags & F_CONTENT_LENGTH) != 0;
    bool http11 = r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1);

    *no_body = r->is_head || status == 204 || status == 304;
    if (*no_body) {
        /* a HEAD answer's length describes the GET body: pass it on as is */
        return has_cl && status != 204 ? MG_PROXY_FRAME_LENGTH : MG_PROXY_FRAME_NONE;
    }
    if (!(h->flags & F_CHUNKED) && has_cl) {
        return MG_PROXY_FRAME_LENGTH;
    }
    return http11 ? MG_PROXY_FRAME_CHUNKED : MG_PROXY_FRAME_CLOSE;
}

static int on_resp_headers_complete(llhttp_t *h)
{
    proxy_t *p = parser_proxy(h);
    mg_request_t *r = p->r;
    int status = h->status_code;
    if (status == 101) {
        parser_proxy(h)->why = "101 Switching Protocols is not supported";
        return -1; /* no tunnelling: an upgrade answer is a bad answer here */
    }
    if (status >= 100 && status < 200) {
        return 1; /* interim answer: the client side does its own 100 Continue */
    }
    p->head_done = true;
    r->upstream_header_time = ev_now(p->loop) - p->first_start; /* before any header_filter */
    mg__proxy_try_end(p, false, true);
    mg__proxy_observe(p, status >= 500 ? MG_HEALTH_5XX : MG_HEALTH_OK);
    bool no_body;
    mg_str_t conn_value = MG_NULL_STR;
    for (size_t i = 0; i < p->nhdr; i++) {
        p->hdr[i].value = mg_str_trim(p->hdr[i].value);
        if (mg_str_caseeq(p->hdr[i].name, MG_STR("Connection"))) {
            conn_value = p->hdr[i].value;
        }
    }
    p->frame = choose_frame(p, status, &no_body);
    const mg_header_t *hdrs = p->hdr;
    size_t nhdrs = p->nhdr;
    if (r->lua != NULL) {
        const void *h = hdrs;
        if (mg_lua_filter_head(r, &status, &h, &nhdrs) != MG_OK) {
            p->plugin_failed = true;
            p->why = "header_filter failed";
            return -1;
        }
        hdrs = h;
    }
    p->filter_body = !no_body && r->lua != NULL && mg_lua_has_phase(r, MG_PHASE_BODY_FILTER);
    if (p->filter_body && p->frame == MG_PROXY_FRAME_LENGTH) {
        /* filters may change the length: stream it chunked (or to the close) */
        bool http11 = r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1);
        p->frame = http11 ? MG_PROXY_FRAME_CHUNKED : MG_PROXY_FRAME_CLOSE;
    }
    if (p->frame == MG_PROXY_FRAME_CLOSE) {
        r->keepalive = false; /* the end of the body is the end of the connection */
    }
    /* the gateway's own headers: RateLimit-* (headers: true), a sticky Set-Cookie */
    mg_header_t extra[4];
    size_t nextra = r->rl != NULL ? mg_rl_response_headers(r, extra) : 0;
    mg_str_t cookie = mg_balancer_cookie(&p->up->balancer, &p->bctx, p->node);
    if (cookie.len > 0) {
        extra[nextra++] = (mg_header_t){MG_STR("Set-Cookie"), cookie};
    }
    mg_proxy_response_head_t rh = {
        .extra = extra,
        .nextra = nextra,
        .status = status,
        .reason = p->reason.len > 0
                      ? p->reason
                      : mg_str(mg_http_reason(status), strlen(mg_http_reason(status))),
        .headers = hdrs,
        .nheaders = nhdrs,
        .connection = conn_value,
        .frame = p->frame,
        .content_length = h->content_length,
        .keepalive = mg_http_keepalive(r),
        .http10_keepalive = r->http_major == 1 && r->http_minor == 0,
    };
    char *buf = mg_pool_alloc(r->pool, mg_proxy_response_head_size(&rh));
    if (buf == NULL) {
        parser_proxy(h)->why = "out of memory";
        return -1;
    }
    p->pending_head = buf;
    p->pending_len = mg_proxy_build_response_head(&rh, buf);
    r->status = status;
    r->upstream_status = status;
    r->upstream_time = r->upstream_header_time; /* until the end of the body is known */
    return no_body ? 1 : 0;
}

/* Runs the body filters over one piece of the body (eof: the end). 0, or -1 when a
 * plugin failed: the head went down already, so the client connection is cut. */
static int filter_body(proxy_t *p, const char **at, size_t *len, bool eof)
{
    if (mg_lua_body_filter(p->r, *at, *len, eof, at, len) != MG_OK) {
        p->plugin_failed = true;
        p->why = "body_filter failed";
        return -1;
    }
    return 0;
}

static int on_resp_body(llhttp_t *h, const char *at, size_t len)
{
    proxy_t *p = parser_proxy(h);
    if (p->filter_body && (filter_body(p, &at, &len, false) < 0 || len == 0)) {
        return p->plugin_failed ? -1 : 0;
    }
    if (p->frame != MG_PROXY_FRAME_CHUNKED) {
        struct iovec iov = {(void *)at, len};
        return down_write(p, &iov, 1);
    }
    int n = snprintf(p->chunk_hdr, sizeof(p->chunk_hdr), "%zx\r\n", len);
    struct iovec iov[3] = {{p->chunk_hdr, (size_t)n}, {(void *)at, len}, {"\r\n", 2}};
    return down_write(p, iov, 3);
}

static int on_resp_complete(llhttp_t *h)
{
    proxy_t *p = parser_proxy(h);
    if (!p->head_done) {
        return 0; /* end of an interim answer: the real one follows */
    }
    p->resp_done = true;
    p->r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(p->r);
    if (p->filter_body) {
        const char *at = NULL;
        size_t len = 0;
        if (filter_body(p, &at, &len, true) < 0) {
            return -1;
        }
        p->filter_body = false;
        if (len > 0 && on_resp_body(h, at, len) < 0) {
            return -1;
        }
    }
    struct iovec end = {"0\r\n\r\n", 5};
    if (down_write(p, &end, p->frame == MG_PROXY_FRAME_CHUNKED ? 1 : 0) < 0) {
        return -1;
    }
    return HPE_PAUSED; /* anything after the response is not ours to parse */
}

const llhttp_settings_t mg__proxy_resp_settings = {
    .on_message_begin = on_resp_begin,
    .on_status = on_resp_status,
    .on_header_field = on_resp_header_field,
    .on_header_value = on_resp_header_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_complete,
};

/* The whole response went down: pool the connection when both messages were whole. */
static void complete(proxy_t *p)
{
    bool keep = !p->extra && mg__proxy_request_sent(p) && llhttp_should_keep_alive(&p->parser);
    mg__proxy_finish(p, true, keep);
}

/* The response stopped before its end. Before the head went down there is still a
 * choice (retry or 502); after it, the client connection is cut so it sees the loss. */
static void resp_broken(proxy_t *p, mg_proxy_err_t err, const char *why)
{
    if (p->plugin_failed && !p->r->header_sent) {
        mg__proxy_fail(p, 500); /* our plugin, not the upstream: no retry, no 502 */
        return;
    }
    if (p->r->header_sent) {
        p->r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(p->r);
        mg__proxy_log_try(p, MG_LOG_ERROR, "response truncated", why);
        mg__proxy_finish(p, false, false);
        return;
    }
    if (p->resp_started && err == MG_PROXY_ERR_IO) {
        err = MG_PROXY_ERR_BAD_RESPONSE; /* part of an answer: the request got there */
    }
    mg__proxy_try_failed(p, err, why);
}

static void on_eof(proxy_t *p)
{
    if (!p->head_done) {
        resp_broken(p, MG_PROXY_ERR_IO, "upstream closed the connection");
        return;
    }
    llhttp_errno_t e = llhttp_finish(&p->parser);
    if (p->dead) {
        return;
    }
    if (p->resp_done && (e == HPE_OK || e == HPE_PAUSED)) {
        p->extra = true; /* closed: not reusable */
        complete(p);
        return;
    }
    resp_broken(p, MG_PROXY_ERR_IO, "upstream closed before the end of the body");
}

/* Feeds n new bytes at data to the parser. */
static void parse(proxy_t *p, const char *data, size_t n)
{
    llhttp_errno_t e = llhttp_execute(&p->parser, data, n);
    if (p->dead) {
        return;
    }
    if (e == HPE_PAUSED && p->resp_done) {
        p->extra = llhttp_get_error_pos(&p->parser) < data + n;
        complete(p);
        return;
    }
    if (e != HPE_OK) {
        /* llhttp replaces the reason of a callback error with a generic one */
        const char *why = p->why != NULL ? p->why : llhttp_get_error_reason(&p->parser);
        p->pending_len = 0; /* nothing went down yet: a clean 502 is still possible */
        resp_broken(p, MG_PROXY_ERR_BAD_RESPONSE, why != NULL ? why : llhttp_errno_name(e));
        return;
    }
    if (p->pending_len > 0) {
        down_write(p, NULL, 0); /* the head with no body bytes in this read */
    }
}

void mg__proxy_do_read(proxy_t *p)
{
    unsigned id = p->try_id;
    while (!p->dead && p->try_id == id && !p->down_paused) {
        char *dst = p->head_done ? p->rbuf : p->rbuf + p->rlen;
        size_t room = p->head_done ? PROXY_RBUF : PROXY_RBUF - p->rlen;
        if (room == 0) {
            resp_broken(p, MG_PROXY_ERR_BAD_RESPONSE, "response head too big");
            return;
        }
        ssize_t n = recv(p->conn->fd, dst, room, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            resp_broken(p, MG_PROXY_ERR_IO, strerror(errno));
            return;
        }
        if (n == 0) {
            on_eof(p);
            return;
        }
        p->resp_started = true;
        bool in_head = !p->head_done;
        parse(p, dst, (size_t)n);
        if (p->dead || p->try_id != id) {
            return;
        }
        if (in_head && !p->head_done) {
            p->rlen += (size_t)n;
        }
        mg__proxy_touch_timer(p);
        if ((size_t)n < room) {
            break; /* drained: wait for the next readiness instead of an EAGAIN */
        }
    }
    if (!p->dead && p->try_id == id) {
        mg__proxy_update_io(p);
    }
}
