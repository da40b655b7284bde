/* deps: balancer_key http_values str */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "conf.h"
#include "http.h"

static mg_header_t hdrs[] = {
    {MG_STR("Host"), MG_STR("a")},
    {MG_STR("x-user-id"), MG_STR("u42")},
    {MG_STR("Cookie"), MG_STR("a=1; sid=\"s-77\"; mg_node=00000000000000ab")},
    {MG_STR("Cookie"), MG_STR("late=9")},
    {MG_STR("X-Empty"), MG_STR("")},
};

static mg_request_t req(void)
{
    mg_request_t r;
    memset(&r, 0, sizeof(r));
    r.headers = hdrs;
    r.nheaders = MG_NELEMS(hdrs);
    r.query = MG_STR("a=1&tenant=t%201&flag&e=");
    r.remote_addr = MG_STR("2001:db8::5");
    r.match.nparams = 1;
    r.match.params[0] = (mg_route_param_t){MG_STR("id"), MG_STR("123")};
    return r;
}

static mg_upstream_conf_t up(mg_lb_kind_t kind, mg_hash_kind_t hk, const char *name)
{
    mg_upstream_conf_t u;
    memset(&u, 0, sizeof(u));
    u.balancer = kind;
    u.hash_on = (mg_hash_on_t){hk, name, name != NULL ? strlen(name) : 0};
    u.sticky.cookie = "mg_node";
    return u;
}

static void is(mg_str_t got, const char *want)
{
    ck_assert_msg(mg_str_eq(got, mg_str(want, strlen(want))), "got \"%.*s\", want \"%s\"",
                  (int)got.len, got.p, want);
}

START_TEST(test_hash_on_forms)
{
    mg_request_t r = req();
    mg_upstream_conf_t u = up(MG_LB_CHASH, MG_HASH_REMOTE_ADDR, NULL);
    is(mg_balancer_key(&u, &r), "2001:db8::5");
    u = up(MG_LB_CHASH, MG_HASH_HEADER, "X-User-Id");
    is(mg_balancer_key(&u, &r), "u42");
    u = up(MG_LB_IP_HASH, MG_HASH_COOKIE, "sid");
    is(mg_balancer_key(&u, &r), "s-77");
    u = up(MG_LB_CHASH, MG_HASH_COOKIE, "late");
    is(mg_balancer_key(&u, &r), "9");
    u = up(MG_LB_CHASH, MG_HASH_QUERY, "tenant");
    is(mg_balancer_key(&u, &r), "t%201");
    u = up(MG_LB_CHASH, MG_HASH_PARAM, "id");
    is(mg_balancer_key(&u, &r), "123");
}
END_TEST

/* A value that is absent or empty falls back to the client address. */
START_TEST(test_missing_falls_back)
{
    mg_request_t r = req();
    const struct {
        mg_hash_kind_t kind;
        const char *name;
    } absent[] = {
        {MG_HASH_HEADER, "X-None"}, {MG_HASH_HEADER, "X-Empty"}, {MG_HASH_COOKIE, "nope"},
        {MG_HASH_COOKIE, "si"},     {MG_HASH_QUERY, "flag"},     {MG_HASH_QUERY, "e"},
        {MG_HASH_QUERY, "ten"},     {MG_HASH_PARAM, "user"},
    };
    for (size_t i = 0; i < MG_NELEMS(absent); i++) {
        mg_upstream_conf_t u = up(MG_LB_CHASH, absent[i].kind, absent[i].name);
        is(mg_balancer_key(&u, &r), "2001:db8::5");
    }
    r.query = MG_NULL_STR;
    mg_upstream_conf_t u = up(MG_LB_CHASH, MG_HASH_QUERY, "a");
    is(mg_balancer_key(&u, &r), "2001:db8::5");
}
END_TEST

START_TEST(test_other_balancers)
{
    mg_request_t r = req();
    mg_upstream_conf_t u = up(MG_LB_STICKY, MG_HASH_REMOTE_ADDR, NULL);
    is(mg_balancer_key(&u, &r), "00000000000000ab");
    u.sticky.cookie = "none";
    ck_assert_uint_eq(mg_balancer_key(&u, &r).len, 0); /* a new client: no key */
    u = up(MG_LB_ROUNDROBIN, MG_HASH_HEADER, "X-User-Id");
    ck_assert_uint_eq(mg_balancer_key(&u, &r).len, 0);
    u = up(MG_LB_EWMA, MG_HASH_REMOTE_ADDR, NULL);
    ck_assert_uint_eq(mg_balancer_key(&u, &r).len, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer_key");
    TCase *tc = tcase_create("key");
    tcase_add_test(tc, test_hash_on_forms);
    tcase_add_test(tc, test_missing_falls_back);
    tcase_add_test(tc, test_other_balancers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
