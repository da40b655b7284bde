/* deps: conf conf_plugin conf_top conf_access_log log_template log_format conf_value conf_route conf_buffering conf_ratelimit router route_pattern pool str conf_balancer conf_health conf_tls conf_resolver conf_metrics conf_tracing conf_realip cidr regexp */
#include <arpa/inet.h>
#include <check.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "llhttp.h"

/* Parses `yaml` with prefix "/srv/gw"; fails the test on error. */
static mg_conf_t *parse_ok(const char *yaml)
{
    mg_conf_err_t err;
    memset(&err, 0, sizeof(err));
    mg_conf_t *c = mg_conf_parse(yaml, strlen(yaml), "t.yaml", "/srv/gw", &err);
    if (c == NULL) {
        char buf[1500];
        ck_abort_msg("unexpected error: %s", mg_conf_err_format(&err, buf, sizeof(buf)));
    }
    return c;
}

/* Parses `yaml`, expecting an error at line:col under `key` whose message contains
 * `msg`. */
static void parse_err(const char *yaml, int line, int col, const char *key, const char *msg)
{
    mg_conf_err_t err;
    memset(&err, 0, sizeof(err));
    mg_conf_t *c = mg_conf_parse(yaml, strlen(yaml), "t.yaml", "/srv/gw", &err);
    char buf[1500];
    mg_conf_err_format(&err, buf, sizeof(buf));
    ck_assert_msg(c == NULL, "expected an error for:\n%s", yaml);
    ck_assert_msg(err.line == line && err.column == col, "expected %d:%d, got %s", line, col, buf);
    ck_assert_msg(strcmp(err.key, key) == 0, "expected key %s, got %s", key, buf);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "expected \"%s\" in %s", msg, buf);
    ck_assert_str_eq(err.file, "t.yaml");
}

