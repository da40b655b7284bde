/*
 * conf_tracing.c -- the `tracing:` key: where spans go (an OTLP/HTTP collector), how
 * many new traces are sampled, the resource's service name, and the bounds of each
 * worker's export queue.
 *
 *   tracing:
 *     endpoint: "http://127.0.0.1:4318/v1/traces"
 *     sample_ratio: 0.1
 *     service_name: moongate
 *     batch_size: 512
 *     queue_size: 2048
 *     flush_interval: 1s
 *     timeout: 5s
 *     headers: { authorization: "Bearer ..." }
 *     tls_verify: true
 *
 * Absent (or `tracing: off`), conf->tracing stays NULL and requests pay nothing. The
 * URL is checked here with the conf layer's own means (the outbound client that parses
 * it again is two layers up); a host name in it is resolved by the worker, not here.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "conf_int.h"

#define MAX_HEADERS 16
#define MAX_URL 2048

/* A URL the exporter can POST to: http:// or https://, a host (an IPv6 address in
 * brackets), an optional port from 1 to 65535, an optional path; no user info, no
 * fragment, no spaces or control bytes. NULL, or why not. */
static const char *url_problem(const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_URL) {
        return "the URL is longer than 2048 bytes";
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f) {
            return "the URL has a space, a control or a non-ASCII byte";
        }
    }
    const char *p;
    if (strncmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        p = s + 8;
    } else {
        return "the URL must start with http:// or https:// (lower case)";
    }
    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen) != NULL) {
        return "user info in the URL is not supported (use headers: for credentials)";
    }
    if (strchr(p, '#') != NULL) {
        return "the URL has a fragment";
    }
    const char *port = NULL;
    size_t hlen = alen;
    if (p[0] == '[') {
        const char *rb = memchr(p, ']', alen);
        if (rb == NULL || rb == p + 1) {
            return "bad IPv6 address in the URL";
        }
        port = (size_t)(rb + 1 - p) < alen ? rb + 1 : NULL;
        if (port != NULL && *port != ':') {
            return "bad host in the URL";
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        if (colon != NULL) {
            port = colon;
            hlen = (size_t)(colon - p);
        }
    }
    if (hlen == 0) {
        return "the URL has no host";
    }
    if (port != NULL) {
        const char *q = port + 1, *end = p + alen;
        long v = 0;
        if (q == end) {
            return "the URL has an empty port";
        }
        for (; q < end; q++) {
            if (*q < '0' || *q > '9' || (v = v * 10 + (*q - '0')) > 65535) {
                return "the URL's port is not a number from 1 to 65535";
            }
        }
        if (v == 0) {
            return "the URL's port is not a number from 1 to 65535";
        }
    }
    return NULL;
}

static int on_endpoint(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_tracing_conf_t *t = obj;
    if (mg__conf_str(c, v, &t->endpoint) != MG_OK) {
        return MG_ERROR;
    }
    const char *why = url_problem(t->endpoint);
    if (why != NULL) {
        char what[80];
        return mg__conf_fail(c, v,
                             "expected the collector's OTLP/HTTP URL, e.g. "
                             "\"http://127.0.0.1:4318/v1/traces\", got %s: %s",
                             mg__conf_what(v, what, sizeof(what)), why);
    }
    return MG_OK;
}

static int on_sample_ratio(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    char what[80];
    const char *s = v->type == YAML_SCALAR_NODE && !mg__conf_is_null(v)
                        ? (const char *)v->data.scalar.value
                        : NULL;
    char *end = NULL;
    errno = 0;
    double d = s != NULL ? strtod(s, &end) : NAN;
    if (s == NULL || end == s || *end != '\0' || errno != 0 || !isfinite(d) || d < 0 || d > 1) {
        return mg__conf_fail(c, v, "expected a number from 0 to 1, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    ((mg_tracing_conf_t *)obj)->sample_ratio = d;
    return MG_OK;
}

static int on_service_name(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_tracing_conf_t *t = obj;
    if (mg__conf_str(c, v, &t->service_name) != MG_OK) {
        return MG_ERROR;
    }
    if (strlen(t->service_name) > 256) {
        return mg__conf_fail(c, v, "expected at most 256 bytes, got %zu", strlen(t->service_name));
    }
    return MG_OK;
}

static int on_batch_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 65536, &((mg_tracing_conf_t *)obj)->batch_size);
}

static int on_queue_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 1000000, &((mg_tracing_conf_t *)obj)->queue_size);
}

static int on_flush_interval(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    double *out = &((mg_tracing_conf_t *)obj)->flush_interval;
    if (mg__conf_duration(c, v, false, out) != MG_OK) {
        return MG_ERROR;
    }
    return *out < 0.01 || *out > 3600 ? mg__conf_fail(c, v, "expected a duration from 10ms to 1h")
                                      : MG_OK;
}

