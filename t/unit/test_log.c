/* deps: log log_format log_template log_syslog pool str */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"

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
    r.upstream = MG_STR("users");
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
                           "\"upstream\":\"users\","
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

/* ---- shaped formats ---- */

/* Two tries: the first node refused the connection, the second answered 200. */
static const mg_access_try_t two_tries[] = {
    {MG_STR("127.0.0.1:1"), 0, 100.0, -1, -1, 0.0004, "connect failed"},
    {MG_STR("127.0.0.1:9001"), 200, 100.001, 0.001, 0.0104, 0.012, NULL},
};

static mg_access_rec_t tried_rec(void)
{
    mg_access_rec_t r = sample_rec();
    r.remote_port = 51234;
    r.body_bytes_sent = 1000;
    r.start = 1700000000.25;
    r.consumer = MG_STR("alice");
    r.trace_id = MG_STR("0af7651916cd43dd8448eb211c80319c");
    r.tries = two_tries;
    r.ntries = 2;
    return r;
}

/* Compiles src (a template) or fails the test. */
static mg_log_fmt_t *compile(mg_pool_t *pool, const char *src)
{
    mg_log_fmt_err_t err;
    mg_log_fmt_t *f = mg_log_fmt_template(pool, src, strlen(src), &err);
    ck_assert_msg(f != NULL, "%s: %s", src, err.msg);
    return f;
}

