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
#include "upstream.h"

#include <ev.h>

#define PROXY_RBUF 16384           /* response read buffer; also caps the response head */
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
    PROXY_UP_QUEUED,   /* at max_connections: waiting for a connection to be freed */
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
    ev_timer wait_timer; /* polls for a free connection while PROXY_UP_QUEUED */
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
    double wait_start; /* when it started waiting in PROXY_UP_QUEUED */
    double try_began;  /* mg_mono_now() at the begin of the try */
    /* The flags below are bookkeeping, not progress: each says what must be given back
     * or was already used, whichever way a try or the request ends. */
    bool try_open;      /* mg_upstream_try_begin() ran for this try, the end has not: the
                         * node's inflight count is released exactly once */
    bool trial;         /* the try holds a half-open breaker slot (health.h) */
    bool stale_retried; /* the one free retry after a stale pooled connection was used */

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
    char *trace_parent; /* the traceparent value inside `head`, rewritten for each try
                         * (trace.h); NULL without tracing */
    /* An HTTP/1.0 request without Host, to an upstream without `host:`: the head names
     * the node it goes to, so it is built per try (for head_node), with these headers
     * the gateway adds (in the request pool). */
    bool node_host;
    int head_node;
    mg_header_t *more;
    size_t nmore;

    mg_http_client_t cl; /* the try's exchange (hdr last: not cleared per request) */
    char rbuf[PROXY_RBUF];
};

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

/* The upstream client's callbacks for the response (http_proxy_resp.c). */
int mg__proxy_on_head(mg_http_client_t *cl, mg_http_client_head_t *h);
int mg__proxy_on_body(mg_http_client_t *cl, const char *data, size_t len);
void mg__proxy_on_done(mg_http_client_t *cl);
void mg__proxy_on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why);

#endif
