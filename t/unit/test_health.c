/* deps: health health_probe http_client http_client_head upstream upstream_queue upstream_dns nodeset resolver resolver_cache transport tls tls_server tls_ocsp tls_ticket balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky nodestate shm log log_format log_template log_syslog pool str */
#include <check.h>
#include <stdlib.h>

#include "clock.h"
#include "conf.h"
#include "health.h"
#include "upstream.h"

/* A zeroed node state, as a new shared slot starts. */
static mg_node_state_t *fresh_node(void)
{
    mg_node_state_t *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    return s;
}

static mg_hc_active_conf_t active_conf(int healthy, int unhealthy)
{
    mg_hc_active_conf_t a = {.on = true, .path = "/health", .interval = 1, .timeout = 1};
    a.healthy_threshold = healthy;
    a.unhealthy_threshold = unhealthy;
    return a;
}

static mg_hc_passive_conf_t passive_conf(void)
{
    return (mg_hc_passive_conf_t){
        .on = true,
        .consecutive_failures = 2,
        .consecutive_5xx = 3,
        .base_ejection_time = 30,
        .max_ejection_time = 100,
        .max_ejection_percent = 10,
    };
}

static mg_hc_breaker_conf_t breaker_conf(void)
{
    return (mg_hc_breaker_conf_t){
        .on = true, .failures = 3, .open_time = 10, .half_open_requests = 1};
}

START_TEST(test_probe_thresholds)
{
    mg_node_state_t *s = fresh_node();
    mg_hc_active_conf_t a = active_conf(2, 3);

    /* a node starts healthy; two failures are not enough, the third marks it down */
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(s->down, 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), -1);
    ck_assert_int_eq(s->down, 1);
    /* the transition is reported once */
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);

    /* a failure between successes starts the count again */
    ck_assert_int_eq(mg_health_probe_result(s, &a, true), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, true), 0);
    ck_assert_int_eq(s->down, 1);
    ck_assert_int_eq(mg_health_probe_result(s, &a, true), 1);
    ck_assert_int_eq(s->down, 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, true), 0);

    /* a success resets the failure count of a healthy node */
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, true), 0);
    ck_assert_int_eq(mg_health_probe_result(s, &a, false), 0);
    ck_assert_int_eq(s->down, 0);
    free(s);
}
END_TEST

START_TEST(test_ejection_time_grows_and_is_capped)
{
    mg_hc_passive_conf_t p = passive_conf();
    ck_assert_double_eq(mg_health_ejection_time(&p, 1), 30);
    ck_assert_double_eq(mg_health_ejection_time(&p, 2), 60);
    ck_assert_double_eq(mg_health_ejection_time(&p, 3), 90);
    ck_assert_double_eq(mg_health_ejection_time(&p, 4), 100);
    ck_assert_double_eq(mg_health_ejection_time(&p, 50), 100);
}
END_TEST

START_TEST(test_ejections_in_a_row)
{
    mg_node_state_t *s = fresh_node();
    mg_hc_passive_conf_t p = passive_conf();
    double t = 1000;

    ck_assert_double_eq(mg_health_eject(s, &p, t), 30);
    ck_assert(mg_health_is_ejected(s, t + 29.9));
    ck_assert(!mg_health_is_ejected(s, t + 30));
    /* ejected already: no second ejection */
    ck_assert_double_eq(mg_health_eject(s, &p, t + 10), 0);

    /* back for a second only: the next one is the second in a row, twice as long */
    t += 31;
    ck_assert_double_eq(mg_health_eject(s, &p, t), 60);
    t += 61;
    ck_assert_double_eq(mg_health_eject(s, &p, t), 90);
    t += 91;
    ck_assert_double_eq(mg_health_eject(s, &p, t), 100);
    ck_assert_int_eq(s->ejections, 4);

    /* in for as long as the last ejection lasted: back to the base time */
    t += 100 + 100;
    ck_assert_double_eq(mg_health_eject(s, &p, t), 30);
    ck_assert_int_eq(s->ejections, 1);
    free(s);
}
END_TEST

