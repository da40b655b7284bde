/* deps: trace trace_request http_values pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "gen.h"
#include "pool.h"
#include "trace.h"

static mg_str_t S(const char *s)
{
    return mg_str(s, strlen(s));
}

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

/* ---- traceparent ---- */

START_TEST(test_parent_valid)
{
    mg_traceparent_t p;
    ck_assert(mg_trace_parse_parent(S("00-" TID "-" PID "-01"), &p));
    ck_assert_uint_eq(p.trace_id[0], 0x4b);
    ck_assert_uint_eq(p.trace_id[15], 0x36);
    ck_assert_uint_eq(p.parent_id[0], 0x00);
    ck_assert_uint_eq(p.parent_id[7], 0xb7);
    ck_assert_uint_eq(p.flags, 1);
    ck_assert(mg_trace_parse_parent(S("  00-" TID "-" PID "-00 "), &p));
    ck_assert_uint_eq(p.flags, 0);
    /* other flag bits are kept; only bit 0 means sampled */
    ck_assert(mg_trace_parse_parent(S("00-" TID "-" PID "-03"), &p));
    ck_assert_uint_eq(p.flags, 3);
    /* a later version: its first 55 bytes, then nothing or '-' */
    ck_assert(mg_trace_parse_parent(S("01-" TID "-" PID "-01"), &p));
    ck_assert(mg_trace_parse_parent(S("cc-" TID "-" PID "-01-what-the-future-holds"), &p));
}
END_TEST

static const char *const bad_parents[] = {
    "",
    "00",
    "00-" TID "-" PID "-0",                           /* short */
    "00-" TID "-" PID "-011",                         /* version 00 is exactly 55 bytes */
    "00-" TID "-" PID "-01-",                         /* ... even with a dash */
    "ff-" TID "-" PID "-01",                          /* version ff is invalid */
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", /* upper case */
    "00-" TID "-00F067AA0BA902B7-01",
    "00-00000000000000000000000000000000-" PID "-01", /* zero trace id */
    "00-" TID "-0000000000000000-01",                 /* zero parent id */
    "00_" TID "-" PID "-01",
    "00-" TID "_" PID "-01",
    "00-" TID "-" PID "_01",
    "0g-" TID "-" PID "-01",
    "00-" TID "-" PID "-0x",
    "00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01",
    "01-" TID "-" PID "-01x", /* a later version: byte 56 must be '-' */
    "00-" TID "-" PID "-01\r",
    "00-" TID "-00f067aa0ba902b-701",
};

START_TEST(test_parent_invalid)
{
    mg_traceparent_t p;
    ck_assert_msg(!mg_trace_parse_parent(S(bad_parents[_i]), &p), "accepted \"%s\"",
                  bad_parents[_i]);
}
END_TEST

START_TEST(test_parent_format)
{
    mg_traceparent_t p;
    char out[MG_TRACEPARENT_LEN + 1] = {0};
    ck_assert(mg_trace_parse_parent(S("00-" TID "-" PID "-01"), &p));
    mg_trace_format_parent(p.trace_id, p.parent_id, true, out);
    ck_assert_str_eq(out, "00-" TID "-" PID "-01");
    mg_trace_format_parent(p.trace_id, p.parent_id, false, out);
    ck_assert_str_eq(out, "00-" TID "-" PID "-00");
    char hex[5] = {0};
    mg_trace_hex((const uint8_t *)"\x00\xff", 2, hex);
    ck_assert_str_eq(hex, "00ff");
}
END_TEST

/* ---- tracestate ---- */

static const char *bound(const char *v)
{
    static char buf[2048];
    mg_str_t s = mg_trace_state_bound(S(v));
    snprintf(buf, sizeof(buf), "%.*s", (int)s.len, s.p ? s.p : "");
    return buf;
}

