/*
 * tls_ocsp.c -- OCSP staples (tls_ocsp.h): the checks a response must pass, the status
 * callback handshakes call, and this process's cache of fetched staples.
 *
 * The status callback only copies bytes already checked: a handshake never waits for a
 * responder. Which staple to copy is decided by the certificate OpenSSL chose for the
 * client (a context may hold an RSA and an ECDSA leaf), compared with X509_cmp, which
 * uses the digest OpenSSL caches in each certificate.
 */
#include "tls_ocsp_int.h"
#include "tls_int.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define FP_LEN 32 /* SHA-256 */

typedef struct {
    unsigned char *der; /* NULL: no staple */
    size_t len;
    double this_update, next_update; /* epoch seconds; next_update 0: none given */
} staple_t;

struct mg_tls_ocsp_s {
    int refs;    /* the sets (generations) that use it */
    bool cached; /* in the process cache: a `fetch` entry */
    unsigned char fp[FP_LEN];
    X509 *leaf, *issuer;
    OCSP_CERTID *id;
    char *url; /* `fetch`: the responder */
    char name[256];
    staple_t staple;
    void *job; /* the fetcher's */
    mg_tls_ocsp_t *next;
};

struct mg__tls_ocsp_set_s {
    mg_tls_ocsp_t **e;
    size_t n, cap;
};

/* The `fetch` entries of this process; an entry leaves when its last set does. */
static mg_tls_ocsp_t *cache;
static void (*job_free)(void *job);

/* ---- entries ---- */

static mg_tls_ocsp_t *entry_new(X509 *leaf, X509 *issuer)
{
    mg_tls_ocsp_t *e = calloc(1, sizeof(*e));
    unsigned int fl = 0;
    if (e == NULL) {
        return NULL;
    }
    e->refs = 1;
    e->id = OCSP_cert_to_id(NULL, leaf, issuer);
    if (e->id == NULL || X509_digest(leaf, EVP_sha256(), e->fp, &fl) != 1) {
        OCSP_CERTID_free(e->id);
        free(e);
        return NULL;
    }
    X509_up_ref(leaf);
    X509_up_ref(issuer);
    e->leaf = leaf;
    e->issuer = issuer;
    X509_NAME_oneline(X509_get_subject_name(leaf), e->name, sizeof(e->name));
    return e;
}

static void staple_clear(staple_t *s)
{
    free(s->der);
    *s = (staple_t){0};
}

static void entry_release(mg_tls_ocsp_t *e)
{
    if (e == NULL || --e->refs > 0) {
        return;
    }
    if (e->job != NULL && job_free != NULL) {
        job_free(e->job);
    }
    for (mg_tls_ocsp_t **p = &cache; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    staple_clear(&e->staple);
    OCSP_CERTID_free(e->id);
    X509_free(e->leaf);
    X509_free(e->issuer);
    free(e->url);
    free(e);
}

/* The cache entry for this leaf and issuer, shared (one more reference) or new. */
static mg_tls_ocsp_t *cache_get(X509 *leaf, X509 *issuer)
{
    unsigned char fp[FP_LEN];
    unsigned int fl = 0;
    if (X509_digest(leaf, EVP_sha256(), fp, &fl) != 1) {
        return NULL;
    }
    for (mg_tls_ocsp_t *e = cache; e != NULL; e = e->next) {
        if (memcmp(e->fp, fp, FP_LEN) == 0 && X509_cmp(e->issuer, issuer) == 0) {
            e->refs++;
            return e;
        }
    }
    mg_tls_ocsp_t *e = entry_new(leaf, issuer);
    if (e != NULL) {
        e->cached = true;
        e->next = cache;
        cache = e;
    }
    return e;
}

/* ---- checking a response ---- */

static const char *say(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return why;
}


static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

/* The issuer is the trust anchor, whatever is above it: a response signed by it, or by
 * a responder certificate it issued for OCSP signing (carried in the response), is
 * what RFC 6960 §4.2.2.2 accepts. */
static bool signed_by_issuer(const mg_tls_ocsp_t *e, OCSP_BASICRESP *bs)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    bool ok = false;
    if (store != NULL && certs != NULL && X509_STORE_add_cert(store, e->issuer) == 1 &&
        sk_X509_push(certs, e->issuer) > 0) {
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        ok = OCSP_basic_verify(bs, certs, store, 0) == 1;
    }
    sk_X509_free(certs); /* the issuer was pushed without a reference */
    X509_STORE_free(store);
    return ok;
}

