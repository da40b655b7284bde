/*
 * route_pattern.c -- the syntax of a route's path and host patterns: parsed once here,
 * used by the configuration loader to refuse a bad pattern with its key and position,
 * and by the router to build its trees.
 */
#include "route_pattern.h"

#include "pool.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static bool host_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* Validates a configured host and returns its table key (lower-cased, pool-owned):
 * "a.com" for exact hosts, ".a.com" with *is_wild set for "*.a.com". */
const char *mg_route_host_key(mg_pool_t *pool, const char *h, bool *is_wild, const char **why)
{
    size_t len = strlen(h);
    const char *s = h;
    *is_wild = false;
    if (len == 0) {
        *why = "empty host";
        return NULL;
    }
    if (h[0] == '*') {
        if (len < 3 || h[1] != '.') {
            *why = "a wildcard host must look like '*.example.com'";
            return NULL;
        }
        *is_wild = true;
        s = h + 1; /* keep the dot: the key is ".example.com" */
    }
    for (const char *p = *is_wild ? s + 1 : s; *p; p++) {
        if (*p == '*') {
            *why = "'*' is only allowed as a leading '*.' label";
            return NULL;
        }
        if (*p == ':') {
            *why = "a host must not contain a port";
            return NULL;
        }
        if (!host_char_ok((unsigned char)*p)) {
            *why = "a host may contain only letters, digits, '-', '_' and '.'";
            return NULL;
        }
    }
    char *key = mg_pool_strdup(pool, s);
    if (key == NULL) {
        *why = "out of memory";
        return NULL;
    }
    for (char *p = key; *p; p++) {
        *p = (char)lower((unsigned char)*p);
    }
    return key;
}

static bool name_ok(mg_str_t n)
{
    if (n.len == 0) {
        return false;
    }
    for (size_t i = 0; i < n.len; i++) {
        unsigned char c = (unsigned char)n.p[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9')) {
            return false;
        }
    }
    return true;
}

/* Classifies one segment of a pattern; returns NULL or why it is bad. */
static const char *parse_seg(mg_str_t s, bool last, mg_route_pattern_t *pat)
{
    if (memchr(s.p, '*', s.len) != NULL) {
        if (s.len == 1 && last) {
            pat->wild = true;
            return NULL;
        }
        return "'*' is only allowed as the whole last segment ('/*')";
    }
    const char *open = memchr(s.p, '{', s.len);
    const char *close = memchr(s.p, '}', s.len);
    mg_route_seg_t *sg = &pat->segs[pat->nsegs];
    if (open == NULL && close == NULL) {
        *sg = (mg_route_seg_t){MG_SEG_EXACT, s};
        pat->nsegs++;
        return NULL;
    }
    if (open == NULL) {
        return "'}' without '{'";
    }
    if (close == NULL) {
        return "unclosed '{'";
    }
    if (open != s.p || close != s.p + s.len - 1) {
        return "a parameter must be a whole segment, like '/{id}'";
    }
    mg_str_t name = mg_str(s.p + 1, s.len - 2);
    if (!name_ok(name)) {
        return "a parameter name must match [A-Za-z_][A-Za-z0-9_]*";
    }
    for (uint32_t i = 0; i < pat->nparams; i++) {
        if (mg_str_eq(pat->names[i], name)) {
            return "duplicate parameter name";
        }
    }
    if (pat->nparams == MG_ROUTE_MAX_PARAMS) {
        return "too many parameters (at most " STRINGIFY(MG_ROUTE_MAX_PARAMS) ")";
    }
    pat->names[pat->nparams++] = name;
    *sg = (mg_route_seg_t){MG_SEG_PARAM, name};
    pat->nsegs++;
    return NULL;
}

/* Parses a path pattern into a pool-owned mg_route_pattern_t. Returns NULL or why it is bad. */
const char *mg_route_pattern_parse(mg_pool_t *pool, const char *path, mg_route_pattern_t *pat)
{
    memset(pat, 0, sizeof(*pat));
    if (path == NULL || path[0] != '/') {
        return "a path must start with '/'";
    }
    char *copy = mg_pool_strdup(pool, path);
    pat->segs = mg_pool_alloc(pool, MG_PATTERN_MAX_SEGMENTS * sizeof(mg_route_seg_t));
    pat->names = mg_pool_alloc(pool, MG_ROUTE_MAX_PARAMS * sizeof(mg_str_t));
    if (copy == NULL || pat->segs == NULL || pat->names == NULL) {
        return "out of memory";
    }
    const char *p = copy + 1, *end = copy + strlen(copy);
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *segend = slash ? slash : end;
        mg_str_t s = mg_str(p, (size_t)(segend - p));
        if (s.len == 0 && slash != NULL) {
            return "empty segment ('//')";
        }
        if (pat->nsegs == MG_PATTERN_MAX_SEGMENTS) {
            return "too many segments";
        }
        const char *why = parse_seg(s, slash == NULL, pat);
        if (why != NULL) {
            return why;
        }
        if (slash == NULL) {
            return NULL;
        }
        p = slash + 1;
    }
}

const char *mg_route_path_problem(const char *path)
{
    for (const char *p = path; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return "a path must not contain spaces or control characters";
        }
        if (*p == '?' || *p == '#') {
            return "a path is matched without its query; leave '?' and '#' out";
        }
    }
    mg_pool_t *pool = mg_pool_create(1024);
    if (pool == NULL) {
        return "out of memory";
    }
    mg_route_pattern_t pat;
    const char *why = mg_route_pattern_parse(pool, path, &pat);
    mg_pool_destroy(pool);
    return why;
}

const char *mg_route_host_problem(const char *host)
{
    mg_pool_t *pool = mg_pool_create(256);
    if (pool == NULL) {
        return "out of memory";
    }
    bool wild;
    const char *why = NULL;
    mg_route_host_key(pool, host, &wild, &why);
    mg_pool_destroy(pool);
    return why;
}
