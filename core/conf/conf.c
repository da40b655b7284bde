/*
 * conf.c -- the configuration loader's entry points: read the file, run libyaml's
 * document loader (aliases resolved, every node marked with its line and column), hand
 * the tree to the key readers (conf_top.c, conf_route.c), and compare snapshots.
 *
 * Also here: the generic machinery every reader uses -- error recording, the key path,
 * and the mapping walker that refuses duplicate, unknown and not-yet-supported keys.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf_int.h"

/* A larger file is far beyond any sane config and would only cost memory to parse. */
#define MG_CONF_MAX_FILE (4u << 20)

/* Errors and the key path */

int mg__conf_fail(mg__conf_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
    mg_conf_err_t *e = c->err;
    snprintf(e->file, sizeof(e->file), "%s", c->name);
    e->line = node ? (int)node->start_mark.line + 1 : 0;
    e->column = node ? (int)node->start_mark.column + 1 : 0;
    snprintf(e->key, sizeof(e->key), "%s", c->path);
    e->unset_env = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return MG_ERROR;
}

/* The parse running in this thread, for mg__conf_what(), which quotes a value as
 * written (a ${...} reference) rather than the secret it expanded to. */
static __thread const mg__conf_ctx_t *parsing;

const char *mg__conf_what(const yaml_node_t *node, char *buf, size_t len)
{
    const char *raw = mg__conf_raw(parsing, node);
    if (raw != NULL) {
        size_t n = strlen(raw);
        snprintf(buf, len, "\"%.*s%s\"", (int)MG_MIN(n, 60), raw, n > 60 ? "..." : "");
        for (char *p = buf; *p; p++) {
            if ((unsigned char)*p < ' ' || *p == 0x7f) {
                *p = '?';
            }
        }
    } else if (node->type == YAML_MAPPING_NODE) {
        snprintf(buf, len, "a mapping");
    } else if (node->type == YAML_SEQUENCE_NODE) {
        snprintf(buf, len, "a list");
    } else if (mg__conf_is_null(node)) {
        snprintf(buf, len, "null");
    } else {
        const char *v = (const char *)node->data.scalar.value;
        size_t n = node->data.scalar.length;
        snprintf(buf, len, "\"%.*s%s\"", (int)MG_MIN(n, 60), v, n > 60 ? "..." : "");
        /* a newline or escape sequence from the file must not break the log line */
        for (char *p = buf; *p; p++) {
            if ((unsigned char)*p < ' ' || *p == 0x7f) {
                *p = '?';
            }
        }
    }
    return buf;
}

static size_t push(mg__conf_ctx_t *c, const char *fmt, const char *key, size_t i)
{
    size_t saved = c->pathlen;
    size_t room = sizeof(c->path) - c->pathlen;
    int n = key ? snprintf(c->path + c->pathlen, room, fmt, key)
                : snprintf(c->path + c->pathlen, room, fmt, i);
    c->pathlen = (n < 0 || (size_t)n >= room) ? sizeof(c->path) - 1 : c->pathlen + (size_t)n;
    return saved;
}

size_t mg__conf_push_key(mg__conf_ctx_t *c, const char *key)
{
    return push(c, c->pathlen == 0 ? "%s" : ".%s", key, 0);
}

size_t mg__conf_push_index(mg__conf_ctx_t *c, size_t i)
{
    return push(c, "[%zu]", NULL, i);
}

void mg__conf_pop(mg__conf_ctx_t *c, size_t saved)
{
    c->pathlen = saved;
    c->path[saved] = '\0';
}

int mg__conf_visit(mg__conf_ctx_t *c, const yaml_node_t *node)
{
    if (++c->visits > MG_CONF_MAX_VISITS) {
        return mg__conf_fail(c, node,
                             "the document expands to more than %d nodes "
                             "(too many aliases?)",
                             MG_CONF_MAX_VISITS);
    }
    return MG_OK;
}

/* Mappings */

