/* deps: router route_pattern regexp pool str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "llhttp.h"
#include "router.h"

#include "conf.h"

#define M(x) (1ULL << HTTP_##x)

/* Up to 4 paths and 4 hosts per route, written inline by each test. */
typedef struct {
    const char *name;
    uint64_t methods;
    int priority;
    const char *paths[4];
    const char *hosts[4];
} spec_t;

static mg_route_conf_t routes[16];
static char errbuf[256];

/* Builds routes[] from specs (in order, index = position) and a router over them. */
static mg_router_t *build(const spec_t *specs, size_t n)
{
    ck_assert_uint_le(n, MG_NELEMS(routes));
    memset(routes, 0, sizeof(routes));
    for (size_t i = 0; i < n; i++) {
        mg_route_conf_t *r = &routes[i];
        r->name = specs[i].name;
        r->methods = specs[i].methods;
        r->priority = specs[i].priority;
        r->index = (int)i;
        r->paths = (const char **)specs[i].paths;
        while (r->npaths < 4 && specs[i].paths[r->npaths]) {
            r->npaths++;
        }
        r->hosts = (const char **)specs[i].hosts;
        while (r->nhosts < 4 && specs[i].hosts[r->nhosts]) {
            r->nhosts++;
        }
    }
    return mg_router_create_from(routes, n, errbuf, sizeof(errbuf));
}

static mg_route_match_t mt;

/* Name of the winning route for (host, method, path), or NULL when declined. */
static const char *hit(mg_router_t *rt, const char *host, int method, const char *path)
{
    memset(&mt, 0xa5, sizeof(mt));
    int rc =
        mg_router_match(rt, mg_str(host, strlen(host)), method, mg_str(path, strlen(path)), &mt);
    if (rc == MG_DECLINED) {
        return NULL;
    }
    ck_assert_int_eq(rc, MG_OK);
    return mt.route->name;
}

#define ck_route(rt, host, meth, path, want)                                                       \
    do {                                                                                           \
        const char *got_ = hit((rt), (host), (meth), (path));                                      \
        const char *want_ = (want);                                                                \
        if (want_ == NULL) {                                                                       \
            ck_assert_msg(got_ == NULL, "%s %s: expected no match, got %s", (host), (path), got_); \
        } else {                                                                                   \
            ck_assert_msg(got_ != NULL && strcmp(got_, want_) == 0, "%s %s: expected %s, got %s",  \
                          (host), (path), want_, got_ ? got_ : "(none)");                          \
        }                                                                                          \
    } while (0)

static void ck_str(mg_str_t s, const char *want)
{
    ck_assert_msg(s.len == strlen(want) && memcmp(s.p, want, s.len) == 0, "got '%.*s', want '%s'",
                  (int)s.len, s.p ? s.p : "", want);
}

