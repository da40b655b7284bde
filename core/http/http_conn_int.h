/*
 * http_conn_int.h -- what the two halves of the client side share: http_conn.c (the
 * connection: buffers, I/O, timers, the driver loop, responses going out, the end of a
 * request) and http_request.c (llhttp callbacks, head validation, limits, routing and
 * dispatch). Not for other modules.
 *
 * A connection holds no read buffer, output buffer or pool while it waits idle for
 * its next request: they come from per-process free lists when bytes arrive, so an
 * idle keep-alive connection costs only this struct.
 */
#ifndef MG_HTTP_CONN_INT_H
#define MG_HTTP_CONN_INT_H

#include "http.h"
#include "transport.h"
#include "http_parse.h"
#include "llhttp.h"

#include <ev.h>

/* The read buffer, sized by need: most request heads fit in 2 KiB (nginx starts with
 * 1 KiB) and it stays that small while a request without a body waits for its answer;
 * a larger head grows it, and a request with a body gets room for up to
 * MG_HTTP_BUF_BODY_ROOM body bytes per read after its head. */
#define MG_HTTP_BUF_SIZE 2048
#define MG_HTTP_BUF_BODY_ROOM 16384
#define MG_HTTP_OUT_HIGH (64 * 1024) /* pending output over this: producer pauses */
#define MG_HTTP_OUT_LOW (16 * 1024)  /* ... and resumes under this */
#define MG_HTTP_CHUNK_EXT_MAX 1024   /* chunk-extension bytes per chunk */
#define MG_HTTP_POOL_SIZE 4096 /* a request pool's chunk: a proxied GET uses ~2.5 KiB */

/* Where a connection is in its request cycle. */
enum {
    MG_C_IDLE = 0, /* waiting for the first byte of a request */
    MG_C_HEAD,     /* reading the request head */
    MG_C_ACTIVE,   /* dispatched: the producer has the request; body read on demand */
    MG_C_DISCARD,  /* the response ended before the body did: reading it to drop it */
    MG_C_LINGER,   /* response sent, write side shut: drain what the client still sends */
    MG_C_TLS,      /* the TLS handshake, before the first request */
    MG_C_PROXY,    /* the PROXY protocol header, before anything else */
    MG_C_TUNNEL,   /* a 101 went out: raw bytes both ways until the tunnel closes */
};

/* Counts a connection in or out of its state's gauge (worker.h's conn_states). A closed
 * connection was counted out when it closed: the ending of its request, which runs
 * later and moves it to LINGER, must not count it again. */
#define mg__conn_state_count(c, delta)                                                   \
    do {                                                                                 \
        if ((c)->w->stats != NULL && !(c)->closed) {                                     \
            int64_t *n_ = &(c)->w->stats->conn_states[(c)->state];                       \
            __atomic_store_n(n_, *n_ + (delta), __ATOMIC_RELAXED);                        \
        }                                                                                \
    } while (0)

/* Moves a connection to state s, keeping the gauges by state right. */
#define mg__conn_set_state(c, s)                                                         \
    do {                                                                                 \
        mg__conn_state_count(c, -1);                                                     \
        (c)->state = (s);                                                                \
        mg__conn_state_count(c, 1);                                                      \
    } while (0)

/* A header seen while the head is read, as offsets from the start of the request in the
 * read buffer (the buffer may move while it grows). */
typedef struct {
    uint32_t name_off, name_len, val_off, val_len;
} mg_hspan_t;

struct mg_conn_s {
    ev_io io;       /* client socket; events follow what the state needs */
    ev_timer timer; /* one timer, re-armed lazily towards `deadline` */
    mg_worker_t *w;
    mg_conn_t *prev, *next;               /* w->conns */
    const mg_http_session_ops_t *session; /* the protocol's writer (HTTP/1) */
    mg_transport_t tp;                    /* how the bytes move (plain or TLS) */
    int fd;
    uint8_t state;
    bool admin;             /* accepted on the admin listener */
    bool closed;            /* closed; freed when the last frame leaves */
    bool eof;               /* the client shut its write side */
    bool msg_done;          /* llhttp saw the end of the current request */
    bool head_done;         /* headers complete: later header callbacks are trailers */
    bool paused;            /* the producer asked for no more body (MG_AGAIN) */
    bool want_close;        /* close once the current response is out */
    bool big_buf;           /* the read buffer was grown: free it instead of pooling it */
    bool out_paused;        /* a write returned MG_AGAIN: tell on_writable when drained */
    bool readable;          /* the socket may have bytes: a read is worth trying */
    bool read_spurious;     /* a read event came while no input was wanted */
    bool end_posted;        /* the request's end waits in the worker's posted list */
    bool end_keep;          /* ... and the connection stays open after it */
    bool read_wants_write;  /* a TLS read waits for the socket to be writable */
    mg_conn_t *posted_next; /* the worker's list of posted endings */
    int busy;               /* frames of ours on the stack */
    int io_events;
    int err_status; /* status a callback chose for a parse error */
    const char *err_reason;
    double deadline; /* when the current timeout expires (0 = none) */
    double armed_at; /* when the ev_timer fires */
    double last_read, last_write;
    double idle_since; /* when the last response ended: the keep-alive clock starts here */