/* The line a template makes of r (a static buffer). */
static const char *shaped(mg_pool_t *pool, const char *src, const mg_access_rec_t *r)
{
    static char buf[4096];
    size_t n = mg_log_fmt_format(compile(pool, src), r, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    return buf;
}

/* The line a field list makes of r (a static buffer). */
static const char *fields(mg_pool_t *pool, const char *const *names, size_t n,
                          const mg_access_rec_t *r)
{
    static char buf[4096];
    mg_log_fmt_err_t err;
    mg_log_fmt_t *f = mg_log_fmt_fields(pool, names, n, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(mg_log_fmt_format(f, r, buf, sizeof(buf)), strlen(buf));
    return buf;
}

START_TEST(test_template_variables)
{
    mg_pool_t *pool = mg_pool_create(4096);
    mg_access_rec_t r = tried_rec();
    ck_assert_str_eq(shaped(pool,
                            "$remote_addr:$remote_port $method $uri \"$request\" $protocol "
                            "$status $bytes_sent $body_bytes_sent $request_length",
                            &r),
                     "10.0.0.7:51234 GET /api/users/42?q=1 \"GET /api/users/42?q=1 HTTP/1.1\" "
                     "HTTP/1.1 200 1234 1000 87\n");
    ck_assert_str_eq(shaped(pool,
                            "$referer|$user_agent|$host|$scheme|$route|$consumer|$request_id|"
                            "$trace_id",
                            &r),
                     "-|curl/8.5.0|api.example.com|https|users-api|alice|5f2b8c1d|"
                     "0af7651916cd43dd8448eb211c80319c\n");
    ck_assert_str_eq(shaped(pool,
                            "$upstream_addr|$upstream_status|$upstream_connect_time|"
                            "$upstream_header_time|$upstream_response_time|$upstream_time",
                            &r),
                     "127.0.0.1:1, 127.0.0.1:9001|502, 200|-, 0.001|-, 0.010|0.000, 0.012|"
                     "0.012\n");
    ck_assert_str_eq(shaped(pool, "$upstream_tries", &r),
                     "127.0.0.1:1 - -/-/0.000 (connect failed), "
                     "127.0.0.1:9001 200 0.001/0.010/0.012\n");
    ck_assert_str_eq(shaped(pool,
                            "$request_time $plugin_rewrite_time $plugin_access_time "
                            "$plugin_balancer_time $plugin_header_filter_time "
                            "$plugin_body_filter_time $plugin_log_time",
                            &r),
                     "0.015 - 0.031 - - - -\n");
    ck_assert_str_eq(shaped(pool, "$tls_version $tls_cipher $tls_sni", &r),
                     "TLSv1.3 TLS_AES_128_GCM_SHA256 api.example.com\n");
    ck_assert_str_eq(shaped(pool, "$msec", &r), "1700000000.265\n");
    assert_match(shaped(pool, "$time_local|$time_iso8601|$time", &r),
                 "^[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}\\|"
                 "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[-+][0-9]{2}:[0-9]{2}\\|"
                 "[0-9]{4}-[0-9]{2}-[0-9]{2}T[^|]*$");

    /* a return: route -- no upstream, no TLS, no consumer: "-" everywhere */
    r = sample_rec();
    r.upstream_addr = MG_NULL_STR;
    r.upstream_status = 0;
    r.upstream_time = r.upstream_connect_time = r.upstream_header_time = -1;
    r.tls_version = r.tls_cipher = r.tls_sni = MG_NULL_STR;
    ck_assert_str_eq(shaped(pool,
                            "$upstream_addr $upstream_status $upstream_connect_time "
                            "$upstream_header_time $upstream_response_time $upstream_time "
                            "$upstream_tries $consumer $trace_id $tls_version $remote_port",
                            &r),
                     "- - - - - - - - - - -\n");

    /* no try kept, but the record's summary of the last one: that one try */
    r = sample_rec();
    ck_assert_str_eq(shaped(pool, "$upstream_addr $upstream_status $upstream_response_time", &r),
                     "127.0.0.1:9001 200 0.012\n");

    /* a timed-out try is a 504, as nginx logs it */
    static const mg_access_try_t slow[] = {
        {MG_STR("10.0.0.1:80"), 0, 1, 0.001, -1, 3.0, "timed out before the response"}};
    r.tries = slow;
    r.ntries = 1;
    ck_assert_str_eq(shaped(pool, "$upstream_status", &r), "504\n");
    mg_pool_destroy(pool);
}
END_TEST

START_TEST(test_template_syntax_and_escaping)
{
    mg_pool_t *pool = mg_pool_create(4096);
    mg_access_rec_t r = tried_rec();
    /* ${name} next to text, $$ for a '$', a tab and any other text kept as written */
    ck_assert_str_eq(shaped(pool, "${status}ms $$5 \"${method}\"\t[${route}]{x}$$", &r),
                     "200ms $5 \"GET\"\t[users-api]{x}$\n");
    /* values escaped as nginx does, literal text not */
    r.uri = MG_STR("/a\"b\\c\x01\x7f\xc3\xa9");
    r.user_agent = MG_STR("x\ny");
    r.route = MG_NULL_STR;
    ck_assert_str_eq(shaped(pool, "\"$uri\" \"$user_agent\" \"$route\" \"$request\" é", &r),
                     "\"/a\\x22b\\x5cc\\x01\\x7f\\xc3\\xa9\" \"x\\x0ay\" \"-\" "
                     "\"GET /a\\x22b\\x5cc\\x01\\x7f\\xc3\\xa9 HTTP/1.1\" é\n");

    struct {
        const char *src;
        size_t pos;
        const char *msg;
    } bad[] = {
        {"$remote_addr $nope x", 13, "unknown variable \"$nope\"; the variables are: time "},
        {"${status", 0, "\"${\" without its \"}\""},
        {"${}", 0, "\"$\" must start a variable name"},
        {"a $ b", 2, "\"$\" must start a variable name; write \"$$\" for a \"$\""},
        {"$status$", 7, "\"$\" must start"},
        {"$status_x", 0, "unknown variable \"$status_x\""},
        {"$status\n", 7, "control character 0x0a"},
        {"no variable", 0, "at least one $variable"},
    };
    for (size_t i = 0; i < MG_NELEMS(bad); i++) {
        mg_log_fmt_err_t err;
        ck_assert_ptr_null(mg_log_fmt_template(pool, bad[i].src, strlen(bad[i].src), &err));
        ck_assert_msg(strstr(err.msg, bad[i].msg) != NULL, "%s: %s", bad[i].src, err.msg);
        ck_assert_uint_eq(err.pos, bad[i].pos);
    }
    /* the unknown-variable message lists every variable */
    mg_log_fmt_err_t err;
    ck_assert_ptr_null(mg_log_fmt_template(pool, "$x", 2, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, mg_log_fmt_names()));
    ck_assert_ptr_nonnull(strstr(mg_log_fmt_names(), "plugin_log_time tls_version"));
    static char big[5000];
    memset(big, 'a', sizeof(big));
    memcpy(big, "$status", 7);
    ck_assert_ptr_null(mg_log_fmt_template(pool, big, sizeof(big), &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "at most 4096 bytes"));
    mg_pool_destroy(pool);
}
END_TEST

START_TEST(test_fields_json)
{
    mg_pool_t *pool = mg_pool_create(4096);
    mg_access_rec_t r = tried_rec();
    const char *const names[] = {"remote_addr", "remote_port", "route", "upstream", "status",
                                 "consumer",
                                 "upstream_addr", "upstream_status", "upstream_connect_time",
                                 "upstream_header_time", "upstream_response_time",
                                 "upstream_time", "upstream_tries", "request_time",
                                 "plugin_access_time", "plugin_log_time", "request",
                                 "protocol", "bytes_sent", "body_bytes_sent", "msec",
                                 "referer", "trace_id"};
    ck_assert_str_eq(
        fields(pool, names, MG_NELEMS(names), &r),
        "{\"remote_addr\":\"10.0.0.7\",\"remote_port\":51234,\"route\":\"users-api\","
        "\"upstream\":\"users\",\"status\":200,\"consumer\":\"alice\","
        "\"upstream_addr\":[\"127.0.0.1:1\",\"127.0.0.1:9001\"],\"upstream_status\":[502,200],"
        "\"upstream_connect_time\":[null,0.001],\"upstream_header_time\":[null,0.010],"
        "\"upstream_response_time\":[0.000,0.012],\"upstream_time\":0.012,"
        "\"upstream_tries\":[{\"addr\":\"127.0.0.1:1\",\"status\":null,\"connect_time\":null,"
        "\"header_time\":null,\"time\":0.000,\"error\":\"connect failed\"},"
        "{\"addr\":\"127.0.0.1:9001\",\"status\":200,\"connect_time\":0.001,"
        "\"header_time\":0.010,\"time\":0.012,\"error\":null}],"
        "\"request_time\":0.015,\"plugin_access_time\":0.031,\"plugin_log_time\":null,"
        "\"request\":\"GET /api/users/42?q=1 HTTP/1.1\",\"protocol\":\"HTTP/1.1\","
        "\"bytes_sent\":1234,\"body_bytes_sent\":1000,\"msec\":1700000000.265,"
        "\"referer\":null,\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"}\n");

    /* time first, as in the json format; strings JSON-escaped; no upstream: null */
    r = sample_rec();
    r.uri = MG_STR("/\"\\\x01\xff");
    r.upstream_addr = MG_NULL_STR;
    r.upstream_time = -1;
    const char *const some[] = {"time", "uri", "request", "upstream_addr", "upstream_tries",
                                "upstream_time"};
    const char *line = fields(pool, some, MG_NELEMS(some), &r);
    assert_match(line, "^\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[^\"]*\",\"uri\"");
    ck_assert_str_eq(strstr(line, ",\"uri\""),
                     ",\"uri\":\"/\\\"\\\\\\u0001\\u00ff\","
                     "\"request\":\"GET /\\\"\\\\\\u0001\\u00ff HTTP/1.1\","
                     "\"upstream_addr\":null,\"upstream_tries\":null,\"upstream_time\":null}\n");

    mg_log_fmt_err_t err;
    const char *const unknown[] = {"status", "nope"};
    ck_assert_ptr_null(mg_log_fmt_fields(pool, unknown, 2, &err));
    ck_assert_uint_eq(err.pos, 1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown field \"nope\"; the fields are: time "));
    const char *const twice[] = {"status", "route", "status"};
    ck_assert_ptr_null(mg_log_fmt_fields(pool, twice, 3, &err));
    ck_assert_uint_eq(err.pos, 2);
    ck_assert_ptr_nonnull(strstr(err.msg, "listed twice"));
    ck_assert_ptr_null(mg_log_fmt_fields(pool, twice, 0, &err));
    mg_pool_destroy(pool);
}
END_TEST

/* A compiled format is one flat block: a copy works once the pool it came from is gone,
 * and it truncates like snprintf. */
START_TEST(test_fmt_copy_and_truncation)
{
    mg_pool_t *pool = mg_pool_create(4096);
    mg_log_fmt_t *f = compile(pool, "$remote_addr \"$request\" $upstream_tries");
    mg_log_fmt_t *copy = malloc(mg_log_fmt_size(f));
    memcpy(copy, f, mg_log_fmt_size(f));
    mg_access_rec_t r = tried_rec();
    char full[1024], small[20];
    size_t n = mg_log_fmt_format(f, &r, full, sizeof(full));
    mg_pool_destroy(pool);
    char again[1024];
    ck_assert_uint_eq(mg_log_fmt_format(copy, &r, again, sizeof(again)), n);
    ck_assert_str_eq(again, full);
    ck_assert_uint_eq(mg_log_fmt_format(copy, &r, small, sizeof(small)), n);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert(strncmp(small, full, sizeof(small) - 1) == 0);
    ck_assert_uint_eq(mg_log_fmt_format(copy, &r, NULL, 0), n);
    free(copy);
}
END_TEST

/* A shaped format through the file log: the log keeps its own copy of the format. */
START_TEST(test_access_shaped_file)
{
    make_dir();
    mg_pool_t *pool = mg_pool_create(4096);
    mg_log_conf_t c = base_conf(MG_ACCESS_SHAPED, 4096);
    c.access_log_fmt = compile(pool, "$remote_addr $status \"$upstream_status\"");
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_pool_destroy(pool); /* the configuration goes; the log's copy stays */
    mg_access_rec_t r = tried_rec();
    mg_log_access(&r);
    mg_log_access(&r);
    mg_log_close();
    char *s = slurp(acc_path);
    ck_assert_str_eq(s, "10.0.0.7 200 \"502, 200\"\n10.0.0.7 200 \"502, 200\"\n");
    free(s);
    remove_dir();
}
END_TEST

/* ---- syslog ---- */

/* The address of a unix socket at path, into ss; its length. */
static socklen_t unix_addr(struct sockaddr_storage *ss, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof(un->sun_path));
    memcpy(un->sun_path, path, strlen(path) + 1);
    return sizeof(*un);
}

