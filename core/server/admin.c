/*
 * admin.c -- the admin API, served on its own listener (off unless `admin:` is set).
 *
 *   GET  /         the live status page (status_page.html); it polls /status and /metrics
 *   GET  /status   JSON: generations, each worker's pid, generation and counters,
 *                  each upstream's nodes with their health and breaker state
 *   GET  /metrics  Prometheus text (OpenMetrics on request): server/metrics.h
 *   POST /reload   asks the master to reload (same as SIGHUP) and answers with its
 *                  verdict: 202 accepted, 422 rejected (the error as file:line:column)
 *
 * Figures come from the shared stats table, so any worker answers for all of them.
 */
#include "admin.h"

#include "conf.h"

#include "gen.h"
#include "health.h"
#include "http.h"
#include "lua_runtime.h"
#include "ratelimit_cluster.h"
#include "ratelimit_zone.h"
#include "resolver.h"
#include "tls.h"
#include "tls_ticket.h"
#include "trace_export.h"
#include "shdict.h"
#include "llhttp.h"
#include "metrics.h"
#include "control.h"
#include "pool.h"
#include "shm.h"
#include "status_page.h"
#include "worker.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Room for every upstream node's health line (about 200 bytes each) next to the rest. */
#define STATUS_BUF (256 * 1024)

typedef struct {
    char *p;
    size_t cap, len;
} jbuf_t;

