/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky balancer_key http_values pool str */
#include <check.h>
#include <stdlib.h>

#include "balancer.h"

#include "balancer_fixture.h"
#include "conf.h"

static mg_node_conf_t nodes[8];

static mg_upstream_conf_t upstream_with(const int *weights, size_t n)
{
    mg_upstream_conf_t u;
    memset(&u, 0, sizeof(u));
    memset(nodes, 0, sizeof(nodes));
    for (size_t i = 0; i < n; i++) {
        nodes[i].weight = weights[i];
    }
    u.name = "test";
    u.balancer = MG_LB_ROUNDROBIN;
    u.nodes = nodes;
    u.nnodes = n;
    return u;
}

START_TEST(test_smooth_sequence)
{
    const int w[] = {5, 1, 1};
    mg_upstream_conf_t u = upstream_with(w, 3);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    ck_assert_str_eq(b.ops->name, "roundrobin");
    mg_balancer_ctx_t ctx = {0};
    char seq[15] = {0};
    for (int i = 0; i < 14; i++) {
        seq[i] = (char)('a' + mg_balancer_pick(&b, &ctx));
    }
    ck_assert_str_eq(seq, "aabacaaaabacaa"); /* the cycle repeats */
    mg_balancer_dispose(&b);
    mg_balancer_dispose(&b); /* idempotent */
}
END_TEST

START_TEST(test_exact_proportions)
{
    const int w[] = {4, 2, 1};
    mg_upstream_conf_t u = upstream_with(w, 3);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    int counts[3] = {0};
    for (int i = 0; i < 7000; i++) {
        int k = mg_balancer_pick(&b, NULL);
        ck_assert(k >= 0 && k < 3);
        counts[k]++;
    }
    ck_assert_int_eq(counts[0], 4000);
    ck_assert_int_eq(counts[1], 2000);
    ck_assert_int_eq(counts[2], 1000);
    mg_balancer_dispose(&b);

    const int w2[] = {5, 1, 1};
    u = upstream_with(w2, 3);
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 7000; i++) {
        counts[mg_balancer_pick(&b, NULL)]++;
    }
    ck_assert_int_eq(counts[0], 5000);
    ck_assert_int_eq(counts[1], 1000);
    ck_assert_int_eq(counts[2], 1000);
    mg_balancer_dispose(&b);
}
END_TEST

START_TEST(test_equal_weights_alternate)
{
    const int w[] = {1, 1, 1, 1};
    mg_upstream_conf_t u = upstream_with(w, 4);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(mg_balancer_pick(&b, NULL), i % 4);
    }
    mg_balancer_dispose(&b);
}
END_TEST

START_TEST(test_exclusion)
{
    const int w[] = {5, 1, 1};
    mg_upstream_conf_t u = upstream_with(w, 3);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    mg_balancer_ctx_t ctx = {.skip = {1u << 0}};
    int counts[3] = {0};
    for (int i = 0; i < 100; i++) {
        int k = mg_balancer_pick(&b, &ctx);
        ck_assert_int_ne(k, 0);
        counts[k]++;
    }
    ck_assert_int_eq(counts[1], 50);
    ck_assert_int_eq(counts[2], 50);
    ctx.skip[0] = (1u << 0) | (1u << 2);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(mg_balancer_pick(&b, &ctx), 1);
    }
    ctx.skip[0] = 0x7;
    ck_assert_int_eq(mg_balancer_pick(&b, &ctx), -1);
    ctx.skip[0] = 0;
    for (int i = 0; i < 70; i++) {
        ck_assert_int_ge(mg_balancer_pick(&b, &ctx), 0);
    }
    mg_balancer_dispose(&b);
}
END_TEST

START_TEST(test_single_node)
{
    const int w[] = {3};
    mg_upstream_conf_t u = upstream_with(w, 1);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    mg_balancer_ctx_t ctx = {0};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(mg_balancer_pick(&b, &ctx), 0);
    }
    ctx.skip[0] = 1;
    ck_assert_int_eq(mg_balancer_pick(&b, &ctx), -1);
    mg_balancer_dispose(&b);
}
END_TEST

START_TEST(test_all_excluded_and_no_nodes)
{
    const int w[] = {2, 3};
    mg_upstream_conf_t u = upstream_with(w, 2);
    mg_balancer_t b;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_OK);
    mg_balancer_ctx_t ctx = {.skip = {~(uint64_t)0}};
    ck_assert_int_eq(mg_balancer_pick(&b, &ctx), -1);
    mg_balancer_dispose(&b);

    mg_upstream_conf_t empty = upstream_with(w, 0);
    ck_assert_int_eq(mg_balancer_init(&b, &empty, NULL), MG_OK);
    ck_assert_int_eq(mg_balancer_pick(&b, NULL), -1);
    mg_balancer_dispose(&b);

    u.balancer = (mg_lb_kind_t)99;
    ck_assert_int_eq(mg_balancer_init(&b, &u, NULL), MG_ERROR);
    mg_balancer_dispose(&b);
}
END_TEST

