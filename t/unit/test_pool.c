/* deps: pool str */
#include <check.h>
#include <stdlib.h>

#include "pool.h"

static int cleaned;
static void on_cleanup(void *data)
{
    cleaned += *(int *)data;
}

START_TEST(test_alloc_alignment_and_growth)
{
    mg_pool_t *p = mg_pool_create(1024);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 1000; i++) {
        char *a = mg_pool_alloc(p, (size_t)(i % 37) + 1);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq((uintptr_t)a % 16, 0);
        memset(a, 'x', (size_t)(i % 37) + 1);
    }
    char *big = mg_pool_alloc(p, 100000);
    ck_assert_ptr_nonnull(big);
    memset(big, 0, 100000);
    mg_pool_destroy(p);
}
END_TEST

START_TEST(test_cleanups_run_in_reverse_on_reset_and_destroy)
{
    mg_pool_t *p = mg_pool_create(512);
    int one = 1, ten = 10;
    cleaned = 0;
    ck_assert_int_eq(mg_pool_cleanup_add(p, on_cleanup, &one), MG_OK);
    ck_assert_int_eq(mg_pool_cleanup_add(p, on_cleanup, &ten), MG_OK);
    mg_pool_reset(p);
    ck_assert_int_eq(cleaned, 11);
    ck_assert_uint_eq(mg_pool_used(p), 0);
    ck_assert_str_eq(mg_pool_strndup(p, "hello world", 5), "hello");
    ck_assert_int_eq(mg_pool_cleanup_add(p, on_cleanup, &one), MG_OK);
    mg_pool_destroy(p);
    ck_assert_int_eq(cleaned, 12);
}
END_TEST

START_TEST(test_str_caseeq)
{
    ck_assert(mg_str_caseeq(MG_STR("Content-Length"), MG_STR("content-length")));
    ck_assert(!mg_str_caseeq(MG_STR("Content-Length"), MG_STR("content-lengt")));
    ck_assert(!mg_str_caseeq(MG_STR("a_b"), MG_STR("a-b")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_alloc_alignment_and_growth);
    tcase_add_test(tc, test_cleanups_run_in_reverse_on_reset_and_destroy);
    tcase_add_test(tc, test_str_caseeq);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
