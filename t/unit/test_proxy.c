/* deps: proxy_head http_client http_client_head upstream upstream_queue upstream_dns nodeset resolver resolver_cache health health_probe transport tls tls_server tls_ocsp tls_ticket balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky nodestate shm log log_format log_template log_syslog pool http_parse str trace trace_request http_values */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "gen.h"
#include "pool.h"
#include "proxy.h"
#include "trace.h"

#include "llhttp.h"

/* A hand-made request as the client side would hand it over. */
static mg_header_t hdrs[16];

static mg_request_t make_request(const char *method, int m, const char *path, const char *query)
{
    mg_request_t r;
    memset(&r, 0, sizeof(r));
    r.method = m;
    r.method_name = mg_str(method, strlen(method));
    r.path = mg_str(path, strlen(path));
    r.query = mg_str(query, strlen(query));
    r.http_major = 1;
    r.http_minor = 1;
    r.host_header = MG_STR("api.example.com");
    r.host = MG_STR("api.example.com");
    r.content_length = -1;
    r.remote_addr = MG_STR("10.1.2.3");
    r.request_id = MG_STR("abc-123");
    r.headers = hdrs;
    r.nheaders = 0;
    return r;
}

static void add_header(mg_request_t *r, const char *n, const char *v)
{
    hdrs[r->nheaders].name = mg_str(n, strlen(n));
    hdrs[r->nheaders].value = mg_str(v, strlen(v));
    r->nheaders++;
}

static char *build(const mg_request_t *r, const char *host)
{
    mg_pool_t *pool = mg_pool_create(4096);
    size_t n = 0;
    char *head = mg_proxy_request_head(r, host != NULL ? mg_str(host, strlen(host)) : MG_NULL_STR, NULL, 0,
                                       pool, &n);
    ck_assert_ptr_nonnull(head);
    char *buf = malloc(n + 1);
    memcpy(buf, head, n);
    buf[n] = '\0';
    mg_pool_destroy(pool);
    return buf;
}

START_TEST(test_request_line_host_and_added_headers)
{
    mg_request_t r = make_request("GET", HTTP_GET, "/a/b", "x=1&y=2");
    add_header(&r, "Host", "api.example.com");
    add_header(&r, "Accept", "*/*");
    char *h = build(&r, NULL);
    ck_assert_str_eq(h, "GET /a/b?x=1&y=2 HTTP/1.1\r\n"
                        "Host: api.example.com\r\n"
                        "Accept: */*\r\n"
                        "X-Forwarded-For: 10.1.2.3\r\n"
                        "X-Forwarded-Proto: http\r\n"
                        "X-Forwarded-Host: api.example.com\r\n"
                        "X-Real-IP: 10.1.2.3\r\n"
                        "X-Request-Id: abc-123\r\n"
                        "\r\n");
    free(h);
}
END_TEST

/* A WebSocket handshake goes up with Upgrade and Connection of our own (the client's are
 * hop-by-hop) and its Sec-WebSocket-* headers as they came. */
