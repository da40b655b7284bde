/*
 * upstream_queue.h -- the requests of one worker that wait for a connection to one
 * upstream: a FIFO, one timer, and the figures all workers share.
 *
 * A request waits when the upstream is at `max_connections` (all workers together)
 * or when `max_connecting` connects to its node are already in progress in this
 * worker (connect pacing: a burst does not overflow the node's listen backlog). It
 * waits in arrival order: a newcomer never takes a connection while others wait, it
 * joins the tail. Its turn comes when something of this worker may have made room (a
 * connection went back to the pool or closed, a connect finished: the upstream calls
 * mg_upstream_queue_kick()), and every 10 ms while some waiter is at max_connections,
 * since the connection that frees a slot may be another worker's. Turns are taken from
 * the loop, never on the stack of whoever made the room.
 *
 * Waiters at max_connections hold a place in `queue.size` (counted across workers in
 * the upstream's shared state); over it, or after `queue.timeout` in the queue, the
 * owner answers 503. A waiter paced by connects alone is not counted: such a wait
 * ends as soon as a connect finishes.
 *
 * One queue belongs to one upstream runtime (upstream.h) of one worker; nothing here
 * locks. Pure list and scan logic over waiters, unit-tested with a private loop.
 */
#ifndef MG_UPSTREAM_QUEUE_H
#define MG_UPSTREAM_QUEUE_H

#include "mg_core.h"
#include "nodestate.h"

#include <ev.h>
#include <stddef.h>

/* Seconds between two looks for slots freed by other workers while a waiter is at
 * max_connections. */
#define MG_UPSTREAM_QUEUE_POLL 0.01

/* The Retry-After (s) of a 503 from the queue: a full queue or a wait past the timeout
 * is a burst, over within about a second or worth one more try after it. */
#define MG_UPSTREAM_QUEUE_RETRY_AFTER 1

/* How a wait ended (the index of the shared counters). */
typedef enum {
    MG_QUEUE_SERVED = 0, /* it got a connection */
    MG_QUEUE_TIMEOUT,    /* it waited queue.timeout */
    MG_QUEUE_FULL,       /* queue.size requests already waited at max_connections */
    MG_QUEUE_GONE,       /* its request ended meanwhile (the client went away) */
} mg_queue_outcome_t;

#define MG_QUEUE_OUTCOMES MG_NODESTATE_QUEUE_OUTCOMES

/* "served", "timeout", "full", "gone" (metrics labels). */
extern const char *const mg_queue_outcome_names[MG_QUEUE_OUTCOMES];

typedef struct mg_upstream_waiter_s mg_upstream_waiter_t;

/* One waiting request, in its owner's storage. The owner sets node, on_turn and
 * on_timeout; the rest is the queue's. */
struct mg_upstream_waiter_s {
    mg_upstream_waiter_t *prev, *next;
    double deadline; /* loop time at which it gives up */
    int node;        /* the node it waits for */
    bool queued;     /* linked in a queue */
    bool counted;    /* holds a place in queue.size */
    /* Its turn: tries again. Returns what the upstream said: MG_OK (it got going, or
     * its request ended: either way it no longer waits, and it has left the queue),
     * -EBUSY (still at max_connections) or -EALREADY (its node's connects are still
     * paced); waiting again goes through mg_upstream_queue_wait(). */
    int (*on_turn)(mg_upstream_waiter_t *w);
    /* It waited queue.timeout and has left the queue: the owner answers. */
    void (*on_timeout)(mg_upstream_waiter_t *w);
};

typedef struct {
    mg_upstream_waiter_t *head, *tail;
    mg_upstream_waiter_t *cursor; /* the next waiter the running scan visits */
    size_t len;                   /* waiters in the queue */
    size_t counted;               /* ... of which hold a place in queue.size */
    struct ev_loop *loop;         /* NULL until bound, and once disposed */
    ev_timer timer;               /* the next deadline, poll or posted turn */
    mg_upstream_state_t *state;   /* borrowed: shared figures (pending, outcomes) */
    int size;                     /* queue.size: waiters at max_connections, all workers */
    double timeout;               /* queue.timeout (s) */
    size_t nnodes;
    unsigned scan_id;             /* stamps blocked[] for one scan */
    unsigned *blocked;            /* per node: scan_id when its connects were paced */
    bool kicked;                  /* a turn is due at the next loop iteration */
    bool polling;                 /* the last scan met max_connections */
    bool scanning;                /* inside a scan: rearming waits for its end */
} mg_upstream_queue_t;

/* Sets up q (the caller's storage) for an upstream of nnodes nodes whose shared state
 * is `state` (borrowed), with its queue.size and queue.timeout. MG_OK, or MG_ERROR
 * when out of memory. */
int mg_upstream_queue_init(mg_upstream_queue_t *q, size_t nnodes, mg_upstream_state_t *state,
                           int size, double timeout);

/* Puts q on `loop`: from here on it runs turns and deadlines. */
void mg_upstream_queue_bind(mg_upstream_queue_t *q, struct ev_loop *loop);

/* Stops the timer and frees what init allocated. The queue must be empty (its
 * upstream is released only once no request uses it). */
void mg_upstream_queue_dispose(mg_upstream_queue_t *q);

/* w's try could not start: `why` is -EBUSY (at max_connections), -EALREADY (connects
 * to w->node paced) or 0 (others already wait: it must not overtake them). Queues w at
 * the tail when it is not queued yet (deadline: now + queue.timeout); with -EBUSY it
 * takes a place in queue.size if it had none. MG_OK: w waits. MG_DECLINED: the queue is
 * full; w has left it (counted as MG_QUEUE_FULL) and the owner answers. */
int mg_upstream_queue_wait(mg_upstream_queue_t *q, mg_upstream_waiter_t *w, int why);

/* w stops waiting for `why` (a no-op when it is not queued): unlinked, its place in
 * queue.size given back, the outcome counted. Safe from inside a turn, of w or of
 * any other waiter. */
void mg_upstream_queue_leave(mg_upstream_queue_t *q, mg_upstream_waiter_t *w,
                             mg_queue_outcome_t why);

/* Something may have made room (a connection pooled or closed, a connect finished):
 * the waiters get their turn from the loop, soon. A no-op on an empty queue. */
void mg_upstream_queue_kick(mg_upstream_queue_t *q);

/* Runs what is due at loop time `now`: waiters past their deadline leave (on_timeout),
 * then waiters take turns in order, skipping those of a node found paced, until one
 * meets max_connections or every node is paced. The timer's callback; exposed for
 * tests. */
void mg_upstream_queue_run(mg_upstream_queue_t *q, double now);

#endif
