/*
 * tls.c -- the TLS transport's I/O (handshake, read, write, shutdown, close), the
 * handshake counters, what a connection tells about itself (tls.h's variables), and
 * the client side's contexts. The server's contexts and names are tls_server.c's.
 */
#include "tls.h"
#include "tls_int.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *const mg_tls_fail_names[MG_TLS_FAIL_N] = {
    [MG_TLS_FAIL_PLAIN_HTTP] = "plain_http", [MG_TLS_FAIL_NOT_TLS] = "not_tls",
    [MG_TLS_FAIL_TIMEOUT] = "timeout",       [MG_TLS_FAIL_CLOSED] = "closed",
    [MG_TLS_FAIL_PROTOCOL] = "protocol",     [MG_TLS_FAIL_SNI] = "sni",
    [MG_TLS_FAIL_ALPN] = "alpn",             [MG_TLS_FAIL_CLIENT_CERT] = "client_cert",
    [MG_TLS_FAIL_VERIFY] = "verify",         [MG_TLS_FAIL_OTHER] = "other",
};

const char *const mg_tls_var_names[MG_TLS_VAR_N] = {
    [MG_TLS_VAR_VERSION] = "version",
    [MG_TLS_VAR_CIPHER] = "cipher",
    [MG_TLS_VAR_SNI] = "sni",
    [MG_TLS_VAR_ALPN] = "alpn",
    [MG_TLS_VAR_RESUMED] = "resumed",
    [MG_TLS_VAR_CLIENT_VERIFY] = "client_verify",
    [MG_TLS_VAR_CLIENT_SUBJECT] = "client_subject",
    [MG_TLS_VAR_CLIENT_ISSUER] = "client_issuer",
    [MG_TLS_VAR_CLIENT_SERIAL] = "client_serial",
    [MG_TLS_VAR_CLIENT_FINGERPRINT] = "client_fingerprint",
    [MG_TLS_VAR_CLIENT_SAN] = "client_san",
    [MG_TLS_VAR_CLIENT_NOT_AFTER] = "client_not_after",
    [MG_TLS_VAR_CLIENT_CERT] = "client_cert",
};

/* ---- counters ---- */

static mg_tls_counters_t own_counters;
static mg_tls_counters_t *counters = &own_counters;

void mg_tls_counters_use(mg_tls_counters_t *c)
{
    counters = c != NULL ? c : &own_counters;
}

void mg_tls_count_fail(mg_tls_fail_t why)
{
    __atomic_store_n(&counters->failed[why], counters->failed[why] + 1, __ATOMIC_RELAXED);
}

static void count_done(bool resumed)
{
    uint64_t *n = resumed ? &counters->resumed : &counters->full;
    __atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
}

/* ---- the transport ---- */

void mg_tls_fail(mg_transport_t *t, mg_tls_fail_t why, const char *reason)
{
    mg__tls_conn_t *s = t->state;
    if (s != NULL && !s->failed) {
        s->failed = true;
        s->err = reason;
        if (!s->client) {
            mg_tls_count_fail(why); /* the counters are the listeners' */
        }
    }
}

/* The class and reason of what OpenSSL's error queue holds after a failed call. */
static void fail_from_queue(mg_transport_t *t, int sslerr)
{
    mg__tls_conn_t *s = t->state;
    unsigned long e = ERR_peek_last_error();
    int r = ERR_GET_REASON(e);
    mg_tls_fail_t why = MG_TLS_FAIL_OTHER;
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (sslerr == SSL_ERROR_SYSCALL || (e == 0 && sslerr != SSL_ERROR_SSL)) {
        why = MG_TLS_FAIL_CLOSED;
        reason = errno != 0 ? strerror(errno) : "connection closed during the handshake";
    } else if (s->alert_why != 0) {
        why = (mg_tls_fail_t)(s->alert_why - 1);
    } else if (r == SSL_R_NO_SHARED_CIPHER || r == SSL_R_UNSUPPORTED_PROTOCOL ||
               r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_NO_PROTOCOLS_AVAILABLE ||
               r == SSL_R_NO_SHARED_GROUPS || r == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM ||
               r == SSL_R_VERSION_TOO_LOW || r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
        why = MG_TLS_FAIL_PROTOCOL;
    } else if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
               r == SSL_R_CERTIFICATE_VERIFY_FAILED || r == SSL_R_NO_CERTIFICATES_RETURNED) {
        why = s->client ? MG_TLS_FAIL_VERIFY : MG_TLS_FAIL_CLIENT_CERT;
    } else if (r == SSL_R_NO_APPLICATION_PROTOCOL) {
        why = MG_TLS_FAIL_ALPN;
    }
    if (why == MG_TLS_FAIL_VERIFY || why == MG_TLS_FAIL_CLIENT_CERT) {
        long vr = SSL_get_verify_result(s->ssl);
        if (vr != X509_V_OK) {
            reason = X509_verify_cert_error_string(vr);
        }
    }
    mg_tls_fail(t, why, reason != NULL ? reason : "handshake failed");
    ERR_clear_error();
}

