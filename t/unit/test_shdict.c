/* deps: shdict shm shm_lru pool str */
/*
 * Shared dictionaries as the master makes them: a resized dict takes its old slot, so
 * reloads that resize a dict never fill the table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shdict.h"

START_TEST(test_resizes_reuse_the_slot)
{
    ck_assert_int_eq(mg_shdict_create("cache", 64 * 1024), MG_OK);
    ck_assert_int_eq(mg_shdict_create("other", 64 * 1024), MG_OK);
    /* far more resizes than the table has slots (64) */
    for (int i = 0; i < 200; i++) {
        size_t size = (size_t)(64 + (i % 2) * 64) * 1024;
        ck_assert_msg(mg_shdict_create("cache", size) == MG_OK, "resize %d failed", i);
    }
    ck_assert_uint_eq(mg_shdict_number(), 2);
    mg_shdict_t *d = mg_shdict_find("cache", 5);
    ck_assert_ptr_nonnull(d);
    /* the last resize (i = 199: 128 KiB) is the one in use, empty and writable */
    ck_assert_uint_eq(mg_shdict_count(d), 0);
    int forcible = 0;
    ck_assert_int_eq(
        mg_shdict_store(d, MG_SHDICT_SET, "k", 1, MG_SHDICT_NUMBER, 7, NULL, 0, 0, &forcible),
        MG_OK);
    mg_shdict_val_t v;
    ck_assert_int_eq(mg_shdict_get(d, "k", 1, &v, NULL, 0, 0), MG_OK);
    ck_assert(v.num == 7);
    /* the same size again is no change at all: the value stays */
    ck_assert_int_eq(mg_shdict_create("cache", 128 * 1024), MG_OK);
    ck_assert_int_eq(mg_shdict_get(mg_shdict_find("cache", 5), "k", 1, &v, NULL, 0, 0), MG_OK);
    mg_shdict_destroy_all();
}
END_TEST

static void put_num(mg_shdict_t *d, const char *key, double ttl)
{
    int forcible = 0;
    ck_assert_int_eq(mg_shdict_store(d, MG_SHDICT_SET, key, strlen(key), MG_SHDICT_NUMBER, 1,
                                     NULL, 0, ttl, &forcible),
                     MG_OK);
}

/* The keys get_keys packed into buf, as one "k1,k2,..." string. */
static void unpack(const char *buf, long n, char *out, size_t cap)
{
    size_t pos = 0, o = 0;
    out[0] = '\0';
    for (long i = 0; i < n; i++) {
        size_t len = ((size_t)(unsigned char)buf[pos] << 8) | (unsigned char)buf[pos + 1];
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i > 0 ? "," : "", (int)len,
                              buf + pos + 2);
        pos += 2 + len;
    }
}

START_TEST(test_get_keys)
{
    ck_assert_int_eq(mg_shdict_create("keys", 256 * 1024), MG_OK);
    mg_shdict_t *d = mg_shdict_find("keys", 4);
    char buf[4096], list[4096];
    size_t need = 0;
    /* empty */
    ck_assert_int_eq(mg_shdict_get_keys(d, 0, buf, sizeof(buf), &need), 0);
    ck_assert_uint_eq(need, 0);
    put_num(d, "a", 0);
    put_num(d, "bb", 0);
    put_num(d, "ccc", 0);
    /* all, the most recently used first */
    long n = mg_shdict_get_keys(d, 0, buf, sizeof(buf), &need);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(need, 2 + 3 + 2 + 2 + 2 + 1);
    unpack(buf, n, list, sizeof(list));
    ck_assert_str_eq(list, "ccc,bb,a");
    /* a get moves a key to the front; max cuts the list */
    mg_shdict_val_t v;
    ck_assert_int_eq(mg_shdict_get(d, "a", 1, &v, NULL, 0, 0), MG_OK);
    n = mg_shdict_get_keys(d, 2, buf, sizeof(buf), &need);
    ck_assert_int_eq(n, 2);
    unpack(buf, n, list, sizeof(list));
    ck_assert_str_eq(list, "a,ccc");
    /* too small a buffer: -1 and the size needed, nothing changed */
    ck_assert_int_eq(mg_shdict_get_keys(d, 0, buf, 5, &need), -1);
    ck_assert_uint_eq(need, 12);
    ck_assert_int_eq(mg_shdict_get_keys(d, 0, buf, need, &need), 3);
    /* expired keys are skipped and dropped */
    put_num(d, "gone", 0.001);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    ck_assert_uint_eq(mg_shdict_count(d), 4);
    n = mg_shdict_get_keys(d, 0, buf, sizeof(buf), &need);
    ck_assert_int_eq(n, 3);
    unpack(buf, n, list, sizeof(list));
    ck_assert_str_eq(list, "a,ccc,bb");
    ck_assert_uint_eq(mg_shdict_count(d), 3);
    mg_shdict_destroy_all();
}
END_TEST

/* max bounds the walk: with many entries, a small max does not visit the rest (timed
 * against a walk of everything, each done many times). */
START_TEST(test_get_keys_bounded)
{
    ck_assert_int_eq(mg_shdict_create("big", 64u << 20), MG_OK);
    mg_shdict_t *d = mg_shdict_find("big", 3);
    char key[32];
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        put_num(d, key, 0);
    }
    ck_assert_uint_eq(mg_shdict_count(d), 200000);
    static char buf[4u << 20];
    size_t need;
    struct timespec a, b, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(mg_shdict_get_keys(d, 10, buf, sizeof(buf), &need), 10);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(mg_shdict_get_keys(d, 0, buf, sizeof(buf), &need), 200000);
    }
    clock_gettime(CLOCK_MONOTONIC, &c);
    double small = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    double all = (double)(c.tv_sec - b.tv_sec) + (double)(c.tv_nsec - b.tv_nsec) / 1e9;
    ck_assert_msg(small * 100 < all, "max 10 took %gs, all took %gs", small, all);
    mg_shdict_destroy_all();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shdict");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_resizes_reuse_the_slot);
    tcase_add_test(tc, test_get_keys);
    tcase_add_test(tc, test_get_keys_bounded);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
