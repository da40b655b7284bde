/*
 * http.h -- the downstream side: client connections, requests and the API a request
 * producer (the proxy, the admin API, a `return:` route) uses to answer.
 *
 * Flow: http_conn.c accepts, reads into a per-connection buffer, parses with llhttp
 * (every lenient flag off), enforces limits and the RELIABILITY.md rules, normalises the
 * path, routes, and then hands the request to a producer:
 *   - route with `upstream`: mg_proxy_start(r)
 *   - route with `return`:   mg_http_respond(r, ...)
 *   - admin listener:        mg_admin_handle(r)
 * The producer installs r->handler to receive the request body (pushed, de-chunked,
 * with pause/resume) and writes the response with mg_http_write() (its own framing,
 * e.g. a forwarded head and re-chunked body), then calls mg_http_finish(). Errors before
 * anything was written go through mg_http_error(). One request per connection is
 * active at a time; pipelined requests wait in the read buffer and are answered in
 * order.
 */
#ifndef MG_HTTP_H
#define MG_HTTP_H

#include "log.h"
#include "mg_core.h"
#include "router.h"

#include <ev.h>
#include <sys/socket.h>

typedef struct {
    mg_str_t name;
    mg_str_t value; /* leading/trailing whitespace trimmed */
} mg_header_t;

/* Headers the gateway's own header filters may add to one head (RateLimit-*, a sticky
 * Set-Cookie). */
#define MG_HTTP_HEAD_EXTRA 8

/* A response head as every producer (the proxy, a `return:` route, the admin API, a
 * plugin's answer, a gateway error) hands it to the http layer. The header filters may
 * change the status and the headers and add `extra` ones; the session writer then
 * frames it for the client. */
typedef struct {
    int status;
    mg_str_t reason;            /* as the source sent it; empty: the standard phrase */
    const mg_header_t *headers; /* the producer's headers, in order (borrowed) */
    size_t nheaders;
    mg_str_t connection;    /* the source's Connection value: the headers it names are
                             * hop-by-hop and never reach the client */
    int64_t content_length; /* the body's length, or -1 when unknown */
    bool gateway;           /* made by the gateway: Server and Date are its own */
    size_t headers_size;    /* when not 0: a bound on the bytes of headers[] (names,
                             * values, separators), which spares the writer a count */
    mg_header_t extra[MG_HTTP_HEAD_EXTRA];
    size_t nextra;
} mg_http_head_t;

/* One upstream try as the proxy records it, for the access log and the trace: addr,
 * status, start, connect_time, header_time, time, error (log.h, where the access log
 * reads it without a copy). */
typedef mg_access_try_t mg_http_try_t;

/* Tries recorded per request; later ones are counted in ntries but not kept. */
#define MG_HTTP_MAX_TRIES 8

/* Callbacks a producer installs on r->handler. Any of them may be NULL. In tunnel mode
 * (mg_http_tunnel_open) on_body gets the client's raw bytes and on_body_end its end of
 * stream (it shut its write side). */
typedef struct {
    /* Body bytes (already de-chunked). The producer must consume (copy or write) all
     * `len` bytes; it returns MG_OK to keep receiving, or MG_AGAIN to pause delivery
     * until it calls mg_http_body_resume(). */
    int (*on_body)(mg_request_t *r, const char *data, size_t len);
    /* The whole request body has been delivered (called once, only when r->has_body;
     * in tunnel mode: the client closed its side). */
    void (*on_body_end)(mg_request_t *r);
    /* The client's output buffer drained after mg_http_write() returned MG_AGAIN. */
    void (*on_writable)(mg_request_t *r);
    /* The request dies early (client closed, client timeout, worker stop): release
     * upstream resources now. No mg_http_* call may be made on r after this. */
    void (*on_abort)(mg_request_t *r);
} mg_http_handler_t;

struct mg_request_s {
    mg_pool_t *pool;     /* request lifetime; reset when the request ends */
    mg_conn_t *conn;     /* the client connection (borrowed) */
    mg_worker_t *worker; /* borrowed */
    mg_gen_t *gen;       /* one reference held from start to end */
    /* The body limit, body and send timeouts that apply: gen's `http:` block, then the
     * route's `http:` once it is matched (both live as long as gen) */
    const mg_http_conf_t *limits;
    const mg_http_handler_t *handler;
    void *handler_data; /* the producer's state */

