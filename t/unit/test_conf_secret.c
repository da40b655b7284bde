/* deps: conf conf_plugin conf_secret conf_lua_path conf_top conf_access_log log_template log_format conf_value conf_route conf_buffering conf_ratelimit router route_pattern pool str conf_balancer conf_health conf_tls conf_resolver conf_metrics conf_tracing conf_realip cidr regexp */
/* ${NAME} and ${file:path} in configuration strings (conf_secret.c): the expansion on
 * its own, its edge cases, and through the parser (positions, key paths, messages that
 * quote the reference and never the value). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char dir[] = "/tmp/mg-secret-XXXXXX";

static void write_file(const char *name, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/mg-secret-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("MG_T_TOKEN", "tok3n", 1);
    setenv("MG_T_EMPTY", "", 1);
    unsetenv("MG_T_UNSET");
    write_file("key", "k3y\n", 4);
    write_file("crlf", "v\r\n", 3);
    write_file("twonl", "v\n\n", 3);
    write_file("nonl", "raw", 3);
    write_file("nul", "a\0b", 3);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Expands `in`; expects `want`. */
static void expand_ok(const char *in, const char *want)
{
    char *out = NULL, why[512] = "";
    size_t n = 0;
    int rc = mg_conf_expand(in, strlen(in), dir, &out, &n, why, sizeof(why));
    ck_assert_msg(rc == MG_OK, "%s: unexpected error: %s", in, why);
    ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0, "%s: got \"%s\", want \"%s\"",
                  in, out, want);
    free(out);
}

/* Expands `in`; expects an error containing `msg`, and never the token's value. */
static void expand_err(const char *in, const char *msg)
{
    char *out = NULL, why[512] = "";
    size_t n = 0;
    int rc = mg_conf_expand(in, strlen(in), dir, &out, &n, why, sizeof(why));
    ck_assert_msg(rc == MG_ERROR, "%s: expected an error, got \"%s\"", in, out ? out : "");
    ck_assert_msg(strstr(why, msg) != NULL, "%s: expected \"%s\" in \"%s\"", in, msg, why);
    ck_assert_msg(strstr(why, "tok3n") == NULL && strstr(why, "k3y") == NULL, "%s: leaks: %s",
                  in, why);
}

START_TEST(test_expand_forms)
{
    expand_ok("plain", "plain");
    expand_ok("", "");
    expand_ok("${MG_T_TOKEN}", "tok3n");
    expand_ok("Bearer ${MG_T_TOKEN}", "Bearer tok3n");
    expand_ok("${MG_T_TOKEN}${MG_T_TOKEN}", "tok3ntok3n");
    expand_ok("a${MG_T_EMPTY}b", "ab");
    expand_ok("$${MG_T_TOKEN}", "${MG_T_TOKEN}");
    expand_ok("x $${ y", "x ${ y");
    expand_ok("$$${MG_T_TOKEN}", "$${MG_T_TOKEN}");
    expand_ok("cost: $5, $$, $", "cost: $5, $$, $");
    expand_ok("${file:key}", "k3y");
    expand_ok("${file:crlf}", "v");
    expand_ok("${file:twonl}", "v\n");
    expand_ok("${file:nonl}!", "raw!");
    expand_ok("}{$}", "}{$}");
    ck_assert(mg_conf_has_secret("a${b}", 5));
    ck_assert(mg_conf_has_secret("$${", 3));
    ck_assert(!mg_conf_has_secret("$ {x}", 5));
    ck_assert(!mg_conf_has_secret("$", 1));
}
END_TEST

START_TEST(test_expand_errors)
{
    expand_err("${", "unterminated ${");
    expand_err("a ${MG_T_TOKEN", "unterminated ${");
    expand_err("${}", "${} names no variable");
    expand_err("${MG_T_UNSET}", "the environment variable MG_T_UNSET is not set");
    expand_err("${a${MG_T_TOKEN}}", "nested ${...} is not supported");
    expand_err("${foo:bar}", "unknown kind of secret \"foo\" in ${foo:bar}");
    expand_err("${file:}", "${file:} names no file");
    expand_err("${file:missing}", "cannot read the secret file missing");
    expand_err("${file:nul}", "holds a NUL byte");
    /* not environment names: left for plugin templates and log variables */
    expand_ok("${1X}", "${1X}");
    expand_ok("${A-B}/${uri}?${2}", "${A-B}/${uri}?${2}");
    expand_err("${file:.}", "cannot read the secret file .");
}
END_TEST

START_TEST(test_expand_long)
{
    /* a long value expands; past 1 MiB in all it is refused */
    size_t big = 600u << 10;
    char *v = malloc(big + 1);
    memset(v, 'x', big);
    v[big] = '\0';
    setenv("MG_T_BIG", v, 1);
    char *out = NULL, why[512] = "";
    size_t n = 0;
    ck_assert_int_eq(mg_conf_expand("${MG_T_BIG}", 11, dir, &out, &n, why, sizeof(why)), MG_OK);
    ck_assert_uint_eq(n, big);
    free(out);
    expand_err("${MG_T_BIG}${MG_T_BIG}", "longer than 1 MiB");
    unsetenv("MG_T_BIG");
    free(v);
}
END_TEST

/* Parses `yaml` (file named <dir>/t.yaml); NULL and *err on error. */
static mg_conf_t *parse(const char *yaml, mg_conf_err_t *err)
{
    char name[256];
    snprintf(name, sizeof(name), "%s/t.yaml", dir);
    memset(err, 0, sizeof(*err));
    return mg_conf_parse(yaml, strlen(yaml), name, "/srv/gw", err);
}

