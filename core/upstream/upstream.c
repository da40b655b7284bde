/*
 * upstream.c -- the per-worker runtime of one upstream: its balancer, and a pool of idle
 * keep-alive connections to its nodes.
 *
 * Idle connections hang on two lists: their node's (newest first, so the warmest socket
 * is reused) and the upstream's LRU (oldest last, evicted when the pool is full). While
 * idle, each is watched for readability, since an upstream that closes or sends
 * unsolicited bytes makes the connection unusable, and has an expiry timer set shorter
 * than typical upstream keep-alive timeouts so that we close first and rarely race with
 * the upstream's own close. A liveness probe before reuse catches what the loop has not
 * seen yet.
 *
 * With `tls:` the runtime holds the upstream's TLS client context, and each node the
 * names its handshakes use and the session its next connection resumes. A connection is
 * TLS from its creation (mg_upstream_connect); its handshake is the HTTP client's, after
 * the connect. A pooled TLS connection keeps its session: reuse needs no handshake.
 */
#include "upstream.h"

#include "upstream_int.h"

#include "conf.h"
#include "gen.h"
#include "log.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- TLS names ---- */

/* The host of "host:port", "[v6]:port" or a bare host, as written. NULL when out of
 * memory. */
static char *host_of(const char *text)
{
    const char *end = NULL;
    if (text[0] == '[') {
        const char *rb = strchr(text, ']');
        return rb != NULL ? strndup(text + 1, (size_t)(rb - text - 1)) : strdup(text);
    }
    const char *colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        end = colon; /* one colon: a port; more is a bare IPv6 address */
    }
    return end != NULL ? strndup(text, (size_t)(end - text)) : strdup(text);
}

static bool is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* SNI: `tls.sni`, else the host of `host:`, else the node's host name as written (never
 * an address, RFC 6066). The certificate must name the same, or the node's address
 * when there is no name (its IP SANs are checked). */
static int node_names(mg_upstream_node_t *n, const mg_upstream_conf_t *c, const char *text)
{
    char *node_host = host_of(text);
    if (node_host == NULL) {
        return MG_ERROR;
    }
    bool named = c->tls.sni != NULL || c->host != NULL || !is_ip(node_host);
    char *sni = c->tls.sni != NULL ? strdup(c->tls.sni)
                : c->host != NULL  ? host_of(c->host)
                : named            ? strdup(node_host)
                                   : NULL;
    if (named && sni == NULL) {
        free(node_host);
        return MG_ERROR;
    }
    if (named) {
        n->tls_sni = sni; /* also the name verified */
        free(node_host);
    } else {
        n->tls_verify_name = node_host;
    }
    return MG_OK;
}

/* The client context and the nodes' names, for an upstream with `tls:`. */
static int tls_setup(mg_upstream_t *u, const mg_upstream_conf_t *c)
{
    mg_conf_err_t err;
    u->tls = mg_tls_client_new(NULL, &c->tls, &err);
    if (u->tls == NULL) {
        mg_log_err("upstream \"%s\": tls: %s", c->name, err.msg);
        return MG_ERROR;
    }
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        if (node_names(&u->nodes[i], c, mg_upstream_node_host(u, (int)i)) != MG_OK) {
            mg_log_err("upstream \"%s\": out of memory", c->name);
            return MG_ERROR;
        }
    }
    return MG_OK;
}

/* Frees what tls_setup() made. Every connection to the nodes is closed by now: the
 * sessions' slots go with them. */
static void node_tls_dispose(mg_upstream_node_t *n)
{
    mg_tls_session_slot_clear(&n->tls_session);
    free(n->tls_sni);
    free(n->tls_verify_name);
    n->tls_sni = n->tls_verify_name = NULL;
}

static void tls_dispose(mg_upstream_t *u, size_t nnodes)
{
    for (size_t i = 0; i < nnodes; i++) {
        node_tls_dispose(&u->nodes[i]);
    }
    mg_tls_client_free(u->tls);
    u->tls = NULL;
}

void mg_upstream_node_tls(const mg_upstream_t *u, int node, mg_upstream_tls_t *tls)
{
    mg_upstream_node_t *n = &u->nodes[node];
    tls->client = u->tls;
    tls->sni = n->tls_sni;
    tls->verify_name = n->tls_verify_name;
    tls->slot = &n->tls_session;
}

