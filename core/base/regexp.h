/*
 * regexp.h -- Perl-compatible regular expressions on PCRE2: compile with flags, JIT,
 * match with a reusable match-data block, named groups, limits against catastrophic
 * backtracking, and a bounded LRU cache of compiled patterns.
 *
 * Used by the router (`path_regex:`, compiled once per generation) and by mg.re
 * (patterns compiled on first use and kept in the process's cache).
 *
 * One process, one thread: the match context, the JIT stack and the error text are
 * per process (each worker has its own), and a compiled pattern's match data is
 * reused by every match on it, so a match never allocates. Nothing here is
 * thread-safe.
 */
#ifndef MG_REGEXP_H
#define MG_REGEXP_H

#include "mg_core.h"

typedef struct mg_regex_s mg_regex_t;
typedef struct mg_regex_cache_s mg_regex_cache_t;

/* Compile flags (mg.re's letters in brackets). */
enum {
    MG_RE_CASELESS = 1 << 0,  /* i */
    MG_RE_MULTILINE = 1 << 1, /* m */
    MG_RE_DOTALL = 1 << 2,    /* s */
    MG_RE_EXTENDED = 1 << 3,  /* x */
    MG_RE_UTF = 1 << 4,       /* u: pattern and subjects are checked UTF-8 */
    MG_RE_ANCHORED = 1 << 5,  /* a: matches only at the start offset */
    MG_RE_DUPNAMES = 1 << 6,  /* D: a group name may be used twice */
    MG_RE_JS = 1 << 7,        /* J: JavaScript-compatible escapes and classes */
    MG_RE_NO_START_OPT = 1 << 8, /* no start-of-match shortcuts (load-time checks) */
    MG_RE_FLAGS_ALL = (1 << 9) - 1,
};

/* Defaults of the limits (mg_regex_set_limits). */
#define MG_REGEX_MATCH_LIMIT 1000000u
#define MG_REGEX_DEPTH_LIMIT 10000u
#define MG_REGEX_CACHE_SIZE 1024u

/* Why a compile failed: PCRE2's message and the offset in the pattern it points at. */
typedef struct {
    char msg[160];
    size_t offset;
} mg_regex_err_t;

/* Compiles `pat` (len bytes, may hold NULs) with MG_RE_* flags and JIT-compiles it
 * when the platform has a JIT (else matches run in the interpreter). Returns the
 * pattern (free with mg_regex_destroy), or NULL with *err filled (unknown flag bits,
 * a syntax error, out of memory). */
mg_regex_t *mg_regex_create(const char *pat, size_t len, unsigned flags, mg_regex_err_t *err);
void mg_regex_destroy(mg_regex_t *re);

/* Matches `re` on s[0..len) starting at byte `start`. Returns the number of offset
 * pairs set (1 + the highest group that took part; > 0), MG_DECLINED for no match, or
 * MG_ERROR (the match limit hit, bad UTF-8 in a UTF pattern's subject, a start inside
 * a character or past the end): mg_regex_error() tells which. The offsets are read
 * with mg_regex_group() until the next match on `re`. */
int mg_regex_exec(mg_regex_t *re, const char *s, size_t len, size_t start);

/* Group `i` (0 the whole match) of the last match: MG_OK with [*from, *to), or
 * MG_DECLINED when the group did not take part (or i is past the groups). */
int mg_regex_group(const mg_regex_t *re, uint32_t i, size_t *from, size_t *to);

/* The text of the last mg_regex_exec error (static storage, valid until the next
 * failing call). */
const char *mg_regex_error(void);

/* Capturing groups in the pattern (not counting group 0). */
uint32_t mg_regex_captures(const mg_regex_t *re);
/* Named groups: their count, and the i-th (0-based, in name order) as a NUL-terminated
 * name borrowed from `re` and its group number. MG_DECLINED past the end. */
uint32_t mg_regex_name_count(const mg_regex_t *re);
int mg_regex_name_at(const mg_regex_t *re, uint32_t i, const char **name, uint32_t *group);

/* What PCRE2 knows of a compiled pattern without a subject, for load-time checks. */
typedef struct {
    size_t min_length; /* no subject shorter than this can match */
    bool anchored;     /* matches only at the start of the subject */
    int first_unit;    /* the byte any match starts with, -1 when not one known byte */
    bool first_caseless;
    bool jit; /* JIT-compiled */
} mg_regex_info_t;

void mg_regex_info(const mg_regex_t *re, mg_regex_info_t *out);

/* Why a pattern (which compiles with `flags`) can never match a URL path (a NUL-terminated static
 * reason), or NULL when it might: it cannot match a path that starts with '/', of at
 * most `max_len` bytes, or it cannot match at all ((*FAIL), an empty class). The test
 * is PCRE2's pattern information (minimum length, anchoring, first code unit) plus a
 * bounded search of texts with partial matches (explore() in regexp.c); a NULL is no
 * proof that it matches anything. */
const char *mg_regex_path_problem(const char *pat, size_t len, unsigned flags, size_t max_len);

/* The process's limits for every match from now on: PCRE2's match limit (steps of
 * backtracking) and depth limit (nested backtracking frames). 0 keeps a value. */
void mg_regex_set_limits(uint32_t match_limit, uint32_t depth_limit);

/* A cache of compiled patterns keyed by pattern bytes + flags, at most `cap` entries
 * (>= 1); the least recently used one is destroyed to make room. NULL when out of
 * memory. */
mg_regex_cache_t *mg_regex_cache_create(size_t cap);
void mg_regex_cache_destroy(mg_regex_cache_t *c);

/* The compiled pattern for (pat, flags): found, or compiled and added. Borrowed: valid
 * until a later mg_regex_cache_get on `c` that compiles (it may evict it). NULL with
 * *err filled when it does not compile (failures are not cached). */
mg_regex_t *mg_regex_cache_get(mg_regex_cache_t *c, const char *pat, size_t len, unsigned flags,
                               mg_regex_err_t *err);
size_t mg_regex_cache_count(const mg_regex_cache_t *c);
/* Evictions so far (for tests and status). */
size_t mg_regex_cache_evictions(const mg_regex_cache_t *c);

/* The process's own cache (mg.re's), made on first use with the size set last by
 * mg_regex_cache_default_size (MG_REGEX_CACHE_SIZE otherwise). NULL when out of memory. */
mg_regex_cache_t *mg_regex_cache_default(void);
/* Sets the size of the process's cache; an existing one is emptied and resized. */
void mg_regex_cache_default_size(size_t cap);

#endif
