/*
 * lua_http.c -- mg.http.request: a plugin's HTTP/1.1 call through the outbound client
 * (http_client.h) on the worker's loop.
 *
 * One call per task at a time: the plugin's coroutine yields after mg_lua_http() and is
 * resumed when the answer is complete, failed or timed out (one deadline for the whole
 * call). The request goes out with Host (the URL's, or the plugin's), User-Agent,
 * Content-Length and "Connection: keep-alive"; the response's body is de-chunked and
 * capped, its headers copied as they come (the read buffer is reused for the body). A
 * host name is first resolved by the worker's resolver (sys/resolver.h) without
 * blocking the loop; the call's one deadline covers the lookup too.
 *
 * Keep-alive. Each Lua state (a generation, in one worker) keeps idle connections in a
 * keyed pool of the upstream layer (mg_upstream_kpool_*: EOF watched while idle, probed
 * before reuse, idle timeout, bounded per key and in total), keyed by scheme, host,
 * port, the address connected to and the TLS name and verification: a call takes one
 * that matches, else opens one. A response that ended cleanly on a connection the peer
 * keeps open (HTTP/1.1 without "Connection: close", framed by length or chunks, the
 * whole body read) gives its connection back; an error, a body over max_body, a
 * response read to the close never do. A call that fails on a reused connection
 * before any byte of the answer came (the peer closed it meanwhile) is tried once more
 * on a new connection when nothing was sent or its method is idempotent. A draining
 * worker and a retired generation keep nothing; the state's pool closes with it.
 *
 * https:// URLs speak TLS, verifying the peer against the system's CA store unless
 * the plugin says ssl_verify = false; the name sent (SNI) and checked is the URL's host
 * unless ssl_server_name says otherwise.
 */
#include "lua_int.h"

#include "http_client.h"
#include "log.h"
#include "lua_ffi.h"
#include "resolver.h"
#include "tls.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#define LHTTP_MAX_HEAD (16 * 1024)
#define LHTTP_POOL_MAX 256 /* idle connections per state (worker and generation) */

typedef struct {
    uint32_t name_off, name_len, val_off, val_len;
} lhdr_t;

struct mg_lua_http_s {
    mg_lua_task_t *t;
    char *out; /* the request: head and body */
    size_t olen;
    int status;
    char *hbuf; /* header names and values, packed */
    size_t hlen;
    lhdr_t *hdrs; /* nhdrs of them */
    size_t nhdrs;
    char *body;
    size_t blen, bcap, max_body;
    bool done;
    const char *err;
    char errbuf[96];
    mg_resolver_query_t *rq; /* the host name's lookup, while it runs */
    uint16_t port;
    double deadline; /* of the whole call, lookup included */
    mg_upstream_tls_t tls; /* https: what cl.tls points at */
    char tls_name[256];    /* ... and the name it sends and checks */
    bool keepalive;      /* pool the connection after a clean response */
    bool idempotent;     /* the method may be sent again */
    bool retried;        /* the one retry on a fresh connection was used */
    double ka_timeout;   /* idle timeout of the pooled connection, s */
    size_t ka_pool;      /* idle connections kept under this key */
    struct sockaddr_storage peer; /* the address connected to */
    socklen_t peer_len;
    char key[600]; /* the pool's key for this call */
    mg_http_client_t cl;
    char rbuf[LHTTP_MAX_HEAD];
};

typedef struct mg_lua_http_s lhttp_t;

