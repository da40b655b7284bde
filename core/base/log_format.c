/*
 * log_format.c -- the access log's two fixed formats (combined, json) and what every
 * format shares: the output cursor's helpers, nginx's escaping, JSON strings, and the
 * time strings, formatted once a second rather than once a line.
 *
 * Formatting never allocates: a line goes straight into the caller's buffer, and a
 * line that does not fit is counted to its full length, as snprintf does, so the
 * caller can find room and format it again.
 */
#include "log_int.h"

#include <stdarg.h>
#include <stdio.h>

static mg__log_time_t T = {.now = -1};

/* The time strings of the current second (local time). */
const mg__log_time_t *mg__log_time(void)
{
    time_t now = time(NULL);
    if (now == T.now) {
        return &T;
    }
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(T.err, sizeof(T.err), "%Y/%m/%d %H:%M:%S", &tm);
    strftime(T.local, sizeof(T.local), "%d/%b/%Y:%H:%M:%S %z", &tm);
    char tz[16];
    strftime(tz, sizeof(tz), "%z", &tm); /* +hhmm; ISO 8601 wants +hh:mm */
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(T.iso, sizeof(T.iso), "%s%.3s:%.2s", date, tz, tz + 3);
    strftime(T.syslog, sizeof(T.syslog), "%b %d %H:%M:%S", &tm);
    if (T.syslog[4] == '0') {
        T.syslog[4] = ' '; /* RFC 3164: "Nov  2", not "Nov 02" */
    }
    T.now = now;
    return &T;
}

/* The cursor */

void mg__log_putf(mg__log_out_t *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    mg__log_put(o, tmp, n > 0 ? MG_MIN((size_t)n, sizeof(tmp) - 1) : 0);
}

void mg__log_put_u64(mg__log_out_t *o, uint64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *p = e;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    mg__log_put(o, p, (size_t)(e - p));
}

void mg__log_put_secs(mg__log_out_t *o, double secs, const char *none)
{
    if (secs < 0) {
        mg__log_put(o, none, strlen(none));
    } else {
        mg__log_putf(o, "%.3f", secs);
    }
}

static void put_hex(mg__log_out_t *o, const char *prefix, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    mg__log_put(o, prefix, strlen(prefix));
    mg__log_putc(o, hex[c >> 4]);
    mg__log_putc(o, hex[c & 0xf]);
}

void mg__log_put_escaped(mg__log_out_t *o, mg_str_t s)
{
    if (s.len == 0) {
        mg__log_putc(o, '-');
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            put_hex(o, "\\x", c);
        } else {
            mg__log_putc(o, (char)c);
        }
    }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one
 * (bad lead, truncated, overlong, surrogate or above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp, min;
    size_t len;
    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2, cp = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, cp = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

void mg__log_put_json_str(mg__log_out_t *o, mg_str_t s)
{
    mg__log_putc(o, '"');
    mg__log_put_json_raw(o, s);
    mg__log_putc(o, '"');
}

void mg__log_put_json_raw(mg__log_out_t *o, mg_str_t s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            mg__log_putc(o, '\\');
            mg__log_putc(o, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            put_hex(o, "\\u00", c);
            i++;
        } else {
            size_t len = utf8_seq(p + i, s.len - i);
            if (len == 0) {
                put_hex(o, "\\u00", c);
                i++;
            } else {
                mg__log_put(o, (const char *)p + i, len);
                i += len;
            }
        }
    }
}

size_t mg__log_out_end(mg__log_out_t *o)
{
    if (o->n < o->cap) {
        o->p[o->n] = '\0';
    } else if (o->cap > 0) {
        o->p[o->cap - 1] = '\0';
    }
    return o->n;
}

/* combined */

const char *const mg__log_plugin_time_keys[MG_LOG_PLUGIN_PHASES] = {
    "plugin_rewrite_time",       "plugin_access_time",      "plugin_balancer_time",
    "plugin_header_filter_time", "plugin_body_filter_time", "plugin_log_time"};

