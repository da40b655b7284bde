/* deps: encode crypto crypto_key crypto_bcrypt */
/*
 * test_crypto.c -- base/encode.c and sys/crypto*.c against published answers: RFC 4648
 * (base64), RFC 4231 and RFC 2202 (HMAC), FIPS 180 examples (SHA), the GCM
 * specification's test cases (AES-GCM), RFC 7515 appendix A.2/A.3 (RS256, ES256) and
 * RFC 8037 appendix A.4 (EdDSA), bcrypt hashes written by `htpasswd -B` and the
 * OpenBSD test vectors; plus the refusals: garbage to every decoder, keys that do not
 * fit an algorithm, tampered messages and signatures.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "encode.h"

/* ---- helpers ---- */

static char hexbuf[1024];

static const char *hex(const void *p, size_t n)
{
    hexbuf[mg_hex_encode(p, n, hexbuf)] = 0;
    return hexbuf;
}

/* Decodes hex text into a malloc'd buffer; *n its length. */
static unsigned char *unhex(const char *s, size_t *n)
{
    unsigned char *b = malloc(strlen(s) / 2 + 1);
    long k = mg_hex_decode(s, strlen(s), b);
    ck_assert_int_ge(k, 0);
    *n = (size_t)k;
    return b;
}

static unsigned char *unb64url(const char *s, size_t *n)
{
    unsigned char *b = malloc(MG_BASE64_DECODED_MAX(strlen(s)) + 1);
    long k = mg_base64url_decode(s, strlen(s), b);
    ck_assert_msg(k >= 0, "base64url: %s", s);
    *n = (size_t)k;
    return b;
}

/* ---- encode ---- */

START_TEST(test_base64_rfc4648)
{
    static const char *const v[][3] = {
        {"", "", ""},         {"f", "Zg==", "Zg"},         {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"}, {"foob", "Zm9vYg==", "Zm9vYg"}, {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"}};
    char out[64], dec[64];
    for (size_t i = 0; i < MG_NELEMS(v); i++) {
        size_t n = strlen(v[i][0]);
        size_t k = mg_base64_encode(v[i][0], n, out);
        ck_assert_uint_eq(k, MG_BASE64_LEN(n));
        ck_assert_mem_eq(out, v[i][1], k);
        k = mg_base64url_encode(v[i][0], n, out);
        ck_assert_uint_eq(k, MG_BASE64URL_LEN(n));
        ck_assert_mem_eq(out, v[i][2], k);
        ck_assert_int_eq(mg_base64_decode(v[i][1], strlen(v[i][1]), dec), (long)n);
        ck_assert_mem_eq(dec, v[i][0], n);
        /* base64url takes its text with and without padding */
        ck_assert_int_eq(mg_base64url_decode(v[i][2], strlen(v[i][2]), dec), (long)n);
        ck_assert_mem_eq(dec, v[i][0], n);
        ck_assert_int_eq(mg_base64url_decode(v[i][1], strlen(v[i][1]), dec), (long)n);
    }
    ck_assert_str_eq(hex("foobar", 6), "666f6f626172");
    ck_assert_int_eq(mg_hex_decode("666F6f626172", 12, dec), 6);
    ck_assert_mem_eq(dec, "foobar", 6);
    /* the two alphabets differ in 62 and 63 */
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    ck_assert_uint_eq(mg_base64_encode(hi, 3, out), 4);
    ck_assert_mem_eq(out, "+/+/", 4);
    ck_assert_uint_eq(mg_base64url_encode(hi, 3, out), 4);
    ck_assert_mem_eq(out, "-_-_", 4);
}
END_TEST

