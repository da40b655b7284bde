/*
 * log_template.c -- access-log formats the operator shapes: a template of named
 * variables, nginx's log_format style,
 *
 *   '$remote_addr - $consumer [$time_local] "$request" $status $upstream_addr'
 *
 * or a list of variable names that makes one JSON object per line with exactly those
 * keys. Both compile once, at configuration load, into the same flat program: a list of
 * ops, each a piece of literal text followed by one variable, the text stored after the
 * ops. For a field list the literal text is the key (`,"status":`), so a line is the
 * same loop either way; only how a value is written differs:
 *
 *   template  strings escaped as nginx does (\xHH for '"', '\', control and high bytes),
 *             "-" when empty; numbers as they are; times "0.012" or "-"
 *   JSON      strings as JSON strings, null when empty; numbers as numbers; null when
 *             not measured
 *
 * Variables about the upstream tries take every try, as nginx's $upstream_* do: in a
 * template "a, b" ("502, 200"), in JSON an array ([502,200]). A try that got no
 * response head shows status 502, or 504 when it timed out (nginx's figures);
 * upstream_tries keeps the raw facts (no status, and the error).
 *
 * A compiled format has no pointers inside, so the log copies it with one memcpy and
 * outlives the configuration it came from. Formatting allocates nothing.
 */
#include "log_int.h"

#include "pool.h"

#include <stdarg.h>
#include <stdio.h>

#define MAX_TEMPLATE 4096 /* bytes of a template */
#define MAX_OPS 512       /* variables of a format */

typedef enum {
    V_NONE = 0, /* the last op: literal text only */
    V_TIME,
    V_TIME_ISO8601,
    V_TIME_LOCAL,
    V_MSEC,
    V_REMOTE_ADDR,
    V_REMOTE_PORT,
    V_METHOD,
    V_URI,
    V_REQUEST,
    V_PROTOCOL,
    V_STATUS,
    V_BYTES_SENT,
    V_BODY_BYTES_SENT,
    V_REQUEST_LENGTH,
    V_REFERER,
    V_USER_AGENT,
    V_HOST,
    V_SCHEME,
    V_ROUTE,
    V_CONSUMER,
    V_REQUEST_ID,
    V_TRACE_ID,
    V_UPSTREAM_ADDR,
    V_UPSTREAM_STATUS,
    V_UPSTREAM_CONNECT_TIME,
    V_UPSTREAM_HEADER_TIME,
    V_UPSTREAM_RESPONSE_TIME,
    V_UPSTREAM_TIME,
    V_UPSTREAM_TRIES,
    V_REQUEST_TIME,
    V_PLUGIN_TIME, /* MG_LOG_PLUGIN_PHASES of them, in phase order */
    V_TLS_VERSION = V_PLUGIN_TIME + MG_LOG_PLUGIN_PHASES,
    V_TLS_CIPHER,
    V_TLS_SNI,
    V_PEER_ADDR,
    V_PEER_PORT,
    V_UPSTREAM,
    V_COUNT
} var_t;

static const char *const var_names[V_COUNT] = {
    [V_TIME] = "time",
    [V_TIME_ISO8601] = "time_iso8601",
    [V_TIME_LOCAL] = "time_local",
    [V_MSEC] = "msec",
    [V_REMOTE_ADDR] = "remote_addr",
    [V_REMOTE_PORT] = "remote_port",
    [V_METHOD] = "method",
    [V_URI] = "uri",
    [V_REQUEST] = "request",
    [V_PROTOCOL] = "protocol",
    [V_STATUS] = "status",
    [V_BYTES_SENT] = "bytes_sent",
    [V_BODY_BYTES_SENT] = "body_bytes_sent",
    [V_REQUEST_LENGTH] = "request_length",
    [V_REFERER] = "referer",
    [V_USER_AGENT] = "user_agent",
    [V_HOST] = "host",
    [V_SCHEME] = "scheme",
    [V_ROUTE] = "route",
    [V_CONSUMER] = "consumer",
    [V_REQUEST_ID] = "request_id",
    [V_TRACE_ID] = "trace_id",
    [V_UPSTREAM_ADDR] = "upstream_addr",
    [V_UPSTREAM_STATUS] = "upstream_status",
    [V_UPSTREAM_CONNECT_TIME] = "upstream_connect_time",
    [V_UPSTREAM_HEADER_TIME] = "upstream_header_time",
    [V_UPSTREAM_RESPONSE_TIME] = "upstream_response_time",
    [V_UPSTREAM_TIME] = "upstream_time",
    [V_UPSTREAM_TRIES] = "upstream_tries",
    [V_REQUEST_TIME] = "request_time",
    /* V_PLUGIN_TIME ...: mg__log_plugin_time_keys */
    [V_TLS_VERSION] = "tls_version",
    [V_TLS_CIPHER] = "tls_cipher",
    [V_TLS_SNI] = "tls_sni",
    [V_PEER_ADDR] = "peer_addr",
    [V_PEER_PORT] = "peer_port",
    [V_UPSTREAM] = "upstream",
};