int mg_upstream_conn_tls(mg_upstream_conn_t *c, const mg_upstream_tls_t *tls)
{
    if (tls == NULL || tls->client == NULL) {
        return MG_OK;
    }
    if (mg_transport_init_tls_client(&c->tp, c->fd, tls->client, tls->sni, tls->verify_name,
                                     tls->slot) != MG_OK) {
        mg_transport_init_plain(&c->tp, c->fd); /* the fd was not taken */
        return -ENOMEM;
    }
    return MG_OK;
}

/* ---- the runtime ---- */

/* The shared slots of u's nodes and the balancer over them. */
static int nodes_init(mg_upstream_t *u)
{
    const mg_upstream_conf_t *c = u->conf;
    for (size_t i = 0; i < c->nnodes; i++) {
        u->nodes[i].state = mg_nodestate_node(c->name, c->nodes[i].addr.text);
    }
    return mg__upstream_rebalance(u);
}

int mg__upstream_rebalance(mg_upstream_t *u)
{
    const mg_upstream_conf_t *c = u->conf;
    mg_node_state_t **states = calloc(c->nnodes ? c->nnodes : 1, sizeof(*states));
    if (states == NULL) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        states[i] = u->nodes[i].state;
    }
    mg_balancer_t b;
    int rc = mg_balancer_init(&b, c, states);
    free(states); /* the balancer keeps the slots, not the array */
    if (rc == MG_OK) {
        mg_balancer_dispose(&u->balancer);
        u->balancer = b;
    }
    return rc;
}

static void nodes_dispose(mg_upstream_t *u)
{
    for (size_t i = 0; i < u->conf->nnodes; i++) {
        mg_nodestate_release(u->nodes[i].state);
        free(u->nodes[i].host);
    }
}

mg_upstream_t *mg_upstream_create(mg_worker_t *w, const mg_upstream_conf_t *c)
{
    mg_upstream_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return NULL;
    }
    size_t cap = c->dynamic ? MG_UPSTREAM_MAX_NODES : c->nnodes;
    u->nodes = calloc(cap ? cap : 1, sizeof(*u->nodes));
    u->conf = c;
    u->state = mg_nodestate_upstream(c->name);
    if (u->nodes == NULL || (c->dynamic && mg__upstream_dns_create(u, c) != MG_OK) ||
        nodes_init(u) != MG_OK) {
        goto fail;
    }
    const mg_health_conf_t *h = &c->health;
    double qt = h->queue_timeout > 0 ? h->queue_timeout : c->connect_timeout > 0 ? c->connect_timeout : 3.;
    if (mg_upstream_queue_init(&u->queue, cap, u->state, h->max_pending, qt) != MG_OK) {
        mg_balancer_dispose(&u->balancer);
        goto fail;
    }
    if (c->tls.on && tls_setup(u, c) != MG_OK) {
        tls_dispose(u, u->conf->nnodes);
        mg_upstream_queue_dispose(&u->queue);
        mg_balancer_dispose(&u->balancer);
        goto fail;
    }
    if (w != NULL) {
        mg_upstream_bind(u, w);
    }
    return u;
fail:
    if (u->nodes != NULL) {
        nodes_dispose(u);
    }
    mg__upstream_dns_destroy(u);
    mg_nodestate_release(u->state);
    free(u->nodes);
    free(u);
    return NULL;
}

bool mg_upstream_current(const mg_upstream_t *u)
{
    const mg_worker_t *w = u->worker;
    if (w == NULL || w->draining || w->gen == NULL) {
        return false;
    }
    const mg_gen_t *g = w->gen;
    size_t i = (size_t)u->conf->index;
    return i < g->conf->nupstreams && g->upstreams != NULL && g->upstreams[i] == u;
}

void mg_upstream_bind(mg_upstream_t *u, mg_worker_t *w)
{
    u->worker = w;
    u->loop = w->loop;
    mg_upstream_queue_bind(&u->queue, w->loop);
    mg_health_start(u);
    mg__upstream_dns_start(u);
}