static int port_of(const mg_addr_t *a)
{
    if (a->sa.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    }
    return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

static const char *ip_of(const mg_addr_t *a, char *buf, size_t len)
{
    const void *src = a->sa.ss_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
    return inet_ntop(a->sa.ss_family, src, buf, (socklen_t)len);
}

START_TEST(test_resolver)
{
    mg_conf_t *c = parse_ok("");
    ck_assert_uint_eq(c->resolver.nservers, 0);
    ck_assert(c->resolver.valid == 0 && c->resolver.timeout == 5);
    mg_conf_destroy(c);
    c = parse_ok("resolver: { servers: [\"127.0.0.1\", \"127.0.0.2:5353\", \"[::1]:54\", \"::2\"],"
                 " valid: 30s, timeout: 250ms }\n");
    ck_assert_uint_eq(c->resolver.nservers, 4);
    char ip[64];
    int want_port[] = {53, 5353, 54, 53};
    const char *want_ip[] = {"127.0.0.1", "127.0.0.2", "::1", "::2"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(ip_of(&c->resolver.servers[i], ip, sizeof(ip)), want_ip[i]);
        ck_assert_int_eq(port_of(&c->resolver.servers[i]), want_port[i]);
    }
    ck_assert(c->resolver.valid == 30 && c->resolver.timeout == 0.25);
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_defaults)
{
    mg_conf_t *c = parse_ok("");
    char ip[64];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(c->worker_processes, cpus < 1 ? 1 : (cpus > 64 ? 64 : cpus));
    ck_assert_str_eq(c->prefix, "/srv/gw");
    ck_assert_uint_eq(c->nlisten, 1);
    ck_assert_str_eq(ip_of(&c->listen[0].addr, ip, sizeof(ip)), "0.0.0.0");
    ck_assert_int_eq(port_of(&c->listen[0].addr), 8080);
    ck_assert_int_eq(c->listen[0].backlog, 511);
    ck_assert_str_eq(c->pid_file, "/srv/gw/logs/moongate.pid");
    ck_assert_str_eq(c->error_log_path, "/srv/gw/logs/error.log");
    ck_assert_int_eq(c->error_log_level, MG_LOG_INFO);
    ck_assert_str_eq(c->access_log_path, "/srv/gw/logs/access.log");
    ck_assert_int_eq(c->access_log_format, MG_ACCESS_COMBINED);
    ck_assert_uint_eq(c->access_log_buffer, 64 * 1024);
    ck_assert_ptr_null(c->admin);
    ck_assert_uint_eq(c->shm_size, 1 << 20);
    ck_assert_uint_eq(c->nplugins_dirs, 1);
    ck_assert_str_eq(c->plugins_dirs[0], "/srv/gw/plugins");
    ck_assert_ptr_null(c->redis);
    ck_assert_uint_eq(c->nupstreams, 0);
    ck_assert_uint_eq(c->nroutes, 0);
    const mg_http_conf_t *h = &c->http;
    ck_assert(h->client_header_timeout == 10 && h->client_body_timeout == 30);
    ck_assert(h->send_timeout == 30 && h->keepalive_timeout == 15 && h->drain_timeout == 3600);
    ck_assert_int_eq(h->keepalive_requests, 10000);
    ck_assert_uint_eq(h->client_max_body_size, 1 << 20);
    ck_assert_uint_eq(h->max_request_line, 8192);
    ck_assert_uint_eq(h->max_header_line, 8192);
    ck_assert_uint_eq(h->max_header_size, 32768);
    ck_assert_int_eq(h->max_headers, 100);
    mg_conf_destroy(c);

    /* NULL prefix = the current directory */
    mg_conf_err_t err;
    c = mg_conf_parse("", 0, NULL, NULL, &err);
    ck_assert_ptr_nonnull(c);
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/logs/error.log", cwd);
    ck_assert_str_eq(c->error_log_path, want);
    ck_assert_str_eq(c->file, "<string>");
    mg_conf_destroy(c);
}
END_TEST

static const char full_yaml[] =
    "worker_processes: 3\n"
    "listen: [\"127.0.0.1:8081\", \"[::1]:8082\", \"9000\"]\n"
    "pid_file: run/gw.pid\n"
    "error_log: { path: stderr, level: warn }\n"
    "access_log: { path: /var/log/gw/access.log, format: json, buffer: 8k }\n"
    "admin: { listen: \"127.0.0.1:9180\" }\n"
    "shm_size: 2m\n"
    "plugins_dir: [plugins, ./more/plugins, /opt/p]\n"
    "redis: { address: \"127.0.0.1:6379\", password: s3cret, db: 2, timeout: 20ms }\n"
    "http:\n"
    "  client_header_timeout: 5s\n"
    "  client_body_timeout: 1m\n"
    "  send_timeout: 250ms\n"
    "  keepalive_timeout: 0\n"
    "  keepalive_requests: 7\n"
    "  client_max_body_size: 0\n"
    "  max_request_line: 4k\n"
    "  max_header_line: 2k\n"
    "  max_header_size: 16k\n"
    "  max_headers: 50\n"
    "  drain_timeout: 2m\n"
    "routes:\n"
    "  - name: users-api\n"
    "    methods: [GET, POST, M-SEARCH]\n"
    "    hosts: [\"api.example.com\", \"*.example.org\"]\n"
    "    paths: [\"/api/users/{id}\", \"/api/users/*\"]\n"
    "    upstream: users\n"
    "    priority: -5\n"
    "  - paths: /ping\n"
    "    return: { status: 204 }\n"
    "  - paths: [\"/x\"]\n"
    "    return: { status: 418, body: \"\", content_type: text/html }\n"
    "upstreams:\n"
    "  - name: users\n"
    "    balancer: chash\n"
    "    hash_on: header:X-User-Id\n"
    "    nodes:\n"
    "      - { address: \"127.0.0.1:9001\", weight: 2 }\n"
    "      - \"127.0.0.1:9002\"\n"
    "      - { address: \"[::1]:9003\" }\n"
    "    keepalive: 0\n"
    "    keepalive_timeout: 4s\n"
    "    keepalive_requests: 100\n"
    "    timeouts: { connect: 2s, send: 3s, read: 500ms }\n"
    "    retries: 0\n"
    "    retry_timeout: 9s\n"
    "    host: users.internal\n"
    "  - name: b.2-x_y\n"
    "    nodes: [\"localhost:80\"]\n";

START_TEST(test_every_top_key)
{
    mg_conf_t *c = parse_ok(full_yaml);
    char ip[64];
    ck_assert_int_eq(c->worker_processes, 3);
    ck_assert_uint_eq(c->nlisten, 3);
    ck_assert_str_eq(c->listen[0].addr.text, "127.0.0.1:8081");
    ck_assert_str_eq(ip_of(&c->listen[1].addr, ip, sizeof(ip)), "::1");
    ck_assert_int_eq(port_of(&c->listen[1].addr), 8082);
    ck_assert_str_eq(ip_of(&c->listen[2].addr, ip, sizeof(ip)), "0.0.0.0");
    ck_assert_int_eq(port_of(&c->listen[2].addr), 9000);
    ck_assert_str_eq(c->pid_file, "/srv/gw/run/gw.pid");
    ck_assert_str_eq(c->error_log_path, "stderr");
    ck_assert_int_eq(c->error_log_level, MG_LOG_WARN);
    ck_assert_str_eq(c->access_log_path, "/var/log/gw/access.log");
    ck_assert_int_eq(c->access_log_format, MG_ACCESS_JSON);
    ck_assert_uint_eq(c->access_log_buffer, 8192);
    ck_assert_ptr_nonnull(c->admin);
    ck_assert_int_eq(port_of(&c->admin->addr), 9180);
    ck_assert_uint_eq(c->shm_size, 2 << 20);
    ck_assert_uint_eq(c->nplugins_dirs, 3);
    ck_assert_str_eq(c->plugins_dirs[0], "/srv/gw/plugins");
    ck_assert_str_eq(c->plugins_dirs[1], "/srv/gw/more/plugins");
    ck_assert_str_eq(c->plugins_dirs[2], "/opt/p");
    ck_assert_ptr_nonnull(c->redis);
    ck_assert_int_eq(port_of(&c->redis->addr), 6379);
    ck_assert_str_eq(c->redis->password, "s3cret");
    ck_assert_int_eq(c->redis->db, 2);
    ck_assert(fabs(c->redis->timeout - 0.02) < 1e-9);
    const mg_http_conf_t *h = &c->http;
    ck_assert(h->client_header_timeout == 5 && h->client_body_timeout == 60);
    ck_assert(fabs(h->send_timeout - 0.25) < 1e-9);
    ck_assert(h->keepalive_timeout == 0 && h->drain_timeout == 120);
    ck_assert_int_eq(h->keepalive_requests, 7);
    ck_assert_uint_eq(h->client_max_body_size, 0);
    ck_assert_uint_eq(h->max_request_line, 4096);
    ck_assert_uint_eq(h->max_header_line, 2048);
    ck_assert_uint_eq(h->max_header_size, 16384);
    ck_assert_int_eq(h->max_headers, 50);
    mg_conf_destroy(c);
}
END_TEST

/* The access log's shaped formats and syslog targets: compiled at load, defaults kept. */
START_TEST(test_access_log_shapes)
{
    mg_conf_t *c = parse_ok("access_log:\n"
                            "  path: a.log\n"
                            "  format: '$remote_addr \"${request}\" $$ $status'\n");
    ck_assert_str_eq(c->access_log_path, "/srv/gw/a.log");
    ck_assert_int_eq(c->access_log_format, MG_ACCESS_SHAPED);
    ck_assert_ptr_nonnull(c->access_log_fmt);
    ck_assert_ptr_null(c->access_log_syslog);
    mg_access_rec_t r;
    memset(&r, 0, sizeof(r));
    r.remote_addr = MG_STR("10.1.2.3");
    r.method = MG_STR("GET");
    r.uri = MG_STR("/x");
    r.http_major = r.http_minor = 1;
    r.status = 204;
    char line[256];
    mg_log_fmt_format(c->access_log_fmt, &r, line, sizeof(line));
    ck_assert_str_eq(line, "10.1.2.3 \"GET /x HTTP/1.1\" $ 204\n");
    mg_conf_destroy(c);

    c = parse_ok("access_log: { syslog: \"udp:127.0.0.1\", format: [status, route] }\n");
    ck_assert_ptr_null(c->access_log_path);
    ck_assert_ptr_nonnull(c->access_log_syslog);
    const mg_log_syslog_conf_t *sl = c->access_log_syslog;
    ck_assert_str_eq(sl->target, "udp:127.0.0.1");
    ck_assert_int_eq(sl->addr.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((const struct sockaddr_in *)&sl->addr)->sin_port), 514);
    ck_assert_int_eq(sl->facility, 23); /* local7 */
    ck_assert_int_eq(sl->severity, 6);  /* info */
    ck_assert_str_eq(sl->tag, "moongate");
    mg_log_fmt_format(c->access_log_fmt, &r, line, sizeof(line));
    ck_assert_str_eq(line, "{\"status\":204,\"route\":null}\n");
    mg_conf_destroy(c);

    c = parse_ok("access_log:\n  syslog: unix:logs/sock\n  facility: daemon\n"
                 "  severity: notice\n  tag: gw-1.a_b\n  format: json\n");
    sl = c->access_log_syslog;
    ck_assert_int_eq(sl->addr.ss_family, AF_UNIX);
    ck_assert_str_eq(((const struct sockaddr_un *)&sl->addr)->sun_path, "/srv/gw/logs/sock");
    ck_assert_int_eq(sl->facility, 3);
    ck_assert_int_eq(sl->severity, 5);
    ck_assert_str_eq(sl->tag, "gw-1.a_b");
    ck_assert_int_eq(c->access_log_format, MG_ACCESS_JSON);
    ck_assert_ptr_null(c->access_log_fmt);
    mg_log_conf_t lc = mg_conf_log(c);
    ck_assert_ptr_eq(lc.access_log_syslog, sl);
    mg_conf_destroy(c);
}
END_TEST

