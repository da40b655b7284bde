/*
 * upstream.h -- an upstream as a worker runs it: nodes, the balancer, per-node pools of
 * idle keep-alive connections to upstream servers.
 */
#ifndef MG_UPSTREAM_H
#define MG_UPSTREAM_H

#include "balancer.h"
#include "health.h"
#include "mg_core.h"
#include "transport.h"
#include "nodestate.h"
#include "tls.h"
#include "upstream_queue.h"

#include <ev.h>
#include <sys/socket.h>

typedef struct mg_upstream_conn_s mg_upstream_conn_t;

/* How a new connection speaks TLS to its peer. Everything is borrowed and must outlive
 * the connection (the slot above all: a session ticket may arrive at any read). */
typedef struct {
    mg_tls_client_t *client;     /* NULL: plain TCP */
    const char *sni;             /* the name sent (never an address); NULL: none */
    const char *verify_name;     /* what the certificate must name; NULL: sni */
    mg_tls_session_slot_t *slot; /* the session to resume and keep; may be NULL */
} mg_upstream_tls_t;

/* Pooled connections idle at least this long (s) are probed for EOF before reuse. */
#define MG_UPSTREAM_PROBE_AFTER 1.0

/* One connection to an upstream node. While a request owns it, `io` belongs to the
 * request (callback and data are the request's); while it idles in the pool, the
 * upstream watches it for EOF and expiry. */
struct mg_upstream_conn_s {
    ev_io io;            /* must stay first */
    ev_timer idle_timer; /* expiry while pooled */
    int fd;              /* the socket, for socket-level calls (connect, probes) */
    mg_transport_t tp;   /* its I/O: plain, or TLS (the upstream's `tls:`, https) */
    int node;            /* index in conf->nodes; -1 outside any upstream */
    unsigned requests;   /* requests started on this connection */
    bool reused;         /* came out of the pool (may have gone stale meanwhile) */
    bool connecting;     /* counted in its node's `connecting` until the connect's result */
    double idle_since;   /* loop time it was pooled */
    mg_upstream_t *up;   /* borrowed; NULL outside any upstream (mg_upstream_open) */
    /* per-node idle list (newest first) and the upstream-wide LRU (oldest last); in a
     * keyed pool, lru_* link its idle list (newest first) */
    mg_upstream_conn_t *node_prev, *node_next;
    mg_upstream_conn_t *lru_prev, *lru_next;
    struct mg_upstream_kpool_s *kpool; /* the keyed pool it idles in, or NULL */
    char *kkey;                        /* ... under this key (owned while pooled) */
};

typedef struct {
    mg_upstream_conn_t *idle; /* newest first */
    mg_node_state_t *state;   /* shared by all workers (nodestate.h) */
    int connecting;           /* connects in progress from this worker (max_connecting) */
    char *host;               /* a node from DNS: the "name:port" it came from (owned); else NULL */
    unsigned refs;            /* this worker's tries and open connections on it */
    /* with `tls:`: the names its handshakes use (owned), and its last session, which
     * every connection to it points at: cleared only once none is left */
    char *tls_sni;
    char *tls_verify_name;
    mg_tls_session_slot_t tls_session;
} mg_upstream_node_t;

struct mg_upstream_s {
    const mg_upstream_conf_t *conf; /* borrowed; outlives the runtime */
    mg_worker_t *worker;            /* borrowed */
    struct ev_loop *loop;
    mg_balancer_t balancer;
    mg_upstream_state_t *state;   /* shared by all workers (nodestate.h) */
    mg_upstream_node_t *nodes;    /* conf->nnodes entries */
    mg_upstream_conn_t *lru_head; /* newest idle connection */
    mg_upstream_conn_t *lru_tail; /* oldest idle connection, evicted first */
    size_t nidle;                 /* idle connections in this worker, <= conf->keepalive */
    mg_health_t *health;          /* the active prober, NULL without active checks */
    mg_tls_client_t *tls;         /* with `tls:` (owned), else NULL */
    mg_upstream_queue_t queue;    /* requests of this worker waiting for a connection */
    /* nodes given by host name (upstream_dns.c): conf then points at the runtime's own
     * copy of the upstream's conf, whose node list follows the DNS answers */
    struct mg_upstream_dns_s *dns;
    uint64_t gone[MG_BALANCER_MAX_NODES / 64]; /* nodes DNS took away: never picked */
};

