/*
 * lua_ffi.h -- every declaration the Lua side hands to ffi.cdef, in one place: the C
 * functions lua/moongate/ calls through ffi.C (the binary links with -Wl,-E so that
 * ffi.C finds them) and the structs it reads and fills.
 *
 * How it stays the one source:
 *
 *  - Each region between the marker comments "ffi:begin <lua file>" and "ffi:end" is
 *    the text of that Lua file's ffi.cdef block. Comments, lines starting with '#' and
 *    whitespace aside, the two hold the same declarations (order free).
 *    t/unit/test_lua_ffi.c (run by `make check`) fails, naming each declaration that
 *    differs or is missing on either side, and for an ffi.cdef in a Lua file that has
 *    no region here.
 *  - The functions are real C prototypes. Every file that defines one includes this
 *    header, so the compiler checks each definition against it; where another header
 *    declares the same function for C callers (shdict.h, conf.h), it is included below
 *    and the compiler checks that declaration too. The test also resolves each function
 *    through ffi.C and checks that its defining file includes this header.
 *  - Structs the C side defines in its own headers (mg_str_t, mg_shdict_val_t,
 *    mg_rl_conf_t, mg_rl_result_t) cannot be defined a second time for C, so their FFI
 *    view sits under #ifdef MG_LUA_FFI_ONLY, which C never defines. The test loads the
 *    regions into LuaJIT and compares each view's size and each field's offset, size
 *    and kind with the C struct.
 *  - What is here is the subset of C that ffi.cdef reads: no macros, no expressions,
 *    enums as int in the views.
 *
 * Why not generate the Lua text from this header at build time: the Lua files would no
 * longer show what they call, and the runtime finds lua/ in three ways (next to the
 * binary, the installed share/moongate/lua, the t/ harness) that would each need the
 * generated file. A check that runs with the unit tests keeps both readable.
 *
 * All functions take the task handle the runtime was given for the current run (never
 * a pointer kept in Lua). Views (mg_str_t) are borrowed: valid until the request
 * changes them; the Lua side copies them into Lua strings at once. Strings passed in
 * are pointer + length and are copied. Return codes are the core's (MG_OK, MG_ERROR,
 * MG_AGAIN, MG_DECLINED); which phase may call what is the Lua side's check.
 */
#ifndef MG_LUA_FFI_H
#define MG_LUA_FFI_H

#include "conf.h"           /* mg_rl_conf_t; mg_conf_parse_rate/_duration for C callers */
#include "crypto.h"         /* mg_crypto_key_t */
#include "mg_core.h"        /* mg_str_t, mg_lua_task_t */
#include "ratelimit_algo.h" /* mg_rl_result_t */
#include "shdict.h"         /* mg_shdict_t, mg_shdict_val_t; mg_shdict_* for C callers */

/* ---- core/lua/lua_api.c: the plugin API (lua/moongate/ffi.lua) ---- */

/* ffi:begin lua/moongate/ffi.lua */
#ifdef MG_LUA_FFI_ONLY
typedef struct {
    const char *p;
    size_t len;
} mg_str_t;
#endif
typedef struct mg_lua_task_s mg_lua_task_t;

/* Request field `what` (ffi.lua's F numbers) as a view: MG_OK (a NULL view when the
 * request has none), MG_ERROR for no request or no such field. */
int mg_lua_req_get(mg_lua_task_t *t, int what, mg_str_t *out);
/* Sets field `what`: MG_OK, MG_DECLINED (a value the field cannot take) or MG_ERROR. */
int mg_lua_req_set(mg_lua_task_t *t, int what, const char *p, size_t len);
/* Number `what` (ffi.lua's N numbers); -1 for no request or no such number. */
double mg_lua_req_num(mg_lua_task_t *t, int what);
/* The idx-th (0-based) request header called `name` (any case): MG_OK or MG_DECLINED. */
int mg_lua_req_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out);
int mg_lua_req_header_count(mg_lua_task_t *t);
/* Header i in order: MG_OK, MG_DECLINED past the end. */
int mg_lua_req_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
/* mode: 0 set, 1 add, 2 clear. MG_OK, MG_DECLINED (a name or value that may not be set)
 * or MG_ERROR. */
int mg_lua_req_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                          size_t vlen, int mode);
/* Route params in order, then the wildcard as "*" when the route has one. */
int mg_lua_req_param_count(mg_lua_task_t *t);
int mg_lua_req_param_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
/* Matches the request again after a rewrite changed it: the new route index, or -1
 * when nothing matches (the request keeps its route). */
