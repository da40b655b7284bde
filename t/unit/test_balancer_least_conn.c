/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <stdlib.h>

#include "balancer_fixture.h"

static fx_t f;

static void set_inflight(int i, int64_t v)
{
    atomic_store(&f.slots[i].inflight, v);
}

/* The least loaded per weight wins, whatever the order. */
START_TEST(test_prefers_least_loaded)
{
    const int w[] = {1, 1, 1};
    ck_assert_int_eq(fx_init(&f, MG_LB_LEAST_CONN, w, 3), MG_OK);
    set_inflight(0, 5);
    set_inflight(1, 2);
    set_inflight(2, 9);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(mg_balancer_pick(&f.b, NULL), 1);
    }
    mg_balancer_ctx_t ctx = {0};
    mg_balancer_skip(&ctx, 1);
    ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), 0); /* next least loaded */
    mg_balancer_dispose(&f.b);
}
END_TEST

/* Weights: a node of weight 3 may carry three times the requests of a node of weight 1
 * before the other one is preferred. */
START_TEST(test_weights_honoured)
{
    const int w[] = {3, 1};
    ck_assert_int_eq(fx_init(&f, MG_LB_LEAST_CONN, w, 2), MG_OK);
    set_inflight(0, 2);
    set_inflight(1, 1);
    ck_assert_int_eq(mg_balancer_pick(&f.b, NULL), 0); /* 2/3 < 1/1 */
    set_inflight(0, 4);
    ck_assert_int_eq(mg_balancer_pick(&f.b, NULL), 1); /* 4/3 > 1/1 */
    /* requests that stay in flight: the loads end up proportional to the weights */
    set_inflight(0, 0);
    set_inflight(1, 0);
    for (int i = 0; i < 400; i++) {
        int k = mg_balancer_pick(&f.b, NULL);
        atomic_fetch_add(&f.slots[k].inflight, 1);
    }
    ck_assert_int_eq(atomic_load(&f.slots[0].inflight), 300);
    ck_assert_int_eq(atomic_load(&f.slots[1].inflight), 100);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* Ties (an idle upstream) go round robin by weight, not always to the first node. */
START_TEST(test_ties_round_robin)
{
    const int w[] = {3, 1, 1};
    ck_assert_int_eq(fx_init(&f, MG_LB_LEAST_CONN, w, 3), MG_OK);
    int counts[3] = {0};
    for (int i = 0; i < 5000; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
    ck_assert_int_eq(counts[0], 3000);
    ck_assert_int_eq(counts[1], 1000);
    ck_assert_int_eq(counts[2], 1000);
    /* two tied among three: only those two, alternating */
    set_inflight(0, 30);
    int last = -1;
    for (int i = 0; i < 10; i++) {
        int k = mg_balancer_pick(&f.b, NULL);
        ck_assert(k == 1 || k == 2);
        ck_assert_int_ne(k, last);
        last = k;
    }
    mg_balancer_dispose(&f.b);
}
END_TEST

/* A negative count (never expected) reads as zero rather than winning forever. */
START_TEST(test_negative_reads_as_zero)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_LEAST_CONN, NULL, 2), MG_OK);
    set_inflight(0, -5);
    int counts[2] = {0};
    for (int i = 0; i < 10; i++) {
        counts[mg_balancer_pick(&f.b, NULL)]++;
    }
    ck_assert_int_eq(counts[0], 5);
    mg_balancer_dispose(&f.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("least_conn");
    TCase *tc = tcase_create("least_conn");
    tcase_add_test(tc, test_prefers_least_loaded);
    tcase_add_test(tc, test_weights_honoured);
    tcase_add_test(tc, test_ties_round_robin);
    tcase_add_test(tc, test_negative_reads_as_zero);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
