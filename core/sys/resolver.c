/*
 * resolver.c -- the worker's DNS resolver (resolver.h): c-ares driven by libev, answers
 * cached in resolver_cache.c, concurrent waiters for one name sharing one lookup.
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB): each gets an
 * ev_io; one ev_timer follows ares_timeout() so that retries and timeouts happen
 * without any socket event. Both hand control back through ares_process_fd().
 *
 * Lifetimes. A lookup (lookup_t) is made when a query goes to c-ares and freed in its
 * c-ares callback, which comes exactly once (with ARES_EDESTRUCTION from ares_destroy
 * at the latest). While it runs, its cache entry is busy: never evicted, so the lookup
 * may point at it. A waiter belongs to one lookup until it is answered, times out or
 * is cancelled.
 */
#include "resolver.h"

#include "log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define DEFAULT_TIMEOUT 5.0
#define ARES_TRIES 2

typedef struct {
    ev_io io; /* must stay first */
    mg_resolver_t *r;
} sockw_t;

typedef struct {
    mg_resolver_t *r;
    mg_rcache_entry_t *e; /* NULL once the resolver is being freed */
    mg_resolver_query_t *waiters;
} lookup_t;

struct mg_resolver_query_s {
    mg_resolver_t *r;
    lookup_t *lk;
    mg_resolver_query_t *prev, *next;
    ev_timer timer; /* the waiter's own deadline */
    mg_resolver_cb cb;
    void *arg;
};

struct mg_resolver_s {
    struct ev_loop *loop;
    ares_channel channel;
    ev_timer timer; /* c-ares' next timeout */
    sockw_t **socks;
    size_t nsocks, socks_cap;
    mg_rcache_t cache;
    char *servers; /* as given to c-ares, "ip:port,[ip6]:port"; "" for resolv.conf */
    double valid, timeout;
    size_t pending;            /* waiters, SRV queries included */
    mg_resolver_srvq_t *srvqs; /* SRV queries running */
    bool freeing;
    mg_resolver_stats_t stats;
};

/* ---- c-ares on the loop ---- */

static void arm_timer(mg_resolver_t *r)
{
    struct timeval tv;
    ev_timer_stop(r->loop, &r->timer);
    if (r->freeing || ares_timeout(r->channel, NULL, &tv) == NULL) {
        return;
    }
    double t = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    ev_timer_set(&r->timer, t > 0.001 ? t : 0.001, 0.);
    ev_timer_start(r->loop, &r->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_resolver_t *r = t->data;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(r);
}

static void on_sock_io(struct ev_loop *loop, ev_io *io, int revents)
{
    mg_resolver_t *r = ((sockw_t *)io)->r;
    int fd = io->fd; /* the watcher may be freed inside ares_process_fd */
    ares_process_fd(r->channel, revents & EV_READ ? fd : ARES_SOCKET_BAD,
                    revents & EV_WRITE ? fd : ARES_SOCKET_BAD);
    arm_timer(r);
}

static void sock_drop(mg_resolver_t *r, size_t i)
{
    ev_io_stop(r->loop, &r->socks[i]->io);
    free(r->socks[i]);
    r->socks[i] = r->socks[--r->nsocks];
}

static sockw_t *sock_add(mg_resolver_t *r, int fd)
{
    if (r->nsocks == r->socks_cap) {
        size_t cap = r->socks_cap ? r->socks_cap * 2 : 8;
        sockw_t **p = realloc(r->socks, cap * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        r->socks = p;
        r->socks_cap = cap;
    }
    sockw_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->r = r;
    ev_io_init(&w->io, on_sock_io, fd, EV_READ);
    r->socks[r->nsocks++] = w;
    return w;
}

/* c-ares opens, closes or changes the interest of one of its sockets. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    mg_resolver_t *r = data;
    size_t i = 0;
    while (i < r->nsocks && r->socks[i]->io.fd != fd) {
        i++;
    }
    if (!readable && !writable) {
        if (i < r->nsocks) {
            sock_drop(r, i);
        }
        return;
    }
    sockw_t *w = i < r->nsocks ? r->socks[i] : sock_add(r, fd);
    if (w == NULL) {
        mg_log_err("resolver: out of memory watching a socket, its query will time out");
        return;
    }
    ev_io_stop(r->loop, &w->io);
    ev_io_set(&w->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(r->loop, &w->io);
}

/* ---- answers ---- */

static void answer_addr(struct sockaddr_storage *ss, int family, const void *a)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a, 16);
    }
}