/* One step of a line: `len` bytes of literal text at `off` in the text, then `var`. */
typedef struct {
    uint32_t off;
    uint16_t len;
    uint8_t var;
} op_t;

struct mg_log_fmt_s {
    uint32_t size; /* bytes of the whole block */
    uint16_t nops;
    bool json;
    op_t ops[]; /* then the literal text */
};

static const char *var_name(int v)
{
    if (v >= V_PLUGIN_TIME && v < V_PLUGIN_TIME + MG_LOG_PLUGIN_PHASES) {
        return mg__log_plugin_time_keys[v - V_PLUGIN_TIME];
    }
    return v > V_NONE && v < V_COUNT ? var_names[v] : "";
}

static int var_lookup(const char *name, size_t len)
{
    for (int v = V_NONE + 1; v < V_COUNT; v++) {
        const char *n = var_name(v);
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            return v;
        }
    }
    return V_NONE;
}

const char *mg_log_fmt_names(void)
{
    static char buf[1024];
    if (buf[0] == '\0') {
        size_t n = 0;
        for (int v = V_NONE + 1; v < V_COUNT; v++) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "", var_name(v));
        }
    }
    return buf;
}

size_t mg_log_fmt_size(const mg_log_fmt_t *fmt)
{
    return fmt->size;
}

/* ---- compiling ---- */

/* A format being built. A first pass with f == NULL only counts; the second writes into
 * a block of the counted size. */
typedef struct {
    mg_log_fmt_t *f;
    char *text;
    size_t nops, ntext, lit_start;
} build_t;

static void lit(build_t *b, const char *p, size_t n)
{
    if (b->f != NULL) {
        memcpy(b->text + b->ntext, p, n);
    }
    b->ntext += n;
}

/* Ends an op: the literal text since the previous op, then var. */
static void op(build_t *b, int var)
{
    if (b->f != NULL) {
        b->f->ops[b->nops] =
            (op_t){(uint32_t)b->lit_start, (uint16_t)(b->ntext - b->lit_start), (uint8_t)var};
    }
    b->nops++;
    b->lit_start = b->ntext;
}

static mg_log_fmt_t *fail(mg_log_fmt_err_t *err, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mg_log_fmt_t *fail(mg_log_fmt_err_t *err, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->pos = pos;
    return NULL;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* One pass over a template into b. NULL, or b itself (any non-NULL) when it compiled. */
static void *template_pass(build_t *b, const char *src, size_t len, mg_log_fmt_err_t *err)
{
    size_t vars = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)src[i];
        if (c != '$') {
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return fail(err, i,
                            "control character 0x%02x in the format: a line must stay "
                            "one line",
                            c);
            }
            lit(b, src + i++, 1);
            continue;
        }
        if (i + 1 < len && src[i + 1] == '$') {
            lit(b, "$", 1);
            i += 2;
            continue;
        }
        bool braced = i + 1 < len && src[i + 1] == '{';
        size_t start = i + 1 + braced, end = start;
        while (end < len && name_char(src[end])) {
            end++;
        }
        if (braced && (end >= len || src[end] != '}')) {
            return fail(err, i,
                        "\"${\" without its \"}\" (a variable name is letters, digits "
                        "and _)");
        }
        if (end == start) {
            return fail(err, i, "\"$\" must start a variable name; write \"$$\" for a \"$\"");
        }
        int v = var_lookup(src + start, end - start);
        if (v == V_NONE) {
            return fail(err, i, "unknown variable \"$%.*s\"; the variables are: %s",
                        (int)MG_MIN(end - start, 64), src + start, mg_log_fmt_names());
        }
        if (++vars > MAX_OPS) {
            return fail(err, i, "more than %d variables", MAX_OPS);
        }
        op(b, v);
        i = end + braced;
    }
    if (vars == 0) {
        return fail(err, 0, "a template needs at least one $variable");
    }
    lit(b, "\n", 1);
    op(b, V_NONE);
    return b;
}

