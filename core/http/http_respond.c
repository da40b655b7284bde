/*
 * http_respond.c -- the response path: every answer, whoever makes it, goes through
 * here.
 *
 *   producer -> head (status + headers) -> header filters -> session writer
 *            -> body chunks             -> body filters   -> session writer
 *   end of request -> log handlers
 *
 * The filters and log handlers are lists the generation's assembly (server/) fills
 * with what its configuration uses (the Lua plugins' header_filter / body_filter / log,
 * RateLimit-* headers, the access log); each checks whether it concerns the request. The session
 * writer (here HTTP/1, http1.c for the bytes) owns the framing; no producer writes protocol bytes.
 */
#include "http_conn_int.h"

#include "conf.h"
#include "gen.h"
#include "http1.h"
#include "http_parse.h"
#include "log.h"
#include "pool.h"
#include "put.h"
#include "tls.h"

#include <stdio.h>
#include <sys/uio.h>
#include <time.h>

/* ---- registries ---- */

int mg_http_add_header_filter(mg_http_filters_t *f, mg_http_header_filter_fn fn)
{
    if (f->nheader == MG_HTTP_MAX_FILTERS) {
        return MG_ERROR;
    }
    f->header[f->nheader++] = fn;
    return MG_OK;
}

int mg_http_add_body_filter(mg_http_filters_t *f, mg_http_body_filter_fn fn)
{
    if (f->nbody == MG_HTTP_MAX_FILTERS) {
        return MG_ERROR;
    }
    f->body[f->nbody++] = fn;
    return MG_OK;
}

int mg_http_add_log_handler(mg_http_filters_t *f, mg_http_log_fn fn)
{
    if (f->nlog == MG_HTTP_MAX_FILTERS) {
        return MG_ERROR;
    }
    f->log[f->nlog++] = fn;
    return MG_OK;
}

void mg__request_log(mg_request_t *r)
{
    const mg_http_filters_t *f = r->gen->filters;
    for (size_t i = 0; i < f->nlog; i++) {
        f->log[i](r);
    }
}

/* ---- the access log, a log handler like any other ---- */

static mg_str_t tls_str(const mg_transport_t *t, mg_tls_var_t var, char *buf, size_t len)
{
    int n = mg_tls_var(t, var, buf, len);
    return n < 0 ? MG_NULL_STR : mg_str(buf, MG_MIN((size_t)n, len - 1));
}

void mg_http_access_log(mg_request_t *r)
{
    if (!mg_log_access_enabled()) {
        return; /* access_log: off -- no header scans for a record nobody writes */
    }
    const mg_route_conf_t *route = r->match.route;
    const mg_upstream_conf_t *up = mg_request_upstream(r);
    mg_access_rec_t rec = {
        .remote_addr = r->remote_addr,
        .remote_port = r->remote_port,
        .peer_addr = r->peer_addr,
        .peer_port = r->peer_port,
        .method = r->method_name,
        .uri = r->target,
        .http_major = r->http_major,
        .http_minor = r->http_minor,
        .status = r->status,
        .bytes_sent = r->bytes_sent,
        .body_bytes_sent = r->body_bytes_sent,
        .request_length = r->request_length,
        .referer = mg_http_header(r, MG_STR("Referer")),
        .user_agent = mg_http_header(r, MG_STR("User-Agent")),
        .host = r->host_header,
        .route = route != NULL ? mg_str(route->name, strlen(route->name)) : MG_NULL_STR,
        .upstream = up != NULL ? mg_str(up->name, strlen(up->name)) : MG_NULL_STR,
        .upstream_addr = r->upstream_addr,
        .upstream_status = r->upstream_status,
        .upstream_time = r->upstream_time,
        .upstream_connect_time = r->upstream_connect_time,
        .upstream_header_time = r->upstream_header_time,
        .request_time = mg__conn_now(r->conn) - r->start,
        .request_id = r->request_id,
        .start = r->start_wall,
        .consumer = r->consumer,
        .trace_id = r->trace_id,
        .tries = r->tries,
        .ntries = MG_MIN(r->ntries, MG_HTTP_MAX_TRIES),
    };
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        rec.plugin_time[i] = (r->plugin_phases >> i) & 1u ? r->plugin_time[i] : -1;
    }
    char ver[32], cipher[64], sni[256];
    rec.scheme = r->tls ? MG_STR("https") : MG_STR("http");
    if (r->tls) {
        const mg_transport_t *t = mg_http_transport(r);
        rec.tls_version = tls_str(t, MG_TLS_VAR_VERSION, ver, sizeof(ver));
        rec.tls_cipher = tls_str(t, MG_TLS_VAR_CIPHER, cipher, sizeof(cipher));
        rec.tls_sni = tls_str(t, MG_TLS_VAR_SNI, sni, sizeof(sni));
    }
    mg_log_access(&rec);
}

