/*
 * http_proxy.c -- relays one request to an upstream node and the response back, through
 * the outbound client (http_client.h).
 *
 * One proxy_t per proxied request, taken from a per-process free list (so a keep-alive
 * benchmark mallocs nothing per request) and holding the response read buffer. Two
 * states say where it is (http_proxy_int.h): `up_state` with the upstream, `down` with
 * the client. Its life:
 *
 *   try_start ─ pick a node (balancer, skipping tried ones); the client takes a pooled
 *   │           connection or connects; the head and whatever body is buffered go out
 *   │           in one writev
 *   ├─ on_req_body: the request body streams up through a bounded buffer; the client is
 *   │           paused (MG_AGAIN) while it is full, resumed when it drained (on_sent)
 *   ├─ http_proxy_resp.c: the head and body go down; downstream backpressure stops reads
 *   └─ the client pools the connection when both messages were whole
 *
 * A failure before any response byte went down goes through mg_proxy_retry_decide();
 * after that the only honest answer is to cut the client connection.
 *
 * Re-entrancy: mg_http_send_body() may run on_abort, and mg_http_body_resume() may run
 * on_req_body, inside our own frames. Neither frees anything: the proxy lives until its
 * request's pool is reset, which the http layer posts to the loop. A frame that called
 * out checks `down` before going on; the upstream client guards its own frames.
 */
#include "http_proxy_int.h"

#include "clock.h"
#include "gen.h"
#include "http.h"
#include "lua_runtime.h"
#include "pool.h"
#include "tls.h"
#include "trace.h"
#include "tunnel.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static proxy_t *free_list;
static int nfree;

static const mg_http_handler_t detached_handler = {NULL, NULL, NULL, NULL};

/* Opens the record of a new try on the request (the first MG_HTTP_MAX_TRIES are kept). */
static void try_record(proxy_t *p)
{
    mg_request_t *r = p->r;
    if (r->tries == NULL) {
        r->tries = mg_pool_alloc(r->pool, MG_HTTP_MAX_TRIES * sizeof(*r->tries));
    }
    unsigned i = r->ntries++;
    if (r->tries != NULL && i < MG_HTTP_MAX_TRIES) {
        r->tries[i] = (mg_http_try_t){
            .addr = r->upstream_addr,
            .start = ev_now(p->loop),
            .connect_time = -1,
            .header_time = -1,
            .time = -1,
        };
    }
}

mg_http_try_t *mg__proxy_try_rec(proxy_t *p)
{
    mg_request_t *r = p->r;
    if (r == NULL || r->tries == NULL || r->ntries == 0 || r->ntries > MG_HTTP_MAX_TRIES) {
        return NULL;
    }
    return &r->tries[r->ntries - 1];
}

static void try_start(proxy_t *p, bool same_node);
static int head_build(proxy_t *p, mg_str_t host);
static int head_now(proxy_t *p);
static void start_after_body(proxy_t *p);

/* ---- lifetime ---- */

static proxy_t *proxy_new(void)
{
    proxy_t *p = free_list;
    if (p != NULL) {
        free_list = p->next_free;
        nfree--;
    } else if ((p = malloc(sizeof(*p))) == NULL) {
        return NULL;
    } else {
        /* a client proxy_free() can dispose of, whether or not a try ever ran */
        mg_http_client_init(&p->cl, NULL, NULL, p, NULL, 0);
    }
    memset(p, 0, offsetof(proxy_t, cl));
    return p;
}

static void proxy_free(proxy_t *p)
{
    mg_http_client_dispose(&p->cl); /* a large response head's array goes now */
    if (nfree >= PROXY_FREE_MAX) {
        free(p);
        return;
    }
    p->next_free = free_list;
    free_list = p;
    nfree++;
}

void mg_proxy_free_list_cut(size_t keep)
{
    while (nfree > 0 && (size_t)nfree > keep) {
        proxy_t *p = free_list;
        free_list = p->next_free;
        nfree--;
        free(p);
    }
}

/* Unhooks the proxy from its request: no try, no watcher, nothing held. Returns the
 * request (NULL when it was gone already). */
