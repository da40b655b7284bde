/*
 * ratelimit_scripts.c -- the Lua scripts of cluster limits (ratelimit_scripts.h). Each
 * mirrors ratelimit_algo.h: "Rejected requests consume nothing"; a stamp never moves
 * backwards, so a Redis clock that steps back does not refill a bucket twice.
 */
#include "ratelimit_scripts.h"

#define PRELUDE                                                                            \
    "local t = redis.call('TIME')\n"                                                       \
    "local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"                              \
    "local function f(x) return string.format('%.17g', x) end\n"                           \
    "local function ms(x) return math.ceil(math.max(x, 0) * 1000) end\n"

#define TAKE_ARGS                                                                          \
    "local L, W, B, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), "     \
    "tonumber(ARGV[4])\n"

static const char take_token[] =
    PRELUDE TAKE_ARGS
    "local r = L / W\n"
    "local v = redis.call('HMGET', KEYS[1], 'tb', 'ts')\n"
    "local tok, ts = tonumber(v[1]), tonumber(v[2])\n"
    "if tok == nil or ts == nil then tok, ts = B, now end\n"
    "if now > ts then tok = math.min(B, tok + (now - ts) * r); ts = now end\n"
    "local ok, retry = 0, 0\n"
    "if tok >= cost then tok = tok - cost; ok = 1 else retry = (cost - tok) / r end\n"
    "local reset = (B - tok) / r\n"
    "redis.call('HSET', KEYS[1], 'tb', f(tok), 'ts', f(ts))\n"
    "redis.call('PEXPIRE', KEYS[1], ms(reset) + 1000)\n"
    "return {ok, math.floor(math.max(tok, 0)), ms(reset), ms(retry), 0}\n";

static const char take_leaky[] =
    PRELUDE TAKE_ARGS
    "local r = L / W\n"
    "local v = redis.call('HMGET', KEYS[1], 'le', 'ls')\n"
    "local e, ts = tonumber(v[1]) or 0, tonumber(v[2]) or now\n"
    "if now > ts then e = math.max(0, e - (now - ts) * r); ts = now end\n"
    "local n = e + cost\n"
    "local ok, retry, delay = 0, 0, 0\n"
    "if n > B + 1 then retry = (n - (B + 1)) / r\n"
    "else e = n; ok = 1; if ARGV[5] == '1' then delay = (e - 1) / r end end\n"
    "redis.call('HSET', KEYS[1], 'le', f(e), 'ls', f(ts))\n"
    "redis.call('PEXPIRE', KEYS[1], ms(e / r) + 1000)\n"
    "return {ok, math.floor(math.max(B + 1 - e, 0)), ms(e / r), ms(retry), ms(delay)}\n";

static const char take_fixed[] =
    PRELUDE TAKE_ARGS
    "local w = math.floor(now / W)\n"
    "local v = redis.call('HMGET', KEYS[1], 'fw', 'fn')\n"
    "local cw, n = tonumber(v[1]), tonumber(v[2]) or 0\n"
    "if cw == nil or cw < w then cw, n = w, 0 end\n"
    "local ok = 0\n"
    "if n + cost <= L then n = n + cost; ok = 1 end\n"
    "local reset = (cw + 1) * W - now\n"
    "redis.call('HSET', KEYS[1], 'fw', f(cw), 'fn', f(n))\n"
    "redis.call('PEXPIRE', KEYS[1], ms(reset) + 1000)\n"
    "return {ok, math.floor(math.max(L - n, 0)), ms(reset), ok == 1 and 0 or ms(reset), 0}\n";

/* The weighted count: previous * (1 - elapsed / W) + current. A rejected request can
 * pass once the previous window's weight has faded enough, or else in the next window
 * once the current count (then previous) has. */
static const char take_sliding[] =
    PRELUDE TAKE_ARGS
    "local w = math.floor(now / W)\n"
    "local v = redis.call('HMGET', KEYS[1], 'sw', 'sc', 'sp')\n"
    "local cw, c, p = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0\n"
    "if cw == nil then cw, c, p = w, 0, 0\n"
    "elseif cw < w then if cw == w - 1 then p = c else p = 0 end; c = 0; cw = w end\n"
    "local el = math.min(math.max((now - cw * W) / W, 0), 1)\n"
    "local est = p * (1 - el) + c\n"
    "local ok, retry = 0, 0\n"
    "if est + cost <= L then c = c + cost; est = est + cost; ok = 1\n"
    "elseif p > 0 and L - c - cost >= 0 then retry = (cw + 1 - (L - c - cost) / p) * W - now\n"
    "else\n"
    "  local e = 0\n"
    "  if c > 0 then e = math.max(0, 1 - (L - cost) / c) end\n"
    "  retry = (cw + 1 + e) * W - now\n"
    "end\n"
    "local reset = 0\n"
    "if c > 0 then reset = (cw + 2) * W - now elseif p > 0 then reset = (cw + 1) * W - now end\n"
    "redis.call('HSET', KEYS[1], 'sw', f(cw), 'sc', f(c), 'sp', f(p))\n"
    "redis.call('PEXPIRE', KEYS[1], ms((cw + 2) * W - now) + 1000)\n"
    "return {ok, math.floor(math.max(L - est, 0)), ms(reset), ms(retry), 0}\n";

