/*
 * put.h -- writing protocol text into a buffer sized beforehand: the small copies a
 * head is made of (the HTTP/1 writer, the outbound request head). Each returns the
 * position after what it wrote; the caller has made room.
 */
#ifndef MG_PUT_H
#define MG_PUT_H

#include "mg_core.h"

#include <string.h>

/* Copies len bytes to p. A head is mostly short names and values: those are copied
 * with two overlapping fixed-size moves, which the compiler turns into plain loads and
 * stores, instead of a call to memcpy each. */
static inline char *mg_put(char *p, const char *s, size_t len)
{
    if (len >= 8 && len <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + len - 8, 8);
        memcpy(p, &a, 8);
        memcpy(p + len - 8, &b, 8);
    } else if (len >= 4 && len < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + len - 4, &b, 4);
    } else if (len > 0) {
        memcpy(p, s, len);
    }
    return p + len;
}

#define MG_PUT_LIT(p, lit) mg_put((p), (lit), sizeof(lit) - 1)

static inline char *mg_put_str(char *p, mg_str_t s)
{
    return mg_put(p, s.p, s.len);
}

/* Decimal digits of v. */
static inline char *mg_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* "Name: value\r\n". */
static inline char *mg_put_header(char *p, mg_str_t name, mg_str_t value)
{
    p = mg_put(p, name.p, name.len);
    *p++ = ':';
    *p++ = ' ';
    p = mg_put(p, value.p, value.len);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The size line of a chunk of len bytes ("1a2\r\n"), at most 18 bytes. */
static inline char *mg_put_chunk_line(char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex[len & 15];
        len >>= 4;
    } while (len > 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#endif