static void answer_of(const mg_resolver_t *r, const mg_rcache_entry_t *e, mg_resolver_answer_t *out)
{
    out->naddrs = e->naddrs;
    out->err = e->err;
    out->ttl = e->err == NULL ? MG_MAX(e->expires - ev_now(r->loop), 0.) : 0.;
    for (size_t i = 0; i < e->naddrs; i++) {
        answer_addr(&out->addrs[i], e->addrs[i].family, e->addrs[i].a);
    }
}

/* IP literals and "localhost" (127.0.0.1 and ::1 as the family allows). */
static bool answer_literal(const char *host, int family, mg_resolver_answer_t *out)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, host, a) == 1) {
        answer_addr(&out->addrs[out->naddrs++], AF_INET, a);
        return true;
    }
    if (inet_pton(AF_INET6, host, a) == 1) {
        answer_addr(&out->addrs[out->naddrs++], AF_INET6, a);
        return true;
    }
    if (strcasecmp(host, "localhost") != 0 && strcasecmp(host, "localhost.") != 0) {
        return false;
    }
    if (family != AF_INET6) {
        inet_pton(AF_INET, "127.0.0.1", a);
        answer_addr(&out->addrs[out->naddrs++], AF_INET, a);
    }
    if (family != AF_INET) {
        inet_pton(AF_INET6, "::1", a);
        answer_addr(&out->addrs[out->naddrs++], AF_INET6, a);
    }
    return true;
}

/* Letters, digits, '-' and '_' in labels of 1 to 63 bytes, 253 bytes at most (a final
 * dot aside): what may go into a query. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n > 0 && s[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n > MG_RESOLVER_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

/* RFC 6761: names under "invalid" never exist; no server is asked. */
static bool is_invalid_tld(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.') {
        n--;
    }
    return (n == 7 && strncasecmp(s, "invalid", 7) == 0) ||
           (n > 7 && strncasecmp(s + n - 8, ".invalid", 8) == 0);
}

static const char *status_text(int status)
{
    switch (status) {
    case ARES_ENOTFOUND:
        return "host not found";
    case ARES_ENODATA:
        return "no address for host";
    case ARES_ETIMEOUT:
        return "DNS timeout";
    case ARES_ECONNREFUSED:
        return "DNS server unreachable";
    case ARES_ESERVFAIL:
        return "DNS server failure";
    case ARES_EREFUSED:
        return "DNS query refused";
    case ARES_ENOMEM:
        return "out of memory";
    case ARES_EBADNAME:
        return "bad host name";
    default:
        return "DNS error";
    }
}

