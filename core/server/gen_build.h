/*
 * gen_build.h -- assembling a config generation (base/gen.h) for a worker: the router,
 * the Lua state, the upstream runtimes and the cluster rate-limit client, from one
 * immutable conf snapshot.
 */
#ifndef MG_GEN_BUILD_H
#define MG_GEN_BUILD_H

#include "gen.h"

/* Builds a generation for worker `w` from `conf` (taken, also on failure). Returns it with
 * one reference, or NULL with a message in err. */
mg_gen_t *mg_gen_create(mg_worker_t *w, mg_conf_t *conf, uint64_t id, char *err, size_t errlen);

/* How many generations of this process are alive: the current one plus those that
 * in-flight requests still hold. A number that grows with every reload is a leak. */
unsigned mg_gen_live_count(void);

/* Attaches a generation built before its worker existed (mg_gen_create with w == NULL,
 * e.g. by the master right after fork) to worker `w`: its upstream runtimes start using
 * w's loop. Call before the first request uses it. */
void mg_gen_bind(mg_gen_t *g, mg_worker_t *w);

#endif