static void jprintf(jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jprintf(jbuf_t *b, const char *fmt, ...)
{
    if (b->len >= b->cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len = n < 0 ? b->cap : MG_MIN(b->cap, b->len + (size_t)n);
}

static uint64_t load_u64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int64_t load_i64(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A worker's open connections by state ("idle", "active", ...: http.h names them). */
static void status_conn_states(jbuf_t *b, const mg_worker_stats_t *s)
{
    jprintf(b, ",\"states\":{");
    bool first = true;
    for (int k = 0; k < (int)MG_NELEMS(s->conn_states); k++) {
        const char *name = mg_http_conn_state_name(k);
        int64_t n = load_i64(&s->conn_states[k]);
        if (name != NULL) {
            jprintf(b, "%s\"%s\":%lld", first ? "" : ",", name, (long long)n);
        } else if (n != 0) {
            jprintf(b, "%s\"state%d\":%lld", first ? "" : ",", k, (long long)n);
        } else {
            continue;
        }
        first = false;
    }
    jprintf(b, "}");
}

/* What a draining worker still holds: since when it drains, when what is left will be
 * closed (epoch seconds, and seconds from `now`), requests in flight, bytes to send. */
static void status_drain(jbuf_t *b, const mg_worker_stats_t *s, double now)
{
    if (!__atomic_load_n(&s->draining, __ATOMIC_ACQUIRE)) {
        return;
    }
    double since = s->drain_started, deadline = s->drain_deadline;
    double left = MG_MAX(0.0, deadline - now);
    jprintf(b,
            ",\"drain\":{\"since\":%.3f,\"deadline\":%.3f,\"seconds_left\":%.1f,"
            "\"requests\":%lld,\"bytes_to_send\":%llu}",
            since, deadline, left, (long long)load_i64(&s->drain_requests),
            (unsigned long long)load_u64(&s->drain_bytes));
}

/* Lists the slots in use, remembering the newest generation and the distinct ones. */
static void status_workers(jbuf_t *b, const mg_worker_t *w, uint64_t *newest, uint64_t *gens,
                           size_t *ngens)
{
    bool first = true;
    jprintf(b, "\"workers\":[");
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        int64_t pid = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);
        if (pid == 0) {
            continue;
        }
        uint64_t gen = load_u64(&s->generation);
        jprintf(b,
                "%s{\"slot\":%d,\"pid\":%lld,\"generation\":%llu,\"connections\":%lld,"
                "\"requests\":%llu,\"bad_requests\":%llu,\"generations_alive\":%llu,"
                "\"draining\":%s",
                first ? "" : ",", i, (long long)pid, (unsigned long long)gen,
                (long long)load_i64(&s->connections), (unsigned long long)load_u64(&s->requests),
                (unsigned long long)load_u64(&s->bad_requests),
                (unsigned long long)load_u64(&s->gens_alive),
                load_i64(&s->draining) ? "true" : "false");
        status_conn_states(b, s);
        status_drain(b, s, ev_now(w->loop));
        jprintf(b, "}");
        first = false;
        *newest = MG_MAX(*newest, gen);
        size_t j = 0;
        while (j < *ngens && gens[j] != gen) {
            j++;
        }
        if (j == *ngens) {
            gens[(*ngens)++] = gen;
        }
    }
    jprintf(b, "],");
}

/* The plugins of the current generation (every worker of it compiled the same sources)
 * and the shared dicts. */
static void status_lua(jbuf_t *b, const mg_worker_t *w)
{
    const mg_lua_t *lua = w->gen->lua;
    jprintf(b, "\"plugins\":[");
    for (size_t i = 0; i < mg_lua_plugin_count(lua); i++) {
        jprintf(b, "%s{\"name\":\"%s\",\"version\":\"%s\"}", i ? "," : "",
                mg_lua_plugin_name(lua, i), mg_lua_plugin_version(lua, i));
    }
    jprintf(b, "],\"lua_memory\":%zu,\"shared_dicts\":[", mg_lua_memory(lua));
    /* a resized dict leaves its old slot behind, nameless and skipped: the separator
     * cannot depend on the index */
    bool first = true;
    for (size_t i = 0; i < mg_shdict_number(); i++) {
        mg_shdict_stats_t st;
        const char *name = mg_shdict_stats(i, &st);
        if (name[0] != '\0') {
            jprintf(b,
                    "%s{\"name\":\"%s\",\"count\":%zu,\"capacity\":%zu,\"free\":%zu,"
                    "\"evictions\":%llu}",
                    first ? "" : ",", name, st.count, st.capacity, st.free_bytes,
                    (unsigned long long)st.evictions);
            first = false;
        }
    }
    jprintf(b, "],");
}

/* The local rate-limit zones: keys held, bytes, and keys evicted to make room. */
static void status_rate_limits(jbuf_t *b)
{
    jprintf(b, "\"rate_limit_zones\":[");
    bool first = true;
    for (size_t i = 0; i < mg_rl_zone_number(); i++) {
        mg_rl_zone_stats_t st;
        const char *name = mg_rl_zone_stats(i, &st);
        if (name != NULL) {
            jprintf(b,
                    "%s{\"name\":\"%s\",\"count\":%zu,\"capacity\":%zu,\"free\":%zu,"
                    "\"evictions\":%llu}",
                    first ? "" : ",", name, st.count, st.capacity, st.free_bytes,
                    (unsigned long long)st.evictions);
            first = false;
        }
    }
    jprintf(b, "],");
}

/* The Redis client of the worker answering (cluster rate limits); absent without one. */
static void status_redis(jbuf_t *b, const mg_worker_t *w)
{
    if (w->gen->rl_cluster == NULL) {
        return;
    }
    mg_rl_cluster_stats_t st;
    mg_rl_cluster_stats(w->gen->rl_cluster, &st);
    jprintf(b,
            "\"redis\":{\"worker\":%d,\"connected\":%s,\"checks\":%llu,\"failures\":%llu,"
            "\"timeouts\":%llu,\"fallbacks\":%llu},",
            (int)getpid(), st.connected ? "true" : "false", (unsigned long long)st.checks,
            (unsigned long long)st.failures, (unsigned long long)st.timeouts,
            (unsigned long long)st.fallbacks);
}

/* Lua timers (mg.timer), summed over the workers. */
static void status_timers(jbuf_t *b, const mg_worker_t *w)
{
    uint64_t sum[4] = {0, 0, 0, 0};
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            sum[0] += load_u64(&s->timers_pending);
            sum[1] += load_u64(&s->timers_running);
            sum[2] += load_u64(&s->timers_refused);
            sum[3] += load_u64(&s->timers_failed);
        }
    }
    jprintf(b,
            "\"lua_timers\":{\"pending\":%llu,\"running\":%llu,\"refused\":%llu,"
            "\"failed\":%llu},",
            (unsigned long long)sum[0], (unsigned long long)sum[1], (unsigned long long)sum[2],
            (unsigned long long)sum[3]);
}

