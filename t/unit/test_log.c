/* deps: log pool str */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char dir[256];
static char err_path[300], acc_path[300];

static void make_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/mg_test_log.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(err_path, sizeof(err_path), "%s/error.log", dir);
    snprintf(acc_path, sizeof(acc_path), "%s/access.log", dir);
}

static void remove_dir(void)
{
    char p[400];
    const char *names[] = {"error.log", "access.log", "error.log.1", "access.log.1"};
    for (size_t i = 0; i < MG_NELEMS(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* The whole file as a NUL-terminated string ("" when absent); the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = calloc(1, 1 << 20);
    if (f != NULL) {
        size_t n = fread(s, 1, (1 << 20) - 1, f);
        s[n] = '\0';
        fclose(f);
    }
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static mg_log_conf_t base_conf(mg_access_format_t fmt, size_t buffer)
{
    mg_log_conf_t c;
    memset(&c, 0, sizeof(c));
    c.error_log_path = err_path;
    c.error_log_level = MG_LOG_INFO;
    c.access_log_path = acc_path;
    c.access_log_format = fmt;
    c.access_log_buffer = buffer;
    return c;
}

static mg_access_rec_t sample_rec(void)
{
    mg_access_rec_t r;
    memset(&r, 0, sizeof(r));
    r.remote_addr = MG_STR("10.0.0.7");
    r.method = MG_STR("GET");
    r.uri = MG_STR("/api/users/42?q=1");
    r.http_major = 1;
    r.http_minor = 1;
    r.status = 200;
    r.bytes_sent = 1234;
    r.request_length = 87;
    r.user_agent = MG_STR("curl/8.5.0");
    r.host = MG_STR("api.example.com");
    r.route = MG_STR("users-api");
    r.upstream_addr = MG_STR("127.0.0.1:9001");
    r.upstream_status = 200;
    r.upstream_time = 0.012;
    r.upstream_connect_time = 0.001;
    r.upstream_header_time = 0.0104;
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        r.plugin_time[i] = -1;
    }
    r.plugin_time[1] = 0.0312; /* access */
    r.request_time = 0.0154;
    r.request_id = MG_STR("5f2b8c1d");
    r.scheme = MG_STR("https");
    r.tls_version = MG_STR("TLSv1.3");
    r.tls_cipher = MG_STR("TLS_AES_128_GCM_SHA256");
    r.tls_sni = MG_STR("api.example.com");
    return r;
}

static void assert_match(const char *s, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int rc = regexec(&rx, s, 0, NULL, 0);
    regfree(&rx);
    ck_assert_msg(rc == 0, "\"%s\" does not match /%s/", s, re);
}

START_TEST(test_combined_format)
{
    mg_access_rec_t r = sample_rec();
    char buf[1024];
    size_t n = mg_log_format_access(MG_ACCESS_COMBINED, &r, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    assert_match(buf, "^10\\.0\\.0\\.7 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:"
                      "[0-9]{2} [-+][0-9]{4}\\] \"GET ");
    const char *rest = strstr(buf, "] ");
    ck_assert_str_eq(rest, "] \"GET /api/users/42?q=1 HTTP/1.1\" 200 1234 \"-\" \"curl/8.5.0\" "
                           "\"users-api\" \"127.0.0.1:9001\" 0.012 0.015 \"5f2b8c1d\" "
                           "0.001 0.010 - 0.031 - - - -\n");

    /* quotes, backslashes, control and high bytes escaped nginx-style; no upstream */
    r.uri = MG_STR("/a\"b\\c\x01\x7f\xc3\xa9");
    r.user_agent = MG_STR("x\ny");
    r.route = MG_NULL_STR;
    r.upstream_addr = MG_NULL_STR;
    r.upstream_time = r.upstream_connect_time = r.upstream_header_time = -1;
    r.status = 404;
    mg_log_format_access(MG_ACCESS_COMBINED, &r, buf, sizeof(buf));
    rest = strstr(buf, "] ");
    ck_assert_str_eq(rest, "] \"GET /a\\x22b\\x5cc\\x01\\x7f\\xc3\\xa9 HTTP/1.1\" 404 1234 \"-\" "
                           "\"x\\x0ay\" \"-\" \"-\" - 0.015 \"5f2b8c1d\" - - - 0.031 - - - -\n");
}
END_TEST

START_TEST(test_json_format)
{
    mg_access_rec_t r = sample_rec();
    char buf[2048];
    mg_log_format_access(MG_ACCESS_JSON, &r, buf, sizeof(buf));
    assert_match(buf, "^\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                      "[-+][0-9]{2}:[0-9]{2}\",\"remote_addr\"");
    const char *rest = strstr(buf, ",\"remote_addr\"");
    ck_assert_str_eq(rest, ",\"remote_addr\":\"10.0.0.7\",\"method\":\"GET\","
                           "\"uri\":\"/api/users/42?q=1\",\"protocol\":\"HTTP/1.1\","
                           "\"status\":200,\"bytes_sent\":1234,\"request_length\":87,"
                           "\"referer\":\"\",\"user_agent\":\"curl/8.5.0\","
                           "\"host\":\"api.example.com\",\"route\":\"users-api\","
                           "\"upstream_addr\":\"127.0.0.1:9001\",\"upstream_status\":200,"
                           "\"upstream_time\":0.012,\"upstream_connect_time\":0.001,"
                           "\"upstream_header_time\":0.010,\"request_time\":0.015,"
                           "\"plugin_rewrite_time\":null,\"plugin_access_time\":0.031,"
                           "\"plugin_balancer_time\":null,\"plugin_header_filter_time\":null,"
                           "\"plugin_body_filter_time\":null,\"plugin_log_time\":null,"
                           "\"request_id\":\"5f2b8c1d\",\"scheme\":\"https\","
                           "\"tls_version\":\"TLSv1.3\",\"tls_cipher\":\"TLS_AES_128_GCM_SHA256\","
                           "\"tls_sni\":\"api.example.com\"}\n");

    /* valid UTF-8 kept; controls, DEL, stray/overlong/surrogate/truncated bytes escaped */
    r.uri = MG_STR("/\"\\\t\x1f\x7f \xc3\xa9 \xf0\x9f\x98\x80 \xff \xc0\xaf \xed\xa0\x80 \xe2\x82");
    r.upstream_addr = MG_NULL_STR;
    r.upstream_status = 0;
    r.upstream_time = r.upstream_connect_time = r.upstream_header_time = -1;
    mg_log_format_access(MG_ACCESS_JSON, &r, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "\"uri\":\"/\\\"\\\\\\u0009\\u001f\\u007f \xc3\xa9 "
                                      "\xf0\x9f\x98\x80 \\u00ff \\u00c0\\u00af "
                                      "\\u00ed\\u00a0\\u0080 \\u00e2\\u0082\","));
    ck_assert_ptr_nonnull(strstr(buf, "\"upstream_addr\":\"\",\"upstream_status\":null,"
                                      "\"upstream_time\":null,\"upstream_connect_time\":null,"
                                      "\"upstream_header_time\":null,"));
}
END_TEST

START_TEST(test_format_truncation_like_snprintf)
{
    mg_access_rec_t r = sample_rec();
    char full[1024], small[16];
    size_t n = mg_log_format_access(MG_ACCESS_JSON, &r, full, sizeof(full));
    ck_assert_uint_eq(mg_log_format_access(MG_ACCESS_JSON, &r, small, sizeof(small)), n);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert(strncmp(small, full, sizeof(small) - 1) == 0);
    ck_assert_uint_eq(mg_log_format_access(MG_ACCESS_JSON, &r, NULL, 0), n);
}
END_TEST

START_TEST(test_error_line_and_levels)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 0);
    c.error_log_level = MG_LOG_WARN;
    c.access_log_path = NULL;
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    ck_assert(!mg_log_enabled(MG_LOG_INFO));
    ck_assert(mg_log_enabled(MG_LOG_ERROR));
    mg_log_info("not written");
    mg_log_debug("not written %d", 1);
    mg_log_warn("upstream %s slow", "users");
    mg_log_set_slot(3);
    mg_log_err("two\nlines");
    mg_log_close();
    char *s = slurp(err_path);
    ck_assert_int_eq(count_lines(s), 2);
    ck_assert_ptr_null(strstr(s, "not written"));
    char re[200];
    snprintf(re, sizeof(re),
             "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \\[warn\\] %d#-: "
             "upstream users slow$",
             (int)getpid());
    assert_match(s, re);
    snprintf(re, sizeof(re), "\\[error\\] %d#3: two lines$", (int)getpid());
    assert_match(s, re);
    free(s);
    remove_dir();
}
END_TEST

