/*
 * lua_cidr.c -- CIDR matchers for plugins (the bundled ip-restriction): a set of
 * IPv4/IPv6 ranges parsed and merged once, when a plugin config is first used, then
 * matched against a client address per request with one binary search (base/cidr.c,
 * the matcher behind trusted_proxies).
 *
 * A matcher is malloc'd, owned by the Lua side (ffi.gc frees it with
 * mg_lua_cidr_free) and never shared between workers or states. Ranges are collected
 * with mg_lua_cidr_add, then mg_lua_cidr_build sorts and merges them; matching before
 * the build, or adding after it, is refused.
 */
#include "cidr.h"
#include "lua_int.h"
#include "lua_ffi.h"
#include "pool.h"

#include <stdlib.h>
#include <string.h>

struct mg_lua_cidr_s {
    mg_pool_t *pool;   /* the built set's memory */
    mg_cidr_t *ranges; /* collected ranges (malloc'd), freed by the build */
    size_t n, cap;
    mg_cidr_set_t *set; /* NULL until built */
};

mg_lua_cidr_t *mg_lua_cidr_new(void)
{
    mg_lua_cidr_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->pool = mg_pool_create(4096);
    if (m->pool == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void mg_lua_cidr_free(mg_lua_cidr_t *m)
{
    if (m == NULL) {
        return;
    }
    free(m->ranges);
    mg_pool_destroy(m->pool);
    free(m);
}

int mg_lua_cidr_parse(const char *s, size_t len, const char **why)
{
    mg_cidr_t c;
    *why = NULL;
    return mg_cidr_parse(s, len, &c, why);
}

int mg_lua_cidr_add(mg_lua_cidr_t *m, const char *s, size_t len, const char **why)
{
    mg_cidr_t c;
    *why = NULL;
    if (m->set != NULL) {
        *why = "the matcher is already built";
        return MG_ERROR;
    }
    if (mg_cidr_parse(s, len, &c, why) != MG_OK) {
        return MG_ERROR;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        mg_cidr_t *r = realloc(m->ranges, cap * sizeof(*r));
        if (r == NULL) {
            *why = "out of memory";
            return MG_ERROR;
        }
        m->ranges = r;
        m->cap = cap;
    }
    m->ranges[m->n++] = c;
    return MG_OK;
}

int mg_lua_cidr_build(mg_lua_cidr_t *m)
{
    if (m->set != NULL) {
        return MG_OK;
    }
    m->set = mg_cidr_set_build(m->pool, m->ranges, m->n);
    if (m->set == NULL) {
        return MG_ERROR;
    }
    free(m->ranges);
    m->ranges = NULL;
    m->n = m->cap = 0;
    return MG_OK;
}

int mg_lua_cidr_match(const mg_lua_cidr_t *m, const char *addr, size_t len)
{
    mg_ip_t ip;
    if (m->set == NULL || mg_ip_parse(addr, len, &ip) != MG_OK) {
        return -1;
    }
    return mg_cidr_set_match(m->set, &ip) ? 1 : 0;
}

bool mg_lua_cidr_match_ip(const mg_lua_cidr_t *m, const mg_ip_t *ip)
{
    return m->set != NULL && mg_cidr_set_match(m->set, ip);
}

int mg_lua_cidr_count(const mg_lua_cidr_t *m)
{
    return (int)mg_cidr_set_count(m->set);
}
