/*
 * http_client.h -- the one outbound HTTP/1.1 client: the proxy's tries, mg.http calls
 * from plugins and the active health probes all go through it.
 *
 * Pure parts (no sockets, unit-tested): URL parsing, the request head, the body framing
 * of a response. The exchange itself (http_client.c) runs on a libev loop over an
 * upstream connection (upstream.h): taken from a node's keep-alive pool or opened, or a
 * connection of its own to any address; every byte moves through the connection's
 * transport (transport.h). The response is parsed with llhttp (strict) and handed to
 * the user through callbacks, like h2o's http1client:
 *
 *   start ─ connect, then the transport's handshake: TLS (connect timeout)
 *   │     ─ head + body out (send timeout; the body may
 *   │       keep coming from the user, with on_sent when the bytes due are out)
 *   ├─ on_head: the final head (1xx skipped; 101 refused unless `upgrade`), header
 *   │           spans in the read buffer
 *   ├─ on_upgrade: after a 101 the user asked for, the connection becomes the user's,
 *   │           with what the peer sent after the head
 *   ├─ on_body: body bytes, de-chunked (read timeout between reads); MG_AGAIN stops
 *   │           reading until mg_http_client_resume()
 *   └─ on_done (connection pooled when both messages were whole) or on_error
 *
 * Inside mg_http_client_start_*() only on_connect and on_sent may run (a pooled
 * connection is written at once), none inside mg_http_client_abort(). on_done and
 * on_error are the last thing the client does for an exchange: the user may free the
 * client in them. In on_head, on_body, on_sent and on_connect the user may abort or
 * restart the client, never free it.
 */
#ifndef MG_HTTP_CLIENT_H
#define MG_HTTP_CLIENT_H

#include <sys/socket.h> /* http.h names struct sockaddr */

#include "http.h"
#include "mg_core.h"
#include "upstream.h"

#include "llhttp.h"

#include <ev.h>

/* The response head's limits, unless the user sets others before a start: fields, and
 * bytes from the status line to the last header (nginx's proxy_buffer_size, 4k or 8k,
 * bounds the same head; these pass what it passes, 150 Set-Cookie lines and more). */
#define MG_HTTP_CLIENT_MAX_FIELDS 1000
#define MG_HTTP_CLIENT_MAX_HEAD_SIZE (16 * 1024)
/* Fields held in the client itself; a head with more grows an array on the heap. */
#define MG_HTTP_CLIENT_INLINE_FIELDS 16

/* ---- URLs ---- */

typedef struct {
    mg_str_t scheme;    /* "http" or "https" */
    mg_str_t host;      /* the host as written; an IPv6 address without its brackets */
    uint16_t port;      /* the explicit port, else the scheme's (80, 443) */
    mg_str_t authority; /* host[:port] as written: the Host header */
    mg_str_t target;    /* path and query, "/" when empty; no fragment */
} mg_http_url_t;

/* Splits "http[s]://HOST[:PORT][/path][?query][#fragment]" into *u (views into url).
 * NULL, or why it is not such a URL ("bad url", "bad url host", "bad url port"). */
const char *mg_http_url_parse(mg_str_t url, mg_http_url_t *u);

/* The socket address of u's host: an IPv4 or IPv6 literal, or "localhost" (127.0.0.1).
 * Other names are refused: resolving them would block the loop. NULL or why not. */
const char *mg_http_url_addr(const mg_http_url_t *u, struct sockaddr_storage *ss, socklen_t *len);

/* ---- the request head ---- */

/* What the head says; every view is borrowed. */
typedef struct {
    mg_str_t method;
    mg_str_t path;  /* the target, or its path when query is set apart */
    mg_str_t query; /* written after '?' when not empty */
    mg_str_t host;  /* the Host value */
    /* headers copied in order, minus those `skip` (when set) says to leave out */
    const mg_header_t *headers;
    size_t nheaders;
    bool (*skip)(const mg_header_t *h, const void *arg);
    const void *skip_arg;
    const mg_header_t *extra; /* written after them */
    size_t nextra;
    mg_str_t raw;           /* header lines ("Name: value\r\n"), written as they are */
    int64_t content_length; /* Content-Length, or -1 for none */
    bool chunked;           /* Transfer-Encoding: chunked (content_length is then ignored) */
    bool close;             /* Connection: close */
} mg_http_client_req_t;

