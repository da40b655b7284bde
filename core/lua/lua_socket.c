/*
 * lua_socket.c -- mg.socket.tcp: a cosocket, OpenResty's ngx.socket.tcp on the
 * worker's loop. A plugin connects (an address, a name through the worker's resolver,
 * or unix:/path), may speak TLS over it, sends and receives, and gives the connection
 * back to a per-worker keep-alive pool or closes it.
 *
 *   Lua (lua/moongate/socket.lua)            here
 *   sock:op(...) ─ mg_lua_sock_<op>(t, h) ─┬─ done now: MG_OK / a count / MG_ERROR
 *        ▲                                 └─ MG_AGAIN: io + timer armed, t->wait set
 *        └── core.wait() ── resumed by on_io / on_timer / on_resolved ── calls again
 *
 * Every operation is called again after each wake until it stops answering MG_AGAIN:
 * the callbacks only note what happened (readable, timed out, resolved) and resume the
 * task; the work is done in the call, inside the plugin's run. One operation at a time
 * per socket, with one deadline from its first call (connect, send and read timeouts).
 *
 * Ownership. A socket belongs to the task that made it: Lua holds a handle (a slot
 * index and a serial number), never a pointer, and each call checks that the slot
 * still holds that socket and that the caller is its task. When the task is released
 * (its request ended, the client left mid-wait, the timer run is over) every socket
 * it still holds is closed: no watcher survives to resume a dead coroutine.
 *
 * The pool. setkeepalive moves the connection (its transport, TLS included, and how
 * often it was reused) into the pool named at connect (default "host:port"), newest
 * first, at most pool_size per name: the oldest goes when a newer one comes. A pooled
 * connection is watched: one the peer closes or sends to is dropped at once, and its
 * idle timer drops it too. connect takes the newest one of its pool. Pools belong to
 * the worker, not to a generation: a connection is only a descriptor (and a TLS state
 * on the worker's own client contexts), so reloads share them safely.
 *
 * Bounds: MG_LUA_SOCKETS_MAX sockets and pooled connections per worker; a line or a
 * receiveuntil looks through MG_LUA_SOCK_LINE_MAX bytes at most, and a receive keeps
 * MG_LUA_SOCK_DATA_MAX bytes at most.
 */
#include "lua_int.h"

#include "log.h"
#include "lua_ffi.h"
#include "lua_socket.h"
#include "resolver.h"
#include "tls.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SLOT_BITS 12
#define SLOT_MASK ((1 << SLOT_BITS) - 1)
_Static_assert(MG_LUA_SOCKETS_MAX <= (1 << SLOT_BITS), "a handle's slot bits hold every slot");

enum { OP_NONE = 0, OP_CONNECT, OP_TLS, OP_SEND, OP_RECV };

typedef struct pooled_s pooled_t;
typedef struct pool_s pool_t;

typedef struct mg_lua_sock_s {
    mg_lua_task_t *t; /* the owner */
    struct mg_lua_sock_s *next, **prevp; /* the owner's list */
    int handle;
    mg_transport_t tp; /* fd -1 while not connected */
    ev_io io;
    ev_timer tm;
    int op;         /* the operation in progress */
    bool timedout;  /* its deadline passed */
    bool tls;       /* tp is TLS */
    bool eof;       /* the peer closed (reads) */
    int reused;     /* times this connection came from the pool */
    double timeout[3]; /* connect, send, read (s) */
    /* connect */
    mg_resolver_query_t *rq;
    bool resolving, connecting;
    struct sockaddr_storage addr;
    socklen_t alen;
    const char *rerr; /* the lookup's error */
    char host[MG_RESOLVER_NAME_MAX + 2];
    char *pool_name; /* malloc'd */
    int pool_size;
    /* reads: rbuf[rpos..rlen) not consumed yet */
    char *rbuf;
    size_t rpos, rlen, rcap;
    /* a send in progress: wbuf[woff..wlen) left to write */
    char *wbuf;
    size_t woff, wlen, wtotal;
} lsock_t;

struct pooled_s {
    pooled_t *next, *prev; /* newest first */
    pool_t *pool;
    mg_transport_t tp;
    bool tls;
    int reused;
    ev_io io;
    ev_timer idle;
};

struct pool_s {
    pool_t *next;
    pooled_t *head, *tail;
    int n;
    char name[];
};

