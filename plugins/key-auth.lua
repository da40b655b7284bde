-- key-auth: lets a request through only with a known consumer's API key, sent in a
-- header (default `apikey`) or a query argument. The consumer found becomes
-- mg.var.consumer (its plugin configs then apply); the key is removed before the
-- request goes upstream unless hide_credentials is false. A missing or unknown key is
-- answered 401 with a JSON error.
local mg = require "moongate"

local schema = {
    type = "record",
    fields = {
        header = {
            type = "string", default = "apikey", pattern = "^[%w!#$%%&'*+.^_`|~-]+$",
            description = "request header carrying the key",
        },
        query = {
            type = "string", default = "apikey",
            description = "query argument carrying the key (checked when the header is absent)",
        },
        hide_credentials = {
            type = "boolean", default = true,
            description = "remove the key from the request sent upstream",
        },
        anonymous = {
            type = "string",
            description = "consumer name given to requests without a key instead of a 401",
        },
    },
}

local credential_schema = {
    type = "record",
    fields = {
        key = {
            type = "string", required = true, min = 8, unique = true,
            description = "the consumer's API key (at least 8 characters, one per consumer)",
        },
    },
}

local function deny(message)
    return 401, { error = message, status = 401, request_id = mg.var.request_id },
        { ["WWW-Authenticate"] = 'Key realm="moongate"' }
end

local function access(conf)
    local key = mg.request.get_header(conf.header)
    local from_query = false
    if key == nil then
        key = mg.request.get_query_arg(conf.query)
        from_query = key ~= nil
    end
    if key == nil or key == true or key == "" then
        if conf.anonymous then
            mg.var.consumer = conf.anonymous
            return
        end
        return deny("missing API key")
    end
    local consumer = mg.consumer.find("key-auth", "key", key)
    if consumer == nil then
        return deny("invalid API key")
    end
    mg.var.consumer = consumer.name
    if conf.hide_credentials then
        if from_query then
            mg.request.set_query_arg(conf.query, nil)
        else
            mg.request.clear_header(conf.header)
        end
    end
end

return {
    name = "key-auth",
    version = "1.0.0",
    priority = 2500,
    description = "API key authentication against the consumers' credentials",
    schema = schema,
    credential_schema = credential_schema,
    access = access,
}
