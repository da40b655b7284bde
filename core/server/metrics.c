/*
 * metrics.c -- the gateway's own series and the GET /metrics page (see metrics.h).
 */
#include "metrics.h"

#include "metrics_int.h"
#include "metrics_store.h"
#include "clock.h"
#include "conf.h"
#include "gen.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "lua_runtime.h"
#include "nodestate.h"
#include "ratelimit.h"
#include "ratelimit_cluster.h"
#include "redis.h"
#include "tls.h"
#include "trace.h"
#include "trace_export.h"
#include "upstream.h"
#include "worker.h"

#include <luajit.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct mg_gen_metrics_s {
    uint64_t **route; /* per route, then "_other" last; NULL: no room */
    /* per route, made on first use: per upstream, the series of the route's requests a
     * plugin sent to that upstream (mg.upstream.set); NULL until then */
    uint64_t ***sent;
    uint32_t ncells;
    uint64_t *lua_memory; /* gauges this worker sets on its tick; NULL: no room */
    uint64_t *redis_up;
};

bool mg_metrics_enabled(const mg_gen_t *g)
{
    return mg_conf_metrics_on(g->conf);
}

static uint32_t hist_cells(const mg_conf_t *conf)
{
    return MG_METRICS_HIST_CELLS((uint32_t)conf->metrics.nbuckets);
}

static uint32_t route_cells(const mg_conf_t *conf)
{
    return MG_MR_HIST + 3 * hist_cells(conf);
}

/* "r<SEP>route<SEP>upstream" into buf. */
static mg_str_t route_key(char *buf, size_t cap, const char *route, const char *upstream)
{
    int n = snprintf(buf, cap, "r%c%s%c%s", MG_METRICS_SEP, route, MG_METRICS_SEP, upstream);
    return mg_str(buf, n < 0 ? 0 : MG_MIN((size_t)n, cap - 1));
}

static const char *route_upstream(const mg_route_conf_t *rt)
{
    return rt->upstream != NULL ? rt->upstream->name : "";
}

/* The series of the layers below: rate limits, the plugins, the Redis client. */
static int bind_layers(mg_gen_t *g, struct mg_gen_metrics_s *m)
{
    const mg_conf_t *conf = g->conf;
    m->lua_memory = mg_metrics_series(MG_STR(MG__METRICS_LUA_MEMORY_KEY), 1, MG_METRICS_GAUGE);
    m->redis_up = conf->redis != NULL
                      ? mg_metrics_series(MG_STR(MG__METRICS_REDIS_UP_KEY), 1, MG_METRICS_GAUGE)
                      : NULL;
    mg_redis_metrics_bind(conf->redis != NULL, conf->metrics.buckets,
                          (uint32_t)conf->metrics.nbuckets);
    mg_rl_cluster_metrics_bind(conf->redis != NULL);
    if (mg_rl_metrics_bind(g) != MG_OK || mg_lua_metrics_bind(g->lua) != MG_OK) {
        return MG_ERROR;
    }
    return MG_OK;
}

int mg_metrics_gen_bind(mg_gen_t *g)
{
    if (!mg_metrics_enabled(g)) {
        mg_redis_metrics_bind(false, NULL, 0);
        mg_rl_cluster_metrics_bind(false);
        return MG_OK;
    }
    if (g->metrics != NULL) {
        return MG_OK;
    }
    const mg_conf_t *conf = g->conf;
    struct mg_gen_metrics_s *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->route = calloc(conf->nroutes + 1, sizeof(*m->route))) == NULL) {
        free(m);
        return MG_ERROR;
    }
    m->ncells = route_cells(conf);
    char key[1024];
    /* "_other" first: it must find room whatever comes after */
    m->route[conf->nroutes] =
        mg_metrics_series(route_key(key, sizeof(key), "_other", ""), m->ncells, 0);
    size_t folded = 0;
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *rt = &conf->routes[i];
        m->route[i] = mg_metrics_series(route_key(key, sizeof(key), rt->name, route_upstream(rt)),
                                        m->ncells, 0);
        folded += m->route[i] == NULL;
    }
    if (folded > 0) {
        mg_log_warn("metrics: this worker's region is full: %zu route(s) count under "
                    "route \"_other\" (%zu series counted)",
                    folded, mg_metrics_count());
    }
    g->metrics = m;
    return bind_layers(g, m);
}

void mg_metrics_gen_free(mg_gen_t *g)
{
    mg_rl_metrics_free(g);
    if (g->metrics != NULL) {
        for (size_t i = 0; g->metrics->sent != NULL && i < g->conf->nroutes; i++) {
            free(g->metrics->sent[i]);
        }
        free(g->metrics->sent);
        free(g->metrics->route);
        free(g->metrics);
        g->metrics = NULL;
    }
}

/* The series of route i's requests a plugin sent to upstream `u` rather than the
 * route's own, made on first use; NULL when out of memory or the region is full (the
 * request then counts under the route's own). */
