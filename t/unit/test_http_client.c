/* deps: http_client upstream health health_probe transport balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky nodestate shm log pool str */
/*
 * The outbound HTTP client's pure parts: URLs, the request head, the chunk line, and how
 * a response's body is framed.
 */
#include <check.h>
#include <stdlib.h>

#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static bool streq(mg_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

static const char *url(const char *text, mg_http_url_t *u)
{
    return mg_http_url_parse(mg_str(text, strlen(text)), u);
}

START_TEST(test_url_parts)
{
    mg_http_url_t u;
    ck_assert_ptr_null(url("http://127.0.0.1:8080/a/b?x=1#frag", &u));
    ck_assert(streq(u.scheme, "http"));
    ck_assert(streq(u.host, "127.0.0.1"));
    ck_assert_uint_eq(u.port, 8080);
    ck_assert(streq(u.authority, "127.0.0.1:8080"));
    ck_assert(streq(u.target, "/a/b?x=1"));

    ck_assert_ptr_null(url("http://localhost", &u));
    ck_assert_uint_eq(u.port, 80);
    ck_assert(streq(u.target, "/"));
    ck_assert(streq(u.authority, "localhost"));

    ck_assert_ptr_null(url("https://example.com?q", &u));
    ck_assert(streq(u.scheme, "https"));
    ck_assert_uint_eq(u.port, 443);
    ck_assert(streq(u.target, "?q"));

    ck_assert_ptr_null(url("http://[::1]:9000/v6", &u));
    ck_assert(streq(u.host, "::1"));
    ck_assert_uint_eq(u.port, 9000);
    ck_assert(streq(u.authority, "[::1]:9000"));
    ck_assert(streq(u.target, "/v6"));

    ck_assert_ptr_null(url("http://h/#only-a-fragment", &u));
    ck_assert(streq(u.target, "/"));
}
END_TEST

START_TEST(test_url_errors)
{
    mg_http_url_t u;
    ck_assert_str_eq(url("ftp://x/", &u), "bad url");
    ck_assert_str_eq(url("127.0.0.1/", &u), "bad url");
    ck_assert_str_eq(url("http:///path", &u), "bad url host");
    ck_assert_str_eq(url("http://:80/", &u), "bad url host");
    ck_assert_str_eq(url("http://[::1/", &u), "bad url host");
    ck_assert_str_eq(url("http://[::1]x/", &u), "bad url host");
    ck_assert_str_eq(url("http://h:0/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:65536/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:80a/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:123456/", &u), "bad url port");
}
END_TEST

START_TEST(test_url_addresses)
{
    mg_http_url_t u;
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_ptr_null(url("http://localhost:81/", &u));
    ck_assert_ptr_null(mg_http_url_addr(&u, &ss, &len));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(ntohs(a4->sin_port), 81);
    ck_assert_uint_eq(len, sizeof(*a4));

    ck_assert_ptr_null(url("http://[::1]/", &u));
    ck_assert_ptr_null(mg_http_url_addr(&u, &ss, &len));
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);

    ck_assert_ptr_null(url("http://example.com/", &u));
    ck_assert_str_eq(mg_http_url_addr(&u, &ss, &len),
                     "host names are not resolved (they would block): use an IP address");
}
END_TEST

static bool skip_secret(const mg_header_t *h, const void *arg)
{
    return mg_str_caseeq(h->name, mg_str(arg, strlen(arg)));
}

static char *build(const mg_http_client_req_t *q)
{
    size_t cap = mg_http_client_head_size(q);
    char *buf = malloc(cap + 1);
    size_t n = mg_http_client_head_build(q, buf);
    ck_assert_uint_le(n, cap);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_head_in_order)
{
    mg_header_t hdrs[] = {{MG_STR("Accept"), MG_STR("*/*")},
                          {MG_STR("X-Secret"), MG_STR("s")},
                          {MG_STR("X-Two"), MG_STR("2")}};
    mg_header_t extra[] = {{MG_STR("X-Added"), MG_STR("yes")}};
    mg_http_client_req_t q = {
        .method = MG_STR("POST"),
        .path = MG_STR("/p"),
        .query = MG_STR("a=1"),
        .host = MG_STR("api"),
        .headers = hdrs,
        .nheaders = 3,
        .skip = skip_secret,
        .skip_arg = "x-secret",
        .extra = extra,
        .nextra = 1,
        .raw = MG_STR("Raw: r\r\n"),
        .content_length = 12345678901,
    };
    char *h = build(&q);
    ck_assert_str_eq(h, "POST /p?a=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\nX-Two: 2\r\n"
                        "X-Added: yes\r\nRaw: r\r\nContent-Length: 12345678901\r\n\r\n");
    free(h);
}
END_TEST

