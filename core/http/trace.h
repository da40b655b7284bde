/*
 * trace.h -- OpenTelemetry tracing without sockets: W3C Trace Context (traceparent,
 * tracestate), ids and the parent-based sampling decision, a request's trace context
 * and the spans it makes, and their OTLP/HTTP JSON encoding. The exporter that queues
 * the spans and POSTs them to a collector is server/trace_export.h; the proxy only asks
 * here for the headers it sends upstream.
 *
 * A request with a trace context has r->trace and r->trace_id set (mg_trace_begin()):
 * every request of a generation with a `tracing:` block, sampled or not. Without the
 * block nothing here runs for a request.
 */
#ifndef MG_TRACE_H
#define MG_TRACE_H

#include "http.h"
#include "mg_core.h"

#define MG_TRACE_ID_SIZE 16     /* bytes of a trace id (32 hex digits) */
#define MG_TRACE_SPAN_ID_SIZE 8 /* bytes of a span id (16 hex digits) */
#define MG_TRACEPARENT_LEN 55   /* "00-" trace id "-" span id "-" flags */
#define MG_TRACESTATE_MAX 512   /* bytes of tracestate kept; whole members past it go */
#define MG_TRACE_ATTR_MAX 1024  /* bytes of a string attribute kept */

/* The outcome of each span of a worker, counted in mg_worker_stats_t.trace[] (relaxed
 * atomic stores by the worker, read by /status and the metrics). */
enum {
    MG_TRACE_SPANS_EXPORTED = 0, /* accepted by the collector (a 2xx answer) */
    MG_TRACE_SPANS_DROPPED,      /* never sent: the queue was full (collector slow or down) */
    MG_TRACE_SPANS_FAILED,       /* sent in a batch that failed: no connection, timeout,
                                  * an answer other than 2xx */
    MG_TRACE_SPANS_QUEUED,       /* waiting in the queue now (a gauge, not a counter) */
    MG_TRACE_STATS_N
};

/* Span kinds (OTLP's numbers). */
#define MG_TRACE_KIND_INTERNAL 1
#define MG_TRACE_KIND_SERVER 2
#define MG_TRACE_KIND_CLIENT 3

/* ---- W3C Trace Context ---- */

/* A parsed traceparent header. */
typedef struct {
    uint8_t trace_id[MG_TRACE_ID_SIZE];
    uint8_t parent_id[MG_TRACE_SPAN_ID_SIZE];
    uint8_t flags; /* bit 0: sampled */
} mg_traceparent_t;

/* Parses a traceparent value (surrounding spaces allowed): version 00 is exactly
 * "00-<32 hex>-<16 hex>-<2 hex>", lower-case hex, neither id all zeros; a later version
 * (not ff) is read by its first 55 bytes, followed by nothing or '-'. true when valid. */
bool mg_trace_parse_parent(mg_str_t v, mg_traceparent_t *out);

/* Writes "00-<trace id>-<span id>-<01|00>" (MG_TRACEPARENT_LEN bytes, no NUL) to out. */
void mg_trace_format_parent(const uint8_t *trace_id, const uint8_t *span_id, bool sampled,
                            char *out);

/* The part of a tracestate value (the client's headers joined by ',') to pass on: the
 * value without surrounding spaces when every member is `key=value` as W3C writes them,
 * with whole members cut from the end past MG_TRACESTATE_MAX bytes or 32 members; empty
 * when a member is malformed. A view into v. */
mg_str_t mg_trace_state_bound(mg_str_t v);

/* Lower-case hex of n bytes into out (2n bytes, no NUL). */
void mg_trace_hex(const uint8_t *b, size_t n, char *out);

/* ---- ids and sampling ---- */

/* 64 random bits from this process's generator (xoshiro256**), seeded from getrandom()
 * at first use and again in a forked child. Fast, not for secrets. */
uint64_t mg_trace_random(void);

/* n random bytes, never all zero (the zero id is invalid). */
void mg_trace_new_id(uint8_t *out, size_t n);

/* The parent-based decision: a parent's sampled flag wins either way; without a
 * parent, `rnd` (uniform 64 bits) falls under `ratio` (0 never, 1 always). */
bool mg_trace_sample(const mg_traceparent_t *parent, double ratio, uint64_t rnd);

/* ---- a request's trace context ---- */

/* Lives in the request pool. */
struct mg_trace_req_s {
    uint8_t trace_id[MG_TRACE_ID_SIZE];
    uint8_t span_id[MG_TRACE_SPAN_ID_SIZE];   /* the gateway's SERVER span */
    uint8_t parent_id[MG_TRACE_SPAN_ID_SIZE]; /* the client's span, when has_parent */
    bool has_parent;
    bool sampled;
    mg_str_t state;                       /* tracestate passed on, or empty */
    char trace_hex[2 * MG_TRACE_ID_SIZE]; /* what r->trace_id shows */
    /* each kept try's CLIENT span */
    uint8_t try_ids[MG_HTTP_MAX_TRIES][MG_TRACE_SPAN_ID_SIZE];
    char parent_value[MG_TRACEPARENT_LEN]; /* the traceparent sent upstream */
};
typedef struct mg_trace_req_s mg_trace_req_t;

