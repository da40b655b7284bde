/* deps: resolver resolver_cache log log_format log_template log_syslog pool */
/*
 * The resolver's cache (TTLs, negative answers, the bound, LRU order, busy entries) on
 * its own clock, and the resolver on a loop against a name server of the test's own: a
 * UDP socket on 127.0.0.1 answering A queries with 127.0.0.9 and a TTL of 1 s, NXDOMAIN
 * for names starting with "nx", and nothing at all for names starting with "mute".
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver.h"

/* ---- the cache ---- */

static mg_rcache_addr_t v4(uint8_t last)
{
    mg_rcache_addr_t a = {.family = AF_INET, .a = {10, 0, 0, last}};
    return a;
}

START_TEST(test_cache_ttl)
{
    mg_rcache_t c;
    ck_assert_int_eq(mg_rcache_init(&c, 8), MG_OK);
    mg_rcache_entry_t *e = mg_rcache_add(&c, "Api.Example.", AF_UNSPEC);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->name, "api.example");
    ck_assert(!mg_rcache_fresh(e, 100)); /* no answer yet */
    mg_rcache_addr_t a[2] = {v4(1), v4(2)};
    mg_rcache_set(e, a, 2, NULL, 30, 100);
    ck_assert_ptr_eq(mg_rcache_find(&c, "api.EXAMPLE", AF_UNSPEC), e);
    ck_assert_ptr_null(mg_rcache_find(&c, "api.example", AF_INET)); /* the family is keyed */
    ck_assert(mg_rcache_fresh(e, 129.9));
    ck_assert(!mg_rcache_fresh(e, 130));
    ck_assert_uint_eq(e->naddrs, 2);
    ck_assert_int_eq(e->addrs[1].a[3], 2);
    /* a negative answer: no addresses, its text, its own TTL */
    mg_rcache_set(e, NULL, 0, "host not found", 5, 200);
    ck_assert_uint_eq(e->naddrs, 0);
    ck_assert_str_eq(e->err, "host not found");
    ck_assert(mg_rcache_fresh(e, 204.9) && !mg_rcache_fresh(e, 205));
    /* a failure kept for 0 s is stale at once */
    mg_rcache_set(e, NULL, 0, "DNS timeout", 0, 300);
    ck_assert(!mg_rcache_fresh(e, 300));
    mg_rcache_dispose(&c);
}
END_TEST

START_TEST(test_cache_bound)
{
    mg_rcache_t c;
    char name[32];
    ck_assert_int_eq(mg_rcache_init(&c, 4), MG_OK);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        ck_assert_ptr_nonnull(mg_rcache_add(&c, name, AF_UNSPEC));
    }
    ck_assert_ptr_nonnull(mg_rcache_find(&c, "n0.test", AF_UNSPEC)); /* n0 used: n1 is oldest */
    int token;
    mg_rcache_find(&c, "n1.test", AF_UNSPEC)->busy = &token; /* ... but busy: n2 goes */
    mg_rcache_find(&c, "n0.test", AF_UNSPEC);
    ck_assert_ptr_nonnull(mg_rcache_add(&c, "n4.test", AF_UNSPEC));
    ck_assert_uint_eq(c.count, 4);
    ck_assert_uint_eq(c.evictions, 1);
    ck_assert_ptr_null(mg_rcache_find(&c, "n2.test", AF_UNSPEC));
    ck_assert_ptr_nonnull(mg_rcache_find(&c, "n1.test", AF_UNSPEC));
    /* every entry busy: the cache grows rather than fail */
    for (mg_rcache_entry_t *e = c.head; e != NULL; e = e->next) {
        e->busy = &token;
    }
    ck_assert_ptr_nonnull(mg_rcache_add(&c, "n5.test", AF_UNSPEC));
    ck_assert_uint_eq(c.count, 5);
    for (mg_rcache_entry_t *e = c.head; e != NULL; e = e->next) {
        e->busy = NULL;
    }
    ck_assert_ptr_nonnull(mg_rcache_add(&c, "n6.test", AF_UNSPEC)); /* back under the bound */
    ck_assert_uint_eq(c.count, 4);
    /* too long a name */
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ck_assert_ptr_null(mg_rcache_add(&c, longname, AF_UNSPEC));
    mg_rcache_dispose(&c);
}
END_TEST

