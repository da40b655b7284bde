/*
 * conf_plugin.c -- the configuration of the Lua runtime: plugin maps (a route's
 * `plugins:`, `global_plugins:`), `consumers:`, `shared_dicts:`, the `lua:` bounds and
 * `watch_plugins`, and reading the source of every plugin in use.
 *
 * Plugin configs are not typed here: each plugin's schema types and checks them in
 * Lua. They are kept as written (mg_conf_value_t) with their positions, so a schema
 * error still reads `file:line:column: routes[0].plugins.key-auth.header: ...`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_int.h"

#define MG_PLUGIN_MAX_SOURCE (4u << 20)

/* ---- values kept as written ---- */

int mg__conf_value(mg__conf_ctx_t *c, yaml_node_t *node, mg_conf_value_t *out)
{
    if (mg__conf_visit(c, node) != MG_OK) {
        return MG_ERROR;
    }
    memset(out, 0, sizeof(*out));
    out->line = (int)node->start_mark.line + 1;
    out->col = (int)node->start_mark.column + 1;
    if (mg__conf_is_null(node)) {
        out->kind = MG_CV_NULL;
        return MG_OK;
    }
    if (node->type == YAML_SCALAR_NODE) {
        out->kind = MG_CV_SCALAR;
        out->len = node->data.scalar.length;
        out->plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        out->str = mg_pool_strndup(c->pool, (const char *)node->data.scalar.value, out->len);
        out->raw = mg__conf_raw(c, node);
        return out->str != NULL ? MG_OK : mg__conf_fail(c, node, "out of memory");
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *b = node->data.sequence.items.start;
        out->kind = MG_CV_LIST;
        out->n = (size_t)(node->data.sequence.items.top - b);
        out->items = mg_pool_calloc(c->pool, (out->n ? out->n : 1) * sizeof(*out->items));
        if (out->items == NULL) {
            return mg__conf_fail(c, node, "out of memory");
        }
        for (size_t i = 0; i < out->n; i++) {
            size_t saved = mg__conf_push_index(c, i);
            if (mg__conf_value(c, yaml_document_get_node(&c->doc, b[i]), &out->items[i]) != MG_OK) {
                return MG_ERROR;
            }
            mg__conf_pop(c, saved);
        }
        return MG_OK;
    }
    yaml_node_pair_t *p = node->data.mapping.pairs.start;
    out->kind = MG_CV_MAP;
    out->n = (size_t)(node->data.mapping.pairs.top - p);
    out->items = mg_pool_calloc(c->pool, (out->n ? out->n : 1) * sizeof(*out->items));
    out->keys = mg_pool_calloc(c->pool, (out->n ? out->n : 1) * sizeof(*out->keys));
    out->key_pos = mg_pool_calloc(c->pool, (out->n ? out->n : 1) * 2 * sizeof(int));
    if (out->items == NULL || out->keys == NULL || out->key_pos == NULL) {
        return mg__conf_fail(c, node, "out of memory");
    }
    for (size_t i = 0; i < out->n; i++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p[i].key);
        if (k->type != YAML_SCALAR_NODE || mg__conf_is_null(k)) {
            return mg__conf_fail(c, k, "expected a key (a string)");
        }
        const char *key = (const char *)k->data.scalar.value;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->keys[j], key) == 0) {
                mg__conf_push_key(c, key);
                return mg__conf_fail(c, k, "duplicate key");
            }
        }
        out->keys[i] = mg_pool_strdup(c->pool, key);
        out->key_pos[2 * i] = (int)k->start_mark.line + 1;
        out->key_pos[2 * i + 1] = (int)k->start_mark.column + 1;
        size_t saved = mg__conf_push_key(c, key);
        if (out->keys[i] == NULL || mg__conf_value(c, yaml_document_get_node(&c->doc, p[i].value),
                                                   &out->items[i]) != MG_OK) {
            return out->keys[i] == NULL ? mg__conf_fail(c, k, "out of memory") : MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    return MG_OK;
}

/* ---- plugin maps ---- */

static bool plugin_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 64) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_')) {
            return false;
        }
    }
    return true;
}

