/*
 * transport.c -- the plain transport: the socket's own syscalls behind the ops table
 * of transport.h.
 */
#include "transport.h"

#include <errno.h>
#include <ev.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t plain_read(mg_transport_t *t, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(t->fd, buf, len);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            t->want = errno == EAGAIN || errno == EWOULDBLOCK ? EV_READ : 0;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
}

static ssize_t plain_writev(mg_transport_t *t, const struct iovec *iov, int n)
{
    for (;;) {
        ssize_t w = writev(t->fd, iov, n);
        if (w >= 0) {
            return w;
        }
        if (errno != EINTR) {
            t->want = errno == EAGAIN || errno == EWOULDBLOCK ? EV_WRITE : 0;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
}

static int plain_shutdown(mg_transport_t *t)
{
    return shutdown(t->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void plain_close(mg_transport_t *t)
{
    close(t->fd);
    t->fd = -1;
}

static int plain_handshake(mg_transport_t *t)
{
    return MG_OK;
}

const mg_transport_ops_t mg_transport_plain = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .close = plain_close,
    .handshake = plain_handshake,
};
