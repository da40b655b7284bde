/*
 * conf_route.c -- the `upstreams` and `routes` lists of moongate.yaml.
 *
 * Upstreams are read first (conf_top.c calls us after every other top-level key), so a
 * route's `upstream:` is resolved to a pointer right away, wherever the two lists sit in
 * the file. Keys a later release implements fail with a clear message rather than being
 * ignored: an operator who writes `plugins:` must not believe a route is protected.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>

#include "conf_int.h"
#include "regexp.h"
#include "route_pattern.h"
#include "llhttp.h"

#define MG_MAX_NODES MG_UPSTREAM_MAX_NODES

/* Upstream nodes */

static int on_node_address(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &((mg_node_conf_t *)obj)->addr.text);
}

static int on_node_weight(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 1000, &((mg_node_conf_t *)obj)->weight);
}

static int on_node_srv(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_node_conf_t *)obj)->srv);
}

static const mg__conf_field_t node_fields[] = {
    {"address", on_node_address, NULL},
    {"weight", on_node_weight, NULL},
    {"srv", on_node_srv, NULL},
};

/* An SRV node's address: a DNS name alone, its records give the ports. */
static int node_srv_name(mg__conf_ctx_t *c, yaml_node_t *v, mg_node_conf_t *node)
{
    const char *t = node->addr.text;
    mg_addr_t ip;
    char host[256];
    uint16_t port;
    const char *why;
    if (strchr(t, ':') != NULL || t[strspn(t, "0123456789.")] == '\0') {
        bool is_ip = mg__conf_parse_addr_lazy(t, &ip, host, sizeof(host), &port, &why) == MG_OK ||
                     t[strspn(t, "0123456789.")] == '\0' || strchr(t, ':') != strrchr(t, ':');
        return mg__conf_fail(c, v,
                             "srv: true expects a DNS name whose SRV records give targets and "
                             "ports (e.g. \"_http._tcp.svc.internal\"), got %s \"%s\"",
                             is_ip ? "the IP address" : "the address with a port", t);
    }
    if (strlen(t) > 253 || !mg__conf_is_hostname(t)) {
        return mg__conf_fail(c, v, "srv: true expects a DNS name, got \"%s\"", t);
    }
    node->host = t;
    return MG_OK;
}

/* The address of a node: an IP address is parsed now; a host name is kept for the
 * workers' resolvers, never resolved here (the load must not block on DNS, and the
 * answer changes). */
static int node_address(mg__conf_ctx_t *c, yaml_node_t *v, mg_node_conf_t *node)
{
    if (node->srv) {
        return node_srv_name(c, v, node);
    }
    char host[256];
    const char *why;
    int rc = mg__conf_parse_addr_lazy(node->addr.text, &node->addr, host, sizeof(host), &node->port,
                                      &why);
    if (rc == MG_DECLINED) {
        node->host = mg_pool_strdup(c->pool, host);
        return node->host != NULL ? MG_OK : mg__conf_fail(c, v, "out of memory");
    }
    if (rc != MG_OK) {
        char what[80];
        return mg__conf_fail(c, v,
                             "expected \"ADDR:PORT\", \"[IPv6]:PORT\", \"NAME:PORT\" or \"PORT\", "
                             "got %s: %s",
                             mg__conf_what(v, what, sizeof(what)), why);
    }
    return MG_OK;
}

/* The value of `key` in mapping v, or NULL. */
static yaml_node_t *map_value(mg__conf_ctx_t *c, yaml_node_t *v, const char *key)
{
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0) {
            return yaml_document_get_node(&c->doc, p->value);
        }
    }
    return NULL;
}

