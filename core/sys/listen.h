/*
 * listen.h -- listening sockets, opened by the master and inherited by workers.
 */
#ifndef MG_LISTEN_H
#define MG_LISTEN_H

#include "mg_core.h"

#include <sys/socket.h>

/* Opens a non-blocking listening TCP socket on `sa` (SO_REUSEADDR; IPV6_V6ONLY for IPv6,
 * so "[::]:80" and "0.0.0.0:80" can coexist) with the given backlog (<= 0: 511). The fd
 * is close-on-exec. Returns the fd, or a negative errno. */
int mg_listen_open(const struct sockaddr *sa, socklen_t salen, int backlog);

/* Whether `sa` could be bound now (SO_REUSEADDR, as mg_listen_open does): binds a
 * socket without listening on it, then closes it. 0, or a negative errno (-EADDRINUSE
 * when something listens there). */
int mg_listen_probe(const struct sockaddr *sa, socklen_t salen);

/* True when two socket addresses name the same family, address and port. */
bool mg_listen_addr_eq(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
                       socklen_t blen);

#endif
