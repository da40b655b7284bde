/* deps: websocket http_parse str */
/*
 * The WebSocket opening handshake's pure parts: the client's key, the checks a
 * `websocket: true` route makes (400, 426), and the Sec-WebSocket-Accept an upstream
 * must answer (RFC 6455 §1.3's own example).
 */
#include <check.h>
#include <stdlib.h>

#include "websocket.h"

#include "llhttp.h"

static mg_ws_handshake_t good(void)
{
    return (mg_ws_handshake_t){
        .method = HTTP_GET,
        .http_major = 1,
        .http_minor = 1,
        .upgrade = MG_STR("websocket"),
        .connection = MG_STR("keep-alive, Upgrade"),
        .key = MG_STR("dGhlIHNhbXBsZSBub25jZQ=="),
        .version = MG_STR("13"),
    };
}

START_TEST(test_key)
{
    ck_assert(mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ==")));
    ck_assert(mg_ws_key_ok(MG_STR("AAAAAAAAAAAAAAAAAAAAAA==")));
    ck_assert(mg_ws_key_ok(MG_STR("+/+/+/+/+/+/+/+/+/+/+A==")));
    ck_assert(!mg_ws_key_ok(MG_STR("")));
    ck_assert(!mg_ws_key_ok(MG_STR("c2hvcnQ=")));                  /* 5 bytes */
    ck_assert(!mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ")));    /* no padding */
    ck_assert(!mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=")));   /* one '=' */
    ck_assert(!mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ==="))); /* 25 characters */
    ck_assert(!mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25j*Q==")));  /* not base64 */
    ck_assert(!mg_ws_key_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=A")));
}
END_TEST

START_TEST(test_wanted)
{
    ck_assert(mg_ws_wanted(MG_STR("websocket")));
    ck_assert(mg_ws_wanted(MG_STR("WebSocket")));
    ck_assert(mg_ws_wanted(MG_STR("h2c, websocket")));
    ck_assert(!mg_ws_wanted(MG_STR("h2c")));
    ck_assert(!mg_ws_wanted(MG_STR("")));
    ck_assert(!mg_ws_wanted(MG_STR("websockets")));
}
END_TEST

START_TEST(test_handshake_checks)
{
    const char *why;
    mg_ws_handshake_t h = good();
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 0);
    ck_assert_ptr_null(why);

    h = good();
    h.method = HTTP_POST;
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);
    ck_assert_str_eq(why, "a WebSocket handshake must be a GET");

    h = good();
    h.http_minor = 0;
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);

    h = good();
    h.connection = MG_STR("keep-alive");
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);

    h = good();
    h.connection = MG_STR("upgrade");
    h.upgrade = MG_STR("h2c");
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);

    h = good();
    h.key = MG_STR("c2hvcnQ=");
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);
    ck_assert_str_eq(why, "invalid Sec-WebSocket-Key");

    h = good();
    h.has_body = true;
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 400);

    /* another version, or none: 426, the answer names 13 */
    h = good();
    h.version = MG_STR("8");
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 426);
    h.version = MG_NULL_STR;
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 426);
    h.version = MG_STR("13, 8");
    ck_assert_int_eq(mg_ws_handshake_check(&h, &why), 426);
}
END_TEST

START_TEST(test_accept)
{
    char out[MG_WS_ACCEPT_LEN + 1];
    mg_ws_accept(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="), out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 §1.3 */
    ck_assert(mg_ws_accept_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="),
                              MG_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
    ck_assert(mg_ws_accept_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="),
                              MG_STR(" s3pPLMBiTxaQ9kYGzzhZRbK+xOo= ")));
    ck_assert(!mg_ws_accept_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="),
                               MG_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOO=")));
    ck_assert(!mg_ws_accept_ok(MG_STR("AAAAAAAAAAAAAAAAAAAAAA=="),
                               MG_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
    ck_assert(!mg_ws_accept_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="), MG_NULL_STR));
    ck_assert(!mg_ws_accept_ok(MG_STR("dGhlIHNhbXBsZSBub25jZQ=="),
                               MG_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=s3pP")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("websocket");
    TCase *tc = tcase_create("handshake");
    tcase_add_test(tc, test_key);
    tcase_add_test(tc, test_wanted);
    tcase_add_test(tc, test_handshake_checks);
    tcase_add_test(tc, test_accept);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
