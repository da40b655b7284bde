/*
 * cidr.c -- IP addresses as text, and the CIDR set matcher of cidr.h.
 *
 * A set is two sorted arrays of disjoint [lo, hi] ranges, one for IPv4 (32-bit
 * integers) and one for IPv6 (128-bit): ranges that overlap or touch are merged when
 * the set is built, so a lookup is one binary search for the last range starting at
 * or before the address. Ten thousand ranges cost 14 comparisons.
 */
#include "cidr.h"

#include "pool.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

typedef struct {
    uint32_t lo, hi;
} range4_t;

typedef struct {
    u128 lo, hi;
} range6_t;

struct mg_cidr_set_s {
    range4_t *v4;
    size_t n4;
    range6_t *v6;
    size_t n6;
};

int mg_ip_parse(const char *s, size_t len, mg_ip_t *out)
{
    char tmp[MG_IP_TEXT_MAX];
    if (len == 0 || len >= sizeof(tmp)) {
        return MG_ERROR;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (memchr(tmp, ':', len) == NULL) {
        /* glibc's inet_pton takes exactly a.b.c.d, decimal, no leading zeros */
        return inet_pton(AF_INET, tmp, out->b) == 1 ? MG_OK : MG_ERROR;
    }
    out->v6 = true;
    return inet_pton(AF_INET6, tmp, out->b) == 1 ? MG_OK : MG_ERROR;
}

size_t mg_ip_format(const mg_ip_t *ip, char *buf)
{
    if (inet_ntop(ip->v6 ? AF_INET6 : AF_INET, ip->b, buf, MG_IP_TEXT_MAX) == NULL) {
        buf[0] = '\0';
    }
    return strlen(buf);
}

static uint32_t ip4(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static u128 ip6(const uint8_t *b)
{
    u128 v = 0;
    for (int i = 0; i < 16; i++) {
        v = v << 8 | b[i];
    }
    return v;
}

/* The host part of a /bits prefix of a width-bit address, as a mask. */
static u128 host_mask(int width, int bits)
{
    if (bits >= width) {
        return 0;
    }
    u128 all = width == 128 ? ~(u128)0 : (((u128)1 << width) - 1);
    return all >> bits;
}

int mg_cidr_parse(const char *s, size_t len, mg_cidr_t *out, const char **why)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - s) : len;
    if (mg_ip_parse(s, alen, &out->net) != MG_OK) {
        *why = "expected an IP address or a CIDR range such as \"10.0.0.0/8\" or "
               "\"2001:db8::/32\"";
        return MG_ERROR;
    }
    int width = out->net.v6 ? 128 : 32;
    out->bits = width;
    if (slash != NULL) {
        const char *p = slash + 1, *end = s + len;
        int bits = 0;
        if (p == end || end - p > 3 || (p[0] == '0' && end - p > 1)) {
            *why = "expected a prefix length after '/' (0-32 for IPv4, 0-128 for IPv6)";
            return MG_ERROR;
        }
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') {
                *why = "expected a prefix length after '/' (0-32 for IPv4, 0-128 for IPv6)";
                return MG_ERROR;
            }
            bits = bits * 10 + (*p - '0');
        }
        if (bits > width) {
            *why = out->net.v6 ? "the prefix length of an IPv6 range is at most 128"
                               : "the prefix length of an IPv4 range is at most 32";
            return MG_ERROR;
        }
        out->bits = bits;
    }
    u128 v = out->net.v6 ? ip6(out->net.b) : ip4(out->net.b);
    if ((v & host_mask(width, out->bits)) != 0) {
        *why = "the address has bits set after the prefix length: write the network "
               "address (e.g. \"10.0.0.0/8\") or a single address (e.g. \"10.0.0.1\")";
        return MG_ERROR;
    }
    return MG_OK;
}

static int cmp4(const void *a, const void *b)
{
    const range4_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp6(const void *a, const void *b)
{
    const range6_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and merges in place; returns the count left. */
static size_t merge4(range4_t *r, size_t n)
{
    size_t k = 0;
    qsort(r, n, sizeof(*r), cmp4);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && (r[k - 1].hi == UINT32_MAX || r[i].lo <= r[k - 1].hi + 1)) {
            r[k - 1].hi = MG_MAX(r[k - 1].hi, r[i].hi);
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

static size_t merge6(range6_t *r, size_t n)
{
    size_t k = 0;
    qsort(r, n, sizeof(*r), cmp6);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && (r[k - 1].hi == ~(u128)0 || r[i].lo <= r[k - 1].hi + 1)) {
            r[k - 1].hi = r[i].hi > r[k - 1].hi ? r[i].hi : r[k - 1].hi;
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

mg_cidr_set_t *mg_cidr_set_build(mg_pool_t *pool, const mg_cidr_t *ranges, size_t n)
{
    mg_cidr_set_t *s = mg_pool_calloc(pool, sizeof(*s));
    size_t n4 = 0, n6 = 0;
    for (size_t i = 0; i < n; i++) {
        ranges[i].net.v6 ? n6++ : n4++;
    }
    if (s == NULL) {
        return NULL;
    }
    s->v4 = mg_pool_alloc(pool, (n4 ? n4 : 1) * sizeof(*s->v4));
    s->v6 = mg_pool_alloc(pool, (n6 ? n6 : 1) * sizeof(*s->v6));
    if (s->v4 == NULL || s->v6 == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const mg_cidr_t *c = &ranges[i];
        if (c->net.v6) {
            u128 lo = ip6(c->net.b);
            s->v6[s->n6++] = (range6_t){lo, lo | host_mask(128, c->bits)};
        } else {
            uint32_t lo = ip4(c->net.b);
            s->v4[s->n4++] = (range4_t){lo, lo | (uint32_t)host_mask(32, c->bits)};
        }
    }
    s->n4 = merge4(s->v4, s->n4);
    s->n6 = merge6(s->v6, s->n6);
    return s;
}

static bool match4(const mg_cidr_set_t *s, uint32_t v)
{
    size_t lo = 0, hi = s->n4; /* the first range with lo > v is at `lo` when done */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v4[mid].lo <= v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && v <= s->v4[lo - 1].hi;
}

static bool match6(const mg_cidr_set_t *s, u128 v)
{
    size_t lo = 0, hi = s->n6;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v6[mid].lo <= v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && v <= s->v6[lo - 1].hi;
}

bool mg_cidr_set_match(const mg_cidr_set_t *set, const mg_ip_t *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (set == NULL) {
        return false;
    }
    if (!ip->v6) {
        return match4(set, ip4(ip->b));
    }
    if (memcmp(ip->b, mapped, sizeof(mapped)) == 0 && match4(set, ip4(ip->b + 12))) {
        return true;
    }
    return match6(set, ip6(ip->b));
}

size_t mg_cidr_set_count(const mg_cidr_set_t *set)
{
    return set != NULL ? set->n4 + set->n6 : 0;
}