static mg_request_t *detach(proxy_t *p)
{
    mg_request_t *r = p->r;
    mg__proxy_try_end(p, false, false); /* the request ends mid-try: e.g. client gone */
    mg_http_client_abort(&p->cl);
    mg_upstream_queue_leave(&p->up->queue, &p->waiter, MG_QUEUE_GONE);
    if (p->trial) {
        mg__proxy_observe(p, MG_HEALTH_NONE);
    }
    if (p->ws_pending) {
        p->ws_pending = false;
        mg_http_tunnel_pending(-1);
    }
    mg__proxy_buf_dispose(p); /* memory and temp files go back with the request */
    if (r != NULL) {
        r->handler = &detached_handler;
        r->handler_data = NULL;
    }
    p->up_state = PROXY_UP_DONE;
    p->down = PROXY_DOWN_DONE;
    p->r = NULL;
    return r;
}

/* Pool cleanup: the request is over; the proxy goes (detached first if the request
 * ended without telling us). */
static void on_pool_cleanup(void *data)
{
    proxy_t *p = ((proxy_ref_t *)data)->p;
    if (p == NULL) {
        return; /* given back early: the request went on as a tunnel */
    }
    if (p->down != PROXY_DOWN_DONE) {
        p->r = NULL; /* the request is going away: never touch it again */
        detach(p);
    }
    proxy_free(p);
}

mg_request_t *mg__proxy_detach(proxy_t *p)
{
    return detach(p);
}

void mg__proxy_give_back(proxy_t *p)
{
    p->ref->p = NULL;
    proxy_free(p);
}

void mg__proxy_finish(proxy_t *p, bool ok)
{
    mg_request_t *r = detach(p);
    if (r != NULL) {
        mg_http_finish(r, ok);
    }
}

void mg__proxy_fail(proxy_t *p, int status)
{
    mg_request_t *r = p->r;
    if (r == NULL) {
        return;
    }
    r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(r);
    detach(p);
    if (r->header_sent) {
        mg_http_finish(r, false);
    } else {
        mg_http_error(r, status);
    }
}

void mg__proxy_observe(proxy_t *p, mg_health_outcome_t o)
{
    mg_health_observe(p->up, p->node, o, p->trial);
    p->trial = false;
}