static int tls_handshake(mg_transport_t *t)
{
    mg__tls_conn_t *s = t->state;
    if (s->failed) {
        return MG_ERROR;
    }
    if (!s->client && !s->peeked) {
        /* what comes first tells a TLS client from a plain HTTP one, before OpenSSL
         * reads it as a record and answers with an alert a browser never shows */
        unsigned char b;
        ssize_t n = recv(t->fd, &b, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            t->want = EV_READ;
            return MG_AGAIN;
        }
        if (n <= 0) {
            mg_tls_fail(t, MG_TLS_FAIL_CLOSED,
                        n == 0 ? "connection closed before the handshake" : strerror(errno));
            return MG_ERROR;
        }
        s->peeked = true;
        if (b != 0x16) { /* a handshake record */
            s->plain_http = b >= 'A' && b <= 'Z';
            if (s->plain_http) {
                mg_tls_fail(t, MG_TLS_FAIL_PLAIN_HTTP, "plain HTTP request sent to a TLS port");
            } else {
                mg_tls_fail(t, MG_TLS_FAIL_NOT_TLS, "not a TLS handshake");
            }
            return MG_ERROR;
        }
    }
    errno = 0;
    ERR_clear_error(); /* SSL_get_error reads the queue: nothing older may be in it */
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        t->want = 0;
        if (!s->client) {
            count_done(SSL_session_reused(s->ssl));
        }
        return MG_OK;
    }
    int e = SSL_get_error(s->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        t->want = EV_READ;
        return MG_AGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        t->want = EV_WRITE;
        return MG_AGAIN;
    }
    fail_from_queue(t, e);
    return MG_ERROR;
}

/* Reads until the buffer is full or OpenSSL holds nothing more, so that a short read
 * tells the caller what it tells with plain TCP: wait until the socket is readable. */
static ssize_t tls_read(mg_transport_t *t, void *buf, size_t len)
{
    mg__tls_conn_t *s = t->state;
    size_t got = 0;
    ERR_clear_error();
    while (got < len) {
        int n = SSL_read(s->ssl, (char *)buf + got, (int)MG_MIN(len - got, (size_t)INT_MAX));
        if (n > 0) {
            got += (size_t)n;
            if (!SSL_has_pending(s->ssl)) {
                break; /* OpenSSL holds nothing more: another SSL_read would only recv()
                        * EAGAIN; what the socket still has wakes the loop again */
            }
            continue;
        }
        int e = SSL_get_error(s->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            t->want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
            break;
        }
        if (got > 0) {
            break; /* the end or the error comes again on the next call */
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }
        int err = errno;
        ERR_clear_error();
        return e == SSL_ERROR_SYSCALL && err != 0 ? -err : -ECONNRESET;
    }
    return got > 0 ? (ssize_t)got : -EAGAIN;
}

#define TLS_GATHER 16384 /* one full record */

/* Writes iov as records: pieces smaller than a record are gathered so that a head and
 * a small body leave in one record and one send. */
