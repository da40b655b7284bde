/* deps: realip cidr pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "gen.h"
#include "http.h"
#include "pool.h"
#include "realip.h"

static mg_pool_t *pool;
static mg_cidr_set_t *trusted;

static void setup(void)
{
    const char *items[] = {"10.0.0.0/8", "127.0.0.1", "2001:db8::/32", "192.168.0.0/16"};
    pool = mg_pool_create(8192);
    mg_cidr_t r[4];
    for (int i = 0; i < 4; i++) {
        const char *why;
        ck_assert_int_eq(mg_cidr_parse(items[i], strlen(items[i]), &r[i], &why), MG_OK);
    }
    trusted = mg_cidr_set_build(pool, r, 4);
}

static void teardown(void)
{
    mg_pool_destroy(pool);
}

/* The client chosen from the header lines ("|" separates lines), as text, or "-" when
 * the peer is the client. */
static const char *pick(const char *lines)
{
    static char out[MG_IP_TEXT_MAX];
    mg_str_t vals[16];
    size_t n = 0;
    const char *p = lines;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        vals[n++] = mg_str(p, len);
        if (bar == NULL) {
            break;
        }
        p = bar + 1;
    }
    mg_ip_t ip;
    if (mg_realip_select(trusted, vals, n, &ip) != MG_OK) {
        return "-";
    }
    mg_ip_format(&ip, out);
    return out;
}

START_TEST(test_right_most_untrusted)
{
    struct {
        const char *xff, *want;
    } cases[] = {
        {"203.0.113.7", "203.0.113.7"},
        {"203.0.113.7, 10.0.0.2", "203.0.113.7"},
        {"198.51.100.1, 203.0.113.7, 10.0.0.2, 192.168.3.4", "203.0.113.7"},
        {"198.51.100.1,203.0.113.7,10.0.0.2", "203.0.113.7"},
        {"  203.0.113.7  ,\t10.0.0.2\t", "203.0.113.7"},
        /* a forged left part stays left of the real client */
        {"6.6.6.6, 203.0.113.7", "203.0.113.7"},
        /* every entry trusted: the left-most */
        {"10.0.0.5, 192.168.1.1, 10.0.0.2", "10.0.0.5"},
        {"127.0.0.1", "127.0.0.1"},
        /* IPv6 and IPv4-mapped */
        {"2001:db8::5, 2001:db9::1", "2001:db9::1"},
        {"2001:db9::1, 2001:db8::5", "2001:db9::1"},
        {"203.0.113.7, ::ffff:10.0.0.2", "203.0.113.7"},
        {"::ffff:203.0.113.7, 10.0.0.2", "::ffff:203.0.113.7"},
        {"2001:DB9:0:0:0:0:0:1", "2001:db9::1"},
        /* empty list elements are nothing */
        {"203.0.113.7,, 10.0.0.2,", "203.0.113.7"},
        {", ,203.0.113.7", "203.0.113.7"},
        /* several lines are one list, joined in order */
        {"203.0.113.7|10.0.0.2", "203.0.113.7"},
        {"198.51.100.1, 203.0.113.7|10.0.0.2, 10.0.0.3|192.168.0.1", "203.0.113.7"},
        {"10.0.0.9|10.0.0.2", "10.0.0.9"},
        {"203.0.113.7||", "203.0.113.7"},
        /* an untrusted entry ends the walk before anything malformed left of it */
        {"garbage, 203.0.113.7, 10.0.0.2", "203.0.113.7"},
        {"1.2.3.4:80, 203.0.113.7", "203.0.113.7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(strcmp(pick(cases[i].xff), cases[i].want) == 0, "\"%s\": got %s, want %s",
                      cases[i].xff, pick(cases[i].xff), cases[i].want);
    }
}
END_TEST

START_TEST(test_unparsable_means_the_peer)
{
    const char *cases[] = {
        "",
        " ",
        ",,",
        "unknown",
        "203.0.113.7:4711",
        "[2001:db9::1]",
        "[2001:db9::1]:443",
        "203.0.113.7 10.0.0.2",
        "203.0.113.\xc3\xa9",
        "203.0.113.7, junk",
        "203.0.113.7, 10.0.0.2:80",
        "203.0.113.7, 10.0.0.2, _hidden",
        "fe80::1%eth0",
        "203.0.113.7/32",
        "0x7f.0.0.1",
        "203.0.113.7|unknown",
        "|",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(strcmp(pick(cases[i]), "-") == 0, "\"%s\": got %s", cases[i], pick(cases[i]));
    }
}
END_TEST

