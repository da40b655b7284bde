/*
 * balancer_key.c -- the value a request is balanced on: what `hash_on` names for chash
 * and ip_hash, the sticky cookie for sticky.
 *
 * Computed once per request, before the first pick, from the request as the plugins
 * left it (a rewrite plugin that sets a header changes the key). Values are hashed as
 * they came: a query value is not percent-decoded, a cookie value loses only its
 * surrounding quotes.
 */
#include "balancer.h"

#include "conf.h"
#include "http.h"

static mg_str_t header_value(const mg_request_t *r, mg_str_t name)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (mg_str_caseeq(r->headers[i].name, name)) {
            return r->headers[i].value;
        }
    }
    return MG_NULL_STR;
}

/* Finds `name` in one Cookie header value ("a=1; b=2"). */
static mg_str_t cookie_in(mg_str_t v, mg_str_t name)
{
    const char *p = v.p, *end = v.p + v.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }
        const char *pair = p;
        while (p < end && *p != ';') {
            p++;
        }
        const char *eq = memchr(pair, '=', (size_t)(p - pair));
        if (eq == NULL) {
            continue;
        }
        mg_str_t k = mg_str_trim(mg_str(pair, (size_t)(eq - pair)));
        if (!mg_str_eq(k, name)) {
            continue;
        }
        mg_str_t val = mg_str_trim(mg_str(eq + 1, (size_t)(p - eq - 1)));
        if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"') {
            val = mg_str(val.p + 1, val.len - 2);
        }
        return val;
    }
    return MG_NULL_STR;
}

static mg_str_t cookie_value(const mg_request_t *r, mg_str_t name)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (mg_str_caseeq(r->headers[i].name, MG_STR("Cookie"))) {
            mg_str_t v = cookie_in(r->headers[i].value, name);
            if (v.len > 0) {
                return v;
            }
        }
    }
    return MG_NULL_STR;
}

static mg_str_t query_value(const mg_request_t *r, mg_str_t name)
{
    const char *p = r->query.p, *end = r->query.p + r->query.len;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        mg_str_t k = mg_str(p, (size_t)((eq != NULL ? eq : stop) - p));
        if (eq != NULL && mg_str_eq(k, name)) {
            return mg_str(eq + 1, (size_t)(stop - eq - 1));
        }
        p = amp != NULL ? amp + 1 : end;
    }
    return MG_NULL_STR;
}

static mg_str_t param_value(const mg_request_t *r, mg_str_t name)
{
    for (size_t i = 0; i < r->match.nparams; i++) {
        if (mg_str_eq(r->match.params[i].name, name)) {
            return r->match.params[i].value;
        }
    }
    return MG_NULL_STR;
}

mg_str_t mg_balancer_key(const mg_upstream_conf_t *u, const mg_request_t *r)
{
    if (u->balancer == MG_LB_STICKY) {
        const char *c = u->sticky.cookie != NULL ? u->sticky.cookie : "mg_node";
        return cookie_value(r, mg_str(c, strlen(c)));
    }
    if (u->balancer != MG_LB_CHASH && u->balancer != MG_LB_IP_HASH) {
        return MG_NULL_STR;
    }
    mg_str_t name = mg_str(u->hash_on.name, u->hash_on.len);
    mg_str_t v = MG_NULL_STR;
    switch (u->hash_on.kind) {
    case MG_HASH_REMOTE_ADDR:
        break;
    case MG_HASH_HEADER:
        v = header_value(r, name);
        break;
    case MG_HASH_COOKIE:
        v = cookie_value(r, name);
        break;
    case MG_HASH_QUERY:
        v = query_value(r, name);
        break;
    case MG_HASH_PARAM:
        v = param_value(r, name);
        break;
    }
    return v.len > 0 ? v : r->remote_addr;
}
