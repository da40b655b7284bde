/*
 * gen_build.c -- config generations: a conf snapshot plus what a worker builds from it (the
 * router and the upstream runtimes), reference counted so that a reload frees an old
 * generation only after its last in-flight request ended.
 */
#include "gen_build.h"

#include "admin.h"
#include "http_phase.h"
#include "metrics.h"
#include "proxy.h"
#include "ratelimit.h"
#include "trace_export.h"

#include "conf.h"
#include "log.h"
#include "lua_runtime.h"
#include "ratelimit_cluster.h"
#include "router.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned live; /* generations created and not yet freed, in this process */

unsigned mg_gen_live_count(void)
{
    return live;
}

static void gen_free(mg_gen_t *g)
{
    live--;
    mg_metrics_gen_free(g);
    free(g->chains);
    free(g->admin_chain);
    free(g->filters);
    mg_tls_server_release(g->tls);
    mg_lua_destroy(g->lua);
    if (g->rl_cluster != NULL) {
        mg_rl_cluster_destroy(g->rl_cluster);
    }
    if (g->upstreams != NULL) {
        for (size_t i = 0; i < g->conf->nupstreams; i++) {
            if (g->upstreams[i] != NULL) {
                mg_upstream_destroy(g->upstreams[i]);
            }
        }
        free(g->upstreams);
    }
    if (g->router != NULL) {
        mg_router_destroy(g->router);
    }
    mg_conf_destroy(g->conf);
    free(g);
}

/* Each route's handler chain, in the phase engine's order (http_phase.h): what runs
 * where is decided here, once per generation, so the request path never asks. */
static void build_chain(const mg_gen_t *g, size_t i, mg_http_chain_t *ch)
{
    const mg_route_conf_t *route = &g->conf->routes[i];
    unsigned lua = g->lua != NULL ? mg_lua_route_phases(g->lua, (int)i) : 0;
    /* plugins whose work for this route is done in C run without Lua (lua_native.c) */
    const mg_lua_native_chain_t *nrw = mg_lua_route_native(g->lua, (int)i, MG_PHASE_REWRITE);
    const mg_lua_native_chain_t *nac = mg_lua_route_native(g->lua, (int)i, MG_PHASE_ACCESS);
    if (nrw != NULL) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_REWRITE, mg_lua_native_handler, nrw);
    } else if (lua & MG_PHASE_BIT(MG_PHASE_REWRITE)) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_REWRITE, mg_lua_rewrite_handler, NULL);
    }
    if (mg_rl_route_has(route, MG_RL_EARLY)) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_LIMITS, mg_rl_phase, (const void *)MG_RL_EARLY);
    }
    if (nac != NULL) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_ACCESS, mg_lua_native_handler, nac);
    } else if (lua & MG_PHASE_BIT(MG_PHASE_ACCESS)) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_ACCESS, mg_lua_access_handler, NULL);
    }
    if (mg_rl_route_has(route, MG_RL_CONSUMER)) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_CONSUMER_LIMITS, mg_rl_phase,
                          (const void *)MG_RL_CONSUMER);
    }
    if (lua & MG_PHASE_BIT(MG_PHASE_BALANCER)) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_BALANCER, mg_lua_balancer_handler, NULL);
    }
    if (route->ret != NULL) {
        mg_http_chain_set(ch, MG_HTTP_PHASE_CONTENT, mg_http_return_handler, route->ret);
    } else if (route->upstream != NULL || lua != 0) {
        /* without `upstream:`, a plugin may still choose one (mg.upstream.set); the
         * proxy answers as mg_http_no_producer_handler when none did */
        mg_http_chain_set(ch, MG_HTTP_PHASE_CONTENT, mg_proxy_handler, NULL);
    } else {
        mg_http_chain_set(ch, MG_HTTP_PHASE_CONTENT, mg_http_no_producer_handler, NULL);
    }
}

/* What every answer of the generation goes through (http.h), in running order: the
 * plugins see the response first, the gateway's own headers come after them, and the
 * access line is written after the plugins' log phase. Only what the configuration
 * uses is registered. */
