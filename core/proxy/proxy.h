/*
 * proxy.h -- relays a routed request to its upstream and the response back.
 *
 * http_proxy.c runs the relay (tries, retries, the body buffer) over the outbound
 * client (upstream/http_client.h), which does the I/O and the timeouts; its pure parts
 * (the upstream request head, the retry rules) are upstream/proxy_head.h, unit-tested
 * without sockets.
 */
#ifndef MG_PROXY_H
#define MG_PROXY_H

#include <sys/socket.h> /* http.h names struct sockaddr */

#include "http.h"
#include "mg_core.h"
#include "proxy_head.h"

/* Takes over a request whose route has an upstream: installs r->handler, picks a node,
 * sends the request, streams the body both ways, retries on another node when allowed,
 * and ends the request with mg_http_finish()/mg_http_error(). */
void mg_proxy_start(mg_request_t *r);

/* The content handler (http_phase.h) of a route with an upstream: "100 Continue" when
 * the client waits for it, then mg_proxy_start(). Always MG_DONE. */
int mg_proxy_handler(mg_request_t *r, const void *data);

/* Frees the proxies kept for reuse beyond `keep` (after a burst, before a heap trim). */
void mg_proxy_free_list_cut(size_t keep);

#endif
