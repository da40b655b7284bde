/*
 * proxy.h -- relays a routed request to its upstream and the response back.
 */
#ifndef MG_PROXY_H
#define MG_PROXY_H

#include "mg_core.h"

/* Takes over a request whose route has an upstream: installs r->handler, picks a node,
 * sends the request, streams the body both ways, retries on another node when allowed,
 * and ends the request with mg_http_finish()/mg_http_error(). */
void mg_proxy_start(mg_request_t *r);

#endif