static int grow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 1024;
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > max) {
        ncap = max;
    }
    if (ncap < need) {
        return -1;
    }
    char *nb = realloc(*buf, ncap);
    if (nb == NULL) {
        return -1;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* ---- the client's callbacks ---- */

/* Copies the head: its spans live in the read buffer, which the body reuses. */
static int on_head(mg_http_client_t *cl, mg_http_client_head_t *ch)
{
    lhttp_t *h = cl->data;
    const mg_http_head_t *hd = &ch->head;
    size_t need = 0;
    for (size_t i = 0; i < hd->nheaders; i++) {
        need += hd->headers[i].name.len + hd->headers[i].value.len;
    }
    h->hdrs = malloc((hd->nheaders > 0 ? hd->nheaders : 1) * sizeof(*h->hdrs));
    if (h->hdrs == NULL || (h->hbuf = malloc(need > 0 ? need : 1)) == NULL) {
        h->err = "out of memory";
        return MG_ERROR;
    }
    h->status = hd->status;
    for (size_t i = 0; i < hd->nheaders; i++) {
        const mg_header_t *x = &hd->headers[i];
        lhdr_t *d = &h->hdrs[h->nhdrs++];
        *d = (lhdr_t){(uint32_t)h->hlen, (uint32_t)x->name.len, 0, (uint32_t)x->value.len};
        memcpy(h->hbuf + h->hlen, x->name.p, x->name.len);
        h->hlen += x->name.len;
        d->val_off = (uint32_t)h->hlen;
        if (x->value.len > 0) {
            memcpy(h->hbuf + h->hlen, x->value.p, x->value.len);
        }
        h->hlen += x->value.len;
    }
    return MG_OK;
}

static int on_body(mg_http_client_t *cl, const char *at, size_t len)
{
    lhttp_t *h = cl->data;
    if (len == 0) {
        return MG_OK;
    }
    if (h->blen + len > h->max_body ||
        grow(&h->body, &h->bcap, h->blen + len, h->max_body ? h->max_body : 1) < 0) {
        h->err = "response body too large";
        return MG_ERROR;
    }
    memcpy(h->body + h->blen, at, len);
    h->blen += len;
    return MG_OK;
}

/* The call ended (done or failed): wake the plugin. Last thing of the client's frame:
 * the plugin may free h when it reads the result. */
static void finish(lhttp_t *h, const char *err)
{
    if (err != NULL && h->err == NULL) {
        h->err = err;
    }
    mg_lua_task_t *t = h->t;
    if (t->wait == MG_WAIT_HTTP) {
        t->wait = MG_WAIT_NONE;
        mg__lua_task_resume(t);
    }
}

static mg_upstream_kpool_t *pool_of(mg_lua_t *lua)
{
    if (lua->http_pool == NULL && lua->w != NULL) {
        lua->http_pool = mg_upstream_kpool_create(lua->w->loop, LHTTP_POOL_MAX);
    }
    return lua->http_pool;
}

void mg__lua_http_pool_destroy(mg_lua_t *lua)
{
    mg_upstream_kpool_destroy(lua->http_pool);
    lua->http_pool = NULL;
}

static void on_done(mg_http_client_t *cl)
{
    lhttp_t *h = cl->data;
    mg_upstream_conn_t *c = cl->kept;
    cl->kept = NULL;
    if (c != NULL) {
        mg_lua_t *lua = h->t->lua;
        if (h->keepalive && !lua->retired && lua->w != NULL && !lua->w->draining) {
            mg_upstream_kpool_put(pool_of(lua), c, h->key, h->ka_timeout, h->ka_pool);
        } else {
            mg_upstream_release(c, false);
        }
    }
    h->done = true;
    finish(h, NULL);
}

static void start_on(lhttp_t *h);

static void on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    lhttp_t *h = cl->data;
    const char *msg = "failed";
    /* a pooled connection the peer closed meanwhile: no byte of an answer came */
    if (cl->reused && !h->retried && err == MG_HTTP_CLIENT_ERR_IO && h->status == 0 &&
        (!cl->wrote || h->idempotent) && ev_now(cl->loop) < h->deadline) {
        h->retried = true;
        mg_log_debug("mg.http: the peer closed the pooled connection (%s), trying a new one",
                     why != NULL ? why : "eof");
        start_on(h);
        return;
    }
    switch (err) {
    case MG_HTTP_CLIENT_ERR_CONNECT:
        msg = why != NULL && strcmp(why, strerror(ECONNREFUSED)) == 0 ? "connection refused"
                                                                      : "connect failed";
        break;
    case MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT:
    case MG_HTTP_CLIENT_ERR_TIMEOUT:
        msg = "timeout";
        break;
    case MG_HTTP_CLIENT_ERR_IO:
        msg = "connection closed before the response ended";
        break;
    case MG_HTTP_CLIENT_ERR_BAD_RESPONSE:
        snprintf(h->errbuf, sizeof(h->errbuf), "bad response: %s", why != NULL ? why : "?");
        msg = h->errbuf;
        break;
    case MG_HTTP_CLIENT_ERR_NO_SOCKET:
        msg = "no socket";
        break;
    case MG_HTTP_CLIENT_ERR_REFUSED:
        break; /* ours: h->err says why */
    case MG_HTTP_CLIENT_ERR_TLS:
        snprintf(h->errbuf, sizeof(h->errbuf), "TLS handshake failed: %s", why != NULL ? why : "?");
        msg = h->errbuf;
        break;
    }
    finish(h, msg);
}