/* Nodes by name are kept for the resolvers: the name, the port, srv; never resolved. */
START_TEST(test_dns_nodes)
{
    mg_conf_t *c = parse_ok("upstreams:\n"
                            "  - name: a\n"
                            "    nodes:\n"
                            "      - { address: \"api.internal:8080\", weight: 3 }\n"
                            "      - { address: \"_http._tcp.svc.internal\", srv: true }\n"
                            "      - \"10.0.0.1:81\"\n"
                            "      - \"nowhere.invalid:82\"\n"
                            "routes:\n  - { paths: [\"/\"], upstream: a }\n");
    const mg_upstream_conf_t *u = &c->upstreams[0];
    ck_assert(u->dynamic);
    ck_assert_str_eq(u->nodes[0].host, "api.internal");
    ck_assert_int_eq(u->nodes[0].port, 8080);
    ck_assert_int_eq(u->nodes[0].weight, 3);
    ck_assert(!u->nodes[0].srv);
    ck_assert_str_eq(u->nodes[0].addr.text, "api.internal:8080");
    ck_assert_str_eq(u->nodes[1].host, "_http._tcp.svc.internal");
    ck_assert(u->nodes[1].srv && u->nodes[1].port == 0);
    ck_assert_ptr_null(u->nodes[2].host);
    ck_assert_int_eq(port_of(&u->nodes[2].addr), 81);
    ck_assert_str_eq(u->nodes[3].host, "nowhere.invalid");
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_every_upstream_key)
{
    mg_conf_t *c = parse_ok(full_yaml);
    ck_assert_uint_eq(c->nupstreams, 2);
    const mg_upstream_conf_t *u = &c->upstreams[0];
    ck_assert_str_eq(u->name, "users");
    ck_assert_int_eq(u->balancer, MG_LB_CHASH);
    ck_assert_int_eq(u->hash_on.kind, MG_HASH_HEADER);
    ck_assert_str_eq(u->hash_on.name, "X-User-Id");
    ck_assert_uint_eq(u->hash_on.len, 9);
    ck_assert_uint_eq(u->nnodes, 3);
    ck_assert_int_eq(u->nodes[0].weight, 2);
    ck_assert_int_eq(port_of(&u->nodes[0].addr), 9001);
    ck_assert_int_eq(u->nodes[1].weight, 1);
    ck_assert_str_eq(u->nodes[1].addr.text, "127.0.0.1:9002");
    ck_assert_int_eq(u->nodes[2].addr.sa.ss_family, AF_INET6);
    ck_assert_int_eq(u->keepalive, 0);
    ck_assert(u->keepalive_timeout == 4 && u->connect_timeout == 2 && u->send_timeout == 3);
    ck_assert(fabs(u->read_timeout - 0.5) < 1e-9 && u->retry_timeout == 9);
    ck_assert_int_eq(u->keepalive_requests, 100);
    ck_assert_int_eq(u->retries, 0);
    ck_assert_str_eq(u->host, "users.internal");
    ck_assert_int_eq(u->index, 0);
    u = &c->upstreams[1];
    ck_assert_str_eq(u->name, "b.2-x_y");
    ck_assert_int_eq(u->index, 1);
    /* a host name is left to the workers' resolvers: never resolved at load */
    ck_assert_str_eq(u->nodes[0].host, "localhost");
    ck_assert_int_eq(u->nodes[0].port, 80);
    ck_assert_int_eq(u->nodes[0].addr.sa.ss_family, AF_UNSPEC);
    ck_assert(u->dynamic && !c->upstreams[0].dynamic);
    ck_assert(u->keepalive == 64 && u->keepalive_timeout == 10 && u->keepalive_requests == 1000);
    ck_assert(u->connect_timeout == 3 && u->send_timeout == 10 && u->read_timeout == 60);
    ck_assert(u->retries == 1 && u->retry_timeout == 0 && u->host == NULL);
    ck_assert_int_eq(u->balancer, MG_LB_ROUNDROBIN);
    ck_assert_int_eq(u->hash_on.kind, MG_HASH_REMOTE_ADDR);
    ck_assert_str_eq(u->sticky.cookie, "mg_node");
    ck_assert_ptr_eq(mg_conf_upstream(c, "b.2-x_y"), u);
    ck_assert_ptr_null(mg_conf_upstream(c, "nope"));
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_websocket_keys)
{
    static const char up[] = "upstreams: [{ name: chat, nodes: [\"127.0.0.1:9001\"] }]\n";
    char yaml[512];
    snprintf(
        yaml, sizeof(yaml), "%s%s", up,
        "routes:\n"
        "  - { paths: [\"/ws/*\"], upstream: chat, websocket: true, timeouts: { tunnel: 1h } }\n"
        "  - { paths: [\"/*\"], upstream: chat }\n"
        "http: { max_tunnels: 50 }\n");
    mg_conf_t *c = parse_ok(yaml);
    ck_assert(c->routes[0].websocket);
    ck_assert(c->routes[0].tunnel_timeout == 3600);
    ck_assert(!c->routes[1].websocket);
    ck_assert(c->routes[1].tunnel_timeout == 300); /* the default */
    ck_assert_int_eq(c->http.max_tunnels, 50);
    mg_conf_destroy(c);
    c = parse_ok(up);
    ck_assert_int_eq(c->http.max_tunnels, 10000);
    mg_conf_destroy(c);

    snprintf(yaml, sizeof(yaml), "%s%s", up,
             "routes:\n  - { paths: [\"/ws\"], upstream: chat, websocket: yes please }\n");
    parse_err(yaml, 3, 50, "routes[0].websocket", "expected true or false");
    snprintf(yaml, sizeof(yaml), "%s%s", up,
             "routes:\n  - { paths: [\"/ws\"], upstream: chat, timeouts: { tunnel: 0 } }\n");
    parse_err(yaml, 3, 59, "routes[0].timeouts.tunnel", "expected a duration above 0");
    snprintf(yaml, sizeof(yaml), "%s%s", up,
             "routes:\n  - { paths: [\"/ws\"], upstream: chat, timeouts: { read: 1s } }\n");
    parse_err(yaml, 3, 51, "routes[0].timeouts.read", "unknown key \"read\" (known keys: tunnel)");
    parse_err("routes:\n  - { paths: [\"/ws\"], return: { status: 200 }, websocket: true }\n", 2,
              59, "routes[0].websocket", "needs an \"upstream\"");
    parse_err("http: { max_tunnels: -1 }\n", 1, 22, "http.max_tunnels", "");
}
END_TEST

