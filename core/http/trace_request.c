/*
 * trace_request.c -- a request's trace context and spans (trace.h): the client's W3C
 * trace context continued or a new trace started, the sampling decision made once per
 * request with its generation's `tracing:`, the traceparent each upstream try carries,
 * and at the end the request's spans with the OpenTelemetry HTTP attributes.
 *
 * Everything is made on demand: the proxy asks for the upstream headers, the
 * exporter's log handler for the spans, a plugin for the trace id. A generation
 * without `tracing:` never gets here.
 */
#include "trace.h"

#include "conf.h"
#include "http_conn_int.h"
#include "gen.h"
#include "pool.h"

#include <stdio.h>

#define MAX_STATE_HEADERS 8

/* ---- the context ---- */

static bool name_is(mg_str_t name, mg_str_t want)
{
    return mg_str_caseeq(name, want);
}

/* The client's traceparent when it sent exactly one valid header. */
static bool client_parent(const mg_request_t *r, mg_traceparent_t *out)
{
    const mg_header_t *found = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (name_is(r->headers[i].name, MG_STR("traceparent"))) {
            if (found != NULL) {
                return false; /* two: which one is true cannot be told */
            }
            found = &r->headers[i];
        }
    }
    return found != NULL && mg_trace_parse_parent(found->value, out);
}

/* The client's tracestate headers joined by ',' (as HTTP combines field lines), bounded
 * and copied into the request pool; empty when absent or malformed. */
static mg_str_t client_state(const mg_request_t *r)
{
    char buf[MG_TRACESTATE_MAX * 2];
    size_t len = 0, n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const mg_header_t *h = &r->headers[i];
        if (!name_is(h->name, MG_STR("tracestate")) || h->value.len == 0) {
            continue;
        }
        if (++n > MAX_STATE_HEADERS || len + 1 + h->value.len > sizeof(buf)) {
            break; /* what is past the bound would be cut anyway */
        }
        if (len > 0) {
            buf[len++] = ',';
        }
        memcpy(buf + len, h->value.p, h->value.len);
        len += h->value.len;
    }
    mg_str_t s = mg_trace_state_bound(mg_str(buf, len));
    if (s.len == 0) {
        return MG_NULL_STR;
    }
    char *copy = mg_pool_strndup(r->pool, s.p, s.len);
    return copy != NULL ? mg_str(copy, s.len) : MG_NULL_STR;
}

