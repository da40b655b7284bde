/*
 * regexp.c -- PCRE2 (8-bit code units) behind a small API: compiled patterns with
 * their own match data, one match context and JIT stack per process, and an LRU
 * cache of compiled patterns (hash table + recency list).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regexp.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mg_regex_s {
    pcre2_code *code;
    pcre2_match_data *md; /* reused by every match on this pattern */
    PCRE2_SIZE *ov;       /* md's offsets */
    uint32_t ovpairs;     /* pairs md holds */
    uint32_t lastpairs;   /* pairs the last match set */
    uint32_t captures;
    uint32_t names, name_entry; /* the name table: count and entry size */
    PCRE2_SPTR name_table;
    bool jit, utf;
};

/* ---- the process's match context ---- */

static struct {
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    uint32_t match_limit, depth_limit;
    char err[160];
} proc = {.match_limit = MG_REGEX_MATCH_LIMIT, .depth_limit = MG_REGEX_DEPTH_LIMIT};

/* The match context (created on first use): the limits and the JIT stack. A JIT stack
 * that cannot be made leaves PCRE2's 32 KiB machine-stack default. */
static pcre2_match_context *match_ctx(void)
{
    if (proc.mctx == NULL) {
        proc.mctx = pcre2_match_context_create(NULL);
        if (proc.mctx == NULL) {
            return NULL;
        }
        pcre2_set_match_limit(proc.mctx, proc.match_limit);
        pcre2_set_depth_limit(proc.mctx, proc.depth_limit);
        pcre2_set_heap_limit(proc.mctx, 8192); /* KiB of backtracking frames */
        proc.jit_stack = pcre2_jit_stack_create(32u << 10, 1u << 20, NULL);
        if (proc.jit_stack != NULL) {
            pcre2_jit_stack_assign(proc.mctx, NULL, proc.jit_stack);
        }
    }
    return proc.mctx;
}

void mg_regex_set_limits(uint32_t match_limit, uint32_t depth_limit)
{
    if (match_limit > 0) {
        proc.match_limit = match_limit;
    }
    if (depth_limit > 0) {
        proc.depth_limit = depth_limit;
    }
    if (proc.mctx != NULL) {
        pcre2_set_match_limit(proc.mctx, proc.match_limit);
        pcre2_set_depth_limit(proc.mctx, proc.depth_limit);
    }
}

static uint32_t pcre2_flags(unsigned flags)
{
    uint32_t o = 0;
    o |= (flags & MG_RE_CASELESS) ? PCRE2_CASELESS : 0;
    o |= (flags & MG_RE_MULTILINE) ? PCRE2_MULTILINE : 0;
    o |= (flags & MG_RE_DOTALL) ? PCRE2_DOTALL : 0;
    o |= (flags & MG_RE_EXTENDED) ? PCRE2_EXTENDED : 0;
    o |= (flags & MG_RE_UTF) ? PCRE2_UTF : 0;
    o |= (flags & MG_RE_ANCHORED) ? PCRE2_ANCHORED : 0;
    o |= (flags & MG_RE_DUPNAMES) ? PCRE2_DUPNAMES : 0;
    o |= (flags & MG_RE_JS) ? PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF
                            : 0;
    o |= (flags & MG_RE_NO_START_OPT) ? PCRE2_NO_START_OPTIMIZE : 0;
    return o;
}

