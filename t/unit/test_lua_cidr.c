/* deps: lua_cidr cidr pool str */
/*
 * test_lua_cidr.c -- the CIDR matcher plugins reach through the FFI (core/lua/lua_cidr.c):
 * ranges collected then built, matched by text address, errors reported with a reason,
 * and the order of calls enforced.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_ffi.h"

static int add(mg_lua_cidr_t *m, const char *s, const char **why)
{
    return mg_lua_cidr_add(m, s, strlen(s), why);
}

static int match(const mg_lua_cidr_t *m, const char *a)
{
    return mg_lua_cidr_match(m, a, strlen(a));
}

START_TEST(test_build_then_match)
{
    const char *why = NULL;
    mg_lua_cidr_t *m = mg_lua_cidr_new();
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(match(m, "10.0.0.1"), -1); /* not built yet */
    ck_assert_int_eq(add(m, "10.0.0.0/8", &why), MG_OK);
    ck_assert_int_eq(add(m, "10.1.0.0/16", &why), MG_OK); /* merged into the /8 */
    ck_assert_int_eq(add(m, "2001:db8::/32", &why), MG_OK);
    ck_assert_int_eq(add(m, "192.0.2.7", &why), MG_OK);
    ck_assert_int_eq(mg_lua_cidr_build(m), MG_OK);
    ck_assert_int_eq(mg_lua_cidr_count(m), 3);
    ck_assert_int_eq(add(m, "1.2.3.4", &why), MG_ERROR);
    ck_assert_str_eq(why, "the matcher is already built");
    ck_assert_int_eq(match(m, "10.200.3.4"), 1);
    ck_assert_int_eq(match(m, "11.0.0.0"), 0);
    ck_assert_int_eq(match(m, "192.0.2.7"), 1);
    ck_assert_int_eq(match(m, "192.0.2.8"), 0);
    ck_assert_int_eq(match(m, "::ffff:10.9.8.7"), 1);
    ck_assert_int_eq(match(m, "2001:db8:1::"), 1);
    ck_assert_int_eq(match(m, "2001:db9::"), 0);
    ck_assert_int_eq(match(m, "unix:"), -1);
    ck_assert_int_eq(match(m, ""), -1);
    ck_assert_int_eq(match(m, "10.0.0.1:80"), -1);
    mg_lua_cidr_free(m);
}
END_TEST

START_TEST(test_bad_ranges_say_why)
{
    const char *why = NULL;
    mg_lua_cidr_t *m = mg_lua_cidr_new();
    ck_assert_int_eq(add(m, "10.0.0.1/8", &why), MG_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "bits set after the prefix"));
    ck_assert_int_eq(add(m, "example.com", &why), MG_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "expected an IP address"));
    ck_assert_int_eq(mg_lua_cidr_parse("1.2.3.0/33", 10, &why), MG_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "at most 32"));
    ck_assert_int_eq(mg_lua_cidr_parse("::/0", 4, &why), MG_OK);
    /* an empty matcher matches nothing */
    ck_assert_int_eq(mg_lua_cidr_build(m), MG_OK);
    ck_assert_int_eq(mg_lua_cidr_count(m), 0);
    ck_assert_int_eq(match(m, "10.0.0.1"), 0);
    mg_lua_cidr_free(m);
    mg_lua_cidr_free(NULL);
}
END_TEST

START_TEST(test_many_ranges)
{
    const char *why = NULL;
    char buf[32];
    mg_lua_cidr_t *m = mg_lua_cidr_new();
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, sizeof(buf), "10.%d.%d.0/24", i / 256, i % 256);
        ck_assert_int_eq(add(m, buf, &why), MG_OK);
    }
    ck_assert_int_eq(mg_lua_cidr_build(m), MG_OK);
    ck_assert_int_eq(mg_lua_cidr_count(m), 1); /* all adjacent: one range */
    ck_assert_int_eq(match(m, "10.39.15.255"), 1);
    ck_assert_int_eq(match(m, "10.39.16.0"), 0);
    mg_lua_cidr_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lua_cidr");
    TCase *tc = tcase_create("lua_cidr");
    tcase_add_test(tc, test_build_then_match);
    tcase_add_test(tc, test_bad_ranges_say_why);
    tcase_add_test(tc, test_many_ranges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
