/*
 * redis_cmd.c -- the commands of the per-worker Redis client (redis.h): sending on a
 * connection that is up (round robin, or the previous command's for a pipeline),
 * queueing until the first connection is up (MG_REDIS_WAIT), deadlines, replies and
 * EVALSHA's EVAL fallback, cancelling.
 *
 * Lifetimes. A command (mg_redis_req_t) is allocated when sent and freed only when
 * hiredis hands its callback back (with the reply, or with NULL when the connection is
 * freed), so the privdata hiredis holds is always valid. Completing a command early
 * (deadline) or cancelling it clears req->cb, after which the late reply is ignored. A
 * command still queued is the client's alone: freed when it ends or is cancelled.
 */
#include "redis_int.h"

#include "clock.h"
#include "log.h"
#include "metrics_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef mg__redis_conn_t conn_t;

static void req_unlink(mg_redis_req_t *q)
{
    mg_redis_t *r = q->r;
    if (q->prev) {
        q->prev->next = q->next;
    } else if (r->live == q) {
        r->live = q->next;
    }
    if (q->next) {
        q->next->prev = q->prev;
    }
    q->prev = q->next = NULL;
}

/* Ends the command for its owner (the req itself lives on until hiredis lets go). */
static void req_complete(mg_redis_req_t *q, int status, const redisReply *reply)
{
    mg_redis_cb cb = q->cb;
    mg_redis_t *r = q->r;
    ev_timer_stop(r->loop, &q->timer);
    q->cb = NULL;
    if (q->trial) {
        r->trial = false;
    }
    if (status == MG_REDIS_OK) {
        mg__redis_note_success(r);
    } else {
        if (status == MG_REDIS_TIMEOUT) {
            r->stats.timeouts++;
            mg__redis_count(MG_REDIS_M_TIMEOUTS);
        } else {
            r->stats.failures++;
            mg__redis_count(MG_REDIS_M_FAILURES);
        }
        char why[64];
        snprintf(why, sizeof(why),
                 status == MG_REDIS_TIMEOUT ? "no answer within %.0f ms" : "connection lost",
                 q->timeout * 1000);
        mg__redis_note_failure(r, q->trial, why);
    }
    if (cb != NULL) {
        cb(q->arg, status, reply);
    }
}

static void req_free(mg_redis_req_t *q)
{
    ev_timer_stop(q->r->loop, &q->timer);
    req_unlink(q);
    free(q);
}

static void wait_unlink(mg_redis_req_t *q)
{
    mg_redis_t *r = q->r;
    mg_redis_req_t **pp = &r->wait_head, *prev = NULL;
    while (*pp != NULL && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == q) {
        *pp = q->next;
        if (r->wait_tail == q) {
            r->wait_tail = prev;
        }
    }
    q->next = NULL;
    q->waiting = false;
}

static void on_req_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_redis_req_t *q = t->data;
    conn_t *c = q->conn;
    if (q->waiting) {
        /* never sent: hiredis does not know it */
        wait_unlink(q);
        req_complete(q, MG_REDIS_TIMEOUT, NULL);
        free(q);
        return;
    }
    q->timed_out = true;
    if (c->ac == q->ac) {
        c->stale++;
    }
    req_complete(q, MG_REDIS_TIMEOUT, NULL);
    if (c->ac == q->ac && c->stale > MG_REDIS_MAX_STALE) {
        mg__redis_conn_drop(c, "too many replies late");
    }
}

static bool is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
           strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int req_send(mg_redis_req_t *q)
{
    if (redisAsyncCommandArgv(q->ac, on_reply, q, q->argc, q->argv, q->argvlen) != REDIS_OK) {
        return MG_ERROR;
    }
    if (q->conn != NULL && q->conn->ac == q->ac) {
        mg__redis_note_sent(q->conn);
    }
    return MG_OK;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    mg_redis_req_t *q = privdata;
    const redisReply *rep = reply;
    conn_t *c = q->conn;
    if (q->timed_out && c->ac == ac && c->stale > 0) {
        c->stale--;
    }
    if (q->cb == NULL) {
        req_free(q);
        return;
    }
    if (rep == NULL) {
        /* the connection is going away; its disconnect callback does the rest */
        if (c->ac == ac && c->state == CONN_READY) {
            c->state = CONN_DOWN;
            c->r->ready--;
        }
        req_complete(q, MG_REDIS_ERROR, NULL);
        req_free(q);
        return;
    }
    if (is_noscript(rep) && !q->retried) {
        /* the server lost its script cache (restart, SCRIPT FLUSH): EVAL loads it */
        q->retried = true;
        q->argv[0] = "EVAL";
        q->argvlen[0] = 4;
        q->argv[1] = q->argv[q->argc]; /* the source, kept after the arguments */
        q->argvlen[1] = strlen(q->argv[1]);
        if (req_send(q) == MG_OK) {
            return;
        }
        req_complete(q, MG_REDIS_ERROR, NULL);
        req_free(q);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && q->script) {
        /* Redis answers, so the link is fine: not a breaker failure */
        c->r->stats.failures++;
        mg__redis_count(MG_REDIS_M_FAILURES);
        mg_redis_t *r = c->r;
        double now = ev_time();
        if (now - r->last_err_log >= MG_REDIS_LOG_EVERY || r->last_err_log == 0) {
            r->last_err_log = now;
            mg_log_err("redis %s script error: %s", r->conf->addr.text, rep->str);
        }
    }
    if (q->sent > 0) {
        mg__redis_observe(mg_mono_now() - q->sent);
    }
    mg_redis_cb cb = q->cb;
    ev_timer_stop(c->r->loop, &q->timer);
    q->cb = NULL;
    if (q->trial) {
        c->r->trial = false;
    }
    mg__redis_note_success(c->r);
    cb(q->arg, MG_REDIS_OK, rep);
    req_free(q);
}