/* Edit distance, for "did you mean". Keys are short; longer strings are not compared. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31) {
        return SIZE_MAX;
    }
    size_t row[32];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = diag + (a[i - 1] != b[j - 1]);
            row[j] = MG_MIN(MG_MIN(row[j] + 1, row[j - 1] + 1), cost);
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_key(mg__conf_ctx_t *c, yaml_node_t *k, const char *key,
                       const mg__conf_field_t *fields, size_t nfields)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < nfields; i++) {
        size_t d = distance(key, fields[i].key);
        if (d < best_d) {
            best_d = d;
            best = fields[i].key;
        }
    }
    size_t limit = strlen(key) <= 4 ? 1 : 2;
    if (best != NULL && best_d <= limit) {
        return mg__conf_fail(c, k, "unknown key \"%s\" (did you mean \"%s\"?)", key, best);
    }
    char known[400];
    size_t off = 0;
    for (size_t i = 0; i < nfields && off < sizeof(known); i++) {
        int n = snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "", fields[i].key);
        off += n > 0 ? (size_t)n : 0;
    }
    return mg__conf_fail(c, k, "unknown key \"%s\" (known keys: %s)", key, known);
}

static int map_pair(mg__conf_ctx_t *c, yaml_node_pair_t *pair, const mg__conf_field_t *fields,
                    size_t nfields, void *obj, uint64_t *seen, int *lines)
{
    yaml_node_t *k = yaml_document_get_node(&c->doc, pair->key);
    yaml_node_t *v = yaml_document_get_node(&c->doc, pair->value);
    char what[80];
    if (mg__conf_visit(c, k) != MG_OK) {
        return MG_ERROR;
    }
    if (k->type != YAML_SCALAR_NODE) {
        return mg__conf_fail(c, k, "expected a key name, got %s", mg__conf_what(k, what, 80));
    }
    const char *key = (const char *)k->data.scalar.value;
    size_t saved = mg__conf_push_key(c, key);
    size_t i = 0;
    while (i < nfields && strcmp(fields[i].key, key) != 0) {
        i++;
    }
    int rc;
    if (i == nfields) {
        rc = unknown_key(c, k, key, fields, nfields);
    } else if (*seen & (UINT64_C(1) << i)) {
        rc = mg__conf_fail(c, k, "duplicate key \"%s\" (first given at line %d)", key, lines[i]);
    } else if (fields[i].fn == NULL) {
        rc = mg__conf_fail(c, k, "%s", fields[i].unsupported);
    } else {
        *seen |= UINT64_C(1) << i;
        lines[i] = (int)k->start_mark.line + 1;
        rc = fields[i].fn(c, v, obj);
    }
    if (rc == MG_OK) {
        mg__conf_pop(c, saved);
    }
    return rc;
}

int mg__conf_map(mg__conf_ctx_t *c, yaml_node_t *node, const mg__conf_field_t *fields,
                 size_t nfields, void *obj, uint64_t *seen)
{
    char what[80];
    int lines[64];
    *seen = 0;
    if (node->type != YAML_MAPPING_NODE) {
        return mg__conf_fail(c, node, "expected a mapping, got %s",
                             mg__conf_what(node, what, sizeof(what)));
    }
    nfields = MG_MIN(nfields, 64);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        if (map_pair(c, p, fields, nfields, obj, seen, lines) != MG_OK) {
            return MG_ERROR;
        }
    }
    return MG_OK;
}

int mg__conf_require(mg__conf_ctx_t *c, yaml_node_t *node, uint64_t seen,
                     const mg__conf_field_t *fields, size_t idx)
{
    if (seen & (UINT64_C(1) << idx)) {
        return MG_OK;
    }
    return mg__conf_fail(c, node, "missing required key \"%s\"", fields[idx].key);
}

int mg__conf_list(mg__conf_ctx_t *c, yaml_node_t *node, bool scalar_ok, yaml_node_t ***items,
                  size_t *n, bool *is_scalar)
{
    char what[80];
    *is_scalar = false;
    if (scalar_ok && node->type == YAML_SCALAR_NODE && !mg__conf_is_null(node)) {
        *items = mg_pool_alloc(c->pool, sizeof(yaml_node_t *));
        if (*items == NULL) {
            return mg__conf_fail(c, node, "out of memory");
        }
        (*items)[0] = node;
        *n = 1;
        *is_scalar = true;
        return MG_OK;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        return mg__conf_fail(c, node, "expected a list%s, got %s", scalar_ok ? " or a string" : "",
                             mg__conf_what(node, what, sizeof(what)));
    }
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *items = mg_pool_alloc(c->pool, sizeof(yaml_node_t *) * (count ? count : 1));
    if (*items == NULL) {
        return mg__conf_fail(c, node, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        (*items)[i] = yaml_document_get_node(&c->doc, node->data.sequence.items.start[i]);
        if (mg__conf_visit(c, (*items)[i]) != MG_OK) {
            return MG_ERROR;
        }
    }
    *n = count;
    return MG_OK;
}

/* Loading */

