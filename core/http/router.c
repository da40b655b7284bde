/*
 * router.c -- host buckets, each holding a segment tree of path patterns.
 *
 * Layout: exact hosts and "*.suffix" hosts live in two open-addressing hash tables
 * keyed by the lower-cased name (".suffix" for wildcards); each entry owns the root
 * of a tree. Routes without hosts go to a default tree. A tree node has its exact
 * children in an array sorted by bytes (binary search), at most one parameter child,
 * and two leaf lists: routes whose pattern ends here and routes whose pattern ends
 * here with "/\*". Leaf lists are ordered by priority then file order, so the first
 * entry whose methods accept the request wins.
 *
 * Everything is allocated from one pool owned by the router; matching only reads.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "pool.h"
#include "regexp.h"
#include "route_pattern.h"

size_t mg_router_last_visits;

typedef struct {
    const mg_route_conf_t *route;
    const mg_str_t *names; /* parameter names, in path order */
    uint32_t nparams;
} leaf_t;

typedef struct {
    leaf_t *v;
    uint32_t n, cap;
} leaves_t;

typedef struct node_s node_t;

/* An exact child. The segment sits next to the pointer so that a binary search reads
 * one array, not one node per probe. */
typedef struct {
    mg_str_t seg;
    node_t *node;
} kid_t;

struct node_s {
    kid_t *kids; /* sorted by seg_cmp() */
    uint32_t nkids, capkids;
    node_t *param;
    leaves_t end;  /* patterns ending exactly here */
    leaves_t wild; /* patterns ending here with "/\*" */
};

typedef struct {
    mg_str_t key; /* lower-cased host, or ".suffix" for "*.suffix" */
    node_t *root;
} host_entry_t;

typedef struct {
    host_entry_t *v; /* key.p == NULL marks a free slot */
    size_t mask;     /* capacity - 1, capacity a power of two */
    size_t n;
} host_table_t;

/* A route's path_regex, compiled for this router, with its hosts and named groups. */
typedef struct {
    const mg_route_conf_t *route;
    mg_regex_t *re;
    mg_str_t *hosts; /* mg_route_host_key()s: "a.com", or ".a.com" for "*.a.com" */
    bool *host_wild;
    size_t nhosts;
    uint32_t nnames;
    mg_str_t names[MG_ROUTE_MAX_PARAMS];
    uint32_t groups[MG_ROUTE_MAX_PARAMS];
} regex_route_t;

struct mg_router_s {
    mg_pool_t *pool;
    node_t *any; /* routes without hosts */
    host_table_t exact;
    host_table_t wild;
    regex_route_t *regex; /* by priority (higher first), then file order */
    size_t nregex;
};

/* One (tree, pattern, route) to insert; sorted so that inserts append in order. */
typedef struct {
    node_t *root; /* also the tree's identity when sorting */
    const mg_route_pattern_t *pat;
    const mg_route_conf_t *route;
    size_t seq;
} item_t;

/* ---- small helpers ------------------------------------------------------------- */

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static int seg_cmp(mg_str_t a, mg_str_t b)
{
    int c = memcmp(a.p, b.p, MG_MIN(a.len, b.len));
    if (c != 0) {
        return c;
    }
    return (a.len > b.len) - (a.len < b.len);
}

static void set_err(char *err, size_t errlen, const mg_route_conf_t *r, const char *what,
                    const char *subject, const char *msg)
{
    const char *name = r->name ? r->name : "?";
    if (err == NULL || errlen == 0) {
        return;
    }
    if (what == NULL) {
        snprintf(err, errlen, "route '%s': %s", name, msg);
    } else {
        snprintf(err, errlen, "route '%s' %s '%s': %s", name, what, subject ? subject : "", msg);
    }
}

/* Doubles *v (n elements of size sz, capacity *cap) in the pool; old memory is left in
 * the pool, which costs at most as much again as the final array. */
