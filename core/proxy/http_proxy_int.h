/*
 * http_proxy_int.h -- what the two halves of the proxy share: the per-request proxy state
 * and the functions one half calls in the other. http_proxy.c runs tries and the request
 * going up; http_proxy_resp.c takes the response from the upstream client and sends it
 * down. Not a public interface.
 */
#ifndef MG_HTTP_PROXY_INT_H
#define MG_HTTP_PROXY_INT_H

#include "proxy.h"

#include "conf.h"
#include "http_client.h"
#include "log.h"
#include "spool.h"
#include "upstream.h"

#include <ev.h>

#define PROXY_BODY_MAX (64 * 1024) /* request body buffered: replay window, pause mark */
#define PROXY_BODY_MIN 4096
#define PROXY_FREE_MAX 256 /* proxy_t kept for reuse per process */

typedef struct proxy_s proxy_t;

/* Lives in the request pool; its cleanup frees the proxy. */
typedef struct {
    proxy_t *p;
} proxy_ref_t;

/* The upstream side: where the relay is with the upstream. */
typedef enum {
    PROXY_UP_IDLE = 0, /* no try yet: the start of the request body is being buffered */
    PROXY_UP_QUEUED,   /* waiting in the upstream's queue for a connection (at
                        * max_connections, connects paced, or behind other waiters) */
    PROXY_UP_TRY,      /* a try runs in p->cl, whose state says where: connecting,
                        * sending, waiting for the head, reading the body, done, failed */
    PROXY_UP_DONE,     /* no more tries: the response is complete or the request failed */
} proxy_up_t;

/* The client side: where the relay is with the client. */
typedef enum {
    PROXY_DOWN_RECEIVING = 0, /* the request body is still arriving */
    PROXY_DOWN_WAITING,       /* the request is complete; no response head yet */
    PROXY_DOWN_SENDING,       /* the response head went to the response path; its body
                               * follows (the request body may still be arriving: an
                               * upstream may answer before it read it all) */
    PROXY_DOWN_PAUSED,        /* ... and the client's output is full: upstream reads stop */
    PROXY_DOWN_DONE,          /* the request ended (answered, failed or aborted): nothing
                               * is delivered or sent any more, r is forgotten */
} proxy_down_t;

/* One proxied request. Freed only by its request pool's cleanup, which runs from the
 * loop after the request's end (posted: mg_http_finish never frees anything at once), so
 * no frame of ours ever holds a freed proxy; a frame that called out only checks that
 * the relay is not over (down == PROXY_DOWN_DONE). */
struct proxy_s {
    mg_request_t *r; /* NULL once detached from the request */
    mg_upstream_t *up;
    struct ev_loop *loop;
    mg_upstream_waiter_t waiter; /* its place in the upstream's queue (PROXY_UP_QUEUED) */
    proxy_ref_t *ref;
    proxy_t *next_free;
    proxy_up_t up_state;
    proxy_down_t down;

    /* tries */
    mg_balancer_ctx_t bctx;
    int node;
    int tries;
    mg_http_client_err_t last_err;
    double first_start;
    double try_began;  /* mg_mono_now() at the begin of the try */
    /* The flags below are bookkeeping, not progress: each says what must be given back
     * or was already used, whichever way a try or the request ends. */
    bool try_open;      /* mg_upstream_try_begin() ran for this try, the end has not: the
                         * node's inflight count is released exactly once */
    bool trial;         /* the try holds a half-open breaker slot (health.h) */
    bool stale_retried; /* the one free retry after a stale pooled connection was used */
    bool ws_pending;    /* a WebSocket handshake counted in mg_http_tunnel_pending() */
    bool fresh;         /* the try wants a new connection, not a pooled one */

    /* request going up */
    char *head;
    size_t hlen;
    mg_http_client_body_t body; /* the buffered body; body.end: complete and framed */
    size_t bcap;
    /* Sent bytes were slid out of the buffer: the request can no longer be replayed.
     * A property of the bytes kept, for every later try. */
    bool body_dropped;
    /* The client's body is paused by our MG_AGAIN until the buffer drains. Apart from
     * `down`: the body may be paused while the response already streams. */
    bool body_paused;
    const char *why; /* why a callback of ours refused the response (a filter failed) */
    int refuse_status; /* what such a refusal answers: 500 (ours), 502 (a bad 101) */
    char *trace_parent; /* the traceparent value inside `head`, rewritten for each try
                         * (trace.h); NULL without tracing */
    /* Once an upstream answered before the request body's end (the answer is held),
     * the body is still read to check it but no longer forwarded when the upstream
     * stopped taking it: the rest is dropped. */
    bool body_discard;
    /* An HTTP/1.0 request without Host, to an upstream without `host:`: the head names
     * the node it goes to, so it is built per try (for head_node), with these headers
     * the gateway adds (in the request pool). */
    bool node_host;
    int head_node;
    mg_header_t *more;
    size_t nmore;
    int64_t head_length; /* the Content-Length the head gives a body read whole, else -1 */

