/*
 * log.c -- the error log and the access log of one process.
 *
 * Error-log lines are formatted on the stack and written with a single write(2) on an
 * O_APPEND descriptor, so lines from several workers sharing one file never interleave.
 * Access-log lines are formatted straight into a per-process buffer and written in one
 * write(2) when the buffer fills, on the worker's 1 s timer (mg_log_flush) and at exit.
 *
 * A failed or short access-log write never retries or blocks: the lines in that write
 * are dropped and counted, one alert per 10 s at most goes to the error log, and the
 * next successful write reports how many lines were lost in between.
 *
 * State is per process (workers are single-threaded); a worker inherits the master's
 * descriptors across fork and calls mg_log_set_slot() to tag its lines.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ERR_LINE_MAX 4096
#define ALERT_INTERVAL 10 /* seconds between two "access log write failed" lines */

static const char *const level_names[] = {"debug", "info", "notice", "warn",
                                          "error", "crit", "alert"};

static struct {
    int err_fd;     /* 2 when logging to standard error */
    char *err_path; /* NULL when logging to standard error */
    mg_log_level_t level;
    int slot; /* worker slot, -1 in the master */

    int acc_fd;     /* -1 when the access log is off or failed to open */
    char *acc_path; /* NULL when off */
    mg_access_format_t acc_format;
    char *buf; /* pending access-log lines */
    size_t cap, used, lines;
    uint64_t dropped;    /* lines lost since start */
    uint64_t unreported; /* lines lost since the last successful write */
    time_t last_alert;
    bool partial; /* a short write left a line without its newline */

    time_t now;       /* second the strings below were formatted for */
    char t_err[32];   /* 2026/11/22 12:00:00 */
    char t_local[40]; /* 22/Nov/2026:12:00:00 +0000 */
    char t_iso[40];   /* 2026-11-22T12:00:00+00:00 */
} L = {.err_fd = 2, .level = MG_LOG_INFO, .slot = -1, .acc_fd = -1, .now = -1};

/* Time strings are formatted once per second, not once per line. */
static void update_time(void)
{
    time_t now = time(NULL);
    if (now == L.now) {
        return;
    }
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(L.t_err, sizeof(L.t_err), "%Y/%m/%d %H:%M:%S", &tm);
    strftime(L.t_local, sizeof(L.t_local), "%d/%b/%Y:%H:%M:%S %z", &tm);
    char tz[16];
    strftime(tz, sizeof(tz), "%z", &tm); /* +hhmm; ISO 8601 wants +hh:mm */
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(L.t_iso, sizeof(L.t_iso), "%s%.3s:%.2s", date, tz, tz + 3);
    L.now = now;
}

static bool is_std_name(const char *path)
{
    return path == NULL || strcmp(path, "stderr") == 0;
}

