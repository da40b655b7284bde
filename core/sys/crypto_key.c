/*
 * crypto_key.c -- public and private keys (RSA, EC P-256/P-384, Ed25519) read from PEM
 * or from JWK members, and the JWS signatures they make and check (crypto.h).
 *
 * A key is parsed once and then used for many requests, so everything a signature
 * check needs beyond the key is prepared on its first use with an algorithm and kept
 * in the key: one EVP_PKEY_CTX per algorithm, set up with its padding and digest. A
 * check then hashes the message with the process's digest context and runs
 * EVP_PKEY_verify on the hash. Ed25519 hashes inside the signature and goes through
 * EVP_DigestVerify. ES256/ES384 signatures travel as JWS's fixed-size r||s and are
 * turned into and out of DER here.
 *
 * The algorithm a key may serve follows from its type: an EC key is never used for
 * RS256, an RSA key under 2048 bits never at all (RFC 7518 section 3.3; one over 8192
 * bits is not even loaded), a P-384 key never for ES256. This is what refuses the algorithm-confusion attacks.
 */
#include "crypto.h"
#include "crypto_int.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct mg_crypto_key_s {
    EVP_PKEY *pkey;
    mg_crypto_key_info_t info;
    EVP_PKEY_CTX *vctx[MG_ALG_COUNT]; /* verify contexts, made on first use */
    EVP_PKEY_CTX *sctx[MG_ALG_COUNT]; /* sign contexts, made on first use */
};

/* The digest of each algorithm (EdDSA: none of its own), and the EC size of ES*. */
static const int ALG_MD[MG_ALG_COUNT] = {MG_MD_SHA256, MG_MD_SHA384, MG_MD_SHA512,
                                         MG_MD_SHA256, MG_MD_SHA384, MG_MD_SHA512,
                                         MG_MD_SHA256, MG_MD_SHA384, -1};

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

static EVP_MD_CTX *verify_md_ctx; /* EdDSA's one-shot verify and sign */

/* Wraps pkey (taken) into a key after checking its type: NULL with *err. */
static mg_crypto_key_t *key_wrap(EVP_PKEY *pkey, int priv, const char **err)
{
    mg_crypto_key_info_t info = {0, 0, priv, EVP_PKEY_get_size(pkey)};
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        info.kty = MG_KTY_RSA;
        info.bits = EVP_PKEY_get_bits(pkey);
        if (info.bits > RSA_MAX_BITS) {
            /* each check would cost milliseconds of the worker's loop */
            *err = "RSA key over 8192 bits";
            EVP_PKEY_free(pkey);
            return NULL;
        }
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[32];
        size_t glen = 0;
        info.kty = MG_KTY_EC;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof(group), &glen)) {
            if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
                info.bits = 256;
            } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
                info.bits = 384;
            }
        }
        if (info.bits == 0) {
            *err = "unsupported EC curve (P-256 and P-384 are)";
            EVP_PKEY_free(pkey);
            return NULL;
        }
        info.sig_max = info.bits / 4; /* the r||s form */
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        info.kty = MG_KTY_OKP;
        info.bits = 255;
    } else {
        *err = "unsupported key type (RSA, EC and Ed25519 are)";
        EVP_PKEY_free(pkey);
        return NULL;
    }
    mg_crypto_key_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        *err = "out of memory";
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k->pkey = pkey;
    k->info = info;
    return k;
}

/* Never prompts for a passphrase: an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* The label of the first PEM block ("PUBLIC KEY"), as a view into pem; empty if none. */
static mg_str_t pem_label(const char *pem, size_t len)
{
    static const char BEGIN[] = "-----BEGIN ";
    const char *b = memmem(pem, len, BEGIN, sizeof(BEGIN) - 1);
    if (b == NULL) {
        return MG_NULL_STR;
    }
    b += sizeof(BEGIN) - 1;
    const char *e = memmem(b, (size_t)(pem + len - b), "-----", 5);
    return e == NULL ? MG_NULL_STR : mg_str(b, (size_t)(e - b));
}

