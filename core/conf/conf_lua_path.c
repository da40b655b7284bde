/*
 * conf_lua_path.c -- `lua_path:`, the directories of the Lua modules plugins share
 * (`require "mylib.jwt_helpers"`), and reading every module in them.
 *
 * An entry is a directory (`lib`: modules are lib/NAME.lua and lib/NAME/init.lua, dots
 * of the name being slashes) or a template in OpenResty's lua_package_path style with
 * one '?' (`lib/?.lua`; entries may be joined with ';'). Relative paths are taken from
 * the configuration file's directory.
 *
 * The modules are read whole with the plugins (mg_conf_read_plugins), by the master,
 * and travel to the workers with them: a worker compiles exactly the set that was
 * validated, never a half-updated one, and a reload reads them again. A name is given
 * by the first template that has it. Modules named `moongate` or `moongate.*` are
 * refused: that name space is the bundled runtime's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "conf_int.h"

#define MAX_MODULES 1024
#define MAX_DEPTH 8
#define MAX_TOTAL (64u << 20)
#define MAX_DIRS 64

/* One template: its text, the part before '?' and after it. */
typedef struct {
    const char *tmpl;
    size_t pre_len; /* bytes before '?' */
    size_t idx;     /* the lua_path entry it came from */
} tmpl_t;

const char *mg__conf_file_dir(mg__conf_ctx_t *c)
{
    const char *slash = strrchr(c->name, '/');
    if (c->name[0] != '/' || slash == NULL) {
        return c->conf->prefix;
    }
    return slash == c->name ? "/" : mg_pool_strndup(c->pool, c->name, (size_t)(slash - c->name));
}

/* Adds the templates of one entry text (a directory or templates joined by ';'). */
static int add_entry(mg__conf_ctx_t *c, yaml_node_t *node, const char *dir, const char *text,
                     const char **out, size_t *n, size_t cap)
{
    while (*text != '\0') {
        const char *end = strchr(text, ';');
        size_t len = end != NULL ? (size_t)(end - text) : strlen(text);
        if (len > 0) {
            char *piece = mg_pool_strndup(c->pool, text, len);
            if (piece == NULL) {
                return mg__conf_fail(c, node, "out of memory");
            }
            char *q = strchr(piece, '?');
            if (q != NULL && strchr(q + 1, '?') != NULL) {
                return mg__conf_fail(c, node,
                                     "a template has one '?' (the module's name), like lib/?.lua");
            }
            const char *abs = piece;
            if (piece[0] != '/') {
                size_t dl = strlen(dir);
                char *buf = mg_pool_alloc(c->pool, dl + len + 2);
                if (buf == NULL) {
                    return mg__conf_fail(c, node, "out of memory");
                }
                snprintf(buf, dl + len + 2, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
                         piece[0] == '.' && piece[1] == '/' ? piece + 2 : piece);
                abs = buf;
            }
            size_t al = strlen(abs);
            while (q == NULL && al > 1 && abs[al - 1] == '/') {
                al--;
            }
            int k = q != NULL ? 1 : 2;
            if (*n + (size_t)k > cap) {
                return mg__conf_fail(c, node, "at most %zu lua_path entries", cap / 2);
            }
            if (q != NULL) {
                out[(*n)++] = abs;
            } else {
                char *a = mg_pool_alloc(c->pool, al + 8), *b = mg_pool_alloc(c->pool, al + 14);
                if (a == NULL || b == NULL) {
                    return mg__conf_fail(c, node, "out of memory");
                }
                snprintf(a, al + 8, "%.*s/?.lua", (int)al, abs);
                snprintf(b, al + 14, "%.*s/?/init.lua", (int)al, abs);
                out[(*n)++] = a;
                out[(*n)++] = b;
            }
        }
        text += len + (end != NULL);
    }
    return MG_OK;
}

int mg__conf_on_lua_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    size_t cap = 2 * MAX_DIRS;
    const char **t = mg_pool_calloc(c->pool, cap * sizeof(*t));
    size_t *idx = mg_pool_calloc(c->pool, cap * sizeof(*idx));
    int *pos = mg_pool_calloc(c->pool, (n ? n : 1) * 2 * sizeof(int));
    const char *dir = mg__conf_file_dir(c);
    if (t == NULL || idx == NULL || pos == NULL || dir == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        const char *text;
        if (mg__conf_str(c, items[i], &text) != MG_OK) {
            return MG_ERROR;
        }
        size_t before = nt;
        if (add_entry(c, items[i], dir, text, t, &nt, cap) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = before; j < nt; j++) {
            idx[j] = i;
        }
        pos[2 * i] = (int)items[i]->start_mark.line + 1;
        pos[2 * i + 1] = (int)items[i]->start_mark.column + 1;
        mg__conf_pop(c, saved);
    }
    c->conf->lua_path = t;
    c->conf->lua_path_entry = idx;
    c->conf->lua_path_pos = pos;
    c->conf->nlua_path = nt;
    c->conf->lua_path_scalar = scalar;
    return MG_OK;
}

/* ---- reading the modules ---- */

typedef struct {
    mg_conf_t *conf;
    mg_conf_err_t *err;
    const tmpl_t *t;
    size_t total;
    size_t cap;
} reader_t;

static int fail_at(reader_t *rd, size_t entry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(reader_t *rd, size_t entry, const char *fmt, ...)
{
    mg_conf_t *conf = rd->conf;
    mg_conf_err_t *e = rd->err;
    memset(e, 0, sizeof(*e));
    snprintf(e->file, sizeof(e->file), "%s", conf->file);
    e->line = conf->lua_path_pos[2 * entry];
    e->column = conf->lua_path_pos[2 * entry + 1];
    if (conf->lua_path_scalar) {
        snprintf(e->key, sizeof(e->key), "lua_path");
    } else {
        snprintf(e->key, sizeof(e->key), "lua_path[%zu]", entry);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return MG_ERROR;
}

static bool name_part_ok(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '/')) {
            return false;
        }
    }
    return s[0] != '/' && s[n - 1] != '/' && strstr(s, "//") == NULL;
}

