/*
 * metrics_int.h -- what the files of the GET /metrics page share: the text being
 * written and the helpers that write a family's header, samples and histograms
 * (metrics.c), and the parts other files render: the plugins' families
 * (metrics_lua.c) and the rate-limit and Redis ones (metrics_ratelimit.c). Not for
 * other modules.
 */
#ifndef MG_SERVER_METRICS_INT_H
#define MG_SERVER_METRICS_INT_H

#include "conf.h"
#include "mg_core.h"

/* The page being written: a growing buffer; oom once a realloc failed. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
    bool om;       /* OpenMetrics */
    size_t series; /* sample lines written */
    const mg_worker_t *w;
} mg__metrics_out_t;

/* Bucket bounds as `le` values (OpenMetrics wants a float's canonical text). */
typedef struct {
    char le[MG_METRICS_MAX_BUCKETS][32];
} mg__metrics_bounds_t;

void mg__metrics_printf(mg__metrics_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* # HELP and # TYPE; `help` is escaped as the format wants. In OpenMetrics a counter
 * family is named without _total. */
void mg__metrics_family(mg__metrics_out_t *o, const char *name, const char *type, const char *help);
/* One sample line; `labels` is the text between the braces ("" for none). */
void mg__metrics_sample(mg__metrics_out_t *o, const char *name, const char *labels, uint64_t v);
/* A histogram of cells h (MG_METRICS_HIST_CELLS(nb): counts per bucket, the sum in ns). */
void mg__metrics_histogram(mg__metrics_out_t *o, const char *name, const char *labels,
                           const uint64_t *h, const mg__metrics_bounds_t *bt, uint32_t nb);
/* A label value escaped into dst (cap bytes). */
void mg__metrics_escape(char *dst, size_t cap, const char *s);
/* The `le` texts of n bounds. */
void mg__metrics_bounds(const mg__metrics_out_t *o, const double *b, size_t n,
                        mg__metrics_bounds_t *bt);
/* A float as the formats write it: the shortest text that reads back the same, +Inf,
 * -Inf, NaN. */
void mg__metrics_float(char *buf, size_t cap, double v);
/* For mg_metrics_sum(): skips the regions of slots whose worker is gone (and the
 * master's), so that gauges are summed over the live workers. `arg` is the worker. */
bool mg__metrics_dead_slot(int slot, void *arg);

/* metrics_lua.c: the plugins' calls, errors, time, budget kills, folds and the Lua
 * memory of each worker. */
void mg__metrics_render_plugins(mg__metrics_out_t *o, const mg_gen_t *g);

/* metrics_lua.c: the metrics plugins declared (mg.metrics), one family per call to
 * next, which returns true once every family is written. */
typedef struct mg__metrics_ext_s mg__metrics_ext_t;
mg__metrics_ext_t *mg__metrics_ext_new(const mg_gen_t *g);
bool mg__metrics_ext_next(mg__metrics_out_t *o, mg__metrics_ext_t *x);
void mg__metrics_ext_free(mg__metrics_ext_t *x);

/* metrics_ratelimit.c: rate-limit decisions by route and limit; the Redis client. */
void mg__metrics_render_limits(mg__metrics_out_t *o, const mg_gen_t *g);

/* The per-worker gauge series keys (metrics.c sets them on the worker's tick). */
#define MG__METRICS_LUA_MEMORY_KEY "g\037lua_memory"
#define MG__METRICS_REDIS_UP_KEY "g\037redis_connected"

#endif
