/*
 * lua_http.c -- mg.http.request: a non-blocking HTTP/1.1 client on the worker's loop.
 *
 * One call per task at a time: the plugin's coroutine yields after mg_lua_http() and is
 * resumed when the answer is complete, failed or timed out. The request goes out with
 * Host, User-Agent, Content-Length and "Connection: close"; the response is parsed by
 * llhttp (strict) with the body de-chunked and capped. Host names other than
 * "localhost" are refused: resolving them would block the loop.
 */
#include "lua_int.h"

#include "log.h"
#include "lua_ffi.h"
#include "worker.h"

#include "llhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define LHTTP_MAX_HEADERS 100
#define LHTTP_MAX_HEAD (16 * 1024)

typedef struct {
    uint32_t name_off, name_len, val_off, val_len;
} lhdr_t;

struct mg_lua_http_s {
    mg_lua_task_t *t;
    struct ev_loop *loop;
    int fd;
    ev_io io;
    ev_timer timer;
    char *out;
    size_t olen, osent;
    llhttp_t parser;
    int status;
    char *hbuf; /* header names and values, packed */
    size_t hlen, hcap;
    lhdr_t hdrs[LHTTP_MAX_HEADERS];
    size_t nhdrs;
    bool in_value;
    bool head; /* a HEAD request: the answer has no body */
    char *body;
    size_t blen, bcap, max_body;
    bool done;
    const char *err;
};

typedef struct mg_lua_http_s lhttp_t;

static lhttp_t *of(llhttp_t *p)
{
    return p->data;
}

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

static int hb_append(lhttp_t *h, const char *at, size_t len)
{
    if (grow(&h->hbuf, &h->hcap, h->hlen + len, LHTTP_MAX_HEAD) < 0) {
        h->err = "response head too big";
        return -1;
    }
    memcpy(h->hbuf + h->hlen, at, len);
    h->hlen += len;
    return 0;
}

static int on_begin(llhttp_t *p)
{
    lhttp_t *h = of(p);
    h->nhdrs = 0;
    h->hlen = 0;
    h->in_value = false;
    return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    lhttp_t *h = of(p);
    if (h->nhdrs == 0 || h->in_value) {
        if (h->nhdrs == LHTTP_MAX_HEADERS) {
            h->err = "too many response headers";
            return -1;
        }
        h->hdrs[h->nhdrs++] = (lhdr_t){(uint32_t)h->hlen, 0, 0, 0};
        h->in_value = false;
    }
    h->hdrs[h->nhdrs - 1].name_len += (uint32_t)len;
    return hb_append(h, at, len);
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
    lhttp_t *h = of(p);
    if (!h->in_value) {
        h->in_value = true;
        h->hdrs[h->nhdrs - 1].val_off = (uint32_t)h->hlen;
    }
    h->hdrs[h->nhdrs - 1].val_len += (uint32_t)len;
    return hb_append(h, at, len);
}

static int on_headers(llhttp_t *p)
{
    lhttp_t *h = of(p);
    h->status = p->status_code;
    return h->head && p->status_code >= 200 ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    lhttp_t *h = of(p);
    if (h->blen + len > h->max_body ||
        grow(&h->body, &h->bcap, h->blen + len, h->max_body ? h->max_body : 1) < 0) {
        h->err = "response body too large";
        return -1;
    }
    memcpy(h->body + h->blen, at, len);
    h->blen += len;
    return 0;
}

static int on_complete(llhttp_t *p)
{
    lhttp_t *h = of(p);
    if (p->status_code < 200) {
        return 0; /* an interim answer: the real one follows */
    }
    h->done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_begin,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- life ---- */

static void close_io(lhttp_t *h)
{
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}

static void lhttp_free(lhttp_t *h)
{
    close_io(h);
    free(h->out);
    free(h->hbuf);
    free(h->body);
    free(h);
}

/* The call ended (done or failed): wake the plugin. */
static void finish(lhttp_t *h, const char *err)
{
    if (err != NULL && h->err == NULL) {
        h->err = err;
    }
    close_io(h);
    mg_lua_task_t *t = h->t;
    if (t->wait == MG_WAIT_HTTP) {
        t->wait = MG_WAIT_NONE;
        mg__lua_task_resume(t);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    lhttp_t *h = w->data;
    if (h->osent < h->olen) {
        if (h->osent == 0) {
            int e = 0;
            socklen_t l = sizeof(e);
            if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e != 0) {
                finish(h, e == ECONNREFUSED ? "connection refused" : "connect failed");
                return;
            }
        }
        ssize_t n = send(h->fd, h->out + h->osent, h->olen - h->osent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            finish(h, "send failed");
            return;
        }
        h->osent += n > 0 ? (size_t)n : 0;
        if (h->osent == h->olen) {
            ev_io_stop(loop, &h->io);
            ev_io_set(&h->io, h->fd, EV_READ);
            ev_io_start(loop, &h->io);
        }
        return;
    }
    char buf[16384];
    ssize_t n = recv(h->fd, buf, sizeof(buf), 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            finish(h, "read failed");
        }
        return;
    }
    llhttp_errno_t e = n == 0 ? llhttp_finish(&h->parser) : llhttp_execute(&h->parser, buf, (size_t)n);
    if (h->done) {
        finish(h, NULL);
    } else if (e != HPE_OK) {
        finish(h, h->err != NULL ? h->err : "bad response");
    } else if (n == 0) {
        finish(h, "connection closed before the response ended");
    }
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    finish(w->data, "timeout");
}

