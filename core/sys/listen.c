/*
 * listen.c -- listening sockets. The master opens them once and keeps them across
 * reloads and worker restarts, so a socket that stays configured is never closed and
 * connections waiting in its queue are never refused.
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

int mg_listen_open(const struct sockaddr *sa, socklen_t salen, int backlog)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        goto fail;
    }
    if (sa->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
        goto fail;
    }
    if (bind(fd, sa, salen) < 0 || listen(fd, backlog > 0 ? backlog : 511) < 0) {
        goto fail;
    }
    return fd;

fail:;
    int e = errno;
    close(fd);
    return -e;
}

int mg_listen_probe(const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int on = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (sa->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    if (bind(fd, sa, salen) < 0) {
        rc = -errno;
    }
    close(fd);
    return rc;
}

bool mg_listen_addr_eq(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
                       socklen_t blen)
{
    if (a->sa_family != b->sa_family) {
        return false;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return alen == blen && memcmp(a, b, alen) == 0;
}