mg_regex_t *mg_regex_create(const char *pat, size_t len, unsigned flags, mg_regex_err_t *err)
{
    err->offset = 0;
    if (flags & ~(unsigned)MG_RE_FLAGS_ALL) {
        snprintf(err->msg, sizeof(err->msg), "unknown flag bits 0x%x", flags);
        return NULL;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *pc = pcre2_compile((PCRE2_SPTR)pat, len, pcre2_flags(flags), &code, &off, NULL);
    if (pc == NULL) {
        pcre2_get_error_message(code, (PCRE2_UCHAR *)err->msg, sizeof(err->msg));
        err->offset = off;
        return NULL;
    }
    mg_regex_t *re = calloc(1, sizeof(*re));
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(pc, NULL) : NULL;
    if (md == NULL) {
        free(re);
        pcre2_code_free(pc);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return NULL;
    }
    re->code = pc;
    re->md = md;
    re->ov = pcre2_get_ovector_pointer(md);
    re->ovpairs = pcre2_get_ovector_count(md);
    re->utf = (flags & MG_RE_UTF) != 0;
    re->jit = pcre2_jit_compile(pc, PCRE2_JIT_COMPLETE) == 0;
    pcre2_pattern_info(pc, PCRE2_INFO_CAPTURECOUNT, &re->captures);
    pcre2_pattern_info(pc, PCRE2_INFO_NAMECOUNT, &re->names);
    pcre2_pattern_info(pc, PCRE2_INFO_NAMEENTRYSIZE, &re->name_entry);
    pcre2_pattern_info(pc, PCRE2_INFO_NAMETABLE, &re->name_table);
    return re;
}

void mg_regex_destroy(mg_regex_t *re)
{
    if (re != NULL) {
        pcre2_match_data_free(re->md);
        pcre2_code_free(re->code);
        free(re);
    }
}

static int fail(int code)
{
    pcre2_get_error_message(code, (PCRE2_UCHAR *)proc.err, sizeof(proc.err));
    return MG_ERROR;
}

int mg_regex_exec(mg_regex_t *re, const char *s, size_t len, size_t start)
{
    pcre2_match_context *mctx = match_ctx();
    if (mctx == NULL) {
        snprintf(proc.err, sizeof(proc.err), "out of memory");
        return MG_ERROR;
    }
    if (start > len) {
        return fail(PCRE2_ERROR_BADOFFSET);
    }
    int rc;
    if (re->jit && !re->utf) {
        /* the fast path: no option checks; a UTF pattern goes through pcre2_match so
         * that its subject is checked */
        rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, start, 0, re->md, mctx);
    } else {
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, re->md, mctx);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        re->lastpairs = 0;
        return MG_DECLINED;
    }
    if (rc < 0) {
        re->lastpairs = 0;
        return fail(rc);
    }
    /* rc 0: more groups than pairs, impossible with match data made from the pattern */
    re->lastpairs = rc == 0 ? re->ovpairs : (uint32_t)rc;
    return (int)re->lastpairs;
}

int mg_regex_group(const mg_regex_t *re, uint32_t i, size_t *from, size_t *to)
{
    if (i >= re->lastpairs || re->ov[2 * i] == PCRE2_UNSET) {
        return MG_DECLINED;
    }
    *from = re->ov[2 * i];
    *to = re->ov[2 * i + 1];
    return MG_OK;
}

const char *mg_regex_error(void)
{
    return proc.err;
}

uint32_t mg_regex_captures(const mg_regex_t *re)
{
    return re->captures;
}

uint32_t mg_regex_name_count(const mg_regex_t *re)
{
    return re->names;
}

int mg_regex_name_at(const mg_regex_t *re, uint32_t i, const char **name, uint32_t *group)
{
    if (i >= re->names) {
        return MG_DECLINED;
    }
    PCRE2_SPTR e = re->name_table + (size_t)i * re->name_entry;
    *group = ((uint32_t)e[0] << 8) | e[1];
    *name = (const char *)e + 2;
    return MG_OK;
}

void mg_regex_info(const mg_regex_t *re, mg_regex_info_t *out)
{
    uint32_t minlen = 0, all = 0, ftype = 0, funit = 0, flags = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_MINLENGTH, &minlen);
    pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &all);
    pcre2_pattern_info(re->code, PCRE2_INFO_FIRSTCODETYPE, &ftype);
    pcre2_pattern_info(re->code, PCRE2_INFO_FIRSTCODEUNIT, &funit);
    pcre2_pattern_info(re->code, PCRE2_INFO_ARGOPTIONS, &flags);
    out->min_length = minlen;
    out->anchored = (all & PCRE2_ANCHORED) != 0;
    out->first_unit = ftype == 1 ? (int)funit : -1;
    out->first_caseless = (flags & PCRE2_CASELESS) != 0;
    out->jit = re->jit;
}