static struct ev_loop *loop;
static lsock_t *slots[MG_LUA_SOCKETS_MAX];
static uint32_t serials[MG_LUA_SOCKETS_MAX];
static int nslots; /* slots in use */
static int npooled;
static pool_t *pools;
static mg_worker_stats_t *stats;

static const char ERR_FOREIGN[] = "socket used outside the request or timer that made it";

static void publish(void)
{
    if (stats != NULL) {
        __atomic_store_n(&stats->sockets_open, (uint64_t)nslots, __ATOMIC_RELAXED);
        __atomic_store_n(&stats->sockets_pooled, (uint64_t)npooled, __ATOMIC_RELAXED);
    }
}

/* ---- waiting ---- */

/* The operation's wait ended (ready or timed out): resume the plugin, from the loop. */
static void wake(lsock_t *s)
{
    ev_io_stop(loop, &s->io);
    mg_lua_task_t *t = s->t;
    if (t->wait == MG_WAIT_SOCKET) {
        t->wait = MG_WAIT_NONE;
        mg__lua_task_resume(t); /* may end the task and free s */
    }
}

static void on_io(struct ev_loop *l, ev_io *w, int revents)
{
    wake(w->data);
}

static void on_timer(struct ev_loop *l, ev_timer *w, int revents)
{
    lsock_t *s = w->data;
    s->timedout = true;
    wake(s);
}

/* Waits for `events` on the socket (0: only for the timer) within the operation's
 * deadline, armed at its first wait: MG_AGAIN for the Lua side to yield. */
static int wait_for(lsock_t *s, int events, double timeout)
{
    ev_io_stop(loop, &s->io);
    if (events != 0) {
        ev_io_set(&s->io, s->tp.fd, events);
        ev_io_start(loop, &s->io);
    }
    if (!ev_is_active(&s->tm) && timeout > 0) {
        ev_now_update(loop);
        ev_timer_set(&s->tm, timeout, 0.);
        ev_timer_start(loop, &s->tm);
    }
    s->t->wait = MG_WAIT_SOCKET;
    return MG_AGAIN;
}

static void op_end(lsock_t *s)
{
    ev_io_stop(loop, &s->io);
    ev_timer_stop(loop, &s->tm);
    s->op = OP_NONE;
    s->timedout = false;
}

/* ---- the connection ---- */

static void conn_close(lsock_t *s)
{
    op_end(s);
    mg_resolver_cancel(s->rq);
    s->rq = NULL;
    s->resolving = s->connecting = false;
    mg_transport_close(&s->tp);
    s->tp.fd = -1;
    s->tls = false;
    s->eof = false;
    s->reused = 0;
    s->rpos = s->rlen = 0;
    s->woff = s->wlen = 0;
}

static void sock_free(lsock_t *s)
{
    conn_close(s);
    int idx = s->handle & SLOT_MASK;
    slots[idx] = NULL;
    nslots--;
    *s->prevp = s->next;
    if (s->next != NULL) {
        s->next->prevp = s->prevp;
    }
    free(s->pool_name);
    free(s->rbuf);
    free(s->wbuf);
    free(s);
    publish();
}

void mg__lua_sockets_release(mg_lua_task_t *t)
{
    while (t->socks != NULL) {
        sock_free(t->socks);
    }
}

static lsock_t *lookup(mg_lua_task_t *t, int h, const char **err)
{
    int idx = h & SLOT_MASK;
    lsock_t *s = h > 0 && idx < MG_LUA_SOCKETS_MAX ? slots[idx] : NULL;
    if (s == NULL || s->handle != h) {
        *err = "closed";
        return NULL;
    }
    if (s->t != t) {
        *err = ERR_FOREIGN;
        return NULL;
    }
    return s;
}

