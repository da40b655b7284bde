/* deps: ratelimit_cluster ratelimit_approx ratelimit_scripts redis redis_cmd log log_format log_template log_syslog pool str metrics_store */
/*
 * Cluster limits against a real redis-server started by the test on a free port
 * (stopped by pid at the end; it also dies with the test process). Without
 * redis-server the suite fails and says so.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis.h>

#include "ratelimit_cluster.h"

typedef struct {
    pid_t pid;
    int port;
} srv_t;

static srv_t shared; /* started once by the parent (unchecked fixture) */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static redisContext *admin(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server on s->port (0: a free one) and waits until it answers PING. */
static void srv_start(srv_t *s)
{
    char port[16];
    if (s->port == 0) {
        s->port = free_port();
    }
    snprintf(port, sizeof(port), "%d", s->port);
    pid_t parent = getpid();
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            ck_abort_msg(WIFEXITED(st) && WEXITSTATUS(st) == 127
                             ? "redis-server not found: these tests need it (tools/install-deps "
                               "installs it)"
                             : "redis-server exited at start");
        }
        redisContext *c = admin(s->port);
        if (c != NULL) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok) {
                return;
            }
        }
        usleep(10000);
    }
    ck_abort_msg("redis-server did not answer on port %d within 5 s", s->port);
}

static void srv_stop(srv_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void setup_shared(void)
{
    srv_start(&shared);
}

static void teardown_shared(void)
{
    srv_stop(&shared);
}

/* ---- a client's conf and loop helpers ---- */

typedef struct {
    mg_redis_conf_t redis;
    mg_conf_t conf;
    char prefix[32];
} client_conf_t;

static int prefix_seq;

static void conf_init(client_conf_t *cc, int port, double timeout, int pool)
{
    struct sockaddr_in *sa = (struct sockaddr_in *)&cc->redis.addr.sa;
    static char text[32];
    memset(cc, 0, sizeof(*cc));
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cc->redis.addr.salen = sizeof(*sa);
    cc->redis.addr.text = text;
    cc->redis.timeout = timeout;
    cc->redis.pool_size = pool;
    snprintf(cc->prefix, sizeof(cc->prefix), "t%d.%d:", (int)getpid(), prefix_seq++);
    cc->redis.prefix = cc->prefix;
    cc->conf.redis = &cc->redis;
    cc->conf.worker_processes = 1;
}

static mg_rl_conf_t limiter(const char *name, mg_rl_algo_t algo, double limit, double window)
{
    mg_rl_conf_t c;
    memset(&c, 0, sizeof(c));
    c.name = name;
    c.algorithm = algo;
    c.limit = limit;
    c.window = window;
    c.burst = algo == MG_RL_TOKEN_BUCKET ? limit : 0;
    c.scope = MG_RL_CLUSTER;
    c.nodes = 1;
    c.sync_interval = 0.1;
    return c;
}

static void on_wake(struct ev_loop *loop, ev_timer *t, int revents)
{
}

/* Runs the loop until *flag or `secs` elapsed. Returns *flag. */
static bool run_until(struct ev_loop *loop, const bool *flag, double secs)
{
    ev_timer wake;
    ev_timer_init(&wake, on_wake, 0.005, 0.005);
    ev_timer_start(loop, &wake);
    double end = ev_time() + secs;
    while (!(flag && *flag) && ev_time() < end) {
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &wake);
    return flag && *flag;
}

static void run_for(struct ev_loop *loop, double secs)
{
    run_until(loop, NULL, secs);
}

typedef struct {
    bool done;
    int status;
    int calls;
    mg_rl_result_t res;
    double at;
} outcome_t;

static void on_result(void *arg, int status, const mg_rl_result_t *res)
{
    outcome_t *o = arg;
    o->done = true;
    o->status = status;
    o->calls++;
    o->at = ev_time();
    if (res) {
        o->res = *res;
    }
}

/* Waits until the client has a connection up (5 s at most). */
static void wait_connected(struct ev_loop *loop, mg_rl_cluster_t *cl)
{
    mg_rl_cluster_stats_t st;
    double end = ev_time() + 5;
    do {
        run_for(loop, 0.01);
        mg_rl_cluster_stats(cl, &st);
    } while (!st.connected && ev_time() < end);
    ck_assert_msg(st.connected, "the client did not connect");
}

/* One check, waited for. Returns MG_OK (o filled), or MG_DECLINED. */
static int check1(struct ev_loop *loop, mg_rl_cluster_t *cl, const mg_rl_conf_t *c,
                  const char *key, outcome_t *o)
{
    void *h;
    memset(o, 0, sizeof(*o));
    int rc = mg_rl_cluster_check(cl, c, mg_str(key, strlen(key)), 1, &o->res, on_result, o, &h);
    if (rc == MG_DECLINED) {
        return rc;
    }
    if (rc == MG_OK) {
        o->done = true;
        o->status = MG_RL_CLUSTER_OK;
        return MG_OK;
    }
    ck_assert_int_eq(rc, MG_AGAIN);
    ck_assert_msg(run_until(loop, &o->done, 2), "no answer within 2 s");
    return MG_OK;
}

/* Allowed count of n checks in a row, each waited for. */
static int allowed_of(struct ev_loop *loop, mg_rl_cluster_t *cl, const mg_rl_conf_t *c,
                      const char *key, int n, outcome_t *last)
{
    int allowed = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(check1(loop, cl, c, key, last), MG_OK);
        ck_assert_int_eq(last->status, MG_RL_CLUSTER_OK);
        allowed += last->res.allowed;
    }
    return allowed;
}

