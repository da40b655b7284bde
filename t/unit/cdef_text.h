/*
 * cdef_text.h -- reading C declarations as text, for test_lua_ffi.c: comments and
 * preprocessor lines dropped, split into top-level declarations, each named and
 * normalised so that two spellings of one declaration compare equal; and the
 * ffi.cdef strings of a Lua source.
 */
#ifndef MG_CDEF_TEXT_H
#define MG_CDEF_TEXT_H

#include <check.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growing text ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static inline void buf_add(buf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void buf_printf(buf_t *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_add(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The whole file, NUL-terminated, or NULL when it cannot be read. */
static inline char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    buf_t b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_add(&b, chunk, n);
    }
    fclose(f);
    if (b.p == NULL) {
        buf_add(&b, "", 0);
    }
    return b.p;
}

/* ---- declarations ---- */

/* One top-level declaration of a cdef text. */
typedef struct {
    char *name;  /* function or typedef name, "struct TAG", or the text itself */
    char *text;  /* whitespace collapsed: what messages show */
    char *canon; /* no space next to punctuation: what is compared */
    bool func;
} decl_t;

typedef struct {
    decl_t *v;
    size_t n;
} decls_t;

/* C text without comments (each becomes a space) and without preprocessor lines. */
static inline char *strip_c(const char *s, size_t n)
{
    buf_t b = {0};
    buf_add(&b, "", 0);
    bool line_start = true;
    size_t i = 0;
    while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            const char *e = strstr(s + i + 2, "*/");
            i = e != NULL && (size_t)(e - s) < n ? (size_t)(e - s) + 2 : n;
            buf_add(&b, " ", 1);
            continue;
        }
        if ((s[i] == '/' && i + 1 < n && s[i + 1] == '/') || (line_start && s[i] == '#')) {
            while (i < n && s[i] != '\n') {
                i++;
            }
            continue;
        }
        if (s[i] == '\n') {
            line_start = true;
        } else if (!isspace((unsigned char)s[i])) {
            line_start = false;
        }
        buf_add(&b, s + i, 1);
        i++;
    }
    return b.p;
}

static inline bool is_punct(char c)
{
    return c != '\0' && strchr("(){}[],;*", c) != NULL;
}

static inline bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* *text: whitespace runs as one space, trimmed; *canon: also without the spaces next to
 * punctuation, so that "char *p" and "char* p" compare equal. */
static inline void normalise(const char *s, size_t n, char **text, char **canon)
{
    buf_t t = {0}, c = {0};
    buf_add(&t, "", 0);
    buf_add(&c, "", 0);
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        if (isspace((unsigned char)s[i])) {
            space = t.len > 0;
            continue;
        }
        if (space) {
            buf_add(&t, " ", 1);
            if (!is_punct(s[i]) && !is_punct(c.p[c.len - 1])) {
                buf_add(&c, " ", 1);
            }
            space = false;
        }
        buf_add(&t, s + i, 1);
        buf_add(&c, s + i, 1);
    }
    *text = t.p;
    *canon = c.p;
}

/* The name a declaration declares (see decl_t.name). */
static inline char *decl_name(const char *canon, bool *func)
{
    size_t n = strlen(canon);
    *func = false;
    if (strncmp(canon, "typedef ", 8) == 0) {
        size_t e = n;
        while (e > 0 && !is_ident(canon[e - 1])) {
            e--;
        }
        size_t b = e;
        while (b > 0 && is_ident(canon[b - 1])) {
            b--;
        }
        return strndup(canon + b, e - b);
    }
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (canon[i] == '{') {
            depth++;
        } else if (canon[i] == '}') {
            depth--;
        } else if (canon[i] == '(' && depth == 0) {
            size_t b = i;
            while (b > 0 && is_ident(canon[b - 1])) {
                b--;
            }
            if (b < i) {
                *func = true;
                return strndup(canon + b, i - b);
            }
            break;
        }
    }
    if (strncmp(canon, "struct ", 7) == 0 || strncmp(canon, "enum ", 5) == 0) {
        size_t b = strchr(canon, ' ') - canon + 1, e = b;
        while (is_ident(canon[e])) {
            e++;
        }
        char *name = malloc(e + 1);
        ck_assert_ptr_nonnull(name);
        memcpy(name, canon, e);
        name[e] = '\0';
        return name;
    }
    return strdup(canon);
}

static inline void decls_add(decls_t *d, const char *s, size_t n)
{
    decl_t x = {0};
    normalise(s, n, &x.text, &x.canon);
    if (x.canon[0] == '\0' || strcmp(x.canon, ";") == 0) {
        free(x.text);
        free(x.canon);
        return;
    }
    x.name = decl_name(x.canon, &x.func);
    d->v = realloc(d->v, (d->n + 1) * sizeof(*d->v));
    ck_assert_ptr_nonnull(d->v);
    d->v[d->n++] = x;
}

/* Splits a comment-free cdef text at the semicolons outside braces and parentheses. */
static inline void split_decls(const char *s, decls_t *out)
{
    int depth = 0;
    const char *start = s;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '{' || *p == '(') {
            depth++;
        } else if (*p == '}' || *p == ')') {
            depth--;
        } else if (*p == ';' && depth == 0) {
            decls_add(out, start, (size_t)(p + 1 - start));
            start = p + 1;
        }
    }
    decls_add(out, start, strlen(start)); /* text without its ';' shows as a mismatch */
}

static inline void decls_free(decls_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].name);
        free(d->v[i].text);
        free(d->v[i].canon);
    }
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

static inline const decl_t *decls_find(const decls_t *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i].name, name) == 0) {
            return &d->v[i];
        }
    }
    return NULL;
}

/* The ffi.cdef [[...]] strings of a Lua source, concatenated; NULL when it has none.
 * Calls inside "--" comments are skipped; *bad counts those given anything but a
 * [[...]] string, which this reader cannot see into. */
static inline char *cdef_lua_strings(const char *src, int *bad)
{
    buf_t b = {0};
    for (const char *p = strstr(src, "ffi.cdef"); p != NULL; p = strstr(p, "ffi.cdef")) {
        const char *line = p;
        while (line > src && line[-1] != '\n') {
            line--;
        }
        const char *q = p + strlen("ffi.cdef");
        p = q;
        if (memmem(line, (size_t)(q - line), "--", 2) != NULL) {
            continue;
        }
        while (*q == ' ' || *q == '\t' || *q == '(') {
            q++;
        }
        const char *end = strncmp(q, "[[", 2) == 0 ? strstr(q + 2, "]]") : NULL;
        if (end == NULL) {
            (*bad)++;
            continue;
        }
        buf_add(&b, q + 2, (size_t)(end - q - 2));
        buf_add(&b, "\n", 1);
        p = end + 2;
    }
    return b.p;
}

#endif
