/*
 * nodestate.h -- per-node and per-upstream state shared by all workers.
 *
 * Balancers that need a cross-worker view (least_conn's in-flight counts, ewma's
 * latencies), health checks, outlier ejection, circuit breakers and per-upstream
 * connection limits keep their figures here. The master creates one zone before the
 * first fork (mg_nodestate_init); every process then finds a node's slot by its
 * upstream name and address (mg_nodestate_node), allocating it on first use. The same
 * name and address get the same slot across reloads, so a node marked down stays down
 * and counters carry over when a new generation starts.
 *
 * Fields are plain C11 atomics read and written without the zone lock; the lock only
 * guards slot allocation. Slots are never freed: the table holds MG_NODESTATE_NODES
 * nodes and MG_NODESTATE_UPSTREAMS upstreams over the master's lifetime; past that a
 * process gets a private slot and logs it (the feature then works per worker).
 */
#ifndef MG_NODESTATE_H
#define MG_NODESTATE_H

#include "mg_core.h"

#include <stdatomic.h>

#define MG_NODESTATE_NODES 8192
#define MG_NODESTATE_UPSTREAMS 2048

/* One upstream node as all workers see it. Times are mg_mono_now() seconds. */
typedef struct {
    _Atomic int64_t inflight;    /* requests being proxied to it, all workers */
    _Atomic int64_t connections; /* open upstream connections to it, all workers */
    _Atomic double ewma;         /* smoothed response time (s); 0 = no sample yet */
    _Atomic double ewma_stamp;   /* when ewma was last updated */
    _Atomic uint64_t requests;   /* tries sent to it (for /status) */
    _Atomic uint64_t failures;   /* tries that failed (for /status) */
    /* health (health.c) */
    _Atomic int32_t down;        /* 1 while the active checker holds it unhealthy */
    _Atomic int32_t hc_ok;       /* consecutive successful probes */
    _Atomic int32_t hc_fail;     /* consecutive failed probes */
    _Atomic int32_t fails;       /* consecutive failed requests (passive) */
    _Atomic int32_t ejections;   /* ejections in a row, for the growing ejection time */
    _Atomic int32_t breaker;     /* MG_BREAKER_* */
    _Atomic double ejected_until; /* passive: not picked before this time */
    _Atomic double breaker_since; /* when the breaker last changed state */
    _Atomic int32_t trials;      /* half-open trial requests in flight */
    _Atomic int32_t fails_5xx;   /* consecutive 5xx answers or failures (passive) */
    _Atomic int32_t brk_fails;   /* consecutive failures the breaker counts */
    _Atomic int32_t pad;
    _Atomic uint64_t ejected_total; /* ejections since the master started (metrics) */
} mg_node_state_t;

/* How many ways a wait in an upstream's connection queue may end. */
#define MG_NODESTATE_QUEUE_OUTCOMES 4

/* One upstream as all workers see it. */
typedef struct {
    _Atomic int64_t pending;      /* requests waiting at max_connections (queue.size) */
    _Atomic uint64_t requests;    /* requests started, for the retry budget */
    _Atomic uint64_t retries;     /* retries made, for the retry budget */
    _Atomic double budget_since;  /* start of the retry budget's current window */
    _Atomic int64_t prober_pid;   /* the process running the active checks, 0 = none */
    _Atomic double prober_until;  /* its lease: another process takes over after this */
    _Atomic uint64_t ejected;     /* nodes currently ejected (passive) */
    _Atomic int64_t connections;  /* open connections to all its nodes (max_connections) */
    /* the connection queue (upstream_queue.h): requests waiting now, and how waits
     * ended, by outcome (served, timeout, full, gone) */
    _Atomic int64_t queued;
    _Atomic uint64_t queue_outcomes[MG_NODESTATE_QUEUE_OUTCOMES];
} mg_upstream_state_t;

/* Creates the zone. Master, once, before the first fork. MG_OK or MG_ERROR (errno). */
int mg_nodestate_init(void);

/* The slot of node `addr` of upstream `upstream` (both borrowed; copied into the zone
 * on first use). Never NULL: when the table is full or was never created the process
 * gets a private zeroed slot (logged once). The pointer stays valid until
 * mg_nodestate_release(). */
mg_node_state_t *mg_nodestate_node(const char *upstream, const char *addr);

/* The slot of upstream `name`; same rules. */
mg_upstream_state_t *mg_nodestate_upstream(const char *name);

/* Gives back a slot from the two above when its user goes away: frees a private slot,
 * leaves a shared one (its figures carry over to the next generation). NULL is a
 * no-op. */
void mg_nodestate_release(void *slot);

/* Slots in use, for /status. */
size_t mg_nodestate_count(void);

#endif
