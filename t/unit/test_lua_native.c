/* deps: core */
/*
 * test_lua_native.c -- plugin work done in C (core/lua/lua_native.c): the token cache
 * (a hit applies the entry's headers, the consumer and hide; a miss, an expired entry,
 * another token or a form the fast path does not read declines to Lua; what cannot be
 * cached is refused; collisions keep the cache bounded; flush forgets) and the CIDR
 * check (allow, deny winning, an address that does not parse refused).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lua_ffi.h"
#include "lua_int.h"
#include "pool.h"

static mg_pool_t *pool;

static mg_request_t req(const mg_header_t *h, size_t n)
{
    mg_request_t r;
    memset(&r, 0, sizeof(r));
    r.pool = pool;
    r.headers = (mg_header_t *)h;
    r.nheaders = n;
    r.remote_addr = MG_STR("127.0.0.1");
    return r;
}

static const char *header(const mg_request_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (mg_str_caseeq(r->headers[i].name, mg_str(name, strlen(name)))) {
            static char buf[256];
            snprintf(buf, sizeof(buf), "%.*s", (int)r->headers[i].value.len, r->headers[i].value.p);
            return buf;
        }
    }
    return NULL;
}

#define FROM "X-Token\0Authorization\0"
#define CLEAR "X-User\0X-Email\0"
#define TOK "aaa.bbb.ccc"

static mg_lua_native_t *cache(int hide)
{
    return mg_lua_native_token(4, FROM, sizeof(FROM) - 1, CLEAR, sizeof(CLEAR) - 1, hide);
}

static int put(mg_lua_native_t *n, const char *tok, double from, double to)
{
    static const char set[] = "X-User\0alice\0";
    return mg_lua_native_token_put(n, tok, strlen(tok), from, to, "carol", 5, set, sizeof(set) - 1,
                                   1);
}

START_TEST(test_token_hit_applies_the_entry)
{
    mg_lua_native_t *n = cache(1);
    ck_assert_ptr_nonnull(n);
    const mg_header_t h[] = {{MG_STR("Host"), MG_STR("h")},
                             {MG_STR("Authorization"), MG_STR("Bearer " TOK)},
                             {MG_STR("X-User"), MG_STR("mallory")},
                             {MG_STR("X-Email"), MG_STR("forged")}};
    mg_request_t r = req(h, 4);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_DECLINED); /* empty */
    double now = ev_time();
    ck_assert_int_eq(put(n, TOK, now - 10, now + 10), MG_OK);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_OK);
    ck_assert_str_eq(header(&r, "X-User"), "alice");
    ck_assert_ptr_null(header(&r, "X-Email"));
    ck_assert_ptr_null(header(&r, "Authorization")); /* hide */
    ck_assert_str_eq(header(&r, "Host"), "h");
    ck_assert_uint_eq(r.nheaders, 2);
    ck_assert(mg_str_eq(r.consumer, MG_STR("carol")));
    ck_assert(h[1].value.len == sizeof("Bearer " TOK) - 1); /* the client's list untouched */
    double st[3];
    mg_lua_native_token_stats(n, st);
    ck_assert(st[0] == 1 && st[1] == 1 && st[2] == 1); /* the empty lookup was a miss */
    mg_lua_native_free(n);
}
END_TEST

START_TEST(test_token_declines)
{
    mg_lua_native_t *n = cache(0);
    double now = ev_time();
    ck_assert_int_eq(put(n, TOK, now - 10, now + 10), MG_OK);
    struct {
        const char *name, *value;
        int want;
    } cases[] = {
        {"Authorization", "Bearer " TOK, MG_OK},
        {"X-Token", TOK, MG_OK},                       /* a bare token in another header */
        {"Authorization", "bearer " TOK, MG_DECLINED}, /* Lua reads the other forms */
        {"Authorization", "Bearer  " TOK, MG_DECLINED},
        {"Authorization", "Bearer " TOK " ", MG_DECLINED},
        {"Authorization", TOK, MG_DECLINED},
        {"Authorization", "Bearer " TOK "x", MG_DECLINED}, /* another token */
        {"Authorization", "Bearer aaa.bbb.ccd", MG_DECLINED},
        {"X-Other", TOK, MG_DECLINED},
        {"X-Token", "Bearer " TOK, MG_DECLINED},
    };
    for (size_t i = 0; i < MG_NELEMS(cases); i++) {
        mg_header_t h[] = {{mg_str(cases[i].name, strlen(cases[i].name)),
                            mg_str(cases[i].value, strlen(cases[i].value))}};
        mg_request_t r = req(h, 1);
        ck_assert_msg(mg__lua_native_run(&r, n) == cases[i].want, "case %zu", i);
        if (cases[i].want == MG_OK) {
            ck_assert_ptr_nonnull(header(&r, cases[i].name)); /* hide off: kept */
        }
    }
    /* the window: before and after it */
    const mg_header_t h[] = {{MG_STR("Authorization"), MG_STR("Bearer " TOK)}};
    mg_request_t r = req(h, 1);
    ck_assert_int_eq(put(n, TOK, now + 5, now + 10), MG_OK);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_DECLINED);
    ck_assert_int_eq(put(n, TOK, now - 10, now - 1), MG_OK);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_DECLINED);
    ck_assert_int_eq(put(n, TOK, -INFINITY, now + 10), MG_OK);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_OK);
    mg_lua_native_token_flush(n);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_DECLINED);
    mg_lua_native_free(n);
}
END_TEST