static uint64_t *sent_series(struct mg_gen_metrics_s *m, const mg_conf_t *conf, size_t i,
                             const mg_upstream_conf_t *u)
{
    if (m->sent == NULL && (m->sent = calloc(conf->nroutes, sizeof(*m->sent))) == NULL) {
        return NULL;
    }
    if (m->sent[i] == NULL &&
        (m->sent[i] = calloc(conf->nupstreams, sizeof(*m->sent[i]))) == NULL) {
        return NULL;
    }
    if (m->sent[i][u->index] == NULL) {
        char key[1024];
        m->sent[i][u->index] =
            mg_metrics_series(route_key(key, sizeof(key), conf->routes[i].name, u->name),
                              m->ncells, 0);
    }
    return m->sent[i][u->index];
}

void mg_metrics_log(mg_request_t *r)
{
    const mg_gen_t *g = r->gen;
    struct mg_gen_metrics_s *m = g->metrics;
    if (m == NULL || r->chain == g->admin_chain) {
        return;
    }
    const mg_conf_t *conf = g->conf;
    size_t i = r->match.route != NULL ? (size_t)(r->match.route - conf->routes) : conf->nroutes;
    uint64_t *c = m->route[i] != NULL ? m->route[i] : m->route[conf->nroutes];
    if (i < conf->nroutes && r->upstream != NULL && r->upstream != conf->routes[i].upstream) {
        uint64_t *s = sent_series(m, conf, i, r->upstream);
        c = s != NULL ? s : c;
    }
    if (c == NULL) {
        return;
    }
    int cls = r->status / 100;
    if (cls >= 1 && cls <= 5) {
        mg_metrics_add(&c[MG_MR_CLASS + cls - 1], 1);
    }
    mg_metrics_add(&c[MG_MR_BYTES_IN], r->request_length);
    mg_metrics_add(&c[MG_MR_BYTES_OUT], r->bytes_sent);
    if (r->tunnel) {
        return; /* a tunnel's life (minutes, hours) is no request latency */
    }
    const double *b = conf->metrics.buckets;
    uint32_t nb = (uint32_t)conf->metrics.nbuckets, hc = hist_cells(conf);
    double total = ev_time() - r->start; /* the loop's cached time would say 0 for most */
    double own = total;
    mg_metrics_observe(c + MG_MR_HIST, b, nb, total);
    if (r->upstream_time >= 0) {
        mg_metrics_observe(c + MG_MR_HIST + hc, b, nb, r->upstream_time);
        own = total - r->upstream_time;
    }
    mg_metrics_observe(c + MG_MR_HIST + 2 * hc, b, nb, own < 0 ? 0 : own);
}

/* ---- the worker's own counters, in its region so that a restart continues them ---- */

#define TLS_CELLS (sizeof(mg_tls_counters_t) / sizeof(uint64_t))

static uint64_t *log_cell; /* access-log lines dropped by the workers of this slot */
static uint64_t log_base;  /* ... before this worker started */

static mg_str_t worker_key(char *buf, size_t cap, const char *what)
{
    int n = snprintf(buf, cap, "w%c%s", MG_METRICS_SEP, what);
    return mg_str(buf, n < 0 ? 0 : MG_MIN((size_t)n, cap - 1));
}

void mg_metrics_worker_init(mg_worker_t *w)
{
    char key[32];
    _Static_assert(sizeof(mg_tls_counters_t) % sizeof(uint64_t) == 0, "whole cells");
    uint64_t *tls = mg_metrics_series(worker_key(key, sizeof(key), "tls"), TLS_CELLS, 0);
    _Static_assert(sizeof(mg_tls_counters_t) <= sizeof(w->stats->tls), "tls counters fit");
    mg_tls_counters_use((mg_tls_counters_t *)(tls != NULL ? tls : w->stats->tls));
    log_cell = mg_metrics_series(worker_key(key, sizeof(key), "log_dropped"), 1, 0);
    log_base = log_cell != NULL ? __atomic_load_n(log_cell, __ATOMIC_RELAXED) : 0;
}

void mg_metrics_worker_tick(void)
{
    if (log_cell != NULL) {
        mg_metrics_set(log_cell, log_base + mg_log_dropped());
    }
}

void mg_metrics_tls_sum(const mg_worker_t *w, mg_tls_counters_t *out)
{
    char key[32];
    memset(out, 0, sizeof(*out));
    if (mg_metrics_sum(worker_key(key, sizeof(key), "tls"), TLS_CELLS, NULL, NULL,
                       (uint64_t *)out) > 0) {
        return;
    }
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) { /* no regions: the live workers' */
        const mg_worker_stats_t *ws = &w->all_stats[i];
        if (__atomic_load_n(&ws->pid, __ATOMIC_ACQUIRE) == 0) {
            continue;
        }
        const uint64_t *c = ws->tls;
        for (size_t k = 0; k < TLS_CELLS; k++) {
            ((uint64_t *)out)[k] += __atomic_load_n(&c[k], __ATOMIC_RELAXED);
        }
    }
}