/* ---- the request ---- */

/* "http://HOST[:PORT]/path?query" into an address and the request target. */
static const char *parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *sl,
                             const char **host, size_t *hostlen, const char **target)
{
    if (strncmp(url, "http://", 7) != 0) {
        return strncmp(url, "https://", 8) == 0 ? "https is not supported" : "bad url";
    }
    const char *h = url + 7, *end = h + strcspn(h, "/?#");
    const char *colon = NULL;
    const char *hend = end;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL) {
            return "bad url";
        }
        colon = rb[1] == ':' ? rb + 1 : NULL;
        hend = rb + 1;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        hend = colon != NULL ? colon : end;
    }
    long port = 80;
    if (colon != NULL) {
        char *pe;
        port = strtol(colon + 1, &pe, 10);
        if (pe != end || port < 1 || port > 65535) {
            return "bad url port";
        }
    }
    char name[64];
    size_t nl = (size_t)(hend - h);
    if (nl == 0 || nl >= sizeof(name)) {
        return "bad url host";
    }
    memcpy(name, h, nl);
    name[nl] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (strcmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &a4->sin_addr) == 1) {
        if (strcmp(name, "localhost") == 0) {
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*a4);
    } else if (name[0] == '[' && nl > 2 && (name[nl - 1] = '\0', 1) &&
               inet_pton(AF_INET6, name + 1, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*a6);
    } else {
        return "host names are not resolved (they would block): use an IP address";
    }
    *host = h;
    *hostlen = (size_t)(end - h);
    *target = *end == '\0' || *end == '#' ? "/" : end;
    return NULL;
}

static char *build(const char *method, const char *host, size_t hostlen, const char *target,
                   const char *headers, size_t hlen, const char *body, size_t blen,
                   size_t *outlen)
{
    size_t tl = strcspn(target, "#");
    size_t cap = strlen(method) + tl + hostlen + hlen + blen + 160;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    bool has_ua = false;
    for (const char *p = headers; p != NULL && p < headers + hlen;) {
        if (strncasecmp(p, "User-Agent:", 11) == 0) {
            has_ua = true;
        }
        const char *nl = memchr(p, '\n', (size_t)(headers + hlen - p));
        p = nl != NULL ? nl + 1 : NULL;
    }
    int n = snprintf(out, cap, "%s %.*s HTTP/1.1\r\nHost: %.*s\r\n%s", method, (int)tl, target,
                     (int)hostlen, host, has_ua ? "" : "User-Agent: moongate\r\n");
    memcpy(out + n, headers, hlen);
    n += (int)hlen;
    if (body != NULL) {
        n += snprintf(out + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    }
    n += snprintf(out + n, cap - (size_t)n, "Connection: close\r\n\r\n");
    if (body != NULL && blen > 0) {
        memcpy(out + n, body, blen);
        n += (int)blen;
    }
    *outlen = (size_t)n;
    return out;
}

/* Starts a call for the task: MG_AGAIN (yield; resumed when it ended) or MG_ERROR with a
 * static reason in *err. `headers` is a block of "Name: value\r\n" lines the Lua side
 * checked. */
int mg_lua_http(mg_lua_task_t *t, const char *method, const char *url, const char *headers,
                size_t hlen, const char *body, size_t blen, int has_body, double timeout,
                size_t max_body, const char **err)
{
    mg_lua_t *lua = t->lua;
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *host, *target;
    size_t hostlen;
    if (lua->w == NULL) {
        *err = "no event loop";
        return MG_ERROR;
    }
    if ((*err = parse_url(url, &ss, &sl, &host, &hostlen, &target)) != NULL) {
        return MG_ERROR;
    }
    mg__lua_http_cancel(t);
    lhttp_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        *err = "out of memory";
        return MG_ERROR;
    }
    h->t = t;
    h->loop = lua->w->loop;
    h->fd = -1;
    h->max_body = max_body;
    h->out = build(method, host, hostlen, target, headers, hlen, has_body ? body : NULL, blen,
                   &h->olen);
    h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->out == NULL || h->fd < 0) {
        *err = h->out == NULL ? "out of memory" : "no socket";
        lhttp_free(h);
        return MG_ERROR;
    }
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(h->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        /* reported from the loop like any other failure: one code path for plugins */
        h->err = errno == ECONNREFUSED ? "connection refused" : "connect failed";
    }
    llhttp_init(&h->parser, HTTP_RESPONSE, &settings);
    h->parser.data = h;
    h->head = strcmp(method, "HEAD") == 0;
    ev_io_init(&h->io, on_io, h->fd, EV_WRITE);
    h->io.data = h;
    ev_timer_init(&h->timer, on_timeout, h->err != NULL ? 0. : (timeout > 0 ? timeout : 5.), 0.);
    h->timer.data = h;
    if (h->err == NULL) {
        ev_io_start(h->loop, &h->io);
    }
    ev_now_update(h->loop); /* the timeout counts from now, not from before the plugin ran */
    ev_timer_start(h->loop, &h->timer);
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
