/*
 * health_probe.c -- the active prober: one per upstream for the whole moongate node.
 *
 * Every worker whose current generation has an upstream with `health_check.active`
 * arms a timer for it. At each tick the worker takes or renews a lease in the
 * upstream's shared state (mg_health_lease); only the holder probes. A holder that
 * dies, stalls or drains stops renewing, and another worker takes over once the lease
 * has expired (three intervals). Probes run on the worker's loop like everything else:
 * the outbound HTTP client (http_client.h) sends "GET <path> HTTP/1.1" with
 * Connection: close on a connection of its own (over TLS, with the node's names and
 * session, when the upstream has `tls:`), and the answer's head is read back, the
 * whole exchange bounded by `timeout`. Results go to the node's
 * shared state (down, hc_ok, hc_fail), which every worker's picks read; only the
 * holder writes them, so each transition is logged once.
 *
 * The prober's watchers are unreferenced (ev_unref): they never keep a draining
 * worker's loop alive. A prober stops by itself at the first tick after its worker
 * started draining or switched to a newer generation (whose own prober, in the same
 * process, then holds the lease), and mg_health_stop() ends it when the generation is
 * freed.
 */
#include "health.h"

#include "clock.h"
#include "gen.h"
#include "http_client.h"
#include "log.h"
#include "upstream.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define LEASE_INTERVALS 3 /* a lease outlives this many missed ticks */
#define FIRST_TICK 0.05   /* the first probes go out soon after a start */
#define STATUS_LINE_MAX 128

#define PROBE_RBUF 16384 /* the read buffer of a probe in flight: holds its answer's head */

typedef struct {
    mg_http_client_t cl; /* the exchange; hdr last, so it goes first */
    mg_health_t *h;
    int node;
    int status; /* the answer's status, once its head came */
    char *rbuf; /* while a probe is in flight */
    char *req;  /* the probe request, built once */
    size_t req_len;
    mg_upstream_tls_t tls; /* the node's TLS, as real traffic speaks it */
} probe_t;

struct mg_health_s {
    mg_upstream_t *u;
    ev_timer tick;
    bool holder;     /* this process held the lease at the last tick */
    bool stopped;    /* the tick is off for good (drain, newer generation) */
    probe_t *probes; /* one per node */
    size_t nprobes;  /* the nodes when it started (DNS may change them: it restarts) */
};

/* ---- watchers that do not keep the loop alive ---- */

static void timer_start(struct ev_loop *loop, ev_timer *w)
{
    ev_timer_start(loop, w);
    ev_unref(loop);
}

static void timer_stop(struct ev_loop *loop, ev_timer *w)
{
    if (ev_is_active(w)) {
        ev_ref(loop);
        ev_timer_stop(loop, w);
    }
}

/* ---- one probe ---- */

static void probe_close(probe_t *p)
{
    mg_http_client_dispose(&p->cl);
    free(p->rbuf);
    p->rbuf = NULL;
}

/* Ends a probe with its verdict and applies it to the node's shared state. */
static void probe_done(probe_t *p, bool ok, const char *why)
{
    mg_upstream_t *u = p->h->u;
    const mg_hc_active_conf_t *a = &u->conf->health.active;
    probe_close(p);
    mg_node_state_t *s = u->nodes[p->node].state;
    int moved = mg_health_probe_result(s, a, ok);
    if (moved < 0) {
        mg_log_warn("upstream \"%s\" node %s is unhealthy: %d failed probe(s) of %s, last: %s",
                    u->conf->name, mg_upstream_node_addr(u, p->node), a->unhealthy_threshold,
                    a->path, why);
    } else if (moved > 0) {
        mg_log_notice("upstream \"%s\" node %s is healthy again: %d successful probe(s) of %s",
                      u->conf->name, mg_upstream_node_addr(u, p->node), a->healthy_threshold,
                      a->path);
    } else if (!ok) {
        mg_log_debug("upstream \"%s\" node %s: probe of %s failed: %s", u->conf->name,
                     mg_upstream_node_addr(u, p->node), a->path, why);
    }
}

