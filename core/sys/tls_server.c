/*
 * tls_server.c -- what a TLS listener serves: certificates checked and loaded from the
 * bytes the master read, one SSL_CTX per set of names, the name table the SNI callback
 * looks in, client-certificate settings, ALPN and the protocol defaults.
 */
#include "tls.h"
#include "tls_int.h"
#include "tls_ocsp_int.h"
#include "tls_ticket.h"

#include "log.h"

#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NAMES_PER_CERT 1024

/* A set of names and what serves them. */
typedef struct {
    SSL_CTX *ctx;
    char **names; /* lowercase; "*.example.com" for a wildcard */
    size_t nnames;
    int key_types; /* bit per EVP_PKEY id class: 1 RSA, 2 EC, 4 other */
    mg_tls_verify_t verify;
    int depth;
    STACK_OF(X509_NAME) * ca_names;
    /* its session id context: a session resumes only under the names and client
     * checks it was made with (a digest of both, stable across reloads) */
    unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
} tls_group_t;

typedef struct {
    const char *name; /* exact name, or a wildcard's suffix ".example.com" */
    size_t group;
} tls_name_t;

struct mg_tls_server_s {
    int refs;
    tls_group_t *groups; /* groups[0] serves clients that name nothing we know */
    size_t ngroups;
    tls_name_t *exact, *wild;
    size_t nexact, nwild;
    bool strict_sni;
    double handshake_timeout;
    mg_tls_cert_info_t *certs;
    size_t ncerts;
    mg__tls_ocsp_set_t *ocsp; /* the staples (tls_ocsp.c) */
};

/* ---- errors ---- */