/* One node: {address, weight, srv} or a bare "host:port". */
static int read_node(mg__conf_ctx_t *c, yaml_node_t *v, mg_node_conf_t *node)
{
    node->weight = 1;
    if (v->type == YAML_SCALAR_NODE && !mg__conf_is_null(v)) {
        return mg__conf_str(c, v, &node->addr.text) != MG_OK ? MG_ERROR : node_address(c, v, node);
    }
    if (v->type != YAML_MAPPING_NODE) {
        char what[80];
        return mg__conf_fail(c, v, "expected {address, weight} or \"ADDR:PORT\", got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    uint64_t seen;
    if (mg__conf_map(c, v, node_fields, MG_NELEMS(node_fields), node, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, node_fields, 0) != MG_OK) {
        return MG_ERROR;
    }
    size_t saved = mg__conf_push_key(c, "address");
    yaml_node_t *addr = map_value(c, v, "address");
    int rc = node_address(c, addr != NULL ? addr : v, node);
    mg__conf_pop(c, saved);
    return rc;
}

/* Two nodes are the same when they name the same IP address and port, or the same
 * host name (any case) and port. */
static bool node_same(const mg_node_conf_t *a, const mg_node_conf_t *b)
{
    if ((a->host == NULL) != (b->host == NULL)) {
        return false;
    }
    return a->host == NULL
               ? mg__conf_addr_eq(&a->addr, &b->addr)
               : a->port == b->port && a->srv == b->srv && strcasecmp(a->host, b->host) == 0;
}

static int on_nodes(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_upstream_conf_t *u = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0 || n > MG_MAX_NODES) {
        return mg__conf_fail(c, v, "expected from 1 to %d nodes, got %zu", MG_MAX_NODES, n);
    }
    u->nodes = mg_pool_calloc(c->pool, n * sizeof(*u->nodes));
    if (u->nodes == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        if (read_node(c, items[i], &u->nodes[i]) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (node_same(&u->nodes[j], &u->nodes[i])) {
                return mg__conf_fail(c, items[i], "address \"%s\" is already a node (nodes[%zu])",
                                     u->nodes[i].addr.text, j);
            }
        }
        mg__conf_pop(c, saved);
    }
    u->nnodes = n;
    for (size_t i = 0; i < n; i++) {
        u->dynamic |= u->nodes[i].host != NULL;
    }
    return MG_OK;
}

/* Upstream keys */

static int on_up_name(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_upstream_conf_t *u = obj;
    if (mg__conf_str(c, v, &u->name) != MG_OK) {
        return MG_ERROR;
    }
    if (u->name[strspn(u->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_.-")] != '\0') {
        return mg__conf_fail(c, v,
                             "expected a name of letters, digits, '_', '.' and '-', "
                             "got \"%s\"",
                             u->name);
    }
    return MG_OK;
}

static int on_up_keepalive(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 100000, &((mg_upstream_conf_t *)obj)->keepalive);
}

static int on_up_keepalive_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_upstream_conf_t *)obj)->keepalive_timeout);
}

static int on_up_keepalive_requests(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 100000000, &((mg_upstream_conf_t *)obj)->keepalive_requests);
}

static int on_to_connect(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_upstream_conf_t *)obj)->connect_timeout);
}

static int on_to_send(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_upstream_conf_t *)obj)->send_timeout);
}

static int on_to_read(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_upstream_conf_t *)obj)->read_timeout);
}

static const mg__conf_field_t timeout_fields[] = {
    {"connect", on_to_connect, NULL},
    {"send", on_to_send, NULL},
    {"read", on_to_read, NULL},
};

static int on_up_timeouts(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, timeout_fields, MG_NELEMS(timeout_fields), obj, &seen);
}

static int on_up_retries(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 16, &((mg_upstream_conf_t *)obj)->retries);
}

static int on_up_retry_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, true, &((mg_upstream_conf_t *)obj)->retry_timeout);
}

static int on_up_host(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_upstream_conf_t *u = obj;
    if (mg__conf_str(c, v, &u->host) != MG_OK) {
        return MG_ERROR;
    }
    /* it goes into a request head verbatim: a CR, LF or space would split the header */
    for (const char *p = u->host; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return mg__conf_fail(c, v,
                                 "expected a host name without spaces or control "
                                 "characters, got \"%s\"",
                                 u->host);
        }
    }
    return MG_OK;
}

static int on_rh_max_fields(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 100000, &((mg_resp_headers_conf_t *)obj)->max_fields);
}

static int on_rh_max_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 512, MG_RESP_HEAD_MAX_SIZE, &((mg_resp_headers_conf_t *)obj)->max_size);
}

static const mg__conf_field_t resp_headers_fields[] = {
    {"max_fields", on_rh_max_fields, NULL},
    {"max_size", on_rh_max_size, NULL},
};