START_TEST(test_exact_over_param_over_wildcard)
{
    spec_t s[] = {
        {"wild", 0, 0, {"/u/*"}, {0}},
        {"param", 0, 0, {"/u/{id}"}, {0}},
        {"exact", 0, 0, {"/u/me"}, {0}},
    };
    mg_router_t *rt = build(s, 3);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/u/me", "exact");
    ck_assert_uint_eq(mt.nparams, 0);
    ck_route(rt, "", HTTP_GET, "/u/42", "param");
    ck_assert_uint_eq(mt.nparams, 1);
    ck_str(mt.params[0].name, "id");
    ck_str(mt.params[0].value, "42");
    ck_str(mt.wildcard, "");
    ck_route(rt, "", HTTP_GET, "/u/42/x", "wild");
    ck_str(mt.wildcard, "42/x");
    ck_assert_uint_eq(mt.nparams, 0);
    ck_route(rt, "", HTTP_GET, "/u/", "wild"); /* a parameter never matches "" */
    ck_str(mt.wildcard, "");
    ck_route(rt, "", HTTP_GET, "/u", "wild");
    ck_route(rt, "", HTTP_GET, "/v", NULL);
    ck_route(rt, "", HTTP_GET, "/", NULL);
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_leftmost_segment_decides_and_backtracking)
{
    spec_t s[] = {
        {"abc", 0, 0, {"/a/b/c"}, {0}},  {"axd", 0, 0, {"/a/{x}/d"}, {0}},
        {"yb", 0, 0, {"/{y}/b/e"}, {0}}, {"all", 0, 0, {"/*"}, {0}},
        {"deep", 0, 0, {"/a/b/*"}, {0}},
    };
    mg_router_t *rt = build(s, 4);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/a/b/c", "abc");
    /* exact "b" dead-ends for "d" -> back to {x} */
    ck_route(rt, "", HTTP_GET, "/a/b/d", "axd");
    ck_assert_uint_eq(mt.nparams, 1);
    ck_str(mt.params[0].name, "x");
    ck_str(mt.params[0].value, "b");
    /* everything under exact "a" dead-ends -> back to {y} at the first segment */
    ck_route(rt, "", HTTP_GET, "/a/b/e", "yb");
    ck_str(mt.params[0].name, "y");
    ck_str(mt.params[0].value, "a");
    ck_route(rt, "", HTTP_GET, "/z/b/e", "yb");
    /* no parameter value survives a branch that was abandoned */
    ck_route(rt, "", HTTP_GET, "/a/q/e", "all");
    ck_assert_uint_eq(mt.nparams, 0);
    ck_str(mt.wildcard, "a/q/e");
    ck_route(rt, "", HTTP_GET, "/", "all");
    ck_str(mt.wildcard, "");
    mg_router_destroy(rt);

    /* with "/a/b/\*" the exact branch no longer dead-ends, so it keeps the request */
    rt = build(s, 5);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/a/b/d", "deep");
    ck_str(mt.wildcard, "d");
    ck_route(rt, "", HTTP_GET, "/a/b/e", "deep");
    ck_route(rt, "", HTTP_GET, "/a/b", "deep");
    ck_str(mt.wildcard, "");
    ck_route(rt, "", HTTP_GET, "/a/b/c", "abc");
    ck_route(rt, "", HTTP_GET, "/a/c/d", "axd");
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_methods_priority_and_order)
{
    spec_t s[] = {
        {"get", M(GET) | M(HEAD), 0, {"/x"}, {0}},
        {"post", M(POST), 0, {"/x"}, {0}},
        {"first", 0, 0, {"/dup"}, {0}},
        {"second", 0, 0, {"/dup"}, {0}},
        {"low", 0, 1, {"/p"}, {0}},
        {"high", 0, 5, {"/p"}, {0}},
        {"bget", M(GET), 0, {"/b/c"}, {0}},
        {"bparam", 0, 0, {"/b/{x}"}, {0}},
        {"hi-post", M(POST), 9, {"/m"}, {0}},
        {"lo-any", 0, 0, {"/m"}, {0}},
    };
    mg_router_t *rt = build(s, 10);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/x", "get");
    ck_route(rt, "", HTTP_HEAD, "/x", "get");
    ck_route(rt, "", HTTP_POST, "/x", "post");
    ck_route(rt, "", HTTP_PUT, "/x", NULL);
    ck_route(rt, "", HTTP_GET, "/dup", "first");
    ck_route(rt, "", HTTP_GET, "/p", "high");
    /* the exact branch accepts only GET: a POST falls back to the parameter branch */
    ck_route(rt, "", HTTP_GET, "/b/c", "bget");
    ck_route(rt, "", HTTP_POST, "/b/c", "bparam");
    ck_route(rt, "", HTTP_POST, "/m", "hi-post");
    ck_route(rt, "", HTTP_DELETE, "/m", "lo-any");
    /* a method without a bit only reaches "any method" routes */
    ck_route(rt, "", 200, "/x", NULL);
    ck_route(rt, "", -1, "/dup", "first");
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_trailing_slash_and_root)
{
    spec_t s[] = {
        {"a", 0, 0, {"/a"}, {0}},
        {"a-slash", 0, 0, {"/a/"}, {0}},
        {"root", 0, 0, {"/"}, {0}},
        {"multi", 0, 0, {"/m1", "/m2/{k}"}, {0}},
    };
    mg_router_t *rt = build(s, 4);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/a", "a");
    ck_route(rt, "", HTTP_GET, "/a/", "a-slash");
    ck_route(rt, "", HTTP_GET, "/", "root");
    ck_route(rt, "", HTTP_GET, "/a/b", NULL);
    ck_route(rt, "", HTTP_GET, "/A", NULL); /* paths are case-sensitive */
    ck_route(rt, "", HTTP_GET, "/m1", "multi");
    ck_route(rt, "", HTTP_GET, "/m2/v", "multi");
    ck_str(mt.params[0].name, "k");
    ck_route(rt, "", HTTP_GET, "", NULL);
    ck_route(rt, "", HTTP_GET, "a", NULL);
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_params_names_and_values)
{
    spec_t s[] = {
        {"two", 0, 0, {"/users/{uid}/posts/{post_id}"}, {0}},
        {"other-names", 0, 0, {"/users/{name}/x"}, {0}},
        {"with-wild", 0, 0, {"/f/{_a1}/*"}, {0}},
    };
    mg_router_t *rt = build(s, 3);
    ck_assert_ptr_nonnull(rt);
    const char *path = "/users/7/posts/abc";
    ck_assert_int_eq(mg_router_match(rt, MG_STR(""), HTTP_GET, mg_str(path, strlen(path)), &mt),
                     MG_OK);
    ck_assert_uint_eq(mt.nparams, 2);
    ck_str(mt.params[0].name, "uid");
    ck_str(mt.params[1].name, "post_id");
    ck_assert_ptr_eq(mt.params[0].value.p, path + 7); /* borrowed from the path */
    ck_str(mt.params[0].value, "7");
    ck_str(mt.params[1].value, "abc");
    /* a shared parameter node, each route with its own names */
    ck_route(rt, "", HTTP_GET, "/users/bob/x", "other-names");
    ck_str(mt.params[0].name, "name");
    ck_str(mt.params[0].value, "bob");
    ck_route(rt, "", HTTP_GET, "/f/z/a/b", "with-wild");
    ck_str(mt.params[0].name, "_a1");
    ck_str(mt.params[0].value, "z");
    ck_str(mt.wildcard, "a/b");
    ck_route(rt, "", HTTP_GET, "/f/z", "with-wild");
    ck_str(mt.wildcard, "");
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_max_params)
{
    char ok[256] = "", bad[300];
    for (int i = 0; i < MG_ROUTE_MAX_PARAMS; i++) {
        snprintf(ok + strlen(ok), sizeof(ok) - strlen(ok), "/{p%d}", i);
    }
    snprintf(bad, sizeof(bad), "%s/{extra}", ok);
    spec_t s[] = {{"many", 0, 0, {ok}, {0}}};
    mg_router_t *rt = build(s, 1);
    ck_assert_ptr_nonnull(rt);
    char path[256] = "";
    for (int i = 0; i < MG_ROUTE_MAX_PARAMS; i++) {
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "/v%d", i);
    }
    ck_route(rt, "", HTTP_GET, path, "many");
    ck_assert_uint_eq(mt.nparams, MG_ROUTE_MAX_PARAMS);
    ck_str(mt.params[15].name, "p15");
    ck_str(mt.params[15].value, "v15");
    mg_router_destroy(rt);
    spec_t s2[] = {{"too-many", 0, 0, {bad}, {0}}};
    ck_assert_ptr_null(build(s2, 1));
    ck_assert_msg(strstr(errbuf, "route 'too-many' path '/{p0}") == errbuf, "%s", errbuf);
    ck_assert_msg(strstr(errbuf, "too many parameters (at most 16)") != NULL, "%s", errbuf);
}
END_TEST

