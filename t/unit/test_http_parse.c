/* deps: http_parse pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h" /* mg_http_reason */
#include "http_parse.h"

/* Normalises `in` (length given, so NUL bytes can be tested) and returns the result in
 * a static buffer, or NULL when it was refused. */
static const char *norm_n(const char *in, size_t len)
{
    static char out[512];
    size_t olen = 0;
    if (mg_http_normalize_path(in, len, out, &olen) != MG_OK) {
        return NULL;
    }
    ck_assert_uint_le(olen, len);
    out[olen] = '\0';
    return out;
}

static const char *norm(const char *in)
{
    return norm_n(in, strlen(in));
}

static mg_str_t S(const char *s)
{
    return mg_str(s, strlen(s));
}

START_TEST(test_path_plain_and_dot_segments)
{
    ck_assert_str_eq(norm("/"), "/");
    ck_assert_str_eq(norm("/a/b"), "/a/b");
    ck_assert_str_eq(norm("/a/./b"), "/a/b");
    ck_assert_str_eq(norm("/a/../b"), "/b");
    ck_assert_str_eq(norm("/a/b/../../c"), "/c");
    ck_assert_str_eq(norm("/a/."), "/a/");
    ck_assert_str_eq(norm("/a/b/.."), "/a/");
    ck_assert_str_eq(norm("/a/.."), "/");
    ck_assert_str_eq(norm("/."), "/");
    ck_assert_str_eq(norm("/a/..b/.c"), "/a/..b/.c");
    ck_assert_str_eq(norm("/a/b/"), "/a/b/");
}
END_TEST

START_TEST(test_path_double_slash_kept)
{
    ck_assert_str_eq(norm("//a"), "//a");
    ck_assert_str_eq(norm("/a//b"), "/a//b");
    ck_assert_str_eq(norm("/a//../b"), "/a/b");
}
END_TEST

/* Row 10: nothing may climb above the root, whether written plainly or escaped. */
START_TEST(test_path_above_root_refused)
{
    ck_assert_ptr_null(norm("/.."));
    ck_assert_ptr_null(norm("/../"));
    ck_assert_ptr_null(norm("/../../etc/passwd"));
    ck_assert_ptr_null(norm("/a/../../b"));
    ck_assert_ptr_null(norm("/%2e%2e/"));
    ck_assert_ptr_null(norm("/%2E%2E/etc"));
    ck_assert_ptr_null(norm("/.%2e/x"));
    ck_assert_ptr_null(norm("/%2e./x"));
}
END_TEST

START_TEST(test_path_escapes)
{
    ck_assert_str_eq(norm("/a/%2e%2e/b"), "/b");
    ck_assert_str_eq(norm("/%2e/a"), "/a");
    ck_assert_str_eq(norm("/%41%62c"), "/Abc");
    ck_assert_str_eq(norm("/%7e%5f%2d"), "/~_-");
    /* a reserved character stays escaped (so "/" inside a segment stays data), with
     * the hex upper-cased so that one path has one spelling */
    ck_assert_str_eq(norm("/a%2Fb"), "/a%2Fb");
    ck_assert_str_eq(norm("/a%2fb"), "/a%2Fb");
    ck_assert_str_eq(norm("/a%2f..%2fb"), "/a%2F..%2Fb");
    ck_assert_str_eq(norm("/%20x"), "/%20x");
    ck_assert_str_eq(norm("/%e2%82%ac"), "/%E2%82%AC");
}
END_TEST