    char *buf; /* read buffer: [0, len) read, [pos, len) not parsed yet */
    uint32_t cap, len, pos;
    uint32_t hs;        /* offset where the current request starts */
    uint32_t body_base; /* offset just after the current head */
    char *out;          /* pending output [opos, olen) */
    size_t ocap, olen, opos;

    llhttp_t parser;
    mg_pool_t *pool;
    mg_request_t *r; /* the current request, NULL between requests */
    uint32_t nrequests;

    /* head bookkeeping while it is parsed */
    uint32_t url_off, url_len;
    uint32_t line_len;   /* bytes of the current header line */
    uint32_t head_bytes; /* bytes of all header lines */
    mg_hspan_t *spans;
    uint32_t nspans, cspans;
    uint64_t body_read;        /* de-chunked body bytes seen */
    mg_http_chunked_t chunked; /* a chunked body is read with this, not llhttp (state != 0) */

    char addr[48];
    uint16_t port;
};

/* http_conn.c */
void mg__conn_enter(mg_conn_t *c);
void mg__conn_leave(mg_conn_t *c);
/* Ends the current request (access log, counters, generation, pool) and decides what
 * the connection does next; `keep` false closes it once the output is out. */
void mg__conn_end_request(mg_conn_t *c, bool keep);
/* A client-side fault (timeout, reset) with a request in flight: tells the producer,
 * ends the request with `status` for the log and closes. */
void mg__conn_abort(mg_conn_t *c, int status, const char *why);
double mg__conn_now(const mg_conn_t *c);
/* A pool for a new request, from the free list when it has one. */
mg_pool_t *mg__conn_pool_take(void);
/* mg_http_error() with the message of the JSON body chosen by the caller. */
void mg__http_error_msg(mg_request_t *r, int status, const char *msg);

/* http_conn_proxy.c: reads the PROXY protocol header of a proxy_protocol listener's
 * connection; its source becomes c->addr and c->port. MG_OK once read whole (nothing
 * after it consumed), MG_AGAIN (wait for the socket), MG_ERROR with the reason in *why
 * (malformed, closed, reset: the caller closes without a word). */
int mg__conn_proxy_read(mg_conn_t *c, const char **why);

/* http_buf.c: read buffers and request pools from per-process free lists */
int mg__buf_take(mg_conn_t *c);
void mg__buf_give(mg_conn_t *c);
/* Makes room while a large head arrives (drops earlier requests' bytes, then grows up
 * to what the limits allow). MG_ERROR when the head is over them. */
int mg__buf_grow(mg_conn_t *c);

/* Makes the read buffer at least cap bytes (what is in it kept). MG_OK or MG_ERROR. */
int mg__buf_reserve(mg_conn_t *c, size_t cap);
/* Once the head is parsed, before any pointer into the buffer is made: a body follows
 * (a Content-Length, chunked): grows the buffer for reads of up to
 * MG_HTTP_BUF_BODY_ROOM bytes after the head (fewer for a shorter declared body).
 * MG_ERROR when out of memory. */
int mg__buf_body_room(mg_conn_t *c);
/* Whether giving memory back is due (pure; mg_http_mem_tick() gives the figures): the
 * client connections fell to half their peak since the last trim or fewer, and either
 * `since` (ticks since that trim) reached the settling point, or the resident bytes
 * grew by 4 MiB, or the heap's free bytes by 512 KiB since it. */
bool mg__mem_trim_due(size_t peak, size_t nconns, unsigned since, size_t rss, size_t rss_after,
                      size_t freed, size_t free_after);
void mg__conn_pool_give(mg_pool_t *p);

/* http_tunnel.c */
/* Refuses a WebSocket handshake with `status` (400, or 426 naming version 13), logging
 * why; the connection closes after the answer. */
void mg__http_ws_refuse(mg_request_t *r, int status, const char *why);

/* http_respond.c */
/* Runs the log handlers of a request that ends. */
void mg__request_log(mg_request_t *r);

/* http_request.c */
extern const llhttp_settings_t mg__http_settings;
/* A new request begins at c->pos: allocates it. MG_ERROR when out of memory. */
int mg__request_begin(mg_conn_t *c);
/* The head is complete: validates it, routes and hands it to its producer. */
void mg__request_dispatch(mg_conn_t *c);
/* Answers a parse error of the current head with `status` and closes. */
void mg__request_reject(mg_conn_t *c, int status, const char *why);

#endif