/* One pass over a field list into b. NULL, or b itself when it compiled. */
static void *fields_pass(build_t *b, const char *const *names, size_t n, mg_log_fmt_err_t *err)
{
    if (n == 0) {
        return fail(err, 0, "a field list needs at least one name");
    }
    if (n > MAX_OPS) {
        return fail(err, MAX_OPS, "more than %d fields", MAX_OPS);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int v = var_lookup(names[i], len);
        if (v == V_NONE) {
            return fail(err, i, "unknown field \"%.64s\"; the fields are: %s", names[i],
                        mg_log_fmt_names());
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[j], names[i]) == 0) {
                return fail(err, i, "field \"%s\" is listed twice (at %zu and %zu)", names[i], j,
                            i);
            }
        }
        lit(b, i == 0 ? "{\"" : ",\"", 2);
        lit(b, names[i], len);
        lit(b, "\":", 2);
        op(b, v);
    }
    lit(b, "}\n", 2);
    op(b, V_NONE);
    return b;
}

static void *pass(build_t *b, bool json, const void *src, size_t len, mg_log_fmt_err_t *err)
{
    return json ? fields_pass(b, src, len, err) : template_pass(b, src, len, err);
}

/* Counts, allocates from pool, fills: the two passes of either compiler. */
static mg_log_fmt_t *build(mg_pool_t *pool, bool json, const void *src, size_t len,
                           mg_log_fmt_err_t *err)
{
    build_t b = {0};
    if (pass(&b, json, src, len, err) == NULL) {
        return NULL;
    }
    size_t nops = b.nops, size = sizeof(mg_log_fmt_t) + nops * sizeof(op_t) + b.ntext;
    b = (build_t){.f = mg_pool_alloc(pool, size)};
    if (b.f == NULL) {
        return fail(err, 0, "out of memory");
    }
    *b.f = (mg_log_fmt_t){.size = (uint32_t)size, .nops = (uint16_t)nops, .json = json};
    b.text = (char *)&b.f->ops[nops];
    return pass(&b, json, src, len, err) != NULL ? b.f : NULL;
}

mg_log_fmt_t *mg_log_fmt_template(mg_pool_t *pool, const char *src, size_t len,
                                  mg_log_fmt_err_t *err)
{
    if (len > MAX_TEMPLATE) {
        return fail(err, MAX_TEMPLATE, "a template is at most %d bytes", MAX_TEMPLATE);
    }
    return build(pool, false, src, len, err);
}

mg_log_fmt_t *mg_log_fmt_fields(mg_pool_t *pool, const char *const *names, size_t n,
                                mg_log_fmt_err_t *err)
{
    return build(pool, true, names, n, err);
}

/* ---- formatting ---- */

/* A string value: escaped, or "-" when empty; a JSON string, or null when empty. */
static void put_str(mg__log_out_t *o, bool json, mg_str_t s)
{
    if (!json) {
        mg__log_put_escaped(o, s);
    } else if (s.len == 0) {
        mg__log_put(o, "null", 4);
    } else {
        mg__log_put_json_str(o, s);
    }
}

/* Text the gateway made (times, a protocol): no escaping needed, quoted in JSON. */
static void put_plain(mg__log_out_t *o, bool json, const char *s)
{
    if (json) {
        mg__log_putc(o, '"');
    }
    mg__log_put(o, s, strlen(s));
    if (json) {
        mg__log_putc(o, '"');
    }
}

/* A status as nginx logs an upstream's: the response's, or 502 / 504 (timed out) for a
 * try that failed before one came; 0 when there is none to tell. */
static int try_status(const mg_access_try_t *t)
{
    if (t->status > 0) {
        return t->status;
    }
    if (t->error == NULL) {
        return 0;
    }
    return strstr(t->error, "timed out") != NULL ? 504 : 502;
}