static int fail_at(mg_conf_err_t *err, const mg_conf_t *conf, const mg_conf_file_t *f,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(mg_conf_err_t *err, const mg_conf_t *conf, const mg_conf_file_t *f,
                   const char *fmt, ...)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", conf != NULL ? conf->file : "");
    if (f != NULL) {
        err->line = f->line;
        err->column = f->column;
        snprintf(err->key, sizeof(err->key), "%s", f->key != NULL ? f->key : "");
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return MG_ERROR;
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

static BIO *file_bio(const mg_conf_file_t *f)
{
    return f->data != NULL ? BIO_new_mem_buf(f->data, (int)f->len) : NULL;
}

/* ---- certificates, keys, CAs ---- */

static char *subject_of(X509 *x, char *buf, size_t len)
{
    X509_NAME_oneline(X509_get_subject_name(x), buf, (int)len);
    return buf;
}

int mg__tls_use_cert(SSL_CTX *ctx, const mg_conf_t *conf, const mg_conf_file_t *cert,
                     const mg_conf_file_t *key, X509 **leaf_out, mg_conf_err_t *err,
                     EVP_PKEY **key_out)
{
    BIO *b = file_bio(cert);
    if (b == NULL) {
        return fail_at(err, conf, cert, "%s was not read", cert->path);
    }
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;
    while (leaf != NULL && chain != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(chain, x);
    }
    BIO_free(b);
    int rc = MG_ERROR;
    EVP_PKEY *pkey = NULL;
    if (leaf == NULL) {
        fail_at(err, conf, cert, "no PEM certificate in %s: %s", cert->path, ssl_reason());
        goto out;
    }
    ERR_clear_error(); /* the end of the PEM stream */
    /* the chain goes leaf first, then each certificate's issuer: a file in another
     * order is served as is by OpenSSL and fails at clients, so it is refused here */
    X509 *prev = leaf;
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *next = sk_X509_value(chain, i);
        if (X509_check_issued(next, prev) != X509_V_OK) {
            char a[256], c[256];
            fail_at(err, conf, cert,
                    "the chain in %s is out of order: certificate %d (%s) is not the issuer "
                    "of certificate %d (%s); put the leaf first, then its issuer, and so on",
                    cert->path, i + 2, subject_of(next, a, sizeof(a)), i + 1,
                    subject_of(prev, c, sizeof(c)));
            goto out;
        }
        prev = next;
    }
    b = file_bio(key);
    pkey = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (pkey == NULL) {
        fail_at(err, conf, key, "no PEM private key in %s: %s", key->path, ssl_reason());
        goto out;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        fail_at(err, conf, key, "the key in %s does not match the certificate in %s", key->path,
                cert->path);
        goto out;
    }
    if (SSL_CTX_use_cert_and_key(ctx, leaf, pkey, chain, 1) != 1) {
        fail_at(err, conf, cert, "cannot use the certificate in %s: %s", cert->path,
                ssl_reason());
        goto out;
    }
    if (leaf_out != NULL) {
        X509_up_ref(leaf);
        *leaf_out = leaf;
    }
    if (key_out != NULL) {
        EVP_PKEY_up_ref(pkey);
        *key_out = pkey;
    }
    rc = MG_OK;
out:
    EVP_PKEY_free(pkey);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return rc;
}

int mg__tls_load_cas(X509_STORE *store, STACK_OF(X509_NAME) * names, const mg_conf_t *conf,
                     const mg_conf_file_t *ca, const mg_conf_file_t *crl, mg_conf_err_t *err)
{
    const mg_conf_file_t *files[2] = {ca, crl};
    for (int k = 0; k < 2; k++) {
        const mg_conf_file_t *f = files[k];
        if (f == NULL || f->path == NULL) {
            continue;
        }
        BIO *b = file_bio(f);
        STACK_OF(X509_INFO) *infos = b != NULL ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (infos == NULL) {
            return fail_at(err, conf, f, "cannot read %s: %s", f->path, ssl_reason());
        }
        int certs = 0, crls = 0;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
            X509_INFO *in = sk_X509_INFO_value(infos, i);
            if (in->x509 != NULL && k == 0) {
                X509_STORE_add_cert(store, in->x509);
                if (names != NULL) {
                    X509_NAME *n = X509_NAME_dup(X509_get_subject_name(in->x509));
                    if (n != NULL && sk_X509_NAME_push(names, n) <= 0) {
                        X509_NAME_free(n);
                    }
                }
                certs++;
            }
            if (in->crl != NULL && k == 1) {
                X509_STORE_add_crl(store, in->crl);
                crls++;
            }
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        ERR_clear_error();
        if (k == 0 && certs == 0) {
            return fail_at(err, conf, f, "no PEM certificate in %s", f->path);
        }
        if (k == 1 && crls == 0) {
            return fail_at(err, conf, f, "no PEM CRL in %s", f->path);
        }
        if (k == 1) {
            X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        }
    }
    return MG_OK;
}

/* The DNS names of a certificate's subjectAltName, lowercase. */
static size_t san_names(X509 *x, char **out, size_t max)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t n = 0;
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && n < max; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS) {
            continue;
        }
        const ASN1_IA5STRING *s = g->d.dNSName;
        char *name = strndup((const char *)s->data, (size_t)s->length);
        if (name == NULL) {
            break;
        }
        for (char *p = name; *p != '\0'; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        }
        out[n++] = name;
    }
    GENERAL_NAMES_free(gens);
    return n;
}

double mg__tls_asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (double)timegm(&tm);
}

static void key_type(EVP_PKEY *k, char *buf, size_t len)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_RSA) {
        snprintf(buf, len, "RSA-%d", EVP_PKEY_get_bits(k));
    } else if (id == EVP_PKEY_EC) {
        char g[32] = "";
        size_t gl = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof(g), &gl);
        const char *nist = EC_curve_nid2nist(OBJ_txt2nid(g)); /* "prime256v1" -> "P-256" */
        snprintf(buf, len, "EC-%.24s", nist != NULL ? nist : g[0] != '\0' ? g : "?");
    } else {
        snprintf(buf, len, "%s", OBJ_nid2sn(id));
    }
}

static int key_class(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_RSA ? 1 : id == EVP_PKEY_EC ? 2 : 4;
}

/* ---- callbacks ---- */

