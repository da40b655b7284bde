/*
 * conf_top.c -- the top-level keys of moongate.yaml: processes, listeners, logs, the
 * admin listener, shared memory, plugins directories, Redis and the `http` limits.
 * Upstreams and routes are read last (conf_route.c), whatever their place in the file.
 */
#include <stdlib.h>
#include <unistd.h>

#include "conf_int.h"

#define MG_MAX_WORKERS 64

static const char *const level_names[] = {"debug", "info", "notice", "warn",
                                          "error", "crit", "alert"};

/* worker_processes, listen, pid_file */

static int on_workers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
    if (strcmp(s, "auto") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->conf->worker_processes = (int)(n < 1 ? 1 : MG_MIN(n, MG_MAX_WORKERS));
        return MG_OK;
    }
    char *end = (char *)s;
    long n = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : 0;
    if (n < 1 || n > MG_MAX_WORKERS || *end != '\0') {
        char what[80];
        return mg__conf_fail(c, v, "expected auto or an integer from 1 to %d, got %s",
                             MG_MAX_WORKERS, mg__conf_what(v, what, sizeof(what)));
    }
    c->conf->worker_processes = (int)n;
    return MG_OK;
}

static int on_listen(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected at least one \"ADDR:PORT\"");
    }
    mg_listen_conf_t *ls = mg_pool_calloc(c->pool, n * sizeof(*ls));
    if (ls == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (mg__conf_listen_item(c, items[i], &ls[i]) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (mg__conf_addr_eq(&ls[j].addr, &ls[i].addr)) {
                return mg__conf_fail(c, items[i], "address \"%s\" is already listed (listen[%zu])",
                                     ls[i].addr.text, j);
            }
        }
        mg__conf_pop(c, saved);
    }
    c->conf->listen = ls;
    c->conf->nlisten = n;
    return MG_OK;
}

/* A file path resolved against the prefix; `std` names kept as written ("stderr"). */
static int read_path(mg__conf_ctx_t *c, yaml_node_t *v, bool std, const char **out)
{
    const char *p;
    if (mg__conf_str(c, v, &p) != MG_OK) {
        return MG_ERROR;
    }
    if (std && (strcmp(p, "stderr") == 0 || strcmp(p, "stdout") == 0)) {
        *out = p;
        return MG_OK;
    }
    *out = mg__conf_abspath(c, p);
    return *out ? MG_OK : mg__conf_fail(c, v, "out of memory");
}

static int on_pid_file(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_path(c, v, false, &c->conf->pid_file);
}

/* error_log (access_log: conf_access_log.c) */

static int on_error_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_path(c, v, true, &c->conf->error_log_path);
}

static int on_error_level(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < MG_NELEMS(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            c->conf->error_log_level = (mg_log_level_t)i;
            return MG_OK;
        }
    }
    return mg__conf_fail(c, v,
                         "expected one of debug, info, notice, warn, error, crit, "
                         "alert, got \"%s\"",
                         s);
}

static const mg__conf_field_t error_log_fields[] = {
    {"path", on_error_path, NULL},
    {"level", on_error_level, NULL},
};

static int on_error_log(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, error_log_fields, MG_NELEMS(error_log_fields), NULL, &seen);
}

/* admin, shm_size, plugins_dir, redis */

static int on_admin_listen(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_listen_conf_t *l = obj;
    l->backlog = 511;
    return mg__conf_addr(c, v, &l->addr);
}

static const mg__conf_field_t admin_fields[] = {
    {"listen", on_admin_listen, NULL},
};

static int on_admin(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (mg__conf_is_null(v) ||
        (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "off") == 0)) {
        c->conf->admin = NULL;
        return MG_OK;
    }
    mg_listen_conf_t *l = mg_pool_calloc(c->pool, sizeof(*l));
    uint64_t seen;
    if (l == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    if (mg__conf_map(c, v, admin_fields, MG_NELEMS(admin_fields), l, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, admin_fields, 0) != MG_OK) {
        return MG_ERROR;
    }
    c->conf->admin = l;
    c->admin = v;
    return MG_OK;
}