static const mg_http_client_ops_t lhttp_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
    .on_error = on_error,
};

/* ---- the request ---- */

static void lhttp_free(lhttp_t *h)
{
    mg_resolver_cancel(h->rq);
    mg_http_client_dispose(&h->cl);
    free(h->out);
    free(h->hbuf);
    free(h->hdrs);
    free(h->body);
    free(h);
}

static bool has_user_agent(const char *headers, size_t hlen)
{
    for (const char *p = headers; p != NULL && p < headers + hlen;) {
        if (strncasecmp(p, "User-Agent:", 11) == 0) {
            return true;
        }
        const char *nl = memchr(p, '\n', (size_t)(headers + hlen - p));
        p = nl != NULL ? nl + 1 : NULL;
    }
    return false;
}

/* The request, head and body, into one buffer. The Host value is the URL's authority,
 * unless the header block opens with a "Host: " line (the plugin's, checked by the Lua
 * side): that line's value then, and the line is not copied again. */
static char *build(const char *method, const mg_http_url_t *u, const char *headers, size_t hlen,
                   const char *body, size_t blen, bool keepalive, size_t *outlen)
{
    static const mg_header_t extra[] = {{MG_STR("Connection"), MG_STR("keep-alive")},
                                        {MG_STR("User-Agent"), MG_STR("moongate")}};
    mg_str_t host = u->authority;
    if (hlen > 6 && memcmp(headers, "Host: ", 6) == 0) {
        const char *eol = memchr(headers, '\r', hlen);
        if (eol != NULL && eol + 1 < headers + hlen && eol[1] == '\n') {
            host = mg_str(headers + 6, (size_t)(eol - headers - 6));
            hlen -= (size_t)(eol + 2 - headers);
            headers = eol + 2;
        }
    }
    mg_http_client_req_t q = {
        .method = mg_str(method, strlen(method)),
        .path = u->target,
        .host = host,
        .extra = keepalive ? extra : extra + 1,
        .nextra = (keepalive ? 1 : 0) + (has_user_agent(headers, hlen) ? 0 : 1),
        .raw = mg_str(headers, hlen),
        .content_length = body != NULL ? (int64_t)blen : -1,
        .close = !keepalive,
    };
    size_t cap = mg_http_client_head_size(&q) + blen;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t n = mg_http_client_head_build(&q, out);
    if (body != NULL && blen > 0) {
        memcpy(out + n, body, blen);
        n += blen;
    }
    *outlen = n;
    return out;
}

/* ---- https ---- */

/* This worker's TLS client contexts for mg.http and mg.socket: [1] verifies against the system's CA
 * store, [0] does not. Made at the first call that needs one, kept for the process. */
static mg_tls_client_t *https_clients[2];

mg_tls_client_t *mg__lua_tls_client(bool verify, mg_worker_stats_t *ws)
{
    if (https_clients[verify] == NULL) {
        mg_upstream_tls_conf_t c = {.on = true, .verify = verify};
        mg_conf_err_t cerr;
        /* the worker's one-off cost (OpenSSL's first context may load its config),
         * not the plugin's: kept out of the CPU budget */
        mg_worker_lua_leave(ws);
        https_clients[verify] = mg_tls_client_new(NULL, &c, &cerr);
        mg_worker_lua_enter(ws);
        if (https_clients[verify] == NULL) {
            mg_log_err("mg.http: no TLS client context: %s", cerr.msg);
        }
    }
    return https_clients[verify];
}

/* Sets h up for TLS to u's host, or to `server_name` (may be NULL) when given: the
 * name sent and the one the certificate must carry (an address checks its IP SANs and
 * is never sent). NULL, or why not. */
