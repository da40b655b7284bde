/*
 * worker.c -- a worker process: one libev loop that accepts on the inherited listening
 * sockets, hands connections to http_conn.c, switches config generations when the
 * master sends one over the control channel, and drains on SIGQUIT.
 *
 * A process runs exactly one worker, so its private state (watchers, the control-channel
 * buffer) is a file-level singleton next to the public mg_worker_t.
 */
#include "worker.h"
#include "watchdog.h"

#include "conf.h"
#include "log.h"
#include "gen_build.h"
#include "http.h"
#include "lua_runtime.h"
#include "ocsp_fetch.h"
#include "trace_export.h"
#include "control.h"
#include "tls.h"
#include "metrics.h"
#include "metrics_store.h"
#include "resolver.h"
#include "upstream.h"
#include "proxy.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_PAUSE 0.1
#define DRAIN_POLL 0.05
/* how long a draining worker keeps an idle connection for a request already sent */
#define DRAIN_IDLE_GRACE 1.0

#define MAX_ASKS 16
#define MEM_FREE_KEEP 16 /* proxies kept for reuse once a burst is over */

/* A reload this worker asked the master for (POST /reload), waiting for the verdict. */
typedef struct {
    uint32_t id; /* 0: free */
    mg_request_t *r;
    mg_worker_verdict_cb done;
} ask_t;

static struct {
    mg_worker_t w;
    ev_signal sig_quit, sig_term, sig_int, sig_usr1;
    ev_timer tick;         /* 1 s: log flush, heartbeat, OCSP fetches due */
    ev_timer drain_timer;  /* polls for the end of a drain */
    ev_timer accept_timer; /* resumes accepting after EMFILE */
    ev_io ctl;
    int ctl_fd;
    char *ctl_buf;
    size_t ctl_len, ctl_cap;
    double drain_deadline;
    double emfile_logged;
    bool accept_paused;
    ask_t asks[MAX_ASKS];
    uint32_t ask_seq;
    /* resolvers a reload replaced, freed by the tick once nobody waits on them */
    mg_resolver_t **retired;
    size_t nretired;
} W;

static void store_i64(int64_t *p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void store_u64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void listeners_start(mg_worker_t *w, bool on)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].fd < 0) {
            continue;
        }
        if (on) {
            ev_io_start(w->loop, &w->listeners[i].io);
        } else {
            ev_io_stop(w->loop, &w->listeners[i].io);
        }
    }
}

/* Out of descriptors: libev is level-triggered, so a pending connection we cannot accept
 * would wake us forever. Stop accepting for a moment; connections wait in the backlog. */
static void accept_pause(mg_worker_t *w, int err)
{
    double now = ev_now(w->loop);
    if (now - W.emfile_logged >= 1.0) {
        W.emfile_logged = now;
        mg_log_crit("accept() failed: %s, pausing accepts for %.0f ms", strerror(err),
                    ACCEPT_PAUSE * 1000);
    }
    listeners_start(w, false);
    W.accept_paused = true;
    ev_timer_set(&W.accept_timer, ACCEPT_PAUSE, 0.);
    ev_timer_start(w->loop, &W.accept_timer);
}

static void on_accept_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
    W.accept_paused = false;
    if (!W.w.draining) {
        listeners_start(&W.w, true);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    mg_listener_t *l = (mg_listener_t *)io;
    mg_worker_t *w = l->worker;

    for (int i = 0; i < ACCEPTS_PER_WAKEUP && !w->draining && !W.accept_paused; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            mg_http_conn_accept(w, fd, l, (struct sockaddr *)&ss, len);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:
            continue;
        case EAGAIN:
            return;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            accept_pause(w, errno);
            return;
        default:
            mg_log_err("accept() on %s failed: %s", l->text, strerror(errno));
            return;
        }
    }
}

/* ---- the resolver ---- */