/* Run once `listen` is final (it may come after `admin`, or be the default). */
static int check_admin(mg__conf_ctx_t *c)
{
    const mg_listen_conf_t *l = c->conf->admin;
    for (size_t i = 0; l != NULL && i < c->conf->nlisten; i++) {
        if (mg__conf_addr_eq(&c->conf->listen[i].addr, &l->addr)) {
            mg__conf_push_key(c, "admin");
            return mg__conf_fail(c, c->admin, "the admin listener \"%s\" is also in listen[%zu]",
                                 l->addr.text, i);
        }
    }
    return MG_OK;
}

static int on_shm_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 64u << 10, (size_t)16 << 30, &c->conf->shm_size);
}

static int on_plugins_dir(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    const char **dirs = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*dirs));
    if (dirs == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (read_path(c, items[i], false, &dirs[i]) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    c->conf->plugins_dirs = dirs;
    c->conf->nplugins_dirs = n;
    return MG_OK;
}

static int on_redis_address(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_addr(c, v, &((mg_redis_conf_t *)obj)->addr);
}

static int on_redis_password(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &((mg_redis_conf_t *)obj)->password);
}

static int on_redis_db(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 65535, &((mg_redis_conf_t *)obj)->db);
}

static int on_redis_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_redis_conf_t *)obj)->timeout);
}

static int on_redis_pool_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 64, &((mg_redis_conf_t *)obj)->pool_size);
}

/* Keys are `<prefix><limiter name>:<key>`: printable, no spaces, so that redis-cli
 * and KEYS patterns show them as written. */
static int on_redis_prefix(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char **out = &((mg_redis_conf_t *)obj)->prefix;
    if (mg__conf_str(c, v, out) != MG_OK) {
        return MG_ERROR;
    }
    size_t n = strlen(*out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)(*out)[i];
        if (ch <= ' ' || ch >= 0x7f) {
            char what[80];
            return mg__conf_fail(c, v, "expected printable characters without spaces, got %s",
                                 mg__conf_what(v, what, sizeof(what)));
        }
    }
    if (n > 64) {
        return mg__conf_fail(c, v, "expected at most 64 characters, got %zu", n);
    }
    return MG_OK;
}

static const mg__conf_field_t redis_fields[] = {
    {"address", on_redis_address, NULL},
    {"password", on_redis_password, NULL},
    {"db", on_redis_db, NULL},
    {"timeout", on_redis_timeout, NULL},
    {"pool_size", on_redis_pool_size, NULL},
    {"prefix", on_redis_prefix, NULL},
};

static int on_redis(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_redis_conf_t *r = mg_pool_calloc(c->pool, sizeof(*r));
    uint64_t seen;
    if (r == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    r->timeout = 0.05;
    r->pool_size = 2;
    r->prefix = "mg:";
    if (mg__conf_map(c, v, redis_fields, MG_NELEMS(redis_fields), r, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, redis_fields, 0) != MG_OK) {
        return MG_ERROR;
    }
    c->conf->redis = r;
    return MG_OK;
}

/* http */

#define HTTP_DURATION(field, zero)                                                                 \
    static int on_http_##field(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)                       \
    {                                                                                              \
        return mg__conf_duration(c, v, zero, &((mg_http_conf_t *)obj)->field);                                \
    }
#define HTTP_SIZE(field, lo, hi)                                                                   \
    static int on_http_##field(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)                       \
    {                                                                                              \
        return mg__conf_size(c, v, lo, hi, &((mg_http_conf_t *)obj)->field);                                  \
    }
#define HTTP_INT(field, lo, hi)                                                                    \
    static int on_http_##field(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)                       \
    {                                                                                              \
        return mg__conf_int(c, v, lo, hi, &((mg_http_conf_t *)obj)->field);                                   \
    }

HTTP_DURATION(client_header_timeout, false)
HTTP_DURATION(client_body_timeout, false)
HTTP_DURATION(send_timeout, false)
HTTP_DURATION(keepalive_timeout, true)
HTTP_DURATION(drain_timeout, true)
HTTP_INT(keepalive_requests, 1, 100000000)
HTTP_INT(max_headers, 1, 10000)
HTTP_INT(max_tunnels, 0, 100000000)
HTTP_SIZE(client_max_body_size, 0, (size_t)1 << 40)
HTTP_SIZE(max_request_line, 256, 1u << 20)
HTTP_SIZE(max_header_line, 256, 1u << 20)
HTTP_SIZE(max_header_size, 1024, 16u << 20)

static int on_http_response_request_id(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_http_conf_t *)obj)->response_request_id);
}

