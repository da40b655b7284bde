/*
 * proxy_head.c -- the pure parts of the proxy: which headers cross it, the request head
 * sent upstream, and the retry rules. (The response head is the session writer's,
 * http/http1.c.)
 *
 * The heads are written in one pass into one buffer sized beforehand, so a request costs
 * one pool allocation for its upstream head and nothing is reformatted later.
 */
#include "proxy_head.h"

#include "http_parse.h"

#include "llhttp.h"

static bool has_prefix_ci(mg_str_t s, mg_str_t prefix)
{
    return s.len >= prefix.len && mg_str_caseeq(mg_str(s.p, prefix.len), prefix);
}

/* Headers the gateway writes itself (or never forwards) on the way up. */
static const mg_str_t request_owned[] = {
    MG_STR("Host"),
    MG_STR("Content-Length"),
    MG_STR("Transfer-Encoding"),
    MG_STR("Expect"),
    MG_STR("X-Forwarded-For"),
    MG_STR("X-Forwarded-Proto"),
    MG_STR("X-Forwarded-Host"),
    MG_STR("X-Real-IP"),
    MG_STR("X-Request-Id"),
};

bool mg_proxy_skip_request_header(mg_str_t name, mg_str_t connection)
{
    for (size_t i = 0; i < MG_NELEMS(request_owned); i++) {
        if (mg_str_caseeq(name, request_owned[i])) {
            return true;
        }
    }
    /* X-Gw-* is the gateway's internal namespace: a client must not be able to forge it */
    if (has_prefix_ci(name, MG_STR("X-Gw-"))) {
        return true;
    }
    if (mg_http_is_hop_by_hop(name)) {
        return true;
    }
    return connection.len > 0 && mg_http_connection_has(connection, name);
}

static char *put(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_str(char *p, mg_str_t s)
{
    return s.len > 0 ? put(p, s.p, s.len) : p;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *put_header(char *p, mg_str_t name, mg_str_t value)
{
    p = put_str(p, name);
    *p++ = ':';
    *p++ = ' ';
    p = put_str(p, value);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t mg_proxy_request_head_size(const mg_request_t *r, const char *host)
{
    size_t n = r->method_name.len + r->path.len + r->query.len + 16;
    n += 8 + (host != NULL ? strlen(host) : r->host_header.len);
    for (size_t i = 0; i < r->nheaders; i++) {
        n += r->headers[i].name.len + r->headers[i].value.len + 4;
    }
    n += 2 * r->remote_addr.len + r->host_header.len + r->request_id.len;
    /* names of the added headers, framing, separators and the final CRLF */
    return n + 160;
}

static char *put_request_framing(const mg_request_t *r, char *p)
{
    if (r->chunked) {
        return PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (r->content_length >= 0) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, (uint64_t)r->content_length);
        return PUT_LIT(p, "\r\n");
    }
    return p;
}

size_t mg_proxy_build_request_head(const mg_request_t *r, const char *host, char *buf)
{
    char *p = buf;
    p = put_str(p, r->method_name);
    *p++ = ' ';
    p = put_str(p, r->path);
    if (r->query.len > 0) {
        *p++ = '?';
        p = put_str(p, r->query);
    }
    p = PUT_LIT(p, " HTTP/1.1\r\n");
    p = put_header(p, MG_STR("Host"), host != NULL ? mg_str(host, strlen(host)) : r->host_header);

    for (size_t i = 0; i < r->nheaders; i++) {
        const mg_header_t *h = &r->headers[i];
        if (!mg_proxy_skip_request_header(h->name, r->connection)) {
            p = put_header(p, h->name, h->value);
        }
    }

    /* overwritten, not appended: what the client claims about itself is not trusted */
    p = put_header(p, MG_STR("X-Forwarded-For"), r->remote_addr);
    p = put_header(p, MG_STR("X-Forwarded-Proto"), r->tls ? MG_STR("https") : MG_STR("http"));
    if (r->host_header.len > 0) {
        p = put_header(p, MG_STR("X-Forwarded-Host"), r->host_header);
    }
    p = put_header(p, MG_STR("X-Real-IP"), r->remote_addr);
    if (r->request_id.len > 0) {
        p = put_header(p, MG_STR("X-Request-Id"), r->request_id);
    }
    p = put_request_framing(r, p);
    p = PUT_LIT(p, "\r\n");
    return (size_t)(p - buf);
}

bool mg_proxy_method_idempotent(int method)
{
    switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
        return true;
    default:
        return false;
    }
}

int mg_proxy_err_status(mg_proxy_err_t err)
{
    switch (err) {
    case MG_PROXY_ERR_CONNECT_TIMEOUT:
    case MG_PROXY_ERR_TIMEOUT:
        return 504;
    case MG_PROXY_ERR_NO_SOCKET:
        return 503;
    default:
        return 502;
    }
}

const char *mg_proxy_err_name(mg_proxy_err_t err)
{
    static const char *const names[] = {
        [MG_PROXY_ERR_CONNECT] = "connect failed",
        [MG_PROXY_ERR_CONNECT_TIMEOUT] = "connect timed out",
        [MG_PROXY_ERR_IO] = "connection lost before the response",
        [MG_PROXY_ERR_TIMEOUT] = "timed out before the response",
        [MG_PROXY_ERR_BAD_RESPONSE] = "invalid response",
        [MG_PROXY_ERR_NO_SOCKET] = "out of sockets",
    };
    return (unsigned)err < MG_NELEMS(names) ? names[err] : "unknown";
}

int mg_proxy_retry_decide(const mg_proxy_try_t *t)
{
    int status = mg_proxy_err_status(t->err);

    /* another node does not help with our descriptors, and a malformed answer means the
     * upstream got the request */
    if (t->err == MG_PROXY_ERR_NO_SOCKET || t->err == MG_PROXY_ERR_BAD_RESPONSE) {
        return status;
    }
    /* once bytes went out, only a replay that cannot do harm twice is allowed */
    if (t->sent && !(mg_proxy_method_idempotent(t->method) && t->replayable)) {
        return status;
    }
    if (t->retry_timeout > 0 && t->elapsed >= t->retry_timeout) {
        return status;
    }
    /* a pooled connection the upstream closed while we picked it (the keep-alive race):
     * once, on a fresh socket, without spending a retry */
    if (t->reused && t->err == MG_PROXY_ERR_IO && !t->stale_retried) {
        return MG_PROXY_RETRY_FRESH;
    }
    if (t->tries > t->retries || t->no_budget) {
        return status;
    }
    return MG_PROXY_RETRY;
}
