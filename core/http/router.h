/*
 * router.h -- route matching over host + method + path.
 *
 * Built once per config generation from conf->routes (read-only afterwards, so one
 * router may be shared by every request of that generation). Paths are matched
 * segment by segment in a radix tree: exact segments, "{name}" parameters (one whole
 * segment) and a trailing "/\*" wildcard (the rest, possibly empty). Hosts: exact names
 * (case-insensitive) and "*.example.com" suffix wildcards (at least one label).
 *
 * Precedence when several routes match: exact host over wildcard host over any host;
 * then per segment, from the left, exact over parameter over wildcard; then the longer
 * pattern; then the higher `priority`; then the earlier route in the file. Matching cost
 * depends on the path's length, not on the number of routes.
 *
 * In detail:
 *  - Hosts: the exact bucket for the Host is tried first, then each "*.suffix" bucket
 *    that matches, longest suffix first ("*.a.com" matches "x.a.com" and "x.y.a.com",
 *    never "a.com"), then the routes without hosts. A bucket in which nothing matches
 *    (path or method) falls back to the next one. Hosts compare case-insensitively and
 *    a trailing '.' in the request's host is ignored.
 *  - Paths: split on '/'; the pattern "/a/" has an empty last segment, so "/a" and "/a/"
 *    are different paths. At each segment the exact child is tried first, then the
 *    "{param}" child (never matches an empty segment), then a "/\*" ending at this
 *    node. When a more specific branch dead-ends (no route further down, or none that
 *    accepts the method) the search backtracks to the next less specific choice.
 *    A route ending exactly at the path's end beats a "/\*" route ending at the same
 *    node. "/static/\*" matches "/static", "/static/" and "/static/a/b".
 *  - Equal patterns in one bucket: routes whose `methods` exclude the request's method
 *    are skipped; of the rest, the higher `priority` wins, then the lower `index`.
 *    Several routes with the same pattern are not an error.
 *  - path_regex routes (a PCRE2 pattern over the whole path) are tried when the tree
 *    found no route or only a "/\*" one: by priority, then file order, each with its
 *    hosts and methods; the first whose pattern matches wins over a "/\*" route, and
 *    its named groups are the params. A match that hits the match limit is no match.
 *  - Nothing matches: MG_DECLINED (the caller answers 404).
 */
#ifndef MG_ROUTER_H
#define MG_ROUTER_H

#include "mg_core.h"
#include "route_pattern.h"

typedef struct {
    mg_str_t name;  /* borrowed from the router */
    mg_str_t value; /* borrowed from the matched path */
} mg_route_param_t;

typedef struct {
    const mg_route_conf_t *route; /* the winner */
    size_t nparams;
    mg_route_param_t params[MG_ROUTE_MAX_PARAMS];
    mg_str_t wildcard; /* what "/\*" matched (without leading '/'), empty otherwise */
} mg_route_match_t;

/* Builds a router for conf->routes. The conf must outlive the router. On a bad pattern
 * (e.g. "{" without "}", "*" not at the end, duplicate param names) returns NULL and
 * writes a message naming the route and path into err. Sets the process's PCRE2
 * match limit to conf->lua.regex_match_limit (regexp.h's mg_regex_set_limits). */
mg_router_t *mg_router_create(const mg_conf_t *conf, char *err, size_t errlen);

void mg_router_destroy(mg_router_t *router);

/* Matches a request. `host` is the Host header without port (may be empty), `method`
 * an llhttp_method_t value, `path` the normalised path (starts with '/', no query).
 * Returns MG_OK and fills *m, or MG_DECLINED when no route matches (404). */
int mg_router_match(const mg_router_t *router, mg_str_t host, int method, mg_str_t path,
                    mg_route_match_t *m);

/* For tests only: how many tree nodes the last mg_router_match() entered, summed over
 * the host buckets it tried. A match's cost is proportional to it, and it does not grow
 * with the number of routes -- unit tests assert that. Not meaningful across threads. */
extern size_t mg_router_last_visits;

/* Same, but for a caller that only has a mg_route_conf_t array (tests, benchmarks).
 * The array (and the strings it points to) must outlive the router. */
mg_router_t *mg_router_create_from(const mg_route_conf_t *routes, size_t nroutes, char *err,
                                   size_t errlen);

#endif