START_TEST(test_decoders_refuse_garbage)
{
    static const char *const bad64[] = {"Zg",   "Zg=",   "Z===", "Zm9v=", "Zm9vY", "Zh==",
                                        "Zm9=", "Zm 9v", "Zm9v\n", "-_-_", "====", "Zg==Zg=="};
    static const char *const bad64url[] = {"Z",   "Zh",  "Zm9=", "+/+/", "Zg=",  "Zm9v\x80",
                                           "Z===", "Zm9vY", "Zg==Zg", "Zm8 "};
    static const char *const badhex[] = {"a", "zz", "0g", "abc", " a", "a\0"};
    char out[64];
    for (size_t i = 0; i < MG_NELEMS(bad64); i++) {
        ck_assert_msg(mg_base64_decode(bad64[i], strlen(bad64[i]), out) == -1, "%s", bad64[i]);
    }
    for (size_t i = 0; i < MG_NELEMS(bad64url); i++) {
        ck_assert_msg(mg_base64url_decode(bad64url[i], strlen(bad64url[i]), out) == -1, "%s",
                      bad64url[i]);
    }
    for (size_t i = 0; i < MG_NELEMS(badhex); i++) {
        size_t n = i == MG_NELEMS(badhex) - 1 ? 2 : strlen(badhex[i]);
        ck_assert_msg(mg_hex_decode(badhex[i], n, out) == -1, "%s", badhex[i]);
    }
    /* every byte value round-trips */
    unsigned char all[256], back[256];
    char text[400];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
    }
    for (size_t n = 0; n <= 256; n += 37) {
        size_t k = mg_base64url_encode(all + 256 - n, n, text);
        ck_assert_int_eq(mg_base64url_decode(text, k, back), (long)n);
        ck_assert_mem_eq(back, all + 256 - n, n);
        k = mg_base64_encode(all + 256 - n, n, text);
        ck_assert_int_eq(mg_base64_decode(text, k, back), (long)n);
        ck_assert_mem_eq(back, all + 256 - n, n);
    }
}
END_TEST

/* ---- digests and HMAC ---- */

