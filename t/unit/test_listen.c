/* deps: listen str */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

START_TEST(test_open_is_nonblocking_listening_and_cloexec)
{
    struct sockaddr_in sa = v4("127.0.0.1", 0);
    int fd = mg_listen_open((struct sockaddr *)&sa, sizeof(sa), 16);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&bound, &len), 0);
    ck_assert_int_ne(ntohs(bound.sin_port), 0);

    /* a client connects before anyone accepts: it waits in the backlog */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&bound, len), 0);
    int a = accept(fd, NULL, NULL);
    ck_assert_int_ge(a, 0);
    close(a);
    close(c);

    /* nothing pending: accept must not block */
    ck_assert_int_lt(accept(fd, NULL, NULL), 0);
    close(fd);
}
END_TEST

START_TEST(test_open_reports_address_in_use)
{
    struct sockaddr_in sa = v4("127.0.0.1", 0);
    int fd = mg_listen_open((struct sockaddr *)&sa, sizeof(sa), 0);
    ck_assert_int_ge(fd, 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    int fd2 = mg_listen_open((struct sockaddr *)&sa, sizeof(sa), 0);
    ck_assert_int_eq(fd2, -EADDRINUSE);
    close(fd);
}
END_TEST

START_TEST(test_ipv6_is_v6only)
{
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_any;
    int fd = mg_listen_open((struct sockaddr *)&sa, sizeof(sa), 0);
    if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
        return; /* no IPv6 here */
    }
    ck_assert_int_ge(fd, 0);
    int on = 0;
    socklen_t len = sizeof(on);
    ck_assert_int_eq(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &len), 0);
    ck_assert_int_eq(on, 1);
    close(fd);
}
END_TEST

START_TEST(test_addr_eq)
{
    struct sockaddr_in a = v4("127.0.0.1", 8080), b = v4("127.0.0.1", 8080);
    struct sockaddr_in c = v4("127.0.0.1", 8081), d = v4("127.0.0.2", 8080);
    b.sin_zero[0] = 7; /* padding must not matter */
    ck_assert(mg_listen_addr_eq((void *)&a, sizeof(a), (void *)&b, sizeof(b)));
    ck_assert(!mg_listen_addr_eq((void *)&a, sizeof(a), (void *)&c, sizeof(c)));
    ck_assert(!mg_listen_addr_eq((void *)&a, sizeof(a), (void *)&d, sizeof(d)));

    struct sockaddr_in6 x, y;
    memset(&x, 0, sizeof(x));
    x.sin6_family = AF_INET6;
    x.sin6_port = htons(80);
    x.sin6_addr = in6addr_loopback;
    y = x;
    y.sin6_flowinfo = 3;
    ck_assert(mg_listen_addr_eq((void *)&x, sizeof(x), (void *)&y, sizeof(y)));
    ck_assert(!mg_listen_addr_eq((void *)&a, sizeof(a), (void *)&x, sizeof(x)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("listen");
    TCase *tc = tcase_create("listen");
    tcase_add_test(tc, test_open_is_nonblocking_listening_and_cloexec);
    tcase_add_test(tc, test_open_reports_address_in_use);
    tcase_add_test(tc, test_ipv6_is_v6only);
    tcase_add_test(tc, test_addr_eq);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