/* A datagram socket bound at a path in the test directory, or on 127.0.0.1:port. */
static int bind_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = unix_addr(&ss, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

static int bind_udp(struct sockaddr_in *sin)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    *sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(*sin);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, len), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
    return fd;
}

/* One datagram (NUL-terminated into buf), waiting at most 2 s; its length, or -1. */
static ssize_t recv_one(int fd, char *buf, size_t len)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static mg_log_conf_t syslog_conf(mg_log_syslog_conf_t *sl, mg_access_format_t fmt)
{
    mg_log_conf_t c = base_conf(fmt, 0);
    c.access_log_path = NULL;
    c.access_log_syslog = sl;
    return c;
}

START_TEST(test_syslog_unix)
{
    make_dir();
    char path[400];
    snprintf(path, sizeof(path), "%s/sock", dir);
    int rx = bind_unix(path);
    mg_log_syslog_conf_t sl = {.target = "unix:sock", .facility = 23, .severity = 6,
                               .tag = "gw_1"};
    sl.addrlen = unix_addr(&sl.addr, path);
    mg_log_conf_t c = syslog_conf(&sl, MG_ACCESS_COMBINED);
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    ck_assert(mg_log_access_enabled());
    mg_access_rec_t r = sample_rec();
    mg_log_access(&r);
    char buf[9000], line[1024];
    ck_assert_int_gt(recv_one(rx, buf, sizeof(buf)), 0);
    /* <local7.info>, RFC 3164 time, no host name on a unix socket, the tag, the line
     * without its newline */
    assert_match(buf, "^<190>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} gw_1: "
                      "10\\.0\\.0\\.7 - - \\[");
    mg_log_format_access(MG_ACCESS_COMBINED, &r, line, sizeof(line));
    line[strlen(line) - 1] = '\0';
    ck_assert_str_eq(strstr(buf, ": ") + 2, line);

    /* the receiver goes away: lines are dropped and counted, never blocking */
    uint64_t before = mg_log_dropped();
    close(rx);
    unlink(path);
    mg_log_access(&r);
    mg_log_access(&r);
    ck_assert_uint_eq(mg_log_dropped(), before + 2);
    /* it comes back: the socket is connected again (at most once a second) */
    rx = bind_unix(path);
    ssize_t n = -1;
    for (int i = 0; i < 30 && n <= 0; i++) {
        mg_log_access(&r);
        struct timeval tv = {0, 100000};
        setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(rx, buf, sizeof(buf) - 1, 0);
    }
    ck_assert_int_gt(n, 0);
    mg_log_close();
    char *err = slurp(err_path);
    ck_assert_ptr_nonnull(strstr(err, "[error]"));
    ck_assert_ptr_nonnull(strstr(err, "send() to syslog \"unix:sock\" failed"));
    ck_assert_ptr_nonnull(strstr(err, "takes lines again"));
    free(err);
    close(rx);
    unlink(path);
    remove_dir();
}
END_TEST