int mg_lua_req_reroute(mg_lua_task_t *t);
/* Reads the client's body up to `max` bytes: MG_AGAIN (yield until it is in), MG_OK
 * (nothing to wait for), MG_DECLINED (over max) or MG_ERROR. */
int mg_lua_req_body_read(mg_lua_task_t *t, size_t max);
/* The body read so far: MG_OK (complete), MG_DECLINED (none), MG_AGAIN (partial: over
 * the limit asked for). */
int mg_lua_req_body(mg_lua_task_t *t, mg_str_t *out);
/* Replaces the body sent upstream; the client's body must have been read whole first
 * (MG_DECLINED otherwise). */
int mg_lua_req_body_set(mg_lua_task_t *t, const char *p, size_t len);

/* The response as header_filter sees it. set_status: MG_DECLINED outside 200..599. */
int mg_lua_resp_status(mg_lua_task_t *t);
int mg_lua_resp_set_status(mg_lua_task_t *t, int status);
int mg_lua_resp_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out);
int mg_lua_resp_header_count(mg_lua_task_t *t);
int mg_lua_resp_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
int mg_lua_resp_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                           size_t vlen, int mode);
/* The body_filter chunk: MG_OK, *eof set on the last call. */
int mg_lua_body_chunk(mg_lua_task_t *t, mg_str_t *out, int *eof);
/* Adds a header to the answer a rewrite/access plugin gives (also called from C):
 * MG_OK, MG_DECLINED (invalid name or value) or MG_ERROR. */
int mg_lua_exit_header(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                       size_t vlen);

/* level: mg_log_level_t (out of range logs at error). t may be NULL (no request). */
void mg_lua_log(mg_lua_task_t *t, int level, const char *msg, size_t len);
/* The wall clock now (seconds), not the loop's cached time. */
double mg_lua_now(mg_lua_task_t *t);
/* runtime.lua starts the plugins of `phase` inside a run: the plugin time so far goes
 * to the phase before (mg_lua_phase_time). */
void mg_lua_phase_begin(mg_lua_task_t *t, int phase);
/* MG_AGAIN: yield, resumed after `seconds`; MG_ERROR where nothing can wait. */
int mg_lua_sleep(mg_lua_task_t *t, double seconds);

/* The request's upstream nodes (mg.upstream.set's upstream, else the route's), 0-based.
 * node_load: out[0] in flight, out[1] tries sent, out[2] tries failed, out[3] ewma
 * latency in seconds (0 = not measured). Each returns MG_DECLINED for no such node.
 * node_health fills, for the first n nodes at once: health[i] 0 healthy, 1 unhealthy
 * (active checks), 2 ejected (passive), 3 gone (DNS took it away); breaker[i]
 * MG_BREAKER_* or -1 without a breaker; available[i] 1 when the balancer may pick it now;
 * it returns how many it filled. set_peer picks the node of the first try: MG_OK,
 * MG_DECLINED (no such node), MG_AGAIN (unavailable, force 0). */
int mg_lua_upstream_node_count(mg_lua_task_t *t);
int mg_lua_upstream_node(mg_lua_task_t *t, int i, mg_str_t *addr, int *weight);
int mg_lua_upstream_node_load(mg_lua_task_t *t, int i, double *out);
int mg_lua_upstream_node_health(mg_lua_task_t *t, int n, int *health, int *breaker,
                                int *available);
int mg_lua_set_peer(mg_lua_task_t *t, int i, int force);

/* The watchdog's cells, read and written by runtime.lua around each plugin call:
 * plugin index * 8 + phase (-1 outside), and the task whose code runs now. */
int32_t *mg_lua_watch_cell(mg_lua_task_t *t);
mg_lua_task_t **mg_lua_task_cell(void);
/* Bytes the task's Lua state holds. */
size_t mg_lua_memory_used(mg_lua_task_t *t);

/* The consumer an access plugin named (NULL: none), kept on the request for the
 * consumer-limits phase. */
void mg_lua_req_set_consumer(mg_lua_task_t *t, const char *name, size_t len);
/* ffi:end */

/* ---- core/lua/lua_api.c: the request's upstream (lua/moongate/upstream.lua) ---- */

