/* deps: http_client http_client_head upstream upstream_queue upstream_dns nodeset resolver resolver_cache health health_probe transport tls tls_server tls_ocsp tls_ticket balancer balancer_roundrobin balancer_least_conn balancer_ip_hash balancer_chash balancer_ewma balancer_random balancer_sticky nodestate shm log log_format log_template log_syslog pool str */
/*
 * The outbound HTTP client: its pure parts (URLs, the request head, the chunk line, how a
 * response's body is framed), then whole exchanges with a scripted peer on loopback.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

static bool streq(mg_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

static const char *url(const char *text, mg_http_url_t *u)
{
    return mg_http_url_parse(mg_str(text, strlen(text)), u);
}

START_TEST(test_url_parts)
{
    mg_http_url_t u;
    ck_assert_ptr_null(url("http://127.0.0.1:8080/a/b?x=1#frag", &u));
    ck_assert(streq(u.scheme, "http"));
    ck_assert(streq(u.host, "127.0.0.1"));
    ck_assert_uint_eq(u.port, 8080);
    ck_assert(streq(u.authority, "127.0.0.1:8080"));
    ck_assert(streq(u.target, "/a/b?x=1"));

    ck_assert_ptr_null(url("http://localhost", &u));
    ck_assert_uint_eq(u.port, 80);
    ck_assert(streq(u.target, "/"));
    ck_assert(streq(u.authority, "localhost"));

    ck_assert_ptr_null(url("https://example.com?q", &u));
    ck_assert(streq(u.scheme, "https"));
    ck_assert_uint_eq(u.port, 443);
    ck_assert(streq(u.target, "?q"));

    ck_assert_ptr_null(url("http://[::1]:9000/v6", &u));
    ck_assert(streq(u.host, "::1"));
    ck_assert_uint_eq(u.port, 9000);
    ck_assert(streq(u.authority, "[::1]:9000"));
    ck_assert(streq(u.target, "/v6"));

    ck_assert_ptr_null(url("http://h/#only-a-fragment", &u));
    ck_assert(streq(u.target, "/"));
}
END_TEST

START_TEST(test_url_errors)
{
    mg_http_url_t u;
    ck_assert_str_eq(url("ftp://x/", &u), "bad url");
    ck_assert_str_eq(url("127.0.0.1/", &u), "bad url");
    ck_assert_str_eq(url("http:///path", &u), "bad url host");
    ck_assert_str_eq(url("http://:80/", &u), "bad url host");
    ck_assert_str_eq(url("http://[::1/", &u), "bad url host");
    ck_assert_str_eq(url("http://[::1]x/", &u), "bad url host");
    ck_assert_str_eq(url("http://h:0/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:65536/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:80a/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:/", &u), "bad url port");
    ck_assert_str_eq(url("http://h:123456/", &u), "bad url port");
}
END_TEST

START_TEST(test_url_addresses)
{
    mg_http_url_t u;
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_ptr_null(url("http://localhost:81/", &u));
    ck_assert_ptr_null(mg_http_url_addr(&u, &ss, &len));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(ntohs(a4->sin_port), 81);
    ck_assert_uint_eq(len, sizeof(*a4));

    ck_assert_ptr_null(url("http://[::1]/", &u));
    ck_assert_ptr_null(mg_http_url_addr(&u, &ss, &len));
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);

    ck_assert_ptr_null(url("http://example.com/", &u));
    ck_assert_str_eq(mg_http_url_addr(&u, &ss, &len),
                     "host names are not resolved (they would block): use an IP address");
}
END_TEST

static bool skip_secret(const mg_header_t *h, const void *arg)
{
    return mg_str_caseeq(h->name, mg_str(arg, strlen(arg)));
}

static char *build(const mg_http_client_req_t *q)
{
    size_t cap = mg_http_client_head_size(q);
    char *buf = malloc(cap + 1);
    size_t n = mg_http_client_head_build(q, buf);
    ck_assert_uint_le(n, cap);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_head_in_order)
{
    mg_header_t hdrs[] = {{MG_STR("Accept"), MG_STR("*/*")},
                          {MG_STR("X-Secret"), MG_STR("s")},
                          {MG_STR("X-Two"), MG_STR("2")}};
    mg_header_t extra[] = {{MG_STR("X-Added"), MG_STR("yes")}};
    mg_http_client_req_t q = {
        .method = MG_STR("POST"),
        .path = MG_STR("/p"),
        .query = MG_STR("a=1"),
        .host = MG_STR("api"),
        .headers = hdrs,
        .nheaders = 3,
        .skip = skip_secret,
        .skip_arg = "x-secret",
        .extra = extra,
        .nextra = 1,
        .raw = MG_STR("Raw: r\r\n"),
        .content_length = 12345678901,
    };
    char *h = build(&q);
    ck_assert_str_eq(h, "POST /p?a=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\nX-Two: 2\r\n"
                        "X-Added: yes\r\nRaw: r\r\nContent-Length: 12345678901\r\n\r\n");
    free(h);
}
END_TEST