START_TEST(test_max_ejection_percent)
{
    mg_hc_passive_conf_t p = passive_conf(); /* 10 % */
    ck_assert(mg_health_may_eject(&p, 10, 0));
    ck_assert(!mg_health_may_eject(&p, 10, 1));
    ck_assert(mg_health_may_eject(&p, 20, 1));
    ck_assert(!mg_health_may_eject(&p, 20, 2));
    /* below one node's share, one node may still go */
    ck_assert(mg_health_may_eject(&p, 3, 0));
    ck_assert(!mg_health_may_eject(&p, 3, 1));
    /* never the only node */
    ck_assert(!mg_health_may_eject(&p, 1, 0));
    p.max_ejection_percent = 50;
    ck_assert(mg_health_may_eject(&p, 4, 1));
    ck_assert(!mg_health_may_eject(&p, 4, 2));
    p.max_ejection_percent = 100;
    ck_assert(mg_health_may_eject(&p, 2, 1));
    ck_assert(!mg_health_may_eject(&p, 2, 2));
    p.max_ejection_percent = 0;
    ck_assert(!mg_health_may_eject(&p, 10, 0));
}
END_TEST

START_TEST(test_passive_counters)
{
    mg_node_state_t *s = fresh_node();
    mg_hc_passive_conf_t p = passive_conf(); /* 2 failures or 3 5xx */

    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    ck_assert(mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    /* a success resets both counts */
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_OK));
    ck_assert_int_eq(s->fails_5xx, 0);
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_OK));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_FAILURE));
    ck_assert(mg_health_passive_record(s, &p, MG_HEALTH_FAILURE));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_OK));

    /* a failure counts towards consecutive_5xx too */
    p.consecutive_failures = 0;
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_5XX));
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_FAILURE));
    ck_assert(mg_health_passive_record(s, &p, MG_HEALTH_FAILURE));

    /* no verdict changes nothing */
    int f = s->fails;
    ck_assert(!mg_health_passive_record(s, &p, MG_HEALTH_NONE));
    ck_assert_int_eq(s->fails, f);

    /* an ejection resets the counts */
    ck_assert_double_gt(mg_health_eject(s, &p, 5000), 0);
    ck_assert_int_eq(s->fails, 0);
    ck_assert_int_eq(s->fails_5xx, 0);
    free(s);
}
END_TEST

START_TEST(test_breaker_state_machine)
{
    mg_node_state_t *s = fresh_node();
    mg_hc_breaker_conf_t b = breaker_conf(); /* 3 failures, 10 s open, 1 trial */
    bool trial, changed;
    double t = 100;

    /* closed: a success between failures starts the count again */
    ck_assert_int_eq(mg_breaker_state(s, &b, t, NULL), MG_BREAKER_CLOSED);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), -1);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_5XX, false, t), -1);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_OK, false, t), -1);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), -1);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), -1);
    ck_assert(mg_breaker_available(s, &b, t));
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_5XX, false, t), MG_BREAKER_OPEN);

    /* open: nothing goes through until open_time passed */
    ck_assert(!mg_breaker_available(s, &b, t + 9.9));
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t + 9.9, &trial), MG_DECLINED);
    /* a late answer of a request sent before it opened changes nothing */
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_OK, false, t + 5), -1);
    ck_assert_int_eq(mg_breaker_state(s, &b, t + 9.9, NULL), MG_BREAKER_OPEN);

    /* half-open: one trial at a time */
    t += 10;
    ck_assert_int_eq(mg_breaker_state(s, &b, t, &changed), MG_BREAKER_HALF_OPEN);
    ck_assert(changed);
    ck_assert_int_eq(mg_breaker_state(s, &b, t, &changed), MG_BREAKER_HALF_OPEN);
    ck_assert(!changed);
    ck_assert(mg_breaker_available(s, &b, t));
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t, &trial), MG_OK);
    ck_assert(trial);
    ck_assert(!mg_breaker_available(s, &b, t));
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t, &trial), MG_DECLINED);
    ck_assert(!trial);
    /* only a trial decides */
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), -1);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_OK, true, t + 1), MG_BREAKER_CLOSED);
    ck_assert_int_eq(s->trials, 0);
    ck_assert(mg_breaker_available(s, &b, t + 1));

    /* closed -> open -> half-open, the trial fails: open again for open_time */
    t += 100;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), -1);
    }
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, t), MG_BREAKER_OPEN);
    t += 10;
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t, &trial), MG_OK);
    ck_assert(trial);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, true, t + 1), MG_BREAKER_OPEN);
    ck_assert(!mg_breaker_available(s, &b, t + 10.9));
    ck_assert(mg_breaker_available(s, &b, t + 11));

    /* a trial that never reports frees its slot after another open_time */
    t += 11;
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t, &trial), MG_OK);
    ck_assert(!mg_breaker_available(s, &b, t + 5));
    ck_assert(mg_breaker_available(s, &b, t + 10));
    /* a client gone mid-trial gives its slot back without a verdict */
    ck_assert_int_eq(mg_breaker_acquire(s, &b, t + 10, &trial), MG_OK);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_NONE, true, t + 10), -1);
    ck_assert_int_eq(mg_breaker_state(s, &b, t + 10, NULL), MG_BREAKER_HALF_OPEN);
    ck_assert(mg_breaker_available(s, &b, t + 10));
    free(s);
}
END_TEST

