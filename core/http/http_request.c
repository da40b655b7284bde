/*
 * http_request.c -- one request's head: llhttp callbacks (strict mode, every lenient
 * flag off) that record spans and enforce the size limits as bytes arrive, then the
 * checks llhttp does not make (Host, framing headers, Expect, Upgrade, the target's
 * form, path normalisation), routing and the hand-off to a producer.
 *
 * A chunked body is not llhttp's: llhttp 8.1 refuses valid chunk extensions
 * (`5;a=b;c=d`, quoted values), so parse() decodes it with mg_http_chunked_decode() and
 * feeds the same on_body / on_message_complete callbacks; llhttp is reset when the
 * body starts and again for each request.
 *
 * Anything rejected here is answered by the gateway and closes the connection; no
 * producer ever sees it, so nothing of it reaches an upstream.
 */
#include "http_conn_int.h"

#include "conf.h"
#include "gen.h"
#include "http_parse.h"
#include "http_phase.h"
#include "log.h"
#include "pool.h"
#include "realip.h"
#include "router.h"
#include "tls.h"
#include "websocket.h"
#include "worker.h"

#include <stdio.h>

static mg_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

/* The limits that apply now: the request's generation, or the worker's while a body
 * whose request already ended is discarded (c->r is NULL then, yet llhttp still calls
 * back for its chunks and trailer fields). Every callback goes through here rather
 * than through c->r. */
static const mg_http_conf_t *hconf(const mg_conn_t *c)
{
    return c->r != NULL ? c->r->limits : &c->w->gen->conf->http;
}

/* Makes llhttp stop with our status; parse() answers it. */
static int fail(mg_conn_t *c, int status, const char *why)
{
    c->err_status = status;
    c->err_reason = why;
    return HPE_USER;
}

/* ---- llhttp callbacks ---- */

/* The method's first bytes. llhttp skips empty lines before a request line (RFC 9112
 * §2.2 says to ignore at least one); the request starts here, so the spans count from
 * here, and only CRLF pairs may come before it: a bare CR or LF is refused. */
static int on_method(llhttp_t *p, const char *at, size_t len)
{
    mg_conn_t *c = conn_of(p);
    const char *lo = c->buf + c->hs;
    if (at == lo || (*lo != '\r' && *lo != '\n')) {
        return 0; /* no empty line, or a later piece of the method */
    }
    for (const char *q = lo; q < at; q += 2) {
        if (q + 1 >= at || q[0] != '\r' || q[1] != '\n') {
            return fail(c, 400, "bare CR or LF before the request line");
        }
    }
    c->hs = (uint32_t)(at - c->buf);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    mg_conn_t *c = conn_of(p);
    if (c->url_len == 0) {
        c->url_off = (uint32_t)(at - (c->buf + c->hs));
    }
    c->url_len += (uint32_t)len;
    if (c->url_len + 16 > hconf(c)->max_request_line) {
        return fail(c, 414, "request line too long");
    }
    return 0;
}

