/*
 * redis.c -- the per-worker async Redis client: connection pool, reconnects, command
 * deadlines, EVALSHA with an EVAL fallback, circuit breaker and outage logging.
 *
 * Lifetimes. A command (mg_redis_req_t) is allocated when sent and freed only when
 * hiredis hands its callback back (with the reply, or with NULL when the connection is
 * freed), so the privdata hiredis holds is always valid. Completing a command early
 * (deadline) or cancelling it clears req->cb, after which the late reply is ignored.
 * Connections are allocated with the client and freed with it; hiredis contexts come
 * and go inside them.
 */
#include "redis.h"

#include "clock.h"
#include "log.h"
#include "metrics_store.h"

#include <adapters/libev.h>
#include <async.h>
#include <ctype.h>
#include <netdb.h>
#include <sys/un.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 2.0
#define OPEN_MIN 0.25
#define OPEN_MAX 2.0
#define MAX_POOL 64

typedef enum { CONN_DOWN = 0, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY } conn_state_t;

typedef struct {
    mg_redis_t *r;
    redisAsyncContext *ac; /* NULL while down */
    conn_state_t state;
    ev_timer retry;    /* reconnect after backoff */
    ev_timer deadline; /* connect + handshake */
    double backoff;
    int stale;          /* replies owed for commands that timed out */
    int handshake_left; /* replies still expected before READY */
} conn_t;

struct mg_redis_req_s {
    mg_redis_t *r;
    conn_t *conn;
    redisAsyncContext *ac; /* the context it was sent on */
    ev_timer timer;
    mg_redis_cb cb; /* NULL once completed or cancelled */
    void *arg;
    bool timed_out;
    bool retried;                /* NOSCRIPT: sent again as EVAL */
    bool trial;                  /* the breaker's trial command */
    bool script;                 /* an EVALSHA of ours: its error replies are logged */
    bool waiting;                /* queued until a connection is up (conn, ac NULL) */
    double sent;                 /* mg_mono_now() when sent, while metrics count */
    double timeout;              /* its deadline, s */
    mg_redis_req_t *prev, *next; /* live list, for destroy */
    int argc;
    const char **argv;
    size_t *argvlen;
};

struct mg_redis_s {
    struct ev_loop *loop;
    const mg_redis_conf_t *conf;
    char host[NI_MAXHOST];
    int port;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* AF_UNIX: its path */
    char last_err[160]; /* why the last connection went down or failed to come up */
    conn_t *last;       /* the connection of the last command sent (MG_REDIS_SAME) */
    bool last_waited;   /* ... or the last command was queued */
    mg_redis_req_t *wait_head, *wait_tail; /* MG_REDIS_WAIT commands, in order */
    const mg_redis_script_t *const *scripts;
    size_t nscripts;
    const char *consequence;
    conn_t *conns;
    int nconns;
    int next;  /* round robin */
    int ready; /* connections in CONN_READY */
    mg_redis_req_t *live;
    double offset; /* Redis clock - ev_time() */
    /* breaker */
    int fails; /* failures in a row */
    bool tripped;
    bool trial; /* a trial command is in flight */
    double open_until;
    double open_for;
    /* outage logging */
    bool down;
    bool logged;
    bool connected_once; /* the first connection was logged */
    double down_since;
    double last_log;
    double last_err_log; /* script errors */
    bool destroying;
    mg_redis_stats_t stats;
};

static void conn_start(conn_t *c);
static void conn_drop(conn_t *c, const char *why);

/* ---- metrics: this worker's series, shared by all its clients ---- */

static uint64_t *m_cells; /* NULL: not counting */
static double m_bounds[MG_METRICS_MAX_BUCKETS];
static uint32_t m_nbounds;

static void count(int cell)
{
    if (m_cells != NULL) {
        mg_metrics_add(&m_cells[cell], 1);
    }
}

uint32_t mg_redis_metrics_cells(uint32_t nbounds)
{
    return MG_REDIS_M_HIST + MG_METRICS_HIST_CELLS(nbounds);
}

void mg_redis_metrics_bind(bool on, const double *bounds, uint32_t nbounds)
{
    m_cells = NULL;
    if (!on || nbounds > MG_METRICS_MAX_BUCKETS) {
        return;
    }
    memcpy(m_bounds, bounds, nbounds * sizeof(*bounds));
    m_nbounds = nbounds;
    m_cells = mg_metrics_series(mg_str(MG_REDIS_METRICS_KEY, strlen(MG_REDIS_METRICS_KEY)),
                                mg_redis_metrics_cells(nbounds), 0);
}

