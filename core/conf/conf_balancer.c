/*
 * conf_balancer.c -- the balancing keys of an upstream: `balancer`, `hash_on` and the
 * `sticky:` block (docs/balancing.md).
 *
 * `hash_on` is parsed here once into a kind and a name, so a request never looks at
 * its text. Keys that only one algorithm uses are refused with the others, once the
 * whole upstream is read (the keys may come in any order).
 */
#include <stdio.h>

#include "conf_int.h"

static const struct {
    const char *name;
    mg_lb_kind_t kind;
} balancers[] = {
    {"roundrobin", MG_LB_ROUNDROBIN},
    {"least_conn", MG_LB_LEAST_CONN},
    {"ip_hash", MG_LB_IP_HASH},
    {"chash", MG_LB_CHASH},
    {"ewma", MG_LB_EWMA},
    {"random", MG_LB_RANDOM},
    {"sticky", MG_LB_STICKY},
};

#define BALANCER_LIST "roundrobin, least_conn, ip_hash, chash, ewma, random or sticky"
#define FALLBACK_LIST "roundrobin, least_conn, ewma or random"

static int read_kind(mg__conf_ctx_t *c, yaml_node_t *v, bool fallback, mg_lb_kind_t *out)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < MG_NELEMS(balancers); i++) {
        if (strcmp(s, balancers[i].name) != 0) {
            continue;
        }
        mg_lb_kind_t k = balancers[i].kind;
        if (fallback && (k == MG_LB_STICKY || k == MG_LB_CHASH || k == MG_LB_IP_HASH)) {
            return mg__conf_fail(c, v,
                                 "expected " FALLBACK_LIST " (new clients are spread, not "
                                 "hashed), got \"%s\"",
                                 s);
        }
        *out = k;
        return MG_OK;
    }
    for (size_t i = 0; i < MG_NELEMS(balancers); i++) {
        if (strcasecmp(s, balancers[i].name) == 0 ||
            (strncmp(s, "round", 5) == 0 && balancers[i].kind == MG_LB_ROUNDROBIN) ||
            (strncmp(s, "least", 5) == 0 && balancers[i].kind == MG_LB_LEAST_CONN)) {
            return mg__conf_fail(c, v, "unknown balancer \"%s\" (did you mean \"%s\"?)", s,
                                 balancers[i].name);
        }
    }
    return mg__conf_fail(c, v, "expected %s, got \"%s\"", fallback ? FALLBACK_LIST : BALANCER_LIST,
                         s);
}

int mg__conf_on_up_balancer(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_kind(c, v, false, &((mg_upstream_conf_t *)obj)->balancer);
}

/* A header, cookie or query name: a token of visible characters without separators. */
static bool name_ok(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= ' ' || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch) != NULL) {
            return false;
        }
    }
    return true;
}

int mg__conf_on_up_hash_on(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    static const struct {
        const char *prefix;
        mg_hash_kind_t kind;
    } forms[] = {
        {"header:", MG_HASH_HEADER},
        {"cookie:", MG_HASH_COOKIE},
        {"query:", MG_HASH_QUERY},
        {"param:", MG_HASH_PARAM},
    };
    mg_hash_on_t *h = &((mg_upstream_conf_t *)obj)->hash_on;
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    if (strcmp(s, "remote_addr") == 0) {
        *h = (mg_hash_on_t){MG_HASH_REMOTE_ADDR, NULL, 0};
        return MG_OK;
    }
    for (size_t i = 0; i < MG_NELEMS(forms); i++) {
        size_t plen = strlen(forms[i].prefix);
        if (strncmp(s, forms[i].prefix, plen) != 0) {
            continue;
        }
        if (!name_ok(s + plen)) {
            return mg__conf_fail(c, v,
                                 "expected a name after \"%s\" (letters, digits and "
                                 "-_.!#$%%&'*+^`|~), got \"%s\"",
                                 forms[i].prefix, s);
        }
        *h = (mg_hash_on_t){forms[i].kind, s + plen, strlen(s + plen)};
        return MG_OK;
    }
    return mg__conf_fail(c, v,
                         "expected remote_addr, header:NAME, cookie:NAME, query:NAME or "
                         "param:NAME, got \"%s\"",
                         s);
}

