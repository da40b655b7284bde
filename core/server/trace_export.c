/*
 * trace_export.c -- the worker's span exporter (trace_export.h).
 *
 *   log handler ─ a sampled request's spans, each encoded at once as OTLP JSON and
 *   │             appended to the queue (a byte buffer and the end of each span);
 *   │             dropped and counted when queue_size spans (or their byte bound) wait
 *   ├─ kick: batch_size spans waiting, or the flush timer (flush_interval) found some
 *   └─ export: the first batch_size spans wrapped in the resource and scope, POSTed on
 *              a connection of its own (the outbound client, one deadline: timeout);
 *              a 2xx answer counts them exported, anything else failed. One at a time:
 *              while it runs the queue fills, and past its bound spans are dropped.
 *
 * A process runs one worker, so the exporter is a file-level singleton like the
 * worker's own state. The collector's host is an address, `localhost`, or a name the
 * worker's resolver looks up without blocking; https goes through a TLS client
 * context of the exporter's own (verifying against the system's CA store unless
 * `tls_verify: false`). Failures are logged at warn, at most once a minute with the
 * count since the last line: a collector that is down must not flood the error log.
 */
#include "trace_export.h"

#include "gen.h"
#include "http_client.h"
#include "log.h"
#include "metrics_store.h"
#include "resolver.h"
#include "tls.h"
#include "trace.h"
#include "worker.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define WARN_EVERY 60.0     /* one warning a minute at most */
#define FLUSH_BOUND 2.0     /* what a draining worker waits for its last batches */
#define SPAN_BYTES_AVG 4096 /* the queue's byte bound per span of queue_size */
#define QUEUE_BYTES_MAX (64u << 20)
#define RBUF_SIZE 4096 /* the collector's answer head */
#define MAX_HEADERS 18 /* Content-Type, User-Agent and 16 of the operator's */

typedef struct {
    /* settings, copied from the last generation with `tracing:` */
    char *endpoint;
    mg_http_url_t url; /* views into endpoint */
    char *service;
    mg_header_t hdrs[MAX_HEADERS];
    size_t nhdrs;
    char *hdr_mem;
    int batch_size, queue_size;
    double flush_interval, timeout;
    bool tls_verify;
    mg_tls_client_t *tls_client; /* https only */
    char tls_name[256];

    /* the queue: span objects, each followed by a ',' */
    char *q;
    size_t qlen, qcap, qmax;
    uint32_t *ends; /* end of each span in q (after its ','), capacity ncap */
    size_t nq, ncap;

    /* the export in flight */
    bool busy;
    size_t inflight; /* spans in it */
    char *req;
    size_t req_len;
    int status;
    char why[128];
    mg_resolver_query_t *rq;
    uint16_t port;         /* what the export connects to, kept apart from the */
    mg_upstream_tls_t tls; /* settings: a reload may change them meanwhile */
    char sni[256];
    mg_tls_client_t *tls_retired; /* a context the settings dropped while it was in use */
    mg_http_client_t cl;
    char rbuf[RBUF_SIZE];

    mg_worker_t *w;
    ev_timer flush_timer; /* flush_interval */
    ev_timer kick_timer;  /* 0 s: the next export, from the loop */
    double drain_until;   /* 0 until the worker drains */
    uint64_t stat[MG_TRACE_STATS_N];
    uint64_t *cells; /* the counters in the worker's metrics region (exported, dropped,
                      * failed), which a restarted worker in the slot goes on from */
    uint64_t base[MG_TRACE_SPANS_QUEUED];
    double warned_at;
    uint64_t unlogged; /* spans failed or dropped since the last warning */
} exporter_t;

static exporter_t *E;