START_TEST(test_head_framing_and_close)
{
    mg_http_client_req_t q = {
        .method = MG_STR("GET"),
        .path = MG_STR("/health"),
        .host = MG_STR("10.0.0.1:80"),
        .content_length = -1,
        .close = true,
    };
    char *h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n\r\n");
    free(h);

    q.chunked = true;
    q.content_length = 5; /* chunked wins */
    q.close = false;
    h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n");
    free(h);

    q.chunked = false;
    q.content_length = 0;
    h = build(&q);
    ck_assert_str_eq(h, "GET /health HTTP/1.1\r\nHost: 10.0.0.1:80\r\nContent-Length: 0\r\n\r\n");
    free(h);
}
END_TEST

START_TEST(test_head_size_bounds_long_values)
{
    static char big[5000];
    memset(big, 'v', sizeof(big));
    mg_header_t hdrs[] = {{MG_STR("A"), mg_str(big, sizeof(big))}};
    mg_http_client_req_t q = {
        .method = MG_STR("PROPPATCH"),
        .path = mg_str(big, 3000),
        .query = mg_str(big, 2000),
        .host = mg_str(big, 300),
        .headers = hdrs,
        .nheaders = 1,
        .extra = hdrs,
        .nextra = 1,
        .content_length = INT64_MAX,
        .close = true,
    };
    free(build(&q));
}
END_TEST

START_TEST(test_chunk_line)
{
    char b[MG_HTTP_CHUNK_LINE_MAX + 1];
    size_t n = mg_http_chunk_line(b, 0);
    b[n] = '\0';
    ck_assert_str_eq(b, "0\r\n");
    n = mg_http_chunk_line(b, 0x1a2b);
    b[n] = '\0';
    ck_assert_str_eq(b, "1a2b\r\n");
    n = mg_http_chunk_line(b, SIZE_MAX);
    ck_assert_uint_le(n, MG_HTTP_CHUNK_LINE_MAX);
}
END_TEST

