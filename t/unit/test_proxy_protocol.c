/* deps: proxy_protocol str */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_protocol.h"

static const char sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* A v2 header: ver_cmd, fam, the address block and TLVs (plen bytes of `body`). */
static size_t v2(char *out, unsigned ver_cmd, unsigned fam, const void *body, size_t plen)
{
    memcpy(out, sig, 12);
    out[12] = (char)ver_cmd;
    out[13] = (char)fam;
    out[14] = (char)(plen >> 8);
    out[15] = (char)(plen & 255);
    memcpy(out + 16, body, plen);
    return 16 + plen;
}

static size_t tcp4_body(unsigned char *b, const char *src, const char *dst, int sp, int dp)
{
    inet_pton(AF_INET, src, b);
    inet_pton(AF_INET, dst, b + 4);
    b[8] = (unsigned char)(sp >> 8), b[9] = (unsigned char)sp;
    b[10] = (unsigned char)(dp >> 8), b[11] = (unsigned char)dp;
    return 12;
}

/* Every prefix of a valid header is "need more" (0), the whole is its length, and the
 * whole followed by a request still parses to the header's length alone. */
static void check_every_cut(const char *h, size_t len)
{
    mg_pp_header_t out;
    const char *why = NULL;
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(mg_pp_parse(h, i, &out, &why) == 0, "cut at %zu of %zu: %s", i, len,
                      why ? why : "");
    }
    ck_assert_int_eq(mg_pp_parse(h, len, &out, &why), (int)len);
    char buf[MG_PP_MAX + 64];
    memcpy(buf, h, len);
    memcpy(buf + len, "GET / HTTP/1.1\r\n", 16);
    ck_assert_int_eq(mg_pp_parse(buf, len + 16, &out, &why), (int)len);
}

START_TEST(test_v1_tcp4_tcp6_unknown)
{
    mg_pp_header_t h;
    const char *why;
    const char *a = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n";
    check_every_cut(a, strlen(a));
    ck_assert_int_eq(mg_pp_parse(a, strlen(a), &h, &why), (int)strlen(a));
    ck_assert_int_eq(h.version, 1);
    ck_assert(h.has_addr && !h.v6);
    ck_assert_mem_eq(h.src, "\xcb\x00\x71\x07", 4);
    ck_assert_int_eq(h.src_port, 56324);
    ck_assert_int_eq(h.dst_port, 443);

    const char *b = "PROXY TCP6 2001:db8::7 ::1 65535 0\r\n";
    check_every_cut(b, strlen(b));
    mg_pp_parse(b, strlen(b), &h, &why);
    ck_assert(h.has_addr && h.v6);
    ck_assert_int_eq(h.src[0], 0x20);
    ck_assert_int_eq(h.src[15], 7);
    ck_assert_int_eq(h.src_port, 65535);

    const char *c = "PROXY UNKNOWN\r\n";
    check_every_cut(c, strlen(c));
    mg_pp_parse(c, strlen(c), &h, &why);
    ck_assert(!h.has_addr);
    const char *d = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    check_every_cut(d, strlen(d));
    mg_pp_parse(d, strlen(d), &h, &why);
    ck_assert(!h.has_addr);

    /* the longest line the specification allows: 107 bytes */
    const char *e = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    ck_assert_uint_eq(strlen(e), 104);
    check_every_cut(e, strlen(e));
}
END_TEST

START_TEST(test_v1_malformed)
{
    const char *bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.\xff 1 2\r\n",
        "PROXY TCP4 [1.2.3.4] 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4:1 5.6.7.8 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY \r\n",
        "PROXY\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mg_pp_header_t h;
        const char *why = NULL;
        size_t len = strlen(bad[i]);
        if (i == 16) {
            len = 33; /* the NUL inside */
        }
        ck_assert_msg(mg_pp_parse(bad[i], len, &h, &why) == MG_ERROR, "[%zu] %s", i, bad[i]);
        ck_assert_ptr_nonnull(why);
    }
    /* a plain request is refused at its first byte, without waiting for more */
    mg_pp_header_t h;
    const char *why;
    ck_assert_int_eq(mg_pp_parse("G", 1, &h, &why), MG_ERROR);
    ck_assert_int_eq(mg_pp_parse("PRI", 3, &h, &why), MG_ERROR);
    ck_assert_int_eq(mg_pp_parse("\r\n\r\n\0\r\nQUIX", 12, &h, &why), MG_ERROR);
    ck_assert_int_eq(mg_pp_parse("", 0, &h, &why), 0);
}
END_TEST