/* ---- a name server of our own ---- */

typedef struct {
    ev_io io;
    int fd;
    int port;
    int queries;
} dns_t;

static void on_dns(struct ev_loop *loop, ev_io *w, int revents)
{
    dns_t *d = (dns_t *)w;
    unsigned char q[512], out[600];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 17) {
        return;
    }
    d->queries++;
    if (q[13] == 'm') { /* "mute...": never answered */
        return;
    }
    bool nx = q[13] == 'n' && q[14] == 'x';
    memcpy(out, q, (size_t)n);
    out[2] = 0x81;
    out[3] = nx ? 0x83 : 0x80;
    out[7] = nx ? 0 : 1; /* answers */
    out[8] = out[9] = out[10] = out[11] = 0;
    size_t len = (size_t)n;
    if (!nx) {
        static const unsigned char ans[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, 9};
        memcpy(out + len, ans, sizeof(ans));
        len += sizeof(ans);
    }
    sendto(d->fd, out, len, 0, (struct sockaddr *)&from, fl);
}

static void dns_start(struct ev_loop *loop, dns_t *d)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    memset(d, 0, sizeof(*d));
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(d->fd, 0);
    ck_assert_int_eq(bind(d->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(d->fd, (struct sockaddr *)&a, &al);
    d->port = ntohs(a.sin_port);
    ev_io_init(&d->io, on_dns, d->fd, EV_READ);
    ev_io_start(loop, &d->io);
}

typedef struct {
    int calls;
    size_t naddrs;
    const char *err;
    char ip[64];
} got_t;

static void on_answer(void *arg, const mg_resolver_answer_t *a)
{
    got_t *g = arg;
    g->calls++;
    g->naddrs = a->naddrs;
    g->err = a->err;
    if (a->naddrs > 0) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->addrs[0])->sin_addr, g->ip,
                  sizeof(g->ip));
    }
}

static mg_resolver_t *make(struct ev_loop *loop, dns_t *d, double valid, double timeout)
{
    mg_addr_t server = {.text = "test"};
    struct sockaddr_in *s4 = (struct sockaddr_in *)&server.sa;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)d->port);
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server.salen = sizeof(*s4);
    mg_resolver_conf_t conf = {
        .servers = &server, .nservers = 1, .valid = valid, .timeout = timeout};
    char err[256] = "";
    mg_resolver_t *r = mg_resolver_new(loop, &conf, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert(mg_resolver_conf_same(r, &conf));
    conf.valid = valid + 1;
    ck_assert(!mg_resolver_conf_same(r, &conf));
    return r;
}

static void run_until(struct ev_loop *loop, const int *calls, int want)
{
    double until = ev_time() + 3;
    while (*calls < want && ev_time() < until) {
        ev_run(loop, EVRUN_ONCE);
    }
    ck_assert_int_eq(*calls, want);
}