int mg_lua_sock_new(mg_lua_task_t *t, const char **err)
{
    mg_worker_t *w = t->lua->w;
    if (w == NULL) {
        *err = "no event loop";
        return 0;
    }
    loop = w->loop;
    stats = w->stats;
    if (nslots + npooled >= MG_LUA_SOCKETS_MAX) {
        *err = "too many open sockets";
        return 0;
    }
    int idx = 0;
    while (slots[idx] != NULL) {
        idx++;
    }
    lsock_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        *err = "out of memory";
        return 0;
    }
    serials[idx] = (serials[idx] + 1) & ((1u << (30 - SLOT_BITS)) - 1);
    if (serials[idx] == 0) {
        serials[idx] = 1;
    }
    s->handle = (int)(serials[idx] << SLOT_BITS) | idx;
    s->t = t;
    s->tp.fd = -1;
    s->timeout[0] = s->timeout[1] = s->timeout[2] = 60.;
    ev_init(&s->io, on_io);
    s->io.data = s;
    ev_init(&s->tm, on_timer);
    s->tm.data = s;
    s->next = t->socks;
    if (s->next != NULL) {
        s->next->prevp = &s->next;
    }
    s->prevp = &t->socks;
    t->socks = s;
    slots[idx] = s;
    nslots++;
    publish();
    return s->handle;
}

int mg_lua_sock_timeouts(mg_lua_task_t *t, int h, double connect, double send, double read)
{
    const char *err;
    lsock_t *s = lookup(t, h, &err);
    if (s == NULL) {
        return err == ERR_FOREIGN ? MG_DECLINED : MG_ERROR;
    }
    double v[3] = {connect, send, read};
    for (int i = 0; i < 3; i++) {
        if (v[i] >= 0) {
            s->timeout[i] = v[i];
        }
    }
    return MG_OK;
}

/* ---- the pool ---- */

static pool_t *pool_find(const char *name, bool make)
{
    for (pool_t *p = pools; p != NULL; p = p->next) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    if (!make) {
        return NULL;
    }
    size_t len = strlen(name);
    pool_t *p = calloc(1, sizeof(*p) + len + 1);
    if (p != NULL) {
        memcpy(p->name, name, len + 1);
        p->next = pools;
        pools = p;
    }
    return p;
}

/* Takes e out of its pool (its transport stays with the caller); frees an empty pool. */
static void pooled_unlink(pooled_t *e)
{
    pool_t *p = e->pool;
    ev_io_stop(loop, &e->io);
    ev_timer_stop(loop, &e->idle);
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        p->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        p->tail = e->prev;
    }
    npooled--;
    if (--p->n == 0) {
        for (pool_t **pp = &pools; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
        free(p);
    }
    publish();
}

static void pooled_drop(pooled_t *e)
{
    pooled_unlink(e);
    mg_transport_close(&e->tp);
    free(e);
}

/* Whether an idle connection is still usable: NULL when there is nothing to read and
 * it is not closed, else why not. A TLS read also takes in what the server may send
 * unasked (TLS 1.3 session tickets). */
static const char *idle_check(mg_transport_t *tp)
{
    char c;
    ssize_t n = mg_transport_read(tp, &c, 1);
    return n == -EAGAIN ? NULL : n > 0 ? "unread data in buffer" : "closed";
}

static bool idle_alive(mg_transport_t *tp)
{
    return idle_check(tp) == NULL;
}

static void on_pooled_io(struct ev_loop *l, ev_io *w, int revents)
{
    pooled_t *e = w->data;
    if (!idle_alive(&e->tp)) {
        pooled_drop(e);
    } else if (e->tp.want != 0 && e->tp.want != EV_READ) {
        ev_io_stop(loop, &e->io);
        ev_io_set(&e->io, e->tp.fd, e->tp.want);
        ev_io_start(loop, &e->io);
    }
}

static void on_pooled_idle(struct ev_loop *l, ev_timer *w, int revents)
{
    pooled_drop(w->data);
}

/* The newest live connection of pool `name`, moved into s; false when there is none. */
static bool pool_take(lsock_t *s, const char *name)
{
    pool_t *p = pool_find(name, false);
    while (p != NULL && p->head != NULL) {
        pooled_t *e = p->head;
        bool last = p->n == 1;
        if (!idle_alive(&e->tp)) {
            pooled_drop(e);
            if (last) {
                return false; /* the pool went with it */
            }
            continue;
        }
        pooled_unlink(e);
        s->tp = e->tp;
        s->tls = e->tls;
        s->reused = e->reused + 1;
        free(e);
        return true;
    }
    return false;
}