/* The addresses of an answer (duplicates dropped) and its smallest TTL, CNAMEs too. */
static size_t take_addrs(const struct ares_addrinfo *ai, mg_rcache_addr_t *out, int *ttl)
{
    size_t n = 0;
    int min = INT_MAX;
    for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL;
         p != NULL && n < MG_RESOLVER_MAX_ADDRS; p = p->ai_next) {
        mg_rcache_addr_t a = {.family = (sa_family_t)p->ai_family};
        if (p->ai_family == AF_INET) {
            memcpy(a.a, &((const struct sockaddr_in *)p->ai_addr)->sin_addr, 4);
        } else if (p->ai_family == AF_INET6) {
            memcpy(a.a, &((const struct sockaddr_in6 *)p->ai_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++) {
            dup = memcmp(&out[i], &a, sizeof(a)) == 0;
        }
        if (!dup) {
            out[n++] = a;
            min = MG_MIN(min, p->ai_ttl);
        }
    }
    for (const struct ares_addrinfo_cname *c = ai ? ai->cnames : NULL; c != NULL; c = c->next) {
        min = MG_MIN(min, c->ttl);
    }
    *ttl = n > 0 ? min : 0;
    return n;
}

/* Stores what a lookup found into its entry. */
static void store(mg_resolver_t *r, mg_rcache_entry_t *e, int status,
                  const struct ares_addrinfo *ai)
{
    double now = ev_now(r->loop);
    if (status == ARES_SUCCESS) {
        mg_rcache_addr_t addrs[MG_RESOLVER_MAX_ADDRS];
        int ttl;
        size_t n = take_addrs(ai, addrs, &ttl);
        if (n > 0) {
            double keep = r->valid > 0 ? r->valid : MG_MAX((double)ttl, MG_RESOLVER_MIN_TTL);
            mg_rcache_set(e, addrs, n, NULL, keep, now);
            return;
        }
        status = ARES_ENODATA;
    }
    bool negative = status == ARES_ENOTFOUND || status == ARES_ENODATA;
    mg_rcache_set(e, NULL, 0, status_text(status), negative ? MG_RESOLVER_NEGATIVE_TTL : 0, now);
    r->stats.failures++;
}

/* ---- waiters ---- */

static void waiter_unlink(mg_resolver_query_t *q)
{
    *(q->prev ? &q->prev->next : &q->lk->waiters) = q->next;
    if (q->next) {
        q->next->prev = q->prev;
    }
    q->prev = q->next = NULL;
    ev_timer_stop(q->r->loop, &q->timer);
    q->r->pending--;
}

/* Hands the answer to every waiter of the lookup. A callback may resolve again: a new
 * lookup for the same name gets a new lookup_t, never this one's list. */
static void deliver(lookup_t *lk, const mg_resolver_answer_t *a)
{
    mg_resolver_query_t *q;
    while ((q = lk->waiters) != NULL) {
        waiter_unlink(q);
        q->cb(q->arg, a);
        free(q);
    }
}

static void on_waiter_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_resolver_query_t *q = t->data;
    mg_resolver_answer_t a = {.naddrs = 0, .err = "DNS timeout"};
    waiter_unlink(q);
    q->r->stats.timeouts++;
    q->cb(q->arg, &a);
    free(q);
}

void mg_resolver_cancel(mg_resolver_query_t *q)
{
    if (q != NULL) {
        waiter_unlink(q);
        free(q);
    }
}

/* ---- lookups ---- */

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    lookup_t *lk = arg;
    mg_rcache_entry_t *e = lk->e;
    if (e == NULL) { /* the resolver is being freed: nobody waits */
        ares_freeaddrinfo(ai);
        free(lk);
        return;
    }
    e->busy = NULL;
    store(lk->r, e, status, ai);
    ares_freeaddrinfo(ai);
    mg_resolver_answer_t a;
    answer_of(lk->r, e, &a); /* a copy: callbacks may evict e */
    deliver(lk, &a);
    free(lk);
}

/* Sends the query for e. c-ares may answer before returning (/etc/hosts, a bad name):
 * e is then no longer busy when this returns. */
static int lookup_start(mg_resolver_t *r, mg_rcache_entry_t *e)
{
    lookup_t *lk = calloc(1, sizeof(*lk));
    if (lk == NULL) {
        return MG_ERROR;
    }
    lk->r = r;
    lk->e = e;
    e->busy = lk;
    struct ares_addrinfo_hints hints = {.ai_family = e->family};
    r->stats.queries++;
    ares_getaddrinfo(r->channel, e->name, NULL, &hints, on_addrinfo, lk);
    arm_timer(r);
    return MG_OK;
}

