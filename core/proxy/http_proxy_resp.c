/*
 * http_proxy_resp.c -- the response half of the proxy: what the upstream client
 * (http_client.h) parsed goes to the client with our own framing.
 *
 * The head goes to the client side's response path as the upstream sent it
 * (mg_http_send_head: filters, then the session writer, which holds it back until the
 * first body bytes, so a small response leaves in one write). Body bytes go down
 * straight from the client's read buffer; the writer copies only what the client socket
 * does not take, and a full client buffer stops upstream reads (PROXY_DOWN_PAUSED)
 * until on_writable. Interim (1xx) answers and trailers never reach the client.
 */
#include "http_proxy_int.h"

#include "clock.h"

#include "http.h"
#include "http_parse.h"
#include "lua_runtime.h"
#include "tunnel.h"
#include "websocket.h"

static proxy_t *proxy_of(mg_http_client_t *cl)
{
    return cl->data;
}

/* What mg_http_send_body() said, for the upstream client: MG_ERROR when the client is
 * gone (then the relay is over and the client already stopped) or a body filter failed;
 * a full client buffer pauses reads. */
static int down_result(proxy_t *p, int rc)
{
    if (rc == MG_ERROR) {
        p->why = "body_filter failed";
        return MG_ERROR;
    }
    if (rc == MG_AGAIN) {
        p->down = PROXY_DOWN_PAUSED;
    }
    return rc;
}

/* Why a 101 does not complete the client's WebSocket handshake (RFC 6455 §4.1), or
 * NULL when it does. */
static const char *bad_switch(const mg_request_t *r, const mg_http_head_t *head)
{
    mg_str_t upgrade = MG_NULL_STR, accept = MG_NULL_STR;
    bool has_accept = false;
    for (size_t i = 0; i < head->nheaders; i++) {
        const mg_header_t *hd = &head->headers[i];
        if (mg_str_caseeq(hd->name, MG_STR("Upgrade"))) {
            upgrade = hd->value;
        } else if (mg_str_caseeq(hd->name, MG_STR("Sec-WebSocket-Accept"))) {
            if (has_accept) {
                return "two Sec-WebSocket-Accept headers";
            }
            has_accept = true;
            accept = hd->value;
        }
    }
    if (!mg_str_caseeq(upgrade, MG_STR("websocket"))) {
        return "101 without \"Upgrade: websocket\"";
    }
    if (!mg_http_connection_has(head->connection, MG_STR("upgrade"))) {
        return "101 without \"Connection: upgrade\"";
    }
    if (!mg_ws_accept_ok(r->ws_key, accept)) {
        return "101 with a wrong Sec-WebSocket-Accept";
    }
    return NULL;
}

int mg__proxy_on_head(mg_http_client_t *cl, mg_http_client_head_t *h)
{
    proxy_t *p = proxy_of(cl);
    mg_request_t *r = p->r;
    mg_http_head_t *head = &h->head;
    const char *bad = head->status == 101 ? bad_switch(r, head) : NULL;
    if (bad != NULL) {
        /* the upstream broke the handshake: a 502, and never a half-open tunnel */
        mg_http_try_t *t = mg__proxy_try_rec(p);
        if (t != NULL) {
            t->status = 101;
            t->error = "invalid 101";
        }
        mg__proxy_try_end(p, true, false);
        mg__proxy_observe(p, MG_HEALTH_FAILURE);
        mg__proxy_log_try(p, MG_LOG_ERROR, "invalid WebSocket handshake answer", bad);
        r->upstream_status = 101;
        p->why = bad;
        p->refuse_status = 502;
        return MG_ERROR;
    }
    r->upstream_header_time = ev_now(p->loop) - p->first_start; /* before any header_filter */
    mg_http_try_t *t = mg__proxy_try_rec(p);
    if (t != NULL) {
        t->status = head->status;
        t->header_time = mg_mono_now() - p->try_began; /* the clock of connect_time and time */
    }
    mg__proxy_try_end(p, false, true);
    mg__proxy_observe(p, head->status >= 500 ? MG_HEALTH_5XX : MG_HEALTH_OK);
    /* the sticky balancer's cookie is part of this producer's answer */
    mg_str_t cookie = mg_balancer_cookie(&p->up->balancer, &p->bctx, p->node);
    if (cookie.len > 0) {
        head->extra[head->nextra++] = (mg_header_t){MG_STR("Set-Cookie"), cookie};
    }
    r->upstream_status = head->status;
    r->upstream_time = r->upstream_header_time; /* until the end of the body is known */
    p->out_on = mg__proxy_out_wanted(p, head);
    if (p->down == PROXY_DOWN_RECEIVING) {
        /* an early answer: whether the body breaks a rule (413, 400) is not known yet,
         * so nothing goes down before its end (mg__proxy_release) */
        p->held = true;
        if (mg__proxy_hold_head(p, head) != MG_OK) {
            p->why = "out of memory holding the response head";
            return MG_ERROR;
        }
        return MG_OK;
    }
    p->down = PROXY_DOWN_SENDING;
    if (mg_http_send_head(r, head) != MG_OK) {
        p->why = "header_filter failed";
        return MG_ERROR;
    }
    return MG_OK;
}