static int on_up_response_headers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, resp_headers_fields, MG_NELEMS(resp_headers_fields),
                        &((mg_upstream_conf_t *)obj)->response_headers, &seen);
}

static const mg__conf_field_t upstream_fields[] = {
    {"name", on_up_name, NULL},
    {"nodes", on_nodes, NULL},
    {"balancer", mg__conf_on_up_balancer, NULL},
    {"hash_on", mg__conf_on_up_hash_on, NULL},
    {"sticky", mg__conf_on_up_sticky, NULL},
    {"keepalive", on_up_keepalive, NULL},
    {"keepalive_timeout", on_up_keepalive_timeout, NULL},
    {"keepalive_requests", on_up_keepalive_requests, NULL},
    {"timeouts", on_up_timeouts, NULL},
    {"retries", on_up_retries, NULL},
    {"retry_timeout", on_up_retry_timeout, NULL},
    {"host", on_up_host, NULL},
    {"health_check", mg__conf_on_health_check, NULL},
    {"max_connections", mg__conf_on_max_connections, NULL},
    {"max_pending", mg__conf_on_max_pending, NULL},
    {"retry_budget", mg__conf_on_retry_budget, NULL},
    {"tls", mg__conf_on_up_tls, NULL},
    {"queue", mg__conf_on_queue, NULL},
    {"max_connecting", mg__conf_on_max_connecting, NULL},
    {"response_headers", on_up_response_headers, NULL},
};

static int read_upstream(mg__conf_ctx_t *c, yaml_node_t *v, mg_upstream_conf_t *u)
{
    *u = (mg_upstream_conf_t){
        .keepalive = 64,
        .keepalive_timeout = 10,
        .keepalive_requests = 1000,
        .connect_timeout = 3,
        .send_timeout = 10,
        .read_timeout = 60, /* as nginx: a long poll of up to a minute is not a 504 */
        .retries = 1,
        .retry_timeout = 0,
        /* nginx's 4k/8k proxy_buffer_size passes ~150 Set-Cookie lines: so do we, and
         * more; the field count only bounds the array a head grows */
        .response_headers = {.max_fields = 1000, .max_size = MG_RESP_HEAD_MAX_SIZE},
    };
    mg__conf_balancer_defaults(u);
    u->tls = (mg_upstream_tls_conf_t){.verify = true, .verify_depth = 4};
    mg__conf_health_defaults(&u->health);
    uint64_t seen;
    if (mg__conf_map(c, v, upstream_fields, MG_NELEMS(upstream_fields), u, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, upstream_fields, 0) != MG_OK ||
        mg__conf_require(c, v, seen, upstream_fields, 1) != MG_OK ||
        mg__conf_check_balancer(c, v, u) != MG_OK) {
        return MG_ERROR;
    }
    return MG_OK;
}

typedef int (*item_reader_fn)(mg__conf_ctx_t *c, yaml_node_t *v, size_t i, void *obj);

/* Upstreams and routes: a list of mappings read into an array of `size`-byte structs,
 * each with a unique name (at `name_off`) and its position (an int at `index_off`). */
static int read_named_list(mg__conf_ctx_t *c, yaml_node_t *node, const char *what, size_t size,
                           size_t name_off, size_t index_off, item_reader_fn read, void **out,
                           size_t *nout)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_is_null(node)) {
        return MG_OK;
    }
    if (mg__conf_list(c, node, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    char *arr = mg_pool_calloc(c->pool, (n ? n : 1) * size);
    if (arr == NULL) {
        return mg__conf_fail(c, node, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        char *obj = arr + i * size;
        if (read(c, items[i], i, obj) != MG_OK) {
            return MG_ERROR;
        }
        *(int *)(obj + index_off) = (int)i;
        const char *name = *(const char **)(obj + name_off);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(*(const char **)(arr + j * size + name_off), name) == 0) {
                mg__conf_push_key(c, "name");
                return mg__conf_fail(c, mg__conf_find_key(c, items[i], "name", true),
                                     "duplicate %s name \"%s\" (also %ss[%zu])", what, name,
                                     what, j);
            }
        }
        mg__conf_pop(c, saved);
    }
    *out = arr;
    *nout = n;
    return MG_OK;
}

static int read_upstream_item(mg__conf_ctx_t *c, yaml_node_t *v, size_t i, void *obj)
{
    return read_upstream(c, v, obj);
}

