/* deps: core */
#include <check.h>
#include <stdlib.h>

/* conf.h quotes a path ending in a slash-star inside a comment. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "conf.h"
#pragma GCC diagnostic pop
#include "gen_build.h"
#include "llhttp.h"
#include "router.h"
#include "upstream.h"
#include "worker.h"

static const char YAML[] = "listen: [\"127.0.0.1:18090\"]\n"
                           "upstreams:\n"
                           "  - name: users\n"
                           "    nodes:\n"
                           "      - { address: \"127.0.0.1:9001\" }\n"
                           "      - { address: \"127.0.0.1:9002\", weight: 2 }\n"
                           "routes:\n"
                           "  - name: users-api\n"
                           "    paths: [\"/api/users/{id}\"]\n"
                           "    upstream: users\n";

static mg_conf_t *parse(const char *yaml)
{
    mg_conf_err_t err;
    char msg[1400];
    mg_conf_t *c = mg_conf_parse(yaml, strlen(yaml), "test.yaml", ".", &err);
    ck_assert_msg(c != NULL, "%s", c ? "" : mg_conf_err_format(&err, msg, sizeof(msg)));
    return c;
}

START_TEST(test_create_builds_router_and_upstreams)
{
    char err[512] = "";
    mg_gen_t *g = mg_gen_create(NULL, parse(YAML), 7, err, sizeof(err));
    ck_assert_msg(g != NULL, "%s", err);
    ck_assert_int_eq(g->refcnt, 1);
    ck_assert_uint_eq(g->id, 7);
    ck_assert_ptr_nonnull(g->router);
    ck_assert_uint_eq(g->conf->nupstreams, 1);
    ck_assert_ptr_eq(g->upstreams[0]->conf, &g->conf->upstreams[0]);

    mg_route_match_t m;
    ck_assert_int_eq(mg_router_match(g->router, MG_STR("a"), HTTP_GET, MG_STR("/api/users/42"), &m),
                     MG_OK);
    ck_assert_str_eq(m.route->name, "users-api");
    mg_gen_release(g);
}
END_TEST

START_TEST(test_refcount_keeps_generation_until_last_release)
{
    char err[512];
    mg_gen_t *g = mg_gen_create(NULL, parse(YAML), 1, err, sizeof(err));
    ck_assert_ptr_nonnull(g);
    /* two in-flight requests retain it, the worker swaps and drops its reference */
    mg_gen_retain(g);
    mg_gen_retain(g);
    mg_gen_release(g);
    ck_assert_int_eq(g->refcnt, 2);
    ck_assert_ptr_nonnull(g->router);
    mg_gen_release(g);
    ck_assert_int_eq(g->refcnt, 1);
    mg_gen_release(g); /* freed here; valgrind/ASan check the rest */
}
END_TEST

START_TEST(test_bind_attaches_upstreams_to_worker_loop)
{
    char err[512];
    mg_gen_t *g = mg_gen_create(NULL, parse(YAML), 1, err, sizeof(err));
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_null(g->upstreams[0]->loop);
    mg_worker_t w;
    memset(&w, 0, sizeof(w));
    w.loop = ev_loop_new(EVFLAG_AUTO);
    mg_gen_bind(g, &w);
    ck_assert_ptr_eq(g->worker, &w);
    ck_assert_ptr_eq(g->upstreams[0]->loop, w.loop);
    ck_assert_ptr_eq(g->upstreams[0]->worker, &w);
    mg_gen_release(g);
    ev_loop_destroy(w.loop);
}
END_TEST

START_TEST(test_bad_route_pattern_fails_and_frees_conf)
{
    static const char bad[] = "listen: [\"127.0.0.1:18090\"]\n"
                              "routes:\n"
                              "  - name: broken\n"
                              "    paths: [\"/a/{id\"]\n"
                              "    return: { status: 200 }\n";
    mg_conf_err_t cerr;
    mg_conf_t *c = mg_conf_parse(bad, strlen(bad), "bad.yaml", ".", &cerr);
    if (c == NULL) {
        return; /* the config layer already rejects it: fine too */
    }
    char err[512] = "";
    mg_gen_t *g = mg_gen_create(NULL, c, 1, err, sizeof(err));
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err, "broken") != NULL, "error names the route: %s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("gen");
    tcase_add_test(tc, test_create_builds_router_and_upstreams);
    tcase_add_test(tc, test_refcount_keeps_generation_until_last_release);
    tcase_add_test(tc, test_bind_attaches_upstreams_to_worker_loop);
    tcase_add_test(tc, test_bad_route_pattern_fails_and_frees_conf);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
