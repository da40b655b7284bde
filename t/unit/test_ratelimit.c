/* deps: ratelimit_algo ratelimit_zone shm shm_lru shdict conf conf_plugin conf_top conf_access_log log_template log_format conf_value conf_route conf_buffering conf_ratelimit conf_balancer conf_health router route_pattern pool str conf_tls conf_resolver conf_metrics conf_tracing conf_realip cidr regexp */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "ratelimit_algo.h"
#include "ratelimit_zone.h"
#include "shdict.h"

#define EPS 1e-9

static mg_rl_conf_t conf_of(mg_rl_algo_t a, double limit, double window, double burst)
{
    return (mg_rl_conf_t){.name = "t",
                          .algorithm = a,
                          .limit = limit,
                          .window = window,
                          .burst = burst,
                          .zone = "z",
                          .status = 429,
                          .nodes = 1};
}

/* Takes one at `now`; returns allowed. */
static bool take(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, mg_rl_result_t *out)
{
    mg_rl_take(s, c, now, 1, out);
    return out->allowed;
}

/* How many of n takes at `now` pass. */
static int take_n(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, int n)
{
    mg_rl_result_t r;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ok += take(s, c, now, &r);
    }
    return ok;
}

START_TEST(test_fixed_window_edges)
{
    mg_rl_conf_t c = conf_of(MG_RL_FIXED_WINDOW, 5, 10, 0);
    mg_rl_state_t s;
    mg_rl_result_t r;
    mg_rl_state_init(&s, &c, 100.0);
    for (int i = 0; i < 5; i++) {
        ck_assert(take(&s, &c, 101.0, &r));
        ck_assert_double_eq_tol(r.remaining, 4 - i, EPS);
        ck_assert_double_eq_tol(r.limit, 5, EPS);
    }
    ck_assert(!take(&s, &c, 102.5, &r)); /* L + 1 */
    ck_assert_double_eq_tol(r.retry_after, 7.5, EPS);
    ck_assert_double_eq_tol(r.reset, 7.5, EPS);
    ck_assert_double_eq_tol(r.remaining, 0, EPS);
    ck_assert(!take(&s, &c, 109.999, &r));
    ck_assert_double_eq_tol(r.retry_after, 0.001, 1e-6);
    /* the next window starts exactly at its edge */
    ck_assert_int_eq(take_n(&s, &c, 110.0, 6), 5);
    /* a window skipped entirely starts from zero as well */
    ck_assert_int_eq(take_n(&s, &c, 135.0, 6), 5);
}
END_TEST

/* A sliding window whose previous window counted 10 (L = 10, W = 10). */
static void sliding_prev_full(mg_rl_state_t *s, const mg_rl_conf_t *c)
{
    mg_rl_state_init(s, c, 100.0);
    ck_assert_int_eq(take_n(s, c, 105.0, 11), 10);
}

START_TEST(test_sliding_window_weighting)
{
    mg_rl_conf_t c = conf_of(MG_RL_SLIDING_WINDOW, 10, 10, 0);
    mg_rl_state_t s;
    mg_rl_result_t r;
    /* 0 % into the next window: the previous one weighs fully */
    sliding_prev_full(&s, &c);
    ck_assert(!take(&s, &c, 110.0, &r));
    ck_assert_double_eq_tol(r.retry_after, 1.0, 1e-9); /* weight 0.9 leaves room for 1 */
    /* 50 %: half of it */
    sliding_prev_full(&s, &c);
    ck_assert_int_eq(take_n(&s, &c, 115.0, 10), 5);
    ck_assert(!take(&s, &c, 115.0, &r));
    ck_assert_double_eq_tol(r.remaining, 0, EPS);
    /* 100 %: the window after that; the 5 just counted are the previous now */
    ck_assert_int_eq(take_n(&s, &c, 120.0, 10), 5);
    /* a previous window that is not adjacent weighs nothing */
    sliding_prev_full(&s, &c);
    ck_assert_int_eq(take_n(&s, &c, 120.0, 11), 10);
    /* retry_after when the current window alone is full: into the next window */
    mg_rl_state_init(&s, &c, 200.0);
    ck_assert_int_eq(take_n(&s, &c, 202.0, 10), 10);
    ck_assert(!take(&s, &c, 202.0, &r));
    /* 8 s to the window's end, then 10 * (1 - e/10) + 1 <= 10 at e = 1 */
    ck_assert_double_eq_tol(r.retry_after, 9.0, 1e-9);
    ck_assert(!take(&s, &c, 210.99, &r));
    ck_assert(take(&s, &c, 211.0 + 1e-6, &r));
}
END_TEST