START_TEST(test_syslog_udp)
{
    make_dir();
    struct sockaddr_in sin;
    int rx = bind_udp(&sin);
    mg_log_syslog_conf_t sl = {.target = "udp:127.0.0.1", .facility = 3, .severity = 4,
                               .tag = "moongate"};
    memcpy(&sl.addr, &sin, sizeof(sin));
    sl.addrlen = sizeof(sin);
    mg_pool_t *pool = mg_pool_create(4096);
    mg_log_conf_t c = syslog_conf(&sl, MG_ACCESS_SHAPED);
    c.access_log_fmt = compile(pool, "$status $uri");
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    mg_access_rec_t r = sample_rec();
    mg_log_access(&r);
    char buf[9000], host[64] = "";
    ck_assert_int_gt(recv_one(rx, buf, sizeof(buf)), 0);
    gethostname(host, sizeof(host));
    char re[200];
    snprintf(re, sizeof(re),
             "^<28>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} %s moongate: "
             "200 /api/users/42\\?q=1$",
             host);
    assert_match(buf, re);

    /* a line longer than the bound is cut to MG_LOG_SYSLOG_MAX bytes in all */
    static char uri[10000];
    memset(uri, 'u', sizeof(uri));
    r.uri = mg_str(uri, sizeof(uri));
    mg_log_access(&r);
    ck_assert_int_eq(recv_one(rx, buf, sizeof(buf)), 8192);
    ck_assert_ptr_nonnull(strstr(buf, "moongate: 200 uuuu"));

    /* nobody listens any more: ICMP refusals drop lines, counted */
    close(rx);
    uint64_t before = mg_log_dropped();
    for (int i = 0; i < 5; i++) {
        mg_log_access(&r);
        usleep(10000);
    }
    ck_assert_uint_gt(mg_log_dropped(), before);
    mg_log_close();
    mg_pool_destroy(pool);
    remove_dir();
}
END_TEST

