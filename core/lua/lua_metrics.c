/*
 * lua_metrics.c -- what a Lua state counts for GET /metrics: each plugin's calls,
 * errors and running time per phase, its CPU-budget kills, and the metrics plugins
 * declare themselves with mg.metrics (lua/moongate/metrics.lua).
 *
 * A state is made before it knows its worker (validation, the first generation), and
 * series live in the worker's region (sys/metrics_store.h), so nothing here adds a
 * series until mg_lua_metrics_bind(): the per-plugin cells are found then, once per
 * generation, and the request path only bumps them through pointers runtime.lua holds
 * (mg_lua_plugin_cells). A plugin's own series are found on first use of a label set,
 * from Lua, and cached there; each worker keeps at most `max_series` of them per metric
 * (a count kept in the region, so it holds across reloads and restarts) and folds the
 * rest into one "_other" series, counted.
 *
 * Keys (MG_METRICS_SEP between the parts):
 *   P plugin phase       calls, errors, then a histogram of seconds (conf buckets)
 *   K plugin             CPU-budget kills (also counted by the master for stalls)
 *   u plugin name sig v1 v2 ...   a declared metric's series (cells hold doubles)
 *   U plugin name sig             its series added in this region, and folds
 * `sig` is a hash of the declaration's type, label names and bounds: a metric whose
 * shape changes across a reload starts new series instead of mixing old counts in.
 */
#include "lua_int.h"

#include "conf.h"
#include "lua_ffi.h"
#include "metrics_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PHASES 8 /* pcells per plugin: indexed by plugin index * 8 + phase, as mg__lua_where */
#define MAX_DECLS 1024

typedef struct {
    mg_lua_metric_info_t info;
    char *prefix; /* "u<SEP>plugin<SEP>name<SEP>sig<SEP>" */
    size_t plen;
    uint32_t max_series;
    uint64_t *meta;  /* this worker's [series added, folds], found on first use */
    uint64_t *other; /* the "_other" series, made on the first fold */
} decl_t;

struct mg_lua_metrics_s {
    bool bound;        /* mg_lua_metrics_bind() ran: series may be added */
    uint64_t **pcells; /* nplugins * PHASES; NULL entries until bound, or without room */
    uint64_t **kills;  /* per plugin */
    size_t nplugins;
    decl_t *decls;
    size_t ndecls, cdecls;
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

static void decl_free(decl_t *d)
{
    for (size_t i = 0; i < d->info.nlabels; i++) {
        free(d->info.labels[i]);
    }
    free(d->info.labels);
    free(d->info.bounds);
    free(d->info.plugin);
    free(d->info.name);
    free(d->info.help);
    free(d->prefix);
}

void mg__lua_metrics_destroy(mg_lua_t *lua)
{
    struct mg_lua_metrics_s *m = lua->metrics;
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->ndecls; i++) {
        decl_free(&m->decls[i]);
    }
    free(m->decls);
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

/* ---- metrics plugins declare (mg.metrics) ---- */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Splits `labels` (names joined by MG_METRICS_SEP) into d->info.labels. */
static int split_labels(decl_t *d, const char *labels, size_t llen, int nlabels)
{
    d->info.labels = calloc(nlabels > 0 ? (size_t)nlabels : 1, sizeof(char *));
    if (d->info.labels == NULL) {
        return MG_ERROR;
    }
    const char *p = labels, *end = labels + llen;
    for (int i = 0; i < nlabels; i++) {
        const char *sep = memchr(p, MG_METRICS_SEP, (size_t)(end - p));
        const char *e = sep != NULL ? sep : end;
        if ((d->info.labels[i] = dup_n(p, (size_t)(e - p))) == NULL) {
            return MG_ERROR;
        }
        d->info.nlabels++;
        p = sep != NULL ? sep + 1 : end;
    }
    return MG_OK;
}

/* The declaration's shape as a hash: type, label names and bounds. */
static uint32_t signature(const decl_t *d, const char *labels, size_t llen)
{
    uint32_t h = 2166136261u;
    const unsigned char *parts[3] = {(const unsigned char *)&d->info.type,
                                     (const unsigned char *)labels,
                                     (const unsigned char *)d->info.bounds};
    size_t lens[3] = {sizeof(d->info.type), llen, d->info.nbounds * sizeof(double)};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < lens[k]; i++) {
            h = (h ^ parts[k][i]) * 16777619u;
        }
        h = (h ^ 0xff) * 16777619u;
    }
    return h;
}