START_TEST(test_token_bucket_burst_and_refill)
{
    mg_rl_conf_t c = conf_of(MG_RL_TOKEN_BUCKET, 1, 1, 5); /* 1/s, bucket of 5 */
    mg_rl_state_t s;
    mg_rl_result_t r;
    mg_rl_state_init(&s, &c, 0);
    ck_assert_int_eq(take_n(&s, &c, 0, 5), 5); /* starts full */
    ck_assert(!take(&s, &c, 0, &r));
    ck_assert_double_eq_tol(r.retry_after, 1.0, EPS);
    ck_assert_double_eq_tol(r.reset, 5.0, EPS);
    ck_assert_double_eq_tol(r.limit, 5, EPS);
    ck_assert(!take(&s, &c, 0.5, &r));
    ck_assert_double_eq_tol(r.retry_after, 0.5, EPS);
    ck_assert(take(&s, &c, 1.0, &r)); /* one token a second */
    ck_assert(!take(&s, &c, 1.0, &r));
    /* never more than the bucket, however long it rested */
    ck_assert_int_eq(take_n(&s, &c, 1000, 10), 5);
    /* cost > 1 */
    mg_rl_state_init(&s, &c, 0);
    mg_rl_take(&s, &c, 0, 4, &r);
    ck_assert(r.allowed);
    mg_rl_take(&s, &c, 0, 2, &r);
    ck_assert(!r.allowed);
    ck_assert_double_eq_tol(r.retry_after, 1.0, EPS);
    ck_assert_double_eq_tol(r.remaining, 1, EPS); /* a rejection consumes nothing */
    /* burst 0 means the limit */
    mg_rl_conf_t d = conf_of(MG_RL_TOKEN_BUCKET, 3, 1, 0);
    mg_rl_state_init(&s, &d, 0);
    ck_assert_int_eq(take_n(&s, &d, 0, 5), 3);
}
END_TEST

START_TEST(test_leaky_bucket_delays)
{
    mg_rl_conf_t c = conf_of(MG_RL_LEAKY_BUCKET, 2, 1, 2); /* 2/s, burst 2 */
    c.delay = true;
    mg_rl_state_t s;
    mg_rl_result_t r;
    mg_rl_state_init(&s, &c, 0);
    double want[] = {0, 0.5, 1.0};
    for (int i = 0; i < 3; i++) {
        ck_assert(take(&s, &c, 0, &r));
        ck_assert_double_eq_tol(r.delay, want[i], EPS);
    }
    ck_assert(!take(&s, &c, 0, &r)); /* over burst + 1 */
    ck_assert_double_eq_tol(r.retry_after, 0.5, EPS);
    ck_assert_double_eq_tol(r.limit, 3, EPS);
    ck_assert(!take(&s, &c, 0.49, &r));
    ck_assert(take(&s, &c, 0.5, &r));
    ck_assert_double_eq_tol(r.delay, 1.0, EPS);
    /* without delay the same requests pass at once */
    c.delay = false;
    mg_rl_state_init(&s, &c, 0);
    ck_assert_int_eq(take_n(&s, &c, 0, 5), 3);
    ck_assert_double_eq_tol(r.delay, 1.0, EPS);
    ck_assert(take(&s, &c, 10, &r));
    ck_assert_double_eq_tol(r.delay, 0, EPS);
    /* burst 0: one at a time, spaced by 1/r */
    mg_rl_conf_t z = conf_of(MG_RL_LEAKY_BUCKET, 2, 1, 0);
    mg_rl_state_init(&s, &z, 0);
    ck_assert_int_eq(take_n(&s, &z, 0, 3), 1);
    ck_assert_int_eq(take_n(&s, &z, 0.5, 3), 1);
}
END_TEST

