/*
 * trace.c -- the pure parts of tracing (trace.h): W3C traceparent and tracestate, ids
 * from a fast per-process generator, the parent-based sampling decision, and the OTLP
 * JSON encoding of spans. No sockets, no clock: unit-tested (t/unit/test_trace.c).
 *
 * The JSON writer counts what it would write and writes only what fits, so a caller
 * sizes a buffer with one dry run and fills it with a second; strings are escaped as
 * JSON wants and made valid UTF-8 (a collector refuses a whole batch over one bad byte
 * in a User-Agent).
 */
#include "trace.h"

#include "put.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- hex ---- */

static const char hexdig[] = "0123456789abcdef";

void mg_trace_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[b[i] >> 4];
        out[2 * i + 1] = hexdig[b[i] & 15];
    }
}

/* Lower-case hex only: W3C refuses upper case in traceparent. -1 for anything else. */
static int lhex(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static bool unhex(const char *p, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = lhex(p[2 * i]), lo = lhex(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= b[i];
    }
    return acc == 0;
}

/* ---- traceparent ---- */

bool mg_trace_parse_parent(mg_str_t v, mg_traceparent_t *out)
{
    v = mg_str_trim(v);
    const char *p = v.p;
    uint8_t version;
    if (v.len < MG_TRACEPARENT_LEN || !unhex(p, 1, &version) || version == 0xff || p[2] != '-' ||
        p[35] != '-' || p[52] != '-') {
        return false;
    }
    /* version 00 is exactly 55 bytes; a later one may carry more after a '-' */
    if (version == 0 ? v.len != MG_TRACEPARENT_LEN
                     : v.len > MG_TRACEPARENT_LEN && p[MG_TRACEPARENT_LEN] != '-') {
        return false;
    }
    if (!unhex(p + 3, MG_TRACE_ID_SIZE, out->trace_id) ||
        !unhex(p + 36, MG_TRACE_SPAN_ID_SIZE, out->parent_id) || !unhex(p + 53, 1, &out->flags)) {
        return false;
    }
    return !all_zero(out->trace_id, MG_TRACE_ID_SIZE) &&
           !all_zero(out->parent_id, MG_TRACE_SPAN_ID_SIZE);
}

void mg_trace_format_parent(const uint8_t *trace_id, const uint8_t *span_id, bool sampled,
                            char *out)
{
    memcpy(out, "00-", 3);
    mg_trace_hex(trace_id, MG_TRACE_ID_SIZE, out + 3);
    out[35] = '-';
    mg_trace_hex(span_id, MG_TRACE_SPAN_ID_SIZE, out + 36);
    memcpy(out + 52, sampled ? "-01" : "-00", 3);
}

/* ---- tracestate ---- */

#define TRACESTATE_MEMBERS 32

/* key: a simple key (lcalpha then lcalpha, digits, _ - * /) up to 256, or
 * tenant@system (up to 241 and 14); value: up to 256 printable bytes but ',' and '=',
 * not ending in a space. */
static bool state_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
           ch == '*' || ch == '/';
}

