/*
 * conf_secret.c -- `${NAME}` and `${file:path}` in the configuration's string values:
 * secrets (tokens, passwords, keys) kept out of the YAML file.
 *
 * The expansion runs once over the loaded document, before any key is read, on every
 * scalar that is a value (mapping keys are never expanded), so that every string key
 * -- the core's and each plugin's config -- gets it the same way. The value as written
 * (`${JWT_SECRET}`) is kept beside the node: an error that quotes a value ("expected a
 * boolean, got ...") shows the reference, never what it expanded to, and the Lua schema
 * checker gets it too (mg_conf_value_t.raw). An unset variable or an unreadable file
 * refuses the load at the node's line and column, under its key path, naming the
 * variable or the file and never a value.
 *
 * The one exception is `access_log.format`, whose `${name}` are log variables. And
 * only upper-case names are environment variables (POSIX's names): `${uri}` or `${1}`
 * in a plugin's template are left as written.
 *
 * `${NAME}` is the master's environment (the workers inherit it); `${file:path}` is
 * read whole, relative to the configuration file's directory, with one trailing
 * newline removed, at every load by the master (so a reload picks up a rotated file),
 * and handed to the workers with the plugins (below). `$${` is a
 * literal `${`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf_int.h"

/* A value once expanded is at most this long (and so a secret file). */
#define MG_SECRET_MAX (1u << 20)

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static int sb_add(sbuf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > MG_SECRET_MAX) {
        return MG_ERROR;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *nb = realloc(b->buf, cap);
        if (nb == NULL) {
            return MG_ERROR;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return MG_OK;
}

static void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* An environment variable's name as POSIX has them: upper-case letters, digits and '_',
 * not starting with a digit. Only such names are secrets: `${uri}`, `${1}` or
 * `${name}` are left as written, for the templates of plugins (redirect's `uri`, a
 * regex replacement's `${1}`) and the access log's variables. */
static bool env_name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* Whether `${ref}` is ours to expand: `${file:...}` (or another `kind:`, refused
 * below), `${}` (refused) or an environment name; anything else is someone else's. */
static bool is_secret_ref(const char *ref, size_t n)
{
    return n == 0 || memchr(ref, ':', n) != NULL || env_name_ok(ref, n);
}

/* ---- the secret files of a snapshot ----
 *
 * The master records every secret file it read (conf->secret_files) and sends them to
 * the workers with the plugin sources (packed first: mg__conf_secrets_pack). A worker
 * parsing the same configuration takes them from there instead of the disk, so that
 * every worker gets the values the master validated, even while the files change. */

/* The contents the sealed set holds for `path`, or NULL. */
static const char *sealed_find(const mg__conf_ctx_t *c, const char *path, size_t *len)
{
    if (c == NULL || c->sealed == NULL || c->sealed_len < 4) {
        return NULL;
    }
    const char *p = c->sealed, *end = c->sealed + c->sealed_len;
    uint32_t cnt;
    memcpy(&cnt, p, 4);
    p += 4;
    for (uint32_t i = 0; i < cnt; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        uint64_t dl;
        if (nul == NULL || end - nul - 1 < 8) {
            return NULL;
        }
        memcpy(&dl, nul + 1, 8);
        const char *data = nul + 9;
        if ((uint64_t)(end - data) < dl) {
            return NULL;
        }
        if (strcmp(p, path) == 0) {
            *len = (size_t)dl;
            return data;
        }
        p = data + dl;
    }
    return NULL;
}

/* Notes in the snapshot that `path` held `data` (len bytes). */
static int record(mg__conf_ctx_t *c, const char *path, const char *data, size_t len)
{
    if (c == NULL) {
        return MG_OK;
    }
    mg_conf_t *conf = c->conf;
    for (mg_conf_secret_file_t *f = conf->secret_files; f != NULL; f = f->next) {
        if (strcmp(f->path, path) == 0) {
            return MG_OK;
        }
    }
    mg_conf_secret_file_t *f = mg_pool_calloc(c->pool, sizeof(*f));
    if (f == NULL || (f->path = mg_pool_strdup(c->pool, path)) == NULL ||
        (f->data = mg_pool_strndup(c->pool, data, len)) == NULL) {
        return MG_ERROR;
    }
    f->len = len;
    f->next = conf->secret_files;
    conf->secret_files = f;
    return MG_OK;
}

size_t mg__conf_secrets_pack(const mg_conf_t *conf, char *buf)
{
    size_t n = 4;
    uint32_t cnt = 0;
    for (const mg_conf_secret_file_t *f = conf->secret_files; f != NULL; f = f->next) {
        size_t pl = strlen(f->path) + 1;
        uint64_t dl = f->len;
        if (buf != NULL) {
            memcpy(buf + n, f->path, pl);
            memcpy(buf + n + pl, &dl, 8);
            memcpy(buf + n + pl + 8, f->data, f->len);
        }
        n += pl + 8 + f->len;
        cnt++;
    }
    if (buf != NULL) {
        memcpy(buf, &cnt, 4);
    }
    return n;
}

size_t mg__conf_secrets_skip(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    uint32_t cnt;
    if (len < 4) {
        return 0;
    }
    memcpy(&cnt, p, 4);
    p += 4;
    for (uint32_t i = 0; i < cnt; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        uint64_t dl;
        if (nul == NULL || end - nul - 1 < 8) {
            return 0;
        }
        memcpy(&dl, nul + 1, 8);
        if ((uint64_t)(end - nul - 9) < dl) {
            return 0;
        }
        p = nul + 9 + dl;
    }
    return (size_t)(p - buf);
}

/* Appends the contents of secret file `rel` (relative to `dir`) to b. */
static int add_file(mg__conf_ctx_t *c, sbuf_t *b, const char *dir, const char *rel, size_t n,
                    char *why, size_t whylen)
{
    char path[4096];
    if (n == 0) {
        why_set(why, whylen, "${file:} names no file");
        return MG_ERROR;
    }
    if (memchr(rel, '\0', n) != NULL ||
        snprintf(path, sizeof(path), "%s%s%.*s", rel[0] == '/' ? "" : dir,
                 rel[0] == '/' ? "" : "/", (int)n, rel) >= (int)sizeof(path)) {
        why_set(why, whylen, "${file:...}: the path is too long");
        return MG_ERROR;
    }
    mg_pool_t *pool = NULL;
    size_t got = 0;
    const char *data = sealed_find(c, path, &got);
    if (data == NULL) {
        int e = ENOMEM;
        pool = mg_pool_create(4096);
        data = pool != NULL ? mg__conf_slurp(pool, path, &got, &e) : NULL;
        if (data == NULL || record(c, path, data, got) != MG_OK) {
            why_set(why, whylen, "cannot read the secret file %.*s (%s): %s",
                    (int)MG_MIN(n, 300), rel, path, strerror(data == NULL ? e : ENOMEM));
            mg_pool_destroy(pool);
            return MG_ERROR;
        }
    }
    if (got > 0 && data[got - 1] == '\n') {
        got--;
        if (got > 0 && data[got - 1] == '\r') {
            got--;
        }
    }
    int rc = MG_OK;
    if (memchr(data, '\0', got) != NULL) {
        why_set(why, whylen, "the secret file %.*s holds a NUL byte", (int)MG_MIN(n, 300), rel);
        rc = MG_ERROR;
    } else if (sb_add(b, data, got) != MG_OK) {
        why_set(why, whylen, "the value would be longer than 1 MiB");
        rc = MG_ERROR;
    }
    mg_pool_destroy(pool);
    return rc;
}

/* Appends what the reference `ref` (the text between "${" and "}") stands for. */
static int add_ref(mg__conf_ctx_t *c, sbuf_t *b, const char *dir, const char *ref, size_t n,
                   char *why, size_t whylen)
{
    const char *colon = memchr(ref, ':', n);
    if (colon != NULL) {
        size_t kl = (size_t)(colon - ref);
        if (kl == 4 && memcmp(ref, "file", 4) == 0) {
            return add_file(c, b, dir, colon + 1, n - kl - 1, why, whylen);
        }
        why_set(why, whylen,
                "unknown kind of secret \"%.*s\" in ${%.*s} (expected ${NAME} or ${file:path})",
                (int)MG_MIN(kl, 40), ref, (int)MG_MIN(n, 60), ref);
        return MG_ERROR;
    }
    if (n == 0) {
        why_set(why, whylen, "${} names no variable (expected ${NAME} or ${file:path})");
        return MG_ERROR;
    }
    char name[256];
    if (n >= sizeof(name)) {
        why_set(why, whylen, "the variable name is too long");
        return MG_ERROR;
    }
    memcpy(name, ref, n);
    name[n] = '\0';
    const char *v = getenv(name);
    if (v == NULL) {
        if (c != NULL) {
            c->unset_env = true;
        }
        why_set(why, whylen, "the environment variable %s is not set", name);
        return MG_ERROR;
    }
    if (sb_add(b, v, strlen(v)) != MG_OK) {
        why_set(why, whylen, "the value would be longer than 1 MiB");
        return MG_ERROR;
    }
    return MG_OK;
}

bool mg_conf_has_secret(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == '$' && (s[i + 1] == '{' || (s[i + 1] == '$' && i + 2 < len && s[i + 2] == '{'))) {
            return true;
        }
    }
    return false;
}

