/* deps: shdict shm shm_lru pool str */
/*
 * Shared dictionaries as the master makes them: a resized dict takes its old slot, so
 * reloads that resize a dict never fill the table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "shdict.h"

START_TEST(test_resizes_reuse_the_slot)
{
    ck_assert_int_eq(mg_shdict_create("cache", 64 * 1024), MG_OK);
    ck_assert_int_eq(mg_shdict_create("other", 64 * 1024), MG_OK);
    /* far more resizes than the table has slots (64) */
    for (int i = 0; i < 200; i++) {
        size_t size = (size_t)(64 + (i % 2) * 64) * 1024;
        ck_assert_msg(mg_shdict_create("cache", size) == MG_OK, "resize %d failed", i);
    }
    ck_assert_uint_eq(mg_shdict_number(), 2);
    mg_shdict_t *d = mg_shdict_find("cache", 5);
    ck_assert_ptr_nonnull(d);
    /* the last resize (i = 199: 128 KiB) is the one in use, empty and writable */
    ck_assert_uint_eq(mg_shdict_count(d), 0);
    int forcible = 0;
    ck_assert_int_eq(
        mg_shdict_store(d, MG_SHDICT_SET, "k", 1, MG_SHDICT_NUMBER, 7, NULL, 0, 0, &forcible),
        MG_OK);
    mg_shdict_val_t v;
    ck_assert_int_eq(mg_shdict_get(d, "k", 1, &v, NULL, 0, 0), MG_OK);
    ck_assert(v.num == 7);
    /* the same size again is no change at all: the value stays */
    ck_assert_int_eq(mg_shdict_create("cache", 128 * 1024), MG_OK);
    ck_assert_int_eq(mg_shdict_get(mg_shdict_find("cache", 5), "k", 1, &v, NULL, 0, 0), MG_OK);
    mg_shdict_destroy_all();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shdict");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_resizes_reuse_the_slot);
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
