/* deps: http_parse pool str */
#include <check.h>
#include <stdlib.h>

#include "http.h" /* mg_http_reason */
#include "http_parse.h"

/* Normalises `in` (length given, so NUL bytes can be tested) and returns the result in
 * a static buffer, or NULL when it was refused. */
static const char *norm_n(const char *in, size_t len)
{
    static char out[512];
    size_t olen = 0;
    if (mg_http_normalize_path(in, len, out, &olen) != MG_OK) {
        return NULL;
    }
    ck_assert_uint_le(olen, len);
    out[olen] = '\0';
    return out;
}

static const char *norm(const char *in)
{
    return norm_n(in, strlen(in));
}

static mg_str_t S(const char *s)
{
    return mg_str(s, strlen(s));
}

START_TEST(test_path_plain_and_dot_segments)
{
    ck_assert_str_eq(norm("/"), "/");
    ck_assert_str_eq(norm("/a/b"), "/a/b");
    ck_assert_str_eq(norm("/a/./b"), "/a/b");
    ck_assert_str_eq(norm("/a/../b"), "/b");
    ck_assert_str_eq(norm("/a/b/../../c"), "/c");
    ck_assert_str_eq(norm("/a/."), "/a/");
    ck_assert_str_eq(norm("/a/b/.."), "/a/");
    ck_assert_str_eq(norm("/a/.."), "/");
    ck_assert_str_eq(norm("/."), "/");
    ck_assert_str_eq(norm("/a/..b/.c"), "/a/..b/.c");
    ck_assert_str_eq(norm("/a/b/"), "/a/b/");
}
END_TEST

START_TEST(test_path_double_slash_kept)
{
    ck_assert_str_eq(norm("//a"), "//a");
    ck_assert_str_eq(norm("/a//b"), "/a//b");
    ck_assert_str_eq(norm("/a//../b"), "/a/b");
}
END_TEST

/* Row 10: nothing may climb above the root, whether written plainly or escaped. */
START_TEST(test_path_above_root_refused)
{
    ck_assert_ptr_null(norm("/.."));
    ck_assert_ptr_null(norm("/../"));
    ck_assert_ptr_null(norm("/../../etc/passwd"));
    ck_assert_ptr_null(norm("/a/../../b"));
    ck_assert_ptr_null(norm("/%2e%2e/"));
    ck_assert_ptr_null(norm("/%2E%2E/etc"));
    ck_assert_ptr_null(norm("/.%2e/x"));
    ck_assert_ptr_null(norm("/%2e./x"));
}
END_TEST

START_TEST(test_path_escapes)
{
    ck_assert_str_eq(norm("/a/%2e%2e/b"), "/b");
    ck_assert_str_eq(norm("/%2e/a"), "/a");
    ck_assert_str_eq(norm("/%41%62c"), "/Abc");
    ck_assert_str_eq(norm("/%7e%5f%2d"), "/~_-");
    /* a reserved character stays escaped (so "/" inside a segment stays data), with
     * the hex upper-cased so that one path has one spelling */
    ck_assert_str_eq(norm("/a%2Fb"), "/a%2Fb");
    ck_assert_str_eq(norm("/a%2fb"), "/a%2Fb");
    ck_assert_str_eq(norm("/a%2f..%2fb"), "/a%2F..%2Fb");
    ck_assert_str_eq(norm("/%20x"), "/%20x");
    ck_assert_str_eq(norm("/%e2%82%ac"), "/%E2%82%AC");
}
END_TEST

/* Rows 2 and 3: control bytes, NUL, bad escapes, bytes >= 0x80 and fragments. */
START_TEST(test_path_bad_bytes)
{
    ck_assert_ptr_null(norm(""));
    ck_assert_ptr_null(norm("a"));
    ck_assert_ptr_null(norm("*"));
    ck_assert_ptr_null(norm("/\x02"));
    ck_assert_ptr_null(norm_n("/\0", 2));
    ck_assert_ptr_null(norm_n("/a\0b", 4));
    ck_assert_ptr_null(norm("/%"));
    ck_assert_ptr_null(norm("/%4"));
    ck_assert_ptr_null(norm("/%zz"));
    ck_assert_ptr_null(norm("/%g1"));
    ck_assert_ptr_null(norm("/%00"));
    ck_assert_ptr_null(norm("/\x80"));
    ck_assert_ptr_null(norm("/caf\xc3\xa9"));
    ck_assert_ptr_null(norm("/a#f"));
    ck_assert_ptr_null(norm("/a b"));
    ck_assert_ptr_null(norm("/a\tb"));
    ck_assert_ptr_null(norm("/a\x7f"));
    ck_assert_ptr_null(norm("/a\r\n"));
}
END_TEST

