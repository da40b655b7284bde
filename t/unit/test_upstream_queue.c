/* deps: upstream_queue */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_queue.h"

/* A waiter whose turn answers what the test scripted, and records that it ran. */
typedef struct {
    mg_upstream_waiter_t w; /* first: the callbacks cast back */
    int id;
    int answer;          /* what on_turn returns */
    bool leave_on_turn;  /* served: leaves the queue in its turn */
    mg_upstream_waiter_t *kill; /* another waiter its turn makes leave (client gone) */
} fake_t;

static mg_upstream_queue_t *q_now;
static int turns[16], nturns;
static int timeouts[16], ntimeouts;

static int on_turn(mg_upstream_waiter_t *w)
{
    fake_t *f = (fake_t *)w;
    turns[nturns++] = f->id;
    if (f->kill != NULL) {
        mg_upstream_queue_leave(q_now, f->kill, MG_QUEUE_GONE);
    }
    if (f->leave_on_turn) {
        mg_upstream_queue_leave(q_now, w, MG_QUEUE_SERVED);
        return MG_OK;
    }
    if (f->answer != MG_OK) {
        (void)mg_upstream_queue_wait(q_now, w, f->answer); /* waits on, or turned away */
    }
    return f->answer;
}

static void on_timeout(mg_upstream_waiter_t *w)
{
    timeouts[ntimeouts++] = ((fake_t *)w)->id;
}

static void fake_init(fake_t *f, int id, int node)
{
    memset(f, 0, sizeof(*f));
    f->id = id;
    f->w.node = node;
    f->w.on_turn = on_turn;
    f->w.on_timeout = on_timeout;
    f->answer = -EBUSY;
}

static mg_upstream_state_t state;
static mg_upstream_queue_t q;

static void setup_queue(size_t nnodes, int size, double timeout)
{
    memset(&state, 0, sizeof(state));
    ck_assert_int_eq(mg_upstream_queue_init(&q, nnodes, &state, size, timeout), MG_OK);
    q_now = &q;
    nturns = ntimeouts = 0;
}

START_TEST(test_fifo_served_in_arrival_order)
{
    fake_t f[4];
    setup_queue(1, 10, 5);
    for (int i = 0; i < 4; i++) {
        fake_init(&f[i], i, 0);
        ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[i].w, -EBUSY), MG_OK);
    }
    ck_assert_uint_eq(q.len, 4);
    ck_assert_int_eq(state.queued, 4);
    ck_assert_int_eq(state.pending, 4);

    /* two connections came free: the two oldest get them, the third meets the limit
     * again and the fourth is not even asked (it must not overtake) */
    f[0].leave_on_turn = f[1].leave_on_turn = true;
    mg_upstream_queue_run(&q, 1.0);
    ck_assert_int_eq(nturns, 3);
    ck_assert_int_eq(turns[0], 0);
    ck_assert_int_eq(turns[1], 1);
    ck_assert_int_eq(turns[2], 2);
    ck_assert_ptr_eq(q.head, &f[2].w);
    ck_assert_ptr_eq(q.tail, &f[3].w);
    ck_assert(q.polling); /* the slot may come from another worker */
    ck_assert_int_eq(state.pending, 2);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_SERVED], 2);

    f[2].leave_on_turn = f[3].leave_on_turn = true;
    mg_upstream_queue_run(&q, 1.1);
    ck_assert_uint_eq(q.len, 0);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
    ck_assert_int_eq(state.queued, 0);
    ck_assert_int_eq(state.pending, 0);
    ck_assert_uint_eq(q.counted, 0);
    mg_upstream_queue_dispose(&q);
}
END_TEST

START_TEST(test_full_queue_declines)
{
    fake_t f[3];
    setup_queue(1, 2, 5);
    for (int i = 0; i < 3; i++) {
        fake_init(&f[i], i, 0);
    }
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[0].w, -EBUSY), MG_OK);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[1].w, -EBUSY), MG_OK);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[2].w, -EBUSY), MG_DECLINED);
    ck_assert(!f[2].w.queued);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_FULL], 1);
    ck_assert_int_eq(state.pending, 2);

    /* the size is shared: another worker's waiters count too */
    mg_upstream_queue_leave(&q, &f[1].w, MG_QUEUE_GONE);
    state.pending++;
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[2].w, -EBUSY), MG_DECLINED);
    state.pending--;

    /* a paced waiter takes no place; it takes one when it meets the limit later */
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[2].w, -EALREADY), MG_OK);
    ck_assert(!f[2].w.counted);
    ck_assert_int_eq(state.pending, 1);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[2].w, -EBUSY), MG_OK);
    ck_assert(f[2].w.counted);
    ck_assert_int_eq(state.pending, 2);
    ck_assert_uint_eq(q.len, 2);

    /* a queued waiter that cannot get a place leaves as full */
    mg_upstream_queue_leave(&q, &f[2].w, MG_QUEUE_GONE);
    fake_init(&f[1], 1, 0);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[1].w, 0), MG_OK); /* behind others */
    state.pending++;
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[1].w, -EBUSY), MG_DECLINED);
    state.pending--;
    ck_assert(!f[1].w.queued);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_FULL], 3);
    ck_assert_uint_eq(q.len, 1);
    mg_upstream_queue_leave(&q, &f[0].w, MG_QUEUE_GONE);
    ck_assert_int_eq(state.pending, 0);
    ck_assert_int_eq(state.queued, 0);
    mg_upstream_queue_dispose(&q);
}
END_TEST