/* Moves s's connection into its pool (s is left unconnected). MG_OK or MG_ERROR. */
static int pool_put(lsock_t *s, double idle, int size)
{
    pool_t *p = pool_find(s->pool_name, true);
    pooled_t *e = calloc(1, sizeof(*e));
    if (p == NULL || e == NULL) {
        free(e);
        if (p != NULL && p->n == 0) {
            pools = p->next; /* just made: first in the list */
            free(p);
        }
        return MG_ERROR;
    }
    e->pool = p;
    e->tp = s->tp;
    e->tls = s->tls;
    e->reused = s->reused;
    s->tp.fd = -1;
    s->tls = false;
    e->next = p->head;
    if (p->head != NULL) {
        p->head->prev = e;
    } else {
        p->tail = e;
    }
    p->head = e;
    p->n++;
    npooled++;
    ev_io_init(&e->io, on_pooled_io, e->tp.fd, EV_READ);
    e->io.data = e;
    ev_io_start(loop, &e->io);
    ev_init(&e->idle, on_pooled_idle);
    e->idle.data = e;
    if (idle > 0) {
        ev_timer_set(&e->idle, idle, 0.);
        ev_timer_start(loop, &e->idle);
    }
    while (p->n > size) {
        pooled_drop(p->tail); /* the pool holds at least e: it stays */
    }
    publish();
    return MG_OK;
}

int mg_lua_sock_keepalive(mg_lua_task_t *t, int h, double idle, int size, const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->tp.fd < 0 || s->op != OP_NONE || s->eof) {
        *err = s->op != OP_NONE ? "socket busy" : "closed";
        conn_close(s);
        return MG_ERROR;
    }
    if (s->rlen > s->rpos) {
        *err = "unread data in buffer";
        conn_close(s);
        return MG_ERROR;
    }
    if (size <= 0) {
        size = s->pool_size > 0 ? s->pool_size : 30;
    }
    if ((*err = idle_check(&s->tp)) != NULL || pool_put(s, idle, size) != MG_OK) {
        if (*err == NULL) {
            *err = "out of memory";
        }
        conn_close(s);
        return MG_ERROR;
    }
    conn_close(s);
    return MG_OK;
}

/* ---- connect ---- */

static void on_resolved(void *arg, const mg_resolver_answer_t *a)
{
    lsock_t *s = arg;
    s->rq = NULL;
    s->resolving = false;
    if (a->naddrs == 0) {
        s->rerr = a->err != NULL ? a->err : "host not found";
    } else {
        s->addr = a->addrs[0];
        s->alen = s->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    }
    wake(s);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    } else if (ss->ss_family == AF_INET) {
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    }
}

static const char *connect_error(int e)
{
    return e == ECONNREFUSED ? "connection refused" : strerror(e);
}

/* Opens the socket and starts connecting to s->addr: MG_OK (connected), MG_AGAIN,
 * MG_ERROR (*err). */
static int connect_start(lsock_t *s, const char **err)
{
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = strerror(errno);
        return MG_ERROR;
    }
    if (s->addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    mg_transport_init_plain(&s->tp, fd);
    if (connect(fd, (struct sockaddr *)&s->addr, s->alen) == 0) {
        return MG_OK;
    }
    if (errno != EINPROGRESS && errno != EAGAIN) {
        *err = connect_error(errno);
        conn_close(s);
        return MG_ERROR;
    }
    s->connecting = true;
    return wait_for(s, EV_WRITE, s->timeout[0]);
}

/* Where to connect: a unix:/path, an address, or a name to resolve. MG_OK (s->addr
 * set), MG_AGAIN (resolving), MG_ERROR. */
static int target(lsock_t *s, const char *host, int port, const char **err)
{
    if (strncmp(host, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
        size_t len = strlen(host + 5);
        if (len == 0 || len >= sizeof(un->sun_path)) {
            *err = "bad unix socket path";
            return MG_ERROR;
        }
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, host + 5, len);
        s->alen = sizeof(*un);
        return MG_OK;
    }
    if (port <= 0 || port > 65535) {
        *err = "bad port";
        return MG_ERROR;
    }
    if (strlen(host) >= sizeof(s->host) - 1) {
        *err = "bad host";
        return MG_ERROR;
    }
    strcpy(s->host, host);
    mg_resolver_t *r = s->t->lua->w->resolver;
    mg_resolver_answer_t now;
    memset(&s->addr, 0, sizeof(s->addr));
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&s->addr)->sin_addr) == 1) {
        s->addr.ss_family = AF_INET;
        s->alen = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&s->addr)->sin6_addr) == 1) {
        s->addr.ss_family = AF_INET6;
        s->alen = sizeof(struct sockaddr_in6);
    } else if (r == NULL) {
        *err = "no resolver";
        return MG_ERROR;
    } else {
        s->rerr = NULL;
        s->rq = mg_resolver_resolve(r, host, AF_UNSPEC, s->timeout[0], on_resolved, s, &now);
        if (s->rq != NULL) {
            s->resolving = true;
            return wait_for(s, 0, s->timeout[0]);
        }
        if (now.naddrs == 0) {
            *err = now.err != NULL ? now.err : "host not found";
            return MG_ERROR;
        }
        s->addr = now.addrs[0];
        s->alen = s->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    }
    set_port(&s->addr, port);
    return MG_OK;
}

