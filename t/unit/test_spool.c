/* deps: spool */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

static char dir[512];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "%s/mg-spool-test-XXXXXX", P_tmpdir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    mg_spool_set_limit(64u << 20);
}

static void teardown(void)
{
    rmdir(dir); /* empty: every temp file had no name */
}

/* Byte i of a test stream. */
static char pat(uint64_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

static void write_pattern(mg_spool_t *s, uint64_t from, size_t n, size_t step)
{
    char buf[7000];
    while (n > 0) {
        size_t k = n < step ? n : step;
        for (size_t i = 0; i < k; i++) {
            buf[i] = pat(from + i);
        }
        ck_assert_int_eq(mg_spool_write(s, buf, k), MG_OK);
        from += k;
        n -= k;
    }
}

/* Reads n bytes from the front, consuming them, checking each against the pattern. */
static void read_pattern(mg_spool_t *s, uint64_t from, uint64_t n)
{
    while (n > 0) {
        const char *d;
        size_t len;
        ck_assert_int_eq(mg_spool_peek(s, 0, &d, &len), MG_OK);
        ck_assert_uint_gt(len, 0);
        len = len < n ? len : (size_t)n;
        for (size_t i = 0; i < len; i++) {
            ck_assert_msg(d[i] == pat(from + i), "byte %llu differs",
                          (unsigned long long)(from + i));
        }
        mg_spool_consume(s, len);
        from += len;
        n -= len;
    }
}

static off_t file_size(const mg_spool_t *s)
{
    struct stat st;
    ck_assert_int_eq(fstat(s->fd, &st), 0);
    return st.st_size;
}

START_TEST(memory_only)
{
    mg_spool_t s;
    mg_spool_init(&s, 1u << 20, 1u << 20, dir);
    write_pattern(&s, 0, 50000, 3001);
    ck_assert_uint_eq(mg_spool_len(&s), 50000);
    ck_assert_int_eq(s.fd, -1);
    ck_assert_uint_eq(s.mem, 4 * MG_SPOOL_BLOCK); /* 50000 bytes in 16 KiB blocks */
    ck_assert_uint_eq(mg_spool_memory(), 4 * MG_SPOOL_BLOCK);
    ck_assert(!mg_spool_full(&s));
    read_pattern(&s, 0, 20000);
    ck_assert_uint_eq(s.mem, 3 * MG_SPOOL_BLOCK); /* the first block went back */
    read_pattern(&s, 20000, 30000);
    ck_assert_uint_eq(mg_spool_len(&s), 0);
    ck_assert_uint_eq(mg_spool_memory(), 0);
    const char *d;
    size_t len;
    ck_assert_int_eq(mg_spool_peek(&s, 0, &d, &len), MG_OK);
    ck_assert_uint_eq(len, 0);
    mg_spool_dispose(&s);
}
END_TEST

START_TEST(spills_to_a_nameless_file_and_reads_back)
{
    mg_spool_t s;
    mg_spool_init(&s, 2 * MG_SPOOL_BLOCK, 1u << 20, dir);
    write_pattern(&s, 0, 300000, 6999);
    ck_assert_int_ge(s.fd, 0);
    ck_assert_int_eq(mg_spool_files(), 1);
    ck_assert_uint_eq(s.mem, 2 * MG_SPOOL_BLOCK);
    ck_assert_uint_eq(s.spilled, 300000 - 2 * MG_SPOOL_BLOCK);
    ck_assert_uint_eq((uint64_t)file_size(&s), s.spilled);
    struct stat st;
    ck_assert_int_eq(fstat(s.fd, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(st.st_nlink, 0); /* no name in the directory */
    /* while the file holds bytes, new ones follow them there, in order */
    read_pattern(&s, 0, 2 * MG_SPOOL_BLOCK + 100);
    write_pattern(&s, 300000, 1000, 1000);
    ck_assert_uint_eq(s.mem, 0);
    read_pattern(&s, 2 * MG_SPOOL_BLOCK + 100, 300000 + 1000 - 2 * MG_SPOOL_BLOCK - 100);
    ck_assert_uint_eq(mg_spool_len(&s), 0);
    ck_assert_int_eq(file_size(&s), 0); /* emptied: the disk is given back */
    /* and memory comes first again */
    write_pattern(&s, 0, 100, 100);
    ck_assert_uint_eq(s.mem, MG_SPOOL_BLOCK);
    ck_assert_int_eq(file_size(&s), 0);
    mg_spool_dispose(&s);
    ck_assert_int_eq(mg_spool_files(), 0);
    ck_assert_uint_eq(mg_spool_memory(), 0);
}
END_TEST

START_TEST(replays_from_any_offset)
{
    mg_spool_t s;
    mg_spool_init(&s, MG_SPOOL_BLOCK, 1u << 20, dir);
    write_pattern(&s, 0, 100000, 4096);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t off = 0;
        for (;;) {
            const char *d;
            size_t len;
            ck_assert_int_eq(mg_spool_peek(&s, off, &d, &len), MG_OK);
            if (len == 0) {
                break;
            }
            for (size_t i = 0; i < len; i++) {
                ck_assert(d[i] == pat(off + i));
            }
            off += len;
        }
        ck_assert_uint_eq(off, 100000);
    }
    ck_assert_uint_eq(mg_spool_len(&s), 100000); /* peeking consumes nothing */
    mg_spool_dispose(&s);
}
END_TEST

START_TEST(full_when_memory_and_file_are)
{
    mg_spool_t s;
    mg_spool_init(&s, MG_SPOOL_BLOCK, 3 * MG_SPOOL_BLOCK, dir);
    write_pattern(&s, 0, MG_SPOOL_BLOCK, 4096);
    ck_assert(!mg_spool_full(&s)); /* the file has room */
    write_pattern(&s, MG_SPOOL_BLOCK, 3 * MG_SPOOL_BLOCK, 4096);
    ck_assert(mg_spool_full(&s));
    ck_assert_uint_eq(s.fend, 3 * MG_SPOOL_BLOCK);
    /* a writer that goes on anyway is kept, in memory, in order */
    write_pattern(&s, 4 * MG_SPOOL_BLOCK, 5000, 5000);
    ck_assert_uint_eq(s.mem, 2 * MG_SPOOL_BLOCK);
    read_pattern(&s, 0, 4 * MG_SPOOL_BLOCK + 5000);
    mg_spool_dispose(&s);
}
END_TEST

START_TEST(no_file_without_a_size)
{
    mg_spool_t s;
    mg_spool_init(&s, MG_SPOOL_BLOCK, 0, dir);
    write_pattern(&s, 0, 2 * MG_SPOOL_BLOCK, 4096);
    ck_assert(mg_spool_full(&s));
    ck_assert_int_eq(s.fd, -1);
    mg_spool_dispose(&s);
}
END_TEST

START_TEST(a_failing_file_falls_back_to_memory)
{
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/plain", dir);
    FILE *f = fopen(bad, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(bad, sizeof(bad), "%s/plain/sub", dir); /* under a regular file */
    mg_spool_t s;
    mg_spool_init(&s, MG_SPOOL_BLOCK, 1u << 20, bad);
    write_pattern(&s, 0, 3 * MG_SPOOL_BLOCK, 4096);
    ck_assert(s.file_failed);
    ck_assert(mg_spool_full(&s));
    char why[1024];
    const char *e = mg_spool_error(&s, why, sizeof(why));
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(strstr(e, "creating a temp file in"));
    read_pattern(&s, 0, 3 * MG_SPOOL_BLOCK);
    mg_spool_dispose(&s);
    snprintf(bad, sizeof(bad), "%s/plain", dir);
    unlink(bad);
}
END_TEST

START_TEST(makes_a_missing_directory)
{
    char sub[700];
    snprintf(sub, sizeof(sub), "%s/temp", dir);
    mg_spool_t s;
    mg_spool_init(&s, MG_SPOOL_BLOCK, 1u << 20, sub);
    write_pattern(&s, 0, 2 * MG_SPOOL_BLOCK, 4096);
    ck_assert_int_ge(s.fd, 0);
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    mg_spool_dispose(&s);
    ck_assert_int_eq(rmdir(sub), 0); /* empty */
}
END_TEST

START_TEST(the_process_limit_sends_bytes_to_the_file)
{
    mg_spool_t a, b;
    mg_spool_set_limit(MG_SPOOL_BLOCK);
    mg_spool_init(&a, 1u << 20, 1u << 20, dir);
    mg_spool_init(&b, 1u << 20, 1u << 20, dir);
    write_pattern(&a, 0, MG_SPOOL_BLOCK, 4096);
    write_pattern(&b, 0, 5000, 5000);
    ck_assert_uint_eq(b.mem, 0);
    ck_assert_uint_eq(b.spilled, 5000);
    read_pattern(&b, 0, 5000);
    mg_spool_dispose(&a);
    mg_spool_dispose(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("spool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, memory_only);
    tcase_add_test(tc, spills_to_a_nameless_file_and_reads_back);
    tcase_add_test(tc, replays_from_any_offset);
    tcase_add_test(tc, full_when_memory_and_file_are);
    tcase_add_test(tc, no_file_without_a_size);
    tcase_add_test(tc, a_failing_file_falls_back_to_memory);
    tcase_add_test(tc, makes_a_missing_directory);
    tcase_add_test(tc, the_process_limit_sends_bytes_to_the_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
