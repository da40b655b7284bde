/* deps: core */
/*
 * test_upstream_kpool.c -- keyed pools of idle connections outside any upstream (what
 * mg.http keeps alive): taken back by key only, newest first, bounded per key and in
 * total, dropped when the peer closes while idle, at the idle timeout, and with the
 * pool. Real loopback connections to a listener of the test.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream.h"

static int lfd;
static struct sockaddr_in laddr;

static void listener(void)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    memset(&laddr, 0, sizeof(laddr));
    laddr.sin_family = AF_INET;
    laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)), 0);
    socklen_t len = sizeof(laddr);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&laddr, &len), 0);
    ck_assert_int_eq(listen(lfd, 64), 0);
}

/* A connected connection, and the accepted peer's fd in *peer. */
static mg_upstream_conn_t *conn(int *peer)
{
    mg_upstream_conn_t *c;
    int rc = mg_upstream_open((struct sockaddr *)&laddr, sizeof(laddr), &c);
    ck_assert(rc == MG_OK || rc == MG_AGAIN);
    *peer = accept(lfd, NULL, NULL);
    ck_assert_int_ge(*peer, 0);
    return c;
}

static void spin(struct ev_loop *loop, double secs)
{
    double end = ev_time() + secs;
    while (ev_time() < end) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(2000);
    }
}

START_TEST(test_keys_order_and_bounds)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    listener();
    mg_upstream_kpool_t *p = mg_upstream_kpool_create(loop, 4);
    int peers[8];
    mg_upstream_conn_t *a1 = conn(&peers[0]), *a2 = conn(&peers[1]), *b1 = conn(&peers[2]);
    mg_upstream_kpool_put(p, a1, "a", 60, 2);
    mg_upstream_kpool_put(p, b1, "b", 60, 2);
    mg_upstream_kpool_put(p, a2, "a", 60, 2);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 3);
    ck_assert_ptr_null(mg_upstream_kpool_acquire(p, "c"));
    /* newest of the key first, flagged reused */
    mg_upstream_conn_t *got = mg_upstream_kpool_acquire(p, "a");
    ck_assert_ptr_eq(got, a2);
    ck_assert(got->reused);
    mg_upstream_kpool_put(p, got, "a", 60, 2);
    /* a third under "a" with room for 2: the oldest of "a" (a1) is closed */
    int pa3;
    mg_upstream_conn_t *a3 = conn(&pa3);
    mg_upstream_kpool_put(p, a3, "a", 60, 2);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 3);
    ck_assert_ptr_eq(mg_upstream_kpool_acquire(p, "a"), a3);
    ck_assert_ptr_eq(mg_upstream_kpool_acquire(p, "a"), a2);
    ck_assert_ptr_null(mg_upstream_kpool_acquire(p, "a"));
    char b;
    ck_assert_int_eq(read(peers[0], &b, 1), 0); /* a1 was closed */
    mg_upstream_release(a2, false);
    mg_upstream_release(a3, false);
    /* the pool's total: the oldest of all goes */
    int pc[4];
    for (int i = 0; i < 4; i++) {
        char key[16]; /* room for any int: -Wformat-truncation at -O1 */
        snprintf(key, sizeof(key), "k%d", i);
        mg_upstream_kpool_put(p, conn(&pc[i]), key, 60, 2);
    }
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 4);
    ck_assert_ptr_null(mg_upstream_kpool_acquire(p, "b")); /* b1, the oldest, went */
    ck_assert_int_eq(read(peers[2], &b, 1), 0);
    /* nothing kept with no room or no timeout */
    int pz;
    mg_upstream_kpool_put(p, conn(&pz), "z", 0, 2);
    ck_assert_ptr_null(mg_upstream_kpool_acquire(p, "z"));
    ck_assert_int_eq(read(pz, &b, 1), 0);
    mg_upstream_kpool_destroy(p);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(read(pc[i], &b, 1), 0); /* closed with the pool */
        close(pc[i]);
    }
    for (int i = 0; i < 3; i++) {
        close(peers[i]);
    }
    close(pa3);
    close(pz);
    close(lfd);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_peer_close_and_idle_timeout)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    listener();
    mg_upstream_kpool_t *p = mg_upstream_kpool_create(loop, 8);
    int p1, p2, p3;
    mg_upstream_kpool_put(p, conn(&p1), "k", 60, 4);
    mg_upstream_kpool_put(p, conn(&p2), "k", 0.05, 4);
    mg_upstream_conn_t *c3 = conn(&p3);
    mg_upstream_kpool_put(p, c3, "k", 60, 4);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 3);
    /* the peer closes an idle one: seen by the loop, dropped */
    close(p3);
    spin(loop, 0.02);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 2);
    /* the idle timeout */
    spin(loop, 0.15);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 1);
    char b;
    ck_assert_int_eq(read(p2, &b, 1), 0);
    /* idle watchers do not keep the loop alive: ev_run returns with one pooled */
    ev_run(loop, 0);
    /* stray bytes from the peer: not reusable */
    ck_assert_int_eq(write(p1, "x", 1), 1);
    spin(loop, 0.02);
    ck_assert_uint_eq(mg_upstream_kpool_count(p), 0);
    mg_upstream_kpool_destroy(p);
    close(p1);
    close(p2);
    close(lfd);
    ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_kpool");
    TCase *tc = tcase_create("upstream_kpool");
    tcase_add_test(tc, test_keys_order_and_bounds);
    tcase_add_test(tc, test_peer_close_and_idle_timeout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
