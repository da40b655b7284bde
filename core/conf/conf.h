/*
 * conf.h -- the configuration snapshot: YAML (libyaml) in, an immutable tree out.
 *
 * A mg_conf_t and everything it points to live in one pool owned by the snapshot;
 * nothing mutates it after mg_conf_parse() returns. Times are in seconds (double),
 * sizes in bytes. Every error names file, line, column, the key path and what was
 * expected, and is returned to the caller, never logged here.
 */
#ifndef MG_CONF_H
#define MG_CONF_H

#include "cidr.h"
#include "log.h"
#include "mg_core.h"

#include <sys/socket.h>

/* Most nodes an upstream may have (the loader refuses more; the balancers size their
 * per-node arrays by it). */
#define MG_UPSTREAM_MAX_NODES 256

/* Default `max_connecting`: connects in progress per node per worker. A burst beyond it
 * waits in the upstream's queue for a pooled connection or a connect slot, so that it
 * does not overflow the node's listen backlog (511 by default on Linux servers). */
#define MG_CONF_MAX_CONNECTING 32

/* Balancing algorithms (docs/balancing.md); each one is core/upstream/balancer_<name>.c. */
typedef enum {
    MG_LB_ROUNDROBIN = 0,
    MG_LB_LEAST_CONN,
    MG_LB_IP_HASH,
    MG_LB_CHASH,
    MG_LB_EWMA,
    MG_LB_RANDOM,
    MG_LB_STICKY,
} mg_lb_kind_t;

/* What chash and ip_hash hash: `hash_on`, parsed once at load. */
typedef enum {
    MG_HASH_REMOTE_ADDR = 0, /* the client's IP address (the default) */
    MG_HASH_HEADER,          /* header:NAME */
    MG_HASH_COOKIE,          /* cookie:NAME */
    MG_HASH_QUERY,           /* query:NAME (the raw value, not percent-decoded) */
    MG_HASH_PARAM,           /* param:NAME, a route path parameter {NAME} */
} mg_hash_kind_t;

typedef struct {
    mg_hash_kind_t kind;
    const char *name; /* header/cookie/query/param name; NULL for remote_addr */
    size_t len;
} mg_hash_on_t;

/* `sticky:` block of a sticky upstream. */
typedef struct {
    const char *cookie;    /* cookie naming the node, default "mg_node" */
    mg_lb_kind_t fallback; /* picks for new clients: roundrobin (default), least_conn,
                              ewma or random */
    const char *path;      /* cookie Path, default "/" */
    double max_age;        /* cookie Max-Age in seconds; 0 = session cookie (default) */
    bool secure;           /* Secure attribute, default false */
    bool httponly;         /* HttpOnly attribute, default true */
} mg_sticky_conf_t;

/* A resolved "ADDR:PORT" (IPv4, [IPv6] or a host name resolved once at load). */
typedef struct {
    const char *text; /* as written, e.g. "127.0.0.1:9001" */
    struct sockaddr_storage sa;
    socklen_t salen;
} mg_addr_t;

typedef struct {
    mg_addr_t addr;
    int backlog;         /* default 511 */
    bool tls;            /* `{ address: ..., tls: true }`: terminates TLS (the `tls:` block) */
    bool proxy_protocol; /* every connection starts with a PROXY protocol v1/v2 header */
} mg_listen_conf_t;

/* ---- TLS (sys/tls.h) ---- */

/* A file the configuration names (a certificate, a key, a CA, a CRL, an OCSP response,
 * ticket keys), read whole by the master after parsing (mg_conf_read_files) and sent to
 * the workers with the config: every worker builds from exactly the bytes that were
 * validated, read together, even while a renewal rewrites the files. */
typedef struct {
    const char *path; /* absolute; NULL when the key is absent */
    char *data;       /* the contents, NUL-terminated; NULL until read */
    size_t len;
    int line, column;  /* where the key naming it is, for errors found after the walk */
    const char *key;   /* its key path, e.g. "tls.certificates[0].key" */
    bool optional;     /* a missing file is not an error (ticket keys may come later) */
} mg_conf_file_t;

