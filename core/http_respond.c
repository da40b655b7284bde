/*
 * http_respond.c -- what the gateway writes by itself: complete responses (a `return:`
 * route, errors, the admin API) and the access-log record of every request.
 */
#include "http_conn_int.h"

#include "conf.h"
#include "http_parse.h"
#include "log.h"
#include "lua_runtime.h"
#include "pool.h"

#include <stdio.h>
#include <sys/uio.h>
#include <time.h>

_Static_assert(MG_LOG_PLUGIN_PHASES == MG_PHASE_LOG - MG_PHASE_REWRITE + 1,
               "the access log shows one plugin time per request phase");

void mg__request_log(mg_conn_t *c, mg_request_t *r)
{
    if (!mg_log_access_enabled()) {
        return; /* access_log: off -- no header scans for a record nobody writes */
    }
    const mg_route_conf_t *route = r->match.route;
    mg_access_rec_t rec = {
        .remote_addr = r->remote_addr,
        .method = r->method_name,
        .uri = r->target,
        .http_major = r->http_major,
        .http_minor = r->http_minor,
        .status = r->status,
        .bytes_sent = r->bytes_sent,
        .request_length = r->request_length,
        .referer = mg_http_header(r, MG_STR("Referer")),
        .user_agent = mg_http_header(r, MG_STR("User-Agent")),
        .host = r->host_header,
        .route = route != NULL ? mg_str(route->name, strlen(route->name)) : MG_NULL_STR,
        .upstream_addr = r->upstream_addr,
        .upstream_status = r->upstream_status,
        .upstream_time = r->upstream_time,
        .upstream_connect_time = r->upstream_connect_time,
        .upstream_header_time = r->upstream_header_time,
        .request_time = mg__conn_now(c) - r->start,
        .request_id = r->request_id,
        .start = r->start_wall,
    };
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        rec.plugin_time[i] = mg_lua_phase_time(r, MG_PHASE_REWRITE + i);
    }
    mg_log_access(&rec);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT", formatted once per second. */
static const char *http_date(double now)
{
    static char buf[40];
    static time_t last;
    time_t t = (time_t)now;
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return buf;
}

/* Plugin headers that would contradict the framing the gateway writes. */
static bool framing_header(mg_str_t name)
{
    return mg_str_caseeq(name, MG_STR("Content-Length")) ||
           mg_str_caseeq(name, MG_STR("Transfer-Encoding")) ||
           mg_str_caseeq(name, MG_STR("Connection")) || mg_str_caseeq(name, MG_STR("Date")) ||
           mg_str_caseeq(name, MG_STR("Server"));
}

void mg_http_respond_headers(mg_request_t *r, int status, const mg_header_t *hdrs, size_t nhdrs,
                             const char *body, size_t len)
{
    mg_conn_t *c = r->conn;
    if (r->lua != NULL) {
        const void *h = hdrs;
        if (mg_lua_filter_answer(r, &status, &h, &nhdrs, &body, &len) != MG_OK) {
            mg_http_error(r, 500); /* a filter failed (logged); this one goes unfiltered */
            return;
        }
        hdrs = h;
    }
    bool nobody = r->is_head || status == 204 || status == 304 || status < 200;
    char small[640];
    size_t cap = 320 + MG_MIN(r->request_id.len, 128);
    for (size_t i = 0; i < nhdrs; i++) {
        cap += hdrs[i].name.len + hdrs[i].value.len + 4;
    }
    char *head = cap <= sizeof(small) ? small : mg_pool_alloc(r->pool, cap);
    if (head == NULL) {
        mg_http_finish(r, false);
        return;
    }
    mg__conn_enter(c);
    bool keep = mg_http_keepalive(r);
    bool http10 = r->http_major == 1 && r->http_minor == 0;
    int n = snprintf(head, cap, "HTTP/1.1 %d %s\r\nServer: moongate\r\nDate: %s\r\n", status,
                     mg_http_reason(status), http_date(mg__conn_now(c)));
    for (size_t i = 0; i < nhdrs; i++) {
        if (!framing_header(hdrs[i].name)) {
            n += snprintf(head + n, cap - (size_t)n, "%.*s: %.*s\r\n", (int)hdrs[i].name.len,
                          hdrs[i].name.p, (int)hdrs[i].value.len, hdrs[i].value.p);
        }
    }
    if (status != 204 && status >= 200) {
        n += snprintf(head + n, cap - (size_t)n, "Content-Length: %zu\r\n", len);
    }
    if (r->request_id.len > 0 && r->request_id.len <= 128) {
        n += snprintf(head + n, cap - (size_t)n, "X-Request-Id: %.*s\r\n", (int)r->request_id.len,
                      r->request_id.p);
    }
    n += snprintf(head + n, cap - (size_t)n, "%s\r\n",
                  !keep    ? "Connection: close\r\n"
                  : http10 ? "Connection: keep-alive\r\n"
                           : "");
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
    r->status = status;
    if (mg_http_writev(r, iov, nobody || len == 0 ? 1 : 2) != MG_ERROR) {
        mg_http_finish(r, true);
    }
    mg__conn_leave(c);
}

void mg_http_respond(mg_request_t *r, int status, const char *content_type, const char *body,
                     size_t len)
{
    mg_header_t ct = {MG_STR("Content-Type"), content_type != NULL
                                                  ? mg_str(content_type, strlen(content_type))
                                                  : MG_NULL_STR};
    mg_http_respond_headers(r, status, &ct, content_type != NULL ? 1 : 0, body, len);
}

void mg__http_error_msg(mg_request_t *r, int status, const char *msg)
{
    if (r->header_sent) {
        mg_http_finish(r, false);
        return;
    }
    char body[384];
    int n =
        snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%.*s\"}\n",
                 msg, status, (int)MG_MIN(r->request_id.len, 128), r->request_id.p);
    mg_http_respond(r, status, "application/json", body, (size_t)n);
}

void mg_http_error(mg_request_t *r, int status)
{
    char msg[64];
    const char *reason = mg_http_reason(status);
    size_t i = 0;
    for (; reason[i] != '\0' && i + 1 < sizeof(msg); i++) {
        msg[i] = (char)(reason[i] >= 'A' && reason[i] <= 'Z' ? reason[i] + 32 : reason[i]);
    }
    msg[i] = '\0';
    mg__http_error_msg(r, status, msg);
}
