/* deps: metrics_store str */
/*
 * The metrics regions as workers use them: a lookup that never adds, cells summed as
 * doubles across regions, gauges zeroed for the next worker of a slot while counters
 * go on, and histogram buckets by upper bound.
 */
#include <check.h>
#include <stdlib.h>

#include "metrics_store.h"

static mg_str_t key(const char *s)
{
    return mg_str(s, strlen(s));
}

static void set_double(uint64_t *cell, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(v));
    mg_metrics_set(cell, bits);
}

START_TEST(test_lookup_never_adds)
{
    ck_assert_int_eq(mg_metrics_init(3), MG_OK);
    mg_metrics_attach(0);
    ck_assert_ptr_null(mg_metrics_lookup(key("u\x1f"
                                             "a"),
                                         2));
    ck_assert_uint_eq(mg_metrics_count(), 0);
    uint64_t *c = mg_metrics_series(key("u\x1f"
                                        "a"),
                                    2, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(mg_metrics_lookup(key("u\x1f"
                                           "a"),
                                       2),
                     c);
    ck_assert_ptr_null(mg_metrics_lookup(key("u\x1f"
                                             "a"),
                                         3)); /* another cell count */
    ck_assert_uint_eq(mg_metrics_count(), 1);
    mg_metrics_attach(1); /* another worker's region: it has none */
    ck_assert_ptr_null(mg_metrics_lookup(key("u\x1f"
                                             "a"),
                                         2));
}
END_TEST

static bool skip_one(int slot, void *arg)
{
    return slot == *(int *)arg;
}

START_TEST(test_sum_doubles)
{
    ck_assert_int_eq(mg_metrics_init(3), MG_OK);
    mg_metrics_attach(0);
    uint64_t *a = mg_metrics_series(key("d"), 2, 0);
    set_double(&a[0], 1.5);
    set_double(&a[1], 2.25);
    mg_metrics_attach(1);
    uint64_t *b = mg_metrics_series(key("d"), 2, 0);
    set_double(&b[0], 0.5);
    set_double(&b[1], -1);
    double out[2];
    ck_assert_uint_eq(mg_metrics_sum_f(key("d"), 2, NULL, NULL, out), 2);
    ck_assert(out[0] == 2.0 && out[1] == 1.25);
    int skip = 1;
    ck_assert_uint_eq(mg_metrics_sum_f(key("d"), 2, skip_one, &skip, out), 1);
    ck_assert(out[0] == 1.5 && out[1] == 2.25);
    ck_assert_uint_eq(mg_metrics_sum_f(key("none"), 2, NULL, NULL, out), 0);
    ck_assert(out[0] == 0 && out[1] == 0);
}
END_TEST

START_TEST(test_gauges_zeroed_for_the_next_worker)
{
    ck_assert_int_eq(mg_metrics_init(2), MG_OK);
    mg_metrics_attach(0);
    mg_metrics_add(mg_metrics_series(key("g"), 1, MG_METRICS_GAUGE), 5);
    mg_metrics_add(mg_metrics_series(key("c"), 1, 0), 7);
    mg_metrics_attach(0); /* a new worker in the slot */
    ck_assert_uint_eq(*mg_metrics_lookup(key("g"), 1), 0);
    ck_assert_uint_eq(*mg_metrics_lookup(key("c"), 1), 7);
}
END_TEST

START_TEST(test_histogram_buckets)
{
    const double bounds[] = {0.01, 0.1, 1};
    uint64_t h[MG_METRICS_HIST_CELLS(3)] = {0};
    mg_metrics_observe(h, bounds, 3, 0.01); /* a bound is its bucket's: le */
    mg_metrics_observe(h, bounds, 3, 0.05);
    mg_metrics_observe(h, bounds, 3, 5);
    mg_metrics_observe(h, bounds, 3, -1); /* clamped to 0 */
    ck_assert_uint_eq(h[0], 2);
    ck_assert_uint_eq(h[1], 1);
    ck_assert_uint_eq(h[2], 0);
    ck_assert_uint_eq(h[3], 1);
    ck_assert_uint_eq(h[4], 5060000000ull); /* the sum in ns */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_store");
    TCase *tc = tcase_create("regions");
    tcase_add_test(tc, test_lookup_never_adds);
    tcase_add_test(tc, test_sum_doubles);
    tcase_add_test(tc, test_gauges_zeroed_for_the_next_worker);
    tcase_add_test(tc, test_histogram_buckets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