static void put_status(mg__log_out_t *o, bool json, int status)
{
    if (status > 0) {
        mg__log_putf(o, "%d", status);
    } else {
        mg__log_put(o, json ? "null" : "-", json ? 4 : 1);
    }
}

/* One try as moongate's own compact text: "ADDR STATUS CONNECT/HEADER/TIME (ERROR)",
 * or as a JSON object. */
static void put_try(mg__log_out_t *o, bool json, const mg_access_try_t *t)
{
    const char *none = json ? "null" : "-";
    if (!json) {
        mg__log_put_escaped(o, t->addr);
        mg__log_putc(o, ' ');
        put_status(o, false, t->status);
        mg__log_putc(o, ' ');
        mg__log_put_secs(o, t->connect_time, none);
        mg__log_putc(o, '/');
        mg__log_put_secs(o, t->header_time, none);
        mg__log_putc(o, '/');
        mg__log_put_secs(o, t->time, none);
        if (t->error != NULL) {
            mg__log_put(o, " (", 2);
            mg__log_put_escaped(o, mg_str(t->error, strlen(t->error)));
            mg__log_putc(o, ')');
        }
        return;
    }
    mg__log_put(o, "{\"addr\":", 8);
    put_str(o, true, t->addr);
    mg__log_put(o, ",\"status\":", 10);
    put_status(o, true, t->status);
    mg__log_put(o, ",\"connect_time\":", 16);
    mg__log_put_secs(o, t->connect_time, none);
    mg__log_put(o, ",\"header_time\":", 15);
    mg__log_put_secs(o, t->header_time, none);
    mg__log_put(o, ",\"time\":", 8);
    mg__log_put_secs(o, t->time, none);
    mg__log_put(o, ",\"error\":", 9);
    put_str(o, true, t->error ? mg_str(t->error, strlen(t->error)) : MG_NULL_STR);
    mg__log_putc(o, '}');
}

/* A per-try variable: every try's value, ", "-separated (template) or as an array. */
static void put_tries(mg__log_out_t *o, bool json, int var, const mg_access_rec_t *r)
{
    const mg_access_try_t *tries = r->tries;
    unsigned n = tries != NULL ? r->ntries : 0;
    mg_access_try_t one;
    if (n == 0 && r->upstream_addr.len > 0) {
        /* no try kept (out of memory): the record's summary of the last one */
        one = (mg_access_try_t){
            r->upstream_addr,        r->upstream_status, 0,   r->upstream_connect_time,
            r->upstream_header_time, r->upstream_time,   NULL};
        tries = &one, n = 1;
    }
    const char *none = json ? "null" : "-";
    if (n == 0) {
        mg__log_put(o, none, strlen(none));
        return;
    }
    mg__log_put(o, json ? "[" : "", json ? 1 : 0);
    for (unsigned i = 0; i < n; i++) {
        const mg_access_try_t *t = &tries[i];
        if (i > 0) {
            mg__log_put(o, json ? "," : ", ", json ? 1 : 2);
        }
        switch (var) {
        case V_UPSTREAM_ADDR:
            put_str(o, json, t->addr);
            break;
        case V_UPSTREAM_STATUS:
            put_status(o, json, try_status(t));
            break;
        case V_UPSTREAM_CONNECT_TIME:
            mg__log_put_secs(o, t->connect_time, none);
            break;
        case V_UPSTREAM_HEADER_TIME:
            mg__log_put_secs(o, t->header_time, none);
            break;
        case V_UPSTREAM_RESPONSE_TIME:
            mg__log_put_secs(o, t->time, none);
            break;
        default:
            put_try(o, json, t);
            break;
        }
    }
    mg__log_put(o, json ? "]" : "", json ? 1 : 0);
}

/* "GET /path?q HTTP/1.1", the request line as received. */
static void put_request(mg__log_out_t *o, bool json, const mg_access_rec_t *r)
{
    if (json) {
        mg__log_putc(o, '"');
        mg__log_put_json_raw(o, r->method);
        mg__log_putc(o, ' ');
        mg__log_put_json_raw(o, r->uri);
    } else {
        mg__log_put_escaped(o, r->method);
        mg__log_putc(o, ' ');
        mg__log_put_escaped(o, r->uri);
    }
    mg__log_putf(o, " HTTP/%d.%d", r->http_major, r->http_minor);
    if (json) {
        mg__log_putc(o, '"');
    }
}