/* Bytes the head of q takes at most (for one allocation). */
size_t mg_http_client_head_size(const mg_http_client_req_t *q);

/* Writes the head of q into buf (mg_http_client_head_size() bytes at least): request
 * line, Host, the headers, the extra ones, the raw lines, the framing, Connection:
 * close when asked, the empty line. Returns the length written. */
size_t mg_http_client_head_build(const mg_http_client_req_t *q, char *buf);

/* Writes the line that opens a chunk of len bytes ("1a2b\r\n") into buf (at least
 * MG_HTTP_CHUNK_LINE_MAX bytes). Returns its length. */
#define MG_HTTP_CHUNK_LINE_MAX 20
size_t mg_http_chunk_line(char *buf, size_t len);

/* ---- the response's framing ---- */

typedef enum {
    MG_HTTP_BODY_NONE = 0, /* no body: a HEAD request, 1xx, 204, 304 */
    MG_HTTP_BODY_LENGTH,   /* Content-Length bytes */
    MG_HTTP_BODY_CHUNKED,  /* chunked */
    MG_HTTP_BODY_TO_CLOSE, /* everything until the upstream closes */
} mg_http_body_kind_t;

/* How the body of a response to a request (head_request: a HEAD) with `status` is
 * framed, from what its head said (a Content-Length of `length`, chunked). *declared
 * is the length a client of ours may be told: the body's, and for a HEAD or 304 the
 * length it describes (a 204 has none); -1 when unknown. Strict llhttp refuses a head
 * with both framings before this is asked. */
mg_http_body_kind_t mg_http_client_framing(bool head_request, int status, bool has_length,
                                           uint64_t length, bool chunked, int64_t *declared);

/* ---- the exchange ---- */

typedef struct mg_http_client_s mg_http_client_t;

/* Why an exchange failed. */
typedef enum {
    MG_HTTP_CLIENT_ERR_CONNECT = 0, /* refused / unreachable: nothing reached the peer */
    MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT,
    MG_HTTP_CLIENT_ERR_IO,           /* reset, EOF or send error before the response's end */
    MG_HTTP_CLIENT_ERR_TIMEOUT,      /* send or read timeout */
    MG_HTTP_CLIENT_ERR_BAD_RESPONSE, /* malformed, ambiguous or oversized response */
    MG_HTTP_CLIENT_ERR_NO_SOCKET,    /* out of descriptors (EMFILE/ENFILE), or memory */
    MG_HTTP_CLIENT_ERR_REFUSED,      /* on_head or on_body returned MG_ERROR */
    MG_HTTP_CLIENT_ERR_TLS,          /* the TLS handshake failed (why: OpenSSL's reason, e.g.
                                        "certificate has expired"): no request byte left */
} mg_http_client_err_t;

/* "connect failed", "invalid response", ... for logs. */
const char *mg_http_client_err_name(mg_http_client_err_t err);

/* Where an exchange is. The request may still be going out in WAITING and BODY (an
 * upstream may answer before it read everything). */
typedef enum {
    MG_HTTP_CLIENT_IDLE = 0,   /* no exchange */
    MG_HTTP_CLIENT_CONNECTING, /* the connection is being opened */
    MG_HTTP_CLIENT_SENDING,    /* connected; no response byte yet, request bytes due */
    MG_HTTP_CLIENT_WAITING,    /* the response head is awaited (or arriving) */
    MG_HTTP_CLIENT_BODY,       /* the head went to on_head; the body is read */
    MG_HTTP_CLIENT_DONE,       /* the response is complete (on_done ran or runs) */
    MG_HTTP_CLIENT_FAILED,     /* it failed (on_error ran or runs) */
    MG_HTTP_CLIENT_UPGRADED,   /* a 101 switched protocols (on_upgrade ran or runs) */
} mg_http_client_state_t;

/* The final response head, as on_head gets it: in the http layer's own form, so a
 * proxy hands it on as it is (the user may change it: it is the client's scratch).
 * head.headers point into the read buffer: valid until on_head returns (copy what must
 * live longer); values are trimmed. head.content_length is the declared length (see
 * mg_http_client_framing()); head.connection the Connection value; no extra headers. */
typedef struct {
    mg_http_head_t head;
    mg_http_body_kind_t frame; /* how the body comes */
} mg_http_client_head_t;