/* mg_conf_expand() within a parse (c, or NULL): secret files come from the sealed set
 * when there is one, and are recorded in the snapshot. */
static int expand(mg__conf_ctx_t *c, const char *s, size_t len, const char *dir, char **out,
                  size_t *outlen, char *why, size_t whylen)
{
    sbuf_t b = {0};
    size_t i = 0, lit = 0;
    int rc = sb_add(&b, "", 0);
    while (rc == MG_OK && i < len) {
        if (s[i] != '$') {
            i++;
            continue;
        }
        if (i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
            rc = sb_add(&b, s + lit, i - lit); /* "$${" is a literal "${" */
            lit = i + 1;
            i += 3;
            continue;
        }
        if (i + 1 >= len || s[i + 1] != '{') {
            i++;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', len - i - 2);
        if (close == NULL) {
            why_set(why, whylen, "unterminated ${ (write $${ for a literal ${)");
            free(b.buf);
            return MG_ERROR;
        }
        const char *ref = s + i + 2;
        size_t rn = (size_t)(close - ref);
        if (memchr(ref, '{', rn) != NULL || memchr(ref, '$', rn) != NULL) {
            why_set(why, whylen, "nested ${...} is not supported");
            free(b.buf);
            return MG_ERROR;
        }
        if (!is_secret_ref(ref, rn)) {
            i = (size_t)(close - s) + 1; /* not a secret: kept as written */
            continue;
        }
        if (sb_add(&b, s + lit, i - lit) != MG_OK ||
            add_ref(c, &b, dir, ref, rn, why, whylen) != MG_OK) {
            if (why[0] == '\0') {
                why_set(why, whylen, "the value would be longer than 1 MiB");
            }
            free(b.buf);
            return MG_ERROR;
        }
        i = lit = (size_t)(close - s) + 1;
    }
    if (rc == MG_OK) {
        rc = sb_add(&b, s + lit, len - lit);
    }
    if (rc != MG_OK) {
        why_set(why, whylen, "the value would be longer than 1 MiB");
        free(b.buf);
        return MG_ERROR;
    }
    *out = b.buf;
    *outlen = b.len;
    return MG_OK;
}

int mg_conf_expand(const char *s, size_t len, const char *dir, char **out, size_t *outlen,
                   char *why, size_t whylen)
{
    return expand(NULL, s, len, dir, out, outlen, why, whylen);
}

/* ---- over the document ---- */

static int expand_node(mg__conf_ctx_t *c, yaml_node_t *node, size_t idx, const char *dir)
{
    yaml_char_t *v = node->data.scalar.value;
    size_t n = node->data.scalar.length;
    if (c->raw[idx] != NULL || !mg_conf_has_secret((const char *)v, n)) {
        return MG_OK;
    }
    char why[512] = "", *out;
    size_t outlen;
    if (expand(c, (const char *)v, n, dir, &out, &outlen, why, sizeof(why)) != MG_OK) {
        mg__conf_fail(c, node, "%s", why);
        c->err->unset_env = c->unset_env;
        return MG_ERROR;
    }
    c->raw[idx] = mg_pool_strndup(c->pool, (const char *)v, n);
    if (c->raw[idx] == NULL) {
        free(out);
        return mg__conf_fail(c, node, "out of memory");
    }
    free(v); /* libyaml's allocator is malloc's */
    node->data.scalar.value = (yaml_char_t *)out;
    node->data.scalar.length = outlen;
    /* what a secret holds is a string: "", "~" or "null" must not read as null */
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && mg__conf_is_null(node)) {
        node->data.scalar.style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    }
    return MG_OK;
}

