-- echo: answers every request itself with a configured status, body and headers; the
-- upstream (if the route has one) is never contacted. Useful for stubs, health
-- endpoints and demos.
local mg = require "moongate"

local schema = {
    type = "record",
    fields = {
        status = {
            type = "integer", min = 200, max = 599, default = 200,
            description = "status of the answer",
        },
        body = {
            type = "string", default = "",
            description = "body of the answer; $method, $path, $query, $host, $remote_addr, "
                .. "$request_id and $param_NAME (a route param) are replaced",
        },
        content_type = {
            type = "string", default = "text/plain; charset=utf-8",
            description = "Content-Type of the answer",
        },
        headers = {
            type = "map", values = { type = "string" }, default = {},
            description = "extra response headers",
        },
    },
}

local vars = {
    method = mg.request.get_method,
    path = mg.request.get_path,
    query = mg.request.get_raw_query,
    host = mg.request.get_host,
    remote_addr = mg.request.get_remote_addr,
    request_id = function() return mg.var.request_id end,
}

local function expand(body)
    if not body:find("$", 1, true) then
        return body
    end
    local params
    return (body:gsub("%$([%w_]+)", function(name)
        local f = vars[name]
        if f then
            return f()
        end
        local p = name:match("^param_(.+)$")
        if p then
            params = params or mg.request.get_params()
            return params[p] or ""
        end
    end))
end

local function access(conf)
    local headers = { ["Content-Type"] = conf.content_type }
    for k, v in pairs(conf.headers) do
        headers[k] = v
    end
    return conf.status, expand(conf.body), headers
end

return {
    name = "echo",
    version = "1.0.0",
    priority = 100,
    description = "answers with a configured status, body and headers",
    schema = schema,
    access = access,
}