/* Lua cosockets (mg.socket), summed over the workers, and the per-worker cap. */
static void status_sockets(jbuf_t *b, const mg_worker_t *w)
{
    uint64_t open = 0, pooled = 0;
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            open += load_u64(&s->sockets_open);
            pooled += load_u64(&s->sockets_pooled);
        }
    }
    jprintf(b, "\"lua_sockets\":{\"open\":%llu,\"pooled\":%llu,\"max_per_worker\":%d},",
            (unsigned long long)open, (unsigned long long)pooled, MG_LUA_SOCKETS_MAX);
}

/* Plugin phases the natives decided in C, and those they handed to Lua (a token cache
 * miss), summed over the workers since they started. */
static void status_native(jbuf_t *b, const mg_worker_t *w)
{
    uint64_t sum[2] = {0, 0};
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            sum[0] += load_u64(&s->lua_native[0]);
            sum[1] += load_u64(&s->lua_native[1]);
        }
    }
    jprintf(b, "\"lua_native\":{\"decided\":%llu,\"to_lua\":%llu},", (unsigned long long)sum[0],
            (unsigned long long)sum[1]);
}

/* WebSocket tunnels open now, summed over the workers (the connections in state tunnel,
 * http_conn_int.h's MG_C_TUNNEL = 7), and the cap. */
static void status_tunnels(jbuf_t *b, const mg_worker_t *w)
{
    int64_t open = 0;
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != 0) {
            open += load_i64(&s->conn_states[7]);
        }
    }
    jprintf(b, "\"tunnels\":{\"open\":%lld,\"max\":%d},", (long long)open,
            w->gen->conf->http.max_tunnels);
}

/* The resolver of the worker answering: cache size and lookups; absent without one. */
static void status_resolver(jbuf_t *b, const mg_worker_t *w)
{
    if (w->resolver == NULL) {
        return;
    }
    mg_resolver_stats_t st;
    mg_resolver_stats(w->resolver, &st);
    jprintf(b,
            "\"resolver\":{\"worker\":%d,\"cached\":%zu,\"queries\":%llu,\"hits\":%llu,"
            "\"joined\":%llu,\"failures\":%llu,\"timeouts\":%llu},",
            (int)getpid(), st.cached, (unsigned long long)st.queries, (unsigned long long)st.hits,
            (unsigned long long)st.joined, (unsigned long long)st.failures,
            (unsigned long long)st.timeouts);
}

/* A string as a JSON value: what a certificate says is not ours to trust. */
static void jstr(jbuf_t *b, const char *s)
{
    jprintf(b, "\"");
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            jprintf(b, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            jprintf(b, "\\u%04x", ch);
        } else {
            jprintf(b, "%c", ch);
        }
    }
    jprintf(b, "\"");
}

/* TLS: handshakes of every worker, the ticket keys, and the certificates the current
 * generation serves with their expiry. Absent without certificates. */