/* The first call: a pooled connection, or a new one begun. */
static int connect_begin(lsock_t *s, const char *host, int port, const char *pool, int pool_size,
                         const char **err)
{
    char name[MG_RESOLVER_NAME_MAX + 16];
    conn_close(s);
    if (pool != NULL && pool[0] != '\0') {
        snprintf(name, sizeof(name), "%s", pool);
    } else if (strncmp(host, "unix:", 5) == 0) {
        snprintf(name, sizeof(name), "%s", host);
    } else {
        snprintf(name, sizeof(name), "%s:%d", host, port);
    }
    free(s->pool_name);
    s->pool_name = strdup(name);
    s->pool_size = pool_size;
    if (s->pool_name == NULL) {
        *err = "out of memory";
        return MG_ERROR;
    }
    if (pool_take(s, name)) {
        return MG_OK;
    }
    s->op = OP_CONNECT;
    int rc = target(s, host, port, err);
    if (rc != MG_OK) {
        if (rc == MG_ERROR) {
            op_end(s);
        }
        return rc;
    }
    return connect_start(s, err);
}

/* A later call: where the lookup or the connect is. */
static int connect_step(lsock_t *s, int port, const char **err)
{
    if (s->timedout) {
        *err = "timeout";
        return MG_ERROR;
    }
    if (s->resolving) {
        return wait_for(s, 0, s->timeout[0]);
    }
    if (!s->connecting) {
        if (s->rerr != NULL) {
            *err = s->rerr;
            return MG_ERROR;
        }
        set_port(&s->addr, port); /* the lookup answered */
        return connect_start(s, err);
    }
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(s->tp.fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) {
        e = errno;
    }
    if (e == 0) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        if (getpeername(s->tp.fd, (struct sockaddr *)&peer, &pl) == 0) {
            return MG_OK;
        }
        return wait_for(s, EV_WRITE, s->timeout[0]); /* not yet */
    }
    *err = connect_error(e);
    return MG_ERROR;
}

int mg_lua_sock_connect(mg_lua_task_t *t, int h, const char *host, int port, const char *pool,
                        int pool_size, const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->op != OP_NONE && s->op != OP_CONNECT) {
        *err = "socket busy";
        return MG_ERROR;
    }
    int rc = s->op == OP_CONNECT ? connect_step(s, port, err)
                                 : connect_begin(s, host, port, pool, pool_size, err);
    if (rc == MG_OK) {
        op_end(s);
        s->connecting = false;
    } else if (rc == MG_ERROR) {
        conn_close(s);
    }
    return rc;
}

int mg_lua_sock_reused(mg_lua_task_t *t, int h)
{
    const char *err;
    lsock_t *s = lookup(t, h, &err);
    return s != NULL && s->tp.fd >= 0 ? s->reused : -1;
}

/* ---- TLS ---- */

int mg_lua_sock_tls(mg_lua_task_t *t, int h, const char *server_name, int verify,
                    const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->tp.fd < 0) {
        *err = "closed";
        return MG_ERROR;
    }
    if (s->op == OP_NONE) {
        if (s->tls) {
            return MG_OK; /* a pooled connection: its handshake was done before */
        }
        mg_tls_client_t *cl = mg__lua_tls_client(verify != 0, t->lua->w->stats);
        if (cl == NULL) {
            *err = "TLS is not available";
            return MG_ERROR;
        }
        const char *name = server_name != NULL && server_name[0] != '\0' ? server_name
                                                                         : s->host;
        int fd = s->tp.fd;
        if (mg_transport_init_tls_client(&s->tp, fd, cl, name[0] != '\0' ? name : NULL, NULL,
                                         NULL) != MG_OK) {
            *err = "out of memory";
            return MG_ERROR;
        }
        s->tls = true;
        s->op = OP_TLS;
    } else if (s->op != OP_TLS) {
        *err = "socket busy";
        return MG_ERROR;
    } else if (s->timedout) {
        *err = "timeout";
        conn_close(s);
        return MG_ERROR;
    }
    int rc = s->tp.ops->handshake(&s->tp);
    if (rc == MG_AGAIN) {
        return wait_for(s, s->tp.want != 0 ? s->tp.want : EV_READ, s->timeout[0]);
    }
    op_end(s);
    if (rc != MG_OK) {
        const char *why = mg_tls_error(&s->tp);
        static char buf[160];
        snprintf(buf, sizeof(buf), "handshake failed: %s", why != NULL ? why : "?");
        *err = buf;
        conn_close(s);
        return MG_ERROR;
    }
    return MG_OK;
}