START_TEST(test_state)
{
    ck_assert_str_eq(bound("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                     "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    ck_assert_str_eq(bound("  a=1 , b=2  "), "a=1 , b=2");
    ck_assert_str_eq(bound("a=1,,b=2"), "a=1,,b=2"); /* empty members are allowed */
    ck_assert_str_eq(bound("tenant@vendor=x,a-b_c*d/e=y"), "tenant@vendor=x,a-b_c*d/e=y");
    ck_assert_str_eq(bound("1tenant@vendor=x"), "1tenant@vendor=x");
    ck_assert_str_eq(bound(""), "");
    /* malformed: nothing is passed on */
    ck_assert_str_eq(bound("a"), "");
    ck_assert_str_eq(bound("A=1"), "");
    ck_assert_str_eq(bound("a=1,B=2"), "");
    ck_assert_str_eq(bound("a="), "");
    ck_assert_str_eq(bound("=1"), "");
    ck_assert_str_eq(bound("a=1=2"), "");
    ck_assert_str_eq(bound("a=\x01"), "");
    ck_assert_str_eq(bound("a=\xc3\xa9"), "");
    ck_assert_str_eq(bound("1a=x"), "");
    ck_assert_str_eq(bound("@v=x"), "");
    ck_assert_str_eq(bound("t@=x"), "");
    ck_assert_str_eq(bound("t@1v=x"), "");
}
END_TEST

START_TEST(test_state_bounds)
{
    /* 40 members: the first 32 stay */
    char v[1024] = "", want[1024] = "";
    for (int i = 0; i < 40; i++) {
        char m[16];
        snprintf(m, sizeof(m), "%sk%d=v", i ? "," : "", i);
        strcat(v, m);
        if (i < 32) {
            strcat(want, m);
        }
    }
    ck_assert_str_eq(bound(v), want);
    /* over MG_TRACESTATE_MAX bytes: whole members go from the end */
    char big[1200];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%sk%d=", i ? "," : "", i);
        memset(big + n, 'x', 200);
        n += 200;
        big[n] = '\0';
    }
    const char *b = bound(big);
    ck_assert_uint_le(strlen(b), MG_TRACESTATE_MAX);
    ck_assert_uint_eq(strlen(b), 2 * 203 + 1); /* two members and the comma between */
    ck_assert(strncmp(b, big, strlen(b)) == 0);
}
END_TEST

/* ---- ids and sampling ---- */

START_TEST(test_ids)
{
    uint8_t a[16], b[16], zero[16] = {0};
    for (int i = 0; i < 1000; i++) {
        mg_trace_new_id(a, sizeof(a));
        mg_trace_new_id(b, sizeof(b));
        ck_assert(memcmp(a, zero, 16) != 0);
        ck_assert(memcmp(a, b, 16) != 0);
    }
    uint8_t s[8], z8[8] = {0};
    mg_trace_new_id(s, sizeof(s));
    ck_assert(memcmp(s, z8, 8) != 0);
    ck_assert(mg_trace_random() != mg_trace_random());
}
END_TEST

START_TEST(test_sampling)
{
    mg_traceparent_t on = {.flags = 1}, off = {.flags = 0}, odd = {.flags = 2};
    /* a parent decides either way */
    ck_assert(mg_trace_sample(&on, 0, 0));
    ck_assert(mg_trace_sample(&on, 0, UINT64_MAX));
    ck_assert(!mg_trace_sample(&off, 1, 0));
    ck_assert(!mg_trace_sample(&odd, 1, 0));
    /* no parent: the ratio */
    ck_assert(!mg_trace_sample(NULL, 0, 0));
    ck_assert(!mg_trace_sample(NULL, 0, UINT64_MAX));
    ck_assert(mg_trace_sample(NULL, 1, 0));
    ck_assert(mg_trace_sample(NULL, 1, UINT64_MAX));
    ck_assert(mg_trace_sample(NULL, 0.5, UINT64_MAX / 4));
    ck_assert(!mg_trace_sample(NULL, 0.5, UINT64_MAX / 4 * 3));
    int hits = 0;
    for (int i = 0; i < 100000; i++) {
        hits += mg_trace_sample(NULL, 0.1, mg_trace_random());
    }
    ck_assert_msg(hits > 9000 && hits < 11000, "0.1 sampled %d of 100000", hits);
}
END_TEST

/* ---- JSON ---- */

static size_t json_of(const mg_trace_span_t *s, char *buf, size_t cap)
{
    size_t need = mg_trace_span_json(s, NULL, 0);
    ck_assert_uint_lt(need, cap);
    size_t n = mg_trace_span_json(s, buf, cap);
    ck_assert_uint_eq(n, need);
    buf[n] = '\0';
    /* one byte short writes nothing past the cap and still tells the length */
    char *small = malloc(need);
    memset(small, '#', need);
    ck_assert_uint_eq(mg_trace_span_json(s, small, need - 1), need);
    ck_assert(small[need - 1] == '#');
    free(small);
    return n;
}

START_TEST(test_span_json)
{
    mg_trace_attr_t attrs[] = {
        {.key = "http.request.method", .str = MG_STR("GET")},
        {.key = "http.response.status_code", .num = 503, .is_num = true},
        {.key = "neg", .num = -7, .is_num = true},
        {.key = "esc", .str = MG_STR("a\"b\\c\n\x01\x7f")},
        {.key = "utf8", .str = MG_STR("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")},
        {.key = "bad", .str = MG_STR("x\xff\xc3(\xed\xa0\x80\xc0\xaf\xe2\x82")},
    };
    mg_trace_span_t s = {
        .name = MG_STR("GET users"),
        .kind = MG_TRACE_KIND_SERVER,
        .start = 1700000000.25,
        .end = 1700000000.5,
        .error = true,
        .state = MG_STR("a=1"),
        .attrs = attrs,
        .nattrs = MG_NELEMS(attrs),
    };
    mg_traceparent_t p;
    ck_assert(mg_trace_parse_parent(S("00-" TID "-" PID "-01"), &p));
    memcpy(s.trace_id, p.trace_id, 16);
    memcpy(s.parent_id, p.parent_id, 8);
    s.has_parent = true;
    memcpy(s.span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    char buf[4096];
    json_of(&s, buf, sizeof(buf));
    ck_assert_str_eq(
        buf, "{\"traceId\":\"" TID "\",\"spanId\":\"0102030405060708\",\"parentSpanId\":\"" PID
             "\",\"traceState\":\"a=1\",\"name\":\"GET users\",\"kind\":2,"
             "\"startTimeUnixNano\":\"1700000000250000000\","
             "\"endTimeUnixNano\":\"1700000000500000000\",\"attributes\":["
             "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"
             "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"503\"}},"
             "{\"key\":\"neg\",\"value\":{\"intValue\":\"-7\"}},"
             "{\"key\":\"esc\",\"value\":{\"stringValue\":\"a\\\"b\\\\c\\u000a\\u0001\x7f\"}},"
             "{\"key\":\"utf8\",\"value\":{\"stringValue\":\"caf\xc3\xa9 \xe2\x82\xac "
             "\xf0\x9f\x98\x80\"}},"
             "{\"key\":\"bad\",\"value\":{\"stringValue\":\"x\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd"
             "\\ufffd\\ufffd\\ufffd\\ufffd\"}}],"
             "\"status\":{\"code\":2}}");
    /* a root span: no parent, no state, no status */
    s.has_parent = false;
    s.state = MG_NULL_STR;
    s.error = false;
    s.nattrs = 0;
    s.end = 1; /* before the start: the start is used */
    json_of(&s, buf, sizeof(buf));
    ck_assert_ptr_null(strstr(buf, "parentSpanId"));
    ck_assert_ptr_null(strstr(buf, "traceState"));
    ck_assert_ptr_null(strstr(buf, "status"));
    ck_assert_ptr_nonnull(strstr(buf, "\"attributes\":[]}"));
    ck_assert_ptr_nonnull(strstr(buf, "\"endTimeUnixNano\":\"1700000000250000000\""));
}
END_TEST

START_TEST(test_attr_cut)
{
    char *big = malloc(5000);
    memset(big, 'a', 5000);
    mg_trace_attr_t a = {.key = "k", .str = mg_str(big, 5000)};
    mg_trace_span_t s = {.name = MG_STR("n"), .kind = 1, .attrs = &a, .nattrs = 1};
    char buf[8192];
    size_t n = json_of(&s, buf, sizeof(buf));
    ck_assert_uint_lt(n, MG_TRACE_ATTR_MAX + 400);
    ck_assert_ptr_nonnull(strstr(buf, "\"stringValue\":\"aaaa"));
    free(big);
}
END_TEST

START_TEST(test_otlp_body)
{
    mg_trace_span_t s[2] = {
        {.name = MG_STR("a"), .kind = 2, .start = 1, .end = 2},
        {.name = MG_STR("b"), .kind = 3, .start = 1, .end = 2},
    };
    char buf[4096];
    size_t need = mg_trace_otlp_json(s, 2, "svc \"x\"", NULL, 0);
    ck_assert_uint_lt(need, sizeof(buf));
    ck_assert_uint_eq(mg_trace_otlp_json(s, 2, "svc \"x\"", buf, sizeof(buf)), need);
    buf[need] = '\0';
    ck_assert(strncmp(buf,
                      "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
                      "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc \\\"x\\\"\"}},"
                      "{\"key\":\"service.version\",\"value\":{\"stringValue\":\"" MG_VERSION
                      "\"}}",
                      strlen("{\"resourceSpans\":[{\"resource\":{\"attributes\":[")) == 0);
    ck_assert_ptr_nonnull(strstr(buf, "\"scopeSpans\":[{\"scope\":{\"name\":\"moongate\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"spans\":[{\"traceId\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"name\":\"a\""));
    ck_assert_ptr_nonnull(strstr(buf, "},{\"traceId\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"name\":\"b\",\"kind\":3"));
    ck_assert(strcmp(buf + need - 6, "]}]}]}") == 0);
    /* no spans */
    need = mg_trace_otlp_json(s, 0, "m", buf, sizeof(buf));
    buf[need] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "\"spans\":[]}]}]}"));
}
END_TEST