/* ARGV limit, cost (integer), TTL ms. */
static const char take_conc[] =
    "local L, cost = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'cc', cost)\n"
    "local ok = 1\n"
    "if n > L then n = redis.call('HINCRBY', KEYS[1], 'cc', -cost); ok = 0 end\n"
    "if n <= 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "return {ok, math.max(L - n, 0), 0, ok == 1 and 0 or 1000, 0}\n";

/* ARGV TTL ms. Never below zero: a key that expired meanwhile is simply gone. */
static const char release_conc[] =
    "local n = redis.call('HINCRBY', KEYS[1], 'cc', -1)\n"
    "if n <= 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "return n\n";

/* cluster_approx: ARGV limit, window, burst, consumed since the last sync. Takes it
 * even below zero (a debt the refill pays back first); answers {tokens, now}. */
static const char sync_token[] =
    PRELUDE
    "local L, W, B, d = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), "
    "tonumber(ARGV[4])\n"
    "local r = L / W\n"
    "local v = redis.call('HMGET', KEYS[1], 'tb', 'ts')\n"
    "local tok, ts = tonumber(v[1]), tonumber(v[2])\n"
    "if tok == nil or ts == nil then tok, ts = B, now end\n"
    "if now > ts then tok = math.min(B, tok + (now - ts) * r); ts = now end\n"
    "tok = tok - d\n"
    "redis.call('HSET', KEYS[1], 'tb', f(tok), 'ts', f(ts))\n"
    "redis.call('PEXPIRE', KEYS[1], ms((B - tok) / r) + 1000)\n"
    "return {f(tok), f(now)}\n";

/* cluster_approx: ARGV window, consumed, the window number it was consumed in.
 * Consumption of a window that is over is dropped. Answers {window, count, now}. */
static const char sync_fixed[] =
    PRELUDE
    "local W, d, wl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local w = math.floor(now / W)\n"
    "local v = redis.call('HMGET', KEYS[1], 'fw', 'fn')\n"
    "local cw, n = tonumber(v[1]), tonumber(v[2]) or 0\n"
    "if cw == nil or cw < w then cw, n = w, 0 end\n"
    "if wl == cw then n = n + d end\n"
    "redis.call('HSET', KEYS[1], 'fw', f(cw), 'fn', f(n))\n"
    "redis.call('PEXPIRE', KEYS[1], ms((cw + 1) * W - now) + 1000)\n"
    "return {f(cw), f(n), f(now)}\n";

/* cluster_approx: as sync_fixed; consumption of the previous window still counts
 * there. Answers {window, current, previous, now}. */
static const char sync_sliding[] =
    PRELUDE
    "local W, d, wl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local w = math.floor(now / W)\n"
    "local v = redis.call('HMGET', KEYS[1], 'sw', 'sc', 'sp')\n"
    "local cw, c, p = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0\n"
    "if cw == nil then cw, c, p = w, 0, 0\n"
    "elseif cw < w then if cw == w - 1 then p = c else p = 0 end; c = 0; cw = w end\n"
    "if wl == cw then c = c + d elseif wl == cw - 1 then p = p + d end\n"
    "redis.call('HSET', KEYS[1], 'sw', f(cw), 'sc', f(c), 'sp', f(p))\n"
    "redis.call('PEXPIRE', KEYS[1], ms((cw + 2) * W - now) + 1000)\n"
    "return {f(cw), f(c), f(p), f(now)}\n";

static mg_redis_script_t scripts[MG__RL_NSCRIPTS];
static const mg_redis_script_t *script_ptrs[MG__RL_NSCRIPTS];

const mg_redis_script_t *const *mg__rl_scripts(void)
{
    static const char *const src[MG__RL_NSCRIPTS] = {
        [MG__RL_TAKE_TOKEN] = take_token,     [MG__RL_TAKE_LEAKY] = take_leaky,
        [MG__RL_TAKE_FIXED] = take_fixed,     [MG__RL_TAKE_SLIDING] = take_sliding,
        [MG__RL_TAKE_CONC] = take_conc,       [MG__RL_RELEASE_CONC] = release_conc,
        [MG__RL_SYNC_TOKEN] = sync_token,     [MG__RL_SYNC_FIXED] = sync_fixed,
        [MG__RL_SYNC_SLIDING] = sync_sliding,
    };
    if (script_ptrs[0] == NULL) {
        for (int i = 0; i < MG__RL_NSCRIPTS; i++) {
            mg_redis_script_init(&scripts[i], src[i]);
            script_ptrs[i] = &scripts[i];
        }
    }
    return script_ptrs;
}