START_TEST(test_framing)
{
    int64_t d;
    ck_assert_int_eq(mg_http_client_framing(false, 200, true, 10, false, &d), MG_HTTP_BODY_LENGTH);
    ck_assert_int_eq(d, 10);
    ck_assert_int_eq(mg_http_client_framing(false, 200, false, 0, true, &d), MG_HTTP_BODY_CHUNKED);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 200, false, 0, false, &d),
                     MG_HTTP_BODY_TO_CLOSE);
    ck_assert_int_eq(d, -1);
    /* no body: a HEAD's and a 304's length describe the GET body, a 204 has none */
    ck_assert_int_eq(mg_http_client_framing(true, 200, true, 42, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, 42);
    ck_assert_int_eq(mg_http_client_framing(true, 200, false, 0, true, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 304, true, 7, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, 7);
    ck_assert_int_eq(mg_http_client_framing(false, 204, true, 7, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 100, false, 0, false, &d), MG_HTTP_BODY_NONE);
    ck_assert_int_eq(d, -1);
    ck_assert_int_eq(mg_http_client_framing(false, 500, true, 0, false, &d), MG_HTTP_BODY_LENGTH);
    ck_assert_int_eq(d, 0);
}
END_TEST

START_TEST(test_err_names)
{
    ck_assert_str_eq(mg_http_client_err_name(MG_HTTP_CLIENT_ERR_CONNECT), "connect failed");
    ck_assert_str_eq(mg_http_client_err_name(MG_HTTP_CLIENT_ERR_BAD_RESPONSE), "invalid response");
    ck_assert_str_eq(mg_http_client_err_name((mg_http_client_err_t)99), "unknown");
}
END_TEST

/* ---- exchanges against a scripted peer on loopback ---- */

typedef struct {
    struct ev_loop *loop;
    int lfd, cfd;
    ev_io accept_io, conn_io;
    const char *reply; /* written once the request's head (and body) is in */
    bool close_after;  /* close after the reply */
    char req[4096];
    size_t rlen;
    /* what the client said */
    int status, nheaders, ended; /* ended: 1 done, 2 error */
    mg_http_client_err_t err;
    const char *why;
    char body[256];
    size_t blen;
    int64_t declared;
    mg_http_body_kind_t frame;
    char hdr_names[256];
    char rest[64]; /* on_upgrade: what followed the 101 head */
    size_t rest_len;
    char last_value[64]; /* the last header's value */
} peer_t;

/* the next exchange() asks to switch protocols (cl.upgrade) */
static bool upgrade_next;

/* Head limits for the next exchange (0: the client's defaults). */
static size_t t_max_fields, t_max_size;

static bool request_complete(peer_t *pe)
{
    char *end = memmem(pe->req, pe->rlen, "\r\n\r\n", 4);
    if (end == NULL) {
        return false;
    }
    const char *cl = memmem(pe->req, (size_t)(end - pe->req), "Content-Length: ", 16);
    size_t want = cl != NULL ? (size_t)atoi(cl + 16) : 0;
    return pe->rlen >= (size_t)(end + 4 - pe->req) + want;
}

static void on_peer_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    peer_t *pe = w->data;
    ssize_t n = read(pe->cfd, pe->req + pe->rlen, sizeof(pe->req) - 1 - pe->rlen);
    if (n <= 0) {
        ev_io_stop(loop, w);
        return;
    }
    pe->rlen += (size_t)n;
    pe->req[pe->rlen] = '\0';
    if (!request_complete(pe)) {
        return;
    }
    if (pe->reply != NULL) {
        ck_assert_int_eq(write(pe->cfd, pe->reply, strlen(pe->reply)), (ssize_t)strlen(pe->reply));
    }
    if (pe->close_after) {
        ev_io_stop(loop, w);
        close(pe->cfd);
        pe->cfd = -1;
    }
}

static void on_peer_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    peer_t *pe = w->data;
    pe->cfd = accept(pe->lfd, NULL, NULL);
    ck_assert_int_ge(pe->cfd, 0);
    ev_io_init(&pe->conn_io, on_peer_conn, pe->cfd, EV_READ);
    pe->conn_io.data = pe;
    ev_io_start(loop, &pe->conn_io);
    ev_io_stop(loop, w);
}

static int t_on_head(mg_http_client_t *cl, mg_http_client_head_t *h)
{
    peer_t *pe = cl->data;
    pe->status = h->head.status;
    pe->nheaders = (int)h->head.nheaders;
    pe->declared = h->head.content_length;
    pe->frame = h->frame;
    for (size_t i = 0; i < h->head.nheaders; i++) {
        if (strlen(pe->hdr_names) + 3 >= sizeof(pe->hdr_names)) {
            break; /* enough to compare */
        }
        strncat(
            pe->hdr_names, h->head.headers[i].name.p,
            MG_MIN(h->head.headers[i].name.len, sizeof(pe->hdr_names) - 2 - strlen(pe->hdr_names)));
        strcat(pe->hdr_names, ";");
    }
    if (h->head.nheaders > 0) {
        mg_str_t v = h->head.headers[h->head.nheaders - 1].value;
        snprintf(pe->last_value, sizeof(pe->last_value), "%.*s", (int)v.len, v.p);
    }
    return MG_OK;
}

static int t_on_body(mg_http_client_t *cl, const char *data, size_t len)
{
    peer_t *pe = cl->data;
    ck_assert_uint_le(pe->blen + len, sizeof(pe->body));
    if (len > 0) { /* len 0: a read ended */
        memcpy(pe->body + pe->blen, data, len);
        pe->blen += len;
    }
    return MG_OK;
}

static void t_on_done(mg_http_client_t *cl)
{
    peer_t *pe = cl->data;
    pe->ended = 1;
    ev_break(pe->loop, EVBREAK_ALL);
}

static void t_on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    peer_t *pe = cl->data;
    pe->ended = 2;
    pe->err = err;
    pe->why = why;
    ev_break(pe->loop, EVBREAK_ALL);
}