static inline bool mg_upstream_node_gone(const mg_upstream_t *u, int node)
{
    return (u->gone[node >> 6] & ((uint64_t)1 << (node & 63))) != 0;
}

/* Creates the runtime for upstream `c` in worker `w` (the conf outlives it), with its
 * TLS client context when c->tls.on. NULL when out of memory or when the context cannot
 * be built (logged: the master validated the same bytes, so this is rare). */
mg_upstream_t *mg_upstream_create(mg_worker_t *w, const mg_upstream_conf_t *c);

/* Attaches a runtime created without a worker (w == NULL) to worker `w` and starts
 * what runs on its loop (the active prober). mg_upstream_create does this itself when
 * given a worker. */
void mg_upstream_bind(mg_upstream_t *u, mg_worker_t *w);

/* True while `u` belongs to its worker's current generation and the worker serves
 * (what runs in the background, probes and DNS, stops otherwise). */
bool mg_upstream_current(const mg_upstream_t *u);

/* Closes pooled idle connections, stops the prober and frees the runtime. Called when the
 * generation that owns it is released, so no request uses it any more. */
void mg_upstream_destroy(mg_upstream_t *u);

/* Takes an idle pooled connection to `node` that still looks alive (a non-blocking
 * MSG_PEEK probe sees neither EOF nor unexpected bytes; over TLS a read of the record
 * layer finds no data, no close_notify); stale ones met on the way are
 * closed. Returns the connection, now owned by the caller with its watchers stopped and
 * `reused` set, or NULL when none is left. */
mg_upstream_conn_t *mg_upstream_acquire(mg_upstream_t *u, int node);

/* Opens a new non-blocking TCP connection (TCP_NODELAY) to `node`, its transport set up
 * for TLS when the upstream has `tls:` (the handshake is the caller's, after the
 * connect: t->ops->handshake). On MG_OK or MG_AGAIN (connect in progress: wait for
 * writability, then mg_upstream_connect_result) *out is a connection owned by the
 * caller. Otherwise returns a negative errno (-EMFILE/-ENFILE
 * when out of descriptors, -EBUSY when the upstream is at max_connections, -EALREADY
 * when `max_connecting` connects to the node are in progress in this worker,
 * -ECONNREFUSED ...) and *out is NULL. Every open connection counts towards
 * max_connections until it is closed; one in progress (MG_AGAIN) counts towards
 * max_connecting until mg_upstream_connected() or its close. */
int mg_upstream_connect(mg_upstream_t *u, int node, mg_upstream_conn_t **out);

/* The connect of c (in progress after mg_upstream_connect) has its result, whatever
 * it is: c no longer counts towards its node's max_connecting, and the queue gets a
 * turn. A no-op for a connection that was not counted. */
void mg_upstream_connected(mg_upstream_conn_t *c);

/* Opens a new non-blocking TCP connection (TCP_NODELAY) to any address, outside every
 * pool and limit (node -1, up NULL): mg_upstream_release() closes it. Returns as
 * mg_upstream_connect(), without -EBUSY. */
int mg_upstream_open(const struct sockaddr *sa, socklen_t salen, mg_upstream_conn_t **out);

/* Sets up a connection just opened (no byte moved yet) to speak TLS as `tls` says; a
 * NULL tls->client leaves it plain. MG_OK, or -ENOMEM (the connection stays plain and
 * the caller's). */
int mg_upstream_conn_tls(mg_upstream_conn_t *c, const mg_upstream_tls_t *tls);

/* What a new connection to `node` of `u` does for TLS (tls->client NULL without
 * `tls:`): the names decided when the runtime was made, the node's session slot.
 * Valid while `u` lives. */
void mg_upstream_node_tls(const mg_upstream_t *u, int node, mg_upstream_tls_t *tls);

/* After a non-blocking connect became writable: 0 when connected, else a negative
 * errno from SO_ERROR. */
int mg_upstream_connect_result(mg_upstream_conn_t *c);