    /* request line */
    int method; /* llhttp_method_t */
    mg_str_t method_name;
    mg_str_t target; /* raw request target as received */
    mg_str_t path;   /* normalised path (dot-segments resolved, %XX of unreserved
                        characters decoded); routed on and forwarded upstream */
    mg_str_t query;  /* raw query after '?', without it; empty when none */
    int http_major, http_minor;

    /* headers, in received order; names as received (case kept) */
    mg_header_t *headers;
    size_t nheaders;
    mg_str_t host;          /* Host without port, trimmed, lower-cased */
    mg_str_t host_header;   /* Host value as sent, trimmed */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool has_body;          /* content_length > 0 or chunked */
    bool keepalive;         /* the client wants the connection kept */
    bool expect_continue;   /* Expect: 100-continue */
    bool continue_sent;     /* "100 Continue" went out */
    bool keepalive_wanted;  /* keepalive as the client asked (before 100-continue rules) */
    bool is_head;
    /* a WebSocket handshake on a `websocket: true` route, validated (RFC 6455 §4.2.1):
     * the producer opens a tunnel on a 101 (mg_http_tunnel_open). On any other route
     * the Upgrade is ignored and the request goes up as a plain one. */
    bool websocket;
    bool tunnel;          /* the connection carries a tunnel now: raw bytes, no more HTTP */
    mg_str_t ws_key;      /* the client's Sec-WebSocket-Key (websocket only) */
    mg_str_t connection;  /* Connection header value (for hop-by-hop tokens), or empty */
    mg_str_t request_id;  /* the client's valid X-Request-Id, or a generated one */
    mg_str_t remote_addr; /* the client's IP as text: the peer's, or from X-Forwarded-For
                             when the peer is in trusted_proxies (http/realip.h) */
    uint16_t remote_port; /* the peer's port; 0 when remote_addr came from a header */
    mg_str_t peer_addr;   /* the connection's peer (the PROXY protocol's source on a
                             proxy_protocol listener) */
    uint16_t peer_port;
    bool peer_trusted;      /* peer_addr is in trusted_proxies */
    mg_str_t forwarded_for; /* X-Forwarded-For sent upstream (realip.h) */
    bool tls; /* reserved for TLS listeners */

    /* routing and the phase engine (http_phase.h) */
    mg_route_match_t match;       /* match.route is NULL before routing / for admin */
    const mg_http_chain_t *chain; /* the route's handler chain (or the admin one) */
    int phase;                    /* the phase running or next to run */
    mg_str_t consumer;            /* the consumer an access plugin named, or empty */
    /* the upstream a plugin sent the request to (mg.upstream.set), NULL for the route's
     * own: read it through mg_request_upstream() */
    const mg_upstream_conf_t *upstream;
    mg_lua_task_t *lua;           /* the route's plugins at work, or NULL (no Lua) */
    struct mg_rl_req_s *rl;       /* rate-limit state (ratelimit.c), or NULL */
    bool body_held;               /* mg_http_body_hold(): the producer resumes the body */

    /* the response on its way (http_respond.c and the session writer) */
    char *out_head;      /* the head, held back to leave with the first body bytes */
    size_t out_head_len; /* 0 once written */
    int out_frame;       /* the session's framing of the body (http1.h) */
    bool filters_off;    /* the header filters ran: an answer after a failed one
                          * goes out unfiltered */
    bool body_filtered;  /* a header filter asked for the body filters */