typedef enum {
    MG_TLS_VERIFY_OFF = 0,  /* no client certificate asked for */
    MG_TLS_VERIFY_OPTIONAL, /* asked; a missing or bad one is left to plugins */
    MG_TLS_VERIFY_REQUIRED, /* a missing or bad one fails the handshake */
} mg_tls_verify_t;

/* `tls.certificates[]`. */
typedef struct {
    mg_conf_file_t cert; /* the chain, leaf first */
    mg_conf_file_t key;
    const char **snis; /* NULL: the certificate's DNS SANs */
    size_t nsnis;
    mg_conf_file_t client_ca; /* asks the names' clients for a certificate */
    mg_tls_verify_t client_verify;
    int verify_depth;          /* client chain depth, default 2 */
    mg_conf_file_t crl;        /* optional CRL (PEM) for client certificates */
    mg_conf_file_t ocsp_file;  /* `ocsp: { file: ... }`: a DER response to staple */
    bool ocsp_fetch;           /* `ocsp: { fetch: true }`: from the responder the cert names */
    int line, column;          /* the entry, for errors about it as a whole */
} mg_tls_cert_conf_t;

/* The `tls:` block: what every TLS listener serves. */
typedef struct {
    mg_tls_cert_conf_t *certs;
    size_t ncerts;
    bool strict_sni;             /* refuse a handshake naming no configured name */
    int min_version;             /* protocols: TLS1_2_VERSION ... (OpenSSL's numbers) */
    int max_version;
    const char *ciphers;         /* TLS 1.2 list, default Mozilla intermediate */
    const char *ciphersuites;    /* TLS 1.3 suites, default OpenSSL's */
    const char *curves;          /* groups, default "X25519:P-256:P-384" */
    bool session_tickets;        /* default true */
    mg_conf_file_t ticket_key_file; /* 80-byte keys, first encrypts; re-read on reload */
    double ticket_key_rotation;  /* generated keys: rotation period, default 1 h */
    double handshake_timeout;    /* default 10 s */
    bool watch_certificates;     /* a changed certificate or key file reloads */
    bool client_cert_headers;    /* X-Client-Cert-* upstream for a verified client */
} mg_tls_conf_t;

/* `upstreams[].tls` (and mg.http's defaults): TLS towards a node. */
typedef struct {
    bool on;
    bool verify;         /* default true: against `ca`, else the system store */
    mg_conf_file_t ca;
    const char *sni;     /* default: the node's host name (never an address), or `host:` */
    mg_conf_file_t cert; /* optional client certificate and key */
    mg_conf_file_t key;
    int verify_depth;    /* default 4 */
} mg_upstream_tls_conf_t;

/* `resolver:` (sys/resolver.h): how host names are resolved without blocking. */
typedef struct {
    mg_addr_t *servers; /* empty: /etc/resolv.conf */
    size_t nservers;
    double valid;       /* cache answers (and re-resolve upstream names) this long;
                         * 0: the answers' TTLs */
    double timeout;     /* per query, default 5 s */
} mg_resolver_conf_t;

/* `tracing:` (http/trace.h, server/trace_export.h): OpenTelemetry spans, W3C trace
 * context upstream, batches POSTed as OTLP/HTTP JSON from every worker. */
typedef struct {
    const char *endpoint;      /* the collector's URL, http:// or https://; default
                                * "http://localhost:4318/v1/traces" */
    double sample_ratio;       /* share of new traces sampled, 0 to 1, default 1; a parent's
                                * decision always wins */
    const char *service_name;  /* resource service.name, default "moongate" */
    int batch_size;            /* spans per export, default 512 */
    int queue_size;            /* spans waiting per worker, default 2048; more are dropped */
    double flush_interval;     /* a partial batch goes after this long, default 1 s */
    double timeout;            /* one export, connection included, default 5 s */
    const char **header_names; /* `headers:` sent with every export (e.g. authorization) */
    const char **header_values;
    size_t nheaders;
    bool tls_verify;           /* https endpoint: verify its certificate, default true */
} mg_tracing_conf_t;