int mg__conf_plugin_map(mg__conf_ctx_t *c, yaml_node_t *node, mg_plugin_use_t **out, size_t *n)
{
    if (mg__conf_is_null(node)) {
        *out = NULL;
        *n = 0;
        return MG_OK;
    }
    if (node->type != YAML_MAPPING_NODE) {
        char what[96];
        return mg__conf_fail(c, node, "expected a mapping of plugin name to its config, got %s",
                             mg__conf_what(node, what, sizeof(what)));
    }
    mg_conf_value_t all;
    if (mg__conf_value(c, node, &all) != MG_OK) {
        return MG_ERROR;
    }
    mg_plugin_use_t *uses = mg_pool_calloc(c->pool, (all.n ? all.n : 1) * sizeof(*uses));
    if (uses == NULL) {
        return mg__conf_fail(c, node, "out of memory");
    }
    yaml_node_pair_t *p = node->data.mapping.pairs.start;
    for (size_t i = 0; i < all.n; i++) {
        size_t saved = mg__conf_push_key(c, all.keys[i]);
        if (!plugin_name_ok(all.keys[i])) {
            return mg__conf_fail(c, yaml_document_get_node(&c->doc, p[i].key),
                                 "a plugin name is 1 to 64 of a-z, 0-9, '-' and '_'");
        }
        mg_conf_value_t *v = &all.items[i];
        if (v->kind != MG_CV_NULL && v->kind != MG_CV_MAP) {
            return mg__conf_fail(c, yaml_document_get_node(&c->doc, p[i].value),
                                 "expected the plugin's config (a mapping, or empty)");
        }
        uses[i].name = all.keys[i];
        uses[i].value = v;
        uses[i].path = mg_pool_strdup(c->pool, c->path);
        if (uses[i].path == NULL) {
            return mg__conf_fail(c, node, "out of memory");
        }
        mg__conf_pop(c, saved);
    }
    *out = uses;
    *n = all.n;
    return MG_OK;
}

/* ---- top-level keys ---- */

int mg__conf_on_global_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_plugin_map(c, v, &c->conf->global_plugins, &c->conf->nglobal_plugins);
}

static int on_consumer_name(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &((mg_consumer_conf_t *)obj)->name);
}

static int on_consumer_credentials(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_consumer_conf_t *cc = obj;
    return mg__conf_plugin_map(c, v, &cc->credentials, &cc->ncredentials);
}

static int on_consumer_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_consumer_conf_t *cc = obj;
    return mg__conf_plugin_map(c, v, &cc->plugins, &cc->nplugins);
}

static const mg__conf_field_t consumer_fields[] = {
    {"name", on_consumer_name, NULL},
    {"credentials", on_consumer_credentials, NULL},
    {"plugins", on_consumer_plugins, NULL},
};

int mg__conf_on_consumers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    mg_consumer_conf_t *cs = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*cs));
    if (cs == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        uint64_t seen;
        if (mg__conf_map(c, items[i], consumer_fields, MG_NELEMS(consumer_fields), &cs[i], &seen) !=
                MG_OK ||
            mg__conf_require(c, items[i], seen, consumer_fields, 0) != MG_OK) {
            return MG_ERROR;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cs[j].name, cs[i].name) == 0) {
                return mg__conf_fail(c, items[i], "duplicate consumer name \"%s\"", cs[i].name);
            }
        }
        cs[i].path = mg_pool_strdup(c->pool, c->path);
        if (cs[i].path == NULL) {
            return mg__conf_fail(c, v, "out of memory");
        }
        mg__conf_pop(c, saved);
    }
    c->conf->consumers = cs;
    c->conf->nconsumers = n;
    return MG_OK;
}

int mg__conf_on_shared_dicts(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (v->type != YAML_MAPPING_NODE) {
        char what[96];
        return mg__conf_fail(c, v, "expected a mapping of dict name to size, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    yaml_node_pair_t *p = v->data.mapping.pairs.start;
    size_t n = (size_t)(v->data.mapping.pairs.top - p);
    mg_shdict_conf_t *d = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*d));
    if (d == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p[i].key);
        if (mg__conf_str(c, k, &d[i].name) != MG_OK) {
            return MG_ERROR;
        }
        size_t saved = mg__conf_push_key(c, d[i].name);
        if (!plugin_name_ok(d[i].name)) {
            return mg__conf_fail(c, k, "a dict name is 1 to 64 of a-z, 0-9, '-' and '_'");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(d[j].name, d[i].name) == 0) {
                return mg__conf_fail(c, k, "duplicate key");
            }
        }
        if (mg__conf_size(c, yaml_document_get_node(&c->doc, p[i].value), 32u << 10,
                          (size_t)16 << 30, &d[i].size) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    c->conf->shdicts = d;
    c->conf->nshdicts = n;
    return MG_OK;
}