mg_trace_req_t *mg_trace_begin(mg_request_t *r)
{
    if (r->trace != NULL) {
        return r->trace;
    }
    const mg_tracing_conf_t *tc = r->gen != NULL ? r->gen->conf->tracing : NULL;
    if (tc == NULL || (r->conn != NULL && r->conn->admin)) {
        return NULL; /* the admin API is not the traffic being traced */
    }
    mg_trace_req_t *t = mg_pool_calloc(r->pool, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    mg_traceparent_t parent;
    if (client_parent(r, &parent)) {
        memcpy(t->trace_id, parent.trace_id, sizeof(t->trace_id));
        memcpy(t->parent_id, parent.parent_id, sizeof(t->parent_id));
        t->has_parent = true;
        t->sampled = mg_trace_sample(&parent, tc->sample_ratio, 0);
        t->state = client_state(r);
    } else {
        /* an invalid or absent parent: a trace of our own (its tracestate goes too) */
        mg_trace_new_id(t->trace_id, sizeof(t->trace_id));
        t->sampled = mg_trace_sample(NULL, tc->sample_ratio, mg_trace_random());
    }
    mg_trace_new_id(t->span_id, sizeof(t->span_id));
    mg_trace_hex(t->trace_id, sizeof(t->trace_id), t->trace_hex);
    r->trace = t;
    r->trace_id = mg_str(t->trace_hex, sizeof(t->trace_hex));
    return t;
}

/* ---- upstream ---- */

bool mg_trace_header_owned(mg_str_t name)
{
    return (name.len == 11 && name_is(name, MG_STR("traceparent"))) ||
           (name.len == 10 && name_is(name, MG_STR("tracestate")));
}

size_t mg_trace_upstream_headers(mg_request_t *r, mg_header_t *out)
{
    mg_trace_req_t *t = mg_trace_begin(r);
    if (t == NULL) {
        return 0;
    }
    /* the span id is each try's, written by mg_trace_try_begin() */
    mg_trace_format_parent(t->trace_id, t->span_id, t->sampled, t->parent_value);
    out[0] = (mg_header_t){MG_STR("traceparent"), mg_str(t->parent_value, MG_TRACEPARENT_LEN)};
    if (t->state.len == 0) {
        return 1;
    }
    out[1] = (mg_header_t){MG_STR("tracestate"), t->state};
    return 2;
}

char *mg_trace_find_parent(char *head, size_t len)
{
    static const char line[] = "\r\ntraceparent: ";
    char *p = memmem(head, len, line, sizeof(line) - 1);
    if (p == NULL || (size_t)(p - head) + sizeof(line) - 1 + MG_TRACEPARENT_LEN > len) {
        return NULL;
    }
    return p + sizeof(line) - 1;
}

void mg_trace_try_begin(mg_request_t *r, unsigned i, char *value)
{
    mg_trace_req_t *t = r->trace;
    if (t == NULL || value == NULL) {
        return;
    }
    uint8_t id[MG_TRACE_SPAN_ID_SIZE];
    mg_trace_new_id(id, sizeof(id));
    if (i < MG_HTTP_MAX_TRIES) {
        memcpy(t->try_ids[i], id, sizeof(id));
    }
    mg_trace_hex(id, sizeof(id), value + 36);
}

/* ---- spans ---- */

static const char *const phase_names[MG_LOG_PLUGIN_PHASES] = {
    "rewrite", "access", "balancer", "header_filter", "body_filter", "log",
};

static mg_trace_span_t *span_add(const mg_trace_req_t *t, mg_trace_spans_t *out, int kind,
                                 double start, double end)
{
    size_t i = out->n++;
    mg_trace_span_t *s = &out->span[i];
    *s = (mg_trace_span_t){.kind = kind, .start = start, .end = end, .attrs = out->attr[i]};
    memcpy(s->trace_id, t->trace_id, sizeof(s->trace_id));
    if (kind == MG_TRACE_KIND_SERVER) {
        memcpy(s->span_id, t->span_id, sizeof(s->span_id));
        memcpy(s->parent_id, t->parent_id, sizeof(s->parent_id));
        s->has_parent = t->has_parent;
        s->state = t->state;
    } else {
        memcpy(s->parent_id, t->span_id, sizeof(s->parent_id));
        s->has_parent = true;
        if (kind == MG_TRACE_KIND_INTERNAL) {
            mg_trace_new_id(s->span_id, sizeof(s->span_id)); /* a CLIENT's is its try's */
        }
    }
    return s;
}

static void attr_str(mg_trace_spans_t *out, mg_trace_span_t *s, const char *key, mg_str_t v)
{
    if (v.len > 0 && s->nattrs < MG_TRACE_SPAN_ATTRS) {
        mg_trace_attr_t *a = &out->attr[s - out->span][s->nattrs++];
        *a = (mg_trace_attr_t){.key = key, .str = v};
    }
}

static void attr_num(mg_trace_spans_t *out, mg_trace_span_t *s, const char *key, int64_t v)
{
    if (s->nattrs < MG_TRACE_SPAN_ATTRS) {
        mg_trace_attr_t *a = &out->attr[s - out->span][s->nattrs++];
        *a = (mg_trace_attr_t){.key = key, .num = v, .is_num = true};
    }
}

/* "host", "host:port", "[v6]", "[v6]:port" into the host (without brackets) and the
 * port (0 when none or not a number). */
static mg_str_t split_host(mg_str_t a, int *port)
{
    mg_str_t host = a;
    const char *colon = NULL;
    *port = 0;
    if (a.len == 0) {
        return a; /* no Host (HTTP/1.0): nothing to split, and no bytes to look at */
    }
    if (a.p[0] == '[') {
        const char *rb = memchr(a.p, ']', a.len);
        if (rb == NULL) {
            return a;
        }
        host = mg_str(a.p + 1, (size_t)(rb - a.p - 1));
        colon = (size_t)(rb + 1 - a.p) < a.len && rb[1] == ':' ? rb + 1 : NULL;
    } else if ((colon = memrchr(a.p, ':', a.len)) != NULL) {
        host = mg_str(a.p, (size_t)(colon - a.p));
    }
    if (colon != NULL) {
        long v = 0;
        const char *q = colon + 1, *end = a.p + a.len;
        for (; q < end && *q >= '0' && *q <= '9' && v <= 65535; q++) {
            v = v * 10 + (*q - '0');
        }
        *port = q == end && q > colon + 1 && v <= 65535 ? (int)v : 0;
    }
    return host;
}

/* A status code as error.type wants it ("503"), kept in the span's own slot. */
static mg_str_t status_text(mg_trace_spans_t *out, const mg_trace_span_t *s, int status)
{
    char *code = out->code[s - out->span];
    int n = snprintf(code, sizeof(out->code[0]), "%d", status);
    return mg_str(code, (size_t)MG_MAX(MG_MIN(n, (int)sizeof(out->code[0]) - 1), 0));
}

static void server_span(const mg_request_t *r, const mg_trace_req_t *t, double end,
                        mg_trace_spans_t *out)
{
    const mg_route_conf_t *route = r->match.route;
    mg_trace_span_t *s = span_add(t, out, MG_TRACE_KIND_SERVER, r->start, end);
    char *name = out->name[s - out->span];
    int n = snprintf(name, sizeof(out->name[0]), "%.*s%s%s", (int)MG_MIN(r->method_name.len, 32u),
                     r->method_name.p != NULL ? r->method_name.p : "", route != NULL ? " " : "",
                     route != NULL ? route->name : "");
    s->name = mg_str(name, MG_MIN((size_t)MG_MAX(n, 0), sizeof(out->name[0]) - 1));
    s->error = r->status >= 500;
    attr_str(out, s, "http.request.method", r->method_name);
    attr_str(out, s, "url.path", r->path);
    attr_str(out, s, "url.query", r->query);
    attr_str(out, s, "url.scheme", r->tls ? MG_STR("https") : MG_STR("http"));
    if (route != NULL) {
        attr_str(out, s, "http.route", mg_str(route->name, strlen(route->name)));
    }
    if (r->status > 0) {
        attr_num(out, s, "http.response.status_code", r->status);
    }
    int port;
    split_host(r->host_header, &port);
    attr_str(out, s, "server.address", r->host);
    attr_num(out, s, "server.port", port > 0 ? port : r->tls ? 443 : 80);
    attr_str(out, s, "client.address", r->remote_addr);
    attr_str(out, s, "network.peer.address", r->peer_addr);
    attr_num(out, s, "network.peer.port", r->peer_port);
    attr_str(out, s, "user_agent.original", mg_http_header(r, MG_STR("User-Agent")));
    attr_str(out, s, "network.protocol.version",
             r->http_minor == 0 ? MG_STR("1.0") : MG_STR("1.1"));
    attr_str(out, s, "moongate.request_id", r->request_id);
    attr_str(out, s, "moongate.consumer", r->consumer);
    if (s->error) {
        attr_str(out, s, "error.type", status_text(out, s, r->status));
    }
}

static void phase_spans(const mg_request_t *r, const mg_trace_req_t *t, mg_trace_spans_t *out)
{
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        if (((r->plugin_phases >> i) & 1u) == 0) {
            continue;
        }
        double start = r->plugin_span[i][0], end = r->plugin_span[i][1];
        if (start <= 0 || end < start) {
            start = r->start; /* no times taken: at least its length shows */
            end = start + r->plugin_time[i];
        }
        mg_trace_span_t *s = span_add(t, out, MG_TRACE_KIND_INTERNAL, start, end);
        s->name = mg_str(phase_names[i], strlen(phase_names[i]));
        attr_str(out, s, "moongate.phase", s->name);
        attr_num(out, s, "moongate.plugin_time_us", (int64_t)(r->plugin_time[i] * 1e6 + 0.5));
    }
}