/* The single answer for e's leaf in bs: good, current, signed. *revoked is set when a
 * signed answer says the certificate is not good. */
static const char *check_basic(const mg_tls_ocsp_t *e, OCSP_BASICRESP *bs, char *why,
                               size_t len, staple_t *out, bool *revoked)
{
    int idx = OCSP_resp_find(bs, e->id, -1);
    if (idx < 0) {
        return say(why, len, "it holds no answer for this certificate");
    }
    if (OCSP_resp_find(bs, e->id, idx) >= 0) {
        return say(why, len, "it holds more than one answer for this certificate");
    }
    if (!signed_by_issuer(e, bs)) {
        return say(why, len, "its signature does not verify against the issuer: %s",
                   ssl_reason());
    }
    int reason;
    ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
    int status = OCSP_single_get0_status(OCSP_resp_get0(bs, idx), &reason, &rev, &thisu, &nextu);
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        *revoked = true;
        return say(why, len, "the certificate's status is %s", OCSP_cert_status_str(status));
    }
    if (OCSP_check_validity(thisu, nextu, MG_TLS_OCSP_LEEWAY, -1) != 1) {
        return say(why, len, "it is %s",
                   nextu != NULL && mg__tls_asn1_epoch(nextu) + MG_TLS_OCSP_LEEWAY < (double)time(NULL)
                       ? "out of date (past its nextUpdate)"
                       : "not valid yet or malformed (thisUpdate/nextUpdate)");
    }
    out->this_update = mg__tls_asn1_epoch(thisu);
    out->next_update = nextu != NULL ? mg__tls_asn1_epoch(nextu) : 0;
    return NULL;
}

/* Checks der for e; NULL and *out filled (times only) when it passes. */
static const char *check(const mg_tls_ocsp_t *e, const unsigned char *der, size_t len, char *why,
                         size_t whylen, staple_t *out, bool *revoked)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp =
        len > 0 && len <= LONG_MAX ? d2i_OCSP_RESPONSE(NULL, &p, (long)len) : NULL;
    OCSP_BASICRESP *bs = NULL;
    const char *r;
    int st;
    if (resp == NULL || p != der + len) {
        r = say(why, whylen, "it is not a DER OCSP response");
    } else if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        r = say(why, whylen, "the responder answered \"%s\"", OCSP_response_status_str(st));
    } else if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
        r = say(why, whylen, "it is not a basic OCSP response");
    } else {
        r = check_basic(e, bs, why, whylen, out, revoked);
    }
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return r;
}

const char *mg_tls_ocsp_take(mg_tls_ocsp_t *e, const unsigned char *der, size_t len, char *why,
                             size_t whylen)
{
    staple_t s = {0};
    bool revoked = false;
    const char *r = check(e, der, len, why, whylen, &s, &revoked);
    if (r != NULL) {
        if (revoked) {
            staple_clear(&e->staple); /* the CA said so: an older "good" must not linger */
        }
        return r;
    }
    if ((s.der = malloc(len)) == NULL) {
        return say(why, whylen, "out of memory");
    }
    memcpy(s.der, der, len);
    s.len = len;
    staple_clear(&e->staple);
    e->staple = s;
    return NULL;
}

/* ---- the handshake's side ---- */

static bool staple_current(mg_tls_ocsp_t *e, double now)
{
    const staple_t *s = &e->staple;
    if (s->der == NULL) {
        return false;
    }
    if (s->next_update > 0 && now > s->next_update + MG_TLS_OCSP_LEEWAY) {
        staple_clear(&e->staple); /* a stale answer is worse than none */
        return false;
    }
    return true;
}

