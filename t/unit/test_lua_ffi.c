/* deps: core */
/*
 * test_lua_ffi.c -- core/lua/lua_ffi.h against the Lua side it declares things for:
 *  - each ffi.cdef block of lua/moongate/ and plugins/ holds the declarations of its
 *    region of the header, no more, no fewer, each with the same text (comments and
 *    whitespace aside);
 *  - the regions load into LuaJIT, and every function they declare resolves through
 *    ffi.C and is defined in a core/ file that includes the header;
 *  - the FFI views of structs C defines elsewhere have C's size and, field by field,
 *    its offsets, sizes and kinds.
 * Every failure names the declaration and the file. Run from the top of the source
 * tree, as `make check` does.
 */
#include <check.h>
#include <glob.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

#include "cdef_text.h"
#include "lua_ffi.h"

#define HEADER "core/lua/lua_ffi.h"
#define BEGIN_TAG "/* ffi:begin "
#define END_TAG "/* ffi:end */"
#define MAX_REGIONS 32

/* The problems a check found: printed in full, then the test fails with their count. */
typedef struct {
    buf_t text;
    int n;
} problems_t;

static void problem(problems_t *pr, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_printf(&pr->text, "  %s\n", tmp);
    pr->n++;
}

static void problems_assert(problems_t *pr, const char *what)
{
    if (pr->n > 0) {
        fprintf(stderr, "%s: %d problem(s):\n%s", what, pr->n, pr->text.p);
    }
    int n = pr->n;
    char first[512];
    snprintf(first, sizeof(first), "%s", pr->n > 0 ? pr->text.p : "");
    free(pr->text.p);
    ck_assert_msg(n == 0, "%s: %d problem(s), first:\n%s", what, n, first);
}

/* ---- the header's regions and the Lua files' cdef blocks ---- */

typedef struct {
    char *file; /* the Lua file the region belongs to */
    char *text; /* without comments and preprocessor lines */
    decls_t decls;
} region_t;

typedef struct {
    region_t r[MAX_REGIONS];
    size_t n;
} header_t;

/* Reads the regions of core/lua/lua_ffi.h; malformed markers are problems. */
static void header_load(header_t *h, problems_t *pr)
{
    memset(h, 0, sizeof(*h));
    char *src = slurp(HEADER);
    ck_assert_msg(src != NULL, "cannot read %s (run from the top of the source tree)", HEADER);
    const char *p = src;
    while ((p = strstr(p, BEGIN_TAG)) != NULL) {
        const char *name = p + strlen(BEGIN_TAG);
        const char *name_end = strstr(name, " */");
        const char *body = name_end != NULL ? name_end + 3 : name;
        const char *end = strstr(body, END_TAG);
        const char *next = strstr(body, BEGIN_TAG);
        if (name_end == NULL || end == NULL || (next != NULL && next < end)) {
            problem(pr, "%s: a region opened with \"%.40s\" has no \"%s\" before the next", HEADER,
                    p, END_TAG);
            break;
        }
        ck_assert_uint_lt(h->n, MAX_REGIONS);
        region_t *r = &h->r[h->n++];
        r->file = strndup(name, (size_t)(name_end - name));
        r->text = strip_c(body, (size_t)(end - body));
        split_decls(r->text, &r->decls);
        p = end + strlen(END_TAG);
    }
    if (h->n == 0) {
        problem(pr, "%s: no \"%s<lua file> */\" region", HEADER, BEGIN_TAG);
    }
    free(src);
}

static void header_free(header_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->r[i].file);
        free(h->r[i].text);
        decls_free(&h->r[i].decls);
    }
}

/* The declarations of a Lua file's cdef blocks; false when it has none. */
static bool lua_decls(const char *file, decls_t *out, problems_t *pr)
{
    char *src = slurp(file);
    if (src == NULL) {
        return false;
    }
    int bad = 0;
    char *cdef = cdef_lua_strings(src, &bad);
    free(src);
    if (bad > 0) {
        problem(pr, "%s: %d ffi.cdef call(s) not given a [[...]] string: declare in %s instead",
                file, bad, HEADER);
    }
    if (cdef == NULL) {
        return false;
    }
    char *clean = strip_c(cdef, strlen(cdef));
    split_decls(clean, out);
    free(clean);
    free(cdef);
    return true;
}

static const region_t *region_of(const header_t *h, const char *file)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->r[i].file, file) == 0) {
            return &h->r[i];
        }
    }
    return NULL;
}