/* c's connect is over: its node may start another one. */
static void uncount_connecting(mg_upstream_conn_t *c)
{
    if (c->connecting) {
        c->connecting = false;
        c->up->nodes[c->node].connecting--;
    }
}

static void conn_close(mg_upstream_conn_t *c)
{
    /* TLS ends with a close_notify: the peer sees an orderly end, and OpenSSL keeps the
     * session resumable (it spoils the session of a connection freed without one) */
    if (mg_transport_is_tls(&c->tp)) {
        (void)mg_transport_shutdown(&c->tp);
    }
    mg_transport_close(&c->tp);
    if (c->up != NULL) {
        uncount_connecting(c);
        mg_health_conn_closed(c->up, c->node);
        mg_upstream_queue_kick(&c->up->queue); /* a slot under max_connections is free */
        c->up->nodes[c->node].refs--;
    }
    free(c);
}

/* Unlinks an idle connection from both lists and stops its watchers. */
static void idle_unlink(mg_upstream_conn_t *c)
{
    mg_upstream_t *u = c->up;
    mg_upstream_node_t *n = &u->nodes[c->node];

    if (c->node_prev != NULL) {
        c->node_prev->node_next = c->node_next;
    } else {
        n->idle = c->node_next;
    }
    if (c->node_next != NULL) {
        c->node_next->node_prev = c->node_prev;
    }
    if (c->lru_prev != NULL) {
        c->lru_prev->lru_next = c->lru_next;
    } else {
        u->lru_head = c->lru_next;
    }
    if (c->lru_next != NULL) {
        c->lru_next->lru_prev = c->lru_prev;
    } else {
        u->lru_tail = c->lru_prev;
    }
    c->node_prev = c->node_next = c->lru_prev = c->lru_next = NULL;
    u->nidle--;
    if (u->loop != NULL) {
        ev_ref(u->loop);
        ev_ref(u->loop);
        ev_io_stop(u->loop, &c->io);
        ev_timer_stop(u->loop, &c->idle_timer);
    }
}

void mg_upstream_destroy(mg_upstream_t *u)
{
    if (u == NULL) {
        return;
    }
    mg_health_stop(u);
    mg_upstream_queue_dispose(&u->queue); /* before the closes below, which kick it */
    while (mg_upstream_evict_idle(u)) {
    }
    tls_dispose(u, u->conf->nnodes);
    mg_balancer_dispose(&u->balancer);
    nodes_dispose(u);
    mg__upstream_dns_destroy(u);
    mg_nodestate_release(u->state);
    free(u->nodes);
    free(u);
}

/* TLS: bytes on the socket may be a record without data (a late session ticket, a key
 * update) and OpenSSL may hold a record the socket no longer shows, so the socket
 * cannot tell; the record layer can. Alive when it has nothing for us: no data, no
 * close_notify, no error, and nothing to write first. */
static bool tls_alive(mg_upstream_conn_t *c)
{
    char b;
    return mg_transport_read(&c->tp, &b, 1) == -EAGAIN && c->tp.want == EV_READ;
}

/* An idle connection became readable: the upstream closed it or sent bytes nobody
 * asked for. Either way it cannot carry another request, unless TLS says the bytes
 * were its own business. */
static void on_idle_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    mg_upstream_conn_t *c = (mg_upstream_conn_t *)w;
    if (mg_transport_is_tls(&c->tp) && tls_alive(c)) {
        return;
    }
    idle_unlink(c);
    conn_close(c);
}

static void on_idle_expired(struct ev_loop *loop, ev_timer *w, int revents)
{
    mg_upstream_conn_t *c = w->data;
    idle_unlink(c);
    conn_close(c);
}

