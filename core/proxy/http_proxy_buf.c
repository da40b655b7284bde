/*
 * http_proxy_buf.c -- the proxy's buffering (docs/buffering.md), over spools (spool.h):
 * memory up to the route's bound, then a temp file.
 *
 * Request buffering (`buffering.request`): the body is read whole into `in` before a
 * node is chosen, so a slow upload ties up no upstream, a body that breaks a rule
 * reaches none, and every try replays it. It goes up with a Content-Length (a chunked
 * body is de-chunked), fed to the upstream client a span at a time from the spool.
 *
 * Response buffering (`buffering.response`, http_proxy_resp.c drives it): what the
 * client does not take at once goes to `out` while the upstream is read as fast as it
 * answers; its connection goes back to the pool when the answer is complete, and the
 * spool drains as the client reads. An answer that arrives while the request body is
 * still arriving is held the same way (its head copied here) until the body ended.
 */
#include "http_proxy_int.h"

#include "http.h"
#include "gen.h"
#include "pool.h"

#include <string.h>

void mg__proxy_buf_init(proxy_t *p)
{
    mg_request_t *r = p->r;
    const mg_http_conf_t *h = &r->gen->conf->http;
    p->bconf = &r->match.route->buffering;
    mg_spool_set_limit(h->buffer_memory_max);
    mg_spool_init(&p->in, p->bconf->memory, p->bconf->max_temp_file_size, h->temp_path);
    mg_spool_init(&p->out, p->bconf->memory, p->bconf->max_temp_file_size, h->temp_path);
    p->in_on = p->bconf->request && r->has_body;
}

void mg__proxy_buf_dispose(proxy_t *p)
{
    mg_spool_dispose(&p->in);
    mg_spool_dispose(&p->out);
}

/* Logs, once per request, why a spool's temp file failed (disk full, say). */
static void log_spool(proxy_t *p, mg_spool_t *s, const char *then)
{
    char buf[600];
    const char *why = mg_spool_error(s, buf, sizeof(buf));
    if (why == NULL || p->spool_logged || p->r == NULL) {
        return;
    }
    p->spool_logged = true;
    mg_log_err("buffering: %s; %s, client: %.*s, request_id: %.*s", why, then,
               (int)p->r->remote_addr.len, p->r->remote_addr.p, (int)p->r->request_id.len,
               p->r->request_id.p);
}

/* ---- the request body ---- */

int mg__proxy_in_put(proxy_t *p, const char *data, size_t len)
{
    if (mg_spool_write(&p->in, data, len) != MG_OK) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "out of memory buffering the request body", NULL);
        return 500;
    }
    if (!mg_spool_full(&p->in)) {
        return MG_OK;
    }
    if (p->in.file_failed) {
        log_spool(p, &p->in, "the request body cannot be buffered: 500");
        return 500;
    }
    mg_request_t *r = p->r;
    mg_log_warn("buffering: the request body is over buffering.memory + max_temp_file_size "
                "(%zu + %zu bytes): 413, client: %.*s, request_id: %.*s",
                p->bconf->memory, p->bconf->max_temp_file_size, (int)r->remote_addr.len,
                r->remote_addr.p, (int)r->request_id.len, r->request_id.p);
    return 413;
}

int mg__proxy_in_feed(proxy_t *p, bool from_start)
{
    mg_http_client_body_t *b = &p->body;
    if (from_start) {
        p->in_off = 0;
    }
    const char *d = NULL;
    size_t n = 0;
    if (mg_spool_peek(&p->in, p->in_off, &d, &n) != MG_OK) {
        log_spool(p, &p->in, "the request fails");
        return MG_ERROR;
    }
    b->data = (char *)d; /* the client only reads it */
    b->len = n;
    b->sent = 0;
    p->in_off += n;
    b->end = p->in_off >= mg_spool_len(&p->in);
    return MG_OK;
}

/* ---- the response ---- */

/* A header's value in h, trimmed; empty when absent. */
static mg_str_t head_value(const mg_http_head_t *h, mg_str_t name)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        if (mg_str_caseeq(h->headers[i].name, name)) {
            return h->headers[i].value;
        }
    }
    return MG_NULL_STR;
}

bool mg__proxy_out_wanted(proxy_t *p, const mg_http_head_t *h)
{
    mg_str_t accel = head_value(h, MG_STR("X-Accel-Buffering"));
    if (mg_str_caseeq(accel, MG_STR("no"))) {
        return false;
    }
    if (mg_str_caseeq(accel, MG_STR("yes"))) {
        return true;
    }
    mg_str_t type = head_value(h, MG_STR("Content-Type"));
    mg_str_t sse = MG_STR("text/event-stream");
    if (type.len >= sse.len && mg_str_caseeq(mg_str(type.p, sse.len), sse)) {
        return false; /* each event must reach the client as it is produced */
    }
    return p->bconf->response;
}

int mg__proxy_out_put(proxy_t *p, const char *data, size_t len)
{
    if (len > 0 && mg_spool_write(&p->out, data, len) != MG_OK) {
        mg__proxy_log_try(p, MG_LOG_ERROR, "out of memory buffering the response", NULL);
        p->why = "out of memory buffering the response";
        return MG_ERROR;
    }
    if (!mg_spool_full(&p->out)) {
        return MG_OK;
    }
    if (p->out.file_failed) {
        log_spool(p, &p->out, "the response streams at the client's pace");
    }
    return MG_AGAIN;
}

static mg_str_t str_copy(mg_pool_t *pool, mg_str_t s, bool *ok)
{
    if (s.len == 0) {
        return s;
    }
    char *c = mg_pool_strndup(pool, s.p, s.len);
    *ok = *ok && c != NULL;
    return mg_str(c, c != NULL ? s.len : 0);
}

int mg__proxy_hold_head(proxy_t *p, const mg_http_head_t *h)
{
    mg_pool_t *pool = p->r->pool;
    mg_http_head_t *c = mg_pool_alloc(pool, sizeof(*c));
    mg_header_t *hs = h->nheaders > 0 ? mg_pool_alloc(pool, h->nheaders * sizeof(*hs)) : NULL;
    if (c == NULL || (h->nheaders > 0 && hs == NULL)) {
        return MG_ERROR;
    }
    bool ok = true;
    *c = *h;
    c->reason = str_copy(pool, h->reason, &ok);
    c->connection = str_copy(pool, h->connection, &ok);
    for (size_t i = 0; i < h->nheaders; i++) {
        hs[i].name = str_copy(pool, h->headers[i].name, &ok);
        hs[i].value = str_copy(pool, h->headers[i].value, &ok);
    }
    for (size_t i = 0; i < h->nextra; i++) {
        c->extra[i].name = str_copy(pool, h->extra[i].name, &ok);
        c->extra[i].value = str_copy(pool, h->extra[i].value, &ok);
    }
    c->headers = hs;
    p->held_head = c;
    return ok ? MG_OK : MG_ERROR;
}
