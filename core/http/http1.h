/*
 * http1.h -- the HTTP/1 session writer's pure part: how a response head (http.h's
 * mg_http_head_t, as every producer hands it over) becomes HTTP/1.1 bytes, and how its
 * body is framed. No sockets here, so every framing decision is unit-tested.
 *
 * Framing is the writer's alone: a producer says what it knows (the body's length or
 * "unknown") and the writer picks Content-Length, chunked or "until the close" for the
 * client in front of it, drops the source's hop-by-hop and framing headers, and writes
 * Connection, Date, Server and X-Request-Id.
 */
#ifndef MG_HTTP1_H
#define MG_HTTP1_H

#include "http.h"
#include "mg_core.h"

/* How a response body goes on the wire. */
typedef enum {
    MG_HTTP1_FRAME_NONE = 0, /* no body: HEAD, 1xx, 204, 304 */
    MG_HTTP1_FRAME_LENGTH,   /* Content-Length: the head's content_length */
    MG_HTTP1_FRAME_CHUNKED,  /* chunked, for an HTTP/1.1 client */
    MG_HTTP1_FRAME_CLOSE,    /* delimited by closing the connection (HTTP/1.0 client) */
} mg_http1_frame_t;

/* What the writer knows besides the head. Strings are borrowed. */
typedef struct {
    bool is_head;        /* the request was HEAD: no body, whatever the head says */
    bool http10;         /* the client spoke HTTP/1.0 */
    bool keepalive;      /* the connection stays open after this response */
    mg_str_t date;       /* the current HTTP date, added when the head has none */
    mg_str_t request_id; /* added as X-Request-Id when not empty and the head has none */
} mg_http1_ctx_t;

/* The framing of head `h` for the client described by `x`. */
mg_http1_frame_t mg_http1_frame(const mg_http_head_t *h, const mg_http1_ctx_t *x);

/* Bytes mg_http1_build_head() writes at most. */
size_t mg_http1_head_size(const mg_http_head_t *h, const mg_http1_ctx_t *x);

/* Writes the status line, the head's headers (minus hop-by-hop ones, those its
 * `connection` value names, and Content-Length/Transfer-Encoding), its extra headers,
 * Server and Date (the gateway's own on a gateway-made head; on a relayed one, Date
 * only when absent), X-Request-Id, the framing for `frame` and Connection, then the
 * empty line, into buf (mg_http1_head_size() bytes). Returns the length written. */
size_t mg_http1_build_head(const mg_http_head_t *h, const mg_http1_ctx_t *x, mg_http1_frame_t frame,
                           char *buf);

/* True when the writer drops response header `name` from a head whose Connection value
 * is `connection`: hop-by-hop headers, the ones Connection names, and the framing. */
bool mg_http1_skip_header(mg_str_t name, mg_str_t connection);

#endif