/* ffi:begin lua/moongate/upstream.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_upstream_marker {
    int unused;
};
#endif
/* Sends the request to upstream `name`: MG_OK, MG_DECLINED (no such upstream) or
 * MG_ERROR (the route answers by itself with `return:`). */
int mg_lua_upstream_set(mg_lua_task_t *t, const char *name, size_t len);
/* ffi:end */

/* ---- core/sys/shdict.c: mg.shared.<name> (lua/moongate/shared.lua); contracts in
 * shdict.h ---- */

/* ffi:begin lua/moongate/shared.lua */
typedef struct mg_shdict_s mg_shdict_t;
#ifdef MG_LUA_FFI_ONLY
typedef struct {
    int type;
    double num;
    size_t len;
    int stale;
} mg_shdict_val_t;
#endif
mg_shdict_t *mg_shdict_find(const char *name, size_t len);
int mg_shdict_get(mg_shdict_t *d, const char *key, size_t klen, mg_shdict_val_t *out, char *buf,
                  size_t cap, int stale_ok);
int mg_shdict_store(mg_shdict_t *d, int op, const char *key, size_t klen, int type, double num,
                    const char *str, size_t slen, double ttl, int *forcible);
int mg_shdict_incr(mg_shdict_t *d, const char *key, size_t klen, double delta, int has_init,
                   double init, double init_ttl, double *out, int *forcible);
int mg_shdict_delete(mg_shdict_t *d, const char *key, size_t klen);
int mg_shdict_ttl(mg_shdict_t *d, const char *key, size_t klen, double *out);
int mg_shdict_expire(mg_shdict_t *d, const char *key, size_t klen, double ttl);
long mg_shdict_get_keys(mg_shdict_t *d, size_t max, char *buf, size_t cap, size_t *need);
void mg_shdict_flush_all(mg_shdict_t *d);
size_t mg_shdict_count(mg_shdict_t *d);
size_t mg_shdict_capacity(mg_shdict_t *d);
size_t mg_shdict_free_space(mg_shdict_t *d);
/* ffi:end */

/* ---- core/lua/lua_http.c: mg.http.request (lua/moongate/http.lua) ---- */

/* ffi:begin lua/moongate/http.lua */
#ifdef MG_LUA_FFI_ONLY
/* Only a name: the Lua module looks it up to know its declarations are made. */
struct mg_lua_http_marker {
    int unused;
};
#endif
/* Starts a call for the task: MG_AGAIN (yield; resumed when it ended) or MG_ERROR with
 * a static reason in *err. `headers` is a block of "Name: value\r\n" lines the Lua side
 * checked; a first "Host: " line gives the Host value instead of the URL's authority. https: ssl_verify (0/1) checks the certificate against the system's CAs for
 * ssl_server_name (NULL: the URL's host), which is also sent as SNI. keepalive (0/1):
 * a connection the response leaves reusable is kept idle for keepalive_timeout s, at
 * most keepalive_pool of them for the same host, and later calls take it. */
int mg_lua_http(mg_lua_task_t *t, const char *method, const char *url, const char *headers,
                size_t hlen, const char *body, size_t blen, int has_body, double timeout,
                size_t max_body, int ssl_verify, const char *ssl_server_name, int keepalive,
                double keepalive_timeout, int keepalive_pool, const char **err);
/* After the resume: NULL when the call succeeded, else a static reason. */
const char *mg_lua_http_error(mg_lua_task_t *t);
int mg_lua_http_status(mg_lua_task_t *t);
int mg_lua_http_body(mg_lua_task_t *t, mg_str_t *out);
int mg_lua_http_header_count(mg_lua_task_t *t);
int mg_lua_http_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
/* Drops the call and what it received. */
void mg_lua_http_done(mg_lua_task_t *t);
/* ffi:end */

/* ---- core/lua/lua_socket.c: mg.socket, cosockets (lua/moongate/socket.lua) ---- */

/* ffi:begin lua/moongate/socket.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_socket_marker {
    int unused;
};
#endif
/* A socket for the task: its handle (> 0), or 0 with a static reason in *err (the
 * worker's cap). Handles are checked on every call: a closed or foreign one fails. */
int mg_lua_sock_new(mg_lua_task_t *t, const char **err);
/* Timeouts in seconds (< 0: unchanged). MG_OK; MG_ERROR (closed); MG_DECLINED
 * (another task's socket). */
int mg_lua_sock_timeouts(mg_lua_task_t *t, int h, double connect, double send, double read);
/* Each of these is called again after every MG_AGAIN (the Lua side yields between)
 * with the same arguments, until it answers something else; *err is a static reason. */
