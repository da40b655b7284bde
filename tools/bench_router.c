/*
 * bench_router.c -- how long one mg_router_match() takes as the route count grows.
 *
 * Builds routers of 10, 1,000 and 10,000 routes in four shapes (a parameter, an exact
 * path, a "/static/svcN/" wildcard, two parameters) and times a fixed mix of requests:
 * three hits for every miss. Prints nanoseconds per match and the tree nodes visited
 * per match; both should stay flat across sizes. Then the same with 8 path_regex
 * routes added (a regex is tried only when no exact or {param} pattern matched, so the
 * pattern hits should cost the same), and the cost of a match that a regex route wins.
 * Build and run: `make bench-router`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "router.h"

#include "conf.h"

#define NREQ 4096
#define ROUNDS 500
#define METHOD_GET 1 /* llhttp's HTTP_GET */

#define NREGEX 8

typedef struct {
    mg_route_conf_t *routes;
    char (*paths)[64];
    const char **ppaths;
    mg_router_t *rt;
} bench_t;

static int build(bench_t *b, size_t n, size_t nregex)
{
    static const char *shapes[] = {"/api/v1/svc%zu/items/{id}", "/api/v1/svc%zu/health",
                                   "/static/svc%zu/*", "/api/v1/svc%zu/users/{uid}/orders/{oid}"};
    char err[256];
    b->routes = calloc(n + nregex, sizeof(*b->routes));
    b->paths = calloc(n + nregex, sizeof(*b->paths));
    b->ppaths = calloc(n, sizeof(*b->ppaths));
    if (b->routes == NULL || b->paths == NULL || b->ppaths == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(b->paths[i], sizeof(b->paths[i]), shapes[i % 4], i / 4);
        b->ppaths[i] = b->paths[i];
        b->routes[i] = (mg_route_conf_t){
            .name = b->paths[i], .paths = &b->ppaths[i], .npaths = 1, .index = (int)i};
    }
    for (size_t i = n; i < n + nregex; i++) {
        snprintf(b->paths[i], sizeof(b->paths[i]), "^/rx/k%zu/(?<id>[0-9]+)(?:/(?<sub>[a-z]+))?$",
                 i - n);
        b->routes[i] = (mg_route_conf_t){
            .name = b->paths[i], .path_regex = b->paths[i], .index = (int)i};
    }
    b->rt = mg_router_create_from(b->routes, n + nregex, err, sizeof(err));
    if (b->rt == NULL) {
        fprintf(stderr, "bench_router: %s\n", err);
        return -1;
    }
    return 0;
}

static void release(bench_t *b)
{
    mg_router_destroy(b->rt);
    free(b->routes);
    free(b->paths);
    free(b->ppaths);
}

/* Fills reqs with three hits for every miss, spread over all of the router's services. */
static void requests(char (*reqs)[80], size_t nroutes, unsigned seed)
{
    size_t nsvc = nroutes / 4; /* services with all four shapes */
    for (size_t i = 0; i < NREQ; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t svc = (seed >> 8) % nsvc;
        char *r = reqs[i];
        switch (i % 8) {
        case 0:
            snprintf(r, 80, "/api/v1/svc%zu/items/%u", svc, seed % 100000);
            break;
        case 1:
            snprintf(r, 80, "/api/v1/svc%zu/health", svc);
            break;
        case 2:
            snprintf(r, 80, "/static/svc%zu/css/site.css", svc);
            break;
        case 3:
            snprintf(r, 80, "/api/v1/svc%zu/users/42/orders/7", svc);
            break;
        case 4:
            snprintf(r, 80, "/api/v1/svc%zu/items/9", svc);
            break;
        case 5:
            snprintf(r, 80, "/api/v1/svc%zu/nothing", svc);
            break; /* miss */
        case 6:
            snprintf(r, 80, "/api/v1/svc%zu/items/", svc);
            break; /* miss */
        default:
            snprintf(r, 80, "/static/svc%zu", svc);
            break;
        }
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double time_matches(const mg_router_t *rt, const mg_str_t *paths, size_t *hits,
                           size_t *visits)
{
    const mg_str_t host = MG_STR("api.example.com");
    mg_route_match_t m;
    *hits = *visits = 0;
    for (size_t i = 0; i < NREQ; i++) { /* warm-up, and the hit/visit counts */
        *hits += mg_router_match(rt, host, METHOD_GET, paths[i], &m) == MG_OK;
        *visits += mg_router_last_visits;
    }
    double t0 = now_ns();
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < NREQ; i++) {
            mg_router_match(rt, host, METHOD_GET, paths[i], &m);
        }
    }
    return (now_ns() - t0) / ((double)ROUNDS * NREQ);
}

static int run(size_t n, size_t nregex)
{
    static char reqs[NREQ][80];
    static mg_str_t paths[NREQ];
    bench_t b;
    if (build(&b, n, nregex) != 0) {
        return -1;
    }
    requests(reqs, n, 12345u);
    for (size_t i = 0; i < NREQ; i++) {
        paths[i] = mg_str(reqs[i], strlen(reqs[i]));
    }
    size_t hits, visits;
    double ns = time_matches(b.rt, paths, &hits, &visits);
    printf("%6zu routes%s  %7.1f ns/match  %4.1f nodes/match  %3.0f%% hits\n", n,
           nregex ? " +8 regex" : "         ", ns, (double)visits / NREQ,
           100.0 * (double)hits / NREQ);
    if (nregex > 0) {
        for (size_t i = 0; i < NREQ; i++) { /* every regex route in turn, half with sub */
            snprintf(reqs[i], 80, i % 2 ? "/rx/k%zu/%zu" : "/rx/k%zu/%zu/orders", i % nregex, i);
            paths[i] = mg_str(reqs[i], strlen(reqs[i]));
        }
        ns = time_matches(b.rt, paths, &hits, &visits);
        printf("%6zu routes +8 regex  %7.1f ns/match  regex route wins, %3.0f%% hits\n", n, ns,
               100.0 * (double)hits / NREQ);
    }
    release(&b);
    return 0;
}

int main(void)
{
    static const size_t sizes[] = {10, 1000, 10000};
    for (size_t i = 0; i < MG_NELEMS(sizes); i++) {
        if (run(sizes[i], 0) != 0 || run(sizes[i], NREGEX) != 0) {
            return 1;
        }
    }
    return 0;
}