START_TEST(test_head_framing_and_close)
{
    mg_http_client_req_t q = {
        .method = MG_STR("GET"),
        .path = MG_STR("/health"),
        .host = MG_STR("10.0.0.1:80"),
        .content_length = -1,
        .close = true,
    };
    char *h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n\r\n");
    free(h);

    q.chunked = true;
    q.content_length = 5; /* chunked wins */
    q.close = false;
    h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n");
    free(h);

    q.chunked = false;
    q.content_length = 0;
    h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\nContent-Length: 0\r\n\r\n");
    free(h);
}
END_TEST

START_TEST(test_head_size_bounds_long_values)
{
    static char big[5000];
    memset(big, 'v', sizeof(big));
    mg_header_t hdrs[] = {{MG_STR("A"), mg_str(big, sizeof(big))}};
    mg_http_client_req_t q = {
        .method = MG_STR("PROPPATCH"),
        .path = mg_str(big, 3000),
        .query = mg_str(big, 2000),
        .host = mg_str(big, 300),
        .headers = hdrs,
        .nheaders = 1,
        .extra = hdrs,
        .nextra = 1,
        .content_length = INT64_MAX,
        .close = true,
    };
    free(build(&q));
}
END_TEST

START_TEST(test_chunk_line)
{
    char b[MG_HTTP_CHUNK_LINE_MAX + 1];
    size_t n = mg_http_chunk_line(b, 0);
    b[n] = '\0';
    ck_assert_str_eq(b, "0\r\n");
    n = mg_http_chunk_line(b, 0x1a2b);
    b[n] = '\0';
    ck_assert_str_eq(b, "1a2b\r\n");
    n = mg_http_chunk_line(b, SIZE_MAX);
    ck_assert_uint_le(n, MG_HTTP_CHUNK_LINE_MAX);
}
END_TEST

START_TEST(test_framing)
{
    int64_t d;
    ck_assert_int_eq(mg_http_client_framing(false, 200, true, 10, false, &d), MG_HTTP_BODY_LENGTH);
    ck_assert_int_eq(d, 10);
    ck_assert_int_eq(mg_http_client_framing(false, 200, false, 0, true, &d), MG_HTTP_BODY_CHUNKED);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 200, false, 0, false, &d),
                     MG_HTTP_BODY_TO_CLOSE);
    ck_assert_int_eq(d, -1);
    /* no body: a HEAD's and a 304's length describe the GET body, a 204 has none */
    ck_assert_int_eq(mg_http_client_framing(true, 200, true, 42, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, 42);
    ck_assert_int_eq(mg_http_client_framing(true, 200, false, 0, true, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 304, true, 7, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, 7);
    ck_assert_int_eq(mg_http_client_framing(false, 204, true, 7, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 100, false, 0, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 500, true, 0, false, &d), MG_HTTP_BODY_LENGTH);
    ck_assert_int_eq(d, 0);
}
END_TEST

START_TEST(test_err_names)
{
    ck_assert_str_eq(mg_http_client_err_name(MG_HTTP_CLIENT_ERR_CONNECT), "connect failed");
    ck_assert_str_eq(mg_http_client_err_name(MG_HTTP_CLIENT_ERR_BAD_RESPONSE), "invalid response");
    ck_assert_str_eq(mg_http_client_err_name((mg_http_client_err_t)99), "unknown");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_url_parts);
    tcase_add_test(tc, test_url_errors);
    tcase_add_test(tc, test_url_addresses);
    tcase_add_test(tc, test_head_in_order);
    tcase_add_test(tc, test_head_framing_and_close);
    tcase_add_test(tc, test_head_size_bounds_long_values);
    tcase_add_test(tc, test_chunk_line);
    tcase_add_test(tc, test_framing);
    tcase_add_test(tc, test_err_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