/* A try's end: its own (response head, failure), or for the try that answered, the
 * end of the response it relayed. */
static double try_end(const mg_request_t *r, unsigned i, double end)
{
    const mg_http_try_t *y = &r->tries[i];
    double e = y->time >= 0 ? y->start + y->time : end;
    if (i + 1 == r->ntries && y->status > 0 && r->upstream_time >= 0) {
        e = MG_MAX(e, r->tries[0].start + r->upstream_time);
    }
    return MG_MIN(e, MG_MAX(end, y->start));
}

static void client_spans(const mg_request_t *r, const mg_trace_req_t *t, double end,
                         mg_trace_spans_t *out)
{
    unsigned n = r->tries != NULL ? MG_MIN(r->ntries, (unsigned)MG_HTTP_MAX_TRIES) : 0;
    for (unsigned i = 0; i < n; i++) {
        const mg_http_try_t *y = &r->tries[i];
        mg_trace_span_t *s = span_add(t, out, MG_TRACE_KIND_CLIENT, y->start, try_end(r, i, end));
        memcpy(s->span_id, t->try_ids[i], sizeof(s->span_id));
        s->name = r->method_name;
        s->error = y->error != NULL || y->status >= 400;
        int port;
        mg_str_t host = split_host(y->addr, &port);
        attr_str(out, s, "http.request.method", r->method_name);
        attr_str(out, s, "server.address", host);
        if (port > 0) {
            attr_num(out, s, "server.port", port);
        }
        attr_str(out, s, "network.peer.address", host);
        if (port > 0) {
            attr_num(out, s, "network.peer.port", port);
        }
        attr_str(out, s, "url.path", r->path);
        if (y->status > 0) {
            attr_num(out, s, "http.response.status_code", y->status);
        }
        if (i > 0) {
            attr_num(out, s, "http.request.resend_count", i);
        }
        const mg_upstream_conf_t *uc = mg_request_upstream(r);
        if (uc != NULL) {
            attr_str(out, s, "moongate.upstream", mg_str(uc->name, strlen(uc->name)));
        }
        if (y->error != NULL) {
            attr_str(out, s, "error.type", mg_str(y->error, strlen(y->error)));
        } else if (s->error) {
            attr_str(out, s, "error.type", status_text(out, s, y->status));
        }
    }
}

size_t mg_trace_request_spans(const mg_request_t *r, double end, mg_trace_spans_t *out)
{
    out->n = 0;
    const mg_trace_req_t *t = r->trace;
    if (t == NULL || !t->sampled) {
        return 0;
    }
    server_span(r, t, MG_MAX(end, r->start), out);
    phase_spans(r, t, out);
    client_spans(r, t, MG_MAX(end, r->start), out);
    return out->n;
}