uint64_t mg_metrics_log_dropped(const mg_worker_t *w)
{
    char key[32];
    uint64_t v = 0;
    if (mg_metrics_sum(worker_key(key, sizeof(key), "log_dropped"), 1, NULL, NULL, &v) > 0) {
        return v;
    }
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *ws = &w->all_stats[i];
        if (__atomic_load_n(&ws->pid, __ATOMIC_ACQUIRE) != 0) {
            v += __atomic_load_n(&ws->log_dropped, __ATOMIC_RELAXED);
        }
    }
    return v;
}

void mg_metrics_tick(mg_worker_t *w)
{
    const struct mg_gen_metrics_s *m = w->gen->metrics;
    if (m == NULL) {
        return;
    }
    if (m->lua_memory != NULL) {
        mg_metrics_set(m->lua_memory, mg_lua_memory(w->gen->lua));
    }
    if (m->redis_up != NULL) {
        mg_rl_cluster_stats_t st;
        mg_rl_cluster_stats(w->gen->rl_cluster, &st);
        mg_metrics_set(m->redis_up, st.connected ? 1 : 0);
    }
}

void mg_metrics_cardinality(size_t *series, size_t *limit)
{
    *series = mg_metrics_count();
    *limit = MG_METRICS_SERIES;
}

/* ---- the page ---- */

typedef mg__metrics_out_t out_t;

