/*
 * worker.h -- a worker process: one libev loop, its listeners, its connections and the
 * config generation new requests start on.
 */
#ifndef MG_WORKER_H
#define MG_WORKER_H

#include "mg_core.h"

#include <ev.h>

/* Most worker slots in the shared stats table: twice the largest worker count, so that
 * an old and a new set of workers can coexist during a graceful replacement. */
#define MG_MAX_WORKER_SLOTS 128

/* One worker's figures, in the main shared zone. Written only by its worker (relaxed
 * atomic stores), read by anyone (the admin /status handler, the master). */
typedef struct {
    int64_t pid;           /* 0 when the slot is free */
    uint64_t generation;   /* config generation new requests use */
    int64_t connections;   /* open client connections */
    uint64_t requests;     /* requests finished */
    uint64_t bad_requests; /* rejected with 4xx/5xx by the parser or limits */
    uint64_t log_dropped;  /* access-log lines dropped (disk full) */
    double started;        /* epoch seconds */
    double heartbeat;      /* loop time of the last tick (stall watchdog) */
    int64_t draining;      /* 1 once the worker stopped accepting */
    /* Lua watchdog (watchdog.h): written by the worker's loop thread */
    uint64_t lua_seq;  /* +1 each time the loop enters a Lua phase */
    int64_t lua_busy;  /* 1 while it is inside one */
    int32_t lua_where; /* plugin index * 8 + phase, -1 outside plugin code */
    int32_t lua_pad;
    uint64_t lua_generation; /* generation of the state running */
    /* Lua timers (lua/lua_timer.c), written by the loop thread */
    uint64_t timers_pending; /* waiting for their time */
    uint64_t timers_running; /* running, or due now in a retired generation */
    uint64_t timers_refused; /* mg.timer.at/every refused: the per-worker cap */
    uint64_t timers_failed;  /* runs whose function raised an error */
    /* Lua cosockets (lua/lua_socket.c), written by the loop thread */
    uint64_t sockets_open;   /* made by mg.socket.tcp and not closed yet */
    uint64_t sockets_pooled; /* idle in the keep-alive pools */
    /* plugin phases run in C (lua/lua_native.c): [0] decided there, [1] handed to Lua */
    uint64_t lua_native[2];
    uint64_t gens_alive;    /* generations still alive: current + held by requests */
    uint64_t tls[16];       /* TLS handshakes: sys/tls.h's mg_tls_counters_t */
    int64_t conn_states[8]; /* open client connections by state (http_conn_int.h's MG_C_*) */
    uint64_t trace[4];      /* spans by outcome: http/trace.h's MG_TRACE_SPANS_* */
    /* what a draining worker still holds (server/worker.c), all 0 until it drains;
     * refreshed when the drain starts and every second after */
    double drain_started;   /* epoch seconds the drain began */
    double drain_deadline;  /* epoch seconds the connections left will be closed */
    int64_t drain_requests; /* requests in flight (tunnels included) */
    uint64_t drain_bytes;   /* response bytes still to send: buffered, plus the rest of
                             * bodies of known length */
} mg_worker_stats_t;

typedef struct mg_listener_s {
    ev_io io; /* must stay first */
    int fd;
    bool admin;          /* serves the admin API instead of routes */
    bool tls;            /* terminates TLS with the generation's certificates */
    bool proxy_protocol; /* connections start with a PROXY protocol header */
    char text[64];       /* "127.0.0.1:8080" */
    mg_worker_t *worker;
} mg_listener_t;

struct mg_worker_s {
    struct ev_loop *loop;
    int slot;                     /* index in the stats table */
    mg_gen_t *gen;                /* current generation (one reference held) */
    mg_shm_zone_t *shm;           /* main zone */
    mg_worker_stats_t *stats;     /* this worker's slot */
    mg_worker_stats_t *all_stats; /* the whole table, MG_MAX_WORKER_SLOTS entries */
    mg_listener_t *listeners;
    size_t nlisteners;
    bool draining;           /* no more accepts; answers close their connections */
    double drain_idle_until; /* draining: when connections still idle are closed */
    size_t nconns;           /* open client connections */
    mg_conn_t *conns;        /* intrusive list of client connections (http_conn.c) */
    uint64_t request_seq;    /* for request ids */
    char id_prefix[17];      /* random hex per worker for request ids */
    void *buf_free;          /* freelist of I/O buffers (http_conn.c) */
    size_t nbuf_free;
    /* requests that ended, waiting for their ending to run from the loop (http_conn.c):
     * never on the stack of the callback that wrote the last byte */
    mg_conn_t *posted;
    mg_conn_t **posted_tail;
    ev_prepare posted_watcher;
    /* host names for mg.http (sys/resolver.h): owned, made at start, replaced by a
     * reload that changes `resolver:`; NULL when it could not be made */
    struct mg_resolver_s *resolver;
};

/* Runs a worker until it is told to stop. Takes ownership of `gen` (one reference).
 * `listen_fds`/`nlisten` are inherited listening sockets of conf->listen (same order),
 * `admin_fd` the admin listener or -1. Returns the process exit status. */
int mg_worker_run(int slot, mg_gen_t *gen, mg_shm_zone_t *shm, mg_worker_stats_t *all_stats,
                  const int *listen_fds, size_t nlisten, int admin_fd, int ctl_fd);

/* Stops accepting, closes idle connections, lets in-flight requests finish, then leaves
 * the loop (bounded by the drain timeout). */
void mg_worker_drain(mg_worker_t *w);

/* The loop enters / leaves Lua code: what the watchdog (server/watchdog.h) samples.
 * `ws` may be NULL (no worker: validation). */
static inline void mg_worker_lua_enter(mg_worker_stats_t *ws)
{
    if (ws != NULL) {
        __atomic_store_n(&ws->lua_seq, ws->lua_seq + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&ws->lua_busy, 1, __ATOMIC_RELEASE);
    }
}

static inline void mg_worker_lua_leave(mg_worker_stats_t *ws)
{
    if (ws != NULL) {
        __atomic_store_n(&ws->lua_busy, 0, __ATOMIC_RELEASE);
    }
}
/* The master's verdict on a reload: an HTTP status (202 accepted, 422 rejected, 503 not
 * possible now), the generation serving after it, and a message (borrowed for the
 * call: "generation 3, switched in place", or the error as file:line:column). */
typedef void (*mg_worker_verdict_cb)(mg_request_t *r, int status, uint64_t generation,
                                     const char *msg, size_t len);

/* Asks the master to reload (POST /reload) without waiting: `done` is called from the
 * loop with the verdict, once. MG_OK, or MG_ERROR when the master cannot be asked now
 * (then `done` is never called). `r` is borrowed: if it ends first, the caller calls
 * mg_worker_reload_cancel(). */
int mg_worker_reload_ask(mg_worker_t *w, mg_request_t *r, mg_worker_verdict_cb done);

/* Forgets the asks of `r` (it ended): their verdicts are dropped. */
void mg_worker_reload_cancel(mg_worker_t *w, mg_request_t *r);

#endif
