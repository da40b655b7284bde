/*
 * conf_ratelimit.c -- a route's `rate_limit:` list and the top-level `rate_limit_zones:`.
 *
 * Each item is read key by key into an mg_rl_conf_t, then checked as a whole: a key
 * that means nothing for the item's algorithm or scope (`limit` on a token bucket,
 * `delay` outside the leaky bucket, `sync_interval` outside cluster_approx) is an error
 * at that key rather than silently ignored, so an operator never believes a limit does
 * what it does not. Zones a local limit uses must be declared, except "default", which
 * is added (10 MiB) when something may use it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf_int.h"
#include "lua_ffi.h"

#define MG_RL_DEFAULT_ZONE "default"
#define MG_RL_DEFAULT_ZONE_SIZE ((size_t)10 << 20)
#define MG_RL_MIN_ZONE_SIZE ((size_t)32 << 10)
#define MG_RL_MAX_LIMITS 16

static const char *const algo_names[] = {"token_bucket", "leaky_bucket", "fixed_window",
                                         "sliding_window", "concurrency"};
static const char *const scope_names[] = {"local", "cluster", "cluster_approx"};
static const char *const failure_names[] = {"local", "allow", "reject"};

/* ---- scalar forms, shared with mg.ratelimit ---- */

int mg_conf_parse_rate(const char *s, double *limit, double *window)
{
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.')) {
        return MG_ERROR;
    }
    errno = 0;
    char *end;
    double n = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(n) || n <= 0 || n > 1e12 ||
        strspn(s, "0123456789.") != (size_t)(end - s) || *end != '/') {
        return MG_ERROR;
    }
    const char *per = end + 1;
    double w;
    if (strcmp(per, "s") == 0) {
        w = 1;
    } else if (strcmp(per, "m") == 0) {
        w = 60;
    } else if (strcmp(per, "h") == 0) {
        w = 3600;
    } else if (strcmp(per, "d") == 0) {
        w = 86400;
    } else if (mg_conf_parse_duration(per, &w) != MG_OK || w <= 0) {
        return MG_ERROR;
    }
    if (w < 0.001) {
        return MG_ERROR;
    }
    *limit = n;
    *window = w;
    return MG_OK;
}

/* ---- the keys of one limit ---- */

/* Picks `s` among `names`; MG_ERROR with the list in the message otherwise. */
static int read_enum(mg__conf_ctx_t *c, yaml_node_t *v, const char *const *names, size_t n,
                     int *out)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return MG_OK;
        }
    }
    char list[200];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(list + off, sizeof(list) - off, "%s%s", i ? " | " : "", names[i]);
        off += k > 0 ? (size_t)k : 0;
    }
    return mg__conf_fail(c, v, "expected %s, got \"%s\"", list, s);
}

static int on_name(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_rl_conf_t *l = obj;
    if (mg__conf_str(c, v, &l->name) != MG_OK) {
        return MG_ERROR;
    }
    for (const char *p = l->name; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return mg__conf_fail(c, v, "expected a name without control characters");
        }
    }
    return MG_OK;
}

static int on_algorithm(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    int i;
    if (read_enum(c, v, algo_names, MG_NELEMS(algo_names), &i) != MG_OK) {
        return MG_ERROR;
    }
    ((mg_rl_conf_t *)obj)->algorithm = (mg_rl_algo_t)i;
    return MG_OK;
}

static int on_rate(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_rl_conf_t *l = obj;
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
    if (mg_conf_parse_rate(s, &l->limit, &l->window) != MG_OK) {
        char what[80];
        return mg__conf_fail(c, v,
                             "expected a rate N/s, N/m, N/h, N/d or N/<duration> "
                             "(e.g. 100/s, 500/10s), got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    return MG_OK;
}

/* A number >= 0 (burst may be fractional, as bucket sizes are). */
static int read_number(mg__conf_ctx_t *c, yaml_node_t *v, double min, double max, double *out)
{
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
    char *end = (char *)s;
    errno = 0;
    double d = (s[0] >= '0' && s[0] <= '9') ? strtod(s, &end) : NAN;
    if (errno != 0 || *end != '\0' || !(d >= min && d <= max) ||
        strspn(s, "0123456789.") != strlen(s)) {
        char what[80];
        return mg__conf_fail(c, v, "expected a number from %g to %g, got %s", min, max,
                             mg__conf_what(v, what, sizeof(what)));
    }
    *out = d;
    return MG_OK;
}

static int on_burst(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_number(c, v, 0, 1e12, &((mg_rl_conf_t *)obj)->burst);
}

static int on_delay(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_rl_conf_t *)obj)->delay);
}