typedef struct {
    struct ev_loop *loop;
    client_conf_t cc;
    mg_rl_cluster_t *cl;
} client_t;

static void client_open(client_t *k, int port, double timeout, int pool)
{
    k->loop = ev_loop_new(EVFLAG_AUTO);
    conf_init(&k->cc, port, timeout, pool);
    k->cl = mg_rl_cluster_create(k->loop, &k->cc.conf);
    ck_assert_ptr_nonnull(k->cl);
    wait_connected(k->loop, k->cl);
}

static void client_close(client_t *k)
{
    mg_rl_cluster_destroy(k->cl);
    ev_loop_destroy(k->loop);
}

/* ---- algorithms ---- */

START_TEST(test_token_bucket)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 2);
    /* 10 per 100 s: no measurable refill during the test */
    mg_rl_conf_t c = limiter("tb", MG_RL_TOKEN_BUCKET, 10, 100);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 30, &o), 10);
    ck_assert(!o.res.allowed);
    ck_assert(o.res.limit == 10);
    ck_assert(o.res.remaining == 0);
    ck_assert_msg(o.res.retry_after > 9 && o.res.retry_after <= 10.01, "retry %f",
                  o.res.retry_after);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "b", 3, &o), 3); /* keys are separate */
    ck_assert(o.res.remaining == 7);
    /* a short window: 4 per 0.4 s refills one token every 100 ms */
    mg_rl_conf_t s = limiter("tbs", MG_RL_TOKEN_BUCKET, 4, 0.4);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 8, &o), 4);
    ck_assert(o.res.retry_after > 0.05 && o.res.retry_after <= 0.11);
    run_for(k.loop, o.res.retry_after + 0.01);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 1, &o), 1);
    /* cost larger than what is left */
    run_for(k.loop, 0.45);
    void *h;
    outcome_t big = {0};
    ck_assert_int_eq(mg_rl_cluster_check(k.cl, &s, MG_STR("a"), 5, &big.res, on_result, &big, &h),
                     MG_AGAIN);
    ck_assert(run_until(k.loop, &big.done, 2));
    ck_assert(!big.res.allowed);
    client_close(&k);
}
END_TEST

