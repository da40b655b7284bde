/*
 * resolver.h -- a worker's non-blocking DNS resolver: c-ares on the worker's libev loop,
 * with a cache of answers (resolver_cache.h).
 *
 *   mg_resolver_resolve(host)
 *     ├─ an IP literal, "localhost", a name under "invalid" (RFC 6761), a fresh cache
 *     │  entry or a bad name: answered at once, in *now (no callback)
 *     └─ else a waiter (mg_resolver_query_t): it joins the lookup already running for
 *        the same name and family, or starts one; its callback comes from the loop
 *        with the answer, or with an error when the lookup fails or the waiter's own
 *        deadline passes first (the lookup then goes on for the others and the cache)
 *
 * Caching: positive answers live for the smallest TTL of the answer (at least 1 s), or
 * for conf->valid when it is set; "no such host" and "no address" for
 * MG_RESOLVER_NEGATIVE_TTL; other failures (timeouts, refusals, server failures) are
 * not cached. At most MG_RESOLVER_CACHE_MAX names, least recently used out first.
 *
 * Name servers: conf->servers, else those of /etc/resolv.conf (with its search list
 * and options, as c-ares reads them); /etc/hosts is read first, as c-ares does.
 * Everything runs on the loop: no thread, no blocking call but that file read.
 */
#ifndef MG_RESOLVER_H
#define MG_RESOLVER_H

#include "conf.h"
#include "mg_core.h"
#include "resolver_cache.h"

#include <ev.h>
#include <sys/socket.h>

#define MG_RESOLVER_CACHE_MAX 1024   /* names kept per resolver */
#define MG_RESOLVER_NEGATIVE_TTL 5.0 /* seconds a "no such host" is kept */
#define MG_RESOLVER_MIN_TTL 1.0      /* answers with a smaller TTL are kept this long */

typedef struct mg_resolver_s mg_resolver_t;
typedef struct mg_resolver_query_s mg_resolver_query_t;

/* An answer: naddrs > 0 addresses (port 0, in the answer's order), or naddrs == 0
 * and err, a static text ("host not found", "DNS timeout", ...). */
typedef struct {
    size_t naddrs;
    struct sockaddr_storage addrs[MG_RESOLVER_MAX_ADDRS];
    const char *err;
    double ttl; /* seconds the answer stays fresh from now: the TTL, or conf->valid when
                 * set; 0 for IP literals, "localhost" and errors */
} mg_resolver_answer_t;

/* A waiter's answer, borrowed for the call. Called from the loop, exactly once unless
 * the waiter was cancelled first; its query handle is freed after the call returns.
 * The callback may resolve and cancel on the same resolver, never destroy it. */
typedef void (*mg_resolver_cb)(void *arg, const mg_resolver_answer_t *a);

/* A resolver on `loop` for `conf` (borrowed: what is needed is copied, the resolver
 * may outlive the snapshot). NULL with a message in err (errlen bytes) when c-ares
 * cannot be set up or refuses the servers. */
mg_resolver_t *mg_resolver_new(struct ev_loop *loop, const mg_resolver_conf_t *conf, char *err,
                               size_t errlen);

/* Frees r. Waiters still pending are dropped: their callbacks are never called, their
 * handles become invalid. Must not be called from a callback of r. NULL is a no-op. */
void mg_resolver_free(mg_resolver_t *r);

/* Resolves `host` (a name or an IP literal without brackets; borrowed for the call)
 * for `family` (AF_UNSPEC, AF_INET or AF_INET6). Returns NULL when answered at once,
 * with the answer (or its error) in *now; else a waiter whose cb(arg, answer) comes
 * from the loop. `timeout` (s) is the waiter's own deadline; <= 0 or larger than
 * conf->timeout means conf->timeout. Never calls cb before returning. */
mg_resolver_query_t *mg_resolver_resolve(mg_resolver_t *r, const char *host, int family,
                                         double timeout, mg_resolver_cb cb, void *arg,
                                         mg_resolver_answer_t *now);

/* The waiter's owner is gone: its callback will not be called; q is freed. */
void mg_resolver_cancel(mg_resolver_query_t *q);

/* True when r was made for settings equal to conf's (a reload may keep it). */
bool mg_resolver_conf_same(const mg_resolver_t *r, const mg_resolver_conf_t *conf);

/* Waiters not answered yet (a retired resolver is freed once it has none). */
size_t mg_resolver_pending(const mg_resolver_t *r);

/* ---- SRV records (RFC 2782) ---- */

#define MG_RESOLVER_MAX_SRV 64 /* records kept per SRV answer */

typedef struct mg_resolver_srvq_s mg_resolver_srvq_t;

typedef struct {
    char target[MG_RESOLVER_NAME_MAX + 1]; /* without a final dot */
    uint16_t priority, weight, port;
} mg_resolver_srv_t;

/* An SRV answer: n > 0 records (as the server sent them), or n == 0 and err. */
typedef struct {
    size_t n;
    mg_resolver_srv_t recs[MG_RESOLVER_MAX_SRV];
    const char *err;
    double ttl; /* the answer's smallest TTL, or conf->valid when set; 0 with err */
} mg_resolver_srv_answer_t;

/* An SRV answer, borrowed for the call. Called from the loop exactly once unless the
 * query was cancelled first (or the resolver freed); the handle is freed after it. */
typedef void (*mg_resolver_srv_cb)(void *arg, const mg_resolver_srv_answer_t *a);

/* Asks for the SRV records of `name` (borrowed for the call). Not cached: the caller
 * asks again when the answer's TTL runs out. Returns the query handle, or NULL (with
 * no callback) when the name is bad or memory is short. Never calls cb before
 * returning; c-ares' retries and the resolver's timeout bound the wait. */
mg_resolver_srvq_t *mg_resolver_srv(mg_resolver_t *r, const char *name, mg_resolver_srv_cb cb,
                                    void *arg);

/* The query's owner is gone: its callback will not be called. NULL is a no-op. */
void mg_resolver_srv_cancel(mg_resolver_srvq_t *q);

/* The smallest TTL of the answer records of a DNS message (len bytes), or -1 when the
 * message is malformed or has no answer record. */
int mg_resolver_msg_ttl(const unsigned char *msg, size_t len);

/* Figures since creation. */
typedef struct {
    uint64_t queries;  /* lookups sent to c-ares (one per name, however many waiters) */
    uint64_t hits;     /* answered from the cache, negative answers included */
    uint64_t joined;   /* waiters that joined a lookup already running */
    uint64_t failures; /* lookups that ended without an address */
    uint64_t timeouts; /* waiters whose deadline passed first */
    size_t cached;     /* names in the cache now */
} mg_resolver_stats_t;
void mg_resolver_stats(const mg_resolver_t *r, mg_resolver_stats_t *out);

#endif