static int on_limit(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    int n;
    if (mg__conf_int(c, v, 1, 100000000, &n) != MG_OK) {
        return MG_ERROR;
    }
    ((mg_rl_conf_t *)obj)->limit = n;
    ((mg_rl_conf_t *)obj)->window = 1;
    return MG_OK;
}

static bool token_char(char ch)
{
    return isalnum((unsigned char)ch) || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* One part of a key: "remote_addr", "header:NAME" ... Returns NULL or the problem. */
static const char *key_part(mg_pool_t *pool, const char *s, size_t len, mg_rl_key_part_t *out)
{
    static const struct {
        const char *word;
        mg_rl_key_kind_t kind;
        bool named;
    } kinds[] = {
        {"remote_addr", MG_RL_KEY_REMOTE_ADDR, false},
        {"consumer", MG_RL_KEY_CONSUMER, false},
        {"route", MG_RL_KEY_ROUTE, false},
        {"header", MG_RL_KEY_HEADER, true},
        {"query", MG_RL_KEY_QUERY, true},
        {"cookie", MG_RL_KEY_COOKIE, true},
    };
    const char *colon = memchr(s, ':', len);
    size_t wlen = colon ? (size_t)(colon - s) : len;
    for (size_t i = 0; i < MG_NELEMS(kinds); i++) {
        if (strlen(kinds[i].word) != wlen || memcmp(kinds[i].word, s, wlen) != 0) {
            continue;
        }
        out->kind = kinds[i].kind;
        if (!kinds[i].named) {
            return colon ? "takes no name" : NULL;
        }
        size_t nlen = colon ? len - wlen - 1 : 0;
        if (nlen == 0) {
            return "needs a name (header:NAME, query:NAME, cookie:NAME)";
        }
        for (size_t j = 0; j < nlen; j++) {
            char ch = colon[1 + j];
            /* query and cookie names are matched as written: no separators in them */
            if (kinds[i].kind == MG_RL_KEY_HEADER
                    ? !token_char(ch)
                    : (ch <= ' ' || ch == 0x7f || ch == '=' || ch == '&' || ch == ';')) {
                return "has a character not allowed in that name";
            }
        }
        out->name = mg_pool_strndup(pool, colon + 1, nlen);
        out->len = nlen;
        return out->name ? NULL : "out of memory";
    }
    return "is not remote_addr, header:NAME, query:NAME, cookie:NAME, consumer or route";
}

static int on_key(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_rl_conf_t *l = obj;
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    size_t n = 1;
    for (const char *p = s; *p; p++) {
        n += *p == '+';
    }
    l->key = mg_pool_calloc(c->pool, n * sizeof(*l->key));
    if (l->key == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    l->nkey = 0;
    for (const char *p = s;;) {
        const char *e = strchr(p, '+');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *why = key_part(c->pool, p, len, &l->key[l->nkey]);
        if (why != NULL) {
            return mg__conf_fail(c, v, "key part \"%.*s\" %s", (int)len, p, why);
        }
        l->nkey++;
        if (e == NULL) {
            break;
        }
        p = e + 1;
    }
    return MG_OK;
}

static int on_missing_key(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    static const char *const names[] = {"allow", "reject"};
    int i;
    if (read_enum(c, v, names, 2, &i) != MG_OK) {
        return MG_ERROR;
    }
    ((mg_rl_conf_t *)obj)->missing_reject = i == 1;
    return MG_OK;
}

static int on_scope(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    int i;
    if (read_enum(c, v, scope_names, MG_NELEMS(scope_names), &i) != MG_OK) {
        return MG_ERROR;
    }
    if (i != MG_RL_LOCAL && c->conf->redis == NULL) {
        return mg__conf_fail(c, v, "scope %s needs the top-level `redis` block", scope_names[i]);
    }
    ((mg_rl_conf_t *)obj)->scope = (mg_rl_scope_t)i;
    return MG_OK;
}

static int on_zone(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_rl_conf_t *l = obj;
    if (mg__conf_str(c, v, &l->zone) != MG_OK) {
        return MG_ERROR;
    }
    if (strcmp(l->zone, MG_RL_DEFAULT_ZONE) == 0) {
        return MG_OK;
    }
    for (size_t i = 0; i < c->conf->nrl_zones; i++) {
        if (strcmp(c->conf->rl_zones[i].name, l->zone) == 0) {
            return MG_OK;
        }
    }
    return mg__conf_fail(c, v, "unknown zone \"%s\" (declare it in rate_limit_zones)", l->zone);
}

static int on_status(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 400, 599, &((mg_rl_conf_t *)obj)->status);
}

static int on_headers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_rl_conf_t *)obj)->headers);
}