START_TEST(test_deadlines_expire_oldest_first)
{
    fake_t f[3];
    setup_queue(1, 10, 2.0);
    for (int i = 0; i < 3; i++) {
        fake_init(&f[i], i, 0);
        ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[i].w, -EBUSY), MG_OK);
        f[i].w.deadline = 10.0 + i; /* joined one second apart */
    }
    mg_upstream_queue_run(&q, 11.0);
    ck_assert_int_eq(ntimeouts, 2);
    ck_assert_int_eq(timeouts[0], 0);
    ck_assert_int_eq(timeouts[1], 1);
    ck_assert_int_eq(nturns, 1); /* the one left still had its turn */
    ck_assert_int_eq(turns[0], 2);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_TIMEOUT], 2);
    ck_assert_uint_eq(q.len, 1);
    ck_assert_int_eq(state.pending, 1);
    mg_upstream_queue_leave(&q, &f[2].w, MG_QUEUE_GONE);
    mg_upstream_queue_dispose(&q);
}
END_TEST

START_TEST(test_paced_node_is_skipped_not_the_others)
{
    fake_t f[4];
    setup_queue(2, 10, 5);
    fake_init(&f[0], 0, 0);
    fake_init(&f[1], 1, 0);
    fake_init(&f[2], 2, 1);
    fake_init(&f[3], 3, 1);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[i].w, -EALREADY), MG_OK);
        f[i].answer = -EALREADY;
    }
    f[2].answer = MG_OK;
    f[2].leave_on_turn = true;
    mg_upstream_queue_run(&q, 1.0);
    /* node 0 is paced: its second waiter stays behind its first; node 1 goes on */
    ck_assert_int_eq(nturns, 3);
    ck_assert_int_eq(turns[0], 0);
    ck_assert_int_eq(turns[1], 2);
    ck_assert_int_eq(turns[2], 3);
    ck_assert(!q.polling);
    ck_assert_uint_eq(q.len, 3);

    /* every node paced: the scan stops */
    nturns = 0;
    mg_upstream_queue_run(&q, 1.1);
    ck_assert_int_eq(nturns, 2);
    for (int i = 0; i < 4; i++) {
        mg_upstream_queue_leave(&q, &f[i].w, MG_QUEUE_GONE);
    }
    ck_assert_uint_eq(q.len, 0);
    ck_assert_int_eq(state.queued, 0);
    mg_upstream_queue_dispose(&q);
}
END_TEST

START_TEST(test_leave_during_a_scan)
{
    fake_t f[3];
    setup_queue(1, 10, 5);
    for (int i = 0; i < 3; i++) {
        fake_init(&f[i], i, 0);
        ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[i].w, -EBUSY), MG_OK);
    }
    /* the first one's turn ends the second request (its client went away) */
    f[0].leave_on_turn = true;
    f[0].kill = &f[1].w;
    f[2].leave_on_turn = true;
    mg_upstream_queue_run(&q, 1.0);
    ck_assert_int_eq(nturns, 2);
    ck_assert_int_eq(turns[0], 0);
    ck_assert_int_eq(turns[1], 2);
    ck_assert_uint_eq(q.len, 0);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_GONE], 1);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_SERVED], 2);
    ck_assert_int_eq(state.pending, 0);

    /* leaving twice, or without ever joining, changes nothing */
    mg_upstream_queue_leave(&q, &f[1].w, MG_QUEUE_GONE);
    ck_assert_uint_eq(state.queue_outcomes[MG_QUEUE_GONE], 1);
    mg_upstream_queue_dispose(&q);
}
END_TEST

START_TEST(test_timer_on_a_loop)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    fake_t f[2];
    setup_queue(1, 10, 0.05);
    mg_upstream_queue_bind(&q, loop);
    fake_init(&f[0], 0, 0);
    fake_init(&f[1], 1, 0);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[0].w, -EBUSY), MG_OK);
    ck_assert_int_eq(mg_upstream_queue_wait(&q, &f[1].w, -EBUSY), MG_OK);
    ck_assert(ev_is_active(&q.timer));
    /* polls at max_connections, then gives up at the timeout: the loop ends once the
     * queue is empty (no timer left) */
    ev_run(loop, 0);
    ck_assert_int_eq(ntimeouts, 2);
    ck_assert(nturns >= 2);
    ck_assert_uint_eq(q.len, 0);
    ck_assert(!ev_is_active(&q.timer));

    /* a kick on an empty queue arms nothing */
    mg_upstream_queue_kick(&q);
    ck_assert(!ev_is_active(&q.timer));
    mg_upstream_queue_dispose(&q);
    ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_queue");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fifo_served_in_arrival_order);
    tcase_add_test(tc, test_full_queue_declines);
    tcase_add_test(tc, test_deadlines_expire_oldest_first);
    tcase_add_test(tc, test_paced_node_is_skipped_not_the_others);
    tcase_add_test(tc, test_leave_during_a_scan);
    tcase_add_test(tc, test_timer_on_a_loop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