static void stats_store(exporter_t *e)
{
    e->stat[MG_TRACE_SPANS_QUEUED] = e->nq;
    if (e->w == NULL || e->w->stats == NULL) {
        return;
    }
    for (int i = 0; i < MG_TRACE_STATS_N; i++) {
        __atomic_store_n(&e->w->stats->trace[i], e->stat[i], __ATOMIC_RELAXED);
    }
    for (int i = 0; e->cells != NULL && i < MG_TRACE_SPANS_QUEUED; i++) {
        mg_metrics_set(&e->cells[i], e->base[i] + e->stat[i]);
    }
}

static void warn(exporter_t *e, uint64_t spans, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A warning about spans lost, at most once a minute with the count since the last. */
static void warn(exporter_t *e, uint64_t spans, const char *fmt, ...)
{
    double now = ev_now(e->w->loop);
    e->unlogged += spans;
    if (e->warned_at != 0 && now - e->warned_at < WARN_EVERY) {
        return;
    }
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mg_log_warn("tracing: %s; %llu span(s) lost since the last warning (collector %s)", msg,
                (unsigned long long)e->unlogged, e->endpoint != NULL ? e->endpoint : "unset");
    e->warned_at = now;
    e->unlogged = 0;
}

/* ---- settings ---- */

static bool settings_same(const exporter_t *e, const mg_tracing_conf_t *tc)
{
    if (strcmp(e->endpoint, tc->endpoint) != 0 || strcmp(e->service, tc->service_name) != 0 ||
        e->batch_size != tc->batch_size || e->queue_size != tc->queue_size ||
        e->flush_interval != tc->flush_interval || e->timeout != tc->timeout ||
        e->tls_verify != tc->tls_verify || e->nhdrs != tc->nheaders + 2) {
        return false;
    }
    for (size_t i = 0; i < tc->nheaders; i++) {
        const mg_header_t *h = &e->hdrs[i + 2];
        if (!mg_str_eq(h->name, mg_str(tc->header_names[i], strlen(tc->header_names[i]))) ||
            !mg_str_eq(h->value, mg_str(tc->header_values[i], strlen(tc->header_values[i])))) {
            return false;
        }
    }
    return true;
}

static void settings_free(exporter_t *e)
{
    free(e->endpoint);
    free(e->service);
    free(e->hdr_mem);
    if (e->busy && e->tls_client != NULL) {
        mg_tls_client_free(e->tls_retired);
        e->tls_retired = e->tls_client; /* the export in flight still speaks through it */
    } else {
        mg_tls_client_free(e->tls_client);
    }
    e->endpoint = e->service = e->hdr_mem = NULL;
    e->tls_client = NULL;
}

/* The export's headers: ours, then the operator's, copied into one allocation. */
static int headers_copy(exporter_t *e, const mg_tracing_conf_t *tc)
{
    size_t bytes = 0;
    for (size_t i = 0; i < tc->nheaders; i++) {
        bytes += strlen(tc->header_names[i]) + strlen(tc->header_values[i]);
    }
    e->hdr_mem = malloc(bytes ? bytes : 1);
    if (e->hdr_mem == NULL) {
        return MG_ERROR;
    }
    e->hdrs[0] = (mg_header_t){MG_STR("Content-Type"), MG_STR("application/json")};
    e->hdrs[1] = (mg_header_t){MG_STR("User-Agent"), MG_STR("moongate/" MG_VERSION)};
    char *p = e->hdr_mem;
    for (size_t i = 0; i < tc->nheaders && i + 2 < MAX_HEADERS; i++) {
        size_t nl = strlen(tc->header_names[i]), vl = strlen(tc->header_values[i]);
        memcpy(p, tc->header_names[i], nl);
        memcpy(p + nl, tc->header_values[i], vl);
        e->hdrs[i + 2] = (mg_header_t){mg_str(p, nl), mg_str(p + nl, vl)};
        p += nl + vl;
    }
    e->nhdrs = MG_MIN(tc->nheaders, (size_t)MAX_HEADERS - 2) + 2;
    return MG_OK;
}

/* https: a client context, and the name the certificate must carry. */
static int tls_setup(exporter_t *e)
{
    if (!mg_str_eq(e->url.scheme, MG_STR("https"))) {
        return MG_OK;
    }
    mg_upstream_tls_conf_t c = {.on = true, .verify = e->tls_verify};
    mg_conf_err_t cerr;
    e->tls_client = mg_tls_client_new(NULL, &c, &cerr);
    if (e->tls_client == NULL) {
        mg_log_err("tracing: no TLS client context for %s: %s", e->endpoint, cerr.msg);
        return MG_ERROR;
    }
    size_t n = MG_MIN(e->url.host.len, sizeof(e->tls_name) - 1);
    memcpy(e->tls_name, e->url.host.p, n);
    e->tls_name[n] = '\0';
    return MG_OK;
}

static int settings_take(exporter_t *e, const mg_tracing_conf_t *tc)
{
    settings_free(e);
    e->endpoint = strdup(tc->endpoint);
    e->service = strdup(tc->service_name);
    if (e->endpoint == NULL || e->service == NULL || headers_copy(e, tc) != MG_OK) {
        return MG_ERROR;
    }
    const char *bad = mg_http_url_parse(mg_str(e->endpoint, strlen(e->endpoint)), &e->url);
    if (bad != NULL) {
        mg_log_err("tracing: endpoint %s: %s", e->endpoint, bad);
        return MG_ERROR;
    }
    e->batch_size = tc->batch_size;
    e->queue_size = tc->queue_size;
    e->flush_interval = tc->flush_interval;
    e->timeout = tc->timeout;
    e->tls_verify = tc->tls_verify;
    size_t ncap = MG_MAX((size_t)tc->queue_size, e->nq);
    uint32_t *ends = realloc(e->ends, ncap * sizeof(*ends));
    if (ends == NULL) {
        return MG_ERROR;
    }
    e->ends = ends;
    e->ncap = ncap;
    e->qmax = MG_MAX(MG_MIN((size_t)tc->queue_size * SPAN_BYTES_AVG, (size_t)QUEUE_BYTES_MAX),
                     (size_t)65536);
    return tls_setup(e);
}

/* ---- the export ---- */

static void export_end(exporter_t *e, bool ok)
{
    if (ok) {
        e->stat[MG_TRACE_SPANS_EXPORTED] += e->inflight;
    } else {
        e->stat[MG_TRACE_SPANS_FAILED] += e->inflight;
    }
    e->inflight = 0;
    mg_resolver_cancel(e->rq);
    e->rq = NULL;
    mg_tls_client_free(e->tls_retired);
    e->tls_retired = NULL;
    free(e->req);
    e->req = NULL;
    e->req_len = 0;
    e->busy = false;
    stats_store(e);
    if (e->nq >= (size_t)e->batch_size || (e->drain_until > 0 && e->nq > 0)) {
        ev_timer_start(e->w->loop, &e->kick_timer); /* the next batch, from the loop */
    }
}

static void export_failed(exporter_t *e, const char *why)
{
    uint64_t n = e->inflight;
    export_end(e, false);
    warn(e, n, "an export of %llu span(s) failed: %s", (unsigned long long)n, why);
}

static int on_head(mg_http_client_t *cl, mg_http_client_head_t *h)
{
    exporter_t *e = cl->data;
    e->status = h->head.status;
    if (h->head.status < 200 || h->head.status > 299) {
        snprintf(e->why, sizeof(e->why), "the collector answered HTTP %d", h->head.status);
        return MG_ERROR;
    }
    return MG_OK;
}

static int on_body(mg_http_client_t *cl, const char *data, size_t len)
{
    return MG_OK; /* an ExportTraceServiceResponse: nothing we act on */
}

static void on_done(mg_http_client_t *cl)
{
    export_end(cl->data, true);
}

static void on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    exporter_t *e = cl->data;
    char msg[200];
    if (err == MG_HTTP_CLIENT_ERR_REFUSED && e->why[0] != '\0') {
        snprintf(msg, sizeof(msg), "%s", e->why);
    } else if (err == MG_HTTP_CLIENT_ERR_TIMEOUT || err == MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT) {
        snprintf(msg, sizeof(msg), "no answer within %g s", e->timeout);
    } else {
        snprintf(msg, sizeof(msg), "%s%s%s", mg_http_client_err_name(err), why ? ": " : "",
                 why ? why : "");
    }
    export_failed(e, msg);
}