START_TEST(test_wildcard_edges)
{
    spec_t s[] = {
        {"static", 0, 0, {"/static/*"}, {0}},
        {"exact-under", 0, 0, {"/static/index.html"}, {0}},
    };
    mg_router_t *rt = build(s, 2);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "", HTTP_GET, "/static", "static");
    ck_str(mt.wildcard, "");
    ck_route(rt, "", HTTP_GET, "/static/", "static");
    ck_str(mt.wildcard, "");
    ck_route(rt, "", HTTP_GET, "/static/a/b", "static");
    ck_str(mt.wildcard, "a/b");
    ck_route(rt, "", HTTP_GET, "/static/a/b/", "static");
    ck_str(mt.wildcard, "a/b/");
    ck_route(rt, "", HTTP_GET, "/static/index.html", "exact-under");
    ck_route(rt, "", HTTP_GET, "/static/index.html/x", "static");
    ck_str(mt.wildcard, "index.html/x");
    ck_route(rt, "", HTTP_GET, "/staticx", NULL);
    ck_route(rt, "", HTTP_GET, "/", NULL);
    mg_router_destroy(rt);
}
END_TEST

START_TEST(test_hosts)
{
    spec_t s[] = {
        {"exact", 0, 0, {"/x"}, {"api.example.com"}},
        {"upper", 0, 0, {"/u"}, {"UP.Example.com"}},
        {"wild", 0, 0, {"/x", "/w"}, {"*.example.com"}},
        {"wild-deep", 0, 0, {"/x"}, {"*.eu.example.com"}},
        {"any", 0, 0, {"/x", "/y", "/w"}, {0}},
        {"two-hosts", M(GET), 0, {"/t"}, {"a.org", "b.org"}},
    };
    mg_router_t *rt = build(s, 6);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "api.example.com", HTTP_GET, "/x", "exact");
    ck_route(rt, "API.Example.COM", HTTP_GET, "/x", "exact");
    ck_route(rt, "api.example.com.", HTTP_GET, "/x", "exact");
    ck_route(rt, "up.example.com", HTTP_GET, "/u", "upper");
    /* a host bucket without the path falls back: exact -> wildcard -> no host */
    ck_route(rt, "api.example.com", HTTP_GET, "/w", "wild");
    ck_route(rt, "api.example.com", HTTP_GET, "/y", "any");
    ck_route(rt, "api.example.com", HTTP_GET, "/u", NULL);
    ck_route(rt, "www.example.com", HTTP_GET, "/x", "wild");
    ck_route(rt, "a.b.example.com", HTTP_GET, "/x", "wild");
    ck_route(rt, "Fr.EU.example.com", HTTP_GET, "/x", "wild-deep"); /* longest suffix */
    ck_route(rt, "x.fr.eu.example.com", HTTP_GET, "/x", "wild-deep");
    ck_route(rt, "eu.example.com", HTTP_GET, "/x", "wild");
    ck_route(rt, "example.com", HTTP_GET, "/x", "any"); /* "*." needs one more label */
    ck_route(rt, ".example.com", HTTP_GET, "/x", "any");
    ck_route(rt, "other.org", HTTP_GET, "/x", "any");
    ck_route(rt, "", HTTP_GET, "/x", "any");
    ck_route(rt, "b.org", HTTP_GET, "/t", "two-hosts");
    ck_route(rt, "a.org", HTTP_GET, "/t", "two-hosts");
    ck_route(rt, "a.org", HTTP_POST, "/t", NULL);
    ck_route(rt, "c.org", HTTP_GET, "/t", NULL);
    mg_router_destroy(rt);

    /* a host bucket whose route refuses the method falls back as well */
    spec_t s2[] = {
        {"host-get", M(GET), 0, {"/z/{id}"}, {"h.com"}},
        {"any-host", 0, 0, {"/z/*"}, {0}},
    };
    rt = build(s2, 2);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "h.com", HTTP_GET, "/z/1", "host-get");
    ck_route(rt, "h.com", HTTP_POST, "/z/1", "any-host");
    ck_assert_uint_eq(mt.nparams, 0);
    ck_str(mt.wildcard, "1");
    mg_router_destroy(rt);
}
END_TEST