static int grow(mg_pool_t *pool, void **v, uint32_t n, uint32_t *cap, size_t sz)
{
    if (n < *cap) {
        return MG_OK;
    }
    uint32_t ncap = *cap ? *cap * 2 : 4;
    void *nv = mg_pool_alloc(pool, ncap * sz);
    if (nv == NULL) {
        return MG_ERROR;
    }
    if (n > 0) {
        memcpy(nv, *v, n * sz);
    }
    *v = nv;
    *cap = ncap;
    return MG_OK;
}

/* ---- host tables --------------------------------------------------------------- */

static size_t host_hash(mg_str_t s)
{
    size_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.len; i++) {
        h = (h ^ lower((unsigned char)s.p[i])) * 1099511628211ULL;
    }
    return h;
}

static int host_table_init(mg_pool_t *pool, host_table_t *t, size_t want)
{
    size_t cap = 8;
    while (cap < want * 2) {
        cap <<= 1;
    }
    t->v = mg_pool_calloc(pool, cap * sizeof(host_entry_t));
    t->mask = cap - 1;
    t->n = 0;
    return t->v ? MG_OK : MG_ERROR;
}

/* The entry for key (case-insensitive), or NULL. */
static const host_entry_t *host_find(const host_table_t *t, mg_str_t key)
{
    for (size_t i = host_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        const host_entry_t *e = &t->v[i];
        if (e->key.p == NULL) {
            return NULL;
        }
        if (mg_str_caseeq(e->key, key)) {
            return e;
        }
    }
}

/* The entry for a lower-cased key, created with a fresh root when absent. */
static host_entry_t *host_get(mg_pool_t *pool, host_table_t *t, mg_str_t key)
{
    size_t i = host_hash(key) & t->mask;
    for (; t->v[i].key.p != NULL; i = (i + 1) & t->mask) {
        if (mg_str_eq(t->v[i].key, key)) {
            return &t->v[i];
        }
    }
    t->v[i].root = mg_pool_calloc(pool, sizeof(node_t));
    if (t->v[i].root == NULL) {
        return NULL;
    }
    t->v[i].key = key;
    t->n++;
    return &t->v[i];
}

/* ---- building ------------------------------------------------------------------- */

/* Orders items by tree, then pattern (exact segments by bytes, exact before parameter,
 * shorter first), then priority (higher first), then file order. Sorted this way, a
 * node's exact children arrive in increasing order and leaf lists in precedence order. */
static int item_cmp(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    if (a->root != b->root) {
        return (uintptr_t)a->root < (uintptr_t)b->root ? -1 : 1;
    }
    uint32_t n = MG_MIN(a->pat->nsegs, b->pat->nsegs);
    for (uint32_t i = 0; i < n; i++) {
        const mg_route_seg_t *sa = &a->pat->segs[i], *sb = &b->pat->segs[i];
        if (sa->kind != sb->kind) {
            return sa->kind - sb->kind;
        }
        int c = sa->kind == MG_SEG_EXACT ? seg_cmp(sa->s, sb->s) : 0;
        if (c != 0) {
            return c;
        }
    }
    if (a->pat->nsegs != b->pat->nsegs) {
        return a->pat->nsegs < b->pat->nsegs ? -1 : 1;
    }
    if (a->pat->wild != b->pat->wild) {
        return a->pat->wild ? 1 : -1;
    }
    if (a->route->priority != b->route->priority) {
        return a->route->priority > b->route->priority ? -1 : 1;
    }
    if (a->route->index != b->route->index) {
        return a->route->index < b->route->index ? -1 : 1;
    }
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Binary search for seg among n's exact children: its position when present (*found
 * set), else where it would be inserted. */
