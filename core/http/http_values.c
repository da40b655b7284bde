/*
 * http_values.c -- the values a request carries, looked up by name: a header, a cookie,
 * a query argument, a route path parameter. What rate-limit keys and the hashing
 * balancers are computed from, and the access log's Referer and User-Agent.
 *
 * Values are views into the request (nothing is copied or decoded): a query value is
 * not percent-decoded, a cookie value loses only its surrounding spaces and quotes.
 */
#include "http.h"

mg_str_t mg_http_header(const mg_request_t *r, mg_str_t name)
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

mg_str_t mg_http_cookie(const mg_request_t *r, mg_str_t name)
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

mg_str_t mg_http_query_arg(const mg_request_t *r, mg_str_t name)
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

mg_str_t mg_http_param(const mg_request_t *r, mg_str_t name)
{
    for (size_t i = 0; i < r->match.nparams; i++) {
        if (mg_str_eq(r->match.params[i].name, name)) {
            return r->match.params[i].value;
        }
    }
    return MG_NULL_STR;
}