static mg_resolver_t *resolver_make(mg_worker_t *w, const mg_conf_t *conf)
{
    char err[256];
    mg_resolver_t *r = mg_resolver_new(w->loop, &conf->resolver, err, sizeof(err));
    if (r == NULL) {
        mg_log_err("resolver: %s; mg.http calls to host names will fail", err);
    }
    return r;
}

/* A reload that changes `resolver:` gets a new resolver; the old one keeps answering
 * the lookups already waiting on it (their requests finish as they started) and is
 * freed by the tick once none is left. Equal settings keep the resolver and its cache. */
static void resolver_update(mg_worker_t *w, const mg_conf_t *conf)
{
    if (w->resolver != NULL && mg_resolver_conf_same(w->resolver, &conf->resolver)) {
        return;
    }
    mg_resolver_t *r = resolver_make(w, conf);
    if (r == NULL) {
        return; /* the old one, if any, is better than none */
    }
    mg_resolver_t **p = realloc(W.retired, (W.nretired + 1) * sizeof(*p));
    if (p != NULL) {
        W.retired = p;
        W.retired[W.nretired++] = w->resolver;
    } else {
        mg_resolver_free(w->resolver); /* its waiters are dropped: better than a leak */
    }
    w->resolver = r;
}

/* From the tick, never from a resolver's callback. */
static void resolvers_reap(bool all)
{
    size_t kept = 0;
    for (size_t i = 0; i < W.nretired; i++) {
        mg_resolver_t *r = W.retired[i];
        if (all || r == NULL || mg_resolver_pending(r) == 0) {
            mg_resolver_free(r);
        } else {
            W.retired[kept++] = r;
        }
    }
    W.nretired = kept;
}

/* Builds the generation a reload message describes and makes it current. On any error
 * the worker keeps its generation (the master validated the same bytes, so this only
 * fails when out of memory). */
static void ctl_apply(mg_worker_t *w, const mg_ctl_hdr_t *h, const char *name, const char *prefix,
                      const char *body)
{
    mg_conf_err_t cerr;
    mg_conf_t *conf =
        h->yaml_len <= h->body_len
            ? mg_conf_parse_sealed(body, h->yaml_len, name, prefix, body + h->yaml_len,
                                   h->body_len - h->yaml_len, &cerr)
            : NULL;
    if (conf != NULL &&
        mg_conf_plugins_unpack(conf, body + h->yaml_len, h->body_len - h->yaml_len) != MG_OK) {
        mg_log_err("generation %llu rejected, keeping %llu: corrupt plugin sources",
                   (unsigned long long)h->generation, (unsigned long long)w->gen->id);
        mg_conf_destroy(conf);
        return;
    }
    if (conf == NULL) {
        char buf[1400];
        mg_log_err("generation %llu rejected, keeping %llu: %s", (unsigned long long)h->generation,
                   (unsigned long long)w->gen->id, mg_conf_err_format(&cerr, buf, sizeof(buf)));
        return;
    }
    char err[512];
    mg_gen_t *g = mg_gen_create(w, conf, h->generation, err, sizeof(err));
    if (g == NULL) {
        mg_log_err("generation %llu rejected, keeping %llu: %s", (unsigned long long)h->generation,
                   (unsigned long long)w->gen->id, err);
        return;
    }
    mg_log_conf_t lc = mg_conf_log(g->conf);
    mg_log_open(&lc);
    mg_watchdog_set_budget(g->conf->lua.cpu_budget);
    resolver_update(w, g->conf);
    mg_gen_t *old = w->gen;
    w->gen = g;
    store_u64(&w->stats->generation, g->id);
    /* its timers run out: pending ones once more, premature */
    mg_lua_retire(old->lua);
    mg_lua_init_worker(g->lua, g);
    /* in-flight requests hold their own references to the old generation */
    mg_gen_release(old);
    store_u64(&w->stats->gens_alive, mg_gen_live_count());
    mg_log_info("switched to configuration generation %llu", (unsigned long long)g->id);
    mg_ocsp_fetch_tick(w); /* a new certificate's staple need not wait for the tick */
}

