/*
 * realip.c -- the client's address from the peer and X-Forwarded-For (realip.h).
 *
 * Runs once per request, after the head is validated and before routing, so that
 * every later reader (rate-limit keys, ip_hash, plugins, the access log, traces,
 * error-log lines) sees one answer. Without `trusted_proxies` it costs nothing but
 * two assignments.
 */
#include "realip.h"

#include "conf.h"
#include "gen.h"
#include "http.h"
#include "pool.h"

#include <string.h>

static bool ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The entries of one value, right to left. MG_OK with *out set when the walk ended on
 * the client, MG_AGAIN to go on with the value to the left, MG_DECLINED. */
static int walk_value(const mg_cidr_set_t *trusted, mg_str_t v, mg_ip_t *out, bool *have)
{
    size_t end = v.len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v.p[start - 1] != ',') {
            start--;
        }
        size_t b = start, e = end;
        while (b < e && ows(v.p[b])) {
            b++;
        }
        while (e > b && ows(v.p[e - 1])) {
            e--;
        }
        end = start > 0 ? start - 1 : 0;
        if (b == e) {
            continue; /* an empty list element ("a,,b", a trailing comma) */
        }
        mg_ip_t ip;
        if (mg_ip_parse(v.p + b, e - b, &ip) != MG_OK) {
            return MG_DECLINED;
        }
        *out = ip;
        *have = true;
        if (!mg_cidr_set_match(trusted, &ip)) {
            return MG_OK;
        }
    }
    return MG_AGAIN;
}

int mg_realip_select(const mg_cidr_set_t *trusted, const mg_str_t *values, size_t n, mg_ip_t *out)
{
    bool have = false;
    for (size_t i = n; i-- > 0;) {
        int rc = walk_value(trusted, values[i], out, &have);
        if (rc != MG_AGAIN) {
            return rc;
        }
    }
    return have ? MG_OK : MG_DECLINED; /* all trusted: the left-most, already in *out */
}

static bool is_xff(mg_str_t name)
{
    return name.len == 15 && mg_str_caseeq(name, MG_STR("X-Forwarded-For"));
}

/* The client's X-Forwarded-For lines as one list, then ", " and the peer. */
static int join_xff(mg_request_t *r, const mg_str_t *vals, size_t n)
{
    size_t len = r->peer_addr.len;
    for (size_t i = 0; i < n; i++) {
        len += vals[i].len + 2;
    }
    char *p = mg_pool_alloc(r->pool, len + 1);
    if (p == NULL) {
        return MG_ERROR;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (vals[i].len == 0) {
            continue;
        }
        memcpy(p + k, vals[i].p, vals[i].len);
        k += vals[i].len;
        p[k++] = ',';
        p[k++] = ' ';
    }
    memcpy(p + k, r->peer_addr.p, r->peer_addr.len);
    k += r->peer_addr.len;
    r->forwarded_for = mg_str(p, k);
    return MG_OK;
}

int mg_realip_apply(mg_request_t *r)
{
    const mg_cidr_set_t *trusted = r->gen->conf->trusted_proxies;
    mg_ip_t peer, client;
    r->forwarded_for = r->peer_addr; /* what an untrusted peer claims is dropped */
    if (trusted == NULL || mg_ip_parse(r->peer_addr.p, r->peer_addr.len, &peer) != MG_OK ||
        !mg_cidr_set_match(trusted, &peer)) {
        return MG_OK;
    }
    r->peer_trusted = true;
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        n += is_xff(r->headers[i].name);
    }
    if (n == 0) {
        return MG_OK;
    }
    mg_str_t *vals = mg_pool_alloc(r->pool, n * sizeof(*vals));
    if (vals == NULL) {
        return MG_ERROR;
    }
    n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (is_xff(r->headers[i].name)) {
            vals[n++] = r->headers[i].value;
        }
    }
    if (join_xff(r, vals, n) != MG_OK) {
        return MG_ERROR;
    }
    if (mg_realip_select(trusted, vals, n, &client) == MG_OK) {
        char *text = mg_pool_alloc(r->pool, MG_IP_TEXT_MAX);
        if (text == NULL) {
            return MG_ERROR;
        }
        r->remote_addr = mg_str(text, mg_ip_format(&client, text));
        r->remote_port = 0;
    }
    return MG_OK;
}
