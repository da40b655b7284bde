/*
 * crypto.c -- digests, HMAC, constant-time compare, random bytes and AES-GCM
 * (crypto.h), on OpenSSL's EVP interface.
 *
 * The hot path is a JWT HS256 check: one HMAC-SHA256 over a few hundred bytes. OpenSSL
 * 3's convenience calls (HMAC(), EVP_Q_digest(), EVP_MAC) fetch the algorithm by name
 * and allocate a context on every call, which costs more than hashing 1 KiB. Here the
 * algorithms are fetched once per process and one EVP_MD_CTX is reinitialised for
 * every digest, and HMAC is built from it as RFC 2104 writes it: H((K ^ opad) ||
 * H((K ^ ipad) || msg)). Workers are single-threaded, so one context per process is
 * one per worker.
 */
#include "crypto.h"
#include "crypto_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char *const MD_NAMES[MG_MD_COUNT] = {"SHA1", "SHA256", "SHA384", "SHA512"};
static const size_t MD_SIZES[MG_MD_COUNT] = {20, 32, 48, 64};
static const size_t MD_BLOCKS[MG_MD_COUNT] = {64, 64, 128, 128};

static EVP_MD *mds[MG_MD_COUNT];
static EVP_MD_CTX *md_ctx;

/* The digest md, fetched on first use; NULL for an unknown md or a failed fetch. */
const EVP_MD *mg__crypto_md(int md)
{
    if (md < 0 || md >= MG_MD_COUNT) {
        return NULL;
    }
    if (mds[md] == NULL) {
        mds[md] = EVP_MD_fetch(NULL, MD_NAMES[md], NULL);
    }
    return mds[md];
}

size_t mg_crypto_md_size(int md)
{
    return md >= 0 && md < MG_MD_COUNT ? MD_SIZES[md] : 0;
}

static EVP_MD_CTX *the_md_ctx(void)
{
    if (md_ctx == NULL) {
        md_ctx = EVP_MD_CTX_new();
    }
    return md_ctx;
}

/* One digest of up to two parts (b may be NULL) with the process's context. */
static int digest2(const EVP_MD *m, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char *out)
{
    EVP_MD_CTX *c = the_md_ctx();
    unsigned int len = 0;
    if (c == NULL || !EVP_DigestInit_ex2(c, m, NULL) || !EVP_DigestUpdate(c, a, alen) ||
        (b != NULL && !EVP_DigestUpdate(c, b, blen)) || !EVP_DigestFinal_ex(c, out, &len)) {
        return MG_ERROR;
    }
    return (int)len;
}

int mg_crypto_digest(int md, const void *p, size_t n, unsigned char *out)
{
    const EVP_MD *m = mg__crypto_md(md);
    return m == NULL ? MG_ERROR : digest2(m, p, n, NULL, 0, out);
}

int mg_crypto_hmac(int md, const void *key, size_t klen, const void *msg, size_t mlen,
                   unsigned char *out)
{
    const EVP_MD *m = mg__crypto_md(md);
    if (m == NULL) {
        return MG_ERROR;
    }
    size_t bs = MD_BLOCKS[md];
    unsigned char k0[128], pad[128], inner[MG_MD_MAX_SIZE];
    memset(k0, 0, bs);
    if (klen > bs) {
        if (digest2(m, key, klen, NULL, 0, k0) < 0) {
            return MG_ERROR;
        }
    } else if (klen > 0) {
        memcpy(k0, key, klen);
    }
    for (size_t i = 0; i < bs; i++) {
        pad[i] = k0[i] ^ 0x36;
    }
    int n = digest2(m, pad, bs, msg, mlen, inner);
    if (n < 0) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < bs; i++) {
        pad[i] = k0[i] ^ 0x5c;
    }
    n = digest2(m, pad, bs, inner, (size_t)n, out);
    OPENSSL_cleanse(k0, bs);
    OPENSSL_cleanse(pad, bs);
    return n;
}

bool mg_crypto_equals(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen) {
        return false;
    }
    return alen == 0 || CRYPTO_memcmp(a, b, alen) == 0;
}

int mg_crypto_random(void *buf, size_t n)
{
    while (n > 0) {
        int chunk = n > 1 << 30 ? 1 << 30 : (int)n;
        if (RAND_bytes(buf, chunk) != 1) {
            return MG_ERROR;
        }
        buf = (unsigned char *)buf + chunk;
        n -= (size_t)chunk;
    }
    return MG_OK;
}