START_TEST(test_leaky_bucket)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 2);
    /* 1 per 100 s with a queue of 2: three at once pass, the fourth is over */
    mg_rl_conf_t c = limiter("lb", MG_RL_LEAKY_BUCKET, 1, 100);
    c.burst = 2;
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 10, &o), 3);
    ck_assert(o.res.limit == 3);
    ck_assert(o.res.retry_after > 99 && o.res.retry_after <= 100.01);
    /* with delay, the n-th queued request waits (n - 1) / rate */
    mg_rl_conf_t d = limiter("lbd", MG_RL_LEAKY_BUCKET, 10, 1);
    d.burst = 2;
    d.delay = true;
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &d, "a", 1, &o), 1);
    ck_assert(o.res.delay == 0);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &d, "a", 1, &o), 1);
    ck_assert_msg(o.res.delay > 0.08 && o.res.delay <= 0.1, "delay %f", o.res.delay);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &d, "a", 1, &o), 1);
    ck_assert_msg(o.res.delay > 0.17 && o.res.delay <= 0.2, "delay %f", o.res.delay);
    /* it drains at the rate: 100 ms later one more fits */
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &d, "a", 1, &o), 0);
    run_for(k.loop, 0.11);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &d, "a", 1, &o), 1);
    client_close(&k);
}
END_TEST

START_TEST(test_fixed_window)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 2);
    mg_rl_conf_t c = limiter("fw", MG_RL_FIXED_WINDOW, 25, 1000);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 60, &o), 25);
    ck_assert(o.res.remaining == 0);
    ck_assert(o.res.retry_after == o.res.reset && o.res.reset > 0 && o.res.reset <= 1000);
    /* short windows: the count starts over exactly at the window's edge */
    mg_rl_conf_t s = limiter("fws", MG_RL_FIXED_WINDOW, 3, 0.3);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 1, &o), 1);
        run_for(k.loop, o.res.reset + 0.005); /* at the start of a window */
        ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 6, &o), 3);
        ck_assert(o.res.reset > 0.1 && o.res.reset <= 0.3);
        run_for(k.loop, o.res.retry_after + 0.005);
    }
    client_close(&k);
}
END_TEST

START_TEST(test_sliding_window)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 2);
    mg_rl_conf_t c = limiter("sw", MG_RL_SLIDING_WINDOW, 20, 1000);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 50, &o), 20);
    /* 4 per 0.5 s: full at the start of a window, the previous window's weight then
     * holds the next one back until retry_after says */
    mg_rl_conf_t s = limiter("sws", MG_RL_SLIDING_WINDOW, 4, 0.5);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 1, &o), 1);
    run_for(k.loop, o.res.reset - 0.5 + 0.01); /* the start of the next window */
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 8, &o), 3);
    ck_assert(o.res.retry_after > 0.3);
    run_for(k.loop, o.res.retry_after + 0.01); /* next window, previous weight 3 + 1 */
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 1, &o), 1);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &s, "a", 1, &o), 0);
    ck_assert_msg(o.res.retry_after > 0 && o.res.retry_after < 0.2, "retry %f",
                  o.res.retry_after);
    client_close(&k);
}
END_TEST

START_TEST(test_concurrency)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 1);
    mg_rl_conf_t c = limiter("cc", MG_RL_CONCURRENCY, 3, 1);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 5, &o), 3);
    mg_rl_cluster_release(k.cl, &c, MG_STR("a"));
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 2, &o), 1); /* same connection: in order */
    for (int i = 0; i < 3; i++) {
        mg_rl_cluster_release(k.cl, &c, MG_STR("a"));
    }
    mg_rl_cluster_release(k.cl, &c, MG_STR("a")); /* one too many: never below zero */
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 5, &o), 3);
    for (int i = 0; i < 3; i++) {
        mg_rl_cluster_release(k.cl, &c, MG_STR("a"));
    }
    run_for(k.loop, 0.1);
    redisContext *a = admin(shared.port);
    redisReply *r = redisCommand(a, "EXISTS %scc:a", k.cc.prefix);
    ck_assert_int_eq(r->integer, 0); /* all released: the key is gone */
    freeReplyObject(r);
    redisFree(a);
    mg_rl_cluster_stats_t st;
    mg_rl_cluster_stats(k.cl, &st);
    ck_assert_uint_eq(st.failures, 0);
    client_close(&k);
}
END_TEST