int mg__conf_read_upstreams(mg__conf_ctx_t *c, yaml_node_t *node)
{
    void *arr = NULL;
    int rc = read_named_list(c, node, "upstream", sizeof(mg_upstream_conf_t),
                             offsetof(mg_upstream_conf_t, name),
                             offsetof(mg_upstream_conf_t, index),
                             read_upstream_item, &arr, &c->conf->nupstreams);
    c->conf->upstreams = arr;
    return rc;
}

/* Route methods, hosts, paths */

/* Every method llhttp parses, by number, so the bit a route stores is the one the
 * parser reports. */
static const llhttp_method_t all_methods[] = {
#define MG_METHOD_NUM(num, name, string) (llhttp_method_t)(num),
    HTTP_ALL_METHOD_MAP(MG_METHOD_NUM)
#undef MG_METHOD_NUM
};

static int read_method(mg__conf_ctx_t *c, yaml_node_t *v, uint64_t *mask)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < MG_NELEMS(all_methods); i++) {
        if ((unsigned)all_methods[i] < 64 && strcmp(llhttp_method_name(all_methods[i]), s) == 0) {
            *mask |= UINT64_C(1) << all_methods[i];
            return MG_OK;
        }
    }
    for (size_t i = 0; i < MG_NELEMS(all_methods); i++) {
        if (strcasecmp(llhttp_method_name(all_methods[i]), s) == 0) {
            return mg__conf_fail(c, v,
                                 "unknown HTTP method \"%s\" (methods are upper case: "
                                 "did you mean \"%s\"?)",
                                 s, llhttp_method_name(all_methods[i]));
        }
    }
    return mg__conf_fail(c, v,
                         "unknown HTTP method \"%s\" (expected a name like GET, POST, "
                         "PUT, DELETE, PATCH, HEAD or OPTIONS)",
                         s);
}

static int on_rt_methods(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v,
                             "expected at least one method (leave `methods` out to "
                             "accept any)");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (read_method(c, items[i], &r->methods) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    return MG_OK;
}

/* A list of strings (a single string counts as one), each checked by `problem`. */
static int read_strings(mg__conf_ctx_t *c, yaml_node_t *v, const char *what,
                        const char *(*problem)(const char *), const char ***out, size_t *nout)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected at least one %s", what);
    }
    const char **strs = mg_pool_calloc(c->pool, n * sizeof(*strs));
    if (strs == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (mg__conf_str(c, items[i], &strs[i]) != MG_OK) {
            return MG_ERROR;
        }
        const char *why = problem(strs[i]);
        if (why != NULL) {
            return mg__conf_fail(c, items[i], "bad %s \"%s\": %s", what, strs[i], why);
        }
        mg__conf_pop(c, saved);
    }
    *out = strs;
    *nout = n;
    return MG_OK;
}

static int on_rt_hosts(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    return read_strings(c, v, "host", mg_route_host_problem, &r->hosts, &r->nhosts);
}

static int on_rt_paths(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    return read_strings(c, v, "path", mg_route_path_problem, &r->paths, &r->npaths);
}

/* `path_regex:` compiles, has at most MG_ROUTE_MAX_PARAMS named groups and can match
 * some path (regexp.h's mg_regex_path_problem). The router compiles it again per
 * generation. */
static int on_rt_path_regex(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    const char *pat;
    if (mg__conf_str(c, v, &pat) != MG_OK) {
        return MG_ERROR;
    }
    mg_regex_err_t err;
    mg_regex_t *re = mg_regex_create(pat, strlen(pat), 0, &err);
    if (re == NULL) {
        return mg__conf_fail(c, v, "bad regular expression \"%s\": %s at offset %zu", pat,
                             err.msg, err.offset);
    }
    uint32_t names = mg_regex_name_count(re);
    mg_regex_destroy(re);
    if (names > MG_ROUTE_MAX_PARAMS) {
        return mg__conf_fail(c, v,
                             "regular expression \"%s\" has %u named groups (at most %d: "
                             "each becomes a route param)",
                             pat, names, MG_ROUTE_MAX_PARAMS);
    }
    const char *why = mg_regex_path_problem(pat, strlen(pat), 0, MG_ROUTE_REGEX_MAX_PATH);
    if (why != NULL) {
        return mg__conf_fail(c, v, "regular expression \"%s\" can never match a path: %s", pat,
                             why);
    }
    r->path_regex = pat;
    return MG_OK;
}