START_TEST(test_digests)
{
    unsigned char out[MG_MD_MAX_SIZE];
    ck_assert_int_eq(mg_crypto_digest(MG_MD_SHA1, "abc", 3, out), 20);
    ck_assert_str_eq(hex(out, 20), "a9993e364706816aba3e25717850c26c9cd0d89d");
    ck_assert_int_eq(mg_crypto_digest(MG_MD_SHA256, "abc", 3, out), 32);
    ck_assert_str_eq(hex(out, 32),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(mg_crypto_digest(MG_MD_SHA384, "abc", 3, out), 48);
    ck_assert_str_eq(hex(out, 48), "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5b"
                                   "ed8086072ba1e7cc2358baeca134c825a7");
    ck_assert_int_eq(mg_crypto_digest(MG_MD_SHA512, "abc", 3, out), 64);
    ck_assert_str_eq(hex(out, 64), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d3"
                                   "9a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54c"
                                   "a49f");
    ck_assert_int_eq(mg_crypto_digest(MG_MD_COUNT, "abc", 3, out), MG_ERROR);
    ck_assert_int_eq(mg_crypto_digest(-1, "abc", 3, out), MG_ERROR);
}
END_TEST

START_TEST(test_hmac_rfc4231)
{
    unsigned char key[131], out[MG_MD_MAX_SIZE];
    memset(key, 0x0b, 20);
    /* test case 1 */
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA256, key, 20, "Hi There", 8, out), 32);
    ck_assert_str_eq(hex(out, 32),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA384, key, 20, "Hi There", 8, out), 48);
    ck_assert_str_eq(hex(out, 48), "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc5"
                                   "9cfaea9ea9076ede7f4af152e8b2fa9cb6");
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA512, key, 20, "Hi There", 8, out), 64);
    ck_assert_str_eq(hex(out, 64), "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17c"
                                   "dedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a12"
                                   "6854");
    /* RFC 2202 test case 1 */
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA1, key, 20, "Hi There", 8, out), 20);
    ck_assert_str_eq(hex(out, 20), "b617318655057264e28bc0b6fb378c8ef146be00");
    /* test case 2: a key shorter than the output */
    const char *m2 = "what do ya want for nothing?";
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA256, "Jefe", 4, m2, strlen(m2), out), 32);
    ck_assert_str_eq(hex(out, 32),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* test case 6: a key longer than the block is hashed first */
    memset(key, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA256, key, 131, m6, strlen(m6), out), 32);
    ck_assert_str_eq(hex(out, 32),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA512, key, 131, m6, strlen(m6), out), 64);
    ck_assert_str_eq(hex(out, 64), "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3"
                                   "526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d78"
                                   "6598");
    /* an empty key and message are valid */
    ck_assert_int_eq(mg_crypto_hmac(MG_MD_SHA256, "", 0, "", 0, out), 32);
    ck_assert_str_eq(hex(out, 32),
                     "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}
END_TEST

START_TEST(test_equals_and_random)
{
    ck_assert(mg_crypto_equals("abc", 3, "abc", 3));
    ck_assert(!mg_crypto_equals("abc", 3, "abd", 3));
    ck_assert(!mg_crypto_equals("abc", 3, "abcd", 4));
    ck_assert(mg_crypto_equals("", 0, "", 0));
    unsigned char a[32], b[32];
    ck_assert_int_eq(mg_crypto_random(a, sizeof(a)), MG_OK);
    ck_assert_int_eq(mg_crypto_random(b, sizeof(b)), MG_OK);
    ck_assert(memcmp(a, b, 32) != 0);
}
END_TEST

/* ---- AES-GCM: the GCM specification's test cases 2, 3 and 4 ---- */

START_TEST(test_aes_gcm_vectors)
{
    size_t kl, ivl, pl, cl, al;
    const char *err = NULL;
    unsigned char out[128], tag[16], zero16[16] = {0}, zero12[12] = {0};
    ck_assert_int_eq(mg_crypto_aes_gcm_encrypt(zero16, 16, zero12, 12, NULL, 0, zero16, 16, out,
                                               tag, &err),
                     MG_OK);
    ck_assert_str_eq(hex(out, 16), "0388dace60b6a392f328c2b971b2fe78");
    ck_assert_str_eq(hex(tag, 16), "ab6e47d42cec13bdf53a67b21257bddf");

    unsigned char *k = unhex("feffe9928665731c6d6a8f9467308308", &kl);
    unsigned char *iv = unhex("cafebabefacedbaddecaf888", &ivl);
    unsigned char *p = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                             "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                             &pl);
    unsigned char *c = unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                             "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
                             &cl);
    unsigned char *aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", &al);
    ck_assert_int_eq(
        mg_crypto_aes_gcm_encrypt(k, kl, iv, ivl, aad, al, p, pl, out, tag, &err), MG_OK);
    ck_assert_mem_eq(out, c, cl);
    ck_assert_str_eq(hex(tag, 16), "5bc94fbc3221a5db94fae95ae7121a47");
    ck_assert_int_eq(
        mg_crypto_aes_gcm_decrypt(k, kl, iv, ivl, aad, al, c, cl, tag, 16, out, &err), MG_OK);
    ck_assert_mem_eq(out, p, pl);
    /* a changed tag, ciphertext or aad fails authentication */
    tag[0] ^= 1;
    ck_assert_int_eq(
        mg_crypto_aes_gcm_decrypt(k, kl, iv, ivl, aad, al, c, cl, tag, 16, out, &err),
        MG_DECLINED);
    tag[0] ^= 1;
    c[5] ^= 0x80;
    ck_assert_int_eq(
        mg_crypto_aes_gcm_decrypt(k, kl, iv, ivl, aad, al, c, cl, tag, 16, out, &err),
        MG_DECLINED);
    c[5] ^= 0x80;
    ck_assert_int_eq(
        mg_crypto_aes_gcm_decrypt(k, kl, iv, ivl, aad, al - 1, c, cl, tag, 16, out, &err),
        MG_DECLINED);
    /* lengths are checked */
    ck_assert_int_eq(mg_crypto_aes_gcm_encrypt(k, 15, iv, ivl, NULL, 0, p, pl, out, tag, &err),
                     MG_ERROR);
    ck_assert_str_eq(err, "the key must be 16, 24 or 32 bytes");
    ck_assert_int_eq(mg_crypto_aes_gcm_encrypt(k, kl, iv, 0, NULL, 0, p, pl, out, tag, &err),
                     MG_ERROR);
    ck_assert_int_eq(
        mg_crypto_aes_gcm_decrypt(k, kl, iv, ivl, aad, al, c, cl, tag, 12, out, &err), MG_ERROR);
    ck_assert_str_eq(err, "the tag must be 16 bytes");
    free(k);
    free(iv);
    free(p);
    free(c);
    free(aad);
}
END_TEST

/* ---- keys and signatures ---- */

#define RFC7515_PAYLOAD                                                                           \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl" \
    "fQ"
#define RFC7515_N                                                                                 \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4" \
    "d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5r" \
    "exMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhy" \
    "xXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
#define RFC7515_D                                                                                 \
    "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXO" \
    "oAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V5" \
    "1gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj" \
    "3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"
#define RFC7515_RS256_SIG                                                                         \
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5" \
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb" \
    "1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QO" \
    "YEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"