/* The request's trace context, made on the first call: the client's valid traceparent
 * continued (its tracestate kept), else a new trace; sampled as mg_trace_sample() says
 * with the generation's sample_ratio. Sets r->trace and r->trace_id. NULL when the
 * request's generation has no `tracing:` (or out of memory). */
mg_trace_req_t *mg_trace_begin(mg_request_t *r);

/* True for the headers the gateway writes itself upstream when tracing is on
 * (traceparent, tracestate): the client's are never passed on as they came. */
bool mg_trace_header_owned(mg_str_t name);

/* The headers to send upstream (at most 2: traceparent, then tracestate when the
 * client sent one) into out; their values live in r's trace context. The traceparent's
 * span id is a placeholder until mg_trace_try_begin() writes each try's. Returns how
 * many, 0 without a trace context. */
size_t mg_trace_upstream_headers(mg_request_t *r, mg_header_t *out);

/* Where the traceparent value of an upstream head (len bytes, built with the headers
 * above) is, NULL when it has none. */
char *mg_trace_find_parent(char *head, size_t len);

/* A new try (index `i`, from 0) goes upstream: makes its span id (the CLIENT span's
 * when kept) and writes it into the traceparent value at `value` (MG_TRACEPARENT_LEN
 * bytes inside the head). */
void mg_trace_try_begin(mg_request_t *r, unsigned i, char *value);

/* ---- spans ---- */

typedef struct {
    const char *key;
    mg_str_t str; /* a string value (cut at MG_TRACE_ATTR_MAX bytes) ... */
    int64_t num;  /* ... or an integer one, when is_num */
    bool is_num;
} mg_trace_attr_t;

typedef struct {
    uint8_t trace_id[MG_TRACE_ID_SIZE];
    uint8_t span_id[MG_TRACE_SPAN_ID_SIZE];
    uint8_t parent_id[MG_TRACE_SPAN_ID_SIZE];
    bool has_parent;
    mg_str_t state; /* W3C tracestate of the span, or empty */
    mg_str_t name;
    int kind;          /* MG_TRACE_KIND_* */
    double start, end; /* epoch seconds */
    bool error;        /* status ERROR (else unset) */
    const mg_trace_attr_t *attrs;
    size_t nattrs;
} mg_trace_span_t;

#define MG_TRACE_REQ_SPANS (1 + MG_LOG_PLUGIN_PHASES + MG_HTTP_MAX_TRIES)
#define MG_TRACE_SPAN_ATTRS 16

/* The spans of one request, made by mg_trace_request_spans(); views into the request
 * and its configuration, valid while they are. */
typedef struct {
    mg_trace_span_t span[MG_TRACE_REQ_SPANS];
    mg_trace_attr_t attr[MG_TRACE_REQ_SPANS][MG_TRACE_SPAN_ATTRS];
    char name[MG_TRACE_REQ_SPANS][64]; /* span names made here */
    char code[MG_TRACE_REQ_SPANS][8];  /* error.type as a status code */
    size_t n;
} mg_trace_spans_t;

/* The spans of a sampled request that ended at `end` (epoch seconds): the SERVER span
 * over the whole request (its parent the client's span), an INTERNAL span per plugin
 * phase that ran, a CLIENT span per kept upstream try; attributes after the
 * OpenTelemetry HTTP conventions. Returns out->n: 0 for a request without a sampled
 * trace context. */
size_t mg_trace_request_spans(const mg_request_t *r, double end, mg_trace_spans_t *out);

/* ---- OTLP/HTTP JSON ---- */

/* One span as an OTLP JSON object (ids as lower-case hex, times as decimal strings of
 * nanoseconds, kind as a number, attributes as {key, value: {stringValue | intValue}},
 * strings escaped and made valid UTF-8). Writes into buf only when it fits in cap;
 * returns the length needed either way. */
size_t mg_trace_span_json(const mg_trace_span_t *s, char *buf, size_t cap);

/* What comes before the spans of an export body ({"resourceSpans":[{"resource":...,
 * "scopeSpans":[{"scope":...,"spans":[), with the resource's service.name and
 * service.version. Same contract as mg_trace_span_json(). */
size_t mg_trace_otlp_open(const char *service_name, char *buf, size_t cap);

/* ... and what closes it. */
#define MG_TRACE_OTLP_CLOSE "]}]}]}"

/* A whole export body for n spans (for tests and small batches). Same contract. */
size_t mg_trace_otlp_json(const mg_trace_span_t *spans, size_t n, const char *service_name,
                          char *buf, size_t cap);

#endif
