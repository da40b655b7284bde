/*
 * health_probe.c -- the active prober: one per upstream for the whole moongate node.
 *
 * Every worker whose current generation has an upstream with `health_check.active`
 * arms a timer for it. At each tick the worker takes or renews a lease in the
 * upstream's shared state (mg_health_lease); only the holder probes. A holder that
 * dies, stalls or drains stops renewing, and another worker takes over once the lease
 * has expired (three intervals). Probes run on the worker's loop like everything else:
 * a non-blocking connect, "GET <path> HTTP/1.1" with Connection: close, and the status
 * line read back, the whole exchange bounded by `timeout`. Results go to the node's
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

typedef struct {
    ev_io io;
    ev_timer timer;
    mg_health_t *h;
    int node;
    int fd;    /* -1 when no probe is in flight */
    char *req; /* the probe request, built once */
    size_t req_len, sent;
    char buf[STATUS_LINE_MAX];
    size_t len;
} probe_t;

struct mg_health_s {
    mg_upstream_t *u;
    ev_timer tick;
    bool holder;     /* this process held the lease at the last tick */
    bool stopped;    /* the tick is off for good (drain, newer generation) */
    probe_t *probes; /* one per node */
};

/* ---- watchers that do not keep the loop alive ---- */

static void io_start(struct ev_loop *loop, ev_io *w)
{
    ev_io_start(loop, w);
    ev_unref(loop);
}

static void io_stop(struct ev_loop *loop, ev_io *w)
{
    if (ev_is_active(w)) {
        ev_ref(loop);
        ev_io_stop(loop, w);
    }
}

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

static void probe_close(mg_health_t *h, probe_t *p)
{
    io_stop(h->u->loop, &p->io);
    timer_stop(h->u->loop, &p->timer);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

/* Ends a probe with its verdict and applies it to the node's shared state. */
static void probe_done(mg_health_t *h, probe_t *p, bool ok, const char *why)
{
    mg_upstream_t *u = h->u;
    const mg_hc_active_conf_t *a = &u->conf->health.active;
    probe_close(h, p);
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

/* Parses "HTTP/1.x NNN" at the start of the buffer: the status, 0 when more bytes are
 * needed, -1 when it is not a status line. */
static int status_of(const char *b, size_t len)
{
    static const char prefix[] = "HTTP/1.";
    size_t need = sizeof(prefix) - 1 + 5; /* "HTTP/1.1 200" */
    size_t cmp = len < sizeof(prefix) - 1 ? len : sizeof(prefix) - 1;
    if (memcmp(b, prefix, cmp) != 0) {
        return -1;
    }
    if (len < need) {
        return 0;
    }
    const char *d = b + sizeof(prefix) - 1;
    if ((d[0] != '0' && d[0] != '1') || d[1] != ' ') {
        return -1;
    }
    int st = 0;
    for (int i = 2; i < 5; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return -1;
        }
        st = st * 10 + (d[i] - '0');
    }
    return st;
}

static bool status_expected(const mg_hc_active_conf_t *a, int st)
{
    if (st < 100 || st > 599) {
        return false;
    }
    return (a->statuses[(st - 100) / 64] >> ((st - 100) % 64)) & 1;
}

static void probe_read(mg_health_t *h, probe_t *p)
{
    for (;;) {
        ssize_t n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            probe_done(h, p, false, n == 0 ? "closed without an answer" : strerror(errno));
            return;
        }
        p->len += (size_t)n;
        int st = status_of(p->buf, p->len);
        if (st < 0 || (st == 0 && p->len == sizeof(p->buf))) {
            probe_done(h, p, false, "not an HTTP/1.x status line");
            return;
        }
        if (st > 0) {
            char why[48];
            snprintf(why, sizeof(why), "status %d", st);
            probe_done(h, p, status_expected(&h->u->conf->health.active, st), why);
            return;
        }
    }
}