START_TEST(test_literals)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    dns_t d;
    dns_start(loop, &d);
    mg_resolver_t *r = make(loop, &d, 0, 1);
    mg_resolver_answer_t now;
    got_t g = {0};
    ck_assert_ptr_null(mg_resolver_resolve(r, "10.1.2.3", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_uint_eq(now.naddrs, 1);
    ck_assert_int_eq(now.addrs[0].ss_family, AF_INET);
    ck_assert_ptr_null(mg_resolver_resolve(r, "::1", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_int_eq(now.addrs[0].ss_family, AF_INET6);
    ck_assert_ptr_null(mg_resolver_resolve(r, "LocalHost", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_uint_eq(now.naddrs, 2);
    ck_assert_ptr_null(mg_resolver_resolve(r, "localhost", AF_INET6, 0, on_answer, &g, &now));
    ck_assert_uint_eq(now.naddrs, 1);
    ck_assert_int_eq(now.addrs[0].ss_family, AF_INET6);
    ck_assert_ptr_null(mg_resolver_resolve(r, "a.b.invalid", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_str_eq(now.err, "host not found");
    ck_assert_ptr_null(mg_resolver_resolve(r, "a..b", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_str_eq(now.err, "bad host name");
    ck_assert_ptr_null(mg_resolver_resolve(r, "a b", AF_UNSPEC, 0, on_answer, &g, &now));
    ck_assert_str_eq(now.err, "bad host name");
    ck_assert_int_eq(g.calls, 0);
    ck_assert_int_eq(d.queries, 0);
    mg_resolver_free(r);
    ev_loop_destroy(loop);
    close(d.fd);
}
END_TEST

START_TEST(test_lookup_cache_and_ttl)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    dns_t d;
    dns_start(loop, &d);
    mg_resolver_t *r = make(loop, &d, 0, 1);
    mg_resolver_answer_t now;
    got_t g1 = {0}, g2 = {0};
    /* two waiters, one lookup */
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "api.test", AF_INET, 0, on_answer, &g1, &now));
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "API.test", AF_INET, 0, on_answer, &g2, &now));
    ck_assert_uint_eq(mg_resolver_pending(r), 2);
    run_until(loop, &g2.calls, 1);
    ck_assert_int_eq(g1.calls, 1);
    ck_assert_str_eq(g1.ip, "127.0.0.9");
    ck_assert_str_eq(g2.ip, "127.0.0.9");
    ck_assert_int_eq(d.queries, 1);
    ck_assert_uint_eq(mg_resolver_pending(r), 0);
    /* cached: answered at once */
    ck_assert_ptr_null(mg_resolver_resolve(r, "api.test", AF_INET, 0, on_answer, &g1, &now));
    ck_assert_uint_eq(now.naddrs, 1);
    ck_assert_int_eq(d.queries, 1);
    /* the answer's TTL (1 s) passes: asked again */
    usleep(1100 * 1000);
    ev_now_update(loop);
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "api.test", AF_INET, 0, on_answer, &g1, &now));
    run_until(loop, &g1.calls, 2);
    ck_assert_int_eq(d.queries, 2);
    /* NXDOMAIN: an error, then kept (negative cache) */
    got_t g3 = {0};
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "nx.test", AF_INET, 0, on_answer, &g3, &now));
    run_until(loop, &g3.calls, 1);
    ck_assert_str_eq(g3.err, "host not found");
    ck_assert_ptr_null(mg_resolver_resolve(r, "nx.test", AF_INET, 0, on_answer, &g3, &now));
    ck_assert_str_eq(now.err, "host not found");
    ck_assert_int_eq(d.queries, 3);
    mg_resolver_stats_t st;
    mg_resolver_stats(r, &st);
    ck_assert_uint_eq(st.queries, 3);
    ck_assert_uint_eq(st.joined, 1);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.failures, 1);
    ck_assert_uint_eq(st.cached, 2);
    mg_resolver_free(r);
    ev_loop_destroy(loop);
    close(d.fd);
}
END_TEST

START_TEST(test_valid_overrides_ttl)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    dns_t d;
    dns_start(loop, &d);
    mg_resolver_t *r = make(loop, &d, 30, 1);
    mg_resolver_answer_t now;
    got_t g = {0};
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "api.test", AF_INET, 0, on_answer, &g, &now));
    run_until(loop, &g.calls, 1);
    usleep(1100 * 1000); /* past the answer's TTL, well within `valid` */
    ev_now_update(loop);
    ck_assert_ptr_null(mg_resolver_resolve(r, "api.test", AF_INET, 0, on_answer, &g, &now));
    ck_assert_uint_eq(now.naddrs, 1);
    ck_assert_int_eq(d.queries, 1);
    mg_resolver_free(r);
    ev_loop_destroy(loop);
    close(d.fd);
}
END_TEST