/* Rows 2 and 3: control bytes, NUL, bad escapes, bytes >= 0x80 and fragments. */
START_TEST(test_path_bad_bytes)
{
    ck_assert_ptr_null(norm(""));
    ck_assert_ptr_null(norm("a"));
    ck_assert_ptr_null(norm("*"));
    ck_assert_ptr_null(norm("/\x02"));
    ck_assert_ptr_null(norm_n("/\0", 2));
    ck_assert_ptr_null(norm_n("/a\0b", 4));
    ck_assert_ptr_null(norm("/%"));
    ck_assert_ptr_null(norm("/%4"));
    ck_assert_ptr_null(norm("/%zz"));
    ck_assert_ptr_null(norm("/%g1"));
    ck_assert_ptr_null(norm("/%00"));
    ck_assert_ptr_null(norm("/\x80"));
    ck_assert_ptr_null(norm("/caf\xc3\xa9"));
    ck_assert_ptr_null(norm("/a#f"));
    ck_assert_ptr_null(norm("/a b"));
    ck_assert_ptr_null(norm("/a\tb"));
    ck_assert_ptr_null(norm("/a\x7f"));
    ck_assert_ptr_null(norm("/a\r\n"));
}
END_TEST

static int cl(const char *s, int64_t *out)
{
    return mg_http_parse_content_length(S(s), out);
}