static mg_resolver_query_t *waiter_add(mg_resolver_t *r, lookup_t *lk, double timeout,
                                       mg_resolver_cb cb, void *arg)
{
    mg_resolver_query_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    *q = (mg_resolver_query_t){.r = r, .lk = lk, .next = lk->waiters, .cb = cb, .arg = arg};
    if (lk->waiters) {
        lk->waiters->prev = q;
    }
    lk->waiters = q;
    r->pending++;
    ev_timer_init(&q->timer, on_waiter_timeout,
                  timeout > 0 && timeout < r->timeout ? timeout : r->timeout, 0.);
    q->timer.data = q;
    ev_timer_start(r->loop, &q->timer);
    return q;
}

mg_resolver_query_t *mg_resolver_resolve(mg_resolver_t *r, const char *host, int family,
                                         double timeout, mg_resolver_cb cb, void *arg,
                                         mg_resolver_answer_t *now)
{
    now->naddrs = 0;
    now->err = NULL;
    now->ttl = 0;
    if (answer_literal(host, family, now)) {
        return NULL;
    }
    if (!name_ok(host) || is_invalid_tld(host)) {
        now->err = is_invalid_tld(host) ? "host not found" : "bad host name";
        return NULL;
    }
    mg_rcache_entry_t *e = mg_rcache_find(&r->cache, host, family);
    if (e != NULL && mg_rcache_fresh(e, ev_now(r->loop))) {
        r->stats.hits++;
        answer_of(r, e, now);
        return NULL;
    }
    if (e == NULL && (e = mg_rcache_add(&r->cache, host, family)) == NULL) {
        now->err = "out of memory";
        return NULL;
    }
    if (e->busy != NULL) {
        r->stats.joined++;
    } else if (lookup_start(r, e) != MG_OK) {
        now->err = "out of memory";
        return NULL;
    } else if (e->busy == NULL) {
        answer_of(r, e, now);
        return NULL;
    }
    mg_resolver_query_t *q = waiter_add(r, e->busy, timeout, cb, arg);
    if (q == NULL) {
        now->err = "out of memory"; /* the lookup goes on and fills the cache */
    }
    return q;
}

/* ---- SRV records ---- */

struct mg_resolver_srvq_s {
    mg_resolver_t *r;
    mg_resolver_srvq_t *prev, *next; /* r->srvqs, while its owner waits */
    mg_resolver_srv_cb cb;           /* NULL once cancelled */
    void *arg;
    bool starting, early; /* inside ares_query(); c-ares called back already */
};

/* Skips a possibly compressed name at msg[*off]; false when it runs out of bounds. */
static bool skip_name(const unsigned char *msg, size_t len, size_t *off)
{
    while (*off < len) {
        unsigned char l = msg[*off];
        if (l == 0) {
            (*off)++;
            return true;
        }
        if ((l & 0xc0) == 0xc0) {
            *off += 2;
            return *off <= len;
        }
        if ((l & 0xc0) != 0) {
            return false;
        }
        *off += (size_t)l + 1;
    }
    return false;
}

int mg_resolver_msg_ttl(const unsigned char *msg, size_t len)
{
    if (len < 12) {
        return -1;
    }
    unsigned qd = (unsigned)msg[4] << 8 | msg[5], an = (unsigned)msg[6] << 8 | msg[7];
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (!skip_name(msg, len, &off) || (off += 4) > len) {
            return -1;
        }
    }
    long min = -1;
    for (unsigned i = 0; i < an; i++) {
        if (!skip_name(msg, len, &off) || off + 10 > len) {
            return -1;
        }
        long ttl = (long)((uint32_t)msg[off + 4] << 24 | (uint32_t)msg[off + 5] << 16 |
                          (uint32_t)msg[off + 6] << 8 | msg[off + 7]);
        ttl = ttl > INT_MAX ? INT_MAX : ttl; /* RFC 2181: a TTL is at most 2^31 - 1 */
        size_t rdlen = (size_t)msg[off + 8] << 8 | msg[off + 9];
        off += 10 + rdlen;
        if (off > len) {
            return -1;
        }
        min = min < 0 || ttl < min ? ttl : min;
    }
    return (int)min;
}