static int on_redis_failure(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    int i;
    if (read_enum(c, v, failure_names, MG_NELEMS(failure_names), &i) != MG_OK) {
        return MG_ERROR;
    }
    ((mg_rl_conf_t *)obj)->redis_failure = (mg_rl_failure_t)i;
    return MG_OK;
}

static int on_nodes(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 100000, &((mg_rl_conf_t *)obj)->nodes);
}

static int on_sync_interval(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_rl_conf_t *l = obj;
    if (mg__conf_duration(c, v, false, &l->sync_interval) != MG_OK) {
        return MG_ERROR;
    }
    if (l->sync_interval < 0.01 || l->sync_interval > 60) {
        return mg__conf_fail(c, v, "expected a duration from 10ms to 60s");
    }
    return MG_OK;
}

enum {
    K_NAME,
    K_ALGORITHM,
    K_RATE,
    K_BURST,
    K_DELAY,
    K_LIMIT,
    K_KEY,
    K_MISSING,
    K_SCOPE,
    K_ZONE,
    K_STATUS,
    K_HEADERS,
    K_REDIS_FAILURE,
    K_NODES,
    K_SYNC
};

static const mg__conf_field_t limit_fields[] = {
    [K_NAME] = {"name", on_name, NULL},
    [K_ALGORITHM] = {"algorithm", on_algorithm, NULL},
    [K_RATE] = {"rate", on_rate, NULL},
    [K_BURST] = {"burst", on_burst, NULL},
    [K_DELAY] = {"delay", on_delay, NULL},
    [K_LIMIT] = {"limit", on_limit, NULL},
    [K_KEY] = {"key", on_key, NULL},
    [K_MISSING] = {"missing_key", on_missing_key, NULL},
    [K_SCOPE] = {"scope", on_scope, NULL},
    [K_ZONE] = {"zone", on_zone, NULL},
    [K_STATUS] = {"status", on_status, NULL},
    [K_HEADERS] = {"headers", on_headers, NULL},
    [K_REDIS_FAILURE] = {"redis_failure", on_redis_failure, NULL},
    [K_NODES] = {"nodes", on_nodes, NULL},
    [K_SYNC] = {"sync_interval", on_sync_interval, NULL},
};

/* The key node of `key` in the mapping (for errors found after the walk). */
static yaml_node_t *key_node(mg__conf_ctx_t *c, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) {
            return k;
        }
    }
    return map;
}

/* Fails at key `idx` of the item, with the key pushed on the path. */
static int fail_at(mg__conf_ctx_t *c, yaml_node_t *v, int idx, const char *msg)
{
    mg__conf_push_key(c, limit_fields[idx].key);
    return mg__conf_fail(c, key_node(c, v, limit_fields[idx].key), "%s", msg);
}