/* ---- send ---- */

int mg_lua_sock_send(mg_lua_task_t *t, int h, const char *data, size_t len, const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->tp.fd < 0) {
        *err = "closed";
        return MG_ERROR;
    }
    if (s->op == OP_NONE) {
        if (len > INT32_MAX) {
            *err = "data too large";
            return MG_ERROR;
        }
        s->op = OP_SEND;
        s->wtotal = len;
        s->woff = 0;
        s->wlen = 0;
    } else if (s->op != OP_SEND) {
        *err = "socket busy";
        return MG_ERROR;
    } else if (s->timedout) {
        *err = "timeout";
        conn_close(s);
        return MG_ERROR;
    } else {
        data = s->wbuf;
        len = s->wlen;
    }
    while (s->woff < len) {
        ssize_t n = mg_transport_write(&s->tp, data + s->woff, len - s->woff);
        if (n == -EAGAIN) {
            if (data != s->wbuf) { /* keep what is left: the plugin's string may go */
                char *nb = malloc(len - s->woff);
                if (nb == NULL) {
                    *err = "out of memory";
                    conn_close(s);
                    return MG_ERROR;
                }
                memcpy(nb, data + s->woff, len - s->woff);
                free(s->wbuf);
                s->wbuf = nb;
                s->wlen = len - s->woff;
                s->woff = 0;
            }
            return wait_for(s, s->tp.want != 0 ? s->tp.want : EV_WRITE, s->timeout[1]);
        }
        if (n < 0) {
            *err = n == -EPIPE || n == -ECONNRESET ? "closed" : strerror((int)-n);
            conn_close(s);
            return MG_ERROR;
        }
        s->woff += (size_t)n;
    }
    op_end(s);
    free(s->wbuf);
    s->wbuf = NULL;
    s->woff = s->wlen = 0;
    return (int)s->wtotal;
}

/* ---- receive ---- */

/* Room for at least `more` bytes after rlen (consumed bytes moved out first). */
static int rbuf_room(lsock_t *s, size_t more)
{
    if (s->rpos > 0) {
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
        s->rlen -= s->rpos;
        s->rpos = 0;
    }
    if (s->rcap - s->rlen >= more) {
        return MG_OK;
    }
    size_t cap = s->rcap > 0 ? s->rcap : 4096;
    while (cap - s->rlen < more) {
        cap *= 2;
    }
    char *nb = realloc(s->rbuf, cap);
    if (nb == NULL) {
        return MG_ERROR;
    }
    s->rbuf = nb;
    s->rcap = cap;
    return MG_OK;
}

/* Reads what the socket has: MG_OK (some bytes, or the end: s->eof), MG_AGAIN,
 * MG_ERROR (*err). */
static int fill(lsock_t *s, const char **err)
{
    size_t want = 16384;
    if (s->rlen - s->rpos + want > MG_LUA_SOCK_DATA_MAX + 16384) {
        *err = "too much data";
        return MG_ERROR;
    }
    if (rbuf_room(s, want) != MG_OK) {
        *err = "out of memory";
        return MG_ERROR;
    }
    ssize_t n = mg_transport_read(&s->tp, s->rbuf + s->rlen, s->rcap - s->rlen);
    if (n == -EAGAIN) {
        return MG_AGAIN;
    }
    if (n < 0) {
        if (n != -ECONNRESET) {
            *err = strerror((int)-n);
            return MG_ERROR;
        }
        n = 0; /* a reset ends the data as a close does */
    }
    if (n == 0) {
        s->eof = true;
    }
    s->rlen += (size_t)n;
    return MG_OK;
}

