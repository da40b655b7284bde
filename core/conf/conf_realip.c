/*
 * conf_realip.c -- the `trusted_proxies:` key: the peers (load balancers, CDNs, other
 * proxies) whose X-Forwarded-For the gateway believes (http/realip.h).
 *
 *   trusted_proxies: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]
 *
 * A bare address is one host (/32 or /128). A range with bits set after its prefix
 * ("10.0.0.1/8") is refused with both readings offered, rather than trusting a
 * network the operator may not have meant. The list becomes a sorted matcher
 * (base/cidr.h) once, at load.
 */
#include "conf_int.h"

/* More than any CDN publishes (Cloudflare ~20, AWS CloudFront ~150, Fastly ~20). */
#define MAX_TRUSTED 100000

int mg__conf_on_trusted_proxies(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_is_null(v)) {
        c->conf->trusted_proxies = NULL;
        return MG_OK;
    }
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n > MAX_TRUSTED) {
        return mg__conf_fail(c, v, "expected at most %d ranges, got %zu", MAX_TRUSTED, n);
    }
    mg_cidr_t *ranges = mg_pool_alloc(c->pool, (n ? n : 1) * sizeof(*ranges));
    if (ranges == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        const char *s, *why;
        if (mg__conf_str(c, items[i], &s) != MG_OK) {
            return MG_ERROR;
        }
        if (mg_cidr_parse(s, strlen(s), &ranges[i], &why) != MG_OK) {
            char what[80];
            return mg__conf_fail(c, items[i], "%s, got %s", why,
                                 mg__conf_what(items[i], what, sizeof(what)));
        }
        mg__conf_pop(c, saved);
    }
    c->conf->trusted_proxies = n > 0 ? mg_cidr_set_build(c->pool, ranges, n) : NULL;
    if (n > 0 && c->conf->trusted_proxies == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    return MG_OK;
}
