/*
 * tls.h -- TLS as a transport (transport.h) on OpenSSL: the server side that TLS
 * listeners terminate with, and the client side upstream connections and mg.http use.
 *
 * Server side. A configuration's `tls:` block becomes one mg_tls_server_t per
 * generation: one SSL_CTX per set of names (an RSA and an ECDSA certificate for the same
 * names share it, and OpenSSL gives each client the one it supports), and a table of
 * names, exact ones first, then "*." wildcards, that the SNI callback switches the
 * connection to. The first certificate serves clients that send no name unless
 * strict_sni refuses them. A connection holds a reference to the server it was accepted
 * with, so a reload that swaps certificates never pulls one out from under a handshake:
 * new connections take the new generation's server, old ones finish on theirs.
 *
 * A connection's transport does its handshake first (MG_AGAIN while it waits for
 * t->want); reads fill the caller's buffer from as many records as are there, so a
 * short read means the socket is drained, as with the plain transport; writes gather
 * small pieces into one record. After a write answered -EAGAIN, the next write must
 * start with the same bytes (OpenSSL's rule for a record it has begun).
 */
#ifndef MG_TLS_H
#define MG_TLS_H

#include "conf.h"
#include "transport.h"

typedef struct mg_tls_server_s mg_tls_server_t;
typedef struct mg_tls_client_s mg_tls_client_t;

/* Why handshakes failed, for /status. */
typedef enum {
    MG_TLS_FAIL_PLAIN_HTTP = 0, /* plain HTTP sent to a TLS port */
    MG_TLS_FAIL_NOT_TLS,        /* anything else that is not a TLS record */
    MG_TLS_FAIL_TIMEOUT,        /* the handshake took longer than handshake_timeout */
    MG_TLS_FAIL_CLOSED,         /* the peer went away during it */
    MG_TLS_FAIL_PROTOCOL,       /* no common version or cipher */
    MG_TLS_FAIL_SNI,            /* strict_sni: no configured name */
    MG_TLS_FAIL_ALPN,           /* no common application protocol */
    MG_TLS_FAIL_CLIENT_CERT,    /* client_verify: required and no or a bad certificate */
    MG_TLS_FAIL_VERIFY,         /* client side: the peer's certificate did not verify */
    MG_TLS_FAIL_OTHER,          /* a malformed or unexpected message */
    MG_TLS_FAIL_N
} mg_tls_fail_t;

extern const char *const mg_tls_fail_names[MG_TLS_FAIL_N];

/* Handshake counters of this process (a worker points them into its shared stats). */
typedef struct mg_tls_counters_s {
    uint64_t full;
    uint64_t resumed;
    uint64_t failed[MG_TLS_FAIL_N];
} mg_tls_counters_t;

/* Where this process counts; a private set until a worker sets its own. */
void mg_tls_counters_use(mg_tls_counters_t *c);
void mg_tls_count_fail(mg_tls_fail_t why);

/* ---- server side ---- */

/* Builds what conf->tls serves from the files' bytes (conf->files, read). NULL with
 * err->msg empty when there is no certificate; NULL with *err (file:line:column of the
 * key concerned) on a bad certificate, key, chain, CA or setting. `warn` (may be NULL)
 * is told what deserves an operator's attention but does not stop a load: an expired
 * or not yet valid certificate, an `ocsp.file` response that fails its checks (not
 * stapled; tls_ocsp.h). */
mg_tls_server_t *mg_tls_server_new(const mg_conf_t *conf, mg_conf_err_t *err,
                                   void (*warn)(const char *msg));
void mg_tls_server_release(mg_tls_server_t *s);
double mg_tls_server_handshake_timeout(const mg_tls_server_t *s);

/* One certificate as /status lists it. */
typedef struct {
    char names[512];  /* its server names, comma-separated */
    char subject[256];
    char key_type[32]; /* "RSA-2048", "EC-P-256", "ED25519" */
    double not_after;  /* epoch seconds */
    double not_before;
} mg_tls_cert_info_t;

size_t mg_tls_server_ncerts(const mg_tls_server_t *s);
const mg_tls_cert_info_t *mg_tls_server_cert(const mg_tls_server_t *s, size_t i);

/* Sets up `t` over the accepted socket `fd` (taken: closed by t->ops->close). MG_OK, or
 * MG_ERROR (out of memory; fd not taken). */