START_TEST(test_level_parse)
{
    mg_log_level_t l;
    ck_assert_int_eq(mg_log_level_parse("notice", &l), MG_OK);
    ck_assert_int_eq(l, MG_LOG_NOTICE);
    ck_assert_int_eq(mg_log_level_parse("alert", &l), MG_OK);
    ck_assert_int_eq(l, MG_LOG_ALERT);
    ck_assert_int_eq(mg_log_level_parse("warning", &l), MG_ERROR);
    ck_assert_int_eq(mg_log_level_parse(NULL, &l), MG_ERROR);
}
END_TEST

START_TEST(test_access_buffering)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 64 * 1024);
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    for (int i = 0; i < 10; i++) {
        mg_log_access(&r);
    }
    struct stat st;
    ck_assert_int_eq(stat(acc_path, &st), 0);
    ck_assert_int_eq(st.st_size, 0); /* nothing written before a flush */
    mg_log_flush();
    char *s = slurp(acc_path);
    ck_assert_int_eq(count_lines(s), 10);
    free(s);
    mg_log_close();
    remove_dir();
}
END_TEST

START_TEST(test_access_buffer_fills_and_long_lines)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_JSON, 1000);
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    for (int i = 0; i < 10; i++) {
        mg_log_access(&r); /* ~330 bytes each: the buffer writes every few lines */
    }
    char *s = slurp(acc_path);
    int written = count_lines(s);
    free(s);
    ck_assert_int_gt(written, 0);
    ck_assert_int_lt(written, 10);
    static char uri[5000];
    memset(uri, 'u', sizeof(uri));
    r.uri = mg_str(uri, sizeof(uri)); /* longer than the whole buffer */
    mg_log_access(&r);
    mg_log_close();
    s = slurp(acc_path);
    ck_assert_int_eq(count_lines(s), 11);
    ck_assert_ptr_nonnull(strstr(s, "uuuuu"));
    free(s);
    ck_assert_uint_eq(mg_log_dropped(), 0);
    remove_dir();
}
END_TEST