/* True when nothing is waiting on the connection: no EOF, no stray bytes, no error. */
static bool conn_alive(mg_upstream_conn_t *c)
{
    if (mg_transport_is_tls(&c->tp)) {
        return tls_alive(c);
    }
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

mg_upstream_conn_t *mg_upstream_acquire(mg_upstream_t *u, int node)
{
    if (node < 0 || (size_t)node >= u->conf->nnodes) {
        return NULL;
    }
    while (u->nodes[node].idle != NULL) {
        mg_upstream_conn_t *c = u->nodes[node].idle;
        idle_unlink(c);
        /* The idle watcher already closed any connection whose EOF came before this
         * loop iteration's poll; a probe only adds the EOF that arrives during it. That
         * matters for connections idle long enough to meet the upstream's keep-alive
         * timeout, so younger ones skip the syscall (the fresh-socket retry covers the
         * rest). */
        if (ev_now(u->loop) - c->idle_since < MG_UPSTREAM_PROBE_AFTER || conn_alive(c)) {
            c->reused = true;
            return c;
        }
        conn_close(c);
    }
    return NULL;
}

/* ---- keyed pools ---- */

struct mg_upstream_kpool_s {
    struct ev_loop *loop;
    mg_upstream_conn_t *head; /* newest idle first, linked by lru_* */
    mg_upstream_conn_t *tail;
    size_t n, max;
};

static void kpool_unlink(mg_upstream_conn_t *c)
{
    mg_upstream_kpool_t *p = c->kpool;
    if (c->lru_prev != NULL) {
        c->lru_prev->lru_next = c->lru_next;
    } else {
        p->head = c->lru_next;
    }
    if (c->lru_next != NULL) {
        c->lru_next->lru_prev = c->lru_prev;
    } else {
        p->tail = c->lru_prev;
    }
    c->lru_prev = c->lru_next = NULL;
    p->n--;
    ev_ref(p->loop);
    ev_ref(p->loop);
    ev_io_stop(p->loop, &c->io);
    ev_timer_stop(p->loop, &c->idle_timer);
    free(c->kkey);
    c->kkey = NULL;
    c->kpool = NULL;
}

static void on_kidle_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    mg_upstream_conn_t *c = (mg_upstream_conn_t *)w;
    if (mg_transport_is_tls(&c->tp) && tls_alive(c)) {
        return;
    }
    kpool_unlink(c);
    conn_close(c);
}

static void on_kidle_expired(struct ev_loop *loop, ev_timer *w, int revents)
{
    mg_upstream_conn_t *c = w->data;
    kpool_unlink(c);
    conn_close(c);
}

mg_upstream_kpool_t *mg_upstream_kpool_create(struct ev_loop *loop, size_t max_idle)
{
    mg_upstream_kpool_t *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->loop = loop;
        p->max = max_idle;
    }
    return p;
}

void mg_upstream_kpool_destroy(mg_upstream_kpool_t *p)
{
    if (p == NULL) {
        return;
    }
    while (p->head != NULL) {
        mg_upstream_conn_t *c = p->head;
        kpool_unlink(c);
        conn_close(c);
    }
    free(p);
}

size_t mg_upstream_kpool_count(const mg_upstream_kpool_t *p)
{
    return p != NULL ? p->n : 0;
}

mg_upstream_conn_t *mg_upstream_kpool_acquire(mg_upstream_kpool_t *p, const char *key)
{
    mg_upstream_conn_t *c = p->head;
    while (c != NULL) {
        mg_upstream_conn_t *next = c->lru_next;
        if (strcmp(c->kkey, key) == 0) {
            double idle = ev_now(p->loop) - c->idle_since;
            kpool_unlink(c);
            /* as mg_upstream_acquire: young ones skip the probe */
            if (idle < MG_UPSTREAM_PROBE_AFTER || conn_alive(c)) {
                c->reused = true;
                return c;
            }
            conn_close(c);
        }
        c = next;
    }
    return NULL;
}