/* A request body the user feeds: [sent, len) of data are due. The user owns it, may
 * append (or move the bytes, keeping sent and len true) between calls of the client,
 * and calls mg_http_client_send() after a change. The client only advances `sent`. */
typedef struct {
    char *data;
    size_t len, sent;
    bool end; /* nothing will be added: the request ends at len */
} mg_http_client_body_t;

typedef struct {
    /* The connection is up (a pooled one at once). May be NULL. */
    void (*on_connect)(mg_http_client_t *cl);
    /* Every request byte due went out (the user may feed more). May be NULL. */
    void (*on_sent)(mg_http_client_t *cl);
    /* The final head. MG_OK, or MG_ERROR to refuse the response (then on_error with
     * MG_HTTP_CLIENT_ERR_REFUSED follows). */
    int (*on_head)(mg_http_client_t *cl, mg_http_client_head_t *h);
    /* Body bytes; len 0 (not the end) when a read ended without any, once the head is
     * in: a chance to flush what the user holds. MG_OK, MG_AGAIN (no reads until
     * mg_http_client_resume; the rest of what was read still comes) or MG_ERROR. */
    int (*on_body)(mg_http_client_t *cl, const char *data, size_t len);
    /* The response is complete; the connection went back to its pool when both messages
     * were whole and the peer allows it. */
    void (*on_done)(mg_http_client_t *cl);
    /* The exchange failed; `why` is static text (for logs) or NULL. The connection is
     * closed. */
    void (*on_error)(mg_http_client_t *cl, mg_http_client_err_t err, const char *why);
    /* With `upgrade`: on_head accepted a 101 and the exchange is over. `conn` is taken
     * by the user, its watchers stopped (io's callback and data are the user's to set);
     * it closes it with mg_upstream_release(conn, false): a switched connection never
     * goes back to a pool. `rest` (borrowed for the call, from the read buffer) holds
     * what the peer sent after its head. Like on_done, the last thing the client does
     * for the exchange: the user may free the client in it. Required with `upgrade`. */
    void (*on_upgrade)(mg_http_client_t *cl, mg_upstream_conn_t *conn, const char *rest,
                       size_t len);
} mg_http_client_ops_t;

struct mg_http_client_s {
    const mg_http_client_ops_t *ops;
    void *data; /* the user's */
    struct ev_loop *loop;
    /* timeouts (s; 0 = none): idle ones per phase, or with `total` > 0 one deadline for
     * the whole exchange instead. Set before a start. */
    double connect_timeout, send_timeout, read_timeout, total_timeout;
    /* mg_http_client_start_addr(): speak TLS as this says (borrowed until the exchange
     * ends); NULL: plain. Nodes' connections take their upstream's own TLS. */
    const mg_upstream_tls_t *tls;
    /* the response head's limits: over either, the exchange fails with
     * MG_HTTP_CLIENT_ERR_BAD_RESPONSE and a `why` naming the limit. Defaults
     * MG_HTTP_CLIENT_MAX_FIELDS and MG_HTTP_CLIENT_MAX_HEAD_SIZE; the read buffer caps
     * the size too. */
    size_t max_fields, max_head_size;
    bool weak;         /* watchers never keep the loop alive (ev_unref) */
    bool head_request; /* the request is a HEAD: its response has no body */
    bool upgrade;      /* the request asks to switch protocols: a 101 goes to on_head,
                        * then on_upgrade (else a 101 is a bad response) */
    bool wrote;        /* request bytes went out in this exchange (for retry rules) */
    bool reused;       /* this exchange runs on a pooled connection */
    /* A connection of its own (start_addr, start_conn) that could carry another
     * exchange when this one completed goes to `kept` (watchers stopped) instead of
     * being closed: the user pools it (mg_upstream_kpool_put) or closes it
     * (mg_upstream_release). Set before a start; `kept` is read in on_done. */
    bool keep_conn;
    mg_upstream_conn_t *kept;