void mg_redis_script_init(mg_redis_script_t *s, const char *src)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    s->src = src;
    SHA1((const unsigned char *)src, strlen(src), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    }
}

const char *mg_redis_name(const mg_redis_t *r)
{
    return r->conf->addr.text;
}

double mg_redis_clock_offset(const mg_redis_t *r)
{
    return r->offset;
}

void mg_redis_stats(const mg_redis_t *r, mg_redis_stats_t *out)
{
    *out = r->stats;
    out->connected = r->ready;
}

/* ---- outage state and logging ---- */

static void note_down(mg_redis_t *r, const char *why)
{
    double now = ev_time();
    if (r->down) {
        return;
    }
    r->down = true;
    r->down_since = now;
    r->logged = false;
    if (now - r->last_log >= MG_REDIS_LOG_EVERY || r->last_log == 0) {
        r->last_log = now;
        r->logged = true;
        mg_log_err("redis %s unavailable: %s%s%s", r->conf->addr.text, why,
                   r->consequence ? "; " : "", r->consequence ? r->consequence : "");
    }
}

static void note_up(mg_redis_t *r)
{
    if (!r->down || r->ready == 0 || r->tripped) {
        return;
    }
    r->down = false;
    if (r->logged) {
        mg_log_notice("redis %s available again after %.1f s", r->conf->addr.text,
                      ev_time() - r->down_since);
    }
}

/* A command failed (error, lost connection, deadline): counts towards the breaker. */
static void note_failure(mg_redis_t *r, bool trial, const char *why)
{
    r->fails++;
    if (trial || (!r->tripped && r->fails >= MG_REDIS_BREAKER_FAILS)) {
        r->open_for = r->tripped ? MG_MIN(r->open_for * 2, OPEN_MAX) : OPEN_MIN;
        r->tripped = true;
        r->open_until = ev_now(r->loop) + r->open_for;
        note_down(r, why);
    }
}

static void note_success(mg_redis_t *r)
{
    r->fails = 0;
    if (r->tripped) {
        r->tripped = false;
        note_up(r);
    }
}

bool mg_redis_available(const mg_redis_t *r)
{
    if (r->ready == 0) {
        return false;
    }
    return !r->tripped || (!r->trial && ev_now(r->loop) >= r->open_until);
}

/* ---- commands ---- */

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
        note_success(r);
    } else {
        if (status == MG_REDIS_TIMEOUT) {
            r->stats.timeouts++;
            count(MG_REDIS_M_TIMEOUTS);
        } else {
            r->stats.failures++;
            count(MG_REDIS_M_FAILURES);
        }
        char why[64];
        snprintf(why, sizeof(why),
                 status == MG_REDIS_TIMEOUT ? "no answer within %.0f ms" : "connection lost",
                 q->timeout * 1000);
        note_failure(r, q->trial, why);
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
        conn_drop(c, "too many replies late");
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
    return redisAsyncCommandArgv(q->ac, on_reply, q, q->argc, q->argv, q->argvlen) == REDIS_OK
               ? MG_OK
               : MG_ERROR;
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
        count(MG_REDIS_M_FAILURES);
        mg_redis_t *r = c->r;
        double now = ev_time();
        if (now - r->last_err_log >= MG_REDIS_LOG_EVERY || r->last_err_log == 0) {
            r->last_err_log = now;
            mg_log_err("redis %s script error: %s", r->conf->addr.text, rep->str);
        }
    }
    if (m_cells != NULL && q->sent > 0) {
        mg_metrics_observe(&m_cells[MG_REDIS_M_HIST], m_bounds, m_nbounds, mg_mono_now() - q->sent);
    }
    mg_redis_cb cb = q->cb;
    ev_timer_stop(c->r->loop, &q->timer);
    q->cb = NULL;
    if (q->trial) {
        c->r->trial = false;
    }
    note_success(c->r);
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
    count(MG_REDIS_M_DECLINED);
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
static int req_dispatch(mg_redis_t *r, conn_t *c, mg_redis_req_t *q, double timeout,
                        mg_redis_cb cb, void *arg, mg_redis_req_t **out)
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
    if (m_cells != NULL) {
        q->sent = mg_mono_now();
    }
    r->stats.commands++;
    count(MG_REDIS_M_COMMANDS);
    if (out != NULL) {
        *out = q;
    }
    return MG_OK;
}