static void format_combined(mg__log_out_t *o, const mg_access_rec_t *r)
{
    const mg__log_time_t *t = mg__log_time();
    mg__log_put_escaped(o, r->remote_addr);
    mg__log_put(o, " - - [", 6);
    mg__log_put(o, t->local, strlen(t->local));
    mg__log_put(o, "] \"", 3);
    mg__log_put_escaped(o, r->method);
    mg__log_putc(o, ' ');
    mg__log_put_escaped(o, r->uri);
    mg__log_putf(o, " HTTP/%d.%d\" %d %llu \"", r->http_major, r->http_minor, r->status,
                 (unsigned long long)r->bytes_sent);
    mg__log_put_escaped(o, r->referer);
    mg__log_put(o, "\" \"", 3);
    mg__log_put_escaped(o, r->user_agent);
    mg__log_put(o, "\" \"", 3);
    mg__log_put_escaped(o, r->route);
    mg__log_put(o, "\" \"", 3);
    mg__log_put_escaped(o, r->upstream_addr);
    mg__log_put(o, "\" ", 2);
    mg__log_put_secs(o, r->upstream_time, "-");
    mg__log_putc(o, ' ');
    mg__log_put_secs(o, r->request_time, "-");
    mg__log_put(o, " \"", 2);
    mg__log_put_escaped(o, r->request_id);
    mg__log_put(o, "\" ", 2);
    mg__log_put_secs(o, r->upstream_connect_time, "-");
    mg__log_putc(o, ' ');
    mg__log_put_secs(o, r->upstream_header_time, "-");
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        mg__log_putc(o, ' ');
        mg__log_put_secs(o, r->plugin_time[i], "-");
    }
    mg__log_putc(o, '\n');
}

/* json */

/* `,"key":` -- every key but the first ("time", written by hand). */
static void put_key(mg__log_out_t *o, const char *key)
{
    mg__log_put(o, ",\"", 2);
    mg__log_put(o, key, strlen(key));
    mg__log_put(o, "\":", 2);
}

static void put_str_field(mg__log_out_t *o, const char *key, mg_str_t s)
{
    put_key(o, key);
    mg__log_put_json_str(o, s);
}

/* Seconds with millisecond resolution, null when < 0 (not measured). */
static void put_secs_field(mg__log_out_t *o, const char *key, double secs)
{
    put_key(o, key);
    mg__log_put_secs(o, secs, "null");
}

static void format_json(mg__log_out_t *o, const mg_access_rec_t *r)
{
    const mg__log_time_t *t = mg__log_time();
    mg__log_put(o, "{\"time\":\"", 9);
    mg__log_put(o, t->iso, strlen(t->iso));
    mg__log_putc(o, '"');
    put_str_field(o, "remote_addr", r->remote_addr);
    put_str_field(o, "method", r->method);
    put_str_field(o, "uri", r->uri);
    put_key(o, "protocol");
    mg__log_putf(o, "\"HTTP/%d.%d\"", r->http_major, r->http_minor);
    put_key(o, "status");
    mg__log_putf(o, "%d", r->status);
    put_key(o, "bytes_sent");
    mg__log_put_u64(o, r->bytes_sent);
    put_key(o, "request_length");
    mg__log_put_u64(o, r->request_length);
    put_str_field(o, "referer", r->referer);
    put_str_field(o, "user_agent", r->user_agent);
    put_str_field(o, "host", r->host);
    put_str_field(o, "route", r->route);
    put_str_field(o, "upstream", r->upstream);
    put_str_field(o, "upstream_addr", r->upstream_addr);
    put_key(o, "upstream_status");
    if (r->upstream_status > 0) {
        mg__log_putf(o, "%d", r->upstream_status);
    } else {
        mg__log_put(o, "null", 4);
    }
    put_secs_field(o, "upstream_time", r->upstream_time);
    put_secs_field(o, "upstream_connect_time", r->upstream_connect_time);
    put_secs_field(o, "upstream_header_time", r->upstream_header_time);
    put_key(o, "request_time");
    mg__log_putf(o, "%.3f", r->request_time < 0 ? 0 : r->request_time);
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        put_secs_field(o, mg__log_plugin_time_keys[i], r->plugin_time[i]);
    }
    put_str_field(o, "request_id", r->request_id);
    put_str_field(o, "scheme", r->scheme);
    if (r->tls_version.len > 0) {
        put_str_field(o, "tls_version", r->tls_version);
        put_str_field(o, "tls_cipher", r->tls_cipher);
        put_str_field(o, "tls_sni", r->tls_sni);
    }
    if (r->consumer.len > 0) {
        put_str_field(o, "consumer", r->consumer);
    }
    if (r->trace_id.len > 0) {
        put_str_field(o, "trace_id", r->trace_id);
    }
    mg__log_put(o, "}\n", 2);
}

/* Formats one record, newline included, into buf (may be NULL when len is 0) and
 * NUL-terminates it when there is room. Returns the line's length; a result >= len
 * means it did not fit, as with snprintf. Uses the current (per-second cached) time.
 * MG_ACCESS_SHAPED has no format here (mg_log_fmt_format() has it): combined then. */
size_t mg_log_format_access(mg_access_format_t fmt, const mg_access_rec_t *rec, char *buf,
                            size_t len)
{
    mg__log_out_t o = {buf, len, 0};
    if (fmt == MG_ACCESS_JSON) {
        format_json(&o, rec);
    } else {
        format_combined(&o, rec);
    }
    return mg__log_out_end(&o);
}
