/*
 * upstream_queue.c -- the FIFO of requests waiting for a connection to an upstream
 * (upstream_queue.h).
 *
 * One timer per queue does everything: it fires at the head's deadline (the timeout is
 * the same for every waiter of a queue, so deadlines follow the order of arrival and
 * only the head's matters), every MG_UPSTREAM_QUEUE_POLL while a waiter met
 * max_connections, and at once (next loop iteration) after a kick. A scan may run
 * owners' code that makes any waiter leave, this one or another: the scan keeps its
 * next waiter in q->cursor, which a leave moves on.
 */
#include "upstream_queue.h"

#include <errno.h>
#include <stdlib.h>

const char *const mg_queue_outcome_names[MG_QUEUE_OUTCOMES] = {"served", "timeout", "full",
                                                               "gone"};

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_upstream_queue_run(t->data, ev_now(loop));
}

int mg_upstream_queue_init(mg_upstream_queue_t *q, size_t nnodes, mg_upstream_state_t *state,
                           int size, double timeout)
{
    *q = (mg_upstream_queue_t){
        .state = state,
        .size = size,
        .timeout = timeout,
        .nnodes = nnodes,
    };
    q->blocked = calloc(nnodes > 0 ? nnodes : 1, sizeof(*q->blocked));
    if (q->blocked == NULL) {
        return MG_ERROR;
    }
    ev_init(&q->timer, on_timer);
    q->timer.data = q;
    return MG_OK;
}

void mg_upstream_queue_bind(mg_upstream_queue_t *q, struct ev_loop *loop)
{
    q->loop = loop;
}

void mg_upstream_queue_dispose(mg_upstream_queue_t *q)
{
    if (q->loop != NULL) {
        ev_timer_stop(q->loop, &q->timer);
        q->loop = NULL;
    }
    free(q->blocked);
    q->blocked = NULL;
}

/* Sets the timer for what comes next: a posted turn, a poll, the head's deadline; or
 * nothing on an empty queue. Never inside a scan: the scan's end does it. */
static void rearm(mg_upstream_queue_t *q)
{
    if (q->loop == NULL || q->scanning) {
        return;
    }
    ev_timer_stop(q->loop, &q->timer);
    if (q->head == NULL) {
        q->kicked = q->polling = false;
        return;
    }
    double after = q->head->deadline - ev_now(q->loop);
    if (q->polling && after > MG_UPSTREAM_QUEUE_POLL) {
        after = MG_UPSTREAM_QUEUE_POLL;
    }
    if (q->kicked || after < 0) {
        after = 0;
    }
    ev_timer_set(&q->timer, after, 0.);
    ev_timer_start(q->loop, &q->timer);
}

static void count(mg_upstream_queue_t *q, mg_upstream_waiter_t *w, bool on)
{
    if (w->counted == on) {
        return;
    }
    w->counted = on;
    if (on) {
        q->counted++;
    } else {
        q->counted--;
        atomic_fetch_sub(&q->state->pending, 1);
    }
}

/* Takes a place in queue.size for w: false when all are taken. */
static bool take_place(mg_upstream_queue_t *q, mg_upstream_waiter_t *w)
{
    if (w->counted) {
        return true;
    }
    int64_t n = atomic_fetch_add(&q->state->pending, 1);
    if (n >= q->size) {
        atomic_fetch_sub(&q->state->pending, 1);
        return false;
    }
    count(q, w, true);
    return true;
}

int mg_upstream_queue_wait(mg_upstream_queue_t *q, mg_upstream_waiter_t *w, int why)
{
    if (why == -EBUSY) {
        q->polling = true; /* the slot may come from another worker */
        if (!take_place(q, w)) {
            if (w->queued) {
                mg_upstream_queue_leave(q, w, MG_QUEUE_FULL);
            } else {
                atomic_fetch_add(&q->state->queue_outcomes[MG_QUEUE_FULL], 1);
            }
            return MG_DECLINED;
        }
    }
    if (!w->queued) {
        w->queued = true;
        w->deadline = (q->loop != NULL ? ev_now(q->loop) : 0) + q->timeout;
        w->next = NULL;
        w->prev = q->tail;
        if (q->tail != NULL) {
            q->tail->next = w;
        } else {
            q->head = w;
        }
        q->tail = w;
        q->len++;
        atomic_fetch_add(&q->state->queued, 1);
        if (why == 0) {
            q->kicked = true; /* behind others: the scan serves it in its turn */
        }
    }
    rearm(q);
    return MG_OK;
}

void mg_upstream_queue_leave(mg_upstream_queue_t *q, mg_upstream_waiter_t *w,
                             mg_queue_outcome_t why)
{
    if (!w->queued) {
        return;
    }
    if (q->cursor == w) {
        q->cursor = w->next;
    }
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        q->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        q->tail = w->prev;
    }
    w->prev = w->next = NULL;
    w->queued = false;
    count(q, w, false);
    q->len--;
    atomic_fetch_sub(&q->state->queued, 1);
    atomic_fetch_add(&q->state->queue_outcomes[why], 1);
    if (q->head == NULL) {
        rearm(q); /* nothing left to wait for */
    }
}

void mg_upstream_queue_kick(mg_upstream_queue_t *q)
{
    if (q->head == NULL || q->loop == NULL) {
        return;
    }
    if (!q->kicked) {
        q->kicked = true;
        rearm(q);
    }
}

/* Waiters past their deadline leave, oldest first. */
static void expire(mg_upstream_queue_t *q, double now)
{
    mg_upstream_waiter_t *w;
    while ((w = q->head) != NULL && w->deadline <= now) {
        mg_upstream_queue_leave(q, w, MG_QUEUE_TIMEOUT);
        w->on_timeout(w);
    }
}

/* Turns in order. A waiter of a node found paced in this scan is skipped (the rest of
 * that node's waiters stay behind it); max_connections stops everyone. */
static void scan(mg_upstream_queue_t *q)
{
    size_t nblocked = 0;
    q->polling = false;
    if (++q->scan_id == 0) {
        for (size_t i = 0; i < q->nnodes; i++) {
            q->blocked[i] = 0;
        }
        q->scan_id = 1;
    }
    q->cursor = q->head;
    mg_upstream_waiter_t *w;
    while ((w = q->cursor) != NULL) {
        q->cursor = w->next;
        size_t node = w->node >= 0 && (size_t)w->node < q->nnodes ? (size_t)w->node : 0;
        if (q->blocked[node] == q->scan_id) {
            continue;
        }
        int rc = w->on_turn(w);
        if (rc == -EBUSY) {
            q->polling = true;
            break;
        }
        if (rc == -EALREADY) {
            q->blocked[node] = q->scan_id;
            if (++nblocked >= q->nnodes) {
                break;
            }
        }
    }
    q->cursor = NULL;
}

void mg_upstream_queue_run(mg_upstream_queue_t *q, double now)
{
    q->scanning = true;
    q->kicked = false;
    expire(q, now);
    scan(q);
    q->scanning = false;
    rearm(q);
}
