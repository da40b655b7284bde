/* deps: regexp str */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regexp.h"

static mg_regex_t *make(const char *pat, unsigned flags)
{
    mg_regex_err_t err;
    mg_regex_t *re = mg_regex_create(pat, strlen(pat), flags, &err);
    ck_assert_msg(re != NULL, "%s: %s at %zu", pat, err.msg, err.offset);
    return re;
}

/* Group i of the last match as text ("-" when it took no part). */
static const char *grp(mg_regex_t *re, const char *s, uint32_t i)
{
    static char buf[128];
    size_t a, b;
    if (mg_regex_group(re, i, &a, &b) != MG_OK) {
        return "-";
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)(b - a), s + a);
    return buf;
}

START_TEST(test_flags)
{
    struct {
        const char *pat;
        unsigned flags;
        const char *subject;
        bool match;
    } cases[] = {
        {"abc", 0, "xABCx", false},
        {"abc", MG_RE_CASELESS, "xABCx", true},
        {"^b$", 0, "a\nb\nc", false},
        {"^b$", MG_RE_MULTILINE, "a\nb\nc", true},
        {"a.c", 0, "a\nc", false},
        {"a.c", MG_RE_DOTALL, "a\nc", true},
        {"a b # comment", MG_RE_EXTENDED, "ab", true},
        {"a b", 0, "ab", false},
        {"^.$", 0, "\xc3\xa9", false},
        {"^.$", MG_RE_UTF, "\xc3\xa9", true},
        {"b", 0, "ab", true},
        {"b", MG_RE_ANCHORED, "ab", false},
        {"\\u0041", MG_RE_JS, "A", true},
    };
    for (size_t i = 0; i < MG_NELEMS(cases); i++) {
        mg_regex_t *re = make(cases[i].pat, cases[i].flags);
        int rc = mg_regex_exec(re, cases[i].subject, strlen(cases[i].subject), 0);
        ck_assert_msg((rc > 0) == cases[i].match, "case %zu: %s rc %d", i, cases[i].pat, rc);
        mg_regex_destroy(re);
    }
    mg_regex_err_t err;
    ck_assert_ptr_null(mg_regex_create("a", 1, 1u << 20, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown flag"));
    /* duplicate names only with MG_RE_DUPNAMES */
    ck_assert_ptr_null(mg_regex_create("(?<n>a)|(?<n>b)", 15, 0, &err));
    mg_regex_destroy(make("(?<n>a)|(?<n>b)", MG_RE_DUPNAMES));
}
END_TEST

START_TEST(test_captures_and_names)
{
    mg_regex_t *re = make("^/users/(?<id>[0-9]+)(/(?<rest>.*))?$", 0);
    ck_assert_uint_eq(mg_regex_captures(re), 3);
    ck_assert_uint_eq(mg_regex_name_count(re), 2);
    const char *name;
    uint32_t g;
    ck_assert_int_eq(mg_regex_name_at(re, 0, &name, &g), MG_OK);
    ck_assert_str_eq(name, "id");
    ck_assert_uint_eq(g, 1);
    ck_assert_int_eq(mg_regex_name_at(re, 1, &name, &g), MG_OK);
    ck_assert_str_eq(name, "rest");
    ck_assert_uint_eq(g, 3);
    ck_assert_int_eq(mg_regex_name_at(re, 2, &name, &g), MG_DECLINED);

    const char *s = "/users/42/orders/7";
    ck_assert_int_eq(mg_regex_exec(re, s, strlen(s), 0), 4);
    ck_assert_str_eq(grp(re, s, 0), s);
    ck_assert_str_eq(grp(re, s, 1), "42");
    ck_assert_str_eq(grp(re, s, 3), "orders/7");
    s = "/users/42";
    ck_assert_int_eq(mg_regex_exec(re, s, strlen(s), 0), 2);
    ck_assert_str_eq(grp(re, s, 1), "42");
    ck_assert_str_eq(grp(re, s, 2), "-");
    ck_assert_str_eq(grp(re, s, 3), "-");
    ck_assert_str_eq(grp(re, s, 9), "-");
    ck_assert_int_eq(mg_regex_exec(re, "/users/x", 8, 0), MG_DECLINED);
    /* a start offset, and one past the end */
    mg_regex_t *w = make("[a-z]+", 0);
    ck_assert_int_eq(mg_regex_exec(w, "ab12cd", 6, 2), 1);
    ck_assert_str_eq(grp(w, "ab12cd", 0), "cd");
    ck_assert_int_eq(mg_regex_exec(w, "ab", 2, 3), MG_ERROR);
    /* subjects may hold NULs */
    ck_assert_int_eq(mg_regex_exec(w, "\0\0x", 3, 0), 1);
    ck_assert_str_eq(grp(w, "\0\0x", 0), "x");
    mg_regex_destroy(w);
    mg_regex_destroy(re);
}
END_TEST

START_TEST(test_compile_errors_and_utf)
{
    mg_regex_err_t err;
    ck_assert_ptr_null(mg_regex_create("a(b", 3, 0, &err));
    ck_assert_str_eq(err.msg, "missing closing parenthesis");
    ck_assert_uint_eq(err.offset, 3);
    ck_assert_ptr_null(mg_regex_create("[z-a]", 5, 0, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "range out of order"));
    ck_assert_ptr_null(mg_regex_create("\xff", 1, MG_RE_UTF, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "UTF-8"));
    mg_regex_t *re = make(".", MG_RE_UTF);
    ck_assert_int_eq(mg_regex_exec(re, "\xff", 1, 0), MG_ERROR);
    ck_assert_ptr_nonnull(strstr(mg_regex_error(), "UTF-8"));
    /* a start inside a character */
    ck_assert_int_eq(mg_regex_exec(re, "\xc3\xa9", 2, 1), MG_ERROR);
    mg_regex_destroy(re);
}
END_TEST

START_TEST(test_match_limit_is_an_error)
{
    mg_regex_set_limits(10000, 0);
    mg_regex_t *re = make("^(a|aa)+$", 0);
    char s[64];
    memset(s, 'a', sizeof(s));
    s[sizeof(s) - 1] = 'b';
    ck_assert_int_eq(mg_regex_exec(re, s, sizeof(s), 0), MG_ERROR);
    ck_assert_str_eq(mg_regex_error(), "match limit exceeded");
    /* a subject it can do quickly still matches with the same limit */
    ck_assert_int_eq(mg_regex_exec(re, "aaaa", 4, 0), 2);
    mg_regex_set_limits(MG_REGEX_MATCH_LIMIT, 0);
    mg_regex_destroy(re);
}
END_TEST

START_TEST(test_cache_hits_and_lru_eviction)
{
    mg_regex_cache_t *c = mg_regex_cache_create(3);
    mg_regex_err_t err;
    mg_regex_t *a = mg_regex_cache_get(c, "a", 1, 0, &err);
    mg_regex_t *b = mg_regex_cache_get(c, "b", 1, 0, &err);
    mg_regex_t *ai = mg_regex_cache_get(c, "a", 1, MG_RE_CASELESS, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_ne(a, ai); /* the flags are part of the key */
    ck_assert_uint_eq(mg_regex_cache_count(c), 3);
    ck_assert_ptr_eq(mg_regex_cache_get(c, "a", 1, 0, &err), a); /* "a" used last */
    ck_assert_ptr_nonnull(mg_regex_cache_get(c, "d", 1, 0, &err)); /* evicts "b" */
    ck_assert_uint_eq(mg_regex_cache_count(c), 3);
    ck_assert_uint_eq(mg_regex_cache_evictions(c), 1);
    ck_assert_ptr_eq(mg_regex_cache_get(c, "a", 1, 0, &err), a);
    ck_assert_ptr_eq(mg_regex_cache_get(c, "a", 1, MG_RE_CASELESS, &err), ai);
    ck_assert_uint_eq(mg_regex_cache_evictions(c), 1);
    mg_regex_t *b2 = mg_regex_cache_get(c, "b", 1, 0, &err); /* compiled again */
    ck_assert_ptr_nonnull(b2);
    ck_assert_uint_eq(mg_regex_cache_evictions(c), 2);
    (void)b;
    /* failures are not cached */
    ck_assert_ptr_null(mg_regex_cache_get(c, "(", 1, 0, &err));
    ck_assert_uint_eq(mg_regex_cache_count(c), 3);
    /* many patterns through a small cache: bounded, and each lookup still right */
    for (int i = 0; i < 1000; i++) {
        char p[16];
        int n = snprintf(p, sizeof(p), "x%d$", i % 7);
        mg_regex_t *re = mg_regex_cache_get(c, p, (size_t)n, 0, &err);
        char s[16];
        int sn = snprintf(s, sizeof(s), "ax%d", i % 7);
        ck_assert_int_eq(mg_regex_exec(re, s, (size_t)sn, 0), 1);
        ck_assert_uint_le(mg_regex_cache_count(c), 3);
    }
    mg_regex_cache_destroy(c);
    /* the process's cache takes its size */
    mg_regex_cache_default_size(2);
    mg_regex_cache_t *d = mg_regex_cache_default();
    for (int i = 0; i < 5; i++) {
        char p[8];
        int n = snprintf(p, sizeof(p), "p%d", i);
        ck_assert_ptr_nonnull(mg_regex_cache_get(d, p, (size_t)n, 0, &err));
    }
    ck_assert_uint_eq(mg_regex_cache_count(d), 2);
    mg_regex_cache_default_size(MG_REGEX_CACHE_SIZE);
}
END_TEST

START_TEST(test_can_never_match_a_path)
{
    struct {
        const char *pat;
        const char *why; /* a piece of the reason, NULL when it may match */
    } cases[] = {
        {"^/users/(?<id>[0-9]+)/orders$", NULL},
        {"\\.(css|js)$", NULL},
        {"x", NULL},
        {"\\Bx", NULL},
        {"\\bfoo", NULL},
        {"$", NULL},
        {"(?<=x)y", NULL}, /* looks behind: not judged */
        {"^/(a|aa)+$", NULL},
        {"(*FAIL)", "no path can match"},
        {"(?!)", "no path can match"},
        {"/a(*FAIL)", "no path can match"},
        {"[^\\x00-\\xff]", "no path can match"},
        {"^[^/]", "no path can match"},
        {"^$", "no path can match"},
        {"^/api$/v2", "no path can match"},
        {"(?=a)b", "no path can match"},
        {"^users", "first character is not '/'"},
        {"(?i)^A", "first character is not '/'"},
        {"/x{2000}", "longer than the longest path"},
    };
    for (size_t i = 0; i < MG_NELEMS(cases); i++) {
        const char *why = mg_regex_path_problem(cases[i].pat, strlen(cases[i].pat), 0, 1024);
        if (cases[i].why == NULL) {
            ck_assert_msg(why == NULL, "%s: %s", cases[i].pat, why);
        } else {
            ck_assert_msg(why != NULL && strstr(why, cases[i].why) != NULL, "%s: %s",
                          cases[i].pat, why ? why : "(accepted)");
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regex");
    TCase *tc = tcase_create("regex");
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_captures_and_names);
    tcase_add_test(tc, test_compile_errors_and_utf);
    tcase_add_test(tc, test_match_limit_is_an_error);
    tcase_add_test(tc, test_cache_hits_and_lru_eviction);
    tcase_add_test(tc, test_can_never_match_a_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
