/*
 * log.h -- the error log (levels) and the access log (formats, buffered writes).
 *
 * One error log and one access log per process, opened from the config. Error-log
 * lines look like:
 *   2026/11/22 12:00:00 [error] 1234#0: upstream timed out, client: 1.2.3.4, request_id: ...
 * Access-log lines are appended to an in-memory buffer and written when it fills, on a
 * 1 s timer, and at exit, with non-blocking-friendly write(2) calls on O_APPEND files;
 * a failed or short write (disk full) drops the lines and bumps a counter, and the
 * next successful write logs how many were dropped. Nothing here ever blocks the loop
 * for longer than one write(2) on a regular file.
 *
 * The access log goes to a file or, instead, to syslog: one datagram per line on a
 * non-blocking socket (log_syslog.c), a line the socket does not take at once being
 * dropped and counted like a failed write. Its format is combined, json, or one the
 * operator shapes: a template of $variables or a list of JSON fields, compiled once at
 * configuration load (log_template.c).
 */
#ifndef MG_LOG_H
#define MG_LOG_H

#include "mg_core.h"

#include <stdarg.h>
#include <sys/socket.h>

typedef enum {
    MG_LOG_DEBUG = 0,
    MG_LOG_INFO,
    MG_LOG_NOTICE,
    MG_LOG_WARN,
    MG_LOG_ERROR,
    MG_LOG_CRIT,
    MG_LOG_ALERT
} mg_log_level_t;

typedef enum {
    MG_ACCESS_COMBINED = 0,
    MG_ACCESS_JSON,
    MG_ACCESS_SHAPED /* a compiled template or field list (mg_log_fmt_t) */
} mg_access_format_t;

/* A compiled template or JSON field list (log_template.c). One flat block without
 * inner pointers, so a copy is a memcpy of mg_log_fmt_size() bytes. */
typedef struct mg_log_fmt_s mg_log_fmt_t;

/* An access log sent to syslog instead of a file (`access_log: { syslog: ... }`). */
typedef struct {
    const char *target;           /* as configured: "unix:/dev/log", "udp:10.0.0.5:514" */
    struct sockaddr_storage addr; /* AF_UNIX, AF_INET or AF_INET6 */
    socklen_t addrlen;
    int facility;    /* 0 (kern) to 23 (local7) */
    int severity;    /* 0 (emerg) to 7 (debug) */
    const char *tag; /* the program name in each message, [A-Za-z0-9_.-], 1 to 32 bytes */
} mg_log_syslog_conf_t;

/* Where the logs go (the configuration's error_log and access_log, conf.h's
 * mg_conf_log()). Strings, the format and the syslog target are borrowed by
 * mg_log_open, which copies them. */
typedef struct {
    const char *error_log_path; /* absolute; "stderr" logs to standard error */
    mg_log_level_t error_log_level;
    const char *access_log_path; /* absolute; NULL when the access log is off or syslog */
    const mg_log_syslog_conf_t *access_log_syslog; /* NULL: a file (or off) */
    mg_access_format_t access_log_format;
    const mg_log_fmt_t *access_log_fmt; /* the compiled format when MG_ACCESS_SHAPED */
    size_t access_log_buffer;           /* bytes buffered before a write (files only) */
} mg_log_conf_t;

/* Opens the error log named by conf (or standard error when conf is NULL / path
 * "stderr"). Returns MG_OK or MG_ERROR (then standard error is used). Idempotent: a new
 * conf replaces the old target. */
int mg_log_open(const mg_log_conf_t *conf);

/* Reopens both logs at their configured paths (SIGUSR1). */
void mg_log_reopen(void);

/* Flushes and closes the logs (at process exit). */
void mg_log_close(void);

/* Sets the tag printed after the pid ("1234#<slot>"): worker slot, or -1 for master. */
void mg_log_set_slot(int slot);