void mg_upstream_kpool_put(mg_upstream_kpool_t *p, mg_upstream_conn_t *c, const char *key,
                           double timeout, size_t per_key)
{
    if (p == NULL || p->max == 0 || per_key == 0 || timeout <= 0 || c->up != NULL ||
        (c->kkey = strdup(key)) == NULL) {
        conn_close(c);
        return;
    }
    /* room under the key: its oldest goes */
    size_t same = 0;
    mg_upstream_conn_t *oldest = NULL;
    for (mg_upstream_conn_t *x = p->head; x != NULL; x = x->lru_next) {
        if (strcmp(x->kkey, key) == 0) {
            same++;
            oldest = x;
        }
    }
    if (same >= per_key && oldest != NULL) {
        kpool_unlink(oldest);
        conn_close(oldest);
    }
    if (p->n >= p->max && p->tail != NULL) {
        mg_upstream_conn_t *old = p->tail;
        kpool_unlink(old);
        conn_close(old);
    }
    c->kpool = p;
    c->idle_since = ev_now(p->loop);
    c->lru_prev = NULL;
    c->lru_next = p->head;
    if (p->head != NULL) {
        p->head->lru_prev = c;
    } else {
        p->tail = c;
    }
    p->head = c;
    p->n++;
    ev_set_cb(&c->io, on_kidle_readable);
    ev_io_modify(&c->io, EV_READ);
    ev_io_start(p->loop, &c->io);
    ev_set_cb(&c->idle_timer, on_kidle_expired);
    ev_timer_set(&c->idle_timer, timeout, 0.);
    ev_timer_start(p->loop, &c->idle_timer);
    ev_unref(p->loop);
    ev_unref(p->loop);
}

int mg_upstream_open(const struct sockaddr *sa, socklen_t salen, mg_upstream_conn_t **out)
{
    *out = NULL;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    int rc;
    do {
        rc = connect(fd, sa, salen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        return -err;
    }

    mg_upstream_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    mg_transport_init_plain(&c->tp, fd);
    c->node = -1;
    ev_io_init(&c->io, on_idle_readable, fd, EV_READ);
    ev_timer_init(&c->idle_timer, on_idle_expired, 0., 0.);
    c->idle_timer.data = c;
    *out = c;
    return rc == 0 ? MG_OK : MG_AGAIN;
}

int mg_upstream_connect(mg_upstream_t *u, int node, mg_upstream_conn_t **out)
{
    const mg_addr_t *a = &u->conf->nodes[node].addr;
    int pace = u->conf->health.max_connecting;
    *out = NULL;

    if (pace > 0 && u->nodes[node].connecting >= pace) {
        return -EALREADY;
    }
    if (!mg_health_conn_open(u, node)) {
        return -EBUSY;
    }
    int rc = mg_upstream_open((const struct sockaddr *)&a->sa, a->salen, out);
    if (rc != MG_OK && rc != MG_AGAIN) {
        mg_health_conn_closed(u, node);
        return rc;
    }
    (*out)->node = node;
    (*out)->up = u;
    if (rc == MG_AGAIN) {
        (*out)->connecting = true;
        u->nodes[node].connecting++;
    }
    u->nodes[node].refs++;
    if (u->tls != NULL) {
        mg_upstream_tls_t tls;
        mg_upstream_node_tls(u, node, &tls);
        if (mg_upstream_conn_tls(*out, &tls) != MG_OK) {
            mg_upstream_release(*out, false);
            *out = NULL;
            return -ENOMEM;
        }
    }
    return rc;
}

void mg_upstream_connected(mg_upstream_conn_t *c)
{
    if (c->up != NULL && c->connecting) {
        uncount_connecting(c);
        mg_upstream_queue_kick(&c->up->queue);
    }
}

int mg_upstream_connect_result(mg_upstream_conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return -errno;
    }
    return -err;
}

/* At max_connections, requests of other workers (or of another generation) wait for a
 * slot that an idle connection here would hold for nothing: nobody here waits. */
static bool others_wait(const mg_upstream_t *u)
{
    return u->conf->health.max_connections > 0 && u->queue.len == 0 &&
           atomic_load_explicit(&u->state->pending, memory_order_relaxed) > 0;
}