/* ---- the HTTP/1 session writer ---- */

/* "Sun, 06 Nov 1994 08:49:37 GMT", formatted once per second. */
static mg_str_t http_date(double now)
{
    static char buf[40];
    static size_t len;
    static time_t last;
    time_t t = (time_t)now;
    if (t != last || len == 0) {
        struct tm tm;
        gmtime_r(&t, &tm);
        len = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return mg_str(buf, len);
}

static int http1_send_head(mg_request_t *r, const mg_http_head_t *h)
{
    mg_conn_t *c = r->conn;
    const mg_http_conf_t *hc = &r->gen->conf->http;
    mg_http1_ctx_t x = {
        .is_head = r->is_head,
        .http10 = r->http_major == 1 && r->http_minor == 0,
        .date = http_date(mg__conn_now(c)),
        .request_id =
            hc->response_request_id && r->request_id.len <= 128 ? r->request_id : MG_NULL_STR,
    };
    mg_http1_frame_t frame = mg_http1_frame(h, &x);
    if (frame == MG_HTTP1_FRAME_CLOSE) {
        r->keepalive = false; /* the end of the body is the end of the connection */
    }
    x.keepalive = mg_http_keepalive(r);
    char *buf = mg_pool_alloc(r->pool, mg_http1_head_size(h, &x));
    if (buf == NULL) {
        return MG_ERROR;
    }
    r->out_head = buf;
    r->out_head_len = mg_http1_build_head(h, &x, frame, buf);
    r->out_frame = (int)frame;
    r->body_length =
        frame == MG_HTTP1_FRAME_LENGTH && !r->is_head ? (uint64_t)h->content_length : 0;
    r->status = h->status;
    return MG_OK;
}

static int http1_send_body(mg_request_t *r, const char *data, size_t len, bool last)
{
    struct iovec iov[4];
    int n = 0;
    char size_line[24];
    if (r->out_head_len > 0) {
        iov[n++] = (struct iovec){r->out_head, r->out_head_len};
        r->out_head_len = 0;
    }
    bool body = r->out_frame != MG_HTTP1_FRAME_NONE && !r->is_head;
    if (body && len > 0) {
        r->body_bytes_sent += len;
        if (r->out_frame == MG_HTTP1_FRAME_CHUNKED) {
            iov[n++] =
                (struct iovec){size_line, (size_t)(mg_put_chunk_line(size_line, len) - size_line)};
            iov[n++] = (struct iovec){(void *)data, len};
            iov[n++] = (struct iovec){"\r\n", 2};
        } else {
            iov[n++] = (struct iovec){(void *)data, len};
        }
    }
    if (body && last && r->out_frame == MG_HTTP1_FRAME_CHUNKED) {
        iov[n++] = (struct iovec){"0\r\n\r\n", 5};
    }
    return n > 0 ? mg_http_writev(r, iov, n) : MG_OK;
}

const mg_http_session_ops_t mg_http1_session = {
    .send_head = http1_send_head,
    .send_body = http1_send_body,
};

/* ---- the response path ---- */

/* The header filters, once per request: an answer made after a failed one (a 500) goes
 * out unfiltered. MG_OK or MG_ERROR. */
static int header_filters(mg_request_t *r, mg_http_head_t *h)
{
    if (r->filters_off) {
        return MG_OK;
    }
    r->filters_off = true;
    const mg_http_filters_t *f = r->gen->filters;
    int status = h->status;
    for (size_t i = 0; i < f->nheader; i++) {
        if (f->header[i](r, h) != MG_OK) {
            return MG_ERROR;
        }
    }
    if (h->status != status) {
        /* the source's phrase names the status it sent ("410 OK" otherwise): the new
         * status goes out with its standard one */
        h->reason = MG_NULL_STR;
    }
    return MG_OK;
}

/* The body filters over one chunk (last: the end of the body). MG_OK or MG_ERROR. */
static int body_filters(mg_request_t *r, const char **data, size_t *len, bool last)
{
    const mg_http_filters_t *f = r->gen->filters;
    for (size_t i = 0; i < f->nbody; i++) {
        if (f->body[i](r, data, len, last) != MG_OK) {
            return MG_ERROR;
        }
    }
    return MG_OK;
}

int mg_http_send_head(mg_request_t *r, mg_http_head_t *h)
{
    if (header_filters(r, h) != MG_OK) {
        return MG_ERROR;
    }
    if (r->is_head && r->body_filtered) {
        /* a streamed answer goes through body filters that may change its length, and a
         * HEAD has no body to run them on: like the GET's head, this one announces none
         * (not the upstream's length of a body the client would not get) */
        h->content_length = -1;
    }
    return r->conn->session->send_head(r, h);
}

int mg_http_send_body(mg_request_t *r, const char *data, size_t len, bool last)
{
    if (r->body_filtered && !r->is_head && (len > 0 || last) &&
        body_filters(r, &data, &len, last) != MG_OK) {
        return MG_ERROR;
    }
    return r->conn->session->send_body(r, data, len, last);
}

void mg_http_respond_head(mg_request_t *r, mg_http_head_t *h, const char *body, size_t len)
{
    mg_conn_t *c = r->conn;
    mg__conn_enter(c);
    bool filtered = !r->filters_off;
    if (header_filters(r, h) != MG_OK) {
        mg_http_error(r, 500); /* a filter failed (logged); this one goes out unfiltered */
        goto out;
    }
    if (filtered && r->body_filtered) {
        /* the body is whole: the filters see it as one last chunk, and its filtered
         * length is the one announced */
        const char *b = body != NULL ? body : "";
        if (body_filters(r, &b, &len, true) != MG_OK) {
            mg_http_error(r, 500);
            goto out;
        }
        body = b;
        h->content_length = (int64_t)len;
    }
    r->body_filtered = false;
    if (c->session->send_head(r, h) != MG_OK) {
        mg_http_finish(r, false);
    } else if (c->session->send_body(r, body, len, true) != MG_ERROR) {
        mg_http_finish(r, true);
    }
out:
    mg__conn_leave(c);
}

void mg_http_respond_headers(mg_request_t *r, int status, const mg_header_t *hdrs, size_t nhdrs,
                             const char *body, size_t len)
{
    mg_http_head_t h = {
        .status = status,
        .headers = hdrs,
        .nheaders = nhdrs,
        .content_length = (int64_t)len,
        .gateway = true,
    };
    mg_http_respond_head(r, &h, body, len);
}

void mg_http_respond(mg_request_t *r, int status, const char *content_type, const char *body,
                     size_t len)
{
    mg_header_t ct = {MG_STR("Content-Type"), content_type != NULL
                                                  ? mg_str(content_type, strlen(content_type))
                                                  : MG_NULL_STR};
    mg_http_respond_headers(r, status, &ct, content_type != NULL ? 1 : 0, body, len);
}

/* The JSON error answer, with up to 4 headers of the caller's after its Content-Type. */
static void error_answer(mg_request_t *r, int status, const char *msg, const mg_header_t *more,
                         size_t nmore)
{
    if (r->header_sent) {
        mg_http_finish(r, false);
        return;
    }
    r->out_head_len = 0; /* a head held back but never written is replaced */
    char body[384];
    int n =
        snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%.*s\"}\n",
                 msg, status, (int)MG_MIN(r->request_id.len, 128), r->request_id.p);
    mg_header_t h[5] = {{MG_STR("Content-Type"), MG_STR("application/json")}};
    size_t nh = 1;
    for (size_t i = 0; i < nmore && nh < MG_NELEMS(h); i++) {
        h[nh++] = more[i];
    }
    mg_http_respond_headers(r, status, h, nh, body, (size_t)n);
}