static conn_t *pick_conn(mg_redis_t *r)
{
    for (int i = 0; i < r->nconns; i++) {
        conn_t *c = &r->conns[(r->next + i) % r->nconns];
        if (c->state == CONN_READY) {
            r->next = (r->next + i + 1) % r->nconns;
            return c;
        }
    }
    return NULL;
}

static int decline(mg_redis_t *r)
{
    r->stats.declined++;
    mg__redis_count(MG_REDIS_M_DECLINED);
    return MG_DECLINED;
}

/* A command of argc arguments, with room after them for `data` bytes and one more
 * argv slot (the script's source). */
static mg_redis_req_t *req_alloc(mg_redis_t *r, int argc, size_t data, char **p)
{
    size_t bytes = sizeof(mg_redis_req_t) + (size_t)(argc + 1) * (sizeof(char *) + sizeof(size_t));
    mg_redis_req_t *q = calloc(1, bytes + data);
    if (q == NULL) {
        return NULL;
    }
    q->argv = (const char **)(q + 1);
    q->argvlen = (size_t *)(q->argv + argc + 1);
    *p = (char *)(q->argvlen + argc + 1);
    q->r = r;
    q->argc = argc;
    return q;
}

/* q went out on a connection: hiredis will hand it back (destroy cancels the list). */
static void live_link(mg_redis_t *r, mg_redis_req_t *q)
{
    q->next = r->live;
    if (r->live) {
        r->live->prev = q;
    }
    r->live = q;
}

/* The first command still waiting for a connection, taken off the list, or NULL. */
static mg_redis_req_t *wait_pop(mg_redis_t *r)
{
    mg_redis_req_t *q = r->wait_head;
    if (q != NULL) {
        r->wait_head = q->next;
        if (r->wait_head == NULL) {
            r->wait_tail = NULL;
        }
        q->next = NULL;
        q->waiting = false;
    }
    return q;
}

/* Sends q on c, or queues it (c NULL) until a connection is up; then arms its
 * deadline. MG_OK, or MG_DECLINED (q freed). */
static int req_dispatch(mg_redis_t *r, conn_t *c, mg_redis_req_t *q, double timeout, mg_redis_cb cb,
                        void *arg, mg_redis_req_t **out)
{
    q->cb = cb;
    q->arg = arg;
    if (c != NULL) {
        q->conn = c;
        q->ac = c->ac;
        if (req_send(q) != MG_OK) {
            free(q);
            return decline(r);
        }
        if (r->tripped) {
            q->trial = true;
            r->trial = true;
        }
        live_link(r, q);
    } else {
        q->waiting = true;
        if (r->wait_tail != NULL) {
            r->wait_tail->next = q;
        } else {
            r->wait_head = q;
        }
        r->wait_tail = q;
    }
    r->last = c;
    r->last_waited = c == NULL;
    q->timeout = timeout > 0 ? timeout : r->conf->timeout;
    ev_timer_init(&q->timer, on_req_timeout, q->timeout, 0);
    q->timer.data = q;
    ev_timer_start(r->loop, &q->timer);
    if (mg__redis_counting()) {
        q->sent = mg_mono_now();
    }
    r->stats.commands++;
    mg__redis_count(MG_REDIS_M_COMMANDS);
    if (out != NULL) {
        *out = q;
    }
    return MG_OK;
}

bool mg__redis_opening(const mg_redis_t *r)
{
    for (int i = 0; i < r->nconns; i++) {
        if (r->conns[i].state == CONN_CONNECTING || r->conns[i].state == CONN_HANDSHAKE) {
            return true;
        }
    }
    return false;
}