static void ck_bad(const char *path, const char *host, const char *want)
{
    spec_t s[] = {{"users", 0, 0, {"/ok", path}, {host}}};
    mg_router_t *rt = build(s, 1);
    ck_assert_msg(rt == NULL, "'%s' '%s' accepted", path, host ? host : "");
    ck_assert_msg(strcmp(errbuf, want) == 0, "got \"%s\"\nwant \"%s\"", errbuf, want);
}

START_TEST(test_bad_patterns)
{
    ck_bad("/a/{id", NULL, "route 'users' path '/a/{id': unclosed '{'");
    ck_bad("a/b", NULL, "route 'users' path 'a/b': a path must start with '/'");
    ck_bad("", NULL, "route 'users' path '': a path must start with '/'");
    ck_bad("/a//b", NULL, "route 'users' path '/a//b': empty segment ('//')");
    ck_bad("/a*", NULL,
           "route 'users' path '/a*': '*' is only allowed as the whole last segment ('/*')");
    ck_bad("/*/a", NULL,
           "route 'users' path '/*/a': '*' is only allowed as the whole last segment ('/*')");
    ck_bad("/a{id}", NULL,
           "route 'users' path '/a{id}': a parameter must be a whole segment, like '/{id}'");
    ck_bad("/{id}x", NULL,
           "route 'users' path '/{id}x': a parameter must be a whole segment, like '/{id}'");
    ck_bad("/a}", NULL, "route 'users' path '/a}': '}' without '{'");
    ck_bad("/{}", NULL,
           "route 'users' path '/{}': a parameter name must match [A-Za-z_][A-Za-z0-9_]*");
    ck_bad("/{1x}", NULL,
           "route 'users' path '/{1x}': a parameter name must match [A-Za-z_][A-Za-z0-9_]*");
    ck_bad("/{a-b}", NULL,
           "route 'users' path '/{a-b}': a parameter name must match [A-Za-z_][A-Za-z0-9_]*");
    ck_bad("/{a}/{a}", NULL, "route 'users' path '/{a}/{a}': duplicate parameter name");
    ck_bad("/x", "a.*.com",
           "route 'users' host 'a.*.com': '*' is only allowed as a leading '*.' label");
    ck_bad("/x", "*", "route 'users' host '*': a wildcard host must look like '*.example.com'");
    ck_bad("/x", "*com",
           "route 'users' host '*com': a wildcard host must look like '*.example.com'");
    ck_bad("/x", "a.com:80", "route 'users' host 'a.com:80': a host must not contain a port");
    ck_bad("/x", "a b",
           "route 'users' host 'a b': a host may contain only letters, digits, "
           "'-', '_' and '.'");
    ck_bad("/x", "", "route 'users' host '': empty host");

    spec_t s[] = {{"nopath", 0, 0, {0}, {0}}};
    ck_assert_ptr_null(build(s, 1));
    ck_assert_str_eq(errbuf, "route 'nopath': at least one path or a path_regex is required");
}
END_TEST

