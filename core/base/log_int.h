/*
 * log_int.h -- what the log's files share (log.c, log_format.c, log_template.c,
 * log_syslog.c): the output cursor the formatters write through, the escapes, the
 * time strings formatted once a second, and the syslog socket. Not for other modules.
 */
#ifndef MG_LOG_INT_H
#define MG_LOG_INT_H

#include "log.h"

#include <time.h>

/* An output cursor that keeps counting past the end, for snprintf-like results: bytes
 * beyond cap are not written but counted in n. */
typedef struct {
    char *p;
    size_t cap, n;
} mg__log_out_t;

static inline void mg__log_put(mg__log_out_t *o, const char *s, size_t len)
{
    if (o->n < o->cap) {
        memcpy(o->p + o->n, s, MG_MIN(len, o->cap - o->n));
    }
    o->n += len;
}

static inline void mg__log_putc(mg__log_out_t *o, char c)
{
    if (o->n < o->cap) {
        o->p[o->n] = c;
    }
    o->n++;
}

/* printf into the cursor; one call writes at most 63 bytes (numbers, short words). */
void mg__log_putf(mg__log_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An unsigned number in decimal, without printf. */
void mg__log_put_u64(mg__log_out_t *o, uint64_t v);

/* Seconds with millisecond resolution ("0.012"), or `none` when secs < 0. */
void mg__log_put_secs(mg__log_out_t *o, double secs, const char *none);

/* nginx's default escaping: '"', '\\', control bytes and bytes >= 0x7f as \xHH; an empty
 * value is "-". */
void mg__log_put_escaped(mg__log_out_t *o, mg_str_t s);

/* A JSON string, quotes included: '"' and '\\' escaped, control bytes, DEL and bytes
 * that are not part of valid UTF-8 as \u00XX, valid UTF-8 kept as is. */
void mg__log_put_json_str(mg__log_out_t *o, mg_str_t s);

/* The same without the quotes, for a string made of several parts. */
void mg__log_put_json_raw(mg__log_out_t *o, mg_str_t s);

/* Ends a formatted line in buf like snprintf (NUL when there is room, else at the last
 * byte) and returns its full length. */
size_t mg__log_out_end(mg__log_out_t *o);

/* The time strings, formatted again only when the second changed. */
typedef struct {
    time_t now;
    char err[32];    /* 2026/11/22 12:00:00 */
    char local[40];  /* 22/Nov/2026:12:00:00 +0000 */
    char iso[40];    /* 2026-11-22T12:00:00+00:00 */
    char syslog[20]; /* Nov 22 12:00:00 (RFC 3164: the day padded with a space) */
} mg__log_time_t;

const mg__log_time_t *mg__log_time(void);

/* Names of the plugin-time keys of the json format, in lua_runtime.h's phase order
 * (also the variable names). */
extern const char *const mg__log_plugin_time_keys[MG_LOG_PLUGIN_PHASES];

/* ---- the syslog socket (log_syslog.c) ---- */

/* Messages are cut to this many bytes, header included. */
#define MG_LOG_SYSLOG_MAX 8192

typedef struct {
    int fd;                 /* -1 when closed */
    bool connected;         /* connect() succeeded and no error undid it since */
    int err;                /* errno of the last failed connect() */
    time_t last_connect;    /* last attempt, to bound reconnects to one a second */
    mg_log_syslog_conf_t c; /* the target; c.target and c.tag are owned copies */
    char pri[8];            /* "<190>" */
    char tail[112];         /* after the time: " host tag: ", or " tag: " on a unix socket */
} mg__log_syslog_t;

/* Opens a non-blocking datagram socket to the conf's target (borrowed; its strings are
 * copied) into caller's storage s. A failed connect is not an error: the first send
 * retries it. MG_OK, or MG_ERROR when no socket could be made or memory ran out. */
int mg__log_syslog_init(mg__log_syslog_t *s, const mg_log_syslog_conf_t *conf);

/* Closes the socket and frees the copies. Safe on a zeroed or disposed s. */
void mg__log_syslog_dispose(mg__log_syslog_t *s);

/* Writes the message header ("<PRI>Mmm dd hh:mm:ss host tag: ") into buf (at least
 * 200 bytes) and returns its length. */
size_t mg__log_syslog_header(const mg__log_syslog_t *s, char *buf);

/* Sends one message of n bytes as one datagram without ever blocking. A socket that is
 * not connected (or lost its peer) is connected again, at most once a second. MG_OK,
 * or a negative errno: the message is lost (EAGAIN, ENOBUFS, ECONNREFUSED, ...). */
int mg__log_syslog_send(mg__log_syslog_t *s, const char *p, size_t n);

#endif