static void check_duplicates(const char *where, const decls_t *d, problems_t *pr)
{
    for (size_t i = 0; i < d->n; i++) {
        if (decls_find(d, d->v[i].name) != &d->v[i]) {
            problem(pr, "%s: `%s` is declared twice", where, d->v[i].name);
        }
    }
}

/* Both ways: what the header's region has that the file has not, and the reverse. */
static void compare(const char *file, const decls_t *hdr, const decls_t *lua, problems_t *pr)
{
    check_duplicates(HEADER, hdr, pr);
    check_duplicates(file, lua, pr);
    for (size_t i = 0; i < hdr->n; i++) {
        const decl_t *h = &hdr->v[i];
        const decl_t *l = decls_find(lua, h->name);
        if (l == NULL) {
            problem(pr, "%s: `%s` is in %s but not in the file's ffi.cdef:\n      %s", file,
                    h->name, HEADER, h->text);
        } else if (strcmp(h->canon, l->canon) != 0) {
            problem(pr, "%s: `%s` differs from %s:\n      header: %s\n      lua:    %s", file,
                    h->name, HEADER, h->text, l->text);
        }
    }
    for (size_t i = 0; i < lua->n; i++) {
        if (decls_find(hdr, lua->v[i].name) == NULL) {
            problem(pr, "%s: `%s` is in the file's ffi.cdef but not in %s:\n      %s", file,
                    lua->v[i].name, HEADER, lua->v[i].text);
        }
    }
}

START_TEST(test_lua_cdefs_match_header)
{
    problems_t pr = {0};
    header_t h;
    header_load(&h, &pr);
    glob_t g;
    ck_assert_int_eq(glob("lua/moongate/*.lua", 0, NULL, &g), 0);
    glob("plugins/*.lua", GLOB_APPEND, NULL, &g);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *file = g.gl_pathv[i];
        decls_t lua = {0};
        bool has = lua_decls(file, &lua, &pr);
        const region_t *r = region_of(&h, file);
        if (has && r == NULL) {
            problem(&pr, "%s: has an ffi.cdef but %s has no \"%s%s */\" region for it", file,
                    HEADER, BEGIN_TAG, file);
        } else if (r != NULL) {
            compare(file, &r->decls, &lua, &pr);
        }
        decls_free(&lua);
    }
    for (size_t i = 0; i < h.n; i++) {
        bool listed = false;
        for (size_t j = 0; j < g.gl_pathc; j++) {
            listed = listed || strcmp(g.gl_pathv[j], h.r[i].file) == 0;
        }
        if (!listed) {
            problem(&pr, "%s: region for %s, which does not exist", HEADER, h.r[i].file);
        }
    }
    globfree(&g);
    header_free(&h);
    problems_assert(&pr, "Lua ffi.cdef blocks against " HEADER);
}
END_TEST

/* ---- the header in LuaJIT ---- */

/* A LuaJIT state with the ffi library, or a failed test. */
static lua_State *lua_new(void)
{
    lua_State *L = luaL_newstate();
    ck_assert_ptr_nonnull(L);
    luaL_openlibs(L);
    return L;
}

/* Runs `chunk` with the string arguments; returns its first result as a new string
 * (NULL for nil), or fails the test with the Lua error. */
static char *lua_run(lua_State *L, const char *chunk, int nargs, ...)
{
    ck_assert_int_eq(luaL_loadstring(L, chunk), 0);
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) {
        lua_pushstring(L, va_arg(ap, const char *));
    }
    va_end(ap);
    int rc = lua_pcall(L, nargs, 1, 0);
    const char *s = lua_tostring(L, -1);
    ck_assert_msg(rc == 0, "%s", s != NULL ? s : "(error)");
    char *out = s != NULL ? strdup(s) : NULL;
    lua_pop(L, 1);
    return out;
}

/* Every region, in the header's order (the order the Lua modules load in). */
static char *header_cdef(const header_t *h)
{
    buf_t b = {0};
    buf_add(&b, "", 0);
    for (size_t i = 0; i < h->n; i++) {
        buf_add(&b, h->r[i].text, strlen(h->r[i].text));
    }
    return b.p;
}

static const char *RESOLVE =
    "local ffi = require 'ffi'\n"
    "local cdef, names = ...\n"
    "local ok, err = pcall(ffi.cdef, cdef)\n"
    "if not ok then return 'ffi.cdef of the header regions failed: ' .. err end\n"
    "local bad = {}\n"
    "for name in names:gmatch('%S+') do\n"
    "    local ok, err = pcall(function() return ffi.C[name] end)\n"
    "    if not ok then bad[#bad + 1] = name .. ' does not resolve through ffi.C: ' .. err end\n"
    "end\n"
    "return #bad > 0 and table.concat(bad, '\\n') or nil\n";