int mg_lua_metric_declare(void *state, const char *plugin, const char *name, int type,
                          const char *help, size_t hlen, const char *labels, size_t llen,
                          int nlabels, const double *bounds, int nbounds, int max_series)
{
    mg_lua_t *lua = state;
    struct mg_lua_metrics_s *m = lua != NULL ? lua->metrics : NULL;
    if (m == NULL) {
        return -1; /* not counting: the Lua side checked the declaration and drops it */
    }
    if (m->ndecls == MAX_DECLS || nlabels < 0 || nbounds < 0 || nbounds > MG_METRICS_MAX_BUCKETS ||
        type < MG_LUA_METRIC_COUNTER || type > MG_LUA_METRIC_HISTOGRAM) {
        return -2;
    }
    if (m->ndecls == m->cdecls) {
        size_t cap = m->cdecls ? m->cdecls * 2 : 8;
        decl_t *nd = realloc(m->decls, cap * sizeof(*nd));
        if (nd == NULL) {
            return -2;
        }
        m->decls = nd;
        m->cdecls = cap;
    }
    decl_t *d = &m->decls[m->ndecls];
    memset(d, 0, sizeof(*d));
    d->info.type = type;
    d->info.nbounds = (uint32_t)nbounds;
    d->info.ncells = type == MG_LUA_METRIC_HISTOGRAM ? MG_METRICS_HIST_CELLS((uint32_t)nbounds) : 1;
    d->max_series = max_series > 0 ? (uint32_t)max_series : 1;
    d->info.plugin = strdup(plugin);
    d->info.name = strdup(name);
    d->info.help = dup_n(help, hlen);
    d->info.bounds = malloc((nbounds ? (size_t)nbounds : 1) * sizeof(double));
    if (d->info.plugin == NULL || d->info.name == NULL || d->info.help == NULL ||
        d->info.bounds == NULL || split_labels(d, labels, llen, nlabels) != MG_OK) {
        decl_free(d);
        return -2;
    }
    if (nbounds > 0) {
        memcpy(d->info.bounds, bounds, (size_t)nbounds * sizeof(double));
    }
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "u%c%s%c%s%c%08x%c", MG_METRICS_SEP, plugin, MG_METRICS_SEP,
                     name, MG_METRICS_SEP, signature(d, labels, llen), MG_METRICS_SEP);
    if (n <= 0 || (size_t)n >= sizeof(buf) || (d->prefix = dup_n(buf, (size_t)n)) == NULL) {
        decl_free(d);
        return -2;
    }
    d->plen = (size_t)n;
    d->info.prefix = mg_str(d->prefix, d->plen);
    return (int)m->ndecls++;
}

mg_str_t mg_lua_metric_meta_key(const mg_lua_metric_info_t *info, char *buf, size_t cap)
{
    size_t n = MG_MIN(info->prefix.len - 1, cap);
    memcpy(buf, info->prefix.p, n);
    buf[0] = 'U';
    return mg_str(buf, n);
}

/* The "_other" series of d: every label "_other". */
static uint64_t *other_series(decl_t *d)
{
    char key[1024];
    size_t n = d->plen;
    memcpy(key, d->prefix, n);
    for (size_t i = 0; i < d->info.nlabels && n + 8 < sizeof(key); i++) {
        memcpy(key + n, i > 0 ? "\x1f_other" : "_other", i > 0 ? 7 : 6);
        n += i > 0 ? 7 : 6;
    }
    unsigned flags = d->info.type == MG_LUA_METRIC_GAUGE ? MG_METRICS_GAUGE : 0;
    return mg_metrics_series(mg_str(key, n), d->info.ncells, flags);
}

double *mg_lua_metric_cells(mg_lua_task_t *t, int metric, const char *vals, size_t vlen,
                            int *folded)
{
    mg_lua_t *lua = t != NULL ? t->lua : NULL;
    struct mg_lua_metrics_s *m = lua != NULL ? lua->metrics : NULL;
    *folded = 0;
    if (m == NULL || !m->bound || metric < 0 || (size_t)metric >= m->ndecls) {
        return NULL;
    }
    decl_t *d = &m->decls[metric];
    char key[2048];
    if (d->meta == NULL) {
        d->meta = mg_metrics_series(mg_lua_metric_meta_key(&d->info, key, sizeof(key)), 2, 0);
    }
    uint64_t *c = NULL;
    if (vals != NULL && d->plen + vlen <= sizeof(key)) {
        memcpy(key, d->prefix, d->plen);
        memcpy(key + d->plen, vals, vlen);
        mg_str_t k = mg_str(key, d->plen + vlen);
        c = mg_metrics_lookup(k, d->info.ncells);
        if (c == NULL && d->meta != NULL && d->meta[0] < d->max_series) {
            size_t before = mg_metrics_count();
            unsigned flags = d->info.type == MG_LUA_METRIC_GAUGE ? MG_METRICS_GAUGE : 0;
            c = mg_metrics_series(k, d->info.ncells, flags);
            if (c != NULL && mg_metrics_count() > before) {
                mg_metrics_add(&d->meta[0], 1);
            }
        }
    }
    if (c != NULL) {
        return (double *)c;
    }
    *folded = 1;
    if (d->meta != NULL) {
        mg_metrics_add(&d->meta[1], 1);
    }
    if (d->other == NULL) {
        d->other = other_series(d);
    }
    return (double *)d->other;
}

size_t mg_lua_metric_count(const mg_lua_t *lua)
{
    return lua != NULL && lua->metrics != NULL ? lua->metrics->ndecls : 0;
}

const mg_lua_metric_info_t *mg_lua_metric_at(const mg_lua_t *lua, size_t i)
{
    return &lua->metrics->decls[i].info;
}
