/*
 * redis.c -- the per-worker async Redis client: connection pool, handshake (AUTH,
 * SELECT, SCRIPT LOAD, TIME), reconnects, circuit breaker, outage logging, metrics.
 * Its commands are redis_cmd.c's.
 *
 * Lifetimes. Connections are allocated with the client and freed with it; hiredis
 * contexts come and go inside them. Commands outlive their owners until hiredis hands
 * them back (redis_cmd.c).
 */
#include "redis_int.h"

#include "clock.h"
#include "log.h"
#include "metrics_store.h"

#include <adapters/libev.h>
#include <ctype.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 2.0
#define OPEN_MIN 0.25
#define OPEN_MAX 2.0
#define MAX_POOL 64

typedef mg__redis_conn_t conn_t;

static void conn_start(conn_t *c);

/* ---- metrics: this worker's series, shared by all its clients ---- */

static uint64_t *m_cells; /* NULL: not counting */
static double m_bounds[MG_METRICS_MAX_BUCKETS];
static uint32_t m_nbounds;

void mg__redis_count(int cell)
{
    if (m_cells != NULL) {
        mg_metrics_add(&m_cells[cell], 1);
    }
}

bool mg__redis_counting(void)
{
    return m_cells != NULL;
}

void mg__redis_observe(double secs)
{
    if (m_cells != NULL) {
        mg_metrics_observe(&m_cells[MG_REDIS_M_HIST], m_bounds, m_nbounds, secs);
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
void mg__redis_note_failure(mg_redis_t *r, bool trial, const char *why)
{
    r->fails++;
    if (trial || (!r->tripped && r->fails >= MG_REDIS_BREAKER_FAILS)) {
        r->open_for = r->tripped ? MG_MIN(r->open_for * 2, OPEN_MAX) : OPEN_MIN;
        r->tripped = true;
        r->open_until = ev_now(r->loop) + r->open_for;
        note_down(r, why);
    }
}

void mg__redis_note_success(mg_redis_t *r)
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

/* ---- replies nobody asked for ----
 *
 * hiredis matches each reply to the oldest command waiting; a reply with none waiting,
 * on a connection that is not subscribed (mg.redis refuses SUBSCRIBE and MONITOR),
 * makes it abort the process (an assert in redisProcessCallbacks). A broken or hostile
 * server must cost a connection, not a worker: the reader's object functions are
 * wrapped, and the top-level reply that would be one more than the commands sent is
 * refused as if out of memory, which hiredis turns into a disconnect. */

static redisReplyObjectFunctions guard_fn;
static const redisReplyObjectFunctions *plain_fn;

static bool guard_begin(const redisReadTask *t)
{
    if (t->parent != NULL) {
        return true;
    }
    conn_t *c = t->privdata;
    if (c == NULL) {
        return true;
    }
    if (c->begun >= c->sent) {
        c->unasked = true;
        return false;
    }
    c->begun++;
    return true;
}

static void *guard_string(const redisReadTask *t, char *s, size_t len)
{
    return guard_begin(t) ? plain_fn->createString(t, s, len) : NULL;
}

static void *guard_array(const redisReadTask *t, int n)
{
    return guard_begin(t) ? plain_fn->createArray(t, n) : NULL;
}

static void *guard_integer(const redisReadTask *t, long long v)
{
    return guard_begin(t) ? plain_fn->createInteger(t, v) : NULL;
}

static void *guard_nil(const redisReadTask *t)
{
    return guard_begin(t) ? plain_fn->createNil(t) : NULL;
}

void mg__redis_guard_reader(redisReader *rd, void *conn)
{
    if (plain_fn == NULL) {
        plain_fn = rd->fn;
        guard_fn = *rd->fn;
        guard_fn.createString = guard_string;
        guard_fn.createArray = guard_array;
        guard_fn.createInteger = guard_integer;
        guard_fn.createNil = guard_nil;
    }
    if (rd->fn == plain_fn) {
        rd->fn = &guard_fn;
        rd->privdata = conn;
    }
}

void mg__redis_note_sent(conn_t *c)
{
    c->sent++;
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
        if (!mg__redis_opening(r)) {
            mg__redis_fail_waiting(r);
        }
    }
}

/* Closes the connection on our side (deadline, too many late replies, bad handshake).
 * Pending commands complete with MG_REDIS_ERROR (at once, or right after the hiredis
 * callback we may be inside of returns). */
void mg__redis_conn_drop(conn_t *c, const char *why)
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
    snprintf(why, sizeof(why), "%s",
             c->unasked              ? "the server sent a reply nobody asked for"
             : ac->errstr && ac->err ? ac->errstr
                                     : "connection closed");
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
        mg__redis_conn_drop(c, why);
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
    mg__redis_flush_waiting(c);
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
    c->sent += (uint64_t)n; /* those that failed to queue never get a reply; the deadline
                             * closes the connection then */
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
    mg__redis_conn_drop(c, c->state == CONN_CONNECTING ? "connect timed out"
                                                       : "no answer to the handshake");
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
    c->sent = c->begun = 0;
    c->unasked = false;
    mg__redis_guard_reader(ac->c.reader, c);
    if (redisLibevAttach(r->loop, ac) != REDIS_OK) {
        mg__redis_conn_drop(c, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_timer_set(&c->deadline, MG_MAX(0.25, 5 * r->conf->timeout), 0);
    ev_timer_start(r->loop, &c->deadline);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg__redis_count(MG_REDIS_M_RECONNECTS);
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
    mg__redis_forget_commands(r);
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
    mg__redis_free_live(r);
    free(r->conns);
    free(r);
}