/* Hands the verdict on ask `id` to the request waiting for it, if it still does. */
static void ask_done(uint32_t id, int status, uint64_t generation, const char *msg, size_t len)
{
    for (size_t i = 0; i < MAX_ASKS; i++) {
        ask_t a = W.asks[i];
        if (a.id != 0 && a.id == id) {
            W.asks[i].id = 0;
            a.done(a.r, status, generation, msg, len);
            return;
        }
    }
}

/* Writes the whole ask: 16 bytes on a socketpair the master reads at once, so waiting
 * for room (never seen) is bounded and short. */
static int ask_send(const mg_ctl_ask_t *a)
{
    const char *p = (const char *)a;
    size_t left = sizeof(*a);
    double until = ev_time() + 1.0;
    while (left > 0) {
        ssize_t n = send(W.ctl_fd, p, left, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            left -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN && left < sizeof(*a) && ev_time() < until) {
            struct pollfd pfd = {W.ctl_fd, POLLOUT, 0};
            poll(&pfd, 1, 10);
        } else {
            return MG_ERROR;
        }
    }
    return MG_OK;
}

int mg_worker_reload_ask(mg_worker_t *w, mg_request_t *r, mg_worker_verdict_cb done)
{
    ask_t *a = NULL;
    for (size_t i = 0; i < MAX_ASKS && a == NULL; i++) {
        a = W.asks[i].id == 0 ? &W.asks[i] : NULL;
    }
    if (a == NULL || W.ctl_fd < 0) {
        return MG_ERROR;
    }
    if (++W.ask_seq == 0) {
        W.ask_seq = 1;
    }
    mg_ctl_ask_t msg = {MG_CTL_MAGIC, MG_CTL_RELOAD_ASK, W.ask_seq, 0};
    if (ask_send(&msg) != MG_OK) {
        return MG_ERROR;
    }
    *a = (ask_t){W.ask_seq, r, done};
    return MG_OK;
}

void mg_worker_reload_cancel(mg_worker_t *w, mg_request_t *r)
{
    for (size_t i = 0; i < MAX_ASKS; i++) {
        if (W.asks[i].id != 0 && W.asks[i].r == r) {
            W.asks[i].id = 0;
        }
    }
}

/* A verdict (no name, no prefix; the body is the message). MG_AGAIN while incomplete,
 * MG_ERROR when malformed, else the bytes it took. */
static ssize_t ctl_verdict(const mg_ctl_hdr_t *h)
{
    if (h->name_len != 0 || h->prefix_len != 0 || h->body_len > MG_CTL_MAX_VERDICT) {
        return MG_ERROR;
    }
    size_t total = sizeof(*h) + h->body_len;
    if (W.ctl_len < total) {
        return MG_AGAIN;
    }
    ask_done(h->request_id, h->status, h->generation, W.ctl_buf + sizeof(*h), h->body_len);
    return (ssize_t)total;
}

/* Consumes complete messages at the front of the buffer. MG_ERROR on a corrupt
 * stream (the channel is then closed). */
static int ctl_parse(mg_worker_t *w)
{
    for (;;) {
        mg_ctl_hdr_t h;
        if (W.ctl_len < sizeof(h)) {
            return MG_OK;
        }
        memcpy(&h, W.ctl_buf, sizeof(h));
        if (h.magic == MG_CTL_MAGIC && h.type == MG_CTL_VERDICT) {
            ssize_t took = ctl_verdict(&h);
            if (took < 0) {
                return took == MG_AGAIN ? MG_OK : MG_ERROR;
            }
            memmove(W.ctl_buf, W.ctl_buf + took, W.ctl_len - (size_t)took);
            W.ctl_len -= (size_t)took;
            continue;
        }
        if (h.magic != MG_CTL_MAGIC || h.type != MG_CTL_RELOAD || h.name_len == 0 ||
            h.prefix_len == 0 || h.name_len > 4096 || h.prefix_len > 4096 ||
            h.body_len > MG_CTL_MAX_BODY) {
            return MG_ERROR;
        }
        size_t total = sizeof(h) + h.name_len + h.prefix_len + h.body_len;
        if (W.ctl_len < total) {
            return MG_OK;
        }
        const char *name = W.ctl_buf + sizeof(h);
        const char *prefix = name + h.name_len;
        if (name[h.name_len - 1] != '\0' || prefix[h.prefix_len - 1] != '\0') {
            return MG_ERROR;
        }
        ctl_apply(w, &h, name, prefix, prefix + h.prefix_len);
        memmove(W.ctl_buf, W.ctl_buf + total, W.ctl_len - total);
        W.ctl_len -= total;
    }
}