START_TEST(test_header_resolves_in_luajit)
{
    problems_t pr = {0};
    header_t h;
    header_load(&h, &pr);
    buf_t names = {0};
    buf_add(&names, "", 0);
    for (size_t i = 0; i < h.n; i++) {
        for (size_t j = 0; j < h.r[i].decls.n; j++) {
            if (h.r[i].decls.v[j].func) {
                buf_printf(&names, "%s ", h.r[i].decls.v[j].name);
            }
        }
    }
    ck_assert_msg(names.len > 0, "%s declares no function", HEADER);
    char *cdef = header_cdef(&h);
    lua_State *L = lua_new();
    char *bad = lua_run(L, RESOLVE, 2, cdef, names.p);
    if (bad != NULL) {
        problem(&pr, "%s", bad);
    }
    free(bad);
    lua_close(L);
    free(cdef);
    free(names.p);
    header_free(&h);
    problems_assert(&pr, HEADER " in LuaJIT");
}
END_TEST

/* ---- the definitions include the header ---- */

/* True when `src` defines function `name` at the start of a line (a body follows). */
static bool defines(const char *src, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(src, name); p != NULL; p = strstr(p + 1, name)) {
        const char *line = p;
        while (line > src && line[-1] != '\n') {
            line--;
        }
        if (p[n] != '(' || (p > src && is_ident(p[-1])) || !isalpha((unsigned char)*line) ||
            strncmp(line, "static ", 7) == 0) {
            continue;
        }
        int depth = 0;
        const char *q = p + n;
        for (; *q != '\0'; q++) {
            depth += *q == '(' ? 1 : *q == ')' ? -1 : 0;
            if (depth == 0) {
                break;
            }
        }
        if (*q == ')') {
            q++;
            while (isspace((unsigned char)*q)) {
                q++;
            }
            if (*q == '{') {
                return true;
            }
        }
    }
    return false;
}

/* A function of a lower layer (conf/, sys/) cannot include the Lua layer's header; its
 * own header, which lua_ffi.h includes, declares it instead. The compiler then checks
 * lua_ffi.h's declaration against that one wherever both are seen, and the definition
 * against it in the defining file. True when `src` includes such a header declaring
 * `name`. */
static bool checked_through_lower_header(const char *src, const char *name)
{
    static const char *const lower[][2] = {
        {"conf.h", "core/conf/conf.h"},
        {"conf_int.h", "core/conf/conf.h"}, /* conf/'s private header includes conf.h */
        {"shdict.h", "core/sys/shdict.h"},
        {"ratelimit_algo.h", "core/ratelimit/ratelimit_algo.h"},
    };
    for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
        char inc[64];
        snprintf(inc, sizeof(inc), "#include \"%s\"", lower[i][0]);
        if (strstr(src, inc) == NULL) {
            continue;
        }
        char *h = slurp(lower[i][1]);
        char call[128];
        snprintf(call, sizeof(call), "%s(", name);
        bool declared = h != NULL && strstr(h, call) != NULL;
        free(h);
        if (declared) {
            return true;
        }
    }
    return false;
}

START_TEST(test_definitions_include_header)
{
    problems_t pr = {0};
    header_t h;
    header_load(&h, &pr);
    glob_t g;
    ck_assert_int_eq(glob("core/*/*.c", 0, NULL, &g), 0);
    char **src = calloc(g.gl_pathc, sizeof(*src));
    ck_assert_ptr_nonnull(src);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        src[i] = slurp(g.gl_pathv[i]);
        ck_assert_ptr_nonnull(src[i]);
    }
    for (size_t r = 0; r < h.n; r++) {
        for (size_t d = 0; d < h.r[r].decls.n; d++) {
            const decl_t *x = &h.r[r].decls.v[d];
            if (!x->func) {
                continue;
            }
            int found = 0;
            for (size_t i = 0; i < g.gl_pathc; i++) {
                if (!defines(src[i], x->name)) {
                    continue;
                }
                found++;
                if (strstr(src[i], "#include \"lua_ffi.h\"") == NULL &&
                    !checked_through_lower_header(src[i], x->name)) {
                    problem(&pr,
                            "%s defines %s but does not include lua_ffi.h, so the compiler "
                            "does not check it against the declaration Lua uses",
                            g.gl_pathv[i], x->name);
                }
            }
            if (found == 0) {
                problem(&pr, "%s: no file of core/ defines %s", HEADER, x->name);
            }
        }
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        free(src[i]);
    }
    free(src);
    globfree(&g);
    header_free(&h);
    problems_assert(&pr, "definitions of the functions of " HEADER);
}
END_TEST

