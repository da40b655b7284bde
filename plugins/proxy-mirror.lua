-- proxy-mirror: sends a copy of each request (or a sample of them) to another server,
-- in the background: the copy runs on a timer next to the real request, its answer is
-- dropped, and it never delays or fails the client's request. A worker keeps at most
-- `max_inflight` copies in flight; past that, and for bodies over `max_body`, the copy
-- is skipped and counted (a `warn` line at most every 10 s says how many).
local mg = require "moongate"

local HOP = {
    host = true, connection = true, ["keep-alive"] = true, te = true, trailer = true,
    ["transfer-encoding"] = true, upgrade = true, ["content-length"] = true, expect = true,
    ["proxy-connection"] = true, ["proxy-authorization"] = true,
}

local schema = {
    type = "record",
    fields = {
        host = {
            type = "string", required = true,
            check = function(v)
                local scheme, authority, rest = v:match("^(%a+)://([^/?#]+)(.*)$")
                if not scheme or (scheme ~= "http" and scheme ~= "https") or rest ~= "" then
                    return nil, 'expected "http://HOST[:PORT]" or "https://HOST[:PORT]" (no path: see path), got "'
                        .. v .. '"'
                end
                return true
            end,
            description = "where the copies go: http(s)://host[:port]",
        },
        path = {
            type = "string", pattern = "^/[^%s?#]*$",
            description = "the copy's path instead of the request's (the query is kept)",
        },
        path_mode = {
            type = "string", enum = { "replace", "prefix" }, default = "replace",
            description = "replace: path is the copy's path; prefix: path + the request's path",
        },
        sample_ratio = {
            type = "number", min = 0, max = 1, default = 1,
            description = "the share of requests mirrored (0 to 1)",
        },
        timeout = {
            type = "integer", min = 1, max = 60000, default = 2000,
            description = "milliseconds a copy may take (connect, send and answer)",
        },
        max_body = {
            type = "integer", min = 0, max = 16777216, default = 1048576,
            description = "largest request body mirrored, in bytes; a larger one skips the copy",
        },
        preserve_host = {
            type = "boolean", default = false,
            description = "send the client's Host with the copy instead of the mirror's host (as nginx's proxy_set_header Host $host)",
        },
        max_inflight = {
            type = "integer", min = 1, max = 10000, default = 64,
            description = "copies in flight per worker; past it, new ones are skipped",
        },
    },
}

local copies = mg.metrics.counter("proxy_mirror_copies_total",
    "Request copies by result: sent (answered), failed (no answer), skipped (not sent).",
    { "result" })

-- Per worker, across configs: copies in flight, and those skipped since the last warning.
local inflight, skipped, last_warn = 0, 0, 0

local function skip(why)
    copies:inc(1, { "skipped" })
    skipped = skipped + 1
    local now = mg.now()
    if now - last_warn >= 10 then
        mg.log(mg.WARN, "proxy-mirror: ", skipped, " cop", skipped == 1 and "y" or "ies",
            " skipped (last: ", why, ")")
        skipped, last_warn = 0, now
    end
end

local function send(premature, opts)
    if not premature then
        -- the slot is given back whatever happens to the copy
        local ok, res, err = pcall(mg.http.request, opts)
        if not ok or not res then
            copies:inc(1, { "failed" })
            mg.log(mg.INFO, "proxy-mirror: copy to ", opts.url, " failed: ", ok and err or res)
        else
            copies:inc(1, { "sent" })
        end
    end
    inflight = inflight - 1
end

-- The request's body, "" without one, or nil when it is over the cap (not read then,
-- when Content-Length says so).
local function body_of(conf)
    local req = mg.request
    local cl = req.get_header("Content-Length")
    local te = req.get_header("Transfer-Encoding")
    if cl == nil and te == nil then
        return ""
    end
    if cl and tonumber(cl) and tonumber(cl) > conf.max_body then
        return nil
    end
    if tonumber(cl) == 0 then
        return ""
    end
    return (req.get_body(conf.max_body))
end

local function access(conf)
    if conf.sample_ratio < 1 and math.random() >= conf.sample_ratio then
        return
    end
    if inflight >= conf.max_inflight then
        return skip("max_inflight reached")
    end
    local req = mg.request
    local body = body_of(conf)
    if body == nil then
        return skip("body over max_body")
    end
    local path = req.get_path()
    if conf.path then
        path = conf.path_mode == "prefix" and conf.path:gsub("/$", "") .. path or conf.path
    end
    local q = req.get_raw_query()
    local headers = {}
    for k, v in pairs(req.get_headers()) do
        if not HOP[k] then
            headers[k] = v
        end
    end
    headers["X-Forwarded-Host"] = req.get_host()
    if conf.preserve_host then
        headers.Host = req.get_header("Host")
    end
    local opts = {
        method = req.get_method(), url = conf.host .. path .. (q ~= "" and "?" .. q or ""),
        headers = headers, body = body ~= "" and body or nil, timeout = conf.timeout,
        max_body = 65536,
    }
    inflight = inflight + 1
    local ok, err = mg.timer.at(0, send, opts)
    if not ok then
        inflight = inflight - 1
        return skip(err)
    end
end

return {
    name = "proxy-mirror",
    version = "1.0.0",
    priority = 1010,
    description = "mirrors requests to another server in the background",
    schema = schema,
    access = access,
}
