/*
 * metrics_ratelimit.c -- rate limits on the GET /metrics page: each route limit's
 * decisions (ratelimit.h says what each one means), and the Redis client behind the
 * cluster limits (sys/redis.h), with the meanings /status gives its figures.
 */
#include "metrics_int.h"

#include "gen.h"
#include "metrics_store.h"
#include "ratelimit.h"
#include "ratelimit_cluster.h"
#include "redis.h"

#include <stdio.h>

static void decision_samples(mg__metrics_out_t *o, const char *route, const char *limit,
                             const uint64_t *c)
{
    static const char *const names[MG_RL_DECISIONS] = {"allowed", "rejected", "delayed"};
    char rn[512], ln[512], labels[1200];
    mg__metrics_escape(rn, sizeof(rn), route);
    mg__metrics_escape(ln, sizeof(ln), limit);
    for (int d = 0; d < MG_RL_DECISIONS; d++) {
        snprintf(labels, sizeof(labels), "route=\"%s\",limit=\"%s\",decision=\"%s\"", rn, ln,
                 names[d]);
        mg__metrics_sample(o, "moongate_ratelimit_decisions_total", labels, c[d]);
    }
}

static void render_decisions(mg__metrics_out_t *o, const mg_conf_t *conf)
{
    bool any = false;
    for (size_t i = 0; i < conf->nroutes && !any; i++) {
        any = conf->routes[i].nrate_limits > 0;
    }
    if (!any) {
        return;
    }
    mg__metrics_family(o, "moongate_ratelimit_decisions_total", "counter",
                       "Decisions of each route limit on the requests that reached it: "
                       "allowed, rejected, or delayed (a leaky bucket's wait).");
    char key[1024];
    uint64_t c[MG_RL_DECISIONS];
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *rt = &conf->routes[i];
        for (size_t j = 0; j < rt->nrate_limits; j++) {
            const char *limit = rt->rate_limits[j].name;
            mg_metrics_sum(mg_rl_metrics_key(key, sizeof(key), rt->name, limit), MG_RL_DECISIONS,
                           NULL, NULL, c);
            decision_samples(o, rt->name, limit, c);
        }
    }
    /* what found no room in a worker's region */
    mg_metrics_sum(mg_rl_metrics_key(key, sizeof(key), "_other", "_other"), MG_RL_DECISIONS, NULL,
                   NULL, c);
    if (c[0] + c[1] + c[2] > 0) {
        decision_samples(o, "_other", "_other", c);
    }
}

static void render_redis(mg__metrics_out_t *o, const mg_conf_t *conf)
{
    uint32_t nb = (uint32_t)conf->metrics.nbuckets, nc = mg_redis_metrics_cells(nb);
    uint64_t c[MG_REDIS_M_HIST + MG_METRICS_HIST_CELLS(MG_METRICS_MAX_BUCKETS)], up;
    mg_metrics_sum(MG_STR(MG_REDIS_METRICS_KEY), nc, NULL, NULL, c);
    mg_metrics_sum(MG_STR(MG__METRICS_REDIS_UP_KEY), 1, mg__metrics_dead_slot, (void *)o->w, &up);
    mg__metrics_family(o, "moongate_redis_commands_total", "counter",
                       "Commands sent to Redis (cluster rate limits).");
    mg__metrics_sample(o, "moongate_redis_commands_total", "", c[MG_REDIS_M_COMMANDS]);
    mg__metrics_family(o, "moongate_redis_errors_total", "counter",
                       "Commands that failed: reason failure (connection lost, error reply) or "
                       "timeout (no reply within redis.timeout); /status's failures and "
                       "timeouts.");
    mg__metrics_sample(o, "moongate_redis_errors_total", "reason=\"failure\"",
                       c[MG_REDIS_M_FAILURES]);
    mg__metrics_sample(o, "moongate_redis_errors_total", "reason=\"timeout\"",
                       c[MG_REDIS_M_TIMEOUTS]);
    mg__metrics_family(o, "moongate_redis_declined_total", "counter",
                       "Commands not sent because Redis was known to be unavailable (no "
                       "connection, or the breaker open).");
    mg__metrics_sample(o, "moongate_redis_declined_total", "", c[MG_REDIS_M_DECLINED]);
    mg__metrics_family(o, "moongate_redis_reconnects_total", "counter",
                       "Connection attempts after a connection was lost or an attempt failed.");
    mg__metrics_sample(o, "moongate_redis_reconnects_total", "", c[MG_REDIS_M_RECONNECTS]);
    mg__metrics_family(o, "moongate_redis_connected", "gauge",
                       "Live workers whose Redis client has a connection up (/status's "
                       "connected), updated every second.");
    mg__metrics_sample(o, "moongate_redis_connected", "", up);
    uint64_t cl[MG_RL_CLUSTER_M_CELLS];
    mg_metrics_sum(MG_STR(MG_RL_CLUSTER_METRICS_KEY), MG_RL_CLUSTER_M_CELLS, NULL, NULL, cl);
    mg__metrics_family(o, "moongate_ratelimit_cluster_checks_total", "counter",
                       "Checks of cluster-scope limits (/status's redis checks).");
    mg__metrics_sample(o, "moongate_ratelimit_cluster_checks_total", "",
                       cl[MG_RL_CLUSTER_M_CHECKS]);
    mg__metrics_family(o, "moongate_ratelimit_cluster_fallbacks_total", "counter",
                       "Checks of cluster-scope limits Redis could not answer, which applied "
                       "their redis_failure (/status's redis fallbacks).");
    mg__metrics_sample(o, "moongate_ratelimit_cluster_fallbacks_total", "",
                       cl[MG_RL_CLUSTER_M_FALLBACKS]);
    mg__metrics_bounds_t bt;
    mg__metrics_bounds(o, conf->metrics.buckets, nb, &bt);
    mg__metrics_family(o, "moongate_redis_command_duration_seconds", "histogram",
                       "Time from sending a command to its reply (error replies included).");
    mg__metrics_histogram(o, "moongate_redis_command_duration_seconds", "", c + MG_REDIS_M_HIST,
                          &bt, nb);
}

void mg__metrics_render_limits(mg__metrics_out_t *o, const mg_gen_t *g)
{
    render_decisions(o, g->conf);
    if (g->conf->redis != NULL) {
        render_redis(o, g->conf);
    }
}
