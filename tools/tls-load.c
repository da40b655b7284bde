/*
 * tls-load.c -- a TLS connection-rate load generator for tools/bench-tls.
 *
 * Loop mode (the default): K processes, each looping for D seconds over
 *   TCP connect -> TLS 1.3 handshake (X25519) -> "GET / HTTP/1.1", Connection: close
 *   -> read the answer to EOF -> close
 * one request per connection. Without -resume every handshake is a full one; with
 * -resume each connection offers the session of the previous one (the TLS 1.3 ticket
 * that came with it: the answer is read to the end, so the ticket has arrived) and
 * SSL_session_reused counts the handshakes the server really resumed. Processes, not
 * threads: nothing in OpenSSL is shared between them, so no lock is contended.
 *
 * Prints one line:
 *   conns=N errors=E resumed=R secs=S cps=X client_cpu_us=C cipher=NAME
 * conns: connections that got a 200 answer; cps = conns / S; client_cpu_us: the
 * processes' CPU time (user + system) per connection, to check the client is not what
 * limits the rate.
 *
 * Idle mode (-idle N): opens N connections one after the other, each with a full
 * handshake and one keep-alive request whose answer is read whole, keeps them all
 * open, prints "ready N errors=E", holds them -hold S seconds, then exits.
 *
 * Build: cc -O2 -o tls-load tools/tls-load.c -lssl -lcrypto
 * Usage: tls-load -p PORT [-h 127.0.0.1] [-c 16] [-d 10] [-resume]
 *        tls-load -p PORT -idle 2000 [-hold 30]
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char REQ_CLOSE[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
static const char REQ_KEEP[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

typedef struct {
    unsigned long long conns, errors, resumed;
    char cipher[64];
} slot_t;

static struct sockaddr_in addr;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static SSL_CTX *ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the signature is still checked */
    if (SSL_CTX_set1_groups_list(ctx, "X25519") != 1) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    return ctx;
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One connection: handshake, request, answer read to EOF. 0 on a 200 answer. */
static int one_conn(SSL_CTX *ctx, SSL_SESSION **sess, slot_t *st)
{
    int fd = tcp_connect();
    if (fd < 0) {
        return -1;
    }
    SSL *ssl = SSL_new(ctx);
    int rc = -1;
    SSL_set_fd(ssl, fd);
    if (sess != NULL && *sess != NULL) {
        SSL_set_session(ssl, *sess);
    }
    if (SSL_connect(ssl) != 1) {
        goto out;
    }
    if (SSL_write(ssl, REQ_CLOSE, sizeof(REQ_CLOSE) - 1) != (int)sizeof(REQ_CLOSE) - 1) {
        goto out;
    }
    char head[16], buf[4096];
    size_t got = 0;
    int n;
    while ((n = SSL_read(ssl, buf, (int)sizeof(buf))) > 0) {
        if (got < sizeof(head)) {
            memcpy(head + got, buf, (size_t)n < sizeof(head) - got ? (size_t)n : sizeof(head) - got);
        }
        got += (size_t)n;
    }
    if (SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN || got < 12 ||
        memcmp(head, "HTTP/1.1 200", 12) != 0) {
        goto out;
    }
    rc = 0;
    /* the server closed first (close_notify read): a quiet shutdown marks this side
     * shut too, else SSL_free would make the session not resumable */
    SSL_set_quiet_shutdown(ssl, 1);
    SSL_shutdown(ssl);
    if (SSL_session_reused(ssl)) {
        st->resumed++;
    }
    if (st->cipher[0] == '\0') {
        snprintf(st->cipher, sizeof(st->cipher), "%s", SSL_get_cipher_name(ssl));
    }
    if (sess != NULL) {
        SSL_SESSION_free(*sess);
        *sess = SSL_get1_session(ssl); /* the newest ticket this connection brought */
    }
out:
    if (rc != 0 && sess != NULL) {
        SSL_SESSION_free(*sess);
        *sess = NULL;
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return rc;
}

static void loop(double until, int resume, slot_t *st)
{
    SSL_CTX *ctx = ctx_new();
    SSL_SESSION *sess = NULL;
    while (now() < until) {
        if (one_conn(ctx, resume ? &sess : NULL, st) == 0) {
            st->conns++;
        } else {
            st->errors++;
        }
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
}

/* Reads one keep-alive answer whole (head, then Content-Length bytes). */
static int read_answer(SSL *ssl)
{
    char buf[8192];
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
        int n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        size_t want = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (got - (size_t)(end + 4 - buf) >= want) {
            return memcmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
        }
    }
    return -1;
}

static int idle(int n, int hold)
{
    SSL_CTX *ctx = ctx_new();
    int *fds = calloc((size_t)n, sizeof(int));
    int open = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        int fd = tcp_connect();
        if (fd < 0) {
            errors++;
            continue;
        }
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1 && SSL_write(ssl, REQ_KEEP, sizeof(REQ_KEEP) - 1) > 0 &&
            read_answer(ssl) == 0) {
            fds[open++] = fd; /* kept open; SSL_free sends nothing */
        } else {
            errors++;
            close(fd);
        }
        SSL_free(ssl);
        ERR_clear_error();
    }
    printf("ready %d errors=%d\n", open, errors);
    fflush(stdout);
    sleep((unsigned)hold);
    for (int i = 0; i < open; i++) {
        close(fds[i]);
    }
    free(fds);
    SSL_CTX_free(ctx);
    return errors > 0 ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: tls-load -p PORT [-h ADDR] [-c PROCS] [-d SECONDS] [-resume]\n"
                    "       tls-load -p PORT [-h ADDR] -idle N [-hold SECONDS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, procs = 16, resume = 0, nidle = 0, hold = 30;
    double secs = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-resume") == 0) {
            resume = 1;
            continue;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "-h") == 0) {
            host = v;
        } else if (strcmp(a, "-p") == 0) {
            port = atoi(v);
        } else if (strcmp(a, "-c") == 0) {
            procs = atoi(v);
        } else if (strcmp(a, "-d") == 0) {
            secs = atof(v);
        } else if (strcmp(a, "-idle") == 0) {
            nidle = atoi(v);
        } else if (strcmp(a, "-hold") == 0) {
            hold = atoi(v);
        } else {
            usage();
        }
    }
    if (port <= 0 || procs <= 0 || secs <= 0) {
        usage();
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        usage();
    }
    signal(SIGPIPE, SIG_IGN);
    if (nidle > 0) {
        return idle(nidle, hold);
    }
    slot_t *slots = mmap(NULL, sizeof(slot_t) * (size_t)procs, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(slots, 0, sizeof(slot_t) * (size_t)procs);
    double t0 = now(), until = t0 + secs;
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            loop(until, resume, &slots[i]);
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    double t = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    unsigned long long conns = 0, errors = 0, resumed = 0;
    const char *cipher = "-";
    for (int i = 0; i < procs; i++) {
        conns += slots[i].conns;
        errors += slots[i].errors;
        resumed += slots[i].resumed;
        if (slots[i].cipher[0] != '\0') {
            cipher = slots[i].cipher;
        }
    }
    printf("conns=%llu errors=%llu resumed=%llu secs=%.2f cps=%.0f client_cpu_us=%.1f "
           "cipher=%s\n",
           conns, errors, resumed, t, (double)conns / t, conns > 0 ? cpu * 1e6 / (double)conns : 0,
           cipher);
    return 0;
}