START_TEST(test_breaker_several_trials)
{
    mg_node_state_t *s = fresh_node();
    mg_hc_breaker_conf_t b = breaker_conf();
    b.half_open_requests = 2;
    b.failures = 1;
    bool t1, t2, t3;
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_FAILURE, false, 0), MG_BREAKER_OPEN);
    ck_assert_int_eq(mg_breaker_acquire(s, &b, 10, &t1), MG_OK);
    ck_assert_int_eq(mg_breaker_acquire(s, &b, 10, &t2), MG_OK);
    ck_assert_int_eq(mg_breaker_acquire(s, &b, 10, &t3), MG_DECLINED);
    ck_assert(t1 && t2 && !t3);
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_OK, true, 11), MG_BREAKER_CLOSED);
    /* the other trial's late answer is counted as a closed breaker's */
    ck_assert_int_eq(mg_breaker_record(s, &b, MG_HEALTH_OK, true, 11), -1);
    ck_assert_int_eq(s->trials, 0);
    free(s);
}
END_TEST

START_TEST(test_retry_budget)
{
    mg_upstream_state_t *s = calloc(1, sizeof(*s));
    mg_health_conf_t h = {.retry_budget = true, .retry_ratio = 0.2, .retry_min = 3};
    double t = 500;

    /* no requests yet: min_retries */
    ck_assert(mg_retry_budget_allows(s, &h));
    s->retries = 2;
    ck_assert(mg_retry_budget_allows(s, &h));
    s->retries = 3;
    ck_assert(!mg_retry_budget_allows(s, &h));

    /* 100 requests: 20 retries */
    for (int i = 0; i < 100; i++) {
        mg_retry_budget_count(s, t);
    }
    ck_assert_uint_eq(s->requests, 100);
    s->retries = 19;
    ck_assert(mg_retry_budget_allows(s, &h));
    s->retries = 20;
    ck_assert(!mg_retry_budget_allows(s, &h));

    /* the next window starts with half of the last one */
    mg_retry_budget_count(s, t + MG_RETRY_BUDGET_WINDOW + 0.5);
    ck_assert_uint_eq(s->requests, 51);
    ck_assert_uint_eq(s->retries, 10);
    ck_assert(!mg_retry_budget_allows(s, &h)); /* 10 + 1 > 0.2 x 51 */
    s->retries = 9;
    ck_assert(mg_retry_budget_allows(s, &h));

    /* a quiet period longer than two windows forgets everything */
    mg_retry_budget_count(s, t + 5 * MG_RETRY_BUDGET_WINDOW);
    ck_assert_uint_eq(s->requests, 1);
    ck_assert_uint_eq(s->retries, 0);

    /* no budget configured: always allowed */
    h.retry_budget = false;
    s->retries = 1000000;
    ck_assert(mg_retry_budget_allows(s, &h));
    free(s);
}
END_TEST

START_TEST(test_prober_lease)
{
    mg_upstream_state_t *s = calloc(1, sizeof(*s));
    ck_assert(mg_health_lease(s, 11, 0, 3));
    ck_assert(!mg_health_lease(s, 22, 1, 3));
    ck_assert(mg_health_lease(s, 11, 1, 3)); /* renewed until 4 */
    ck_assert(!mg_health_lease(s, 22, 3.9, 3));
    /* the holder stopped renewing: the lease expires and another takes it */
    ck_assert(mg_health_lease(s, 22, 4.1, 3));
    ck_assert_int_eq(s->prober_pid, 22);
    ck_assert(!mg_health_lease(s, 11, 4.2, 3));
    /* only the holder can give it back; then anyone takes it at once */
    mg_health_lease_release(s, 11);
    ck_assert(!mg_health_lease(s, 33, 4.3, 3));
    mg_health_lease_release(s, 22);
    ck_assert(mg_health_lease(s, 33, 4.3, 3));
    free(s);
}
END_TEST

