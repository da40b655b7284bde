/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "balancer_fixture.h"
#include "clock.h"

static fx_t f;

static void measured(int i, double ewma, double age)
{
    atomic_store(&f.slots[i].ewma, ewma);
    atomic_store(&f.slots[i].ewma_stamp, mg_mono_now() - age);
}

static void count(int *counts, int n)
{
    for (int i = 0; i < n; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
}

/* A faster node gets the requests; a slower one only once the fast one's queue makes
 * it costlier. */
START_TEST(test_prefers_faster)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_EWMA, NULL, 2), MG_OK);
    measured(0, 0.050, 0);
    measured(1, 0.001, 0);
    int counts[2] = {0};
    count(counts, 1000);
    ck_assert_int_eq(counts[1], 1000);
    atomic_store(&f.slots[1].inflight, 60); /* 1 ms x 61 > 50 ms x 1 */
    memset(counts, 0, sizeof(counts));
    count(counts, 100);
    ck_assert_int_eq(counts[0], 100);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* A node never measured costs nothing: it is tried first, so it gets measured. */
START_TEST(test_samples_unmeasured)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_EWMA, NULL, 3), MG_OK);
    measured(0, 0.002, 0);
    measured(1, 0.050, 0);
    int counts[3] = {0};
    count(counts, 3000);
    /* node 2 wins whenever it is a candidate (2 pairs of 3), node 1 never */
    ck_assert_msg(counts[2] > 1800 && counts[2] < 2200, "unmeasured: %d", counts[2]);
    ck_assert_int_eq(counts[1], 0);
    mg_balancer_observe(&f.b, 2, false, 0.030);
    ck_assert(fabs(atomic_load(&f.slots[2].ewma) - 0.030) < 1e-9);
    memset(counts, 0, sizeof(counts));
    count(counts, 1000);
    ck_assert_int_eq(counts[0], 1000 - counts[2]);
    ck_assert_int_lt(counts[2], 700); /* now costlier than node 0 */
    mg_balancer_dispose(&f.b);
}
END_TEST

/* The first sample is taken as is; later ones weigh by the time since the previous one
 * (tau 10 s), so a burst of samples barely moves it and one a tau later moves it by
 * 1 - 1/e; a failure counts at once as at least 1 s. */
START_TEST(test_observe)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_EWMA, NULL, 2), MG_OK);
    mg_balancer_observe(&f.b, 0, false, 0.010);
    ck_assert(fabs(atomic_load(&f.slots[0].ewma) - 0.010) < 1e-12);
    mg_balancer_observe(&f.b, 0, false, 0.040); /* right after: almost no weight */
    ck_assert(fabs(atomic_load(&f.slots[0].ewma) - 0.010) < 0.0001);
    atomic_store(&f.slots[0].ewma, 0.040);
    atomic_store(&f.slots[0].ewma_stamp, mg_mono_now() - 10); /* one tau ago */
    mg_balancer_observe(&f.b, 0, false, 0.010);
    double want = 0.040 / M_E + 0.010 * (1 - 1 / M_E);
    double got = atomic_load(&f.slots[0].ewma);
    ck_assert_msg(fabs(got - want) < 0.0005, "got %f want %f", got, want);
    mg_balancer_observe(&f.b, 0, true, 0.0001); /* a failure: at once */
    ck_assert(atomic_load(&f.slots[0].ewma) >= 1.0);
    mg_balancer_observe(&f.b, 1, true, 0.0001);
    ck_assert(atomic_load(&f.slots[1].ewma) >= 1.0);
    mg_balancer_observe(&f.b, 1, false, -1); /* no sample */
    ck_assert(atomic_load(&f.slots[1].ewma) >= 1.0);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* An estimate decays with its age: a node that lost every comparison long ago is
 * tried again. */
START_TEST(test_old_estimates_decay)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_EWMA, NULL, 2), MG_OK);
    measured(0, 0.050, 100); /* 50 ms, 100 s ago: about 2 us now */
    measured(1, 0.001, 0);
    int counts[2] = {0};
    count(counts, 100);
    ck_assert_int_eq(counts[0], 100);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* Weights divide the cost. */
START_TEST(test_weights)
{
    const int w[] = {10, 1};
    ck_assert_int_eq(fx_init(&f, MG_LB_EWMA, w, 2), MG_OK);
    measured(0, 0.005, 0);
    measured(1, 0.001, 0); /* 5 ms / 10 beats 1 ms / 1 */
    int counts[2] = {0};
    count(counts, 100);
    ck_assert_int_eq(counts[0], 100);
    mg_balancer_dispose(&f.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ewma");
    TCase *tc = tcase_create("ewma");
    tcase_add_test(tc, test_prefers_faster);
    tcase_add_test(tc, test_samples_unmeasured);
    tcase_add_test(tc, test_observe);
    tcase_add_test(tc, test_old_estimates_decay);
    tcase_add_test(tc, test_weights);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