/* A connection is being opened (none is up). */
static bool opening(const mg_redis_t *r)
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
    } else if ((flags & MG_REDIS_WAIT) && r->ready == 0 && !r->tripped && opening(r)) {
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

/* The first connection is up: the commands that waited for it go out, in order. */
static void flush_waiting(conn_t *c)
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

/* No connection is up nor being opened: the commands that waited fail. */
static void fail_waiting(mg_redis_t *r)
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

/* ---- connections ---- */

static void schedule_retry(conn_t *c)
{
    mg_redis_t *r = c->r;
    if (r->destroying) {
        return;
    }
    ev_timer_stop(r->loop, &c->deadline);
    ev_timer_stop(r->loop, &c->retry);
    ev_timer_set(&c->retry, c->backoff, 0);
    ev_timer_start(r->loop, &c->retry);
    c->backoff = MG_MIN(c->backoff * 2, BACKOFF_MAX);
}

static void conn_lost(conn_t *c, const char *why)
{
    mg_redis_t *r = c->r;
    if (c->state == CONN_READY) {
        r->ready--;
    }
    c->state = CONN_DOWN;
    c->ac = NULL;
    c->stale = 0;
    snprintf(r->last_err, sizeof(r->last_err), "%s", why);
    if (islower((unsigned char)r->last_err[1])) {
        /* "Connection refused" as mg.redis says it; not "WRONGPASS ..." */
        r->last_err[0] = (char)tolower((unsigned char)r->last_err[0]);
    }
    schedule_retry(c);
    if (r->ready == 0) {
        note_down(r, why);
        if (!opening(r)) {
            fail_waiting(r);
        }
    }
}

/* Closes the connection on our side (deadline, too many late replies, bad handshake).
 * Pending commands complete with MG_REDIS_ERROR (at once, or right after the hiredis
 * callback we may be inside of returns). */
static void conn_drop(conn_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL) {
        return;
    }
    ac->data = NULL; /* its disconnect callback, if any, is ours to ignore */
    conn_lost(c, why);
    redisAsyncFree(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;
    if (c == NULL || c->ac != ac) {
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "%s", ac->errstr && ac->err ? ac->errstr : "connection closed");
    conn_lost(c, why);
}

static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn_t *c = privdata;
    const redisReply *rep = reply;
    mg_redis_t *r = c->r;
    if (rep == NULL || c->ac != ac) {
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "%s", rep->str ? rep->str : "error");
        conn_drop(c, why);
        return;
    }
    if (--c->handshake_left > 0) {
        return;
    }
    /* the last handshake reply is TIME */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->str &&
        rep->element[1]->str) {
        r->offset = strtod(rep->element[0]->str, NULL) + strtod(rep->element[1]->str, NULL) / 1e6 -
                    ev_time();
    }
    ev_timer_stop(r->loop, &c->deadline);
    c->state = CONN_READY;
    r->last_err[0] = '\0';
    c->backoff = BACKOFF_MIN;
    r->ready++;
    flush_waiting(c);
    if (!r->connected_once) {
        /* until now this worker's cluster limits applied their redis_failure; the line
         * tells when that ended after a start or a reload (the t/ harness waits for it) */
        r->connected_once = true;
        mg_log_info("redis %s connected", r->conf->addr.text);
    }
    note_up(r);
}