static mg_tls_ocsp_t *set_find(const mg__tls_ocsp_set_t *set, X509 *x)
{
    for (size_t i = 0; x != NULL && i < set->n; i++) {
        if (X509_cmp(set->e[i]->leaf, x) == 0) {
            return set->e[i];
        }
    }
    return NULL;
}

/* OpenSSL calls this once the certificate is chosen (SSL_get_certificate is it). */
static int on_status(SSL *ssl, void *arg)
{
    const mg__tls_ocsp_set_t *set = arg;
    if (set == NULL || SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    mg_tls_ocsp_t *e = set_find(set, SSL_get_certificate(ssl));
    if (e == NULL || !staple_current(e, (double)time(NULL))) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    /* OpenSSL frees what it is given, with OPENSSL_free */
    unsigned char *copy = OPENSSL_malloc(e->staple.len);
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    memcpy(copy, e->staple.der, e->staple.len);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)e->staple.len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

void mg__tls_ocsp_install(SSL_CTX *ctx, mg__tls_ocsp_set_t *set)
{
    SSL_CTX_set_tlsext_status_cb(ctx, on_status);
    SSL_CTX_set_tlsext_status_arg(ctx, set);
}

/* ---- sets, built with a generation ---- */

mg__tls_ocsp_set_t *mg__tls_ocsp_set_new(size_t n)
{
    mg__tls_ocsp_set_t *set = calloc(1, sizeof(*set));
    if (set != NULL && (set->e = calloc(n ? n : 1, sizeof(*set->e))) == NULL) {
        free(set);
        return NULL;
    }
    if (set != NULL) {
        set->cap = n;
    }
    return set;
}

void mg__tls_ocsp_set_free(mg__tls_ocsp_set_t *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        entry_release(set->e[i]);
    }
    free(set->e);
    free(set);
}

static int fail(mg_conf_err_t *err, const mg_conf_t *conf, const mg_tls_cert_conf_t *cc,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(mg_conf_err_t *err, const mg_conf_t *conf, const mg_tls_cert_conf_t *cc,
                const char *fmt, ...)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", conf->file);
    err->line = cc->line;
    err->column = cc->column;
    snprintf(err->key, sizeof(err->key), "tls.certificates[%zu].ocsp",
             (size_t)(cc - conf->tls.certs));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return MG_ERROR;
}

/* The second certificate of the cert file: the leaf's issuer (the chain order was
 * checked when the certificate was loaded). A reference, or NULL. */
static X509 *issuer_of(const mg_conf_file_t *f)
{
    BIO *b = f->data != NULL ? BIO_new_mem_buf(f->data, (int)f->len) : NULL;
    X509 *leaf = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    X509 *issuer = leaf != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    X509_free(leaf);
    BIO_free(b);
    ERR_clear_error(); /* the end of the PEM stream */
    return issuer;
}

/* The leaf's first http:// OCSP responder (malloc'd), or NULL with *https set when
 * it only names https ones. */
static char *responder_of(X509 *leaf, bool *https)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
    char *url = NULL;
    *https = false;
    for (int i = 0; i < sk_OPENSSL_STRING_num(urls) && url == NULL; i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (strncasecmp(u, "http://", 7) == 0) {
            url = strdup(u);
        } else if (strncasecmp(u, "https://", 8) == 0) {
            *https = true;
        }
    }
    X509_email_free(urls);
    return url;
}

/* `fetch`: the cache entry, which needs a responder to ask. */
static mg_tls_ocsp_t *add_fetch(const mg_conf_t *conf, const mg_tls_cert_conf_t *cc, X509 *leaf,
                                X509 *issuer, mg_conf_err_t *err)
{
    bool https;
    char *url = responder_of(leaf, &https);
    if (url == NULL) {
        fail(err, conf, cc,
             https ? "fetch: the certificate in %s names only https OCSP responders; OCSP "
                     "is fetched over plain http (responses are signed)"
                   : "fetch: the certificate in %s names no OCSP responder (authorityInfoAccess)",
             cc->cert.path);
        return NULL;
    }
    mg_tls_ocsp_t *e = cache_get(leaf, issuer);
    if (e == NULL) {
        free(url);
        fail(err, conf, cc, "out of memory");
        return NULL;
    }
    if (e->url == NULL) {
        e->url = url;
    } else {
        free(url);
    }
    return e;
}

