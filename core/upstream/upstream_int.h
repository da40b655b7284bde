/*
 * upstream_int.h -- what upstream.c and upstream_dns.c share about a runtime upstream
 * whose nodes come from DNS. Not for other folders: they see upstream.h only.
 */
#ifndef MG_UPSTREAM_INT_H
#define MG_UPSTREAM_INT_H

#include "upstream.h"

/* Sets up u->dns for c (c->dynamic): u->conf becomes the runtime's own copy of c whose
 * node list starts with c's IP nodes, then the addresses this process last resolved
 * for c's names (an earlier generation's), if any. u->nodes must have room for
 * MG_UPSTREAM_MAX_NODES nodes. MG_OK or MG_ERROR (out of memory). */
int mg__upstream_dns_create(mg_upstream_t *u, const mg_upstream_conf_t *c);

/* Starts resolving u's names on its worker's loop (from the next loop iteration: the
 * worker's resolver may not exist yet). No-op without u->dns. */
void mg__upstream_dns_start(mg_upstream_t *u);

/* Cancels what u->dns waits for and frees it (u->conf then points at the original
 * conf again, for the rest of the teardown). No-op without u->dns. */
void mg__upstream_dns_destroy(mg_upstream_t *u);

/* Node i now holds the address in u->conf->nodes[i] (set by the caller), which came
 * from the name `host` ("name:port" as written, or an SRV target "target:port"): its
 * shared state slot, its TLS names, its gone bit cleared. A slot reused from another
 * address first lets go of that one's. MG_OK or MG_ERROR (out of memory). */
int mg__upstream_node_take(mg_upstream_t *u, int i, const char *host);

/* Node i left its name's answer: never picked again, its idle connections closed;
 * those in use are closed when released. */
void mg__upstream_node_gone(mg_upstream_t *u, int i);

/* The balancer again over u->conf's nodes, after they changed. MG_OK, or MG_ERROR
 * (out of memory: the old balancer stays). */
int mg__upstream_rebalance(mg_upstream_t *u);

#endif