/* ---- the FFI views of C structs ---- */

/* A field as C lays it out; type_class: __builtin_classify_type's. */
typedef struct {
    const char *type, *field;
    size_t offset, size;
    int type_class;
} field_t;

/* 'i' integer or enum, 'b' bool, 'f' floating point, 'p' pointer. */
static char kind_of(int type_class)
{
    switch (type_class) {
    case 1: /* integer */
    case 2: /* char */
    case 3: /* enum */
        return 'i';
    case 4:
        return 'b';
    case 5:
        return 'p';
    case 8:
        return 'f';
    default:
        return '?';
    }
}

/* The builtin sees its argument promoted, bool as int: _Generic tells bool apart. */
#define TYPE_CLASS(x) _Generic((x), bool : 4, default : __builtin_classify_type(x))
/* The stringised #T would read to clang-format as a directive. */
/* clang-format off */
#define FIELD(T, f) {#T, #f, offsetof(T, f), sizeof(((T *)0)->f), TYPE_CLASS(((T *)0)->f)}
/* clang-format on */

/* Every field of every struct that lua_ffi.h views under MG_LUA_FFI_ONLY. */
static const field_t FIELDS[] = {
    FIELD(mg_str_t, p),
    FIELD(mg_str_t, len),
    FIELD(mg_shdict_val_t, type),
    FIELD(mg_shdict_val_t, num),
    FIELD(mg_shdict_val_t, len),
    FIELD(mg_shdict_val_t, stale),
    FIELD(mg_rl_conf_t, name),
    FIELD(mg_rl_conf_t, algorithm),
    FIELD(mg_rl_conf_t, limit),
    FIELD(mg_rl_conf_t, window),
    FIELD(mg_rl_conf_t, burst),
    FIELD(mg_rl_conf_t, delay),
    FIELD(mg_rl_conf_t, key),
    FIELD(mg_rl_conf_t, nkey),
    FIELD(mg_rl_conf_t, missing_reject),
    FIELD(mg_rl_conf_t, scope),
    FIELD(mg_rl_conf_t, zone),
    FIELD(mg_rl_conf_t, status),
    FIELD(mg_rl_conf_t, headers),
    FIELD(mg_rl_conf_t, redis_failure),
    FIELD(mg_rl_conf_t, nodes),
    FIELD(mg_rl_conf_t, sync_interval),
    FIELD(mg_rl_conf_t, index),
    FIELD(mg_rl_result_t, allowed),
    FIELD(mg_rl_result_t, limit),
    FIELD(mg_rl_result_t, remaining),
    FIELD(mg_rl_result_t, reset),
    FIELD(mg_rl_result_t, retry_after),
    FIELD(mg_rl_result_t, delay),
    FIELD(mg_lua_redis_item_t, type),
    FIELD(mg_lua_redis_item_t, n),
    FIELD(mg_lua_redis_item_t, integer),
    FIELD(mg_lua_redis_item_t, str),
    FIELD(mg_lua_redis_item_t, len),
};

static const struct {
    const char *type;
    size_t size;
} SIZES[] = {
    {"mg_str_t", sizeof(mg_str_t)},
    {"mg_shdict_val_t", sizeof(mg_shdict_val_t)},
    {"mg_rl_conf_t", sizeof(mg_rl_conf_t)},
    {"mg_rl_result_t", sizeof(mg_rl_result_t)},
    {"mg_lua_redis_item_t", sizeof(mg_lua_redis_item_t)},
};

/* How LuaJIT lays out field f of T: "offset span kind size". The kind is what the
 * field takes and gives back: a pointer, or for the double 0xC141414141414141 a boolean,
 * that double (floating point) or a whole number (integer). The span runs from the
 * first to the last byte that a write of a value with no zero byte changes in a zeroed
 * struct: (void *)-1, that double, or the int64_t -1 for an integer. */