static const tls_group_t *lookup(const mg_tls_server_t *s, const char *name)
{
    char low[256];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(low)) {
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    }
    if (low[n - 1] == '.') {
        low[--n] = '\0'; /* "example.com." names the same host */
    }
    for (size_t i = 0; i < s->nexact; i++) {
        if (strcmp(s->exact[i].name, low) == 0) {
            return &s->groups[s->exact[i].group];
        }
    }
    /* "*.example.com" covers one label: "a.example.com", not "a.b.example.com" */
    const char *dot = strchr(low, '.');
    for (size_t i = 0; dot != NULL && dot != low && i < s->nwild; i++) {
        if (strcmp(s->wild[i].name, dot) == 0) {
            return &s->groups[s->wild[i].group];
        }
    }
    return NULL;
}

static int on_client_cert(int ok, X509_STORE_CTX *x)
{
    /* `optional`: the handshake goes on whatever the chain; the result is the
     * request's to judge (mg.tls.client_verify) */
    return 1;
}

/* The group that serves `name` (NULL: no name), the first one by default. */
static const tls_group_t *group_of(const mg_tls_server_t *s, const char *name)
{
    const tls_group_t *g = name != NULL ? lookup(s, name) : NULL;
    return g != NULL ? g : &s->groups[0];
}

/* Two groups of names may not share what one of them checks: a client certificate. */
static bool groups_compatible(const tls_group_t *a, const tls_group_t *b)
{
    return a == b || (a->verify == MG_TLS_VERIFY_OFF && b->verify == MG_TLS_VERIFY_OFF);
}

static int refuse(SSL *ssl, int *alert, int ad, mg_tls_fail_t why)
{
    mg__tls_conn_t *c = SSL_get_app_data(ssl);
    if (c != NULL) {
        c->alert_why = (uint8_t)(why + 1);
    }
    *alert = ad;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int on_sni(SSL *ssl, int *alert, void *arg)
{
    const mg_tls_server_t *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const tls_group_t *g = name != NULL ? lookup(s, name) : NULL;
    if (g == NULL) {
        if (s->strict_sni) {
            return refuse(ssl, alert, SSL_AD_UNRECOGNIZED_NAME, MG_TLS_FAIL_SNI);
        }
        g = &s->groups[0];
    }
    /* on_client_hello keeps sessions to the names they were made for; should one still
     * resume across incompatible names (a name the hello did not carry), refuse */
    if (SSL_session_reused(ssl)) {
        const tls_group_t *was = group_of(s, SSL_SESSION_get0_hostname(SSL_get_session(ssl)));
        if (!groups_compatible(was, g)) {
            return refuse(ssl, alert, SSL_AD_ACCESS_DENIED, MG_TLS_FAIL_CLIENT_CERT);
        }
    }
    mg__tls_conn_t *c = SSL_get_app_data(ssl);
    if (c != NULL) {
        c->group = (uint16_t)(g - s->groups);
    }
    if (g->ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, g->ctx);
    }
    if (g->verify != MG_TLS_VERIFY_OFF) {
        int mode = SSL_VERIFY_PEER;
        if (g->verify == MG_TLS_VERIFY_REQUIRED) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_set_verify(ssl, mode, g->verify == MG_TLS_VERIFY_OPTIONAL ? on_client_cert : NULL);
        SSL_set_verify_depth(ssl, g->depth);
        SSL_set_client_CA_list(ssl, SSL_dup_CA_list(g->ca_names));
        SSL_set1_verify_cert_store(ssl, SSL_CTX_get_cert_store(g->ctx));
    }
    return SSL_TLSEXT_ERR_OK;
}

/* The host name of the ClientHello's server_name extension (RFC 6066 §3), or NULL. */
static const char *hello_name(SSL *ssl, char *buf, size_t len)
{
    const unsigned char *p;
    size_t n;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) || n < 5) {
        return NULL;
    }
    size_t list = (size_t)p[0] << 8 | p[1];
    size_t nl = (size_t)p[3] << 8 | p[4];
    if (list + 2 != n || p[2] != TLSEXT_NAMETYPE_host_name || nl + 5 > n || nl == 0 ||
        nl >= len || memchr(p + 5, '\0', nl) != NULL) {
        return NULL;
    }
    memcpy(buf, p + 5, nl);
    buf[nl] = '\0';
    return buf;
}