mg_crypto_key_t *mg_crypto_key_pem(const char *pem, size_t len, const char **err)
{
    mg_str_t label = pem_label(pem, len);
    if (label.p == NULL) {
        *err = "not a PEM key (no -----BEGIN line)";
        return NULL;
    }
    if (len > INT32_MAX) {
        *err = "PEM text too long";
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        *err = "out of memory";
        return NULL;
    }
    EVP_PKEY *pkey = NULL;
    int priv = 0;
    if (mg_str_eq(label, MG_STR("CERTIFICATE"))) {
        X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        pkey = x != NULL ? X509_get_pubkey(x) : NULL;
        X509_free(x);
    } else if (mg_str_eq(label, MG_STR("PUBLIC KEY"))) {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    } else if (mg_str_eq(label, MG_STR("RSA PUBLIC KEY"))) {
        OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(
            &pkey, "PEM", "type-specific", "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
        if (dc == NULL || !OSSL_DECODER_from_bio(dc, bio)) {
            pkey = NULL;
        }
        OSSL_DECODER_CTX_free(dc);
    } else if (mg_str_eq(label, MG_STR("PRIVATE KEY")) ||
               mg_str_eq(label, MG_STR("RSA PRIVATE KEY")) ||
               mg_str_eq(label, MG_STR("EC PRIVATE KEY"))) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        priv = 1;
    } else if (mg_str_eq(label, MG_STR("ENCRYPTED PRIVATE KEY"))) {
        BIO_free(bio);
        *err = "encrypted private keys are not supported (decrypt it with openssl pkey)";
        return NULL;
    } else {
        BIO_free(bio);
        *err = "unsupported PEM block (PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE "
               "KEY, EC PRIVATE KEY and CERTIFICATE are)";
        return NULL;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL) {
        *err = "invalid PEM key";
        return NULL;
    }
    return key_wrap(pkey, priv, err);
}

/* ---- JWK ---- */

static int push_bn(OSSL_PARAM_BLD *b, const char *name, mg_str_t v, BIGNUM **keep)
{
    BIGNUM *bn = BN_bin2bn((const unsigned char *)v.p, (int)v.len, NULL);
    *keep = bn;
    return bn != NULL && OSSL_PARAM_BLD_push_BN(b, name, bn);
}

/* RSA from n e [d p q dp dq qi] into *pkey: NULL or the reason it failed. */
static const char *jwk_rsa(const mg_crypto_jwk_t *j, EVP_PKEY **pkey, int *priv)
{
    if (j->n.p == NULL || j->e.p == NULL || j->n.len == 0 || j->e.len == 0) {
        return "an RSA JWK needs \"n\" and \"e\"";
    }
    *priv = j->d.p != NULL;
    int crt = j->p.p && j->q.p && j->dp.p && j->dq.p && j->qi.p;
    if (*priv && !crt && (j->p.p || j->q.p || j->dp.p || j->dq.p || j->qi.p)) {
        return "an RSA JWK with some but not all of \"p\", \"q\", \"dp\", \"dq\", \"qi\"";
    }
    struct {
        const char *name;
        mg_str_t v;
    } parts[] = {{OSSL_PKEY_PARAM_RSA_N, j->n},           {OSSL_PKEY_PARAM_RSA_E, j->e},
                 {OSSL_PKEY_PARAM_RSA_D, j->d},           {OSSL_PKEY_PARAM_RSA_FACTOR1, j->p},
                 {OSSL_PKEY_PARAM_RSA_FACTOR2, j->q},     {OSSL_PKEY_PARAM_RSA_EXPONENT1, j->dp},
                 {OSSL_PKEY_PARAM_RSA_EXPONENT2, j->dq},  {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, j->qi}};
    size_t nparts = !*priv ? 2 : crt ? 8 : 3;
    BIGNUM *bns[8] = {0};
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    int ok = b != NULL;
    for (size_t i = 0; ok && i < nparts; i++) {
        ok = push_bn(b, parts[i].name, parts[i].v, &bns[i]);
    }
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    ok = ok && (params = OSSL_PARAM_BLD_to_param(b)) != NULL && pc != NULL &&
         EVP_PKEY_fromdata_init(pc) > 0 &&
         EVP_PKEY_fromdata(pc, pkey, *priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) > 0;
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    for (size_t i = 0; i < 8; i++) {
        BN_clear_free(bns[i]);
    }
    return ok ? NULL : "invalid RSA JWK";
}

