/* deps: metrics_store */
/*
 * The series store behind GET /metrics. Regions are plain shared memory, so one process
 * plays several workers by attaching one slot after another. Each test works in slots
 * and keys of its own, so the tests pass in one process (CK_FORK=no) as well as forked.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_store.h"

#define SLOTS 12

static void setup(void)
{
    ck_assert_int_eq(mg_metrics_init(SLOTS), MG_OK);
}

static mg_str_t key_of(char *buf, size_t cap, const char *fmt, int i)
{
    int n = snprintf(buf, cap, fmt, MG_METRICS_SEP, i);
    return mg_str(buf, (size_t)n);
}

START_TEST(test_series_found_again)
{
    mg_metrics_attach(0);
    size_t before = mg_metrics_count();
    uint64_t *a = mg_metrics_series(MG_STR("f\x1froute\x1fup"), 3, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a[0] + a[1] + a[2], 0);
    mg_metrics_add(&a[1], 7);
    ck_assert_ptr_eq(mg_metrics_series(MG_STR("f\x1froute\x1fup"), 3, 0), a);
    ck_assert_uint_eq(a[1], 7);
    /* the same key with another number of cells is another series */
    uint64_t *b = mg_metrics_series(MG_STR("f\x1froute\x1fup"), 4, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_uint_eq(b[1], 0);
    /* and a key that only starts like it too */
    uint64_t *c = mg_metrics_series(MG_STR("f\x1froute\x1fu"), 3, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(a, c);
    ck_assert_uint_eq(mg_metrics_count(), before + 3);
    /* out of range */
    ck_assert_ptr_null(mg_metrics_series(MG_STR("f\x1fzero"), 0, 0));
    ck_assert_ptr_null(mg_metrics_series(MG_STR("f\x1f"
                                                "big"),
                                         MG_METRICS_MAX_CELLS + 1, 0));
    ck_assert_ptr_nonnull(mg_metrics_series(MG_STR("f\x1fmax"), MG_METRICS_MAX_CELLS, 0));
    char *huge = calloc(1, 70000);
    ck_assert_ptr_null(mg_metrics_series(mg_str(huge, 70000), 1, 0));
    free(huge);
    /* a slot out of range leaves this process without a region */
    mg_metrics_attach(SLOTS);
    ck_assert_ptr_null(mg_metrics_series(MG_STR("f\x1froute\x1fup"), 3, 0));
    ck_assert_uint_eq(mg_metrics_count(), 0);
    mg_metrics_attach(-1);
    ck_assert_ptr_null(mg_metrics_series(MG_STR("f\x1froute\x1fup"), 3, 0));
}
END_TEST

START_TEST(test_full_by_count)
{
    mg_metrics_attach(1);
    char buf[32];
    uint64_t *first = mg_metrics_series(key_of(buf, sizeof(buf), "n%c%d", 0), 1, 0);
    ck_assert_ptr_nonnull(first);
    for (int i = 1; i < MG_METRICS_SERIES + 10; i++) {
        if (mg_metrics_series(key_of(buf, sizeof(buf), "n%c%d", i), 1, 0) == NULL) {
            break;
        }
    }
    /* small series: the ceiling of series comes before the bytes run out */
    ck_assert_uint_eq(mg_metrics_count(), MG_METRICS_SERIES);
    ck_assert_ptr_null(mg_metrics_series(MG_STR("n\x1fnew"), 1, 0));
    ck_assert_ptr_null(mg_metrics_series(MG_STR("n\x1fnew"), 2, 0));
    /* what is there is still found */
    ck_assert_ptr_eq(mg_metrics_series(key_of(buf, sizeof(buf), "n%c%d", 0), 1, 0), first);
    ck_assert_ptr_nonnull(mg_metrics_series(key_of(buf, sizeof(buf), "n%c%d", 4000), 1, 0));
    ck_assert_uint_eq(mg_metrics_count(), MG_METRICS_SERIES);
    /* another slot is another region, with room of its own */
    mg_metrics_attach(9);
    ck_assert_ptr_nonnull(mg_metrics_series(MG_STR("n\x1fnew"), 1, 0));
}
END_TEST

START_TEST(test_full_by_bytes)
{
    mg_metrics_attach(2);
    char buf[32];
    int i = 0;
    while (mg_metrics_series(key_of(buf, sizeof(buf), "w%c%d", i), MG_METRICS_MAX_CELLS, 0) !=
           NULL) {
        i++;
        ck_assert_int_lt(i, MG_METRICS_SERIES);
    }
    /* 2 KiB series: the bytes run out long before the ceiling of series */
    size_t per = MG_METRICS_MAX_CELLS * sizeof(uint64_t);
    ck_assert_int_gt(i, (int)(MG_METRICS_REGION / per / 2));
    ck_assert_int_le(i, (int)(MG_METRICS_REGION / per));
    ck_assert_uint_eq(mg_metrics_count(), (size_t)i);
    ck_assert_ptr_null(
        mg_metrics_series(key_of(buf, sizeof(buf), "w%c%d", i), MG_METRICS_MAX_CELLS, 0));
    /* every series got its own cells: none overlaps the next */
    for (int k = 0; k < i; k++) {
        uint64_t *c =
            mg_metrics_series(key_of(buf, sizeof(buf), "w%c%d", k), MG_METRICS_MAX_CELLS, 0);
        ck_assert_ptr_nonnull(c);
        mg_metrics_set(&c[0], (uint64_t)k);
        mg_metrics_set(&c[MG_METRICS_MAX_CELLS - 1], (uint64_t)k);
    }
    for (int k = 0; k < i; k++) {
        uint64_t *c =
            mg_metrics_series(key_of(buf, sizeof(buf), "w%c%d", k), MG_METRICS_MAX_CELLS, 0);
        ck_assert_uint_eq(c[0], (uint64_t)k);
        ck_assert_uint_eq(c[MG_METRICS_MAX_CELLS - 1], (uint64_t)k);
    }
}
END_TEST

static bool skip_slot(int slot, void *arg)
{
    return slot == *(int *)arg;
}

START_TEST(test_sum_over_slots)
{
    mg_str_t k = MG_STR("s\x1f"
                        "api\x1f"
                        "users");
    uint64_t *c;
    mg_metrics_attach(3);
    c = mg_metrics_series(k, 2, 0);
    mg_metrics_add(&c[0], 1);
    mg_metrics_add(&c[1], 10);
    mg_metrics_attach(4);
    c = mg_metrics_series(k, 2, 0);
    mg_metrics_add(&c[0], 2);
    mg_metrics_add(&c[1], 20);
    mg_metrics_add(&c[1], 5);
    mg_metrics_attach(5);
    ck_assert_ptr_nonnull(mg_metrics_series(MG_STR("s\x1fother"), 2, 0));

    uint64_t out[2] = {99, 99};
    ck_assert_uint_eq(mg_metrics_sum(k, 2, NULL, NULL, out), 2);
    ck_assert_uint_eq(out[0], 3);
    ck_assert_uint_eq(out[1], 35);
    /* the sum reads the regions, not this process's own: any worker scrapes all */
    mg_metrics_attach(-1);
    ck_assert_uint_eq(mg_metrics_sum(k, 2, NULL, NULL, out), 2);
    ck_assert_uint_eq(out[1], 35);
    /* a slot the caller says to skip */
    int skipped = 4;
    ck_assert_uint_eq(mg_metrics_sum(k, 2, skip_slot, &skipped, out), 1);
    ck_assert_uint_eq(out[0], 1);
    ck_assert_uint_eq(out[1], 10);
    /* an unknown key, or the key with another cell count: zeros, from no region */
    out[0] = out[1] = 99;
    ck_assert_uint_eq(mg_metrics_sum(MG_STR("s\x1fnone"), 2, NULL, NULL, out), 0);
    ck_assert_uint_eq(out[0] + out[1], 0);
    uint64_t three[3];
    ck_assert_uint_eq(mg_metrics_sum(k, 3, NULL, NULL, three), 0);
}
END_TEST

typedef struct {
    int calls;
    char keys[256][32];
    uint32_t ncells[256];
    unsigned flags[256];
} seen_t;

static void on_key(mg_str_t key, uint32_t ncells, unsigned flags, void *arg)
{
    seen_t *s = arg;
    if (s->calls < 256) {
        snprintf(s->keys[s->calls], sizeof(s->keys[0]), "%.*s", (int)key.len, key.p);
        s->ncells[s->calls] = ncells;
        s->flags[s->calls] = flags;
    }
    s->calls++;
}

static int times_seen(const seen_t *s, const char *key, uint32_t ncells)
{
    int n = 0;
    for (int i = 0; i < s->calls && i < 256; i++) {
        n += strcmp(s->keys[i], key) == 0 && s->ncells[i] == ncells;
    }
    return n;
}

START_TEST(test_each_dedupes_and_filters)
{
    mg_metrics_attach(6);
    mg_metrics_series(MG_STR("e\x1f"
                             "a"),
                      1, 0);
    mg_metrics_series(MG_STR("e\x1f"
                             "b"),
                      2, 0);
    mg_metrics_series(MG_STR("x\x1f"
                             "c"),
                      1, 0);
    mg_metrics_attach(7);
    mg_metrics_series(MG_STR("e\x1f"
                             "b"),
                      2, 0);
    mg_metrics_series(MG_STR("e\x1f"
                             "b"),
                      3, MG_METRICS_GAUGE);
    mg_metrics_series(MG_STR("e\x1f"
                             "c"),
                      1, 0);

    seen_t *s = calloc(1, sizeof(*s));
    ck_assert_int_eq(mg_metrics_each(MG_STR("e\x1f"), on_key, s), 4);
    ck_assert_int_eq(s->calls, 4);
    ck_assert_int_eq(times_seen(s,
                                "e\x1f"
                                "a",
                                1),
                     1);
    ck_assert_int_eq(times_seen(s,
                                "e\x1f"
                                "b",
                                2),
                     1);
    ck_assert_int_eq(times_seen(s,
                                "e\x1f"
                                "b",
                                3),
                     1);
    ck_assert_int_eq(times_seen(s,
                                "e\x1f"
                                "c",
                                1),
                     1);
    for (int i = 0; i < s->calls; i++) {
        ck_assert_uint_eq(s->flags[i], s->ncells[i] == 3 ? MG_METRICS_GAUGE : 0);
    }
    memset(s, 0, sizeof(*s));
    ck_assert_int_eq(mg_metrics_each(MG_STR("x\x1f"), on_key, s), 1);
    ck_assert_str_eq(s->keys[0], "x\x1f"
                                 "c");
    memset(s, 0, sizeof(*s));
    ck_assert_int_eq(mg_metrics_each(MG_STR("nothing-starts-so"), on_key, s), 0);
    ck_assert_int_eq(s->calls, 0);

    /* enough keys for the set of keys seen to grow, in both regions */
    char buf[32];
    for (int slot = 6; slot <= 7; slot++) {
        mg_metrics_attach(slot);
        for (int i = 0; i < 200; i++) {
            ck_assert_ptr_nonnull(mg_metrics_series(key_of(buf, sizeof(buf), "g%c%d", i), 1, 0));
        }
    }
    memset(s, 0, sizeof(*s));
    ck_assert_int_eq(mg_metrics_each(MG_STR("g\x1f"), on_key, s), 200);
    ck_assert_int_eq(s->calls, 200);
    for (int i = 0; i < 200; i += 37) {
        ck_assert_int_eq(times_seen(s, key_of(buf, sizeof(buf), "g%c%d", i).p, 1), 1);
    }
    free(s);
}
END_TEST

START_TEST(test_gauges_zeroed_on_attach)
{
    mg_metrics_attach(8);
    uint64_t *cnt = mg_metrics_series(MG_STR("z\x1f"
                                             "count"),
                                      2, 0);
    uint64_t *g = mg_metrics_series(MG_STR("z\x1f"
                                           "gauge"),
                                    2, MG_METRICS_GAUGE);
    mg_metrics_add(&cnt[0], 5);
    mg_metrics_add(&cnt[1], 6);
    mg_metrics_set(&g[0], 7);
    mg_metrics_set(&g[1], 8);
    size_t n = mg_metrics_count();

    /* the next worker in the slot: the history goes on, the current state does not */
    mg_metrics_attach(8);
    ck_assert_uint_eq(mg_metrics_count(), n);
    ck_assert_ptr_eq(mg_metrics_series(MG_STR("z\x1f"
                                              "count"),
                                       2, 0),
                     cnt);
    ck_assert_ptr_eq(mg_metrics_series(MG_STR("z\x1f"
                                              "gauge"),
                                       2, MG_METRICS_GAUGE),
                     g);
    ck_assert_uint_eq(cnt[0], 5);
    ck_assert_uint_eq(cnt[1], 6);
    ck_assert_uint_eq(g[0], 0);
    ck_assert_uint_eq(g[1], 0);
    uint64_t out[2];
    ck_assert_uint_eq(mg_metrics_sum(MG_STR("z\x1f"
                                            "count"),
                                     2, NULL, NULL, out),
                      1);
    ck_assert_uint_eq(out[0] + out[1], 11);

    /* a slot never attached is a fresh region */
    mg_metrics_attach(10);
    ck_assert_uint_eq(mg_metrics_count(), 0);
    ck_assert_uint_eq(mg_metrics_series(MG_STR("z\x1f"
                                               "count"),
                                        2, 0)[0],
                      0);
}
END_TEST

START_TEST(test_observe_buckets)
{
    static const double bounds[] = {0.1, 0.5, 1};
    uint64_t h[MG_METRICS_HIST_CELLS(3)] = {0};
    ck_assert_uint_eq(MG_NELEMS(h), 5);
    mg_metrics_observe(h, bounds, 3, 0.05);
    ck_assert_uint_eq(h[0], 1);
    /* a bound is an upper bound, inclusive (Prometheus' `le`) */
    mg_metrics_observe(h, bounds, 3, 0.1);
    ck_assert_uint_eq(h[0], 2);
    mg_metrics_observe(h, bounds, 3, 0.1000001);
    ck_assert_uint_eq(h[1], 1);
    mg_metrics_observe(h, bounds, 3, 0.5);
    ck_assert_uint_eq(h[1], 2);
    mg_metrics_observe(h, bounds, 3, 1);
    ck_assert_uint_eq(h[2], 1);
    /* above every bound: the overflow cell */
    mg_metrics_observe(h, bounds, 3, 1.5);
    mg_metrics_observe(h, bounds, 3, 3600);
    ck_assert_uint_eq(h[3], 2);
    /* a negative time (a clock step) counts as 0 */
    mg_metrics_observe(h, bounds, 3, -1);
    ck_assert_uint_eq(h[0], 3);
    ck_assert_uint_eq(h[0] + h[1] + h[2] + h[3], 8);
    /* the sum in nanoseconds, each observation rounded */
    ck_assert_uint_eq(h[4], 50000000ull + 100000000ull + 100000100ull + 500000000ull +
                                1000000000ull + 1500000000ull + 3600000000000ull);

    uint64_t one[MG_METRICS_HIST_CELLS(1)] = {0};
    static const double b1[] = {0.001};
    mg_metrics_observe(one, b1, 1, 1e-9);
    mg_metrics_observe(one, b1, 1, 4e-10);
    mg_metrics_observe(one, b1, 1, 0.001);
    mg_metrics_observe(one, b1, 1, 0.0010001);
    ck_assert_uint_eq(one[0], 3);
    ck_assert_uint_eq(one[1], 1);
    ck_assert_uint_eq(one[2], 1 + 0 + 1000000 + 1000100);
}
END_TEST

START_TEST(test_observe_into_a_series)
{
    static const double bounds[] = {0.005, 0.05, 0.5};
    mg_metrics_attach(11);
    uint64_t *h = mg_metrics_series(MG_STR("h\x1froute"), MG_METRICS_HIST_CELLS(3), 0);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < 10; i++) {
        mg_metrics_observe(h, bounds, 3, 0.01);
    }
    mg_metrics_observe(h, bounds, 3, 2);
    uint64_t out[MG_METRICS_HIST_CELLS(3)];
    mg_metrics_sum(MG_STR("h\x1froute"), MG_METRICS_HIST_CELLS(3), NULL, NULL, out);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_uint_eq(out[1], 10);
    ck_assert_uint_eq(out[2], 0);
    ck_assert_uint_eq(out[3], 1);
    ck_assert_uint_eq(out[4], 2100000000ull);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_series_found_again);
    tcase_add_test(tc, test_full_by_count);
    tcase_add_test(tc, test_full_by_bytes);
    tcase_add_test(tc, test_sum_over_slots);
    tcase_add_test(tc, test_each_dedupes_and_filters);
    tcase_add_test(tc, test_gauges_zeroed_on_attach);
    tcase_add_test(tc, test_observe_buckets);
    tcase_add_test(tc, test_observe_into_a_series);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
