/*
 * conf_health.c -- the health and failure-handling keys of an upstream:
 * `max_connections`, `queue` (`size`, or `max_pending` as before, and `timeout`),
 * `max_connecting`, `retry_budget` and `health_check` (`active`,
 * `passive`, `breaker`). conf_route.c lists them in its upstream field table; the
 * values land in mg_upstream_conf_t.health (conf.h), which health.c runs.
 *
 * Each block is off until it is written; a block written as `{}` is on with the
 * defaults below (docs/health.md gives the reasons for each).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf_int.h"

#define STATUS_MIN 100
#define STATUS_MAX 599

void mg__conf_health_defaults(mg_health_conf_t *h)
{
    *h = (mg_health_conf_t){
        .max_connections = 0,
        .max_pending = 100,
        .max_connecting = MG_CONF_MAX_CONNECTING,
        .retry_ratio = 0.2,
        .retry_min = 3,
        .active =
            {
                .path = "/",
                .interval = 5,
                .timeout = 1,
                .healthy_threshold = 2,
                .unhealthy_threshold = 3,
            },
        .passive =
            {
                .consecutive_failures = 5,
                .consecutive_5xx = 5,
                .base_ejection_time = 30,
                .max_ejection_time = 300,
                .max_ejection_percent = 10,
            },
        .breaker =
            {
                .failures = 5,
                .open_time = 10,
                .half_open_requests = 1,
            },
    };
    for (int s = 200; s <= 399; s++) {
        h->active.statuses[(s - STATUS_MIN) / 64] |= UINT64_C(1) << ((s - STATUS_MIN) % 64);
    }
}

/* A plain number in [min, max]. */
static int read_number(mg__conf_ctx_t *c, yaml_node_t *v, double min, double max, double *out)
{
    char what[80];
    const char *s = v->type == YAML_SCALAR_NODE && !mg__conf_is_null(v)
                        ? (const char *)v->data.scalar.value
                        : NULL;
    char *end = NULL;
    errno = 0;
    double d = s != NULL ? strtod(s, &end) : NAN;
    if (s == NULL || end == s || *end != '\0' || errno != 0 || !isfinite(d) || d < min || d > max) {
        return mg__conf_fail(c, v, "expected a number from %g to %g, got %s", min, max,
                             mg__conf_what(v, what, sizeof(what)));
    }
    *out = d;
    return MG_OK;
}

/* ---- limits and the retry budget ---- */

int mg__conf_on_max_connections(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 10000000, &((mg_upstream_conf_t *)obj)->health.max_connections);
}

/* `max_pending` and `queue.size` are one setting under two names (the first is the
 * older): writing both is an error, whichever comes first. */
static int read_queue_size(mg__conf_ctx_t *c, yaml_node_t *v, mg_health_conf_t *h,
                           const char *key, const char *other)
{
    if (h->size_key != NULL) {
        return mg__conf_fail(c, v, "%s and %s are the same setting: write only one of them",
                             other, key);
    }
    h->size_key = key;
    return mg__conf_int(c, v, 0, 10000000, &h->max_pending);
}

int mg__conf_on_max_pending(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_queue_size(c, v, &((mg_upstream_conf_t *)obj)->health, "max_pending",
                           "queue.size");
}

int mg__conf_on_max_connecting(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 1000000, &((mg_upstream_conf_t *)obj)->health.max_connecting);
}

/* ---- queue ---- */

static int on_queue_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_queue_size(c, v, obj, "queue.size", "max_pending");
}

static int on_queue_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_health_conf_t *)obj)->queue_timeout);
}

static const mg__conf_field_t queue_fields[] = {
    {"size", on_queue_size, NULL},
    {"timeout", on_queue_timeout, NULL},
};

int mg__conf_on_queue(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, queue_fields, MG_NELEMS(queue_fields),
                        &((mg_upstream_conf_t *)obj)->health, &seen);
}

static int on_rb_ratio(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return read_number(c, v, 0, 1, &((mg_health_conf_t *)obj)->retry_ratio);
}

static int on_rb_min(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 1000000, &((mg_health_conf_t *)obj)->retry_min);
}

static const mg__conf_field_t budget_fields[] = {
    {"ratio", on_rb_ratio, NULL},
    {"min_retries", on_rb_min, NULL},
};

int mg__conf_on_retry_budget(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_health_conf_t *h = &((mg_upstream_conf_t *)obj)->health;
    uint64_t seen;
    if (mg__conf_map(c, v, budget_fields, MG_NELEMS(budget_fields), h, &seen) != MG_OK) {
        return MG_ERROR;
    }
    h->retry_budget = true;
    return MG_OK;
}

/* ---- active ---- */

static int on_ac_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_active_conf_t *a = obj;
    if (mg__conf_str(c, v, &a->path) != MG_OK) {
        return MG_ERROR;
    }
    /* it goes into the probe's request line verbatim */
    if (a->path[0] != '/') {
        return mg__conf_fail(c, v, "expected a path starting with '/', got \"%s\"", a->path);
    }
    for (const char *p = a->path; *p; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            return mg__conf_fail(c, v, "expected a path without spaces or control characters");
        }
    }
    return MG_OK;
}

static int on_ac_host(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_active_conf_t *a = obj;
    if (mg__conf_str(c, v, &a->host) != MG_OK) {
        return MG_ERROR;
    }
    for (const char *p = a->host; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return mg__conf_fail(c, v, "expected a host name without spaces or control characters");
        }
    }
    return MG_OK;
}