static ssize_t tls_writev(mg_transport_t *t, const struct iovec *iov, int n)
{
    mg__tls_conn_t *s = t->state;
    char stage[TLS_GATHER];
    size_t done = 0, off = 0;
    int i = 0;
    ERR_clear_error();
    while (i < n) {
        if (iov[i].iov_len == off) {
            i++;
            off = 0;
            continue;
        }
        const char *p;
        size_t l;
        if (iov[i].iov_len - off >= TLS_GATHER || i == n - 1) {
            p = (const char *)iov[i].iov_base + off;
            l = MG_MIN(iov[i].iov_len - off, (size_t)INT_MAX);
        } else {
            l = 0;
            for (int j = i; j < n && l < TLS_GATHER; j++) {
                size_t from = j == i ? off : 0;
                size_t take = MG_MIN(iov[j].iov_len - from, TLS_GATHER - l);
                memcpy(stage + l, (const char *)iov[j].iov_base + from, take);
                l += take;
            }
            p = stage;
        }
        int w = SSL_write(s->ssl, p, (int)l);
        if (w <= 0) {
            int e = SSL_get_error(s->ssl, w);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                t->want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
                break;
            }
            int err = errno;
            ERR_clear_error();
            if (done > 0) {
                break;
            }
            return e == SSL_ERROR_SYSCALL && err != 0 ? -err : -EPIPE;
        }
        done += (size_t)w;
        /* step past what the record took, across the pieces it gathered */
        size_t adv = (size_t)w;
        while (adv > 0 && i < n) {
            size_t left = iov[i].iov_len - off;
            if (adv < left) {
                off += adv;
                adv = 0;
            } else {
                adv -= left;
                i++;
                off = 0;
            }
        }
    }
    return done > 0 ? (ssize_t)done : -EAGAIN;
}

static int tls_shutdown(mg_transport_t *t)
{
    mg__tls_conn_t *s = t->state;
    if (SSL_is_init_finished(s->ssl) && !s->failed) {
        SSL_shutdown(s->ssl); /* close_notify, if the socket takes it now */
        ERR_clear_error();
    }
    return shutdown(t->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void state_free(mg_transport_t *t)
{
    mg__tls_conn_t *s = t->state;
    if (s != NULL) {
        SSL_free(s->ssl);
        if (s->srv != NULL) {
            mg_tls_server_release(s->srv);
        }
        free(s);
        t->state = NULL;
    }
}

static void tls_close(mg_transport_t *t)
{
    state_free(t);
    close(t->fd);
    t->fd = -1;
}

const mg_transport_ops_t mg_transport_tls = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .handshake = tls_handshake,
};

/* Common to both sides: the SSL object over fd, its state, the ops. */
int mg__tls_conn_init(mg_transport_t *t, int fd, SSL_CTX *ctx, bool client)
{
    mg__tls_conn_t *s = calloc(1, sizeof(*s));
    SSL *ssl = s != NULL ? SSL_new(ctx) : NULL;
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        free(s);
        ERR_clear_error();
        return MG_ERROR;
    }
    s->ssl = ssl;
    s->client = client;
    SSL_set_app_data(ssl, s);
    t->ops = &mg_transport_tls;
    t->fd = fd;
    t->want = 0;
    t->state = s;
    return MG_OK;
}

const char *mg_tls_error(const mg_transport_t *t)
{
    const mg__tls_conn_t *s = mg_transport_is_tls(t) ? t->state : NULL;
    return s != NULL && s->err != NULL ? s->err : "TLS error";
}

void mg_tls_to_plain(mg_transport_t *t)
{
    int fd = t->fd;
    state_free(t);
    mg_transport_init_plain(t, fd);
}

bool mg_tls_plain_http(const mg_transport_t *t)
{
    const mg__tls_conn_t *s = mg_transport_is_tls(t) ? t->state : NULL;
    return s != NULL && s->plain_http;
}

/* ---- variables ---- */

static int put(char *buf, size_t len, const char *v, size_t vl)
{
    if (len > 0) {
        size_t n = MG_MIN(vl, len - 1);
        if (n > 0) {
            memcpy(buf, v, n); /* v may be NULL when empty (an empty memory BIO) */
        }
        buf[n] = '\0';
    }
    return (int)vl;
}

static int put_bio(char *buf, size_t len, BIO *b)
{
    char *p;
    long n = b != NULL ? BIO_get_mem_data(b, &p) : -1;
    int rc = n >= 0 ? put(buf, len, p, (size_t)n) : -1;
    BIO_free(b);
    return rc;
}

