/* deps: tls_ticket */
/*
 * Session-ticket keys through real OpenSSL handshakes: a server SSL_CTX with
 * mg_tls_ticket_cb and a client talk over an in-memory BIO pair; the client keeps the
 * session and comes back after rotations, file changes or "another instance".
 */
#include <check.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tls_ticket.h"

/* A throwaway P-256 key and self-signed certificate, made once per process. */
static EVP_PKEY *pkey;
static X509 *cert;

static void cert_make(void)
{
    if (cert != NULL) {
        return;
    }
    pkey = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(pkey);
    cert = X509_new();
    ck_assert_ptr_nonnull(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, pkey);
    ck_assert_int_gt(X509_sign(cert, pkey, EVP_sha256()), 0);
}

/* A server context as the TLS layer will make it: the callback seals and opens the
 * tickets, and no session cache can resume behind its back. */
static SSL_CTX *server_ctx(int version)
{
    cert_make();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    ck_assert_int_eq(SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, mg_tls_ticket_cb), 1);
    return ctx;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

static bool want_io(SSL *s, int rc)
{
    int e = SSL_get_error(s, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* One connection: handshake, one byte from the server (a TLS 1.3 client reads its
 * tickets on the way), then the session the client would keep. *reused says whether
 * the handshake resumed `offer`. */
static SSL_SESSION *connect_once(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *offer, bool *reused)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb, *sb;
    ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (offer != NULL) {
        ck_assert_int_eq(SSL_set_session(c, offer), 1);
    }
    int rc = 0, rs = 0;
    for (int i = 0; i < 64 && (rc != 1 || rs != 1); i++) {
        rc = SSL_do_handshake(c);
        ck_assert_msg(rc == 1 || want_io(c, rc), "client handshake failed");
        rs = SSL_do_handshake(s);
        ck_assert_msg(rs == 1 || want_io(s, rs), "server handshake failed");
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(rs, 1);
    ck_assert_int_eq(SSL_write(s, "x", 1), 1);
    char byte = 0;
    int n = -1;
    for (int i = 0; i < 16 && n <= 0; i++) {
        n = SSL_read(c, &byte, 1);
        ck_assert_msg(n > 0 || want_io(c, n), "client read failed");
    }
    ck_assert_int_eq(byte, 'x');
    *reused = SSL_session_reused(c) == 1;
    SSL_SESSION *kept = SSL_get1_session(c);
    ck_assert_ptr_nonnull(kept);
    /* a connection freed without close_notify makes its session unresumable */
    SSL_shutdown(c);
    SSL_shutdown(s);
    SSL_free(c);
    SSL_free(s);
    return kept;
}

/* The key name a ticket was sealed with: its first 16 bytes (OpenSSL's layout). */
static void ticket_name(SSL_SESSION *sess, unsigned char name[16])
{
    const unsigned char *t;
    size_t len;
    SSL_SESSION_get0_ticket(sess, &t, &len);
    ck_assert_uint_ge(len, 16);
    memcpy(name, t, 16);
}

static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

static void setup(void)
{
    ck_assert_int_eq(mg_tls_tickets_init(), MG_OK);
}

static void teardown(void)
{
    mg_tls_tickets_dispose();
}

START_TEST(test_init_stats)
{
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, 1);
    ck_assert(!st.from_file);
    ck_assert_uint_eq(st.rotations, 0);
    ck_assert_int_eq(mg_tls_tickets_init(), MG_OK); /* a second call changes nothing */
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    }
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, MG_TLS_TICKET_KEYS);
    ck_assert_uint_eq(st.rotations, 6);
    mg_tls_tickets_dispose();
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, 0);
    ck_assert_int_eq(mg_tls_tickets_rotate(), MG_ERROR);
}
END_TEST

