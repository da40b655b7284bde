/* deps: cidr pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "pool.h"

static mg_ip_t ip(const char *s)
{
    mg_ip_t a;
    ck_assert_msg(mg_ip_parse(s, strlen(s), &a) == MG_OK, "parse %s", s);
    return a;
}

static mg_cidr_set_t *set_of(mg_pool_t *pool, const char *const *items, size_t n)
{
    mg_cidr_t *r = mg_pool_alloc(pool, n * sizeof(*r) + 1);
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        ck_assert_msg(mg_cidr_parse(items[i], strlen(items[i]), &r[i], &why) == MG_OK, "%s: %s",
                      items[i], why);
    }
    mg_cidr_set_t *s = mg_cidr_set_build(pool, r, n);
    ck_assert_ptr_nonnull(s);
    return s;
}

static bool in(const mg_cidr_set_t *s, const char *a)
{
    mg_ip_t x = ip(a);
    return mg_cidr_set_match(s, &x);
}

START_TEST(test_ip_parse_is_strict)
{
    const char *good[] = {"1.2.3.4",     "0.0.0.0",         "255.255.255.255", "::1",
                          "2001:db8::7", "::ffff:10.1.2.3", "fe80::1:2:3:4",   "::"};
    const char *bad[] = {"",
                         "1.2.3",
                         "1.2.3.4.5",
                         "256.1.1.1",
                         "01.2.3.4",
                         "1.2.3.4:80",
                         "[::1]",
                         "[::1]:80",
                         "::1%eth0",
                         " 1.2.3.4",
                         "1.2.3.4 ",
                         "1.2.3.4/8",
                         "unknown",
                         "1.2.3.\xc3\xa9",
                         "0x1.2.3.4",
                         "2001:db8:::1",
                         "12345::1",
                         "1:2:3:4:5:6:7:8:9",
                         "0000:0000:0000:0000:0000:0000:0000:0000:0000"};
    mg_ip_t a;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(mg_ip_parse(good[i], strlen(good[i]), &a) == MG_OK, "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_ip_parse(bad[i], strlen(bad[i]), &a) == MG_ERROR, "%s", bad[i]);
    }
    /* the length given is what is parsed, not up to a NUL */
    ck_assert_int_eq(mg_ip_parse("1.2.3.4xyz", 7, &a), MG_OK);
    ck_assert(!a.v6);
    ck_assert_int_eq(a.b[3], 4);
}
END_TEST

START_TEST(test_ip_format_is_canonical)
{
    char buf[MG_IP_TEXT_MAX];
    mg_ip_t a = ip("2001:DB8:0:0:0:0:0:7");
    ck_assert_uint_eq(mg_ip_format(&a, buf), strlen("2001:db8::7"));
    ck_assert_str_eq(buf, "2001:db8::7");
    a = ip("::FFFF:10.1.2.3");
    mg_ip_format(&a, buf);
    ck_assert_str_eq(buf, "::ffff:10.1.2.3");
    a = ip("203.0.113.7");
    mg_ip_format(&a, buf);
    ck_assert_str_eq(buf, "203.0.113.7");
}
END_TEST