static size_t kid_search(const node_t *n, mg_str_t seg, bool *found)
{
    size_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = seg_cmp(n->kids[mid].seg, seg);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

/* The exact child of n for seg, created when absent. Sorted input makes this an append;
 * anything else still lands in its sorted place. */
static node_t *child_exact(mg_pool_t *pool, node_t *n, mg_str_t seg)
{
    bool found = false;
    size_t pos = n->nkids;
    int last = pos > 0 ? seg_cmp(n->kids[pos - 1].seg, seg) : -1;
    if (last == 0) {
        found = true;
        pos--;
    } else if (last > 0) {
        pos = kid_search(n, seg, &found);
    }
    if (found) {
        return n->kids[pos].node;
    }
    node_t *c = mg_pool_calloc(pool, sizeof(node_t));
    if (c == NULL || grow(pool, (void **)&n->kids, n->nkids, &n->capkids, sizeof(kid_t))) {
        return NULL;
    }
    memmove(&n->kids[pos + 1], &n->kids[pos], (n->nkids - pos) * sizeof(kid_t));
    n->kids[pos] = (kid_t){seg, c};
    n->nkids++;
    return c;
}

static int insert(mg_pool_t *pool, const item_t *it)
{
    node_t *n = it->root;
    for (uint32_t i = 0; i < it->pat->nsegs && n != NULL; i++) {
        const mg_route_seg_t *s = &it->pat->segs[i];
        if (s->kind == MG_SEG_EXACT) {
            n = child_exact(pool, n, s->s);
        } else {
            if (n->param == NULL) {
                n->param = mg_pool_calloc(pool, sizeof(node_t));
            }
            n = n->param;
        }
    }
    if (n == NULL) {
        return MG_ERROR;
    }
    leaves_t *l = it->pat->wild ? &n->wild : &n->end;
    if (grow(pool, (void **)&l->v, l->n, &l->cap, sizeof(leaf_t)) != MG_OK) {
        return MG_ERROR;
    }
    l->v[l->n++] = (leaf_t){it->route, it->pat->names, it->pat->nparams};
    return MG_OK;
}

static void destroy_regex(void *data)
{
    mg_regex_destroy(data);
}

/* Compiles r's path_regex into rt->regex[rt->nregex++], with its hosts' keys and its
 * named groups. */
static int add_regex(mg_router_t *rt, const mg_route_conf_t *r, char *err, size_t errlen)
{
    regex_route_t *x = &rt->regex[rt->nregex];
    mg_regex_err_t e;
    *x = (regex_route_t){.route = r};
    x->re = mg_regex_create(r->path_regex, strlen(r->path_regex), 0, &e);
    if (x->re == NULL || mg_pool_cleanup_add(rt->pool, destroy_regex, x->re) != MG_OK) {
        mg_regex_destroy(x->re);
        set_err(err, errlen, r, "path_regex", r->path_regex, x->re ? "out of memory" : e.msg);
        return MG_ERROR;
    }
    x->nnames = mg_regex_name_count(x->re);
    if (x->nnames > MG_ROUTE_MAX_PARAMS) {
        set_err(err, errlen, r, "path_regex", r->path_regex, "too many named groups");
        return MG_ERROR;
    }
    for (uint32_t i = 0; i < x->nnames; i++) {
        const char *name;
        mg_regex_name_at(x->re, i, &name, &x->groups[i]);
        x->names[i] = mg_str(name, strlen(name));
    }
    x->hosts = mg_pool_calloc(rt->pool, MG_MAX(r->nhosts, 1) * sizeof(mg_str_t));
    x->host_wild = mg_pool_calloc(rt->pool, MG_MAX(r->nhosts, 1) * sizeof(bool));
    if (x->hosts == NULL || x->host_wild == NULL) {
        set_err(err, errlen, r, NULL, NULL, "out of memory");
        return MG_ERROR;
    }
    for (size_t h = 0; h < r->nhosts; h++) {
        const char *why;
        const char *key = mg_route_host_key(rt->pool, r->hosts[h], &x->host_wild[h], &why);
        if (key == NULL) {
            set_err(err, errlen, r, "host", r->hosts[h], why);
            return MG_ERROR;
        }
        x->hosts[h] = mg_str(key, strlen(key));
    }
    x->nhosts = r->nhosts;
    rt->nregex++;
    return MG_OK;
}

static int regex_cmp(const void *pa, const void *pb)
{
    const regex_route_t *a = pa, *b = pb;
    if (a->route->priority != b->route->priority) {
        return a->route->priority > b->route->priority ? -1 : 1;
    }
    return (a->route->index > b->route->index) - (a->route->index < b->route->index);
}

/* Validates one route and appends an item per (path, host) to items. */
static int add_route(mg_router_t *rt, const mg_route_conf_t *r, item_t *items, size_t *nitems,
                     char *err, size_t errlen)
{
    if (r->npaths == 0 && r->path_regex == NULL) {
        set_err(err, errlen, r, NULL, NULL, "at least one path or a path_regex is required");
        return MG_ERROR;
    }
    if (r->path_regex != NULL && add_regex(rt, r, err, errlen) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t p = 0; p < r->npaths; p++) {
        mg_route_pattern_t *pat = mg_pool_alloc(rt->pool, sizeof(mg_route_pattern_t));
        const char *why =
            pat ? mg_route_pattern_parse(rt->pool, r->paths[p], pat) : "out of memory";
        if (why != NULL) {
            set_err(err, errlen, r, "path", r->paths[p], why);
            return MG_ERROR;
        }
        for (size_t h = 0; h < MG_MAX(r->nhosts, 1); h++) {
            node_t *root = rt->any;
            if (r->nhosts > 0) {
                bool is_wild;
                const char *key = mg_route_host_key(rt->pool, r->hosts[h], &is_wild, &why);
                host_entry_t *e = NULL;
                if (key != NULL) {
                    e = host_get(rt->pool, is_wild ? &rt->wild : &rt->exact,
                                 mg_str(key, strlen(key)));
                    why = e ? NULL : "out of memory";
                }
                if (why != NULL) {
                    set_err(err, errlen, r, "host", r->hosts[h], why);
                    return MG_ERROR;
                }
                root = e->root;
            }
            items[*nitems] = (item_t){.root = root, .pat = pat, .route = r, .seq = *nitems};
            (*nitems)++;
        }
    }
    return MG_OK;
}

static int build(mg_router_t *rt, const mg_route_conf_t *routes, size_t nroutes, char *err,
                 size_t errlen)
{
    size_t nhosts = 0, total = 0, nitems = 0, nregex = 0;
    for (size_t i = 0; i < nroutes; i++) {
        nhosts += routes[i].nhosts;
        total += routes[i].npaths * MG_MAX(routes[i].nhosts, 1);
        nregex += routes[i].path_regex != NULL;
    }
    rt->regex = nregex ? mg_pool_calloc(rt->pool, nregex * sizeof(regex_route_t)) : NULL;
    if (host_table_init(rt->pool, &rt->exact, nhosts) != MG_OK ||
        host_table_init(rt->pool, &rt->wild, nhosts) != MG_OK || (nregex && rt->regex == NULL)) {
        snprintf(err, errlen, "router: out of memory");
        return MG_ERROR;
    }
    item_t *items = malloc(MG_MAX(total, 1) * sizeof(item_t));
    if (items == NULL) {
        snprintf(err, errlen, "router: out of memory");
        return MG_ERROR;
    }
    int rc = MG_OK;
    for (size_t i = 0; i < nroutes && rc == MG_OK; i++) {
        rc = add_route(rt, &routes[i], items, &nitems, err, errlen);
    }
    if (rc == MG_OK) {
        qsort(items, nitems, sizeof(item_t), item_cmp);
        if (rt->nregex > 1) {
            qsort(rt->regex, rt->nregex, sizeof(regex_route_t), regex_cmp);
        }
    }
    for (size_t i = 0; i < nitems && rc == MG_OK; i++) {
        rc = insert(rt->pool, &items[i]);
        if (rc != MG_OK) {
            snprintf(err, errlen, "router: out of memory");
        }
    }
    free(items);
    return rc;
}

mg_router_t *mg_router_create_from(const mg_route_conf_t *routes, size_t nroutes, char *err,
                                   size_t errlen)
{
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    } else {
        err = NULL;
        errlen = 0;
    }
    mg_pool_t *pool = mg_pool_create(16384);
    mg_router_t *rt = pool ? mg_pool_calloc(pool, sizeof(mg_router_t)) : NULL;
    node_t *any = rt ? mg_pool_calloc(pool, sizeof(node_t)) : NULL;
    if (any == NULL) {
        if (errlen > 0) {
            snprintf(err, errlen, "router: out of memory");
        }
        mg_pool_destroy(pool);
        return NULL;
    }
    rt->pool = pool;
    rt->any = any;
    if (build(rt, routes, nroutes, err, errlen) != MG_OK) {
        mg_pool_destroy(pool);
        return NULL;
    }
    return rt;
}