static void reserve(out_t *o, size_t need)
{
    if (o->oom || o->len + need < o->cap) {
        return;
    }
    size_t cap = o->cap * 2 > o->len + need + 1 ? o->cap * 2 : o->len + need + 1;
    char *p = realloc(o->p, cap);
    if (p == NULL) {
        o->oom = true;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void voutf(out_t *o, const char *fmt, va_list args)
{
    for (int tries = 0; tries < 2 && !o->oom; tries++) {
        va_list ap;
        va_copy(ap, args);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
        if (o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        reserve(o, (size_t)n + 1);
    }
}

static void outf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    voutf(o, fmt, ap);
    va_end(ap);
}

/* Text escaped as the format wants: backslash and newline, and the double quote when
 * `quote` (label values always; help text in OpenMetrics). */
static void escape_text(char *dst, size_t cap, const char *s, bool quote)
{
    size_t j = 0;
    for (; *s != '\0' && j + 2 < cap; s++) {
        if (*s == '\\' || (*s == '"' && quote)) {
            dst[j++] = '\\';
            dst[j++] = *s;
        } else if (*s == '\n') {
            dst[j++] = '\\';
            dst[j++] = 'n';
        } else {
            dst[j++] = *s;
        }
    }
    dst[j] = '\0';
}

/* A label value. */
static void escape(out_t *o, char *dst, size_t cap, const char *s)
{
    (void)o;
    escape_text(dst, cap, s, true);
}

/* Help text (plugins write some of it). */
static void help_text(const out_t *o, char *dst, size_t cap, const char *s)
{
    escape_text(dst, cap, s, o->om);
}

/* # HELP and # TYPE. In OpenMetrics a counter family is named without _total. */
static void family(out_t *o, const char *name, const char *type, const char *help)
{
    size_t n = strlen(name);
    bool strip = o->om && strcmp(type, "counter") == 0 && n > 6 &&
                 strcmp(name + n - 6, "_total") == 0;
    int fl = (int)(strip ? n - 6 : n);
    char h[2100];
    help_text(o, h, sizeof(h), help);
    outf(o, "# HELP %.*s %s\n# TYPE %.*s %s\n", fl, name, h, fl, name, type);
}

static void sample(out_t *o, const char *name, const char *labels, uint64_t v)
{
    outf(o, "%s%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (unsigned long long)v);
    o->series++;
}

static void sample_i(out_t *o, const char *name, const char *labels, int64_t v)
{
    outf(o, "%s%s%s%s %lld\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (long long)v);
    o->series++;
}

/* Bucket bounds as `le` values, once per page. OpenMetrics wants a float's canonical
 * text ("1.0", not "1"). */
typedef mg__metrics_bounds_t bounds_t;

static void bounds_of(const out_t *o, const double *b, size_t n, bounds_t *bt)
{
    for (size_t i = 0; i < n && i < MG_METRICS_MAX_BUCKETS; i++) {
        char *s = bt->le[i];
        snprintf(s, sizeof(bt->le[i]), "%.17g", b[i]);
        /* the shortest fixed-point text that reads back the same: "10", not the
         * "1e+01" that %g picks for one significant digit (bounds are durations, from
         * nanoseconds to a year, so 17 decimals always suffice) */
        for (int prec = 0; prec <= 17; prec++) {
            char t[32];
            snprintf(t, sizeof(t), "%.*f", prec, b[i]);
            if (strtod(t, NULL) == b[i]) {
                memcpy(s, t, sizeof(t));
                break;
            }
        }
        if (o->om && strpbrk(s, ".e") == NULL) {
            strcat(s, ".0");
        }
    }
}

static void bounds_text(const out_t *o, const mg_conf_t *conf, bounds_t *bt)
{
    bounds_of(o, conf->metrics.buckets, conf->metrics.nbuckets, bt);
}

static void histogram(out_t *o, const char *name, const char *labels, const uint64_t *h,
                      const bounds_t *bt, uint32_t nb)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (uint32_t i = 0; i < nb; i++) {
        cum += h[i];
        outf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, bt->le[i],
             (unsigned long long)cum);
    }
    cum += h[nb];
    outf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    outf(o, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (double)h[nb + 1] / 1e9);
    outf(o, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (unsigned long long)cum);
    o->series += nb + 3;
}

static void render_process(out_t *o, const mg_worker_t *w)
{
    char labels[512], v[64], lj[64], ssl[128];
    escape(o, v, sizeof(v), MG_VERSION);
    escape(o, lj, sizeof(lj), LUAJIT_VERSION);
    escape(o, ssl, sizeof(ssl), OpenSSL_version(OPENSSL_VERSION));
    family(o, "moongate_build_info", "gauge", "Build and library versions; always 1.");
    snprintf(labels, sizeof(labels), "version=\"%s\",luajit=\"%s\",openssl=\"%s\"", v, lj, ssl);
    sample(o, "moongate_build_info", labels, 1);

    int64_t workers = 0, draining = 0, drain_requests = 0;
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            workers++;
            draining += __atomic_load_n(&s->draining, __ATOMIC_RELAXED) != 0;
            drain_requests += __atomic_load_n(&s->drain_requests, __ATOMIC_RELAXED);
        }
    }
    family(o, "moongate_workers", "gauge", "Worker processes running.");
    sample_i(o, "moongate_workers", "", workers);
    family(o, "moongate_workers_draining", "gauge",
           "Worker processes draining: stopped accepting, finishing what they hold.");
    sample_i(o, "moongate_workers_draining", "", draining);
    family(o, "moongate_draining_requests", "gauge",
           "Requests in flight on draining workers (refreshed every second).");
    sample_i(o, "moongate_draining_requests", "", drain_requests);
    family(o, "moongate_config_generation", "gauge",
           "The configuration generation new requests start on.");
    sample(o, "moongate_config_generation", "", w->gen->id);

    uint64_t rl[2], rs[1];
    char key[64];
    int n = snprintf(key, sizeof(key), "m%creloads", MG_METRICS_SEP);
    mg_metrics_sum(mg_str(key, (size_t)n), 2, NULL, NULL, rl);
    family(o, "moongate_config_reloads_total", "counter",
           "Reloads since the master started, by result.");
    sample(o, "moongate_config_reloads_total", "result=\"ok\"", rl[0]);
    sample(o, "moongate_config_reloads_total", "result=\"failed\"", rl[1]);
    n = snprintf(key, sizeof(key), "m%crestarts", MG_METRICS_SEP);
    mg_metrics_sum(mg_str(key, (size_t)n), 1, NULL, NULL, rs);
    family(o, "moongate_worker_restarts_total", "counter",
           "Workers the master started again after they died.");
    sample(o, "moongate_worker_restarts_total", "", rs[0]);

    uint64_t dropped = mg_metrics_log_dropped(w);
    int64_t states[8] = {0};
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0) {
            continue;
        }
        for (int k = 0; k < 8; k++) {
            states[k] += __atomic_load_n(&s->conn_states[k], __ATOMIC_RELAXED);
        }
    }
    family(o, "moongate_access_log_dropped_total", "counter",
           "Access-log lines dropped because they could not be written.");
    sample(o, "moongate_access_log_dropped_total", "", dropped);
    /* http_conn_int.h's order: idle, head, active, discard, linger, tls, proxy, tunnel */
    family(o, "moongate_http_connections", "gauge", "Open client connections by state.");
    sample_i(o, "moongate_http_connections", "state=\"idle\"", states[0]);
    sample_i(o, "moongate_http_connections", "state=\"reading\"", states[1]);
    sample_i(o, "moongate_http_connections", "state=\"active\"", states[2] + states[3]);
    sample_i(o, "moongate_http_connections", "state=\"closing\"", states[4]);
    sample_i(o, "moongate_http_connections", "state=\"handshake\"", states[5] + states[6]);
    sample_i(o, "moongate_http_connections", "state=\"tunnel\"", states[7]);
}