/* host: an address, a name (the worker's resolver) or "unix:/path"; pool: the pool's
 * name (NULL: "host:port"), pool_size its cap (<= 0: 30). MG_OK, MG_AGAIN, MG_ERROR. */
int mg_lua_sock_connect(mg_lua_task_t *t, int h, const char *host, int port, const char *pool,
                        int pool_size, const char **err);
/* TLS over the connection; server_name (NULL: the host connected to) is sent and
 * checked when verify is 1. MG_OK at once on a pooled TLS connection. */
int mg_lua_sock_tls(mg_lua_task_t *t, int h, const char *server_name, int verify,
                    const char **err);
/* Sends all of data: its length, MG_AGAIN, MG_ERROR. */
int mg_lua_sock_send(mg_lua_task_t *t, int h, const char *data, size_t len, const char **err);
/* mode: lua_socket.h's mg_sock_mode_t. MG_OK (data in *out, borrowed until the next
 * call), MG_DONE (receiveuntil: the delimiter was reached), MG_AGAIN, MG_ERROR (the
 * partial data in *out). */
int mg_lua_sock_receive(mg_lua_task_t *t, int h, int mode, size_t size, const char *pat,
                        size_t plen, int inclusive, mg_str_t *out, const char **err);
/* Into the keep-alive pool (idle: seconds, 0 for no limit; size <= 0: the connect's
 * pool_size). MG_OK; MG_ERROR when the connection cannot be kept (closed instead). */
int mg_lua_sock_keepalive(mg_lua_task_t *t, int h, double idle, int size, const char **err);
int mg_lua_sock_close(mg_lua_task_t *t, int h, const char **err);
/* Times the connection came from the pool; -1 when not connected. */
int mg_lua_sock_reused(mg_lua_task_t *t, int h);
/* opt: 0 SO_KEEPALIVE, 1 TCP_NODELAY, 2 SO_SNDBUF, 3 SO_RCVBUF. */
int mg_lua_sock_setoption(mg_lua_task_t *t, int h, int opt, int value, const char **err);
/* Sockets open in this worker (pooled == 0) or idle in its pools (1). */
int mg_lua_sock_count(mg_lua_task_t *t, int pooled);
/* ffi:end */

/* ---- core/lua/lua_timer.c: mg.timer (lua/moongate/timer.lua) ---- */

/* ffi:begin lua/moongate/timer.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_timer_marker {
    int unused;
};
#endif
/* Timers of this worker waiting for their time (running == 0) or running (1). */
int mg_lua_timer_count(mg_lua_task_t *t, int running);
/* A timer's function raised an error (the Lua side logged it): counted for /status. */
void mg_lua_timer_failed(mg_lua_task_t *t);
/* ffi:end */

/* ---- core/lua/lua_metrics.c: plugin calls counted, and mg.metrics
 * (lua/moongate/metrics.lua) ---- */

/* ffi:begin lua/moongate/metrics.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_metrics_marker {
    int unused;
};
#endif
/* The per-plugin series cells of state `state` (the light userdata runtime.init gets),
 * indexed by plugin index * 8 + phase: NULL when the state does not count (then nothing
 * below is called), NULL entries until the state is bound to its worker. */
uint64_t **mg_lua_plugin_cells(void *state);
/* Around one plugin function's call: enter returns a mark, leave counts the call (an
 * error unless ok) and the code's running time since the mark into `cells`. */
double mg_lua_plugin_enter(mg_lua_task_t *t);
void mg_lua_plugin_leave(mg_lua_task_t *t, uint64_t *cells, int ok, double mark);
/* Declares a metric of `plugin` (checked by the Lua side): labels are the names
 * joined by 0x1f. Returns its number, -1 when the state does not count (the metric is
 * then a no-op), -2 when out of room. */
int mg_lua_metric_declare(void *state, const char *plugin, const char *name, int type,
                          const char *help, size_t hlen, const char *labels, size_t llen,
                          int nlabels, const double *bounds, int nbounds, int max_series);
/* The cells of metric `metric`'s series for label values `vals` (joined by 0x1f; NULL
 * for the "_other" series) in this worker: found or added within the metric's bound,
 * else the "_other" series with *folded set (the fold is counted). NULL when there is
 * nowhere to count (no worker yet, no room at all). */
