/* deps: core */
/*
 * The master's half of the session-ticket keys: the configuration check and its
 * file:line:column error, timed rotation on the master's loop, and what a reload
 * changes. The `tls:` block has no parser yet, so the tests set conf->tls by hand, as
 * the parser and mg_conf_read_files will.
 */
#include <check.h>
#include <stdlib.h>

/* conf.h quotes a path ending in a slash-star inside a comment. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "conf.h"
#pragma GCC diagnostic pop
#include "master_int.h"
#include "tls_ticket.h"

static mg_conf_t *parse(void)
{
    mg_conf_err_t err;
    mg_conf_t *c = mg_conf_parse("", 0, "gw.yaml", "/srv/gw", &err);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* What mg_conf_read_files leaves in the snapshot for `ticket_key_file:` at 7:22. */
static void with_file(mg_conf_t *c, char *data, size_t len)
{
    mg_conf_file_t *f = &c->tls.ticket_key_file;
    f->path = "/srv/gw/ticket.key";
    f->data = data;
    f->len = len;
    f->line = 7;
    f->column = 22;
    f->key = "tls.ticket_key_file";
}

START_TEST(test_defaults)
{
    mg_conf_t *c = parse();
    ck_assert(c->tls.session_tickets);
    ck_assert(c->tls.ticket_key_rotation == 3600);
    ck_assert_ptr_null(c->tls.ticket_key_file.data);
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_bad_file_fails_validation_with_position)
{
    mg_conf_t *c = parse();
    static char bytes[100];
    char msg[1400];
    with_file(c, bytes, sizeof(bytes));
    ck_assert_int_eq(mg__master_tickets_check(c, msg, sizeof(msg)), MG_ERROR);
    ck_assert_msg(strstr(msg, "gw.yaml:7:22: tls.ticket_key_file: /srv/gw/ticket.key: ") != NULL,
                  "%s", msg);
    ck_assert_msg(strstr(msg, "80 bytes") != NULL && strstr(msg, "100 bytes") != NULL, "%s", msg);
    /* the same check runs with every validation (start, -t, reloads) */
    ck_assert_int_eq(mg_master_validate(c, msg, sizeof(msg)), MG_ERROR);
    ck_assert_ptr_nonnull(strstr(msg, "gw.yaml:7:22: tls.ticket_key_file"));
    with_file(c, bytes, 80);
    ck_assert_int_eq(mg_master_validate(c, msg, sizeof(msg)), MG_OK);
    with_file(c, NULL, 0); /* an optional file not there: generated keys */
    ck_assert_int_eq(mg_master_validate(c, msg, sizeof(msg)), MG_OK);
    mg_conf_destroy(c);
}
END_TEST

static void on_stop(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the master's loop for `seconds`. */
static void run_for(double seconds)
{
    ev_timer stop;
    ev_timer_init(&stop, on_stop, seconds, 0);
    ev_timer_start(M.loop, &stop);
    ev_run(M.loop, 0);
    ev_timer_stop(M.loop, &stop);
}

static uint64_t rotations(void)
{
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    return st.rotations;
}

static void setup(void)
{
    memset(&M, 0, sizeof(M));
    M.loop = ev_loop_new(EVFLAG_AUTO);
}

static void teardown(void)
{
    mg__master_tickets_stop();
    ev_loop_destroy(M.loop);
}

START_TEST(test_timed_rotation_and_reloads)
{
    char msg[512];
    mg_conf_t *c = parse();
    c->tls.ticket_key_rotation = 0.05;
    ck_assert_int_eq(mg__master_tickets_start(c, msg, sizeof(msg)), MG_OK);
    run_for(0.28);
    uint64_t n = rotations();
    ck_assert_msg(n >= 3 && n <= 6, "%llu rotations", (unsigned long long)n);

    /* a reload with a file: its keys, and the timer stops */
    static char key[80] = "0123456789abcdef";
    with_file(c, key, sizeof(key));
    mg__master_tickets_reload(c);
    ck_assert(mg_tls_tickets_from_file());
    n = rotations();
    run_for(0.15);
    ck_assert_uint_eq(rotations(), n);

    /* the file removed: generated keys again, rotating */
    with_file(c, NULL, 0);
    mg__master_tickets_reload(c);
    ck_assert(!mg_tls_tickets_from_file());
    run_for(0.15);
    ck_assert_uint_gt(rotations(), n);

    /* tickets off: no rotation; a forced one still works (SIGUSR2) */
    c->tls.session_tickets = false;
    mg__master_tickets_reload(c);
    n = rotations();
    run_for(0.15);
    ck_assert_uint_eq(rotations(), n);
    mg__master_tickets_rotate_now();
    ck_assert_uint_eq(rotations(), n + 1);
    mg_conf_destroy(c);
}
END_TEST

/* A reload that keeps the period does not push the next rotation back. */
START_TEST(test_reload_keeps_the_timer_phase)
{
    char msg[512];
    mg_conf_t *c = parse();
    c->tls.ticket_key_rotation = 0.2;
    ck_assert_int_eq(mg__master_tickets_start(c, msg, sizeof(msg)), MG_OK);
    for (int i = 0; i < 6; i++) {
        run_for(0.05);
        mg__master_tickets_reload(c);
    }
    ck_assert_uint_ge(rotations(), 1);
    /* a new period re-arms: 0 means the 1 h default, nothing due soon */
    c->tls.ticket_key_rotation = 0;
    mg__master_tickets_reload(c);
    uint64_t n = rotations();
    run_for(0.3);
    ck_assert_uint_eq(rotations(), n);
    mg_conf_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("master_tickets");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_bad_file_fails_validation_with_position);
    TCase *tl = tcase_create("loop");
    tcase_set_timeout(tl, 30);
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, test_timed_rotation_and_reloads);
    tcase_add_test(tl, test_reload_keeps_the_timer_phase);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tl);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