START_TEST(test_v1_over_107_bytes)
{
    char line[300];
    memset(line, 'a', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    mg_pp_header_t h;
    const char *why = NULL;
    ck_assert_int_eq(mg_pp_parse(line, 105, &h, &why), 0);
    ck_assert_int_eq(mg_pp_parse(line, 106, &h, &why), MG_ERROR); /* no room for the CRLF */
    ck_assert_ptr_nonnull(strstr(why, "107"));
    ck_assert_int_eq(mg_pp_parse(line, sizeof(line), &h, &why), MG_ERROR);
    /* CRLF at 106-107: the longest accepted */
    line[105] = '\r';
    line[106] = '\n';
    ck_assert_int_eq(mg_pp_parse(line, 200, &h, &why), 107);
    line[105] = 'a';
    line[106] = '\r';
    line[107] = '\n';
    ck_assert_int_eq(mg_pp_parse(line, 200, &h, &why), MG_ERROR);
}
END_TEST

START_TEST(test_v2_tcp4_tcp6_with_tlvs)
{
    char buf[MG_PP_MAX];
    unsigned char body[256];
    size_t n = tcp4_body(body, "198.51.100.2", "10.0.0.1", 4444, 80);
    memcpy(body + n, "\x03\x00\x04\xde\xad\xbe\xef\x04\x00\x00", 10); /* CRC TLV, NOOP */
    size_t len = v2(buf, 0x21, 0x11, body, n + 10);
    check_every_cut(buf, len);
    mg_pp_header_t h;
    const char *why;
    ck_assert_int_eq(mg_pp_parse(buf, len, &h, &why), (int)len);
    ck_assert_int_eq(h.version, 2);
    ck_assert(h.has_addr && !h.v6);
    ck_assert_mem_eq(h.src, "\xc6\x33\x64\x02", 4);
    ck_assert_int_eq(h.src_port, 4444);
    ck_assert_int_eq(h.dst_port, 80);

    inet_pton(AF_INET6, "2001:db8::9", body);
    inet_pton(AF_INET6, "::1", body + 16);
    memcpy(body + 32, "\x01\xbb\x00\x50", 4);
    len = v2(buf, 0x21, 0x21, body, 36);
    check_every_cut(buf, len);
    mg_pp_parse(buf, len, &h, &why);
    ck_assert(h.has_addr && h.v6);
    ck_assert_int_eq(h.src[15], 9);
    ck_assert_int_eq(h.src_port, 443);
}
END_TEST

START_TEST(test_v2_local_unspec_unix_keep_the_peer)
{
    char buf[MG_PP_MAX];
    unsigned char body[300] = {0};
    mg_pp_header_t h;
    const char *why;
    struct {
        unsigned vc, fam;
        size_t plen;
    } keep[] = {
        {0x20, 0x00, 0},   /* LOCAL, no address */
        {0x20, 0x11, 12},  /* LOCAL with an address: ignored */
        {0x20, 0x11, 0},   /* LOCAL: whatever the block says */
        {0x21, 0x00, 0},   /* PROXY UNSPEC */
        {0x21, 0x31, 216}, /* PROXY UNIX stream */
        {0x21, 0x12, 12},  /* PROXY TCP4 over a datagram transport */
        {0x21, 0x10, 12},  /* PROXY INET, transport UNSPEC */
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        size_t len = v2(buf, keep[i].vc, keep[i].fam, body, keep[i].plen);
        ck_assert_msg(mg_pp_parse(buf, len, &h, &why) == (int)len, "[%zu]", i);
        ck_assert_msg(!h.has_addr, "[%zu]", i);
        check_every_cut(buf, len);
    }
}
END_TEST

START_TEST(test_v2_malformed)
{
    char buf[MG_PP_MAX + 16];
    unsigned char body[MG_PP_MAX] = {0};
    mg_pp_header_t h;
    const char *why = NULL;
    struct {
        unsigned vc, fam;
        size_t plen;
        const char *why;
    } bad[] = {
        {0x11, 0x11, 12, "version"},  /* version 1 */
        {0x31, 0x11, 12, "version"},  /* version 3 */
        {0x22, 0x11, 12, "command"},  /* command 2 */
        {0x21, 0x41, 12, "family"},   /* family 4 */
        {0x21, 0x13, 12, "family"},   /* transport 3 */
        {0x21, 0x11, 11, "shorter"},  /* TCP4 block too short */
        {0x21, 0x21, 35, "shorter"},  /* TCP6 block too short */
        {0x21, 0x31, 100, "shorter"}, /* UNIX block too short */
        {0x21, 0x11, MG_PP_V2_MAX_PAYLOAD + 1, "longer"},
        {0x21, 0x11, 65535, "longer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t plen = MG_MIN(bad[i].plen, (size_t)MG_PP_V2_MAX_PAYLOAD);
        v2(buf, bad[i].vc, bad[i].fam, body, plen);
        buf[14] = (char)(bad[i].plen >> 8);
        buf[15] = (char)(bad[i].plen & 255);
        /* refused as soon as the fixed 16 bytes are in, without waiting for the rest */
        ck_assert_msg(mg_pp_parse(buf, 16, &h, &why) == MG_ERROR, "[%zu]", i);
        ck_assert_msg(strstr(why, bad[i].why) != NULL, "[%zu] %s", i, why);
    }
    /* the largest accepted */
    size_t len = v2(buf, 0x21, 0x11, body, MG_PP_V2_MAX_PAYLOAD);
    ck_assert_int_eq(mg_pp_parse(buf, len, &h, &why), MG_PP_MAX);
    /* a signature that goes wrong at any byte */
    for (size_t i = 0; i < 12; i++) {
        v2(buf, 0x21, 0x11, body, 12);
        buf[i] ^= 0x40;
        ck_assert_msg(mg_pp_parse(buf, i + 1, &h, &why) == MG_ERROR, "sig byte %zu", i);
    }
}
END_TEST

/* Random bytes, and random mutations of valid headers: never a crash, never a length
 * past the input, and a "need more" only for what could still become a header. */
START_TEST(test_mutations_are_safe)
{
    char good1[] = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n";
    char good2[64];
    unsigned char body[12];
    size_t l2 = v2(good2, 0x21, 0x11, body, tcp4_body(body, "1.2.3.4", "5.6.7.8", 1, 2));
    srand(11);
    for (int round = 0; round < 200000; round++) {
        char buf[128];
        size_t len;
        if (round % 2) {
            len = sizeof(good1) - 1;
            memcpy(buf, good1, len);
        } else {
            len = l2;
            memcpy(buf, good2, len);
        }
        int flips = 1 + rand() % 3;
        for (int k = 0; k < flips; k++) {
            buf[rand() % len] = (char)rand();
        }
        len = (size_t)rand() % (len + 1);
        mg_pp_header_t h;
        const char *why = NULL;
        int rc = mg_pp_parse(buf, len, &h, &why);
        ck_assert(rc == MG_ERROR || (rc >= 0 && (size_t)rc <= len));
        if (rc == MG_ERROR) {
            ck_assert_ptr_nonnull(why);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("proxy_protocol");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_v1_tcp4_tcp6_unknown);
    tcase_add_test(tc, test_v1_malformed);
    tcase_add_test(tc, test_v1_over_107_bytes);
    tcase_add_test(tc, test_v2_tcp4_tcp6_with_tlvs);
    tcase_add_test(tc, test_v2_local_unspec_unix_keep_the_peer);
    tcase_add_test(tc, test_v2_malformed);
    tcase_add_test(tc, test_mutations_are_safe);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
