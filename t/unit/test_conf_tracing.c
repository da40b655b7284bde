/* deps: conf conf_plugin conf_top conf_access_log log_template log_format conf_value conf_route conf_buffering conf_ratelimit router route_pattern pool str conf_balancer conf_health conf_tls conf_resolver conf_tracing conf_metrics conf_realip cidr regexp */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static mg_conf_t *parse_ok(const char *yaml)
{
    mg_conf_err_t err;
    memset(&err, 0, sizeof(err));
    mg_conf_t *c = mg_conf_parse(yaml, strlen(yaml), "t.yaml", "/srv/gw", &err);
    if (c == NULL) {
        char buf[1500];
        ck_abort_msg("unexpected error: %s", mg_conf_err_format(&err, buf, sizeof(buf)));
    }
    return c;
}

/* Expects an error at line:col under `key` whose message holds `msg`. */
static void parse_err(const char *yaml, int line, int col, const char *key, const char *msg)
{
    mg_conf_err_t err;
    memset(&err, 0, sizeof(err));
    mg_conf_t *c = mg_conf_parse(yaml, strlen(yaml), "t.yaml", "/srv/gw", &err);
    char buf[1500];
    mg_conf_err_format(&err, buf, sizeof(buf));
    ck_assert_msg(c == NULL, "expected an error for:\n%s", yaml);
    ck_assert_msg(err.line == line && err.column == col, "expected %d:%d, got %s", line, col, buf);
    ck_assert_msg(strcmp(err.key, key) == 0, "expected key %s, got %s", key, buf);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "expected \"%s\" in %s", msg, buf);
}

START_TEST(test_absent_and_off)
{
    mg_conf_t *c = parse_ok("");
    ck_assert_ptr_null(c->tracing);
    mg_conf_destroy(c);
    c = parse_ok("tracing: off\n");
    ck_assert_ptr_null(c->tracing);
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_defaults)
{
    const char *forms[] = {"tracing:\n", "tracing: {}\n"};
    for (size_t i = 0; i < 2; i++) {
        mg_conf_t *c = parse_ok(forms[i]);
        const mg_tracing_conf_t *t = c->tracing;
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->endpoint, "http://localhost:4318/v1/traces");
        ck_assert(t->sample_ratio == 1);
        ck_assert_str_eq(t->service_name, "moongate");
        ck_assert_int_eq(t->batch_size, 512);
        ck_assert_int_eq(t->queue_size, 2048);
        ck_assert(t->flush_interval == 1 && t->timeout == 5);
        ck_assert_uint_eq(t->nheaders, 0);
        ck_assert(t->tls_verify);
        mg_conf_destroy(c);
    }
}
END_TEST

START_TEST(test_every_key)
{
    mg_conf_t *c = parse_ok("tracing:\n"
                            "  endpoint: \"https://otel.example:4318/v1/traces\"\n"
                            "  sample_ratio: 0.25\n"
                            "  service_name: edge-gw\n"
                            "  batch_size: 10\n"
                            "  queue_size: 100\n"
                            "  flush_interval: 250ms\n"
                            "  timeout: 2s\n"
                            "  headers: { Authorization: \"Bearer abc\", X-Tenant: t1 }\n"
                            "  tls_verify: false\n");
    const mg_tracing_conf_t *t = c->tracing;
    ck_assert_str_eq(t->endpoint, "https://otel.example:4318/v1/traces");
    ck_assert(t->sample_ratio == 0.25);
    ck_assert_str_eq(t->service_name, "edge-gw");
    ck_assert_int_eq(t->batch_size, 10);
    ck_assert_int_eq(t->queue_size, 100);
    ck_assert(t->flush_interval == 0.25 && t->timeout == 2);
    ck_assert_uint_eq(t->nheaders, 2);
    ck_assert_str_eq(t->header_names[0], "Authorization");
    ck_assert_str_eq(t->header_values[0], "Bearer abc");
    ck_assert_str_eq(t->header_names[1], "X-Tenant");
    ck_assert_str_eq(t->header_values[1], "t1");
    ck_assert(!t->tls_verify);
    mg_conf_destroy(c);
    /* ratio 0 and 1, IPv6 and bare hosts */
    c = parse_ok("tracing: { sample_ratio: 0, endpoint: \"http://[::1]:4318/v1/traces\" }\n");
    ck_assert(c->tracing->sample_ratio == 0);
    mg_conf_destroy(c);
    c = parse_ok("tracing: { sample_ratio: 1, endpoint: \"http://collector\" }\n");
    ck_assert(c->tracing->sample_ratio == 1);
    mg_conf_destroy(c);
}
END_TEST

