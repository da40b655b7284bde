/* deps: http1 http_parse str */
/*
 * The HTTP/1 session writer's framing: for each kind of body (known length, unknown
 * length to an HTTP/1.1 and an HTTP/1.0 client, none for HEAD, 1xx, 204 and 304) the
 * head it writes, and which headers of the source never reach the client.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "http1.h"
#include "put.h"

static mg_http1_ctx_t ctx11(void)
{
    return (mg_http1_ctx_t){.keepalive = true};
}

static char *build(const mg_http_head_t *h, const mg_http1_ctx_t *x)
{
    mg_http1_frame_t f = mg_http1_frame(h, x);
    size_t cap = mg_http1_head_size(h, x);
    char *buf = malloc(cap + 1);
    size_t n = mg_http1_build_head(h, x, f, buf);
    ck_assert_uint_le(n, cap);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_known_length_relayed_head)
{
    mg_header_t uh[] = {
        {MG_STR("Content-Type"), MG_STR("text/plain")},
        {MG_STR("Content-Length"), MG_STR("12")},
        {MG_STR("Connection"), MG_STR("keep-alive, X-Secret")},
        {MG_STR("X-Secret"), MG_STR("s")},
        {MG_STR("Keep-Alive"), MG_STR("timeout=5")},
        {MG_STR("Transfer-Encoding"), MG_STR("chunked")},
        {MG_STR("Date"), MG_STR("Mon, 01 Jan 2024 00:00:00 GMT")},
        {MG_STR("Set-Cookie"), MG_STR("a=1")},
    };
    mg_http_head_t h = {
        .status = 200,
        .reason = MG_STR("OK"),
        .headers = uh,
        .nheaders = MG_NELEMS(uh),
        .connection = MG_STR("keep-alive, X-Secret"),
        .content_length = 12,
    };
    mg_http1_ctx_t x = ctx11();
    x.date = MG_STR("Tue, 02 Jan 2024 00:00:00 GMT");
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_LENGTH);
    char *s = build(&h, &x);
    /* the upstream's Date stays: the writer adds one only when it is missing */
    ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\n"
                        "Content-Type: text/plain\r\n"
                        "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                        "Set-Cookie: a=1\r\n"
                        "Content-Length: 12\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_date_added_when_missing)
{
    mg_http_head_t h = {.status = 200, .content_length = 0};
    mg_http1_ctx_t x = ctx11();
    x.date = MG_STR("Tue, 02 Jan 2024 00:00:00 GMT");
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\n"
                        "Date: Tue, 02 Jan 2024 00:00:00 GMT\r\n"
                        "Content-Length: 0\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_unknown_length_is_chunked_for_http11)
{
    mg_http_head_t h = {.status = 404, .content_length = -1};
    mg_http1_ctx_t x = ctx11();
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_CHUNKED);
    x.keepalive = false;
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 404 Not Found\r\n"
                        "Transfer-Encoding: chunked\r\n"
                        "Connection: close\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_unknown_length_to_http10_ends_with_the_close)
{
    mg_http_head_t h = {.status = 200, .content_length = -1};
    mg_http1_ctx_t x = {.http10 = true, .keepalive = true};
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_CLOSE);
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\n"
                        "Connection: close\r\n"
                        "\r\n");
    free(s);
    /* a known length keeps an HTTP/1.0 client's connection, and says so */
    h.content_length = 5;
    s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\n"
                        "Content-Length: 5\r\n"
                        "Connection: keep-alive\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_no_body_kinds)
{
    mg_http1_ctx_t x = ctx11();
    mg_http_head_t h = {.status = 200, .content_length = 42};
    x.is_head = true; /* HEAD: the GET's length goes out, no body follows */
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_LENGTH);
    h.content_length = -1;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
    x.is_head = false;
    h.status = 204;
    h.content_length = 0;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
    h.content_length = -1;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
    h.status = 304;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
    h.content_length = 10;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_LENGTH);
    h.status = 103;
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
}
END_TEST

START_TEST(test_gateway_head_owns_server_date_and_request_id)
{
    mg_header_t ph[] = {
        {MG_STR("Content-Type"), MG_STR("application/json")},
        {MG_STR("Server"), MG_STR("forged")},
        {MG_STR("Date"), MG_STR("forged")},
        {MG_STR("Content-Length"), MG_STR("999")},
    };
    mg_http_head_t h = {
        .status = 401,
        .headers = ph,
        .nheaders = MG_NELEMS(ph),
        .content_length = 2,
        .gateway = true,
    };
    h.extra[h.nextra++] = (mg_header_t){MG_STR("RateLimit-Limit"), MG_STR("10")};
    mg_http1_ctx_t x = ctx11();
    x.date = MG_STR("Tue, 02 Jan 2024 00:00:00 GMT");
    x.request_id = MG_STR("abc");
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 401 Unauthorized\r\n"
                        "Server: moongate\r\n"
                        "Date: Tue, 02 Jan 2024 00:00:00 GMT\r\n"
                        "Content-Type: application/json\r\n"
                        "RateLimit-Limit: 10\r\n"
                        "X-Request-Id: abc\r\n"
                        "Content-Length: 2\r\n"
                        "\r\n");
    free(s);
}
END_TEST

