/*
 * http_client_head.c -- the pure parts of the outbound client (http_client.h): URLs,
 * request heads, the chunk line, how a response's body is framed, the error names. No
 * sockets: unit-tested in t/unit/test_http_client.c.
 */
#include "http_client.h"

#include "put.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* ---- URLs ---- */

static bool has_prefix(mg_str_t s, const char *p, size_t n)
{
    return s.len >= n && memcmp(s.p, p, n) == 0;
}

static const char *parse_port(const char *p, const char *end, uint16_t *port)
{
    unsigned long v = 0;
    if (p == end || end - p > 5) {
        return "bad url port";
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return "bad url port";
        }
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < 1 || v > 65535) {
        return "bad url port";
    }
    *port = (uint16_t)v;
    return NULL;
}

const char *mg_http_url_parse(mg_str_t url, mg_http_url_t *u)
{
    size_t skip;
    memset(u, 0, sizeof(*u));
    if (has_prefix(url, "http://", 7)) {
        u->scheme = MG_STR("http");
        u->port = 80;
        skip = 7;
    } else if (has_prefix(url, "https://", 8)) {
        u->scheme = MG_STR("https");
        u->port = 443;
        skip = 8;
    } else {
        return "bad url";
    }
    const char *a = url.p + skip, *stop = url.p + url.len, *end = a;
    while (end < stop && *end != '/' && *end != '?' && *end != '#') {
        end++;
    }
    const char *hend, *colon = NULL;
    if (a < end && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(end - a));
        if (rb == NULL || (rb + 1 < end && rb[1] != ':')) {
            return "bad url host";
        }
        u->host = mg_str(a + 1, (size_t)(rb - a - 1));
        colon = rb + 1 < end ? rb + 1 : NULL;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
        hend = colon != NULL ? colon : end;
        u->host = mg_str(a, (size_t)(hend - a));
    }
    if (u->host.len == 0) {
        return "bad url host";
    }
    if (colon != NULL) {
        const char *err = parse_port(colon + 1, end, &u->port);
        if (err != NULL) {
            return err;
        }
    }
    u->authority = mg_str(a, (size_t)(end - a));
    const char *t = end, *tend = end;
    while (tend < stop && *tend != '#') {
        tend++;
    }
    u->target = t < tend && *t == '/' ? mg_str(t, (size_t)(tend - t)) : MG_STR("/");
    if (t < tend && *t == '?') {
        u->target = mg_str(t, (size_t)(tend - t)); /* "?q": the origin server's "/" */
    }
    return NULL;
}

const char *mg_http_url_addr(const mg_http_url_t *u, struct sockaddr_storage *ss, socklen_t *len)
{
    char name[64];
    if (u->host.len >= sizeof(name)) {
        return "bad url host";
    }
    memcpy(name, u->host.p, u->host.len);
    name[u->host.len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (strcmp(name, "localhost") == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, name, &a4->sin_addr) != 1) {
        if (inet_pton(AF_INET6, name, &a6->sin6_addr) != 1) {
            return "host names are not resolved (they would block): use an IP address";
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(u->port);
        *len = sizeof(*a6);
        return NULL;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons(u->port);
    *len = sizeof(*a4);
    return NULL;
}

/* ---- the request head ---- */

size_t mg_http_client_head_size(const mg_http_client_req_t *q)
{
    size_t n = q->method.len + q->path.len + q->query.len + 16; /* " ", "?", " HTTP/1.1\r\n" */
    n += q->host.len + 8;
    for (size_t i = 0; i < q->nheaders; i++) {
        n += q->headers[i].name.len + q->headers[i].value.len + 4;
    }
    for (size_t i = 0; i < q->nextra; i++) {
        n += q->extra[i].name.len + q->extra[i].value.len + 4;
    }
    /* the raw lines, framing (at most "Content-Length: " and 20 digits), Connection,
     * the final CRLF */
    return n + q->raw.len + 40 + 20 + 2;
}

size_t mg_http_client_head_build(const mg_http_client_req_t *q, char *buf)
{
    char *p = mg_put(buf, q->method.p, q->method.len);
    *p++ = ' ';
    p = mg_put(p, q->path.p, q->path.len);
    if (q->query.len > 0) {
        *p++ = '?';
        p = mg_put(p, q->query.p, q->query.len);
    }
    p = MG_PUT_LIT(p, " HTTP/1.1\r\n");
    p = mg_put_header(p, MG_STR("Host"), q->host);
    for (size_t i = 0; i < q->nheaders; i++) {
        const mg_header_t *h = &q->headers[i];
        if (q->skip == NULL || !q->skip(h, q->skip_arg)) {
            p = mg_put_header(p, h->name, h->value);
        }
    }
    for (size_t i = 0; i < q->nextra; i++) {
        p = mg_put_header(p, q->extra[i].name, q->extra[i].value);
    }
    p = mg_put(p, q->raw.p, q->raw.len);
    if (q->chunked) {
        p = MG_PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    } else if (q->content_length >= 0) {
        p = MG_PUT_LIT(p, "Content-Length: ");
        p = mg_put_u64(p, (uint64_t)q->content_length);
        p = MG_PUT_LIT(p, "\r\n");
    }
    if (q->close) {
        p = MG_PUT_LIT(p, "Connection: close\r\n");
    }
    p = MG_PUT_LIT(p, "\r\n");
    return (size_t)(p - buf);
}

size_t mg_http_chunk_line(char *buf, size_t len)
{
    return (size_t)(mg_put_chunk_line(buf, len) - buf);
}

/* ---- the response's framing ---- */

mg_http_body_kind_t mg_http_client_framing(bool head_request, int status, bool has_length,
                                           uint64_t length, bool chunked, int64_t *declared)
{
    if (head_request || status < 200 || status == 204 || status == 304) {
        /* a HEAD or 304 answer's length describes the GET body */
        *declared = has_length && status >= 200 && status != 204 ? (int64_t)length : -1;
        return MG_HTTP_BODY_NONE;
    }
    if (chunked) {
        *declared = -1;
        return MG_HTTP_BODY_CHUNKED;
    }
    if (has_length) {
        *declared = (int64_t)length;
        return MG_HTTP_BODY_LENGTH;
    }
    *declared = -1;
    return MG_HTTP_BODY_TO_CLOSE;
}

const char *mg_http_client_err_name(mg_http_client_err_t err)
{
    static const char *const names[] = {
        [MG_HTTP_CLIENT_ERR_CONNECT] = "connect failed",
        [MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT] = "connect timed out",
        [MG_HTTP_CLIENT_ERR_IO] = "connection lost before the response",
        [MG_HTTP_CLIENT_ERR_TIMEOUT] = "timed out before the response",
        [MG_HTTP_CLIENT_ERR_BAD_RESPONSE] = "invalid response",
        [MG_HTTP_CLIENT_ERR_NO_SOCKET] = "out of sockets",
        [MG_HTTP_CLIENT_ERR_REFUSED] = "response refused",
        [MG_HTTP_CLIENT_ERR_TLS] = "TLS handshake failed",
    };
    return (unsigned)err < MG_NELEMS(names) ? names[err] : "unknown";
}