void mg__proxy_log_try(proxy_t *p, mg_log_level_t level, const char *what, const char *why)
{
    mg_request_t *r = p->r;
    mg_log_error(level, "upstream \"%s\" node %s: %s%s%s, client: %.*s, request_id: %.*s",
                 p->up->conf->name, mg_upstream_node_addr(p->up, p->node), what,
                 why != NULL ? ": " : "", why != NULL ? why : "", (int)r->remote_addr.len,
                 r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
}

int mg_proxy_handler(mg_request_t *r, const void *data)
{
    if (mg_request_upstream(r) == NULL) {
        /* a route without `upstream:` whose plugins chose none (mg.upstream.set) */
        return mg_http_no_producer_handler(r, data);
    }
    int st = r->websocket ? mg_tunnel_admit(r) : 0;
    if (st != 0) {
        return st;
    }
    if (mg_http_continue(r) == MG_OK) {
        mg_proxy_start(r);
    }
    return MG_DONE;
}

/* ---- the upstream client's callbacks for the request going up ---- */

static void on_connect(mg_http_client_t *cl)
{
    proxy_t *p = cl->data;
    p->r->upstream_connect_time = mg_mono_now() - p->try_began;
    mg_http_try_t *t = mg__proxy_try_rec(p);
    if (t != NULL) {
        t->connect_time = p->r->upstream_connect_time;
    }
}

/* Every buffered byte went out: the client's body flows again. */
static void on_sent(mg_http_client_t *cl)
{
    proxy_t *p = cl->data;
    if (p->in_on) {
        if (!p->body.end && mg__proxy_in_feed(p, false) != MG_OK) {
            mg__proxy_fail(p, 500); /* the temp file failed (logged); the client abort
                                      * inside does not call us back */
        }
        return; /* the client writes the next span when its watcher says so */
    }
    if (p->body_paused && p->r != NULL) {
        p->body_paused = false;
        mg_http_body_resume(p->r); /* may append through on_req_body */
    }
}

static const mg_http_client_ops_t client_ops = {
    .on_connect = on_connect,
    .on_sent = on_sent,
    .on_head = mg__proxy_on_head,
    .on_body = mg__proxy_on_body,
    .on_done = mg__proxy_on_done,
    .on_error = mg__proxy_on_error,
    .on_upgrade = mg__proxy_on_upgrade,
};

/* ---- tries ---- */

/* The node of the next try: a Lua balancer's choice on the first try (when it is still
 * available then, or the plugin forced it), else the balancer's among the nodes neither
 * tried nor unavailable (health.h). Returns -1 after answering the request when none is
 * left: 503 at once when no node was available to begin with, else the status of the
 * last failure. */
static int pick_node(proxy_t *p)
{
    mg_upstream_t *up = p->up;
    bool forced = false;
    int node = p->tries == 0 && p->r->lua != NULL ? mg_lua_peer(p->r, &forced) : -1;
    if (node >= 0 && forced) {
        return node; /* the plugin owns its choice */
    }
    if (mg_health_filter(up, &p->bctx) > 0) {
        /* the plugin's node went down, was ejected or lost its breaker slot since
         * set_peer: balanced as usual */
        if (node >= 0 && !mg_balancer_skipped(&p->bctx, (size_t)node) &&
            mg_health_begin(up, node, &p->trial) == MG_OK) {
            return node;
        }
        while ((node = mg_balancer_pick(&up->balancer, &p->bctx)) >= 0) {
            if (mg_health_begin(up, node, &p->trial) == MG_OK) {
                return node;
            }
            mg_balancer_skip(&p->bctx, (size_t)node); /* its last trial slot went elsewhere */
        }
    }
    if (p->tries == 0) {
        mg_request_t *r = p->r;
        const char *dns = mg_upstream_dns_empty_reason(up);
        mg_log_err("upstream \"%s\": no %s upstream node%s%s, client: %.*s, request_id: %.*s",
                   up->conf->name, dns != NULL ? "resolved" : "healthy",
                   dns != NULL ? ", DNS: " : "", dns != NULL ? dns : "", (int)r->remote_addr.len,
                   r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
        mg__proxy_fail(p, 503);
    } else {
        mg__proxy_fail(p, mg_proxy_err_status(p->last_err));
    }
    return -1;
}

/* ---- waiting for a connection (upstream_queue.h) ---- */

static proxy_t *proxy_of_waiter(mg_upstream_waiter_t *w)
{
    return (proxy_t *)((char *)w - offsetof(proxy_t, waiter));
}

/* The queue turned the request away: 503 with Retry-After, and one warn line naming
 * the upstream and why. */
static void queue_reject(proxy_t *p, const char *why)
{
    mg_request_t *r = p->r;
    const mg_upstream_conf_t *uc = p->up->conf;
    static char ra[16]; /* lives as long as the response path may look at it */
    int n = snprintf(ra, sizeof(ra), "%d", MG_UPSTREAM_QUEUE_RETRY_AFTER);
    mg_header_t h = {MG_STR("Retry-After"), mg_str(ra, (size_t)n)};
    mg_log_warn("upstream \"%s\": no connection for the request: %s (max_connections %d, "
                "queue.size %d, queue.timeout %gs): 503, client: %.*s, request_id: %.*s",
                uc->name, why, uc->health.max_connections, uc->health.max_pending,
                p->up->queue.timeout, (int)r->remote_addr.len, r->remote_addr.p,
                (int)r->request_id.len, r->request_id.p);
    r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(r);
    detach(p);
    mg_http_error_headers(r, 503, &h, 1);
}

/* The try could not start (`why`: -EBUSY, -EALREADY, or 0 behind other waiters): it
 * waits in the upstream's queue, or is turned away when the queue is full. */
static void queue_wait(proxy_t *p, int why)
{
    p->up_state = PROXY_UP_QUEUED;
    p->waiter.node = p->node;
    if (mg_upstream_queue_wait(&p->up->queue, &p->waiter, why) != MG_OK) {
        queue_reject(p, "the queue is full");
    }
}

/* Hands the try to the upstream client: a pooled connection unless p->fresh (the
 * stale-connection retry), else a new one. Returns what the upstream said: MG_OK (the
 * exchange started and the request left the queue, if it was in it), or -EBUSY /
 * -EALREADY (it waits in the queue, or was turned away). */
static int exchange(proxy_t *p)
{
    p->up_state = PROXY_UP_TRY; /* before: the start may call back (a pooled connection) */
    int rc = mg_http_client_start_node(&p->cl, p->up, p->node, p->fresh, p->head, p->hlen,
                                       &p->body);
    if (rc == -EBUSY || rc == -EALREADY) {
        queue_wait(p, rc);
        return rc;
    }
    mg_upstream_queue_leave(&p->up->queue, &p->waiter, MG_QUEUE_SERVED);
    return MG_OK;
}

/* Its turn in the queue. */
static int on_queue_turn(mg_upstream_waiter_t *w)
{
    return exchange(proxy_of_waiter(w));
}

static void on_queue_timeout(mg_upstream_waiter_t *w)
{
    proxy_t *p = proxy_of_waiter(w);
    p->up_state = PROXY_UP_IDLE;
    queue_reject(p, "waited queue.timeout");
}

/* Starts the try, unless others wait for a connection to this upstream: a newcomer
 * never overtakes them, it joins the tail of the queue. */
static void try_start_exchange(proxy_t *p)
{
    if (p->up->queue.head != NULL && !p->waiter.queued) {
        /* at max_connections it takes a place in queue.size, or is turned away */
        queue_wait(p, mg_health_conn_at_max(p->up) ? -EBUSY : 0);
        return;
    }
    (void)exchange(p);
}

/* What an earlier try's answer left (a held head, kept bytes) is not this try's. */
static void answer_forget(proxy_t *p)
{
    mg_spool_dispose(&p->out);
    p->held = p->up_done = p->up_paused = false;
    p->held_head = NULL;
}

/* The next try: on the node the balancer picks, or with same_node on the last one
 * again; on a new connection when p->fresh says so. */
static void try_start(proxy_t *p, bool same_node)
{
    mg_upstream_t *up = p->up;
    if (!same_node) {
        if (p->tries == 0) {
            mg_health_request(up);
        }
        int node = pick_node(p);
        if (node < 0) {
            return;
        }
        p->node = node;
        mg_balancer_skip(&p->bctx, (size_t)node);
        p->tries++;
    }
    p->r->upstream_addr =
        mg_str(mg_upstream_node_addr(up, p->node), strlen(mg_upstream_node_addr(up, p->node)));
    if (p->node_host && (p->head == NULL || p->head_node != p->node)) {
        /* a node from DNS is named as it was written, never by its address */
        const char *nh = mg_upstream_node_host(up, p->node);
        if (head_build(p, mg_str(nh, strlen(nh))) != MG_OK) {
            mg_log_err("out of memory proxying, request_id: %.*s", (int)p->r->request_id.len,
                       p->r->request_id.p);
            mg__proxy_fail(p, 500);
            return;
        }
        p->head_node = p->node;
    }
    mg__proxy_try_end(p, false, false); /* never two open tries */
    try_record(p);
    if (p->trace_parent != NULL) {
        /* each try is a CLIENT span of its own: the upstream sees it as its parent */
        mg_trace_try_begin(p->r, p->r->ntries - 1, p->trace_parent);
    }
    p->try_open = true;
    p->try_began = mg_mono_now();
    mg_upstream_try_begin(up, p->node);
    p->body.sent = 0; /* the buffered request is replayed */
    if (p->in_on && mg__proxy_in_feed(p, true) != MG_OK) {
        mg__proxy_try_end(p, false, false);
        mg__proxy_fail(p, 500);
        return;
    }
    answer_forget(p);
    try_start_exchange(p);
}

void mg__proxy_try_end(proxy_t *p, bool failed, bool measured)
{
    if (!p->try_open) {
        return;
    }
    p->try_open = false;
    double took = mg_mono_now() - p->try_began;
    mg_http_try_t *t = mg__proxy_try_rec(p);
    if (t != NULL) {
        t->time = took;
    }
    mg_upstream_try_end(p->up, p->node, failed, failed || measured ? took : -1);
}

void mg__proxy_try_failed(proxy_t *p, mg_http_client_err_t err, const char *why)
{
    mg_proxy_try_t t = {
        .err = err,
        .method = p->r->method,
        .sent = p->cl.wrote,
        .replayable = !p->body_dropped,
        .reused = p->cl.reused,
        .stale_retried = p->stale_retried,
        .tries = p->tries,
        .retries = p->up->conf->retries,
        .elapsed = ev_now(p->loop) - p->first_start,
        .retry_timeout = p->up->conf->retry_timeout,
        .no_budget = !mg_health_retry_allowed(p->up),
    };
    /* a certificate that does not verify is a configuration matter, not a blip */
    mg__proxy_log_try(p, err == MG_HTTP_CLIENT_ERR_TLS ? MG_LOG_ERROR : MG_LOG_WARN,
                      mg_http_client_err_name(err), why);
    p->last_err = err;
    mg_http_try_t *rec = mg__proxy_try_rec(p);
    if (rec != NULL) {
        rec->error = mg_http_client_err_name(err);
    }
    int rc = mg_proxy_retry_decide(&t);
    /* out of descriptors is ours, and a pooled connection closed under us is the
     * keep-alive race: neither says anything about the node */
    bool node_fault =
        err != MG_HTTP_CLIENT_ERR_NO_SOCKET && !(t.reused && err == MG_HTTP_CLIENT_ERR_IO);
    mg__proxy_try_end(p, node_fault, false);
    mg__proxy_observe(p, node_fault ? MG_HEALTH_FAILURE : MG_HEALTH_NONE);

    if (rc >= 300 && t.no_budget) {
        t.no_budget = false;
        if (mg_proxy_retry_decide(&t) == MG_PROXY_RETRY) {
            mg__proxy_log_try(p, MG_LOG_WARN, "not retried", "the retry budget is spent");
        }
    }
    if (rc == MG_PROXY_RETRY && err == MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT &&
        p->up->conf->nnodes == 1) {
        /* the only node: a connect lost in a full backlog gets another chance there */
        mg_health_retry_spend(p->up);
        p->tries++;
        p->fresh = false;
        try_start(p, true);
    } else if (rc == MG_PROXY_RETRY) {
        mg_health_retry_spend(p->up);
        p->fresh = false;
        try_start(p, false);
    } else if (rc == MG_PROXY_RETRY_FRESH) {
        p->stale_retried = true;
        p->fresh = true;
        try_start(p, true);
    } else {
        mg__proxy_fail(p, rc);
    }
}

/* ---- request going up ---- */

/* Appends to the body buffer, growing it while the whole body still fits the replay
 * window and sliding out sent bytes beyond that (then no replay is possible). */
static int body_reserve(proxy_t *p, size_t need)
{
    mg_http_client_body_t *b = &p->body;
    if (b->len + need <= p->bcap) {
        return MG_OK;
    }
    if (b->sent > 0 && b->len + need > PROXY_BODY_MAX) {
        memmove(b->data, b->data + b->sent, b->len - b->sent);
        b->len -= b->sent;
        b->sent = 0;
        p->body_dropped = true;
        if (b->len + need <= p->bcap) {
            return MG_OK;
        }
    }
    size_t cap = MG_MAX(b->len + need, MG_MIN(p->bcap * 2, (size_t)PROXY_BODY_MAX));
    char *nb = mg_pool_alloc(p->r->pool, cap);
    if (nb == NULL) {
        return MG_ERROR;
    }
    if (b->len > 0) {
        memcpy(nb, b->data, b->len);
    }
    b->data = nb;
    p->bcap = cap;
    return MG_OK;
}

static void body_append(proxy_t *p, const char *data, size_t len)
{
    mg_http_client_body_t *b = &p->body;
    if (p->r->chunked) {
        b->len += mg_http_chunk_line(b->data + b->len, len);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    if (p->r->chunked) {
        memcpy(b->data + b->len, "\r\n", 2);
        b->len += 2;
    }
}

void mg__proxy_body_discard(proxy_t *p)
{
    p->body_discard = true;
    p->body_dropped = true; /* never whole upstream: no replay either */
    p->body.len = p->body.sent;
}

/* Request buffering: the body goes to the spool; the first try waits for its end. */
static int on_req_body_spooled(proxy_t *p, const char *data, size_t len)
{
    int rc = mg__proxy_in_put(p, data, len);
    if (rc != MG_OK) {
        mg__proxy_fail(p, rc);
    }
    return MG_OK;
}

/* True while the try's exchange runs and its connection still takes request bytes. */
static bool up_takes_body(const proxy_t *p)
{
    const mg_http_client_t *cl = &p->cl;
    return p->up_state == PROXY_UP_TRY && cl->state >= MG_HTTP_CLIENT_CONNECTING &&
           cl->state <= MG_HTTP_CLIENT_BODY && !cl->out_broken;
}

static int on_req_body(mg_request_t *r, const char *data, size_t len)
{
    proxy_t *p = r->handler_data;
    if (p == NULL || len == 0) {
        return MG_OK;
    }
    if (p->in_on) {
        return on_req_body_spooled(p, data, len);
    }
    if (p->held && !p->body_discard && !up_takes_body(p)) {
        mg__proxy_body_discard(p); /* the upstream that answered is gone */
    }
    if (p->body_discard) {
        return MG_OK; /* read to check it (limits, framing), never forwarded */
    }
    if (body_reserve(p, len + (r->chunked ? MG_HTTP_CHUNK_LINE_MAX + 2 : 0)) != MG_OK) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "out of memory buffering the request body", NULL);
        mg__proxy_fail(p, 500);
        return MG_OK;
    }
    body_append(p, data, len);
    if (p->up_state == PROXY_UP_IDLE && p->body.len >= PROXY_BODY_MAX) {
        start_after_body(p);
    }
    /* never reads: finishing the request from inside the client's own body callback is
     * left to the upstream watcher */
    mg_http_client_send(&p->cl);
    if (p->down != PROXY_DOWN_DONE && p->body.len - p->body.sent >= PROXY_BODY_MAX) {
        if (p->held) {
            /* an answer waits for the body's end: the client is never paused for an
             * upstream that may have stopped reading */
            mg__proxy_body_discard(p);
            return MG_OK;
        }
        p->body_paused = true;
        return MG_AGAIN;
    }
    return MG_OK;
}

/* The first try starts once the body is complete or fills the buffer: a body up to
 * PROXY_BODY_MAX is checked whole (framing, limits) before a byte goes upstream, so a
 * request the client side rejects halfway reaches no upstream (nginx buffers bodies
 * the same way, on disk). Larger bodies stream from there with bounded memory. */
static void start_after_body(proxy_t *p)
{
    p->first_start = ev_now(p->loop);
    try_start(p, false);
}

/* Request buffering: the body is whole; it goes up with its length. */
static void on_req_body_end_spooled(proxy_t *p)
{
    p->down = PROXY_DOWN_WAITING;
    p->head_length = (int64_t)mg_spool_len(&p->in);
    if (head_now(p) != MG_OK) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "out of memory building the request head", NULL);
        mg__proxy_fail(p, 500);
        return;
    }
    start_after_body(p);
}