/* One `nodes[]` entry. An address given by IP is resolved at load (addr.sa set); one
 * given by host name is not: `host` names it and the workers resolve it without
 * blocking and follow its DNS answers (upstream/upstream_dns.c, docs/dns.md). */
typedef struct {
    mg_addr_t addr;   /* addr.text as written; addr.sa only when host == NULL */
    int weight;       /* >= 1, default 1; inherited by every address the name gives */
    const char *host; /* the DNS name to follow, NULL for an IP address */
    uint16_t port;    /* with host: the port of every address (0 with srv: the records') */
    bool srv;         /* `srv: true`: host is an SRV name, e.g. "_http._tcp.svc.internal" */
} mg_node_conf_t;

/* ---- health and failure handling (health.h) ---- */

/* `health_check.active`: one prober per upstream for the whole node. */
typedef struct {
    bool on;                 /* the block is present */
    const char *path;        /* GET target, default "/" */
    const char *host;        /* Host header; NULL: the upstream's `host`, else the node */
    uint64_t statuses[8];    /* bit (status - 100) for 100..599; default 200-399 */
    double interval;         /* between probes of a node, default 5 s */
    double timeout;          /* connect + answer of one probe, default 1 s */
    int healthy_threshold;   /* successes in a row that bring a node back, default 2 */
    int unhealthy_threshold; /* failures in a row that mark it down, default 3 */
} mg_hc_active_conf_t;

/* `health_check.passive`: outlier ejection from real traffic. */
typedef struct {
    bool on;
    int consecutive_failures;  /* connect errors, timeouts, bad answers; 0 = off, default 5 */
    int consecutive_5xx;       /* answers 500-599 (failures count too); 0 = off, default 5 */
    double base_ejection_time; /* first ejection; x n for the n-th in a row, default 30 s */
    double max_ejection_time;  /* cap, default 300 s */
    int max_ejection_percent;  /* share of nodes ejected at once, default 10 */
} mg_hc_passive_conf_t;

/* `health_check.breaker`: a circuit breaker per node. */
typedef struct {
    bool on;
    int failures;           /* closed -> open after this many failures in a row, default 5 */
    double open_time;       /* open -> half-open after this long, default 10 s */
    int half_open_requests; /* trial requests at once while half-open, default 1 */
} mg_hc_breaker_conf_t;

typedef struct {
    int max_connections; /* open connections to the upstream, all workers; 0 = unlimited */
    int max_pending;     /* queue.size (older spelling max_pending): requests waiting for
                          * one at max_connections, all workers, default 100 */
    double queue_timeout; /* queue.timeout: longest wait for a connection, 0 = the
                           * connect timeout (the default) */
    int max_connecting;   /* connects in progress per node per worker, 0 = unbounded,
                           * default 32 */
    const char *size_key; /* which of max_pending / queue.size set max_pending, if any */
    bool retry_budget;   /* `retry_budget` present */
    double retry_ratio;  /* retries <= ratio x requests (10 s window), default 0.2 */
    int retry_min;       /* retries always allowed per window, default 3 */
    mg_hc_active_conf_t active;
    mg_hc_passive_conf_t passive;
    mg_hc_breaker_conf_t breaker;
} mg_health_conf_t;

/* `response_headers:` of an upstream: what its response heads may hold. Over a limit
 * the answer is a 502 and an error-log line naming the limit. */
#define MG_RESP_HEAD_MAX_SIZE (16 * 1024) /* the proxy's read buffer holds the head */
typedef struct {
    int max_fields;  /* header fields, default 1000 */
    size_t max_size; /* bytes from the status line to the last header, default 16 KiB */
} mg_resp_headers_conf_t;