    /* response and log state; the producer fills the upstream_* fields */
    int status;       /* status sent (or being sent) to the client */
    bool header_sent; /* some response bytes were written */
    uint64_t bytes_sent;
    uint64_t body_bytes_sent; /* response body bytes given to the writer, framing aside */
    uint64_t body_length;     /* the response body's announced length (Content-Length),
                               * 0 when unknown or none: what a drain still waits for */
    uint64_t request_length;
    mg_str_t upstream_addr;
    int upstream_status;
    double upstream_time;         /* seconds from the first try to the response's end (or the
                                     failure), < 0 when no upstream */
    double upstream_connect_time; /* seconds the last try took to get its connection (0
                                     for a kept-alive one), < 0 when none got one */
    double upstream_header_time;  /* seconds from the first try to the response head, < 0
                                     when none came */
    double start;                 /* ev_now() when the request's first byte was read */
    double start_wall;            /* epoch seconds at start */
    /* seconds the plugins of each phase (rewrite ... log) ran, filled by the Lua runtime
     * before the access log; a phase is in plugin_phases only when some ran */
    double plugin_time[MG_LOG_PLUGIN_PHASES];
    unsigned plugin_phases;
    mg_http_try_t *tries; /* the upstream tries, MG_HTTP_MAX_TRIES at most (request pool) */
    unsigned ntries;      /* tries made, kept or not */
    mg_str_t trace_id;    /* 32 hex digits when the request is traced, else empty */
    struct mg_trace_req_s *trace; /* its trace context (trace.h), NULL until asked for or
                                     without tracing */
    /* wall-clock time the plugins of each phase first started and last stopped (set with
     * plugin_time), for the phase's span */
    double plugin_span[MG_LOG_PLUGIN_PHASES][2];
};

/* The upstream the request goes to: the one a plugin chose, else the route's (NULL
 * when neither: no route matched, or a route without `upstream:` and no choice). */
static inline const mg_upstream_conf_t *mg_request_upstream(const mg_request_t *r)
{
    if (r->upstream != NULL) {
        return r->upstream;
    }
    return r->match.route != NULL ? r->match.route->upstream : NULL;
}

/* ---- the response path (http_respond.c) ---- */

/* A header filter: may change h (status, headers, content_length, extra) and set
 * r->body_filtered when it will change the body. MG_OK, or MG_ERROR when it failed
 * (logged by it): the producer then answers 500, unfiltered. */
typedef int (*mg_http_header_filter_fn)(mg_request_t *r, mg_http_head_t *h);

/* A body filter: one chunk (*data, *len; last set on the final call, possibly with no
 * bytes); it may point them at other bytes (valid until its next call). MG_OK or
 * MG_ERROR. Runs only for requests whose header filters set r->body_filtered. */
typedef int (*mg_http_body_filter_fn)(mg_request_t *r, const char **data, size_t *len, bool last);

/* A log handler: runs once when the request ends, after the response. */
typedef void (*mg_http_log_fn)(mg_request_t *r);

#define MG_HTTP_MAX_FILTERS 8

/* The filters and log handlers a generation's answers go through, in running order.
 * The generation's assembly (server/) registers what its configuration uses, so a
 * configuration without plugins, limits or access log pays for none of them. */
struct mg_http_filters_s {
    mg_http_header_filter_fn header[MG_HTTP_MAX_FILTERS];
    size_t nheader;
    mg_http_body_filter_fn body[MG_HTTP_MAX_FILTERS];
    size_t nbody;
    mg_http_log_fn log[MG_HTTP_MAX_FILTERS];
    size_t nlog;
};

/* Registration into `f`, in running order. MG_OK, or MG_ERROR when the list is full. */
int mg_http_add_header_filter(mg_http_filters_t *f, mg_http_header_filter_fn fn);
int mg_http_add_body_filter(mg_http_filters_t *f, mg_http_body_filter_fn fn);
int mg_http_add_log_handler(mg_http_filters_t *f, mg_http_log_fn fn);

/* The access log's log handler (register it after the plugins' log phase). */
void mg_http_access_log(mg_request_t *r);

/* A session writer: how a protocol frames what the response path hands it. HTTP/1 is
 * mg_http1_session; HTTP/2 will be a second one, with no change to the producers. */
typedef struct {
    /* Prepares the head (held back until the first body bytes). MG_OK or MG_ERROR. */
    int (*send_head)(mg_request_t *r, const mg_http_head_t *h);
    /* Body bytes (framed as the head said); last: the end. With len 0 and not last, it
     * writes the head alone. MG_OK, MG_AGAIN (output full: wait for on_writable) or
     * MG_ERROR (client gone: the request was aborted). */
    int (*send_body)(mg_request_t *r, const char *data, size_t len, bool last);
} mg_http_session_ops_t;

extern const mg_http_session_ops_t mg_http1_session;