/* The labels of route i (or "_other" at nroutes). */
static void route_labels(out_t *o, const mg_conf_t *conf, size_t i, char *buf, size_t cap)
{
    char rn[512], un[512];
    if (i < conf->nroutes) {
        escape(o, rn, sizeof(rn), conf->routes[i].name);
        escape(o, un, sizeof(un), route_upstream(&conf->routes[i]));
    } else {
        strcpy(rn, "_other");
        un[0] = '\0';
    }
    snprintf(buf, cap, "route=\"%s\",upstream=\"%s\"", rn, un);
}

/* Route families, written a slice of routes at a time so that a page of thousands of
 * routes never holds the loop for long: the sums are taken once, when the page
 * starts, so the page is one moment's. A route that never counted a request is left
 * out, as client libraries leave out a label set never used. */
typedef struct {
    size_t nr;              /* routes + "_other" */
    uint32_t nc, hc, nb;
    uint64_t *sums;         /* nr * nc */
    char (*labels)[1100];   /* per route */
    bounds_t bt;
} routes_t;

static const struct {
    const char *name, *type, *help;
    int cell; /* first cell; -1: the five classes; -2..-4: histograms 0..2 */
} route_fams[] = {
    {"moongate_http_requests_total", "counter",
     "Requests answered, by route, upstream and status class.", -1},
    {"moongate_http_request_duration_seconds", "histogram",
     "Time from a request's first byte to its last byte sent.", -2},
    {"moongate_http_upstream_duration_seconds", "histogram",
     "Time from the first upstream try to the end of the upstream's response.", -3},
    {"moongate_http_gateway_duration_seconds", "histogram",
     "The gateway's own time in a request (plugins included): total minus upstream.", -4},
    {"moongate_http_request_bytes_total", "counter",
     "Bytes read from clients (request heads and bodies), by route.", MG_MR_BYTES_IN},
    {"moongate_http_response_bytes_total", "counter",
     "Bytes sent to clients (heads and bodies), by route.", MG_MR_BYTES_OUT},
};

static void routes_free(routes_t *rs)
{
    free(rs->sums);
    free(rs->labels);
    memset(rs, 0, sizeof(*rs));
}

/* The (route, upstream) series of requests plugins sent to an upstream other than their
 * route's (mg.upstream.set), found among every worker's series: keys and names. */
typedef struct {
    const mg_conf_t *conf;
    uint32_t nc;
    size_t n, cap;
    struct {
        char key[1024];
        size_t route; /* index in conf->routes */
        const char *upstream;
    } *v;
    bool oom;
} sent_t;

static void on_sent_key(mg_str_t key, uint32_t ncells, unsigned flags, void *arg)
{
    sent_t *x = arg;
    const mg_conf_t *conf = x->conf;
    (void)flags;
    if (ncells != x->nc || x->oom || key.len >= sizeof(x->v[0].key)) {
        return;
    }
    const char *sep = memchr(key.p + 2, MG_METRICS_SEP, key.len - 2); /* "r<SEP>route<SEP>up" */
    if (sep == NULL) {
        return;
    }
    mg_str_t route = mg_str(key.p + 2, (size_t)(sep - key.p - 2));
    mg_str_t up = mg_str(sep + 1, key.len - (size_t)(sep + 1 - key.p));
    const mg_upstream_conf_t *u = NULL;
    for (size_t j = 0; j < conf->nupstreams && u == NULL; j++) {
        if (strlen(conf->upstreams[j].name) == up.len &&
            memcmp(conf->upstreams[j].name, up.p, up.len) == 0) {
            u = &conf->upstreams[j];
        }
    }
    if (u == NULL) {
        return; /* an upstream this configuration no longer has */
    }
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *rt = &conf->routes[i];
        if (strlen(rt->name) != route.len || memcmp(rt->name, route.p, route.len) != 0) {
            continue;
        }
        if (rt->upstream == u) {
            return; /* the route's own series, listed already */
        }
        if (x->n == x->cap) {
            size_t cap = x->cap ? x->cap * 2 : 8;
            void *v = realloc(x->v, cap * sizeof(*x->v));
            if (v == NULL) {
                x->oom = true;
                return;
            }
            x->v = v;
            x->cap = cap;
        }
        memcpy(x->v[x->n].key, key.p, key.len);
        x->v[x->n].key[key.len] = '\0';
        x->v[x->n].route = i;
        x->v[x->n].upstream = u->name;
        x->n++;
        return;
    }
}

