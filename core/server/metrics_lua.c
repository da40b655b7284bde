/*
 * metrics_lua.c -- the plugins on the GET /metrics page: what the gateway counts of
 * them (calls, errors and running time per phase, CPU-budget kills, each worker's Lua
 * memory) and the metrics they declare with mg.metrics (core/lua/lua_metrics.c).
 *
 * Only the plugins of the generation the page is taken from are shown: series of a
 * plugin no longer loaded stay in the regions (nothing is ever removed) but are left
 * out. A plugin's own families are named moongate_ext_<name> and carry a `plugin`
 * label; no family of the gateway starts with moongate_ext_, so they cannot collide.
 */
#include "metrics_int.h"

#include "gen.h"
#include "lua_runtime.h"
#include "metrics_store.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXT_PREFIX "moongate_ext_"

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

static void render_folds(mg__metrics_out_t *o, const mg_gen_t *g)
{
    size_t n = mg_lua_metric_count(g->lua);
    if (n == 0) {
        return;
    }
    mg__metrics_family(o, "moongate_plugin_metric_folded_total", "counter",
                       "Updates of a plugin's metric counted under label values \"_other\": "
                       "the metric had its max_series label sets in a worker, or a value "
                       "could not be a label.");
    for (size_t i = 0; i < n; i++) {
        const mg_lua_metric_info_t *m = mg_lua_metric_at(g->lua, i);
        char key[1024], labels[600], mn[256];
        uint64_t meta[2];
        mg_metrics_sum(mg_lua_metric_meta_key(m, key, sizeof(key)), 2, NULL, NULL, meta);
        plugin_label(labels, sizeof(labels), m->plugin, -1);
        mg__metrics_escape(mn, sizeof(mn), m->name);
        size_t l = strlen(labels);
        snprintf(labels + l, sizeof(labels) - l, ",metric=\"%s%s\"", EXT_PREFIX, mn);
        mg__metrics_sample(o, "moongate_plugin_metric_folded_total", labels, meta[1]);
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
    render_folds(o, g);
}

/* ---- the metrics plugins declare ---- */

typedef struct {
    char *key; /* copied */
    size_t len;
    uint32_t ncells;
} ext_key_t;

struct mg__metrics_ext_s {
    const mg_gen_t *g;
    ext_key_t *keys; /* every plugin series key in the regions, sorted */
    size_t nkeys, ckeys;
    bool *done; /* per declaration: written */
    size_t next;
    bool oom;
};

static void on_key(mg_str_t key, uint32_t ncells, unsigned flags, void *arg)
{
    mg__metrics_ext_t *x = arg;
    if (x->oom) {
        return;
    }
    if (x->nkeys == x->ckeys) {
        size_t cap = x->ckeys ? x->ckeys * 2 : 64;
        ext_key_t *nk = realloc(x->keys, cap * sizeof(*nk));
        if (nk == NULL) {
            x->oom = true;
            return;
        }
        x->keys = nk;
        x->ckeys = cap;
    }
    char *copy = malloc(key.len ? key.len : 1);
    if (copy == NULL) {
        x->oom = true;
        return;
    }
    memcpy(copy, key.p, key.len);
    x->keys[x->nkeys++] = (ext_key_t){copy, key.len, ncells};
}

static int key_cmp(const void *a, const void *b)
{
    const ext_key_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, MG_MIN(x->len, y->len));
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

void mg__metrics_ext_free(mg__metrics_ext_t *x)
{
    if (x == NULL) {
        return;
    }
    for (size_t i = 0; i < x->nkeys; i++) {
        free(x->keys[i].key);
    }
    free(x->keys);
    free(x->done);
    free(x);
}

mg__metrics_ext_t *mg__metrics_ext_new(const mg_gen_t *g)
{
    mg__metrics_ext_t *x = calloc(1, sizeof(*x));
    size_t n = mg_lua_metric_count(g->lua);
    if (x == NULL || (x->done = calloc(n ? n : 1, sizeof(bool))) == NULL) {
        free(x);
        return NULL;
    }
    x->g = g;
    if (n > 0) {
        char prefix[2] = {'u', MG_METRICS_SEP};
        if (mg_metrics_each(mg_str(prefix, 2), on_key, x) < 0 || x->oom) {
            mg__metrics_ext_free(x);
            return NULL;
        }
        if (x->nkeys > 1) { /* keys is NULL while no series was made yet */
            qsort(x->keys, x->nkeys, sizeof(*x->keys), key_cmp);
        }
    }
    return x;
}

/* The label text of series `k` of metric m: plugin, then each label with its value
 * from the key (which has exactly m->nlabels values after the prefix). False when the
 * key does not split so. */
static bool series_labels(const mg_lua_metric_info_t *m, const ext_key_t *k, char *buf, size_t cap)
{
    char v[300];
    mg__metrics_escape(v, sizeof(v), m->plugin);
    size_t off = (size_t)snprintf(buf, cap, "plugin=\"%s\"", v);
    const char *p = k->key + m->prefix.len, *end = k->key + k->len;
    for (size_t i = 0; i < m->nlabels; i++) {
        const char *sep = memchr(p, MG_METRICS_SEP, (size_t)(end - p));
        if ((sep == NULL) != (i + 1 == m->nlabels)) {
            return false;
        }
        const char *e = sep != NULL ? sep : end;
        char raw[160];
        size_t len = MG_MIN((size_t)(e - p), sizeof(raw) - 1);
        memcpy(raw, p, len);
        raw[len] = '\0';
        mg__metrics_escape(v, sizeof(v), raw);
        off +=
            (size_t)snprintf(buf + off, off < cap ? cap - off : 0, ",%s=\"%s\"", m->labels[i], v);
        p = e + 1;
    }
    return m->nlabels > 0 || p == end;
}

static void ext_histogram(mg__metrics_out_t *o, const char *name, const char *labels,
                          const double *h, const mg__metrics_bounds_t *bt, uint32_t nb)
{
    double cum = 0;
    char num[48];
    for (uint32_t i = 0; i < nb; i++) {
        cum += h[i];
        mg__metrics_float(num, sizeof(num), cum);
        mg__metrics_printf(o, "%s_bucket{%s,le=\"%s\"} %s\n", name, labels, bt->le[i], num);
    }
    cum += h[nb];
    mg__metrics_float(num, sizeof(num), cum);
    mg__metrics_printf(o, "%s_bucket{%s,le=\"+Inf\"} %s\n", name, labels, num);
    char sum[48];
    mg__metrics_float(sum, sizeof(sum), h[nb + 1]);
    mg__metrics_printf(o, "%s_sum{%s} %s\n", name, labels, sum);
    mg__metrics_printf(o, "%s_count{%s} %s\n", name, labels, num);
    o->series += nb + 3;
}

/* The series of declaration m, summed over the regions (a gauge over the live
 * workers only). */
static void ext_series(mg__metrics_out_t *o, mg__metrics_ext_t *x, const mg_lua_metric_info_t *m,
                       const char *name)
{
    double cells[MG_METRICS_MAX_CELLS];
    mg__metrics_bounds_t bt;
    mg__metrics_bounds(o, m->bounds, m->nbounds, &bt);
    for (size_t i = 0; i < x->nkeys; i++) {
        const ext_key_t *k = &x->keys[i];
        char labels[3000];
        if (k->ncells != m->ncells || k->len < m->prefix.len ||
            memcmp(k->key, m->prefix.p, m->prefix.len) != 0 ||
            !series_labels(m, k, labels, sizeof(labels))) {
            continue;
        }
        bool gauge = m->type == MG_LUA_METRIC_GAUGE;
        size_t n = mg_metrics_sum_f(mg_str(k->key, k->len), m->ncells,
                                    gauge ? mg__metrics_dead_slot : NULL, (void *)o->w, cells);
        if (n == 0) {
            continue; /* only in regions of workers gone: a gauge no one holds */
        }
        if (m->type == MG_LUA_METRIC_HISTOGRAM) {
            ext_histogram(o, name, labels, cells, &bt, m->nbounds);
        } else {
            char num[48];
            mg__metrics_float(num, sizeof(num), cells[0]);
            mg__metrics_printf(o, "%s{%s} %s\n", name, labels, num);
            o->series++;
        }
    }
}

bool mg__metrics_ext_next(mg__metrics_out_t *o, mg__metrics_ext_t *x)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    const mg_lua_t *lua = x->g->lua;
    size_t n = mg_lua_metric_count(lua);
    while (x->next < n && x->done[x->next]) {
        x->next++;
    }
    if (x->next == n) {
        return true;
    }
    /* one family: every declaration of the name, whichever plugin made it (they have
     * one shape: lua/moongate/metrics.lua checks) */
    const mg_lua_metric_info_t *first = mg_lua_metric_at(lua, x->next);
    char name[160];
    snprintf(name, sizeof(name), EXT_PREFIX "%s", first->name);
    mg__metrics_family(o, name, types[first->type], first->help);
    for (size_t i = x->next; i < n; i++) {
        const mg_lua_metric_info_t *m = mg_lua_metric_at(lua, i);
        if (!x->done[i] && strcmp(m->name, first->name) == 0) {
            x->done[i] = true;
            ext_series(o, x, m, name);
        }
    }
    return false;
}
