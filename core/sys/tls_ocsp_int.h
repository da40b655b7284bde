/*
 * tls_ocsp_int.h -- the hooks tls_server.c calls to staple (tls_ocsp.c). Not for other
 * modules.
 */
#ifndef MG_TLS_OCSP_INT_H
#define MG_TLS_OCSP_INT_H

#include "conf.h"
#include "tls_ocsp.h"

#include <openssl/ssl.h>

/* The staples of one server (one generation): one slot per certificate entry. */
typedef struct mg__tls_ocsp_set_s mg__tls_ocsp_set_t;

/* A set for up to n certificates. NULL when out of memory. */
mg__tls_ocsp_set_t *mg__tls_ocsp_set_new(size_t n);

/* Frees the set and releases its cache entries. NULL is a no-op. */
void mg__tls_ocsp_set_free(mg__tls_ocsp_set_t *set);

/* Registers certificate entry cc (its leaf `leaf`, borrowed) when it asks for OCSP:
 * finds the issuer in its cert file, and then either checks and keeps its `file`
 * response or joins the process cache for `fetch`. MG_OK, or MG_ERROR with *err (no
 * issuer in the file, no http:// responder in the leaf for `fetch`). A file response
 * that fails the checks is not an error: `warn` (may be NULL) is told, naming the file
 * and why, and the certificate serves without a staple. */
int mg__tls_ocsp_add(mg__tls_ocsp_set_t *set, const mg_conf_t *conf, const mg_tls_cert_conf_t *cc,
                     X509 *leaf, mg_conf_err_t *err, void (*warn)(const char *msg));

/* Installs the status callback on ctx: clients that ask get the staple of the
 * certificate chosen for them, when there is a current one. */
void mg__tls_ocsp_install(SSL_CTX *ctx, mg__tls_ocsp_set_t *set);

#endif
