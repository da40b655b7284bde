/*
 * trace_export.h -- a worker's span exporter: the log handler that turns each sampled
 * request into spans (http/trace.h) and queues them, and the batches it POSTs as
 * OTLP/HTTP JSON to the `tracing.endpoint` through the outbound client.
 *
 * One exporter per worker, made with the first generation that has `tracing:` and
 * following each new one (a reload changes the endpoint, headers and bounds in place;
 * spans still queued go out with the new settings). A request never waits for it: the
 * queue is bounded, one export runs at a time, and what does not fit is dropped and
 * counted in the worker's stats slot (http/trace.h's MG_TRACE_SPANS_*).
 */
#ifndef MG_TRACE_EXPORT_H
#define MG_TRACE_EXPORT_H

#include "conf.h"
#include "mg_core.h"

/* Makes the worker's exporter, or brings its settings to `tc` (borrowed: what is kept is
 * copied). Called when a generation with `tracing:` is built for w or attached to it. */
void mg_trace_export_configure(mg_worker_t *w, const mg_tracing_conf_t *tc);

/* The log handler a generation with `tracing:` registers (after the plugins' log
 * phase, before the access log): gives every request its trace context (so the access
 * line shows the trace id), and queues the spans of a sampled one. */
void mg_trace_export_log(mg_request_t *r);

/* The worker drains and no connection is left: sends what is queued, one batch after
 * the other, within a short bound (the export timeout, at most 2 s from the first
 * call). true once nothing is left to send or the bound passed (what is left is then
 * counted as dropped); the caller polls until then. */
bool mg_trace_export_flushed(mg_worker_t *w);

/* Stops and frees the worker's exporter (its export in flight is aborted). */
void mg_trace_export_free(mg_worker_t *w);

/* The "tracing" member of /status, summed over every worker: "tracing":{...}, written
 * into buf (cap bytes, a trailing comma included). Returns the length written (cap
 * when it did not fit). */
size_t mg_trace_export_status_json(const mg_worker_t *w, char *buf, size_t cap);

/* The key of the span counters (exported, dropped, failed) in a worker's metrics
 * region (sys/metrics_store.h). */
#define MG_TRACE_METRICS_KEY "w\x1ftrace"

#endif