mg_router_t *mg_router_create(const mg_conf_t *conf, char *err, size_t errlen)
{
    return mg_router_create_from(conf->routes, conf->nroutes, err, errlen);
}

void mg_router_destroy(mg_router_t *router)
{
    if (router != NULL) {
        mg_pool_destroy(router->pool);
    }
}

/* ---- matching ------------------------------------------------------------------- */

typedef struct {
    uint64_t method_bit; /* 0 when the method has no bit: only "any method" routes */
    bool wild;           /* the winner ends with "/\*" */
    size_t nvals;
    mg_str_t vals[MG_ROUTE_MAX_PARAMS];
    mg_route_match_t *m;
} walk_t;

/* Takes the first leaf whose methods accept the request; fills the match. */
static bool take(const leaves_t *l, walk_t *w, mg_str_t wild, bool is_wild)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const leaf_t *e = &l->v[i];
        if (e->route->methods != 0 && (e->route->methods & w->method_bit) == 0) {
            continue;
        }
        mg_route_match_t *m = w->m;
        m->route = e->route;
        m->nparams = MG_MIN(e->nparams, w->nvals);
        for (size_t k = 0; k < m->nparams; k++) {
            m->params[k].name = e->names[k];
            m->params[k].value = w->vals[k];
        }
        m->wildcard = wild;
        w->wild = is_wild;
        return true;
    }
    return false;
}