static void on_req_body_end(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p == NULL) {
        return;
    }
    if (p->in_on) {
        on_req_body_end_spooled(p);
        return;
    }
    if (p->body_discard) {
        /* nothing more goes up; the body was whole and within the rules */
    } else if (r->chunked && body_reserve(p, 5) == MG_OK) {
        memcpy(p->body.data + p->body.len, "0\r\n\r\n", 5);
        p->body.len += 5;
    }
    p->body.end = !p->body_discard;
    if (p->down == PROXY_DOWN_RECEIVING) {
        p->down = PROXY_DOWN_WAITING;
    }
    if (p->held) {
        mg_http_client_send(&p->cl); /* the body's end, to an upstream still reading it */
        if (p->down != PROXY_DOWN_DONE) {
            mg__proxy_release(p); /* the body kept the rules: the early answer goes down */
        }
        return;
    }
    if (p->up_state == PROXY_UP_IDLE) {
        start_after_body(p);
    }
    mg_http_client_send(&p->cl); /* the rest, and the read timeout from here */
}

static void on_client_writable(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p == NULL || p->down != PROXY_DOWN_PAUSED) {
        return;
    }
    p->down = PROXY_DOWN_SENDING;
    mg__proxy_drain(p); /* what was kept, then upstream reads again */
}