static int put_name(char *buf, size_t len, const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return -1;
    }
    return put_bio(buf, len, b);
}

static int put_san(char *buf, size_t len, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL) {
        GENERAL_NAMES_free(gens);
        return -1;
    }
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const char *sep = BIO_number_written(b) > 0 ? "," : "";
        if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
            const ASN1_IA5STRING *s = g->d.ia5;
            const char *kind = g->type == GEN_DNS ? "DNS" : g->type == GEN_URI ? "URI" : "email";
            BIO_printf(b, "%s%s:%.*s", sep, kind, s->length, (const char *)s->data);
        } else if (g->type == GEN_IPADD) {
            char ip[64];
            const ASN1_OCTET_STRING *o = g->d.ip;
            int af = o->length == 4 ? AF_INET : o->length == 16 ? AF_INET6 : 0;
            if (af != 0 && inet_ntop(af, o->data, ip, sizeof(ip)) != NULL) {
                BIO_printf(b, "%sIP:%s", sep, ip);
            }
        }
    }
    GENERAL_NAMES_free(gens);
    return put_bio(buf, len, b);
}

static int put_time(char *buf, size_t len, const ASN1_TIME *at)
{
    struct tm tm;
    char s[32];
    if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1) {
        return -1;
    }
    size_t n = strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return put(buf, len, s, n);
}

static int put_peer(char *buf, size_t len, SSL *ssl, mg_tls_var_t var)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (var == MG_TLS_VAR_CLIENT_VERIFY) {
        if (x == NULL) {
            return put(buf, len, "NONE", 4);
        }
        long vr = SSL_get_verify_result(ssl);
        if (vr == X509_V_OK) {
            return put(buf, len, "SUCCESS", 7);
        }
        char s[160];
        int n = snprintf(s, sizeof(s), "FAILED:%s", X509_verify_cert_error_string(vr));
        return put(buf, len, s, (size_t)MG_MIN(n, (int)sizeof(s) - 1));
    }
    if (x == NULL) {
        return -1;
    }
    switch (var) {
    case MG_TLS_VAR_CLIENT_SUBJECT:
        return put_name(buf, len, X509_get_subject_name(x));
    case MG_TLS_VAR_CLIENT_ISSUER:
        return put_name(buf, len, X509_get_issuer_name(x));
    case MG_TLS_VAR_CLIENT_SERIAL: {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
        int rc = hex != NULL ? put(buf, len, hex, strlen(hex)) : -1;
        OPENSSL_free(hex);
        BN_free(bn);
        return rc;
    }
    case MG_TLS_VAR_CLIENT_FINGERPRINT: {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdl = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        if (X509_digest(x, EVP_sha256(), md, &mdl) != 1) {
            return -1;
        }
        for (unsigned int i = 0; i < mdl; i++) {
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        }
        return put(buf, len, hex, 2 * mdl);
    }
    case MG_TLS_VAR_CLIENT_SAN:
        return put_san(buf, len, x);
    case MG_TLS_VAR_CLIENT_NOT_AFTER:
        return put_time(buf, len, X509_get0_notAfter(x));
    case MG_TLS_VAR_CLIENT_CERT: {
        BIO *b = BIO_new(BIO_s_mem());
        if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
            BIO_free(b);
            return -1;
        }
        return put_bio(buf, len, b);
    }
    default:
        return -1;
    }
}

