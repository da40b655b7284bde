/*
 * tls_int.h -- what tls.c (the transport, the client side) and tls_server.c (the
 * server's contexts) share. Not for other modules.
 */
#ifndef MG_TLS_INT_H
#define MG_TLS_INT_H

#include "tls.h"

#include <openssl/ssl.h>

/* One TLS connection's state (mg_transport_t.state). */
typedef struct {
    SSL *ssl;
    mg_tls_server_t *srv;        /* server side: a reference; NULL on the client side */
    mg_tls_session_slot_t *slot; /* client side: where its session goes */
    const char *err;             /* why the handshake failed */
    uint8_t alert_why;           /* a callback's mg_tls_fail_t + 1, when it refused */
    uint16_t group;              /* server side: the certificate entry SNI chose */
    bool client;
    bool peeked;     /* the first byte was looked at */
    bool plain_http; /* ... and it began a plain HTTP request */
    bool failed;     /* counted once */
} mg__tls_conn_t;

/* The SSL object over fd, its state, the TLS ops. MG_OK or MG_ERROR (fd not taken). */
int mg__tls_conn_init(mg_transport_t *t, int fd, SSL_CTX *ctx, bool client);

/* Loads every certificate (and CRL) of a PEM file into `store` and, when `names` is
 * set, their subjects into it (the CA list a server sends with its request for a
 * client certificate). `crl` (may be NULL) adds a CRL file. MG_OK or MG_ERROR (*err). */
int mg__tls_load_cas(X509_STORE *store, STACK_OF(X509_NAME) * names, const mg_conf_t *conf,
                     const mg_conf_file_t *ca, const mg_conf_file_t *crl, mg_conf_err_t *err);

/* Puts a certificate chain and its key into ctx after checking them: a certificate
 * first, the chain in order (each certificate issued by the next), a key that matches.
 * *leaf_out (may be NULL) gets the leaf (a reference). MG_OK or MG_ERROR (*err). */
int mg__tls_use_cert(SSL_CTX *ctx, const mg_conf_t *conf, const mg_conf_file_t *cert,
                     const mg_conf_file_t *key, X509 **leaf_out, mg_conf_err_t *err,
                     EVP_PKEY **key_out);

/* An ASN.1 time as epoch seconds; 0 when absent or unreadable. */
double mg__tls_asn1_epoch(const ASN1_TIME *t);

#endif