/* Resumed after one rotation, and renewed under the new key; not after four. */
START_TEST(test_rotation_resume_renew)
{
    int v = versions[_i];
    SSL_CTX *sctx = server_ctx(v), *cctx = client_ctx(v);
    bool reused;
    SSL_SESSION *first = connect_once(sctx, cctx, NULL, &reused);
    ck_assert(!reused);

    ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    SSL_SESSION *second = connect_once(sctx, cctx, first, &reused);
    ck_assert_msg(reused, "a ticket of the previous key resumes");
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.decrypted, 1);
    ck_assert_uint_eq(st.decrypted_old, 1); /* the callback answered 2: renew */
    unsigned char n1[16], n2[16];
    ticket_name(first, n1);
    ticket_name(second, n2);
    ck_assert_msg(memcmp(n1, n2, 16) != 0, "the renewed ticket is sealed with the new key");

    /* the renewed ticket opens with the current key: no renewal needed */
    SSL_SESSION *third = connect_once(sctx, cctx, second, &reused);
    ck_assert(reused);
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.decrypted_old, 1);

    for (int i = 0; i < MG_TLS_TICKET_KEYS; i++) {
        ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    }
    SSL_SESSION *fourth = connect_once(sctx, cctx, third, &reused);
    ck_assert_msg(!reused, "a ticket of a dropped key means a full handshake");
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.unknown, 1);

    SSL_SESSION_free(first);
    SSL_SESSION_free(second);
    SSL_SESSION_free(third);
    SSL_SESSION_free(fourth);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}
END_TEST

/* Three rotations: the first key is the oldest of four and still opens its tickets. */
START_TEST(test_oldest_key_still_decrypts)
{
    int v = versions[_i];
    SSL_CTX *sctx = server_ctx(v), *cctx = client_ctx(v);
    bool reused;
    SSL_SESSION *first = connect_once(sctx, cctx, NULL, &reused);
    for (int i = 0; i < MG_TLS_TICKET_KEYS - 1; i++) {
        ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    }
    SSL_SESSION *again = connect_once(sctx, cctx, first, &reused);
    ck_assert(reused);
    SSL_SESSION_free(first);
    SSL_SESSION_free(again);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}
END_TEST

static void random_file(unsigned char *buf, size_t len)
{
    ck_assert_int_eq(RAND_bytes(buf, (int)len), 1);
}

/* Two instances with the same file: a ticket from one resumes on the other. Each
 * instance has its own area (dispose + init: other generated keys) and SSL_CTX. */
static void two_instances(int v, const unsigned char *file, size_t len)
{
    char err[256];
    SSL_CTX *a = server_ctx(v), *cctx = client_ctx(v);
    ck_assert_int_eq(mg_tls_tickets_set_file((const char *)file, len, err, sizeof(err)), MG_OK);
    ck_assert(mg_tls_tickets_from_file());
    bool reused;
    SSL_SESSION *sess = connect_once(a, cctx, NULL, &reused);

    mg_tls_tickets_dispose();
    ck_assert_int_eq(mg_tls_tickets_init(), MG_OK);
    SSL_CTX *b = server_ctx(v);
    SSL_SESSION *none = connect_once(b, cctx, sess, &reused);
    ck_assert_msg(!reused, "generated keys differ from instance to instance");
    ck_assert_int_eq(mg_tls_tickets_set_file((const char *)file, len, err, sizeof(err)), MG_OK);
    SSL_SESSION *other = connect_once(b, cctx, sess, &reused);
    ck_assert_msg(reused, "the same file on another instance resumes the ticket");

    SSL_SESSION_free(sess);
    SSL_SESSION_free(none);
    SSL_SESSION_free(other);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
    SSL_CTX_free(cctx);
}

START_TEST(test_file_two_instances)
{
    unsigned char file[MG_TLS_TICKET_FILE_KEY];
    random_file(file, sizeof(file));
    two_instances(versions[_i], file, sizeof(file));
}
END_TEST

START_TEST(test_file_48_byte_keys)
{
    unsigned char file[2 * MG_TLS_TICKET_FILE_KEY128];
    random_file(file, sizeof(file));
    two_instances(versions[_i], file, sizeof(file));
}
END_TEST

/* The file's second key only decrypts: an operator rotating by hand prepends a new key
 * and the tickets of the old one still resume, renewed. */
