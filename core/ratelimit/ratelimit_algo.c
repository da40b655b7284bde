/*
 * ratelimit_algo.c -- the limiter arithmetic of ratelimit_algo.h: one function per
 * algorithm over a 32-byte state, no I/O, no locks, no clock.
 *
 * Every function leaves the state as it would be after the check (refills and window
 * roll-overs applied) and consumes only when the request is allowed, so a rejected
 * request costs the limited client nothing. The Redis scripts of the cluster scope
 * compute the same figures from the same state; a change here is a change there.
 */
#include "ratelimit_algo.h"

#include <math.h>

static double rate_of(const mg_rl_conf_t *c)
{
    return c->limit / c->window;
}

static double bucket_size(const mg_rl_conf_t *c)
{
    return c->burst > 0 ? c->burst : c->limit;
}

void mg_rl_state_init(mg_rl_state_t *s, const mg_rl_conf_t *c, double now)
{
    *s = (mg_rl_state_t){0};
    s->stamp = now;
    if (c->algorithm == MG_RL_TOKEN_BUCKET) {
        s->a = bucket_size(c);
    } else if (c->algorithm == MG_RL_FIXED_WINDOW || c->algorithm == MG_RL_SLIDING_WINDOW) {
        s->stamp = floor(now / c->window) * c->window;
    }
}

static void token_bucket(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                         mg_rl_result_t *out)
{
    double r = rate_of(c), b = bucket_size(c);
    double elapsed = now > s->stamp ? now - s->stamp : 0;
    double tokens = fmin(b, s->a + elapsed * r);
    s->stamp = now > s->stamp ? now : s->stamp;
    out->limit = b;
    if (tokens >= cost) {
        tokens -= cost;
        out->allowed = true;
    } else {
        out->retry_after = (cost - tokens) / r;
    }
    s->a = tokens;
    out->remaining = floor(tokens);
    out->reset = (b - tokens) / r;
}

static void leaky_bucket(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                         mg_rl_result_t *out)
{
    double r = rate_of(c);
    double elapsed = now > s->stamp ? now - s->stamp : 0;
    double excess = fmax(0, s->a - elapsed * r);
    double next = excess + cost;
    s->a = excess;
    s->stamp = now > s->stamp ? now : s->stamp;
    out->limit = c->burst + 1;
    if (next > c->burst + 1) {
        /* passes once the queue drained to `burst` */
        out->retry_after = (next - (c->burst + 1)) / r;
        out->remaining = 0;
        out->reset = excess / r;
        return;
    }
    s->a = next;
    out->allowed = true;
    out->remaining = floor(c->burst + 1 - next);
    out->reset = next / r;
    out->delay = c->delay ? (next - 1) / r : 0;
}

/* Moves a window state to the window holding `now`; the sliding window keeps the count
 * of the window just before in `b`. */
static void roll_window(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, bool keep_prev)
{
    double start = floor(now / c->window) * c->window;
    if (start <= s->stamp) {
        return; /* same window (or a clock that did not move) */
    }
    bool adjacent = fabs(start - c->window - s->stamp) < c->window * 1e-9;
    s->b = keep_prev && adjacent ? s->a : 0;
    s->a = 0;
    s->stamp = start;
}

static void fixed_window(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                         mg_rl_result_t *out)
{
    roll_window(s, c, now, false);
    double left = s->stamp + c->window - now;
    out->limit = c->limit;
    out->reset = left > 0 ? left : 0;
    if (s->a + cost > c->limit) {
        out->retry_after = out->reset;
    } else {
        s->a += cost;
        out->allowed = true;
    }
    out->remaining = floor(fmax(0, c->limit - s->a));
}

/* Seconds from `now` until a sliding window whose current window started at `start`
 * holds `cost` more without going over. */
static double sliding_wait(const mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost)
{
    double w = c->window, l = c->limit, elapsed = now - s->stamp;
    if (s->a + cost <= l) {
        /* the previous window's weight has to fall: b * (1 - e/W) + a + cost <= l */
        double e = s->b > 0 ? w * (1 - (l - s->a - cost) / s->b) : elapsed;
        return fmax(0, e - elapsed);
    }
    /* the next window, where this one's count is the weighted previous */
    double e = s->a > 0 ? w * (1 - (l - cost) / s->a) : 0;
    return (w - elapsed) + fmax(0, e);
}

static void sliding_window(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                           mg_rl_result_t *out)
{
    roll_window(s, c, now, true);
    double elapsed = now - s->stamp;
    double weight = 1 - elapsed / c->window;
    double count = s->b * (weight > 0 ? weight : 0) + s->a;
    out->limit = c->limit;
    if (count + cost > c->limit) {
        out->retry_after = sliding_wait(s, c, now, cost);
    } else {
        s->a += cost;
        count += cost;
        out->allowed = true;
    }
    out->remaining = floor(fmax(0, c->limit - count));
    double left = c->window - elapsed;
    out->reset = s->a > 0 ? left + c->window : s->b > 0 ? left : 0;
}

static void concurrency(mg_rl_state_t *s, const mg_rl_conf_t *c, double cost, mg_rl_result_t *out)
{
    out->limit = c->limit;
    if (s->a + cost > c->limit) {
        out->retry_after = 1; /* unknown: when some request in flight ends */
    } else {
        s->a += cost;
        out->allowed = true;
    }
    out->remaining = floor(fmax(0, c->limit - s->a));
}

void mg_rl_take(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                mg_rl_result_t *out)
{
    *out = (mg_rl_result_t){0};
    switch (c->algorithm) {
    case MG_RL_TOKEN_BUCKET:
        token_bucket(s, c, now, cost, out);
        break;
    case MG_RL_LEAKY_BUCKET:
        leaky_bucket(s, c, now, cost, out);
        break;
    case MG_RL_FIXED_WINDOW:
        fixed_window(s, c, now, cost, out);
        break;
    case MG_RL_SLIDING_WINDOW:
        sliding_window(s, c, now, cost, out);
        break;
    case MG_RL_CONCURRENCY:
        concurrency(s, c, cost, out);
        break;
    }
}

void mg_rl_release(mg_rl_state_t *s)
{
    s->a = s->a >= 1 ? s->a - 1 : 0;
}

double mg_rl_idle_ttl(const mg_rl_conf_t *c)
{
    switch (c->algorithm) {
    case MG_RL_TOKEN_BUCKET:
        return bucket_size(c) / rate_of(c);
    case MG_RL_LEAKY_BUCKET:
        return (c->burst + 1) / rate_of(c);
    case MG_RL_FIXED_WINDOW:
        return c->window;
    case MG_RL_SLIDING_WINDOW:
        return 2 * c->window;
    case MG_RL_CONCURRENCY:
        break;
    }
    return HUGE_VAL; /* in-flight slots are never "fresh" by age */
}