START_TEST(test_request_id_not_doubled)
{
    mg_header_t uh[] = {{MG_STR("X-Request-Id"), MG_STR("from-upstream")}};
    mg_http_head_t h = {.status = 200, .headers = uh, .nheaders = 1, .content_length = 0};
    mg_http1_ctx_t x = ctx11();
    x.request_id = MG_STR("ours");
    char *s = build(&h, &x);
    ck_assert_ptr_nonnull(strstr(s, "X-Request-Id: from-upstream\r\n"));
    ck_assert_ptr_null(strstr(s, "ours"));
    free(s);
}
END_TEST

START_TEST(test_chunk_size_line)
{
    char b[24];
    size_t n = (size_t)(mg_put_chunk_line(b, 0x1a2) - b);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(b, "1a2\r\n", 5) == 0);
    n = (size_t)(mg_put_chunk_line(b, 0) - b);
    ck_assert(memcmp(b, "0\r\n", n) == 0 && n == 3);
    n = (size_t)(mg_put_chunk_line(b, SIZE_MAX) - b);
    ck_assert_uint_eq(n, 18);
}
END_TEST

START_TEST(test_skip_header)
{
    ck_assert(mg_http1_skip_header(MG_STR("content-length"), MG_NULL_STR));
    ck_assert(mg_http1_skip_header(MG_STR("Trailer"), MG_NULL_STR));
    ck_assert(mg_http1_skip_header(MG_STR("X-A"), MG_STR("close, x-a")));
    ck_assert(!mg_http1_skip_header(MG_STR("Date"), MG_NULL_STR));
    ck_assert(!mg_http1_skip_header(MG_STR("X-B"), MG_STR("close, x-a")));
}
END_TEST

/* A 101 names the protocol it switches to (the only hop-by-hop headers that cross) and
 * has no body framing, whatever the connection does next. */
START_TEST(test_switching_protocols_head)
{
    mg_header_t uh[] = {
        {MG_STR("Upgrade"), MG_STR("websocket")},
        {MG_STR("Connection"), MG_STR("Upgrade")},
        {MG_STR("Sec-WebSocket-Accept"), MG_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")},
        {MG_STR("Content-Length"), MG_STR("5")},
    };
    mg_http_head_t h = {
        .status = 101,
        .headers = uh,
        .nheaders = MG_NELEMS(uh),
        .connection = MG_STR("Upgrade"),
        .content_length = -1,
    };
    mg_http1_ctx_t x = {.keepalive = false, .request_id = MG_STR("r1")};
    ck_assert_int_eq(mg_http1_frame(&h, &x), MG_HTTP1_FRAME_NONE);
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 101 Switching Protocols\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "X-Request-Id: r1\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: upgrade\r\n"
                        "\r\n");
    free(s);
}
END_TEST

/* The status line: the source's phrase as sent, else the standard one, else none (the
 * space after the code stays, RFC 9112 §4). */
START_TEST(test_status_line_phrase)
{
    mg_http1_ctx_t x = ctx11();
    mg_http_head_t h = {.status = 200, .reason = MG_STR("Fine"), .content_length = 0};
    char *s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n");
    free(s);
    h = (mg_http_head_t){.status = 451, .content_length = 0};
    s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 451 Unavailable For Legal Reasons\r\nContent-Length: 0\r\n\r\n");
    free(s);
    h.status = 599;
    s = build(&h, &x);
    ck_assert_str_eq(s, "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
    free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, test_known_length_relayed_head);
    tcase_add_test(tc, test_date_added_when_missing);
    tcase_add_test(tc, test_unknown_length_is_chunked_for_http11);
    tcase_add_test(tc, test_unknown_length_to_http10_ends_with_the_close);
    tcase_add_test(tc, test_no_body_kinds);
    tcase_add_test(tc, test_gateway_head_owns_server_date_and_request_id);
    tcase_add_test(tc, test_request_id_not_doubled);
    tcase_add_test(tc, test_chunk_size_line);
    tcase_add_test(tc, test_skip_header);
    tcase_add_test(tc, test_switching_protocols_head);
    tcase_add_test(tc, test_status_line_phrase);
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
