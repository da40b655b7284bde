-- moongate.metrics: the C functions that count each plugin's calls, errors and time for
-- GET /metrics (core/lua/lua_metrics.c); runtime.lua calls them around each plugin.
local ffi = require "ffi"
require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_metrics_marker") then
    ffi.cdef [[
/* The region "lua/moongate/metrics.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_metrics_marker { int unused; };
uint64_t **mg_lua_plugin_cells(void *state);
double mg_lua_plugin_enter(mg_lua_task_t *t);
void mg_lua_plugin_leave(mg_lua_task_t *t, uint64_t *cells, int ok, double mark);
]]
end

return {}