static const char *https_setup(lhttp_t *h, const mg_http_url_t *u, bool verify,
                               const char *server_name)
{
    mg_str_t name = server_name != NULL && server_name[0] != '\0'
                        ? mg_str(server_name, strlen(server_name))
                        : u->host;
    if (name.len >= sizeof(h->tls_name)) {
        return "bad ssl_server_name";
    }
    memcpy(h->tls_name, name.p, name.len);
    h->tls_name[name.len] = '\0';
    h->tls.client = mg__lua_tls_client(verify, h->t->lua->w->stats);
    if (h->tls.client == NULL) {
        return "TLS is not available";
    }
    h->tls.sni = h->tls_name;
    h->tls.verify_name = NULL;
    h->tls.slot = NULL; /* any host: no session kept */
    h->cl.tls = &h->tls;
    return NULL;
}

/* ---- the host name ---- */

/* Starts (or starts again) the exchange with h->peer: on an idle pooled connection
 * with the call's key unless this is the retry, else on a new one; within what is
 * left of the deadline. */
static void start_on(lhttp_t *h)
{
    double left = h->deadline - ev_now(h->cl.loop);
    h->cl.total_timeout = left > 0.001 ? left : 0.001;
    h->cl.keep_conn = h->keepalive;
    mg_upstream_conn_t *c = NULL;
    if (h->keepalive && !h->retried && h->t->lua->http_pool != NULL) {
        c = mg_upstream_kpool_acquire(h->t->lua->http_pool, h->key);
    }
    if (c != NULL) {
        mg_http_client_start_conn(&h->cl, c, h->out, h->olen, NULL);
    } else {
        mg_http_client_start_addr(&h->cl, (struct sockaddr *)&h->peer, h->peer_len, h->out,
                                  h->olen, NULL);
    }
}

/* The pool's key of a call to `u` at the address h->peer: what makes two connections
 * interchangeable. */
static void make_key(lhttp_t *h)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_storage *ss = &h->peer;
    if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, addr, sizeof(addr));
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, addr, sizeof(addr));
    }
    snprintf(h->key + strlen(h->key), sizeof(h->key) - strlen(h->key), "|%s", addr);
}

static void connect_to(lhttp_t *h, const struct sockaddr_storage *ss)
{
    h->peer_len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    h->peer = *ss;
    if (h->peer.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&h->peer)->sin6_port = htons(h->port);
    } else {
        ((struct sockaddr_in *)&h->peer)->sin_port = htons(h->port);
    }
    make_key(h);
    start_on(h);
}

/* The lookup ended: connect to the first address with what is left of the deadline. */
static void on_resolved(void *arg, const mg_resolver_answer_t *a)
{
    lhttp_t *h = arg;
    h->rq = NULL;
    double left = h->deadline - ev_now(h->cl.loop);
    if (a->naddrs == 0 || left <= 0) {
        finish(h, a->naddrs == 0 ? a->err : "timeout");
        return;
    }
    connect_to(h, &a->addrs[0]);
}

/* Resolves u's host for h: MG_OK (connecting, or waiting for the answer) or MG_ERROR
 * with a static reason in *err (h is then the caller's to free). */
static int resolve(lhttp_t *h, mg_resolver_t *r, const mg_http_url_t *u, const char **err)
{
    char name[MG_RESOLVER_NAME_MAX + 2];
    mg_resolver_answer_t now;
    if (r == NULL) {
        *err = "no resolver";
        return MG_ERROR;
    }
    if (u->host.len >= sizeof(name)) {
        *err = "bad url host";
        return MG_ERROR;
    }
    memcpy(name, u->host.p, u->host.len);
    name[u->host.len] = '\0';
    h->rq = mg_resolver_resolve(r, name, AF_UNSPEC, h->cl.total_timeout, on_resolved, h, &now);
    if (h->rq == NULL && now.naddrs == 0) {
        *err = now.err;
        return MG_ERROR;
    }
    if (h->rq == NULL) {
        connect_to(h, &now.addrs[0]);
    }
    return MG_OK;
}

/* Starts a call for the task: MG_AGAIN (yield; resumed when it ended) or MG_ERROR with a
 * static reason in *err. `headers` is a block of "Name: value\r\n" lines the Lua side
 * checked. */