START_TEST(test_keys_and_ttl)
{
    client_t k;
    outcome_t o;
    client_open(&k, shared.port, 0.5, 2);
    mg_rl_conf_t c = limiter("ttl", MG_RL_FIXED_WINDOW, 5, 0.5);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "1.2.3.4", 1, &o), 1);
    redisContext *a = admin(shared.port);
    ck_assert_ptr_nonnull(a);
    redisReply *r = redisCommand(a, "PTTL %sttl:1.2.3.4", k.cc.prefix);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_msg(r->integer > 0 && r->integer <= 1600, "pttl %lld", r->integer);
    freeReplyObject(r);
    r = redisCommand(a, "MEMORY USAGE %sttl:1.2.3.4", k.cc.prefix);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    fprintf(stderr, "redis memory of one fixed_window key: %lld bytes\n", r->integer);
    ck_assert(r->integer < 200);
    freeReplyObject(r);
    /* the script cache flushed (Redis restarted meanwhile): EVALSHA falls back to EVAL */
    freeReplyObject(redisCommand(a, "SCRIPT FLUSH"));
    ck_assert_int_eq(check1(k.loop, k.cl, &c, "1.2.3.4", &o), MG_OK);
    ck_assert_int_eq(o.status, MG_RL_CLUSTER_OK);
    ck_assert(o.res.allowed);
    redisFree(a);
    client_close(&k);
}
END_TEST

/* Two clients (as two instances), requests interleaved without waiting. */
START_TEST(test_two_instances_share)
{
    client_t k1, k2;
    client_open(&k1, shared.port, 0.5, 2);
    k2.loop = k1.loop;
    conf_init(&k2.cc, shared.port, 0.5, 2);
    strcpy(k2.cc.prefix, k1.cc.prefix);
    k2.cl = mg_rl_cluster_create(k2.loop, &k2.cc.conf);
    wait_connected(k2.loop, k2.cl);
    mg_rl_conf_t c = limiter("two", MG_RL_FIXED_WINDOW, 50, 1000);
    mg_rl_conf_t t = limiter("twotb", MG_RL_TOKEN_BUCKET, 40, 1000);
    enum { N = 200 };
    static outcome_t o[2][N];
    void *h;
    memset(o, 0, sizeof(o));
    for (int i = 0; i < N; i++) {
        mg_rl_cluster_t *cl = i % 2 ? k2.cl : k1.cl;
        ck_assert_int_eq(mg_rl_cluster_check(cl, &c, MG_STR("k"), 1, NULL, on_result, &o[0][i], &h),
                         MG_AGAIN);
        ck_assert_int_eq(mg_rl_cluster_check(cl, &t, MG_STR("k"), 1, NULL, on_result, &o[1][i], &h),
                         MG_AGAIN);
    }
    bool all = false;
    double end = ev_time() + 5;
    while (!all && ev_time() < end) {
        run_for(k1.loop, 0.01);
        all = true;
        for (int i = 0; i < N; i++) {
            all = all && o[0][i].done && o[1][i].done;
        }
    }
    ck_assert(all);
    int allowed[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(o[0][i].status, MG_RL_CLUSTER_OK);
        ck_assert_int_eq(o[1][i].status, MG_RL_CLUSTER_OK);
        allowed[0] += o[0][i].res.allowed;
        allowed[1] += o[1][i].res.allowed;
    }
    ck_assert_int_eq(allowed[0], 50);
    ck_assert_int_eq(allowed[1], 40);
    mg_rl_cluster_destroy(k2.cl);
    client_close(&k1);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_timeout_and_breaker)
{
    srv_t s = {0};
    client_t k;
    outcome_t o;
    srv_start(&s);
    client_open(&k, s.port, 0.05, 2);
    mg_rl_conf_t c = limiter("to", MG_RL_FIXED_WINDOW, 1000, 100);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 1, &o), 1);
    kill(s.pid, SIGSTOP);
    /* the first checks wait for the deadline, then the breaker answers at once */
    int waited = 0, declined = 0;
    for (int i = 0; i < 10 && declined == 0; i++) {
        double t0 = ev_time();
        int rc = check1(k.loop, k.cl, &c, "a", &o);
        if (rc == MG_DECLINED) {
            declined++;
            ck_assert(ev_time() - t0 < 0.01);
            continue;
        }
        ck_assert_int_eq(o.status, MG_RL_CLUSTER_UNAVAILABLE);
        ck_assert_msg(o.at - t0 >= 0.045 && o.at - t0 < 0.5, "took %f s", o.at - t0);
        waited++;
    }
    ck_assert_int_ge(waited, 1);
    ck_assert_int_le(waited, 3);
    ck_assert_int_eq(declined, 1);
    mg_rl_cluster_stats_t st;
    mg_rl_cluster_stats(k.cl, &st);
    ck_assert_uint_ge(st.timeouts, 1);
    ck_assert_uint_ge(st.fallbacks, 4);
    /* stays unavailable, at once, for a while (trials fail) */
    for (int i = 0; i < 20; i++) {
        double t0 = ev_time();
        int rc = check1(k.loop, k.cl, &c, "a", &o);
        ck_assert(rc == MG_DECLINED || o.status == MG_RL_CLUSTER_UNAVAILABLE);
        ck_assert(ev_time() - t0 < 0.5);
        run_for(k.loop, 0.02);
    }
    kill(s.pid, SIGCONT);
    /* back without recreating the client */
    double end = ev_time() + 8;
    bool ok = false;
    while (!ok && ev_time() < end) {
        ok = check1(k.loop, k.cl, &c, "a", &o) == MG_OK && o.status == MG_RL_CLUSTER_OK;
        run_for(k.loop, 0.05);
    }
    ck_assert_msg(ok, "no recovery after SIGCONT");
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 5, &o), 5);
    client_close(&k);
    srv_stop(&s);
}
END_TEST

