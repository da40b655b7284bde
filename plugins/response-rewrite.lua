-- response-rewrite: changes the answer the client gets: its status, its headers (set,
-- added or removed, values being $variable templates) and its body, replaced whole
-- (`body`, `body_base64`) or edited by PCRE2 substitutions (`filters`) on the whole body
-- up to `max_body` bytes. `when_status` limits it to some statuses (only 5xx, say).
local mg = require "moongate"
local types = require "moongate.schema"
local template = require "moongate.template"

local header_name = types.header_name

local header_template = {
    type = "string",
    check = function(v)
        if v:find("[%z\r\n]") then
            return nil, "a header value may not contain a line break or NUL"
        end
        return template.check(v, false)
    end,
}

-- Strict RFC 4648 base64 (padding required), for a body given as binary.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do B64_INDEX[B64:byte(i)] = i - 1 end

local function base64_decode(s)
    s = s:gsub("%s", "")
    if #s % 4 ~= 0 or s:find("=[^=]") or s:find("===") then
        return nil
    end
    local out, byte, char = {}, string.byte, string.char
    for i = 1, #s, 4 do
        local a, b, c, d = byte(s, i, i + 3)
        local va, vb = B64_INDEX[a], B64_INDEX[b]
        local vc, vd = c == 61 and 0 or B64_INDEX[c], d == 61 and 0 or B64_INDEX[d]
        if not (va and vb and vc and vd) or (c == 61 and d ~= 61) then
            return nil
        end
        local n = va * 262144 + vb * 4096 + vc * 64 + vd
        local x, y, z = math.floor(n / 65536), math.floor(n / 256) % 256, n % 256
        out[#out + 1] = c == 61 and char(x) or d == 61 and char(x, y) or char(x, y, z)
    end
    return table.concat(out)
end

local function status_spec_ok(v)
    if v:match("^[1-5]xx$") or (v:match("^[1-5]%d%d$")) then
        return true
    end
    return nil, 'expected a status ("404") or a class ("5xx"), got "' .. v .. '"'
end

local filter = {
    type = "record",
    fields = {
        regex = {
            type = "string", required = true, min = 1,
            check = function(p)
                local _, err = mg.re.find("", p)
                if err then
                    return nil, "not a valid regex: " .. err
                end
                return true
            end,
            description = "a PCRE2 pattern",
        },
        replace = {
            type = "string", default = "",
            description = "the replacement: $0 the match, $1.. or ${name} the captures, $$ a dollar",
        },
        scope = {
            type = "string", enum = { "once", "global" }, default = "once",
            description = "replace the first match only, or every match",
        },
        options = {
            type = "string", default = "", pattern = "^[imsxuaDJoj]*$",
            description = "mg.re flags: i caseless, m multiline, s dot matches newline, x extended, u UTF-8",
        },
    },
}

local function config_ok(c)
    local n = (c.body and 1 or 0) + (#c.filters > 0 and 1 or 0)
    if n > 1 then
        return nil, "body and filters exclude each other: give one", "filters"
    end
    if c.body_base64 and c.body and not base64_decode(c.body) then
        return nil, "body_base64 is true but body is not valid base64", "body"
    end
    if c.body_base64 and not c.body then
        return nil, "body_base64 needs a body", "body_base64"
    end
    return true
end

local schema = {
    type = "record",
    check = config_ok,
    fields = {
        status_code = {
            type = "integer", min = 200, max = 599,
            description = "the status the client gets instead",
        },
        body = {
            type = "string",
            description = "the body the client gets instead (Content-Length follows it)",
        },
        body_base64 = {
            type = "boolean", default = false,
            description = "body is base64 (for a binary body), decoded once at load",
        },
        headers = {
            type = "record",
            fields = {
                set = { type = "map", keys = header_name(true), values = header_template,
                    default = {}, description = "headers to set, replacing the answer's" },
                add = { type = "map", keys = header_name(true), values = header_template,
                    default = {}, description = "headers to add" },
                remove = { type = "array", items = header_name(true), default = {},
                    description = "headers to remove" },
            },
            description = "header changes: set, add and remove",
        },
        filters = {
            type = "array", items = filter, default = {},
            description = "substitutions on the body, in order",
        },
        max_body = {
            type = "integer", min = 1, max = 16777216, default = 1048576,
            description = "largest body, in bytes, the filters are applied to",
        },
        when_status = {
            type = "array", items = { type = "string", check = status_spec_ok },
            description = 'apply only to answers with these statuses ("500") or classes ("5xx")',
        },
    },
}

-- Per config and worker: the decoded body and the status lookup.
local prepared = setmetatable({}, { __mode = "k" })

local function prepare(conf)
    local p = prepared[conf]
    if p then
        return p
    end
    p = { body = conf.body }
    if conf.body and conf.body_base64 then
        p.body = base64_decode(conf.body)
    end
    if conf.when_status then
        p.codes = {}
        for _, s in ipairs(conf.when_status) do
            p.codes[s] = true
        end
    end
    prepared[conf] = p
    return p
end

local function applies(p, status)
    if not p.codes then
        return true
    end
    local s = tostring(status)
    return p.codes[s] or p.codes[s:sub(1, 1) .. "xx"] or false
end

local function no_body(status)
    return mg.request.get_method() == "HEAD" or status == 204 or status == 304
        or status < 200
end

local function header_filter(conf, ctx)
    local resp = mg.response
    local p = prepare(conf)
    local status = resp.get_status()
    if not applies(p, status) then
        return
    end
    if conf.status_code then
        resp.set_status(conf.status_code)
        status = conf.status_code
    end
    local h = conf.headers
    for _, name in ipairs(h.remove) do
        resp.clear_header(name)
    end
    for name, v in pairs(h.set) do
        resp.set_header(name, template.expand(v))
    end
    for name, v in pairs(h.add) do
        resp.add_header(name, template.expand(v))
    end
    if no_body(status) then
        return
    end
    if p.body then
        ctx.rr_body = true
        -- the new body is sent as it is: the upstream's encoding and validator no longer apply
        resp.clear_header("Content-Encoding")
        resp.clear_header("ETag")
    elseif #conf.filters > 0 then
        local enc = (resp.get_header("Content-Encoding") or "identity"):lower()
        if enc ~= "identity" then
            return -- compressed: the patterns cannot see the text
        end
        ctx.rr_held = {}
        resp.clear_header("ETag")
    end
end

local function run_filters(conf, body)
    for i, f in ipairs(conf.filters) do
        local fn = f.scope == "global" and mg.re.gsub or mg.re.sub
        local out, n_or_err = fn(body, f.regex, f.replace, f.options)
        if out == nil then
            mg.log(mg.WARN, "response-rewrite: filters[", i - 1, "] failed: ", n_or_err)
        else
            body = out
        end
    end
    return body
end

local function body_filter(conf, ctx)
    if ctx.rr_body then
        -- the new body goes out with the first piece; the upstream's pieces are dropped
        if not ctx.rr_sent then
            ctx.rr_sent = true
            mg.response.set_body_chunk(prepare(conf).body)
        else
            mg.response.set_body_chunk("")
        end
    elseif ctx.rr_held then
        local body = mg.response.hold_body(ctx.rr_held, conf.max_body)
        if body then
            mg.response.set_body_chunk(run_filters(conf, body))
        end
    end
end

return {
    name = "response-rewrite",
    version = "1.0.0",
    priority = 899,
    description = "rewrites the answer's status, headers and body (whole or by regex)",
    schema = schema,
    header_filter = header_filter,
    body_filter = body_filter,
}