double *mg_lua_metric_cells(mg_lua_task_t *t, int metric, const char *vals, size_t vlen,
                            int *folded);
/* ffi:end */

/* ---- core/lua/lua_api.c: mg.tls (lua/moongate/tls.lua) ---- */

/* ffi:begin lua/moongate/tls.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_tls_marker {
    int unused;
};
#endif
/* What the request's TLS connection tells (sys/tls.h's mg_tls_var_t numbers) into
 * buf: its full length (call again with a larger buf when it is >= len), -1 when
 * there is none (plain HTTP, no client certificate) or no request. */
int mg_lua_tls_var(mg_lua_task_t *t, int var, char *buf, size_t len);
/* ffi:end */

/* ---- core/lua/lua_crypto.c: mg.encode (lua/moongate/encode.lua) ---- */

/* ffi:begin lua/moongate/encode.lua */
#ifdef MG_LUA_FFI_ONLY
struct mg_lua_encode_marker {
    int unused;
};
#endif
/* Encodes n bytes at s into out (room for the encoded length); url: base64url without
 * padding. Returns the length written. */
size_t mg_lua_base64_encode(const char *s, size_t n, char *out, int url);
size_t mg_lua_hex_encode(const char *s, size_t n, char *out);
/* Decodes into out (room for n bytes): the length, or -1 for text not in the encoding. */
long mg_lua_base64_decode(const char *s, size_t n, char *out, int url);
long mg_lua_hex_decode(const char *s, size_t n, char *out);
/* ffi:end */

/* ---- core/lua/lua_crypto.c: mg.crypto (lua/moongate/crypto.lua); the contracts are
 * sys/crypto.h's ---- */

/* ffi:begin lua/moongate/crypto.lua */
#ifdef MG_LUA_FFI_ONLY
typedef struct mg_crypto_key_s mg_crypto_key_t;
#endif
/* md: 0 SHA-1, 1 SHA-256, 2 SHA-384, 3 SHA-512; out: 64 bytes. The length written. */
int mg_lua_crypto_digest(int md, const char *s, size_t n, unsigned char *out);
int mg_lua_crypto_hmac(int md, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out);
int mg_lua_crypto_equals(const char *a, size_t alen, const char *b, size_t blen);
int mg_lua_crypto_random(unsigned char *buf, size_t n);
/* Keys: owned by the Lua object (ffi.gc with mg_lua_crypto_key_free). parts: the JWK
 * members n e d p q dp dq qi x y, NULL when absent. info: kty, bits, private, the
 * signature's maximum length. */
mg_crypto_key_t *mg_lua_crypto_key_pem(const char *pem, size_t len, const char **err);
mg_crypto_key_t *mg_lua_crypto_key_jwk(int kty, const char *crv, size_t crvlen,
                                       const char **parts, const size_t *lens,
                                       const char **err);
void mg_lua_crypto_key_free(mg_crypto_key_t *k);
void mg_lua_crypto_key_info(mg_crypto_key_t *k, int *info);
/* alg: sys/crypto.h's MG_ALG_* order (RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384
 * EdDSA). verify: MG_OK, MG_DECLINED (no match) or MG_ERROR with *err; sign: the
 * signature's length or MG_ERROR. */
int mg_lua_crypto_verify(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                         const char *sig, size_t slen, const char **err);
int mg_lua_crypto_sign(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                       unsigned char *out, size_t cap, const char **err);
/* enc 1: in -> out and the tag (16 bytes); enc 0: checks tag (taglen bytes), in -> out.
 * MG_OK, MG_DECLINED (authentication failed) or MG_ERROR with *err. */
int mg_lua_crypto_aes_gcm(int enc, const char *key, size_t klen, const char *iv, size_t ivlen,
                          const char *aad, size_t alen, const char *in, size_t n,
                          unsigned char *out, unsigned char *tag, size_t taglen,
                          const char **err);
int mg_lua_crypto_bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                                const char **err);
int mg_lua_crypto_bcrypt_hash(const char *pw, size_t pwlen, int cost, char *out, size_t cap,
                              const char **err);
/* ffi:end */

/* ---- core/lua/lua_ratelimit.c, core/conf_*.c: mg.ratelimit (lua/moongate/ratelimit.lua) ---- */

/* ffi:begin lua/moongate/ratelimit.lua */
#ifdef MG_LUA_FFI_ONLY
/* conf.h's mg_rl_conf_t with its enums as int and its key parts opaque (a limiter made
 * in Lua has none). */