int mg_redis_eval(mg_redis_t *r, const mg_redis_script_t *script, int nkeys, int nargs,
                  const char *const *args, const size_t *lens, mg_redis_cb cb, void *arg,
                  mg_redis_req_t **out)
{
    conn_t *c = mg_redis_available(r) ? pick_conn(r) : NULL;
    if (c == NULL) {
        return decline(r);
    }
    /* argv: EVALSHA sha nkeys args..., then the source for a NOSCRIPT retry */
    int argc = 3 + nargs;
    size_t data = 16;
    for (int i = 0; i < nargs; i++) {
        data += lens[i] + 1;
    }
    char *p;
    mg_redis_req_t *q = req_alloc(r, argc, data, &p);
    if (q == NULL) {
        return decline(r);
    }
    q->script = true;
    q->argv[0] = "EVALSHA";
    q->argvlen[0] = 7;
    q->argv[1] = script->sha;
    q->argvlen[1] = 40;
    q->argvlen[2] = (size_t)snprintf(p, 16, "%d", nkeys);
    q->argv[2] = p;
    p += q->argvlen[2] + 1;
    for (int i = 0; i < nargs; i++) {
        memcpy(p, args[i], lens[i]);
        q->argv[3 + i] = p;
        q->argvlen[3 + i] = lens[i];
        p += lens[i] + 1;
    }
    q->argv[argc] = script->src;
    return req_dispatch(r, c, q, 0, cb, arg, out);
}

int mg_redis_command(mg_redis_t *r, int argc, const char *const *argv, const size_t *lens,
                     double timeout, unsigned flags, mg_redis_cb cb, void *arg,
                     mg_redis_req_t **out)
{
    conn_t *c = NULL;
    bool queue = false;
    if ((flags & MG_REDIS_SAME) && r->last_waited && r->wait_tail != NULL) {
        queue = true; /* after the one before it */
    } else if ((flags & MG_REDIS_SAME) && r->last != NULL && r->last->state == CONN_READY &&
               r->last->ac != NULL) {
        c = r->last;
    } else if (mg_redis_available(r)) {
        c = pick_conn(r);
    } else if ((flags & MG_REDIS_WAIT) && r->ready == 0 && !r->tripped && mg__redis_opening(r)) {
        queue = true;
    }
    if (c == NULL && !queue) {
        return decline(r);
    }
    size_t data = 0;
    for (int i = 0; i < argc; i++) {
        data += lens[i] + 1;
    }
    char *p;
    mg_redis_req_t *q = req_alloc(r, argc, data, &p);
    if (q == NULL) {
        return decline(r);
    }
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], lens[i]);
        q->argv[i] = p;
        q->argvlen[i] = lens[i];
        p += lens[i] + 1;
    }
    return req_dispatch(r, c, q, timeout, cb, arg, out);
}

const char *mg_redis_unavailable_reason(const mg_redis_t *r)
{
    if (r->ready > 0 && r->tripped) {
        return "unavailable (too many failures in a row)";
    }
    return r->last_err[0] != '\0' ? r->last_err : "closed";
}

void mg__redis_flush_waiting(conn_t *c)
{
    mg_redis_t *r = c->r;
    mg_redis_req_t *q;
    while ((q = wait_pop(r)) != NULL) {
        q->conn = c;
        q->ac = c->ac;
        if (req_send(q) != MG_OK) {
            req_complete(q, MG_REDIS_ERROR, NULL);
            free(q);
            continue;
        }
        live_link(r, q);
    }
    if (r->last_waited) {
        r->last_waited = false;
        r->last = c;
    }
}

void mg__redis_fail_waiting(mg_redis_t *r)
{
    mg_redis_req_t *q;
    while ((q = wait_pop(r)) != NULL) {
        req_complete(q, MG_REDIS_ERROR, NULL);
        free(q);
    }
    r->last_waited = false;
}

void mg_redis_cancel(mg_redis_req_t *q)
{
    if (q == NULL || q->cb == NULL) {
        return;
    }
    ev_timer_stop(q->r->loop, &q->timer);
    q->cb = NULL;
    if (q->trial) {
        q->trial = false;
        q->r->trial = false;
    }
    if (q->waiting) {
        wait_unlink(q);
        free(q);
    }
}

void mg__redis_forget_commands(mg_redis_t *r)
{
    for (mg_redis_req_t *q = r->live; q != NULL; q = q->next) {
        ev_timer_stop(r->loop, &q->timer);
        q->cb = NULL;
    }
    for (mg_redis_req_t *q; (q = wait_pop(r)) != NULL;) {
        ev_timer_stop(r->loop, &q->timer);
        free(q); /* never sent: hiredis does not know it */
    }
}

void mg__redis_free_live(mg_redis_t *r)
{
    /* none expected: freeing a context hands every command back */
    while (r->live != NULL) {
        req_free(r->live);
    }
}
