/* deps: http_phase */
/*
 * The phase engine alone, with fake handlers and a fake producer: the order of the
 * phases, skipping empty ones, waiting and resuming, an answer that stops the chain,
 * a status turned into an error page, and a re-route that switches chains mid-way.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "http.h"
#include "http_phase.h"

/* What ran, in order, as letters; and the error page the engine asked for. */
static char trace[32];
static size_t ntrace;
static int error_status;

void mg_http_error(mg_request_t *r, int status)
{
    (void)r;
    error_status = status;
}

static void reset(void)
{
    memset(trace, 0, sizeof(trace));
    ntrace = 0;
    error_status = 0;
}

/* A handler that records its letter (data) and returns what the request's scratch
 * slot says for it. */
static int answers[MG_HTTP_PHASE_COUNT];

static int record(mg_request_t *r, const void *data)
{
    trace[ntrace++] = *(const char *)data;
    return answers[r->phase];
}

static const char L_R = 'r', L_L = 'l', L_A = 'a', L_C = 'c', L_B = 'b', L_P = 'P';

static mg_http_chain_t full_chain(void)
{
    mg_http_chain_t ch;
    memset(&ch, 0, sizeof(ch));
    mg_http_chain_set(&ch, MG_HTTP_PHASE_REWRITE, record, &L_R);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_LIMITS, record, &L_L);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_ACCESS, record, &L_A);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_CONSUMER_LIMITS, record, &L_C);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_BALANCER, record, &L_B);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_CONTENT, record, &L_P);
    return ch;
}

static mg_request_t request_on(const mg_http_chain_t *ch)
{
    mg_request_t r;
    memset(&r, 0, sizeof(r));
    r.chain = ch;
    for (int i = 0; i < MG_HTTP_PHASE_COUNT; i++) {
        answers[i] = MG_OK;
    }
    answers[MG_HTTP_PHASE_CONTENT] = MG_DONE; /* the producer takes the request over */
    return r;
}

START_TEST(test_order_is_fixed)
{
    reset();
    mg_http_chain_t ch = full_chain();
    mg_request_t r = request_on(&ch);
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "rlacbP");
    ck_assert_int_eq(r.phase, MG_HTTP_PHASE_CONTENT);
    ck_assert_int_eq(error_status, 0);
}
END_TEST

START_TEST(test_empty_phases_are_skipped)
{
    reset();
    mg_http_chain_t ch;
    memset(&ch, 0, sizeof(ch));
    mg_http_chain_set(&ch, MG_HTTP_PHASE_LIMITS, record, &L_L);
    mg_http_chain_set(&ch, MG_HTTP_PHASE_CONTENT, record, &L_P);
    mg_request_t r = request_on(&ch);
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "lP");
}
END_TEST

START_TEST(test_wait_then_resume)
{
    reset();
    mg_http_chain_t ch = full_chain();
    mg_request_t r = request_on(&ch);
    answers[MG_HTTP_PHASE_ACCESS] = MG_AGAIN;
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "rla");
    ck_assert_int_eq(r.phase, MG_HTTP_PHASE_ACCESS);
    /* later, from the loop: the access handler is done and lets it through */
    mg_http_phase_resume(&r, MG_OK);
    ck_assert_str_eq(trace, "rlacbP");
}
END_TEST

START_TEST(test_answer_stops_the_chain)
{
    reset();
    mg_http_chain_t ch = full_chain();
    mg_request_t r = request_on(&ch);
    answers[MG_HTTP_PHASE_ACCESS] = MG_DONE; /* e.g. a plugin's 401 went out */
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "rla");
    ck_assert_int_eq(error_status, 0);
}
END_TEST

START_TEST(test_status_and_error_become_error_pages)
{
    reset();
    mg_http_chain_t ch = full_chain();
    mg_request_t r = request_on(&ch);
    answers[MG_HTTP_PHASE_LIMITS] = 429;
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "rl");
    ck_assert_int_eq(error_status, 429);

    reset();
    r = request_on(&ch);
    answers[MG_HTTP_PHASE_REWRITE] = MG_AGAIN;
    mg_http_run_phases(&r);
    mg_http_phase_resume(&r, MG_ERROR);
    ck_assert_str_eq(trace, "r");
    ck_assert_int_eq(error_status, 500);
}
END_TEST

/* A rewrite that re-routes installs the new route's chain; the engine goes on in it. */
static mg_http_chain_t other;

static int reroute(mg_request_t *r, const void *data)
{
    trace[ntrace++] = *(const char *)data;
    r->chain = &other;
    return MG_OK;
}

START_TEST(test_reroute_switches_chain)
{
    reset();
    mg_http_chain_t ch = full_chain();
    mg_http_chain_set(&ch, MG_HTTP_PHASE_REWRITE, reroute, &L_R);
    memset(&other, 0, sizeof(other));
    static const char X = 'x', Y = 'Y';
    mg_http_chain_set(&other, MG_HTTP_PHASE_REWRITE, record, &X); /* already past */
    mg_http_chain_set(&other, MG_HTTP_PHASE_ACCESS, record, &X);
    mg_http_chain_set(&other, MG_HTTP_PHASE_CONTENT, record, &Y);
    mg_request_t r = request_on(&ch);
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "rxY");
}
END_TEST

START_TEST(test_chain_without_content_is_a_500)
{
    reset();
    mg_http_chain_t ch;
    memset(&ch, 0, sizeof(ch));
    mg_http_chain_set(&ch, MG_HTTP_PHASE_ACCESS, record, &L_A);
    mg_request_t r = request_on(&ch);
    mg_http_run_phases(&r);
    ck_assert_str_eq(trace, "a");
    ck_assert_int_eq(error_status, 500);
    ck_assert_str_eq(mg_http_phase_name(MG_HTTP_PHASE_CONSUMER_LIMITS), "consumer limits");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_phase");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_order_is_fixed);
    tcase_add_test(tc, test_empty_phases_are_skipped);
    tcase_add_test(tc, test_wait_then_resume);
    tcase_add_test(tc, test_answer_stops_the_chain);
    tcase_add_test(tc, test_status_and_error_become_error_pages);
    tcase_add_test(tc, test_reroute_switches_chain);
    tcase_add_test(tc, test_chain_without_content_is_a_500);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