START_TEST(test_create_from_conf_and_empty)
{
    spec_t s[] = {{"r", 0, 0, {"/r"}, {0}}};
    mg_router_destroy(build(s, 1)); /* fills routes[] */
    mg_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.routes = routes;
    conf.nroutes = 1;
    mg_router_t *rt = mg_router_create(&conf, errbuf, sizeof(errbuf));
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "h", HTTP_GET, "/r", "r");
    mg_router_destroy(rt);

    rt = mg_router_create_from(NULL, 0, NULL, 0);
    ck_assert_ptr_nonnull(rt);
    ck_route(rt, "h", HTTP_GET, "/", NULL);
    mg_router_destroy(rt);
    mg_router_destroy(NULL);
}
END_TEST

/* N routes "/api/v1/svcI/items/{id}" (plus a few shapes around them), built by hand. */
typedef struct {
    mg_route_conf_t *routes;
    char (*paths)[48];
    const char **ppaths;
    char (*names)[24];
    mg_router_t *rt;
} big_t;

static void big_build(big_t *b, size_t n)
{
    b->routes = calloc(n, sizeof(mg_route_conf_t));
    b->paths = calloc(n, sizeof(*b->paths));
    b->ppaths = calloc(n, sizeof(char *));
    b->names = calloc(n, sizeof(*b->names));
    ck_assert(b->routes && b->paths && b->ppaths && b->names);
    for (size_t i = 0; i < n; i++) {
        snprintf(b->paths[i], sizeof(b->paths[i]), "/api/v1/svc%zu/items/{id}", i);
        snprintf(b->names[i], sizeof(b->names[i]), "svc%zu", i);
        b->ppaths[i] = b->paths[i];
        b->routes[i] = (mg_route_conf_t){
            .name = b->names[i], .paths = &b->ppaths[i], .npaths = 1, .index = (int)i};
    }
    b->rt = mg_router_create_from(b->routes, n, errbuf, sizeof(errbuf));
    ck_assert_msg(b->rt != NULL, "%s", errbuf);
}

