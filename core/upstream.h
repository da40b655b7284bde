/*
 * upstream.h -- an upstream as a worker runs it: nodes, the balancer, per-node pools of
 * idle keep-alive connections to upstream servers.
 */
#ifndef MG_UPSTREAM_H
#define MG_UPSTREAM_H

#include "mg_core.h"

/* Creates the runtime for upstream `c` in worker `w` (the conf outlives it). NULL when
 * out of memory. */
mg_upstream_t *mg_upstream_create(mg_worker_t *w, const mg_upstream_conf_t *c);

/* Closes pooled idle connections and frees the runtime. Called when the generation that
 * owns it is released, so no request uses it any more. */
void mg_upstream_destroy(mg_upstream_t *u);

#endif