START_TEST(test_killed_and_restarted)
{
    srv_t s = {0};
    client_t k;
    outcome_t o;
    srv_start(&s);
    client_open(&k, s.port, 0.05, 2);
    mg_rl_conf_t c = limiter("kill", MG_RL_TOKEN_BUCKET, 1000, 100);
    ck_assert_int_eq(allowed_of(k.loop, k.cl, &c, "a", 1, &o), 1);
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;
    /* detection: the connections see the close */
    double end = ev_time() + 2;
    int rc = MG_OK;
    while (ev_time() < end && (rc = check1(k.loop, k.cl, &c, "a", &o)) != MG_DECLINED) {
        ck_assert_int_eq(o.status, MG_RL_CLUSTER_UNAVAILABLE);
        run_for(k.loop, 0.01);
    }
    ck_assert_int_eq(rc, MG_DECLINED);
    /* from then on: at once, every time, while the client keeps reconnecting */
    for (int i = 0; i < 30; i++) {
        double t0 = ev_time();
        ck_assert_int_eq(check1(k.loop, k.cl, &c, "a", &o), MG_DECLINED);
        ck_assert(ev_time() - t0 < 0.005);
        run_for(k.loop, 0.02);
    }
    mg_rl_cluster_stats_t st;
    mg_rl_cluster_stats(k.cl, &st);
    ck_assert(!st.connected);
    srv_start(&s); /* same port */
    end = ev_time() + 6;
    bool ok = false;
    while (!ok && ev_time() < end) {
        ok = check1(k.loop, k.cl, &c, "a", &o) == MG_OK && o.status == MG_RL_CLUSTER_OK;
        run_for(k.loop, 0.02);
    }
    ck_assert_msg(ok, "no recovery after the restart");
    mg_rl_cluster_stats(k.cl, &st);
    ck_assert(st.connected);
    client_close(&k);
    srv_stop(&s);
}
END_TEST

