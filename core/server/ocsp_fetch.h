/*
 * ocsp_fetch.h -- a worker keeps the staples of `ocsp: { fetch: true }` certificates
 * fresh (sys/tls_ocsp.h holds them), asking each leaf's responder in the background.
 */
#ifndef MG_OCSP_FETCH_H
#define MG_OCSP_FETCH_H

#include "mg_core.h"

/* Starts the fetches that are due: a certificate seen for the first time at once, then
 * at half the staple's remaining validity and at least hourly, failures with a backoff
 * of 10 s doubling to 5 min. Called from the worker's tick, and after a generation is
 * built so that new certificates need not wait for it. Never blocks; does nothing
 * while the worker drains. */
void mg_ocsp_fetch_tick(mg_worker_t *w);

#endif