/* ---- a request ---- */

typedef struct {
    mg_request_t r;
    mg_gen_t g;
    mg_conf_t conf;
    mg_tracing_conf_t tc;
    mg_route_conf_t route;
    mg_upstream_conf_t up;
    mg_header_t hdrs[8];
    mg_http_try_t tries[MG_HTTP_MAX_TRIES];
} fake_t;

static void fake_init(fake_t *f, double ratio)
{
    memset(f, 0, sizeof(*f));
    f->tc = (mg_tracing_conf_t){.sample_ratio = ratio, .service_name = "moongate"};
    f->conf.tracing = &f->tc;
    f->g.conf = &f->conf;
    f->up.name = "users";
    f->route.name = "users-api";
    f->route.upstream = &f->up;
    f->r.pool = mg_pool_create(4096);
    f->r.gen = &f->g;
    f->r.headers = f->hdrs;
    f->r.method_name = MG_STR("GET");
    f->r.path = MG_STR("/api/users/42");
    f->r.query = MG_STR("x=1");
    f->r.host = MG_STR("api.example.com");
    f->r.host_header = MG_STR("api.example.com:8080");
    f->r.remote_addr = MG_STR("10.0.0.9"); /* the client, behind a trusted proxy */
    f->r.remote_port = 0;
    f->r.peer_addr = MG_STR("10.0.0.1");
    f->r.peer_port = 40000;
    f->r.http_major = f->r.http_minor = 1;
    f->r.request_id = MG_STR("rid-1");
    f->r.start = 1700000000;
    f->r.status = 200;
    f->r.match.route = &f->route;
    f->r.upstream_time = -1;
}

