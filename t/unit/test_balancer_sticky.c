/* deps: balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky */
#include <check.h>
#include <stdlib.h>

#include "balancer_fixture.h"

static fx_t f;

START_TEST(test_token_format_parse)
{
    char tok[MG_STICKY_TOKEN_LEN + 1];
    uint64_t t = mg_balancer_sticky_token("127.0.0.1:9001"), back = 0;
    ck_assert_uint_eq(t, mg_balancer_sticky_token("127.0.0.1:9001"));
    ck_assert_uint_ne(t, mg_balancer_sticky_token("127.0.0.1:9002"));
    mg_balancer_sticky_format(t, tok);
    ck_assert_uint_eq(strlen(tok), 16);
    ck_assert_ptr_null(strstr(tok, "127")); /* opaque */
    ck_assert_int_eq(mg_balancer_sticky_parse(mg_str(tok, 16), &back), MG_OK);
    ck_assert_uint_eq(back, t);
    mg_balancer_sticky_format(0xab, tok);
    ck_assert_str_eq(tok, "00000000000000ab");
    const char *bad[] = {"",
                         "00000000000000a",
                         "00000000000000abc",
                         "00000000000000AB",
                         "00000000000000ag",
                         "0000000000000 ab",
                         "1"};
    for (size_t i = 0; i < MG_NELEMS(bad); i++) {
        ck_assert_int_eq(mg_balancer_sticky_parse(mg_str(bad[i], strlen(bad[i])), &back),
                         MG_DECLINED);
    }
}
END_TEST

static const char *token_of(int node, char *buf)
{
    mg_balancer_sticky_format(mg_balancer_sticky_token(f.addrs[node]), buf);
    return buf;
}

/* A cookie naming a node sends there, with no new cookie; a new client gets a node by
 * the fallback and a cookie naming it; a skipped node moves its client. */
START_TEST(test_sticky_pick_and_cookie)
{
    ck_assert_int_eq(fx_init(&f, MG_LB_STICKY, NULL, 3), MG_OK);
    char tok[MG_STICKY_TOKEN_LEN + 1];
    mg_balancer_ctx_t ctx = fx_key(token_of(2, tok));
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), 2);
    }
    ck_assert_uint_eq(mg_balancer_cookie(&f.b, &ctx, 2).len, 0);

    /* new clients: round robin, and a cookie naming the node picked */
    mg_balancer_ctx_t fresh = fx_key("");
    mg_balancer_ctx_t junk = fx_key("not-a-token");
    int counts[3] = {0};
    for (int i = 0; i < 30; i++) {
        int k = mg_balancer_pick(&f.b, i % 2 ? &fresh : &junk);
        counts[k]++;
        mg_str_t c = mg_balancer_cookie(&f.b, &fresh, k);
        char want[128];
        snprintf(want, sizeof(want), "mg_node=%s; Path=/; HttpOnly", token_of(k, tok));
        ck_assert(mg_str_eq(c, mg_str(want, strlen(want))));
    }
    ck_assert(counts[0] == 10 && counts[1] == 10 && counts[2] == 10);

    /* node 2 down: its client moves and gets a new cookie */
    mg_balancer_skip(&ctx, 2);
    int moved = mg_balancer_pick(&f.b, &ctx);
    ck_assert(moved == 0 || moved == 1);
    ck_assert_uint_gt(mg_balancer_cookie(&f.b, &ctx, moved).len, 0);
    ctx.skip[0] = 7;
    ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), -1);
    mg_balancer_dispose(&f.b);
}
END_TEST

/* Cookie attributes and another fallback. */
START_TEST(test_cookie_attributes_and_fallback)
{
    fx_init_from(&f, MG_LB_STICKY, NULL, 2, 0);
    f.u.sticky = (mg_sticky_conf_t){.cookie = "srv",
                                    .fallback = MG_LB_LEAST_CONN,
                                    .path = "/api",
                                    .max_age = 3600,
                                    .secure = true};
    ck_assert_int_eq(mg_balancer_init(&f.b, &f.u, f.states), MG_OK);
    atomic_store(&f.slots[0].inflight, 3);
    mg_balancer_ctx_t ctx = fx_key("");
    ck_assert_int_eq(mg_balancer_pick(&f.b, &ctx), 1); /* least_conn */
    char tok[MG_STICKY_TOKEN_LEN + 1], want[128];
    snprintf(want, sizeof(want), "srv=%s; Path=/api; Max-Age=3600; Secure", token_of(1, tok));
    mg_str_t c = mg_balancer_cookie(&f.b, &ctx, 1);
    ck_assert_msg(mg_str_eq(c, mg_str(want, strlen(want))), "%.*s", (int)c.len, c.p);
    mg_balancer_dispose(&f.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sticky");
    TCase *tc = tcase_create("sticky");
    tcase_add_test(tc, test_token_format_parse);
    tcase_add_test(tc, test_sticky_pick_and_cookie);
    tcase_add_test(tc, test_cookie_attributes_and_fallback);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