    /* buffering (http_proxy_buf.c, docs/buffering.md) */
    const mg_buffering_conf_t *bconf; /* the route's */
    mg_spool_t in;       /* request buffering: the whole body, before the first try */
    bool in_on;          /* ... is on for this request */
    uint64_t in_off;     /* the offset in `in` after the bytes `body` points at */
    mg_spool_t out;      /* response bytes the client did not take yet, in order */
    bool out_on;         /* the response is buffered: the upstream is read ahead of the
                          * client (else reads pause with the client, and only a held
                          * answer is kept) */
    bool up_paused;      /* upstream reads stopped because `out` is full */
    bool up_done;        /* the upstream's answer is complete: its connection went back */
    bool held;           /* the answer came before the request body's end: its head is
                          * in held_head, its body in `out`, until the body ends */
    mg_http_head_t *held_head;
    bool spool_logged;   /* a temp file failure was logged for this request */

    mg_http_client_t cl; /* the try's exchange (hdr last: not cleared per request); its
                          * read buffer is taken only while it reads (http_client.h) */
};

/* Unhooks the proxy from its request (no try, no watcher, nothing held) and returns the
 * request, NULL when it was gone already. */
mg_request_t *mg__proxy_detach(proxy_t *p);

/* Gives the proxy back before its request ends (its request went on as a tunnel). */
void mg__proxy_give_back(proxy_t *p);

/* Ends the request: detaches the proxy and calls mg_http_finish(r, ok). */
void mg__proxy_finish(proxy_t *p, bool ok);

/* Answers `status` (or cuts the client when bytes went down) and ends the request. */
void mg__proxy_fail(proxy_t *p, int status);

/* One try failed: logs it, then retries or answers per mg_proxy_retry_decide(). */
void mg__proxy_try_failed(proxy_t *p, mg_http_client_err_t err, const char *why);

/* Ends the current try once (see mg_upstream_try_end()): failed, or with measured the
 * time to the response head as a latency sample. A no-op when no try is open. */
void mg__proxy_try_end(proxy_t *p, bool failed, bool measured);

/* The current try's outcome for the node's health (passive checks, breaker); gives
 * back its breaker trial slot. */
void mg__proxy_observe(proxy_t *p, mg_health_outcome_t o);

/* The request's record of the current try, NULL when it is not kept. */
mg_http_try_t *mg__proxy_try_rec(proxy_t *p);

/* One error-log line about the current node, with the client and the request id. */
void mg__proxy_log_try(proxy_t *p, mg_log_level_t level, const char *what, const char *why);

/* ---- buffering (http_proxy_buf.c) ---- */

/* Sets up both spools from the route's `buffering:`; request buffering is on when the
 * route asks and the request has a body. */
void mg__proxy_buf_init(proxy_t *p);

/* Gives back what both spools hold (memory, temp files). */
void mg__proxy_buf_dispose(proxy_t *p);

/* Request buffering: keeps body bytes. MG_OK, or a status to answer (413 when the body
 * does not fit the buffers, 500 when they failed), logged. */
int mg__proxy_in_put(proxy_t *p, const char *data, size_t len);

/* Request buffering: points p->body at the spool's bytes from the start (a try
 * begins: the body is replayed) or after what it pointed at (everything went out).
 * MG_OK, or MG_ERROR when the temp file could not be read (logged). */
int mg__proxy_in_feed(proxy_t *p, bool from_start);

/* Whether this response is read ahead of the client: the route's buffering.response,
 * unless the upstream asked otherwise (X-Accel-Buffering) or streams events. */
bool mg__proxy_out_wanted(proxy_t *p, const mg_http_head_t *h);

/* Keeps response body bytes for later. MG_OK, MG_AGAIN when the spool is full (stop
 * reading the upstream) or MG_ERROR (out of memory, logged). */
int mg__proxy_out_put(proxy_t *p, const char *data, size_t len);

/* Copies the head of an answer that came before the request body's end into the
 * request pool (its spans point into the client's read buffer). MG_OK or MG_ERROR. */
int mg__proxy_hold_head(proxy_t *p, const mg_http_head_t *h);

/* The upstream client's callbacks for the response (http_proxy_resp.c). */
int mg__proxy_on_head(mg_http_client_t *cl, mg_http_client_head_t *h);
int mg__proxy_on_body(mg_http_client_t *cl, const char *data, size_t len);
void mg__proxy_on_done(mg_http_client_t *cl);
void mg__proxy_on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why);
void mg__proxy_on_upgrade(mg_http_client_t *cl, mg_upstream_conn_t *conn, const char *rest,
                          size_t len);

/* Stops forwarding the request body (the upstream stopped taking it while its answer
 * is held): what is due is dropped, the rest of the body is read and dropped. */
void mg__proxy_body_discard(proxy_t *p);

/* The client can take more: what `out` holds goes down, then upstream reads resume,
 * or the request ends when the answer was complete. */
void mg__proxy_drain(proxy_t *p);

/* The request body ended: a held answer goes down (its head through the filters). */
void mg__proxy_release(proxy_t *p);

#endif