static void fake_header(fake_t *f, const char *name, const char *value)
{
    f->hdrs[f->r.nheaders++] = (mg_header_t){S(name), S(value)};
}

START_TEST(test_begin_no_tracing)
{
    fake_t f;
    fake_init(&f, 1);
    f.conf.tracing = NULL;
    fake_header(&f, "traceparent", "00-" TID "-" PID "-01");
    ck_assert_ptr_null(mg_trace_begin(&f.r));
    ck_assert_uint_eq(f.r.trace_id.len, 0);
    mg_header_t out[2];
    ck_assert_uint_eq(mg_trace_upstream_headers(&f.r, out), 0);
    mg_pool_destroy(f.r.pool);
}
END_TEST

START_TEST(test_begin_continues)
{
    fake_t f;
    fake_init(&f, 0);
    fake_header(&f, "TraceParent", "00-" TID "-" PID "-01");
    fake_header(&f, "tracestate", "rojo=1");
    fake_header(&f, "Tracestate", "congo=2");
    mg_trace_req_t *t = mg_trace_begin(&f.r);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_eq(mg_trace_begin(&f.r), t); /* once per request */
    ck_assert(t->sampled && t->has_parent);    /* a sampled parent wins over ratio 0 */
    ck_assert(strncmp(f.r.trace_id.p, TID, 32) == 0 && f.r.trace_id.len == 32);
    char pid[17] = {0};
    mg_trace_hex(t->parent_id, 8, pid);
    ck_assert_str_eq(pid, PID);
    ck_assert(mg_str_eq(t->state, MG_STR("rojo=1,congo=2")));
    /* upstream: our span as the parent, the client's tracestate */
    mg_header_t out[2];
    ck_assert_uint_eq(mg_trace_upstream_headers(&f.r, out), 2);
    ck_assert(mg_str_eq(out[0].name, MG_STR("traceparent")));
    ck_assert(mg_str_eq(out[1].name, MG_STR("tracestate")));
    ck_assert(mg_str_eq(out[1].value, MG_STR("rojo=1,congo=2")));
    char head[256];
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\ntraceparent: %.*s\r\n\r\n",
                     (int)out[0].value.len, out[0].value.p);
    char *v = mg_trace_find_parent(head, (size_t)n);
    ck_assert_ptr_nonnull(v);
    mg_trace_try_begin(&f.r, 0, v);
    mg_traceparent_t sent;
    ck_assert(mg_trace_parse_parent(mg_str(v, MG_TRACEPARENT_LEN), &sent));
    ck_assert(memcmp(sent.trace_id, t->trace_id, 16) == 0);
    ck_assert(memcmp(sent.parent_id, t->try_ids[0], 8) == 0);
    ck_assert_uint_eq(sent.flags, 1);
    mg_trace_try_begin(&f.r, 1, v);
    ck_assert(mg_trace_parse_parent(mg_str(v, MG_TRACEPARENT_LEN), &sent));
    ck_assert(memcmp(sent.parent_id, t->try_ids[1], 8) == 0);
    ck_assert(memcmp(t->try_ids[0], t->try_ids[1], 8) != 0);
    ck_assert_ptr_null(mg_trace_find_parent(head, 20));
    mg_pool_destroy(f.r.pool);
}
END_TEST