START_TEST(test_every_route_key)
{
    mg_conf_t *c = parse_ok(full_yaml);
    ck_assert_uint_eq(c->nroutes, 3);
    const mg_route_conf_t *r = &c->routes[0];
    ck_assert_str_eq(r->name, "users-api");
    ck_assert(r->methods == ((UINT64_C(1) << HTTP_GET) | (UINT64_C(1) << HTTP_POST) |
                             (UINT64_C(1) << HTTP_MSEARCH)));
    ck_assert_uint_eq(r->nhosts, 2);
    ck_assert_str_eq(r->hosts[1], "*.example.org");
    ck_assert_uint_eq(r->npaths, 2);
    ck_assert_str_eq(r->paths[0], "/api/users/{id}");
    ck_assert_ptr_eq(r->upstream, &c->upstreams[0]);
    ck_assert_ptr_null(r->ret);
    ck_assert_int_eq(r->priority, -5);
    r = &c->routes[1];
    ck_assert_str_eq(r->name, "route#2");
    ck_assert_int_eq(r->index, 1);
    ck_assert(r->methods == 0 && r->nhosts == 0 && r->upstream == NULL && r->priority == 0);
    ck_assert_uint_eq(r->npaths, 1);
    ck_assert_str_eq(r->paths[0], "/ping");
    ck_assert_int_eq(r->ret->status, 204);
    ck_assert_ptr_null(r->ret->body);
    ck_assert_str_eq(r->ret->content_type, "text/plain");
    r = &c->routes[2];
    ck_assert_str_eq(r->name, "route#3");
    ck_assert_int_eq(r->ret->status, 418);
    ck_assert_str_eq(r->ret->body, "");
    ck_assert_uint_eq(r->ret->body_len, 0);
    ck_assert_str_eq(r->ret->content_type, "text/html");
    mg_conf_destroy(c);
}
END_TEST

START_TEST(test_scalar_forms)
{
    mg_conf_t *c = parse_ok("listen: \"127.0.0.1:8080\"\n"
                            "worker_processes: auto\n"
                            "access_log: off\n"
                            "plugins_dir: /p\n"
                            "admin: off\n");
    ck_assert_uint_eq(c->nlisten, 1);
    ck_assert_int_eq(port_of(&c->listen[0].addr), 8080);
    ck_assert_ptr_null(c->access_log_path);
    ck_assert_uint_eq(c->nplugins_dirs, 1);
    ck_assert_str_eq(c->plugins_dirs[0], "/p");
    ck_assert_ptr_null(c->admin);
    ck_assert_int_ge(c->worker_processes, 1);
    mg_conf_destroy(c);
}
END_TEST

