/*
 * conf_metrics.c -- the `metrics:` key: GET /metrics on the admin listener (on by
 * default when there is one) and the bounds of its latency histograms.
 *
 *   metrics: { enabled: true, latency_buckets: [0.005, 0.05, 0.5, 5] }
 */
#include <stdio.h>

#include "conf_int.h"

static const double default_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,     2.5,  5,     10,   30,  60};

static int on_enabled(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_metrics_conf_t *)obj)->enabled);
}

static int on_buckets(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_metrics_conf_t *m = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0 || n > MG_METRICS_MAX_BUCKETS) {
        return mg__conf_fail(c, v, "expected from 1 to %d bucket bounds in seconds, got %zu",
                             MG_METRICS_MAX_BUCKETS, n);
    }
    double *b = mg_pool_calloc(c->pool, n * sizeof(*b));
    if (b == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        if (mg__conf_duration(c, items[i], false, &b[i]) != MG_OK) {
            return MG_ERROR;
        }
        if (i > 0 && b[i] <= b[i - 1]) {
            return mg__conf_fail(c, items[i],
                                 "expected bounds in increasing order: %g does not follow %g",
                                 b[i], b[i - 1]);
        }
        mg__conf_pop(c, saved);
    }
    m->buckets = b;
    m->nbuckets = n;
    return MG_OK;
}

static const mg__conf_field_t metrics_fields[] = {
    {"enabled", on_enabled, NULL},
    {"latency_buckets", on_buckets, NULL},
};

int mg__conf_on_metrics(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, metrics_fields, MG_NELEMS(metrics_fields), &c->conf->metrics, &seen);
}

void mg__conf_metrics_defaults(mg_conf_t *conf)
{
    conf->metrics = (mg_metrics_conf_t){
        .enabled = true,
        .buckets = default_buckets,
        .nbuckets = MG_NELEMS(default_buckets),
    };
}