/* A producer's head: runs the header filters (once per request), then the session
 * writer. MG_OK, or MG_ERROR when a filter failed: nothing was written, and the
 * producer answers 500 (mg_http_error). */
int mg_http_send_head(mg_request_t *r, mg_http_head_t *h);

/* A producer's body bytes after mg_http_send_head(): body filters, then the writer.
 * last marks the end of the body. Returns as send_body above; MG_ERROR also when a body
 * filter failed (the producer then cuts the connection: mg_http_finish(r, false)). */
int mg_http_send_body(mg_request_t *r, const char *data, size_t len, bool last);

/* A whole answer: head and complete body (borrowed), through every filter, then the
 * end of the request. The length announced is the filtered body's. */
void mg_http_respond_head(mg_request_t *r, mg_http_head_t *h, const char *body, size_t len);

/* Content handlers of the http layer (http_phase.h): a `return:` route's answer (data:
 * its mg_return_conf_t), and the 500 of a route that has neither. */
int mg_http_return_handler(mg_request_t *r, const void *data);
int mg_http_no_producer_handler(mg_request_t *r, const void *data);

/* Accepts one client connection on listener `l` (fd already non-blocking): a TLS
 * listener's does its handshake first. Takes the fd. */
/* How the request's connection moves its bytes (plain or TLS: sys/tls.h tells what a
 * TLS one negotiated and who the client's certificate names). */
const struct mg_transport_s *mg_http_transport(const mg_request_t *r);

struct mg_listener_s;
void mg_http_conn_accept(mg_worker_t *w, int fd, const struct mg_listener_s *l,
                         const struct sockaddr *sa, socklen_t salen);

/* Sets up the worker's client side on its loop (the posted endings of requests).
 * Once, before the first connection. */
void mg_http_worker_init(mg_worker_t *w);

/* Drain: closes idle keep-alive connections now, and makes active ones close after
 * their current response (Connection: close). */
void mg_http_conns_drain(mg_worker_t *w);

/* What a worker's client connections hold (a draining worker's /status figures). */
typedef struct {
    size_t conns;    /* open client connections */
    size_t requests; /* with a request in flight (a tunnel's included) */
    uint64_t bytes;  /* response bytes still to send: buffered output, plus the rest of
                      * the bodies whose length was announced */
} mg_http_census_t;

/* Counts what w's client connections hold into *out; walks them all. */
void mg_http_conns_census(const mg_worker_t *w, mg_http_census_t *out);

/* The name of connection state `state` for /status ("idle", "reading", "active", ...),
 * NULL for a number no state has. */
const char *mg_http_conn_state_name(int state);

/* Closes every client connection at once (fast stop). */
void mg_http_conns_close_all(mg_worker_t *w);

/* Once a second (the worker's tick): true when a burst is over (client connections
 * fell to half their peak since the last trim, or fewer) and enough is resident or free
 * since that trim to be worth giving back. The caller then cuts its own free lists and
 * calls mg_http_mem_trim(). */
bool mg_http_mem_tick(mg_worker_t *w);

/* Cuts the client side's free lists (read buffers, request pools) to a few entries and
 * returns the heap's free pages to the system (malloc_trim). */
void mg_http_mem_trim(mg_worker_t *w);

/* True when the response should keep the connection open (client asked for it, the
 * request was read entirely, the worker is not draining, limits not reached). The
 * producer uses it to write "Connection: close" when false. */
bool mg_http_keepalive(mg_request_t *r);

/* Answers with a complete gateway-made response: status line, Server, Date,
 * Content-Type, Content-Length, X-Request-Id, Connection as needed, then the body
 * (none for HEAD or 204/304). Discards (or closes on) any unread request body, then
 * ends the request. `body` is borrowed. */
void mg_http_respond(mg_request_t *r, int status, const char *content_type, const char *body,
                     size_t len);

/* mg_http_respond with any headers (borrowed): a plugin's answer. Framing headers
 * (Content-Length, Transfer-Encoding, Connection) and Server/Date in `hdrs` are
 * ignored: the gateway writes its own. */
void mg_http_respond_headers(mg_request_t *r, int status, const mg_header_t *hdrs, size_t nhdrs,
                             const char *body, size_t len);