/* Rows 29-31. */
START_TEST(test_content_length)
{
    int64_t v = -7;
    ck_assert_int_eq(cl("0", &v), MG_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(cl("5", &v), MG_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(cl("007", &v), MG_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(cl("4611686018427387904", &v), MG_OK);
    ck_assert_int_eq(v, INT64_C(4611686018427387904));
    ck_assert_int_eq(cl("4611686018427387905", &v), MG_ERROR);
    ck_assert_int_eq(cl("9223372036854775807", &v), MG_ERROR);
    ck_assert_int_eq(cl("99999999999999999999", &v), MG_ERROR);
    ck_assert_int_eq(cl("", &v), MG_ERROR);
    ck_assert_int_eq(cl("+5", &v), MG_ERROR);
    ck_assert_int_eq(cl("-1", &v), MG_ERROR);
    ck_assert_int_eq(cl("0x5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5, 6", &v), MG_ERROR);
    ck_assert_int_eq(cl("5, 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5,5", &v), MG_ERROR);
    ck_assert_int_eq(cl(" 5", &v), MG_ERROR);
    ck_assert_int_eq(cl("5.0", &v), MG_ERROR);
    ck_assert_int_eq(v, INT64_C(4611686018427387904)); /* untouched on error */
}
END_TEST

static const char *host_of(const char *in, int *port)
{
    static char out[256];
    mg_str_t h;
    if (mg_http_parse_host(S(in), &h, port) != MG_OK) {
        return NULL;
    }
    memcpy(out, h.p, h.len);
    out[h.len] = '\0';
    return out;
}

/* Rows 14 and 23 (the caller trims the value before it gets here). */
START_TEST(test_host)
{
    int port = -1;
    ck_assert_str_eq(host_of("a.com", &port), "a.com");
    ck_assert_int_eq(port, 0);
    ck_assert_str_eq(host_of("a.com:80", &port), "a.com");
    ck_assert_int_eq(port, 80);
    ck_assert_str_eq(host_of("A.Com:65535", &port), "A.Com");
    ck_assert_int_eq(port, 65535);
    ck_assert_str_eq(host_of("127.0.0.1:8080", &port), "127.0.0.1");
    ck_assert_str_eq(host_of("[::1]", &port), "[::1]");
    ck_assert_str_eq(host_of("[::1]:8080", &port), "[::1]");
    ck_assert_int_eq(port, 8080);
    ck_assert_str_eq(host_of("xn--bcher-kva.example", &port), "xn--bcher-kva.example");
    ck_assert_ptr_null(host_of("", &port));
    ck_assert_ptr_null(host_of("a/b", &port));
    ck_assert_ptr_null(host_of("a:99999", &port));
    ck_assert_ptr_null(host_of("a:65536", &port));
    ck_assert_ptr_null(host_of("a:0", &port));
    ck_assert_ptr_null(host_of("a:", &port));
    ck_assert_ptr_null(host_of(":80", &port));
    ck_assert_ptr_null(host_of("a:80x", &port));
    ck_assert_ptr_null(host_of("a:-1", &port));
    ck_assert_ptr_null(host_of("[::1", &port));
    ck_assert_ptr_null(host_of("[]", &port));
    ck_assert_ptr_null(host_of("[::1]x", &port));
    ck_assert_ptr_null(host_of("[::g]", &port));
    ck_assert_ptr_null(host_of("user@a.com", &port));
    ck_assert_ptr_null(host_of("a.com ", &port));
    ck_assert_ptr_null(host_of("a .com", &port));
    ck_assert_ptr_null(host_of("a\tb", &port));
    ck_assert_ptr_null(host_of("a.com:80:80", &port));
}
END_TEST

START_TEST(test_request_id)
{
    char id[200];
    ck_assert(mg_http_valid_request_id(S("abc-123_x.y:z")));
    ck_assert(mg_http_valid_request_id(S("0")));
    memset(id, 'a', 128);
    ck_assert(mg_http_valid_request_id(mg_str(id, 128)));
    ck_assert(!mg_http_valid_request_id(mg_str(id, 129)));
    ck_assert(!mg_http_valid_request_id(S("")));
    ck_assert(!mg_http_valid_request_id(S("a b")));
    ck_assert(!mg_http_valid_request_id(S("a/b")));
    ck_assert(!mg_http_valid_request_id(S("a\"b")));
    ck_assert(!mg_http_valid_request_id(S("a\r\nX: y")));
    ck_assert(!mg_http_valid_request_id(mg_str("a\0b", 3)));
}
END_TEST

START_TEST(test_hop_by_hop)
{
    const char *hop[] = {"Connection",
                         "keep-alive",
                         "PROXY-CONNECTION",
                         "te",
                         "Trailer",
                         "transfer-encoding",
                         "Upgrade",
                         "Proxy-Authenticate",
                         "proxy-authorization"};
    for (size_t i = 0; i < MG_NELEMS(hop); i++) {
        ck_assert_msg(mg_http_is_hop_by_hop(S(hop[i])), "%s", hop[i]);
    }
    const char *end[] = {"Content-Length",    "Host",      "X-Te", "Trailers", "Authorization",
                         "Transfer_Encoding", "Connectio", ""};
    for (size_t i = 0; i < MG_NELEMS(end); i++) {
        ck_assert_msg(!mg_http_is_hop_by_hop(S(end[i])), "%s", end[i]);
    }
}
END_TEST

/* Row 24: the client names headers in Connection. */
START_TEST(test_connection_tokens)
{
    mg_str_t v = S("close, X-Forwarded-For, Authorization");
    ck_assert(mg_http_connection_has(v, S("close")));
    ck_assert(mg_http_connection_has(v, S("x-forwarded-for")));
    ck_assert(mg_http_connection_has(v, S("AUTHORIZATION")));
    ck_assert(!mg_http_connection_has(v, S("keep-alive")));
    ck_assert(!mg_http_connection_has(S("closer"), S("close")));
    ck_assert(!mg_http_connection_has(S("clos"), S("close")));
    ck_assert(mg_http_connection_has(S(" , ,close ,"), S("close")));
    ck_assert(mg_http_connection_has(S("keep-alive,Upgrade"), S("upgrade")));
    ck_assert(mg_http_connection_has(S("\tUpgrade\t"), S("upgrade")));
    ck_assert(!mg_http_connection_has(S(""), S("close")));
    ck_assert(!mg_http_connection_has(S(",,,"), S("close")));
}
END_TEST

/* Row 19: header names are tokens; '_' is a token character (kept as is). */
START_TEST(test_token)
{
    ck_assert(mg_http_valid_token(S("X-Foo")));
    ck_assert(mg_http_valid_token(S("Transfer_Encoding")));
    ck_assert(mg_http_valid_token(S("!#$%&'*+-.^_`|~09azAZ")));
    ck_assert(!mg_http_valid_token(S("")));
    ck_assert(!mg_http_valid_token(S("X@Y")));
    ck_assert(!mg_http_valid_token(S("a b")));
    ck_assert(!mg_http_valid_token(S("a:b")));
    ck_assert(!mg_http_valid_token(mg_str("X\0Y", 3)));
    ck_assert(!mg_http_valid_token(S("X\x80")));
    ck_assert(!mg_http_valid_token(S("(x)")));
}
END_TEST

START_TEST(test_reason)
{
    ck_assert_str_eq(mg_http_reason(200), "OK");
    ck_assert_str_eq(mg_http_reason(404), "Not Found");
    ck_assert_str_eq(mg_http_reason(413), "Content Too Large");
    ck_assert_str_eq(mg_http_reason(414), "URI Too Long");
    ck_assert_str_eq(mg_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(mg_http_reason(505), "HTTP Version Not Supported");
}
END_TEST

/* Every name of the IANA registry, so that no answer a plugin chooses goes out with a
 * made-up phrase. */
START_TEST(test_reason_registry)
{
    static const struct {
        int status;
        const char *reason;
    } reg[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {102, "Processing"},
        {103, "Early Hints"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {207, "Multi-Status"},
        {208, "Already Reported"},
        {226, "IM Used"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {423, "Locked"},
        {424, "Failed Dependency"},
        {425, "Too Early"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {506, "Variant Also Negotiates"},
        {507, "Insufficient Storage"},
        {508, "Loop Detected"},
        {510, "Not Extended"},
        {511, "Network Authentication Required"},
    };
    size_t named = 0;
    for (size_t i = 0; i < MG_NELEMS(reg); i++) {
        ck_assert_str_eq(mg_http_reason(reg[i].status), reg[i].reason);
    }
    /* and no other code in 100..599 has a name: reserved (306, 418), unassigned,
     * private ones */
    for (int s = 100; s <= 599; s++) {
        named += mg_http_reason(s)[0] != '\0';
    }
    ck_assert_uint_eq(named, MG_NELEMS(reg));
    ck_assert_str_eq(mg_http_reason(306), "");
    ck_assert_str_eq(mg_http_reason(418), "");
    ck_assert_str_eq(mg_http_reason(599), "");
    ck_assert_str_eq(mg_http_reason(999), "");
    ck_assert_str_eq(mg_http_reason(0), "");
}
END_TEST

/* ---- absolute-form, method errors, tabs around framing values ---- */

static int split(const char *t, const char **auth, const char **rest)
{
    static char a[128], r[128];
    mg_str_t as, rs;
    if (mg_http_split_absolute(S(t), &as, &rs) != MG_OK) {
        return MG_ERROR;
    }
    snprintf(a, sizeof(a), "%.*s", (int)as.len, as.p);
    snprintf(r, sizeof(r), "%.*s", (int)rs.len, rs.p);
    *auth = a;
    *rest = r;
    return MG_OK;
}

/* Row 9: absolute-form is accepted; the authority routes, the rest goes upstream. */
START_TEST(test_split_absolute)
{
    const char *a, *r;
    ck_assert_int_eq(split("http://a/b?c", &a, &r), MG_OK);
    ck_assert_str_eq(a, "a");
    ck_assert_str_eq(r, "/b?c");
    ck_assert_int_eq(split("HTTPS://Example.COM:8443/x", &a, &r), MG_OK);
    ck_assert_str_eq(a, "Example.COM:8443");
    ck_assert_str_eq(r, "/x");
    ck_assert_int_eq(split("http://a", &a, &r), MG_OK);
    ck_assert_str_eq(a, "a");
    ck_assert_str_eq(r, "");
    ck_assert_int_eq(split("http://a?q=1", &a, &r), MG_OK);
    ck_assert_str_eq(a, "a");
    ck_assert_str_eq(r, "?q=1");
    ck_assert_int_eq(split("http://[::1]:80/", &a, &r), MG_OK);
    ck_assert_str_eq(a, "[::1]:80");
    ck_assert_str_eq(r, "/");
    /* the path may hold "://" and '@': only the authority is looked at */
    ck_assert_int_eq(split("http://a/r?u=http://b@c", &a, &r), MG_OK);
    ck_assert_str_eq(a, "a");
    ck_assert_str_eq(r, "/r?u=http://b@c");

    ck_assert_int_eq(split("http://", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("http:///x", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("http://u:p@a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("http://@a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("ftp://a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("ws://a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("http:/a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("httpx://a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("/http://a/", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("a.com:80", &a, &r), MG_ERROR);
    ck_assert_int_eq(split("*", &a, &r), MG_ERROR);
}
END_TEST

static int method_status(const char *s)
{
    return mg_http_method_error_status(s, strlen(s));
}

/* Row 7: an unknown but well-formed method is 501, anything else at the method 400. */
START_TEST(test_method_error_status)
{
    ck_assert_int_eq(method_status(("FOO / HTTP/1.1\r\n")), 501);
    ck_assert_int_eq(method_status(("get / HTTP/1.1\r\n")), 501);
    ck_assert_int_eq(method_status(("GETX / HTTP/1.1\r\n")), 501);
    ck_assert_int_eq(method_status(("FO")), 501); /* the rest not here yet */
    ck_assert_int_eq(method_status(("\r\n\r\nFOO /")), 501);
    ck_assert_int_eq(method_status(("G@T / HTTP/1.1\r\n")), 400);
    ck_assert_int_eq(method_status(("GET\t/ HTTP/1.1\r\n")), 400);
    ck_assert_int_eq(method_status((" GET / HTTP/1.1\r\n")), 400);
    ck_assert_int_eq(method_status(("\x16\x03\x01")), 400); /* TLS */
    ck_assert_int_eq(method_status(("\rGET /")), 400);
    ck_assert_int_eq(method_status(("")), 400);
}
END_TEST

static int version_status(const char *s)
{
    return mg_http_version_error_status(s, strlen(s));
}

/* Row 5: a version we do not speak is 505; a good version on a broken line is 400. */
START_TEST(test_version_error_status)
{
    ck_assert_int_eq(version_status("1.2\r\n"), 505);
    ck_assert_int_eq(version_status("2.0\r\n"), 505);
    ck_assert_int_eq(version_status("01.1\r\n"), 505);
    ck_assert_int_eq(version_status("1.10\r\n"), 505);
    ck_assert_int_eq(version_status("3.0"), 505);
    ck_assert_int_eq(version_status("1.1\rHost: a"), 400);
    ck_assert_int_eq(version_status("1.0\nHost: a"), 400);
    ck_assert_int_eq(version_status("1.1\0"), 400);
    ck_assert_int_eq(version_status("1.1x"), 400);
    ck_assert_int_eq(version_status("1."), 400);
    ck_assert_int_eq(version_status(".1"), 400);
    ck_assert_int_eq(version_status("x"), 400);
    ck_assert_int_eq(version_status(""), 400);
}
END_TEST

static const char *tabs(const char *in, size_t from)
{
    static char buf[256];
    size_t n = strlen(in);
    memcpy(buf, in, n + 1);
    mg_http_framing_tabs(buf, from, n);
    return buf;
}

START_TEST(test_framing_tabs)
{
    ck_assert_str_eq(tabs("POST / HTTP/1.1\r\nContent-Length:\t42\t\r\n\r\n", 0),
                     "POST / HTTP/1.1\r\nContent-Length: 42 \r\n\r\n");
    ck_assert_str_eq(tabs("POST / HTTP/1.1\r\ntransfer-encoding:\tchunked\t\r\n\r\n", 0),
                     "POST / HTTP/1.1\r\ntransfer-encoding: chunked \r\n\r\n");
    /* other fields keep their tabs, and so does the body after the head */
    ck_assert_str_eq(tabs("GET / HTTP/1.1\r\nX-A:\tv\t\r\n\r\n", 0),
                     "GET / HTTP/1.1\r\nX-A:\tv\t\r\n\r\n");
    ck_assert_str_eq(tabs("P / HTTP/1.1\r\nContent-Length: 9\r\n\r\nContent-Length:\tx", 0),
                     "P / HTTP/1.1\r\nContent-Length: 9\r\n\r\nContent-Length:\tx");
    /* empty lines before the request line do not end the head */
    ck_assert_str_eq(tabs("\r\n\r\nP / HTTP/1.1\r\nContent-Length:\t1\r\n\r\n", 0),
                     "\r\n\r\nP / HTTP/1.1\r\nContent-Length: 1\r\n\r\n");
    /* a line split across reads: the second piece still knows its field */
    ck_assert_str_eq(tabs("P / HTTP/1.1\r\nContent-Length: 1\t\t", 32),
                     "P / HTTP/1.1\r\nContent-Length: 1\t ");
    /* no tab in the new bytes: nothing to do */
    ck_assert_str_eq(tabs("P / HTTP/1.1\r\nContent-Length:\t1", 30),
                     "P / HTTP/1.1\r\nContent-Length:\t1");
    /* the name before the colon is never touched */
    ck_assert_str_eq(tabs("P / HTTP/1.1\r\nContent-Length\t: 1\r\n", 0),
                     "P / HTTP/1.1\r\nContent-Length\t: 1\r\n");
}
END_TEST

/* ---- chunked bodies ---- */

typedef struct {
    int rc;          /* MG_DONE, MG_AGAIN (input ended first) or MG_ERROR */
    char data[4096]; /* the de-chunked body */
    size_t used;     /* bytes consumed when it ended */
    int status;
    const char *why;
} dechunk_t;

/* Decodes `in` in pieces of `step` bytes (0: all at once) with small limits. */
static dechunk_t dechunk_n(const char *in, size_t len, size_t step)
{
    static dechunk_t out;
    mg_http_chunked_t ck;
    memset(&out, 0, sizeof(out));
    mg_http_chunked_init(&ck, 64, 64, 256);
    size_t off = 0, dl = 0;
    out.rc = MG_AGAIN;
    while (off < len) {
        size_t n = step == 0 || len - off < step ? len - off : step;
        size_t used = 0;
        mg_str_t d;
        int rc = mg_http_chunked_decode(&ck, in + off, n, &used, &d);
        ck_assert_uint_le(used, n);
        off += used;
        if (rc == MG_OK) {
            ck_assert_uint_lt(dl + d.len, sizeof(out.data));
            memcpy(out.data + dl, d.p, d.len);
            dl += d.len;
            continue;
        }
        if (rc == MG_DONE || rc == MG_ERROR) {
            out.rc = rc;
            out.status = ck.status;
            out.why = ck.why;
            ck_assert_int_eq(ck.state, 0);
            break;
        }
        ck_assert_uint_eq(used, n);
    }
    out.used = off;
    return out;
}

/* Checks one input at once and byte by byte: both must agree. */
static dechunk_t dechunk(const char *in)
{
    size_t len = strlen(in);
    dechunk_t whole = dechunk_n(in, len, 0);
    dechunk_t bytes = dechunk_n(in, len, 1);
    ck_assert_int_eq(whole.rc, bytes.rc);
    ck_assert_uint_eq(whole.used, bytes.used);
    ck_assert_str_eq(whole.data, bytes.data);
    return whole;
}

static void ok_body(const char *in, const char *body)
{
    dechunk_t d = dechunk(in);
    ck_assert_msg(d.rc == MG_DONE, "refused (%s): %s", d.why ? d.why : "-", in);
    ck_assert_str_eq(d.data, body);
    ck_assert_uint_eq(d.used, strlen(in));
}

static void bad_body(const char *in, int status)
{
    dechunk_t d = dechunk(in);
    ck_assert_msg(d.rc == MG_ERROR, "accepted: %s", in);
    ck_assert_int_eq(d.status, status);
    ck_assert_ptr_nonnull(d.why);
}

START_TEST(test_chunked_plain)
{
    ok_body("5\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde");
    ok_body("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    ok_body("a\r\n0123456789\r\n000\r\n\r\n", "0123456789");
    ok_body("0\r\n\r\n", "");
    ok_body("005\r\nhello\r\n0\r\n\r\n", "hello");
}
END_TEST

/* What follows the final CRLF is the next request, never body. */
START_TEST(test_chunked_stops_at_end)
{
    const char *in = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    dechunk_t d = dechunk(in);
    ck_assert_int_eq(d.rc, MG_DONE);
    ck_assert_str_eq(d.data, "x");
    ck_assert_uint_eq(d.used, strlen("1\r\nx\r\n0\r\n\r\n"));
}
END_TEST

START_TEST(test_chunked_extensions)
{
    ok_body("5;a\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5;a=b\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5 ;a=b\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5\t;a=b\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5;a=b;c=d\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5; a = b ; c\r\nhello\r\n0;last\r\n\r\n", "hello");
    ok_body("5;a=\"x\\\"y\"\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5;a=\"semi;colon and space\";b=1\r\nhello\r\n0\r\n\r\n", "hello");
    ok_body("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
}
END_TEST

/* Rows 37-41: sizes and extensions outside the grammar. */
START_TEST(test_chunked_bad_sizes)
{
    bad_body("ffffffffffffffffff1\r\nx\r\n0\r\n\r\n", 400);
    bad_body("10000000000000000\r\nx\r\n", 400);
    bad_body("0x5\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("-5\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("+5\r\nhello\r\n0\r\n\r\n", 400);
    bad_body(" 5\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5 \r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5  \r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5\t\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5g\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;=b\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=b \r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a \r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a@b\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=b\x01\r\nhello\r\n0\r\n\r\n", 400);
    bad_body("5;e=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
             "hello\r\n0\r\n\r\n",
             400);
}
END_TEST

/* Rows 17, 39, 40: every line ends in CRLF, data is exactly its size. */
START_TEST(test_chunked_bad_line_ends)
{
    bad_body("5\nhello\r\n0\r\n\r\n", 400);
    bad_body("5\rhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=b\rhello\r\n0\r\n\r\n", 400);
    bad_body("5;a=b\nhello\r\n0\r\n\r\n", 400);
    bad_body("5\r\nhello\n0\r\n\r\n", 400);
    bad_body("5\r\nhello\r0\r\n\r\n", 400);
    bad_body("3\r\nabcXY0\r\n\r\n", 400);
    bad_body("4\r\nSEE-THIS\r\n0\r\n\r\n", 400);
    bad_body("0\r\r\n", 400);
    bad_body("0\n\r\n", 400);
    bad_body("0\r\n\n", 400);
    bad_body("0\r\n\rX", 400);
    bad_body("0\r\nX-T: 1\rX\r\n\r\n", 400);
    bad_body("0\r\nX-T: 1\n\r\n", 400);
}
END_TEST

START_TEST(test_chunked_trailers)
{
    ok_body("1\r\nx\r\n0\r\nX-T: 1\r\n\r\n", "x");
    ok_body("1\r\nx\r\n0\r\nX-T: 1\r\nHost: evil\r\nY:\r\n\r\n", "x");
    ok_body("0\r\nX-T:\tv \t\r\n\r\n", "");
    /* framing must never come from a trailer */
    bad_body("0\r\nContent-Length: 5\r\n\r\n", 400);
    bad_body("0\r\ntransfer-encoding: chunked\r\n\r\n", 400);
    ok_body("0\r\nContent-Lengthx: 5\r\nContent-Lengt: 5\r\n\r\n", "");
    /* obs-fold, a space before the colon, control bytes, an empty name */
    bad_body("0\r\nX-T: 1\r\n 2\r\n\r\n", 400);
    bad_body("0\r\n X-T: 1\r\n\r\n", 400);
    bad_body("0\r\nX-T : 1\r\n\r\n", 400);
    bad_body("0\r\nX-T: a\x01"
             "b\r\n\r\n",
             400);
    bad_body("0\r\n: v\r\n\r\n", 400);
    ck_assert_int_eq(dechunk_n("0\r\nX-T: a\0b\r\n\r\n", 16, 0).rc, MG_ERROR);
}
END_TEST

/* Trailers count against the header limits: 431, not 400. */
START_TEST(test_chunked_trailer_limits)
{
    char in[1024];
    snprintf(in, sizeof(in), "0\r\nX: %070d\r\n\r\n", 0);
    bad_body(in, 431); /* one line over max_line (64) */
    strcpy(in, "0\r\n");
    for (int i = 0; i < 12; i++) {
        strcat(in, "X-Trailer-Field: 0123456789\r\n");
    }
    strcat(in, "\r\n");
    bad_body(in, 431); /* all lines over room (256) */
}
END_TEST

START_TEST(test_chunked_data_spans)
{
    /* a piece of data is handed out as soon as it arrives, never copied */
    const char *in = "a\r\n0123456789\r\n0\r\n\r\n";
    mg_http_chunked_t ck;
    mg_http_chunked_init(&ck, 64, 64, 256);
    size_t used;
    mg_str_t d;
    ck_assert_int_eq(mg_http_chunked_decode(&ck, in, 7, &used, &d), MG_OK);
    ck_assert_uint_eq(used, 7);
    ck_assert_ptr_eq(d.p, in + 3);
    ck_assert_uint_eq(d.len, 4);
    ck_assert_int_eq(mg_http_chunked_decode(&ck, in + 7, 0, &used, &d), MG_AGAIN);
    ck_assert_int_eq(mg_http_chunked_decode(&ck, in + 7, strlen(in) - 7, &used, &d), MG_OK);
    ck_assert_uint_eq(d.len, 6);
    size_t off = 7 + used;
    ck_assert_int_eq(mg_http_chunked_decode(&ck, in + off, strlen(in) - off, &used, &d), MG_DONE);
    ck_assert_uint_eq(off + used, strlen(in));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_parse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_path_plain_and_dot_segments);
    tcase_add_test(tc, test_path_double_slash_kept);
    tcase_add_test(tc, test_path_above_root_refused);
    tcase_add_test(tc, test_path_escapes);
    tcase_add_test(tc, test_path_bad_bytes);
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_host);
    tcase_add_test(tc, test_request_id);
    tcase_add_test(tc, test_hop_by_hop);
    tcase_add_test(tc, test_connection_tokens);
    tcase_add_test(tc, test_token);
    tcase_add_test(tc, test_reason);
    tcase_add_test(tc, test_reason_registry);
    tcase_add_test(tc, test_split_absolute);
    tcase_add_test(tc, test_method_error_status);
    tcase_add_test(tc, test_version_error_status);
    tcase_add_test(tc, test_framing_tabs);
    tcase_add_test(tc, test_chunked_plain);
    tcase_add_test(tc, test_chunked_stops_at_end);
    tcase_add_test(tc, test_chunked_extensions);
    tcase_add_test(tc, test_chunked_bad_sizes);
    tcase_add_test(tc, test_chunked_bad_line_ends);
    tcase_add_test(tc, test_chunked_trailers);
    tcase_add_test(tc, test_chunked_trailer_limits);
    tcase_add_test(tc, test_chunked_data_spans);
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