/* A duration within [lo, hi] seconds; `expect` names the range for the error. */
static int duration_in(mg__conf_ctx_t *c, yaml_node_t *v, double lo, double hi, const char *expect,
                       double *out)
{
    if (mg__conf_duration(c, v, false, out) != MG_OK) {
        return MG_ERROR;
    }
    return *out < lo || *out > hi ? mg__conf_fail(c, v, expect) : MG_OK;
}

static int on_lua_cpu(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return duration_in(c, v, 0.001, 60, "expected a duration from 1ms to 60s",
                       &c->conf->lua.cpu_budget);
}

static int on_lua_memory(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 4u << 20, (size_t)16 << 30, &c->conf->lua.memory_limit);
}

static int on_lua_stall(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return duration_in(c, v, 0.2, 600, "expected a duration from 200ms to 10m",
                       &c->conf->lua.stall_timeout);
}

static int on_lua_regex_cache(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 1000000, &c->conf->lua.regex_cache_size);
}

static int on_lua_regex_limit(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1000, 1000000000, &c->conf->lua.regex_match_limit);
}

static const mg__conf_field_t lua_fields[] = {
    {"cpu_budget", on_lua_cpu, NULL},
    {"memory_limit", on_lua_memory, NULL},
    {"stall_timeout", on_lua_stall, NULL},
    {"regex_cache_size", on_lua_regex_cache, NULL},
    {"regex_match_limit", on_lua_regex_limit, NULL},
};

int mg__conf_on_lua(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, lua_fields, MG_NELEMS(lua_fields), NULL, &seen);
}

int mg__conf_on_watch_plugins(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &c->conf->watch_plugins);
}

/* ---- plugin sources ---- */

