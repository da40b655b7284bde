/* deps: core */
/*
 * test_redis_guard.c -- the reader guard of the worker's Redis client (core/sys/redis.c):
 * replies up to the commands sent are read as hiredis reads them, whatever the way the
 * bytes are split and however deep the arrays; the one past them fails the read (hiredis
 * then closes the connection) instead of reaching hiredis' abort on a reply with no
 * command waiting.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

static redisReader *guarded(mg__redis_conn_t *c, uint64_t sent)
{
    memset(c, 0, sizeof(*c));
    redisReader *rd = redisReaderCreate();
    ck_assert_ptr_nonnull(rd);
    mg__redis_guard_reader(rd, c);
    c->sent = sent;
    return rd;
}

static int next(redisReader *rd, redisReply **out)
{
    void *rep = NULL;
    int rc = redisReaderGetReply(rd, &rep);
    *out = rep;
    return rc;
}

START_TEST(test_replies_up_to_the_commands)
{
    mg__redis_conn_t c;
    redisReader *rd = guarded(&c, 3);
    const char *in = "+OK\r\n*3\r\n:1\r\n*2\r\n$3\r\nabc\r\n$-1\r\n-ERR x\r\n$2\r\nhi\r\n";
    redisReply *r;
    /* byte by byte: partial replies do not count twice */
    for (size_t i = 0; in[i] != '\0'; i++) {
        ck_assert_int_eq(redisReaderFeed(rd, in + i, 1), REDIS_OK);
    }
    ck_assert_int_eq(next(rd, &r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    ck_assert_int_eq(next(rd, &r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 3);
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_ERROR); /* elements do not count */
    freeReplyObject(r);
    ck_assert_int_eq(next(rd, &r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    ck_assert(!c.unasked);
    ck_assert_int_eq(next(rd, &r), REDIS_OK); /* nothing more buffered */
    ck_assert_ptr_null(r);
    /* the fourth: nobody asked */
    ck_assert_int_eq(redisReaderFeed(rd, "+EXTRA\r\n", 8), REDIS_OK);
    ck_assert_int_eq(next(rd, &r), REDIS_ERR);
    ck_assert(c.unasked);
    redisReaderFree(rd);
}
END_TEST

START_TEST(test_a_reply_before_any_command)
{
    mg__redis_conn_t c;
    redisReader *rd = guarded(&c, 0);
    redisReply *r;
    ck_assert_int_eq(redisReaderFeed(rd, ":5\r\n", 4), REDIS_OK);
    ck_assert_int_eq(next(rd, &r), REDIS_ERR);
    ck_assert(c.unasked);
    redisReaderFree(rd);
    rd = guarded(&c, 0);
    ck_assert_int_eq(redisReaderFeed(rd, "$-1\r\n", 5), REDIS_OK);
    ck_assert_int_eq(next(rd, &r), REDIS_ERR);
    redisReaderFree(rd);
    rd = guarded(&c, 1); /* a command later sent makes the same bytes fine */
    ck_assert_int_eq(redisReaderFeed(rd, "*1\r\n:1\r\n", 8), REDIS_OK);
    ck_assert_int_eq(next(rd, &r), REDIS_OK);
    freeReplyObject(r);
    redisReaderFree(rd);
}
END_TEST

START_TEST(test_an_unguarded_reader_is_untouched)
{
    redisReader *plain = redisReaderCreate();
    redisReply *r;
    ck_assert_int_eq(redisReaderFeed(plain, "+A\r\n+B\r\n", 8), REDIS_OK);
    ck_assert_int_eq(next(plain, &r), REDIS_OK);
    freeReplyObject(r);
    ck_assert_int_eq(next(plain, &r), REDIS_OK);
    freeReplyObject(r);
    redisReaderFree(plain);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redis_guard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_replies_up_to_the_commands);
    tcase_add_test(tc, test_a_reply_before_any_command);
    tcase_add_test(tc, test_an_unguarded_reader_is_untouched);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