int mg_tls_var(const mg_transport_t *t, mg_tls_var_t var, char *buf, size_t len)
{
    const mg__tls_conn_t *s = mg_transport_is_tls(t) ? t->state : NULL;
    if (s == NULL || !SSL_is_init_finished(s->ssl)) {
        return -1;
    }
    SSL *ssl = s->ssl;
    const char *v;
    switch (var) {
    case MG_TLS_VAR_VERSION:
        v = SSL_get_version(ssl);
        return put(buf, len, v, strlen(v));
    case MG_TLS_VAR_CIPHER:
        v = SSL_get_cipher_name(ssl);
        return v != NULL ? put(buf, len, v, strlen(v)) : -1;
    case MG_TLS_VAR_SNI:
        v = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        return put(buf, len, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
    case MG_TLS_VAR_ALPN: {
        const unsigned char *p;
        unsigned int pl = 0;
        SSL_get0_alpn_selected(ssl, &p, &pl);
        return put(buf, len, pl > 0 ? (const char *)p : "", pl);
    }
    case MG_TLS_VAR_RESUMED:
        return put(buf, len, SSL_session_reused(ssl) ? "1" : "0", 1);
    default:
        if (var >= MG_TLS_VAR_N) {
            return -1;
        }
        ERR_clear_error();
        int rc = put_peer(buf, len, ssl, var);
        ERR_clear_error();
        return rc;
    }
}

/* ---- client side ---- */

struct mg_tls_client_s {
    SSL_CTX *ctx;
    bool verify;
};

static int client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    mg__tls_conn_t *s = SSL_get_app_data(ssl);
    mg_tls_session_slot_t *slot = s != NULL ? s->slot : NULL;
    if (slot == NULL) {
        return 0;
    }
    if (slot->session != NULL) {
        SSL_SESSION_free(slot->session);
    }
    slot->session = sess;
    return 1; /* the slot keeps the reference */
}

void mg_tls_session_slot_clear(mg_tls_session_slot_t *slot)
{
    if (slot->session != NULL) {
        SSL_SESSION_free(slot->session);
        slot->session = NULL;
    }
}

mg_tls_client_t *mg_tls_client_new(const mg_conf_t *conf, const mg_upstream_tls_conf_t *c,
                                   mg_conf_err_t *err)
{
    mg_tls_client_t *cl = calloc(1, sizeof(*cl));
    SSL_CTX *ctx = cl != NULL ? SSL_CTX_new(TLS_client_method()) : NULL;
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", conf != NULL ? conf->file : "");
    if (ctx == NULL) {
        free(cl);
        snprintf(err->msg, sizeof(err->msg), "cannot make a TLS client context");
        return NULL;
    }
    cl->ctx = ctx;
    cl->verify = c->verify;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, client_new_session);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    if (c->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, c->verify_depth > 0 ? c->verify_depth : 4);
        if (c->ca.path != NULL) {
            if (mg__tls_load_cas(SSL_CTX_get_cert_store(ctx), NULL, conf, &c->ca, NULL, err) !=
                MG_OK) {
                mg_tls_client_free(cl);
                return NULL;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            snprintf(err->msg, sizeof(err->msg), "cannot load the system's CA store");
            mg_tls_client_free(cl);
            return NULL;
        }
    }
    if (c->cert.path != NULL &&
        mg__tls_use_cert(ctx, conf, &c->cert, &c->key, NULL, err, NULL) != MG_OK) {
        mg_tls_client_free(cl);
        return NULL;
    }
    ERR_clear_error();
    return cl;
}

void mg_tls_client_free(mg_tls_client_t *cl)
{
    if (cl != NULL) {
        SSL_CTX_free(cl->ctx);
        free(cl);
    }
}

static bool is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int mg_transport_init_tls_client(mg_transport_t *t, int fd, mg_tls_client_t *cl,
                                 const char *sni, const char *verify_name,
                                 mg_tls_session_slot_t *slot)
{
    if (mg__tls_conn_init(t, fd, cl->ctx, true) != MG_OK) {
        return MG_ERROR;
    }
    mg__tls_conn_t *s = t->state;
    SSL *ssl = s->ssl;
    SSL_set_connect_state(ssl);
    if (sni != NULL && sni[0] != '\0' && !is_ip(sni)) {
        SSL_set_tlsext_host_name(ssl, sni); /* never an address (RFC 6066 §3) */
    }
    const char *name = verify_name != NULL ? verify_name : sni;
    if (cl->verify && name != NULL && name[0] != '\0') {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1
                        : SSL_set1_host(ssl, name) != 1) {
            SSL_free(ssl);
            free(s);
            t->state = NULL;
            ERR_clear_error();
            return MG_ERROR; /* fd not taken */
        }
    }
    s->slot = slot;
    if (slot != NULL && slot->session != NULL) {
        SSL_set_session(ssl, slot->session);
    }
    ERR_clear_error();
    return MG_OK;
}