/* EC (P-256, P-384) from crv x y [d]: the point must lie on the curve. */
static const char *jwk_ec(const mg_crypto_jwk_t *j, EVP_PKEY **pkey, int *priv)
{
    const char *group;
    size_t size;
    if (mg_str_eq(j->crv, MG_STR("P-256"))) {
        group = "prime256v1";
        size = 32;
    } else if (mg_str_eq(j->crv, MG_STR("P-384"))) {
        group = "secp384r1";
        size = 48;
    } else {
        return "an EC JWK needs \"crv\" P-256 or P-384";
    }
    if (j->x.p == NULL || j->y.p == NULL || j->x.len != size || j->y.len != size ||
        (j->d.p != NULL && j->d.len != size)) {
        return "an EC JWK needs \"x\" and \"y\" (and \"d\") of the curve's size";
    }
    unsigned char point[1 + 2 * 48];
    point[0] = 4; /* uncompressed */
    memcpy(point + 1, j->x.p, size);
    memcpy(point + 1 + size, j->y.p, size);
    *priv = j->d.p != NULL;
    BIGNUM *d = NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int ok = b != NULL && pc != NULL &&
             OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
             OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) &&
             (!*priv || push_bn(b, OSSL_PKEY_PARAM_PRIV_KEY, j->d, &d)) &&
             (params = OSSL_PARAM_BLD_to_param(b)) != NULL && EVP_PKEY_fromdata_init(pc) > 0 &&
             EVP_PKEY_fromdata(pc, pkey, *priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                               params) > 0;
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_clear_free(d);
    if (ok && *priv) {
        /* the public point must be d's */
        EVP_PKEY_CTX *cc = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);
        ok = cc != NULL && EVP_PKEY_pairwise_check(cc) > 0;
        EVP_PKEY_CTX_free(cc);
    }
    return ok ? NULL : "invalid EC JWK (a point not on the curve, or x/y not d's)";
}

/* OKP Ed25519 from x [d]: when d is given, x must be its public key. */
static const char *jwk_okp(const mg_crypto_jwk_t *j, EVP_PKEY **pkey, int *priv)
{
    if (!mg_str_eq(j->crv, MG_STR("Ed25519"))) {
        return "an OKP JWK needs \"crv\" Ed25519";
    }
    if (j->x.p == NULL || j->x.len != 32 || (j->d.p != NULL && j->d.len != 32)) {
        return "an Ed25519 JWK needs \"x\" (and \"d\") of 32 bytes";
    }
    *priv = j->d.p != NULL;
    if (!*priv) {
        *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                            (const unsigned char *)j->x.p, 32);
        return *pkey != NULL ? NULL : "invalid Ed25519 JWK";
    }
    *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, (const unsigned char *)j->d.p,
                                         32);
    unsigned char pub[32];
    size_t plen = sizeof(pub);
    if (*pkey == NULL || !EVP_PKEY_get_raw_public_key(*pkey, pub, &plen) || plen != 32 ||
        memcmp(pub, j->x.p, 32) != 0) {
        return "invalid Ed25519 JWK (\"x\" is not \"d\"'s public key)";
    }
    return NULL;
}