/* Runs before OpenSSL looks at a session the client offers: gives the connection the
 * session id context of the names it asks for, so that a session made under other
 * names, or other client-certificate rules, is not resumed but replaced by a full
 * handshake (CVE-2025-23419: a session made without a client certificate must never
 * open names that require one). */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    const mg_tls_server_t *s = arg;
    char name[256];
    const tls_group_t *g = group_of(s, hello_name(ssl, name, sizeof(name)));
    SSL_set_session_id_context(ssl, g->sid, sizeof(g->sid));
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        mg__tls_conn_t *c = SSL_get_app_data(ssl);
        if (c != NULL) {
            c->alert_why = MG_TLS_FAIL_ALPN + 1;
        }
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301 §3.2) */
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- contexts ---- */

static SSL_CTX *ctx_new(const mg_conf_t *conf, mg_tls_server_t *s, mg_conf_err_t *err)
{
    const mg_tls_conf_t *t = &conf->tls;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        fail_at(err, conf, NULL, "cannot make a TLS context: %s", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, t->min_version);
    SSL_CTX_set_max_proto_version(ctx, t->max_version);
    /* our order of suites, not the client's: every one offered is strong, and the
     * server then never lands on its least preferred because a client listed it first */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!t->session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    } else {
        /* the master's keys (tls_ticket.h): any worker resumes any worker's ticket */
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, mg_tls_ticket_cb);
    }
    /* idle connections keep no buffers; writes may be partial and move (tls.c) */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* resumption by tickets only: no per-worker session cache to miss in */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_dh_auto(ctx, 1); /* for DHE suites an operator lists; none by default */
    SSL_CTX_set_num_tickets(ctx, t->session_tickets ? 1 : 0);
    const char *bad = NULL;
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        bad = "tls.ciphers";
    } else if (SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
        bad = "tls.ciphersuites";
    } else if (SSL_CTX_set1_groups_list(ctx, t->curves) != 1) {
        bad = "tls.curves";
    }
    if (bad != NULL) {
        mg_conf_file_t at = {.key = bad};
        fail_at(err, conf, &at, "OpenSSL takes none of these: %s", ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, s);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx, s);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    mg__tls_ocsp_install(ctx, s->ocsp); /* OCSP stapling */
    return ctx;
}

