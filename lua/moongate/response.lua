-- moongate.response: mg.response, the answer: a plugin's own (exit) or the upstream's as
-- header_filter and body_filter see and change it.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local C = cffi.C
local s1, s2, str = cffi.s1, cffi.s2, cffi.str
local check = core.check
local EXIT = core.phases("rewrite", "access", "balancer")
local READ = core.phases("header_filter", "body_filter", "log")
local HEADERS = core.phases("header_filter")
local BODY = core.phases("body_filter")
local type, tostring, lower, concat = type, tostring, string.lower, table.concat

local M = {}

-- The sentinel a plugin's exit raises; the runtime recognises it, it is no error.
M.EXIT = setmetatable({}, { __tostring = function() return "mg.response.exit" end })

-- Ends the request now with status, body (a string, or a table sent as JSON) and
-- headers ({ name = value }). Only before the upstream is contacted.
function M.exit(status, body, headers)
    check("mg.response.exit", EXIT)
    if type(status) ~= "number" or status < 200 or status > 599 or status % 1 ~= 0 then
        error("mg.response.exit: expected a status from 200 to 599, got " .. tostring(status), 2)
    end
    core.cur.rs.exit = { status, body, headers }
    error(M.EXIT, 0)
end

function M.get_status()
    local t = check("mg.response.get_status", READ)
    if core.cur.phase == core.LOG then
        return C.mg_lua_req_num(t, cffi.N.status)
    end
    return C.mg_lua_resp_status(t)
end

function M.set_status(status)
    local t = check("mg.response.set_status", HEADERS)
    if type(status) ~= "number" or C.mg_lua_resp_set_status(t, status) ~= 0 then
        error("mg.response.set_status: expected a status from 200 to 599, got "
            .. tostring(status), 2)
    end
end

function M.get_header(name)
    local t = check("mg.response.get_header", READ)
    if type(name) ~= "string" then
        error("mg.response.get_header: expected a header name, got " .. type(name), 2)
    end
    if C.mg_lua_resp_header(t, name, #name, 0, s1) ~= 0 then
        return nil
    end
    return str(s1[0])
end

function M.get_headers()
    local t = check("mg.response.get_headers", READ)
    return core.header_table(t, C.mg_lua_resp_header_count, C.mg_lua_resp_header_at)
end

local SET_HEADER = C.mg_lua_resp_header_set

function M.set_header(name, value)
    if value == nil then
        -- not a tail call: error levels count this frame
        core.change_header("mg.response.set_header", HEADERS, SET_HEADER, cffi.H_CLEAR, name)
        return
    end
    core.change_header("mg.response.set_header", HEADERS, SET_HEADER, cffi.H_SET, name, value)
end

function M.add_header(name, value)
    core.change_header("mg.response.add_header", HEADERS, SET_HEADER, cffi.H_ADD, name, value)
end

function M.clear_header(name)
    core.change_header("mg.response.clear_header", HEADERS, SET_HEADER, cffi.H_CLEAR, name)
end

-- body_filter: the current chunk and whether it is the last call.
function M.get_body_chunk()
    local t = check("mg.response.get_body_chunk", BODY)
    local rs = core.cur.rs
    local eof = cffi.i1
    C.mg_lua_body_chunk(t, s1, eof)
    if rs.chunk ~= nil then
        return rs.chunk, eof[0] ~= 0 -- an earlier plugin's replacement
    end
    return str(s1[0]) or "", eof[0] ~= 0
end

-- body_filter: what to send instead of the current chunk ("" drops it).
function M.set_body_chunk(s)
    check("mg.response.set_body_chunk", BODY)
    if type(s) ~= "string" then
        error("mg.response.set_body_chunk: expected a string, got " .. type(s), 2)
    end
    core.cur.rs.chunk = s
end

-- body_filter: holds the body's chunks (in `held`, a table the plugin keeps per request,
-- e.g. in ctx) until the last one, sending nothing meanwhile. Returns the whole body at
-- the last call, for the plugin to transform and set; nil while holding; false once the
-- body is over `max` bytes: what was held goes out with this chunk and every later call
-- returns false at once, leaving the chunks as they are.
function M.hold_body(held, max)
    check("mg.response.hold_body", BODY)
    if held.over then
        return false
    end
    local chunk, eof = M.get_body_chunk()
    local n = (held.size or 0) + #chunk
    held[#held + 1] = chunk
    if n > max then
        held.over = true
        M.set_body_chunk(table.concat(held))
        for i = #held, 1, -1 do held[i] = nil end
        return false
    end
    held.size = n
    if not eof then
        M.set_body_chunk("")
        return nil
    end
    return table.concat(held)
end

-- Turns a plugin's (status, body, headers) into what the C side sends: stages the
-- headers and returns status, body string.
function M.stage(task, status, body, headers)
    if type(status) ~= "number" or status < 200 or status > 599 or status % 1 ~= 0 then
        return nil, "a plugin answered with an invalid status " .. tostring(status)
    end
    local ctype
    if type(body) == "table" then
        local err
        body, err = require("moongate.json").encode(body)
        if not body then
            return nil, "cannot encode the answer's body: " .. err
        end
        ctype = "application/json"
    elseif body ~= nil and type(body) ~= "string" then
        body = tostring(body)
    end
    if body and body ~= "" then
        ctype = ctype or "text/plain; charset=utf-8"
    end
    local has_ctype = false
    if headers ~= nil then
        if type(headers) ~= "table" then
            return nil, "a plugin answered with headers that are not a table"
        end
        for k, v in pairs(headers) do
            k = tostring(k)
            if lower(k) == "content-type" then
                has_ctype = true
            end
            local vs = type(v) == "table" and v or { v }
            for _, one in ipairs(vs) do
                one = tostring(one)
                if C.mg_lua_exit_header(task, k, #k, one, #one) ~= 0 then
                    return nil, "a plugin answered with an invalid header \"" .. k .. "\""
                end
            end
        end
    end
    if ctype and not has_ctype then
        C.mg_lua_exit_header(task, "Content-Type", 12, ctype, #ctype)
    end
    return status, body
end

return M