START_TEST(test_timeouts_cancel_and_free)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    dns_t d;
    dns_start(loop, &d);
    mg_resolver_t *r = make(loop, &d, 0, 0.5);
    mg_resolver_answer_t now;
    got_t g1 = {0}, g2 = {0}, g3 = {0};
    /* a waiter's own deadline, shorter than the resolver's */
    double t0 = ev_time();
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "mute.test", AF_INET, 0.1, on_answer, &g1, &now));
    mg_resolver_query_t *q = mg_resolver_resolve(r, "mute.test", AF_INET, 0, on_answer, &g2, &now);
    ck_assert_ptr_nonnull(q);
    mg_resolver_cancel(q); /* never called back */
    run_until(loop, &g1.calls, 1);
    ck_assert_str_eq(g1.err, "DNS timeout");
    ck_assert(ev_time() - t0 < 0.4);
    ck_assert_int_eq(g2.calls, 0);
    /* the resolver's timeout */
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "mute2.test", AF_INET, 0, on_answer, &g3, &now));
    run_until(loop, &g3.calls, 1);
    ck_assert_str_eq(g3.err, "DNS timeout");
    /* freed with a waiter pending: its callback never comes */
    got_t g4 = {0};
    ck_assert_ptr_nonnull(mg_resolver_resolve(r, "mute3.test", AF_INET, 0, on_answer, &g4, &now));
    mg_resolver_free(r);
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_int_eq(g4.calls, 0);
    ck_assert_int_eq(g2.calls, 0);
    ev_loop_destroy(loop);
    close(d.fd);
}
END_TEST

/* ---- the TTL of a raw answer (SRV answers come raw from c-ares) ---- */

START_TEST(test_msg_ttl)
{
    /* header: id, flags, 1 question, 2 answers; question _x._tcp.a IN SRV; two SRV
     * records whose names point back at the question (compression), TTLs 300 and 60 */
    /* one line per part of the message */
    /* clang-format off */
    static const unsigned char msg[] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
        2, '_', 'x', 4, '_', 't', 'c', 'p', 1, 'a', 0, 0, 33, 0, 1,
        0xc0, 12, 0, 33, 0, 1, 0, 0, 0x01, 0x2c, 0, 9, 0, 1, 0, 2, 0, 80, 1, 'b', 0,
        0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 9, 0, 1, 0, 2, 0, 81, 1, 'c', 0,
    };
    /* clang-format on */
    ck_assert_int_eq(mg_resolver_msg_ttl(msg, sizeof(msg)), 60);
    /* cut anywhere inside the records: malformed, never read past the end */
    for (size_t n = 0; n < sizeof(msg); n++) {
        int ttl = mg_resolver_msg_ttl(msg, n);
        ck_assert_msg(ttl == -1 || (n >= 51 && ttl == 300), "cut at %zu gave %d", n, ttl);
    }
    /* no answer record */
    unsigned char none[sizeof(msg)];
    memcpy(none, msg, sizeof(msg));
    none[7] = 0;
    ck_assert_int_eq(mg_resolver_msg_ttl(none, sizeof(none)), -1);
    /* a label type that does not exist (0x40) */
    unsigned char bad[sizeof(msg)];
    memcpy(bad, msg, sizeof(msg));
    bad[12] = 0x42;
    ck_assert_int_eq(mg_resolver_msg_ttl(bad, sizeof(bad)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 15);
    tcase_add_test(tc, test_cache_ttl);
    tcase_add_test(tc, test_cache_bound);
    tcase_add_test(tc, test_literals);
    tcase_add_test(tc, test_lookup_cache_and_ttl);
    tcase_add_test(tc, test_valid_overrides_ttl);
    tcase_add_test(tc, test_timeouts_cancel_and_free);
    tcase_add_test(tc, test_msg_ttl);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