static void srv_unlink(mg_resolver_srvq_t *q)
{
    *(q->prev ? &q->prev->next : &q->r->srvqs) = q->next;
    if (q->next) {
        q->next->prev = q->prev;
    }
    q->prev = q->next = NULL;
    q->r->pending--;
}

static void srv_fill(mg_resolver_t *r, int status, const unsigned char *buf, int len,
                     mg_resolver_srv_answer_t *a)
{
    struct ares_srv_reply *rep = NULL;
    if (status == ARES_SUCCESS) {
        status = ares_parse_srv_reply(buf, len, &rep);
    }
    for (struct ares_srv_reply *p = rep; p != NULL && a->n < MG_RESOLVER_MAX_SRV; p = p->next) {
        mg_resolver_srv_t *s = &a->recs[a->n];
        size_t tl = strlen(p->host);
        tl -= tl > 0 && p->host[tl - 1] == '.';
        if (tl == 0 || tl > MG_RESOLVER_NAME_MAX) {
            continue; /* "." means "no service here" (RFC 2782) */
        }
        memcpy(s->target, p->host, tl);
        s->target[tl] = '\0';
        s->priority = p->priority;
        s->weight = p->weight;
        s->port = p->port;
        a->n++;
    }
    if (rep != NULL) {
        ares_free_data(rep);
    }
    if (a->n > 0) {
        int ttl = mg_resolver_msg_ttl(buf, (size_t)len);
        a->ttl = r->valid > 0 ? r->valid : MG_MAX((double)ttl, MG_RESOLVER_MIN_TTL);
        return;
    }
    a->err = status_text(status == ARES_SUCCESS ? ARES_ENODATA : status);
    r->stats.failures++;
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *buf, int len)
{
    mg_resolver_srvq_t *q = arg;
    if (q->starting) { /* mg_resolver_srv() fails it: no callback before it returns */
        q->early = true;
        return;
    }
    if (q->cb == NULL) { /* cancelled, or the resolver is being freed */
        free(q);
        return;
    }
    mg_resolver_t *r = q->r;
    srv_unlink(q);
    mg_resolver_srv_answer_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        mg_resolver_srv_answer_t oom = {.err = "out of memory"};
        q->cb(q->arg, &oom);
    } else {
        srv_fill(r, status, buf, len, a);
        q->cb(q->arg, a);
        free(a);
    }
    free(q);
}

mg_resolver_srvq_t *mg_resolver_srv(mg_resolver_t *r, const char *name, mg_resolver_srv_cb cb,
                                    void *arg)
{
    if (!name_ok(name) || is_invalid_tld(name)) {
        return NULL;
    }
    mg_resolver_srvq_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    *q = (mg_resolver_srvq_t){.r = r, .next = r->srvqs, .cb = cb, .arg = arg};
    if (r->srvqs) {
        r->srvqs->prev = q;
    }
    r->srvqs = q;
    r->pending++;
    r->stats.queries++;
    q->starting = true;
    ares_query(r->channel, name, 1 /* ns_c_in */, 33 /* ns_t_srv */, on_srv, q);
    q->starting = false;
    if (q->early) { /* c-ares refused it at once (out of memory, a bad name) */
        srv_unlink(q);
        free(q);
        return NULL;
    }
    arm_timer(r);
    return q;
}

void mg_resolver_srv_cancel(mg_resolver_srvq_t *q)
{
    if (q != NULL && q->cb != NULL) {
        srv_unlink(q);
        q->cb = NULL; /* c-ares still calls back once: on_srv frees it then */
    }
}

/* ---- the resolver ---- */

/* "ip:port,[ip6]:port" for c-ares, malloc'd; "" without servers. NULL when out of
 * memory. */
