/* deps: shm pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"

static mg_str_t key_of(char *buf, size_t cap, int i)
{
    int n = snprintf(buf, cap, "key:%d", i);
    return mg_str(buf, (size_t)n);
}

START_TEST(test_zone_basics)
{
    mg_shm_zone_t *z = mg_shm_zone_create("main", 100);
    ck_assert_ptr_nonnull(z);
    ck_assert_str_eq(mg_shm_zone_name(z), "main");
    ck_assert_uint_gt(mg_shm_free_bytes(z), 0);
    ck_assert_ptr_null(mg_shm_alloc(z, 0));
    mg_shm_free(z, NULL);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_alloc_fill_free_reuse)
{
    mg_shm_zone_t *z = mg_shm_zone_create("fill", 256 * 1024);
    size_t initial = mg_shm_free_bytes(z);
    static unsigned char *blocks[100000];
    size_t n = 0;
    while (n < MG_NELEMS(blocks)) {
        size_t sz = (n % 7) * 40 + 1;
        unsigned char *p = mg_shm_alloc(z, sz);
        if (p == NULL) {
            break;
        }
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, (int)(n & 0xff), sz);
        blocks[n++] = p;
    }
    ck_assert_uint_gt(n, 500);
    ck_assert_uint_lt(n, MG_NELEMS(blocks));
    /* no block was handed out twice: every pattern survived */
    for (size_t i = 0; i < n; i++) {
        size_t sz = (i % 7) * 40 + 1;
        for (size_t j = 0; j < sz; j++) {
            ck_assert_uint_eq(blocks[i][j], i & 0xff);
        }
    }
    for (size_t i = 0; i < n; i++) {
        mg_shm_free(z, blocks[i]);
    }
    /* the same mix fits again, entirely from the free lists */
    for (size_t i = 0; i < n; i++) {
        blocks[i] = mg_shm_alloc(z, (i % 7) * 40 + 1);
        ck_assert_ptr_nonnull(blocks[i]);
    }
    for (size_t i = 0; i < n; i++) {
        mg_shm_free(z, blocks[i]);
    }
    ck_assert_uint_eq(mg_shm_free_bytes(z), initial);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_small_reuse_same_block)
{
    mg_shm_zone_t *z = mg_shm_zone_create("reuse", 64 * 1024);
    void *a = mg_shm_alloc(z, 100);
    void *b = mg_shm_alloc(z, 100);
    ck_assert_ptr_ne(a, b);
    mg_shm_free(z, a);
    ck_assert_ptr_eq(mg_shm_alloc(z, 120), a); /* same 128-byte class */
    mg_shm_free(z, b);
    mg_shm_free(z, b); /* double free is ignored, not a corrupt list */
    ck_assert_ptr_eq(mg_shm_alloc(z, 128), b);
    ck_assert_ptr_ne(mg_shm_alloc(z, 128), b);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_large_runs_first_fit_and_merge)
{
    mg_shm_zone_t *z = mg_shm_zone_create("large", 1024 * 1024);
    size_t initial = mg_shm_free_bytes(z);
    char *a = mg_shm_alloc(z, 10000);
    char *b = mg_shm_alloc(z, 10000);
    char *c = mg_shm_alloc(z, 10000);
    ck_assert(a && b && c);
    memset(a, 1, 10000);
    memset(b, 2, 10000);
    memset(c, 3, 10000);
    mg_shm_free(z, b);
    ck_assert_ptr_eq(mg_shm_alloc(z, 9000), b); /* first fit takes b's run */
    mg_shm_free(z, b);
    mg_shm_free(z, a);
    /* a and b merged: a block needing both runs fits there */
    ck_assert_ptr_eq(mg_shm_alloc(z, 20000), a);
    ck_assert_uint_eq((unsigned char)c[9999], 3);
    mg_shm_free(z, a);
    mg_shm_free(z, c);
    ck_assert_uint_eq(mg_shm_free_bytes(z), initial);
    /* everything went back: the largest possible block fits again */
    void *all = mg_shm_alloc(z, initial - 4096);
    ck_assert_ptr_nonnull(all);
    mg_shm_free(z, all);
    ck_assert_ptr_null(mg_shm_alloc(z, initial + 1));
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_small_from_freed_runs)
{
    mg_shm_zone_t *z = mg_shm_zone_create("mixed", 64 * 1024);
    void *big[64];
    size_t n = 0;
    while (n < MG_NELEMS(big) && (big[n] = mg_shm_alloc(z, 5000)) != NULL) {
        n++;
    }
    ck_assert_uint_gt(n, 2);
    while (mg_shm_alloc(z, 32) != NULL) {
    }
    mg_shm_free(z, big[0]);
    /* the bump region is spent; small blocks come out of the freed run */
    void *s = mg_shm_alloc(z, 32);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(s, (char *)big[0]);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_hash_ops)
{
    mg_shm_zone_t *z = mg_shm_zone_create("hash", 64 * 1024);
    mg_shm_hash_t *h = mg_shm_hash_create(z, 100);
    ck_assert_ptr_nonnull(h);
    char out[64];
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR("a"), out, sizeof(out)), -1);
    ck_assert_int_eq(mg_shm_hash_set(h, MG_STR("a"), "hello", 5), MG_OK);
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR("a"), out, sizeof(out)), 5);
    ck_assert(memcmp(out, "hello", 5) == 0);
    ck_assert_int_eq(mg_shm_hash_set(h, MG_STR("a"), "world", 5), MG_OK);
    ck_assert_int_eq(mg_shm_hash_set(h, MG_STR("a"), "a longer value", 14), MG_OK);
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR("a"), out, 3), 14);
    ck_assert_str_eq(out, "a l");
    ck_assert_int_eq(mg_shm_hash_set(h, MG_STR(""), "", 0), MG_OK);
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR(""), out, sizeof(out)), 0);
    ck_assert_uint_eq(mg_shm_hash_count(h), 2);

    int64_t v = 0;
    ck_assert_int_eq(mg_shm_hash_incr(h, MG_STR("n"), 5, &v), MG_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(mg_shm_hash_incr(h, MG_STR("n"), -7, &v), MG_OK);
    ck_assert_int_eq(v, -2);
    ck_assert_int_eq(mg_shm_hash_incr(h, MG_STR("a"), 1, &v), MG_ERROR); /* not an int64 */
    ck_assert_uint_eq(mg_shm_hash_count(h), 3);

    ck_assert_int_eq(mg_shm_hash_delete(h, MG_STR("a")), MG_OK);
    ck_assert_int_eq(mg_shm_hash_delete(h, MG_STR("a")), MG_DECLINED);
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR("a"), out, sizeof(out)), -1);
    ck_assert_uint_eq(mg_shm_hash_count(h), 2);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_hash_many_keys)
{
    mg_shm_zone_t *z = mg_shm_zone_create("many", 4 * 1024 * 1024);
    mg_shm_hash_t *h = mg_shm_hash_create(z, 1000); /* long chains on purpose */
    char kb[32];
    for (int i = 0; i < 20000; i++) {
        ck_assert_int_eq(mg_shm_hash_set(h, key_of(kb, sizeof(kb), i), &i, sizeof(i)), MG_OK);
    }
    ck_assert_uint_eq(mg_shm_hash_count(h), 20000);
    for (int i = 0; i < 20000; i += 2) {
        ck_assert_int_eq(mg_shm_hash_delete(h, key_of(kb, sizeof(kb), i)), MG_OK);
    }
    ck_assert_uint_eq(mg_shm_hash_count(h), 10000);
    for (int i = 0; i < 20000; i++) {
        int v = -1;
        ssize_t n = mg_shm_hash_get(h, key_of(kb, sizeof(kb), i), &v, sizeof(v));
        if (i % 2 == 0) {
            ck_assert_int_eq(n, -1);
        } else {
            ck_assert_int_eq(n, sizeof(int));
            ck_assert_int_eq(v, i);
        }
    }
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_hash_zone_full)
{
    mg_shm_zone_t *z = mg_shm_zone_create("tiny", 16 * 1024);
    mg_shm_hash_t *h = mg_shm_hash_create(z, 16);
    ck_assert_ptr_nonnull(h);
    char kb[32], val[100] = {0};
    int i = 0;
    while (mg_shm_hash_set(h, key_of(kb, sizeof(kb), i), val, sizeof(val)) == MG_OK) {
        i++;
        ck_assert_int_lt(i, 10000);
    }
    ck_assert_int_gt(i, 10);
    ck_assert_uint_eq(mg_shm_hash_count(h), (size_t)i);
    ck_assert_int_eq(mg_shm_hash_get(h, key_of(kb, sizeof(kb), 0), val, sizeof(val)), 100);
    /* growing a value in a full zone fails and leaves the old one */
    static char big[8192];
    ck_assert_int_eq(mg_shm_hash_set(h, key_of(kb, sizeof(kb), 0), big, sizeof(big)), MG_ERROR);
    ck_assert_int_eq(mg_shm_hash_get(h, key_of(kb, sizeof(kb), 0), val, sizeof(val)), 100);
    ck_assert_ptr_null(mg_shm_hash_create(z, 1 << 20));
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_incr_across_processes)
{
    mg_shm_zone_t *z = mg_shm_zone_create("counters", 64 * 1024);
    mg_shm_hash_t *h = mg_shm_hash_create(z, 64);
    enum { NCHILD = 4, NINCR = 10000 };
    pid_t pids[NCHILD];
    for (int c = 0; c < NCHILD; c++) {
        pids[c] = fork();
        ck_assert_int_ge(pids[c], 0);
        if (pids[c] == 0) {
            for (int i = 0; i < NINCR; i++) {
                if (mg_shm_hash_incr(h, MG_STR("hits"), 1, NULL) != MG_OK) {
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    for (int c = 0; c < NCHILD; c++) {
        int st = 0;
        ck_assert_int_eq(waitpid(pids[c], &st, 0), pids[c]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int64_t v = 0;
    ck_assert_int_eq(mg_shm_hash_get(h, MG_STR("hits"), &v, sizeof(v)), sizeof(v));
    ck_assert_int_eq(v, NCHILD * NINCR);
    mg_shm_zone_destroy(z);
}
END_TEST

START_TEST(test_lock_holder_dies)
{
    mg_shm_zone_t *z = mg_shm_zone_create("robust", 64 * 1024);
    mg_shm_hash_t *h = mg_shm_hash_create(z, 8);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        mg_shm_lock(z);
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(mg_shm_lock(z), 1);
    mg_shm_unlock(z);
    ck_assert_int_eq(mg_shm_lock(z), 0);
    mg_shm_unlock(z);
    int64_t v = 0;
    ck_assert_int_eq(mg_shm_hash_incr(h, MG_STR("k"), 3, &v), MG_OK);
    ck_assert_int_eq(v, 3);
    mg_shm_zone_destroy(z);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_zone_basics);
    tcase_add_test(tc, test_alloc_fill_free_reuse);
    tcase_add_test(tc, test_small_reuse_same_block);
    tcase_add_test(tc, test_large_runs_first_fit_and_merge);
    tcase_add_test(tc, test_small_from_freed_runs);
    tcase_add_test(tc, test_hash_ops);
    tcase_add_test(tc, test_hash_many_keys);
    tcase_add_test(tc, test_hash_zone_full);
    tcase_add_test(tc, test_incr_across_processes);
    tcase_add_test(tc, test_lock_holder_dies);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