static void t_on_upgrade(mg_http_client_t *cl, mg_upstream_conn_t *conn, const char *rest,
                         size_t len)
{
    peer_t *pe = cl->data;
    pe->ended = 3;
    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(cl->state, MG_HTTP_CLIENT_UPGRADED);
    ck_assert_uint_le(len, sizeof(pe->rest));
    memcpy(pe->rest, rest, len);
    pe->rest_len = len;
    /* the connection is ours now: it still carries the peer's later bytes */
    ck_assert_int_eq(write(pe->cfd, "more", 4), 4);
    char buf[8];
    ssize_t n;
    for (int i = 0; i < 100 && (n = mg_transport_read(&conn->tp, buf, sizeof(buf))) == -EAGAIN;
         i++) {
        usleep(10000);
    }
    ck_assert_int_eq(n, 4);
    ck_assert(memcmp(buf, "more", 4) == 0);
    mg_upstream_release(conn, false);
    ev_break(pe->loop, EVBREAK_ALL);
}

static const mg_http_client_ops_t t_ops = {
    .on_head = t_on_head,
    .on_body = t_on_body,
    .on_done = t_on_done,
    .on_error = t_on_error,
    .on_upgrade = t_on_upgrade,
};

/* One exchange of `head` (+ body) with a peer answering `reply`. */
static void exchange(peer_t *pe, const char *reply, bool close_after, const char *head,
                     mg_http_client_body_t *body, bool head_request, double timeout)
{
    static char rbuf[8192];
    memset(pe, 0, sizeof(*pe));
    pe->loop = ev_loop_new(EVFLAG_AUTO);
    pe->reply = reply;
    pe->close_after = close_after;
    pe->cfd = -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    pe->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(pe->lfd, (struct sockaddr *)&sa, sl), 0);
    ck_assert_int_eq(listen(pe->lfd, 4), 0);
    ck_assert_int_eq(getsockname(pe->lfd, (struct sockaddr *)&sa, &sl), 0);
    ev_io_init(&pe->accept_io, on_peer_accept, pe->lfd, EV_READ);
    pe->accept_io.data = pe;
    ev_io_start(pe->loop, &pe->accept_io);

    mg_http_client_t cl;
    mg_http_client_init(&cl, pe->loop, &t_ops, pe, rbuf, sizeof(rbuf));
    cl.total_timeout = timeout;
    cl.head_request = head_request;
    cl.upgrade = upgrade_next;
    upgrade_next = false;
    if (t_max_fields > 0) {
        cl.max_fields = t_max_fields;
    }
    if (t_max_size > 0) {
        cl.max_head_size = t_max_size;
    }
    mg_http_client_start_addr(&cl, (struct sockaddr *)&sa, sl, head, strlen(head), body);
    ev_run(pe->loop, 0);
    mg_http_client_dispose(&cl);
    if (pe->cfd >= 0) {
        close(pe->cfd);
    }
    close(pe->lfd);
    ev_loop_destroy(pe->loop);
}

static const char *GET = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

START_TEST(test_exchange_chunked_after_interim)
{
    peer_t pe;
    exchange(&pe,
             "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
             "X-A:  a \r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
             false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.status, 200);
    ck_assert_int_eq(pe.frame, MG_HTTP_BODY_CHUNKED);
    ck_assert_str_eq(pe.hdr_names, "Transfer-Encoding;X-A;"); /* no trailer */
    ck_assert_uint_eq(pe.blen, 11);
    ck_assert(memcmp(pe.body, "hello world", 11) == 0);
}
END_TEST

START_TEST(test_exchange_head_and_to_close)
{
    peer_t pe;
    exchange(&pe, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", false,
             "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", NULL, true, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.frame, MG_HTTP_BODY_NONE);
    ck_assert_int_eq(pe.declared, 20);
    ck_assert_uint_eq(pe.blen, 0);

    exchange(&pe, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", true, GET, NULL,
             false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.frame, MG_HTTP_BODY_TO_CLOSE);
    ck_assert_uint_eq(pe.blen, 13);
}
END_TEST

START_TEST(test_exchange_body_goes_up)
{
    peer_t pe;
    char data[] = "0123456789";
    mg_http_client_body_t body = {.data = data, .len = 10, .end = true};
    exchange(&pe, "HTTP/1.1 204 No Content\r\n\r\n", false,
             "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", &body, false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.status, 204);
    ck_assert_uint_eq(body.sent, 10);
    ck_assert_ptr_nonnull(strstr(pe.req, "\r\n\r\n0123456789"));
}
END_TEST