/* Texts tried by explore(): at most PROBE_BUDGET matches, PROBE_DEPTH bytes long. */
#define PROBE_BUDGET 4096
#define PROBE_DEPTH 48

typedef struct {
    unsigned char t[PROBE_DEPTH];
    uint8_t len, off; /* the match starts at t[off]: t[0] is context when off is 1 */
} probe_t;

/* Whether some path can match re (compiled without start-of-match shortcuts): 1 yes
 * or maybe, 0 no. A breadth-first search over texts, each matched from its start
 * offset, anchored there, with a soft partial match: a complete match ends the
 * search, a partial one (the text could go on into a match) is extended by every
 * byte, a failure drops the text. The roots: "/" from offset 0 (a path's start) and,
 * for a pattern not anchored, a match starting after '/' or after a word character
 * ("/" and "a" as context). When no text is left, nothing can match; when the budget
 * or the depth runs out, the answer is maybe. The caller skips patterns that look
 * behind (a probe lacks the text before its context byte). */
static int explore(mg_regex_t *re, bool anchored)
{
    pcre2_match_context *mctx = match_ctx();
    probe_t *cur = malloc(PROBE_BUDGET * sizeof(probe_t));
    probe_t *next = malloc(PROBE_BUDGET * sizeof(probe_t));
    int verdict = 1;
    if (mctx == NULL || cur == NULL || next == NULL) {
        goto done;
    }
    size_t ncur = 0, tried = 0;
    cur[ncur++] = (probe_t){.t = {'/'}, .len = 1, .off = 0};
    if (!anchored) {
        cur[ncur++] = (probe_t){.t = {'/'}, .len = 1, .off = 1};
        cur[ncur++] = (probe_t){.t = {'a'}, .len = 1, .off = 1};
        for (int c = 0; c < 256; c++) {
            cur[ncur++] = (probe_t){.t = {'/', (unsigned char)c}, .len = 2, .off = 1};
            cur[ncur++] = (probe_t){.t = {'a', (unsigned char)c}, .len = 2, .off = 1};
        }
    }
    while (ncur > 0) {
        size_t nnext = 0;
        for (size_t i = 0; i < ncur; i++) {
            if (++tried > PROBE_BUDGET) {
                goto done;
            }
            int rc = pcre2_match(re->code, cur[i].t, cur[i].len, cur[i].off,
                                 PCRE2_PARTIAL_SOFT | PCRE2_NO_JIT | PCRE2_ANCHORED, re->md,
                                 mctx);
            if (rc == PCRE2_ERROR_NOMATCH) {
                continue;
            }
            if (rc != PCRE2_ERROR_PARTIAL || cur[i].len == PROBE_DEPTH ||
                nnext + 256 > PROBE_BUDGET) {
                goto done; /* a match, a limit hit, or no room to look further: maybe */
            }
            for (int c = 0; c < 256; c++) {
                next[nnext] = cur[i];
                next[nnext].t[next[nnext].len++] = (unsigned char)c;
                nnext++;
            }
        }
        probe_t *tmp = cur;
        cur = next;
        next = tmp;
        ncur = nnext;
    }
    verdict = 0;
done:
    free(cur);
    free(next);
    return verdict;
}

const char *mg_regex_path_problem(const char *pat, size_t len, unsigned flags, size_t max_len)
{
    mg_regex_err_t err;
    mg_regex_t *re = mg_regex_create(pat, len, flags & ~(unsigned)MG_RE_NO_START_OPT, &err);
    if (re == NULL) {
        return NULL; /* the caller reports compile errors */
    }
    mg_regex_info_t in;
    mg_regex_info(re, &in);
    mg_regex_destroy(re);
    if (in.min_length > max_len) {
        return "every match is longer than the longest path accepted";
    }
    if (in.anchored && in.first_unit >= 0 && in.first_unit != '/') {
        return "it is anchored at the start and its first character is not '/' "
               "(a path always starts with '/')";
    }
    if ((re = mg_regex_create(pat, len, flags | MG_RE_NO_START_OPT, &err)) == NULL) {
        return NULL;
    }
    uint32_t behind = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_MAXLOOKBEHIND, &behind);
    int verdict = behind > 0 ? 1 : explore(re, in.anchored);
    mg_regex_destroy(re);
    if (verdict == 0) {
        return "no path can match it (e.g. (*FAIL), a class that matches nothing, or a "
               "start that cannot be '/')";
    }
    return NULL;
}