/* sticky: block */

static int on_st_cookie(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_sticky_conf_t *st = obj;
    if (mg__conf_str(c, v, &st->cookie) != MG_OK) {
        return MG_ERROR;
    }
    if (!name_ok(st->cookie)) {
        return mg__conf_fail(c, v,
                             "expected a cookie name (letters, digits and -_.!#$%%&'*+^`|~), "
                             "got \"%s\"",
                             st->cookie);
    }
    return MG_OK;
}

static int on_st_fallback(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_kind(c, v, true, &((mg_sticky_conf_t *)obj)->fallback);
}

static int on_st_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_sticky_conf_t *st = obj;
    if (mg__conf_str(c, v, &st->path) != MG_OK) {
        return MG_ERROR;
    }
    /* it goes into a response header: no ';' (a new attribute), no controls, no space */
    for (const char *p = st->path; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == ';') {
            return mg__conf_fail(c, v,
                                 "expected a path without spaces, ';' or control "
                                 "characters, got \"%s\"",
                                 st->path);
        }
    }
    if (st->path[0] != '/') {
        return mg__conf_fail(c, v, "expected a path starting with '/', got \"%s\"", st->path);
    }
    return MG_OK;
}

static int on_st_max_age(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, true, &((mg_sticky_conf_t *)obj)->max_age);
}

static int on_st_secure(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_sticky_conf_t *)obj)->secure);
}

static int on_st_httponly(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_sticky_conf_t *)obj)->httponly);
}

static const mg__conf_field_t sticky_fields[] = {
    {"cookie", on_st_cookie, NULL}, {"fallback", on_st_fallback, NULL},
    {"path", on_st_path, NULL},     {"max_age", on_st_max_age, NULL},
    {"secure", on_st_secure, NULL}, {"httponly", on_st_httponly, NULL},
};

int mg__conf_on_up_sticky(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, sticky_fields, MG_NELEMS(sticky_fields),
                        &((mg_upstream_conf_t *)obj)->sticky, &seen);
}

void mg__conf_balancer_defaults(mg_upstream_conf_t *u)
{
    u->balancer = MG_LB_ROUNDROBIN;
    u->hash_on = (mg_hash_on_t){MG_HASH_REMOTE_ADDR, NULL, 0};
    u->sticky = (mg_sticky_conf_t){
        .cookie = "mg_node",
        .fallback = MG_LB_ROUNDROBIN,
        .path = "/",
        .max_age = 0,
        .secure = false,
        .httponly = true,
    };
}

int mg__conf_check_balancer(mg__conf_ctx_t *c, yaml_node_t *v, const mg_upstream_conf_t *u)
{
    const char *name = "roundrobin";
    for (size_t i = 0; i < MG_NELEMS(balancers); i++) {
        if (balancers[i].kind == u->balancer) {
            name = balancers[i].name;
        }
    }
    yaml_node_t *hash_on = mg__conf_find_key(c, v, "hash_on", true);
    if (hash_on != v && u->balancer != MG_LB_CHASH && u->balancer != MG_LB_IP_HASH) {
        size_t saved = mg__conf_push_key(c, "hash_on");
        int rc = mg__conf_fail(c, hash_on,
                               "hash_on is used by the chash and ip_hash balancers only "
                               "(this upstream's balancer is %s)",
                               name);
        mg__conf_pop(c, saved);
        return rc;
    }
    yaml_node_t *sticky = mg__conf_find_key(c, v, "sticky", true);
    if (sticky != v && u->balancer != MG_LB_STICKY) {
        size_t saved = mg__conf_push_key(c, "sticky");
        int rc = mg__conf_fail(c, sticky,
                               "a sticky: block needs \"balancer: sticky\" (this upstream's "
                               "balancer is %s)",
                               name);
        mg__conf_pop(c, saved);
        return rc;
    }
    return MG_OK;
}