static int cl(const char *s, int64_t *out)
{
    return mg_http_parse_content_length(S(s), out);
}

/* Rows 29-31. */
START_TEST(test_content_length)
{
    int64_t v = -7;
    ck_assert_int_eq(cl("0", &v), MG_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(cl("5", &v), MG_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(cl("007", &v), MG_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(cl("4611686018427387904", &v), MG_OK);
    ck_assert_int_eq(v, INT64_C(4611686018427387904));
    ck_assert_int_eq(cl("4611686018427387905", &v), MG_ERROR);
    ck_assert_int_eq(cl("9223372036854775807", &v), MG_ERROR);
    ck_assert_int_eq(cl("99999999999999999999", &v), MG_ERROR);
    ck_assert_int_eq(cl("", &v), MG_ERROR);
    ck_assert_int_eq(cl("+5", &v), MG_ERROR);
    ck_assert_int_eq(cl("-1", &v), MG_ERROR);
    ck_assert_int_eq(cl("0x5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5, 6", &v), MG_ERROR);
    ck_assert_int_eq(cl("5, 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5,5", &v), MG_ERROR);
    ck_assert_int_eq(cl(" 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5.0", &v), MG_ERROR);
    ck_assert_int_eq(v, INT64_C(4611686018427387904)); /* untouched on error */
}
END_TEST

static const char *host_of(const char *in, int *port)
{
    static char out[256];
    mg_str_t h;
    if (mg_http_parse_host(S(in), &h, port) != MG_OK) {
        return NULL;
    }
    memcpy(out, h.p, h.len);
    out[h.len] = '\0';
    return out;
}

/* Rows 14 and 23 (the caller trims the value before it gets here). */
START_TEST(test_host)
{
    int port = -1;
    ck_assert_str_eq(host_of("a.com", &port), "a.com");
    ck_assert_int_eq(port, 0);
    ck_assert_str_eq(host_of("a.com:80", &port), "a.com");
    ck_assert_int_eq(port, 80);
    ck_assert_str_eq(host_of("A.Com:65535", &port), "A.Com");
    ck_assert_int_eq(port, 65535);
    ck_assert_str_eq(host_of("127.0.0.1:8080", &port), "127.0.0.1");
    ck_assert_str_eq(host_of("[::1]", &port), "[::1]");
    ck_assert_str_eq(host_of("[::1]:8080", &port), "[::1]");
    ck_assert_int_eq(port, 8080);
    ck_assert_str_eq(host_of("xn--bcher-kva.example", &port), "xn--bcher-kva.example");
    ck_assert_ptr_null(host_of("", &port));
    ck_assert_ptr_null(host_of("a/b", &port));
    ck_assert_ptr_null(host_of("a:99999", &port));
    ck_assert_ptr_null(host_of("a:65536", &port));
    ck_assert_ptr_null(host_of("a:0", &port));
    ck_assert_ptr_null(host_of("a:", &port));
    ck_assert_ptr_null(host_of(":80", &port));
    ck_assert_ptr_null(host_of("a:80x", &port));
    ck_assert_ptr_null(host_of("a:-1", &port));
    ck_assert_ptr_null(host_of("[::1", &port));
    ck_assert_ptr_null(host_of("[]", &port));
    ck_assert_ptr_null(host_of("[::1]x", &port));
    ck_assert_ptr_null(host_of("[::g]", &port));
    ck_assert_ptr_null(host_of("user@a.com", &port));
    ck_assert_ptr_null(host_of("a.com ", &port));
    ck_assert_ptr_null(host_of("a .com", &port));
    ck_assert_ptr_null(host_of("a\tb", &port));
    ck_assert_ptr_null(host_of("a.com:80:80", &port));
}
END_TEST

START_TEST(test_request_id)
{
    char id[200];
    ck_assert(mg_http_valid_request_id(S("abc-123_x.y:z")));
    ck_assert(mg_http_valid_request_id(S("0")));
    memset(id, 'a', 128);
    ck_assert(mg_http_valid_request_id(mg_str(id, 128)));
    ck_assert(!mg_http_valid_request_id(mg_str(id, 129)));
    ck_assert(!mg_http_valid_request_id(S("")));
    ck_assert(!mg_http_valid_request_id(S("a b")));
    ck_assert(!mg_http_valid_request_id(S("a/b")));
    ck_assert(!mg_http_valid_request_id(S("a\"b")));
    ck_assert(!mg_http_valid_request_id(S("a\r\nX: y")));
    ck_assert(!mg_http_valid_request_id(mg_str("a\0b", 3)));
}
END_TEST

START_TEST(test_hop_by_hop)
{
    const char *hop[] = {"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer",
                         "transfer-encoding", "Upgrade", "Proxy-Authenticate",
                         "proxy-authorization"};
    for (size_t i = 0; i < MG_NELEMS(hop); i++) {
        ck_assert_msg(mg_http_is_hop_by_hop(S(hop[i])), "%s", hop[i]);
    }
    const char *end[] = {"Content-Length", "Host", "X-Te", "Trailers", "Authorization",
                         "Transfer_Encoding", "Connectio", ""};
    for (size_t i = 0; i < MG_NELEMS(end); i++) {
        ck_assert_msg(!mg_http_is_hop_by_hop(S(end[i])), "%s", end[i]);
    }
}
END_TEST

/* Row 24: the client names headers in Connection. */
START_TEST(test_connection_tokens)
{
    mg_str_t v = S("close, X-Forwarded-For, Authorization");
    ck_assert(mg_http_connection_has(v, S("close")));
    ck_assert(mg_http_connection_has(v, S("x-forwarded-for")));
    ck_assert(mg_http_connection_has(v, S("AUTHORIZATION")));
    ck_assert(!mg_http_connection_has(v, S("keep-alive")));
    ck_assert(!mg_http_connection_has(S("closer"), S("close")));
    ck_assert(!mg_http_connection_has(S("clos"), S("close")));
    ck_assert(mg_http_connection_has(S(" , ,close ,"), S("close")));
    ck_assert(mg_http_connection_has(S("keep-alive,Upgrade"), S("upgrade")));
    ck_assert(mg_http_connection_has(S("\tUpgrade\t"), S("upgrade")));
    ck_assert(!mg_http_connection_has(S(""), S("close")));
    ck_assert(!mg_http_connection_has(S(",,,"), S("close")));
}
END_TEST

/* Row 19: header names are tokens; '_' is a token character (kept as is). */
START_TEST(test_token)
{
    ck_assert(mg_http_valid_token(S("X-Foo")));
    ck_assert(mg_http_valid_token(S("Transfer_Encoding")));
    ck_assert(mg_http_valid_token(S("!#$%&'*+-.^_`|~09azAZ")));
    ck_assert(!mg_http_valid_token(S("")));
    ck_assert(!mg_http_valid_token(S("X@Y")));
    ck_assert(!mg_http_valid_token(S("a b")));
    ck_assert(!mg_http_valid_token(S("a:b")));
    ck_assert(!mg_http_valid_token(mg_str("X\0Y", 3)));
    ck_assert(!mg_http_valid_token(S("X\x80")));
    ck_assert(!mg_http_valid_token(S("(x)")));
}
END_TEST

START_TEST(test_reason)
{
    ck_assert_str_eq(mg_http_reason(200), "OK");
    ck_assert_str_eq(mg_http_reason(404), "Not Found");
    ck_assert_str_eq(mg_http_reason(413), "Content Too Large");
    ck_assert_str_eq(mg_http_reason(414), "URI Too Long");
    ck_assert_str_eq(mg_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(mg_http_reason(505), "HTTP Version Not Supported");
    ck_assert_str_eq(mg_http_reason(999), "Unknown");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_parse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_path_plain_and_dot_segments);
    tcase_add_test(tc, test_path_double_slash_kept);
    tcase_add_test(tc, test_path_above_root_refused);
    tcase_add_test(tc, test_path_escapes);
    tcase_add_test(tc, test_path_bad_bytes);
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_host);
    tcase_add_test(tc, test_request_id);
    tcase_add_test(tc, test_hop_by_hop);
    tcase_add_test(tc, test_connection_tokens);
    tcase_add_test(tc, test_token);
    tcase_add_test(tc, test_reason);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