static void status_tls(jbuf_t *b, const mg_worker_t *w)
{
    const mg_tls_server_t *s = w->gen->tls;
    if (s == NULL) {
        return;
    }
    mg_tls_counters_t sum;
    mg_metrics_tls_sum(w, &sum);
    jprintf(b, "\"tls\":{\"handshakes\":{\"full\":%llu,\"resumed\":%llu,\"failed\":{",
            (unsigned long long)sum.full, (unsigned long long)sum.resumed);
    for (int k = 0; k < MG_TLS_FAIL_N; k++) {
        jprintf(b, "%s\"%s\":%llu", k ? "," : "", mg_tls_fail_names[k],
                (unsigned long long)sum.failed[k]);
    }
    mg_tls_ticket_stats_t t;
    mg_tls_tickets_stats(&t);
    jprintf(b,
            "}},\"tickets\":{\"keys\":%u,\"from_file\":%s,\"rotations\":%llu,"
            "\"decrypted\":%llu,\"decrypted_old\":%llu,\"unknown\":%llu},\"certificates\":[",
            t.keys, t.from_file ? "true" : "false", (unsigned long long)t.rotations,
            (unsigned long long)t.decrypted, (unsigned long long)t.decrypted_old,
            (unsigned long long)t.unknown);
    double now = ev_now(w->loop);
    for (size_t i = 0; i < mg_tls_server_ncerts(s); i++) {
        const mg_tls_cert_info_t *c = mg_tls_server_cert(s, i);
        char exp[32];
        time_t na = (time_t)c->not_after;
        struct tm tm;
        strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&na, &tm));
        jprintf(b, "%s{\"names\":", i ? "," : "");
        jstr(b, c->names);
        jprintf(b, ",\"subject\":");
        jstr(b, c->subject);
        jprintf(b, ",\"key\":\"%s\",\"not_after\":\"%s\",\"expires_in_days\":%.1f}", c->key_type,
                exp, (c->not_after - now) / 86400);
    }
    jprintf(b, "]},");
}

static void handle_status(mg_request_t *r)
{
    mg_worker_t *w = r->worker;
    char *buf = mg_pool_alloc(r->pool, STATUS_BUF);
    if (buf == NULL) {
        mg_http_error(r, 500);
        return;
    }
    jbuf_t b = {buf, STATUS_BUF, 0};
    uint64_t newest = w->gen->id, gens[MG_MAX_WORKER_SLOTS];
    size_t ngens = 0;
    jprintf(&b, "{\"version\":\"%s\",\"pid\":%d,", MG_VERSION, (int)getppid());
    status_workers(&b, w, &newest, gens, &ngens);
    jprintf(&b, "\"generation\":%llu,\"generations\":[", (unsigned long long)newest);
    for (size_t i = 0; i < ngens; i++) {
        jprintf(&b, "%s%llu", i ? "," : "", (unsigned long long)gens[i]);
    }
    jprintf(&b, "],");
    status_lua(&b, w);
    status_timers(&b, w);
    status_sockets(&b, w);
    status_native(&b, w);
    status_tunnels(&b, w);
    status_rate_limits(&b);
    status_redis(&b, w);
    status_resolver(&b, w);
    status_tls(&b, w);
    if (mg_metrics_enabled(w->gen)) {
        size_t series, limit;
        mg_metrics_cardinality(&series, &limit);
        jprintf(&b, "\"metrics\":{\"series\":%zu,\"series_limit\":%zu},", series, limit);
    }
    if (b.len < b.cap) {
        b.len += mg_health_status_json(w->gen, b.p + b.len, b.cap - b.len);
    }
    if (b.len < b.cap) {
        b.len += mg_trace_export_status_json(w, b.p + b.len, b.cap - b.len);
    }
    uint64_t dropped = mg_metrics_log_dropped(w);
    jprintf(&b, "\"log_dropped\":%llu,\"shm\":{\"size\":%zu,\"free\":%zu}}\n",
            (unsigned long long)dropped, w->gen->conf->shm_size,
            w->shm ? mg_shm_free_bytes(w->shm) : 0);
    if (b.len >= b.cap) {
        mg_http_error(r, 500);
        return;
    }
    mg_http_respond(r, 200, "application/json", b.p, b.len);
}

