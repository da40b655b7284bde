/*
 * realip.h -- the client's real address (nginx's real_ip_recursive, Envoy's trusted
 * hops): a peer in `trusted_proxies` is a proxy, and the client is whom its
 * X-Forwarded-For names, walking from the right past the proxies we trust.
 *
 * The peer is the connection's (the PROXY protocol's source when the listener has
 * `proxy_protocol`). A peer outside the list is the client, whatever it claims.
 */
#ifndef MG_REALIP_H
#define MG_REALIP_H

#include "cidr.h"
#include "mg_core.h"

/* The client among the X-Forwarded-For values (n header lines, in received order: one
 * list). Walking from the right and skipping empty elements, entries in `trusted` are
 * passed; the first that is not is the client. When every entry is trusted, the
 * left-most is. MG_OK with *out, or MG_DECLINED when there is no entry, or the walk
 * meets one that is not a bare IP address (a port, brackets, "unknown", obs-text,
 * inner spaces): the peer is then the client, as with nginx. Values are borrowed. */
int mg_realip_select(const mg_cidr_set_t *trusted, const mg_str_t *values, size_t n, mg_ip_t *out);

/* Decides r's addresses once its head is read: r->peer_addr/peer_port (the
 * connection's), r->remote_addr/remote_port (the client: the peer, or the address
 * X-Forwarded-For gives when the peer is trusted; the port is then unknown, 0),
 * r->peer_trusted, and r->forwarded_for, the X-Forwarded-For sent upstream: the
 * client's list with the peer appended when the peer is trusted, else the peer alone.
 * MG_OK, or MG_ERROR when out of memory. */
int mg_realip_apply(mg_request_t *r);

#endif