static void ctl_close(mg_worker_t *w)
{
    ev_io_stop(w->loop, &W.ctl);
    close(W.ctl_fd);
    W.ctl_fd = -1;
    static const char gone[] = "the master cannot be reached";
    for (size_t i = 0; i < MAX_ASKS; i++) {
        if (W.asks[i].id != 0) {
            ask_done(W.asks[i].id, 503, w->gen->id, gone, sizeof(gone) - 1);
        }
    }
}

static void on_ctl(struct ev_loop *loop, ev_io *io, int revents)
{
    mg_worker_t *w = &W.w;
    for (;;) {
        if (W.ctl_cap - W.ctl_len < 65536) {
            size_t cap = W.ctl_cap ? W.ctl_cap * 2 : 131072;
            char *p = realloc(W.ctl_buf, cap);
            if (p == NULL) {
                mg_log_crit("control channel: out of memory");
                return;
            }
            W.ctl_buf = p;
            W.ctl_cap = cap;
        }
        ssize_t n = read(W.ctl_fd, W.ctl_buf + W.ctl_len, W.ctl_cap - W.ctl_len);
        if (n > 0) {
            W.ctl_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        /* the master is gone: nobody will respawn or reload us, so wind down */
        mg_log_alert("control channel closed (%s), the master is gone: draining",
                     n == 0 ? "EOF" : strerror(errno));
        ctl_close(w);
        mg_worker_drain(w);
        return;
    }
    if (ctl_parse(w) != MG_OK) {
        mg_log_alert("corrupt message on the control channel, ignoring the channel");
        ctl_close(w);
    }
}

/* What a draining worker still holds, for /status: from the drain's start, then every
 * second (the walk over the connections is paid only while draining). */
static void drain_publish(mg_worker_t *w, mg_http_census_t *cs)
{
    mg_http_conns_census(w, cs);
    store_i64(&w->stats->connections, (int64_t)cs->conns);
    store_i64(&w->stats->drain_requests, (int64_t)cs->requests);
    store_u64(&w->stats->drain_bytes, cs->bytes);
}

static void on_drain_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_worker_t *w = &W.w;
    /* the retired timers' last runs (a plugin's final flush) count as work in flight, and
     * the last spans go to the collector within a short bound of their own */
    if (w->nconns == 0 && mg_lua_timers_busy() == 0 && mg_trace_export_flushed(w)) {
        mg_log_info("drained in %.1f s", ev_now(loop) - w->stats->drain_started);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (ev_now(loop) >= W.drain_deadline) {
        mg_http_census_t cs;
        mg_http_conns_census(w, &cs);
        mg_log_warn("drain timeout (http.drain_timeout %.0f s): closing %zu connection(s), "
                    "%zu with a request in flight",
                    w->gen->conf->http.drain_timeout, cs.conns, cs.requests);
        mg_http_conns_close_all(w);
        ev_break(loop, EVBREAK_ALL);
    }
}

/* A draining worker takes no new request, so its pooled upstream connections would only
 * hold descriptors (and the upstreams' connection slots) until they expire. Older
 * generations' pools are emptied as their requests release connections. */
static void upstreams_close_idle(mg_worker_t *w)
{
    for (size_t i = 0; i < w->gen->conf->nupstreams; i++) {
        while (w->gen->upstreams[i] != NULL && mg_upstream_evict_idle(w->gen->upstreams[i])) {
        }
    }
}

void mg_worker_drain(mg_worker_t *w)
{
    if (w->draining) {
        return;
    }
    double now = ev_now(w->loop);
    W.drain_deadline = now + w->gen->conf->http.drain_timeout;
    w->stats->drain_started = now;
    w->stats->drain_deadline = W.drain_deadline;
    w->draining = true;
    /* release: whoever sees the flag sees the times above */
    __atomic_store_n(&w->stats->draining, 1, __ATOMIC_RELEASE);
    /* our copies of the listening sockets only: the master keeps them open, so queued
     * connections are accepted by the other workers instead of being refused */
    listeners_start(w, false);
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].fd >= 0) {
            close(w->listeners[i].fd);
            w->listeners[i].fd = -1;
        }
    }
    w->drain_idle_until = now + MG_MIN(DRAIN_IDLE_GRACE, w->gen->conf->http.drain_timeout);
    mg_http_conns_drain(w);
    upstreams_close_idle(w);
    mg_lua_retire(w->gen->lua);
    mg_http_census_t cs;
    drain_publish(w, &cs);
    mg_log_info("draining %zu connection(s), %zu with a request in flight, for at most %.0f s",
                cs.conns, cs.requests, w->gen->conf->http.drain_timeout);
    ev_timer_start(w->loop, &W.drain_timer);
    on_drain_poll(w->loop, &W.drain_timer, 0);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_worker_t *w = &W.w;
    mg_log_flush();
    w->stats->heartbeat = ev_now(loop);
    store_u64(&w->stats->log_dropped, mg_log_dropped());
    mg_metrics_worker_tick();
    store_i64(&w->stats->connections, (int64_t)w->nconns);
    if (w->draining) {
        mg_http_census_t cs;
        drain_publish(w, &cs);
    }
    store_u64(&w->stats->gens_alive, mg_gen_live_count());
    mg_metrics_tick(w);
    resolvers_reap(false);
    mg_ocsp_fetch_tick(w);
    if (mg_http_mem_tick(w)) {
        mg_proxy_free_list_cut(MEM_FREE_KEEP); /* a burst is over: memory goes back */
        mg_http_mem_trim(w);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    mg_worker_t *w = &W.w;
    switch (s->signum) {
    case SIGQUIT:
        mg_worker_drain(w);
        break;
    case SIGTERM:
    case SIGINT:
        mg_http_conns_close_all(w);
        ev_break(loop, EVBREAK_ALL);
        break;
    case SIGUSR1:
        mg_log_reopen();
        break;
    }
}