/* The receive ended in an error: everything buffered goes out as the partial data
 * (rbuf stays allocated: the view is good until the next call). Past anything but a
 * timeout the stream cannot be read on in step: the connection is closed, as OpenResty
 * does. */
static int recv_fail(lsock_t *s, const char *why, mg_str_t *out, const char **err)
{
    *err = why;
    *out = mg_str(s->rbuf + s->rpos, s->rlen - s->rpos);
    s->rpos = s->rlen;
    if (strcmp(why, "timeout") == 0) {
        op_end(s);
    } else {
        conn_close(s);
    }
    return MG_ERROR;
}

int mg_lua_sock_receive(mg_lua_task_t *t, int h, int mode, size_t size, const char *pat,
                        size_t plen, int inclusive, mg_str_t *out, const char **err)
{
    *out = MG_NULL_STR;
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if ((mode == MG_SOCK_SIZE && size > MG_LUA_SOCK_DATA_MAX) ||
        (mode == MG_SOCK_UNTIL && (plen == 0 || plen > MG_LUA_SOCK_LINE_MAX))) {
        *err = mode == MG_SOCK_SIZE ? "size too large" : "bad pattern";
        return MG_ERROR;
    }
    if (s->tp.fd < 0) {
        *err = "closed";
        return MG_ERROR;
    }
    if (s->op != OP_NONE && s->op != OP_RECV) {
        *err = "socket busy";
        return MG_ERROR;
    }
    mg_sock_want_t w = {mode, size, pat, plen, inclusive != 0, MG_LUA_SOCK_LINE_MAX};
    s->op = OP_RECV;
    for (;;) {
        size_t take = 0, consume = 0;
        const char *buf = s->rbuf + s->rpos;
        size_t len = s->rlen - s->rpos;
        int rc = mg_lua_sock_scan(&w, buf, len, &take, &consume);
        if (rc == MG_OK || rc == MG_DONE) {
            *out = mg_str(buf, take);
            s->rpos += consume;
            op_end(s);
            return rc;
        }
        if (rc == MG_DECLINED) {
            return recv_fail(s, mode == MG_SOCK_LINE ? "line too long" : "pattern not found",
                             out, err);
        }
        if (s->eof) {
            if (mode == MG_SOCK_ALL) {
                *out = mg_str(buf, len);
                s->rpos = s->rlen;
                op_end(s);
                return MG_OK;
            }
            return recv_fail(s, "closed", out, err);
        }
        if (s->timedout) {
            return recv_fail(s, "timeout", out, err);
        }
        const char *ferr = NULL;
        int f = fill(s, &ferr);
        if (f == MG_AGAIN) {
            return wait_for(s, s->tp.want != 0 ? s->tp.want : EV_READ, s->timeout[2]);
        }
        if (f == MG_ERROR) {
            return recv_fail(s, ferr, out, err);
        }
    }
}

/* ---- the rest ---- */

int mg_lua_sock_close(mg_lua_task_t *t, int h, const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->tp.fd < 0) {
        *err = "closed";
        return MG_ERROR;
    }
    conn_close(s);
    return MG_OK;
}

int mg_lua_sock_setoption(mg_lua_task_t *t, int h, int opt, int value, const char **err)
{
    lsock_t *s = lookup(t, h, err);
    if (s == NULL) {
        return MG_ERROR;
    }
    if (s->tp.fd < 0) {
        *err = "closed";
        return MG_ERROR;
    }
    static const int levels[] = {SOL_SOCKET, IPPROTO_TCP, SOL_SOCKET, SOL_SOCKET};
    static const int names[] = {SO_KEEPALIVE, TCP_NODELAY, SO_SNDBUF, SO_RCVBUF};
    if (opt < 0 || opt > 3 || (opt == 1 && s->addr.ss_family == AF_UNIX)) {
        *err = "unsupported option";
        return MG_ERROR;
    }
    if (setsockopt(s->tp.fd, levels[opt], names[opt], &value, sizeof(value)) != 0) {
        *err = strerror(errno);
        return MG_ERROR;
    }
    return MG_OK;
}

int mg_lua_sock_count(mg_lua_task_t *t, int pooled)
{
    return pooled ? npooled : nslots;
}

void mg_lua_sockets_shutdown(void)
{
    while (pools != NULL) {
        pooled_drop(pools->head);
    }
}
