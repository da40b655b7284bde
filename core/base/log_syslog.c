/*
 * log_syslog.c -- the access log's syslog output: one datagram per line, RFC 3164
 * style as nginx sends it,
 *
 *   <190>Nov 22 12:00:00 gw1 moongate: 203.0.113.9 - - [22/Nov/2026:12:00:00 +0000] ...
 *
 * over a non-blocking AF_UNIX (e.g. /dev/log) or UDP socket connected once. The host
 * name is left out on a unix socket, as syslog(3) does: the local daemon knows it, and
 * journald would take it for the tag.
 *
 * Nothing here waits. A datagram the socket does not take at once (EAGAIN, ENOBUFS, a
 * receiver that is not there: ECONNREFUSED, ENOENT) is lost and the caller counts it. A
 * unix socket whose receiver went away (a restarted daemon) is made and connected again,
 * at most once a second, and so is a socket whose first connect() failed.
 */
#include "log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A fresh non-blocking datagram socket connected to the target; s->connected tells. */
static void connect_target(mg__log_syslog_t *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->connected = false;
    s->last_connect = time(NULL);
    s->fd = socket(s->c.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        s->err = errno;
        return;
    }
    int rc;
    do {
        rc = connect(s->fd, (const struct sockaddr *)&s->c.addr, s->c.addrlen);
    } while (rc < 0 && errno == EINTR);
    s->err = rc < 0 ? errno : 0;
    s->connected = rc == 0;
}

int mg__log_syslog_init(mg__log_syslog_t *s, const mg_log_syslog_conf_t *conf)
{
    *s = (mg__log_syslog_t){.fd = -1, .c = *conf};
    s->c.target = strdup(conf->target ? conf->target : "syslog");
    s->c.tag = strdup(conf->tag ? conf->tag : "moongate");
    if (s->c.target == NULL || s->c.tag == NULL) {
        mg__log_syslog_dispose(s);
        return MG_ERROR;
    }
    snprintf(s->pri, sizeof(s->pri), "<%d>", (conf->facility & 31) * 8 + (conf->severity & 7));
    char host[64] = "";
    if (conf->addr.ss_family != AF_UNIX && gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f) {
            *p = '-'; /* one field of the header: no space may split it */
        }
    }
    snprintf(s->tail, sizeof(s->tail), " %s%s%.32s: ", host, host[0] ? " " : "", s->c.tag);
    connect_target(s);
    if (s->fd < 0) {
        mg_log_err("cannot make a socket for syslog \"%s\": %s", s->c.target, strerror(s->err));
        mg__log_syslog_dispose(s);
        return MG_ERROR;
    }
    if (!s->connected) {
        mg_log_warn("syslog \"%s\" is not there (%s): access-log lines are dropped until it is",
                    s->c.target, strerror(s->err));
    }
    return MG_OK;
}

void mg__log_syslog_dispose(mg__log_syslog_t *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    free((char *)s->c.target);
    free((char *)s->c.tag);
    *s = (mg__log_syslog_t){.fd = -1};
}

size_t mg__log_syslog_header(const mg__log_syslog_t *s, char *buf)
{
    const mg__log_time_t *t = mg__log_time();
    size_t a = strlen(s->pri), b = strlen(t->syslog), c = strlen(s->tail);
    memcpy(buf, s->pri, a);
    memcpy(buf + a, t->syslog, b);
    memcpy(buf + a + b, s->tail, c);
    return a + b + c;
}

/* Errors that say the unix socket's receiver is gone, or that the socket never got one:
 * a new socket may find the daemon again. */
static bool receiver_gone(const mg__log_syslog_t *s, int err)
{
    return err == ENOTCONN || err == EDESTADDRREQ ||
           (s->c.addr.ss_family == AF_UNIX && (err == ECONNREFUSED || err == ENOENT));
}

static ssize_t send_once(mg__log_syslog_t *s, const char *p, size_t n)
{
    ssize_t w;
    do {
        w = send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : w;
}

int mg__log_syslog_send(mg__log_syslog_t *s, const char *p, size_t n)
{
    if (!s->connected) {
        if (time(NULL) == s->last_connect) {
            return -(s->err ? s->err : ENOTCONN);
        }
        connect_target(s);
        if (!s->connected) {
            return -(s->err ? s->err : ENOTCONN);
        }
    }
    ssize_t w = send_once(s, p, n);
    if (w >= 0) {
        return MG_OK;
    }
    if (!receiver_gone(s, (int)-w)) {
        return (int)w; /* EAGAIN, ENOBUFS, a UDP peer's ECONNREFUSED: this line only */
    }
    s->connected = false;
    if (time(NULL) == s->last_connect) {
        return (int)w;
    }
    connect_target(s);
    return s->connected && send_once(s, p, n) >= 0 ? MG_OK : (int)w;
}
