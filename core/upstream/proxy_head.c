/*
 * proxy_head.c -- the pure parts of the proxy: which headers cross it, the request head
 * sent upstream, and the retry rules. (The response head is the session writer's,
 * http/http1.c.)
 *
 * The head is written by the outbound client's builder (http_client.c) in one pass into
 * one buffer sized beforehand, so a request costs one pool allocation for its upstream
 * head and nothing is reformatted later.
 */
#include "proxy_head.h"

#include "http_parse.h"
#include "conf.h"
#include "gen.h"
#include "pool.h"
#include "trace.h"

#include "llhttp.h"

static bool has_prefix_ci(mg_str_t s, mg_str_t prefix)
{
    return s.len >= prefix.len && mg_str_caseeq(mg_str(s.p, prefix.len), prefix);
}

/* Headers the gateway writes itself (or never forwards) on the way up, by length
 * first: most names are settled by the switch, without a comparison. */
static bool request_owned(mg_str_t n)
{
    switch (n.len) {
    case 4:
        return mg_str_caseeq(n, MG_STR("Host"));
    case 6:
        return mg_str_caseeq(n, MG_STR("Expect"));
    case 9:
        return mg_str_caseeq(n, MG_STR("X-Real-IP"));
    case 12:
        return mg_str_caseeq(n, MG_STR("X-Request-Id"));
    case 14:
        return mg_str_caseeq(n, MG_STR("Content-Length"));
    case 15:
        return mg_str_caseeq(n, MG_STR("X-Forwarded-For"));
    case 16:
        return mg_str_caseeq(n, MG_STR("X-Forwarded-Host"));
    case 17:
        return mg_str_caseeq(n, MG_STR("X-Forwarded-Proto")) ||
               mg_str_caseeq(n, MG_STR("Transfer-Encoding"));
    default:
        return false;
    }
}