static bool same_names(const tls_group_t *g, char **names, size_t n)
{
    if (g->nnames != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) {
            found = strcmp(g->names[j], names[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

static void server_free(mg_tls_server_t *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        SSL_CTX_free(s->groups[i].ctx);
        free_names(s->groups[i].names, s->groups[i].nnames);
        sk_X509_NAME_pop_free(s->groups[i].ca_names, X509_NAME_free);
    }
    free(s->groups);
    free(s->exact);
    free(s->wild);
    free(s->certs);
    mg__tls_ocsp_set_free(s->ocsp);
    free(s);
}

void mg_tls_server_release(mg_tls_server_t *s)
{
    if (s != NULL && --s->refs == 0) {
        server_free(s);
    }
}

/* The group's session id context: SHA-256 of its names and client-certificate rules. */
static void group_sid(tls_group_t *g, const mg_tls_cert_conf_t *cc)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    int rules[2] = {g->verify, g->depth};
    if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(md, rules, sizeof(rules));
        for (size_t i = 0; i < g->nnames; i++) {
            EVP_DigestUpdate(md, g->names[i], strlen(g->names[i]) + 1);
        }
        if (cc->client_ca.data != NULL) {
            EVP_DigestUpdate(md, cc->client_ca.data, cc->client_ca.len);
        }
        if (cc->crl.data != NULL) {
            EVP_DigestUpdate(md, cc->crl.data, cc->crl.len);
        }
        EVP_DigestFinal_ex(md, g->sid, &len);
    }
    EVP_MD_CTX_free(md);
}

/* Adds certificate entry i: to the group serving exactly its names when that group has
 * no certificate of its key type yet (RSA beside ECDSA), else to a new group. */
static int add_cert(mg_tls_server_t *s, const mg_conf_t *conf, size_t i, mg_conf_err_t *err,
                    void (*warn)(const char *msg))
{
    const mg_tls_cert_conf_t *cc = &conf->tls.certs[i];
    SSL_CTX *probe = ctx_new(conf, s, err);
    X509 *leaf = NULL;
    EVP_PKEY *pkey = NULL;
    if (probe == NULL || mg__tls_use_cert(probe, conf, &cc->cert, &cc->key, &leaf, err, &pkey) != MG_OK) {
        SSL_CTX_free(probe);
        return MG_ERROR;
    }
    /* its names: as configured, else the certificate's DNS SANs */
    char **names = calloc(MAX_NAMES_PER_CERT, sizeof(char *));
    size_t nn = 0;
    if (names != NULL && cc->snis != NULL) {
        for (size_t k = 0; k < cc->nsnis && k < MAX_NAMES_PER_CERT; k++) {
            names[nn++] = strdup(cc->snis[k]);
        }
    } else if (names != NULL) {
        nn = san_names(leaf, names, MAX_NAMES_PER_CERT);
    }
    mg_tls_cert_info_t *info = &s->certs[s->ncerts++];
    memset(info, 0, sizeof(*info));
    subject_of(leaf, info->subject, sizeof(info->subject));
    key_type(pkey, info->key_type, sizeof(info->key_type));
    info->not_after = mg__tls_asn1_epoch(X509_get0_notAfter(leaf));
    info->not_before = mg__tls_asn1_epoch(X509_get0_notBefore(leaf));
    for (size_t k = 0, off = 0; k < nn && off < sizeof(info->names); k++) {
        int w = snprintf(info->names + off, sizeof(info->names) - off, "%s%s", k ? "," : "",
                         names[k]);
        off += w > 0 ? (size_t)w : 0;
    }
    if (warn != NULL) {
        char msg[700];
        const char *what = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0    ? "expired"
                           : X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0 ? "not yet valid"
                                                                                   : NULL;
        if (what != NULL) {
            snprintf(msg, sizeof(msg), "%s:%d:%d: %s: the certificate in %s (%s) is %s",
                     conf->file, cc->cert.line, cc->cert.column, cc->cert.key, cc->cert.path,
                     info->subject, what);
            warn(msg);
        }
    }
    int kc = key_class(pkey);
    tls_group_t *g = NULL;
    for (size_t k = 0; k < s->ngroups && g == NULL; k++) {
        if (same_names(&s->groups[k], names, nn) && !(s->groups[k].key_types & kc) &&
            s->groups[k].verify == cc->client_verify) {
            g = &s->groups[k];
        }
    }
    int rc = MG_OK;
    if (g != NULL) {
        /* the second key type joins the first: OpenSSL picks by what the client
         * supports */
        if (mg__tls_use_cert(g->ctx, conf, &cc->cert, &cc->key, NULL, err, NULL) != MG_OK) {
            rc = MG_ERROR;
        }
        g->key_types |= kc;
        free_names(names, nn);
        SSL_CTX_free(probe);
    } else {
        g = &s->groups[s->ngroups++];
        *g = (tls_group_t){.ctx = probe, .names = names, .nnames = nn, .key_types = kc,
                           .verify = cc->client_verify, .depth = cc->verify_depth};
        group_sid(g, cc);
        SSL_CTX_set_session_id_context(probe, g->sid, sizeof(g->sid));
        if (cc->client_verify != MG_TLS_VERIFY_OFF) {
            g->ca_names = sk_X509_NAME_new_null();
            if (g->ca_names == NULL ||
                mg__tls_load_cas(SSL_CTX_get_cert_store(probe), g->ca_names, conf,
                                 &cc->client_ca, &cc->crl, err) != MG_OK) {
                rc = MG_ERROR;
            }
        }
    }
    /* OCSP stapling: the leaf's staple, from its file or the process's fetch cache */
    if (rc == MG_OK && mg__tls_ocsp_add(s->ocsp, conf, cc, leaf, err, warn) != MG_OK) {
        rc = MG_ERROR;
    }
    X509_free(leaf);
    EVP_PKEY_free(pkey);
    return rc;
}

/* The name table: exact names, then wildcards by their suffix; the first group that
 * names a host serves it. */
static int index_names(mg_tls_server_t *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        total += s->groups[i].nnames;
    }
    s->exact = calloc(total + 1, sizeof(tls_name_t));
    s->wild = calloc(total + 1, sizeof(tls_name_t));
    if (s->exact == NULL || s->wild == NULL) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < s->ngroups; i++) {
        for (size_t k = 0; k < s->groups[i].nnames; k++) {
            const char *n = s->groups[i].names[k];
            if (strncmp(n, "*.", 2) == 0) {
                s->wild[s->nwild++] = (tls_name_t){n + 1, i};
            } else {
                s->exact[s->nexact++] = (tls_name_t){n, i};
            }
        }
    }
    return MG_OK;
}