/* The string variables, by number; MG_NULL_STR for the others. */
static mg_str_t str_var(int var, const mg_access_rec_t *r)
{
    switch (var) {
    case V_REMOTE_ADDR:
        return r->remote_addr;
    case V_PEER_ADDR:
        return r->peer_addr;
    case V_METHOD:
        return r->method;
    case V_URI:
        return r->uri;
    case V_REFERER:
        return r->referer;
    case V_USER_AGENT:
        return r->user_agent;
    case V_HOST:
        return r->host;
    case V_SCHEME:
        return r->scheme;
    case V_ROUTE:
        return r->route;
    case V_UPSTREAM:
        return r->upstream;
    case V_CONSUMER:
        return r->consumer;
    case V_REQUEST_ID:
        return r->request_id;
    case V_TRACE_ID:
        return r->trace_id;
    case V_TLS_VERSION:
        return r->tls_version;
    case V_TLS_CIPHER:
        return r->tls_cipher;
    case V_TLS_SNI:
        return r->tls_sni;
    default:
        return MG_NULL_STR;
    }
}

static void put_var(mg__log_out_t *o, bool json, int var, const mg_access_rec_t *r)
{
    switch (var) {
    case V_TIME:
    case V_TIME_ISO8601:
        put_plain(o, json, mg__log_time()->iso);
        break;
    case V_TIME_LOCAL:
        put_plain(o, json, mg__log_time()->local);
        break;
    case V_MSEC:
        mg__log_putf(o, "%.3f", r->start + (r->request_time > 0 ? r->request_time : 0));
        break;
    case V_REMOTE_PORT:
        put_status(o, json, r->remote_port); /* a number, "-" / null when unknown */
        break;
    case V_PEER_PORT:
        put_status(o, json, r->peer_port);
        break;
    case V_REQUEST:
        put_request(o, json, r);
        break;
    case V_PROTOCOL: {
        char proto[32];
        snprintf(proto, sizeof(proto), "HTTP/%d.%d", r->http_major, r->http_minor);
        put_plain(o, json, proto);
        break;
    }
    case V_STATUS:
        mg__log_putf(o, "%d", r->status);
        break;
    case V_BYTES_SENT:
        mg__log_put_u64(o, r->bytes_sent);
        break;
    case V_BODY_BYTES_SENT:
        mg__log_put_u64(o, r->body_bytes_sent);
        break;
    case V_REQUEST_LENGTH:
        mg__log_put_u64(o, r->request_length);
        break;
    case V_UPSTREAM_ADDR:
    case V_UPSTREAM_STATUS:
    case V_UPSTREAM_CONNECT_TIME:
    case V_UPSTREAM_HEADER_TIME:
    case V_UPSTREAM_RESPONSE_TIME:
    case V_UPSTREAM_TRIES:
        put_tries(o, json, var, r);
        break;
    case V_UPSTREAM_TIME:
        mg__log_put_secs(o, r->upstream_time, json ? "null" : "-");
        break;
    case V_REQUEST_TIME:
        mg__log_putf(o, "%.3f", r->request_time < 0 ? 0 : r->request_time);
        break;
    default:
        if (var >= V_PLUGIN_TIME && var < V_PLUGIN_TIME + MG_LOG_PLUGIN_PHASES) {
            mg__log_put_secs(o, r->plugin_time[var - V_PLUGIN_TIME], json ? "null" : "-");
        } else {
            put_str(o, json, str_var(var, r));
        }
        break;
    }
}

size_t mg_log_fmt_format(const mg_log_fmt_t *fmt, const mg_access_rec_t *rec, char *buf, size_t len)
{
    mg__log_out_t o = {buf, len, 0};
    const char *text = (const char *)&fmt->ops[fmt->nops];
    for (size_t i = 0; i < fmt->nops; i++) {
        const op_t *p = &fmt->ops[i];
        mg__log_put(&o, text + p->off, p->len);
        if (p->var != V_NONE) {
            put_var(&o, fmt->json, p->var, rec);
        }
    }
    return mg__log_out_end(&o);
}