static void big_free(big_t *b)
{
    mg_router_destroy(b->rt);
    free(b->routes);
    free(b->paths);
    free(b->ppaths);
    free(b->names);
}

START_TEST(test_10000_routes_all_match_with_constant_visits)
{
    big_t small, big;
    big_build(&small, 10);
    big_build(&big, 10000);
    char path[64], id[16];
    for (size_t i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "%zu", i * 7);
        snprintf(path, sizeof(path), "/api/v1/svc%zu/items/%s", i, id);
        ck_route(big.rt, "", HTTP_GET, path, big.names[i]);
        ck_assert_uint_eq(mt.nparams, 1);
        ck_str(mt.params[0].value, id);
        ck_assert_ptr_eq(mt.route, &big.routes[i]);
        /* root, api, v1, svcI, items, {id}: six nodes whatever the router's size */
        ck_assert_uint_eq(mg_router_last_visits, 6);
    }
    ck_route(small.rt, "", HTTP_GET, "/api/v1/svc7/items/1", "svc7");
    size_t small_visits = mg_router_last_visits;
    ck_route(big.rt, "", HTTP_GET, "/api/v1/svc7/items/1", "svc7");
    ck_assert_uint_eq(mg_router_last_visits, small_visits);
    ck_assert_uint_le(small_visits, 6);
    /* misses cost no more than hits */
    ck_route(small.rt, "", HTTP_GET, "/api/v1/svc10000/items/1", NULL);
    small_visits = mg_router_last_visits;
    ck_route(big.rt, "", HTTP_GET, "/api/v1/svc10000/items/1", NULL);
    ck_assert_uint_eq(mg_router_last_visits, small_visits);
    ck_assert_uint_le(small_visits, 6);
    ck_route(big.rt, "", HTTP_GET, "/api/v1/svc5/items", NULL);
    ck_route(big.rt, "", HTTP_GET, "/api/v1/svc5/items/", NULL);
    ck_route(big.rt, "", HTTP_GET, "/api/v1/svc5/items/1/2", NULL);
    ck_assert_uint_le(mg_router_last_visits, 6);
    big_free(&small);
    big_free(&big);
}
END_TEST

/* path_regex routes: named groups as params, after exact/{param} patterns and before
 * "/\*" wildcards, by priority then file order, filtered by method and host. */
