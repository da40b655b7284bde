/*
 * lua_crypto.c -- the C functions mg.encode and mg.crypto call through the FFI
 * (lua/moongate/encode.lua, crypto.lua): thin wrappers of base/encode.h and
 * sys/crypto.h that the binary exports. The Lua modules check argument types and turn
 * the results into strings; nothing here needs a request, so both work in every phase,
 * in timers and while plugins load.
 */
#include "lua_int.h"

#include "crypto.h"
#include "encode.h"
#include "lua_ffi.h"
#include "worker.h"

size_t mg_lua_base64_encode(const char *s, size_t n, char *out, int url)
{
    return url ? mg_base64url_encode(s, n, out) : mg_base64_encode(s, n, out);
}

size_t mg_lua_hex_encode(const char *s, size_t n, char *out)
{
    return mg_hex_encode(s, n, out);
}

long mg_lua_base64_decode(const char *s, size_t n, char *out, int url)
{
    return url ? mg_base64url_decode(s, n, out) : mg_base64_decode(s, n, out);
}

long mg_lua_hex_decode(const char *s, size_t n, char *out)
{
    return mg_hex_decode(s, n, out);
}

int mg_lua_crypto_digest(int md, const char *s, size_t n, unsigned char *out)
{
    return mg_crypto_digest(md, s, n, out);
}

int mg_lua_crypto_hmac(int md, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out)
{
    return mg_crypto_hmac(md, key, klen, msg, mlen, out);
}

int mg_lua_crypto_equals(const char *a, size_t alen, const char *b, size_t blen)
{
    return mg_crypto_equals(a, alen, b, blen);
}

int mg_lua_crypto_random(unsigned char *buf, size_t n)
{
    return mg_crypto_random(buf, n);
}

mg_crypto_key_t *mg_lua_crypto_key_pem(const char *pem, size_t len, const char **err)
{
    return mg_crypto_key_pem(pem, len, err);
}

mg_crypto_key_t *mg_lua_crypto_key_jwk(int kty, const char *crv, size_t crvlen,
                                       const char **parts, const size_t *lens,
                                       const char **err)
{
    mg_crypto_jwk_t j = {.kty = kty, .crv = mg_str(crv, crv != NULL ? crvlen : 0)};
    mg_str_t *members[] = {&j.n, &j.e, &j.d, &j.p, &j.q, &j.dp, &j.dq, &j.qi, &j.x, &j.y};
    for (size_t i = 0; i < MG_NELEMS(members); i++) {
        *members[i] = mg_str(parts[i], parts[i] != NULL ? lens[i] : 0);
    }
    return mg_crypto_key_jwk(&j, err);
}

void mg_lua_crypto_key_free(mg_crypto_key_t *k)
{
    mg_crypto_key_free(k);
}

void mg_lua_crypto_key_info(mg_crypto_key_t *k, int *info)
{
    mg_crypto_key_info_t ki;
    mg_crypto_key_info(k, &ki);
    info[0] = ki.kty;
    info[1] = ki.bits;
    info[2] = ki.priv;
    info[3] = ki.sig_max;
}

int mg_lua_crypto_verify(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                         const char *sig, size_t slen, const char **err)
{
    return mg_crypto_verify(alg, k, msg, mlen, sig, slen, err);
}

int mg_lua_crypto_sign(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                       unsigned char *out, size_t cap, const char **err)
{
    return mg_crypto_sign(alg, k, msg, mlen, out, cap, err);
}

int mg_lua_crypto_aes_gcm(int enc, const char *key, size_t klen, const char *iv, size_t ivlen,
                          const char *aad, size_t alen, const char *in, size_t n,
                          unsigned char *out, unsigned char *tag, size_t taglen,
                          const char **err)
{
    if (enc) {
        return mg_crypto_aes_gcm_encrypt(key, klen, iv, ivlen, aad, alen, in, n, out, tag, err);
    }
    return mg_crypto_aes_gcm_decrypt(key, klen, iv, ivlen, aad, alen, in, n, tag, taglen, out,
                                     err);
}

/* The stats the watchdog samples for the plugin running now; NULL at load. */
static mg_worker_stats_t *running_stats(void)
{
    mg_lua_t *lua = mg__lua_running;
    return lua != NULL && lua->w != NULL ? lua->w->stats : NULL;
}

/* bcrypt is slow by design (its cost is the operator's choice, capped at
 * MG_BCRYPT_MAX_COST) and is the one call here that can outlast the CPU budget:
 * its time is kept out of the budget as a wait's is. The worker's stall timeout still
 * bounds it. */
int mg_lua_crypto_bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                                const char **err)
{
    mg_worker_stats_t *ws = running_stats();
    mg_worker_lua_leave(ws);
    int rc = mg_crypto_bcrypt_verify(pw, pwlen, hash, hlen, err);
    mg_worker_lua_enter(ws);
    return rc;
}

int mg_lua_crypto_bcrypt_hash(const char *pw, size_t pwlen, int cost, char *out, size_t cap,
                              const char **err)
{
    mg_worker_stats_t *ws = running_stats();
    mg_worker_lua_leave(ws);
    int rc = mg_crypto_bcrypt_hash(pw, pwlen, cost, out, cap, err);
    mg_worker_lua_enter(ws);
    return rc;
}