static bool status_expected(const mg_hc_active_conf_t *a, int st)
{
    if (st < 100 || st > 599) {
        return false;
    }
    return (a->statuses[(st - 100) / 64] >> ((st - 100) % 64)) & 1;
}

/* The verdict of an answer with status st. */
static void probe_status(probe_t *p)
{
    char why[48];
    snprintf(why, sizeof(why), "status %d", p->status);
    probe_done(p, status_expected(&p->h->u->conf->health.active, p->status), why);
}

/* The status is all a probe wants: the rest of the answer is refused, which ends the
 * exchange (the request said Connection: close) and comes back through on_error. */
static int on_probe_head(mg_http_client_t *cl, mg_http_client_head_t *h)
{
    ((probe_t *)cl->data)->status = h->head.status;
    return MG_ERROR;
}

static int on_probe_body(mg_http_client_t *cl, const char *data, size_t len)
{
    return MG_OK;
}

static void on_probe_done(mg_http_client_t *cl)
{
    probe_status(cl->data);
}

static void on_probe_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    probe_t *p = cl->data;
    mg_upstream_t *u = p->h->u;
    if (err == MG_HTTP_CLIENT_ERR_REFUSED) {
        probe_status(p);
    } else if (err == MG_HTTP_CLIENT_ERR_NO_SOCKET) {
        /* our own shortage, not the node's: no verdict */
        mg_log_err("upstream \"%s\" node %s: no socket for a health probe: %s", u->conf->name,
                   mg_upstream_node_addr(u, p->node), why != NULL ? why : "");
        probe_close(p);
    } else if (err == MG_HTTP_CLIENT_ERR_CONNECT || err == MG_HTTP_CLIENT_ERR_IO ||
               err == MG_HTTP_CLIENT_ERR_BAD_RESPONSE || err == MG_HTTP_CLIENT_ERR_TLS) {
        probe_done(p, false, why != NULL ? why : mg_http_client_err_name(err));
    } else {
        probe_done(p, false, err == MG_HTTP_CLIENT_ERR_TIMEOUT ? "timed out" : "connect timed out");
    }
}

static const mg_http_client_ops_t probe_ops = {
    .on_head = on_probe_head,
    .on_body = on_probe_body,
    .on_done = on_probe_done,
    .on_error = on_probe_error,
};

static void probe_start(mg_health_t *h, probe_t *p)
{
    mg_upstream_t *u = h->u;
    const mg_addr_t *a = &u->conf->nodes[p->node].addr;
    if ((p->rbuf = malloc(PROBE_RBUF)) == NULL) {
        mg_log_err("upstream \"%s\" node %s: out of memory for a health probe", u->conf->name,
                   mg_upstream_node_addr(u, p->node));
        return;
    }
    mg_http_client_init(&p->cl, u->loop, &probe_ops, p, p->rbuf, PROBE_RBUF);
    p->cl.weak = true;
    p->cl.total_timeout = u->conf->health.active.timeout;
    p->cl.max_fields = (size_t)u->conf->response_headers.max_fields;
    p->cl.max_head_size = u->conf->response_headers.max_size;
    mg_upstream_node_tls(u, p->node, &p->tls);
    p->cl.tls = &p->tls; /* with `tls:`, a probe checks the certificate too */
    p->status = 0;
    mg_http_client_start_addr(&p->cl, (const struct sockaddr *)&a->sa, a->salen, p->req, p->req_len,
                              NULL);
}

/* ---- the tick ---- */