/* Body bytes are kept rather than sent while an answer is held, while kept ones wait
 * (order), and, for a buffered answer, while the client is full. */
static bool keeping(const proxy_t *p)
{
    return p->held || mg_spool_len(&p->out) > 0 || (p->out_on && p->down == PROXY_DOWN_PAUSED);
}

int mg__proxy_on_body(mg_http_client_t *cl, const char *data, size_t len)
{
    proxy_t *p = proxy_of(cl);
    if (keeping(p)) {
        int rc = mg__proxy_out_put(p, data, len);
        p->up_paused = rc == MG_AGAIN;
        return rc;
    }
    if (len == 0 && p->r->out_head_len == 0) {
        return MG_OK; /* a read ended with nothing held back */
    }
    /* with len 0: the head alone, when no body bytes came with it */
    int rc = down_result(p, mg_http_send_body(p->r, data, len, false));
    return rc == MG_AGAIN && p->out_on ? MG_OK : rc; /* buffered: read on, into `out` */
}

/* The answer is complete and everything kept went down: the end of the body. */
static void send_end(proxy_t *p)
{
    int rc = mg_http_send_body(p->r, NULL, 0, true);
    if (p->down == PROXY_DOWN_DONE) {
        return; /* the client went away meanwhile */
    }
    if (rc == MG_ERROR) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "response truncated", "body_filter failed");
        mg__proxy_finish(p, false);
        return;
    }
    mg__proxy_finish(p, true);
}

void mg__proxy_drain(proxy_t *p)
{
    while (p->down == PROXY_DOWN_SENDING && mg_spool_len(&p->out) > 0) {
        const char *d;
        size_t n;
        if (mg_spool_peek(&p->out, 0, &d, &n) != MG_OK) {
            char buf[600];
            mg__proxy_log_try(p, MG_LOG_ERROR, "response truncated",
                              mg_spool_error(&p->out, buf, sizeof(buf)));
            mg__proxy_finish(p, false);
            return;
        }
        int rc = mg_http_send_body(p->r, d, n, false);
        if (p->down == PROXY_DOWN_DONE) {
            return; /* aborted inside: the spools are gone */
        }
        if (rc == MG_ERROR) {
            mg__proxy_log_try(p, MG_LOG_ERROR, "response truncated", "body_filter failed");
            mg__proxy_finish(p, false);
            return;
        }
        mg_spool_consume(&p->out, n);
        if (rc == MG_AGAIN) {
            p->down = PROXY_DOWN_PAUSED;
        }
    }
    if (p->down != PROXY_DOWN_SENDING) {
        return;
    }
    if (p->up_done) {
        send_end(p);
    } else if (!mg_spool_full(&p->out)) {
        p->up_paused = false;
        mg_http_client_resume(&p->cl); /* no read inside: from the loop */
    }
}