char *mg__conf_slurp(mg_pool_t *pool, const char *path, size_t *len, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = errno;
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MG_PLUGIN_MAX_SOURCE) {
        close(fd);
        *err = S_ISREG(st.st_mode) ? EFBIG : EISDIR;
        return NULL;
    }
    char *buf = mg_pool_alloc(pool, (size_t)st.st_size + 1);
    size_t n = 0;
    while (buf != NULL && n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    *err = buf == NULL ? ENOMEM : errno;
    close(fd);
    if (buf == NULL) {
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool have_src(const mg_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->nplugin_srcs; i++) {
        if (strcmp(conf->plugin_srcs[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Finds and reads plugin `u` unless it was read already. */
static int read_one(mg_conf_t *conf, const mg_plugin_use_t *u, const char *bundled,
                    mg_conf_err_t *err)
{
    if (have_src(conf, u->name)) {
        return MG_OK;
    }
    char path[4096];
    for (size_t i = 0; i <= conf->nplugins_dirs; i++) {
        const char *dir = i < conf->nplugins_dirs ? conf->plugins_dirs[i] : bundled;
        if (dir == NULL ||
            snprintf(path, sizeof(path), "%s/%s.lua", dir, u->name) >= (int)sizeof(path)) {
            continue;
        }
        if (access(path, F_OK) != 0) {
            continue;
        }
        mg_plugin_src_t *s = &conf->plugin_srcs[conf->nplugin_srcs];
        int e = 0;
        s->src = mg__conf_slurp(conf->pool, path, &s->len, &e);
        if (s->src == NULL) {
            snprintf(err->msg, sizeof(err->msg), "cannot read plugin file %.300s: %s", path,
                     strerror(e));
            goto fail;
        }
        s->name = u->name;
        s->file = mg_pool_strdup(conf->pool, path);
        if (s->file == NULL) {
            snprintf(err->msg, sizeof(err->msg), "out of memory");
            goto fail;
        }
        conf->nplugin_srcs++;
        return MG_OK;
    }
    /* the directories searched, as resolved: a relative plugins_dir is the prefix's,
     * which may not be where the configuration file is */
    char dirs[600];
    size_t dl = 0;
    dirs[0] = '\0';
    for (size_t i = 0; i < conf->nplugins_dirs && dl < sizeof(dirs); i++) {
        int r = snprintf(dirs + dl, sizeof(dirs) - dl, "%s%.200s", i > 0 ? ", " : "",
                         conf->plugins_dirs[i]);
        dl += r > 0 ? (size_t)r : 0;
    }
    snprintf(err->msg, sizeof(err->msg),
             "unknown plugin \"%s\": no %s.lua in plugins_dir (%s)%s", u->name, u->name,
             conf->nplugins_dirs > 0 ? dirs : "none given",
             bundled != NULL ? " nor among the bundled plugins" : "");
fail:
    snprintf(err->file, sizeof(err->file), "%s", conf->file);
    snprintf(err->key, sizeof(err->key), "%s", u->path);
    err->line = u->value != NULL ? u->value->line : 0;
    err->column = u->value != NULL ? u->value->col : 0;
    return MG_ERROR;
}

static int read_list(mg_conf_t *conf, const mg_plugin_use_t *u, size_t n, const char *bundled,
                     mg_conf_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (read_one(conf, &u[i], bundled, err) != MG_OK) {
            return MG_ERROR;
        }
    }
    return MG_OK;
}

int mg_conf_read_plugins(mg_conf_t *conf, const char *bundled_dir, mg_conf_err_t *err)
{
    size_t max = conf->nglobal_plugins;
    for (size_t i = 0; i < conf->nroutes; i++) {
        max += conf->routes[i].nplugins;
    }
    for (size_t i = 0; i < conf->nconsumers; i++) {
        max += conf->consumers[i].nplugins + conf->consumers[i].ncredentials;
    }
    conf->nplugin_srcs = 0;
    conf->plugin_srcs = mg_pool_calloc(conf->pool, (max ? max : 1) * sizeof(mg_plugin_src_t));
    if (conf->plugin_srcs == NULL) {
        memset(err, 0, sizeof(*err));
        snprintf(err->file, sizeof(err->file), "%s", conf->file);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return MG_ERROR;
    }
    memset(err, 0, sizeof(*err));
    if (read_list(conf, conf->global_plugins, conf->nglobal_plugins, bundled_dir, err) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *r = &conf->routes[i];
        if (read_list(conf, r->plugins, r->nplugins, bundled_dir, err) != MG_OK) {
            return MG_ERROR;
        }
    }
    for (size_t i = 0; i < conf->nconsumers; i++) {
        const mg_consumer_conf_t *cc = &conf->consumers[i];
        if (read_list(conf, cc->plugins, cc->nplugins, bundled_dir, err) != MG_OK ||
            read_list(conf, cc->credentials, cc->ncredentials, bundled_dir, err) != MG_OK) {
            return MG_ERROR;
        }
    }
    return mg__conf_read_modules(conf, err);
}

/* Packs n sources: count (u32), then per source: name\0 file\0 length (u64) source.
 * Returns the bytes written (or needed, when buf is NULL). */
static size_t pack_srcs(const mg_plugin_src_t *srcs, size_t count, char *buf)
{
    size_t n = 4;
    if (buf != NULL) {
        uint32_t cnt = (uint32_t)count;
        memcpy(buf, &cnt, 4);
    }
    for (size_t i = 0; i < count; i++) {
        const mg_plugin_src_t *s = &srcs[i];
        size_t nl = strlen(s->name) + 1, fl = strlen(s->file) + 1;
        uint64_t sl = s->len;
        if (buf != NULL) {
            memcpy(buf + n, s->name, nl);
            memcpy(buf + n + nl, s->file, fl);
            memcpy(buf + n + nl + fl, &sl, 8);
            memcpy(buf + n + nl + fl + 8, s->src, s->len);
        }
        n += nl + fl + 8 + s->len;
    }
    return n;
}

/* Packed: the secret files (mg__conf_secrets_pack, first: a worker's parse reads
 * them); the plugin sources (pack_srcs); the file count (u32) and per file: length
 * (u64, all ones when unread) and contents; then the lua_path modules (pack_srcs). */
size_t mg_conf_plugins_pack(const mg_conf_t *conf, char *buf)
{
    size_t n = mg__conf_secrets_pack(conf, buf);
    n += pack_srcs(conf->plugin_srcs, conf->nplugin_srcs, buf != NULL ? buf + n : NULL);
    if (buf != NULL) {
        uint32_t cnt = (uint32_t)conf->nfiles;
        memcpy(buf + n, &cnt, 4);
    }
    n += 4;
    for (size_t i = 0; i < conf->nfiles; i++) {
        const mg_conf_file_t *f = conf->files[i];
        uint64_t fl = f->data != NULL ? f->len : UINT64_MAX;
        if (buf != NULL) {
            memcpy(buf + n, &fl, 8);
            if (f->data != NULL) {
                memcpy(buf + n + 8, f->data, f->len);
            }
        }
        n += 8 + (f->data != NULL ? f->len : 0);
    }
    return n + pack_srcs(conf->lua_modules, conf->nlua_modules, buf != NULL ? buf + n : NULL);
}

static const char *take_cstr(const char **p, const char *end)
{
    const char *s = *p;
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    if (nul == NULL) {
        return NULL;
    }
    *p = nul + 1;
    return s;
}

/* Unpacks what pack_srcs() wrote at *p into the pool; advances *p. */
static int unpack_srcs(mg_conf_t *conf, const char **pp, const char *end, mg_plugin_src_t **out,
                       size_t *nout)
{
    const char *p = *pp;
    uint32_t cnt;
    if (end - p < 4) {
        return MG_ERROR;
    }
    memcpy(&cnt, p, 4);
    p += 4;
    if (cnt > (size_t)(end - p)) {
        return MG_ERROR;
    }
    mg_plugin_src_t *srcs = mg_pool_calloc(conf->pool, (cnt ? cnt : 1) * sizeof(*srcs));
    if (srcs == NULL) {
        return MG_ERROR;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        mg_plugin_src_t *d = &srcs[i];
        const char *name = take_cstr(&p, end);
        const char *file = name != NULL ? take_cstr(&p, end) : NULL;
        uint64_t sl;
        if (file == NULL || end - p < 8) {
            return MG_ERROR;
        }
        memcpy(&sl, p, 8);
        p += 8;
        if ((uint64_t)(end - p) < sl) {
            return MG_ERROR;
        }
        d->name = mg_pool_strdup(conf->pool, name);
        d->file = mg_pool_strdup(conf->pool, file);
        d->src = mg_pool_strndup(conf->pool, p, (size_t)sl);
        d->len = (size_t)sl;
        p += sl;
        if (d->name == NULL || d->file == NULL || d->src == NULL) {
            return MG_ERROR;
        }
    }
    *out = srcs;
    *nout = cnt;
    *pp = p;
    return MG_OK;
}

int mg_conf_plugins_unpack(mg_conf_t *conf, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    size_t secrets = mg__conf_secrets_skip(buf, len); /* the parse took them */
    if (secrets == 0) {
        return MG_ERROR;
    }
    p += secrets;
    if (unpack_srcs(conf, &p, end, &conf->plugin_srcs, &conf->nplugin_srcs) != MG_OK) {
        return MG_ERROR;
    }
    uint32_t nf;
    if (end - p < 4) {
        return MG_ERROR;
    }
    memcpy(&nf, p, 4);
    p += 4;
    if (nf != conf->nfiles) {
        return MG_ERROR; /* not the same config */
    }
    for (uint32_t i = 0; i < nf; i++) {
        uint64_t fl;
        if (end - p < 8) {
            return MG_ERROR;
        }
        memcpy(&fl, p, 8);
        p += 8;
        if (fl == UINT64_MAX) {
            continue;
        }
        if ((uint64_t)(end - p) < fl) {
            return MG_ERROR;
        }
        mg_conf_file_t *f = conf->files[i];
        f->data = mg_pool_strndup(conf->pool, p, (size_t)fl);
        f->len = (size_t)fl;
        p += fl;
        if (f->data == NULL) {
            return MG_ERROR;
        }
    }
    return unpack_srcs(conf, &p, end, &conf->lua_modules, &conf->nlua_modules);
}