/* One item of expected_statuses: 204, or "200-299". */
static int read_status_item(mg__conf_ctx_t *c, yaml_node_t *v, uint64_t *bits)
{
    char what[80];
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    bool ok = end != s && s[0] >= '0' && s[0] <= '9';
    if (ok && *end == '-') {
        const char *h = end + 1;
        hi = strtol(h, &end, 10);
        ok = end != h && h[0] >= '0' && h[0] <= '9';
    }
    if (!ok || *end != '\0' || lo < STATUS_MIN || hi > STATUS_MAX || lo > hi) {
        return mg__conf_fail(c, v,
                             "expected a status from 100 to 599 or a range like \"200-299\", "
                             "got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    for (long st = lo; st <= hi; st++) {
        bits[(st - STATUS_MIN) / 64] |= UINT64_C(1) << ((st - STATUS_MIN) % 64);
    }
    return MG_OK;
}

static int on_ac_statuses(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_active_conf_t *a = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected at least one status or range");
    }
    memset(a->statuses, 0, sizeof(a->statuses));
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        if (read_status_item(c, items[i], a->statuses) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    return MG_OK;
}

static int on_ac_interval(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_hc_active_conf_t *)obj)->interval);
}

static int on_ac_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_hc_active_conf_t *)obj)->timeout);
}

static int on_ac_healthy(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 1000, &((mg_hc_active_conf_t *)obj)->healthy_threshold);
}

static int on_ac_unhealthy(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 1000, &((mg_hc_active_conf_t *)obj)->unhealthy_threshold);
}

static const mg__conf_field_t active_fields[] = {
    {"path", on_ac_path, NULL},
    {"host", on_ac_host, NULL},
    {"expected_statuses", on_ac_statuses, NULL},
    {"interval", on_ac_interval, NULL},
    {"timeout", on_ac_timeout, NULL},
    {"healthy_threshold", on_ac_healthy, NULL},
    {"unhealthy_threshold", on_ac_unhealthy, NULL},
};

static int on_hc_active(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_active_conf_t *a = &((mg_health_conf_t *)obj)->active;
    uint64_t seen;
    if (mg__conf_map(c, v, active_fields, MG_NELEMS(active_fields), a, &seen) != MG_OK) {
        return MG_ERROR;
    }
    a->on = true;
    return MG_OK;
}

/* ---- passive ---- */

static int on_pa_failures(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 100000, &((mg_hc_passive_conf_t *)obj)->consecutive_failures);
}

static int on_pa_5xx(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 100000, &((mg_hc_passive_conf_t *)obj)->consecutive_5xx);
}

static int on_pa_base(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_hc_passive_conf_t *)obj)->base_ejection_time);
}

static int on_pa_max(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_hc_passive_conf_t *)obj)->max_ejection_time);
}

static int on_pa_percent(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 0, 100, &((mg_hc_passive_conf_t *)obj)->max_ejection_percent);
}

static const mg__conf_field_t passive_fields[] = {
    {"consecutive_failures", on_pa_failures, NULL},
    {"consecutive_5xx", on_pa_5xx, NULL},
    {"base_ejection_time", on_pa_base, NULL},
    {"max_ejection_time", on_pa_max, NULL},
    {"max_ejection_percent", on_pa_percent, NULL},
};

static int on_hc_passive(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_passive_conf_t *p = &((mg_health_conf_t *)obj)->passive;
    uint64_t seen;
    if (mg__conf_map(c, v, passive_fields, MG_NELEMS(passive_fields), p, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if (p->max_ejection_time < p->base_ejection_time) {
        /* only one of the two may have been written: blame the one that was */
        bool max_seen = (seen & (UINT64_C(1) << 3)) != 0;
        const char *key = max_seen ? "max_ejection_time" : "base_ejection_time";
        mg__conf_push_key(c, key);
        return mg__conf_fail(c, mg__conf_find_key(c, v, key, true),
                             "max_ejection_time (%gs) must be at least base_ejection_time (%gs)",
                             p->max_ejection_time, p->base_ejection_time);
    }
    p->on = true;
    return MG_OK;
}

/* ---- breaker ---- */

static int on_br_failures(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 100000, &((mg_hc_breaker_conf_t *)obj)->failures);
}

static int on_br_open_time(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &((mg_hc_breaker_conf_t *)obj)->open_time);
}

static int on_br_half_open(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 100000, &((mg_hc_breaker_conf_t *)obj)->half_open_requests);
}

static const mg__conf_field_t breaker_fields[] = {
    {"failures", on_br_failures, NULL},
    {"open_time", on_br_open_time, NULL},
    {"half_open_requests", on_br_half_open, NULL},
};

static int on_hc_breaker(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_hc_breaker_conf_t *b = &((mg_health_conf_t *)obj)->breaker;
    uint64_t seen;
    if (mg__conf_map(c, v, breaker_fields, MG_NELEMS(breaker_fields), b, &seen) != MG_OK) {
        return MG_ERROR;
    }
    b->on = true;
    return MG_OK;
}

static const mg__conf_field_t health_fields[] = {
    {"active", on_hc_active, NULL},
    {"passive", on_hc_passive, NULL},
    {"breaker", on_hc_breaker, NULL},
};

int mg__conf_on_health_check(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, health_fields, MG_NELEMS(health_fields),
                        &((mg_upstream_conf_t *)obj)->health, &seen);
}
