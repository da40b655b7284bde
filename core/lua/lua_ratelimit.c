/*
 * lua_ratelimit.c -- rate limiting as Lua reaches it through the FFI: the route's
 * limits inside the plugin coroutine (runtime.lua, between rewrite and access), and
 * the limiters plugins make with mg.ratelimit.new (lua/moongate/ratelimit.lua).
 *
 * A check that must wait (a leaky-bucket delay, a cluster answer) returns MG_AGAIN and
 * marks the task MG_WAIT_RL; the Lua side yields, the callback stores the outcome and
 * resumes the coroutine from the loop, and the Lua side fetches the outcome with the
 * matching *_result call. A request that ends meanwhile drops its coroutine
 * (lua_task.c) and its pool cleanup cancels the wait, so no callback reaches it.
 */
#include "lua_int.h"

#include "clock.h"
#include "conf.h"
#include "gen.h"
#include "log.h"
#include "lua_ffi.h"
#include "pool.h"
#include "ratelimit.h"
#include "ratelimit_cluster.h"
#include "ratelimit_zone.h"

#include <stdio.h>

/* What a waiting task gets back. */
struct mg_lua_rl_s {
    mg_lua_task_t *t;
    int rc;             /* route check: MG_OK or a status */
    mg_rl_result_t res; /* limiter take */
    mg_rl_conf_t conf;  /* the limiter being checked (its fallback share needs it) */
    mg_str_t key;
    void *pending; /* cluster handle */
    mg_rl_cluster_t *cl;
};

typedef struct mg_lua_rl_s lua_rl_t;

static void on_cleanup(void *data)
{
    lua_rl_t *w = data;
    if (w->pending != NULL) {
        mg_rl_cluster_cancel(w->cl, w->pending);
        w->pending = NULL;
    }
    if (w->t != NULL && w->t->rl == w) {
        w->t->rl = NULL;
    }
}

static lua_rl_t *wait_of(mg_lua_task_t *t)
{
    if (t->rl != NULL) {
        return t->rl;
    }
    lua_rl_t *w = mg_pool_calloc(t->r->pool, sizeof(*w));
    if (w == NULL || mg_pool_cleanup_add(t->r->pool, on_cleanup, w) != MG_OK) {
        return NULL;
    }
    w->t = t;
    w->cl = t->r->gen->rl_cluster;
    t->rl = w;
    return w;
}

/* Resumes the coroutine waiting on a rate limit, from the loop. */
static void wake(mg_lua_task_t *t)
{
    if (t->wait == MG_WAIT_RL && t->co != NULL) {
        t->wait = MG_WAIT_NONE;
        mg__lua_task_resume(t);
    }
}

/* ---- limiters made by plugins ---- */

/* The node's own share of a cluster limit, checked locally (redis_failure: local). */
static int take_share(const mg_rl_conf_t *c, mg_str_t key, double cost, mg_rl_result_t *out)
{
    mg_rl_conf_t share;
    mg_rl_cluster_local_conf(c, &share);
    mg_rl_zone_t *z = mg_rl_zone_find(c->zone, strlen(c->zone));
    if (z == NULL) {
        return MG_ERROR;
    }
    mg_rl_zone_take(z, &share, key, mg_mono_now(), cost, out);
    return MG_OK;
}

static int failed(const mg_rl_conf_t *c, mg_str_t key, double cost, mg_rl_result_t *out)
{
    switch (c->redis_failure) {
    case MG_RL_FAIL_ALLOW:
        *out = (mg_rl_result_t){.allowed = true, .limit = c->limit, .remaining = c->limit};
        return MG_OK;
    case MG_RL_FAIL_REJECT:
        *out = (mg_rl_result_t){.limit = c->limit, .retry_after = 1, .reset = 1};
        return MG_OK;
    case MG_RL_FAIL_LOCAL:
        break;
    }
    return take_share(c, key, cost, out);
}

static void on_take_done(void *arg, int status, const mg_rl_result_t *res)
{
    lua_rl_t *w = arg;
    w->pending = NULL;
    if (status == MG_RL_CLUSTER_OK) {
        w->res = *res;
    } else if (failed(&w->conf, w->key, 1, &w->res) != MG_OK) {
        w->res = (mg_rl_result_t){.allowed = true, .limit = w->conf.limit};
    }
    wake(w->t);
}

/* lim:take(key, cost): checks limiter `c` (owned by the Lua object) for `key`. MG_OK
 * with *out filled; MG_AGAIN (a cluster check: yield, then mg_lua_rl_take_result);
 * MG_ERROR when its zone does not exist. */
int mg_lua_rl_take(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen,
                   double cost, mg_rl_result_t *out)
{
    mg_str_t k = mg_str(key, klen);
    if (c->scope == MG_RL_LOCAL) {
        mg_rl_zone_t *z = mg_rl_zone_find(c->zone, strlen(c->zone));
        if (z == NULL) {
            return MG_ERROR;
        }
        if (mg_rl_zone_take(z, c, k, mg_mono_now(), cost, out) != MG_OK) {
            mg_log_warn("mg.ratelimit \"%s\": zone \"%s\" is full even after evicting, "
                        "request allowed",
                        c->name, c->zone);
        }
        return MG_OK;
    }
    if (t == NULL || t->r == NULL) {
        return MG_ERROR;
    }
    lua_rl_t *w = wait_of(t);
    if (w == NULL) {
        return MG_ERROR;
    }
    int rc = w->cl != NULL
                 ? mg_rl_cluster_check(w->cl, c, k, cost, out, on_take_done, w, &w->pending)
                 : MG_DECLINED;
    if (rc == MG_OK) {
        return MG_OK;
    }
    if (rc != MG_AGAIN) {
        w->pending = NULL;
        return failed(c, k, cost, out);
    }
    /* the callback may need the limiter and the key after this call returned */
    char *kc = mg_pool_strndup(t->r->pool, key, klen);
    if (kc == NULL) {
        mg_rl_cluster_cancel(w->cl, w->pending);
        w->pending = NULL;
        return failed(c, k, cost, out);
    }
    w->conf = *c;
    w->key = mg_str(kc, klen);
    t->wait = MG_WAIT_RL;
    return MG_AGAIN;
}

/* The result of a take that returned MG_AGAIN. */
void mg_lua_rl_take_result(mg_lua_task_t *t, mg_rl_result_t *out)
{
    *out = t->rl != NULL ? t->rl->res : (mg_rl_result_t){.allowed = true};
}

/* lim:release(key): gives back a concurrency slot. */
void mg_lua_rl_release(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen)
{
    mg_str_t k = mg_str(key, klen);
    if (c->scope == MG_RL_LOCAL || c->redis_failure == MG_RL_FAIL_LOCAL) {
        mg_rl_zone_t *z = mg_rl_zone_find(c->zone, strlen(c->zone));
        if (z != NULL) {
            mg_rl_zone_release(z, c, k);
        }
    }
    if (c->scope != MG_RL_LOCAL && t != NULL && t->r != NULL) {
        mg_rl_cluster_release(t->r->gen->rl_cluster, c, k);
    }
}

/* sizeof(mg_rl_conf_t) and sizeof(mg_rl_result_t): the Lua side's declarations of
 * them are checked against these once. */
size_t mg_lua_rl_sizes(size_t *result_size)
{
    *result_size = sizeof(mg_rl_result_t);
    return sizeof(mg_rl_conf_t);
}