START_TEST(test_reopen_after_rename)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 4096);
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    mg_log_access(&r);
    mg_log_warn("before");
    char old_acc[400], old_err[400];
    snprintf(old_acc, sizeof(old_acc), "%s.1", acc_path);
    snprintf(old_err, sizeof(old_err), "%s.1", err_path);
    ck_assert_int_eq(rename(acc_path, old_acc), 0);
    ck_assert_int_eq(rename(err_path, old_err), 0);
    mg_log_access(&r); /* still buffered: goes to the old file at reopen */
    mg_log_reopen();
    mg_log_warn("after");
    mg_log_access(&r);
    mg_log_close();
    char *a1 = slurp(old_acc), *a2 = slurp(acc_path), *e1 = slurp(old_err), *e2 = slurp(err_path);
    ck_assert_int_eq(count_lines(a1), 2);
    ck_assert_int_eq(count_lines(a2), 1);
    ck_assert_ptr_nonnull(strstr(e1, "before"));
    ck_assert_ptr_null(strstr(e1, "after"));
    ck_assert_ptr_nonnull(strstr(e2, "after"));
    free(a1), free(a2), free(e1), free(e2);
    remove_dir();
}
END_TEST

START_TEST(test_full_disk_drops_and_counts)
{
    if (access("/dev/full", W_OK) != 0) {
        return; /* no /dev/full in this environment */
    }
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 4096);
    c.access_log_path = "/dev/full";
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    for (int i = 0; i < 5; i++) {
        mg_log_access(&r);
    }
    mg_log_flush();
    ck_assert_uint_eq(mg_log_dropped(), 5);
    for (int i = 0; i < 3; i++) {
        mg_log_access(&r);
    }
    mg_log_flush();
    ck_assert_uint_eq(mg_log_dropped(), 8);
    char *s = slurp(err_path);
    ck_assert_int_eq(count_lines(s), 1); /* one alert per 10 s, not one per write */
    ck_assert_ptr_nonnull(strstr(s, "[alert]"));
    ck_assert_ptr_nonnull(strstr(s, "5 lines dropped"));
    free(s);

    /* the disk has room again: the first good write reports what was lost */
    c.access_log_path = acc_path;
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_log_access(&r);
    mg_log_flush();
    s = slurp(err_path);
    ck_assert_ptr_nonnull(strstr(s, "8 lines were lost"));
    free(s);
    mg_log_close();
    ck_assert_uint_eq(mg_log_dropped(), 8);
    remove_dir();
}
END_TEST

