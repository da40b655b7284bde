/*
 * encode.c -- base64, base64url and hex (encode.h). Table-driven, one pass, no
 * allocation: the Lua side (mg.encode) and the crypto code (JWK members, JWS
 * signatures) hand in their own buffers.
 */
#include "encode.h"

#include <stdint.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789abcdef";

/* Writes the groups of src in alphabet abc; pad adds '=' to a partial last group. */
static size_t b64_encode(const uint8_t *s, size_t n, char *d, const char *abc, int pad)
{
    char *o = d;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        o[0] = abc[v >> 18];
        o[1] = abc[(v >> 12) & 63];
        o[2] = abc[(v >> 6) & 63];
        o[3] = abc[v & 63];
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        if (i + 1 < n) {
            *o++ = abc[(v >> 6) & 63];
        } else if (pad) {
            *o++ = '=';
        }
        if (pad) {
            *o++ = '=';
        }
    }
    return (size_t)(o - d);
}

size_t mg_base64_encode(const void *src, size_t n, char *dst)
{
    return b64_encode(src, n, dst, B64, 1);
}

size_t mg_base64url_encode(const void *src, size_t n, char *dst)
{
    return b64_encode(src, n, dst, B64URL, 0);
}

size_t mg_hex_encode(const void *src, size_t n, char *dst)
{
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = HEX[s[i] >> 4];
        dst[2 * i + 1] = HEX[s[i] & 15];
    }
    return 2 * n;
}

/* The 6-bit value of c in the alphabet (url: base64url), or -1. */
static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

/* Decodes n characters without padding: a last group of 1 character is impossible,
 * and the bits a partial group leaves over must be zero (canonical text only). */
static long b64_decode(const char *s, size_t n, uint8_t *d, int url)
{
    if (n % 4 == 1) {
        return -1;
    }
    uint8_t *o = d;
    uint32_t acc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0) {
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++k == 4) {
            o[0] = (uint8_t)(acc >> 16);
            o[1] = (uint8_t)(acc >> 8);
            o[2] = (uint8_t)acc;
            o += 3;
            acc = 0;
            k = 0;
        }
    }
    if (k == 2) {
        if (acc & 0xf) {
            return -1;
        }
        *o++ = (uint8_t)(acc >> 4);
    } else if (k == 3) {
        if (acc & 0x3) {
            return -1;
        }
        *o++ = (uint8_t)(acc >> 10);
        *o++ = (uint8_t)(acc >> 2);
    }
    return (long)(o - d);
}

/* n minus the padding of a padded text: -1 when the padding is not one or two '='
 * closing a text whose length is a multiple of 4. */
static long strip_padding(const char *s, size_t n)
{
    size_t p = 0;
    while (p < n && p < 3 && s[n - 1 - p] == '=') {
        p++;
    }
    if (p > 2 || n % 4 != 0) {
        return -1;
    }
    return (long)(n - p);
}

long mg_base64_decode(const char *src, size_t n, void *dst)
{
    long m = strip_padding(src, n);
    return m < 0 ? -1 : b64_decode(src, (size_t)m, dst, 0);
}

long mg_base64url_decode(const char *src, size_t n, void *dst)
{
    size_t m = n;
    if (n > 0 && src[n - 1] == '=') {
        long k = strip_padding(src, n);
        if (k < 0) {
            return -1;
        }
        m = (size_t)k;
    }
    return b64_decode(src, m, dst, 1);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long mg_hex_decode(const char *src, size_t n, void *dst)
{
    if (n % 2) {
        return -1;
    }
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i += 2) {
        int h = hex_value((unsigned char)src[i]), l = hex_value((unsigned char)src[i + 1]);
        if (h < 0 || l < 0) {
            return -1;
        }
        d[i / 2] = (uint8_t)(h << 4 | l);
    }
    return (long)(n / 2);
}