/* ---- AES-GCM ---- */

static EVP_CIPHER *gcm[3]; /* AES-128/192/256-GCM, fetched on first use */
static EVP_CIPHER_CTX *cipher_ctx;

/* The context set up for a GCM operation with key and iv: NULL with *err. */
static EVP_CIPHER_CTX *gcm_init(int enc, const void *key, size_t klen, const void *iv,
                                size_t ivlen, const char **err)
{
    static const char *const NAMES[3] = {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"};
    if (klen != 16 && klen != 24 && klen != 32) {
        *err = "the key must be 16, 24 or 32 bytes";
        return NULL;
    }
    if (ivlen < 1 || ivlen > 128) {
        *err = "the iv must be 1 to 128 bytes (12 recommended)";
        return NULL;
    }
    size_t i = (klen - 16) / 8;
    if (gcm[i] == NULL) {
        gcm[i] = EVP_CIPHER_fetch(NULL, NAMES[i], NULL);
    }
    if (cipher_ctx == NULL) {
        cipher_ctx = EVP_CIPHER_CTX_new();
    }
    EVP_CIPHER_CTX *c = cipher_ctx;
    int ivl = (int)ivlen;
    OSSL_PARAM params[2] = {OSSL_PARAM_int("ivlen", &ivl), OSSL_PARAM_END};
    if (gcm[i] == NULL || c == NULL || !EVP_CipherInit_ex2(c, gcm[i], NULL, NULL, enc, NULL) ||
        !EVP_CIPHER_CTX_set_params(c, params) ||
        !EVP_CipherInit_ex2(c, NULL, key, iv, enc, NULL)) {
        *err = "AES-GCM is not available";
        return NULL;
    }
    return c;
}

/* Feeds aad then the n bytes of in through c into out. */
static int gcm_update(EVP_CIPHER_CTX *c, const void *aad, size_t alen, const void *in, size_t n,
                      void *out)
{
    int len = 0;
    if (alen > 0 && !EVP_CipherUpdate(c, NULL, &len, aad, (int)alen)) {
        return MG_ERROR;
    }
    if (n > 0 && !EVP_CipherUpdate(c, out, &len, in, (int)n)) {
        return MG_ERROR;
    }
    return MG_OK;
}

int mg_crypto_aes_gcm_encrypt(const void *key, size_t klen, const void *iv, size_t ivlen,
                              const void *aad, size_t alen, const void *in, size_t n, void *out,
                              unsigned char tag[16], const char **err)
{
    if (n > INT32_MAX || alen > INT32_MAX) {
        *err = "too much data";
        return MG_ERROR;
    }
    EVP_CIPHER_CTX *c = gcm_init(1, key, klen, iv, ivlen, err);
    if (c == NULL) {
        return MG_ERROR;
    }
    int len = 0;
    if (gcm_update(c, aad, alen, in, n, out) != MG_OK ||
        !EVP_CipherFinal_ex(c, (unsigned char *)out + n, &len) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag)) {
        *err = "encryption failed";
        return MG_ERROR;
    }
    return MG_OK;
}

int mg_crypto_aes_gcm_decrypt(const void *key, size_t klen, const void *iv, size_t ivlen,
                              const void *aad, size_t alen, const void *in, size_t n,
                              const unsigned char *tag, size_t taglen, void *out,
                              const char **err)
{
    if (taglen != 16) {
        *err = "the tag must be 16 bytes";
        return MG_ERROR;
    }
    if (n > INT32_MAX || alen > INT32_MAX) {
        *err = "too much data";
        return MG_ERROR;
    }
    EVP_CIPHER_CTX *c = gcm_init(0, key, klen, iv, ivlen, err);
    if (c == NULL) {
        return MG_ERROR;
    }
    int len = 0;
    if (gcm_update(c, aad, alen, in, n, out) != MG_OK ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag)) {
        *err = "decryption failed";
        return MG_ERROR;
    }
    if (EVP_CipherFinal_ex(c, (unsigned char *)out + n, &len) <= 0) {
        OPENSSL_cleanse(out, n);
        return MG_DECLINED;
    }
    return MG_OK;
}
