/*
 * metrics_lua.c -- the plugins on the GET /metrics page: what the gateway counts of
 * them (calls, errors and running time per phase, CPU-budget kills, each worker's Lua
 * memory; core/lua/lua_metrics.c).
 *
 * Only the plugins of the generation the page is taken from are shown: series of a
 * plugin no longer loaded stay in the regions (nothing is ever removed) but are left
 * out.
 */
#include "metrics_int.h"

#include "gen.h"
#include "lua_runtime.h"
#include "metrics_store.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- what the gateway counts of its plugins ---- */

static void render_memory(mg__metrics_out_t *o)
{
    uint64_t mem;
    mg_metrics_sum(MG_STR(MG__METRICS_LUA_MEMORY_KEY), 1, mg__metrics_dead_slot, (void *)o->w,
                   &mem);
    mg__metrics_family(o, "moongate_lua_memory_bytes", "gauge",
                       "Bytes held by the Lua state of each live worker's current generation, "
                       "summed over the workers (updated every second).");
    mg__metrics_sample(o, "moongate_lua_memory_bytes", "", mem);
}

/* Per-phase sums of every loaded plugin: np * 6 series of nc cells (zero where the
 * plugin has no function for the phase). */
static uint64_t *phase_sums(const mg_gen_t *g, size_t np, uint32_t nc)
{
    uint64_t *sums = calloc(np * 6 * nc, sizeof(uint64_t));
    char key[1024];
    for (size_t i = 0; sums != NULL && i < np; i++) {
        const char *name = mg_lua_plugin_name(g->lua, i);
        for (int ph = MG_PHASE_REWRITE; ph <= MG_PHASE_LOG; ph++) {
            if (mg_lua_plugin_phases(g->lua, i) & MG_PHASE_BIT(ph)) {
                mg_metrics_sum(mg_lua_metrics_plugin_key(key, sizeof(key), name, ph), nc, NULL,
                               NULL, &sums[(i * 6 + (size_t)ph) * nc]);
            }
        }
    }
    return sums;
}

static void plugin_label(char *buf, size_t cap, const char *plugin, int phase)
{
    char pn[256];
    mg__metrics_escape(pn, sizeof(pn), plugin);
    if (phase < 0) {
        snprintf(buf, cap, "plugin=\"%s\"", pn);
    } else {
        snprintf(buf, cap, "plugin=\"%s\",phase=\"%s\"", pn, mg_lua_phase_name(phase));
    }
}

static void render_phases(mg__metrics_out_t *o, const mg_gen_t *g, size_t np)
{
    static const struct {
        const char *name, *type, *help;
        int cell;
    } fams[] = {
        {"moongate_plugin_calls_total", "counter",
         "Calls of a plugin's phase function, by plugin and phase.", MG_LUA_PM_CALLS},
        {"moongate_plugin_errors_total", "counter",
         "Calls of a plugin's phase function that failed (the request got a 500).",
         MG_LUA_PM_ERRORS},
        {"moongate_plugin_duration_seconds", "histogram",
         "Time a plugin's phase function ran per call, waits (sleeps, HTTP calls, body "
         "reads) not counted.",
         MG_LUA_PM_HIST},
    };
    uint32_t nc = mg_lua_metrics_plugin_cells(g->conf);
    uint32_t nb = (uint32_t)g->conf->metrics.nbuckets;
    uint64_t *sums = phase_sums(g, np, nc);
    if (sums == NULL) {
        o->oom = true;
        return;
    }
    mg__metrics_bounds_t bt;
    mg__metrics_bounds(o, g->conf->metrics.buckets, nb, &bt);
    for (size_t f = 0; f < MG_NELEMS(fams); f++) {
        mg__metrics_family(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < np; i++) {
            for (int ph = MG_PHASE_REWRITE; ph <= MG_PHASE_LOG; ph++) {
                if (!(mg_lua_plugin_phases(g->lua, i) & MG_PHASE_BIT(ph))) {
                    continue;
                }
                const uint64_t *c = &sums[(i * 6 + (size_t)ph) * nc];
                char labels[400];
                plugin_label(labels, sizeof(labels), mg_lua_plugin_name(g->lua, i), ph);
                if (fams[f].cell == MG_LUA_PM_HIST) {
                    mg__metrics_histogram(o, fams[f].name, labels, c + MG_LUA_PM_HIST, &bt, nb);
                } else {
                    mg__metrics_sample(o, fams[f].name, labels, c[fams[f].cell]);
                }
            }
        }
    }
    free(sums);
}

static void render_kills(mg__metrics_out_t *o, const mg_gen_t *g, size_t np)
{
    mg__metrics_family(o, "moongate_plugin_budget_kills_total", "counter",
                       "Plugin code stopped for overrunning lua.cpu_budget (the request got a "
                       "500), or whose worker was killed for a stall (lua.stall_timeout).");
    for (size_t i = 0; i < np; i++) {
        char key[1024], labels[300];
        const char *name = mg_lua_plugin_name(g->lua, i);
        uint64_t kills;
        mg_metrics_sum(mg_lua_metrics_plugin_key(key, sizeof(key), name, -1), 1, NULL, NULL,
                       &kills);
        plugin_label(labels, sizeof(labels), name, -1);
        mg__metrics_sample(o, "moongate_plugin_budget_kills_total", labels, kills);
    }
}

void mg__metrics_render_plugins(mg__metrics_out_t *o, const mg_gen_t *g)
{
    render_memory(o);
    size_t np = mg_lua_plugin_count(g->lua);
    if (np == 0 || g->lua == NULL) {
        return;
    }
    render_phases(o, g, np);
    render_kills(o, g, np);
}