static int build_filters(mg_gen_t *g)
{
    mg_http_filters_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return MG_ERROR;
    }
    g->filters = f;
    bool rl_headers = false;
    for (size_t i = 0; i < g->conf->nroutes; i++) {
        const mg_route_conf_t *route = &g->conf->routes[i];
        for (size_t j = 0; j < route->nrate_limits; j++) {
            rl_headers = rl_headers || route->rate_limits[j].headers;
        }
    }
    if (g->lua != NULL) {
        mg_http_add_header_filter(f, mg_lua_header_filter_handler);
        mg_http_add_body_filter(f, mg_lua_body_filter_handler);
        mg_http_add_log_handler(f, mg_lua_log_handler);
    }
    if (rl_headers) {
        mg_http_add_header_filter(f, mg_rl_header_filter);
    }
    if (g->conf->tracing != NULL) {
        /* after the plugins' log phase (its span), before the access line (the trace id) */
        mg_http_add_log_handler(f, mg_trace_export_log);
    }
    if (g->conf->access_log_path != NULL || g->conf->access_log_syslog != NULL) {
        mg_http_add_log_handler(f, mg_http_access_log);
    }
    if (mg_metrics_enabled(g)) {
        mg_http_add_log_handler(f, mg_metrics_log);
    }
    return MG_OK;
}

static int build_chains(mg_gen_t *g)
{
    size_t n = g->conf->nroutes;
    g->chains = calloc(n ? n : 1, sizeof(*g->chains));
    g->admin_chain = calloc(1, sizeof(*g->admin_chain));
    if (g->chains == NULL || g->admin_chain == NULL) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        build_chain(g, i, &g->chains[i]);
    }
    mg_http_chain_set(g->admin_chain, MG_HTTP_PHASE_CONTENT, mg_admin_handler, NULL);
    return MG_OK;
}

mg_gen_t *mg_gen_create(mg_worker_t *w, mg_conf_t *conf, uint64_t id, char *err, size_t errlen)
{
    mg_gen_t *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        mg_conf_destroy(conf);
        return NULL;
    }
    live++;
    g->refcnt = 1;
    g->dispose = gen_free;
    g->id = id;
    g->conf = conf;
    g->worker = w;
    g->router = mg_router_create(conf, err, errlen);
    if (g->router == NULL) {
        gen_free(g);
        return NULL;
    }
    mg_conf_err_t cerr;
    g->tls = mg_tls_server_new(conf, &cerr, NULL);
    if (g->tls == NULL && cerr.msg[0] != '\0') {
        mg_conf_err_format(&cerr, err, errlen);
        gen_free(g);
        return NULL;
    }
    if (conf->nplugin_srcs > 0 && (g->lua = mg_lua_create(conf, w, id, err, errlen)) == NULL) {
        gen_free(g);
        return NULL;
    }
    g->upstreams = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*g->upstreams));
    if (g->upstreams == NULL || build_chains(g) != MG_OK || build_filters(g) != MG_OK) {
        snprintf(err, errlen, "out of memory");
        gen_free(g);
        return NULL;
    }
    if (w != NULL) {
        g->rl_cluster = mg_rl_cluster_create(w->loop, conf);
        if (mg_metrics_gen_bind(g) != MG_OK) {
            snprintf(err, errlen, "out of memory");
            gen_free(g);
            return NULL;
        }
    }
    for (size_t i = 0; i < conf->nupstreams; i++) {
        g->upstreams[i] = mg_upstream_create(w, &conf->upstreams[i]);
        if (g->upstreams[i] == NULL) {
            snprintf(err, errlen, "upstream \"%s\": out of memory", conf->upstreams[i].name);
            gen_free(g);
            return NULL;
        }
    }
    if (w != NULL && conf->tracing != NULL) {
        mg_trace_export_configure(w, conf->tracing); /* the exporter follows the newest */
    }
    return g;
}

void mg_gen_bind(mg_gen_t *g, mg_worker_t *w)
{
    g->worker = w;
    if (g->lua != NULL) {
        mg_lua_bind(g->lua, w);
    }
    if (g->rl_cluster == NULL) {
        g->rl_cluster = mg_rl_cluster_create(w->loop, g->conf);
    }
    if (mg_metrics_gen_bind(g) != MG_OK) {
        mg_log_crit("out of memory for the metrics of generation %llu", (unsigned long long)g->id);
    }
    if (g->conf->tracing != NULL) {
        mg_trace_export_configure(w, g->conf->tracing);
    }
    for (size_t i = 0; i < g->conf->nupstreams; i++) {
        mg_upstream_bind(g->upstreams[i], w);
    }
}
