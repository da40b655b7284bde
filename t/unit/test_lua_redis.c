/* deps: core */
/*
 * test_lua_redis.c -- the pure parts of mg.redis: a hiredis reply flattened for the
 * Lua side (every type, nesting, binary strings, empty arrays) and the addresses a
 * plugin may give.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "lua_redis.h"

static redisReply str(int type, const char *s, size_t len)
{
    return (redisReply){.type = type, .str = (char *)s, .len = len};
}

START_TEST(test_flatten_scalars)
{
    struct {
        redisReply rep;
        int type;
        const char *s;
        size_t len;
        long long integer;
    } cases[] = {
        {str(REDIS_REPLY_STATUS, "OK", 2), MG_LUA_REDIS_STATUS, "OK", 2, 0},
        {str(REDIS_REPLY_ERROR, "ERR no", 6), MG_LUA_REDIS_ERROR, "ERR no", 6, 0},
        {str(REDIS_REPLY_STRING, "a\0b", 3), MG_LUA_REDIS_STRING, "a\0b", 3, 0},
        {str(REDIS_REPLY_STRING, "", 0), MG_LUA_REDIS_STRING, "", 0, 0},
        {{.type = REDIS_REPLY_INTEGER, .integer = -9007199254740993LL},
         MG_LUA_REDIS_INTEGER,
         NULL,
         0,
         -9007199254740993LL},
        {{.type = REDIS_REPLY_NIL}, MG_LUA_REDIS_NIL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_lua_redis_item_t *items;
        size_t n;
        ck_assert_int_eq(mg__lua_redis_flatten(&cases[i].rep, &items, &n), MG_OK);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(items[0].type, cases[i].type);
        ck_assert_int_eq(items[0].integer, cases[i].integer);
        if (cases[i].s != NULL) {
            ck_assert_uint_eq(items[0].len, cases[i].len);
            ck_assert(memcmp(items[0].str, cases[i].s, cases[i].len) == 0);
            ck_assert_int_eq(items[0].str[items[0].len], '\0');
            /* a copy: the reply is freed by hiredis after the callback */
            ck_assert_ptr_ne(items[0].str, cases[i].rep.str);
        }
        free(items);
    }
}
END_TEST

START_TEST(test_flatten_nested_arrays_in_preorder)
{
    /* [1, ["x", nil, []], "OK"] */
    redisReply one = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    redisReply x = str(REDIS_REPLY_STRING, "x", 1);
    redisReply nil = {.type = REDIS_REPLY_NIL};
    redisReply empty = {.type = REDIS_REPLY_ARRAY, .elements = 0};
    redisReply *inner_el[] = {&x, &nil, &empty};
    redisReply inner = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = inner_el};
    redisReply ok = str(REDIS_REPLY_STATUS, "OK", 2);
    redisReply *top_el[] = {&one, &inner, &ok};
    redisReply top = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = top_el};
    mg_lua_redis_item_t *items;
    size_t n;
    ck_assert_int_eq(mg__lua_redis_flatten(&top, &items, &n), MG_OK);
    int want_type[] = {MG_LUA_REDIS_ARRAY,  MG_LUA_REDIS_INTEGER, MG_LUA_REDIS_ARRAY,
                       MG_LUA_REDIS_STRING, MG_LUA_REDIS_NIL,     MG_LUA_REDIS_ARRAY,
                       MG_LUA_REDIS_STATUS};
    int want_n[] = {3, 0, 3, 0, 0, 0, 0};
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(items[i].type, want_type[i]);
        ck_assert_int_eq(items[i].n, want_n[i]);
    }
    ck_assert_int_eq(items[1].integer, 1);
    ck_assert_str_eq(items[3].str, "x");
    ck_assert_str_eq(items[6].str, "OK");
    free(items);
}
END_TEST

START_TEST(test_parse_addr)
{
    mg_addr_t a;
    ck_assert_ptr_null(mg__lua_redis_parse_addr("127.0.0.1:6380", &a));
    ck_assert_int_eq(a.sa.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 6380);
    ck_assert_ptr_null(mg__lua_redis_parse_addr("localhost", &a));
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 6379);
    ck_assert_int_eq(ntohl(((struct sockaddr_in *)&a.sa)->sin_addr.s_addr), 0x7f000001);
    ck_assert_ptr_null(mg__lua_redis_parse_addr("[::1]:7000", &a));
    ck_assert_int_eq(a.sa.ss_family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port), 7000);
    ck_assert_ptr_null(mg__lua_redis_parse_addr("unix:/run/redis.sock", &a));
    ck_assert_int_eq(a.sa.ss_family, AF_UNIX);
    ck_assert_str_eq(((struct sockaddr_un *)&a.sa)->sun_path, "/run/redis.sock");
    const char *bad[] = {"",          ":6379",          "127.0.0.1:", "127.0.0.1:0",
                         "1.2.3.4:x", "1.2.3.4:70000",  "::1:6379",   "[::1",
                         "[::1]x",    "redis.internal", "unix:",      "[]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg__lua_redis_parse_addr(bad[i], &a) != NULL, "%s accepted", bad[i]);
    }
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_ptr_nonnull(mg__lua_redis_parse_addr(longpath, &a));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lua_redis");
    TCase *tc = tcase_create("lua_redis");
    tcase_add_test(tc, test_flatten_scalars);
    tcase_add_test(tc, test_flatten_nested_arrays_in_preorder);
    tcase_add_test(tc, test_parse_addr);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
