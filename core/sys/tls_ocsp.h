/*
 * tls_ocsp.h -- OCSP stapling: the responses a TLS server hands to clients that ask
 * (status_request), one per leaf certificate, and what a fetcher needs to keep them
 * fresh.
 *
 * A staple is the DER OCSP response for one leaf. It is kept only once it checks out
 * against the leaf's issuer (the second certificate of its `cert` file): it parses,
 * says "successful", holds exactly one answer for this certificate, is signed by the
 * issuer or by a responder the issuer delegated (certificate included), says "good",
 * and is current (thisUpdate/nextUpdate, a few minutes of leeway). Handshakes only
 * copy what is there: nothing is read, fetched or waited for while a client waits, and
 * a staple past its nextUpdate is dropped, never served.
 *
 * Two sources, one per certificate entry (tls.certificates[].ocsp):
 *   - `file`: the bytes read with the config, checked when each generation is built;
 *   - `fetch`: an entry in this process's cache, keyed by the leaf's SHA-256, which the
 *     fetcher (server/ocsp_fetch.c) fills from the responder the leaf names. Every
 *     generation that serves the same leaf shares the entry, so a reload keeps its
 *     staple at once. Entries live as long as a generation uses them.
 *
 * Single-threaded: everything runs on the loop of the process that built the server.
 */
#ifndef MG_TLS_OCSP_H
#define MG_TLS_OCSP_H

#include "mg_core.h"

#include <stddef.h>

/* One leaf's staple and where it comes from. */
typedef struct mg_tls_ocsp_s mg_tls_ocsp_t;

/* Staples this far past nextUpdate (or before thisUpdate) still count as current:
 * clocks differ. */
#define MG_TLS_OCSP_LEEWAY 300

/* ---- for the fetcher ---- */

/* The cache entries to fetch for, in this process: the first after `prev` (NULL: the
 * first of all), NULL at the end. Borrowed; valid until the generations that use the
 * entry are released (then the job hook below is told first). */
mg_tls_ocsp_t *mg_tls_ocsp_fetch_next(mg_tls_ocsp_t *prev);

/* The responder URL of e's leaf ("http://..."), and a name for logs (its subject).
 * Both borrowed for e's lifetime. */
const char *mg_tls_ocsp_url(const mg_tls_ocsp_t *e);
const char *mg_tls_ocsp_name(const mg_tls_ocsp_t *e);

/* A DER OCSPRequest for e's leaf (no nonce: responders may cache), malloc'd (the
 * caller frees it), its length in *len. NULL when out of memory. */
unsigned char *mg_tls_ocsp_request(const mg_tls_ocsp_t *e, size_t *len);

/* Checks a DER response for e's leaf (the rules above) and, when it passes, makes it
 * e's staple. NULL on success, else why not, written into why (len bytes); the staple
 * held stays, unless the response is a signed "revoked" or "unknown", which drops it. */
const char *mg_tls_ocsp_take(mg_tls_ocsp_t *e, const unsigned char *der, size_t len, char *why,
                             size_t whylen);

/* The current staple's thisUpdate and nextUpdate (epoch seconds; next 0 when the
 * response has none). False without a staple; an expired staple is dropped first. */
bool mg_tls_ocsp_times(mg_tls_ocsp_t *e, double now, double *this_update, double *next_update);

/* The fetcher's state for e (owned by the fetcher; NULL until it sets one). */
void *mg_tls_ocsp_job(const mg_tls_ocsp_t *e);
void mg_tls_ocsp_set_job(mg_tls_ocsp_t *e, void *job);

/* The slot the fetcher installs: called with e's job just before e is freed (its last
 * generation went away), so the job stops and frees itself. Never called from a
 * handshake. */
void mg_tls_ocsp_on_job_free(void (*fn)(void *job));

#endif