static void on_client_abort(mg_request_t *r)
{
    proxy_t *p = r->handler_data;
    if (p != NULL) {
        p->r = NULL; /* no mg_http_* call on r after an abort */
        detach(p);
    }
}

static const mg_http_handler_t proxy_handler = {
    .on_body = on_req_body,
    .on_body_end = on_req_body_end,
    .on_writable = on_client_writable,
    .on_abort = on_client_abort,
};

/* ---- start ---- */

/* Plugins may have read some or all of the body before the proxy took over: it goes
 * first, then the client is resumed for the rest. */
static void take_plugin_body(proxy_t *p)
{
    mg_request_t *r = p->r;
    const char *data;
    size_t len;
    bool done;
    if (r->lua == NULL || !mg_lua_take_body(r, &data, &len, &done)) {
        if (r->body_held) {
            r->body_held = false; /* held while a rate limit waited: read it now */
            mg_http_body_resume(r);
        }
        return;
    }
    int rc = len > 0 ? on_req_body(r, data, len) : MG_OK;
    if (p->down == PROXY_DOWN_DONE) {
        return;
    }
    if (done) {
        on_req_body_end(r);
    } else if (rc == MG_OK) {
        mg_http_body_resume(r);
    }
}

/* tls.client_cert_headers: what the client's certificate says, for upstreams that
 * authorise on it. */
