/*
 * fuzz_http_parse.c -- libFuzzer target for the request-syntax checks of the client
 * side: llhttp in strict request mode (as the gateway configures it) feeds the target,
 * Host and Content-Length it extracts to the validators of core/http/http_parse.c, and the
 * results are checked against properties that must hold for any input:
 *
 *   - a normalised path never holds a "." or ".." segment, never a byte the decoder
 *     refuses, is never longer than its input, and normalising it again is a no-op;
 *   - an accepted Content-Length is within 0..2^62;
 *   - an accepted Host yields a name inside the value and a port in 0..65535.
 *
 * Any violation aborts, so the fuzzer reports it with the input. Build and run:
 * tools/fuzz/build.sh, then build/fuzz/fuzz_http_parse tools/fuzz/seeds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "llhttp.h"

#define FIELD_MAX 64

typedef struct {
    char field[FIELD_MAX];
    size_t field_len;
    int in_value;
} fuzz_state_t;

static void check_path(const char *in, size_t len)
{
    char *out = malloc(len ? len : 1);
    char *again = malloc(len ? len : 1);
    size_t n = 0, m = 0;
    if (!out || !again) {
        abort();
    }
    if (mg_http_normalize_path(in, len, out, &n) == MG_OK) {
        if (n > len) {
            abort();
        }
        for (size_t i = 0; i + 1 < n; i++) {
            /* a "." or ".." segment left behind would let an ACL and an upstream disagree */
            if (out[i] == '/' && out[i + 1] == '.' &&
                (i + 2 == n || out[i + 2] == '/' ||
                 (out[i + 2] == '.' && (i + 3 == n || out[i + 3] == '/')))) {
                abort();
            }
        }
        if (mg_http_normalize_path(out, n, again, &m) != MG_OK || m != n ||
            memcmp(out, again, n) != 0) {
            abort();
        }
    }
    free(out);
    free(again);
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    const char *q = memchr(at, '?', len);
    check_path(at, q ? (size_t)(q - at) : len);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    fuzz_state_t *st = p->data;
    if (st->in_value) {
        st->field_len = 0;
        st->in_value = 0;
    }
    size_t room = FIELD_MAX - st->field_len;
    size_t n = len < room ? len : room;
    memcpy(st->field + st->field_len, at, n);
    st->field_len += n;
    return 0;
}

/* Values arrive in one piece here because the whole input is parsed in one call. */
static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    fuzz_state_t *st = p->data;
    mg_str_t name = mg_str(st->field, st->field_len);
    mg_str_t v = mg_str(at, len);
    st->in_value = 1;
    if (mg_str_caseeq(name, MG_STR("content-length"))) {
        int64_t cl = -1;
        if (mg_http_parse_content_length(v, &cl) == MG_OK &&
            (cl < 0 || cl > ((int64_t)1 << 62))) {
            abort();
        }
    } else if (mg_str_caseeq(name, MG_STR("host"))) {
        mg_str_t host = MG_NULL_STR;
        int port = -1;
        if (mg_http_parse_host(v, &host, &port) == MG_OK &&
            ((host.len && (host.p < at || host.p + host.len > at + len)) || port < 0 ||
             port > 65535)) {
            abort();
        }
    }
    (void)mg_http_valid_token(name);
    (void)mg_http_valid_request_id(v);
    (void)mg_http_connection_has(v, name);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llhttp_settings_t settings;
    llhttp_t parser;
    fuzz_state_t st = {.field_len = 0, .in_value = 0};

    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = &st;
    (void)llhttp_execute(&parser, (const char *)data, size);
    check_path((const char *)data, size < 512 ? size : 512);
    return 0;
}