START_TEST(test_cidr_parse_errors)
{
    struct {
        const char *s;
        const char *why; /* a part of the reason */
    } bad[] = {
        {"10.0.0.0/33", "at most 32"},
        {"::/129", "at most 128"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/-1", "prefix length"},
        {"10.0.0.0/8a", "prefix length"},
        {"10.0.0.0/08", "prefix length"},
        {"10.0.0.0/1000", "prefix length"},
        {"10.0.0.1/8", "bits set after the prefix"},
        {"192.168.1.1/24", "bits set after the prefix"},
        {"2001:db8::1/32", "bits set after the prefix"},
        {"10.0.0/8", "expected an IP address"},
        {"/8", "expected an IP address"},
        {"example.com", "expected an IP address"},
        {"10.0.0.0 /8", "expected an IP address"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mg_cidr_t c;
        const char *why = NULL;
        ck_assert_msg(mg_cidr_parse(bad[i].s, strlen(bad[i].s), &c, &why) == MG_ERROR, "%s",
                      bad[i].s);
        ck_assert_msg(why != NULL && strstr(why, bad[i].why) != NULL, "%s: %s", bad[i].s, why);
    }
    mg_cidr_t c;
    const char *why;
    ck_assert_int_eq(mg_cidr_parse("10.0.0.7", 8, &c, &why), MG_OK);
    ck_assert_int_eq(c.bits, 32);
    ck_assert_int_eq(mg_cidr_parse("2001:db8::7", 11, &c, &why), MG_OK);
    ck_assert_int_eq(c.bits, 128);
    ck_assert_int_eq(mg_cidr_parse("0.0.0.0/0", 9, &c, &why), MG_OK);
    ck_assert_int_eq(c.bits, 0);
    ck_assert_int_eq(mg_cidr_parse("::/0", 4, &c, &why), MG_OK);
    ck_assert_int_eq(mg_cidr_parse("10.1.2.128/25", 13, &c, &why), MG_OK);
    ck_assert_int_eq(c.bits, 25);
}
END_TEST

START_TEST(test_match_v4_v6_and_mapped)
{
    mg_pool_t *pool = mg_pool_create(4096);
    const char *items[] = {"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "172.16.0.0/12"};
    mg_cidr_set_t *s = set_of(pool, items, 4);
    ck_assert(in(s, "10.0.0.0"));
    ck_assert(in(s, "10.255.255.255"));
    ck_assert(!in(s, "11.0.0.0"));
    ck_assert(!in(s, "9.255.255.255"));
    ck_assert(in(s, "192.168.1.7"));
    ck_assert(!in(s, "192.168.1.6"));
    ck_assert(!in(s, "192.168.1.8"));
    ck_assert(in(s, "172.31.255.255"));
    ck_assert(!in(s, "172.32.0.0"));
    ck_assert(in(s, "2001:db8::1"));
    ck_assert(in(s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(!in(s, "2001:db9::"));
    /* IPv4-mapped: an IPv4 client on an IPv6 socket */
    ck_assert(in(s, "::ffff:10.1.2.3"));
    ck_assert(in(s, "::ffff:192.168.1.7"));
    ck_assert(!in(s, "::ffff:11.1.2.3"));
    /* families kept apart: a v6 address with the same bits as 10/8 is not in it */
    ck_assert(!in(s, "a00::1"));
    ck_assert(!in(s, "::10.1.2.3"));
    ck_assert(!mg_cidr_set_match(NULL, &(mg_ip_t){0}));
    mg_pool_destroy(pool);
}
END_TEST

START_TEST(test_zero_prefix_and_the_edges)
{
    mg_pool_t *pool = mg_pool_create(4096);
    const char *all4[] = {"0.0.0.0/0"};
    mg_cidr_set_t *s = set_of(pool, all4, 1);
    ck_assert(in(s, "0.0.0.0"));
    ck_assert(in(s, "255.255.255.255"));
    ck_assert(in(s, "::ffff:1.2.3.4"));
    ck_assert(!in(s, "::1"));
    const char *all6[] = {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
    s = set_of(pool, all6, 2);
    ck_assert(in(s, "::"));
    ck_assert(in(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(!in(s, "1.2.3.4"));
    ck_assert_uint_eq(mg_cidr_set_count(s), 1);
    const char *top[] = {"255.255.255.255", "255.255.255.254/31", "0.0.0.0"};
    s = set_of(pool, top, 3);
    ck_assert(in(s, "255.255.255.255"));
    ck_assert(in(s, "255.255.255.254"));
    ck_assert(!in(s, "255.255.255.253"));
    ck_assert(in(s, "0.0.0.0"));
    ck_assert(!in(s, "0.0.0.1"));
    ck_assert_uint_eq(mg_cidr_set_count(s), 2);
    mg_pool_destroy(pool);
}
END_TEST

START_TEST(test_overlapping_and_adjacent_ranges_merge)
{
    mg_pool_t *pool = mg_pool_create(4096);
    const char *items[] = {"10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24",
                           "10.0.0.0/16", "20.0.0.0/8",  "2001:db8::/48", "2001:db8:0:1::/64"};
    mg_cidr_set_t *s = set_of(pool, items, 8);
    ck_assert_uint_eq(mg_cidr_set_count(s), 3); /* 10.0/16, 20/8, 2001:db8::/48 */
    ck_assert(in(s, "10.0.2.1"));
    ck_assert(in(s, "20.1.1.1"));
    ck_assert(!in(s, "10.1.0.0"));
    const char *adj[] = {"10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24"};
    s = set_of(pool, adj, 3);
    ck_assert_uint_eq(mg_cidr_set_count(s), 2); /* 10.0.0-1 merged, 10.0.3 apart */
    ck_assert(in(s, "10.0.1.255"));
    ck_assert(!in(s, "10.0.2.0"));
    ck_assert(in(s, "10.0.3.0"));
    mg_pool_destroy(pool);
}
END_TEST

/* Thousands of disjoint ranges against a linear scan, at every boundary. */
START_TEST(test_many_ranges_agree_with_a_linear_scan)
{
    enum { N = 5000 };
    mg_pool_t *pool = mg_pool_create(1 << 16);
    mg_cidr_t *r = mg_pool_alloc(pool, N * sizeof(*r));
    uint32_t lo[N], hi[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        char text[40];
        int bits = 16 + rand() % 17;
        uint32_t net = ((uint32_t)rand() << 1 ^ (uint32_t)rand()) & (bits ? ~0u << (32 - bits) : 0);
        snprintf(text, sizeof(text), "%u.%u.%u.%u/%d", net >> 24, net >> 16 & 255, net >> 8 & 255,
                 net & 255, bits);
        const char *why;
        ck_assert_int_eq(mg_cidr_parse(text, strlen(text), &r[i], &why), MG_OK);
        lo[i] = net;
        hi[i] = net | (bits == 32 ? 0 : ~0u >> bits);
    }
    mg_cidr_set_t *s = mg_cidr_set_build(pool, r, N);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < N; i++) {
        uint32_t probes[] = {lo[i], hi[i], lo[i] - 1, hi[i] + 1, lo[i] + (hi[i] - lo[i]) / 2};
        for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
            uint32_t v = probes[k];
            bool want = false;
            for (int j = 0; j < N && !want; j++) {
                want = v >= lo[j] && v <= hi[j];
            }
            mg_ip_t a = {.v6 = false, .b = {v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255}};
            ck_assert_msg(mg_cidr_set_match(s, &a) == want, "%08x", v);
        }
    }
    mg_pool_destroy(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("cidr");
    tcase_add_test(tc, test_ip_parse_is_strict);
    tcase_add_test(tc, test_ip_format_is_canonical);
    tcase_add_test(tc, test_cidr_parse_errors);
    tcase_add_test(tc, test_match_v4_v6_and_mapped);
    tcase_add_test(tc, test_zero_prefix_and_the_edges);
    tcase_add_test(tc, test_overlapping_and_adjacent_ranges_merge);
    tcase_add_test(tc, test_many_ranges_agree_with_a_linear_scan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