static void send_handshake(conn_t *c)
{
    mg_redis_t *r = c->r;
    int n = 0;
    bool ok = true;
    if (r->conf->password != NULL && r->conf->username != NULL) {
        ok = ok && redisAsyncCommand(c->ac, on_handshake, c, "AUTH %s %s", r->conf->username,
                                     r->conf->password) == REDIS_OK;
        n++;
    } else if (r->conf->password != NULL) {
        ok = ok &&
             redisAsyncCommand(c->ac, on_handshake, c, "AUTH %s", r->conf->password) == REDIS_OK;
        n++;
    }
    if (r->conf->db != 0) {
        ok = ok && redisAsyncCommand(c->ac, on_handshake, c, "SELECT %d", r->conf->db) == REDIS_OK;
        n++;
    }
    for (size_t i = 0; i < r->nscripts; i++) {
        ok = ok && redisAsyncCommand(c->ac, on_handshake, c, "SCRIPT LOAD %s",
                                     r->scripts[i]->src) == REDIS_OK;
        n++;
    }
    ok = ok && redisAsyncCommand(c->ac, on_handshake, c, "TIME") == REDIS_OK;
    n++;
    /* On failure (out of memory) the deadline closes the connection: freeing the
     * context here, inside hiredis' connect callback, would pull it from under it. */
    c->handshake_left = ok ? n : n + 1;
    c->state = CONN_HANDSHAKE;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;
    if (c == NULL || c->ac != ac) {
        return;
    }
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr ? ac->errstr : "cannot connect");
        ((redisAsyncContext *)ac)->data = NULL;
        conn_lost(c, why);
        return;
    }
    send_handshake(c);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    conn_t *c = t->data;
    conn_drop(c, c->state == CONN_CONNECTING ? "connect timed out" : "no answer to the handshake");
}

static void conn_start(conn_t *c)
{
    mg_redis_t *r = c->r;
    redisAsyncContext *ac = r->unix_path[0] != '\0' ? redisAsyncConnectUnix(r->unix_path)
                                                     : redisAsyncConnect(r->host, r->port);
    if (ac == NULL) {
        conn_lost(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        conn_lost(c, why);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    c->stale = 0;
    if (redisLibevAttach(r->loop, ac) != REDIS_OK) {
        conn_drop(c, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_timer_set(&c->deadline, MG_MAX(0.25, 5 * r->conf->timeout), 0);
    ev_timer_start(r->loop, &c->deadline);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    count(MG_REDIS_M_RECONNECTS);
    conn_start(t->data);
}

static int split_addr(mg_redis_t *r)
{
    const mg_addr_t *a = &r->conf->addr;
    char serv[NI_MAXSERV];
    if (a->sa.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
        snprintf(r->unix_path, sizeof(r->unix_path), "%s", un->sun_path);
        return r->unix_path[0] != '\0' ? MG_OK : MG_ERROR;
    }
    if (getnameinfo((const struct sockaddr *)&a->sa, a->salen, r->host, sizeof(r->host), serv,
                    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return MG_ERROR;
    }
    r->port = atoi(serv);
    return MG_OK;
}

mg_redis_t *mg_redis_create(struct ev_loop *loop, const mg_redis_conf_t *conf,
                            const mg_redis_script_t *const *scripts, size_t nscripts,
                            const char *consequence)
{
    mg_redis_t *r = calloc(1, sizeof(*r));
    int n = conf->pool_size > 0 ? MG_MIN(conf->pool_size, MAX_POOL) : 2;
    if (r == NULL || (r->conns = calloc((size_t)n, sizeof(conn_t))) == NULL) {
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->conf = conf;
    r->scripts = scripts;
    r->nscripts = nscripts;
    r->consequence = consequence;
    r->nconns = n;
    if (split_addr(r) != MG_OK) {
        free(r->conns);
        free(r);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        conn_t *c = &r->conns[i];
        c->r = r;
        c->backoff = BACKOFF_MIN;
        ev_timer_init(&c->retry, on_retry, 0, 0);
        c->retry.data = c;
        ev_timer_init(&c->deadline, on_deadline, 0, 0);
        c->deadline.data = c;
        conn_start(c);
    }
    return r;
}

void mg_redis_destroy(mg_redis_t *r)
{
    if (r == NULL) {
        return;
    }
    r->destroying = true;
    for (mg_redis_req_t *q = r->live; q != NULL; q = q->next) {
        ev_timer_stop(r->loop, &q->timer);
        q->cb = NULL;
    }
    for (int i = 0; i < r->nconns; i++) {
        conn_t *c = &r->conns[i];
        ev_timer_stop(r->loop, &c->retry);
        ev_timer_stop(r->loop, &c->deadline);
        if (c->ac != NULL) {
            redisAsyncContext *ac = c->ac;
            ac->data = NULL;
            c->ac = NULL;
            redisAsyncFree(ac); /* runs on_reply(NULL) for what is pending: frees reqs */
        }
    }
    for (mg_redis_req_t *q; (q = wait_pop(r)) != NULL;) {
        free(q); /* never sent: hiredis does not know it */
    }
    /* commands hiredis no longer knows (none expected) */
    while (r->live != NULL) {
        req_free(r->live);
    }
    free(r->conns);
    free(r);
}
