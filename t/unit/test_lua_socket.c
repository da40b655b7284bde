/* deps: lua_socket_scan */
/*
 * test_lua_socket.c -- the receive patterns of mg.socket (core/lua/lua_socket_scan.c):
 * lines, counts and receiveuntil delimiters cut from a buffer, whatever the way the
 * bytes were split when they arrived.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_socket.h"

static int scan(mg_sock_want_t w, const char *buf, size_t *take, size_t *consume)
{
    *take = *consume = 12345;
    return mg_lua_sock_scan(&w, buf, strlen(buf), take, consume);
}

static mg_sock_want_t line(void)
{
    return (mg_sock_want_t){.mode = MG_SOCK_LINE, .max = 16};
}

static mg_sock_want_t until(const char *pat, size_t size, bool incl)
{
    return (mg_sock_want_t){.mode = MG_SOCK_UNTIL, .size = size, .pat = pat,
                            .plen = strlen(pat), .inclusive = incl, .max = 16};
}

START_TEST(line_ends)
{
    size_t take, consume;
    ck_assert_int_eq(scan(line(), "abc\r\nrest", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 3);
    ck_assert_uint_eq(consume, 5);
    ck_assert_int_eq(scan(line(), "abc\nrest", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 3);
    ck_assert_uint_eq(consume, 4);
    ck_assert_int_eq(scan(line(), "\n", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 0);
    ck_assert_uint_eq(consume, 1);
    /* only the CR right before the LF goes */
    ck_assert_int_eq(scan(line(), "a\rb\r\r\n", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 4);
    ck_assert_int_eq(scan(line(), "abc\r", &take, &consume), MG_AGAIN);
    ck_assert_int_eq(scan(line(), "", &take, &consume), MG_AGAIN);
    /* a socket that has buffered nothing yet has no buffer at all */
    mg_sock_want_t w = line();
    ck_assert_int_eq(mg_lua_sock_scan(&w, NULL, 0, &take, &consume), MG_AGAIN);
    w = until("--", 0, false);
    ck_assert_int_eq(mg_lua_sock_scan(&w, NULL, 0, &take, &consume), MG_AGAIN);
}
END_TEST

START_TEST(line_limit)
{
    size_t take, consume;
    ck_assert_int_eq(scan(line(), "0123456789abcde", &take, &consume), MG_AGAIN);
    ck_assert_int_eq(scan(line(), "0123456789abcdef", &take, &consume), MG_DECLINED);
    ck_assert_int_eq(scan(line(), "0123456789abcdef\n", &take, &consume), MG_OK);
    ck_assert_int_eq(scan(line(), "0123456789abcdefg\n", &take, &consume), MG_DECLINED);
}
END_TEST

START_TEST(size)
{
    size_t take, consume;
    mg_sock_want_t w = {.mode = MG_SOCK_SIZE, .size = 4};
    ck_assert_int_eq(scan(w, "abc", &take, &consume), MG_AGAIN);
    ck_assert_int_eq(scan(w, "abcdef", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 4);
    ck_assert_uint_eq(consume, 4);
    mg_sock_want_t all = {.mode = MG_SOCK_ALL};
    ck_assert_int_eq(scan(all, "abcdef", &take, &consume), MG_AGAIN);
}
END_TEST

START_TEST(until_whole)
{
    size_t take, consume;
    ck_assert_int_eq(scan(until("--B", 0, false), "data--Bmore", &take, &consume), MG_DONE);
    ck_assert_uint_eq(take, 4);
    ck_assert_uint_eq(consume, 7);
    ck_assert_int_eq(scan(until("--B", 0, true), "data--Bmore", &take, &consume), MG_DONE);
    ck_assert_uint_eq(take, 7);
    ck_assert_uint_eq(consume, 7);
    ck_assert_int_eq(scan(until("--B", 0, false), "--B", &take, &consume), MG_DONE);
    ck_assert_uint_eq(take, 0);
    ck_assert_int_eq(scan(until("--B", 0, false), "data--", &take, &consume), MG_AGAIN);
    ck_assert_int_eq(scan(until("--B", 0, false), "0123456789abcdef", &take, &consume),
                     MG_DECLINED);
}
END_TEST

/* With a size: chunks never hold a byte that may start the delimiter. */
START_TEST(until_chunks)
{
    size_t take, consume;
    ck_assert_int_eq(scan(until("--B", 4, false), "abcdefg", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 4);
    ck_assert_int_eq(scan(until("--B", 4, false), "abc-", &take, &consume), MG_AGAIN);
    ck_assert_int_eq(scan(until("--B", 4, false), "abcd--", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 4);
    ck_assert_int_eq(scan(until("--B", 4, false), "ab--B", &take, &consume), MG_DONE);
    ck_assert_uint_eq(take, 2);
    ck_assert_uint_eq(consume, 5);
    ck_assert_int_eq(scan(until("--B", 4, false), "abcdef--B", &take, &consume), MG_OK);
    ck_assert_uint_eq(take, 4);
    ck_assert_uint_eq(consume, 4);
    /* "-" then "--B": the first dash is data, the delimiter starts after it */
    ck_assert_int_eq(scan(until("--B", 1, false), "---B", &take, &consume), MG_DONE);
    ck_assert_uint_eq(take, 1);
    ck_assert_uint_eq(consume, 4);
}
END_TEST

/* Every split of one stream gives the same pieces as the whole. */
START_TEST(until_any_split)
{
    const char *stream = "a-b--B--c---B--B";
    const char *want[] = {"a-b", "--c-", "", NULL};
    for (size_t cut = 1; cut <= strlen(stream); cut++) {
        char buf[64] = "";
        size_t have = 0, fed = 0, got = 0;
        while (want[got] != NULL) {
            size_t take, consume;
            buf[have] = '\0';
            mg_sock_want_t w = until("--B", 0, false);
            int rc = mg_lua_sock_scan(&w, buf, have, &take, &consume);
            if (rc == MG_AGAIN) {
                ck_assert_uint_lt(fed, strlen(stream));
                size_t n = MG_MIN(cut, strlen(stream) - fed);
                memcpy(buf + have, stream + fed, n);
                have += n;
                fed += n;
                continue;
            }
            ck_assert_int_eq(rc, MG_DONE);
            ck_assert_uint_eq(take, strlen(want[got]));
            ck_assert(memcmp(buf, want[got], take) == 0);
            memmove(buf, buf + consume, have - consume);
            have -= consume;
            got++;
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lua_socket");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, line_ends);
    tcase_add_test(tc, line_limit);
    tcase_add_test(tc, size);
    tcase_add_test(tc, until_whole);
    tcase_add_test(tc, until_chunks);
    tcase_add_test(tc, until_any_split);
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
