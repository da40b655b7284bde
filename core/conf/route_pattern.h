/*
 * route_pattern.h -- a route's path pattern ("/api/{id}/\*") and host pattern
 * ("*.example.com"): their syntax, written once.
 */
#ifndef MG_ROUTE_PATTERN_H
#define MG_ROUTE_PATTERN_H

#include "conf.h"
#include "mg_core.h"

/* Deepest pattern accepted; also bounds the recursion depth of a match. */
#define MG_PATTERN_MAX_SEGMENTS 64

#define MG_ROUTE_MAX_PARAMS 16

/* A path_regex whose every match is longer than this (the largest max_request_line)
 * can never match. */
#define MG_ROUTE_REGEX_MAX_PATH (1u << 20)

enum { MG_SEG_EXACT = 0, MG_SEG_PARAM = 1 };

typedef struct {
    int kind;
    mg_str_t s; /* exact text, or the parameter name */
} mg_route_seg_t;

typedef struct {
    mg_route_seg_t *segs;
    uint32_t nsegs;
    bool wild;
    mg_str_t *names;
    uint32_t nparams;
} mg_route_pattern_t;

/* Parses a path pattern into `pat`, its arrays in `pool`. Returns NULL, or why it is
 * bad (a static string). */
const char *mg_route_pattern_parse(mg_pool_t *pool, const char *path, mg_route_pattern_t *pat);

/* Validates a configured host and returns its lookup key, lower-cased, in `pool`:
 * "a.com" for an exact host, ".a.com" with *is_wild set for "*.a.com". NULL with the
 * reason in *why when it is bad. */
const char *mg_route_host_key(mg_pool_t *pool, const char *h, bool *is_wild, const char **why);

/* Why a path pattern or a host pattern is invalid, or NULL when it is fine (for config
 * validation: nothing is kept). */
const char *mg_route_path_problem(const char *path);
const char *mg_route_host_problem(const char *host);

#endif
