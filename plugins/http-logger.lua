-- http-logger: sends one JSON entry per request (method, URI, status, route, consumer,
-- client, upstream, latencies, bytes, TLS...) to an HTTP endpoint, in batches.
--
-- The log phase only appends the entry to a queue kept by each worker for each use of
-- the plugin (this file's state), so clients never wait for the endpoint. A timer
-- (mg.timer) sends a batch when `batch_size` entries are waiting, and sends what is
-- there once the oldest entry has waited `flush_interval` seconds, traffic or not.
-- One batch per queue is in flight at a time; a failed one is retried with a doubling
-- delay, then dropped. Past `max_pending` waiting entries new ones are dropped. Every
-- drop is counted and logged (a full queue at most once every 5 s). When a reload or a
-- graceful stop retires this configuration, its timers run at once (premature) and
-- send everything left, one try per batch.
local mg = require "moongate"

local WARN_EVERY = 5     -- seconds between two "queue full" warnings of one queue
local MAX_RETRY_DELAY = 60

-- Each field an entry may carry, in the order an entry lists them, and how it is read
-- in the log phase. Times are seconds with millisecond precision.
local FIELDS = {
    "time", "start_time", "request_id", "method", "uri", "host", "scheme", "status",
    "route", "consumer", "client_addr", "client_port", "user_agent", "request_length",
    "upstream", "upstream_addr", "upstream_status", "request_time", "upstream_time",
    "upstream_connect_time", "upstream_header_time", "bytes_sent", "tls",
}

local schema = {
    type = "record",
    fields = {
        endpoint = {
            type = "string", required = true, pattern = "^https?://[^/%s]+[^%s]*$",
            description = "URL the batches are sent to (http:// or https://)",
        },
        method = {
            type = "string", default = "POST", enum = { "POST", "PUT" },
            description = "HTTP method of the batch requests",
        },
        headers = {
            type = "map", keys = { type = "string", pattern = "^[%w!#$%%&'*+.^_`|~-]+$" },
            values = { type = "string" },
            description = "headers sent with every batch (Authorization, ...)",
        },
        format = {
            type = "string", default = "json_array", enum = { "json_array", "json_lines" },
            description = "a batch as one JSON array of entries, or one entry per line",
        },
        content_type = {
            type = "string",
            description = "Content-Type of a batch (default: application/json for json_array, application/x-ndjson for json_lines)",
        },
        fields = {
            type = "array", min = 1, items = { type = "string", enum = FIELDS },
            description = "the fields an entry carries, in this order (default: all)",
        },
        batch_size = {
            type = "integer", default = 100, min = 1, max = 10000,
            description = "entries sent in one request; a full batch goes at once",
        },
        flush_interval = {
            type = "number", default = 1, min = 0.01, max = 3600,
            description = "seconds an entry may wait before a partial batch is sent",
        },
        max_pending = {
            type = "integer", default = 10000, min = 1, max = 1000000,
            description = "entries a worker keeps for this use (waiting or being sent); more are dropped and counted",
        },
        timeout = {
            type = "integer", default = 3000, min = 1, max = 60000,
            description = "milliseconds for one batch request, connection included",
        },
        max_retries = {
            type = "integer", default = 3, min = 0, max = 10,
            description = "tries after a failed one (an error or a status other than 2xx) before the batch is dropped",
        },
        retry_delay = {
            type = "number", default = 1, min = 0.01, max = MAX_RETRY_DELAY,
            description = "seconds before the first retry; each next one waits twice as long, at most 60",
        },
        ssl_verify = {
            type = "boolean", default = true,
            description = "https: check the endpoint's certificate against the system's CAs",
        },
    },
    check = function(c)
        if c.max_pending < c.batch_size then
            return nil, "max_pending (" .. c.max_pending .. ") must be at least batch_size ("
                .. c.batch_size .. ")"
        end
        return true
    end,
}

-- ---- one entry ----

local format, floor = string.format, math.floor
local concat, tostring = table.concat, tostring

local function secs(v)
    return v and format("%.3f", v) or nil
end

local function int(v)
    return v and format("%d", v) or nil
end

local function str(v)
    return v and mg.json.encode(v) or nil
end

local function iso(t)
    local s = floor(t)
    return format('"%s.%03dZ"', os.date("!%Y-%m-%dT%H:%M:%S", s), floor((t - s) * 1000))
end

local TLS_KEYS = { "version", "cipher", "sni", "client_verify", "client_subject",
    "client_fingerprint" }

-- name -> function returning the field's JSON text, or nil to leave it out
local GET = {
    time = function() return iso(mg.var.start_time) end,
    start_time = function() return secs(mg.var.start_time) end,
    request_id = function() return str(mg.var.request_id) end,
    method = function() return str(mg.var.method) end,
    uri = function() return str(mg.var.uri) end,
    host = function() return str(mg.var.host) end,
    scheme = function() return str(mg.request.get_scheme()) end,
    status = function() return int(mg.var.status) end,
    route = function() return str(mg.var.route) end,
    consumer = function() return str(mg.var.consumer) end,
    client_addr = function() return str(mg.var.remote_addr) end,
    client_port = function() return int(mg.request.get_remote_port()) end,
    user_agent = function() return str(mg.request.get_header("User-Agent")) end,
    request_length = function()
        return int(tonumber(mg.request.get_header("Content-Length") or nil))
    end,
    upstream = function() return str(mg.var.upstream) end,
    upstream_addr = function() return str(mg.var.upstream_addr) end,
    upstream_status = function() return int(mg.var.upstream_status) end,
    request_time = function() return secs(mg.var.request_time) end,
    upstream_time = function() return secs(mg.var.upstream_time) end,
    upstream_connect_time = function() return secs(mg.var.upstream_connect_time) end,
    upstream_header_time = function() return secs(mg.var.upstream_header_time) end,
    bytes_sent = function() return int(mg.var.bytes_sent) end,
    tls = function()
        if mg.tls.version() == nil then
            return nil
        end
        local t = {}
        for _, k in ipairs(TLS_KEYS) do
            t[k] = mg.tls[k]()
        end
        return mg.json.encode(t, { sort_keys = true })
    end,
}

-- The entry of the request being logged, as one JSON object.
local function entry(q)
    local parts, n = {}, 0
    for i, name in ipairs(q.fields) do
        local v = GET[name]()
        if v ~= nil then
            n = n + 1
            parts[n] = q.keys[i] .. v
        end
    end
    return "{" .. concat(parts, ",", 1, n) .. "}"
end

-- ---- the queues: one per use of the plugin (its conf table) in this worker ----

local QUEUES = {}

local function new_queue(conf)
    local q = {
        conf = conf,
        buf = {}, at = {}, head = 1, tail = 0, -- entries waiting, and when each came
        inflight = 0,        -- entries of the batch being sent
        sending = false,     -- a flush runs (it looks at the queue again when done)
        retired = false,     -- a premature run came: send everything, then sum up
        armed = false,       -- a timer is due at the oldest entry's deadline
        kicked = false,      -- a timer is due now (a full batch)
        sent = 0, batches = 0, failed = 0, full = 0,
        full_unreported = 0, warned = -WARN_EVERY, timer_warned = -WARN_EVERY,
        failing = false,     -- the last batch was dropped: say when one goes through again
        fields = conf.fields or FIELDS, keys = {},
    }
    for i, name in ipairs(q.fields) do
        q.keys[i] = '"' .. name .. '":'
    end
    local h, has_ct = {}, false
    for k, v in pairs(conf.headers or {}) do
        h[k] = v
        has_ct = has_ct or k:lower() == "content-type"
    end
    if not has_ct then
        h["Content-Type"] = conf.content_type or
            (conf.format == "json_lines" and "application/x-ndjson" or "application/json")
    end
    q.headers = h
    QUEUES[conf] = q
    return q
end

local function waiting(q)
    return q.tail - q.head + 1
end

local function totals(q)
    return "sent " .. q.sent .. " in " .. q.batches .. " batches, dropped " .. q.failed
        .. " unsent and " .. q.full .. " over max_pending"
end

-- Logs the entries a full queue dropped since the last warning, at most every 5 s
-- (`force`: now).
local function report_full(q, force)
    local now = mg.now()
    if q.full_unreported > 0 and (force or now - q.warned >= WARN_EVERY) then
        mg.log(mg.WARN, "http-logger: ", q.conf.endpoint, ": max_pending (", q.conf.max_pending,
            ") reached, ", q.full_unreported, " new entries dropped; so far ", totals(q))
        q.full_unreported = 0
        q.warned = now
    end
end

-- ---- sending ----

local flush

-- A timer for the queue: now (`kick`) or when the oldest entry is due. A retired
-- configuration takes timers of delay 0 only: then everything goes now.
local function start(q, delay, kind)
    local ok, err = mg.timer.at(delay, flush, q, kind)
    if not ok and err == "generation retired" then
        ok, err = mg.timer.at(0, flush, q, kind)
    end
    if not ok then
        local now = mg.now()
        if now - q.timer_warned >= WARN_EVERY then
            q.timer_warned = now
            mg.log(mg.ERR, "http-logger: ", q.conf.endpoint, ": no timer (", err,
                "), the entries wait for the next request")
        end
    end
    return ok
end

-- After an entry came or a flush ended: makes sure a timer will send what waits.
local function schedule(q)
    local n = waiting(q)
    if q.sending or n == 0 then
        return
    end
    local conf = q.conf
    if n >= conf.batch_size then
        if not q.kicked then
            q.kicked = start(q, 0, "kick")
        end
    elseif not q.armed then
        local due = q.at[q.head] + conf.flush_interval - mg.now()
        q.armed = start(q, due > 0 and due or 0, "arm")
    end
end

-- Sends one batch, retrying (one try when premature). true when the endpoint took it.
local function send(q, body, k, premature)
    local conf = q.conf
    local tries = premature and 1 or conf.max_retries + 1
    local delay, why = conf.retry_delay, nil
    for i = 1, tries do
        local res, err = mg.http.request({
            method = conf.method, url = conf.endpoint, headers = q.headers, body = body,
            timeout = conf.timeout, ssl_verify = conf.ssl_verify,
        })
        if res and res.status >= 200 and res.status < 300 then
            q.sent, q.batches = q.sent + k, q.batches + 1
            if q.failing then
                q.failing = false
                mg.log(mg.NOTICE, "http-logger: ", conf.endpoint, " takes batches again")
            end
            return true
        end
        why = res and "status " .. res.status or err
        if i < tries then
            mg.log(mg.WARN, "http-logger: ", conf.endpoint, ": try ", i, " of ", tries,
                " failed: ", why, "; again in ", delay, " s")
            mg.sleep(delay * 1000)
            delay = math.min(delay * 2, MAX_RETRY_DELAY)
        end
    end
    q.failed = q.failed + k
    q.failing = true
    mg.log(mg.ERR, "http-logger: ", conf.endpoint, ": a batch of ", k, " entries dropped after ",
        tries, tries == 1 and " try: " or " tries: ", why, "; so far ", totals(q))
    return false
end

-- Takes up to batch_size entries off the queue, as one request body.
local function take(q)
    local conf = q.conf
    local k = math.min(waiting(q), conf.batch_size)
    local first, last = q.head, q.head + k - 1
    local body
    if conf.format == "json_lines" then
        body = concat(q.buf, "\n", first, last) .. "\n"
    else
        body = "[" .. concat(q.buf, ",", first, last) .. "]"
    end
    for i = first, last do
        q.buf[i], q.at[i] = nil, nil
    end
    q.head = last + 1
    if q.head > q.tail then
        q.head, q.tail = 1, 0
    end
    return body, k
end

-- Sends batches while one is full or its oldest entry is due (premature: until the
-- queue is empty).
local function drain(q, premature)
    local conf = q.conf
    while waiting(q) > 0 do
        if not premature and waiting(q) < conf.batch_size
            and mg.now() - q.at[q.head] < conf.flush_interval then
            return
        end
        local body, k = take(q)
        q.inflight = k
        send(q, body, k, premature)
        q.inflight = 0
        report_full(q, premature)
    end
end

-- The timer's function. `kind` says which flag its timer stood for.
flush = function(premature, q, kind)
    if kind == "kick" then
        q.kicked = false
    else
        q.armed = false
    end
    q.retired = q.retired or premature
    if q.sending then
        return -- the flush running sees q.retired when its batch is done
    end
    q.sending = true
    local ok, err = pcall(drain, q, premature)
    q.sending = false
    if not ok then
        mg.log(mg.ERR, "http-logger: ", q.conf.endpoint, ": ", tostring(err))
    end
    if q.retired and waiting(q) == 0 then
        report_full(q, true)
        mg.log(mg.INFO, "http-logger: ", q.conf.endpoint, ": configuration retired, ",
            totals(q))
    end
    schedule(q) -- retired: what is left goes at once (timers of delay 0 only)
end

-- ---- the log phase ----

local function log(conf)
    local q = QUEUES[conf] or new_queue(conf)
    if waiting(q) + q.inflight >= conf.max_pending then
        q.full = q.full + 1
        q.full_unreported = q.full_unreported + 1
        report_full(q, false)
        return
    end
    local t = q.tail + 1
    q.buf[t] = entry(q)
    q.at[t] = mg.now()
    q.tail = t
    schedule(q)
end

return {
    name = "http-logger",
    version = "1.0.0",
    priority = 400,
    description = "sends one JSON entry per request to an HTTP endpoint, in batches",
    schema = schema,
    log = log,
}
