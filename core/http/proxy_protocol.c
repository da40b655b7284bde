/*
 * proxy_protocol.c -- the PROXY protocol v1/v2 parser of proxy_protocol.h.
 *
 * Strict where the specification is: a v1 line is single-spaced, CRLF-ended, its
 * addresses of the family it names and its ports decimal; a v2 header has the
 * signature, version 2, a known command, family and transport, and an address block
 * as long as its family needs. Anything else is refused at the first byte that cannot
 * belong to a valid header, so a client that sends a plain request to a PROXY listener
 * is closed at once instead of waiting for the timeout.
 */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <string.h>

static const char v1_sig[] = "PROXY ";
static const char v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* An address of the family as text, exactly the bytes [p, e). */
static bool v1_addr(const char *p, const char *e, bool v6, uint8_t *out)
{
    char tmp[48];
    size_t n = (size_t)(e - p);
    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return inet_pton(v6 ? AF_INET6 : AF_INET, tmp, out) == 1;
}

/* A port: 1 to 5 digits, at most 65535. */
static bool v1_port(const char *p, const char *e, uint16_t *out)
{
    unsigned v = 0;
    if (p == e || e - p > 5) {
        return false;
    }
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535) {
        return false;
    }
    *out = (uint16_t)v;
    return true;
}

/* The next space-separated field of [*p, e): its end, and *p moved past the space. */
static const char *v1_field(const char **p, const char *e, bool last)
{
    const char *f = *p;
    const char *sp = memchr(f, ' ', (size_t)(e - f));
    if (last) {
        *p = e;
        return sp == NULL ? e : NULL;
    }
    if (sp == NULL) {
        return NULL;
    }
    *p = sp + 1;
    return sp;
}

/* The line without its CRLF, after "PROXY ". */
static int v1_line(const char *p, const char *e, mg_pp_header_t *out, const char **why)
{
    out->version = 1;
    if ((size_t)(e - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (e - p == 7 || p[7] == ' ')) {
        out->has_addr = false; /* what follows UNKNOWN is to be ignored */
        return MG_OK;
    }
    *why = "PROXY v1: expected TCP4, TCP6 or UNKNOWN";
    if (e - p < 5 || (memcmp(p, "TCP4 ", 5) != 0 && memcmp(p, "TCP6 ", 5) != 0)) {
        return MG_ERROR;
    }
    out->v6 = p[3] == '6';
    out->has_addr = true;
    p += 5;
    const char *f, *end;
    *why = "PROXY v1: bad source address";
    f = p;
    if ((end = v1_field(&p, e, false)) == NULL || !v1_addr(f, end, out->v6, out->src)) {
        return MG_ERROR;
    }
    *why = "PROXY v1: bad destination address";
    f = p;
    if ((end = v1_field(&p, e, false)) == NULL || !v1_addr(f, end, out->v6, out->dst)) {
        return MG_ERROR;
    }
    *why = "PROXY v1: bad source port";
    f = p;
    if ((end = v1_field(&p, e, false)) == NULL || !v1_port(f, end, &out->src_port)) {
        return MG_ERROR;
    }
    *why = "PROXY v1: bad destination port";
    f = p;
    if ((end = v1_field(&p, e, true)) == NULL || !v1_port(f, end, &out->dst_port)) {
        return MG_ERROR;
    }
    return MG_OK;
}

static int parse_v1(const char *p, size_t len, mg_pp_header_t *out, const char **why)
{
    /* the CR can be at most at index 105: CRLF ends byte 107 */
    size_t n = MG_MIN(len, (size_t)MG_PP_V1_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\r') {
            if (i + 1 == len) {
                return 0;
            }
            if (p[i + 1] != '\n') {
                *why = "PROXY v1: CR without LF";
                return MG_ERROR;
            }
            if (v1_line(p + 6, p + i, out, why) != MG_OK) {
                return MG_ERROR;
            }
            return (int)(i + 2);
        }
        if (ch < 0x20 || ch > 0x7e) {
            *why = ch == '\n' ? "PROXY v1: LF without CR"
                              : "PROXY v1: control or 8-bit byte in the line";
            return MG_ERROR;
        }
    }
    if (len >= MG_PP_V1_MAX - 1) {
        *why = "PROXY v1: no CRLF in the first 107 bytes";
        return MG_ERROR;
    }
    return 0;
}

static int parse_v2(const unsigned char *p, size_t len, mg_pp_header_t *out, const char **why)
{
    if (len < 16) {
        if (len > 12 && (p[12] >> 4) != 2) {
            *why = "PROXY v2: version is not 2";
            return MG_ERROR;
        }
        return 0;
    }
    unsigned cmd = p[12] & 0xf, family = p[13] >> 4, transport = p[13] & 0xf;
    size_t plen = (size_t)p[14] << 8 | p[15];
    *why = "PROXY v2: version is not 2";
    if ((p[12] >> 4) != 2) {
        return MG_ERROR;
    }
    *why = "PROXY v2: unknown command";
    if (cmd > 1) {
        return MG_ERROR;
    }
    *why = "PROXY v2: unknown address family or transport";
    if (family > 3 || transport > 2) {
        return MG_ERROR;
    }
    *why = "PROXY v2: header longer than 2048 bytes";
    if (plen > MG_PP_V2_MAX_PAYLOAD) {
        return MG_ERROR;
    }
    size_t need = family == 1 ? 12 : family == 2 ? 36 : family == 3 ? 216 : 0;
    *why = "PROXY v2: address block shorter than its family needs";
    if (cmd == 1 && plen < need) {
        return MG_ERROR;
    }
    if (len < 16 + plen) {
        return 0;
    }
    out->version = 2;
    /* LOCAL: the balancer's own connection (a health check); TLVs skipped */
    out->has_addr = cmd == 1 && transport == 1 && (family == 1 || family == 2);
    if (out->has_addr) {
        const unsigned char *a = p + 16;
        size_t w = family == 1 ? 4 : 16;
        out->v6 = family == 2;
        memcpy(out->src, a, w);
        memcpy(out->dst, a + w, w);
        out->src_port = (uint16_t)(a[2 * w] << 8 | a[2 * w + 1]);
        out->dst_port = (uint16_t)(a[2 * w + 2] << 8 | a[2 * w + 3]);
    }
    return (int)(16 + plen);
}

int mg_pp_parse(const char *p, size_t len, mg_pp_header_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        return 0;
    }
    if (p[0] == 'P') {
        if (memcmp(p, v1_sig, MG_MIN(len, sizeof(v1_sig) - 1)) != 0) {
            *why = "not a PROXY protocol header";
            return MG_ERROR;
        }
        return len < sizeof(v1_sig) - 1 ? 0 : parse_v1(p, len, out, why);
    }
    if (memcmp(p, v2_sig, MG_MIN(len, sizeof(v2_sig))) != 0) {
        *why = "not a PROXY protocol header";
        return MG_ERROR;
    }
    return len < sizeof(v2_sig) ? 0 : parse_v2((const unsigned char *)p, len, out, why);
}
