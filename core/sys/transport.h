/*
 * transport.h -- how a connection's bytes move: a small ops table every client and
 * upstream connection does its I/O through, so that TLS plugs in as a second
 * transport without touching the HTTP code.
 *
 * The calls follow the syscalls they stand for, libuv style: a count of bytes, 0 for
 * the end of the stream, or a negative errno (-EAGAIN: nothing now; EINTR is retried
 * inside). `want` tells which readiness a transport waits for when it answered
 * -EAGAIN: a TLS read may need the socket writable (a renegotiation, a key update),
 * and a handshake needs either.
 */
#ifndef MG_TRANSPORT_H
#define MG_TRANSPORT_H

#include "mg_core.h"

#include <sys/types.h>
#include <sys/uio.h>

typedef struct mg_transport_s mg_transport_t;

typedef struct {
    const char *name; /* "plain"; later "tls" */
    /* Reads up to len bytes. */
    ssize_t (*read)(mg_transport_t *t, void *buf, size_t len);
    /* Writes from iov (n entries, n <= IOV_MAX). */
    ssize_t (*writev)(mg_transport_t *t, const struct iovec *iov, int n);
    /* Ends our side of the stream in order (a FIN; for TLS a close_notify first).
     * 0 or a negative errno. */
    int (*shutdown)(mg_transport_t *t);
    /* Releases everything, the descriptor included. */
    void (*close)(mg_transport_t *t);
    /* Advances the opening handshake: MG_OK when done (or none is needed), MG_AGAIN
     * (wait for t->want), MG_ERROR. */
    int (*handshake)(mg_transport_t *t);
} mg_transport_ops_t;

struct mg_transport_s {
    const mg_transport_ops_t *ops;
    int fd;      /* the socket; -1 once closed */
    int want;    /* EV_READ / EV_WRITE a call that said -EAGAIN waits for */
    void *state; /* the transport's own (a TLS session); NULL for plain */
};

/* Plain TCP (or a Unix socket): the syscalls themselves. */
extern const mg_transport_ops_t mg_transport_plain;

/* Sets up `t` as a plain transport over `fd` (taken: closed by t->ops->close). */
static inline void mg_transport_init_plain(mg_transport_t *t, int fd)
{
    t->ops = &mg_transport_plain;
    t->fd = fd;
    t->want = 0;
    t->state = NULL;
}

static inline ssize_t mg_transport_read(mg_transport_t *t, void *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}

static inline ssize_t mg_transport_writev(mg_transport_t *t, const struct iovec *iov, int n)
{
    return t->ops->writev(t, iov, n);
}

static inline ssize_t mg_transport_write(mg_transport_t *t, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return t->ops->writev(t, &iov, 1);
}

static inline int mg_transport_shutdown(mg_transport_t *t)
{
    return t->ops->shutdown(t);
}

static inline void mg_transport_close(mg_transport_t *t)
{
    if (t->fd >= 0) {
        t->ops->close(t);
    }
}

#endif