/* Route target: upstream or return */

static int on_rt_upstream(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    const char *name;
    if (mg__conf_str(c, v, &name) != MG_OK) {
        return MG_ERROR;
    }
    r->upstream = (mg_upstream_conf_t *)mg_conf_upstream(c->conf, name);
    if (r->upstream != NULL) {
        return MG_OK;
    }
    if (c->conf->nupstreams == 0) {
        return mg__conf_fail(c, v, "unknown upstream \"%s\" (no upstreams are defined)", name);
    }
    char known[300];
    size_t off = 0;
    for (size_t i = 0; i < c->conf->nupstreams && off < sizeof(known); i++) {
        int k = snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "",
                         c->conf->upstreams[i].name);
        off += k > 0 ? (size_t)k : 0;
    }
    return mg__conf_fail(c, v, "unknown upstream \"%s\" (defined: %s)", name, known);
}

static int on_ret_status(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 100, 599, &((mg_return_conf_t *)obj)->status);
}

/* Any string, the empty one included: an empty body is a legitimate answer. */
static int on_ret_body(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_return_conf_t *ret = obj;
    char what[80];
    if (v->type != YAML_SCALAR_NODE || mg__conf_is_null(v)) {
        return mg__conf_fail(c, v, "expected a string, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    size_t len = v->data.scalar.length;
    char *body = mg_pool_alloc(c->pool, len + 1);
    if (body == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    memcpy(body, v->data.scalar.value, len);
    body[len] = '\0';
    ret->body = body;
    ret->body_len = len;
    return MG_OK;
}

static int on_ret_content_type(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_return_conf_t *ret = obj;
    if (mg__conf_str(c, v, &ret->content_type) != MG_OK) {
        return MG_ERROR;
    }
    /* it becomes a response header: CR or LF would let it add headers of its own */
    for (const char *p = ret->content_type; *p; p++) {
        if ((unsigned char)*p < ' ' || *p == 0x7f) {
            return mg__conf_fail(c, v, "expected a media type without control characters");
        }
    }
    return MG_OK;
}

static const mg__conf_field_t return_fields[] = {
    {"status", on_ret_status, NULL},
    {"body", on_ret_body, NULL},
    {"content_type", on_ret_content_type, NULL},
};

static int on_rt_return(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    mg_return_conf_t *ret = mg_pool_calloc(c->pool, sizeof(*ret));
    if (ret == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    ret->content_type = "text/plain";
    uint64_t seen;
    if (mg__conf_map(c, v, return_fields, MG_NELEMS(return_fields), ret, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, return_fields, 0) != MG_OK) {
        return MG_ERROR;
    }
    r->ret = ret;
    return MG_OK;
}

/* Route keys */

static int on_rt_name(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &((mg_route_conf_t *)obj)->name);
}

static int on_rt_priority(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, -1000000, 1000000, &((mg_route_conf_t *)obj)->priority);
}

static int on_rt_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_route_conf_t *r = obj;
    return mg__conf_plugin_map(c, v, &r->plugins, &r->nplugins);
}

static int on_rt_rate_limit(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_rate_limits(c, v, obj);
}

/* WebSocket tunnels: `websocket: true` and the idle timeout of an open tunnel */

static int on_rt_websocket(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_route_conf_t *)obj)->websocket);
}

static int on_rt_to_tunnel(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_route_conf_t *)obj)->tunnel_timeout);
}

static const mg__conf_field_t route_timeout_fields[] = {
    {"tunnel", on_rt_to_tunnel, NULL},
};

static int on_rt_timeouts(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, route_timeout_fields, MG_NELEMS(route_timeout_fields), obj, &seen);
}

static int on_rt_http(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_route_http(c, v, &((mg_route_conf_t *)obj)->http);
}

enum { RT_NAME, RT_METHODS, RT_HOSTS, RT_PATHS, RT_UPSTREAM, RT_RETURN, RT_PLUGINS, RT_REGEX };