static int routes_snapshot(out_t *o, const mg_gen_t *g, routes_t *rs)
{
    const mg_conf_t *conf = g->conf;
    rs->nc = route_cells(conf);
    rs->hc = hist_cells(conf);
    rs->nb = (uint32_t)conf->metrics.nbuckets;
    /* routes whose plugins sent requests elsewhere are listed once per upstream used */
    sent_t sent = {.conf = conf, .nc = rs->nc};
    char prefix[2] = {'r', MG_METRICS_SEP};
    if (g->lua != NULL) {
        mg_metrics_each(mg_str(prefix, 2), on_sent_key, &sent);
    }
    if (sent.oom) {
        free(sent.v);
        return MG_ERROR;
    }
    rs->nr = conf->nroutes + 1 + sent.n;
    rs->sums = malloc(rs->nr * rs->nc * sizeof(uint64_t));
    rs->labels = malloc(rs->nr * sizeof(*rs->labels));
    if (rs->sums == NULL || rs->labels == NULL) {
        free(sent.v);
        routes_free(rs);
        return MG_ERROR;
    }
    bounds_text(o, conf, &rs->bt);
    char key[1024];
    for (size_t i = 0; i <= conf->nroutes; i++) {
        const char *name = i < conf->nroutes ? conf->routes[i].name : "_other";
        const char *up = i < conf->nroutes ? route_upstream(&conf->routes[i]) : "";
        mg_metrics_sum(route_key(key, sizeof(key), name, up), rs->nc, NULL, NULL,
                       &rs->sums[i * rs->nc]);
        route_labels(o, conf, i, rs->labels[i], sizeof(rs->labels[i]));
    }
    for (size_t k = 0; k < sent.n; k++) {
        size_t i = conf->nroutes + 1 + k;
        mg_metrics_sum(mg_str(sent.v[k].key, strlen(sent.v[k].key)), rs->nc, NULL, NULL,
                       &rs->sums[i * rs->nc]);
        char rn[512], un[512];
        escape(o, rn, sizeof(rn), conf->routes[sent.v[k].route].name);
        escape(o, un, sizeof(un), sent.v[k].upstream);
        snprintf(rs->labels[i], sizeof(rs->labels[i]), "route=\"%s\",upstream=\"%s\"", rn, un);
    }
    free(sent.v);
    return MG_OK;
}

static bool route_used(const routes_t *rs, size_t i)
{
    const uint64_t *c = &rs->sums[i * rs->nc];
    for (int k = 0; k < 5; k++) {
        if (c[MG_MR_CLASS + k] != 0) {
            return true;
        }
    }
    return c[MG_MR_HIST + rs->nb + 1] != 0 || c[MG_MR_HIST] != 0; /* answered with no status */
}

/* Family f's lines for routes [from, to). */
static void routes_slice(out_t *o, const routes_t *rs, size_t f, size_t from, size_t to)
{
    static const char *classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    if (from == 0) {
        family(o, route_fams[f].name, route_fams[f].type, route_fams[f].help);
    }
    for (size_t i = from; i < to; i++) {
        if (!route_used(rs, i)) {
            continue;
        }
        const uint64_t *c = &rs->sums[i * rs->nc];
        int cell = route_fams[f].cell;
        if (cell == -1) {
            for (int k = 0; k < 5; k++) {
                outf(o, "%s{%s,class=\"%s\"} %llu\n", route_fams[f].name, rs->labels[i],
                     classes[k], (unsigned long long)c[MG_MR_CLASS + k]);
            }
            o->series += 5;
        } else if (cell <= -2) {
            histogram(o, route_fams[f].name, rs->labels[i],
                      c + MG_MR_HIST + (size_t)(-cell - 2) * rs->hc, &rs->bt, rs->nb);
        } else {
            sample(o, route_fams[f].name, rs->labels[i], c[cell]);
        }
    }
}

static void render_nodes(out_t *o, const mg_gen_t *g)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"moongate_upstream_node_healthy", "gauge",
         "1 when the node may be picked: not held down by active checks nor ejected."},
        {"moongate_upstream_node_breaker_state", "gauge",
         "The node's circuit breaker: 0 closed (or no breaker), 1 open, 2 half-open."},
        {"moongate_upstream_node_inflight", "gauge", "Requests being proxied to the node now."},
        {"moongate_upstream_node_ejections_total", "counter",
         "Times outlier detection ejected the node."},
        {"moongate_upstream_tries_total", "counter", "Tries sent to the node."},
        {"moongate_upstream_try_failures_total", "counter",
         "Tries to the node that failed (connect, I/O, timeout, TLS)."},
    };
    double now = mg_mono_now();
    for (size_t f = 0; f < MG_NELEMS(fams); f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < g->conf->nupstreams; i++) {
            const mg_upstream_t *u = g->upstreams[i];
            char un[512];
            escape(o, un, sizeof(un), u->conf->name);
            for (size_t j = 0; j < u->conf->nnodes; j++) {
                if (mg_upstream_node_gone(u, (int)j)) {
                    continue; /* DNS took it away: its series end */
                }
                mg_node_state_t *s = u->nodes[j].state;
                char nn[300], labels[900];
                escape(o, nn, sizeof(nn), mg_upstream_node_addr(u, (int)j));
                snprintf(labels, sizeof(labels), "upstream=\"%s\",node=\"%s\"", un, nn);
                int64_t v = 0;
                switch (f) {
                case 0:
                    v = strcmp(mg_health_node_state(u, (int)j, now), "healthy") == 0;
                    break;
                case 1:
                    v = u->conf->health.breaker.on ? atomic_load(&s->breaker) : 0;
                    break;
                case 2:
                    v = atomic_load(&s->inflight);
                    break;
                case 3:
                    v = (int64_t)atomic_load(&s->ejected_total);
                    break;
                case 4:
                    v = (int64_t)atomic_load(&s->requests);
                    break;
                default:
                    v = (int64_t)atomic_load(&s->failures);
                    break;
                }
                sample_i(o, fams[f].name, labels, v);
            }
        }
    }
}