START_TEST(test_token_put_refuses)
{
    mg_lua_native_t *n = cache(0);
    double now = ev_time();
    char *big = malloc(8194);
    memset(big, 'a', 8193);
    big[8193] = '\0';
    ck_assert_int_eq(put(n, big, now, now + 1), MG_DECLINED); /* too long to cache */
    big[8192] = '\0';
    ck_assert_int_eq(put(n, big, now, now + 1), MG_OK);
    ck_assert_int_eq(put(n, "", now, now + 1), MG_DECLINED);
    ck_assert_int_eq(put(n, TOK, now + 1, now), MG_DECLINED); /* from after to */
    ck_assert_int_eq(put(n, TOK, NAN, now), MG_DECLINED);
    ck_assert_int_eq(put(n, TOK, now, NAN), MG_DECLINED);
    ck_assert_int_eq(mg_lua_native_token_put(n, TOK, 3, now, now + 1, "", 0, "", 0, 65),
                     MG_DECLINED);
    free(big);
    mg_lua_native_free(n);
}
END_TEST

START_TEST(test_token_cache_stays_bounded)
{
    mg_lua_native_t *n = cache(0); /* cap 4: 16 slots */
    double now = ev_time();
    char tok[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(tok, sizeof(tok), "t%d", i);
        ck_assert_int_eq(put(n, tok, now - 1, now + 10), MG_OK);
    }
    double st[3];
    mg_lua_native_token_stats(n, st);
    ck_assert(st[2] <= 16);
    mg_header_t h[] = {{MG_STR("X-Token"), mg_str(tok, strlen(tok))}};
    mg_request_t r = req(h, 1);
    ck_assert_int_eq(mg__lua_native_run(&r, n), MG_OK); /* the newest is there */
    mg_lua_native_free(n);
}
END_TEST

static mg_lua_cidr_t *set(const char *a, const char *b)
{
    mg_lua_cidr_t *m = mg_lua_cidr_new();
    const char *why;
    ck_assert_int_eq(mg_lua_cidr_add(m, a, strlen(a), &why), MG_OK);
    if (b != NULL) {
        ck_assert_int_eq(mg_lua_cidr_add(m, b, strlen(b), &why), MG_OK);
    }
    ck_assert_int_eq(mg_lua_cidr_build(m), MG_OK);
    return m;
}

static int cidr(mg_lua_native_t *n, const char *addr)
{
    mg_request_t r = req(NULL, 0);
    r.remote_addr = mg_str(addr, strlen(addr));
    return mg__lua_native_run(&r, n);
}

START_TEST(test_cidr)
{
    mg_lua_cidr_t *allow = set("10.0.0.0/8", "2001:db8::/32"), *deny = set("10.1.0.0/16", NULL);
    mg_lua_native_t *n = mg_lua_native_cidr(allow, deny, 451, "\"no\"", 4);
    ck_assert_int_eq(cidr(n, "10.2.3.4"), MG_OK);
    ck_assert_int_eq(cidr(n, "2001:db8::1"), MG_OK);
    ck_assert_int_eq(cidr(n, "::ffff:10.2.3.4"), MG_OK); /* IPv4-mapped */
    ck_assert_int_eq(cidr(n, "10.1.2.3"), 451);          /* deny wins */
    ck_assert_int_eq(cidr(n, "11.0.0.1"), 451);
    ck_assert_int_eq(cidr(n, "unix:"), 451); /* does not parse: refused */
    ck_assert_int_eq(cidr(n, ""), 451);
    mg_lua_native_free(n);
    n = mg_lua_native_cidr(NULL, deny, 403, "\"no\"", 4);
    ck_assert_int_eq(cidr(n, "11.0.0.1"), MG_OK);
    ck_assert_int_eq(cidr(n, "10.1.0.0"), 403);
    ck_assert_int_eq(cidr(n, "not an address"), 403);
    mg_lua_native_free(n);
    mg_lua_cidr_free(allow);
    mg_lua_cidr_free(deny);
}
END_TEST

int main(void)
{
    pool = mg_pool_create(4096);
    Suite *s = suite_create("lua_native");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_token_hit_applies_the_entry);
    tcase_add_test(tc, test_token_declines);
    tcase_add_test(tc, test_token_put_refuses);
    tcase_add_test(tc, test_token_cache_stays_bounded);
    tcase_add_test(tc, test_cidr);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    mg_pool_destroy(pool);
    return failed == 0 ? 0 : 1;
}