/* Makes `prefix` absolute without a trailing '/'; NULL means the current directory. */
static const char *absolute_prefix(mg_pool_t *pool, const char *prefix)
{
    char cwd[PATH_MAX], real[PATH_MAX], buf[PATH_MAX * 2];
    if (prefix != NULL && prefix[0] == '/') {
        snprintf(buf, sizeof(buf), "%s", prefix);
    } else if (prefix != NULL && realpath(prefix, real) != NULL) {
        snprintf(buf, sizeof(buf), "%s", real);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return NULL;
    } else if (prefix == NULL) {
        snprintf(buf, sizeof(buf), "%s", cwd);
    } else {
        snprintf(buf, sizeof(buf), "%s/%s", cwd, prefix);
    }
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/') {
        buf[--n] = '\0';
    }
    return mg_pool_strdup(pool, buf);
}

const char *mg__conf_abspath(mg__conf_ctx_t *c, const char *p)
{
    if (p[0] == '/') {
        return mg_pool_strdup(c->pool, p);
    }
    if (p[0] == '.' && p[1] == '/') {
        p += 2;
    }
    size_t lp = strlen(c->conf->prefix), ln = strlen(p);
    char *out = mg_pool_alloc(c->pool, lp + ln + 2);
    if (out != NULL) {
        memcpy(out, c->conf->prefix, lp);
        out[lp] = '/';
        memcpy(out + lp + 1, p, ln + 1);
    }
    return out;
}