static char *servers_csv(const mg_resolver_conf_t *conf)
{
    size_t cap = conf->nservers * (INET6_ADDRSTRLEN + 10) + 1, len = 0;
    char *s = malloc(cap);
    if (s == NULL) {
        return NULL;
    }
    s[0] = '\0';
    for (size_t i = 0; i < conf->nservers; i++) {
        const struct sockaddr_storage *ss = &conf->servers[i].sa;
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned port;
        if (ss->ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            port = ntohs(s6->sin6_port);
        } else {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            port = ntohs(s4->sin_port);
        }
        len += (size_t)snprintf(s + len, cap - len,
                                ss->ss_family == AF_INET6 ? "%s[%s]:%u" : "%s%s:%u", i ? "," : "",
                                ip, port);
    }
    return s;
}

static double timeout_of(const mg_resolver_conf_t *conf)
{
    return conf->timeout > 0 ? conf->timeout : DEFAULT_TIMEOUT;
}

bool mg_resolver_conf_same(const mg_resolver_t *r, const mg_resolver_conf_t *conf)
{
    char *csv = servers_csv(conf);
    bool same = csv != NULL && strcmp(csv, r->servers) == 0 && r->valid == conf->valid &&
                r->timeout == timeout_of(conf);
    free(csv);
    return same;
}

/* c-ares tries each server ARES_TRIES times, doubling the wait each round: a third of
 * the timeout per try keeps one server's lookup within it. */
static int channel_init(mg_resolver_t *r, char *err, size_t errlen)
{
    static bool lib_ready;
    int rc;
    if (!lib_ready && (rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return MG_ERROR;
    }
    lib_ready = true;
    struct ares_options o = {
        .timeout = (int)MG_MAX(r->timeout * 1000 / 3, 100),
        .tries = ARES_TRIES,
        .sock_state_cb = on_sock_state,
        .sock_state_cb_data = r,
    };
    rc = ares_init_options(&r->channel, &o,
                           ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        r->channel = NULL;
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return MG_ERROR;
    }
    if (r->servers[0] != '\0' &&
        (rc = ares_set_servers_ports_csv(r->channel, r->servers)) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares refuses the servers \"%s\": %s", r->servers,
                 ares_strerror(rc));
        return MG_ERROR;
    }
    return MG_OK;
}

mg_resolver_t *mg_resolver_new(struct ev_loop *loop, const mg_resolver_conf_t *conf, char *err,
                               size_t errlen)
{
    mg_resolver_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->servers = servers_csv(conf)) == NULL ||
        mg_rcache_init(&r->cache, MG_RESOLVER_CACHE_MAX) != MG_OK) {
        snprintf(err, errlen, "out of memory");
        mg_resolver_free(r);
        return NULL;
    }
    r->loop = loop;
    r->valid = conf->valid;
    r->timeout = timeout_of(conf);
    ev_init(&r->timer, on_timer);
    r->timer.data = r;
    if (channel_init(r, err, errlen) != MG_OK) {
        mg_resolver_free(r);
        return NULL;
    }
    return r;
}

void mg_resolver_free(mg_resolver_t *r)
{
    if (r == NULL) {
        return;
    }
    r->freeing = true;
    for (mg_rcache_entry_t *e = r->cache.head; e != NULL; e = e->next) {
        lookup_t *lk = e->busy;
        if (lk != NULL) {
            while (lk->waiters != NULL) {
                mg_resolver_cancel(lk->waiters);
            }
            lk->e = NULL; /* its c-ares callback, from ares_destroy, frees it */
            e->busy = NULL;
        }
    }
    while (r->srvqs != NULL) {
        mg_resolver_srv_cancel(r->srvqs); /* ares_destroy below frees them */
    }
    if (r->channel != NULL) {
        ares_destroy(r->channel);
    }
    if (r->loop != NULL) {
        ev_timer_stop(r->loop, &r->timer);
    }
    while (r->nsocks > 0) {
        sock_drop(r, 0);
    }
    free(r->socks);
    mg_rcache_dispose(&r->cache);
    free(r->servers);
    free(r);
}

size_t mg_resolver_pending(const mg_resolver_t *r)
{
    return r->pending;
}

void mg_resolver_stats(const mg_resolver_t *r, mg_resolver_stats_t *out)
{
    *out = r->stats;
    out->cached = r->cache.count;
}