int mg_lua_http(mg_lua_task_t *t, const char *method, const char *url, const char *headers,
                size_t hlen, const char *body, size_t blen, int has_body, double timeout,
                size_t max_body, int ssl_verify, const char *ssl_server_name, int keepalive,
                double keepalive_timeout, int keepalive_pool, const char **err)
{
    mg_lua_t *lua = t->lua;
    mg_http_url_t u;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (lua->w == NULL) {
        *err = "no event loop";
        return MG_ERROR;
    }
    if ((*err = mg_http_url_parse(mg_str(url, strlen(url)), &u)) != NULL) {
        return MG_ERROR;
    }
    bool named = mg_http_url_addr(&u, &ss, &sl) != NULL; /* resolved below */
    mg__lua_http_cancel(t);
    lhttp_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        *err = "out of memory";
        return MG_ERROR;
    }
    h->t = t;
    h->max_body = max_body;
    h->keepalive = keepalive != 0 && keepalive_pool > 0 && keepalive_timeout > 0;
    h->ka_timeout = keepalive_timeout;
    h->ka_pool = keepalive_pool > 0 ? (size_t)keepalive_pool : 0;
    h->idempotent = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                    strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
                    strcmp(method, "OPTIONS") == 0 || strcmp(method, "TRACE") == 0;
    h->port = u.port;
    h->out = build(method, &u, headers, hlen, has_body ? body : NULL, blen, h->keepalive,
                   &h->olen);
    if (h->out == NULL) {
        *err = "out of memory";
        free(h);
        return MG_ERROR;
    }
    struct ev_loop *loop = lua->w->loop;
    mg_http_client_init(&h->cl, loop, &lhttp_ops, h, h->rbuf, sizeof(h->rbuf));
    h->cl.total_timeout = timeout > 0 ? timeout : 5.;
    h->cl.head_request = strcmp(method, "HEAD") == 0;
    if (mg_str_eq(u.scheme, MG_STR("https")) &&
        (*err = https_setup(h, &u, ssl_verify != 0, ssl_server_name)) != NULL) {
        lhttp_free(h);
        return MG_ERROR;
    }
    /* the pool's key: the address connected to is added when known */
    snprintf(h->key, sizeof(h->key), "%.*s|%.*s|%u|%s|%d", (int)u.scheme.len, u.scheme.p,
             (int)MG_MIN(u.host.len, 300), u.host.p, (unsigned)u.port,
             h->cl.tls != NULL ? h->tls_name : "", ssl_verify != 0);
    ev_now_update(loop); /* the timeout counts from now, not from before the plugin ran */
    h->deadline = ev_now(loop) + h->cl.total_timeout;
    if (named && resolve(h, lua->w->resolver, &u, err) != MG_OK) {
        lhttp_free(h);
        return MG_ERROR;
    }
    if (!named) {
        connect_to(h, &ss);
    }
    t->http = h;
    t->wait = MG_WAIT_HTTP;
    return MG_AGAIN;
}

void mg__lua_http_cancel(mg_lua_task_t *t)
{
    if (t->http != NULL) {
        lhttp_free(t->http);
        t->http = NULL;
    }
}

/* ---- the result, read by the Lua side after the resume ---- */

const char *mg_lua_http_error(mg_lua_task_t *t)
{
    lhttp_t *h = t->http;
    return h == NULL ? "no call" : h->done ? NULL : h->err != NULL ? h->err : "failed";
}

int mg_lua_http_status(mg_lua_task_t *t)
{
    return t->http != NULL ? t->http->status : 0;
}

int mg_lua_http_body(mg_lua_task_t *t, mg_str_t *out)
{
    lhttp_t *h = t->http;
    *out = h != NULL ? mg_str(h->body, h->blen) : MG_NULL_STR;
    return MG_OK;
}

int mg_lua_http_header_count(mg_lua_task_t *t)
{
    return t->http != NULL ? (int)t->http->nhdrs : 0;
}

int mg_lua_http_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value)
{
    lhttp_t *h = t->http;
    if (h == NULL || i < 0 || (size_t)i >= h->nhdrs) {
        return MG_DECLINED;
    }
    *name = mg_str(h->hbuf + h->hdrs[i].name_off, h->hdrs[i].name_len);
    *value = mg_str_trim(mg_str(h->hbuf + h->hdrs[i].val_off, h->hdrs[i].val_len));
    return MG_OK;
}

void mg_lua_http_done(mg_lua_task_t *t)
{
    mg__lua_http_cancel(t);
}
