/*
 * proxy_head.h -- the pure parts of relaying a request upstream: which client headers
 * cross, the request head sent upstream (written by the outbound client's head builder,
 * http_client.h), and the retry rules. No sockets: unit-tested.
 */
#ifndef MG_PROXY_HEAD_H
#define MG_PROXY_HEAD_H

#include "http.h"
#include "http_client.h"
#include "mg_core.h"

/* True when a client request header must not be copied upstream: hop-by-hop headers,
 * headers the client's Connection value names, our own framing (Content-Length,
 * Transfer-Encoding), Expect, Host, the headers the gateway sets itself (X-Forwarded-*,
 * X-Real-IP, X-Request-Id) and the internal X-Gw-* namespace. */
bool mg_proxy_skip_request_header(mg_str_t name, mg_str_t connection);

/* Writes the upstream request head of `r` into one allocation from `pool`: request
 * line with r->path and r->query, Host (`host` when set, else the client's), the
 * client's headers in order minus the skipped ones, X-Forwarded-For (r->forwarded_for)
 * and -Proto/-Host (ours, or a trusted proxy's), X-Real-IP (the client), X-Request-Id,
 * the framing of the client's body (Content-Length, or chunked when the client sent
 * chunks), Upgrade and Connection for a WebSocket handshake (r->websocket), and the
 * empty line. Returns it with its length in *len,
 * or NULL when out of memory. Everything is borrowed. */
char *mg_proxy_request_head(const mg_request_t *r, mg_str_t host, const mg_header_t *more,
                            size_t nmore, mg_pool_t *pool, size_t *len);

/* The same head, framed with `length` when it is >= 0 (Content-Length: length, never
 * chunked: a body read whole goes up de-chunked); -1 keeps the client's framing. */
char *mg_proxy_request_head_framed(const mg_request_t *r, mg_str_t host, const mg_header_t *more,
                                   size_t nmore, int64_t length, mg_pool_t *pool, size_t *len);

/* Most headers `more` may add (the client certificate's, tls.client_cert_headers; the
 * trace context's traceparent and tracestate). */
#define MG_PROXY_MORE_HEADERS 6

/* True for methods that may be replayed: GET, HEAD, PUT, DELETE, OPTIONS, TRACE. */
bool mg_proxy_method_idempotent(int method);

/* One failed try, as the retry rules see it. */
typedef struct {
    mg_http_client_err_t err; /* why the try failed */
    int method;               /* llhttp_method_t */
    bool sent;                /* some request bytes were written on this try */
    bool replayable;          /* the whole request (head and body) is still buffered */
    bool reused;              /* the try ran on a pooled connection */
    bool stale_retried;       /* the free retry after a stale pooled connection was used */
    int tries;                /* tries made so far, this one included */
    int retries;              /* conf: extra tries allowed */
    double elapsed;           /* seconds since the first try started */
    double retry_timeout;     /* conf: total budget, 0 = none */
    bool no_budget;           /* the upstream's retry budget is spent (health.h) */
} mg_proxy_try_t;

#define MG_PROXY_RETRY 0       /* try the next node */
#define MG_PROXY_RETRY_FRESH 1 /* try again on a fresh connection, same node, not counted */

/* The retry rules: MG_PROXY_RETRY, MG_PROXY_RETRY_FRESH, or the status to answer with
 * (502, 503 or 504). A request that may have reached the upstream is replayed only when
 * its method is idempotent and it is still fully buffered; a stale pooled connection
 * gets one free retry on a fresh socket; tries are bounded by `retries` and
 * `retry_timeout`, and a retry on another node by the upstream's retry budget
 * (`no_budget`; the fresh-socket retry does not count against it). The caller still
 * answers with the status when no node is left. */
int mg_proxy_retry_decide(const mg_proxy_try_t *t);

/* The status a failure maps to once no retry is possible. */
int mg_proxy_err_status(mg_http_client_err_t err);

#endif