/* Gives a connection back. keep=true returns it to its node's idle pool when the
 * upstream allows it (keepalive > 0, fewer than keepalive_requests requests served),
 * evicting the oldest idle connection when the pool is full (while requests of this
 * worker wait, the pool holds one more per waiter: they are about to take them);
 * otherwise, or with keep=false, it is closed. With max_connections, when none of
 * this worker's requests waits but others' do, it is closed too: its slot goes to them. Either way
 * the upstream's queue gets a turn. The caller must have stopped its own watchers on c->io.
 * `c` is taken either way. */
void mg_upstream_release(mg_upstream_conn_t *c, bool keep);

/* A try of a request on `node` starts: a node was picked and a connection is about to
 * be taken or opened. Counts it in the node's shared `inflight` and `requests`. Every
 * begin is followed by exactly one mg_upstream_try_end() for the same node. */
void mg_upstream_try_begin(mg_upstream_t *u, int node);

/* The try begun on `node` is over: its response head arrived (failed = false,
 * `seconds_to_head` since the begin), it failed (failed = true, `seconds_to_head` how
 * long it took to fail), or it ended for a reason that says nothing about the node (the
 * client went away, a stale pooled connection: failed = false, seconds_to_head < 0).
 * Releases the node's `inflight`, counts `failures`, and gives the balancer the sample
 * (ewma). */
void mg_upstream_try_end(mg_upstream_t *u, int node, bool failed, double seconds_to_head);

/* Closes this worker's oldest idle connection to any node of `u`, to make room under
 * max_connections (or, called until false, all of them: a draining worker). True when
 * there was one. */
bool mg_upstream_evict_idle(mg_upstream_t *u);

/* ---- keyed pools: idle keep-alive connections outside any upstream ----
 *
 * Connections opened with mg_upstream_open() (mg.http's, to any address) kept idle
 * under a key the user makes (what makes two connections interchangeable: scheme,
 * host, port, address, TLS name and verification), with the same care as the nodes'
 * pools: watched for EOF and stray bytes while idle (closed then), probed before reuse
 * once idle MG_UPSTREAM_PROBE_AFTER, closed at their idle timeout, bounded per key and
 * in total (the oldest goes first). Their watchers never keep the loop alive. */
typedef struct mg_upstream_kpool_s mg_upstream_kpool_t;

/* A pool on `loop` holding at most `max_idle` connections. NULL on out of memory. */
mg_upstream_kpool_t *mg_upstream_kpool_create(struct ev_loop *loop, size_t max_idle);

/* Closes every idle connection and frees the pool. */
void mg_upstream_kpool_destroy(mg_upstream_kpool_t *p);

/* Takes the newest idle connection under `key` that still looks alive (stale ones met
 * are closed): owned by the caller, watchers stopped, `reused` set. NULL when none. */
mg_upstream_conn_t *mg_upstream_kpool_acquire(mg_upstream_kpool_t *p, const char *key);

/* Keeps `c` (a connection of mg_upstream_open(), between exchanges, its watchers
 * stopped by the caller) idle under `key` (copied) for at most `timeout` seconds, the
 * key holding at most `per_key` (the oldest of the key is closed to make room, and the
 * pool's oldest when it is full). Closes it instead when it cannot be kept. Taken
 * either way. */
void mg_upstream_kpool_put(mg_upstream_kpool_t *p, mg_upstream_conn_t *c, const char *key,
                           double timeout, size_t per_key);

/* Idle connections in the pool now. */
size_t mg_upstream_kpool_count(const mg_upstream_kpool_t *p);

/* "ip:port" text of a node: as configured, or the address a name resolved to
 * (borrowed from the runtime). */
const char *mg_upstream_node_addr(const mg_upstream_t *u, int node);

/* The "host:port" a node is known by: for a node from DNS the name it was resolved
 * from (as written, or an SRV target and port), else its address. For Host headers of
 * health probes and TLS names, never an address where a name was given. */
const char *mg_upstream_node_host(const mg_upstream_t *u, int node);

/* One line per name of the upstream (JSON objects, comma separated) for /status: the
 * name, its addresses now, the last success and the last error. Writes into buf (cap
 * bytes); returns the length, or cap when it did not fit. 0 without names. */
size_t mg_upstream_dns_status_json(const mg_upstream_t *u, char *buf, size_t cap);

/* Why no node of u can be picked, when it is DNS's doing (no name has resolved yet):
 * a static text, else NULL. */
const char *mg_upstream_dns_empty_reason(const mg_upstream_t *u);

#endif
