/*
 * metrics.h -- what the gateway counts for GET /metrics, and the page itself.
 *
 * Per generation, mg_metrics_gen_bind() finds this worker's series of every configured
 * route (sys/metrics.h) and keeps their cells; the log handler mg_metrics_log() then
 * bumps them at the end of each request: no lookup, no lock. Label values come only
 * from the configuration (route, upstream, node, plugin and limit names); a request no
 * route matched, or a series that found no room, counts under route "_other".
 *
 * mg_metrics_render() writes the page from the sums of every worker's regions, the
 * shared stats table (connections by state, TLS, workers) and the node states.
 */
#ifndef MG_SERVER_METRICS_H
#define MG_SERVER_METRICS_H

#include "mg_core.h"

/* Cells of one route's series: requests by status class, bytes, then three latency
 * histograms (whole request, upstream, the gateway's own time), each of
 * MG_METRICS_HIST_CELLS(nbuckets) cells. */
enum {
    MG_MR_CLASS = 0, /* 5 cells: 1xx .. 5xx */
    MG_MR_BYTES_IN = 5,
    MG_MR_BYTES_OUT = 6,
    MG_MR_HIST = 7,
};

/* True when generation g counts (metrics enabled and an admin listener to read them). */
bool mg_metrics_enabled(const mg_gen_t *g);

/* Finds the worker's series for generation g (after mg_metrics_attach). MG_OK, or
 * MG_ERROR when out of memory; a no-op when g does not count. */
int mg_metrics_gen_bind(mg_gen_t *g);

/* Frees what mg_metrics_gen_bind() made (not the shared cells). */
void mg_metrics_gen_free(mg_gen_t *g);

/* The log handler: one request's figures into its route's series. */
void mg_metrics_log(mg_request_t *r);

/* The page: Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when `openmetrics`,
 * made a slice at a time so that a large one never holds the loop for long. The
 * figures are taken when the page starts (it holds a reference on the generation).
 * NULL when out of memory. */
typedef struct mg_metrics_page_s mg_metrics_page_t;
mg_metrics_page_t *mg_metrics_page_new(const mg_worker_t *w, bool openmetrics);

/* The next slice (borrowed until the next call or the free); *last on the final one.
 * NULL when out of memory. */
const char *mg_metrics_page_next(mg_metrics_page_t *p, size_t *len, bool *last);

void mg_metrics_page_free(mg_metrics_page_t *p);

/* The whole page at once (tests, tools): a malloc'd buffer of *len bytes, or NULL. */
char *mg_metrics_render(const mg_worker_t *w, bool openmetrics, size_t *len);

/* The worker's own counters (TLS handshakes, access-log drops) go to its region, so
 * that a restarted worker continues them: once, after mg_metrics_attach(). The tick
 * copies the drops in. */
void mg_metrics_worker_init(mg_worker_t *w);
void mg_metrics_worker_tick(void);

/* Sums since the master started, over every worker that ran (the live workers' only
 * when there are no regions). */
struct mg_tls_counters_s;
void mg_metrics_tls_sum(const mg_worker_t *w, struct mg_tls_counters_s *out);
uint64_t mg_metrics_log_dropped(const mg_worker_t *w);

/* The worker's tick (1 s): the gauges it keeps for its current generation (its Lua
 * memory, whether its Redis client is connected). */
void mg_metrics_tick(mg_worker_t *w);

/* Series counted by this worker's region and the ceiling, for /status. */
void mg_metrics_cardinality(size_t *series, size_t *limit);

#endif