mg_crypto_key_t *mg_crypto_key_jwk(const mg_crypto_jwk_t *jwk, const char **err)
{
    EVP_PKEY *pkey = NULL;
    int priv = 0;
    const char *why = jwk->kty == MG_KTY_RSA  ? jwk_rsa(jwk, &pkey, &priv)
                      : jwk->kty == MG_KTY_EC ? jwk_ec(jwk, &pkey, &priv)
                      : jwk->kty == MG_KTY_OKP ? jwk_okp(jwk, &pkey, &priv)
                                               : "unsupported JWK \"kty\" (RSA, EC, OKP are)";
    ERR_clear_error();
    if (why != NULL) {
        EVP_PKEY_free(pkey);
        *err = why;
        return NULL;
    }
    return key_wrap(pkey, priv, err);
}

void mg_crypto_key_free(mg_crypto_key_t *k)
{
    if (k == NULL) {
        return;
    }
    for (int i = 0; i < MG_ALG_COUNT; i++) {
        EVP_PKEY_CTX_free(k->vctx[i]);
        EVP_PKEY_CTX_free(k->sctx[i]);
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

void mg_crypto_key_info(const mg_crypto_key_t *k, mg_crypto_key_info_t *info)
{
    *info = k->info;
}

const char *mg_crypto_key_fits(const mg_crypto_key_t *k, int alg)
{
    if (alg < 0 || alg >= MG_ALG_COUNT) {
        return "unknown algorithm";
    }
    if (alg <= MG_ALG_PS512) {
        if (k->info.kty != MG_KTY_RSA) {
            return "not an RSA key";
        }
        return k->info.bits < RSA_MIN_BITS ? "RSA key under 2048 bits" : NULL;
    }
    if (alg == MG_ALG_EDDSA) {
        return k->info.kty == MG_KTY_OKP ? NULL : "not an Ed25519 key";
    }
    if (k->info.kty != MG_KTY_EC) {
        return "not an EC key";
    }
    return k->info.bits == (alg == MG_ALG_ES256 ? 256 : 384) ? NULL : "wrong EC curve";
}

/* The context of k for alg (verify or sign), made and set up on first use. */
static EVP_PKEY_CTX *op_ctx(mg_crypto_key_t *k, int alg, int sign)
{
    EVP_PKEY_CTX **slot = sign ? &k->sctx[alg] : &k->vctx[alg];
    if (*slot != NULL) {
        return *slot;
    }
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    int ok = c != NULL && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, mg__crypto_md(ALG_MD[alg])) > 0;
    if (ok && alg >= MG_ALG_PS256 && alg <= MG_ALG_PS512) {
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0;
    } else if (ok && alg <= MG_ALG_RS512) {
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0;
    }
    if (!ok) {
        EVP_PKEY_CTX_free(c);
        ERR_clear_error();
        return NULL;
    }
    *slot = c;
    return c;
}

/* JWS r||s (2 * size bytes) to DER into der (cap bytes): its length, or -1. */
static int ecdsa_raw_to_der(const unsigned char *raw, size_t size, unsigned char *der, size_t cap)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)size, NULL), *sv = BN_bin2bn(raw + size, (int)size, NULL);
    if (s == NULL || r == NULL || sv == NULL || !ECDSA_SIG_set0(s, r, sv)) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return -1;
    }
    int len = i2d_ECDSA_SIG(s, NULL);
    if (len > 0 && (size_t)len <= cap) {
        unsigned char *p = der;
        len = i2d_ECDSA_SIG(s, &p);
    } else {
        len = -1;
    }
    ECDSA_SIG_free(s);
    return len;
}