static const mg_lb_kind_t all_kinds[] = {MG_LB_ROUNDROBIN, MG_LB_LEAST_CONN, MG_LB_IP_HASH,
                                          MG_LB_CHASH,      MG_LB_EWMA,       MG_LB_RANDOM,
                                          MG_LB_STICKY};

/* Every algorithm: a node in range, never a skipped one, -1 when all are skipped, and a
 * NULL ctx (nothing skipped, no key) is fine. */
START_TEST(test_every_algorithm_skips)
{
    static fx_t f;
    const int w[] = {1, 2, 3, 1, 5, 1, 1, 2, 1, 1};
    for (size_t a = 0; a < MG_NELEMS(all_kinds); a++) {
        ck_assert_int_eq(fx_init(&f, all_kinds[a], w, 10), MG_OK);
        ck_assert_ptr_nonnull(f.b.ops->name);
        char key[32];
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof(key), "%d", i);
            mg_balancer_ctx_t ctx = fx_key(key);
            ctx.skip[0] = (uint64_t)(i * 7) & 0x3ff & ~((uint64_t)1 << (i % 10));
            int k = mg_balancer_pick(&f.b, &ctx);
            ck_assert_msg(k >= 0 && k < 10 && !mg_balancer_skipped(&ctx, (size_t)k),
                          "%s picked %d", f.b.ops->name, k);
            int k2 = mg_balancer_pick(&f.b, NULL);
            ck_assert(k2 >= 0 && k2 < 10);
            ctx.skip[0] = 0x3ff;
            ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), -1);
        }
        /* a node past the 64th can be skipped too */
        mg_balancer_dispose(&f.b);
        ck_assert_int_eq(fx_init(&f, all_kinds[a], NULL, 64), MG_OK);
        mg_balancer_ctx_t ctx = fx_key("k");
        memset(ctx.skip, 0xff, sizeof(ctx.skip));
        ctx.skip[0] &= ~((uint64_t)1 << 63);
        ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), 63);
        mg_balancer_dispose(&f.b);
    }
}
END_TEST

/* Each algorithm spreads keyless or varied-key requests over all nodes roughly by
 * weight (the hashing ones over varied keys). */
START_TEST(test_every_algorithm_follows_weights)
{
    static fx_t f;
    const int w[] = {1, 3};
    for (size_t a = 0; a < MG_NELEMS(all_kinds); a++) {
        ck_assert_int_eq(fx_init(&f, all_kinds[a], w, 2), MG_OK);
        int counts[2] = {0};
        char key[32];
        for (int i = 0; i < 20000; i++) {
            snprintf(key, sizeof(key), "10.9.%d.%d", i / 250, i % 250);
            mg_balancer_ctx_t ctx = fx_key(key);
            counts[mg_balancer_pick(&f.b, &ctx)]++;
        }
        ck_assert_msg(counts[1] > 13500 && counts[1] < 16500,
                      "%s: weight 3 of 4 got %d of 20000", f.b.ops->name, counts[1]);
        mg_balancer_dispose(&f.b);
    }
}
END_TEST

START_TEST(test_hash_is_fixed)
{
    /* keys and rings must land the same in every release: pin the function */
    ck_assert_uint_eq(mg_balancer_hash("", 0, 0), mg_balancer_mix(UINT64_C(0xcbf29ce484222325)));
    ck_assert_uint_ne(mg_balancer_hash("a", 1, 0), mg_balancer_hash("b", 1, 0));
    ck_assert_uint_ne(mg_balancer_hash("a", 1, 0), mg_balancer_hash("a", 1, 1));
    ck_assert_uint_eq(mg_balancer_hash("abc", 3, 7), mg_balancer_hash("abc", 3, 7));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer");
    TCase *tc = tcase_create("roundrobin");
    tcase_add_test(tc, test_smooth_sequence);
    tcase_add_test(tc, test_exact_proportions);
    tcase_add_test(tc, test_equal_weights_alternate);
    tcase_add_test(tc, test_exclusion);
    tcase_add_test(tc, test_single_node);
    tcase_add_test(tc, test_all_excluded_and_no_nodes);
    suite_add_tcase(s, tc);
    tc = tcase_create("all");
    tcase_add_test(tc, test_every_algorithm_skips);
    tcase_add_test(tc, test_every_algorithm_follows_weights);
    tcase_add_test(tc, test_hash_is_fixed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
