/*
 * tunnel.h -- the content of a WebSocket tunnel: once the upstream answered 101, raw
 * bytes between the client's connection (in the session's tunnel mode, http.h) and the
 * upstream connection the handshake went over (never pooled again).
 */
#ifndef MG_TUNNEL_H
#define MG_TUNNEL_H

#include "http.h"
#include "mg_core.h"
#include "upstream.h"

/* Opens the tunnel of `r`, whose 101 head went to mg_http_send_head(): takes `uc` (the
 * upstream connection, watchers stopped), writes the 101 head and then `rest` (what the
 * upstream sent after its head, borrowed for the call) to the client, and relays both
 * ways with backpressure until one side closes, fails or the route's `timeouts.tunnel`
 * passes without a byte either way; then it ends the request (the log phase sees
 * status 101, the bytes both ways and the duration). */
void mg_tunnel_start(mg_request_t *r, mg_upstream_conn_t *uc, const char *rest, size_t len);

/* The content handler's check before a handshake goes up: 0, or 503 when
 * `http.max_tunnels` tunnels are open or on their way (logged). */
int mg_tunnel_admit(mg_request_t *r);

#endif
