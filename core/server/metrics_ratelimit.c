/*
 * metrics_ratelimit.c -- rate limits on the GET /metrics page: each route limit's
 * decisions (ratelimit.h says what each one means).
 */
#include "metrics_int.h"

#include "gen.h"
#include "metrics_store.h"
#include "ratelimit.h"

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

void mg__metrics_render_limits(mg__metrics_out_t *o, const mg_gen_t *g)
{
    render_decisions(o, g->conf);
}
