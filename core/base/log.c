/*
 * log.c -- the error log and the access log of one process.
 *
 * Error-log lines are formatted on the stack and written with a single write(2) on an
 * O_APPEND descriptor, so lines from several workers sharing one file never interleave.
 * Access-log lines are formatted straight into a per-process buffer and written in one
 * write(2) when the buffer fills, on the worker's 1 s timer (mg_log_flush) and at exit.
 * An access log sent to syslog has no buffer: each line is formatted on the stack after
 * its syslog header and sent as one datagram (log_syslog.c).
 *
 * A failed or short access-log write never retries or blocks: the lines in that write
 * are dropped and counted, one alert per 10 s at most goes to the error log, and the
 * next successful write reports how many lines were lost in between. A datagram the
 * syslog socket refuses is dropped and counted the same way (an [error], since the
 * receiver, not the gateway, is at fault).
 *
 * State is per process (workers are single-threaded); a worker inherits the master's
 * descriptors across fork and calls mg_log_set_slot() to tag its lines.
 */
#include "log_int.h"

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

    int acc_fd;     /* -1 when the access log is off, goes to syslog, or failed to open */
    char *acc_path; /* NULL when off or syslog */
    mg_access_format_t acc_format;
    mg_log_fmt_t *acc_fmt;   /* a copy of the compiled format when MG_ACCESS_SHAPED */
    mg__log_syslog_t syslog; /* used when syslog_on */
    bool syslog_on;
    char *buf; /* pending access-log lines */
    size_t cap, used, lines;
    uint64_t dropped;    /* lines lost since start */
    uint64_t unreported; /* lines lost since the last successful write */
    time_t last_alert;
    bool partial; /* a short write left a line without its newline */
} L = {.err_fd = 2, .level = MG_LOG_INFO, .slot = -1, .acc_fd = -1, .syslog = {.fd = -1}};

static bool is_std_name(const char *path)
{
    return path == NULL || strcmp(path, "stderr") == 0 || strcmp(path, "stdout") == 0;
}