void mg_upstream_release(mg_upstream_conn_t *c, bool keep)
{
    if (c == NULL) {
        return;
    }
    mg_upstream_t *u = c->up;
    if (u == NULL) {
        conn_close(c); /* a connection of its own (mg_upstream_open) */
        return;
    }
    const mg_upstream_conf_t *conf = u->conf;
    /* a draining worker takes no new request: nothing would reuse it, and it holds an fd
     * and the upstream's slot for as long as the drain lasts */
    bool draining = u->worker != NULL && u->worker->draining;

    if (!keep || draining || conf->keepalive <= 0 || u->loop == NULL ||
        mg_upstream_node_gone(u, c->node) ||
        (conf->keepalive_requests > 0 && c->requests >= (unsigned)conf->keepalive_requests) ||
        others_wait(u)) {
        conn_close(c);
        /* an older generation's pool, which the drain's start did not reach */
        while (draining && mg_upstream_evict_idle(u)) {
        }
        return;
    }
    if (u->nidle >= (size_t)conf->keepalive + u->queue.len) {
        mg_upstream_conn_t *old = u->lru_tail;
        idle_unlink(old);
        conn_close(old);
    }

    mg_upstream_node_t *n = &u->nodes[c->node];
    c->idle_since = ev_now(u->loop);
    c->node_prev = NULL;
    c->node_next = n->idle;
    if (n->idle != NULL) {
        n->idle->node_prev = c;
    }
    n->idle = c;
    c->lru_prev = NULL;
    c->lru_next = u->lru_head;
    if (u->lru_head != NULL) {
        u->lru_head->lru_prev = c;
    } else {
        u->lru_tail = c;
    }
    u->lru_head = c;
    u->nidle++;

    ev_set_cb(&c->io, on_idle_readable); /* same fd: ev_io_init would force an epoll_ctl */
    ev_io_modify(&c->io, EV_READ);
    ev_io_start(u->loop, &c->io);
    ev_timer_set(&c->idle_timer, conf->keepalive_timeout > 0 ? conf->keepalive_timeout : 10., 0.);
    ev_timer_start(u->loop, &c->idle_timer);
    /* idle connections must not keep a draining worker's loop alive */
    ev_unref(u->loop);
    ev_unref(u->loop);
    mg_upstream_queue_kick(&u->queue); /* the head of the queue may take it */
}

void mg_upstream_try_begin(mg_upstream_t *u, int node)
{
    mg_node_state_t *st = u->nodes[node].state;
    u->nodes[node].refs++;
    atomic_fetch_add_explicit(&st->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
}

void mg_upstream_try_end(mg_upstream_t *u, int node, bool failed, double seconds_to_head)
{
    mg_node_state_t *st = u->nodes[node].state;
    u->nodes[node].refs--;
    atomic_fetch_sub_explicit(&st->inflight, 1, memory_order_relaxed);
    if (failed) {
        atomic_fetch_add_explicit(&st->failures, 1, memory_order_relaxed);
    }
    if (failed || seconds_to_head >= 0) {
        mg_balancer_observe(&u->balancer, node, failed, seconds_to_head < 0 ? 0 : seconds_to_head);
    }
}

bool mg_upstream_evict_idle(mg_upstream_t *u)
{
    mg_upstream_conn_t *old = u->lru_tail;
    if (old == NULL) {
        return false;
    }
    idle_unlink(old);
    conn_close(old);
    return true;
}

const char *mg_upstream_node_addr(const mg_upstream_t *u, int node)
{
    return u->conf->nodes[node].addr.text;
}

const char *mg_upstream_node_host(const mg_upstream_t *u, int node)
{
    const char *h = u->nodes[node].host;
    return h != NULL ? h : u->conf->nodes[node].addr.text;
}

/* ---- nodes from DNS (upstream_dns.c decides, these apply) ---- */

int mg__upstream_node_take(mg_upstream_t *u, int i, const char *host)
{
    mg_upstream_node_t *n = &u->nodes[i];
    char *h = strdup(host);
    if (h == NULL) {
        return MG_ERROR;
    }
    free(n->host);
    n->host = h;
    mg_nodestate_release(n->state);
    n->state = mg_nodestate_node(u->conf->name, u->conf->nodes[i].addr.text);
    if (u->tls != NULL) {
        node_tls_dispose(n); /* nothing uses it: refs was 0, or it is the same address */
        if (node_names(n, u->conf, host) != MG_OK) {
            return MG_ERROR;
        }
    }
    u->gone[i >> 6] &= ~((uint64_t)1 << (i & 63));
    return MG_OK;
}

void mg__upstream_node_gone(mg_upstream_t *u, int i)
{
    u->gone[i >> 6] |= (uint64_t)1 << (i & 63);
    while (u->nodes[i].idle != NULL) {
        mg_upstream_conn_t *c = u->nodes[i].idle;
        idle_unlink(c);
        conn_close(c);
    }
}