/* Counts one piece of a header line against the line and block limits. */
static int header_bytes(mg_conn_t *c, size_t len)
{
    const mg_http_conf_t *h = hconf(c);
    c->line_len += (uint32_t)len;
    c->head_bytes += (uint32_t)len;
    if (c->line_len > h->max_header_line) {
        return fail(c, 431, "header line too long");
    }
    if (c->head_bytes > h->max_header_size) {
        return fail(c, 431, "request headers too large");
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    mg_conn_t *c = conn_of(p);
    if (c->line_len == 0) {
        /* strict llhttp still takes a bare LF after the request line */
        if (at[-1] != '\n' || at[-2] != '\r') {
            return fail(c, 400, "bare LF ending a line");
        }
        if (c->nspans >= (uint32_t)hconf(c)->max_headers) {
            return fail(c, 431, "too many header fields");
        }
        if (c->nspans == c->cspans) {
            uint32_t n = c->cspans ? c->cspans * 2 : 16;
            mg_hspan_t *s = mg_pool_alloc(c->pool, n * sizeof(*s));
            if (s == NULL) {
                return fail(c, 500, "out of memory reading headers");
            }
            if (c->nspans > 0) {
                memcpy(s, c->spans, c->nspans * sizeof(*s));
            }
            c->spans = s;
            c->cspans = n;
        }
        mg_hspan_t *s = &c->spans[c->nspans];
        memset(s, 0, sizeof(*s));
        s->name_off = (uint32_t)(at - (c->buf + c->hs));
    }
    c->spans[c->nspans].name_len += (uint32_t)len;
    return header_bytes(c, len);
}

/* Whether a piece of a value starts a continuation line: only OWS between it and the
 * end of the previous line. The head stays whole in the buffer from c->hs while it is
 * parsed, so the bytes before `at` are there to look at. */
static bool after_fold(const mg_conn_t *c, const char *at)
{
    const char *lo = c->buf + c->hs;
    while (at > lo && (at[-1] == ' ' || at[-1] == '\t')) {
        at--;
    }
    return at > lo && at[-1] == '\n';
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    mg_conn_t *c = conn_of(p);
    /* llhttp unfolds obs-fold (also a fold right after the colon, "Host:\r\n a");
     * RFC 9112 §5.2 lets a server refuse it, and a fold must never reach a field whose
     * meaning two hops could read differently */
    if (len > 0 && after_fold(c, at)) {
        return fail(c, 400, "obs-fold in a header value");
    }
    mg_hspan_t *s = &c->spans[c->nspans];
    if (s->val_len == 0) {
        s->val_off = (uint32_t)(at - (c->buf + c->hs));
    }
    s->val_len += (uint32_t)len;
    return header_bytes(c, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    mg_conn_t *c = conn_of(p);
    c->nspans++;
    c->line_len = 0;
    c->head_bytes += 4; /* ": " and CRLF */
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    mg_conn_t *c = conn_of(p);
    c->head_done = true;
    c->line_len = 0;
    return HPE_PAUSED; /* dispatch happens outside llhttp, see parse() */
}

/* Body bytes, from llhttp (Content-Length) or from the chunked decoder. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
    mg_conn_t *c = conn_of(p);
    mg_request_t *r = c->r;
    c->body_read += len;
    size_t max = hconf(c)->client_max_body_size;
    if (r == NULL || c->state != MG_C_ACTIVE) {
        /* discarding: only up to the limit, then the connection is closed */
        return max > 0 && c->body_read > max ? fail(c, 413, "discarded body too large") : 0;
    }
    if (max > 0 && c->body_read > max) {
        return fail(c, 413, "request body too large");
    }
    if (r->handler == NULL || r->handler->on_body == NULL) {
        return 0;
    }
    int rc = r->handler->on_body(r, at, len);
    if (c->r != r || c->closed || c->state != MG_C_ACTIVE) {
        return HPE_PAUSED; /* the request ended inside: the driver takes it from here */
    }
    if (rc == MG_AGAIN) {
        c->paused = true;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    mg_conn_t *c = conn_of(p);
    mg_request_t *r = c->r;
    c->msg_done = true;
    if (r != NULL && c->state == MG_C_ACTIVE && r->has_body && r->handler != NULL &&
        r->handler->on_body_end != NULL) {
        r->handler->on_body_end(r);
    }
    return HPE_PAUSED; /* one request at a time: pipelined bytes wait in the buffer */
}

const llhttp_settings_t mg__http_settings = {
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- a new request ---- */

/* Writes the worker's prefix and the sequence number as at least 8 hex digits (the
 * request id) into id (room for 40 bytes); returns its length. snprintf did this at a
 * tenth of a proxied request's own instructions. */
static size_t request_id(char *id, const char *prefix, uint64_t seq)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(prefix);
    memcpy(id, prefix, n);
    int digits = 8;
    while (digits < 16 && (seq >> (4 * digits)) != 0) {
        digits++;
    }
    for (int i = digits - 1; i >= 0; i--) {
        id[n++] = hex[(seq >> (4 * i)) & 0xf];
    }
    id[n] = '\0';
    return n;
}

int mg__request_begin(mg_conn_t *c)
{
    mg_worker_t *w = c->w;
    if (c->pool == NULL && (c->pool = mg__conn_pool_take()) == NULL) {
        return MG_ERROR;
    }
    mg_request_t *r = mg_pool_calloc(c->pool, sizeof(*r));
    char *id = mg_pool_alloc(c->pool, 40);
    if (r == NULL || id == NULL) {
        return MG_ERROR;
    }
    r->pool = c->pool;
    r->conn = c;
    r->worker = w;
    r->gen = mg_gen_retain(w->gen);
    r->limits = &r->gen->conf->http;
    r->content_length = -1;
    r->tls = mg_transport_is_tls(&c->tp);
    r->upstream_time = r->upstream_connect_time = r->upstream_header_time = -1;
    r->start = r->start_wall = mg__conn_now(c);
    r->http_major = r->http_minor = 1;
    r->remote_addr = r->peer_addr = mg_str(c->addr, strlen(c->addr));
    r->remote_port = r->peer_port = c->port;
    r->request_id = mg_str(id, request_id(id, w->id_prefix, ++w->request_seq));
    c->r = r;
    mg__conn_set_state(c, MG_C_HEAD);
    c->hs = c->pos;
    c->url_off = c->url_len = c->line_len = c->head_bytes = 0;
    c->chunked.state = 0;
    llhttp_reset(&c->parser); /* each request from a clean parser: moongate, not llhttp,
                                 decides whether a connection carries another one */
    c->spans = NULL;
    c->nspans = c->cspans = 0;
    c->body_read = 0;
    c->msg_done = c->head_done = c->paused = false;
    c->err_status = 0;
    c->err_reason = NULL;
    c->nrequests++;
    return MG_OK;
}

void mg__request_reject(mg_conn_t *c, int status, const char *why)
{
    mg_request_t *r = c->r;
    if (r == NULL) {
        return;
    }
    const mg_http_handler_t *h = r->handler;
    r->handler = NULL;
    if (h != NULL && h->on_abort != NULL) {
        h->on_abort(r); /* e.g. a chunked body crossed the limit while being proxied */
    }
    mg_worker_stats_t *s = c->w->stats;
    __atomic_store_n(&s->bad_requests, s->bad_requests + 1, __ATOMIC_RELAXED);
    mg_log_info("rejected with %d: %s, client: %.*s, request_id: %.*s", status, why,
                (int)r->remote_addr.len, r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
    c->want_close = true;
    mg_http_error(r, status);
}

/* ---- the head ---- */

typedef struct {
    int nhost, ncl, nte;
    mg_str_t host, cl, te, expect, upgrade, ws_key, ws_version;
    mg_str_t authority; /* of an absolute-form target: it overrides Host */
} head_seen_t;

/* A name that would mean a framing or routing header to a server that folds '_' into
 * '-' is refused rather than forwarded: two hops must never disagree on framing. */
static bool underscore_alias(mg_str_t name)
{
    static const char *const names[] = {
        "content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"};
    if (memchr(name.p, '_', name.len) == NULL) {
        return false;
    }
    for (size_t i = 0; i < MG_NELEMS(names); i++) {
        size_t l = strlen(names[i]);
        if (l != name.len) {
            continue;
        }
        size_t j = 0;
        while (j < l &&
               ((name.p[j] | 0x20) == names[i][j] || (name.p[j] == '_' && names[i][j] == '-'))) {
            j++;
        }
        if (j == l) {
            return true;
        }
    }
    return false;
}

static bool value_ok(mg_str_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Builds r->headers from the spans and notes the headers the checks need. */
static const char *collect_headers(mg_conn_t *c, mg_request_t *r, head_seen_t *s)
{
    const char *base = c->buf + c->hs;
    r->headers = mg_pool_alloc(c->pool, (c->nspans ? c->nspans : 1) * sizeof(mg_header_t));
    if (r->headers == NULL) {
        return "out of memory";
    }
    for (uint32_t i = 0; i < c->nspans; i++) {
        const mg_hspan_t *sp = &c->spans[i];
        mg_str_t name = mg_str(base + sp->name_off, sp->name_len);
        mg_str_t val = mg_str_trim(mg_str(base + sp->val_off, sp->val_len));
        if (!mg_http_valid_token(name) || underscore_alias(name)) {
            return "invalid header name";
        }
        if (!value_ok(val)) {
            return "control character in a header value";
        }
        r->headers[r->nheaders++] = (mg_header_t){name, val};
        if (mg_str_caseeq(name, MG_STR("Host"))) {
            s->nhost++;
            s->host = val;
        } else if (mg_str_caseeq(name, MG_STR("Content-Length"))) {
            s->ncl++;
            s->cl = val;
        } else if (mg_str_caseeq(name, MG_STR("Transfer-Encoding"))) {
            s->nte++;
            s->te = val;
        } else if (mg_str_caseeq(name, MG_STR("Connection"))) {
            r->connection = val;
        } else if (mg_str_caseeq(name, MG_STR("Expect"))) {
            s->expect = val;
        } else if (mg_str_caseeq(name, MG_STR("Upgrade"))) {
            s->upgrade = val;
        } else if (mg_str_caseeq(name, MG_STR("Sec-WebSocket-Key"))) {
            s->ws_key = val;
        } else if (mg_str_caseeq(name, MG_STR("Sec-WebSocket-Version"))) {
            s->ws_version = val;
        } else if (mg_str_caseeq(name, MG_STR("X-Request-Id")) && mg_http_valid_request_id(val)) {
            r->request_id = val;
        }
    }
    return NULL;
}

/* Transfer-Encoding: only a single "chunked" is understood. Returns 0 or a status. */
static int check_te(mg_request_t *r, const head_seen_t *s)
{
    if (s->nte == 0) {
        return 0;
    }
    if (s->nte > 1 || r->http_minor == 0 || s->ncl > 0) {
        return 400;
    }
    if (mg_http_list_count(s->te, MG_STR("chunked")) > 1) {
        return 400;
    }
    if (!mg_str_caseeq(s->te, MG_STR("chunked"))) {
        return 501;
    }
    r->chunked = true;
    return 0;
}

/* Sets r->host (lower-cased, without port, for routing) and r->host_header (as sent,
 * for upstream) from a Host value or a target's authority. Returns 0 or a status. */
static int set_host(mg_conn_t *c, mg_request_t *r, mg_str_t value)
{
    mg_str_t host;
    int port;
    if (mg_http_parse_host(value, &host, &port) != MG_OK) {
        return 400;
    }
    char *lower = mg_pool_alloc(c->pool, host.len + 1);
    if (lower == NULL) {
        return 500;
    }
    for (size_t i = 0; i < host.len; i++) {
        char ch = host.p[i];
        lower[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    r->host = mg_str(lower, host.len);
    r->host_header = value;
    return 0;
}

/* Host must be valid (and present in HTTP/1.1) even with an absolute-form target, whose
 * authority then wins (RFC 9112 §3.2.2): routing and upstream see that one. */
static int check_host(mg_conn_t *c, mg_request_t *r, const head_seen_t *s, const char **why)
{
    int st;
    *why = "missing or invalid Host";
    if (s->nhost > 1 || (s->nhost == 0 && r->http_minor >= 1)) {
        return 400;
    }
    if (s->nhost == 1 && (st = set_host(c, r, s->host)) != 0) {
        return st;
    }
    *why = "invalid authority in the request target";
    return s->authority.len > 0 ? set_host(c, r, s->authority) : 0;
}

/* Framing, Expect and Upgrade. Returns 0 or a status, with the reason in *why. */
static int check_framing(mg_conn_t *c, mg_request_t *r, const head_seen_t *s, const char **why)
{
    int st;
    *why = "invalid Transfer-Encoding";
    if ((st = check_te(r, s)) != 0) {
        return st;
    }
    *why = "invalid Content-Length";
    if (s->ncl > 1 ||
        (s->ncl == 1 && mg_http_parse_content_length(s->cl, &r->content_length) != MG_OK)) {
        return 400;
    }
    r->has_body = r->chunked || r->content_length > 0;
    *why = "unsupported Expect";
    if (s->expect.len > 0) {
        if (!mg_str_caseeq(s->expect, MG_STR("100-continue"))) {
            return 417;
        }
        r->expect_continue = r->http_minor >= 1 && r->has_body;
    }
    if (mg_ws_wanted(s->upgrade)) {
        /* a WebSocket handshake without a valid key is refused on any route; the rest of
         * the handshake is checked once the route is known (check_websocket) */
        *why = "invalid WebSocket upgrade";
        if (!mg_ws_key_ok(s->ws_key)) {
            return 400;
        }
        r->websocket = true;
        r->ws_key = s->ws_key;
    }
    /* llhttp never switches protocols for us: other upgrades (h2c) are ignored and served
     * as HTTP/1.1; a WebSocket tunnel begins only once the upstream answered 101 */
    c->parser.upgrade = 0;
    return 0;
}

/* A WebSocket handshake on a route: checked whole on a `websocket: true` one (returns 0,
 * 400 or 426 with *why); elsewhere the Upgrade is ignored, as RFC 9110 §7.8 allows and
 * h2c is: the request goes up as a plain one, Upgrade and Connection being hop-by-hop. */
static int check_websocket(mg_request_t *r, const head_seen_t *s, const char **why)
{
    if (!r->websocket) {
        return 0;
    }
    if (r->match.route == NULL || !r->match.route->websocket) {
        r->websocket = false;
        return 0;
    }
    mg_ws_handshake_t h = {
        .method = r->method,
        .http_major = r->http_major,
        .http_minor = r->http_minor,
        .upgrade = s->upgrade,
        .connection = r->connection,
        .key = s->ws_key,
        .version = s->ws_version,
        .has_body = r->has_body,
    };
    return mg_ws_handshake_check(&h, why);
}

/* The target's path and query: `t` is "" or starts with '/' or '?' (origin-form, or the
 * rest of an absolute-form target). Returns 0 or 400. */
static int split_target(mg_conn_t *c, mg_request_t *r, mg_str_t t)
{
    const char *q = memchr(t.p, '?', t.len);
    size_t plen = q != NULL ? (size_t)(q - t.p) : t.len;
    size_t outlen;
    char *path = mg_pool_alloc(c->pool, plen * 3 + 2);
    if (path == NULL) {
        return 400;
    }
    if (plen == 0) {
        path[0] = '/'; /* "http://a" and "http://a?q" ask for "/" (RFC 9112 §3.2.1) */
        outlen = 1;
    } else if (mg_http_normalize_path(t.p, plen, path, &outlen) != MG_OK) {
        return 400;
    }
    r->path = mg_str(path, outlen);
    r->query = q != NULL ? mg_str(q + 1, t.len - plen - 1) : MG_NULL_STR;
    for (size_t i = 0; i < r->query.len; i++) {
        unsigned char ch = (unsigned char)r->query.p[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '#') {
            return 400; /* the query goes upstream raw: no control, 8-bit or fragment */
        }
    }
    return 0;
}

/* The request line: method, version, target form, path. Origin-form; absolute-form
 * (its authority noted in s, the rest split as origin-form); "*" only for OPTIONS
 * (path "*", forwarded as is). */
static int check_line(mg_conn_t *c, mg_request_t *r, head_seen_t *s, const char **why)
{
    r->method = c->parser.method;
    r->method_name =
        mg_str(llhttp_method_name(c->parser.method), strlen(llhttp_method_name(c->parser.method)));
    r->http_major = c->parser.http_major;
    r->http_minor = c->parser.http_minor;
    r->is_head = r->method == HTTP_HEAD;
    r->target = mg_str(c->buf + c->hs + c->url_off, c->url_len);
    /* llhttp lets extra spaces through around the target; one space exactly */
    const char *after = r->target.p + r->target.len;
    *why = "malformed request line";
    if (c->url_off != r->method_name.len + 1 || after[0] != ' ' || after[1] != 'H') {
        return 400;
    }
    *why = "unsupported HTTP version";
    if (r->http_major != 1) {
        return 505;
    }
    *why = "method not allowed";
    if (r->method == HTTP_TRACE || r->method == HTTP_CONNECT) {
        return 405;
    }
    *why = "invalid request target";
    mg_str_t t = r->target;
    if (t.len == 1 && t.p[0] == '*') {
        if (r->method != HTTP_OPTIONS) {
            return 400;
        }
        r->path = t;
        return 0;
    }
    if (t.len == 0 || t.p[0] != '/') {
        if (mg_http_split_absolute(r->target, &s->authority, &t) != MG_OK) {
            return 400; /* authority-form, a bare name, another scheme, userinfo */
        }
    }
    return split_target(c, r, t);
}

int mg_http_continue(mg_request_t *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!r->expect_continue || r->continue_sent) {
        return MG_OK;
    }
    r->keepalive = r->keepalive_wanted;
    r->continue_sent = true;
    uint64_t sent = r->bytes_sent;
    if (mg_http_write(r, cont, sizeof(cont) - 1) == MG_ERROR) {
        return MG_ERROR; /* the client is gone and the request with it: r is not ours */
    }
    r->header_sent = false;
    r->bytes_sent = sent;
    return MG_OK;
}

void mg__request_dispatch(mg_conn_t *c)
{
    mg_request_t *r = c->r;
    head_seen_t seen = {0};
    const char *why = "bare LF ending a line";
    /* ... and a bare LF ending the head: every line of a head ends in CRLF */
    int st = memcmp(c->buf + c->body_base - 4, "\r\n\r\n", 4) != 0 ? 400 : 0;
    if (st == 0) {
        st = check_line(c, r, &seen, &why);
    }
    if (st == 0 && (why = collect_headers(c, r, &seen)) != NULL) {
        st = 400;
    }
    if (st == 0) {
        st = check_host(c, r, &seen, &why);
    }
    if (st == 0) {
        st = check_framing(c, r, &seen, &why);
    }
    if (st == 0 && mg_realip_apply(r) != MG_OK) {
        st = 500;
        why = "out of memory";
    }
    if (st != 0) {
        mg__request_reject(c, st, why);
        return;
    }
    if (r->chunked) {
        const mg_http_conf_t *h = hconf(c);
        size_t room = h->max_header_size > c->head_bytes ? h->max_header_size - c->head_bytes : 0;
        mg_http_chunked_init(&c->chunked, MG_HTTP_CHUNK_EXT_MAX,
                             (uint32_t)MG_MIN(h->max_header_line, UINT32_MAX),
                             (uint32_t)MG_MIN(room, UINT32_MAX));
        llhttp_reset(&c->parser); /* the body is ours; llhttp starts again at the next head */
    }
    bool http11 = r->http_minor >= 1;
    r->keepalive = http11 ? !mg_http_connection_has(r->connection, MG_STR("close"))
                          : mg_http_connection_has(r->connection, MG_STR("keep-alive"));
    /* Answered without "100 Continue", the client may or may not send its body: only a
     * body already arriving can be discarded safely, otherwise close after the answer. */
    r->keepalive_wanted = r->keepalive;
    if (r->expect_continue && c->pos == c->len) {
        r->keepalive = false;
    }
    if (r->tls && !mg_tls_host_allowed(&c->tp, r->host.p, r->host.len)) {
        /* SNI named one entry, Host another that checks client certificates otherwise */
        mg__http_error_msg(r, 421, "the host is not served on this TLS connection");
        return;
    }
    if (c->admin) {
        r->chain = r->gen->admin_chain;
    } else if (mg_router_match(r->gen->router, r->host, r->method,
                               /* "OPTIONS *" is about the host as a whole: it takes the
                                * route "/" would take */
                               r->path.p[0] == '*' ? MG_STR("/") : r->path, &r->match) != MG_OK) {
        mg__http_error_msg(r, 404, "no route matched");
        return;
    } else {
        r->chain = &r->gen->chains[r->match.route->index];
        if (r->match.route->http != NULL) {
            r->limits = r->match.route->http;
        }
    }
    /* the route's limit: a declared length over it is refused before a byte goes up */
    size_t max = r->limits->client_max_body_size;
    if (max > 0 && r->content_length > (int64_t)max) {
        mg__request_reject(c, 413, "request body too large");
        return;
    }
    if ((st = check_websocket(r, &seen, &why)) != 0) {
        mg__http_ws_refuse(r, st, why);
        return;
    }
    r->phase = 0;
    mg_http_run_phases(r);
}