static void probe_write(mg_health_t *h, probe_t *p)
{
    while (p->sent < p->req_len) {
        ssize_t n = send(p->fd, p->req + p->sent, p->req_len - p->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n < 0) {
            probe_done(h, p, false, strerror(errno));
            return;
        }
        p->sent += (size_t)n;
    }
    /* all sent: now only the answer matters */
    io_stop(h->u->loop, &p->io);
    ev_io_set(&p->io, p->fd, EV_READ);
    io_start(h->u->loop, &p->io);
}

static void on_probe_io(struct ev_loop *loop, ev_io *w, int revents)
{
    probe_t *p = (probe_t *)w;
    mg_health_t *h = p->h;
    if (p->sent == 0 && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err != 0) {
            probe_done(h, p, false, strerror(err));
            return;
        }
    }
    if (p->sent < p->req_len) {
        probe_write(h, p);
    } else if (revents & EV_READ) {
        probe_read(h, p);
    }
}

static void on_probe_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    probe_t *p = w->data;
    probe_done(p->h, p, false, p->sent < p->req_len ? "connect timed out" : "timed out");
}

static void probe_start(mg_health_t *h, probe_t *p)
{
    mg_upstream_t *u = h->u;
    const mg_addr_t *a = &u->conf->nodes[p->node].addr;
    p->sent = 0;
    p->len = 0;
    p->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        /* our own shortage, not the node's: no verdict */
        mg_log_err("upstream \"%s\" node %s: no socket for a health probe: %s", u->conf->name,
                   mg_upstream_node_addr(u, p->node), strerror(errno));
        return;
    }
    int rc;
    do {
        rc = connect(p->fd, (const struct sockaddr *)&a->sa, a->salen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        probe_done(h, p, false, strerror(errno));
        return;
    }
    ev_io_init(&p->io, on_probe_io, p->fd, EV_WRITE);
    io_start(u->loop, &p->io);
    ev_timer_init(&p->timer, on_probe_timeout, u->conf->health.active.timeout, 0.);
    p->timer.data = p;
    timer_start(u->loop, &p->timer);
}

/* ---- the tick ---- */

/* True while `u` belongs to its worker's current generation and the worker serves. */
static bool still_current(const mg_upstream_t *u)
{
    const mg_worker_t *w = u->worker;
    if (w == NULL || w->draining || w->gen == NULL) {
        return false;
    }
    const mg_gen_t *g = w->gen;
    size_t i = (size_t)u->conf->index;
    return i < g->conf->nupstreams && g->upstreams != NULL && g->upstreams[i] == u;
}

static void prober_halt(mg_health_t *h)
{
    timer_stop(h->u->loop, &h->tick);
    for (size_t i = 0; i < h->u->conf->nnodes; i++) {
        probe_close(h, &h->probes[i]);
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
    if (!still_current(u)) {
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
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        /* a probe still in flight (timeout > interval) is not doubled */
        if (h->probes[i].fd < 0) {
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
                                               : mg_upstream_node_addr(u, i);
    const char *fmt = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: moongate-health-check\r\n"
                      "Connection: close\r\n\r\n";
    int n = snprintf(NULL, 0, fmt, a->path, host);
    char *req = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (req != NULL) {
        snprintf(req, (size_t)n + 1, fmt, a->path, host);
        *len = (size_t)n;
    }
    return req;
}

static void prober_free(mg_health_t *h)
{
    for (size_t i = 0; i < h->u->conf->nnodes; i++) {
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
    if (h == NULL || (h->probes = calloc(u->conf->nnodes, sizeof(*h->probes))) == NULL) {
        free(h);
        mg_log_err("upstream \"%s\": out of memory for the health prober", u->conf->name);
        return;
    }
    h->u = u;
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        probe_t *p = &h->probes[i];
        p->h = h;
        p->node = (int)i;
        p->fd = -1;
        p->req = build_request(u, (int)i, &p->req_len);
        if (p->req == NULL) {
            prober_free(h);
            mg_log_err("upstream \"%s\": out of memory for the health prober", u->conf->name);
            return;
        }
        ev_io_init(&p->io, on_probe_io, -1, EV_WRITE);
        ev_timer_init(&p->timer, on_probe_timeout, 1., 0.);
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