START_TEST(test_websocket_handshake_head)
{
    mg_request_t r = make_request("GET", HTTP_GET, "/ws/chat", "");
    add_header(&r, "Host", "api.example.com");
    add_header(&r, "Upgrade", "WebSocket");
    add_header(&r, "Connection", "keep-alive, Upgrade");
    add_header(&r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    add_header(&r, "Sec-WebSocket-Version", "13");
    r.connection = MG_STR("keep-alive, Upgrade");
    r.websocket = true;
    char *h = build(&r, NULL);
    ck_assert_str_eq(h, "GET /ws/chat HTTP/1.1\r\n"
                        "Host: api.example.com\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "X-Forwarded-For: 10.1.2.3\r\n"
                        "X-Forwarded-Proto: http\r\n"
                        "X-Forwarded-Host: api.example.com\r\n"
                        "X-Real-IP: 10.1.2.3\r\n"
                        "X-Request-Id: abc-123\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: upgrade\r\n"
                        "\r\n");
    free(h);
    /* the same request on a route without websocket: true goes up plain */
    r.websocket = false;
    h = build(&r, NULL);
    ck_assert_ptr_null(strstr(h, "Upgrade"));
    ck_assert_ptr_null(strstr(h, "Connection"));
    free(h);
}
END_TEST

/* With tracing, the client's traceparent and tracestate never go up as they came: the
 * gateway's own replace them, and each try rewrites the parent id in place. */
START_TEST(test_trace_context_replaced)
{
    mg_tracing_conf_t tc = {.sample_ratio = 1};
    mg_conf_t conf = {.tracing = &tc};
    mg_gen_t gen = {.conf = &conf};
    mg_request_t r = make_request("GET", HTTP_GET, "/", "");
    mg_pool_t *pool = mg_pool_create(4096);
    r.pool = pool;
    r.gen = &gen;
    add_header(&r, "Host", "api.example.com");
    add_header(&r, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    add_header(&r, "TraceState", "rojo=1");
    add_header(&r, "Accept", "*/*");
    mg_header_t more[MG_PROXY_MORE_HEADERS];
    size_t nmore = mg_trace_upstream_headers(&r, more);
    ck_assert_uint_eq(nmore, 2);
    size_t n = 0;
    char *head = mg_proxy_request_head(&r, MG_NULL_STR, more, nmore, pool, &n);
    char *v = mg_trace_find_parent(head, n);
    ck_assert_ptr_nonnull(v);
    mg_trace_try_begin(&r, 0, v);
    char *h = strndup(head, n);
    char tp[80];
    snprintf(tp, sizeof(tp), "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-%.16s-01\r\n",
             v + 36);
    ck_assert_ptr_nonnull(strstr(h, tp));
    ck_assert_ptr_null(strstr(h, "00f067aa0ba902b7"));
    ck_assert_ptr_null(strstr(h, "TraceState"));
    ck_assert_ptr_nonnull(strstr(h, "tracestate: rojo=1\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "Accept: */*\r\n"));
    free(h);
    /* without tracing the client's headers pass untouched */
    r.trace = NULL;
    conf.tracing = NULL;
    h = build(&r, NULL);
    ck_assert_ptr_nonnull(
        strstr(h, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "TraceState: rojo=1\r\n"));
    free(h);
    mg_pool_destroy(pool);
}
END_TEST

START_TEST(test_upstream_host_overrides_client_host)
{
    mg_request_t r = make_request("GET", HTTP_GET, "/", "");
    add_header(&r, "Host", "api.example.com");
    r.tls = true;
    char *h = build(&r, "internal.svc");
    ck_assert_ptr_nonnull(strstr(h, "GET / HTTP/1.1\r\nHost: internal.svc\r\n"));
    ck_assert_ptr_null(strstr(h, "\nHost: api.example.com"));
    ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-Host: api.example.com\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-Proto: https\r\n"));
    free(h);
}
END_TEST

START_TEST(test_hop_by_hop_and_connection_named_headers_stripped)
{
    mg_request_t r = make_request("GET", HTTP_GET, "/", "");
    add_header(&r, "Host", "api.example.com");
    add_header(&r, "Connection", "close, X-Forwarded-For, Authorization");
    add_header(&r, "Keep-Alive", "timeout=5");
    add_header(&r, "TE", "trailers");
    add_header(&r, "Upgrade", "websocket");
    add_header(&r, "Proxy-Authorization", "Basic x");
    add_header(&r, "Authorization", "Bearer t");
    add_header(&r, "X-Forwarded-For", "6.6.6.6");
    add_header(&r, "X-Real-IP", "6.6.6.6");
    add_header(&r, "x-gw-route", "admin");
    add_header(&r, "X-Keep", "yes");
    r.connection = MG_STR("close, X-Forwarded-For, Authorization");
    char *h = build(&r, NULL);
    ck_assert_ptr_null(strstr(h, "Connection"));
    ck_assert_ptr_null(strstr(h, "Keep-Alive"));
    ck_assert_ptr_null(strstr(h, "TE:"));
    ck_assert_ptr_null(strstr(h, "Upgrade"));
    ck_assert_ptr_null(strstr(h, "Authorization"));
    ck_assert_ptr_null(strstr(h, "6.6.6.6"));
    ck_assert_ptr_null(strstr(h, "x-gw-"));
    ck_assert_ptr_nonnull(strstr(h, "X-Keep: yes\r\n"));
    /* the gateway's own headers survive the client's Connection list */
    ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-For: 10.1.2.3\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "X-Real-IP: 10.1.2.3\r\n"));
    free(h);
}
END_TEST

START_TEST(test_framing_is_ours)
{
    mg_request_t r = make_request("POST", HTTP_POST, "/p", "");
    add_header(&r, "Content-Length", "0005");
    add_header(&r, "X-Request-Id", "client-supplied");
    add_header(&r, "Expect", "100-continue");
    r.content_length = 5;
    r.has_body = true;
    char *h = build(&r, NULL);
    ck_assert_ptr_nonnull(strstr(h, "Content-Length: 5\r\n\r\n"));
    ck_assert_ptr_null(strstr(h, "0005"));
    ck_assert_ptr_null(strstr(h, "client-supplied"));
    ck_assert_ptr_null(strstr(h, "Expect"));
    free(h);

    r = make_request("POST", HTTP_POST, "/p", "");
    add_header(&r, "Transfer-Encoding", "chunked");
    r.chunked = true;
    r.has_body = true;
    h = build(&r, NULL);
    ck_assert_ptr_nonnull(strstr(h, "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    /* only ours: the client's own Transfer-Encoding line was dropped */
    ck_assert_ptr_eq(strstr(h, "Transfer-Encoding"),
                     strstr(h, "Transfer-Encoding: chunked\r\n\r\n"));
    free(h);
}
END_TEST

START_TEST(test_idempotent_methods)
{
    ck_assert(mg_proxy_method_idempotent(HTTP_GET));
    ck_assert(mg_proxy_method_idempotent(HTTP_HEAD));
    ck_assert(mg_proxy_method_idempotent(HTTP_PUT));
    ck_assert(mg_proxy_method_idempotent(HTTP_DELETE));
    ck_assert(mg_proxy_method_idempotent(HTTP_OPTIONS));
    ck_assert(!mg_proxy_method_idempotent(HTTP_POST));
    ck_assert(!mg_proxy_method_idempotent(HTTP_PATCH));
}
END_TEST

static mg_proxy_try_t a_try(mg_http_client_err_t err, int method, bool sent)
{
    mg_proxy_try_t t = {
        .err = err,
        .method = method,
        .sent = sent,
        .replayable = true,
        .tries = 1,
        .retries = 1,
    };
    return t;
}

START_TEST(test_retry_table)
{
    /* nothing reached the upstream: any method moves on */
    mg_proxy_try_t t = a_try(MG_HTTP_CLIENT_ERR_CONNECT, HTTP_POST, false);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY);
    t = a_try(MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT, HTTP_PATCH, false);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY);

    /* sent: only idempotent and still buffered */
    t = a_try(MG_HTTP_CLIENT_ERR_IO, HTTP_POST, true);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);
    t = a_try(MG_HTTP_CLIENT_ERR_TIMEOUT, HTTP_PATCH, true);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 504);
    t = a_try(MG_HTTP_CLIENT_ERR_IO, HTTP_GET, true);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY);
    t.replayable = false;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);

    /* budget: tries and total time */
    t = a_try(MG_HTTP_CLIENT_ERR_CONNECT, HTTP_GET, false);
    t.tries = 2;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);
    t = a_try(MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT, HTTP_GET, false);
    t.tries = 2;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 504);
    t = a_try(MG_HTTP_CLIENT_ERR_CONNECT, HTTP_GET, false);
    t.retry_timeout = 1.0;
    t.elapsed = 1.5;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);

    /* never retried */
    t = a_try(MG_HTTP_CLIENT_ERR_BAD_RESPONSE, HTTP_GET, true);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);
    t = a_try(MG_HTTP_CLIENT_ERR_NO_SOCKET, HTTP_GET, false);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 503);
}
END_TEST