START_TEST(test_begin_unsampled_parent)
{
    fake_t f;
    fake_init(&f, 1);
    fake_header(&f, "traceparent", "00-" TID "-" PID "-00");
    mg_trace_req_t *t = mg_trace_begin(&f.r);
    ck_assert(!t->sampled && t->has_parent);
    ck_assert(strncmp(f.r.trace_id.p, TID, 32) == 0);
    mg_header_t out[2];
    ck_assert_uint_eq(mg_trace_upstream_headers(&f.r, out), 1);
    ck_assert(out[0].value.p[54] == '0' && out[0].value.p[53] == '0');
    mg_trace_spans_t sp;
    ck_assert_uint_eq(mg_trace_request_spans(&f.r, 1700000001, &sp), 0);
    mg_pool_destroy(f.r.pool);
}
END_TEST

START_TEST(test_begin_new_trace)
{
    /* invalid, or two traceparent headers: a new trace; its tracestate is not kept */
    const char *cases[][2] = {
        {"00-" TID "-" PID "-1", NULL},
        {"00-" TID "-" PID "-01", "00-" TID "-" PID "-01"},
    };
    for (size_t i = 0; i < 2; i++) {
        fake_t f;
        fake_init(&f, 0);
        fake_header(&f, "traceparent", cases[i][0]);
        if (cases[i][1] != NULL) {
            fake_header(&f, "traceparent", cases[i][1]);
        }
        fake_header(&f, "tracestate", "rojo=1");
        mg_trace_req_t *t = mg_trace_begin(&f.r);
        ck_assert(!t->sampled && !t->has_parent);
        ck_assert_uint_eq(t->state.len, 0);
        ck_assert_uint_eq(f.r.trace_id.len, 32);
        ck_assert(strncmp(f.r.trace_id.p, TID, 32) != 0);
        mg_pool_destroy(f.r.pool);
    }
    fake_t f;
    fake_init(&f, 1);
    ck_assert(mg_trace_begin(&f.r)->sampled);
    mg_pool_destroy(f.r.pool);
}
END_TEST