static const struct {
    mg_str_t name;
    mg_tls_var_t var;
} cert_headers[] = {
    {{"X-Client-Cert-Verify", sizeof("X-Client-Cert-Verify") - 1}, MG_TLS_VAR_CLIENT_VERIFY},
    {{"X-Client-Cert-Subject", sizeof("X-Client-Cert-Subject") - 1}, MG_TLS_VAR_CLIENT_SUBJECT},
    {{"X-Client-Cert-Fingerprint", sizeof("X-Client-Cert-Fingerprint") - 1}, MG_TLS_VAR_CLIENT_FINGERPRINT},
    {{"X-Client-Cert-SAN", sizeof("X-Client-Cert-SAN") - 1}, MG_TLS_VAR_CLIENT_SAN},
};

static size_t cert_headers_of(mg_request_t *r, mg_header_t *added)
{
    size_t n = 0;
    const mg_transport_t *t = mg_http_transport(r);
    for (size_t i = 0; i < MG_NELEMS(cert_headers); i++) {
        char tmp[1024];
        int len = mg_tls_var(t, cert_headers[i].var, tmp, sizeof(tmp));
        if (len < 0) {
            continue;
        }
        size_t l = MG_MIN((size_t)len, sizeof(tmp) - 1);
        char *v = mg_pool_strndup(r->pool, tmp, l);
        if (v != NULL) {
            added[n].name = cert_headers[i].name;
            added[n++].value = mg_str(v, l);
        }
    }
    return n;
}