bool mg_proxy_skip_request_header(mg_str_t name, mg_str_t connection)
{
    if (request_owned(name)) {
        return true;
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

static bool skip_header(const mg_header_t *h, const void *arg)
{
    const mg_request_t *r = arg;
    if (r->gen != NULL && r->gen->conf->tls.client_cert_headers &&
        has_prefix_ci(h->name, MG_STR("X-Client-Cert-"))) {
        return true; /* ours to say, never the client's */
    }
    if (r->trace != NULL && mg_trace_header_owned(h->name)) {
        return true; /* the trace context goes up with the gateway's span as the parent */
    }
    return mg_proxy_skip_request_header(h->name, r->connection);
}

#define PROXY_ADDED_HEADERS 5

/* X-Forwarded-Proto as a trusted proxy sent it (what the client used to reach it), when
 * it sent one valid value; else ours. */
static mg_str_t forwarded_proto(const mg_request_t *r)
{
    mg_str_t ours = r->tls ? MG_STR("https") : MG_STR("http");
    if (!r->peer_trusted) {
        return ours;
    }
    mg_str_t v = mg_http_header(r, MG_STR("X-Forwarded-Proto"));
    if (mg_str_caseeq(v, MG_STR("https"))) {
        return MG_STR("https");
    }
    return mg_str_caseeq(v, MG_STR("http")) ? MG_STR("http") : ours;
}

/* X-Forwarded-Host as a trusted proxy sent it (the host the client asked it for), else
 * the Host this request came with. */
static mg_str_t forwarded_host(const mg_request_t *r)
{
    mg_str_t v = r->peer_trusted ? mg_http_header(r, MG_STR("X-Forwarded-Host")) : MG_NULL_STR;
    return v.len > 0 ? v : r->host_header;
}

/* The upstream request of r as the head builder takes it; `added` holds the headers
 * the gateway sets (PROXY_ADDED_HEADERS). Field by field: this runs for every proxied
 * request. */
static void request_of(const mg_request_t *r, mg_str_t host, const mg_header_t *more,
                       size_t nmore, mg_http_client_req_t *q, mg_header_t *added)
{
    size_t n = 0;
    /* an untrusted peer's claims are overwritten; a trusted proxy's list is appended to,
     * and its X-Forwarded-Proto/-Host kept (http/realip.h) */
    mg_str_t fhost = forwarded_host(r);
    added[n].name = MG_STR("X-Forwarded-For");
    added[n++].value = r->forwarded_for.len > 0 ? r->forwarded_for : r->remote_addr;
    added[n].name = MG_STR("X-Forwarded-Proto");
    added[n++].value = forwarded_proto(r);
    if (fhost.len > 0) {
        added[n].name = MG_STR("X-Forwarded-Host");
        added[n++].value = fhost;
    }
    added[n].name = MG_STR("X-Real-IP");
    added[n++].value = r->remote_addr;
    if (r->request_id.len > 0) {
        added[n].name = MG_STR("X-Request-Id");
        added[n++].value = r->request_id;
    }
    for (size_t i = 0; i < nmore && n < PROXY_ADDED_HEADERS + MG_PROXY_MORE_HEADERS; i++) {
        added[n++] = more[i];
    }
    q->method = r->method_name;
    q->path = r->path;
    q->query = r->query;
    q->host = host.p != NULL ? host : r->host_header;
    q->headers = r->headers;
    q->nheaders = r->nheaders;
    q->skip = skip_header;
    q->skip_arg = r;
    q->extra = added;
    q->nextra = n;
    /* a WebSocket handshake asks the upstream to switch too: the only hop-by-hop headers
     * that cross (the Sec-WebSocket-* ones are end-to-end and cross as they are) */
    q->raw = r->websocket ? MG_STR("Upgrade: websocket\r\nConnection: upgrade\r\n") : MG_NULL_STR;
    q->content_length = r->content_length;
    q->chunked = r->chunked;
    q->close = false;
}

char *mg_proxy_request_head(const mg_request_t *r, mg_str_t host, const mg_header_t *more,
                            size_t nmore, mg_pool_t *pool, size_t *len)
{
    return mg_proxy_request_head_framed(r, host, more, nmore, -1, pool, len);
}

char *mg_proxy_request_head_framed(const mg_request_t *r, mg_str_t host, const mg_header_t *more,
                                   size_t nmore, int64_t length, mg_pool_t *pool, size_t *len)
{
    mg_http_client_req_t q;
    mg_header_t added[PROXY_ADDED_HEADERS + MG_PROXY_MORE_HEADERS];
    request_of(r, host, more, nmore, &q, added);
    if (length >= 0) {
        q.content_length = length;
        q.chunked = false;
    }
    char *buf = mg_pool_alloc(pool, mg_http_client_head_size(&q));
    if (buf != NULL) {
        *len = mg_http_client_head_build(&q, buf);
    }
    return buf;
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

int mg_proxy_err_status(mg_http_client_err_t err)
{
    switch (err) {
    case MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT:
    case MG_HTTP_CLIENT_ERR_TIMEOUT:
        return 504;
    case MG_HTTP_CLIENT_ERR_NO_SOCKET:
        return 503;
    default:
        return 502;
    }
}

int mg_proxy_retry_decide(const mg_proxy_try_t *t)
{
    int status = mg_proxy_err_status(t->err);

    /* another node does not help with our descriptors, and a malformed answer means the
     * upstream got the request */
    if (t->err == MG_HTTP_CLIENT_ERR_NO_SOCKET || t->err == MG_HTTP_CLIENT_ERR_BAD_RESPONSE) {
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
    if (t->reused && t->err == MG_HTTP_CLIENT_ERR_IO && !t->stale_retried) {
        return MG_PROXY_RETRY_FRESH;
    }
    if (t->tries > t->retries || t->no_budget) {
        return status;
    }
    return MG_PROXY_RETRY;
}