static bool state_member_ok(mg_str_t m)
{
    const char *eq = memchr(m.p, '=', m.len);
    if (eq == NULL) {
        return false;
    }
    size_t klen = (size_t)(eq - m.p), vlen = m.len - klen - 1;
    if (klen == 0 || klen > 256 || vlen == 0 || vlen > 256) {
        return false;
    }
    const char *at = memchr(m.p, '@', klen);
    size_t tenant = at != NULL ? (size_t)(at - m.p) : klen;
    if (at != NULL && (tenant == 0 || tenant > 241 || klen - tenant - 1 == 0 ||
                       klen - tenant - 1 > 14 || !(at[1] >= 'a' && at[1] <= 'z'))) {
        return false;
    }
    if (at == NULL && !(m.p[0] >= 'a' && m.p[0] <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < klen; i++) {
        if (m.p + i != at && !state_key_char(m.p[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)eq[1 + i];
        if (ch < 0x20 || ch > 0x7e || ch == ',' || ch == '=') {
            return false;
        }
    }
    return eq[vlen] != ' ';
}

mg_str_t mg_trace_state_bound(mg_str_t v)
{
    v = mg_str_trim(v);
    size_t keep = 0, members = 0, pos = 0;
    while (pos <= v.len && v.len > 0) {
        const char *comma = memchr(v.p + pos, ',', v.len - pos);
        size_t end = comma != NULL ? (size_t)(comma - v.p) : v.len;
        mg_str_t m = mg_str_trim(mg_str(v.p + pos, end - pos));
        if (m.len > 0) {
            if (!state_member_ok(m)) {
                return MG_NULL_STR;
            }
            /* members past the bounds go whole, from the end (W3C allows it) */
            size_t m_end = (size_t)(m.p + m.len - v.p);
            if (++members <= TRACESTATE_MEMBERS && m_end <= MG_TRACESTATE_MAX) {
                keep = m_end;
            }
        }
        pos = end + 1;
    }
    return keep > 0 ? mg_str(v.p, keep) : MG_NULL_STR;
}

/* ---- ids ---- */

static uint64_t rng[4];
static bool rng_seeded;

static void rng_forget(void)
{
    rng_seeded = false; /* a forked child draws its own ids, not its parent's */
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(void)
{
    static bool hooked;
    uint64_t seed[4];
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        for (int i = 0; i < 4; i++) {
            seed[i] = splitmix(&x);
        }
    }
    memcpy(rng, seed, sizeof(rng));
    if (all_zero((const uint8_t *)rng, sizeof(rng))) {
        rng[0] = 1;
    }
    if (!hooked) {
        pthread_atfork(NULL, NULL, rng_forget);
        hooked = true;
    }
    rng_seeded = true;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t mg_trace_random(void)
{
    if (!rng_seeded) {
        rng_seed();
    }
    uint64_t result = rotl(rng[1] * 5, 7) * 9;
    uint64_t t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

void mg_trace_new_id(uint8_t *out, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t x = mg_trace_random();
            memcpy(out + i, &x, MG_MIN(n - i, (size_t)8));
        }
    } while (all_zero(out, n));
}

bool mg_trace_sample(const mg_traceparent_t *parent, double ratio, uint64_t rnd)
{
    if (parent != NULL) {
        return (parent->flags & 1) != 0;
    }
    /* 53 random bits as a fraction in [0, 1): 0 never passes, 1 always does */
    return (double)(rnd >> 11) * 0x1.0p-53 < ratio;
}

/* ---- JSON ---- */

typedef struct {
    char *p;
    size_t cap, len;
} jw_t;

static void jput(jw_t *w, const char *s, size_t n)
{
    if (n > 0 && w->len + n <= w->cap) {
        memcpy(w->p + w->len, s, n);
    }
    w->len += n;
}

#define JLIT(w, lit) jput((w), (lit), sizeof(lit) - 1)

static void jhex(jw_t *w, const uint8_t *b, size_t n)
{
    char tmp[2 * MG_TRACE_ID_SIZE];
    mg_trace_hex(b, n, tmp);
    jput(w, tmp, 2 * n);
}

static void jnum(jw_t *w, uint64_t v)
{
    char tmp[24];
    jput(w, tmp, (size_t)(mg_put_u64(tmp, v) - tmp));
}

static void jint(jw_t *w, int64_t v)
{
    if (v < 0) {
        JLIT(w, "-");
        jnum(w, (uint64_t)0 - (uint64_t)v);
    } else {
        jnum(w, (uint64_t)v);
    }
}

/* Bytes of the valid UTF-8 sequence at p (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    /* no overlong forms, no surrogates, nothing past U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* A JSON string: quotes, escapes, control bytes as \u00XX, invalid UTF-8 as U+FFFD. */
static void jstr(jw_t *w, mg_str_t s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    JLIT(w, "\"");
    if (s.len == 0) {
        JLIT(w, "\""); /* an empty view may have no bytes at all to point at */
        return;
    }
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        size_t n = c >= 0x20 && c != '"' && c != '\\' && c < 0x80 ? 1
                   : c >= 0x80                                    ? utf8_len(p + i, s.len - i)
                                                                  : 0;
        if (n > 0) {
            run += n;
            i += n;
            continue;
        }
        jput(w, (const char *)p + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jput(w, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
            jput(w, esc, 6);
        } else {
            JLIT(w, "\\ufffd");
        }
        i++;
    }
    jput(w, (const char *)p + s.len - run, run);
    JLIT(w, "\"");
}

static void jkey_str(jw_t *w, const char *key, mg_str_t v, bool comma)
{
    if (comma) {
        JLIT(w, ",");
    }
    JLIT(w, "{\"key\":");
    jstr(w, mg_str(key, strlen(key)));
    JLIT(w, ",\"value\":{\"stringValue\":");
    jstr(w, v);
    JLIT(w, "}}");
}

/* Epoch seconds as a decimal string of nanoseconds (int64 is a string in OTLP JSON). */
static void jtime(jw_t *w, double t)
{
    uint64_t ns = 0;
    if (t > 0) {
        /* whole seconds apart: t * 1e9 would round them at double's 53 bits */
        uint64_t sec = (uint64_t)t;
        ns = sec * 1000000000u + (uint64_t)((t - (double)sec) * 1e9 + 0.5);
    }
    JLIT(w, "\"");
    jnum(w, ns);
    JLIT(w, "\"");
}

static void jattr(jw_t *w, const mg_trace_attr_t *a, bool comma)
{
    if (!a->is_num) {
        mg_str_t v = a->str;
        v.len = MG_MIN(v.len, (size_t)MG_TRACE_ATTR_MAX);
        jkey_str(w, a->key, v, comma);
        return;
    }
    if (comma) {
        JLIT(w, ",");
    }
    JLIT(w, "{\"key\":");
    jstr(w, mg_str(a->key, strlen(a->key)));
    JLIT(w, ",\"value\":{\"intValue\":\"");
    jint(w, a->num);
    JLIT(w, "\"}}");
}

size_t mg_trace_span_json(const mg_trace_span_t *s, char *buf, size_t cap)
{
    jw_t w = {buf, cap, 0};
    JLIT(&w, "{\"traceId\":\"");
    jhex(&w, s->trace_id, MG_TRACE_ID_SIZE);
    JLIT(&w, "\",\"spanId\":\"");
    jhex(&w, s->span_id, MG_TRACE_SPAN_ID_SIZE);
    JLIT(&w, "\"");
    if (s->has_parent) {
        JLIT(&w, ",\"parentSpanId\":\"");
        jhex(&w, s->parent_id, MG_TRACE_SPAN_ID_SIZE);
        JLIT(&w, "\"");
    }
    if (s->state.len > 0) {
        JLIT(&w, ",\"traceState\":");
        jstr(&w, s->state);
    }
    JLIT(&w, ",\"name\":");
    jstr(&w, s->name);
    JLIT(&w, ",\"kind\":");
    jint(&w, s->kind);
    JLIT(&w, ",\"startTimeUnixNano\":");
    jtime(&w, s->start);
    JLIT(&w, ",\"endTimeUnixNano\":");
    jtime(&w, s->end >= s->start ? s->end : s->start);
    JLIT(&w, ",\"attributes\":[");
    for (size_t i = 0; i < s->nattrs; i++) {
        jattr(&w, &s->attrs[i], i > 0);
    }
    JLIT(&w, "]");
    if (s->error) {
        JLIT(&w, ",\"status\":{\"code\":2}");
    }
    JLIT(&w, "}");
    return w.len;
}

size_t mg_trace_otlp_open(const char *service_name, char *buf, size_t cap)
{
    jw_t w = {buf, cap, 0};
    JLIT(&w, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    jkey_str(&w, "service.name", mg_str(service_name, strlen(service_name)), false);
    jkey_str(&w, "service.version", MG_STR(MG_VERSION), true);
    jkey_str(&w, "telemetry.sdk.name", MG_STR("moongate"), true);
    jkey_str(&w, "telemetry.sdk.language", MG_STR("c"), true);
    JLIT(&w, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"moongate\",\"version\":\"" MG_VERSION
             "\"},\"spans\":[");
    return w.len;
}

size_t mg_trace_otlp_json(const mg_trace_span_t *spans, size_t n, const char *service_name,
                          char *buf, size_t cap)
{
    size_t len = mg_trace_otlp_open(service_name, buf, cap);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            if (len < cap) {
                buf[len] = ',';
            }
            len++;
        }
        len += mg_trace_span_json(&spans[i], len <= cap ? buf + len : NULL,
                                  len <= cap ? cap - len : 0);
    }
    size_t tail = sizeof(MG_TRACE_OTLP_CLOSE) - 1;
    if (len + tail <= cap) {
        memcpy(buf + len, MG_TRACE_OTLP_CLOSE, tail);
    }
    return len + tail;
}