/* The request head for the upstream with `host` as its Host (p->more added), framed as
 * the client framed the body, or with Content-Length p->head_length when it is >= 0 (a
 * body read whole), in the request pool; the traceparent in it found again. */
static int head_build(proxy_t *p, mg_str_t host)
{
    mg_request_t *r = p->r;
    p->head = mg_proxy_request_head_framed(r, host, p->more, p->nmore, p->head_length, r->pool,
                                           &p->hlen);
    if (p->head == NULL) {
        return MG_ERROR;
    }
    p->trace_parent = r->trace != NULL ? mg_trace_find_parent(p->head, p->hlen) : NULL;
    return MG_OK;
}

/* The head with the upstream's `host:`, else the client's Host. An HTTP/1.0 client may
 * send none: the head then names each try's node (try_start). */
static int head_now(proxy_t *p)
{
    const mg_upstream_conf_t *uc = mg_request_upstream(p->r);
    if (p->node_host) {
        p->head_node = -1;
        return MG_OK;
    }
    return head_build(p, uc->host != NULL ? mg_str(uc->host, strlen(uc->host)) : MG_NULL_STR);
}

/* What the head needs, kept for when it is built: at once, or once a body read whole has
 * its length (request buffering), or per try when it names the node. */
static int head_prepare(proxy_t *p, const mg_upstream_conf_t *uc)
{
    mg_request_t *r = p->r;
    mg_header_t more[MG_PROXY_MORE_HEADERS];
    size_t nmore = r->tls && r->gen->conf->tls.client_cert_headers ? cert_headers_of(r, more) : 0;
    if (r->gen->conf->tracing != NULL) {
        nmore += mg_trace_upstream_headers(r, more + nmore);
    }
    p->node_host = uc->host == NULL && r->host_header.len == 0;
    p->head_length = -1;
    bool later = p->node_host || p->in_on;
    if (nmore > 0 && later) {
        if ((p->more = mg_pool_alloc(r->pool, nmore * sizeof(*more))) == NULL) {
            return MG_ERROR;
        }
        memcpy(p->more, more, nmore * sizeof(*more));
    } else {
        p->more = more; /* used right below only */
    }
    p->nmore = nmore;
    if (p->in_on) {
        return MG_OK; /* on_req_body_end_spooled() */
    }
    int rc = head_now(p);
    if (!later) {
        p->more = NULL;
        p->nmore = 0;
    }
    return rc;
}

