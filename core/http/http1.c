/*
 * http1.c -- HTTP/1.1 response heads and body framing: the one place that writes them.
 *
 * The head is written in one pass into one buffer sized beforehand, so a response costs
 * one allocation for its head and nothing is reformatted later.
 */
#include "http1.h"

#include "http_parse.h"
#include "put.h"

/* The framing and hop-by-hop names: the writer's own to write, or nobody's. */
static bool framing_or_hop(mg_str_t name)
{
    return mg_http_is_hop_by_hop(name) ||
           (name.len == 14 && mg_str_caseeq(name, MG_STR("Content-Length")));
}

/* Whether a Connection value names anything but "close" and "keep-alive": only then
 * can it make another header hop-by-hop. Checked once per head, not per header. */
static bool names_headers(mg_str_t connection)
{
    if (mg_str_caseeq(connection, MG_STR("keep-alive")) ||
        mg_str_caseeq(connection, MG_STR("close"))) {
        return false; /* what nearly every upstream sends */
    }
    const char *p = connection.p, *end = p + connection.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        const char *b = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }
        mg_str_t tok = mg_str(b, (size_t)(p - b));
        if (tok.len > 0 && !mg_str_caseeq(tok, MG_STR("close")) &&
            !mg_str_caseeq(tok, MG_STR("keep-alive"))) {
            return true;
        }
    }
    return false;
}

bool mg_http1_skip_header(mg_str_t name, mg_str_t connection)
{
    if (framing_or_hop(name)) {
        return true;
    }
    return connection.len > 0 && names_headers(connection) &&
           mg_http_connection_has(connection, name);
}

mg_http1_frame_t mg_http1_frame(const mg_http_head_t *h, const mg_http1_ctx_t *x)
{
    int st = h->status;
    if (x->is_head || st == 204 || st == 304 || st < 200) {
        /* a HEAD answer's length describes the GET body: it is passed on as is */
        return h->content_length >= 0 && st != 204 && st >= 200 ? MG_HTTP1_FRAME_LENGTH
                                                                : MG_HTTP1_FRAME_NONE;
    }
    if (h->content_length >= 0) {
        return MG_HTTP1_FRAME_LENGTH;
    }
    return x->http10 ? MG_HTTP1_FRAME_CLOSE : MG_HTTP1_FRAME_CHUNKED;
}

/* The status line's phrase: the source's, else the standard one (maybe empty). */
static mg_str_t reason_of(const mg_http_head_t *h)
{
    if (h->reason.len > 0) {
        return h->reason;
    }
    const char *std = mg_http_reason(h->status);
    return mg_str(std, strlen(std));
}

size_t mg_http1_head_size(const mg_http_head_t *h, const mg_http1_ctx_t *x)
{
    /* "HTTP/1.1 ", the code, a space, CRLF: 32 with room to spare */
    size_t n = 32 + reason_of(h).len + h->headers_size;
    for (size_t i = 0; h->headers_size == 0 && i < h->nheaders; i++) {
        n += h->headers[i].name.len + h->headers[i].value.len + 4;
    }
    for (size_t i = 0; i < h->nextra; i++) {
        n += h->extra[i].name.len + h->extra[i].value.len + 4;
    }
    n += x->date.len + x->request_id.len;
    /* Server, Date and X-Request-Id names, framing (Content-Length with 20 digits),
     * Connection, the final CRLF */
    return n + 192;
}

static char *put_framing(const mg_http_head_t *h, mg_http1_frame_t frame, char *p)
{
    switch (frame) {
    case MG_HTTP1_FRAME_LENGTH:
        p = MG_PUT_LIT(p, "Content-Length: ");
        p = mg_put_u64(p, (uint64_t)h->content_length);
        return MG_PUT_LIT(p, "\r\n");
    case MG_HTTP1_FRAME_CHUNKED:
        return MG_PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    case MG_HTTP1_FRAME_NONE:
    case MG_HTTP1_FRAME_CLOSE:
        break;
    }
    return p;
}

/* What the writer owns among a head's headers: Server and Date on a gateway-made head,
 * framing and hop-by-hop ones always. Notes a Date and an X-Request-Id it keeps. */
static bool dropped(const mg_http_head_t *h, mg_str_t name, bool conn_named, bool *has_date,
                    bool *has_id)
{
    if (framing_or_hop(name)) {
        return true;
    }
    if (name.len == 4 && mg_str_caseeq(name, MG_STR("Date"))) {
        *has_date = true;
        return h->gateway;
    }
    if (h->gateway && name.len == 6 && mg_str_caseeq(name, MG_STR("Server"))) {
        return true;
    }
    if (name.len == 12 && mg_str_caseeq(name, MG_STR("X-Request-Id"))) {
        *has_id = true;
    }
    return conn_named && mg_http_connection_has(h->connection, name);
}

/* The protocol a 101 head switches to: its source's Upgrade value, else websocket (the
 * only switch a producer makes). */
static mg_str_t upgrade_of(const mg_http_head_t *h)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        if (mg_str_caseeq(h->headers[i].name, MG_STR("Upgrade"))) {
            return h->headers[i].value;
        }
    }
    return MG_STR("websocket");
}

size_t mg_http1_build_head(const mg_http_head_t *h, const mg_http1_ctx_t *x, mg_http1_frame_t frame,
                           char *buf)
{
    char *p = buf;
    p = MG_PUT_LIT(p, "HTTP/1.1 ");
    p = mg_put_u64(p, (uint64_t)(h->status > 0 ? h->status : 0));
    *p++ = ' ';
    p = mg_put_str(p, reason_of(h));
    p = MG_PUT_LIT(p, "\r\n");
    bool has_date = false, has_id = false;
    if (h->gateway) {
        p = MG_PUT_LIT(p, "Server: moongate\r\n");
        if (x->date.len > 0) {
            p = mg_put_header(p, MG_STR("Date"), x->date);
        }
        has_date = true;
    }
    bool conn_named = h->connection.len > 0 && names_headers(h->connection);
    for (size_t i = 0; i < h->nheaders; i++) {
        const mg_header_t *hd = &h->headers[i];
        if (!dropped(h, hd->name, conn_named, &has_date, &has_id)) {
            p = mg_put_header(p, hd->name, hd->value);
        }
    }
    for (size_t i = 0; i < h->nextra; i++) {
        p = mg_put_header(p, h->extra[i].name, h->extra[i].value);
        has_id = has_id || mg_str_caseeq(h->extra[i].name, MG_STR("X-Request-Id"));
    }
    if (x->date.len > 0 && !has_date) {
        p = mg_put_header(p, MG_STR("Date"), x->date);
    }
    if (x->request_id.len > 0 && !has_id) {
        p = mg_put_header(p, MG_STR("X-Request-Id"), x->request_id);
    }
    p = put_framing(h, frame, p);
    if (h->status == 101) {
        /* a switch of protocols names the new one: the only hop-by-hop headers that
         * cross, as the tunnel's own */
        p = mg_put_header(p, MG_STR("Upgrade"), upgrade_of(h));
        p = MG_PUT_LIT(p, "Connection: upgrade\r\n");
    } else if (!x->keepalive || frame == MG_HTTP1_FRAME_CLOSE) {
        p = MG_PUT_LIT(p, "Connection: close\r\n");
    } else if (x->http10) {
        p = MG_PUT_LIT(p, "Connection: keep-alive\r\n");
    }
    p = MG_PUT_LIT(p, "\r\n");
    return (size_t)(p - buf);
}