typedef struct {
    const char *name;
    int algorithm;
    double limit;
    double window;
    double burst;
    bool delay;
    const void *key;
    size_t nkey;
    bool missing_reject;
    int scope;
    const char *zone;
    int status;
    bool headers;
    int redis_failure;
    int nodes;
    double sync_interval;
    int index;
} mg_rl_conf_t;
typedef struct {
    bool allowed;
    double limit, remaining, reset, retry_after, delay;
} mg_rl_result_t;
#endif
/* The YAML parsers of `rate` and durations: MG_OK or MG_ERROR (contracts in conf.h). */
int mg_conf_parse_rate(const char *s, double *limit, double *window);
int mg_conf_parse_duration(const char *s, double *out);
/* lim:take(key, cost) for limiter `c` (owned by the Lua object): MG_OK with *out
 * filled; MG_AGAIN (a cluster check: yield, then mg_lua_rl_take_result); MG_ERROR when
 * its zone does not exist. */
int mg_lua_rl_take(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen,
                   double cost, mg_rl_result_t *out);
void mg_lua_rl_take_result(mg_lua_task_t *t, mg_rl_result_t *out);
/* lim:release(key): gives back a concurrency slot. */
void mg_lua_rl_release(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen);
/* sizeof(mg_rl_conf_t), and sizeof(mg_rl_result_t) into *result_size: the Lua module
 * checks its views against them when it loads. */
size_t mg_lua_rl_sizes(size_t *result_size);
/* ffi:end */

/* ---- core/lua/lua_cidr.c: CIDR matchers (plugins/ip-restriction.lua) ---- */

/* ffi:begin plugins/ip-restriction.lua */
typedef struct mg_lua_cidr_s mg_lua_cidr_t;
/* An empty matcher (NULL when out of memory); the caller owns it: mg_lua_cidr_free. */
mg_lua_cidr_t *mg_lua_cidr_new(void);
void mg_lua_cidr_free(mg_lua_cidr_t *m);
/* Checks "ADDR/BITS" or "ADDR" without keeping it: MG_OK, or MG_ERROR with the reason
 * in *why (a static string). */
int mg_lua_cidr_parse(const char *s, size_t len, const char **why);
/* Adds a range (copied) before the build: MG_OK, or MG_ERROR with *why. */
int mg_lua_cidr_add(mg_lua_cidr_t *m, const char *s, size_t len, const char **why);
/* Sorts and merges the ranges added: MG_OK, or MG_ERROR when out of memory. */
int mg_lua_cidr_build(mg_lua_cidr_t *m);
/* 1 when the address (text, IPv4 or IPv6; an IPv4-mapped IPv6 address matches the IPv4
 * ranges) is in a range, 0 when not, -1 for an address that does not parse or a
 * matcher not built. */
int mg_lua_cidr_match(const mg_lua_cidr_t *m, const char *addr, size_t len);
/* Ranges left after merging. */
int mg_lua_cidr_count(const mg_lua_cidr_t *m);
/* ffi:end */

/* ---- core/lua/lua_native.c: plugin work done in C (lua/moongate/native.lua) ---- */

/* ffi:begin lua/moongate/native.lua */
typedef struct mg_lua_native_s mg_lua_native_t;
/* ip-restriction's check: refuse with `status` and {"error": msg_json (a JSON string,
 * quotes included), ...} a client in deny (a built matcher, or NULL) or outside allow
 * (idem). Borrows the matchers. NULL when out of memory; the caller owns it. */
mg_lua_native_t *mg_lua_native_cidr(const struct mg_lua_cidr_s *allow,
                                    const struct mg_lua_cidr_s *deny, int status,
                                    const char *msg_json, size_t mlen);
/* A cache of up to about `cap` verified tokens read from the headers named in `from`
 * ("a\0b\0", in order; Authorization as "Bearer <token>"), answering by clearing the
 * headers named in `clear` and setting the entry's, and with `hide` removing the
 * token's header. NULL when out of memory. */
mg_lua_native_t *mg_lua_native_token(int cap, const char *from, size_t flen, const char *clear,
                                     size_t clen, int hide);
/* Remembers a token valid between the wall-clock times from and to, naming `consumer`
 * (may be empty) and setting nset headers ("name\0value\0" each). MG_OK, MG_DECLINED (not
 * cacheable: too long, too many headers) or MG_ERROR. */
