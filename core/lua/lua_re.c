/*
 * lua_re.c -- mg.re as Lua reaches it through the FFI (lua/moongate/re.lua): patterns
 * compiled on first use into the worker's cache (base/regexp.h), matches whose offsets
 * go into an int array the Lua side owns, and the named groups of a pattern.
 *
 * Nothing here keeps a Lua value or a request: a compiled pattern is borrowed from
 * the cache for the length of one Lua call that does not compile another pattern
 * (re.lua fetches it again after running a replacement function).
 */
#include "lua_int.h"

#include "conf.h"
#include "lua_ffi.h"
#include "regexp.h"

#include <limits.h>
#include <stdio.h>

/* The last compile error, for the Lua side to copy at once. */
static char compile_err[200];

void mg__lua_re_conf(const mg_conf_t *conf)
{
    mg_regex_cache_default_size(conf->lua.regex_cache_size);
    mg_regex_set_limits(conf->lua.regex_match_limit, 0);
}

mg_regex_t *mg_lua_re_get(const char *pat, size_t plen, unsigned flags, int *info,
                          const char **err, size_t *erroff)
{
    mg_regex_cache_t *c = mg_regex_cache_default();
    mg_regex_err_t e;
    mg_regex_t *re = NULL;
    if (c == NULL) {
        snprintf(e.msg, sizeof(e.msg), "out of memory");
        e.offset = 0;
    } else {
        re = mg_regex_cache_get(c, pat, plen, flags, &e);
    }
    if (re == NULL) {
        snprintf(compile_err, sizeof(compile_err), "%s", e.msg);
        *err = compile_err;
        *erroff = e.offset;
        return NULL;
    }
    info[0] = (int)mg_regex_captures(re);
    info[1] = (int)mg_regex_name_count(re);
    return re;
}

int mg_lua_re_exec(mg_regex_t *re, const char *s, size_t len, size_t start, int *ov,
                   const char **err)
{
    if (len > INT_MAX) {
        *err = "subject too long";
        return -1;
    }
    int rc = mg_regex_exec(re, s, len, start);
    if (rc == MG_DECLINED) {
        return 0;
    }
    if (rc < 0) {
        *err = mg_regex_error();
        return -1;
    }
    uint32_t n = mg_regex_captures(re) + 1;
    for (uint32_t i = 0; i < n; i++) {
        size_t from, to;
        if (mg_regex_group(re, i, &from, &to) == MG_OK) {
            ov[2 * i] = (int)from;
            ov[2 * i + 1] = (int)to;
        } else {
            ov[2 * i] = ov[2 * i + 1] = -1;
        }
    }
    return rc;
}

int mg_lua_re_name_at(mg_regex_t *re, int i, const char **name, int *group)
{
    uint32_t g;
    if (i < 0 || mg_regex_name_at(re, (uint32_t)i, name, &g) != MG_OK) {
        return MG_DECLINED;
    }
    *group = (int)g;
    return MG_OK;
}

size_t mg_lua_re_cache_count(void)
{
    mg_regex_cache_t *c = mg_regex_cache_default();
    return c == NULL ? 0 : mg_regex_cache_count(c);
}