START_TEST(test_cancel_safety)
{
    srv_t s = {0};
    client_t k;
    srv_start(&s);
    client_open(&k, s.port, 0.05, 2);
    mg_rl_conf_t c = limiter("cancel", MG_RL_FIXED_WINDOW, 1000, 100);
    outcome_t o[4];
    void *h[4];
    memset(o, 0, sizeof(o));
    /* cancelled while the answer is on its way */
    ck_assert_int_eq(mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, NULL, on_result, &o[0], &h[0]),
                     MG_AGAIN);
    mg_rl_cluster_cancel(k.cl, h[0]);
    /* cancelled while Redis is stuck, then its deadline and its late reply pass */
    kill(s.pid, SIGSTOP);
    ck_assert_int_eq(mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, NULL, on_result, &o[1], &h[1]),
                     MG_AGAIN);
    ck_assert_int_eq(mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, NULL, on_result, &o[2], &h[2]),
                     MG_AGAIN);
    mg_rl_cluster_cancel(k.cl, h[1]);
    run_for(k.loop, 0.2);
    ck_assert_int_eq(o[2].calls, 1); /* the other one timed out */
    ck_assert_int_eq(o[2].status, MG_RL_CLUSTER_UNAVAILABLE);
    kill(s.pid, SIGCONT);
    run_for(k.loop, 0.3);
    ck_assert_int_eq(o[0].calls, 0);
    ck_assert_int_eq(o[1].calls, 0);
    ck_assert_int_eq(o[2].calls, 1); /* its late reply is ignored */
    /* destroyed with a check pending: never called */
    int rc = MG_DECLINED;
    double end = ev_time() + 5;
    while (rc != MG_AGAIN && ev_time() < end) {
        rc = mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, NULL, on_result, &o[3], &h[3]);
        run_for(k.loop, 0.02);
    }
    ck_assert_int_eq(rc, MG_AGAIN);
    if (o[3].calls == 0) {
        mg_rl_cluster_destroy(k.cl);
        run_for(k.loop, 0.05);
        ck_assert_int_eq(o[3].calls, 0);
    } else {
        mg_rl_cluster_destroy(k.cl);
    }
    ev_loop_destroy(k.loop);
    srv_stop(&s);
}
END_TEST

/* ---- cluster_approx ---- */

static long admitted[64]; /* by window, from the window the run started in */
static double base_window;

typedef struct {
    mg_rl_cluster_t *cl;
    const mg_rl_conf_t *c;
    ev_timer t;
    int per_tick;
} driver_t;

static void on_drive(struct ev_loop *loop, ev_timer *t, int revents)
{
    driver_t *d = t->data;
    for (int i = 0; i < d->per_tick; i++) {
        mg_rl_result_t res;
        void *h;
        if (mg_rl_cluster_check(d->cl, d->c, MG_STR("hot"), 1, &res, NULL, NULL, &h) != MG_OK) {
            continue;
        }
        /* which window: it ends, on the estimated Redis clock, at now + reset */
        long idx = lround((ev_now(loop) + res.reset) / d->c->window) - 1 - (long)base_window;
        if (res.allowed && idx >= 0 && idx < 64) {
            admitted[idx]++;
        }
    }
}

/* Two instances, each offered `rate` requests/s for `secs`; returns the largest count
 * admitted in one whole window, and the smallest in *least. */
static long approx_run(double rate, double interval, double limit, double window, double secs,
                       long *least)
{
    client_t k1, k2;
    client_open(&k1, shared.port, 0.5, 2);
    k2.loop = k1.loop;
    conf_init(&k2.cc, shared.port, 0.5, 2);
    strcpy(k2.cc.prefix, k1.cc.prefix);
    k2.cl = mg_rl_cluster_create(k2.loop, &k2.cc.conf);
    wait_connected(k2.loop, k2.cl);
    mg_rl_conf_t c1 = limiter("approx", MG_RL_FIXED_WINDOW, limit, window);
    c1.scope = MG_RL_CLUSTER_APPROX;
    c1.sync_interval = interval;
    mg_rl_conf_t c2 = c1; /* each instance has its own conf */
    driver_t d[2] = {{.cl = k1.cl, .c = &c1, .per_tick = 2}, {.cl = k2.cl, .c = &c2, .per_tick = 2}};
    memset(admitted, 0, sizeof(admitted));
    base_window = floor(ev_time() / window);
    for (int i = 0; i < 2; i++) {
        ev_timer_init(&d[i].t, on_drive, 0.001 * (i + 1), d[i].per_tick / rate);
        d[i].t.data = &d[i];
        ev_timer_start(k1.loop, &d[i].t);
    }
    run_for(k1.loop, secs);
    ev_timer_stop(k1.loop, &d[0].t);
    ev_timer_stop(k1.loop, &d[1].t);
    long most = 0, n = (long)(secs / window);
    *least = -1;
    for (long w = 1; w < n && w < 64; w++) { /* window 0 and the last are partial */
        fprintf(stderr,
                "cluster_approx: window %ld admitted %ld (limit %.0f, offered %.0f/s, sync %.0f "
                "ms)\n",
                w, admitted[w], limit, 2 * rate, interval * 1000);
        most = MG_MAX(most, admitted[w]);
        *least = *least < 0 ? admitted[w] : MG_MIN(*least, admitted[w]);
    }
    mg_rl_cluster_destroy(k2.cl);
    client_close(&k1);
    return most;
}