    /* the rest is the client's */
    mg_http_client_state_t state;
    /* Bumped when an exchange starts or ends. The client's frames compare it after a
     * user callback: the user may have aborted or restarted the client meanwhile, and
     * the connection pointer alone cannot tell (a new one may sit at the same address). */
    unsigned seq;
    mg_upstream_conn_t *conn; /* owned while an exchange runs */
    ev_timer timer;
    unsigned io_events;
    int deferred;                  /* a negative errno from the start, reported from the loop */
    bool shaking;                  /* connected; the transport's handshake runs */
    unsigned rd_want, wr_want;     /* what the last read / write that said -EAGAIN waits for
                                      (TLS may read on writability and the reverse) */
    char tls_why[96];              /* the handshake's failure, kept past the connection */
    mg_http_client_err_t stop_err; /* why a callback of ours stopped the parser */
    const char *head;
    size_t hlen, hsent;
    mg_http_client_body_t *body; /* the user's, or NULL: the head holds everything */
    bool out_broken;             /* writing failed; what the peer answered is still read */
    bool paused;                 /* on_body said MG_AGAIN: no reads */
    bool extra;                  /* bytes after the response: never pooled */
    bool in_value;
    llhttp_t parser;
    char *rbuf; /* the read buffer; holds a whole response head */
    size_t rcap, rlen;
    bool rbuf_lazy; /* rbuf is the client's, taken only while bytes are read (init) */
    mg_str_t reason;
    const char *why; /* ... and the text for it */
    size_t nhdr, hcap;
    mg_header_t *hdr; /* hdr_inline, or a heap array grown by need up to max_fields */
    mg_header_t hdr_inline[MG_HTTP_CLIENT_INLINE_FIELDS];
};

/* Sets up cl (the caller's storage) on `loop` with the user's ops and data, and a read
 * buffer (borrowed; it caps the response head) of rcap bytes. Timeouts are 0 (none).
 * With rbuf NULL the client takes a buffer of MG_HTTP_CLIENT_RBUF bytes from a
 * per-process free list only while it reads, keeps it while a head is incomplete, and
 * gives it back as soon as what was read went to the callbacks: an exchange waiting
 * for its answer holds none. */
#define MG_HTTP_CLIENT_RBUF 16384
void mg_http_client_init(mg_http_client_t *cl, struct ev_loop *loop,
                         const mg_http_client_ops_t *ops, void *data, char *rbuf, size_t rcap);

/* Ends what cl holds: the exchange in progress (as mg_http_client_abort()) and the
 * header array a large head grew. Every user calls it before freeing or reusing cl's
 * storage; cl may then be initialised again. */
void mg_http_client_dispose(mg_http_client_t *cl);

/* Starts an exchange on node `node` of `u`: on a pooled connection unless `fresh`, else
 * on a new one (counted against max_connections). `head` (hlen bytes) and `body` (may
 * be NULL) are borrowed until the exchange ends. MG_OK: started, the callbacks follow;
 * -EBUSY: the upstream is at max_connections, or -EALREADY: max_connecting connects to
 * the node are in progress (upstream.h); nothing started either way. Other failures to
 * get a connection come through on_error from the loop. */
int mg_http_client_start_node(mg_http_client_t *cl, mg_upstream_t *u, int node, bool fresh,
                              const char *head, size_t hlen, mg_http_client_body_t *body);

/* Starts an exchange with any address on a connection of its own, closed at the end.
 * As above, without -EBUSY: always MG_OK. */
int mg_http_client_start_addr(mg_http_client_t *cl, const struct sockaddr *sa, socklen_t salen,
                              const char *head, size_t hlen, mg_http_client_body_t *body);

/* Starts an exchange on `c`, an idle connection of the user's (mg_upstream_kpool_acquire):
 * taken by the client. As mg_http_client_start_addr() otherwise. */
int mg_http_client_start_conn(mg_http_client_t *cl, mg_upstream_conn_t *c, const char *head,
                              size_t hlen, mg_http_client_body_t *body);

/* The user's body changed (more bytes, or the end): writes what it can now. Never
 * reads and never calls back but on_sent. */
void mg_http_client_send(mg_http_client_t *cl);

/* Reads again after on_body said MG_AGAIN. */
void mg_http_client_resume(mg_http_client_t *cl);

/* Ends the exchange in progress, if any, without a callback; its connection is closed.
 * cl may then be freed or started again. */
void mg_http_client_abort(mg_http_client_t *cl);

/* True once the whole request went out (head, and the body to its end). */
bool mg_http_client_request_sent(const mg_http_client_t *cl);

#endif