static const mg_http_client_ops_t export_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
    .on_error = on_error,
};

static void connect_to(exporter_t *e, const struct sockaddr_storage *ss)
{
    struct sockaddr_storage a = *ss;
    socklen_t sl;
    if (a.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&a)->sin6_port = htons(e->port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)&a)->sin_port = htons(e->port);
        sl = sizeof(struct sockaddr_in);
    }
    mg_http_client_start_addr(&e->cl, (struct sockaddr *)&a, sl, e->req, e->req_len, NULL);
}

static void on_resolved(void *arg, const mg_resolver_answer_t *a)
{
    exporter_t *e = arg;
    e->rq = NULL;
    if (a->naddrs == 0) {
        export_failed(e, a->err != NULL ? a->err : "host not found");
        return;
    }
    connect_to(e, &a->addrs[0]);
}

/* Connects at once to an address or localhost, else looks the host up. NULL, or why it
 * cannot start. */
static const char *resolve_and_connect(exporter_t *e)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (mg_http_url_addr(&e->url, &ss, &sl) == NULL) {
        connect_to(e, &ss);
        return NULL;
    }
    char name[MG_RESOLVER_NAME_MAX + 2];
    if (e->w->resolver == NULL) {
        return "no resolver for the collector's host name";
    }
    if (e->url.host.len >= sizeof(name)) {
        return "the collector's host name is too long";
    }
    memcpy(name, e->url.host.p, e->url.host.len);
    name[e->url.host.len] = '\0';
    mg_resolver_answer_t now;
    e->rq = mg_resolver_resolve(e->w->resolver, name, AF_UNSPEC, e->timeout, on_resolved, e, &now);
    if (e->rq == NULL && now.naddrs == 0) {
        return now.err != NULL ? now.err : "host not found";
    }
    if (e->rq == NULL) {
        connect_to(e, &now.addrs[0]);
    }
    return NULL;
}

