/*
 * crypto.h -- the cryptography plugins use (mg.crypto), over OpenSSL: digests, HMAC, a
 * constant-time compare, random bytes, AES-GCM, bcrypt password checks (libxcrypt), and
 * public/private keys that sign and verify in the JWS algorithms (RFC 7518).
 *
 * Everything runs in the calling process: each worker is single-threaded, so the
 * contexts (EVP_MD_CTX, EVP_CIPHER_CTX, the fetched algorithms) are made once per
 * process on first use and reused by every call; a call never fetches an algorithm by
 * name. Functions report errors as a static reason string in *err (never logged here).
 */
#ifndef MG_CRYPTO_H
#define MG_CRYPTO_H

#include "mg_core.h"

/* Digest algorithms. */
enum { MG_MD_SHA1, MG_MD_SHA256, MG_MD_SHA384, MG_MD_SHA512, MG_MD_COUNT };
#define MG_MD_MAX_SIZE 64

/* The JWS signature algorithms of keys (RFC 7518 section 3; RFC 8037 for EdDSA). */
enum {
    MG_ALG_RS256, MG_ALG_RS384, MG_ALG_RS512,
    MG_ALG_PS256, MG_ALG_PS384, MG_ALG_PS512,
    MG_ALG_ES256, MG_ALG_ES384, MG_ALG_EDDSA,
    MG_ALG_COUNT
};

/* Key types (JWK "kty"), and what mg_crypto_key_info() tells. */
enum { MG_KTY_RSA = 1, MG_KTY_EC = 2, MG_KTY_OKP = 3 };
typedef struct {
    int kty;     /* MG_KTY_* */
    int bits;    /* RSA modulus bits; EC 256 (P-256) or 384 (P-384); OKP 255 (Ed25519) */
    int priv;    /* 1: holds the private key (signs and verifies), 0: verifies only */
    int sig_max; /* an upper bound of a signature's bytes */
} mg_crypto_key_info_t;

typedef struct mg_crypto_key_s mg_crypto_key_t;

/* Bytes of a digest of algorithm md (MG_MD_*), 0 for an unknown md. */
size_t mg_crypto_md_size(int md);

/* The digest of n bytes at p into out (MG_MD_MAX_SIZE bytes of room): its length, or
 * MG_ERROR (unknown md, OpenSSL failure). */
int mg_crypto_digest(int md, const void *p, size_t n, unsigned char *out);

/* HMAC (RFC 2104) of msg under key into out (MG_MD_MAX_SIZE bytes of room): the MAC's
 * length, or MG_ERROR. Costs the message's hashing plus three blocks (four for a key
 * longer than the digest's block). */
int mg_crypto_hmac(int md, const void *key, size_t klen, const void *msg, size_t mlen,
                   unsigned char *out);

/* true when a and b hold the same bytes; the time taken depends on the lengths only,
 * never on where the contents differ. */
bool mg_crypto_equals(const void *a, size_t alen, const void *b, size_t blen);

/* n bytes from OpenSSL's CSPRNG into buf: MG_OK or MG_ERROR. */
int mg_crypto_random(void *buf, size_t n);

/* AES-GCM with a 16/24/32-byte key (AES-128/192/256) and an IV of 1..128 bytes (12
 * recommended), aad optional (NULL, 0). encrypt: n bytes at in into out (n bytes of
 * room) and the 16-byte tag into tag. decrypt: checks tag (16 bytes) and writes the
 * plaintext into out. MG_OK, MG_DECLINED (decrypt: authentication failed, out holds
 * nothing usable) or MG_ERROR with *err. */
int mg_crypto_aes_gcm_encrypt(const void *key, size_t klen, const void *iv, size_t ivlen,
                              const void *aad, size_t alen, const void *in, size_t n, void *out,
                              unsigned char tag[16], const char **err);
int mg_crypto_aes_gcm_decrypt(const void *key, size_t klen, const void *iv, size_t ivlen,
                              const void *aad, size_t alen, const void *in, size_t n,
                              const unsigned char *tag, size_t taglen, void *out,
                              const char **err);

/* ---- keys: crypto_key.c ---- */

/* A key from PEM text: SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY", "PRIVATE KEY"
 * (PKCS#8), "RSA PRIVATE KEY", "EC PRIVATE KEY", or a "CERTIFICATE" (its public key).
 * Only RSA, EC P-256/P-384 and Ed25519 keys are taken. NULL with *err otherwise. The
 * caller owns the key (mg_crypto_key_free). */
mg_crypto_key_t *mg_crypto_key_pem(const char *pem, size_t len, const char **err);

/* The members of a JWK (RFC 7517/7518/8037), already base64url-decoded; absent ones
 * have p == NULL. RSA: n e [d p q dp dq qi]; EC: crv x y [d]; OKP: crv x [d]. */
typedef struct {
    int kty;       /* MG_KTY_* */
    mg_str_t crv;  /* "P-256", "P-384", "Ed25519" */
    mg_str_t n, e, d, p, q, dp, dq, qi, x, y;
} mg_crypto_jwk_t;

/* A key from JWK members: NULL with *err for a member missing, of the wrong size or a
 * point not on the curve. The caller owns the key. */
mg_crypto_key_t *mg_crypto_key_jwk(const mg_crypto_jwk_t *jwk, const char **err);

void mg_crypto_key_free(mg_crypto_key_t *k);
void mg_crypto_key_info(const mg_crypto_key_t *k, mg_crypto_key_info_t *info);

/* Whether alg (MG_ALG_*) may be used with key k: NULL, or a static reason. */
const char *mg_crypto_key_fits(const mg_crypto_key_t *k, int alg);

/* Verifies sig over msg with alg: MG_OK (valid), MG_DECLINED (the signature does not
 * match, or is malformed: an ES* signature of the wrong length) or MG_ERROR with *err
 * (a key that does not fit alg, an OpenSSL failure). ES* signatures are JWS's raw
 * r||s. */
int mg_crypto_verify(int alg, mg_crypto_key_t *k, const void *msg, size_t mlen, const void *sig,
                     size_t slen, const char **err);

/* Signs msg with alg into out (room for info.sig_max bytes): the signature's length
 * or MG_ERROR with *err (no private key, a key that does not fit alg). */
int mg_crypto_sign(int alg, mg_crypto_key_t *k, const void *msg, size_t mlen, unsigned char *out,
                   size_t cap, const char **err);

/* ---- passwords: crypto_bcrypt.c ---- */

/* Checks password against a bcrypt hash ($2a$, $2b$, $2y$), as htpasswd -B writes:
 * MG_OK (it matches), MG_DECLINED (it does not) or MG_ERROR with *err (not a bcrypt
 * hash). bcrypt is slow by design (about 50-100 ms at cost 10, on the calling thread),
 * so successful checks are remembered for MG_BCRYPT_CACHE_TTL seconds in a small
 * per-process table keyed by an HMAC of (hash, password) under a random per-process
 * key: a credential seen again costs one HMAC. The password itself is never stored. */
#define MG_BCRYPT_CACHE_SIZE 256
#define MG_BCRYPT_CACHE_TTL 300.0
/* Costs above this are refused: each step doubles the time, and cost 14 already blocks
 * the worker for about a second. */
#define MG_BCRYPT_MAX_COST 14
int mg_crypto_bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                            const char **err);

/* A new bcrypt ($2b$) hash of password at cost 4..MG_BCRYPT_MAX_COST into out (64 bytes of room), NUL
 * terminated: its length, or MG_ERROR with *err. */
int mg_crypto_bcrypt_hash(const char *pw, size_t pwlen, int cost, char *out, size_t cap,
                          const char **err);

#endif