void mg_proxy_start(mg_request_t *r)
{
    const mg_upstream_conf_t *uc = mg_request_upstream(r);
    proxy_t *p = proxy_new();
    proxy_ref_t *ref = mg_pool_alloc(r->pool, sizeof(*ref));
    if (p == NULL || ref == NULL || mg_pool_cleanup_add(r->pool, on_pool_cleanup, ref) != MG_OK) {
        if (p != NULL) {
            proxy_free(p);
        }
        mg_log_err("out of memory proxying, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        mg_http_error(r, 500);
        return;
    }
    ref->p = p;
    p->ref = ref;
    p->r = r;
    p->up = r->gen->upstreams[uc->index];
    p->loop = r->worker->loop;
    p->first_start = ev_now(p->loop);
    p->bctx.hash_key = mg_balancer_key(uc, r);
    mg__proxy_buf_init(p);
    if (r->has_body && !p->in_on && r->content_length >= 0) {
        p->bcap = (size_t)MG_MIN(r->content_length, (int64_t)PROXY_BODY_MAX);
    } else if (r->has_body && !p->in_on) {
        p->bcap = PROXY_BODY_MIN;
    }
    if (p->bcap > 0 && (p->body.data = mg_pool_alloc(r->pool, p->bcap)) == NULL) {
        p->bcap = 0;
    }
    p->body.end = !r->has_body;
    p->down = r->has_body ? PROXY_DOWN_RECEIVING : PROXY_DOWN_WAITING;
    p->waiter.on_turn = on_queue_turn;
    p->waiter.on_timeout = on_queue_timeout;
    mg_http_client_init(&p->cl, p->loop, &client_ops, p, NULL, 0);
    p->cl.connect_timeout = uc->connect_timeout > 0 ? uc->connect_timeout : 3.;
    p->cl.send_timeout = uc->send_timeout;
    p->cl.read_timeout = uc->read_timeout;
    p->cl.head_request = r->is_head;
    p->cl.upgrade = r->websocket;
    p->cl.max_fields = (size_t)uc->response_headers.max_fields;
    p->cl.max_head_size = uc->response_headers.max_size;
    p->refuse_status = 500;
    if (r->websocket) {
        p->ws_pending = true; /* counted against http.max_tunnels until it ends */
        mg_http_tunnel_pending(1);
    }
    if (head_prepare(p, uc) != MG_OK) {
        mg_log_err("out of memory proxying, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        mg__proxy_fail(p, 500);
        return;
    }

    r->handler = &proxy_handler;
    r->handler_data = p;
    if (r->has_body) {
        take_plugin_body(p); /* the first try waits for the body: start_after_body() */
    } else {
        try_start(p, false);
    }
}