/* The upstreams' connection queues (upstream_queue.h): how many wait now, and how
 * waits ended. Figures of all workers, from the shared upstream state. */
static void render_queues(out_t *o, const mg_gen_t *g)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"moongate_upstream_queue_length", "gauge",
         "Requests waiting for a connection to the upstream now (max_connections, connect "
         "pacing)."},
        {"moongate_upstream_queue_total", "counter",
         "Waits for a connection to the upstream that ended, by outcome: served, timeout "
         "(queue.timeout), full (queue.size), gone (the client left)."},
    };
    for (size_t f = 0; f < MG_NELEMS(fams); f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < g->conf->nupstreams; i++) {
            const mg_upstream_state_t *st = g->upstreams[i]->state;
            char un[512], labels[700];
            escape(o, un, sizeof(un), g->upstreams[i]->conf->name);
            if (f == 0) {
                snprintf(labels, sizeof(labels), "upstream=\"%s\"", un);
                sample_i(o, fams[f].name, labels, atomic_load(&st->queued));
                continue;
            }
            for (int k = 0; k < MG_QUEUE_OUTCOMES; k++) {
                snprintf(labels, sizeof(labels), "upstream=\"%s\",outcome=\"%s\"", un,
                         mg_queue_outcome_names[k]);
                sample_i(o, fams[f].name, labels, (int64_t)atomic_load(&st->queue_outcomes[k]));
            }
        }
    }
}

static void render_tls(out_t *o, const mg_worker_t *w)
{
    mg_tls_counters_t sum;
    mg_metrics_tls_sum(w, &sum);
    uint64_t failed = 0;
    for (int k = 0; k < MG_TLS_FAIL_N; k++) {
        failed += sum.failed[k];
    }
    family(o, "moongate_tls_handshakes_total", "counter",
           "TLS handshakes on the listeners, by result.");
    sample(o, "moongate_tls_handshakes_total", "result=\"full\"", sum.full);
    sample(o, "moongate_tls_handshakes_total", "result=\"resumed\"", sum.resumed);
    sample(o, "moongate_tls_handshakes_total", "result=\"failed\"", failed);
    family(o, "moongate_tls_handshake_failures_total", "counter",
           "Failed TLS handshakes by reason.");
    for (int k = 0; k < MG_TLS_FAIL_N; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "reason=\"%s\"", mg_tls_fail_names[k]);
        sample(o, "moongate_tls_handshake_failures_total", labels, sum.failed[k]);
    }
}

/* Routes per slice: about 0.5 MB of text and half a millisecond with histograms. */
#define ROUTES_PER_SLICE 100

struct mg_metrics_page_s {
    out_t o;
    const mg_worker_t *w;
    mg_gen_t *g; /* one reference held */
    routes_t routes;
    int stage; /* 0: head, 1: routes, 2: the rest, 3: plugins' own, 4: the end, 5: done */
    size_t fam, next;
    mg__metrics_ext_t *ext; /* stage 3 */
};

mg_metrics_page_t *mg_metrics_page_new(const mg_worker_t *w, bool openmetrics)
{
    mg_metrics_page_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->o.om = openmetrics;
    p->o.w = w;
    p->w = w;
    p->g = mg_gen_retain(w->gen);
    if (routes_snapshot(&p->o, p->g, &p->routes) != MG_OK) {
        mg_metrics_page_free(p);
        return NULL;
    }
    return p;
}

void mg_metrics_page_free(mg_metrics_page_t *p)
{
    if (p != NULL) {
        mg__metrics_ext_free(p->ext);
        routes_free(&p->routes);
        mg_gen_release(p->g);
        free(p->o.p);
        free(p);
    }
}

static void render_tracing(out_t *o)
{
    uint64_t c[MG_TRACE_SPANS_QUEUED];
    mg_metrics_sum(MG_STR(MG_TRACE_METRICS_KEY), MG_TRACE_SPANS_QUEUED, NULL, NULL, c);
    family(o, "moongate_tracing_spans_total", "counter",
           "Spans by outcome: exported (the collector took them), dropped (the queue was "
           "full), failed (their batch failed).");
    sample(o, "moongate_tracing_spans_total", "result=\"exported\"", c[MG_TRACE_SPANS_EXPORTED]);
    sample(o, "moongate_tracing_spans_total", "result=\"dropped\"", c[MG_TRACE_SPANS_DROPPED]);
    sample(o, "moongate_tracing_spans_total", "result=\"failed\"", c[MG_TRACE_SPANS_FAILED]);
}