/* The request of the first k spans: head, then the body in one allocation. */
static int build_request(exporter_t *e, size_t k)
{
    size_t spans = e->ends[k - 1] - 1; /* without the last span's ',' */
    size_t open = mg_trace_otlp_open(e->service, NULL, 0);
    size_t close = sizeof(MG_TRACE_OTLP_CLOSE) - 1;
    size_t blen = open + spans + close;
    mg_http_client_req_t q = {
        .method = MG_STR("POST"),
        .path = e->url.target,
        .host = e->url.authority,
        .extra = e->hdrs,
        .nextra = e->nhdrs,
        .content_length = (int64_t)blen,
        .close = true,
    };
    size_t hsize = mg_http_client_head_size(&q);
    e->req = malloc(hsize + blen);
    if (e->req == NULL) {
        return MG_ERROR;
    }
    size_t n = mg_http_client_head_build(&q, e->req);
    n += mg_trace_otlp_open(e->service, e->req + n, open);
    memcpy(e->req + n, e->q, spans);
    n += spans;
    memcpy(e->req + n, MG_TRACE_OTLP_CLOSE, close);
    e->req_len = n + close;
    return MG_OK;
}

/* Takes the first k spans off the queue. */
static void queue_shift(exporter_t *e, size_t k)
{
    uint32_t cut = e->ends[k - 1];
    memmove(e->q, e->q + cut, e->qlen - cut);
    e->qlen -= cut;
    for (size_t i = k; i < e->nq; i++) {
        e->ends[i - k] = e->ends[i] - cut;
    }
    e->nq -= k;
}