START_TEST(test_through_parser)
{
    mg_conf_err_t err;
    mg_conf_t *c = parse("redis:\n  address: \"127.0.0.1:6379\"\n  password: ${MG_T_TOKEN}\n"
                         "routes:\n  - { name: r, paths: ['/'], return: { status: 200, body: "
                         "\"${file:key}\" } }\n",
                         &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_str_eq(c->redis->password, "tok3n");
    mg_conf_destroy(c);

    /* an unset variable: its position, key path and name */
    c = parse("routes: []\nredis: { address: \"127.0.0.1:6379\", password: \"${MG_T_UNSET}\" }\n",
              &err);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 47);
    ck_assert_str_eq(err.key, "redis.password");
    ck_assert_ptr_nonnull(strstr(err.msg, "MG_T_UNSET is not set"));
    ck_assert_msg(err.unset_env, "marked as an unset variable, for -s reload");

    /* any other failure clears the mark, even in a reused err (no memset here) */
    const char *nofile = "routes: []\nredis: { address: \"127.0.0.1:6379\", password: \"${file:nope}\" }\n";
    c = mg_conf_parse(nofile, strlen(nofile), "t.yaml", dir, &err);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot read the secret file nope"));
    ck_assert(!err.unset_env);

    /* a message that quotes the value quotes the reference */
    c = parse("worker_processes: \"${MG_T_TOKEN}\"\nroutes: []\n", &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err.key, "worker_processes");
    ck_assert_msg(strstr(err.msg, "got \"${MG_T_TOKEN}\"") != NULL, "%s", err.msg);
    ck_assert_ptr_null(strstr(err.msg, "tok3n"));

    /* plugin configs keep the reference for the schema's messages */
    c = parse("routes:\n  - name: r\n    paths: ['/']\n    plugins: { p: { k: \"${MG_T_TOKEN}\", "
              "l: x } }\n",
              &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const mg_conf_value_t *v = c->routes[0].plugins[0].value;
    ck_assert_str_eq(v->items[0].str, "tok3n");
    ck_assert_str_eq(v->items[0].raw, "${MG_T_TOKEN}");
    ck_assert_ptr_null(v->items[1].raw);
    mg_conf_destroy(c);

    /* keys are not expanded; an alias shares one expansion */
    c = parse("routes:\n  - name: r\n    paths: ['/']\n    plugins: { p: { \"${MG_T_TOKEN}\": &a "
              "\"${MG_T_TOKEN}\", b: *a } }\n",
              &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    v = c->routes[0].plugins[0].value;
    ck_assert_str_eq(v->keys[0], "${MG_T_TOKEN}");
    mg_conf_destroy(c);
    c = parse("access_log: { format: '${remote_addr} $status ${request_time}s' }\nroutes: []\n",
              &err);
    ck_assert_msg(c != NULL, "the access log's ${name} are its variables: %s", err.msg);
    mg_conf_destroy(c);
    c = parse("routes:\n  - name: r\n    paths: ['/']\n    plugins: { p: { \"${MG_T_TOKEN}\": &a "
              "\"${MG_T_TOKEN}\", b: *a } }\n",
              &err);
    v = c->routes[0].plugins[0].value;
    ck_assert_str_eq(v->items[0].str, "tok3n");
    ck_assert_str_eq(v->items[1].str, "tok3n");
    mg_conf_destroy(c);
}
END_TEST

/* A worker parsing what the master validated takes the secret files the master read,
 * even when the files changed since. */
START_TEST(test_sealed)
{
    mg_conf_err_t err;
    const char *yaml = "redis: { address: \"127.0.0.1:6379\", password: \"${file:key}\" }\n"
                       "routes: []\n";
    mg_conf_t *master = parse(yaml, &err);
    ck_assert_msg(master != NULL, "%s", err.msg);
    ck_assert_str_eq(master->redis->password, "k3y");
    ck_assert_ptr_nonnull(master->secret_files);
    size_t n = mg_conf_plugins_pack(master, NULL);
    char *pack = malloc(n);
    ck_assert_uint_eq(mg_conf_plugins_pack(master, pack), n);
    write_file("key", "rotated\n", 8);

    char name[256];
    snprintf(name, sizeof(name), "%s/t.yaml", dir);
    mg_conf_t *worker = mg_conf_parse_sealed(yaml, strlen(yaml), name, "/srv/gw", pack, n, &err);
    ck_assert_msg(worker != NULL, "%s", err.msg);
    ck_assert_str_eq(worker->redis->password, "k3y");
    ck_assert_int_eq(mg_conf_plugins_unpack(worker, pack, n), MG_OK);
    mg_conf_destroy(worker);

    /* a corrupt secrets section refuses the unpack */
    ck_assert_int_eq(mg_conf_plugins_unpack(master, pack, 3), MG_ERROR);
    free(pack);
    mg_conf_destroy(master);

    /* without the sealed set, the file is read again */
    mg_conf_t *again = parse(yaml, &err);
    ck_assert_msg(again != NULL, "%s", err.msg);
    ck_assert_str_eq(again->redis->password, "rotated");
    mg_conf_destroy(again);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf_secret");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_expand_forms);
    tcase_add_test(tc, test_expand_errors);
    tcase_add_test(tc, test_expand_long);
    tcase_add_test(tc, test_through_parser);
    tcase_add_test(tc, test_sealed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