#define SEEN(k) ((seen & (UINT64_C(1) << (k))) != 0)

/* Keys that make no sense for the algorithm or scope, and the required ones. */
static int check_limit(mg__conf_ctx_t *c, yaml_node_t *v, mg_rl_conf_t *l, uint64_t seen)
{
    char msg[200];
    const char *algo = algo_names[l->algorithm];
    bool conc = l->algorithm == MG_RL_CONCURRENCY;
    bool bucket = l->algorithm == MG_RL_TOKEN_BUCKET || l->algorithm == MG_RL_LEAKY_BUCKET;
    if (conc && SEEN(K_RATE)) {
        return fail_at(c, v, K_RATE,
                       "concurrency counts requests in flight: use `limit`, "
                       "not `rate`");
    }
    if (!conc && SEEN(K_LIMIT)) {
        snprintf(msg, sizeof(msg), "`limit` is for the concurrency algorithm; %s takes `rate`",
                 algo);
        return fail_at(c, v, K_LIMIT, msg);
    }
    if (conc ? !SEEN(K_LIMIT) : !SEEN(K_RATE)) {
        snprintf(msg, sizeof(msg), "missing required key \"%s\" for %s", conc ? "limit" : "rate",
                 algo);
        return mg__conf_fail(c, v, "%s", msg);
    }
    if (SEEN(K_BURST) && !bucket) {
        snprintf(msg, sizeof(msg), "`burst` is for token_bucket and leaky_bucket, not %s", algo);
        return fail_at(c, v, K_BURST, msg);
    }
    if (SEEN(K_BURST) && l->algorithm == MG_RL_TOKEN_BUCKET && l->burst < 1) {
        return fail_at(c, v, K_BURST, "a token bucket holds at least 1 token (burst >= 1)");
    }
    if (SEEN(K_DELAY) && l->algorithm != MG_RL_LEAKY_BUCKET) {
        snprintf(msg, sizeof(msg), "`delay` is for leaky_bucket only, not %s", algo);
        return fail_at(c, v, K_DELAY, msg);
    }
    bool cluster = l->scope != MG_RL_LOCAL;
    if (l->scope == MG_RL_CLUSTER_APPROX &&
        !(l->algorithm == MG_RL_TOKEN_BUCKET || l->algorithm == MG_RL_FIXED_WINDOW ||
          l->algorithm == MG_RL_SLIDING_WINDOW)) {
        snprintf(msg, sizeof(msg),
                 "scope cluster_approx works with token_bucket, fixed_window and "
                 "sliding_window, not %s",
                 algo);
        return fail_at(c, v, K_SCOPE, msg);
    }
    if (SEEN(K_SYNC) && l->scope != MG_RL_CLUSTER_APPROX) {
        return fail_at(c, v, K_SYNC, "`sync_interval` is for scope cluster_approx only");
    }
    if (SEEN(K_REDIS_FAILURE) && !cluster) {
        return fail_at(c, v, K_REDIS_FAILURE, "`redis_failure` is for the cluster scopes only");
    }
    if (SEEN(K_NODES) && !cluster) {
        return fail_at(c, v, K_NODES, "`nodes` is for the cluster scopes only");
    }
    if (l->algorithm == MG_RL_TOKEN_BUCKET && !SEEN(K_BURST)) {
        l->burst = l->limit;
    }
    return MG_OK;
}