/* Errors: file, line, column, key path and what was expected. */
static const struct {
    const char *yaml;
    int line, col;
    const char *key, *msg;
} errors[] = {
    {"listen: [\"1.2.3.4:80\"]\nworkers: 2\n", 2, 1, "workers", "unknown key \"workers\""},
    {"resolver: { server: [] }\n", 1, 13, "resolver.server", "did you mean \"servers\"?"},
    {"resolver: { valid: soon }\n", 1, 20, "resolver.valid", "expected"},
    {"upstreams:\n  - name: a\n    nodes: [ { address: \"10.0.0.1:80\", srv: true } ]\n", 3, 25,
     "upstreams[0].nodes[0].address", "srv: true expects a DNS name whose SRV records"},
    {"upstreams:\n  - name: a\n    nodes: [ { srv: true, address: \"[::1]:80\" } ]\n", 3, 36,
     "upstreams[0].nodes[0].address", "got the IP address \"[::1]:80\""},
    {"upstreams:\n  - name: a\n    nodes: [ { address: \"svc.test:80\", srv: true } ]\n", 3, 25,
     "upstreams[0].nodes[0].address", "got the address with a port \"svc.test:80\""},
    {"upstreams:\n  - name: a\n    nodes: [ { address: \"a b\", srv: true } ]\n", 3, 25,
     "upstreams[0].nodes[0].address", "srv: true expects a DNS name, got \"a b\""},
    {"upstreams:\n  - name: a\n    nodes: [ { address: \"x.test:80\", srv: 1 } ]\n", 3, 43,
     "upstreams[0].nodes[0].srv", "expected"},
    {"upstreams:\n  - name: a\n    nodes: [ \"x.test:80\", \"X.TEST:80\" ]\n", 3, 27,
     "upstreams[0].nodes[1]", "address \"X.TEST:80\" is already a node (nodes[0])"},
    {"upstreams:\n  - name: a\n    nodes: [ \"x!y:80\" ]\n", 3, 14, "upstreams[0].nodes[0]",
     "not a valid IP address or host name"},
    {"resolver: { servers: [\"dns.local:53\"] }\n", 1, 23, "resolver.servers[0]",
     "expected a name server's IP address"},
    {"resolver: { servers: [\"1.2.3.4:0\"] }\n", 1, 23, "resolver.servers[0]",
     "got \"1.2.3.4:0\""},
    {"resolver: { servers: [\"1.2.3.4\", \"1.2.3.4:53\"] }\n", 1, 34, "resolver.servers[1]",
     "already listed"},
    {"resolver: { timeout: 0 }\n", 1, 22, "resolver.timeout", "a duration above 0"},
    {"resolver: { valid: soon }\n", 1, 20, "resolver.valid", "expected a duration"},
    {"resolver: [1]\n", 1, 11, "resolver", "expected a mapping"},
    {"worker_proceses: 2\n", 1, 1, "worker_proceses", "did you mean \"worker_processes\"?"},
    {"http:\n  max_header: 5\n", 2, 3, "http.max_header", "did you mean \"max_headers\"?"},
    {"shm_size: 1m\nshm_size: 2m\n", 2, 1, "shm_size", "duplicate key \"shm_size\""},
    {"worker_processes: 0\n", 1, 19, "worker_processes",
     "expected auto or an integer from 1 to 64, got \"0\""},
    {"worker_processes: lots\n", 1, 19, "worker_processes", "expected auto or an integer"},
    {"listen: {a: 1}\n", 1, 9, "listen", "expected a list or a string, got a mapping"},
    {"listen: [\"1.2.3.4:80\", \"1.2.3.4:80\"]\n", 1, 24, "listen[1]", "already listed"},
    {"listen: [\"1.2.3.4:0\"]\n", 1, 10, "listen[0]", "port must be a number from 1 to 65535"},
    {"listen: [\"1.2.3.4\"]\n", 1, 10, "listen[0]", "the port is missing"},
    {"listen: \"::1:80\"\n", 1, 9, "listen", "[ADDR]:PORT"},
    {"listen: [\"300.1.1.1:80\"]\n", 1, 10, "listen[0]", "not a valid IPv4 address"},
    {"error_log: { level: loud }\n", 1, 21, "error_log.level",
     "expected one of debug, info, notice, warn, error, crit, alert, got \"loud\""},
    {"access_log: { format: xml }\n", 1, 23, "access_log.format", "expected combined, json, a template"},
    {"access_log: yes\n", 1, 13, "access_log", "or off, got \"yes\""},
    {"access_log: { format: '$remote_addr $nope' }\n", 1, 37, "access_log.format",
     "unknown variable \"$nope\"; the variables are: time "},
    {"access_log: { format: \"${upstream_addr}x${status\" }\n", 1, 41, "access_log.format",
     "without its"},
    {"access_log: { format: 'a $ b' }\n", 1, 26, "access_log.format",
     "\"$\" must start a variable"},
    {"access_log: { format: 'only text' }\n", 1, 23, "access_log.format",
     "expected combined, json, a template"},
    {"access_log: { format: \"$status\\n\" }\n", 1, 23, "access_log.format",
     "control character 0x0a"},
    {"access_log: { format: [status, nope] }\n", 1, 32, "access_log.format[1]",
     "unknown field \"nope\"; the fields are: time "},
    {"access_log: { format: [status, status] }\n", 1, 32, "access_log.format[1]",
     "listed twice"},
    {"access_log: { format: [] }\n", 1, 23, "access_log.format",
     "at least one name"},
    {"access_log: { path: a.log, syslog: \"udp:127.0.0.1:514\" }\n", 1, 28, "access_log",
     "path and syslog are exclusive"},
    {"access_log: { syslog: \"udp:127.0.0.1:514\", buffer: 4k }\n", 1, 44, "access_log",
     "buffer applies to a file"},
    {"access_log: { tag: gw }\n", 1, 15, "access_log",
     "tag applies to syslog only"},
    {"access_log: { syslog: \"tcp:127.0.0.1:514\" }\n", 1, 23, "access_log.syslog",
     "expected \"unix:/path\" or \"udp:host:port\""},
    {"access_log: { syslog: \"udp:127.0.0.1:99999\" }\n", 1, 23, "access_log.syslog",
     "expected \"udp:HOST:PORT\""},
    {"access_log: { syslog: \"unix:/dev/log\", facility: local9 }\n", 1, 50, "access_log.facility",
     "expected one of kern, user"},
    {"access_log: { syslog: \"unix:/dev/log\", severity: warning }\n", 1, 50, "access_log.severity",
     "expected one of emerg"},
    {"access_log: { syslog: \"unix:/dev/log\", tag: \"a b\" }\n", 1, 45, "access_log.tag",
     "expected 1 to 32 letters"},
    {"shm_size: 10k\n", 1, 11, "shm_size", "expected a size from 64k to 16g"},
    {"shm_size: 1x\n", 1, 11, "shm_size", "got \"1x\""},
    {"http:\n  send_timeout: 10 s\n", 2, 17, "http.send_timeout",
     "expected a duration above 0 like 250ms, 2s, 1m or 1h, got \"10 s\""},
    {"http:\n  client_header_timeout: 0\n", 2, 26, "http.client_header_timeout", "above 0"},
    {"http:\n  max_header_line: 64k\n  max_header_size: 32k\n", 2, 3, "http",
     "max_header_line (65536) is larger than max_header_size (32768)"},
    {"admin: { listen: \"0.0.0.0:8080\" }\n", 1, 8, "admin", "also in listen[0]"},
    {"admin: { listen: \"127.0.0.1:81\" }\nlisten: [\"127.0.0.1:80\", \"127.0.0.1:81\"]\n", 1, 8,
     "admin", "also in listen[1]"},
    {"admin: {}\n", 1, 8, "admin", "missing required key \"listen\""},
    {"redis: { db: 1 }\n", 1, 8, "redis", "missing required key \"address\""},
    {"redis: { address: \"127.0.0.1:6379\", db: -1 }\n", 1, 41, "redis.db",
     "expected an integer from 0 to 65535, got \"-1\""},
    {"global_plugins: [a]\n", 1, 17, "global_plugins", "expected a mapping of plugin name"},
    {"consumers: [{ credentials: {} }]\n", 1, 13, "consumers[0]", "missing required key"},
    {"upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\"]\n    health_check: { activ: {} }\n",
     4, 21, "upstreams[0].health_check.activ", "did you mean \"active\""},
    {"upstreams:\n  - name: u\n    balancer: round_robin\n    nodes: [\"127.0.0.1:1\"]\n", 3,
     15, "upstreams[0].balancer", "unknown balancer \"round_robin\" (did you mean \"roundrobin\"?)"},
    {"upstreams:\n  - name: u\n    balancer: fastest\n    nodes: [\"127.0.0.1:1\"]\n", 3, 15,
     "upstreams[0].balancer",
     "expected roundrobin, least_conn, ip_hash, chash, ewma, random or sticky, got \"fastest\""},
    {"upstreams:\n  - nodes: [\"127.0.0.1:1\"]\n", 2, 5, "upstreams[0]",
     "missing required key \"name\""},
    {"upstreams:\n  - name: u\n", 2, 5, "upstreams[0]", "missing required key \"nodes\""},
    {"upstreams:\n  - name: u\n    nodes: []\n", 3, 12, "upstreams[0].nodes",
     "expected from 1 to 256 nodes, got 0"},
    {"upstreams:\n  - name: \"a b\"\n    nodes: [\"127.0.0.1:1\"]\n", 2, 11, "upstreams[0].name",
     "letters, digits"},
    {"upstreams:\n"
     "  - name: u\n"
     "    nodes:\n"
     "      - { address: \"127.0.0.1:9001\" }\n"
     "      - { address: \"127.0.0.1:9002\", weight: abc }\n",
     5, 46, "upstreams[0].nodes[1].weight", "expected an integer from 1 to 1000, got \"abc\""},
    {"upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\", {address: \"127.0.0.1:1\"}]\n", 3, 28,
     "upstreams[0].nodes[1]", "already a node (nodes[0])"},
    {"upstreams:\n  - name: u\n    nodes: [{weight: 2}]\n", 3, 13, "upstreams[0].nodes[0]",
     "missing required key \"address\""},
    {"upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\"]\n    retries: 17\n", 4, 14,
     "upstreams[0].retries", "expected an integer from 0 to 16, got \"17\""},
    {"upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\"]\n    timeouts: { conect: 1s }\n", 4, 17,
     "upstreams[0].timeouts.conect", "did you mean \"connect\"?"},
    {"upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\"]\n"
     "  - name: u\n    nodes: [\"127.0.0.1:2\"]\n",
     4, 11, "upstreams[1].name", "duplicate upstream name \"u\" (also upstreams[0])"},
    {"upstreams: {name: u}\n", 1, 12, "upstreams", "expected a list, got a mapping"},
    {"routes:\n  - paths: [\"/\"]\n    upstream: nope\n", 3, 15, "routes[0].upstream",
     "unknown upstream \"nope\""},
    {"upstreams: [{ name: u, nodes: [\"127.0.0.1:1\"] }]\n"
     "routes:\n  - paths: [\"/\"]\n    upstream: u\n    return: { status: 200 }\n",
     5, 5, "routes[0].return", "either \"upstream\" or \"return\", not both"},
    {"routes:\n  - paths: [\"/\"]\n", 2, 5, "routes[0]", "missing \"upstream\""},
    {"routes:\n  - return: { status: 200 }\n", 2, 5, "routes[0]",
     "missing \"paths\" (path patterns) or \"path_regex\""},
    {"routes:\n  - path_regex: \"a(\"\n    return: { status: 200 }\n", 2, 17, "routes[0].path_regex",
     "bad regular expression \"a(\": missing closing parenthesis at offset 2"},
    {"routes:\n  - path_regex: \"^x\"\n    return: { status: 200 }\n", 2, 17, "routes[0].path_regex",
     "can never match a path"},
    {"routes:\n  - path_regex: \"\"\n    return: { status: 200 }\n", 2, 17, "routes[0].path_regex",
     "expected a non-empty string"},
    {"lua: { regex_cache_size: 0 }\n", 1, 26, "lua.regex_cache_size", "expected an integer from 1"},
    {"routes:\n  - paths: [\"api\"]\n    return: { status: 200 }\n", 2, 13, "routes[0].paths[0]",
     "must start with '/'"},
    {"routes:\n  - paths: [\"/a*\"]\n    return: { status: 200 }\n", 2, 13, "routes[0].paths[0]",
     "'*' is only allowed"},
    {"routes:\n  - paths: [\"/a//b\"]\n    return: { status: 200 }\n", 2, 13, "routes[0].paths[0]",
     "empty segment"},
    {"routes:\n  - paths: [\"/\"]\n    priority: \"1\\n2\"\n    return: { status: 200 }\n", 3, 15,
     "routes[0].priority", "got \"1?2\""},
    {"routes:\n  - paths: [\"/\"]\n    hosts: [\"a.com:80\"]\n    return: { status: 200 }\n", 3, 13,
     "routes[0].hosts[0]", "must not contain a port"},
    {"routes:\n  - paths: [\"/\"]\n    methods: [GET, get]\n    return: { status: 200 }\n", 3, 20,
     "routes[0].methods[1]", "did you mean \"GET\"?"},
    {"routes:\n  - paths: [\"/\"]\n    methods: [FETCH]\n    return: { status: 200 }\n", 3, 15,
     "routes[0].methods[0]", "unknown HTTP method \"FETCH\""},
    {"routes:\n  - paths: [\"/\"]\n    return: { status: 99 }\n", 3, 23, "routes[0].return.status",
     "expected an integer from 100 to 599, got \"99\""},
    {"routes:\n  - paths: [\"/\"]\n    return: { body: hi }\n", 3, 13, "routes[0].return",
     "missing required key \"status\""},
    {"routes:\n  - paths: [\"/\"]\n    return: { status: 200 }\n    plugins: { Key: {} }\n", 4,
     16, "routes[0].plugins.Key", "a plugin name is"},
    {"routes:\n  - paths: [\"/\"]\n    return: { status: 200 }\n    rate_limit: [{ rate: 10 }]\n",
     4, 26, "routes[0].rate_limit[0].rate", "expected a rate N/s"},
    {"routes:\n  - { name: a, paths: [\"/a\"], return: { status: 200 } }\n"
     "  - { name: a, paths: [\"/b\"], return: { status: 200 } }\n",
     3, 13, "routes[1].name", "duplicate route name \"a\" (also routes[0])"},
    {"routes:\n  - { paths: [\"/a\"], return: { status: 200 } }\n"
     "  - { name: route#1, paths: [\"/b\"], return: { status: 200 } }\n",
     3, 13, "routes[1].name", "duplicate route name \"route#1\""},
    {"routes:\n  - paths: [\"/\"]\n    return: { status: 200 }\n    priority: high\n", 4, 15,
     "routes[0].priority", "expected an integer"},
    {"listen: [\"1.2.3.4:80\"\n", 2, 1, "", "YAML syntax error"},
    {"a: 1\n---\nb: 2\n", 3, 1, "", "only one YAML document"},
    {"- 1\n- 2\n", 1, 1, "", "expected a mapping, got a list"},
};