/* Sends "100 Continue" (not the response) when the client waits for one and it has not
 * gone out yet. MG_OK, or MG_ERROR when the client is gone: the request ended inside
 * and r must not be touched again. */
int mg_http_continue(mg_request_t *r);

/* mg_http_respond with a small JSON body {"error":"<reason>","status":N,"request_id":..}.
 * If response bytes were already written, it cannot answer: it closes the connection
 * instead (mg_http_finish(r, false)). */
void mg_http_error(mg_request_t *r, int status);

/* mg_http_error with more headers (borrowed; e.g. Retry-After on a 503). */
void mg_http_error_headers(mg_request_t *r, int status, const mg_header_t *hdrs, size_t nhdrs);

/* Writes raw response bytes (the producer's own head and framing). Copies what the
 * socket does not take at once. Returns MG_OK, MG_AGAIN when the pending output is
 * over the high-water mark (stop producing until handler->on_writable), or MG_ERROR when
 * the client is gone (then handler->on_abort has run). The first call sets header_sent;
 * the producer sets r->status itself before it. */
int mg_http_write(mg_request_t *r, const char *data, size_t len);

/* Same with an iovec array. */
struct iovec;
int mg_http_writev(mg_request_t *r, const struct iovec *iov, int iovcnt);

/* Ends the response. ok=true: complete; the connection is kept alive when
 * mg_http_keepalive() said so, after the rest of the request body is read and
 * discarded. ok=false: the response is incomplete (e.g. upstream died mid-body): flush
 * what was written and close, so the client sees the truncation. Writes the access
 * log line and releases r. */
void mg_http_finish(mg_request_t *r, bool ok);

/* Resumes body delivery after on_body returned MG_AGAIN. */
void mg_http_body_resume(mg_request_t *r);

/* Holds the body before any of it was delivered, while the request waits before its
 * producer (a rate-limit delay): the client's bytes stay unread. The producer resumes
 * delivery (mg_proxy_start does when r->body_held); an answer discards the body. */
void mg_http_body_hold(mg_request_t *r);

/* ---- tunnel mode (http_tunnel.c): the session after a 101 ---- */

/* Switches r's connection to a tunnel once the producer sent a 101 head with
 * mg_http_send_head(): the head goes out, HTTP parsing stops for good, and from then on
 * the client's bytes (those it sent after its handshake first) go raw to handler `h`
 * (borrowed, with `data` as r->handler_data): on_body, on_body_end at its end of stream,
 * on_writable, on_abort. The request lives until the producer calls mg_http_finish()
 * (the log phase then runs with status 101); the connection closes after it.
 * MG_OK, or MG_ERROR when the client is gone (the request was aborted: on_abort ran). */
int mg_http_tunnel_open(mg_request_t *r, const mg_http_handler_t *h, void *data);

/* Bytes for the client of a tunnel, as they are: as mg_http_write() (MG_OK, MG_AGAIN:
 * wait for on_writable, MG_ERROR: the client is gone and on_abort ran). */
int mg_http_tunnel_write(mg_request_t *r, const char *data, size_t len);

/* Open tunnels counted by every worker of this instance (the connections gauge), plus
 * the handshakes this worker has on their way: what `http.max_tunnels` caps. */
int64_t mg_http_tunnels_open(const mg_worker_t *w);

/* A handshake of this worker starts (+1) or ends (-1: it opened, or failed). */
void mg_http_tunnel_pending(int delta);

/* Reason phrase for a status ("Not Found"); "" for a code without a registered name
 * (418, 599), which the status line sends as an empty phrase. */
const char *mg_http_reason(int status);

/* ---- values of a request, by name (http_values.c); views into r, empty when absent ---- */

/* The first header `name` (case-insensitive). */
mg_str_t mg_http_header(const mg_request_t *r, mg_str_t name);

/* Cookie `name` from the Cookie headers, without surrounding spaces and quotes. */
mg_str_t mg_http_cookie(const mg_request_t *r, mg_str_t name);

/* Query argument `name`, raw (not percent-decoded); an argument without '=' has none. */
mg_str_t mg_http_query_arg(const mg_request_t *r, mg_str_t name);

/* Route path parameter `name` ({name} in the matched pattern). */
mg_str_t mg_http_param(const mg_request_t *r, mg_str_t name);

#endif