START_TEST(test_exchange_failures)
{
    peer_t pe;
    exchange(&pe, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort", true, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 2);
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_IO);
    ck_assert_str_eq(pe.why, "upstream closed before the end of the body");

    exchange(&pe, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
             false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 2);
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_BAD_RESPONSE);

    exchange(&pe, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, GET, NULL, false,
             2);
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_BAD_RESPONSE);
    ck_assert_str_eq(pe.why, "101 Switching Protocols to a request that asked for none");

    exchange(&pe, "HTTP/1.1 2", true, GET, NULL, false, 2); /* part of an answer */
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_BAD_RESPONSE);

    exchange(&pe, NULL, true, GET, NULL, false, 2); /* closed without a byte */
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_IO);

    exchange(&pe, NULL, false, GET, NULL, false, 0.05); /* silent */
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_TIMEOUT);
}
END_TEST

START_TEST(test_exchange_upgrade)
{
    peer_t pe;
    upgrade_next = true;
    exchange(&pe,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "\r\n\x81\x02hi",
             false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 3); /* on_upgrade, neither done nor error */
    ck_assert_int_eq(pe.status, 101);
    ck_assert_int_eq(pe.frame, MG_HTTP_BODY_NONE);
    ck_assert_str_eq(pe.hdr_names, "Upgrade;Connection;");
    ck_assert_uint_eq(pe.rest_len, 4);
    ck_assert(memcmp(pe.rest, "\x81\x02hi", 4) == 0);

    /* an interim answer before it is skipped as usual */
    upgrade_next = true;
    exchange(&pe, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n", false,
             GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 3);
    ck_assert_uint_eq(pe.rest_len, 0);

    /* a request that asked to switch may still get a plain answer */
    upgrade_next = true;
    exchange(&pe, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", false, GET, NULL, false,
             2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.status, 403);
    ck_assert_uint_eq(pe.blen, 2);
}
END_TEST

/* A reply with n "Set-Cookie: cI=I" lines (static storage). */
static const char *many_cookies(int n)
{
    static char buf[8192];
    size_t off = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
    for (int i = 1; i <= n; i++) {
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "Set-Cookie: c%d=%d\r\n", i, i);
    }
    snprintf(buf + off, sizeof(buf) - off, "Content-Length: 0\r\n\r\n");
    return buf;
}

START_TEST(test_exchange_header_limits)
{
    peer_t pe;
    /* the array grows past its inline fields: every one is there, in order */
    exchange(&pe, many_cookies(150), false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.nheaders, 151);
    ck_assert_str_eq(pe.last_value, "0");
    ck_assert(strncmp(pe.hdr_names, "Set-Cookie;Set-Cookie;", 22) == 0);

    t_max_fields = 151; /* exactly enough */
    exchange(&pe, many_cookies(150), false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.nheaders, 151);

    t_max_fields = 150;
    exchange(&pe, many_cookies(150), false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 2);
    ck_assert_int_eq(pe.err, MG_HTTP_CLIENT_ERR_BAD_RESPONSE);
    ck_assert_str_eq(pe.why, "more response header fields than response_headers.max_fields");
    t_max_fields = 0;

    t_max_size = 1024; /* 150 lines take ~2.6 KB */
    exchange(&pe, many_cookies(150), false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 2);
    ck_assert_str_eq(pe.why, "response head larger than response_headers.max_size");
    exchange(&pe, many_cookies(10), false, GET, NULL, false, 2);
    ck_assert_int_eq(pe.ended, 1);
    ck_assert_int_eq(pe.nheaders, 11);
    t_max_size = 0;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_url_parts);
    tcase_add_test(tc, test_url_errors);
    tcase_add_test(tc, test_url_addresses);
    tcase_add_test(tc, test_head_in_order);
    tcase_add_test(tc, test_head_framing_and_close);
    tcase_add_test(tc, test_head_size_bounds_long_values);
    tcase_add_test(tc, test_chunk_line);
    tcase_add_test(tc, test_framing);
    tcase_add_test(tc, test_err_names);
    suite_add_tcase(s, tc);
    TCase *ex = tcase_create("exchange");
    tcase_add_test(ex, test_exchange_chunked_after_interim);
    tcase_add_test(ex, test_exchange_head_and_to_close);
    tcase_add_test(ex, test_exchange_body_goes_up);
    tcase_add_test(ex, test_exchange_failures);
    tcase_add_test(ex, test_exchange_upgrade);
    tcase_add_test(ex, test_exchange_header_limits);
    suite_add_tcase(s, ex);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