START_TEST(test_file_second_key_decrypts)
{
    int v = versions[_i];
    char err[256];
    unsigned char file[2 * MG_TLS_TICKET_FILE_KEY];
    random_file(file, sizeof(file));
    SSL_CTX *sctx = server_ctx(v), *cctx = client_ctx(v);
    /* first only the key that will become the second */
    ck_assert_int_eq(mg_tls_tickets_set_file((const char *)file + MG_TLS_TICKET_FILE_KEY,
                                             MG_TLS_TICKET_FILE_KEY, err, sizeof(err)),
                     MG_OK);
    bool reused;
    SSL_SESSION *sess = connect_once(sctx, cctx, NULL, &reused);
    ck_assert_int_eq(mg_tls_tickets_set_file((const char *)file, sizeof(file), err, sizeof(err)),
                     MG_OK);
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, 2);
    SSL_SESSION *renewed = connect_once(sctx, cctx, sess, &reused);
    ck_assert(reused);
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.decrypted_old, 1);
    unsigned char name[16];
    ticket_name(renewed, name);
    ck_assert(memcmp(name, file, 16) == 0); /* sealed with the file's first key */
    SSL_SESSION_free(sess);
    SSL_SESSION_free(renewed);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}
END_TEST

/* While a file is in use nothing rotates; without it, a generated key encrypts again
 * and the file's key still opens its tickets. */
START_TEST(test_file_then_back_to_generated)
{
    int v = versions[_i];
    char err[256];
    unsigned char file[MG_TLS_TICKET_FILE_KEY];
    random_file(file, sizeof(file));
    SSL_CTX *sctx = server_ctx(v), *cctx = client_ctx(v);
    ck_assert_int_eq(mg_tls_tickets_set_file((const char *)file, sizeof(file), err, sizeof(err)),
                     MG_OK);
    ck_assert_int_eq(mg_tls_tickets_rotate(), MG_DECLINED);
    bool reused;
    SSL_SESSION *sess = connect_once(sctx, cctx, NULL, &reused);

    ck_assert_int_eq(mg_tls_tickets_set_file(NULL, 0, err, sizeof(err)), MG_OK);
    ck_assert(!mg_tls_tickets_from_file());
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, 2);
    SSL_SESSION *renewed = connect_once(sctx, cctx, sess, &reused);
    ck_assert(reused);
    unsigned char name[16];
    ticket_name(renewed, name);
    ck_assert(memcmp(name, file, 16) != 0);
    /* again: nothing changes when keys are generated already */
    ck_assert_int_eq(mg_tls_tickets_set_file(NULL, 0, err, sizeof(err)), MG_OK);
    mg_tls_tickets_stats(&st);
    ck_assert_uint_eq(st.keys, 2);
    ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    SSL_SESSION_free(sess);
    SSL_SESSION_free(renewed);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}
END_TEST

START_TEST(test_file_bad_lengths)
{
    char err[256];
    static char buf[6 * MG_TLS_TICKET_FILE_KEY];
    const size_t bad[] = {
        0, 1, 47, 79, 81, 100, 5 * MG_TLS_TICKET_FILE_KEY, 6 * MG_TLS_TICKET_FILE_KEY};
    for (size_t i = 0; i < MG_NELEMS(bad); i++) {
        err[0] = '\0';
        ck_assert_int_eq(mg_tls_tickets_check(buf, bad[i], err, sizeof(err)), MG_ERROR);
        ck_assert_msg(strstr(err, "80 bytes") != NULL && strstr(err, "48 bytes") != NULL, "%zu: %s",
                      bad[i], err);
        ck_assert_int_eq(mg_tls_tickets_set_file(buf, bad[i], err, sizeof(err)), MG_ERROR);
    }
    const size_t good[] = {48, 80, 96, 144, 160, 192, 240, 320};
    for (size_t i = 0; i < MG_NELEMS(good); i++) {
        for (size_t j = 0; j < good[i]; j++) {
            buf[j] = (char)(j * 7 + j / 48 + j / 80); /* names differ key to key */
        }
        ck_assert_msg(mg_tls_tickets_check(buf, good[i], err, sizeof(err)) == MG_OK, "%zu: %s",
                      good[i], err);
    }
    /* nothing was installed by the failures */
    ck_assert(!mg_tls_tickets_from_file());
}
END_TEST