static void export_start(exporter_t *e)
{
    if (e->busy || e->nq == 0 || e->endpoint == NULL) {
        return; /* (no settings: a generation's could not be taken; spans wait) */
    }
    size_t k = MG_MIN(e->nq, (size_t)e->batch_size);
    if (build_request(e, k) != MG_OK) {
        e->stat[MG_TRACE_SPANS_DROPPED] += k;
        queue_shift(e, k);
        stats_store(e);
        warn(e, k, "out of memory for an export of %zu span(s)", k);
        return;
    }
    queue_shift(e, k);
    e->busy = true;
    e->inflight = k;
    e->status = 0;
    e->why[0] = '\0';
    stats_store(e);
    mg_http_client_dispose(&e->cl); /* the last export's head may have grown its array */
    mg_http_client_init(&e->cl, e->w->loop, &export_ops, e, e->rbuf, sizeof(e->rbuf));
    e->cl.weak = true;
    e->cl.total_timeout = e->timeout;
    e->port = e->url.port;
    e->cl.tls = NULL;
    if (e->tls_client != NULL) {
        memcpy(e->sni, e->tls_name, sizeof(e->sni));
        e->tls = (mg_upstream_tls_t){.client = e->tls_client, .sni = e->sni};
        e->cl.tls = &e->tls;
    }
    const char *bad = resolve_and_connect(e);
    if (bad != NULL) {
        export_failed(e, bad);
    }
}

static void on_flush_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    export_start(E);
}

static void on_kick(struct ev_loop *loop, ev_timer *t, int revents)
{
    export_start(E);
}

/* ---- the queue ---- */

/* Appends one span (encoded at once: the request's memory goes with it). */
static void enqueue(exporter_t *e, const mg_trace_span_t *s)
{
    if (e->nq >= (size_t)e->queue_size) {
        e->stat[MG_TRACE_SPANS_DROPPED]++;
        warn(e, 1, "the queue is full (%d spans): spans are dropped", e->queue_size);
        return;
    }
    size_t room = e->qcap - e->qlen;
    size_t n = mg_trace_span_json(s, e->q != NULL ? e->q + e->qlen : NULL, room);
    if (n + 1 > room) {
        size_t cap = MG_MAX(e->qcap * 2, e->qlen + n + 1);
        cap = MG_MAX(cap, (size_t)65536);
        char *q = e->qlen + n + 1 <= e->qmax ? realloc(e->q, MG_MIN(cap, e->qmax)) : NULL;
        if (q == NULL) {
            e->stat[MG_TRACE_SPANS_DROPPED]++;
            warn(e, 1, "the queue is full (%zu bytes): spans are dropped", e->qlen);
            return;
        }
        e->q = q;
        e->qcap = MG_MIN(cap, e->qmax);
        mg_trace_span_json(s, e->q + e->qlen, n);
    }
    e->q[e->qlen + n] = ',';
    e->qlen += n + 1;
    e->ends[e->nq++] = (uint32_t)e->qlen;
}

void mg_trace_export_log(mg_request_t *r)
{
    mg_trace_req_t *t = mg_trace_begin(r);
    exporter_t *e = E;
    if (t == NULL || !t->sampled || e == NULL || e->endpoint == NULL) {
        return;
    }
    static mg_trace_spans_t sp; /* one worker thread: no need for a stack this size */
    size_t n = mg_trace_request_spans(r, ev_now(r->worker->loop), &sp);
    for (size_t i = 0; i < n; i++) {
        enqueue(e, &sp.span[i]);
    }
    stats_store(e);
    if (!e->busy && e->nq >= (size_t)e->batch_size && !ev_is_active(&e->kick_timer)) {
        ev_timer_start(e->w->loop, &e->kick_timer);
    }
}

/* ---- lifetime ---- */