void mg__proxy_release(proxy_t *p)
{
    mg_request_t *r = p->r;
    p->held = false;
    p->down = PROXY_DOWN_SENDING;
    if (mg_http_send_head(r, p->held_head) != MG_OK) {
        p->why = "header_filter failed";
        mg__proxy_fail(p, 500);
        return;
    }
    if (mg_spool_len(&p->out) == 0 && !p->up_done) {
        /* the head alone for now, as an unheld answer's first read would */
        if (down_result(p, mg_http_send_body(r, NULL, 0, false)) == MG_ERROR ||
            p->down == PROXY_DOWN_DONE) {
            if (p->down != PROXY_DOWN_DONE) {
                mg__proxy_finish(p, false);
            }
            return;
        }
    }
    mg__proxy_drain(p);
}

void mg__proxy_on_done(mg_http_client_t *cl)
{
    proxy_t *p = proxy_of(cl);
    mg_request_t *r = p->r;
    r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(r);
    if (p->held || mg_spool_len(&p->out) > 0) {
        /* the connection went back already; the rest goes down as the client reads */
        p->up_done = true;
        if (p->held && p->body_paused) {
            p->body_paused = false; /* no upstream takes the body any more: drop it */
            mg__proxy_body_discard(p);
            mg_http_body_resume(r);
        }
        return;
    }
    int rc = mg_http_send_body(r, NULL, 0, true);
    if (p->down == PROXY_DOWN_DONE) {
        return; /* the client went away meanwhile */
    }
    if (rc == MG_ERROR) {
        p->why = "body_filter failed";
        mg__proxy_on_error(cl, MG_HTTP_CLIENT_ERR_REFUSED, NULL);
        return;
    }
    mg__proxy_finish(p, true);
}

/* The response stopped before its end, or never came. Before anything went down there
 * is still a choice (retry or an error status); after it, the client connection is cut
 * so it sees the loss. */
void mg__proxy_on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    proxy_t *p = proxy_of(cl);
    mg_request_t *r = p->r;
    bool head_in = p->down == PROXY_DOWN_SENDING || p->down == PROXY_DOWN_PAUSED || p->held;
    if (err == MG_HTTP_CLIENT_ERR_REFUSED) {
        if (!r->header_sent) {
            /* our plugin, not the upstream (no retry, no 502), or a broken 101 */
            mg__proxy_fail(p, p->refuse_status);
            return;
        }
        why = p->why;
    } else if (head_in && !p->held && err == MG_HTTP_CLIENT_ERR_TIMEOUT) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "timed out reading the response body", NULL);
        mg__proxy_finish(p, false);
        return;
    }
    if (r->header_sent) {
        r->upstream_time = ev_now(p->loop) - p->first_start - mg_lua_filter_time(r);
        mg__proxy_log_try(p, MG_LOG_ERROR, "response truncated", why);
        mg__proxy_finish(p, false);
        return;
    }
    if (head_in && err == MG_HTTP_CLIENT_ERR_IO) {
        err = MG_HTTP_CLIENT_ERR_BAD_RESPONSE; /* part of an answer: the request got there */
    }
    mg__proxy_try_failed(p, err, why);
}

/* The upstream switched to WebSocket: the request goes on as a tunnel over the same
 * connection, and the proxy is given back now rather than held for the tunnel's life. */
void mg__proxy_on_upgrade(mg_http_client_t *cl, mg_upstream_conn_t *conn, const char *rest,
                          size_t len)
{
    proxy_t *p = proxy_of(cl);
    if (p->r != NULL && p->r->status != 101) {
        /* a header filter turned the 101 into another answer: no tunnel behind it */
        mg_upstream_release(conn, false);
        mg__proxy_log_try(p, MG_LOG_ERROR, "a header_filter changed the 101", NULL);
        mg__proxy_fail(p, 502);
        return;
    }
    mg_request_t *r = mg__proxy_detach(p);
    if (r == NULL) {
        mg_upstream_release(conn, false);
    } else {
        mg_tunnel_start(r, conn, rest, len); /* rest lives in p's client's read buffer: p goes after */
    }
    mg__proxy_give_back(p);
}
