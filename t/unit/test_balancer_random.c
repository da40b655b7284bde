/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <stdlib.h>

#include "balancer_fixture.h"

static fx_t f;

/* Nothing in flight: weighted random. */
START_TEST(test_weighted)
{
    const int w[] = {1, 3};
    ck_assert_int_eq(fx_init(&f, MG_LB_RANDOM, w, 2), MG_OK);
    int counts[2] = {0};
    for (int i = 0; i < 40000; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
    ck_assert_msg(counts[1] > 29000 && counts[1] < 31000, "weight 3 of 4: %d", counts[1]);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* Of the two candidates, the one with fewer in flight per weight wins: the busiest
 * node of three is never picked, the others about evenly. */
START_TEST(test_two_choices)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_RANDOM, NULL, 3), MG_OK);
    atomic_store(&f.slots[0].inflight, 4);
    atomic_store(&f.slots[1].inflight, 4);
    atomic_store(&f.slots[2].inflight, 9);
    int counts[3] = {0};
    for (int i = 0; i < 30000; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
    ck_assert_int_eq(counts[2], 0);
    ck_assert(counts[0] > 13500 && counts[1] > 13500);
    /* the least loaded wins every pair it is in: 2 of the 3 pairs */
    atomic_store(&f.slots[1].inflight, 0);
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 30000; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
    ck_assert_msg(counts[1] > 18000 && counts[1] < 22000, "least loaded: %d", counts[1]);
    ck_assert_int_eq(counts[2], 0);
    mg_balancer_dispose(&f.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("random");
    tcase_add_test(tc, test_weighted);
    tcase_add_test(tc, test_two_choices);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
