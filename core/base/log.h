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
 */
#ifndef MG_LOG_H
#define MG_LOG_H

#include "mg_core.h"

#include <stdarg.h>

typedef enum {
    MG_LOG_DEBUG = 0,
    MG_LOG_INFO,
    MG_LOG_NOTICE,
    MG_LOG_WARN,
    MG_LOG_ERROR,
    MG_LOG_CRIT,
    MG_LOG_ALERT
} mg_log_level_t;

typedef enum { MG_ACCESS_COMBINED = 0, MG_ACCESS_JSON } mg_access_format_t;

/* Where the logs go (the configuration's error_log and access_log, conf.h's
 * mg_conf_log()). Strings are borrowed by mg_log_open, which copies them. */
typedef struct {
    const char *error_log_path; /* absolute; "stderr" logs to standard error */
    mg_log_level_t error_log_level;
    const char *access_log_path; /* absolute; NULL when the access log is off */
    mg_access_format_t access_log_format;
    size_t access_log_buffer; /* bytes buffered before a write */
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

/* One access-log record, filled by the HTTP layer when a request ends. All strings are
 * borrowed for the duration of the call. */
typedef struct {
    mg_str_t remote_addr;
    mg_str_t method;
    mg_str_t uri; /* the request target as received */
    int http_major, http_minor;
    int status;
    uint64_t bytes_sent;     /* body + headers sent to the client */
    uint64_t request_length; /* bytes read from the client for this request */
    mg_str_t referer;
    mg_str_t user_agent;
    mg_str_t host;
    mg_str_t route;               /* route name, empty when none matched */
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
    mg_str_t tls_sni;     /* the name the client asked for, empty without */
    mg_str_t consumer;    /* the consumer a plugin named, empty without */
    mg_str_t trace_id;    /* 32 hex digits of the request's trace, empty without tracing */
    const void *tries;    /* the upstream tries (http.h's mg_http_try_t), ntries of them */
    unsigned ntries;
} mg_access_rec_t;

/* True when an access log is open (not `access_log: off`). */
bool mg_log_access_enabled(void);

/* Appends one line in the configured format. Cheap: formats into the buffer. */
void mg_log_access(const mg_access_rec_t *rec);

/* Writes buffered access-log lines now. Called by a 1 s timer and at exit. */
void mg_log_flush(void);

/* Lines dropped because a write failed (disk full), since start. */
uint64_t mg_log_dropped(void);

/* Formats one access record into buf (for tests). Returns the length written, or the
 * length needed if it does not fit (like snprintf). */
size_t mg_log_format_access(mg_access_format_t fmt, const mg_access_rec_t *rec, char *buf,
                            size_t len);

#endif