mg_tls_server_t *mg_tls_server_new(const mg_conf_t *conf, mg_conf_err_t *err,
                                   void (*warn)(const char *msg))
{
    memset(err, 0, sizeof(*err));
    const mg_tls_conf_t *t = &conf->tls;
    if (t->ncerts == 0) {
        return NULL;
    }
    mg_tls_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->groups = calloc(t->ncerts, sizeof(tls_group_t))) == NULL ||
        (s->certs = calloc(t->ncerts, sizeof(mg_tls_cert_info_t))) == NULL ||
        (s->ocsp = mg__tls_ocsp_set_new(t->ncerts)) == NULL) {
        fail_at(err, conf, NULL, "out of memory");
        if (s != NULL) {
            server_free(s);
        }
        return NULL;
    }
    s->refs = 1;
    s->strict_sni = t->strict_sni;
    s->handshake_timeout = t->handshake_timeout;
    for (size_t i = 0; i < t->ncerts; i++) {
        if (add_cert(s, conf, i, err, warn) != MG_OK) {
            server_free(s);
            return NULL;
        }
    }
    if (index_names(s) != MG_OK) {
        fail_at(err, conf, NULL, "out of memory");
        server_free(s);
        return NULL;
    }
    return s;
}

double mg_tls_server_handshake_timeout(const mg_tls_server_t *s)
{
    return s->handshake_timeout;
}

size_t mg_tls_server_ncerts(const mg_tls_server_t *s)
{
    return s != NULL ? s->ncerts : 0;
}

const mg_tls_cert_info_t *mg_tls_server_cert(const mg_tls_server_t *s, size_t i)
{
    return &s->certs[i];
}

bool mg_tls_host_allowed(const mg_transport_t *t, const char *host, size_t len)
{
    const mg__tls_conn_t *c = mg_transport_is_tls(t) ? t->state : NULL;
    if (c == NULL || c->srv == NULL) {
        return true;
    }
    char name[256];
    if (len == 0 || len >= sizeof(name)) {
        return groups_compatible(&c->srv->groups[c->group], &c->srv->groups[0]);
    }
    memcpy(name, host, len);
    name[len] = '\0';
    return groups_compatible(&c->srv->groups[c->group], group_of(c->srv, name));
}

int mg_transport_init_tls_server(mg_transport_t *t, int fd, mg_tls_server_t *s)
{
    if (mg__tls_conn_init(t, fd, s->groups[0].ctx, false) != MG_OK) {
        return MG_ERROR;
    }
    mg__tls_conn_t *c = t->state;
    SSL_set_accept_state(c->ssl);
    c->srv = s;
    s->refs++;
    return MG_OK;
}