static const mg__conf_field_t route_fields[] = {
    [RT_NAME] = {"name", on_rt_name, NULL},
    [RT_METHODS] = {"methods", on_rt_methods, NULL},
    [RT_HOSTS] = {"hosts", on_rt_hosts, NULL},
    [RT_PATHS] = {"paths", on_rt_paths, NULL},
    [RT_UPSTREAM] = {"upstream", on_rt_upstream, NULL},
    [RT_RETURN] = {"return", on_rt_return, NULL},
    [RT_PLUGINS] = {"plugins", on_rt_plugins, NULL},
    [RT_REGEX] = {"path_regex", on_rt_path_regex, NULL},
    {"priority", on_rt_priority, NULL},
    {"rate_limit", on_rt_rate_limit, NULL},
    {"websocket", on_rt_websocket, NULL},
    {"timeouts", on_rt_timeouts, NULL},
    {"buffering", mg__conf_on_rt_buffering, NULL},
    {"http", on_rt_http, NULL},
};

static int read_route(mg__conf_ctx_t *c, yaml_node_t *v, size_t i, mg_route_conf_t *r)
{
    uint64_t seen;
    r->tunnel_timeout = 300; /* Envoy's stream idle timeout: a quiet chat outlives a minute */
    mg__conf_buffering_defaults(&r->buffering);
    if (mg__conf_map(c, v, route_fields, MG_NELEMS(route_fields), r, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if ((seen & ((UINT64_C(1) << RT_PATHS) | (UINT64_C(1) << RT_REGEX))) == 0) {
        return mg__conf_fail(c, v,
                             "missing \"paths\" (path patterns) or \"path_regex\" (a regular "
                             "expression over the path)");
    }
    uint64_t up = UINT64_C(1) << RT_UPSTREAM, ret = UINT64_C(1) << RT_RETURN;
    /* a route whose plugins answer (echo, say) needs neither */
    if ((seen & (up | ret)) == 0 && r->nplugins == 0) {
        return mg__conf_fail(c, v,
                             "missing \"upstream\" (where to proxy), \"return\" "
                             "(a fixed response) or \"plugins\" that answer");
    }
    if ((seen & (up | ret)) == (up | ret)) {
        yaml_node_t *ku = mg__conf_find_key(c, v, "upstream", false);
        yaml_node_t *kr = mg__conf_find_key(c, v, "return", false);
        yaml_node_t *later = ku->start_mark.index > kr->start_mark.index ? ku : kr;
        mg__conf_push_key(c, later == ku ? "upstream" : "return");
        return mg__conf_fail(c, later,
                             "a route has either \"upstream\" or \"return\", "
                             "not both");
    }
    if (r->websocket && r->upstream == NULL) {
        mg__conf_push_key(c, "websocket");
        return mg__conf_fail(c, mg__conf_find_key(c, v, "websocket", true),
                             "a WebSocket route needs an \"upstream\" to tunnel to");
    }
    if (r->name == NULL) {
        char def[32];
        snprintf(def, sizeof(def), "route#%zu", i + 1);
        r->name = mg_pool_strdup(c->pool, def);
        if (r->name == NULL) {
            return mg__conf_fail(c, v, "out of memory");
        }
    }
    /* limits named after their route once its name is known (keys come in any order) */
    for (size_t j = 0; j < r->nrate_limits; j++) {
        mg_rl_conf_t *l = &r->rate_limits[j];
        if (l->name == NULL) {
            char def[300];
            snprintf(def, sizeof(def), "%s#%zu", r->name, j);
            if ((l->name = mg_pool_strdup(c->pool, def)) == NULL) {
                return mg__conf_fail(c, v, "out of memory");
            }
        }
    }
    return MG_OK;
}

static int read_route_item(mg__conf_ctx_t *c, yaml_node_t *v, size_t i, void *obj)
{
    return read_route(c, v, i, obj);
}

int mg__conf_read_routes(mg__conf_ctx_t *c, yaml_node_t *node)
{
    void *arr = NULL;
    int rc = read_named_list(c, node, "route", sizeof(mg_route_conf_t),
                             offsetof(mg_route_conf_t, name), offsetof(mg_route_conf_t, index),
                             read_route_item, &arr, &c->conf->nroutes);
    c->conf->routes = arr;
    return rc;
}