static void err_plain(mg_conf_err_t *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_plain(mg_conf_err_t *err, const char *file, const char *fmt, ...)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", file);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* Runs libyaml's loader; a syntax error carries libyaml's own position and problem. */
static int load_document(mg__conf_ctx_t *c, const char *buf, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        err_plain(c->err, c->name, "out of memory");
        return MG_ERROR;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int rc = MG_OK;
    if (!yaml_parser_load(&parser, &c->doc)) {
        yaml_mark_t m = parser.problem_mark;
        err_plain(c->err, c->name, "YAML syntax error: %s%s%s",
                  parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                  parser.context ? parser.context : "");
        c->err->line = (int)m.line + 1;
        c->err->column = (int)m.column + 1;
        yaml_parser_delete(&parser);
        return MG_ERROR;
    }
    yaml_document_t extra;
    if (yaml_document_get_root_node(&c->doc) != NULL) {
        if (!yaml_parser_load(&parser, &extra)) {
            err_plain(c->err, c->name, "YAML syntax error: %s",
                      parser.problem ? parser.problem : "unknown problem");
            c->err->line = (int)parser.problem_mark.line + 1;
            c->err->column = (int)parser.problem_mark.column + 1;
            rc = MG_ERROR;
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&extra);
            if (r != NULL) {
                err_plain(c->err, c->name, "only one YAML document is allowed");
                c->err->line = (int)r->start_mark.line + 1;
                c->err->column = (int)r->start_mark.column + 1;
                rc = MG_ERROR;
            }
            yaml_document_delete(&extra);
        }
        if (rc != MG_OK) {
            yaml_document_delete(&c->doc);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

mg_conf_t *mg_conf_parse(const char *buf, size_t len, const char *name, const char *prefix,
                         mg_conf_err_t *err)
{
    return mg_conf_parse_sealed(buf, len, name, prefix, NULL, 0, err);
}

mg_conf_t *mg_conf_parse_sealed(const char *buf, size_t len, const char *name,
                                const char *prefix, const char *sealed, size_t sealed_len,
                                mg_conf_err_t *err)
{
    name = name ? name : "<string>";
    if (len > MG_CONF_MAX_FILE) {
        err_plain(err, name, "the file is larger than 4 MiB (%zu bytes); refused", len);
        return NULL;
    }
    mg__conf_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.err = err;
    c.name = name;
    c.sealed = sealed;
    c.sealed_len = sealed_len;
    c.pool = mg_pool_create(16384);
    mg_conf_t *conf = c.pool ? mg_pool_calloc(c.pool, sizeof(*conf)) : NULL;
    if (conf == NULL) {
        mg_pool_destroy(c.pool);
        err_plain(err, name, "out of memory");
        return NULL;
    }
    c.conf = conf;
    conf->pool = c.pool;
    conf->file = mg_pool_strdup(c.pool, name);
    conf->prefix = absolute_prefix(c.pool, prefix);
    if (conf->file == NULL || conf->prefix == NULL) {
        err_plain(err, name, "cannot resolve the prefix directory: %s", strerror(errno));
        mg_pool_destroy(c.pool);
        return NULL;
    }
    if (load_document(&c, buf, len) != MG_OK) {
        mg_pool_destroy(c.pool);
        return NULL;
    }
    parsing = &c;
    int rc = mg__conf_expand_secrets(&c);
    if (rc == MG_OK) {
        rc = mg__conf_read_top(&c, yaml_document_get_root_node(&c.doc));
    }
    parsing = NULL;
    yaml_document_delete(&c.doc);
    if (rc != MG_OK) {
        mg_pool_destroy(c.pool);
        return NULL;
    }
    return conf;
}

/* Reads a whole file of at most MG_CONF_MAX_FILE bytes into malloc'd memory. */
static char *read_file(const char *path, size_t *len, mg_conf_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err_plain(err, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            char *nb = cap > MG_CONF_MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MG_CONF_MAX_FILE) {
            break;
        }
    }
    bool failed = buf == NULL || ferror(f) || n > MG_CONF_MAX_FILE || n == cap;
    if (failed) {
        if (buf == NULL || ferror(f)) {
            err_plain(err, path, "cannot read: %s", buf ? strerror(errno) : "out of memory");
        } else {
            err_plain(err, path, "the file is larger than 4 MiB; refused");
        }
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

mg_conf_t *mg_conf_load(const char *path, const char *prefix, mg_conf_err_t *err)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        err_plain(err, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t len;
    char *buf = read_file(real, &len, err);
    if (buf == NULL) {
        return NULL;
    }
    mg_conf_t *conf = mg_conf_parse(buf, len, real, prefix, err);
    free(buf);
    return conf;
}

void mg_conf_destroy(mg_conf_t *conf)
{
    if (conf != NULL) {
        mg_pool_destroy(conf->pool);
    }
}

const char *mg_conf_err_format(const mg_conf_err_t *err, char *buf, size_t len)
{
    char pos[32] = "";
    if (err->line > 0) {
        snprintf(pos, sizeof(pos), ":%d:%d", err->line, err->column);
    }
    snprintf(buf, len, "%s%s: %s%s%s", err->file, pos, err->key, err->key[0] ? ": " : "", err->msg);
    return buf;
}

const mg_upstream_conf_t *mg_conf_upstream(const mg_conf_t *conf, const char *name)
{
    for (size_t i = 0; conf != NULL && i < conf->nupstreams; i++) {
        if (strcmp(conf->upstreams[i].name, name) == 0) {
            return &conf->upstreams[i];
        }
    }
    return NULL;
}

static bool listen_eq(const mg_listen_conf_t *a, const mg_listen_conf_t *b)
{
    return mg__conf_addr_eq(&a->addr, &b->addr) && a->backlog == b->backlog && a->tls == b->tls &&
           a->proxy_protocol == b->proxy_protocol;
}

bool mg_conf_needs_restart(const mg_conf_t *old, const mg_conf_t *new)
{
    if (old == NULL || new == NULL) {
        return true;
    }
    if (old->nlisten != new->nlisten || old->worker_processes != new->worker_processes ||
        old->shm_size != new->shm_size || strcmp(old->pid_file, new->pid_file) != 0) {
        return true;
    }
    for (size_t i = 0; i < old->nlisten; i++) {
        if (!listen_eq(&old->listen[i], &new->listen[i])) {
            return true;
        }
    }
    if ((old->admin == NULL) != (new->admin == NULL)) {
        return true;
    }
    return old->admin != NULL && !listen_eq(old->admin, new->admin);
}

/* The key node (or with `value`, the value node) of `key` in a mapping already read, so
 * an error found after the walk still points at the line it is about. Falls back to the
 * mapping itself. */
yaml_node_t *mg__conf_find_key(mg__conf_ctx_t *c, yaml_node_t *map, const char *key, bool value)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) {
            return value ? yaml_document_get_node(&c->doc, p->value) : k;
        }
    }
    return map;
}