static int read_limit(mg__conf_ctx_t *c, yaml_node_t *v, size_t i, mg_rl_conf_t *l)
{
    *l = (mg_rl_conf_t){
        .algorithm = MG_RL_TOKEN_BUCKET,
        .scope = MG_RL_LOCAL,
        .zone = MG_RL_DEFAULT_ZONE,
        .status = 429,
        .redis_failure = MG_RL_FAIL_LOCAL,
        .nodes = 1,
        .sync_interval = 0.1,
        .index = (int)i,
    };
    uint64_t seen;
    if (v->type != YAML_MAPPING_NODE) {
        char what[80];
        return mg__conf_fail(c, v, "expected a mapping {algorithm, rate, key, ...}, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    if (mg__conf_map(c, v, limit_fields, MG_NELEMS(limit_fields), l, &seen) != MG_OK ||
        check_limit(c, v, l, seen) != MG_OK) {
        return MG_ERROR;
    }
    if (l->key == NULL) {
        static mg_rl_key_part_t remote = {MG_RL_KEY_REMOTE_ADDR, NULL, 0};
        l->key = &remote;
        l->nkey = 1;
    }
    return MG_OK; /* a default name comes with the route's (conf_route.c) */
}

int mg__conf_rate_limits(mg__conf_ctx_t *c, yaml_node_t *node, mg_route_conf_t *r)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, node, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n > MG_RL_MAX_LIMITS) {
        return mg__conf_fail(c, node, "expected at most %d limits, got %zu", MG_RL_MAX_LIMITS, n);
    }
    mg_rl_conf_t *ls = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*ls));
    if (ls == NULL) {
        return mg__conf_fail(c, node, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        if (read_limit(c, items[i], i, &ls[i]) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (ls[i].name != NULL && ls[j].name != NULL && strcmp(ls[j].name, ls[i].name) == 0) {
                mg__conf_push_key(c, "name");
                return mg__conf_fail(c, key_node(c, items[i], "name"),
                                     "duplicate limit name \"%s\" (also rate_limit[%zu])",
                                     ls[i].name, j);
            }
        }
        mg__conf_pop(c, saved);
    }
    r->rate_limits = ls;
    r->nrate_limits = n;
    return MG_OK;
}

/* ---- rate_limit_zones ---- */

int mg__conf_on_rl_zones(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (v->type != YAML_MAPPING_NODE) {
        char what[96];
        return mg__conf_fail(c, v, "expected a mapping of zone name to size, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    yaml_node_pair_t *p = v->data.mapping.pairs.start;
    size_t n = (size_t)(v->data.mapping.pairs.top - p);
    /* one spare slot for "default" when it is used without being declared */
    mg_rl_zone_conf_t *z = mg_pool_calloc(c->pool, (n + 1) * sizeof(*z));
    if (z == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p[i].key);
        if (mg__conf_str(c, k, &z[i].name) != MG_OK) {
            return MG_ERROR;
        }
        size_t saved = mg__conf_push_key(c, z[i].name);
        size_t len = strlen(z[i].name);
        if (len > 64 || strspn(z[i].name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
            return mg__conf_fail(c, k, "a zone name is 1 to 64 of a-z, 0-9, '-' and '_'");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(z[j].name, z[i].name) == 0) {
                return mg__conf_fail(c, k, "duplicate key");
            }
        }
        if (mg__conf_size(c, yaml_document_get_node(&c->doc, p[i].value), MG_RL_MIN_ZONE_SIZE,
                          (size_t)16 << 30, &z[i].size) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    c->conf->rl_zones = z;
    c->conf->nrl_zones = n;
    return MG_OK;
}

int mg__conf_rl_finish(mg__conf_ctx_t *c)
{
    mg_conf_t *conf = c->conf;
    for (size_t i = 0; i < conf->nrl_zones; i++) {
        if (strcmp(conf->rl_zones[i].name, MG_RL_DEFAULT_ZONE) == 0) {
            return MG_OK;
        }
    }
    /* Always there, used or not: a reload that adds the first limit or plugin then
     * keeps the same set of zones and switches workers in place (zones are mapped
     * only by forking). Untouched pages cost no memory. */
    if (conf->rl_zones == NULL) {
        conf->rl_zones = mg_pool_calloc(c->pool, sizeof(*conf->rl_zones));
        if (conf->rl_zones == NULL) {
            return mg__conf_fail(c, NULL, "out of memory");
        }
    }
    conf->rl_zones[conf->nrl_zones++] =
        (mg_rl_zone_conf_t){MG_RL_DEFAULT_ZONE, MG_RL_DEFAULT_ZONE_SIZE};
    return MG_OK;
}