/* DER to JWS r||s of 2 * size bytes into raw: MG_OK or MG_ERROR. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, size_t size, unsigned char *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (s == NULL) {
        return MG_ERROR;
    }
    const BIGNUM *r, *sv;
    ECDSA_SIG_get0(s, &r, &sv);
    int ok = BN_bn2binpad(r, raw, (int)size) == (int)size &&
             BN_bn2binpad(sv, raw + size, (int)size) == (int)size;
    ECDSA_SIG_free(s);
    return ok ? MG_OK : MG_ERROR;
}

static EVP_MD_CTX *eddsa_ctx(void)
{
    if (verify_md_ctx == NULL) {
        verify_md_ctx = EVP_MD_CTX_new();
    }
    return verify_md_ctx;
}

int mg_crypto_verify(int alg, mg_crypto_key_t *k, const void *msg, size_t mlen, const void *sig,
                     size_t slen, const char **err)
{
    if ((*err = mg_crypto_key_fits(k, alg)) != NULL) {
        return MG_ERROR;
    }
    int rc;
    if (alg == MG_ALG_EDDSA) {
        EVP_MD_CTX *c = eddsa_ctx();
        if (c == NULL || !EVP_DigestVerifyInit_ex(c, NULL, NULL, NULL, NULL, k->pkey, NULL)) {
            ERR_clear_error();
            *err = "Ed25519 is not available";
            return MG_ERROR;
        }
        rc = EVP_DigestVerify(c, sig, slen, msg, mlen);
        EVP_MD_CTX_reset(c);
    } else {
        unsigned char hash[MG_MD_MAX_SIZE], der[160];
        int hlen = mg_crypto_digest(ALG_MD[alg], msg, mlen, hash);
        EVP_PKEY_CTX *c = op_ctx(k, alg, 0);
        if (hlen < 0 || c == NULL) {
            *err = "the algorithm is not available";
            return MG_ERROR;
        }
        if (alg == MG_ALG_ES256 || alg == MG_ALG_ES384) {
            size_t size = (size_t)k->info.bits / 8;
            int dlen = slen == 2 * size ? ecdsa_raw_to_der(sig, size, der, sizeof(der)) : -1;
            if (dlen < 0) {
                return MG_DECLINED;
            }
            sig = der;
            slen = (size_t)dlen;
        }
        rc = EVP_PKEY_verify(c, sig, slen, hash, (size_t)hlen);
    }
    ERR_clear_error();
    return rc == 1 ? MG_OK : MG_DECLINED;
}

int mg_crypto_sign(int alg, mg_crypto_key_t *k, const void *msg, size_t mlen, unsigned char *out,
                   size_t cap, const char **err)
{
    if ((*err = mg_crypto_key_fits(k, alg)) != NULL) {
        return MG_ERROR;
    }
    if (!k->info.priv) {
        *err = "a public key cannot sign";
        return MG_ERROR;
    }
    if (cap < (size_t)k->info.sig_max) {
        *err = "no room for the signature";
        return MG_ERROR;
    }
    size_t len = cap;
    int ok;
    if (alg == MG_ALG_EDDSA) {
        EVP_MD_CTX *c = eddsa_ctx();
        ok = c != NULL && EVP_DigestSignInit_ex(c, NULL, NULL, NULL, NULL, k->pkey, NULL) &&
             EVP_DigestSign(c, out, &len, msg, mlen) == 1;
        EVP_MD_CTX_reset(c);
    } else {
        unsigned char hash[MG_MD_MAX_SIZE], der[160];
        int hlen = mg_crypto_digest(ALG_MD[alg], msg, mlen, hash);
        EVP_PKEY_CTX *c = op_ctx(k, alg, 1);
        if (alg == MG_ALG_ES256 || alg == MG_ALG_ES384) {
            size_t dlen = sizeof(der), size = (size_t)k->info.bits / 8;
            ok = hlen > 0 && c != NULL && EVP_PKEY_sign(c, der, &dlen, hash, (size_t)hlen) == 1 &&
                 ecdsa_der_to_raw(der, dlen, size, out) == MG_OK;
            len = 2 * size;
        } else {
            ok = hlen > 0 && c != NULL && EVP_PKEY_sign(c, out, &len, hash, (size_t)hlen) == 1;
        }
    }
    ERR_clear_error();
    if (!ok) {
        *err = "signing failed";
        return MG_ERROR;
    }
    return (int)len;
}