static const struct {
    const char *yaml;
    int line, col;
    const char *key, *msg;
} errors[] = {
    {"tracing: yes\n", 1, 10, "tracing", "expected a mapping"},
    {"tracing: { endpoint: \"ftp://x/\" }\n", 1, 22, "tracing.endpoint", "http:// or https://"},
    {"tracing: { endpoint: \"http:///v1\" }\n", 1, 22, "tracing.endpoint", "no host"},
    {"tracing: { endpoint: \"http://a:0/\" }\n", 1, 22, "tracing.endpoint", "port"},
    {"tracing: { endpoint: \"http://a:99999/\" }\n", 1, 22, "tracing.endpoint", "port"},
    {"tracing: { endpoint: \"http://a:/\" }\n", 1, 22, "tracing.endpoint", "empty port"},
    {"tracing: { endpoint: \"http://u:p@a/\" }\n", 1, 22, "tracing.endpoint", "user info"},
    {"tracing: { endpoint: \"http://a/b c\" }\n", 1, 22, "tracing.endpoint", "space"},
    {"tracing: { endpoint: \"http://a/#x\" }\n", 1, 22, "tracing.endpoint", "fragment"},
    {"tracing: { sample_ratio: 1.5 }\n", 1, 26, "tracing.sample_ratio", "from 0 to 1"},
    {"tracing: { sample_ratio: -0.1 }\n", 1, 26, "tracing.sample_ratio", "from 0 to 1"},
    {"tracing: { sample_ratio: half }\n", 1, 26, "tracing.sample_ratio", "from 0 to 1"},
    {"tracing: { batch_size: 0 }\n", 1, 24, "tracing.batch_size", "from 1 to 65536"},
    {"tracing: { queue_size: x }\n", 1, 24, "tracing.queue_size", "integer"},
    {"tracing: { batch_size: 100, queue_size: 10 }\n", 1, 24, "tracing.batch_size",
     "larger than queue_size"},
    {"tracing: { flush_interval: 1ms }\n", 1, 28, "tracing.flush_interval", "from 10ms"},
    {"tracing: { timeout: 0 }\n", 1, 21, "tracing.timeout", "duration"},
    {"tracing: { headers: [a] }\n", 1, 21, "tracing.headers", "mapping of header name"},
    {"tracing: { headers: { \"a b\": x } }\n", 1, 23, "tracing.headers.a b", "header name"},
    {"tracing: { headers: { Content-Type: x } }\n", 1, 23, "tracing.headers.Content-Type",
     "set by the exporter"},
    {"tracing: { headers: { a: x, A: y } }\n", 1, 29, "tracing.headers.A", "duplicate header"},
    {"tracing: { service_name: \"\" }\n", 1, 26, "tracing.service_name", "non-empty"},
    {"tracing: { tls_verify: maybe }\n", 1, 24, "tracing.tls_verify", "true or false"},
    {"tracing: { sample_rate: 1 }\n", 1, 12, "tracing.sample_rate", "sample_ratio"},
};

START_TEST(test_errors)
{
    parse_err(errors[_i].yaml, errors[_i].line, errors[_i].col, errors[_i].key, errors[_i].msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf_tracing");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_absent_and_off);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_key);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(errors) / sizeof(errors[0])));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
