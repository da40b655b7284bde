/* deps: http_buf pool str log log_format log_template log_syslog */
/*
 * test_http_buf.c -- the client side's memory (http_buf.c): the read buffer grown for a
 * body only when one follows, the trim decision after a burst, free lists cut.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn_int.h"
#include "worker.h"

static mg_conn_t *conn_new(mg_worker_t *w)
{
    mg_conn_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->w = w;
    ck_assert_int_eq(mg__buf_take(c), MG_OK);
    return c;
}

/* Frees what the test's worker keeps on its free list (chained through each buffer's
 * first word, as http_buf.c keeps them): the worker lives on the test's stack. */
static void free_list_drop(mg_worker_t *w)
{
    while (w->buf_free != NULL) {
        char *b = w->buf_free;
        w->buf_free = *(void **)b;
        w->nbuf_free--;
        free(b);
    }
}

/* A head of `head` bytes read, then `more` bytes after it. */
static void fill(mg_conn_t *c, size_t head, size_t more)
{
    for (size_t i = 0; i < head + more; i++) {
        c->buf[i] = (char)('a' + i % 26);
    }
    c->pos = (uint32_t)head;
    c->len = (uint32_t)(head + more);
}

START_TEST(test_body_room_only_for_a_body)
{
    mg_worker_t w = {0};
    mg_conn_t *c = conn_new(&w);
    ck_assert_uint_eq(c->cap, MG_HTTP_BUF_SIZE);
    fill(c, MG_HTTP_BUF_SIZE - 10, 0);
    ck_assert_int_eq(mg__buf_body_room(c), MG_OK); /* no body: stays small */
    ck_assert_uint_eq(c->cap, MG_HTTP_BUF_SIZE);

    c->parser.flags = F_CONTENT_LENGTH;
    c->parser.content_length = 100000;
    fill(c, MG_HTTP_BUF_SIZE - 10, 10);
    ck_assert_int_eq(mg__buf_body_room(c), MG_OK);
    ck_assert_uint_ge(c->cap - c->pos, MG_HTTP_BUF_BODY_ROOM);
    for (size_t i = 0; i < c->len; i++) { /* moved whole */
        ck_assert_int_eq(c->buf[i], (char)('a' + i % 26));
    }
    mg__buf_give(c);
    ck_assert_ptr_null(c->buf);
    ck_assert_uint_eq(w.nbuf_free, 1); /* the small one went back when it grew; the grown one
                                          is freed, not pooled */

    ck_assert_int_eq(mg__buf_take(c), MG_OK);
    c->parser.flags = F_CONTENT_LENGTH;
    c->parser.content_length = 5; /* a short body: a little room is enough */
    fill(c, 100, 0);
    ck_assert_int_eq(mg__buf_body_room(c), MG_OK);
    ck_assert_uint_eq(c->cap, MG_HTTP_BUF_SIZE);

    c->parser.flags = F_CHUNKED;
    ck_assert_int_eq(mg__buf_body_room(c), MG_OK);
    ck_assert_uint_ge(c->cap - c->pos, MG_HTTP_BUF_BODY_ROOM);
    mg__buf_give(c);
    free(c);
    free_list_drop(&w);
}
END_TEST

START_TEST(test_trim_decision)
{
    size_t M = 1u << 20;
    /* busy: more than half the peak still connected, whatever the figures */
    ck_assert(!mg__mem_trim_due(5000, 3000, 1, 200 * M, 4 * M, 100 * M, 0));
    /* the burst is over: much resident since the last trim */
    ck_assert(mg__mem_trim_due(5000, 10, 1, 200 * M, 4 * M, 0, 0));
    /* or much freed */
    ck_assert(mg__mem_trim_due(5000, 0, 1, 5 * M, 4 * M, 2 * M, M));
    /* neither: nothing to give back */
    ck_assert(!mg__mem_trim_due(5000, 0, 1, 5 * M, 4 * M, M + 1000, M));
    /* once more when it settled, however little was freed */
    ck_assert(mg__mem_trim_due(0, 0, 16, 5 * M, 5 * M, M, M));
    ck_assert(!mg__mem_trim_due(0, 0, 17, 5 * M, 5 * M, M, M));
    /* idle from the start: no growth, no trim */
    ck_assert(!mg__mem_trim_due(0, 0, 0, 3 * M, 3 * M, M, M));
}
END_TEST

START_TEST(test_trim_cuts_free_lists)
{
    mg_worker_t w = {0};
    mg_conn_t *cs[40];
    for (int i = 0; i < 40; i++) {
        cs[i] = conn_new(&w);
    }
    for (int i = 0; i < 40; i++) {
        mg__buf_give(cs[i]);
        free(cs[i]);
    }
    ck_assert_uint_eq(w.nbuf_free, 40);
    mg_http_mem_trim(&w);
    ck_assert_uint_eq(w.nbuf_free, 16);
    mg_conn_t *c = conn_new(&w); /* the list still serves */
    ck_assert_uint_eq(w.nbuf_free, 15);
    mg__buf_give(c);
    free(c);
    free_list_drop(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, test_body_room_only_for_a_body);
    tcase_add_test(tc, test_trim_decision);
    tcase_add_test(tc, test_trim_cuts_free_lists);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