START_TEST(test_concurrency_release)
{
    mg_rl_conf_t c = conf_of(MG_RL_CONCURRENCY, 2, 1, 0);
    mg_rl_state_t s;
    mg_rl_result_t r;
    mg_rl_state_init(&s, &c, 0);
    ck_assert_int_eq(take_n(&s, &c, 0, 3), 2);
    ck_assert_double_eq_tol(r.remaining, 0, EPS);
    mg_rl_release(&s);
    ck_assert(take(&s, &c, 0, &r));
    for (int i = 0; i < 5; i++) {
        mg_rl_release(&s);
    }
    ck_assert_double_eq_tol(s.a, 0, EPS); /* never below zero */
    ck_assert_int_eq(take_n(&s, &c, 0, 3), 2);
    ck_assert(isinf(mg_rl_idle_ttl(&c)));
}
END_TEST

START_TEST(test_parse_rate)
{
    static const struct {
        const char *s;
        double limit, window;
    } good[] = {{"100/s", 100, 1}, {"6000/m", 6000, 60}, {"1/h", 1, 3600},
                {"2/d", 2, 86400}, {"500/10s", 500, 10}, {"5/250ms", 5, 0.25},
                {"0.5/s", 0.5, 1}, {"3/2m", 3, 120},     {"7/1h", 7, 3600}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        double l = 0, w = 0;
        ck_assert_msg(mg_conf_parse_rate(good[i].s, &l, &w) == MG_OK, "%s", good[i].s);
        ck_assert_double_eq_tol(l, good[i].limit, EPS);
        ck_assert_double_eq_tol(w, good[i].window, EPS);
    }
    static const char *const bad[] = {"100",   "/s",   "0/s", "-1/s", "1/x",   "1/0s",  "abc/s",
                                      "1e3/s", "1/ s", "1/",  "",     "10/s ", "1/1us", "0x10/s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double l, w;
        ck_assert_msg(mg_conf_parse_rate(bad[i], &l, &w) == MG_ERROR, "%s", bad[i]);
    }
    ck_assert_int_eq(mg_conf_parse_rate(NULL, NULL, NULL), MG_ERROR);
}
END_TEST

START_TEST(test_zone_lru_and_counters)
{
    ck_assert_int_eq(mg_rl_zone_create("lru", 32 << 10), MG_OK);
    mg_rl_zone_t *z = mg_rl_zone_find("lru", 3);
    ck_assert_ptr_nonnull(z);
    ck_assert_ptr_null(mg_rl_zone_find("nope", 4));
    mg_rl_conf_t c = conf_of(MG_RL_FIXED_WINDOW, 1, 3600, 0);
    char key[32];
    mg_rl_result_t r;
    int n = 1000;
    for (int i = 0; i < n; i++) {
        int len = snprintf(key, sizeof(key), "client-%d", i);
        ck_assert_int_eq(mg_rl_zone_take(z, &c, mg_str(key, (size_t)len), 10, 1, &r), MG_OK);
        ck_assert(r.allowed);
        if (i == 0) {
            /* key 0 stays the most recently used for a while */
            ck_assert(mg_rl_zone_take(z, &c, MG_STR("client-0"), 10, 1, &r) == MG_OK && !r.allowed);
        }
    }
    mg_rl_zone_stats_t st;
    const char *name = NULL;
    for (size_t i = 0; i < mg_rl_zone_number(); i++) {
        const char *nm = mg_rl_zone_stats(i, &st);
        if (nm != NULL && strcmp(nm, "lru") == 0) {
            name = nm;
            break;
        }
    }
    ck_assert_ptr_nonnull(name);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_eq(st.count + st.evictions, (uint64_t)n);
    ck_assert_uint_eq(st.capacity, 32 << 10);
    /* the capacity matches what one entry costs */
    size_t per = mg_rl_zone_entry_bytes(strlen("t") + 1 + strlen("client-999"));
    ck_assert_uint_ge(st.count, (32u << 10) / per / 2);
    ck_assert_uint_le(st.count, (32u << 10) / per);
    /* the newest keys are held and still counted; the oldest were evicted */
    ck_assert_double_eq_tol(mg_rl_zone_peek(z, &c, MG_STR("client-999")), 1, EPS);
    ck_assert_double_eq_tol(mg_rl_zone_peek(z, &c, MG_STR("client-1")), -1, EPS);
    ck_assert(mg_rl_zone_take(z, &c, MG_STR("client-999"), 10, 1, &r) == MG_OK && !r.allowed);
    ck_assert(mg_rl_zone_take(z, &c, MG_STR("client-1"), 10, 1, &r) == MG_OK && r.allowed);
    /* limiters with other names keep other counters for the same key */
    mg_rl_conf_t other = c;
    other.name = "other";
    ck_assert(mg_rl_zone_take(z, &other, MG_STR("client-999"), 10, 1, &r) == MG_OK && r.allowed);
    /* a release of an absent key is a no-op */
    mg_rl_conf_t conc = conf_of(MG_RL_CONCURRENCY, 1, 1, 0);
    mg_rl_zone_release(z, &conc, MG_STR("never-seen"));
    ck_assert_double_eq_tol(mg_rl_zone_peek(z, &conc, MG_STR("never-seen")), -1, EPS);
    /* creating it again with the same size keeps it */
    ck_assert_int_eq(mg_rl_zone_create("lru", 32 << 10), MG_OK);
    ck_assert_ptr_eq(mg_rl_zone_find("lru", 3), z);
}
END_TEST