struct mg_upstream_conf_s {
    const char *name;
    mg_lb_kind_t balancer;
    mg_hash_on_t hash_on;    /* chash/ip_hash key, default remote_addr */
    mg_sticky_conf_t sticky; /* with balancer: sticky */
    mg_node_conf_t *nodes;
    size_t nnodes;
    bool dynamic;             /* some node is a host name: its addresses come from DNS */
    int keepalive;            /* idle connections per worker per upstream, default 64 */
    double keepalive_timeout; /* idle pooled connection lifetime, default 10 s */
    int keepalive_requests;   /* requests per upstream connection, default 1000 */
    double connect_timeout;   /* default 3 s */
    double send_timeout;      /* default 10 s */
    double read_timeout;      /* default 60 s */
    int retries;              /* extra tries on another node, default 1 */
    double retry_timeout;     /* total time budget for all tries, 0 = none, default 0 */
    const char *host;         /* Host sent upstream; NULL passes the client's Host */
    int index;                /* position in conf->upstreams */
    mg_health_conf_t health;  /* health checks, breaker, limits, retry budget */
    mg_upstream_tls_conf_t tls; /* `tls:`; tls.on false for plain HTTP */
    mg_resp_headers_conf_t response_headers;
};

/* A fixed response a route can answer with instead of proxying. */
typedef struct {
    int status;
    const char *body; /* may be NULL */
    size_t body_len;
    const char *content_type; /* default "text/plain" */
} mg_return_conf_t;

/* A YAML value kept as written (Lua plugin configs are typed by their plugin's schema,
 * which needs the text, the quoting and the position for its messages). */
typedef enum { MG_CV_NULL = 0, MG_CV_SCALAR, MG_CV_LIST, MG_CV_MAP } mg_cv_kind_t;

typedef struct mg_conf_value_s mg_conf_value_t;
struct mg_conf_value_s {
    mg_cv_kind_t kind;
    int line, col;   /* 1-based position in the file */
    const char *str; /* scalar text, NUL-terminated */
    size_t len;
    const char *raw; /* the text as written when it held ${...} (a secret), else NULL:
                      * what messages may quote */
    bool plain;             /* an unquoted scalar (may be a number or a boolean) */
    const char **keys;      /* map keys, in document order */
    int *key_pos;           /* map keys' line and column, two ints per key */
    mg_conf_value_t *items; /* list items, or the map's values */
    size_t n;
};

/* A plugin enabled with its config (route `plugins:`, `global_plugins:`, a consumer's
 * `plugins:` or `credentials:`). */
typedef struct {
    const char *name;       /* plugin name: [a-z0-9_-]+, the file is <name>.lua */
    const char *path;       /* key path for messages, e.g. "routes[0].plugins.key-auth" */
    mg_conf_value_t *value; /* its config as written */
} mg_plugin_use_t;

typedef struct {
    const char *name;
    const char *path;             /* "consumers[0]" */
    mg_plugin_use_t *credentials; /* per auth plugin, e.g. key-auth: { key: ... } */
    size_t ncredentials;
    mg_plugin_use_t *plugins; /* plugin configs that apply once this consumer is known */
    size_t nplugins;
} mg_consumer_conf_t;

/* `shared_dicts:` entry: a Lua shared dictionary in shared memory. */
typedef struct {
    const char *name;
    size_t size;
} mg_shdict_conf_t;

/* `lua:` block: the bounds of the plugin runtime. */
typedef struct {
    double cpu_budget;    /* CPU time one phase of one request may take, default 50 ms */
    size_t memory_limit;  /* bytes per Lua state, default 64 MiB */
    double stall_timeout; /* a worker loop stuck this long is replaced, default 2 s */
    int regex_cache_size;  /* compiled mg.re patterns kept per worker, default 1024 */
    int regex_match_limit; /* PCRE2 match limit of mg.re and path_regex, default 1e6 */
} mg_lua_conf_t;

/* A `${file:...}` secret as the master read it (conf_secret.c). */
typedef struct mg_conf_secret_file_s mg_conf_secret_file_t;
struct mg_conf_secret_file_s {
    const char *path; /* absolute */
    const char *data; /* the whole file, NUL-terminated */
    size_t len;
    mg_conf_secret_file_t *next;
};

/* A plugin's source code, read by mg_conf_read_plugins() so that every worker compiles
 * exactly the bytes the master validated. */
typedef struct {
    const char *name;
    const char *file; /* absolute path it was read from */
    const char *src;
    size_t len;
} mg_plugin_src_t;

/* ---- rate limiting (ratelimit.h) ---- */

