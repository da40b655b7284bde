/*
 * conf_resolver.c -- the `resolver:` key: the name servers the workers' resolvers ask
 * (sys/resolver.h), how long answers are kept, the time a lookup may take.
 *
 *   resolver: { servers: ["127.0.0.1:53", "[::1]:5353"], valid: 30s, timeout: 5s }
 *
 * A name server is given by address, never by name: nothing would resolve it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf_int.h"

#define MAX_SERVERS 16
#define DNS_PORT 53

/* "IP", "IP:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6 address into *out. */
static int parse_server(const char *s, mg_addr_t *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    size_t n;
    bool v6 = s[0] == '[' || strchr(s, ':') != strrchr(s, ':');
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || (rb[1] != '\0' && rb[1] != ':')) {
            return MG_ERROR;
        }
        n = (size_t)(rb - s - 1);
        port = rb[1] == ':' ? rb + 2 : NULL;
        s++;
    } else {
        const char *colon = v6 ? NULL : strchr(s, ':');
        n = colon ? (size_t)(colon - s) : strlen(s);
        port = colon ? colon + 1 : NULL;
    }
    if (n == 0 || n >= sizeof(host)) {
        return MG_ERROR;
    }
    memcpy(host, s, n);
    host[n] = '\0';
    long p = DNS_PORT;
    if (port != NULL) {
        char *end;
        p = port[0] >= '0' && port[0] <= '9' ? strtol(port, &end, 10) : 0;
        if (p < 1 || p > 65535 || *end != '\0') {
            return MG_ERROR;
        }
    }
    memset(&out->sa, 0, sizeof(out->sa));
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->sa;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        out->salen = sizeof(*a6);
        return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 ? MG_OK : MG_ERROR;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)p);
    out->salen = sizeof(*a4);
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? MG_OK : MG_ERROR;
}

static int read_server(mg__conf_ctx_t *c, yaml_node_t *v, mg_addr_t *out)
{
    if (mg__conf_str(c, v, &out->text) != MG_OK) {
        return MG_ERROR;
    }
    if (parse_server(out->text, out) != MG_OK) {
        return mg__conf_fail(c, v,
                             "expected a name server's IP address with an optional port "
                             "(\"127.0.0.1\", \"127.0.0.1:5353\", \"[::1]:53\"), got \"%s\"",
                             out->text);
    }
    return MG_OK;
}

static int on_servers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_resolver_conf_t *rc = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n > MAX_SERVERS) {
        return mg__conf_fail(c, v, "expected at most %d name servers, got %zu", MAX_SERVERS, n);
    }
    mg_addr_t *s = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*s));
    if (s == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (read_server(c, items[i], &s[i]) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (mg__conf_addr_eq(&s[j], &s[i])) {
                return mg__conf_fail(c, items[i],
                                     "name server \"%s\" is already listed "
                                     "(servers[%zu])",
                                     s[i].text, j);
            }
        }
        mg__conf_pop(c, saved);
    }
    rc->servers = s;
    rc->nservers = n;
    return MG_OK;
}

static int on_valid(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, true, &((mg_resolver_conf_t *)obj)->valid);
}

static int on_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_resolver_conf_t *)obj)->timeout);
}

static const mg__conf_field_t resolver_fields[] = {
    {"servers", on_servers, NULL},
    {"valid", on_valid, NULL},
    {"timeout", on_timeout, NULL},
};

int mg__conf_on_resolver(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, resolver_fields, MG_NELEMS(resolver_fields), &c->conf->resolver,
                        &seen);
}
