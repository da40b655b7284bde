/*
 * http_conn_proxy.c -- the PROXY protocol header of a connection accepted on a
 * `proxy_protocol` listener (proxy_protocol.h), read before anything else: before the
 * first request, and on a TLS listener before the ClientHello.
 *
 * The header is taken from the socket itself and never a byte past it: each read
 * peeks first and consumes only what the parser says belongs to the header (all of
 * it while the header is incomplete, exactly up to its end once complete). What
 * follows stays in the socket for whoever reads next, the HTTP parser or OpenSSL,
 * so neither needs to know a header was there. A header split across any number of
 * segments works; the connection's header timeout bounds the wait.
 */
#include "http_conn_int.h"

#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

/* recv() with EINTR retried: the count, or a negative errno. */
static ssize_t recv_some(int fd, char *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, flags);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
}

/* The header's source becomes the connection's peer. */
static void take_source(mg_conn_t *c, const mg_pp_header_t *h)
{
    if (!h->has_addr) {
        return; /* LOCAL, UNKNOWN, UNSPEC, UNIX: the socket's peer stays */
    }
    if (inet_ntop(h->v6 ? AF_INET6 : AF_INET, h->src, c->addr, sizeof(c->addr)) != NULL) {
        c->port = h->src_port;
    }
}

int mg__conn_proxy_read(mg_conn_t *c, const char **why)
{
    /* a v2 header may be longer than a fresh read buffer */
    if ((c->buf == NULL && mg__buf_take(c) != MG_OK) || mg__buf_reserve(c, MG_PP_MAX) != MG_OK) {
        *why = "out of memory reading the PROXY protocol header";
        return MG_ERROR;
    }
    for (;;) {
        ssize_t n = recv_some(c->fd, c->buf + c->len, MG_PP_MAX - c->len, MSG_PEEK);
        if (n == -EAGAIN) {
            c->readable = false;
            return MG_AGAIN;
        }
        if (n <= 0) {
            *why = n == 0 ? "connection closed before the end of the PROXY protocol header"
                          : "connection reset before the end of the PROXY protocol header";
            return MG_ERROR;
        }
        mg_pp_header_t h;
        int rc = mg_pp_parse(c->buf, c->len + (size_t)n, &h, why);
        if (rc < 0) {
            return MG_ERROR;
        }
        size_t take = rc > 0 ? (size_t)rc - c->len : (size_t)n;
        if (recv_some(c->fd, c->buf + c->len, take, 0) != (ssize_t)take) {
            *why = "connection reset while reading the PROXY protocol header";
            return MG_ERROR; /* peeked bytes are in the socket: anything else is a fault */
        }
        c->len += (uint32_t)take;
        if (rc > 0) {
            take_source(c, &h);
            mg__buf_give(c);
            return MG_OK;
        }
    }
}