/* An upstream runtime by hand: three nodes with private states. */
static mg_upstream_t *make_upstream(mg_upstream_conf_t *c, mg_node_conf_t *nodes)
{
    static const char *addrs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
    memset(c, 0, sizeof(*c));
    c->name = "u";
    c->nodes = nodes;
    c->nnodes = 3;
    for (size_t i = 0; i < 3; i++) {
        nodes[i].addr.text = addrs[i];
        nodes[i].weight = 1;
    }
    mg_upstream_t *u = calloc(1, sizeof(*u));
    u->conf = c;
    u->state = calloc(1, sizeof(*u->state));
    u->nodes = calloc(3, sizeof(*u->nodes));
    for (size_t i = 0; i < 3; i++) {
        u->nodes[i].state = fresh_node();
    }
    return u;
}

static void free_upstream(mg_upstream_t *u)
{
    for (size_t i = 0; i < 3; i++) {
        free(u->nodes[i].state);
    }
    free(u->nodes);
    free(u->state);
    free(u);
}

START_TEST(test_filter_and_limits)
{
    mg_upstream_conf_t c;
    mg_node_conf_t nodes[3];
    mg_upstream_t *u = make_upstream(&c, nodes);
    mg_balancer_ctx_t ctx;

    /* nothing configured: nothing is filtered, not even a stale down flag */
    u->nodes[0].state->down = 1;
    memset(&ctx, 0, sizeof(ctx));
    ck_assert_uint_eq(mg_health_filter(u, &ctx), 3);

    c.health.active = active_conf(1, 1);
    c.health.passive = passive_conf();
    c.health.breaker = breaker_conf();
    double now = mg_mono_now();
    u->nodes[1].state->ejected_until = now + 60;
    memset(&ctx, 0, sizeof(ctx));
    ck_assert_uint_eq(mg_health_filter(u, &ctx), 1);
    ck_assert(mg_balancer_skipped(&ctx, 0));
    ck_assert(mg_balancer_skipped(&ctx, 1));
    ck_assert(!mg_balancer_skipped(&ctx, 2));

    /* a node already tried stays skipped and is not counted */
    memset(&ctx, 0, sizeof(ctx));
    mg_balancer_skip(&ctx, 2);
    ck_assert_uint_eq(mg_health_filter(u, &ctx), 0);

    /* breaker open on the last one: no node left */
    u->nodes[2].state->breaker = MG_BREAKER_OPEN;
    u->nodes[2].state->breaker_since = now;
    memset(&ctx, 0, sizeof(ctx));
    ck_assert_uint_eq(mg_health_filter(u, &ctx), 0);

    /* max_connections counts across nodes (the waiters: test_upstream_queue.c) */
    c.health.max_connections = 2;
    ck_assert(mg_health_conn_open(u, 0));
    ck_assert(mg_health_conn_open(u, 1));
    ck_assert(!mg_health_conn_open(u, 2));
    ck_assert_int_eq(u->state->connections, 2);
    mg_health_conn_closed(u, 0);
    ck_assert(mg_health_conn_open(u, 2));
    ck_assert_int_eq(u->nodes[2].state->connections, 1);
    ck_assert_int_eq(u->nodes[0].state->connections, 0);
    free_upstream(u);
}
END_TEST

START_TEST(test_observe_ejects_within_percent)
{
    mg_upstream_conf_t c;
    mg_node_conf_t nodes[3];
    mg_upstream_t *u = make_upstream(&c, nodes);
    c.health.passive = passive_conf(); /* 10 % of 3 nodes: one at a time */
    for (int n = 0; n < 2; n++) {
        for (int i = 0; i < 3; i++) {
            mg_health_observe(u, n, MG_HEALTH_5XX, false);
        }
    }
    double now = mg_mono_now();
    ck_assert(mg_health_is_ejected(u->nodes[0].state, now));
    ck_assert(!mg_health_is_ejected(u->nodes[1].state, now));
    ck_assert_uint_eq(u->nodes[0].state->failures, 3);
    /* node 1 goes once node 0 is back */
    u->nodes[0].state->ejected_until = now - 1;
    mg_health_observe(u, 1, MG_HEALTH_5XX, false);
    ck_assert(mg_health_is_ejected(u->nodes[1].state, mg_mono_now()));
    free_upstream(u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_probe_thresholds);
    tcase_add_test(tc, test_ejection_time_grows_and_is_capped);
    tcase_add_test(tc, test_ejections_in_a_row);
    tcase_add_test(tc, test_max_ejection_percent);
    tcase_add_test(tc, test_passive_counters);
    tcase_add_test(tc, test_breaker_state_machine);
    tcase_add_test(tc, test_breaker_several_trials);
    tcase_add_test(tc, test_retry_budget);
    tcase_add_test(tc, test_prober_lease);
    tcase_add_test(tc, test_filter_and_limits);
    tcase_add_test(tc, test_observe_ejects_within_percent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
