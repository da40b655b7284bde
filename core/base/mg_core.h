/*
 * mg_core.h -- what every moongate C file needs: return codes, string views,
 * forward type declarations (so headers never include each other in cycles)
 * and a few tiny helpers.
 */
#ifndef MG_CORE_H
#define MG_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define MG_VERSION "0.1.0"

/* Shared return codes. A phase handler may return an HTTP status (> 0) instead. */
#define MG_OK 0
#define MG_ERROR -1
#define MG_AGAIN -2
#define MG_DECLINED -3
#define MG_DONE -4

#define MG_UNUSED(x) ((void)(x))
#define MG_NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MG_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A borrowed, not necessarily NUL-terminated, byte range. */
typedef struct mg_str_s {
    const char *p;
    size_t len;
} mg_str_t;

#define MG_STR(lit) ((mg_str_t){(lit), sizeof(lit) - 1})
#define MG_NULL_STR ((mg_str_t){NULL, 0})

static inline mg_str_t mg_str(const char *p, size_t len)
{
    mg_str_t s = {p, len};
    return s;
}

static inline bool mg_str_eq(mg_str_t a, mg_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ASCII case-insensitive comparison of n bytes. */
bool mg__str_casecmp_n(const char *a, const char *b, size_t n);

/* ASCII case-insensitive equality (header names, methods, hosts). Inline: most calls
 * compare header names of different lengths, which the length settles. */
static inline bool mg_str_caseeq(mg_str_t a, mg_str_t b)
{
    /* the first byte, case folded by its 0x20 bit, settles most of the rest: a cheap
     * filter before the loop (which alone decides) */
    return a.len == b.len && (a.len == 0 || ((a.p[0] ^ b.p[0]) & ~0x20) == 0) &&
           mg__str_casecmp_n(a.p, b.p, a.len);
}

/* FNV-1a, 32 bits: a fast hash for in-memory tables (not for anything adversarial
 * that must not collide; keys stay the same across processes of one build). */
uint32_t mg_hash32(const void *p, size_t len);

/* The view without leading and trailing spaces and tabs (HTTP's OWS). */
mg_str_t mg_str_trim(mg_str_t s);

/* Forward declarations of the main types; definitions live in the named header. */
typedef struct mg_pool_s mg_pool_t;                   /* pool.h */
typedef struct mg_conf_s mg_conf_t;                   /* conf.h */
typedef struct mg_route_conf_s mg_route_conf_t;       /* conf.h */
typedef struct mg_upstream_conf_s mg_upstream_conf_t; /* conf.h */
typedef struct mg_http_conf_s mg_http_conf_t;         /* conf.h */
typedef struct mg_router_s mg_router_t;               /* router.h */
typedef struct mg_gen_s mg_gen_t;                     /* gen.h */
typedef struct mg_worker_s mg_worker_t;               /* worker.h */
typedef struct mg_conn_s mg_conn_t;                   /* http.h */
typedef struct mg_request_s mg_request_t;             /* http.h */
typedef struct mg_http_chain_s mg_http_chain_t;       /* http_phase.h */
typedef struct mg_http_filters_s mg_http_filters_t;   /* http.h */
typedef struct mg_upstream_s mg_upstream_t;           /* upstream.h */
typedef struct mg_shm_zone_s mg_shm_zone_t;           /* shm.h */
typedef struct mg_balancer_s mg_balancer_t;           /* balancer.h */
typedef struct mg_lua_s mg_lua_t;                     /* lua_runtime.h */
typedef struct mg_lua_task_s mg_lua_task_t;           /* lua_runtime.h */

#endif