typedef enum {
    MG_RL_TOKEN_BUCKET = 0, /* `rate` refills, `burst` is the bucket size */
    MG_RL_LEAKY_BUCKET,     /* drains at `rate`, queue of `burst`; `delay` waits instead */
    MG_RL_FIXED_WINDOW,     /* `limit` per `window` aligned on the clock */
    MG_RL_SLIDING_WINDOW,   /* previous window weighted by its overlap + current */
    MG_RL_CONCURRENCY,      /* `limit` requests in flight */
} mg_rl_algo_t;

typedef enum { MG_RL_LOCAL = 0, MG_RL_CLUSTER, MG_RL_CLUSTER_APPROX } mg_rl_scope_t;
typedef enum { MG_RL_FAIL_LOCAL = 0, MG_RL_FAIL_ALLOW, MG_RL_FAIL_REJECT } mg_rl_failure_t;

typedef enum {
    MG_RL_KEY_REMOTE_ADDR = 0,
    MG_RL_KEY_HEADER,   /* header:NAME */
    MG_RL_KEY_QUERY,    /* query:NAME */
    MG_RL_KEY_COOKIE,   /* cookie:NAME */
    MG_RL_KEY_CONSUMER, /* the consumer an auth plugin named */
    MG_RL_KEY_ROUTE,    /* the route's name */
} mg_rl_key_kind_t;

typedef struct {
    mg_rl_key_kind_t kind;
    const char *name; /* header/query/cookie name; NULL otherwise */
    size_t len;
} mg_rl_key_part_t;

/* One `rate_limit:` item of a route (or a limiter made by mg.ratelimit in Lua). */
typedef struct {
    const char *name; /* `name`, default "<route>#<i>"; also the key prefix */
    mg_rl_algo_t algorithm;
    double limit;          /* requests per window / bucket refill per window / in flight */
    double window;         /* seconds `limit` is counted over (rate "100/s" -> 100, 1) */
    double burst;          /* token bucket size (default limit), leaky queue (default 0) */
    bool delay;            /* leaky bucket: wait for the slot instead of rejecting */
    mg_rl_key_part_t *key; /* `key`, parts joined by '+'; default remote_addr */
    size_t nkey;
    bool missing_reject; /* `missing_key: reject` (default allow) */
    mg_rl_scope_t scope;
    const char *zone;              /* shared zone of a local limit, default "default" */
    int status;                    /* rejection status, default 429 */
    bool headers;                  /* RateLimit-* on allowed responses too */
    mg_rl_failure_t redis_failure; /* cluster scope with Redis down; default local */
    int nodes;            /* instances sharing the limit (local fallback share), default 1 */
    double sync_interval; /* cluster_approx reconciliation period, default 100 ms */
    int index;            /* position in the route's list */
} mg_rl_conf_t;

/* `rate_limit_zones:` entry: a shared zone holding local limiter state. */
typedef struct {
    const char *name;
    size_t size;
} mg_rl_zone_conf_t;

/* A route's `buffering:` (docs/buffering.md). */
typedef struct {
    bool response; /* read the upstream's answer ahead of a slow client, default true */
    bool request;  /* read the whole request body before choosing a node, default false */
    size_t memory; /* bytes of either kept in memory per request, default 64 KiB */
    size_t max_temp_file_size; /* bytes past it in a temp file, default 1 GiB; 0: none */
} mg_buffering_conf_t;

struct mg_route_conf_s {
    const char *name;   /* default "route#N" (1-based) */
    uint64_t methods;   /* bit (1 << llhttp_method_t); 0 = any method */
    const char **hosts; /* exact "a.com" or wildcard "*.a.com"; none = any host */
    size_t nhosts;
    const char **paths; /* "/a/{id}/b", "/static/\*"; none when only path_regex is set */
    size_t npaths;
    /* `path_regex:` a PCRE2 pattern over the normalised path (its named groups are the
     * route's params), checked at load; NULL when the route has none. At least one of
     * paths and path_regex is set. */
    const char *path_regex;
    mg_upstream_conf_t *upstream; /* NULL when `ret` is set */
    mg_return_conf_t *ret;        /* `return:` block, or NULL */
    int priority;                 /* tie-breaker, higher wins, default 0 */
    int index;                    /* position in conf->routes */
    mg_plugin_use_t *plugins;     /* `plugins:` in document order */
    size_t nplugins;
    mg_rl_conf_t *rate_limits; /* `rate_limit:`; all must pass */
    size_t nrate_limits;
    bool websocket;        /* `websocket: true`: a WebSocket handshake opens a tunnel */
    double tunnel_timeout; /* `timeouts.tunnel`: an open tunnel idle this long closes,
                            * default 300 s */
    mg_buffering_conf_t buffering; /* `buffering:` */
    /* `http:`: the top-level block with this route's client_max_body_size,
     * client_body_timeout and send_timeout over it; NULL when the route has none */
    const mg_http_conf_t *http;
};