START_TEST(test_file_duplicate_names)
{
    char err[256];
    unsigned char file[2 * MG_TLS_TICKET_FILE_KEY];
    random_file(file, sizeof(file));
    memcpy(file + MG_TLS_TICKET_FILE_KEY, file, 16);
    ck_assert_int_eq(mg_tls_tickets_check((const char *)file, sizeof(file), err, sizeof(err)),
                     MG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "same name"));
}
END_TEST

/* Seals a block through the callback, then opens it through the callback by the name
 * it got: 1 when the round trip holds, 0 when the key was rotated out in between (or
 * no key could be read while the writer rotated without pause), -1
 * when the key the seal used was not whole (name of one key, secrets of another). */
static int roundtrip(EVP_MAC *mac)
{
    static const unsigned char pt[32] = "a session state, 32 bytes long.";
    unsigned char name[16], iv[EVP_MAX_IV_LENGTH], ct[64], back[64], tag[2][32];
    int n, m, ok = -1;
    size_t tl;
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX *h = EVP_MAC_CTX_new(mac);
    int sealed = mg_tls_ticket_cb(NULL, name, iv, e, h, 1);
    if (sealed == 0) {
        ok = 0; /* the writer kept the set busy past the reader's patience: no ticket */
        goto done;
    }
    if (sealed != 1 ||
        EVP_EncryptUpdate(e, ct, &n, pt, 32) != 1 || EVP_EncryptFinal_ex(e, ct + n, &m) != 1 ||
        EVP_MAC_init(h, NULL, 0, NULL) != 1 || EVP_MAC_update(h, ct, (size_t)(n + m)) != 1 ||
        EVP_MAC_final(h, tag[0], &tl, 32) != 1) {
        goto done;
    }
    int len = n + m;
    EVP_CIPHER_CTX_reset(e);
    EVP_MAC_CTX_free(h);
    h = EVP_MAC_CTX_new(mac);
    int rc = mg_tls_ticket_cb(NULL, name, iv, e, h, 0);
    if (rc == 0) {
        ok = 0;
        goto done;
    }
    if (rc < 0 || EVP_MAC_init(h, NULL, 0, NULL) != 1 || EVP_MAC_update(h, ct, (size_t)len) != 1 ||
        EVP_MAC_final(h, tag[1], &tl, 32) != 1 || memcmp(tag[0], tag[1], 32) != 0 ||
        EVP_DecryptUpdate(e, back, &n, ct, len) != 1 || EVP_DecryptFinal_ex(e, back + n, &m) != 1 ||
        n + m != 32 || memcmp(back, pt, 32) != 0) {
        goto done;
    }
    ok = 1;
done:
    EVP_CIPHER_CTX_free(e);
    EVP_MAC_CTX_free(h);
    return ok;
}

/* A worker reads while the master rotates as fast as it can: every key the reader
 * gets is whole. */
START_TEST(test_reader_never_sees_a_torn_key)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        int whole = 0, gone = 0, torn = 0;
        time_t end = time(NULL) + 1;
        while (time(NULL) <= end) {
            int r = roundtrip(mac);
            whole += r == 1;
            gone += r == 0;
            torn += r < 0;
        }
        EVP_MAC_free(mac);
        fprintf(stderr, "reader: %d whole, %d rotated out, %d torn\n", whole, gone, torn);
        _exit(torn == 0 && whole > 100 ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        ck_assert_int_eq(mg_tls_tickets_rotate(), MG_OK);
    }
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("tls_ticket");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_stats);
    tcase_add_loop_test(tc, test_rotation_resume_renew, 0, 2);
    tcase_add_loop_test(tc, test_oldest_key_still_decrypts, 0, 2);
    tcase_add_loop_test(tc, test_file_two_instances, 0, 2);
    tcase_add_loop_test(tc, test_file_48_byte_keys, 0, 2);
    tcase_add_loop_test(tc, test_file_second_key_decrypts, 0, 2);
    tcase_add_loop_test(tc, test_file_then_back_to_generated, 0, 2);
    tcase_add_test(tc, test_file_bad_lengths);
    tcase_add_test(tc, test_file_duplicate_names);
    tcase_add_test(tc, test_reader_never_sees_a_torn_key);
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
