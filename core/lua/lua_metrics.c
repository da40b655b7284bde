/*
 * lua_metrics.c -- what a Lua state counts for GET /metrics: each plugin's calls,
 * errors and running time per phase, and its CPU-budget kills.
 *
 * A state is made before it knows its worker (validation, the first generation), and
 * series live in the worker's region (sys/metrics_store.h), so nothing here adds a
 * series until mg_lua_metrics_bind(): the per-plugin cells are found then, once per
 * generation, and the request path only bumps them through pointers runtime.lua holds
 * (mg_lua_plugin_cells).
 *
 * Keys (MG_METRICS_SEP between the parts):
 *   P plugin phase       calls, errors, then a histogram of seconds (conf buckets)
 *   K plugin             CPU-budget kills (also counted by the master for stalls)
 */
#include "lua_int.h"

#include "conf.h"
#include "lua_ffi.h"
#include "metrics_store.h"

#include <stdio.h>
#include <stdlib.h>

#define PHASES 8 /* pcells per plugin: indexed by plugin index * 8 + phase, as mg__lua_where */

struct mg_lua_metrics_s {
    bool bound;        /* mg_lua_metrics_bind() ran: series may be added */
    uint64_t **pcells; /* nplugins * PHASES; NULL entries until bound, or without room */
    uint64_t **kills;  /* per plugin */
    size_t nplugins;
};

/* ---- keys ---- */

static mg_str_t key_of(char *buf, size_t cap, int n)
{
    return mg_str(buf, n < 0 ? 0 : MG_MIN((size_t)n, cap - 1));
}

mg_str_t mg_lua_metrics_plugin_key(char *buf, size_t cap, const char *plugin, int phase)
{
    if (phase < 0) {
        return key_of(buf, cap, snprintf(buf, cap, "K%c%s", MG_METRICS_SEP, plugin));
    }
    return key_of(buf, cap,
                  snprintf(buf, cap, "P%c%s%c%s", MG_METRICS_SEP, plugin, MG_METRICS_SEP,
                           mg_lua_phase_name(phase)));
}

uint32_t mg_lua_metrics_plugin_cells(const mg_conf_t *conf)
{
    return MG_LUA_PM_HIST + MG_METRICS_HIST_CELLS((uint32_t)conf->metrics.nbuckets);
}

/* ---- the state's part ---- */

int mg__lua_metrics_create(mg_lua_t *lua)
{
    const mg_conf_t *conf = lua->conf;
    if (!mg_conf_metrics_on(conf)) {
        return MG_OK;
    }
    struct mg_lua_metrics_s *m = calloc(1, sizeof(*m));
    size_t n = conf->nplugin_srcs;
    if (m == NULL || (m->pcells = calloc((n ? n : 1) * PHASES, sizeof(*m->pcells))) == NULL ||
        (m->kills = calloc(n ? n : 1, sizeof(*m->kills))) == NULL) {
        if (m != NULL) {
            free(m->pcells);
        }
        free(m);
        return MG_ERROR;
    }
    m->nplugins = n;
    lua->metrics = m;
    return MG_OK;
}

void mg__lua_metrics_destroy(mg_lua_t *lua)
{
    struct mg_lua_metrics_s *m = lua->metrics;
    if (m == NULL) {
        return;
    }
    free(m->pcells);
    free(m->kills);
    free(m);
    lua->metrics = NULL;
}

int mg_lua_metrics_bind(mg_lua_t *lua)
{
    struct mg_lua_metrics_s *m = lua != NULL ? lua->metrics : NULL;
    if (m == NULL || m->bound || lua->w == NULL) {
        return MG_OK;
    }
    char key[1024];
    uint32_t nc = mg_lua_metrics_plugin_cells(lua->conf);
    for (size_t i = 0; i < m->nplugins && i < lua->nplugins; i++) {
        const char *name = lua->plugin_names[i];
        for (int ph = MG_PHASE_REWRITE; ph <= MG_PHASE_LOG; ph++) {
            if (lua->plugin_phases[i] & MG_PHASE_BIT(ph)) {
                m->pcells[i * PHASES + (size_t)ph] =
                    mg_metrics_series(mg_lua_metrics_plugin_key(key, sizeof(key), name, ph), nc, 0);
            }
        }
        m->kills[i] =
            mg_metrics_series(mg_lua_metrics_plugin_key(key, sizeof(key), name, -1), 1, 0);
    }
    m->bound = true;
    return MG_OK;
}

unsigned mg_lua_plugin_phases(const mg_lua_t *lua, size_t i)
{
    return lua != NULL && i < lua->nplugins && lua->plugin_phases != NULL ? lua->plugin_phases[i]
                                                                          : 0;
}

void mg__lua_metrics_kill(mg_lua_t *lua, int32_t where)
{
    struct mg_lua_metrics_s *m = lua != NULL ? lua->metrics : NULL;
    size_t idx = where >= 0 ? (size_t)where / PHASES : SIZE_MAX;
    if (m != NULL && idx < m->nplugins && m->kills[idx] != NULL) {
        mg_metrics_add(m->kills[idx], 1);
    }
}

void mg_lua_metrics_stall_kill(const mg_conf_t *conf, const char *plugin)
{
    char key[1024];
    if (plugin == NULL || !mg_conf_metrics_on(conf)) {
        return;
    }
    uint64_t *c = mg_metrics_series(mg_lua_metrics_plugin_key(key, sizeof(key), plugin, -1), 1, 0);
    if (c != NULL) {
        mg_metrics_add(c, 1);
    }
}

/* ---- plugin calls (runtime.lua's run_chain, through the FFI) ---- */

uint64_t **mg_lua_plugin_cells(void *state)
{
    mg_lua_t *lua = state;
    return lua != NULL && lua->metrics != NULL ? lua->metrics->pcells : NULL;
}

double mg_lua_plugin_enter(mg_lua_task_t *t)
{
    mg__lua_time_switch(t, t->run_phase);
    return t->run_phase >= 0 ? t->phase_time[t->run_phase] : 0;
}

void mg_lua_plugin_leave(mg_lua_task_t *t, uint64_t *cells, int ok, double mark)
{
    /* the phase's time counts running code only (mg__lua_time_*): the difference is the
     * plugin's own, whatever it waited for in between */
    mg__lua_time_switch(t, t->run_phase);
    double spent = t->run_phase >= 0 ? t->phase_time[t->run_phase] - mark : 0;
    const mg_metrics_conf_t *mc = &t->lua->conf->metrics;
    mg_metrics_add(&cells[MG_LUA_PM_CALLS], 1);
    if (!ok) {
        mg_metrics_add(&cells[MG_LUA_PM_ERRORS], 1);
    }
    mg_metrics_observe(cells + MG_LUA_PM_HIST, mc->buckets, (uint32_t)mc->nbuckets, spent);
}
