/*
 * conf_int.h -- what the configuration loader's files share: the parse context, the
 * key-path bookkeeping and the typed readers of YAML nodes. Not for other modules.
 *
 * Every reader takes the node to read and fails through mg__conf_fail(), which
 * records file, line, column (of that node), the current key path and the message.
 * The key path is pushed by whoever descends into a mapping value or list item and
 * popped on the way back, so an error anywhere below names its full path.
 */
#ifndef MG_CONF_INT_H
#define MG_CONF_INT_H

#include <yaml.h>

#include "conf.h"
#include "pool.h"

/* Alias-heavy documents can expand exponentially; visiting more nodes than this is
 * refused instead of spinning. */
#define MG_CONF_MAX_VISITS 2000000

typedef struct {
    mg_conf_t *conf;
    mg_pool_t *pool;
    mg_conf_err_t *err;
    yaml_document_t doc;
    const char *name; /* file name for messages */
    char path[256];   /* key path of the node being read */
    size_t pathlen;
    size_t visits;          /* nodes visited so far, against MG_CONF_MAX_VISITS */
    yaml_node_t *upstreams; /* kept until every top-level key is read: routes refer */
    yaml_node_t *routes;    /* to upstreams that may be declared after them */
    yaml_node_t *admin;     /* checked against `listen` once that is final */
    /* conf_secret.c: per node of doc, the value as written when ${...} was expanded in
     * it (NULL for the others), so that messages quote the reference, not the secret */
    const char **raw;
    size_t nraw;
    bool unset_env; /* the expansion failed on an unset variable (err->unset_env) */
    /* what mg_conf_plugins_pack() made of the master's snapshot, when a worker parses
     * the same configuration: its secret files are taken from there (borrowed) */
    const char *sealed;
    size_t sealed_len;
} mg__conf_ctx_t;

/* Reads one mapping value into `obj`. Returns MG_OK or MG_ERROR (error recorded). */
typedef int (*mg__conf_field_fn)(mg__conf_ctx_t *c, yaml_node_t *val, void *obj);

/* One known key of a mapping. A NULL `fn` marks a key a later release implements:
 * using it fails with `unsupported` as the message rather than being ignored. */
typedef struct {
    const char *key;
    mg__conf_field_fn fn;
    const char *unsupported;
} mg__conf_field_t;

/* Records an error at `node` (line/column; NULL = unknown) under the current key path.
 * Always returns MG_ERROR so callers can `return mg__conf_fail(...)`. */