START_TEST(test_stale_pooled_connection_gets_one_fresh_retry)
{
    mg_proxy_try_t t = a_try(MG_HTTP_CLIENT_ERR_IO, HTTP_GET, true);
    t.reused = true;
    t.retries = 0;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY_FRESH);
    t.stale_retried = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);

    /* not for a POST that went out: it may have been processed */
    t = a_try(MG_HTTP_CLIENT_ERR_IO, HTTP_POST, true);
    t.reused = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);

    /* a timeout is not the keep-alive race */
    t = a_try(MG_HTTP_CLIENT_ERR_TIMEOUT, HTTP_GET, true);
    t.reused = true;
    t.retries = 0;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 504);
}
END_TEST

START_TEST(test_retry_budget_stops_retries_on_another_node)
{
    mg_proxy_try_t t = a_try(MG_HTTP_CLIENT_ERR_CONNECT, HTTP_GET, false);
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY);
    t.no_budget = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);
    t = a_try(MG_HTTP_CLIENT_ERR_TIMEOUT, HTTP_GET, false);
    t.no_budget = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 504);

    /* the fresh-socket retry after a stale pooled connection is not a retry elsewhere */
    t = a_try(MG_HTTP_CLIENT_ERR_IO, HTTP_GET, true);
    t.reused = true;
    t.no_budget = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), MG_PROXY_RETRY_FRESH);
    t.stale_retried = true;
    ck_assert_int_eq(mg_proxy_retry_decide(&t), 502);
}
END_TEST

START_TEST(test_skip_lists)
{
    ck_assert(mg_proxy_skip_request_header(MG_STR("x-forwarded-proto"), MG_NULL_STR));
    ck_assert(mg_proxy_skip_request_header(MG_STR("X-GW-Anything"), MG_NULL_STR));
    ck_assert(!mg_proxy_skip_request_header(MG_STR("X-Gateway"), MG_NULL_STR));
    ck_assert(mg_proxy_skip_request_header(MG_STR("X-Foo"), MG_STR("keep-alive, x-foo")));
    ck_assert(!mg_proxy_skip_request_header(MG_STR("X-Foo"), MG_STR("keep-alive, x-foobar")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_request_line_host_and_added_headers);
    tcase_add_test(tc, test_websocket_handshake_head);
    tcase_add_test(tc, test_upstream_host_overrides_client_host);
    tcase_add_test(tc, test_trace_context_replaced);
    tcase_add_test(tc, test_hop_by_hop_and_connection_named_headers_stripped);
    tcase_add_test(tc, test_framing_is_ours);
    tcase_add_test(tc, test_idempotent_methods);
    tcase_add_test(tc, test_retry_table);
    tcase_add_test(tc, test_stale_pooled_connection_gets_one_fresh_retry);
    tcase_add_test(tc, test_retry_budget_stops_retries_on_another_node);
    tcase_add_test(tc, test_skip_lists);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