/* A JWK made of base64url members (NULL: absent); the key copies what it keeps. */
static mg_crypto_key_t *jwk(int kty, const char *crv, const char *n, const char *e,
                            const char *d, const char *x, const char *y, const char **err)
{
    mg_crypto_jwk_t j = {.kty = kty, .crv = crv ? mg_str(crv, strlen(crv)) : MG_NULL_STR};
    size_t len;
    const char *src[] = {n, e, d, x, y};
    mg_str_t *dst[] = {&j.n, &j.e, &j.d, &j.x, &j.y};
    unsigned char *bufs[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        if (src[i] != NULL) {
            bufs[i] = unb64url(src[i], &len);
            *dst[i] = mg_str((const char *)bufs[i], len);
        }
    }
    mg_crypto_key_t *k = mg_crypto_key_jwk(&j, err);
    for (size_t i = 0; i < 5; i++) {
        free(bufs[i]);
    }
    return k;
}

static int verify_b64(int alg, mg_crypto_key_t *k, const char *msg, const char *sig64)
{
    size_t slen;
    unsigned char *sig = unb64url(sig64, &slen);
    const char *err = NULL;
    int rc = mg_crypto_verify(alg, k, msg, strlen(msg), sig, slen, &err);
    free(sig);
    return rc;
}

START_TEST(test_rs256_rfc7515_a2)
{
    const char *err = NULL;
    const char *msg = "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD;
    mg_crypto_key_t *pub = jwk(MG_KTY_RSA, NULL, RFC7515_N, "AQAB", NULL, NULL, NULL, &err);
    ck_assert_msg(pub != NULL, "%s", err);
    mg_crypto_key_info_t info;
    mg_crypto_key_info(pub, &info);
    ck_assert_int_eq(info.kty, MG_KTY_RSA);
    ck_assert_int_eq(info.bits, 2048);
    ck_assert_int_eq(info.priv, 0);
    ck_assert_int_eq(verify_b64(MG_ALG_RS256, pub, msg, RFC7515_RS256_SIG), MG_OK);
    /* twice: the prepared context is reused */
    ck_assert_int_eq(verify_b64(MG_ALG_RS256, pub, msg, RFC7515_RS256_SIG), MG_OK);
    ck_assert_int_eq(verify_b64(MG_ALG_RS256, pub, "eyJhbGciOiJSUzI1NiJ9.x", RFC7515_RS256_SIG),
                     MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_RS384, pub, msg, RFC7515_RS256_SIG), MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_PS256, pub, msg, RFC7515_RS256_SIG), MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, msg, RFC7515_RS256_SIG), MG_ERROR);
    unsigned char sig[512];
    ck_assert_int_eq(mg_crypto_sign(MG_ALG_RS256, pub, msg, strlen(msg), sig, sizeof(sig), &err),
                     MG_ERROR);
    ck_assert_str_eq(err, "a public key cannot sign");

    /* PKCS#1 v1.5 is deterministic: the private key signs the very same bytes */
    mg_crypto_key_t *priv = jwk(MG_KTY_RSA, NULL, RFC7515_N, "AQAB", RFC7515_D, NULL, NULL, &err);
    ck_assert_msg(priv != NULL, "%s", err);
    int n = mg_crypto_sign(MG_ALG_RS256, priv, msg, strlen(msg), sig, sizeof(sig), &err);
    ck_assert_int_eq(n, 256);
    char text[400];
    text[mg_base64url_encode(sig, 256, text)] = 0;
    ck_assert_str_eq(text, RFC7515_RS256_SIG);
    /* PSS is randomised: sign, then verify */
    n = mg_crypto_sign(MG_ALG_PS384, priv, msg, strlen(msg), sig, sizeof(sig), &err);
    ck_assert_int_eq(n, 256);
    ck_assert_int_eq(mg_crypto_verify(MG_ALG_PS384, pub, msg, strlen(msg), sig, 256, &err), MG_OK);
    ck_assert_int_eq(mg_crypto_verify(MG_ALG_PS256, pub, msg, strlen(msg), sig, 256, &err),
                     MG_DECLINED);
    mg_crypto_key_free(pub);
    mg_crypto_key_free(priv);
}
END_TEST

