/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <stdlib.h>

#include "balancer_fixture.h"

#define NKEYS 100000

static fx_t fa, fb; /* large: not on the stack */

/* The address of the node each of NKEYS keys goes to. */
static void assign(fx_t *f, const char **out)
{
    char key[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        mg_balancer_ctx_t ctx = fx_key(key);
        int k = mg_balancer_pick(&f->b, &ctx);
        ck_assert_int_ge(k, 0);
        out[i] = f->addrs[k];
    }
}

/* Adding one node to N moves about 1/(N+1) of the keys, all to the new node; removing
 * one moves about 1/N, exactly the keys it had. Never more than 1.5/N. */
static void check_remap(size_t n)
{
    static const char *before[NKEYS], *after[NKEYS];
    ck_assert_int_eq(fx_init(&fa, MG_LB_CHASH, NULL, n), MG_OK);
    assign(&fa, before);

    /* add node n (same addresses for 0..n-1) */
    ck_assert_int_eq(fx_init(&fb, MG_LB_CHASH, NULL, n + 1), MG_OK);
    assign(&fb, after);
    int moved = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (before[i] != after[i] && strcmp(before[i], after[i]) != 0) {
            moved++;
            ck_assert_str_eq(after[i], fb.addrs[n]); /* only to the new node */
        }
    }
    double share = (double)moved / NKEYS;
    ck_assert_msg(share > 0.5 / (double)(n + 1) && share < 1.5 / (double)(n + 1),
                  "adding 1 node to %zu moved %.4f of the keys (ideal %.4f)", n, share,
                  1.0 / (double)(n + 1));
    ck_assert_msg(share < 1.5 / (double)n, "more than 1.5/N moved");
    mg_balancer_dispose(&fb.b);

    /* remove the node at index 3: build from nodes 0..2 and 4..n-1 */
    ck_assert_int_eq(fx_init(&fb, MG_LB_CHASH, NULL, n - 1), MG_OK);
    mg_balancer_dispose(&fb.b);
    for (size_t i = 3; i < n - 1; i++) {
        snprintf(fb.addrs[i], sizeof(fb.addrs[i]), "%s", fa.addrs[i + 1]);
    }
    ck_assert_int_eq(mg_balancer_init(&fb.b, &fb.u, fb.states), MG_OK);
    assign(&fb, after);
    moved = 0;
    int had = 0;
    for (int i = 0; i < NKEYS; i++) {
        bool was_removed = strcmp(before[i], fa.addrs[3]) == 0;
        had += was_removed;
        if (strcmp(before[i], after[i]) != 0) {
            moved++;
            ck_assert(was_removed); /* nobody else's keys move */
        }
    }
    ck_assert_int_eq(moved, had);
    share = (double)moved / NKEYS;
    ck_assert_msg(share > 0.5 / (double)n && share < 1.5 / (double)n,
                  "removing 1 node of %zu moved %.4f of the keys (ideal %.4f)", n, share,
                  1.0 / (double)n);
    mg_balancer_dispose(&fb.b);
    mg_balancer_dispose(&fa.b);
}

START_TEST(test_remap_share)
{
    check_remap(10);
    check_remap(5);
    check_remap(20);
}
END_TEST

START_TEST(test_weights_proportional)
{
    const int w[] = {1, 2, 3, 4};
    ck_assert_int_eq(fx_init(&fa, MG_LB_CHASH, w, 4), MG_OK);
    int counts[4] = {0};
    char key[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        mg_balancer_ctx_t ctx = fx_key(key);
        counts[mg_balancer_pick(&fa.b, &ctx)]++;
    }
    for (int i = 0; i < 4; i++) {
        double want = NKEYS * w[i] / 10.0;
        ck_assert_msg(counts[i] > want * 0.85 && counts[i] < want * 1.15,
                      "node %d (weight %d) got %d keys, expected about %.0f", i, w[i], counts[i],
                      want);
    }
    mg_balancer_dispose(&fa.b);
}
END_TEST

START_TEST(test_stable_and_skip)
{
    ck_assert_int_eq(fx_init(&fa, MG_LB_CHASH, NULL, 5), MG_OK);
    ck_assert_int_eq(fx_init(&fb, MG_LB_CHASH, NULL, 5), MG_OK);
    char key[32];
    int moved_elsewhere[5] = {0};
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "session-%d", i);
        mg_balancer_ctx_t ctx = fx_key(key);
        int k = mg_balancer_pick(&fa.b, &ctx);
        ck_assert_int_eq(mg_balancer_pick(&fa.b, &ctx), k); /* same key, same node */
        ck_assert_int_eq(mg_balancer_pick(&fb.b, &ctx), k); /* in another worker too */
        mg_balancer_skip(&ctx, (size_t)k);
        int next = mg_balancer_pick(&fa.b, &ctx);
        ck_assert_int_ne(next, k);
        ck_assert_int_ge(next, 0);
        ck_assert_int_eq(mg_balancer_pick(&fa.b, &ctx), next); /* a stable fallback */
        if (k == 0) {
            moved_elsewhere[next]++;
        }
    }
    /* node 0's keys spread over the others instead of all landing on one */
    int used = 0;
    for (int i = 1; i < 5; i++) {
        used += moved_elsewhere[i] > 0;
    }
    ck_assert_int_ge(used, 3);
    mg_balancer_ctx_t ctx = fx_key("x");
    ctx.skip[0] = 0x1f;
    ck_assert_int_eq(mg_balancer_pick(&fa.b, &ctx), -1);
    ck_assert_int_ge(mg_balancer_pick(&fa.b, NULL), 0); /* no key: still a node */
    mg_balancer_dispose(&fa.b);
    mg_balancer_dispose(&fb.b);
}
END_TEST

START_TEST(test_big_weights_capped)
{
    int w[FX_MAX];
    for (int i = 0; i < FX_MAX; i++) {
        w[i] = 1000;
    }
    ck_assert_int_eq(fx_init(&fa, MG_LB_CHASH, w, FX_MAX), MG_OK);
    int counts[FX_MAX] = {0};
    char key[32];
    for (int i = 0; i < 64000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        mg_balancer_ctx_t ctx = fx_key(key);
        counts[mg_balancer_pick(&fa.b, &ctx)]++;
    }
    for (int i = 0; i < FX_MAX; i++) {
        ck_assert_int_gt(counts[i], 500); /* ideal 1000 */
    }
    mg_balancer_dispose(&fa.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer_chash");
    TCase *tc = tcase_create("chash");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_remap_share);
    tcase_add_test(tc, test_weights_proportional);
    tcase_add_test(tc, test_stable_and_skip);
    tcase_add_test(tc, test_big_weights_capped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