static const node_t *find_exact(const node_t *n, mg_str_t seg)
{
    bool found;
    size_t pos = kid_search(n, seg, &found);
    return found ? n->kids[pos].node : NULL;
}

/* Matches `rest` (the path after the '/' that precedes its next segment; `more` is false
 * once every segment is consumed) below n. Tries the exact child, then the parameter
 * child, then n's "/\*" leaves, so a specific branch that dead-ends falls back to a less
 * specific one. Recursion depth is bounded by the tree's depth (MG_PATTERN_MAX_SEGMENTS). */
static bool walk(const node_t *n, mg_str_t rest, bool more, walk_t *w)
{
    mg_router_last_visits++;
    if (!more) {
        return take(&n->end, w, MG_STR(""), false) || take(&n->wild, w, mg_str(rest.p, 0), true);
    }
    const char *slash = rest.len ? memchr(rest.p, '/', rest.len) : NULL;
    mg_str_t seg = mg_str(rest.p, slash ? (size_t)(slash - rest.p) : rest.len);
    mg_str_t next =
        slash ? mg_str(slash + 1, rest.len - seg.len - 1) : mg_str(rest.p + rest.len, 0);
    const node_t *c = n->nkids ? find_exact(n, seg) : NULL;
    if (c != NULL && walk(c, next, slash != NULL, w)) {
        return true;
    }
    if (n->param != NULL && seg.len > 0 && w->nvals < MG_ROUTE_MAX_PARAMS) {
        w->vals[w->nvals++] = seg;
        if (walk(n->param, next, slash != NULL, w)) {
            return true;
        }
        w->nvals--;
    }
    return take(&n->wild, w, rest, true);
}