/* Several processes on one zone together allow exactly the limit. */
START_TEST(test_zone_atomic_across_processes)
{
    ck_assert_int_eq(mg_rl_zone_create("procs", 1 << 20), MG_OK);
    mg_rl_zone_t *z = mg_rl_zone_find("procs", 5);
    mg_rl_conf_t c = conf_of(MG_RL_FIXED_WINDOW, 250, 3600, 0);
    int fds[4][2];
    pid_t pids[4];
    for (int p = 0; p < 4; p++) {
        ck_assert_int_eq(pipe(fds[p]), 0);
        pids[p] = fork();
        if (pids[p] == 0) {
            int ok = 0;
            mg_rl_result_t r;
            for (int i = 0; i < 100; i++) {
                mg_rl_zone_take(z, &c, MG_STR("k"), 10, 1, &r);
                ok += r.allowed;
            }
            ck_assert_int_eq(write(fds[p][1], &ok, sizeof(ok)), (int)sizeof(ok));
            _exit(0);
        }
        close(fds[p][1]);
    }
    int total = 0;
    for (int p = 0; p < 4; p++) {
        int ok = 0;
        ck_assert_int_eq(read(fds[p][0], &ok, sizeof(ok)), (int)sizeof(ok));
        total += ok;
        waitpid(pids[p], NULL, 0);
        close(fds[p][0]);
    }
    ck_assert_int_eq(total, 250);
}
END_TEST

/* The shared dicts run on the same LRU table: values, TTL and forcible evictions. */
START_TEST(test_shdict_on_lru)
{
    ck_assert_int_eq(mg_shdict_create("d", 32 << 10), MG_OK);
    mg_shdict_t *d = mg_shdict_find("d", 1);
    int forcible = 0;
    ck_assert_int_eq(
        mg_shdict_store(d, MG_SHDICT_SET, "a", 1, MG_SHDICT_STRING, 0, "hello", 5, 0, &forcible),
        MG_OK);
    mg_shdict_val_t v;
    char buf[16];
    ck_assert_int_eq(mg_shdict_get(d, "a", 1, &v, buf, sizeof(buf), 0), MG_OK);
    ck_assert_int_eq(v.type, MG_SHDICT_STRING);
    ck_assert_uint_eq(v.len, 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    double out;
    ck_assert_int_eq(mg_shdict_incr(d, "n", 1, 2, 1, 40, 0, &out, &forcible), MG_OK);
    ck_assert_double_eq_tol(out, 42, EPS);
    ck_assert_int_eq(mg_shdict_incr(d, "a", 1, 1, 0, 0, 0, &out, &forcible), MG_SHDICT_NOT_NUMBER);
    ck_assert_int_eq(
        mg_shdict_store(d, MG_SHDICT_ADD, "n", 1, MG_SHDICT_NUMBER, 1, NULL, 0, 0, &forcible),
        MG_DECLINED);
    ck_assert_int_eq(
        mg_shdict_store(d, MG_SHDICT_SET, "t", 1, MG_SHDICT_BOOLEAN, 1, NULL, 0, 100, &forcible),
        MG_OK);
    double ttl;
    ck_assert_int_eq(mg_shdict_ttl(d, "t", 1, &ttl), MG_OK);
    ck_assert(ttl > 99 && ttl <= 100);
    ck_assert_int_eq(mg_shdict_delete(d, "t", 1), MG_OK);
    ck_assert_int_eq(mg_shdict_delete(d, "t", 1), MG_DECLINED);
    /* fill it: set evicts the oldest live entries and says so */
    char key[32], val[200];
    memset(val, 'v', sizeof(val));
    int forced = 0;
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(mg_shdict_store(d, MG_SHDICT_SET, key, (size_t)len, MG_SHDICT_STRING, 0,
                                         val, sizeof(val), 0, &forcible),
                         MG_OK);
        forced += forcible;
    }
    ck_assert_int_gt(forced, 0);
    ck_assert_int_eq(mg_shdict_get(d, "k999", 4, &v, NULL, 0, 0), MG_OK);
    ck_assert_int_eq(mg_shdict_get(d, "k0", 2, &v, NULL, 0, 0), MG_DECLINED);
    /* safe_set never evicts */
    ck_assert_int_eq(mg_shdict_store(d, MG_SHDICT_SAFE_SET, "big", 3, MG_SHDICT_STRING, 0, val,
                                     sizeof(val), 0, &forcible),
                     MG_ERROR);
    mg_shdict_flush_all(d);
    ck_assert_uint_eq(mg_shdict_count(d), 0);
}
END_TEST