/* The families that are small whatever the configuration. */
static void render_rest(out_t *o, const mg_worker_t *w, const mg_gen_t *g)
{
    render_nodes(o, g);
    render_queues(o, g);
    render_tls(o, w);
    render_tracing(o);
    mg__metrics_render_plugins(o, g);
    mg__metrics_render_limits(o, g);
}

static void render_end(out_t *o)
{
    family(o, "moongate_metrics_series", "gauge",
           "Series on this page, and the ceiling of series a worker may count.");
    sample(o, "moongate_metrics_series", "kind=\"exported\"", o->series + 2);
    sample(o, "moongate_metrics_series", "kind=\"limit\"", MG_METRICS_SERIES);
    if (o->om) {
        outf(o, "# EOF\n");
    }
}

const char *mg_metrics_page_next(mg_metrics_page_t *p, size_t *len, bool *last)
{
    out_t *o = &p->o;
    o->len = 0;
    switch (p->stage) {
    case 0:
        render_process(o, p->w);
        p->stage = 1;
        break;
    case 1: {
        size_t to = MG_MIN(p->next + ROUTES_PER_SLICE, p->routes.nr);
        routes_slice(o, &p->routes, p->fam, p->next, to);
        p->next = to;
        if (to == p->routes.nr) {
            p->next = 0;
            if (++p->fam == MG_NELEMS(route_fams)) {
                p->stage = 2;
            }
        }
        break;
    }
    case 2:
        render_rest(o, p->w, p->g);
        p->stage = 3;
        break;
    case 3:
        if (p->ext == NULL && (p->ext = mg__metrics_ext_new(p->g)) == NULL) {
            return NULL;
        }
        if (mg__metrics_ext_next(o, p->ext)) {
            p->stage = 4;
        }
        break;
    default:
        render_end(o);
        p->stage = 5;
        break;
    }
    *last = p->stage == 5;
    *len = o->len;
    return o->oom ? NULL : (o->p != NULL ? o->p : "");
}

char *mg_metrics_render(const mg_worker_t *w, bool openmetrics, size_t *len)
{
    mg_metrics_page_t *p = mg_metrics_page_new(w, openmetrics);
    char *all = NULL;
    size_t n = 0;
    bool last = false;
    while (p != NULL && !last) {
        size_t sl;
        const char *s = mg_metrics_page_next(p, &sl, &last);
        char *grown = s != NULL ? realloc(all, n + sl + 1) : NULL;
        if (grown == NULL) {
            free(all);
            all = NULL;
            break;
        }
        all = grown;
        memcpy(all + n, s, sl);
        n += sl;
        all[n] = '\0';
    }
    mg_metrics_page_free(p);
    *len = n;
    return all;
}

/* ---- for the other files of the page (metrics_int.h) ---- */

void mg__metrics_printf(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    voutf(o, fmt, ap);
    va_end(ap);
}

void mg__metrics_family(out_t *o, const char *name, const char *type, const char *help)
{
    family(o, name, type, help);
}

void mg__metrics_sample(out_t *o, const char *name, const char *labels, uint64_t v)
{
    sample(o, name, labels, v);
}

void mg__metrics_histogram(out_t *o, const char *name, const char *labels, const uint64_t *h,
                           const bounds_t *bt, uint32_t nb)
{
    histogram(o, name, labels, h, bt, nb);
}

void mg__metrics_escape(char *dst, size_t cap, const char *s)
{
    escape(NULL, dst, cap, s);
}

void mg__metrics_float(char *buf, size_t cap, double v)
{
    if (v != v) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (v == 1.0 / 0.0 || v == -1.0 / 0.0) {
        snprintf(buf, cap, "%sInf", v > 0 ? "+" : "-");
        return;
    }
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        snprintf(buf, cap, "%.0f", v); /* a count: "10", not "1e+01" */
        return;
    }
    snprintf(buf, cap, "%.17g", v);
    for (int prec = 1; prec <= 17; prec++) {
        char t[40];
        snprintf(t, sizeof(t), "%.*g", prec, v);
        if (strtod(t, NULL) == v) {
            snprintf(buf, cap, "%s", t);
            return;
        }
    }
}

void mg__metrics_bounds(const out_t *o, const double *b, size_t n, bounds_t *bt)
{
    bounds_of(o, b, n, bt);
}

bool mg__metrics_dead_slot(int slot, void *arg)
{
    const mg_worker_t *w = arg;
    return slot < 0 || slot >= MG_MAX_WORKER_SLOTS ||
           __atomic_load_n(&w->all_stats[slot].pid, __ATOMIC_ACQUIRE) == 0;
}