struct mg_http_conf_s {
    double client_header_timeout; /* whole request head, default 10 s  -> 408 */
    double client_body_timeout;   /* between body reads, default 30 s  -> 408 */
    double send_timeout;          /* between writes to the client, default 30 s */
    double keepalive_timeout;     /* idle client connection, default 15 s */
    int keepalive_requests;       /* per client connection, default 10000 */
    size_t client_max_body_size;  /* default 1 MiB -> 413; 0 = unlimited */
    size_t max_request_line;      /* default 8 KiB -> 414 */
    size_t max_header_line;       /* default 8 KiB -> 431 */
    size_t max_header_size;       /* all headers, default 32 KiB -> 431 */
    int max_headers;              /* default 100 -> 431 */
    double drain_timeout;         /* graceful stop / old-generation drain, default 1 h */
    bool response_request_id;     /* X-Request-Id on every answer, default true */
    int max_tunnels;              /* open WebSocket tunnels, all workers; past it a handshake
                                   * gets 503; default 10000, 0 = unlimited */
    const char *temp_path;        /* buffering's temp files, absolute, default <prefix>/temp */
    size_t buffer_memory_max;     /* buffering's memory per worker, default 64 MiB */
};

/* Redis for cluster-wide state (rate limits); validated now, used by later releases. */
typedef struct {
    mg_addr_t addr;       /* `address`, required */
    const char *password; /* NULL when absent */
    const char *username; /* ACL user for AUTH with the password; NULL: the default user */
    int db;               /* database number, default 0 */
    double timeout;       /* per command, default 50 ms */
    int pool_size;        /* connections per worker, default 2 */
    const char *prefix;   /* prefix of every key moongate writes, default "mg:" */
} mg_redis_conf_t;

/* `metrics:` (server/metrics.h): GET /metrics on the admin listener. */
#define MG_METRICS_MAX_BUCKETS 40
typedef struct {
    bool enabled;          /* default true; nothing is counted when false or without admin */
    const double *buckets; /* latency histogram upper bounds, seconds, increasing */
    size_t nbuckets;
} mg_metrics_conf_t;