/* No receiver at start: the log opens all the same (lines are dropped until one is
 * there), so a syslog daemon down never keeps the gateway from starting. */
START_TEST(test_syslog_absent_at_open)
{
    make_dir();
    mg_log_syslog_conf_t sl = {.target = "unix:none", .facility = 23, .severity = 6,
                               .tag = "moongate"};
    char path[400];
    snprintf(path, sizeof(path), "%s/none", dir);
    sl.addrlen = unix_addr(&sl.addr, path);
    mg_log_conf_t c = syslog_conf(&sl, MG_ACCESS_JSON);
    ck_assert_int_eq(mg_log_open(&c), MG_OK);
    uint64_t before = mg_log_dropped();
    mg_access_rec_t r = sample_rec();
    mg_log_access(&r);
    ck_assert_uint_eq(mg_log_dropped(), before + 1);
    mg_log_close();
    char *err = slurp(err_path);
    ck_assert_ptr_nonnull(strstr(err, "syslog \"unix:none\" is not there"));
    free(err);
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
    tcase_add_test(tc, test_template_variables);
    tcase_add_test(tc, test_template_syntax_and_escaping);
    tcase_add_test(tc, test_fields_json);
    tcase_add_test(tc, test_fmt_copy_and_truncation);
    tcase_add_test(tc, test_access_shaped_file);
    tcase_add_test(tc, test_syslog_unix);
    tcase_add_test(tc, test_syslog_udp);
    tcase_add_test(tc, test_syslog_absent_at_open);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