/* Writes one error-log line if level >= the configured level. Never blocks for long. */
void mg_log_error(mg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mg_log_verror(mg_log_level_t level, const char *fmt, va_list ap);

bool mg_log_enabled(mg_log_level_t level);

#define mg_log_debug(...)                                                                          \
    do {                                                                                           \
        if (mg_log_enabled(MG_LOG_DEBUG))                                                          \
            mg_log_error(MG_LOG_DEBUG, __VA_ARGS__);                                               \
    } while (0)
#define mg_log_info(...) mg_log_error(MG_LOG_INFO, __VA_ARGS__)
#define mg_log_notice(...) mg_log_error(MG_LOG_NOTICE, __VA_ARGS__)
#define mg_log_warn(...) mg_log_error(MG_LOG_WARN, __VA_ARGS__)
#define mg_log_err(...) mg_log_error(MG_LOG_ERROR, __VA_ARGS__)
#define mg_log_crit(...) mg_log_error(MG_LOG_CRIT, __VA_ARGS__)
#define mg_log_alert(...) mg_log_error(MG_LOG_ALERT, __VA_ARGS__)

/* Parses "debug|info|notice|warn|error|crit|alert". MG_OK or MG_ERROR. */
int mg_log_level_parse(const char *s, mg_log_level_t *out);

/* Phases whose plugin time the access log shows, in lua_runtime.h's order. */
#define MG_LOG_PLUGIN_PHASES 6

/* One upstream try as the proxy records it (http.h calls it mg_http_try_t), for the
 * access log and the trace. */
typedef struct {
    mg_str_t addr;       /* the node's address */
    int status;          /* the status of its response head, 0 when none came */
    double start;        /* ev_now() when the try began */
    double connect_time; /* seconds to its connection (0 for a kept-alive one), < 0 none */
    double header_time;  /* seconds to its response head, < 0 when none came */
    double time;         /* seconds from its begin to its end (head, failure or abort) */
    const char *error;   /* why it failed (static), NULL when it did not */
} mg_access_try_t;

/* One access-log record, filled by the HTTP layer when a request ends. All strings are
 * borrowed for the duration of the call. */
typedef struct {
    mg_str_t remote_addr; /* the client (X-Forwarded-For from a trusted proxy) */
    int remote_port;      /* 0 when unknown (remote_addr came from a header) */
    mg_str_t peer_addr;   /* the connection's peer, nginx's $realip_remote_addr */
    int peer_port;
    mg_str_t method;
    mg_str_t uri; /* the request target as received */
    int http_major, http_minor;
    int status;
    uint64_t bytes_sent;      /* body + headers sent to the client */
    uint64_t body_bytes_sent; /* the response body alone (without chunk framing) */
    uint64_t request_length;  /* bytes read from the client for this request */
    mg_str_t referer;
    mg_str_t user_agent;
    mg_str_t host;
    mg_str_t route;               /* route name, empty when none matched */
    mg_str_t upstream;            /* the upstream the request went to (a plugin's choice,
                                     else the route's), empty when none */
    mg_str_t upstream_addr;       /* "ip:port" of the last node tried, empty when none */
    int upstream_status;          /* 0 when none */
    double upstream_time;         /* seconds from the first try to the response's end, < 0
                                     when no upstream */
    double upstream_connect_time; /* seconds the last try took to get its connection, < 0 */
    double upstream_header_time;  /* seconds from the first try to the response head, < 0 */
    double request_time;          /* seconds, from first byte to last byte sent */
    /* seconds of plugin code per phase (rewrite, access, balancer, header_filter,
     * body_filter, log), < 0 when none ran in it */
    double plugin_time[MG_LOG_PLUGIN_PHASES];
    mg_str_t request_id;
    double start;         /* epoch seconds when the request began */
    mg_str_t scheme;      /* "http" or "https" */
    mg_str_t tls_version; /* "TLSv1.3"; empty over plain HTTP */
    mg_str_t tls_cipher;
    mg_str_t tls_sni;             /* the name the client asked for, empty without */
    mg_str_t consumer;            /* the consumer a plugin named, empty without */
    mg_str_t trace_id;            /* 32 hex digits of the request's trace, empty without tracing */
    const mg_access_try_t *tries; /* the upstream tries in order, ntries of them */
    unsigned ntries;
} mg_access_rec_t;

/* True when an access log is open (not `access_log: off`). */
bool mg_log_access_enabled(void);

/* Appends one line in the configured format. Cheap: formats into the buffer. */
void mg_log_access(const mg_access_rec_t *rec);

/* Writes buffered access-log lines now. Called by a 1 s timer and at exit. */
void mg_log_flush(void);

/* Lines dropped because a write failed (disk full) or the syslog socket did not take
 * them, since start. */
uint64_t mg_log_dropped(void);

/* Formats one access record into buf (for tests). Returns the length written, or the
 * length needed if it does not fit (like snprintf). */
size_t mg_log_format_access(mg_access_format_t fmt, const mg_access_rec_t *rec, char *buf,
                            size_t len);

/* ---- shaped formats (log_template.c) ---- */

/* Why a format did not compile: the message names the culprit; `pos` is the byte offset
 * in the template (or the index in the field list) it is at. */
typedef struct {
    size_t pos;
    char msg[900];
} mg_log_fmt_err_t;

/* Compiles a template such as `$remote_addr [$time_local] "${request}" $status` (len
 * bytes of src, borrowed) into pool. `$name` and `${name}` are variables, `$$` is a
 * '$', anything else is kept as written; at least one variable is required, and control
 * characters other than tab are refused (a line must stay a line). Returns the format,
 * or NULL with *err filled (unknown variable, bad syntax, too long, out of memory). */
mg_log_fmt_t *mg_log_fmt_template(mg_pool_t *pool, const char *src, size_t len,
                                  mg_log_fmt_err_t *err);

/* Compiles a list of n variable names (borrowed) into a JSON-lines format in pool: one
 * object per line with exactly those keys, in that order. NULL with *err filled
 * (unknown or repeated name, empty list, out of memory); err->pos is the name's index. */
mg_log_fmt_t *mg_log_fmt_fields(mg_pool_t *pool, const char *const *names, size_t n,
                                mg_log_fmt_err_t *err);

/* The bytes of a compiled format, for copying it. */
size_t mg_log_fmt_size(const mg_log_fmt_t *fmt);

/* Formats one record with a compiled format, newline included, like
 * mg_log_format_access(). No allocation. */
size_t mg_log_fmt_format(const mg_log_fmt_t *fmt, const mg_access_rec_t *rec, char *buf,
                         size_t len);

/* The names of every variable, space-separated (for messages and documentation). */
const char *mg_log_fmt_names(void);

#endif