START_TEST(test_errors)
{
    parse_err(errors[_i].yaml, errors[_i].line, errors[_i].col, errors[_i].key, errors[_i].msg);
}
END_TEST

START_TEST(test_error_format_and_file_errors)
{
    mg_conf_err_t err;
    char buf[1500];
    const char *y = "routes:\n  - paths: [\"/\"]\n    upstream: userz\n";
    ck_assert_ptr_null(mg_conf_parse(y, strlen(y), "gw.yaml", NULL, &err));
    ck_assert_str_eq(mg_conf_err_format(&err, buf, sizeof(buf)),
                     "gw.yaml:3:15: routes[0].upstream: unknown upstream \"userz\" "
                     "(no upstreams are defined)");

    ck_assert_ptr_null(mg_conf_load("t/unit/no-such-file.yaml", NULL, &err));
    ck_assert_int_eq(err.line, 0);
    ck_assert_ptr_nonnull(strstr(mg_conf_err_format(&err, buf, sizeof(buf)), "cannot open"));

    size_t big = (4u << 20) + 1;
    char *huge = malloc(big);
    ck_assert_ptr_nonnull(huge);
    memset(huge, '\n', big);
    ck_assert_ptr_null(mg_conf_parse(huge, big, "big.yaml", NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than 4 MiB"));
    free(huge);
}
END_TEST

/* Aliases are resolved; a billion-laughs document fails at its first wrong value instead
 * of being expanded. */
START_TEST(test_aliases)
{
    mg_conf_err_t err;
    const char *y = "upstreams:\n"
                    "  - name: a\n"
                    "    timeouts: &t { connect: 1s, read: 2s }\n"
                    "    nodes: [&n \"127.0.0.1:1\"]\n"
                    "  - name: b\n"
                    "    timeouts: *t\n"
                    "    nodes: [*n]\n";
    mg_conf_t *c = mg_conf_parse(y, strlen(y), "t.yaml", NULL, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->upstreams[1].connect_timeout == 1 && c->upstreams[1].read_timeout == 2);
    ck_assert_int_eq(port_of(&c->upstreams[1].nodes[0].addr), 1);
    mg_conf_destroy(c);

    /* nine levels of ten-fold aliases: 10^9 nodes if expanded */
    char bomb[2048];
    int off = snprintf(bomb, sizeof(bomb), "http: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++) {
        off += snprintf(bomb + off, sizeof(bomb) - (size_t)off,
                        "k%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i,
                        i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    }
    ck_assert_ptr_null(mg_conf_parse(bomb, (size_t)off, "bomb.yaml", NULL, &err));
    ck_assert_str_eq(err.key, "http");
}
END_TEST

#define UP_HEAD "upstreams:\n  - name: u\n    nodes: [\"127.0.0.1:1\"]\n"

/* queue.size and its older name max_pending, queue.timeout, max_connecting. */
START_TEST(test_upstream_queue_keys)
{
    mg_conf_t *c = parse_ok(UP_HEAD);
    const mg_health_conf_t *h = &c->upstreams[0].health;
    ck_assert_int_eq(h->max_pending, 100);
    ck_assert(h->queue_timeout == 0); /* the connect timeout */
    ck_assert_int_eq(h->max_connecting, MG_CONF_MAX_CONNECTING);
    mg_conf_destroy(c);

    c = parse_ok(UP_HEAD "    queue: { size: 7, timeout: 250ms }\n    max_connecting: 0\n");
    h = &c->upstreams[0].health;
    ck_assert_int_eq(h->max_pending, 7);
    ck_assert(fabs(h->queue_timeout - 0.25) < 1e-9);
    ck_assert_int_eq(h->max_connecting, 0);
    mg_conf_destroy(c);

    c = parse_ok(UP_HEAD "    max_pending: 3\n    queue: { timeout: 1s }\n");
    ck_assert_int_eq(c->upstreams[0].health.max_pending, 3);
    mg_conf_destroy(c);

    parse_err(UP_HEAD "    max_pending: 3\n    queue: { size: 4 }\n", 5, 20, "upstreams[0].queue.size",
              "max_pending and queue.size are the same setting");
    parse_err(UP_HEAD "    queue: { size: 4 }\n    max_pending: 3\n", 5, 18, "upstreams[0].max_pending",
              "queue.size and max_pending are the same setting");
    parse_err(UP_HEAD "    queue: { timeout: 0 }\n", 4, 23, "upstreams[0].queue.timeout",
              "a duration above 0");
    parse_err(UP_HEAD "    queue: { size: -1 }\n", 4, 20, "upstreams[0].queue.size",
              "expected an integer from 0");
    parse_err(UP_HEAD "    queue: { sise: 1 }\n", 4, 14, "upstreams[0].queue.sise", "unknown key");
    parse_err(UP_HEAD "    queue: 5\n", 4, 12, "upstreams[0].queue", "expected a mapping");
    parse_err(UP_HEAD "    max_connecting: -1\n", 4, 21, "upstreams[0].max_connecting",
              "expected an integer from 0");
}
END_TEST

START_TEST(test_parse_duration)
{
    double d;
    ck_assert_int_eq(mg_conf_parse_duration("250ms", &d), MG_OK);
    ck_assert(fabs(d - 0.25) < 1e-12);
    ck_assert_int_eq(mg_conf_parse_duration("2s", &d), MG_OK);
    ck_assert(d == 2);
    ck_assert_int_eq(mg_conf_parse_duration("1m", &d), MG_OK);
    ck_assert(d == 60);
    ck_assert_int_eq(mg_conf_parse_duration("1h", &d), MG_OK);
    ck_assert(d == 3600);
    ck_assert_int_eq(mg_conf_parse_duration("7", &d), MG_OK);
    ck_assert(d == 7);
    ck_assert_int_eq(mg_conf_parse_duration("0", &d), MG_OK);
    ck_assert(d == 0);
    ck_assert_int_eq(mg_conf_parse_duration("1.5s", &d), MG_OK);
    ck_assert(d == 1.5);
    ck_assert_int_eq(mg_conf_parse_duration(".5", &d), MG_OK);
    ck_assert(d == 0.5);
    static const char *const bad[] = {"",    "s",     "-1s",      "+1s",  "1 s", " 1s",
                                      "1s ", "1d",    "1sec",     "0x10", "1e3", "inf",
                                      "nan", "1..2s", "9999999h", "1S"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_conf_parse_duration(bad[i], &d) == MG_ERROR, "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(mg_conf_parse_duration(NULL, &d), MG_ERROR);
}
END_TEST

START_TEST(test_parse_size)
{
    size_t n;
    ck_assert_int_eq(mg_conf_parse_size("512", &n), MG_OK);
    ck_assert_uint_eq(n, 512);
    ck_assert_int_eq(mg_conf_parse_size("0", &n), MG_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(mg_conf_parse_size("8k", &n), MG_OK);
    ck_assert_uint_eq(n, 8192);
    ck_assert_int_eq(mg_conf_parse_size("8K", &n), MG_OK);
    ck_assert_uint_eq(n, 8192);
    ck_assert_int_eq(mg_conf_parse_size("1m", &n), MG_OK);
    ck_assert_uint_eq(n, 1 << 20);
    ck_assert_int_eq(mg_conf_parse_size("1g", &n), MG_OK);
    ck_assert_uint_eq(n, 1 << 30);
    static const char *const bad[] = {"",
                                      "k",
                                      "-1",
                                      "+1",
                                      "1.5k",
                                      "1kb",
                                      "1 k",
                                      " 1",
                                      "1t",
                                      "0x10",
                                      "99999999999999999999",
                                      "17179869184g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_conf_parse_size(bad[i], &n) == MG_ERROR, "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(mg_conf_parse_size(NULL, &n), MG_ERROR);
}
END_TEST

START_TEST(test_parse_addr)
{
    mg_addr_t a;
    char ip[64];
    ck_assert_int_eq(mg_conf_parse_addr("1.2.3.4:80", &a), MG_OK);
    ck_assert_str_eq(ip_of(&a, ip, sizeof(ip)), "1.2.3.4");
    ck_assert_int_eq(port_of(&a), 80);
    ck_assert_uint_eq(a.salen, sizeof(struct sockaddr_in));
    ck_assert_str_eq(a.text, "1.2.3.4:80");
    ck_assert_int_eq(mg_conf_parse_addr("[::1]:65535", &a), MG_OK);
    ck_assert_int_eq(a.sa.ss_family, AF_INET6);
    ck_assert_str_eq(ip_of(&a, ip, sizeof(ip)), "::1");
    ck_assert_int_eq(port_of(&a), 65535);
    ck_assert_uint_eq(a.salen, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(mg_conf_parse_addr("8080", &a), MG_OK);
    ck_assert_str_eq(ip_of(&a, ip, sizeof(ip)), "0.0.0.0");
    ck_assert_int_eq(port_of(&a), 8080);
    ck_assert_int_eq(mg_conf_parse_addr("localhost:80", &a), MG_OK);
    ck_assert(a.sa.ss_family == AF_INET || a.sa.ss_family == AF_INET6);
    ck_assert_int_eq(port_of(&a), 80);
    ck_assert_int_eq(mg_conf_parse_addr("1", &a), MG_OK);
    ck_assert_int_eq(port_of(&a), 1);
    static const char *const bad[] = {"",
                                      "0",
                                      "65536",
                                      "1.2.3.4",
                                      "1.2.3.4:",
                                      "1.2.3.4:0",
                                      "1.2.3.4:65536",
                                      "1.2.3.4:8o",
                                      "1.2.3:80",
                                      "256.1.1.1:80",
                                      ":80",
                                      "::1:80",
                                      "[::1]80",
                                      "[::1]",
                                      "[zz]:80",
                                      "a b:80",
                                      "1.2.3.4:-1",
                                      "1.2.3.4:+80",
                                      "no-such-host.invalid:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_conf_parse_addr(bad[i], &a) == MG_ERROR, "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(test_default_file_loads)
{
    mg_conf_err_t err;
    char buf[1500];
    mg_conf_t *c = mg_conf_load("conf/moongate.yaml", NULL, &err);
    ck_assert_msg(c != NULL, "%s", mg_conf_err_format(&err, buf, sizeof(buf)));
    ck_assert_int_eq(c->file[0], '/');
    ck_assert_uint_eq(c->nlisten, 1);
    ck_assert_int_eq(port_of(&c->listen[0].addr), 8080);
    ck_assert_ptr_nonnull(c->admin);
    ck_assert_str_eq(c->admin->addr.text, "127.0.0.1:9180");
    const mg_upstream_conf_t *u = mg_conf_upstream(c, "self");
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->host, "backend.local");
    ck_assert_str_eq(u->nodes[0].addr.text, "127.0.0.1:8080");
    ck_assert_uint_eq(c->nroutes, 6);
    ck_assert_str_eq(c->routes[0].name, "backend");
    ck_assert_str_eq(c->routes[0].hosts[0], "backend.local");
    ck_assert_str_eq(c->routes[0].paths[0], "/*");
    ck_assert_int_eq(c->routes[0].ret->status, 200);
    ck_assert_str_eq(c->routes[0].ret->content_type, "application/json");
    ck_assert_str_eq(c->routes[0].ret->body, "{\"message\":\"hello from moongate\"}\n");
    ck_assert_str_eq(c->routes[1].name, "hello");
    ck_assert_str_eq(c->routes[1].ret->body, "hello world\n");
    ck_assert_str_eq(c->routes[2].name, "api");
    ck_assert_str_eq(c->routes[2].paths[0], "/api/*");
    ck_assert_ptr_eq(c->routes[2].upstream, u);
    ck_assert_uint_eq(c->routes[2].nrate_limits, 1);
    mg_conf_destroy(c);
}
END_TEST

static bool restart(const char *a, const char *b)
{
    mg_conf_t *x = parse_ok(a), *y = parse_ok(b);
    bool r = mg_conf_needs_restart(x, y);
    mg_conf_destroy(x);
    mg_conf_destroy(y);
    return r;
}

START_TEST(test_needs_restart)
{
    const char *base = "listen: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nworker_processes: 2\n";
    ck_assert(!restart(base, base));
    ck_assert(!restart(base, "listen: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nworker_processes: 2\n"
                             "routes: [{ paths: [\"/\"], return: { status: 200 } }]\n"
                             "http: { keepalive_timeout: 1s }\n"));
    ck_assert(restart(base, "listen: [\"127.0.0.1:2\", \"127.0.0.1:1\"]\nworker_processes: 2\n"));
    ck_assert(restart(base, "listen: [\"127.0.0.1:1\"]\nworker_processes: 2\n"));
    ck_assert(restart(base, "listen: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nworker_processes: 3\n"));
    const char *admin9 = "admin: { listen: \"127.0.0.1:9\" }\n";
    const char *admin8 = "admin: { listen: \"127.0.0.1:8\" }\n";
    ck_assert(restart("", admin9));
    ck_assert(restart(admin9, ""));
    ck_assert(restart(admin9, admin8));
    ck_assert(!restart(admin9, admin9));
    ck_assert(restart("", "shm_size: 2m\n"));
    ck_assert(restart("", "pid_file: other.pid\n"));
    ck_assert(mg_conf_needs_restart(NULL, NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_resolver);
    tcase_add_test(tc, test_dns_nodes);
    tcase_add_test(tc, test_every_top_key);
    tcase_add_test(tc, test_access_log_shapes);
    tcase_add_test(tc, test_every_upstream_key);
    tcase_add_test(tc, test_every_route_key);
    tcase_add_test(tc, test_websocket_keys);
    tcase_add_test(tc, test_scalar_forms);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(errors) / sizeof(errors[0])));
    tcase_add_test(tc, test_error_format_and_file_errors);
    tcase_add_test(tc, test_aliases);
    tcase_add_test(tc, test_upstream_queue_keys);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_addr);
    tcase_add_test(tc, test_default_file_loads);
    tcase_add_test(tc, test_needs_restart);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