/* The descriptor of a standard name: 1 for "stdout", else 2. */
static int std_fd(const char *path)
{
    return path != NULL && strcmp(path, "stdout") == 0 ? 1 : 2;
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
    const char *now = mg__log_time()->err;
    int n;
    if (L.slot >= 0) {
        n = snprintf(line, sizeof(line), "%s [%s] %d#%d: ", now, level_names[level], (int)getpid(),
                     L.slot);
    } else {
        n = snprintf(line, sizeof(line), "%s [%s] %d#-: ", now, level_names[level], (int)getpid());
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

/* Counts `lost` lines the file or the syslog socket did not take; one line about it in
 * the error log every 10 s at most. */
static void count_lost(size_t lost, const char *why)
{
    L.dropped += lost;
    L.unreported += lost;
    time_t now = time(NULL);
    if (L.last_alert != 0 && now - L.last_alert < ALERT_INTERVAL) {
        return;
    }
    L.last_alert = now;
    if (L.syslog_on) {
        mg_log_err("send() to syslog \"%s\" failed (%s), %zu lines dropped, %llu since start",
                   L.syslog.c.target, why, lost, (unsigned long long)L.dropped);
    } else {
        mg_log_alert("write() to access log \"%s\" failed (%s), %zu lines dropped, "
                     "%llu since start",
                     L.acc_path, why, lost, (unsigned long long)L.dropped);
    }
}

/* A write or send went through: says how many lines were lost before it, if any. */
static void count_sent(void)
{
    if (L.unreported == 0) {
        return;
    }
    if (L.syslog_on) {
        mg_log_warn("syslog \"%s\" takes lines again, %llu lines were lost", L.syslog.c.target,
                    (unsigned long long)L.unreported);
    } else {
        mg_log_warn("access log \"%s\" writable again, %llu lines were lost", L.acc_path,
                    (unsigned long long)L.unreported);
    }
    L.unreported = 0;
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
        count_sent();
        return;
    }
    const char *why = w < 0 ? strerror(errno) : "short write";
    size_t lost = w <= 0 ? lines : count_lines(p + w, n - (size_t)w);
    if (w > 0 && p[w - 1] != '\n') {
        L.partial = true;
    }
    count_lost(lost, why);
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

/* Lines dropped because an access-log write or send failed, since start. */
uint64_t mg_log_dropped(void)
{
    return L.dropped;
}

/* One line in the configured format; snprintf-like (see mg_log_format_access). */
static size_t format_line(const mg_access_rec_t *rec, char *buf, size_t len)
{
    if (L.acc_fmt != NULL) {
        return mg_log_fmt_format(L.acc_fmt, rec, buf, len);
    }
    return mg_log_format_access(L.acc_format, rec, buf, len);
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
    size_t n = format_line(rec, p, need + 1);
    write_out(p, n, 1);
    if (p != stack) {
        free(p);
    }
}

/* One line as one syslog datagram: the header, then the line without its newline, cut
 * to MG_LOG_SYSLOG_MAX bytes in all. Formatted on the stack, sent at once. */
static void access_syslog(const mg_access_rec_t *rec)
{
    char msg[MG_LOG_SYSLOG_MAX + 1];
    size_t h = mg__log_syslog_header(&L.syslog, msg);
    size_t room = sizeof(msg) - h;
    size_t n = MG_MIN(format_line(rec, msg + h, room), room - 1);
    if (n > 0 && msg[h + n - 1] == '\n') {
        n--;
    }
    int rc = mg__log_syslog_send(&L.syslog, msg, h + n);
    if (rc == MG_OK) {
        count_sent();
    } else {
        count_lost(1, strerror(-rc));
    }
}

/* True when an access log is open (a file or syslog; not off). */
bool mg_log_access_enabled(void)
{
    return L.acc_fd >= 0 || L.syslog_on;
}

/* Appends one line in the configured format to the buffer, writing the buffer first when
 * the line does not fit; or sends it to syslog. `rec` is borrowed. */
void mg_log_access(const mg_access_rec_t *rec)
{
    if (L.syslog_on) {
        access_syslog(rec);
        return;
    }
    if (L.acc_fd < 0) {
        return;
    }
    size_t room = L.cap - L.used;
    size_t n = format_line(rec, L.buf ? L.buf + L.used : NULL, room);
    if (n < room) {
        L.used += n;
        L.lines++;
        return;
    }
    mg_log_flush();
    if (n < L.cap) {
        L.used = format_line(rec, L.buf, L.cap);
        L.lines = 1;
        return;
    }
    access_direct(rec, n);
}

/* Opening, reopening, closing */

/* Points the error log at `path` ("stderr", "stdout" or NULL: standard error). MG_ERROR
 * when the file cannot be opened; standard error is used then. */
static int open_error_log(const char *path)
{
    close_fd(&L.err_fd);
    free(L.err_path);
    L.err_path = NULL;
    L.err_fd = 2;
    if (is_std_name(path)) {
        L.err_fd = std_fd(path);
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

/* Keeps a copy of the compiled format (NULL: none), which outlives the configuration. */
static int set_format(mg_access_format_t fmt, const mg_log_fmt_t *shaped)
{
    free(L.acc_fmt);
    L.acc_fmt = NULL;
    L.acc_format = fmt;
    if (fmt != MG_ACCESS_SHAPED) {
        return MG_OK;
    }
    if (shaped != NULL) {
        L.acc_fmt = malloc(mg_log_fmt_size(shaped));
    }
    if (L.acc_fmt == NULL) {
        L.acc_format = MG_ACCESS_COMBINED;
        mg_log_err("no access-log format (%s), writing combined lines",
                   shaped ? "out of memory" : "none compiled");
        return MG_ERROR;
    }
    memcpy(L.acc_fmt, shaped, mg_log_fmt_size(shaped));
    return MG_OK;
}

/* Opens the access log conf names: a file at access_log_path (NULL: off) with a buffer of
 * access_log_buffer bytes (0: every line is written at once), or syslog. */
static int open_access_log(const mg_log_conf_t *conf)
{
    mg_log_flush();
    close_fd(&L.acc_fd);
    mg__log_syslog_dispose(&L.syslog);
    L.syslog_on = false;
    free(L.acc_path);
    const char *path = conf ? conf->access_log_path : NULL;
    const mg_log_syslog_conf_t *sl = conf ? conf->access_log_syslog : NULL;
    size_t cap = conf && sl == NULL ? conf->access_log_buffer : 0;
    L.acc_path = sl ? NULL : dup_path(path);
    L.partial = false;
    if (cap != L.cap) {
        free(L.buf);
        L.buf = cap ? malloc(cap) : NULL;
        L.cap = L.buf ? cap : 0;
    }
    int rc = set_format(conf ? conf->access_log_format : MG_ACCESS_COMBINED,
                        conf ? conf->access_log_fmt : NULL);
    if (sl != NULL) {
        L.syslog_on = mg__log_syslog_init(&L.syslog, sl) == MG_OK;
        return L.syslog_on ? rc : MG_ERROR;
    }
    if (path == NULL) {
        return rc;
    }
    L.acc_fd = is_std_name(path) ? std_fd(path) : open_file(path);
    if (L.acc_fd < 0) {
        mg_log_err("could not open access log \"%s\": %s", path, strerror(errno));
        return MG_ERROR;
    }
    return rc;
}

/* Opens the error and access logs named by conf (borrowed; paths, the format and the
 * syslog target are copied). NULL conf: error log on standard error at level info, no
 * access log. Pending access-log lines go to the old file first. MG_OK, or MG_ERROR
 * when a file could not be opened (the error log then uses standard error; the access
 * log is off until a reopen succeeds) or no syslog socket could be made. A syslog
 * receiver that is not there yet is no error: lines are dropped until it is. */
int mg_log_open(const mg_log_conf_t *conf)
{
    mg_log_flush();
    L.level = conf ? conf->error_log_level : MG_LOG_INFO;
    int rc = open_error_log(conf ? conf->error_log_path : NULL);
    if (open_access_log(conf) != MG_OK) {
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

/* Reopens both logs at their paths, e.g. after logrotate renamed them (SIGUSR1), and
 * connects the syslog socket again (a restarted syslog daemon). Pending access-log
 * lines go to the old file first. A log that cannot be reopened keeps its old
 * descriptor. Call it from the event loop (a libev signal watcher), not from a signal
 * handler: it allocates nothing but it does log. */
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
    if (L.syslog_on) {
        L.syslog.connected = false;
        L.syslog.last_connect = 0;
    }
}

/* Writes pending access-log lines, closes both logs and goes back to standard error.
 * The dropped-lines counter survives. */
void mg_log_close(void)
{
    mg_log_flush();
    close_fd(&L.acc_fd);
    close_fd(&L.err_fd);
    mg__log_syslog_dispose(&L.syslog);
    L.syslog_on = false;
    L.err_fd = 2;
    free(L.err_path);
    free(L.acc_path);
    free(L.buf);
    free(L.acc_fmt);
    L.err_path = L.acc_path = L.buf = NULL;
    L.acc_fmt = NULL;
    L.acc_format = MG_ACCESS_COMBINED;
    L.cap = 0;
}