int mg__conf_fail(mg__conf_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Describes a node for "got ..." messages: the quoted scalar (shortened), "a mapping",
 * "a list" or "null". Writes into buf and returns it. */
const char *mg__conf_what(const yaml_node_t *node, char *buf, size_t len);

/* Appends ".key" (or "key" at the top) / "[i]" to the key path; returns the previous
 * length for mg__conf_pop(). */
size_t mg__conf_push_key(mg__conf_ctx_t *c, const char *key);
size_t mg__conf_push_index(mg__conf_ctx_t *c, size_t i);
void mg__conf_pop(mg__conf_ctx_t *c, size_t saved);

/* Counts one visited node; fails once the document expands past MG_CONF_MAX_VISITS. */
int mg__conf_visit(mg__conf_ctx_t *c, const yaml_node_t *node);

/* Walks a mapping: refuses non-mappings, non-scalar keys, duplicate keys, unknown keys
 * (suggesting the closest known one) and unsupported keys; calls each field's fn with
 * the key pushed on the path. Bit i of *seen is set when fields[i] was present
 * (at most 64 fields). */
int mg__conf_map(mg__conf_ctx_t *c, yaml_node_t *node, const mg__conf_field_t *fields,
                 size_t nfields, void *obj, uint64_t *seen);

/* Fails with "missing required key" at the mapping `node` unless bit `idx` is seen. */
int mg__conf_require(mg__conf_ctx_t *c, yaml_node_t *node, uint64_t seen,
                     const mg__conf_field_t *fields, size_t idx);

/* The items of a list. With scalar_ok, a scalar counts as a one-item list and
 * *is_scalar is set (its errors then carry no "[0]"). Items are borrowed from the
 * document. */
int mg__conf_list(mg__conf_ctx_t *c, yaml_node_t *node, bool scalar_ok, yaml_node_t ***items,
                  size_t *n, bool *is_scalar);

/* The key node of `key` in a mapping already read (with `value`, its value node), so
 * that an error found after the walk points at the line it is about; the mapping
 * itself when the key is absent. */
yaml_node_t *mg__conf_find_key(mg__conf_ctx_t *c, yaml_node_t *map, const char *key, bool value);

/* True for a plain empty, "~" or "null" scalar. */
bool mg__conf_is_null(const yaml_node_t *node);

/* Typed readers. Strings are copied into the snapshot's pool; a string must be a
 * non-empty scalar without NUL bytes. Ranges are inclusive. */
int mg__conf_str(mg__conf_ctx_t *c, yaml_node_t *node, const char **out);
int mg__conf_int(mg__conf_ctx_t *c, yaml_node_t *node, long min, long max, int *out);
int mg__conf_bool(mg__conf_ctx_t *c, yaml_node_t *node, bool *out);
int mg__conf_duration(mg__conf_ctx_t *c, yaml_node_t *node, bool allow_zero, double *out);
int mg__conf_size(mg__conf_ctx_t *c, yaml_node_t *node, size_t min, size_t max, size_t *out);
int mg__conf_addr(mg__conf_ctx_t *c, yaml_node_t *node, mg_addr_t *out);

/* An absolute copy of `p` (relative paths are taken from conf->prefix), in the pool. */
const char *mg__conf_abspath(mg__conf_ctx_t *c, const char *p);

/* mg_conf_parse_addr() with the reason of a failure in *why (a static string). */
int mg__conf_parse_addr(const char *s, mg_addr_t *out, const char **why);

/* mg__conf_parse_addr() without resolving: for "NAME:PORT" copies the name into host
 * (hlen bytes), the port into *port (host order) and returns MG_DECLINED; IP
 * addresses give MG_OK as there. MG_ERROR with *why for anything else. */
int mg__conf_parse_addr_lazy(const char *s, mg_addr_t *out, char *host, size_t hlen, uint16_t *port,
                             const char **why);

/* True for a DNS name (letters, digits, '-', '_', '.'), not an IPv4 address. */
bool mg__conf_is_hostname(const char *h);

/* Same address (family, address and port)? */
bool mg__conf_addr_eq(const mg_addr_t *a, const mg_addr_t *b);

/* conf_secret.c: expands ${NAME} and ${file:path} in every scalar value of the loaded
 * document (c->doc), keeping what was written in c->raw. MG_OK, or MG_ERROR at the
 * first reference that cannot be expanded. */
int mg__conf_expand_secrets(mg__conf_ctx_t *c);
/* The secret files of a snapshot, packed (the size needed when buf is NULL); the
 * length of such a section at buf (0: corrupt). */
size_t mg__conf_secrets_pack(const mg_conf_t *conf, char *buf);
size_t mg__conf_secrets_skip(const char *buf, size_t len);
/* The value of `node` as written when a secret was expanded in it, else NULL. */
const char *mg__conf_raw(const mg__conf_ctx_t *c, const yaml_node_t *node);

/* The directory of the configuration file (in the pool), or the prefix when the
 * configuration is not a file: what lua_path and ${file:...} paths are relative to.
 * NULL when out of memory. */
const char *mg__conf_file_dir(mg__conf_ctx_t *c);

/* conf_lua_path.c: the `lua_path:` key; reading every module under it into
 * conf->lua_modules (MG_OK, or MG_ERROR with *err at the lua_path entry). */
int mg__conf_on_lua_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_read_modules(mg_conf_t *conf, mg_conf_err_t *err);

/* conf_plugin.c: a regular file of at most 4 MiB read whole into the pool
 * (NUL-terminated), or NULL with *err an errno. */
char *mg__conf_slurp(mg_pool_t *pool, const char *path, size_t *len, int *err);

/* conf_plugin.c: a node kept as written; a map of plugin name -> config; the Lua
 * runtime's top-level keys. */
int mg__conf_value(mg__conf_ctx_t *c, yaml_node_t *node, mg_conf_value_t *out);
int mg__conf_plugin_map(mg__conf_ctx_t *c, yaml_node_t *node, mg_plugin_use_t **out, size_t *n);
int mg__conf_on_global_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_consumers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_shared_dicts(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_lua(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_watch_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* conf_access_log.c: the `access_log:` key (its defaults are set with the others). */
int mg__conf_on_access_log(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* conf_resolver.c: the `resolver:` block (its defaults are set with the others). */
int mg__conf_on_resolver(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* conf_realip.c: the `trusted_proxies:` list. */
int mg__conf_on_trusted_proxies(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
/* conf_buffering.c: a route's `buffering:` block (obj: the route) and its defaults. */
int mg__conf_on_rt_buffering(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
void mg__conf_buffering_defaults(mg_buffering_conf_t *b);

/* conf_metrics.c: the `metrics:` block and its defaults. */
int mg__conf_on_metrics(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
void mg__conf_metrics_defaults(mg_conf_t *conf);

/* conf_tracing.c: the `tracing:` block, with its defaults when present. */
int mg__conf_on_tracing(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* conf_ratelimit.c: a route's `rate_limit:` list, `rate_limit_zones:`, and once every
 * key is read, the "default" zone added when a local limit or a plugin may use it. */
int mg__conf_rate_limits(mg__conf_ctx_t *c, yaml_node_t *node, mg_route_conf_t *r);
int mg__conf_on_rl_zones(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_rl_finish(mg__conf_ctx_t *c);

/* conf_balancer.c: an upstream's `balancer`, `hash_on` and `sticky` keys; their
 * defaults; the check, once the upstream is read, that no key is given to an algorithm
 * that does not use it. */
int mg__conf_on_up_balancer(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_up_hash_on(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_up_sticky(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
void mg__conf_balancer_defaults(mg_upstream_conf_t *u);
int mg__conf_check_balancer(mg__conf_ctx_t *c, yaml_node_t *v, const mg_upstream_conf_t *u);

/* conf_health.c: an upstream's health and failure-handling keys, and their defaults. */
void mg__conf_health_defaults(mg_health_conf_t *h);
int mg__conf_on_max_connections(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_max_pending(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_max_connecting(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_queue(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_retry_budget(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_on_health_check(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* conf_tls.c: a listen entry (a string or {address, tls, backlog, proxy_protocol}), the
 * `tls:` block and its defaults, the check once every key is read, and an upstream's
 * `tls:`. */
int mg__conf_listen_item(mg__conf_ctx_t *c, yaml_node_t *v, mg_listen_conf_t *l);
void mg__conf_tls_defaults(mg_tls_conf_t *t);
int mg__conf_on_tls(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);
int mg__conf_tls_finish(mg__conf_ctx_t *c, yaml_node_t *root);
int mg__conf_on_up_tls(mg__conf_ctx_t *c, yaml_node_t *v, void *obj);

/* A route's `http:` (conf_top.c): a copy of the top-level block, in the pool, with the
 * keys a route may override read over it into *out. Other keys are errors. */
int mg__conf_route_http(mg__conf_ctx_t *c, yaml_node_t *v, const mg_http_conf_t **out);

/* The top-level mapping (conf_top.c), then upstreams and routes (conf_route.c). */
int mg__conf_read_top(mg__conf_ctx_t *c, yaml_node_t *root);
int mg__conf_read_upstreams(mg__conf_ctx_t *c, yaml_node_t *node);
int mg__conf_read_routes(mg__conf_ctx_t *c, yaml_node_t *node);

#endif