static const char *PROBE =
    "local ffi = require 'ffi'\n"
    "local T, f = ...\n"
    "local ok, off = pcall(ffi.offsetof, T, f)\n"
    "if not ok or not off then return 'none' end\n"
    "local size = ffi.sizeof(T)\n"
    "local s = ffi.new(T)\n"
    "local kind\n"
    "if pcall(function() s[f] = ffi.cast('void *', -1) end) then\n"
    "    kind = 'p'\n"
    "else\n"
    "    local magic = ffi.cast('double *', ffi.new('uint64_t[1]', 0xC141414141414141ULL))[0]\n"
    "    s[f] = magic\n"
    "    local v = s[f]\n"
    "    if type(v) == 'boolean' then kind = 'b'\n"
    "    elseif type(v) == 'number' and v ~= math.floor(v) then kind = 'f'\n"
    "    else\n"
    "        kind = 'i'\n"
    "        s = ffi.new(T)\n"
    "        s[f] = ffi.new('int64_t', -1)\n"
    "    end\n"
    "end\n"
    "local bytes, lo, hi = ffi.cast('const uint8_t *', s), nil, nil\n"
    "for i = 0, size - 1 do\n"
    "    if bytes[i] ~= 0 then lo = lo or i; hi = i end\n"
    "end\n"
    "return string.format('%d %d %s %d', off, lo and hi - lo + 1 or 0, kind, size)\n";

/* The number of fields a struct view declares ("double a, b;" counts two). */
static size_t view_fields(const char *canon)
{
    const char *open = strchr(canon, '{'), *close = strrchr(canon, '}');
    size_t n = 0;
    for (const char *p = open; p != NULL && p < close; p++) {
        n += *p == ';' || *p == ',';
    }
    return n;
}

static const decl_t *header_decl(const header_t *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        const decl_t *d = decls_find(&h->r[i].decls, name);
        if (d != NULL) {
            return d;
        }
    }
    return NULL;
}

static void check_view(lua_State *L, const header_t *h, const char *type, size_t size,
                       problems_t *pr)
{
    const decl_t *d = header_decl(h, type);
    if (d == NULL) {
        problem(pr, "%s: no view of %s", HEADER, type);
        return;
    }
    size_t nfields = 0;
    for (size_t i = 0; i < MG_NELEMS(FIELDS); i++) {
        const field_t *f = &FIELDS[i];
        if (strcmp(f->type, type) != 0) {
            continue;
        }
        nfields++;
        char *got = lua_run(L, PROBE, 2, f->type, f->field);
        size_t off, span, lsize;
        char kind;
        if (sscanf(got, "%zu %zu %c %zu", &off, &span, &kind, &lsize) != 4) {
            problem(pr, "%s: the view of %s has no field `%s`", HEADER, type, f->field);
        } else if (off != f->offset || span != f->size || kind != kind_of(f->type_class)) {
            problem(pr,
                    "%s: %s.%s: the view puts it at offset %zu, %zu bytes, kind %c; C at "
                    "offset %zu, %zu bytes, kind %c",
                    HEADER, type, f->field, off, span, kind, f->offset, f->size,
                    kind_of(f->type_class));
        } else if (lsize != size) {
            problem(pr, "%s: sizeof(%s) is %zu in the view, %zu in C", HEADER, type, lsize, size);
        }
        free(got);
    }
    if (view_fields(d->canon) != nfields) {
        problem(pr, "%s: the view of %s has %zu fields, the C struct %zu (as %s lists them)",
                HEADER, type, view_fields(d->canon), nfields, __FILE__);
    }
}

START_TEST(test_views_match_c_layout)
{
    problems_t pr = {0};
    header_t h;
    header_load(&h, &pr);
    char *cdef = header_cdef(&h);
    lua_State *L = lua_new();
    free(lua_run(L, "require('ffi').cdef((...))", 1, cdef));
    for (size_t i = 0; i < MG_NELEMS(SIZES); i++) {
        check_view(L, &h, SIZES[i].type, SIZES[i].size, &pr);
    }
    /* every typedef'd struct of the header is one of them */
    for (size_t r = 0; r < h.n; r++) {
        for (size_t d = 0; d < h.r[r].decls.n; d++) {
            const decl_t *x = &h.r[r].decls.v[d];
            bool known = false;
            for (size_t i = 0; i < MG_NELEMS(SIZES); i++) {
                known = known || strcmp(SIZES[i].type, x->name) == 0;
            }
            if (strncmp(x->canon, "typedef struct{", 15) == 0 && !known) {
                problem(&pr, "%s: %s has a struct view that %s does not check: add it to FIELDS",
                        HEADER, x->name, __FILE__);
            }
        }
    }
    lua_close(L);
    free(cdef);
    header_free(&h);
    problems_assert(&pr, "struct views of " HEADER);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lua_ffi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_lua_cdefs_match_header);
    tcase_add_test(tc, test_header_resolves_in_luajit);
    tcase_add_test(tc, test_definitions_include_header);
    tcase_add_test(tc, test_views_match_c_layout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