/* The page is static; no-store keeps a browser from showing an old build's page. */
static void handle_page(mg_request_t *r)
{
    size_t len;
    const char *page = mg_status_page(&len);
    mg_header_t h[] = {
        {MG_STR("Content-Type"), MG_STR("text/html; charset=utf-8")},
        {MG_STR("Cache-Control"), MG_STR("no-store")},
    };
    mg_http_respond_headers(r, 200, h, MG_NELEMS(h), page, len);
}

static void respond_json(mg_request_t *r, int status, const char *body);

/* ---- GET /metrics ---- */

/* A scrape in progress: the page goes out a slice per loop turn (or when the client
 * drained the last one), so requests on this worker never wait for a whole page. */
typedef struct {
    ev_timer step;
    mg_request_t *r;
    mg_metrics_page_t *page;
} scrape_t;

static void scrape_end(scrape_t *s)
{
    ev_timer_stop(s->r->worker->loop, &s->step);
    mg_metrics_page_free(s->page);
    s->page = NULL;
}

static void scrape_pump(scrape_t *s)
{
    mg_request_t *r = s->r;
    size_t len;
    bool last;
    const char *slice = mg_metrics_page_next(s->page, &len, &last);
    if (slice == NULL) {
        scrape_end(s);
        mg_http_finish(r, false); /* out of memory: the client sees a cut page */
        return;
    }
    int rc = mg_http_send_body(r, slice, len, last);
    if (rc == MG_ERROR) {
        return; /* the client is gone: on_abort ended the scrape */
    }
    if (last) {
        scrape_end(s);
        mg_http_finish(r, true);
    } else if (rc == MG_OK) {
        ev_timer_set(&s->step, 0., 0.);
        ev_timer_start(r->worker->loop, &s->step);
    } /* MG_AGAIN: on_writable goes on */
}

static void on_scrape_step(struct ev_loop *loop, ev_timer *t, int revents)
{
    scrape_pump(t->data);
}

static void on_scrape_writable(mg_request_t *r)
{
    scrape_pump(r->handler_data);
}

static void on_scrape_abort(mg_request_t *r)
{
    scrape_end(r->handler_data);
}

static const mg_http_handler_t scrape_handler = {
    .on_writable = on_scrape_writable,
    .on_abort = on_scrape_abort,
};

static void respond_json(mg_request_t *r, int status, const char *body);

/* The Prometheus page; OpenMetrics when the client's Accept asks for it. 404 when
 * `metrics.enabled: false`. */
static void handle_metrics(mg_request_t *r)
{
    mg_worker_t *w = r->worker;
    if (!mg_metrics_enabled(w->gen)) {
        respond_json(r, 404, "{\"error\":\"metrics are off (metrics.enabled: false)\"}\n");
        return;
    }
    mg_str_t accept = mg_http_header(r, MG_STR("Accept"));
    bool om =
        accept.len > 0 && memmem(accept.p, accept.len, "application/openmetrics-text", 28) != NULL;
    scrape_t *s = mg_pool_calloc(r->pool, sizeof(*s));
    if (s == NULL || (s->page = mg_metrics_page_new(w, om)) == NULL) {
        mg_http_error(r, 500);
        return;
    }
    s->r = r;
    ev_init(&s->step, on_scrape_step);
    s->step.data = s;
    r->handler = &scrape_handler;
    r->handler_data = s;
    mg_header_t ct = {MG_STR("Content-Type"),
                      om ? MG_STR("application/openmetrics-text; version=1.0.0; charset=utf-8")
                         : MG_STR("text/plain; version=0.0.4; charset=utf-8")};
    mg_http_head_t h = {
        .status = 200, .headers = &ct, .nheaders = 1, .content_length = -1, .gateway = true};
    if (mg_http_send_head(r, &h) != MG_OK) {
        scrape_end(s);
        r->handler = NULL;
        mg_http_error(r, 500);
        return;
    }
    scrape_pump(s);
}