/* ---- the YAML ---- */

static mg_conf_t *parse(const char *yaml, mg_conf_err_t *err)
{
    return mg_conf_parse(yaml, strlen(yaml), "t.yaml", "/srv/gw", err);
}

START_TEST(test_conf_defaults)
{
    mg_conf_err_t err;
    mg_conf_t *c = parse("routes:\n"
                         "  - name: api\n"
                         "    paths: [\"/\"]\n"
                         "    return: { status: 200 }\n"
                         "    rate_limit:\n"
                         "      - rate: 100/s\n"
                         "      - { name: slots, algorithm: concurrency, limit: 3, "
                         "key: \"remote_addr+header:X-User+cookie:sid+query:q+consumer+route\" }\n"
                         "      - { algorithm: leaky_bucket, rate: 500/10s, delay: true }\n",
                         &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const mg_route_conf_t *r = &c->routes[0];
    ck_assert_uint_eq(r->nrate_limits, 3);
    const mg_rl_conf_t *a = &r->rate_limits[0];
    ck_assert_str_eq(a->name, "api#0");
    ck_assert_int_eq(a->algorithm, MG_RL_TOKEN_BUCKET);
    ck_assert_double_eq_tol(a->limit, 100, EPS);
    ck_assert_double_eq_tol(a->window, 1, EPS);
    ck_assert_double_eq_tol(a->burst, 100, EPS);
    ck_assert_str_eq(a->zone, "default");
    ck_assert_int_eq(a->status, 429);
    ck_assert_int_eq(a->scope, MG_RL_LOCAL);
    ck_assert_uint_eq(a->nkey, 1);
    ck_assert_int_eq(a->key[0].kind, MG_RL_KEY_REMOTE_ADDR);
    ck_assert(!a->missing_reject && !a->headers);
    const mg_rl_conf_t *b = &r->rate_limits[1];
    ck_assert_str_eq(b->name, "slots");
    ck_assert_uint_eq(b->nkey, 6);
    ck_assert_int_eq(b->key[1].kind, MG_RL_KEY_HEADER);
    ck_assert_str_eq(b->key[1].name, "X-User");
    ck_assert_int_eq(b->key[2].kind, MG_RL_KEY_COOKIE);
    ck_assert_int_eq(b->key[3].kind, MG_RL_KEY_QUERY);
    ck_assert_int_eq(b->key[4].kind, MG_RL_KEY_CONSUMER);
    ck_assert_int_eq(b->key[5].kind, MG_RL_KEY_ROUTE);
    const mg_rl_conf_t *l = &r->rate_limits[2];
    ck_assert_double_eq_tol(l->burst, 0, EPS);
    ck_assert(l->delay);
    ck_assert_double_eq_tol(l->window, 10, EPS);
    /* "default" appears because a local limit uses it */
    ck_assert_uint_eq(c->nrl_zones, 1);
    ck_assert_str_eq(c->rl_zones[0].name, "default");
    ck_assert_uint_eq(c->rl_zones[0].size, 10u << 20);
    mg_conf_destroy(c);

    c = parse("rate_limit_zones: { api: 64k, default: 1m }\n"
              "routes:\n"
              "  - { paths: [\"/\"], return: { status: 200 },\n"
              "      rate_limit: [{ rate: 1/s, zone: api }] }\n",
              &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_uint_eq(c->nrl_zones, 2);
    ck_assert_uint_eq(c->rl_zones[1].size, 1u << 20);
    mg_conf_destroy(c);

    c = parse("routes:\n  - { paths: [\"/\"], return: { status: 200 } }\n", &err);
    ck_assert_uint_eq(c->nrl_zones, 1); /* "default" always exists */
    ck_assert_str_eq(c->rl_zones[0].name, "default");
    mg_conf_destroy(c);
}
END_TEST

static const struct {
    const char *rl; /* the rate_limit list item, after "rate_limit: [" */
    const char *key, *msg;
} conf_errors[] = {
    {"{ rate: fast }", "routes[0].rate_limit[0].rate", "expected a rate N/s"},
    {"{ algorithm: token_bucket, rate: 1/s, limit: 3 }", "routes[0].rate_limit[0].limit",
     "`limit` is for the concurrency algorithm; token_bucket takes `rate`"},
    {"{ algorithm: concurrency, rate: 1/s }", "routes[0].rate_limit[0].rate",
     "use `limit`, not `rate`"},
    {"{ algorithm: concurrency }", "routes[0].rate_limit[0]",
     "missing required key \"limit\" for concurrency"},
    {"{ algorithm: fixed_window }", "routes[0].rate_limit[0]",
     "missing required key \"rate\" for fixed_window"},
    {"{ algorithm: fixed_window, rate: 1/s, delay: true }", "routes[0].rate_limit[0].delay",
     "`delay` is for leaky_bucket only"},
    {"{ algorithm: sliding_window, rate: 1/s, burst: 3 }", "routes[0].rate_limit[0].burst",
     "`burst` is for token_bucket and leaky_bucket"},
    {"{ rate: 1/s, burst: 0 }", "routes[0].rate_limit[0].burst", "at least 1 token"},
    {"{ algorithm: leaky, rate: 1/s }", "routes[0].rate_limit[0].algorithm",
     "expected token_bucket | leaky_bucket | fixed_window | sliding_window | concurrency"},
    {"{ rate: 1/s, scope: cluster }", "routes[0].rate_limit[0].scope",
     "scope cluster needs the top-level `redis` block"},
    {"{ rate: 1/s, scope: global }", "routes[0].rate_limit[0].scope",
     "expected local | cluster | cluster_approx"},
    {"{ rate: 1/s, key: \"header:\" }", "routes[0].rate_limit[0].key",
     "key part \"header:\" needs a name"},
    {"{ rate: 1/s, key: \"remote_addr+ip\" }", "routes[0].rate_limit[0].key",
     "key part \"ip\" is not remote_addr"},
    {"{ rate: 1/s, key: \"route:x\" }", "routes[0].rate_limit[0].key", "takes no name"},
    {"{ rate: 1/s, key: \"header:X Y\" }", "routes[0].rate_limit[0].key",
     "not allowed in that name"},
    {"{ rate: 1/s, missing_key: deny }", "routes[0].rate_limit[0].missing_key",
     "expected allow | reject"},
    {"{ rate: 1/s, zone: api }", "routes[0].rate_limit[0].zone", "unknown zone \"api\""},
    {"{ rate: 1/s, status: 200 }", "routes[0].rate_limit[0].status",
     "expected an integer from 400 to 599"},
    {"{ rate: 1/s, headers: maybe }", "routes[0].rate_limit[0].headers", "expected"},
    {"{ rate: 1/s, redis_failure: allow }", "routes[0].rate_limit[0].redis_failure",
     "for the cluster scopes only"},
    {"{ rate: 1/s, nodes: 3 }", "routes[0].rate_limit[0].nodes", "for the cluster scopes only"},
    {"{ rate: 1/s, sync_interval: 1s }", "routes[0].rate_limit[0].sync_interval",
     "for scope cluster_approx only"},
    {"{ rate: 1/s, rates: 2/s }", "routes[0].rate_limit[0].rates", "did you mean"},
    {"{ name: a, rate: 1/s }, { name: a, rate: 2/s }", "routes[0].rate_limit[1].name",
     "duplicate limit name \"a\""},
    {"fast", "routes[0].rate_limit[0]", "expected a mapping"},
};

START_TEST(test_conf_errors)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "routes:\n  - paths: [\"/\"]\n    return: { status: 200 }\n    rate_limit: [%s]\n",
             conf_errors[_i].rl);
    mg_conf_err_t err;
    mg_conf_t *c = parse(yaml, &err);
    ck_assert_msg(c == NULL, "accepted: %s", conf_errors[_i].rl);
    ck_assert_str_eq(err.key, conf_errors[_i].key);
    ck_assert_msg(strstr(err.msg, conf_errors[_i].msg) != NULL, "message: %s", err.msg);
    ck_assert_int_eq(err.line, 4);
    ck_assert_int_gt(err.column, 17);
}
END_TEST