struct mg_conf_s {
    const char *file;     /* absolute path of the file read, or "<string>" */
    const char *prefix;   /* base of relative paths, ends without '/' */
    mg_pool_t *pool;      /* owns the whole snapshot */
    int worker_processes; /* resolved: "auto" -> number of CPUs */
    const char *pid_file; /* default <prefix>/logs/moongate.pid */
    mg_listen_conf_t *listen;
    size_t nlisten;
    const char *error_log_path; /* absolute; "stderr" logs to standard error */
    mg_log_level_t error_log_level;
    const char *access_log_path; /* absolute; NULL when `access_log: off` or syslog */
    mg_access_format_t access_log_format;
    const mg_log_fmt_t *access_log_fmt;      /* a template or field list, compiled */
    mg_log_syslog_conf_t *access_log_syslog; /* `access_log: { syslog: ... }`, or NULL */
    size_t access_log_buffer;  /* bytes buffered before a write, default 64 KiB */
    mg_listen_conf_t *admin;   /* admin listener, NULL when off */
    size_t shm_size;           /* size of the main shared zone, default 1 MiB */
    const char **plugins_dirs; /* absolute; kept for the Lua runtime */
    size_t nplugins_dirs;
    mg_http_conf_t http;
    mg_upstream_conf_t *upstreams;
    size_t nupstreams;
    mg_route_conf_t *routes;
    size_t nroutes;
    mg_redis_conf_t *redis;          /* NULL when the `redis` block is absent */
    mg_tls_conf_t tls;               /* `tls:`; tls.ncerts == 0 when absent */
    mg_resolver_conf_t resolver;
    mg_metrics_conf_t metrics;
    mg_conf_file_t **files;          /* every file named, in parse order (mg_conf_read_files) */
    size_t nfiles;
    mg_plugin_use_t *global_plugins; /* apply to every route */
    size_t nglobal_plugins;
    mg_consumer_conf_t *consumers;
    size_t nconsumers;
    mg_shdict_conf_t *shdicts;
    size_t nshdicts;
    mg_rl_zone_conf_t *rl_zones; /* `rate_limit_zones:`, plus "default" when used */
    size_t nrl_zones;
    mg_lua_conf_t lua;
    bool watch_plugins;           /* a change in a plugins dir triggers a reload */
    mg_plugin_src_t *plugin_srcs; /* every plugin in use, after mg_conf_read_plugins() */
    size_t nplugin_srcs;
    /* `lua_path:` (conf_lua_path.c): templates with one '?', absolute, in search order;
     * per template the index of the entry it came from, and per entry its line and
     * column */
    const char **lua_path;
    size_t *lua_path_entry;
    int *lua_path_pos;
    size_t nlua_path;
    bool lua_path_scalar;         /* written as one string, not a list */
    mg_plugin_src_t *lua_modules; /* every module under lua_path (name: "a.b"), read with
                                   * the plugins */
    size_t nlua_modules;
    const char **lua_dirs; /* the directories walked for them, for watch_plugins */
    size_t nlua_dirs;
    mg_conf_secret_file_t *secret_files; /* every ${file:...} read, sent to the workers */
    mg_tracing_conf_t *tracing;   /* NULL without a `tracing` block (or `tracing: off`) */
    /* `trusted_proxies:` (http/realip.h): peers whose X-Forwarded-For is believed; NULL
     * when none (the default: the peer is the client) */
    const mg_cidr_set_t *trusted_proxies;
};

/* True when `conf` counts for GET /metrics: metrics enabled and an admin listener to
 * read them. Every layer that counts asks this, so that off costs nothing anywhere. */
static inline bool mg_conf_metrics_on(const mg_conf_t *conf)
{
    return conf->metrics.enabled && conf->admin != NULL;
}

/* A configuration error. `file:line:column: key: message`. */
typedef struct {
    char file[512];
    int line;      /* 1-based; 0 when unknown */
    int column;    /* 1-based; 0 when unknown */
    char key[256]; /* key path, e.g. "upstreams[0].nodes[1].weight" */
    char msg[1024]; /* what was expected / what is wrong (long: lists of names) */
    /* set by mg_conf_load()/mg_conf_parse() when what failed is a `${NAME}` whose
     * variable is not set: the one error another process's environment could change
     * (`moongate -s reload` says whose environment it used) */
    bool unset_env;
} mg_conf_err_t;

/* Reads and parses `path` (relative paths inside resolve against `prefix`; NULL prefix
 * means the current directory). Returns a new snapshot owned by the caller, or NULL with
 * *err filled. */
mg_conf_t *mg_conf_load(const char *path, const char *prefix, mg_conf_err_t *err);

/* Same from a buffer (borrowed). `name` appears in error messages as the file. */
mg_conf_t *mg_conf_parse(const char *buf, size_t len, const char *name, const char *prefix,
                         mg_conf_err_t *err);

/* mg_conf_parse() of the configuration the master validated, in a worker: `sealed`
 * (sealed_len bytes, borrowed) is what mg_conf_plugins_pack() made of the master's
 * snapshot, whose `${file:...}` secrets are taken instead of reading the files again. */
mg_conf_t *mg_conf_parse_sealed(const char *buf, size_t len, const char *name,
                                const char *prefix, const char *sealed, size_t sealed_len,
                                mg_conf_err_t *err);

