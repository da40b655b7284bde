/* deps: */
/*
 * test_lua_modules.c -- unit tests of the pure-Lua modules of lua/moongate/ (schema
 * checker, JSON, the checks of mg.metrics declarations), run in a plain LuaJIT state:
 * each t/unit/lua/test_*.lua script raises an error on its first failed expectation.
 */
#include <check.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

static void run_script(const char *file)
{
    lua_State *L = luaL_newstate();
    ck_assert_ptr_nonnull(L);
    luaL_openlibs(L);
    ck_assert_int_eq(luaL_dostring(L, "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path"),
                     0);
    int rc = luaL_dofile(L, file);
    const char *msg = rc != 0 ? lua_tostring(L, -1) : NULL;
    ck_assert_msg(rc == 0, "%s: %s", file, msg != NULL ? msg : "?");
    lua_close(L);
}

START_TEST(test_schema)
{
    run_script("t/unit/lua/test_schema.lua");
}
END_TEST

START_TEST(test_json)
{
    run_script("t/unit/lua/test_json.lua");
}
END_TEST

START_TEST(test_template)
{
    run_script("t/unit/lua/test_template.lua");
}
END_TEST

START_TEST(test_metrics)
{
    run_script("t/unit/lua/test_metrics.lua");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lua_modules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_schema);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_template);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