static void watchers_init(mg_worker_t *w)
{
    ev_signal *sigs[] = {&W.sig_quit, &W.sig_term, &W.sig_int, &W.sig_usr1};
    int nums[] = {SIGQUIT, SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < MG_NELEMS(sigs); i++) {
        ev_signal_init(sigs[i], on_signal, nums[i]);
        ev_signal_start(w->loop, sigs[i]);
        ev_unref(w->loop);
    }
    /* master-only signals: a `kill` aimed at the whole process group must not kill us */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    ev_timer_init(&W.tick, on_tick, 1., 1.);
    ev_timer_start(w->loop, &W.tick);
    ev_timer_init(&W.drain_timer, on_drain_poll, DRAIN_POLL, DRAIN_POLL);
    ev_timer_init(&W.accept_timer, on_accept_resume, ACCEPT_PAUSE, 0.);
    if (W.ctl_fd >= 0) {
        ev_io_init(&W.ctl, on_ctl, W.ctl_fd, EV_READ);
        ev_io_start(w->loop, &W.ctl);
    }
}

static int listeners_init(mg_worker_t *w, const int *fds, size_t n, int admin_fd)
{
    const mg_conf_t *conf = w->gen->conf;
    w->nlisteners = n + (admin_fd >= 0);
    w->listeners = calloc(w->nlisteners ? w->nlisteners : 1, sizeof(*w->listeners));
    if (w->listeners == NULL) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < w->nlisteners; i++) {
        mg_listener_t *l = &w->listeners[i];
        bool admin = i == n;
        l->fd = admin ? admin_fd : fds[i];
        l->admin = admin;
        l->tls = !admin && i < conf->nlisten && conf->listen[i].tls;
        l->proxy_protocol = !admin && i < conf->nlisten && conf->listen[i].proxy_protocol;
        l->worker = w;
        const char *text =
            admin ? conf->admin->addr.text : (i < conf->nlisten ? conf->listen[i].addr.text : "?");
        snprintf(l->text, sizeof(l->text), "%s", text);
        ev_io_init(&l->io, on_accept, l->fd, EV_READ);
    }
    return MG_OK;
}