START_TEST(test_short_write_drops_the_rest)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 4096);
    c.error_log_path = "stderr";
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    char line[512];
    size_t len = mg_log_format_access(MG_ACCESS_COMBINED, &r, line, sizeof(line));
    /* a file size limit makes write() stop in the middle of the third line */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {2 * len + len / 2, RLIM_INFINITY};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    for (int i = 0; i < 5; i++) {
        mg_log_access(&r);
    }
    mg_log_flush();
    ck_assert_uint_eq(mg_log_dropped(), 3);
    rl.rlim_cur = RLIM_INFINITY;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    mg_log_access(&r);
    mg_log_close();
    char *s = slurp(acc_path);
    ck_assert_uint_eq(strlen(s), 3 * len + len / 2 + 1);
    ck_assert_int_eq(count_lines(s), 4); /* the cut line was ended before the next one */
    ck_assert(strcmp(s + strlen(s) - len, line) == 0);
    free(s);
    remove_dir();
}
END_TEST

START_TEST(test_open_failure_falls_back)
{
    make_dir();
    mg_log_conf_t c = base_conf(MG_ACCESS_COMBINED, 4096);
    c.error_log_path = "stderr";
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/access.log", dir);
    c.access_log_path = bad;
    ck_assert_int_eq(mg_log_open(&c), MG_ERROR);
    mg_access_rec_t r = sample_rec();
    mg_log_access(&r); /* off: silently ignored */
    mg_log_flush();
    ck_assert_uint_eq(mg_log_dropped(), 0);
    mg_log_close();
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_combined_format);
    tcase_add_test(tc, test_json_format);
    tcase_add_test(tc, test_format_truncation_like_snprintf);
    tcase_add_test(tc, test_error_line_and_levels);
    tcase_add_test(tc, test_level_parse);
    tcase_add_test(tc, test_access_buffering);
    tcase_add_test(tc, test_access_buffer_fills_and_long_lines);
    tcase_add_test(tc, test_reopen_after_rename);
    tcase_add_test(tc, test_full_disk_drops_and_counts);
    tcase_add_test(tc, test_short_write_drops_the_rest);
    tcase_add_test(tc, test_open_failure_falls_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