/* `file`: an entry of this set alone, with the file's response when it passes. */
static mg_tls_ocsp_t *add_file(const mg_conf_t *conf, const mg_tls_cert_conf_t *cc, X509 *leaf,
                               X509 *issuer, mg_conf_err_t *err, void (*warn)(const char *msg))
{
    const mg_conf_file_t *f = &cc->ocsp_file;
    mg_tls_ocsp_t *e = entry_new(leaf, issuer);
    if (e == NULL) {
        fail(err, conf, cc, "out of memory");
        return NULL;
    }
    char why[256];
    if (mg_tls_ocsp_take(e, (const unsigned char *)f->data, f->data != NULL ? f->len : 0, why,
                         sizeof(why)) != NULL &&
        warn != NULL) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s:%d:%d: %s: the OCSP response in %s is not stapled: %s",
                 conf->file, f->line, f->column, f->key, f->path, why);
        warn(msg);
    }
    return e;
}

int mg__tls_ocsp_add(mg__tls_ocsp_set_t *set, const mg_conf_t *conf, const mg_tls_cert_conf_t *cc,
                     X509 *leaf, mg_conf_err_t *err, void (*warn)(const char *msg))
{
    if (cc->ocsp_file.path == NULL && !cc->ocsp_fetch) {
        return MG_OK;
    }
    if (set->n == set->cap) {
        return fail(err, conf, cc, "out of memory");
    }
    X509 *issuer = issuer_of(&cc->cert);
    if (issuer == NULL) {
        return fail(err, conf, cc,
                    "stapling needs the certificate's issuer to check responses: put it "
                    "after the leaf in %s",
                    cc->cert.path);
    }
    mg_tls_ocsp_t *e = cc->ocsp_fetch ? add_fetch(conf, cc, leaf, issuer, err)
                                      : add_file(conf, cc, leaf, issuer, err, warn);
    X509_free(issuer);
    if (e == NULL) {
        return MG_ERROR;
    }
    set->e[set->n++] = e;
    return MG_OK;
}

/* ---- the fetcher's side ---- */

mg_tls_ocsp_t *mg_tls_ocsp_fetch_next(mg_tls_ocsp_t *prev)
{
    return prev != NULL ? prev->next : cache;
}

const char *mg_tls_ocsp_url(const mg_tls_ocsp_t *e)
{
    return e->url;
}

const char *mg_tls_ocsp_name(const mg_tls_ocsp_t *e)
{
    return e->name;
}

unsigned char *mg_tls_ocsp_request(const mg_tls_ocsp_t *e, size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_CERTID_dup(e->id);
    unsigned char *der = NULL;
    if (req != NULL && id != NULL && OCSP_request_add0_id(req, id) != NULL) {
        id = NULL; /* the request owns it */
        int n = i2d_OCSP_REQUEST(req, NULL);
        unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
        der = p;
        if (p != NULL && i2d_OCSP_REQUEST(req, &p) == n) {
            *len = (size_t)n;
        } else {
            free(der);
            der = NULL;
        }
    }
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    ERR_clear_error();
    return der;
}

bool mg_tls_ocsp_times(mg_tls_ocsp_t *e, double now, double *this_update, double *next_update)
{
    if (!staple_current(e, now)) {
        return false;
    }
    *this_update = e->staple.this_update;
    *next_update = e->staple.next_update;
    return true;
}

void *mg_tls_ocsp_job(const mg_tls_ocsp_t *e)
{
    return e->job;
}

void mg_tls_ocsp_set_job(mg_tls_ocsp_t *e, void *job)
{
    e->job = job;
}

void mg_tls_ocsp_on_job_free(void (*fn)(void *job))
{
    job_free = fn;
}
