-- moongate.ffi: the C functions of the plugin API (core/lua/lua_api.c), declared once.
-- Everything here takes the task handle the runtime was given for the current run.
local ffi = require "ffi"

local M = {}

if not pcall(ffi.typeof, "mg_str_t") then
    ffi.cdef [[
/* The region "lua/moongate/ffi.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct { const char *p; size_t len; } mg_str_t;
typedef struct mg_lua_task_s mg_lua_task_t;

int mg_lua_req_get(mg_lua_task_t *t, int what, mg_str_t *out);
int mg_lua_req_set(mg_lua_task_t *t, int what, const char *p, size_t len);
double mg_lua_req_num(mg_lua_task_t *t, int what);
int mg_lua_req_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out);
int mg_lua_req_header_count(mg_lua_task_t *t);
int mg_lua_req_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
int mg_lua_req_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                          size_t vlen, int mode);
int mg_lua_req_param_count(mg_lua_task_t *t);
int mg_lua_req_param_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
int mg_lua_req_reroute(mg_lua_task_t *t);
int mg_lua_req_body_read(mg_lua_task_t *t, size_t max);
int mg_lua_req_body(mg_lua_task_t *t, mg_str_t *out);
int mg_lua_req_body_set(mg_lua_task_t *t, const char *p, size_t len);

int mg_lua_resp_status(mg_lua_task_t *t);
int mg_lua_resp_set_status(mg_lua_task_t *t, int status);
int mg_lua_resp_header(mg_lua_task_t *t, const char *name, size_t nlen, int idx, mg_str_t *out);
int mg_lua_resp_header_count(mg_lua_task_t *t);
int mg_lua_resp_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
int mg_lua_resp_header_set(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                           size_t vlen, int mode);
int mg_lua_body_chunk(mg_lua_task_t *t, mg_str_t *out, int *eof);
int mg_lua_exit_header(mg_lua_task_t *t, const char *name, size_t nlen, const char *value,
                       size_t vlen);

void mg_lua_log(mg_lua_task_t *t, int level, const char *msg, size_t len);
double mg_lua_now(mg_lua_task_t *t);
void mg_lua_phase_begin(mg_lua_task_t *t, int phase);
int mg_lua_sleep(mg_lua_task_t *t, double seconds);

int mg_lua_upstream_node_count(mg_lua_task_t *t);
int mg_lua_upstream_node(mg_lua_task_t *t, int i, mg_str_t *addr, int *weight);
int mg_lua_upstream_node_load(mg_lua_task_t *t, int i, double *out);
int mg_lua_upstream_node_health(mg_lua_task_t *t, int n, int *health, int *breaker,
                                int *available);
int mg_lua_set_peer(mg_lua_task_t *t, int i, int force);

int32_t *mg_lua_watch_cell(mg_lua_task_t *t);
mg_lua_task_t **mg_lua_task_cell(void);
size_t mg_lua_memory_used(mg_lua_task_t *t);

void mg_lua_req_set_consumer(mg_lua_task_t *t, const char *name, size_t len);
]]
end

M.C = ffi.C

-- return codes of the core
M.OK, M.ERROR, M.AGAIN, M.DECLINED = 0, -1, -2, -3

-- mg_lua_req_get / mg_lua_req_set fields (core/lua/lua_api.c)
M.F = {
    method = 0, path = 1, query = 2, host = 3, remote_addr = 4, route = 5, request_id = 6,
    uri = 7, scheme = 8, upstream_addr = 9, upstream = 10, trace_id = 11, peer_addr = 12,
}
-- mg_lua_req_num fields
M.N = {
    start = 0, elapsed = 1, upstream_time = 2, status = 3, upstream_status = 4,
    remote_port = 5, bytes_sent = 6, http_minor = 7, content_length = 8,
    upstream_connect_time = 9, upstream_header_time = 10,
    plugin_time = 11, -- + the phase (core.REWRITE ... core.LOG)
}
-- header change modes
M.H_SET, M.H_ADD, M.H_CLEAR = 0, 1, 2

-- scratch out-parameters, reused by every call (one run at a time per state)
M.s1 = ffi.new("mg_str_t[1]")
M.s2 = ffi.new("mg_str_t[1]")
M.i1 = ffi.new("int[1]")

local s1 = M.s1
local ffi_string = ffi.string

-- A view as a Lua string (nil for a NULL view).
function M.str(v)
    if v.p == nil then
        return nil
    end
    return ffi_string(v.p, v.len)
end

-- Calls getter(task, ..., s1) and returns the view as a string, nil when absent.
function M.get1(rc)
    if rc ~= 0 then
        return nil
    end
    local v = s1[0]
    if v.p == nil then
        return nil
    end
    return ffi_string(v.p, v.len)
end

return M
