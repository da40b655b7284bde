/*
 * http_proxy_resp.c -- the response half of the proxy: parses what the upstream answers
 * (llhttp, response mode, every lenient flag off) and sends it to the client with our own
 * framing.
 *
 * The response head is parsed in place: the read buffer is not reused until the head is
 * complete, so header spans stay valid and split spans are adjacent. It goes to the
 * client side's response path as the upstream sent it (mg_http_send_head: filters,
 * then the session writer, which holds it back until the first body bytes, so a small
 * response leaves in one write). Body bytes go down straight from the read buffer; the
 * writer copies only what the client socket does not take, and a full client buffer
 * stops upstream reads.
 */
#include "http_proxy_int.h"

#include "http.h"
#include "lua_runtime.h"
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

static proxy_t *parser_proxy(llhttp_t *h)
{
    return h->data;
}

/* What mg_http_send_body() said, for llhttp: -1 stops the parser when the client is gone
 * (the proxy is dead then) or a body filter failed; a full client buffer pauses reads. */
static int down_result(proxy_t *p, int rc)
{
    if (rc == MG_ERROR) {
        if (!p->dead) {
            p->plugin_failed = true;
            p->why = "body_filter failed";
        }
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

/* The body's length as the client will be told it, or -1 when unknown (the session
 * writer then frames it). A HEAD or 304 answer's length describes the GET body. */
static int64_t body_length(proxy_t *p, int status, bool no_body)
{
    llhttp_t *h = &p->parser;
    bool has_cl = (h->flags & F_CONTENT_LENGTH) != 0;
    if (no_body) {
        return has_cl && status != 204 ? (int64_t)h->content_length : -1;
    }
    return has_cl && !(h->flags & F_CHUNKED) ? (int64_t)h->content_length : -1;
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
    bool no_body = r->is_head || status == 204 || status == 304;
    mg_http_head_t head = {
        .status = status,
        .reason = p->reason,
        .headers = p->hdr,
        .nheaders = p->nhdr,
        .content_length = body_length(p, status, no_body),
    };
    for (size_t i = 0; i < p->nhdr; i++) {
        p->hdr[i].value = mg_str_trim(p->hdr[i].value);
        if (mg_str_caseeq(p->hdr[i].name, MG_STR("Connection"))) {
            head.connection = p->hdr[i].value;
        }
    }
    if (p->nhdr > 0) {
        /* every span lies in the read buffer, in order: their extent, plus what the
         * writer may add per line (": " and CRLF against a bare ':'), bounds its copy */
        const mg_header_t *last = &p->hdr[p->nhdr - 1];
        const char *end =
            last->value.p != NULL ? last->value.p + last->value.len : last->name.p + last->name.len;
        head.headers_size = (size_t)(end - p->hdr[0].name.p) + 4 * p->nhdr;
    }
    /* the sticky balancer's cookie is part of this producer's answer */
    mg_str_t cookie = mg_balancer_cookie(&p->up->balancer, &p->bctx, p->node);
    if (cookie.len > 0) {
        head.extra[head.nextra++] = (mg_header_t){MG_STR("Set-Cookie"), cookie};
    }
    r->upstream_status = status;
    r->upstream_time = r->upstream_header_time; /* until the end of the body is known */
    if (mg_http_send_head(r, &head) != MG_OK) {
        p->plugin_failed = true;
        p->why = "header_filter failed";
        return -1;
    }
    return no_body ? 1 : 0;
}

static int on_resp_body(llhttp_t *h, const char *at, size_t len)
{
    proxy_t *p = parser_proxy(h);
    return down_result(p, mg_http_send_body(p->r, at, len, false));
}

static int on_resp_complete(llhttp_t *h)
{
    proxy_t *p = parser_proxy(h);
    if (!p->head_done) {
        return 0; /* end of an interim answer: the real one follows */
    }
    p->resp_done = true;
    p->r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(p->r);
    if (down_result(p, mg_http_send_body(p->r, NULL, 0, true)) < 0) {
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
        resp_broken(p, MG_PROXY_ERR_BAD_RESPONSE, why != NULL ? why : llhttp_errno_name(e));
        return;
    }
    if (p->r->out_head_len > 0) {
        down_result(p, mg_http_send_body(p->r, NULL, 0, false)); /* the head alone */
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
        ssize_t n = mg_transport_read(&p->conn->tp, dst, room);
        if (n < 0) {
            if (n == -EAGAIN) {
                break;
            }
            resp_broken(p, MG_PROXY_ERR_IO, strerror((int)-n));
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