static bool try_root(const node_t *root, mg_str_t rest, walk_t *w)
{
    w->nvals = 0;
    return walk(root, rest, true, w);
}

/* The segment tree over every host bucket that applies. */
static int tree_match(const mg_router_t *router, mg_str_t host, mg_str_t path, walk_t *w)
{
    mg_str_t rest = mg_str(path.p + 1, path.len - 1);
    if (host.len > 0 && router->exact.n > 0) {
        const host_entry_t *e = host_find(&router->exact, host);
        if (e != NULL && try_root(e->root, rest, w)) {
            return MG_OK;
        }
    }
    /* Leftmost dot first: the longest suffix is the most specific wildcard. Starting at
     * 1 keeps "*.a.com" from matching "a.com" itself. */
    for (size_t i = 1; i < host.len && router->wild.n > 0; i++) {
        if (host.p[i] != '.') {
            continue;
        }
        const host_entry_t *e = host_find(&router->wild, mg_str(host.p + i, host.len - i));
        if (e != NULL && try_root(e->root, rest, w)) {
            return MG_OK;
        }
    }
    if (try_root(router->any, rest, w)) {
        return MG_OK;
    }
    return MG_DECLINED;
}

static bool regex_host_ok(const regex_route_t *x, mg_str_t host)
{
    if (x->nhosts == 0) {
        return true;
    }
    for (size_t h = 0; h < x->nhosts; h++) {
        mg_str_t k = x->hosts[h];
        if (!x->host_wild[h] ? mg_str_caseeq(k, host)
                             : host.len > k.len &&
                                   mg_str_caseeq(k, mg_str(host.p + host.len - k.len, k.len))) {
            return true;
        }
    }
    return false;
}

/* The first path_regex route (by priority, then file order) whose hosts, methods and
 * regex accept the request. A match that fails (the match limit) counts as no match. */
static bool regex_match(const mg_router_t *router, mg_str_t host, uint64_t method_bit,
                        mg_str_t path, mg_route_match_t *m)
{
    for (size_t i = 0; i < router->nregex; i++) {
        const regex_route_t *x = &router->regex[i];
        const mg_route_conf_t *r = x->route;
        if ((r->methods != 0 && (r->methods & method_bit) == 0) || !regex_host_ok(x, host) ||
            mg_regex_exec(x->re, path.p, path.len, 0) <= 0) {
            continue;
        }
        m->route = r;
        m->nparams = 0;
        for (uint32_t k = 0; k < x->nnames; k++) {
            size_t from, to;
            if (mg_regex_group(x->re, x->groups[k], &from, &to) == MG_OK) {
                m->params[m->nparams].name = x->names[k];
                m->params[m->nparams].value = mg_str(path.p + from, to - from);
                m->nparams++;
            }
        }
        m->wildcard = (mg_str_t){NULL, 0};
        return true;
    }
    return false;
}

int mg_router_match(const mg_router_t *router, mg_str_t host, int method, mg_str_t path,
                    mg_route_match_t *m)
{
    mg_router_last_visits = 0;
    if (path.len == 0 || path.p[0] != '/') {
        return MG_DECLINED;
    }
    walk_t w = {.method_bit = (method >= 0 && method < 64) ? 1ULL << method : 0, .m = m};
    if (host.len > 0 && host.p[host.len - 1] == '.') {
        host.len--; /* "a.com." names the same host as "a.com" */
    }
    int rc = tree_match(router, host, path, &w);
    /* regex routes come after exact and parameter patterns, before "/\*" wildcards */
    if (router->nregex == 0 || (rc == MG_OK && !w.wild)) {
        return rc;
    }
    mg_route_match_t rm;
    if (regex_match(router, host, w.method_bit, path, &rm)) {
        *m = rm;
        return MG_OK;
    }
    return rc;
}