/* ---- the cache ---- */

typedef struct entry_s entry_t;
struct entry_s {
    entry_t *hnext;            /* hash chain */
    entry_t *prev, *next;      /* recency list, most recent first */
    uint64_t hash;
    unsigned flags;
    size_t len;
    mg_regex_t *re;
    char pat[]; /* len bytes */
};

struct mg_regex_cache_s {
    entry_t **buckets;
    size_t nbuckets; /* a power of two */
    entry_t *head, *tail;
    size_t count, cap, evictions;
};

static uint64_t hash_of(const char *p, size_t len, unsigned flags)
{
    uint64_t h = 1469598103934665603ull ^ flags;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

mg_regex_cache_t *mg_regex_cache_create(size_t cap)
{
    mg_regex_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->cap = cap < 1 ? 1 : cap;
    c->nbuckets = 16;
    while (c->nbuckets < c->cap * 2) {
        c->nbuckets <<= 1;
    }
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void unlink_lru(mg_regex_cache_t *c, entry_t *e)
{
    *(e->prev ? &e->prev->next : &c->head) = e->next;
    *(e->next ? &e->next->prev : &c->tail) = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(mg_regex_cache_t *c, entry_t *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head != NULL) {
        c->head->prev = e;
    }
    c->head = e;
    if (c->tail == NULL) {
        c->tail = e;
    }
}

static void drop(mg_regex_cache_t *c, entry_t *e)
{
    entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    unlink_lru(c, e);
    mg_regex_destroy(e->re);
    free(e);
    c->count--;
}

void mg_regex_cache_destroy(mg_regex_cache_t *c)
{
    if (c == NULL) {
        return;
    }
    while (c->head != NULL) {
        drop(c, c->head);
    }
    free(c->buckets);
    free(c);
}

mg_regex_t *mg_regex_cache_get(mg_regex_cache_t *c, const char *pat, size_t len, unsigned flags,
                               mg_regex_err_t *err)
{
    uint64_t h = hash_of(pat, len, flags);
    entry_t **bucket = &c->buckets[h & (c->nbuckets - 1)];
    for (entry_t *e = *bucket; e != NULL; e = e->hnext) {
        if (e->hash == h && e->flags == flags && e->len == len && memcmp(e->pat, pat, len) == 0) {
            if (c->head != e) {
                unlink_lru(c, e);
                push_front(c, e);
            }
            return e->re;
        }
    }
    mg_regex_t *re = mg_regex_create(pat, len, flags, err);
    if (re == NULL) {
        return NULL;
    }
    entry_t *e = malloc(sizeof(*e) + len);
    if (e == NULL) {
        mg_regex_destroy(re);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        err->offset = 0;
        return NULL;
    }
    if (c->count >= c->cap) {
        drop(c, c->tail);
        c->evictions++;
    }
    *e = (entry_t){.hash = h, .flags = flags, .len = len, .re = re, .hnext = *bucket};
    memcpy(e->pat, pat, len);
    *bucket = e;
    push_front(c, e);
    c->count++;
    return re;
}

size_t mg_regex_cache_count(const mg_regex_cache_t *c)
{
    return c->count;
}

size_t mg_regex_cache_evictions(const mg_regex_cache_t *c)
{
    return c->evictions;
}

static struct {
    mg_regex_cache_t *cache;
    size_t cap;
} dflt = {.cap = MG_REGEX_CACHE_SIZE};

mg_regex_cache_t *mg_regex_cache_default(void)
{
    if (dflt.cache == NULL) {
        dflt.cache = mg_regex_cache_create(dflt.cap);
    }
    return dflt.cache;
}

void mg_regex_cache_default_size(size_t cap)
{
    dflt.cap = cap < 1 ? 1 : cap;
    if (dflt.cache != NULL && dflt.cache->cap != dflt.cap) {
        mg_regex_cache_destroy(dflt.cache);
        dflt.cache = NULL;
    }
}
