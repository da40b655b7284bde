-- response-transformer: changes the upstream's answer: headers removed, renamed, set or
-- added, and for JSON bodies up to `max_body` bytes, top-level fields removed or added
-- (bodies that are larger, not JSON objects, or not valid JSON pass unchanged).
local mg = require "moongate"

local types = require "moongate.schema"
local header_name, header_value = types.header_name, types.header_value

local schema = {
    type = "record",
    fields = {
        remove_headers = {
            type = "array", items = header_name(true), default = {},
            description = "response headers to remove",
        },
        rename_headers = {
            type = "map", keys = header_name(true), values = header_name(true), default = {},
            description = "response headers to rename: { Old-Name: New-Name }",
        },
        set_headers = {
            type = "map", keys = header_name(true), values = header_value, default = {},
            description = "response headers to set, replacing the upstream's",
        },
        add_headers = {
            type = "map", keys = header_name(true), values = header_value, default = {},
            description = "response headers to add",
        },
        remove_json = {
            type = "array", items = { type = "string" }, default = {},
            description = "top-level fields to remove from a JSON object body",
        },
        add_json = {
            type = "map", values = { type = "any" }, default = {},
            description = "top-level fields to add to (or replace in) a JSON object body",
        },
        max_body = {
            type = "integer", min = 1, max = 16777216, default = 1048576,
            description = "largest body, in bytes, whose JSON is transformed",
        },
    },
}

local function wants_json(conf)
    return #conf.remove_json > 0 or next(conf.add_json) ~= nil
end

local function header_filter(conf, ctx)
    local resp = mg.response
    for _, h in ipairs(conf.remove_headers) do
        resp.clear_header(h)
    end
    for old, new in pairs(conf.rename_headers) do
        local v = resp.get_header(old)
        if v ~= nil then
            resp.clear_header(old)
            resp.set_header(new, v)
        end
    end
    for k, v in pairs(conf.set_headers) do
        resp.set_header(k, v)
    end
    for k, v in pairs(conf.add_headers) do
        resp.add_header(k, v)
    end
    if wants_json(conf) then
        local ct = (resp.get_header("Content-Type") or ""):lower()
        ctx.rt_json = ct:find("json", 1, true) ~= nil
        ctx.rt_parts = {}
    end
end

local function transform(conf, body)
    local obj = mg.json.decode(body)
    if type(obj) ~= "table" or getmetatable(obj) == mg.json.array_mt then
        return body
    end
    for _, k in ipairs(conf.remove_json) do
        obj[k] = nil
    end
    for k, v in pairs(conf.add_json) do
        obj[k] = v
    end
    return mg.json.encode(obj) or body
end

local function body_filter(conf, ctx)
    if not ctx.rt_json then
        return
    end
    local body = mg.response.hold_body(ctx.rt_parts, conf.max_body)
    if body then
        mg.response.set_body_chunk(transform(conf, body))
    end
end

return {
    name = "response-transformer",
    version = "1.0.0",
    priority = 800,
    description = "rewrites response headers and the fields of small JSON bodies",
    schema = schema,
    header_filter = header_filter,
    body_filter = body_filter,
}