static bool have_module(const mg_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nlua_modules; i++) {
        if (strcmp(conf->lua_modules[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void add_dir(mg_conf_t *conf, const char *dir)
{
    for (size_t i = 0; i < conf->nlua_dirs; i++) {
        if (strcmp(conf->lua_dirs[i], dir) == 0) {
            return;
        }
    }
    if (conf->nlua_dirs < MAX_DIRS) {
        conf->lua_dirs[conf->nlua_dirs] = mg_pool_strdup(conf->pool, dir);
        conf->nlua_dirs += conf->lua_dirs[conf->nlua_dirs] != NULL;
    }
}

/* A file found under the template's directory: a module when its path fits the
 * template. */
static int take_file(reader_t *rd, const char *path)
{
    const tmpl_t *t = rd->t;
    size_t pl = strlen(path), sl = strlen(t->tmpl) - t->pre_len - 1;
    const char *suffix = t->tmpl + t->pre_len + 1;
    if (pl <= t->pre_len + sl || strncmp(path, t->tmpl, t->pre_len) != 0 ||
        strcmp(path + pl - sl, suffix) != 0) {
        return MG_OK;
    }
    const char *mid = path + t->pre_len;
    size_t ml = pl - t->pre_len - sl;
    if (!name_part_ok(mid, ml)) {
        return MG_OK; /* no require name reaches it (a dot in a name is a slash) */
    }
    char *name = mg_pool_strndup(rd->conf->pool, mid, ml);
    if (name == NULL) {
        return fail_at(rd, t->idx, "out of memory");
    }
    for (char *p = name; *p; p++) {
        *p = *p == '/' ? '.' : *p;
    }
    if (have_module(rd->conf, name)) {
        return MG_OK; /* an earlier template has it */
    }
    if (strcmp(name, "moongate") == 0 || strncmp(name, "moongate.", 9) == 0) {
        return fail_at(rd, t->idx,
                       "%.300s would be the module \"%.100s\": the moongate.* names belong to "
                       "the bundled runtime; rename it",
                       path, name);
    }
    if (rd->conf->nlua_modules == rd->cap) {
        return fail_at(rd, t->idx, "more than %d Lua modules", MAX_MODULES);
    }
    mg_plugin_src_t *s = &rd->conf->lua_modules[rd->conf->nlua_modules];
    int e = 0;
    s->src = mg__conf_slurp(rd->conf->pool, path, &s->len, &e);
    if (s->src == NULL) {
        return fail_at(rd, t->idx, "cannot read Lua module %.300s: %s", path, strerror(e));
    }
    rd->total += s->len;
    if (rd->total > MAX_TOTAL) {
        return fail_at(rd, t->idx, "the Lua modules hold more than 64 MiB");
    }
    s->name = name;
    s->file = mg_pool_strdup(rd->conf->pool, path);
    if (s->file == NULL) {
        return fail_at(rd, t->idx, "out of memory");
    }
    rd->conf->nlua_modules++;
    return MG_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Walks `dir` (depth levels left), in name order so that the result does not depend on
 * the directory's order. */
static int walk(reader_t *rd, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return fail_at(rd, rd->t->idx, "cannot open the directory %.300s: %s", dir,
                       strerror(errno));
    }
    add_dir(rd->conf, dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = MG_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = cap <= 4 * MAX_MODULES ? realloc(names, cap * sizeof(*nn)) : NULL;
            if (nn == NULL) {
                rc = fail_at(rd, rd->t->idx, "too many files in %.300s", dir);
                break;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            rc = fail_at(rd, rd->t->idx, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (names != NULL) {
        qsort(names, n, sizeof(*names), cmp_names);
    }
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        char path[4096];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, names[i]) >=
                (int)sizeof(path) ||
            stat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode) && depth > 0) {
            rc = walk(rd, path, depth - 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = take_file(rd, path);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return rc;
}

int mg__conf_read_modules(mg_conf_t *conf, mg_conf_err_t *err)
{
    conf->nlua_modules = conf->nlua_dirs = 0;
    if (conf->nlua_path == 0) {
        return MG_OK;
    }
    conf->lua_modules = mg_pool_calloc(conf->pool, MAX_MODULES * sizeof(mg_plugin_src_t));
    conf->lua_dirs = mg_pool_calloc(conf->pool, MAX_DIRS * sizeof(char *));
    reader_t rd = {conf, err, NULL, 0, MAX_MODULES};
    if (conf->lua_modules == NULL || conf->lua_dirs == NULL) {
        return fail_at(&rd, 0, "out of memory");
    }
    for (size_t i = 0; i < conf->nlua_path; i++) {
        const char *tp = conf->lua_path[i];
        tmpl_t t = {tp, (size_t)(strchr(tp, '?') - tp), conf->lua_path_entry[i]};
        /* the directory to walk: the template's up to the last '/' before '?' */
        const char *slash = memrchr(tp, '/', t.pre_len);
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 : (int)(slash - tp), slash ? tp : ".");
        if (dir[0] == '\0') {
            snprintf(dir, sizeof(dir), "/");
        }
        rd.t = &t;
        if (walk(&rd, dir, MAX_DEPTH) != MG_OK) {
            return MG_ERROR;
        }
    }
    return MG_OK;
}
