/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <stdlib.h>

#include "balancer_fixture.h"

static fx_t fa, fb;

/* The same address goes to the same node, in any worker, for IPv4 and IPv6; a skipped
 * node sends it to a stable other one. */
START_TEST(test_stable)
{
    ck_assert_int_eq(fx_init(&fa, MG_LB_IP_HASH, NULL, 4), MG_OK);
    ck_assert_int_eq(fx_init(&fb, MG_LB_IP_HASH, NULL, 4), MG_OK);
    const char *addrs[] = {"192.0.2.1",   "192.0.2.2", "198.51.100.7", "2001:db8::1",
                           "2001:db8::2", "::1",       "127.0.0.1"};
    for (size_t i = 0; i < MG_NELEMS(addrs); i++) {
        mg_balancer_ctx_t ctx = fx_key(addrs[i]);
        int k = mg_balancer_pick(&fa.b, &ctx);
        for (int j = 0; j < 20; j++) {
            ck_assert_int_eq(mg_balancer_pick(&fa.b, &ctx), k);
            ck_assert_int_eq(mg_balancer_pick(&fb.b, &ctx), k);
        }
        mg_balancer_skip(&ctx, (size_t)k);
        int next = mg_balancer_pick(&fa.b, &ctx);
        ck_assert(next >= 0 && next != k);
        ck_assert_int_eq(mg_balancer_pick(&fb.b, &ctx), next);
    }
    mg_balancer_dispose(&fa.b);
    mg_balancer_dispose(&fb.b);
}
END_TEST

/* Many clients spread by weight. */
START_TEST(test_weighted_spread)
{
    const int w[] = {1, 2, 5};
    ck_assert_int_eq(fx_init(&fa, MG_LB_IP_HASH, w, 3), MG_OK);
    int counts[3] = {0};
    char key[64];
    for (int i = 0; i < 40000; i++) {
        snprintf(key, sizeof(key), i % 2 ? "10.%d.%d.1" : "2001:db8:%x::%x", i / 200, i % 200);
        mg_balancer_ctx_t ctx = fx_key(key);
        counts[mg_balancer_pick(&fa.b, &ctx)]++;
    }
    for (int i = 0; i < 3; i++) {
        double want = 40000.0 * w[i] / 8;
        ck_assert_msg(counts[i] > want * 0.9 && counts[i] < want * 1.1, "node %d: %d", i,
                      counts[i]);
    }
    mg_balancer_dispose(&fa.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ip_hash");
    TCase *tc = tcase_create("ip_hash");
    tcase_add_test(tc, test_stable);
    tcase_add_test(tc, test_weighted_spread);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