static const mg_trace_attr_t *attr(const mg_trace_span_t *s, const char *key)
{
    for (size_t i = 0; i < s->nattrs; i++) {
        if (strcmp(s->attrs[i].key, key) == 0) {
            return &s->attrs[i];
        }
    }
    return NULL;
}

static void assert_str_attr(const mg_trace_span_t *s, const char *key, const char *want)
{
    const mg_trace_attr_t *a = attr(s, key);
    ck_assert_msg(a != NULL && !a->is_num, "no string attribute %s", key);
    ck_assert_msg(mg_str_eq(a->str, S(want)), "%s: \"%.*s\", expected \"%s\"", key, (int)a->str.len,
                  a->str.p, want);
}

static void assert_num_attr(const mg_trace_span_t *s, const char *key, int64_t want)
{
    const mg_trace_attr_t *a = attr(s, key);
    ck_assert_msg(a != NULL && a->is_num, "no integer attribute %s", key);
    ck_assert_int_eq(a->num, want);
}

START_TEST(test_request_spans)
{
    fake_t f;
    fake_init(&f, 1);
    fake_header(&f, "traceparent", "00-" TID "-" PID "-01");
    fake_header(&f, "User-Agent", "curl/8");
    f.r.status = 502;
    f.r.plugin_phases = (1u << 1) | (1u << 5); /* access, log */
    f.r.plugin_time[1] = 0.002;
    f.r.plugin_span[1][0] = 1700000000.001;
    f.r.plugin_span[1][1] = 1700000000.004;
    f.r.plugin_time[5] = 0.0005; /* no start taken: from the request's start */
    mg_trace_req_t *t = mg_trace_begin(&f.r);
    mg_header_t out[2];
    mg_trace_upstream_headers(&f.r, out);
    char v[MG_TRACEPARENT_LEN];
    memcpy(v, out[0].value.p, sizeof(v));
    f.r.tries = f.tries;
    f.r.ntries = 2;
    f.tries[0] = (mg_http_try_t){.addr = MG_STR("127.0.0.1:9001"),
                                 .start = 1700000000.005,
                                 .connect_time = -1,
                                 .header_time = -1,
                                 .time = 0.001,
                                 .error = "connect failed"};
    mg_trace_try_begin(&f.r, 0, v);
    f.tries[1] = (mg_http_try_t){.addr = MG_STR("[::1]:9002"),
                                 .start = 1700000000.006,
                                 .connect_time = 0.001,
                                 .header_time = 0.002,
                                 .time = 0.002,
                                 .status = 502};
    mg_trace_try_begin(&f.r, 1, v);
    f.r.upstream_time = 0.01;
    mg_trace_spans_t sp;
    ck_assert_uint_eq(mg_trace_request_spans(&f.r, 1700000000.02, &sp), 5);

    const mg_trace_span_t *srv = &sp.span[0];
    ck_assert_int_eq(srv->kind, MG_TRACE_KIND_SERVER);
    ck_assert(mg_str_eq(srv->name, MG_STR("GET users-api")));
    ck_assert(srv->has_parent && memcmp(srv->parent_id, t->parent_id, 8) == 0);
    ck_assert(memcmp(srv->span_id, t->span_id, 8) == 0);
    ck_assert(srv->start == 1700000000 && srv->end == 1700000000.02);
    ck_assert(srv->error);
    assert_str_attr(srv, "http.request.method", "GET");
    assert_str_attr(srv, "url.path", "/api/users/42");
    assert_str_attr(srv, "url.query", "x=1");
    assert_str_attr(srv, "url.scheme", "http");
    assert_str_attr(srv, "http.route", "users-api");
    assert_num_attr(srv, "http.response.status_code", 502);
    assert_str_attr(srv, "server.address", "api.example.com");
    assert_num_attr(srv, "server.port", 8080);
    assert_str_attr(srv, "client.address", "10.0.0.9");
    assert_str_attr(srv, "network.peer.address", "10.0.0.1");
    assert_num_attr(srv, "network.peer.port", 40000);
    assert_str_attr(srv, "user_agent.original", "curl/8");
    assert_str_attr(srv, "network.protocol.version", "1.1");
    assert_str_attr(srv, "error.type", "502");

    const mg_trace_span_t *acc = &sp.span[1], *log = &sp.span[2];
    ck_assert_int_eq(acc->kind, MG_TRACE_KIND_INTERNAL);
    ck_assert(mg_str_eq(acc->name, MG_STR("access")));
    ck_assert(acc->start == 1700000000.001 && acc->end == 1700000000.004);
    ck_assert(memcmp(acc->parent_id, t->span_id, 8) == 0 && acc->has_parent);
    assert_num_attr(acc, "moongate.plugin_time_us", 2000);
    static const uint8_t zero[8];
    ck_assert(memcmp(acc->span_id, zero, 8) != 0 && memcmp(log->span_id, zero, 8) != 0);
    ck_assert(memcmp(acc->span_id, log->span_id, 8) != 0);
    ck_assert(memcmp(acc->span_id, t->span_id, 8) != 0);
    ck_assert(mg_str_eq(log->name, MG_STR("log")));
    ck_assert(log->start == 1700000000 && log->end == 1700000000.0005);

    const mg_trace_span_t *c0 = &sp.span[3], *c1 = &sp.span[4];
    ck_assert_int_eq(c0->kind, MG_TRACE_KIND_CLIENT);
    ck_assert(memcmp(c0->span_id, t->try_ids[0], 8) == 0);
    ck_assert(memcmp(c1->span_id, t->try_ids[1], 8) == 0);
    ck_assert(memcmp(c0->parent_id, t->span_id, 8) == 0 && c0->has_parent);
    ck_assert(memcmp(c0->trace_id, t->trace_id, 16) == 0);
    ck_assert(c0->error && c1->error);
    assert_str_attr(c0, "server.address", "127.0.0.1");
    assert_num_attr(c0, "server.port", 9001);
    assert_str_attr(c0, "error.type", "connect failed");
    ck_assert_ptr_null(attr(c0, "http.response.status_code"));
    ck_assert_ptr_null(attr(c0, "http.request.resend_count"));
    assert_str_attr(c0, "moongate.upstream", "users");
    ck_assert(c0->start == 1700000000.005 && c0->end == 1700000000.005 + 0.001);
    assert_str_attr(c1, "server.address", "::1");
    assert_num_attr(c1, "server.port", 9002);
    assert_num_attr(c1, "http.response.status_code", 502);
    assert_num_attr(c1, "http.request.resend_count", 1);
    assert_str_attr(c1, "error.type", "502");
    /* the try that answered lasts until the response's end */
    ck_assert(c1->end == 1700000000.005 + 0.01);

    /* every span encodes */
    char *buf = malloc(65536);
    size_t n = mg_trace_otlp_json(sp.span, sp.n, "moongate", buf, 65536);
    ck_assert_uint_lt(n, 65536);
    free(buf);
    mg_pool_destroy(f.r.pool);
}
END_TEST

