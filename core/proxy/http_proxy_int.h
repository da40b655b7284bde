/*
 * http_proxy_int.h -- what the two halves of the proxy share: the per-request proxy state
 * and the functions one half calls in the other. http_proxy.c runs tries, timers and the
 * request going up; http_proxy_resp.c parses the response and sends it down. Not a
 * public interface.
 */
#ifndef MG_HTTP_PROXY_INT_H
#define MG_HTTP_PROXY_INT_H

#include "proxy.h"

#include "conf.h"
#include "log.h"
#include "upstream.h"

#include "llhttp.h"

#include <ev.h>

#define PROXY_RBUF 16384           /* response read buffer; also caps the response head */
#define PROXY_BODY_MAX (64 * 1024) /* request body buffered: replay window, pause mark */
#define PROXY_BODY_MIN 4096
#define PROXY_MAX_HEADERS 100
#define PROXY_FREE_MAX 256 /* proxy_t kept for reuse per process */

typedef struct proxy_s proxy_t;

/* Lives in the request pool; lets a pool reset find a proxy that is still attached. */
typedef struct {
    proxy_t *p;
} proxy_ref_t;

struct proxy_s {
    mg_request_t *r; /* NULL once detached from the request */
    mg_upstream_t *up;
    struct ev_loop *loop;
    mg_upstream_conn_t *conn; /* this try's connection, owned */
    ev_timer timer;
    proxy_ref_t *ref;
    proxy_t *next_free;
    int busy;  /* frames of ours on the stack */
    bool dead; /* done or aborted: free at the outermost leave() */
    bool connecting;
    bool in_flush;
    unsigned io_events;

    /* tries */
    mg_balancer_ctx_t bctx;
    int node;
    int tries;
    unsigned try_id;
    bool stale_retried;
    bool try_open;    /* mg_upstream_try_begin() ran for this try, the end has not */
    double try_began; /* mg_mono_now() at the begin */
    mg_proxy_err_t last_err;
    double first_start;
    bool trial;        /* the try holds a half-open breaker slot (health.h) */
    bool waiting;      /* counted in the upstream's pending: waiting at max_connections */
    double wait_start; /* when it started waiting */

    /* request going up */
    char *head;
    size_t hlen, hsent;
    char *body;
    size_t bcap, blen, bsent;
    bool body_dropped; /* sent bytes were discarded: the request cannot be replayed */
    bool body_done;    /* the client's body is complete and framed */
    bool body_paused;  /* the client side is paused by our MG_AGAIN */
    bool body_wait;    /* no try yet: buffering the start of the body first */
    bool wrote;        /* bytes went out on this try */
    bool out_broken;   /* writing failed; still reading what the upstream said */

    /* response coming down */
    llhttp_t parser;
    size_t rlen; /* bytes kept in rbuf while the head is incomplete */
    bool resp_started;
    bool head_done; /* final (non-1xx) head parsed */
    bool resp_done;
    bool down_paused;   /* client output full: upstream reads stopped */
    bool extra;         /* bytes after the response: never pool */
    bool plugin_failed; /* a filter plugin failed: 500 (or a cut), not the upstream's fault */
    mg_str_t reason;
    const char *why; /* why a callback of ours rejected the response */
    size_t nhdr;
    bool in_value;
    mg_header_t hdr[PROXY_MAX_HEADERS];
    char rbuf[PROXY_RBUF];
};

/* Ends the request: detaches the proxy (freed at the outermost frame), gives the
 * connection back (keep = poolable) and calls mg_http_finish(r, ok). */
void mg__proxy_finish(proxy_t *p, bool ok, bool keep);

/* Answers `status` (or cuts the client when bytes went down) and ends the request. */
void mg__proxy_fail(proxy_t *p, int status);

/* One try failed: logs it, drops the connection, then retries or answers per
 * mg_proxy_retry_decide(). */
void mg__proxy_try_failed(proxy_t *p, mg_proxy_err_t err, const char *why);

/* Ends the current try once (see mg_upstream_try_end()): failed, or with measured the
 * time to the response head as a latency sample. A no-op when no try is open. */
void mg__proxy_try_end(proxy_t *p, bool failed, bool measured);

/* The current try's outcome for the node's health (passive checks, breaker); gives
 * back its breaker trial slot. */
void mg__proxy_observe(proxy_t *p, mg_health_outcome_t o);

/* One error-log line about the current node, with the client and the request id. */
void mg__proxy_log_try(proxy_t *p, mg_log_level_t level, const char *what, const char *why);

/* Head and body written, and the client's body complete. */
bool mg__proxy_request_sent(const proxy_t *p);

/* Sets the upstream watcher's events from what is pending and paused. */
void mg__proxy_update_io(proxy_t *p);

/* Re-arms the send/read timeout for what the proxy waits on now. */
void mg__proxy_touch_timer(proxy_t *p);

/* Reads and parses what the upstream sent, until EAGAIN, a pause or the end. */
void mg__proxy_do_read(proxy_t *p);

/* llhttp callbacks for the response (HTTP_RESPONSE, strict). */
extern const llhttp_settings_t mg__proxy_resp_settings;

#endif
