/*
 * ws-bench.c -- the WebSocket side of tools/bench-ws: an echo upstream, a load client
 * and a holder of idle tunnels, one small epoll program each, so that the machine's
 * time goes to the gateways being measured rather than to the tools.
 *
 *   ws-bench server PORT
 *       answers each WebSocket handshake with a valid 101, then echoes every byte it
 *       gets (a frame comes back as it went: the gateways relay bytes, not frames)
 *   ws-bench client PORT PATH CONNS SECONDS WINDOW SIZE
 *       CONNS tunnels through the gateway on 127.0.0.1:PORT, each keeping WINDOW masked
 *       frames of SIZE bytes in flight; prints "messages N seconds S rate R"
 *   ws-bench hold PORT PATH N
 *       opens N tunnels, prints "open N" once all answered 101, then waits (idle) until
 *       its standard input closes
 *
 * Build: cc -O2 -o build/ws-bench tools/ws-bench.c -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define MAXEV 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- server: handshake, then echo ---- */

typedef struct {
    int fd;
    int shaken;
    char head[4096];
    size_t hlen;
    char *pend; /* bytes the socket did not take */
    size_t plen;
} sconn_t;

static void accept_of(const char *key, size_t klen, char *out)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char in[128];
    unsigned char md[SHA_DIGEST_LENGTH];
    klen = klen > 64 ? 64 : klen;
    memcpy(in, key, klen);
    memcpy(in + klen, guid, sizeof(guid) - 1);
    SHA1((unsigned char *)in, klen + sizeof(guid) - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

static int send_all(sconn_t *c, const char *p, size_t n)
{
    if (c->plen == 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno != EAGAIN) {
            return -1;
        }
        w = w < 0 ? 0 : w;
        p += w;
        n -= (size_t)w;
    }
    if (n > 0) {
        c->pend = realloc(c->pend, c->plen + n);
        memcpy(c->pend + c->plen, p, n);
        c->plen += n;
    }
    return 0;
}

static int server_read(sconn_t *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            return -1;
        }
        if (n < 0) {
            return 0;
        }
        if (c->shaken) {
            if (send_all(c, buf, (size_t)n) < 0) {
                return -1;
            }
            continue;
        }
        size_t take = (size_t)n < sizeof(c->head) - 1 - c->hlen ? (size_t)n : sizeof(c->head) - 1 - c->hlen;
        memcpy(c->head + c->hlen, buf, take);
        c->hlen += take;
        c->head[c->hlen] = '\0';
        char *end = strstr(c->head, "\r\n\r\n");
        if (end == NULL) {
            if (c->hlen == sizeof(c->head) - 1) {
                return -1;
            }
            continue;
        }
        char *k = strcasestr(c->head, "\r\nSec-WebSocket-Key:");
        if (k == NULL) {
            return -1;
        }
        k += 20;
        while (*k == ' ') {
            k++;
        }
        size_t kl = strcspn(k, "\r\n ");
        char acc[64], out[256];
        accept_of(k, kl, acc);
        int m = snprintf(out, sizeof(out),
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                         acc);
        c->shaken = 1;
        if (send_all(c, out, (size_t)m) < 0) {
            return -1;
        }
        size_t used = (size_t)(end + 4 - c->head);
        if (c->hlen > used && send_all(c, c->head + used, c->hlen - used) < 0) {
            return -1;
        }
    }
}

static void run_server(int port)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
        die("listen");
    }
    nonblock(lfd);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAXEV];
    for (;;) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        for (int i = 0; i < n; i++) {
            sconn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept(lfd, NULL, NULL)) >= 0) {
                    nonblock(fd);
                    sconn_t *nc = calloc(1, sizeof(*nc));
                    nc->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && c->plen > 0) {
                ssize_t w = write(c->fd, c->pend, c->plen);
                if (w > 0) {
                    memmove(c->pend, c->pend + w, c->plen - (size_t)w);
                    c->plen -= (size_t)w;
                }
            }
            int rc = 0;
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->plen < (1u << 20)) {
                rc = server_read(c);
            }
            if (rc < 0) {
                close(c->fd);
                free(c->pend);
                free(c);
                continue;
            }
            struct epoll_event e = {.events = (c->plen < (1u << 20) ? EPOLLIN : 0) |
                                              (c->plen > 0 ? EPOLLOUT : 0),
                                    .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        }
    }
}