START_TEST(test_regex_routes)
{
    static const char *wild[] = {"/*"}, *exact[] = {"/v1/users/me"}, *hosts[] = {"*.a.com"};
    mg_route_conf_t rs[5];
    memset(rs, 0, sizeof(rs));
    rs[0] = (mg_route_conf_t){.name = "exact", .paths = exact, .npaths = 1, .index = 0};
    rs[1] = (mg_route_conf_t){.name = "wild", .paths = wild, .npaths = 1, .index = 1};
    rs[2] = (mg_route_conf_t){
        .name = "rx", .path_regex = "^/v1/users/(?<id>[0-9]+)(?:/(?<sub>[a-z]+))?$", .index = 2};
    rs[3] = (mg_route_conf_t){.name = "post", .path_regex = "^/v1/",
                              .methods = M(POST), .priority = 3, .index = 3};
    rs[4] = (mg_route_conf_t){
        .name = "hosted", .path_regex = "^/h", .hosts = hosts, .nhosts = 1, .index = 4};
    mg_router_t *rt = mg_router_create_from(rs, 5, errbuf, sizeof(errbuf));
    ck_assert_msg(rt != NULL, "%s", errbuf);
    ck_assert_str_eq(hit(rt, "", HTTP_GET, "/v1/users/me"), "exact");
    ck_assert_str_eq(hit(rt, "", HTTP_GET, "/v1/users/42/orders"), "rx");
    ck_assert_uint_eq(mt.nparams, 2);
    ck_assert(mg_str_eq(mt.params[0].name, MG_STR("id")));
    ck_assert(mg_str_eq(mt.params[0].value, MG_STR("42")));
    ck_assert(mg_str_eq(mt.params[1].name, MG_STR("sub")));
    ck_assert(mg_str_eq(mt.params[1].value, MG_STR("orders")));
    ck_assert_ptr_null(mt.wildcard.p);
    ck_assert_str_eq(hit(rt, "", HTTP_GET, "/v1/users/42"), "rx");
    ck_assert_uint_eq(mt.nparams, 1); /* a group that took no part is no param */
    ck_assert_str_eq(hit(rt, "", HTTP_POST, "/v1/users/42"), "post"); /* priority */
    ck_assert_str_eq(hit(rt, "", HTTP_GET, "/v1/users/x"), "wild");
    ck_assert_str_eq(hit(rt, "x.a.com", HTTP_GET, "/h1"), "hosted");
    ck_assert_str_eq(hit(rt, "X.A.COM.", HTTP_GET, "/h1"), "hosted");
    ck_assert_str_eq(hit(rt, "a.com", HTTP_GET, "/h1"), "wild");
    mg_router_destroy(rt);

    /* with no wildcard to fall back on, a regex miss is a 404 */
    rt = mg_router_create_from(rs + 2, 1, errbuf, sizeof(errbuf));
    ck_assert_ptr_null(hit(rt, "", HTTP_GET, "/v1/users/"));
    mg_router_destroy(rt);

    /* a route needs a path or a regex; a bad regex names the route */
    mg_route_conf_t bad = {.name = "bad", .path_regex = "(", .index = 0};
    ck_assert_ptr_null(mg_router_create_from(&bad, 1, errbuf, sizeof(errbuf)));
    ck_assert_ptr_nonnull(strstr(errbuf, "route 'bad' path_regex '('"));
    mg_route_conf_t none = {.name = "none"};
    ck_assert_ptr_null(mg_router_create_from(&none, 1, errbuf, sizeof(errbuf)));
    ck_assert_ptr_nonnull(strstr(errbuf, "path_regex"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_exact_over_param_over_wildcard);
    tcase_add_test(tc, test_leftmost_segment_decides_and_backtracking);
    tcase_add_test(tc, test_methods_priority_and_order);
    tcase_add_test(tc, test_trailing_slash_and_root);
    tcase_add_test(tc, test_params_names_and_values);
    tcase_add_test(tc, test_max_params);
    tcase_add_test(tc, test_wildcard_edges);
    tcase_add_test(tc, test_hosts);
    tcase_add_test(tc, test_bad_patterns);
    tcase_add_test(tc, test_create_from_conf_and_empty);
    tcase_add_test(tc, test_10000_routes_all_match_with_constant_visits);
    tcase_add_test(tc, test_regex_routes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
