/*
 * gen_build.c -- config generations: a conf snapshot plus what a worker builds from it (the
 * router and the upstream runtimes), reference counted so that a reload frees an old
 * generation only after its last in-flight request ended.
 */
#include "gen_build.h"

#include "conf.h"
#include "lua_runtime.h"
#include "ratelimit_cluster.h"
#include "router.h"
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
    if (conf->nplugin_srcs > 0 && (g->lua = mg_lua_create(conf, w, id, err, errlen)) == NULL) {
        gen_free(g);
        return NULL;
    }
    g->upstreams = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*g->upstreams));
    if (g->upstreams == NULL) {
        snprintf(err, errlen, "out of memory");
        gen_free(g);
        return NULL;
    }
    if (w != NULL) {
        g->rl_cluster = mg_rl_cluster_create(w->loop, conf);
    }
    for (size_t i = 0; i < conf->nupstreams; i++) {
        g->upstreams[i] = mg_upstream_create(w, &conf->upstreams[i]);
        if (g->upstreams[i] == NULL) {
            snprintf(err, errlen, "upstream \"%s\": out of memory", conf->upstreams[i].name);
            gen_free(g);
            return NULL;
        }
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
    for (size_t i = 0; i < g->conf->nupstreams; i++) {
        mg_upstream_bind(g->upstreams[i], w);
    }
}