/* Reads the source of every plugin the snapshot uses (routes, global_plugins, consumers)
 * from the plugins_dir list, then `bundled_dir`, into conf->plugin_srcs. MG_OK, or
 * MG_ERROR with *err naming the key of the first plugin that has no readable file. */
int mg_conf_read_plugins(mg_conf_t *conf, const char *bundled_dir, mg_conf_err_t *err);

/* Reads every file the snapshot names (conf->files: certificates, keys, CAs...) whole
 * into it. MG_OK, or MG_ERROR with *err at the key naming the first unreadable one. */
int mg_conf_read_files(mg_conf_t *conf, mg_conf_err_t *err);

/* Serialises the secret files, conf->plugin_srcs, the files' contents and the lua_path
 * modules, for the control channel: the size needed when buf is
 * NULL, else writes it and returns the length. */
size_t mg_conf_plugins_pack(const mg_conf_t *conf, char *buf);

/* Attaches the plugin sources and file contents packed by mg_conf_plugins_pack()
 * (copied into the snapshot, whose files must be the same list). MG_OK, or MG_ERROR (corrupt or out of memory). */
int mg_conf_plugins_unpack(mg_conf_t *conf, const char *buf, size_t len);

/* Secrets in string values (conf_secret.c). mg_conf_expand() expands `${NAME}` (the
 * environment) and `${file:path}` (a file's contents without one trailing newline;
 * a relative path is taken under `dir`) in s (len bytes); `$${` is a literal `${`.
 * MG_OK with a malloc'd, NUL-terminated *out (the caller frees it) and *outlen, or
 * MG_ERROR with why (whylen bytes) naming the variable or file, never a value.
 * mg_conf_has_secret() tells whether s holds anything to expand. */
int mg_conf_expand(const char *s, size_t len, const char *dir, char **out, size_t *outlen,
                   char *why, size_t whylen);
bool mg_conf_has_secret(const char *s, size_t len);

/* Frees a snapshot. NULL is a no-op. */
void mg_conf_destroy(mg_conf_t *conf);

/* Formats an error as "file:line:column: key: msg" into buf; returns buf. */
const char *mg_conf_err_format(const mg_conf_err_t *err, char *buf, size_t len);

/* Finds an upstream/route by name, or NULL. */
const mg_upstream_conf_t *mg_conf_upstream(const mg_conf_t *conf, const char *name);

/* Parsers for scalar values, exposed for tests and other modules.
 * Durations: "250ms", "2s", "1m", "1h", bare number = seconds. Sizes: "512", "8k",
 * "1m", "1g" (binary units). Both return MG_OK or MG_ERROR. */
int mg_conf_parse_duration(const char *s, double *out);
int mg_conf_parse_size(const char *s, size_t *out);

/* Parses a rate: "N/s", "N/m", "N/h", "N/d" or "N/<duration>" ("500/10s") into the
 * count and the window in seconds. N > 0, the window at least 1 ms. MG_OK or MG_ERROR. */
int mg_conf_parse_rate(const char *s, double *limit, double *window);

/* Parses "ADDR:PORT", "[v6]:PORT" or "PORT" (means 0.0.0.0:PORT) into out->sa/salen and
 * sets out->text = s (borrowed). Host names are resolved (blocking, at load only).
 * MG_OK or MG_ERROR. */
int mg_conf_parse_addr(const char *s, mg_addr_t *out);

/* True when a listen/worker-count change means workers must be replaced rather than
 * switched in place. */
bool mg_conf_needs_restart(const mg_conf_t *old, const mg_conf_t *new);

/* The log targets of `conf`, as the log opens them (base/log.h). */
static inline mg_log_conf_t mg_conf_log(const mg_conf_t *conf)
{
    return (mg_log_conf_t){
        .error_log_path = conf->error_log_path,
        .error_log_level = conf->error_log_level,
        .access_log_path = conf->access_log_path,
        .access_log_syslog = conf->access_log_syslog,
        .access_log_format = conf->access_log_format,
        .access_log_fmt = conf->access_log_fmt,
        .access_log_buffer = conf->access_log_buffer,
    };
}

#endif