static void respond_json(mg_request_t *r, int status, const char *body)
{
    mg_http_respond(r, status, "application/json", body, strlen(body));
}

static void respond_405(mg_request_t *r, const char *allow)
{
    char body[128];
    int blen =
        snprintf(body, sizeof(body),
                 "{\"error\":\"method not allowed\",\"status\":405,\"allow\":\"%s\"}\n", allow);
    mg_header_t h[] = {
        {MG_STR("Allow"), mg_str(allow, strlen(allow))},
        {MG_STR("Content-Type"), MG_STR("application/json")},
    };
    mg_http_respond_headers(r, 405, h, MG_NELEMS(h), body, (size_t)blen);
}

/* Appends `s` as the inside of a JSON string. */
static void json_escape(jbuf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            jprintf(b, "\\%c", c);
        } else if (c < 0x20) {
            jprintf(b, "\\u%04x", c);
        } else {
            jprintf(b, "%c", c);
        }
    }
}

static void on_reload_verdict(mg_request_t *r, int status, uint64_t generation, const char *msg,
                              size_t len)
{
    r->handler = NULL;
    len = MG_MIN(len, (size_t)MG_CTL_MAX_VERDICT);
    /* room for every byte escaped as \u00XX */
    size_t cap = 6 * len + 256;
    char *buf = mg_pool_alloc(r->pool, cap);
    if (buf == NULL) {
        mg_http_error(r, 500);
        return;
    }
    jbuf_t b = {buf, cap, 0};
    const char *what = status == 202 ? "accepted" : status == 422 ? "rejected" : "unavailable";
    jprintf(&b, "{\"status\":\"%s\",\"generation\":%llu,\"%s\":\"", what,
            (unsigned long long)generation, status == 202 ? "message" : "error");
    json_escape(&b, msg, len);
    jprintf(&b, "\"}\n");
    mg_http_respond(r, status, "application/json", b.p, MG_MIN(b.len, b.cap));
}

/* The client left before the verdict: forget the ask. */
static void on_reload_abort(mg_request_t *r)
{
    mg_worker_reload_cancel(r->worker, r);
}

static const mg_http_handler_t reload_handler = {.on_abort = on_reload_abort};

/* The master checks the file and answers through the control channel; the request
 * waits for that verdict without holding the loop. */
static void handle_reload(mg_request_t *r)
{
    r->handler = &reload_handler;
    if (mg_worker_reload_ask(r->worker, r, on_reload_verdict) != MG_OK) {
        r->handler = NULL;
        respond_json(r, 503,
                     "{\"status\":\"unavailable\",\"error\":\"cannot reach the "
                     "master\"}\n");
    }
}

void mg_admin_handle(mg_request_t *r)
{
    bool get = r->method == HTTP_GET || r->method == HTTP_HEAD;
    if (mg_str_eq(r->path, MG_STR("/"))) {
        if (get) {
            handle_page(r);
        } else {
            respond_405(r, "GET, HEAD");
        }
        return;
    }
    if (mg_str_eq(r->path, MG_STR("/status"))) {
        if (get) {
            handle_status(r);
        } else {
            respond_405(r, "GET, HEAD");
        }
        return;
    }
    if (mg_str_eq(r->path, MG_STR("/metrics"))) {
        if (get) {
            handle_metrics(r);
        } else {
            respond_405(r, "GET, HEAD");
        }
        return;
    }
    if (mg_str_eq(r->path, MG_STR("/reload"))) {
        if (r->method != HTTP_POST) {
            respond_405(r, "POST");
            return;
        }
        handle_reload(r);
        return;
    }
    respond_json(r, 404, "{\"error\":\"not found\"}\n");
}

int mg_admin_handler(mg_request_t *r, const void *data)
{
    mg_admin_handle(r);
    return MG_DONE;
}