static void id_prefix_init(mg_worker_t *w)
{
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)ev_time();
        memcpy(rnd, &x, sizeof(rnd));
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(w->id_prefix + 2 * i, 3, "%02x", rnd[i]);
    }
}

static void stats_publish(mg_worker_t *w)
{
    mg_worker_stats_t *s = w->stats;
    memset(s, 0, sizeof(*s));
    s->generation = w->gen->id;
    s->started = ev_time();
    s->heartbeat = ev_now(w->loop);
    s->gens_alive = mg_gen_live_count();
    /* the pid goes last: a non-zero pid tells the master this worker is serving */
    __atomic_store_n(&s->pid, (int64_t)getpid(), __ATOMIC_RELEASE);
}

static void worker_cleanup(mg_worker_t *w)
{
    if (w->nconns > 0) {
        mg_http_conns_close_all(w);
    }
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].fd >= 0) {
            ev_io_stop(w->loop, &w->listeners[i].io);
            close(w->listeners[i].fd);
        }
    }
    free(w->listeners);
    if (W.ctl_fd >= 0) {
        ctl_close(w);
    }
    free(W.ctl_buf);
    mg_lua_timers_shutdown();
    mg_lua_sockets_shutdown();
    mg_gen_release(w->gen);
    w->gen = NULL;
    mg_trace_export_free(w); /* before the resolvers: it may wait on one */
    /* after the connections: their requests cancelled what they waited on */
    resolvers_reap(true);
    free(W.retired);
    mg_resolver_free(w->resolver);
    w->resolver = NULL;
    mg_log_flush();
    memset(w->stats, 0, sizeof(*w->stats));
    ev_loop_destroy(w->loop);
}

int mg_worker_run(int slot, mg_gen_t *gen, mg_shm_zone_t *shm, mg_worker_stats_t *all_stats,
                  const int *listen_fds, size_t nlisten, int admin_fd, int ctl_fd)
{
    mg_worker_t *w = &W.w;
    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    if (w->loop == NULL) {
        w->loop = ev_loop_new(EVFLAG_AUTO);
    }
    if (w->loop == NULL) {
        mg_log_crit("worker: cannot create an event loop");
        mg_gen_release(gen);
        return 2;
    }
    mg_log_set_slot(slot);
    mg_http_worker_init(w);
    w->slot = slot;
    w->shm = shm;
    w->all_stats = all_stats;
    w->stats = &all_stats[slot];
    mg_metrics_attach(slot); /* before the generation finds its series */
    mg_metrics_worker_init(w);
    w->gen = gen;
    mg_gen_bind(gen, w);
    id_prefix_init(w);
    W.ctl_fd = ctl_fd;
    if (listeners_init(w, listen_fds, nlisten, admin_fd) != MG_OK) {
        mg_log_crit("worker: out of memory");
        mg_gen_release(gen);
        return 2;
    }
    w->resolver = resolver_make(w, gen->conf);
    watchers_init(w);
    mg_ocsp_fetch_tick(w);
    listeners_start(w, true);
    mg_lua_init_worker(gen->lua, gen);
    stats_publish(w);
    if (mg_watchdog_start(w, gen->conf->lua.cpu_budget) != MG_OK) {
        mg_log_warn("worker: no watchdog thread, the Lua CPU budget is not enforced");
    }

    ev_run(w->loop, 0);

    mg_watchdog_stop();
    worker_cleanup(w);
    return 0;
}