static void prober_halt(mg_health_t *h)
{
    timer_stop(h->u->loop, &h->tick);
    for (size_t i = 0; i < h->nprobes; i++) {
        probe_close(&h->probes[i]);
    }
    if (h->holder) {
        mg_health_lease_release(h->u->state, (int64_t)getpid());
        h->holder = false;
    }
    h->stopped = true;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    mg_health_t *h = w->data;
    mg_upstream_t *u = h->u;
    const mg_hc_active_conf_t *a = &u->conf->health.active;
    if (!mg_upstream_current(u)) {
        prober_halt(h);
        return;
    }
    double ttl = a->interval * LEASE_INTERVALS + a->timeout;
    bool holder = mg_health_lease(u->state, (int64_t)getpid(), mg_mono_now(), ttl);
    if (holder != h->holder) {
        mg_log_info("upstream \"%s\": this worker %s the active health checks", u->conf->name,
                    holder ? "runs" : "no longer runs");
        h->holder = holder;
    }
    if (!holder) {
        return;
    }
    for (size_t i = 0; i < h->nprobes; i++) {
        /* a probe still in flight (timeout > interval) is not doubled; nodes DNS took
         * away are not probed */
        if (h->probes[i].rbuf == NULL && !mg_upstream_node_gone(u, (int)i)) {
            probe_start(h, &h->probes[i]);
        }
    }
}

/* The probe request for node i: GET path, Host (active.host, the upstream's host, or
 * the node's address), Connection: close. */
static char *build_request(const mg_upstream_t *u, int i, size_t *len)
{
    const mg_hc_active_conf_t *a = &u->conf->health.active;
    const char *host = a->host != NULL         ? a->host
                       : u->conf->host != NULL ? u->conf->host
                                               : mg_upstream_node_host(u, i);
    static const mg_header_t ua = {MG_STR("User-Agent"), MG_STR("moongate-health-check")};
    mg_http_client_req_t q = {
        .method = MG_STR("GET"),
        .path = mg_str(a->path, strlen(a->path)),
        .host = mg_str(host, strlen(host)),
        .extra = &ua,
        .nextra = 1,
        .content_length = -1,
        .close = true,
    };
    char *req = malloc(mg_http_client_head_size(&q));
    if (req != NULL) {
        *len = mg_http_client_head_build(&q, req);
    }
    return req;
}

static void prober_free(mg_health_t *h)
{
    for (size_t i = 0; i < h->nprobes; i++) {
        free(h->probes[i].req);
    }
    free(h->probes);
    free(h);
}

void mg_health_start(mg_upstream_t *u)
{
    if (u->health != NULL || u->loop == NULL || !u->conf->health.active.on) {
        return;
    }
    mg_health_t *h = calloc(1, sizeof(*h));
    if (h == NULL ||
        (h->probes = calloc(u->conf->nnodes ? u->conf->nnodes : 1, sizeof(*h->probes))) == NULL) {
        free(h);
        mg_log_err("upstream \"%s\": out of memory for the health prober", u->conf->name);
        return;
    }
    h->u = u;
    h->nprobes = u->conf->nnodes;
    for (size_t i = 0; i < h->nprobes; i++) {
        probe_t *p = &h->probes[i];
        p->h = h;
        p->node = (int)i;
        p->req = build_request(u, (int)i, &p->req_len);
        if (p->req == NULL) {
            prober_free(h);
            mg_log_err("upstream \"%s\": out of memory for the health prober", u->conf->name);
            return;
        }
    }
    /* workers tick at slightly different phases, so a takeover comes soon */
    double first = FIRST_TICK + (double)(getpid() % 97) / 97.0 * FIRST_TICK;
    ev_timer_init(&h->tick, on_tick, first, u->conf->health.active.interval);
    h->tick.data = h;
    timer_start(u->loop, &h->tick);
    u->health = h;
}

void mg_health_stop(mg_upstream_t *u)
{
    mg_health_t *h = u->health;
    if (h == NULL) {
        return;
    }
    if (!h->stopped) {
        prober_halt(h);
    }
    prober_free(h);
    u->health = NULL;
}