void mg_trace_export_configure(mg_worker_t *w, const mg_tracing_conf_t *tc)
{
    exporter_t *e = E;
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL) {
            mg_log_err("tracing: out of memory, no spans from this worker");
            return;
        }
        e->w = w;
        mg_http_client_init(&e->cl, w->loop, &export_ops, e, e->rbuf, sizeof(e->rbuf));
        ev_timer_init(&e->flush_timer, on_flush_timer, tc->flush_interval, tc->flush_interval);
        ev_timer_init(&e->kick_timer, on_kick, 0., 0.);
        e->cells = mg_metrics_series(MG_STR(MG_TRACE_METRICS_KEY), MG_TRACE_SPANS_QUEUED, 0);
        for (int i = 0; e->cells != NULL && i < MG_TRACE_SPANS_QUEUED; i++) {
            e->base[i] = __atomic_load_n(&e->cells[i], __ATOMIC_RELAXED);
        }
        E = e;
    } else if (e->endpoint != NULL && settings_same(e, tc)) {
        return;
    }
    e->w = w;
    if (settings_take(e, tc) != MG_OK) {
        settings_free(e); /* spans are not queued until a generation's settings work */
        mg_log_err("tracing: cannot use the settings of this generation, no spans are queued");
        return;
    }
    ev_timer_stop(w->loop, &e->flush_timer);
    ev_timer_set(&e->flush_timer, tc->flush_interval, tc->flush_interval);
    ev_timer_start(w->loop, &e->flush_timer);
    stats_store(e);
}

bool mg_trace_export_flushed(mg_worker_t *w)
{
    exporter_t *e = E;
    if (e == NULL || (!e->busy && e->nq == 0)) {
        return true;
    }
    double now = ev_now(w->loop);
    if (e->drain_until == 0) {
        e->drain_until = now + MG_MIN(e->timeout, FLUSH_BOUND);
    }
    if (now >= e->drain_until || e->endpoint == NULL) {
        uint64_t lost = e->nq + e->inflight;
        mg_http_client_abort(&e->cl);
        if (e->busy) {
            export_end(e, false);
        }
        e->stat[MG_TRACE_SPANS_DROPPED] += e->nq;
        e->nq = e->qlen = 0;
        stats_store(e);
        if (lost > 0) {
            mg_log_warn("tracing: %llu span(s) not sent before the worker's exit",
                        (unsigned long long)lost);
        }
        return true;
    }
    export_start(e);
    return false;
}

void mg_trace_export_free(mg_worker_t *w)
{
    exporter_t *e = E;
    if (e == NULL) {
        return;
    }
    E = NULL;
    mg_resolver_cancel(e->rq);
    mg_http_client_dispose(&e->cl);
    ev_timer_stop(w->loop, &e->flush_timer);
    ev_timer_stop(w->loop, &e->kick_timer);
    e->busy = false;
    settings_free(e);
    mg_tls_client_free(e->tls_retired);
    free(e->req);
    free(e->q);
    free(e->ends);
    free(e);
}

/* ---- /status ---- */

size_t mg_trace_export_status_json(const mg_worker_t *w, char *buf, size_t cap)
{
    uint64_t sum[MG_TRACE_STATS_N] = {0};
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        const mg_worker_stats_t *s = &w->all_stats[i];
        if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0) {
            continue;
        }
        for (int k = 0; k < MG_TRACE_STATS_N; k++) {
            sum[k] += __atomic_load_n(&s->trace[k], __ATOMIC_RELAXED);
        }
    }
    int n = snprintf(buf, cap,
                     "\"tracing\":{\"enabled\":%s,\"exported\":%llu,\"dropped\":%llu,"
                     "\"failed\":%llu,\"queued\":%llu},",
                     w->gen->conf->tracing != NULL ? "true" : "false",
                     (unsigned long long)sum[MG_TRACE_SPANS_EXPORTED],
                     (unsigned long long)sum[MG_TRACE_SPANS_DROPPED],
                     (unsigned long long)sum[MG_TRACE_SPANS_FAILED],
                     (unsigned long long)sum[MG_TRACE_SPANS_QUEUED]);
    return n < 0 || (size_t)n >= cap ? cap : (size_t)n;
}