START_TEST(test_request_spans_ok)
{
    fake_t f;
    fake_init(&f, 1);
    f.r.match.route = NULL;
    f.r.host_header = MG_STR("[::1]");
    f.r.tls = true;
    f.r.http_minor = 0;
    f.r.query = MG_NULL_STR;
    f.r.method_name = MG_NULL_STR; /* a request refused before its method was read */
    f.r.host = MG_NULL_STR;
    mg_trace_begin(&f.r);
    mg_trace_spans_t sp;
    ck_assert_uint_eq(mg_trace_request_spans(&f.r, 1700000000.5, &sp), 1);
    const mg_trace_span_t *srv = &sp.span[0];
    ck_assert_uint_eq(srv->name.len, 0);
    ck_assert(!srv->has_parent && !srv->error);
    char buf[4096];
    ck_assert_uint_lt(mg_trace_span_json(srv, buf, sizeof(buf)), sizeof(buf));
    /* HTTP/1.0 without Host */
    f.r.host_header = MG_NULL_STR;
    f.r.tls = false;
    ck_assert_uint_eq(mg_trace_request_spans(&f.r, 1700000000.5, &sp), 1);
    assert_num_attr(&sp.span[0], "server.port", 80);
    f.r.tls = true;
    mg_trace_request_spans(&f.r, 1700000000.5, &sp);
    ck_assert_ptr_null(attr(srv, "http.route"));
    ck_assert_ptr_null(attr(srv, "url.query"));
    ck_assert_ptr_null(attr(srv, "error.type"));
    ck_assert_ptr_null(attr(srv, "user_agent.original"));
    assert_num_attr(srv, "server.port", 443);
    assert_str_attr(srv, "url.scheme", "https");
    assert_str_attr(srv, "network.protocol.version", "1.0");
    mg_pool_destroy(f.r.pool);
}
END_TEST

START_TEST(test_header_owned)
{
    ck_assert(mg_trace_header_owned(MG_STR("traceparent")));
    ck_assert(mg_trace_header_owned(MG_STR("TraceParent")));
    ck_assert(mg_trace_header_owned(MG_STR("tracestate")));
    ck_assert(!mg_trace_header_owned(MG_STR("traceparents")));
    ck_assert(!mg_trace_header_owned(MG_STR("x-tracestate")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parent_valid);
    tcase_add_loop_test(tc, test_parent_invalid, 0, (int)MG_NELEMS(bad_parents));
    tcase_add_test(tc, test_parent_format);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_state_bounds);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_sampling);
    tcase_add_test(tc, test_span_json);
    tcase_add_test(tc, test_attr_cut);
    tcase_add_test(tc, test_otlp_body);
    tcase_add_test(tc, test_begin_no_tracing);
    tcase_add_test(tc, test_begin_continues);
    tcase_add_test(tc, test_begin_unsampled_parent);
    tcase_add_test(tc, test_begin_new_trace);
    tcase_add_test(tc, test_request_spans);
    tcase_add_test(tc, test_request_spans_ok);
    tcase_add_test(tc, test_header_owned);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