START_TEST(test_a_long_chain_is_walked)
{
    char buf[20000];
    size_t k = 0;
    k += (size_t)sprintf(buf + k, "203.0.113.99");
    for (int i = 0; i < 1000; i++) {
        k += (size_t)sprintf(buf + k, ", 10.%d.%d.1", i / 256, i % 256);
    }
    ck_assert_str_eq(pick(buf), "203.0.113.99");
}
END_TEST

/* mg_realip_apply on a request: addresses, the flag and the X-Forwarded-For sent up. */
static mg_request_t *request(mg_conf_t *conf, mg_gen_t *g, const char *peer, const mg_header_t *h,
                             size_t n)
{
    mg_request_t *r = mg_pool_calloc(pool, sizeof(*r));
    g->conf = conf;
    r->gen = g;
    r->pool = pool;
    r->headers = (mg_header_t *)h;
    r->nheaders = n;
    r->remote_addr = r->peer_addr = mg_str(peer, strlen(peer));
    r->remote_port = r->peer_port = 5000;
    ck_assert_int_eq(mg_realip_apply(r), MG_OK);
    return r;
}

static bool eq(mg_str_t s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

START_TEST(test_apply)
{
    mg_conf_t conf = {0};
    mg_gen_t g = {0};
    mg_header_t h[] = {
        {MG_STR("X-Forwarded-For"), MG_STR("198.51.100.1, 203.0.113.7")},
        {MG_STR("Accept"), MG_STR("*/*")},
        {MG_STR("x-forwarded-for"), MG_STR("10.0.0.2")},
    };
    /* no trusted_proxies: the peer, and X-Forwarded-For replaced */
    mg_request_t *r = request(&conf, &g, "127.0.0.1", h, 3);
    ck_assert(eq(r->remote_addr, "127.0.0.1") && r->remote_port == 5000 && !r->peer_trusted);
    ck_assert(eq(r->forwarded_for, "127.0.0.1"));

    conf.trusted_proxies = trusted;
    r = request(&conf, &g, "127.0.0.1", h, 3);
    ck_assert(r->peer_trusted);
    ck_assert_msg(eq(r->remote_addr, "203.0.113.7"), "%.*s", (int)r->remote_addr.len,
                  r->remote_addr.p);
    ck_assert_int_eq(r->remote_port, 0);
    ck_assert(eq(r->peer_addr, "127.0.0.1") && r->peer_port == 5000);
    ck_assert(eq(r->forwarded_for, "198.51.100.1, 203.0.113.7, 10.0.0.2, 127.0.0.1"));

    /* trusted without X-Forwarded-For: the peer */
    r = request(&conf, &g, "10.9.9.9", h + 1, 1);
    ck_assert(r->peer_trusted && eq(r->remote_addr, "10.9.9.9") && r->remote_port == 5000);
    ck_assert(eq(r->forwarded_for, "10.9.9.9"));

    /* an untrusted peer's list is neither believed nor passed on */
    r = request(&conf, &g, "203.0.113.50", h, 3);
    ck_assert(!r->peer_trusted && eq(r->remote_addr, "203.0.113.50"));
    ck_assert(eq(r->forwarded_for, "203.0.113.50"));

    /* malformed: the peer is the client, the list still goes up with the peer appended */
    mg_header_t bad[] = {{MG_STR("X-Forwarded-For"), MG_STR("203.0.113.7:80")}};
    r = request(&conf, &g, "::ffff:10.1.1.1", bad, 1);
    ck_assert(r->peer_trusted && eq(r->remote_addr, "::ffff:10.1.1.1"));
    ck_assert(eq(r->forwarded_for, "203.0.113.7:80, ::ffff:10.1.1.1"));

    /* an empty line adds nothing to the list */
    mg_header_t empty[] = {{MG_STR("X-Forwarded-For"), MG_STR("")},
                           {MG_STR("X-Forwarded-For"), MG_STR("203.0.113.7")}};
    r = request(&conf, &g, "10.0.0.1", empty, 2);
    ck_assert(eq(r->remote_addr, "203.0.113.7"));
    ck_assert(eq(r->forwarded_for, "203.0.113.7, 10.0.0.1"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("realip");
    TCase *tc = tcase_create("realip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_right_most_untrusted);
    tcase_add_test(tc, test_unparsable_means_the_peer);
    tcase_add_test(tc, test_a_long_chain_is_walked);
    tcase_add_test(tc, test_apply);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