START_TEST(test_approx_overshoot_bound)
{
    /* the bound: limit + λ × (2 × sync_interval + RTT), λ the cluster-wide offered rate */
    double rate = 500, interval = 0.05, limit = 100, window = 1;
    long least, most = approx_run(rate, interval, limit, window, 4.2, &least);
    double bound = limit + 2 * rate * (2 * interval + 0.02);
    ck_assert_msg(most <= bound, "admitted %ld in one window, bound %.0f", most, bound);
    ck_assert_msg(least >= limit * 0.9, "admitted only %ld of %.0f", least, limit);
}
END_TEST

START_TEST(test_approx_no_redis_call_and_unavailable)
{
    srv_t s = {0};
    client_t k;
    srv_start(&s);
    client_open(&k, s.port, 0.05, 1);
    mg_rl_conf_t c = limiter("ap", MG_RL_TOKEN_BUCKET, 5, 100);
    c.scope = MG_RL_CLUSTER_APPROX;
    mg_rl_result_t res;
    void *h;
    int allowed = 0;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, &res, NULL, NULL, &h), MG_OK);
        allowed += res.allowed;
    }
    ck_assert_int_eq(allowed, 5);
    /* the sync pushes the 5 to Redis: a second instance sees an empty bucket */
    run_for(k.loop, 0.3);
    client_t k2;
    client_open(&k2, s.port, 0.05, 1);
    strcpy(k2.cc.prefix, k.cc.prefix);
    mg_rl_conf_t c2 = c;
    ck_assert_int_eq(mg_rl_cluster_check(k2.cl, &c2, MG_STR("a"), 1, &res, NULL, NULL, &h), MG_OK);
    run_for(k2.loop, 0.3); /* its first sync */
    ck_assert_int_eq(mg_rl_cluster_check(k2.cl, &c2, MG_STR("a"), 1, &res, NULL, NULL, &h), MG_OK);
    ck_assert(!res.allowed);
    client_close(&k2);
    /* Redis gone: cluster_approx declines too, so the caller applies redis_failure */
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;
    double end = ev_time() + 2;
    int rc = MG_OK;
    while (rc != MG_DECLINED && ev_time() < end) {
        rc = mg_rl_cluster_check(k.cl, &c, MG_STR("a"), 1, &res, NULL, NULL, &h);
        run_for(k.loop, 0.01);
    }
    ck_assert_int_eq(rc, MG_DECLINED);
    client_close(&k);
}
END_TEST

START_TEST(test_local_conf)
{
    mg_rl_conf_t c = limiter("lc", MG_RL_TOKEN_BUCKET, 100, 1), out;
    c.nodes = 4;
    c.burst = 40;
    mg_rl_cluster_local_conf(&c, &out);
    ck_assert(out.scope == MG_RL_LOCAL);
    ck_assert(out.limit == 25 && out.burst == 10 && out.window == 1);
    ck_assert_str_eq(out.name, "lc");
    c.limit = 2;
    c.nodes = 8;
    mg_rl_cluster_local_conf(&c, &out);
    ck_assert(out.limit == 1);
    mg_rl_cluster_stats_t st;
    mg_rl_cluster_stats(NULL, &st);
    ck_assert_uint_eq(st.checks, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit_cluster");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, setup_shared, teardown_shared);
    tcase_add_test(tc, test_local_conf);
    tcase_add_test(tc, test_token_bucket);
    tcase_add_test(tc, test_leaky_bucket);
    tcase_add_test(tc, test_fixed_window);
    tcase_add_test(tc, test_sliding_window);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_keys_and_ttl);
    tcase_add_test(tc, test_two_instances_share);
    tcase_add_test(tc, test_timeout_and_breaker);
    tcase_add_test(tc, test_killed_and_restarted);
    tcase_add_test(tc, test_cancel_safety);
    tcase_add_test(tc, test_approx_no_redis_call_and_unavailable);
    tcase_add_test(tc, test_approx_overshoot_bound);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