/* Walks the tree from `node` with the key path kept, each node once (aliases share
 * theirs), expanding every scalar reached as a value. The access log's format is left
 * alone: its `${name}` are log variables (docs/access-log.md), not secrets. */
static int walk(mg__conf_ctx_t *c, yaml_node_t *node, uint8_t *seen, const char *dir)
{
    size_t idx = (size_t)(node - c->doc.nodes.start);
    if (seen[idx] || strcmp(c->path, "access_log.format") == 0) {
        return MG_OK;
    }
    seen[idx] = 1;
    if (node->type == YAML_SCALAR_NODE) {
        return expand_node(c, node, idx, dir);
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = node->data.sequence.items.start;
        for (size_t i = 0; it + i < node->data.sequence.items.top; i++) {
            size_t saved = mg__conf_push_index(c, i);
            if (walk(c, yaml_document_get_node(&c->doc, it[i]), seen, dir) != MG_OK) {
                return MG_ERROR;
            }
            mg__conf_pop(c, saved);
        }
        return MG_OK;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&c->doc, p->key);
        size_t saved = mg__conf_push_key(
            c, k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
        if (walk(c, yaml_document_get_node(&c->doc, p->value), seen, dir) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    return MG_OK;
}

int mg__conf_expand_secrets(mg__conf_ctx_t *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    size_t n = (size_t)(c->doc.nodes.top - c->doc.nodes.start);
    if (root == NULL || n == 0) {
        return MG_OK;
    }
    c->raw = mg_pool_calloc(c->pool, n * sizeof(*c->raw));
    c->nraw = n;
    uint8_t *seen = calloc(n, 1);
    if (c->raw == NULL || seen == NULL) {
        free(seen);
        return mg__conf_fail(c, root, "out of memory");
    }
    const char *dir = mg__conf_file_dir(c);
    int rc = dir != NULL ? walk(c, root, seen, dir) : mg__conf_fail(c, root, "out of memory");
    free(seen);
    mg__conf_pop(c, 0);
    return rc;
}

const char *mg__conf_raw(const mg__conf_ctx_t *c, const yaml_node_t *node)
{
    if (c == NULL || c->raw == NULL || node < c->doc.nodes.start || node >= c->doc.nodes.top) {
        return NULL;
    }
    return c->raw[node - c->doc.nodes.start];
}