HTTP_SIZE(buffer_memory_max, 64u << 10, (size_t)1 << 40)

static int on_http_temp_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_path(c, v, false, &c->conf->http.temp_path);
}

static const mg__conf_field_t http_fields[] = {
    {"client_header_timeout", on_http_client_header_timeout, NULL},
    {"client_body_timeout", on_http_client_body_timeout, NULL},
    {"send_timeout", on_http_send_timeout, NULL},
    {"keepalive_timeout", on_http_keepalive_timeout, NULL},
    {"keepalive_requests", on_http_keepalive_requests, NULL},
    {"client_max_body_size", on_http_client_max_body_size, NULL},
    {"max_request_line", on_http_max_request_line, NULL},
    {"max_header_line", on_http_max_header_line, NULL},
    {"max_header_size", on_http_max_header_size, NULL},
    {"max_headers", on_http_max_headers, NULL},
    {"drain_timeout", on_http_drain_timeout, NULL},
    {"response_request_id", on_http_response_request_id, NULL},
    {"max_tunnels", on_http_max_tunnels, NULL},
    {"temp_path", on_http_temp_path, NULL},
    {"buffer_memory_max", on_http_buffer_memory_max, NULL},
};

static int on_http(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    mg_http_conf_t *h = &c->conf->http;
    if (mg__conf_map(c, v, http_fields, MG_NELEMS(http_fields), h, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if (h->max_header_line > h->max_header_size) {
        return mg__conf_fail(c, v, "max_header_line (%zu) is larger than max_header_size (%zu)",
                             h->max_header_line, h->max_header_size);
    }
    return MG_OK;
}

/* What a route's `http:` may set over the top-level block: the limits and timeouts of
 * a request's body and answer, which apply once the route is known. */
static const mg__conf_field_t route_http_fields[] = {
    {"client_max_body_size", on_http_client_max_body_size, NULL},
    {"client_body_timeout", on_http_client_body_timeout, NULL},
    {"send_timeout", on_http_send_timeout, NULL},
};

int mg__conf_route_http(mg__conf_ctx_t *c, yaml_node_t *v, const mg_http_conf_t **out)
{
    mg_http_conf_t *h = mg_pool_alloc(c->pool, sizeof(*h));
    if (h == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    *h = c->conf->http; /* read before the routes, wherever it sits in the file */
    uint64_t seen;
    if (mg__conf_map(c, v, route_http_fields, MG_NELEMS(route_http_fields), h, &seen) != MG_OK) {
        return MG_ERROR;
    }
    *out = h;
    return MG_OK;
}

/* The whole file */

static int on_upstreams(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    c->upstreams = v;
    return MG_OK;
}

static int on_routes(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    c->routes = v;
    return MG_OK;
}

static const mg__conf_field_t top_fields[] = {
    {"worker_processes", on_workers, NULL},
    {"listen", on_listen, NULL},
    {"pid_file", on_pid_file, NULL},
    {"error_log", on_error_log, NULL},
    {"access_log", mg__conf_on_access_log, NULL},
    {"admin", on_admin, NULL},
    {"shm_size", on_shm_size, NULL},
    {"plugins_dir", on_plugins_dir, NULL},
    {"redis", on_redis, NULL},
    {"http", on_http, NULL},
    {"upstreams", on_upstreams, NULL},
    {"routes", on_routes, NULL},
    {"global_plugins", mg__conf_on_global_plugins, NULL},
    {"consumers", mg__conf_on_consumers, NULL},
    {"watch_plugins", mg__conf_on_watch_plugins, NULL},
    {"shared_dicts", mg__conf_on_shared_dicts, NULL},
    {"lua", mg__conf_on_lua, NULL},
    {"rate_limit_zones", mg__conf_on_rl_zones, NULL},
    {"tls", mg__conf_on_tls, NULL},
    {"resolver", mg__conf_on_resolver, NULL},
    {"metrics", mg__conf_on_metrics, NULL},
    {"tracing", mg__conf_on_tracing, NULL},
    {"trusted_proxies", mg__conf_on_trusted_proxies, NULL},
};

static void set_defaults(mg__conf_ctx_t *c)
{
    mg_conf_t *conf = c->conf;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    conf->worker_processes = (int)(cpus < 1 ? 1 : MG_MIN(cpus, MG_MAX_WORKERS));
    conf->pid_file = mg__conf_abspath(c, "logs/moongate.pid");
    conf->error_log_path = mg__conf_abspath(c, "logs/error.log");
    conf->error_log_level = MG_LOG_INFO;
    conf->access_log_path = mg__conf_abspath(c, "logs/access.log");
    conf->access_log_format = MG_ACCESS_COMBINED;
    conf->access_log_buffer = 64u << 10;
    conf->shm_size = 1u << 20;
    mg__conf_tls_defaults(&conf->tls);
    conf->resolver = (mg_resolver_conf_t){.valid = 0, .timeout = 5};
    mg__conf_metrics_defaults(conf);
    conf->lua = (mg_lua_conf_t){.cpu_budget = 0.05,
                                .memory_limit = 64u << 20,
                                .stall_timeout = 2,
                                .regex_cache_size = 1024,
                                .regex_match_limit = 1000000};
    conf->plugins_dirs = mg_pool_calloc(c->pool, sizeof(const char *));
    if (conf->plugins_dirs != NULL) {
        conf->plugins_dirs[0] = mg__conf_abspath(c, "plugins");
        conf->nplugins_dirs = 1;
    }
    conf->http = (mg_http_conf_t){
        .client_header_timeout = 10,
        .client_body_timeout = 30,
        .send_timeout = 30,
        .keepalive_timeout = 15,
        .keepalive_requests = 10000,
        .client_max_body_size = 1u << 20,
        .max_request_line = 8u << 10,
        .max_header_line = 8u << 10,
        .max_header_size = 32u << 10,
        .max_headers = 100,
        .drain_timeout = 3600,
        .response_request_id = true,
        .max_tunnels = 10000,
        .temp_path = mg__conf_abspath(c, "temp"),
        .buffer_memory_max = (size_t)64 << 20,
    };
}

static int default_listen(mg__conf_ctx_t *c)
{
    mg_listen_conf_t *l = mg_pool_calloc(c->pool, sizeof(*l));
    const char *why;
    if (l == NULL || mg__conf_parse_addr("0.0.0.0:8080", &l->addr, &why) != MG_OK) {
        return mg__conf_fail(c, NULL, "out of memory");
    }
    l->backlog = 511;
    c->conf->listen = l;
    c->conf->nlisten = 1;
    return MG_OK;
}

int mg__conf_read_top(mg__conf_ctx_t *c, yaml_node_t *root)
{
    set_defaults(c);
    if (c->conf->pid_file == NULL || c->conf->plugins_dirs == NULL ||
        c->conf->http.temp_path == NULL) {
        return mg__conf_fail(c, NULL, "out of memory");
    }
    uint64_t seen = 0;
    /* an empty file is a valid configuration: every default */
    if (root != NULL && !mg__conf_is_null(root) &&
        mg__conf_map(c, root, top_fields, MG_NELEMS(top_fields), NULL, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if ((c->conf->nlisten == 0 && default_listen(c) != MG_OK) || check_admin(c) != MG_OK ||
        mg__conf_tls_finish(c, root) != MG_OK) {
        return MG_ERROR;
    }
    if (c->upstreams != NULL) {
        size_t saved = mg__conf_push_key(c, "upstreams");
        if (mg__conf_read_upstreams(c, c->upstreams) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    if (c->routes != NULL) {
        size_t saved = mg__conf_push_key(c, "routes");
        if (mg__conf_read_routes(c, c->routes) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    return mg__conf_rl_finish(c);
}