void mg__http_error_msg(mg_request_t *r, int status, const char *msg)
{
    error_answer(r, status, msg, NULL, 0);
}

/* The reason phrase in lower case, as the error body's "error"; for a code without a
 * registered name, its class (RFC 9110 §15), so that "error" is never empty. */
static const char *error_text(int status, char *msg, size_t cap)
{
    const char *reason = mg_http_reason(status);
    if (reason[0] == '\0') {
        reason = status >= 500 ? "server error" : status >= 400 ? "client error" : "error";
    }
    size_t i = 0;
    for (; reason[i] != '\0' && i + 1 < cap; i++) {
        msg[i] = (char)(reason[i] >= 'A' && reason[i] <= 'Z' ? reason[i] + 32 : reason[i]);
    }
    msg[i] = '\0';
    return msg;
}

void mg_http_error_headers(mg_request_t *r, int status, const mg_header_t *hdrs, size_t nhdrs)
{
    char msg[64];
    error_answer(r, status, error_text(status, msg, sizeof(msg)), hdrs, nhdrs);
}

void mg_http_error(mg_request_t *r, int status)
{
    mg_http_error_headers(r, status, NULL, 0);
}

/* ---- content handlers of the http layer itself ---- */

int mg_http_return_handler(mg_request_t *r, const void *data)
{
    const mg_return_conf_t *ret = data;
    mg_http_respond(r, ret->status, ret->content_type, ret->body, ret->body_len);
    return MG_DONE;
}

int mg_http_no_producer_handler(mg_request_t *r, const void *data)
{
    mg_log_err("route \"%s\" has no upstream and no plugin answered, request_id: %.*s",
               r->match.route != NULL ? r->match.route->name : "?", (int)r->request_id.len,
               r->request_id.p);
    return 500;
}