int mg_transport_init_tls_server(mg_transport_t *t, int fd, mg_tls_server_t *s);

/* Whether a request for `host` may be served on this connection: false when the
 * handshake chose a certificate entry whose client-certificate check differs from the
 * one `host` would get (SNI a, Host b: answered 421 Misdirected Request). True for
 * plain connections. */
bool mg_tls_host_allowed(const mg_transport_t *t, const char *host, size_t len);

/* ---- client side ---- */

/* A client context for `c` (verify, CA, client certificate). NULL with the reason in
 * err (file:line:column when a file is at fault). */
mg_tls_client_t *mg_tls_client_new(const mg_conf_t *conf, const mg_upstream_tls_conf_t *c,
                                   mg_conf_err_t *err);
void mg_tls_client_free(mg_tls_client_t *cl);

/* Where a client keeps the session of one peer for resumption (per node). */
typedef struct {
    void *session; /* SSL_SESSION, owned */
} mg_tls_session_slot_t;

void mg_tls_session_slot_clear(mg_tls_session_slot_t *slot);

/* Sets up `t` over a connecting socket `fd` (taken). `sni` (may be NULL) is sent and,
 * with verify on, the name the certificate must carry; `verify_name` overrides the
 * latter (an IP address checks the certificate's IP SANs). `slot` (may be NULL) gives
 * a session to resume and keeps the next one; it must outlive the connection. */
int mg_transport_init_tls_client(mg_transport_t *t, int fd, mg_tls_client_t *cl,
                                 const char *sni, const char *verify_name,
                                 mg_tls_session_slot_t *slot);

/* ---- any TLS connection ---- */

static inline bool mg_transport_is_tls(const mg_transport_t *t);

/* After a failed handshake: why (a static or per-connection string), and whether the
 * peer spoke plain HTTP (a server answers 400 in clear text then). */
const char *mg_tls_error(const mg_transport_t *t);
bool mg_tls_plain_http(const mg_transport_t *t);
/* Drops the TLS state and goes on over the same socket in clear (to answer plain HTTP
 * on a TLS port). */
void mg_tls_to_plain(mg_transport_t *t);
/* The failure class (for counting by the caller, e.g. a timeout). */
void mg_tls_fail(mg_transport_t *t, mg_tls_fail_t why, const char *reason);

/* What a request may ask of its connection (the log, mg.tls, headers upstream). */
typedef enum {
    MG_TLS_VAR_VERSION = 0, /* "TLSv1.3" */
    MG_TLS_VAR_CIPHER,      /* "TLS_AES_128_GCM_SHA256" */
    MG_TLS_VAR_SNI,         /* the name the client asked for, "" without */
    MG_TLS_VAR_ALPN,        /* "http/1.1", "" without */
    MG_TLS_VAR_RESUMED,     /* "1" or "0" */
    MG_TLS_VAR_CLIENT_VERIFY, /* "NONE", "SUCCESS", "FAILED:<reason>" */
    MG_TLS_VAR_CLIENT_SUBJECT, /* RFC 2253 */
    MG_TLS_VAR_CLIENT_ISSUER,
    MG_TLS_VAR_CLIENT_SERIAL,  /* hex */
    MG_TLS_VAR_CLIENT_FINGERPRINT, /* SHA-256, lowercase hex */
    MG_TLS_VAR_CLIENT_SAN,     /* "DNS:a.example,URI:spiffe://x,email:a@b,IP:10.0.0.1" */
    MG_TLS_VAR_CLIENT_NOT_AFTER, /* "2027-01-31T12:00:00Z" */
    MG_TLS_VAR_CLIENT_CERT,    /* the leaf in PEM */
    MG_TLS_VAR_N
} mg_tls_var_t;

extern const char *const mg_tls_var_names[MG_TLS_VAR_N];

/* Writes the value of `var` for connection `t` into buf (NUL-terminated, truncated to
 * len) and returns its full length; -1 when there is none (not TLS, no client
 * certificate). */
int mg_tls_var(const mg_transport_t *t, mg_tls_var_t var, char *buf, size_t len);

extern const mg_transport_ops_t mg_transport_tls;

static inline bool mg_transport_is_tls(const mg_transport_t *t)
{
    return t->ops == &mg_transport_tls;
}

#endif