START_TEST(test_es256_rfc7515_a3)
{
    const char *err = NULL;
    const char *x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const char *y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const char *d = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
    const char *msg = "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD;
    const char *sig64 =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    mg_crypto_key_t *pub = jwk(MG_KTY_EC, "P-256", NULL, NULL, NULL, x, y, &err);
    ck_assert_msg(pub != NULL, "%s", err);
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, msg, sig64), MG_OK);
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, "eyJhbGciOiJFUzI1NiJ9.e30", sig64),
                     MG_DECLINED);
    /* the flipped last bit, a short and a DER-shaped signature are mismatches */
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, msg,
                                "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQx"
                                "fKTUJqPP3-Kg6NU1A"),
                     MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, msg, "DtEhU3ljbEg8L38VWAfUAqOyKAM6"),
                     MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_ES384, pub, msg, sig64), MG_ERROR);
    ck_assert_int_eq(verify_b64(MG_ALG_RS256, pub, msg, sig64), MG_ERROR);
    ck_assert_int_eq(verify_b64(MG_ALG_EDDSA, pub, msg, sig64), MG_ERROR);
    ck_assert_str_eq(mg_crypto_key_fits(pub, MG_ALG_RS256), "not an RSA key");
    ck_assert_str_eq(mg_crypto_key_fits(pub, MG_ALG_ES384), "wrong EC curve");

    mg_crypto_key_t *priv = jwk(MG_KTY_EC, "P-256", NULL, NULL, d, x, y, &err);
    ck_assert_msg(priv != NULL, "%s", err);
    unsigned char sig[128];
    int n = mg_crypto_sign(MG_ALG_ES256, priv, msg, strlen(msg), sig, sizeof(sig), &err);
    ck_assert_int_eq(n, 64);
    ck_assert_int_eq(mg_crypto_verify(MG_ALG_ES256, pub, msg, strlen(msg), sig, 64, &err), MG_OK);
    sig[10] ^= 4;
    ck_assert_int_eq(mg_crypto_verify(MG_ALG_ES256, pub, msg, strlen(msg), sig, 64, &err),
                     MG_DECLINED);
    mg_crypto_key_free(priv);
    /* d that is not the point's, a point off the curve, the wrong sizes */
    ck_assert_ptr_null(jwk(MG_KTY_EC, "P-256", NULL, NULL,
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE", x, y, &err));
    ck_assert_ptr_null(
        jwk(MG_KTY_EC, "P-256", NULL, NULL, NULL, x, "y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            &err));
    ck_assert_ptr_null(jwk(MG_KTY_EC, "P-384", NULL, NULL, NULL, x, y, &err));
    ck_assert_ptr_null(jwk(MG_KTY_EC, "P-521", NULL, NULL, NULL, x, y, &err));
    ck_assert_str_eq(err, "an EC JWK needs \"crv\" P-256 or P-384");
    mg_crypto_key_free(pub);
}
END_TEST

START_TEST(test_eddsa_rfc8037)
{
    const char *err = NULL;
    const char *x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const char *d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const char *msg = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const char *sig64 =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    mg_crypto_key_t *priv = jwk(MG_KTY_OKP, "Ed25519", NULL, NULL, d, x, NULL, &err);
    ck_assert_msg(priv != NULL, "%s", err);
    unsigned char sig[64];
    ck_assert_int_eq(mg_crypto_sign(MG_ALG_EDDSA, priv, msg, strlen(msg), sig, 64, &err), 64);
    char text[100];
    text[mg_base64url_encode(sig, 64, text)] = 0;
    ck_assert_str_eq(text, sig64);
    mg_crypto_key_t *pub = jwk(MG_KTY_OKP, "Ed25519", NULL, NULL, NULL, x, NULL, &err);
    ck_assert_int_eq(verify_b64(MG_ALG_EDDSA, pub, msg, sig64), MG_OK);
    ck_assert_int_eq(verify_b64(MG_ALG_EDDSA, pub, "eyJhbGciOiJFZERTQSJ9.e30", sig64),
                     MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_EDDSA, pub, msg, "hgyY0il_MGCjP0Jz"), MG_DECLINED);
    ck_assert_int_eq(verify_b64(MG_ALG_ES256, pub, msg, sig64), MG_ERROR);
    /* x that is not d's public key */
    ck_assert_ptr_null(jwk(MG_KTY_OKP, "Ed25519", NULL, NULL, d,
                           "21qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", NULL, &err));
    ck_assert_ptr_null(jwk(MG_KTY_OKP, "Ed448", NULL, NULL, NULL, x, NULL, &err));
    mg_crypto_key_free(pub);
    mg_crypto_key_free(priv);
}
END_TEST

START_TEST(test_pem_refusals)
{
    const char *err = NULL;
    static const char *const bad[] = {
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n",
        "-----BEGIN PUBLIC KEY",
    };
    for (size_t i = 0; i < MG_NELEMS(bad); i++) {
        err = NULL;
        ck_assert_ptr_null(mg_crypto_key_pem(bad[i], strlen(bad[i]), &err));
        ck_assert_msg(err != NULL, "%s", bad[i]);
    }
    /* an SPKI Ed25519 public key (RFC 8410 example) loads and knows its type */
    const char *ed = "-----BEGIN PUBLIC KEY-----\n"
                     "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
                     "-----END PUBLIC KEY-----\n";
    mg_crypto_key_t *k = mg_crypto_key_pem(ed, strlen(ed), &err);
    ck_assert_msg(k != NULL, "%s", err);
    mg_crypto_key_info_t info;
    mg_crypto_key_info(k, &info);
    ck_assert_int_eq(info.kty, MG_KTY_OKP);
    ck_assert_ptr_null(mg_crypto_key_fits(k, MG_ALG_EDDSA));
    ck_assert_str_eq(mg_crypto_key_fits(k, MG_ALG_RS256), "not an RSA key");
    mg_crypto_key_free(k);
}
END_TEST

/* ---- bcrypt ---- */

START_TEST(test_bcrypt)
{
    const char *err = NULL;
    /* written by `htpasswd -nbB -C 5 alice 's3cret!'` */
    const char *h = "$2y$05$XUvgsn6Jd0HUASU0QCwtJeCgZSfkHQ.V4hUPr3HTl98ceTvR1UUKO";
    ck_assert_int_eq(mg_crypto_bcrypt_verify("s3cret!", 7, h, strlen(h), &err), MG_OK);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("s3cret!", 7, h, strlen(h), &err), MG_OK); /* cached */
    ck_assert_int_eq(mg_crypto_bcrypt_verify("s3cret?", 7, h, strlen(h), &err), MG_DECLINED);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("s3cret", 6, h, strlen(h), &err), MG_DECLINED);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("s3cret!\0", 8, h, strlen(h), &err), MG_DECLINED);
    /* the OpenBSD test vector */
    const char *u = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    ck_assert_int_eq(mg_crypto_bcrypt_verify("U*U", 3, u, strlen(u), &err), MG_OK);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("U*V", 3, u, strlen(u), &err), MG_DECLINED);
    /* not bcrypt */
    static const char *const bad[] = {"", "$1$abc$def", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyu",
                                      "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
                                      "{SHA}abc"};
    for (size_t i = 0; i < MG_NELEMS(bad); i++) {
        ck_assert_int_eq(mg_crypto_bcrypt_verify("U*U", 3, bad[i], strlen(bad[i]), &err),
                         MG_ERROR);
    }
    /* a made hash checks */
    char made[64];
    int n = mg_crypto_bcrypt_hash("pw", 2, 4, made, sizeof(made), &err);
    ck_assert_int_eq(n, 60);
    ck_assert_mem_eq(made, "$2b$04$", 7);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("pw", 2, made, 60, &err), MG_OK);
    ck_assert_int_eq(mg_crypto_bcrypt_verify("pX", 2, made, 60, &err), MG_DECLINED);
    ck_assert_int_eq(mg_crypto_bcrypt_hash("pw", 2, 3, made, sizeof(made), &err), MG_ERROR);
    ck_assert_int_eq(mg_crypto_bcrypt_hash("p\0w", 3, 4, made, sizeof(made), &err), MG_ERROR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("crypto");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_base64_rfc4648);
    tcase_add_test(tc, test_decoders_refuse_garbage);
    tcase_add_test(tc, test_digests);
    tcase_add_test(tc, test_hmac_rfc4231);
    tcase_add_test(tc, test_equals_and_random);
    tcase_add_test(tc, test_aes_gcm_vectors);
    tcase_add_test(tc, test_rs256_rfc7515_a2);
    tcase_add_test(tc, test_es256_rfc7515_a3);
    tcase_add_test(tc, test_eddsa_rfc8037);
    tcase_add_test(tc, test_pem_refusals);
    tcase_add_test(tc, test_bcrypt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