START_TEST(test_conf_cluster_and_zones)
{
    mg_conf_err_t err;
    mg_conf_t *c = parse("redis: { address: \"127.0.0.1:6379\" }\n"
                         "routes:\n"
                         "  - paths: [\"/\"]\n"
                         "    return: { status: 200 }\n"
                         "    rate_limit:\n"
                         "      - { rate: 1/s, scope: cluster_approx, sync_interval: 50ms, "
                         "nodes: 4, redis_failure: reject }\n"
                         "      - { algorithm: concurrency, limit: 5, scope: cluster, "
                         "redis_failure: allow }\n",
                         &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const mg_rl_conf_t *a = &c->routes[0].rate_limits[0];
    ck_assert_int_eq(a->scope, MG_RL_CLUSTER_APPROX);
    ck_assert_double_eq_tol(a->sync_interval, 0.05, EPS);
    ck_assert_int_eq(a->nodes, 4);
    ck_assert_int_eq(a->redis_failure, MG_RL_FAIL_REJECT);
    ck_assert_uint_eq(c->nrl_zones, 1); /* only "default", which always exists */
    mg_conf_destroy(c);

    c = parse("redis: { address: \"127.0.0.1:6379\" }\n"
              "routes:\n"
              "  - paths: [\"/\"]\n"
              "    return: { status: 200 }\n"
              "    rate_limit: [{ algorithm: leaky_bucket, rate: 1/s, scope: cluster_approx }]\n",
              &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err.key, "routes[0].rate_limit[0].scope");
    ck_assert_ptr_nonnull(strstr(err.msg, "not leaky_bucket"));

    static const char *const bad_zones[][3] = {
        {"rate_limit_zones: { api: 1k }\n", "rate_limit_zones.api", "expected a size"},
        {"rate_limit_zones: { Api: 1m }\n", "rate_limit_zones.Api", "a zone name is"},
        {"rate_limit_zones: [api]\n", "rate_limit_zones", "expected a mapping of zone name"},
    };
    for (size_t i = 0; i < 3; i++) {
        c = parse(bad_zones[i][0], &err);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(err.key, bad_zones[i][1]);
        ck_assert_msg(strstr(err.msg, bad_zones[i][2]) != NULL, "%s", err.msg);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fixed_window_edges);
    tcase_add_test(tc, test_sliding_window_weighting);
    tcase_add_test(tc, test_token_bucket_burst_and_refill);
    tcase_add_test(tc, test_leaky_bucket_delays);
    tcase_add_test(tc, test_concurrency_release);
    tcase_add_test(tc, test_parse_rate);
    tcase_add_test(tc, test_zone_lru_and_counters);
    tcase_add_test(tc, test_zone_atomic_across_processes);
    tcase_add_test(tc, test_shdict_on_lru);
    tcase_add_test(tc, test_conf_defaults);
    tcase_add_loop_test(tc, test_conf_errors, 0, sizeof(conf_errors) / sizeof(conf_errors[0]));
    tcase_add_test(tc, test_conf_cluster_and_zones);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