static int on_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    double *out = &((mg_tracing_conf_t *)obj)->timeout;
    if (mg__conf_duration(c, v, false, out) != MG_OK) {
        return MG_ERROR;
    }
    return *out < 0.01 || *out > 300 ? mg__conf_fail(c, v, "expected a duration from 10ms to 5m")
                                     : MG_OK;
}

static bool token_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", ch) == NULL;
}

/* The export's own framing and addressing are not the operator's to set. */
static bool reserved_header(const char *name)
{
    static const char *const names[] = {
        "host", "content-length", "content-type", "transfer-encoding", "connection",
        "te",   "upgrade",        "keep-alive"};
    for (size_t i = 0; i < MG_NELEMS(names); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int read_header(mg__conf_ctx_t *c, yaml_node_t *k, yaml_node_t *v, const char **name,
                       const char **value)
{
    if (mg__conf_str(c, k, name) != MG_OK) {
        return MG_ERROR;
    }
    size_t saved = mg__conf_push_key(c, *name);
    for (const char *p = *name; *p != '\0'; p++) {
        if (!token_char((unsigned char)*p)) {
            return mg__conf_fail(c, k,
                                 "expected a header name (letters, digits, - and the "
                                 "other token characters)");
        }
    }
    if (reserved_header(*name)) {
        return mg__conf_fail(c, k, "\"%s\" is set by the exporter itself", *name);
    }
    if (mg__conf_str(c, v, value) != MG_OK) {
        return MG_ERROR;
    }
    for (const char *p = *value; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return mg__conf_fail(c, v, "expected a header value without control characters");
        }
    }
    mg__conf_pop(c, saved);
    return MG_OK;
}

static int on_headers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_tracing_conf_t *t = obj;
    if (v->type != YAML_MAPPING_NODE) {
        char what[96];
        return mg__conf_fail(c, v, "expected a mapping of header name to value, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    yaml_node_pair_t *p = v->data.mapping.pairs.start;
    size_t n = (size_t)(v->data.mapping.pairs.top - p);
    if (n > MAX_HEADERS) {
        return mg__conf_fail(c, v, "expected at most %d headers, got %zu", MAX_HEADERS, n);
    }
    t->header_names = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*t->header_names));
    t->header_values = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*t->header_values));
    if (t->header_names == NULL || t->header_values == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p[i].key);
        yaml_node_t *val = yaml_document_get_node(&c->doc, p[i].value);
        if (read_header(c, k, val, &t->header_names[i], &t->header_values[i]) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(t->header_names[j], t->header_names[i]) == 0) {
                mg__conf_push_key(c, t->header_names[i]);
                return mg__conf_fail(c, k, "duplicate header (names are case-insensitive)");
            }
        }
    }
    t->nheaders = n;
    return MG_OK;
}

static int on_tls_verify(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_tracing_conf_t *)obj)->tls_verify);
}

static const mg__conf_field_t tracing_fields[] = {
    {"endpoint", on_endpoint, NULL},         {"sample_ratio", on_sample_ratio, NULL},
    {"service_name", on_service_name, NULL}, {"batch_size", on_batch_size, NULL},
    {"queue_size", on_queue_size, NULL},     {"flush_interval", on_flush_interval, NULL},
    {"timeout", on_timeout, NULL},           {"headers", on_headers, NULL},
    {"tls_verify", on_tls_verify, NULL},
};

int mg__conf_on_tracing(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "off") == 0) {
        c->conf->tracing = NULL;
        return MG_OK;
    }
    if (v->type != YAML_MAPPING_NODE && !mg__conf_is_null(v)) {
        char what[80];
        return mg__conf_fail(c, v,
                             "expected a mapping {endpoint, sample_ratio, service_name, ...} "
                             "or off, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    mg_tracing_conf_t *t = mg_pool_calloc(c->pool, sizeof(*t));
    if (t == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    *t = (mg_tracing_conf_t){
        .endpoint = "http://localhost:4318/v1/traces",
        .sample_ratio = 1,
        .service_name = "moongate",
        .batch_size = 512,
        .queue_size = 2048,
        .flush_interval = 1,
        .timeout = 5,
        .tls_verify = true,
    };
    uint64_t seen;
    if (v->type == YAML_MAPPING_NODE &&
        mg__conf_map(c, v, tracing_fields, MG_NELEMS(tracing_fields), t, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if (t->batch_size > t->queue_size) {
        mg__conf_push_key(c, "batch_size");
        return mg__conf_fail(c, mg__conf_find_key(c, v, "batch_size", true),
                             "batch_size (%d) is larger than queue_size (%d)", t->batch_size,
                             t->queue_size);
    }
    c->conf->tracing = t;
    return MG_OK;
}