/* ---- client side: tunnels through the gateway ---- */

static int tunnel_open(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        die("connect");
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path);
    if (write(fd, req, (size_t)n) != n) {
        die("write");
    }
    char head[2048];
    size_t len = 0;
    while (len < sizeof(head) - 1) {
        ssize_t r = read(fd, head + len, 1); /* byte by byte: nothing past the head */
        if (r <= 0) {
            die("read 101");
        }
        len++;
        head[len] = '\0';
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) {
            break;
        }
    }
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "no 101: %.80s\n", head);
        exit(1);
    }
    nonblock(fd);
    return fd;
}

typedef struct {
    int fd;
    size_t got; /* bytes of a frame read so far */
} cconn_t;

static int run_client(int port, const char *path, int conns, double secs, int window, int size)
{
    /* one masked binary frame of `size` bytes (mask 0: the payload as it is) */
    size_t hsz = size < 126 ? 6 : 8, fsz = hsz + (size_t)size;
    char *frame = calloc(1, fsz);
    frame[0] = (char)0x82;
    if (size < 126) {
        frame[1] = (char)(0x80 | size);
    } else {
        frame[1] = (char)(0x80 | 126);
        frame[2] = (char)(size >> 8);
        frame[3] = (char)(size & 0xff);
    }
    memset(frame + hsz, 'm', (size_t)size);
    char *burst = malloc(fsz * (size_t)window);
    for (int i = 0; i < window; i++) {
        memcpy(burst + (size_t)i * fsz, frame, fsz);
    }
    int ep = epoll_create1(0);
    cconn_t *cs = calloc((size_t)conns, sizeof(*cs));
    for (int i = 0; i < conns; i++) {
        cs[i].fd = tunnel_open(port, path);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &e);
        if (write(cs[i].fd, burst, fsz * (size_t)window) != (ssize_t)(fsz * (size_t)window)) {
            die("write window");
        }
    }
    unsigned long long msgs = 0;
    double start = now(), end = start + secs;
    char buf[65536];
    struct epoll_event evs[MAXEV];
    while (now() < end) {
        int n = epoll_wait(ep, evs, MAXEV, 100);
        for (int i = 0; i < n; i++) {
            cconn_t *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, buf, sizeof(buf));
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) {
                    continue;
                }
                fprintf(stderr, "a tunnel closed\n");
                exit(1);
            }
            c->got += (size_t)r;
            size_t done = c->got / fsz;
            c->got %= fsz;
            msgs += done;
            while (done > 0) { /* one new message for each one back */
                size_t k = done < (size_t)window ? done : (size_t)window;
                if (write(c->fd, burst, fsz * k) != (ssize_t)(fsz * k)) {
                    die("write");
                }
                done -= k;
            }
        }
    }
    double took = now() - start;
    printf("messages %llu seconds %.2f rate %.0f\n", msgs, took, (double)msgs / took);
    return 0;
}

static int run_hold(int port, const char *path, int n)
{
    int *fds = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        fds[i] = tunnel_open(port, path);
    }
    printf("open %d\n", n);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    for (int i = 0; i < n; i++) {
        close(fds[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0) {
        run_server(atoi(argv[2]));
        return 0;
    }
    if (argc == 8 && strcmp(argv[1], "client") == 0) {
        return run_client(atoi(argv[2]), argv[3], atoi(argv[4]), atof(argv[5]), atoi(argv[6]),
                          atoi(argv[7]));
    }
    if (argc == 5 && strcmp(argv[1], "hold") == 0) {
        return run_hold(atoi(argv[2]), argv[3], atoi(argv[4]));
    }
    fprintf(stderr, "usage: ws-bench server PORT | client PORT PATH CONNS SECONDS WINDOW SIZE"
                    " | hold PORT PATH N\n");
    return 2;
}