int mg_lua_native_token_put(mg_lua_native_t *n, const char *tok, size_t tlen, double from,
                            double to, const char *consumer, size_t clen, const char *set,
                            size_t slen, int nset);
/* Forgets every token (the keys changed). */
void mg_lua_native_token_flush(mg_lua_native_t *n);
/* out[0..2]: hits, misses, entries. */
void mg_lua_native_token_stats(const mg_lua_native_t *n, double *out);
void mg_lua_native_free(mg_lua_native_t *n);
/* The natives that stand for route `route`'s plugins in `phase` (rewrite 0, access 1),
 * in order, with each one's plugin index * 8 + phase (copied). MG_OK or MG_ERROR. */
int mg_lua_native_route(void *state, int route, int phase, mg_lua_native_t **h,
                        const int *cell, int n);
/* ffi:end */

/* ---- core/lua/lua_re.c: mg.re (lua/moongate/re.lua) ---- */

/* ffi:begin lua/moongate/re.lua */
typedef struct mg_regex_s mg_regex_t;
/* The worker's compiled pattern for (pat, flags: base/regexp.h's MG_RE_* bits),
 * compiled and cached on first use; borrowed until the next call that compiles. info[0]
 * is its number of capturing groups, info[1] of named ones. NULL when it does not
 * compile: PCRE2's message in *err (valid until the next failure) and the offset in
 * the pattern in *erroff. */
mg_regex_t *mg_lua_re_get(const char *pat, size_t plen, unsigned flags, int *info,
                          const char **err, size_t *erroff);
/* Matches re on s[0..len) from byte `start`: the pairs set (> 0) with ov (2 ints per
 * group, captures + 1 groups, -1 for a group that took no part) filled, 0 for no
 * match, -1 with a static reason in *err (the match limit, bad UTF-8, a bad start). */
int mg_lua_re_exec(mg_regex_t *re, const char *s, size_t len, size_t start, int *ov,
                   const char **err);
/* The i-th named group (0-based): MG_OK with its NUL-terminated name borrowed from re
 * and its number, MG_DECLINED past the end. */
int mg_lua_re_name_at(mg_regex_t *re, int i, const char **name, int *group);
/* Patterns in the worker's cache. */
size_t mg_lua_re_cache_count(void);
/* ffi:end */

/* ---- core/lua/lua_redis.c: mg.redis (lua/moongate/redis.lua) ---- */

/* ffi:begin lua/moongate/redis.lua */
/* One value of a reply, flattened: an array is followed by its n elements (each with
 * its own elements after it). type: 0 nil, 1 status, 2 error, 3 integer, 4 string,
 * 5 array. str/len: status, error and string bytes (borrowed from the call's result). */
typedef struct {
    int32_t type;
    int32_t n;
    int64_t integer;
    const char *str;
    size_t len;
} mg_lua_redis_item_t;
typedef struct mg_lua_redis_pool_s mg_lua_redis_pool_t;
/* The worker's pool for an address ("host:port", "[v6]:port", "unix:/path"; NULL: the
 * `redis:` block's server), ACL user and password (NULL: none, or the block's), db
 * (< 0: 0, or the block's) and connections (<= 0: 2, or the block's); made at its
 * first use, kept with the generation. NULL with a static reason in *err. */
mg_lua_redis_pool_t *mg_lua_redis_pool(mg_lua_task_t *t, const char *address,
                                       const char *username, const char *password, int db,
                                       int pool_size, const char **err);
/* Sends ncmds commands (command i: argcs[i] arguments, taken in order from argv/lens)
 * on one connection of p, in one write, with a deadline of `timeout` seconds (<= 0:
 * the pool's). MG_AGAIN (yield; resumed when every reply is in, or its deadline
 * passed) or MG_ERROR with a reason in *err (valid until the next call). */
int mg_lua_redis_send(mg_lua_task_t *t, mg_lua_redis_pool_t *p, int ncmds, const int *argcs,
                      const char **argv, const size_t *lens, double timeout, const char **err);
/* After the resume: command i's reply (MG_OK: *items, *nitems) or its transport error
 * (MG_ERROR: "timeout", "closed", ...). */
int mg_lua_redis_result(mg_lua_task_t *t, int i, const mg_lua_redis_item_t **items,
                        size_t *nitems, const char **err);
/* Drops the call and its replies. */
void mg_lua_redis_done(mg_lua_task_t *t);
/* ffi:end */

#endif