static int open_file(const char *path)
{
    int fd;
    do {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static void close_fd(int *fd)
{
    if (*fd > 2) {
        close(*fd);
    }
    *fd = -1;
}

static char *dup_path(const char *path)
{
    return path ? strdup(path) : NULL;
}

/* Error log */

/* Writes one error-log line when `level` passes the filter: time, level, pid#slot,
 * message; newlines inside the message become spaces so a line stays a line. Messages
 * longer than about 4 KiB are cut. Never blocks for more than one write(2). */
void mg_log_verror(mg_log_level_t level, const char *fmt, va_list ap)
{
    if (level < L.level || (unsigned)level >= MG_NELEMS(level_names)) {
        return;
    }
    int saved_errno = errno; /* callers often log and then look at errno */
    char line[ERR_LINE_MAX];
    update_time();
    int n;
    if (L.slot >= 0) {
        n = snprintf(line, sizeof(line), "%s [%s] %d#%d: ", L.t_err, level_names[level],
                     (int)getpid(), L.slot);
    } else {
        n = snprintf(line, sizeof(line), "%s [%s] %d#-: ", L.t_err, level_names[level],
                     (int)getpid());
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0) {
        m = 0;
    }
    size_t end = MG_MIN((size_t)n + (size_t)m, sizeof(line) - 2);
    for (size_t i = (size_t)n; i < end; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    line[end++] = '\n';
    ssize_t w;
    do {
        w = write(L.err_fd, line, end);
    } while (w < 0 && errno == EINTR);
    errno = saved_errno;
}

void mg_log_error(mg_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_log_verror(level, fmt, ap);
    va_end(ap);
}

/* True when a line at `level` would be written (to skip formatting debug output). */
bool mg_log_enabled(mg_log_level_t level)
{
    return level >= L.level;
}

/* Parses a level name; MG_OK with *out set, or MG_ERROR for an unknown name. */
int mg_log_level_parse(const char *s, mg_log_level_t *out)
{
    for (size_t i = 0; s != NULL && i < MG_NELEMS(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (mg_log_level_t)i;
            return MG_OK;
        }
    }
    return MG_ERROR;
}

/* Tags this process's lines with its worker slot (-1: the master, printed as "-"). */
void mg_log_set_slot(int slot)
{
    L.slot = slot < 0 ? -1 : slot;
}

/* Access-log writes */

static size_t count_lines(const char *p, size_t n)
{
    size_t lines = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) {
        lines++;
    }
    return lines;
}

/* Writes n bytes holding `lines` lines once. On failure or a short write the lines not
 * fully written are dropped and counted; an alert goes out at most every 10 s. */
static void write_out(const char *p, size_t n, size_t lines)
{
    ssize_t w;
    if (L.partial) {
        /* end the line a short write cut, so the next line starts on its own */
        L.partial = write(L.acc_fd, "\n", 1) != 1;
    }
    do {
        w = write(L.acc_fd, p, n);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) {
        if (L.unreported > 0) {
            mg_log_warn("access log \"%s\" writable again, %llu lines were lost", L.acc_path,
                        (unsigned long long)L.unreported);
            L.unreported = 0;
        }
        return;
    }
    const char *why = w < 0 ? strerror(errno) : "short write";
    size_t lost = w <= 0 ? lines : count_lines(p + w, n - (size_t)w);
    if (w > 0 && p[w - 1] != '\n') {
        L.partial = true;
    }
    L.dropped += lost;
    L.unreported += lost;
    time_t now = time(NULL);
    if (L.last_alert == 0 || now - L.last_alert >= ALERT_INTERVAL) {
        L.last_alert = now;
        mg_log_alert("write() to access log \"%s\" failed (%s), %zu lines dropped, "
                     "%llu since start",
                     L.acc_path, why, lost, (unsigned long long)L.dropped);
    }
}

/* Writes the buffered access-log lines now. Called by the worker's 1 s timer, on reopen
 * and at exit. */
void mg_log_flush(void)
{
    if (L.used > 0 && L.acc_fd >= 0) {
        write_out(L.buf, L.used, L.lines);
    }
    L.used = 0;
    L.lines = 0;
}

/* Lines dropped because an access-log write failed, since start. */
uint64_t mg_log_dropped(void)
{
    return L.dropped;
}

/* Formats a line too long for the buffer (or any line when buffering is off) on its own
 * and writes it right away. */
static void access_direct(const mg_access_rec_t *rec, size_t need)
{
    char stack[8192];
    char *p = need < sizeof(stack) ? stack : malloc(need + 1);
    if (p == NULL) {
        L.dropped++;
        L.unreported++;
        return;
    }
    size_t n = mg_log_format_access(L.acc_format, rec, p, need + 1);
    write_out(p, n, 1);
    if (p != stack) {
        free(p);
    }
}

/* Appends one line in the configured format to the buffer, writing the buffer first when
 * the line does not fit. `rec` is borrowed. */
bool mg_log_access_enabled(void)
{
    return L.acc_fd >= 0;
}

void mg_log_access(const mg_access_rec_t *rec)
{
    if (L.acc_fd < 0) {
        return;
    }
    size_t room = L.cap - L.used;
    size_t n = mg_log_format_access(L.acc_format, rec, L.buf ? L.buf + L.used : NULL, room);
    if (n < room) {
        L.used += n;
        L.lines++;
        return;
    }
    mg_log_flush();
    if (n < L.cap) {
        L.used = mg_log_format_access(L.acc_format, rec, L.buf, L.cap);
        L.lines = 1;
        return;
    }
    access_direct(rec, n);
}

/* Opening, reopening, closing */

/* Points the error log at `path` ("stderr" or NULL: standard error). MG_ERROR when the
 * file cannot be opened; standard error is used then. */
static int open_error_log(const char *path)
{
    close_fd(&L.err_fd);
    free(L.err_path);
    L.err_path = NULL;
    L.err_fd = 2;
    if (is_std_name(path)) {
        return MG_OK;
    }
    int fd = open_file(path);
    if (fd < 0) {
        mg_log_alert("could not open error log \"%s\": %s", path, strerror(errno));
        return MG_ERROR;
    }
    L.err_fd = fd;
    L.err_path = dup_path(path);
    return MG_OK;
}

/* Opens the access log at `path` (NULL: off) with a buffer of `cap` bytes (0: every
 * line is written at once). */
static int open_access_log(const char *path, mg_access_format_t fmt, size_t cap)
{
    mg_log_flush();
    close_fd(&L.acc_fd);
    free(L.acc_path);
    L.acc_path = dup_path(path);
    L.acc_format = fmt;
    L.partial = false;
    if (cap != L.cap) {
        free(L.buf);
        L.buf = cap ? malloc(cap) : NULL;
        L.cap = L.buf ? cap : 0;
    }
    if (path == NULL) {
        return MG_OK;
    }
    L.acc_fd = is_std_name(path) ? 2 : open_file(path);
    if (L.acc_fd < 0) {
        mg_log_err("could not open access log \"%s\": %s", path, strerror(errno));
        return MG_ERROR;
    }
    return MG_OK;
}

/* Opens the error and access logs named by conf (borrowed; paths are copied). NULL conf:
 * error log on standard error at level info, no access log. Pending access-log lines go
 * to the old file first. MG_OK, or MG_ERROR when a file could not be opened (the error
 * log then uses standard error; the access log is off until a reopen succeeds). */
int mg_log_open(const mg_log_conf_t *conf)
{
    mg_log_flush();
    L.level = conf ? conf->error_log_level : MG_LOG_INFO;
    int rc = open_error_log(conf ? conf->error_log_path : NULL);
    if (open_access_log(conf ? conf->access_log_path : NULL,
                        conf ? conf->access_log_format : MG_ACCESS_COMBINED,
                        conf ? conf->access_log_buffer : 0) != MG_OK) {
        rc = MG_ERROR;
    }
    return rc;
}

static void reopen_one(int *fd, const char *path, const char *what)
{
    if (is_std_name(path)) {
        return;
    }
    int nfd = open_file(path);
    if (nfd < 0) {
        mg_log_err("could not reopen %s \"%s\": %s, keeping the old file", what, path,
                   strerror(errno));
        return;
    }
    close_fd(fd);
    *fd = nfd;
}

/* Reopens both logs at their paths, e.g. after logrotate renamed them (SIGUSR1).
 * Pending access-log lines go to the old file first. A log that cannot be reopened
 * keeps its old descriptor. Call it from the event loop (a libev signal watcher), not
 * from a signal handler: it allocates nothing but it does log. */
void mg_log_reopen(void)
{
    mg_log_flush();
    reopen_one(&L.err_fd, L.err_path, "error log");
    if (L.err_fd < 0) {
        L.err_fd = 2;
    }
    if (L.acc_path != NULL) {
        reopen_one(&L.acc_fd, L.acc_path, "access log");
        L.partial = false;
    }
}

/* Writes pending access-log lines, closes both logs and goes back to standard error.
 * The dropped-lines counter survives. */
void mg_log_close(void)
{
    mg_log_flush();
    close_fd(&L.acc_fd);
    close_fd(&L.err_fd);
    L.err_fd = 2;
    free(L.err_path);
    free(L.acc_path);
    free(L.buf);
    L.err_path = L.acc_path = L.buf = NULL;
    L.cap = 0;
}

/* Access-log formats */

/* An output cursor that keeps counting past the end, for snprintf-like results. */
typedef struct {
    char *p;
    size_t cap, n;
} out_t;

static void put(out_t *o, const char *s, size_t len)
{
    if (o->n < o->cap) {
        memcpy(o->p + o->n, s, MG_MIN(len, o->cap - o->n));
    }
    o->n += len;
}

static void put_c(out_t *o, char c)
{
    put(o, &c, 1);
}

static void put_f(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_f(out_t *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    put(o, tmp, n > 0 ? MG_MIN((size_t)n, sizeof(tmp) - 1) : 0);
}

static void put_hex(out_t *o, const char *prefix, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    put(o, prefix, strlen(prefix));
    put_c(o, hex[c >> 4]);
    put_c(o, hex[c & 0xf]);
}

/* nginx's escaping for combined: '"', '\\', control bytes and bytes >= 0x7f as \xHH;
 * an empty value is "-". */
static void put_combined(out_t *o, mg_str_t s)
{
    if (s.len == 0) {
        put_c(o, '-');
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            put_hex(o, "\\x", c);
        } else {
            put_c(o, (char)c);
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

/* A JSON string: '"' and '\\' escaped, control bytes, DEL and bytes that are not part of
 * valid UTF-8 as \u00XX, valid UTF-8 kept as is. */
static void put_json_str(out_t *o, mg_str_t s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    put_c(o, '"');
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            put_c(o, '\\');
            put_c(o, (char)c);
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
                put(o, (const char *)p + i, len);
                i += len;
            }
        }
    }
    put_c(o, '"');
}

static void put_secs(out_t *o, double secs)
{
    if (secs < 0) {
        put_c(o, '-');
    } else {
        put_f(o, "%.3f", secs);
    }
}

static const char *const plugin_time_keys[MG_LOG_PLUGIN_PHASES] = {
    "plugin_rewrite_time",       "plugin_access_time",      "plugin_balancer_time",
    "plugin_header_filter_time", "plugin_body_filter_time", "plugin_log_time"};

static void format_combined(out_t *o, const mg_access_rec_t *r)
{
    put_combined(o, r->remote_addr);
    put(o, " - - [", 6);
    put(o, L.t_local, strlen(L.t_local));
    put(o, "] \"", 3);
    put_combined(o, r->method);
    put_c(o, ' ');
    put_combined(o, r->uri);
    put_f(o, " HTTP/%d.%d\" %d %llu \"", r->http_major, r->http_minor, r->status,
          (unsigned long long)r->bytes_sent);
    put_combined(o, r->referer);
    put(o, "\" \"", 3);
    put_combined(o, r->user_agent);
    put(o, "\" \"", 3);
    put_combined(o, r->route);
    put(o, "\" \"", 3);
    put_combined(o, r->upstream_addr);
    put(o, "\" ", 2);
    put_secs(o, r->upstream_time);
    put_c(o, ' ');
    put_secs(o, r->request_time);
    put(o, " \"", 2);
    put_combined(o, r->request_id);
    put(o, "\" ", 2);
    put_secs(o, r->upstream_connect_time);
    put_c(o, ' ');
    put_secs(o, r->upstream_header_time);
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        put_c(o, ' ');
        put_secs(o, r->plugin_time[i]);
    }
    put_c(o, '\n');
}

/* `,"key":` -- every key but the first ("time", written by hand). */
static void put_key(out_t *o, const char *key)
{
    put(o, ",\"", 2);
    put(o, key, strlen(key));
    put(o, "\":", 2);
}

static void put_str_field(out_t *o, const char *key, mg_str_t s)
{
    put_key(o, key);
    put_json_str(o, s);
}

/* Seconds with millisecond resolution, null when < 0 (not measured). */
static void put_secs_field(out_t *o, const char *key, double secs)
{
    put_key(o, key);
    if (secs >= 0) {
        put_f(o, "%.3f", secs);
    } else {
        put(o, "null", 4);
    }
}

static void format_json(out_t *o, const mg_access_rec_t *r)
{
    put(o, "{\"time\":\"", 9);
    put(o, L.t_iso, strlen(L.t_iso));
    put_c(o, '"');
    put_str_field(o, "remote_addr", r->remote_addr);
    put_str_field(o, "method", r->method);
    put_str_field(o, "uri", r->uri);
    put_key(o, "protocol");
    put_f(o, "\"HTTP/%d.%d\"", r->http_major, r->http_minor);
    put_key(o, "status");
    put_f(o, "%d", r->status);
    put_key(o, "bytes_sent");
    put_f(o, "%llu", (unsigned long long)r->bytes_sent);
    put_key(o, "request_length");
    put_f(o, "%llu", (unsigned long long)r->request_length);
    put_str_field(o, "referer", r->referer);
    put_str_field(o, "user_agent", r->user_agent);
    put_str_field(o, "host", r->host);
    put_str_field(o, "route", r->route);
    put_str_field(o, "upstream_addr", r->upstream_addr);
    put_key(o, "upstream_status");
    if (r->upstream_status > 0) {
        put_f(o, "%d", r->upstream_status);
    } else {
        put(o, "null", 4);
    }
    put_secs_field(o, "upstream_time", r->upstream_time);
    put_secs_field(o, "upstream_connect_time", r->upstream_connect_time);
    put_secs_field(o, "upstream_header_time", r->upstream_header_time);
    put_key(o, "request_time");
    put_f(o, "%.3f", r->request_time < 0 ? 0 : r->request_time);
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        put_secs_field(o, plugin_time_keys[i], r->plugin_time[i]);
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
    put(o, "}\n", 2);
}

/* Formats one record, newline included, into buf (may be NULL when len is 0) and
 * NUL-terminates it when there is room. Returns the line's length; a result >= len
 * means it did not fit, as with snprintf. Uses the current (per-second cached) time. */
size_t mg_log_format_access(mg_access_format_t fmt, const mg_access_rec_t *rec, char *buf,
                            size_t len)
{
    out_t o = {buf, len, 0};
    update_time();
    if (fmt == MG_ACCESS_JSON) {
        format_json(&o, rec);
    } else {
        format_combined(&o, rec);
    }
    if (o.n < len) {
        buf[o.n] = '\0';
    } else if (len > 0) {
        buf[len - 1] = '\0';
    }
    return o.n;
}
