/*
 * redis_int.h -- what the two halves of the Redis client share: redis.c (the client:
 * connections, handshake, reconnects, breaker, outage logging, metrics) and
 * redis_cmd.c (commands: sending, queueing until a connection is up, replies,
 * deadlines, cancelling). Not for other modules.
 */
#ifndef MG_REDIS_INT_H
#define MG_REDIS_INT_H

#include "redis.h"

#include <async.h>
#include <netdb.h>
#include <sys/un.h>

/* Where a connection is. */
typedef enum { CONN_DOWN = 0, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY } mg__redis_conn_state_t;

/* One connection of a client (a hiredis context comes and goes inside it). */
typedef struct {
    mg_redis_t *r;
    redisAsyncContext *ac; /* NULL while down */
    mg__redis_conn_state_t state;
    ev_timer retry;    /* reconnect after backoff */
    ev_timer deadline; /* connect + handshake */
    double backoff;
    int stale;          /* replies owed for commands that timed out */
    int handshake_left; /* replies still expected before READY */
    /* replies owed and begun on the current context: a reply beyond the commands sent
     * is refused by the reader (mg__redis_guard_reader), which closes the connection,
     * instead of reaching hiredis, which aborts the process on a reply with no command */
    uint64_t sent, begun;
    bool unasked; /* the server sent a reply nobody asked for */
} mg__redis_conn_t;

/* A command, from its send until hiredis hands its callback back. */
struct mg_redis_req_s {
    mg_redis_t *r;
    mg__redis_conn_t *conn;
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

/* A client: its connections, live and waiting commands, breaker and outage state. */
struct mg_redis_s {
    struct ev_loop *loop;
    const mg_redis_conf_t *conf;
    char host[NI_MAXHOST];
    int port;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* AF_UNIX: its path */
    char last_err[160];     /* why the last connection went down or failed to come up */
    mg__redis_conn_t *last; /* the connection of the last command sent (MG_REDIS_SAME) */
    bool last_waited;       /* ... or the last command was queued */
    mg_redis_req_t *wait_head, *wait_tail; /* MG_REDIS_WAIT commands, in order */
    const mg_redis_script_t *const *scripts;
    size_t nscripts;
    const char *consequence;
    mg__redis_conn_t *conns;
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

/* redis.c */
/* Counts one in `cell` of the worker's series, when metrics count. */
void mg__redis_count(int cell);
/* True while metrics count (commands then take the time they are sent). */
bool mg__redis_counting(void);
/* A reply came `secs` after its command was sent: the histogram. */
void mg__redis_observe(double secs);
/* A command succeeded / failed (the breaker, the outage line). */
void mg__redis_note_success(mg_redis_t *r);
void mg__redis_note_failure(mg_redis_t *r, bool trial, const char *why);
/* Closes c on our side; its pending commands fail (see redis.c). */
void mg__redis_conn_drop(mg__redis_conn_t *c, const char *why);
/* Wraps the reader's object functions (once per reader; conn is the connection whose
 * counts it checks) so that a top-level reply past the commands sent fails the read. */
void mg__redis_guard_reader(redisReader *rd, void *conn);
/* A command went out on c's current context (counted against the replies it reads). */
void mg__redis_note_sent(mg__redis_conn_t *c);

/* redis_cmd.c */
/* A connection is being opened. */
bool mg__redis_opening(const mg_redis_t *r);
/* The first connection is up: the commands that waited for it go out on c, in order. */
void mg__redis_flush_waiting(mg__redis_conn_t *c);
/* No connection is up nor being opened: the commands that waited fail. */
void mg__redis_fail_waiting(mg_redis_t *r);
/* The client is going away: no callback of any command will be called; the waiting
 * ones are freed (those hiredis holds are freed when their contexts are). */
void mg__redis_forget_commands(mg_redis_t *r);
/* Commands hiredis no longer knows, after every context was freed. */
void mg__redis_free_live(mg_redis_t *r);

#endif
