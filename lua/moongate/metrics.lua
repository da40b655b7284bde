-- moongate.metrics: mg.metrics, the counters, gauges and histograms a plugin declares
-- when its file loads and updates in any phase. GET /metrics exports them as
-- moongate_ext_<name>{plugin="<plugin>",<labels>} (docs/metrics-lua.md). Each label
-- set is a series in the worker's metrics region (core/lua/lua_metrics.c), found on its
-- first use and cached here, so an update is a table lookup and a store.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_metrics_marker") then
    ffi.cdef [[
/* The region "lua/moongate/metrics.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_metrics_marker { int unused; };
uint64_t **mg_lua_plugin_cells(void *state);
double mg_lua_plugin_enter(mg_lua_task_t *t);
void mg_lua_plugin_leave(mg_lua_task_t *t, uint64_t *cells, int ok, double mark);
int mg_lua_metric_declare(void *state, const char *plugin, const char *name, int type,
                          const char *help, size_t hlen, const char *labels, size_t llen,
                          int nlabels, const double *bounds, int nbounds, int max_series);
double *mg_lua_metric_cells(mg_lua_task_t *t, int metric, const char *vals, size_t vlen,
                            int *folded);
]]
end

local C = cffi.C
local type, tostring, error, concat, find = type, tostring, error, table.concat, string.find
local COUNTER, GAUGE, HISTOGRAM = 0, 1, 2
local KINDS = { [COUNTER] = "counter", [GAUGE] = "gauge", [HISTOGRAM] = "histogram" }
local SEP = "\31"
local MAX_LABELS, MAX_VALUE, MAX_BOUNDS, MAX_NAME, MAX_HELP = 8, 128, 40, 100, 1024
local DEFAULT_MAX_SERIES, MAX_MAX_SERIES = 100, 10000
local DEFAULT_BOUNDS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
local RESERVED_LABELS = { plugin = true, le = true, quantile = true }
-- a family's sample names must not be another's: no suffix the formats give samples
local RESERVED_SUFFIXES = { "_total", "_bucket", "_count", "_sum", "_created", "_info" }

local folded = ffi.new("int[1]")

local M = {}
local FAMILIES = {} -- exported family name -> { shape =, plugin =, kind = } (one shape each)
local MINE = {}     -- plugin .. SEP .. name -> metric object

local function valid_name(s)
    return type(s) == "string" and #s > 0 and #s <= MAX_NAME and
        find(s, "^[a-zA-Z_][a-zA-Z0-9_]*$") ~= nil and s:sub(1, 2) ~= "__"
end

-- ---- updates ----

-- The cells of the series for `labels` (a table of values, or for one label the value
-- itself): cached, else asked of the C side. Folded or nowhere-to-count label sets are
-- not cached, so each of their updates is counted as a fold and the cache stays bounded.
local function miss(self, key, vals, ok)
    local p = C.mg_lua_metric_cells(core.cur.task, self.id, ok and vals or nil,
        ok and #vals or 0, folded)
    if p == nil then
        return self.scratch
    end
    if folded[0] == 0 then
        self.cache[key] = p
    end
    return p
end

local function bad_labels(self, labels, depth)
    error(self.fname .. ": expected " .. self.nlabels .. " label value(s) (" ..
        concat(self.labels, ", ") .. "), got " ..
        (type(labels) == "table" and #labels .. " in a table" or type(labels)), depth + 1)
end

local parts = {}

local function cells(self, labels, depth)
    local n = self.nlabels
    local key
    if n == 0 then
        if labels ~= nil and (type(labels) ~= "table" or #labels > 0) then
            bad_labels(self, labels, depth + 1)
        end
        key = ""
    elseif n == 1 then
        local v = labels
        if type(v) == "table" then
            if #v ~= 1 then
                bad_labels(self, labels, depth + 1)
            end
            v = v[1]
        end
        local tv = type(v)
        if tv == "number" then
            v = tostring(v)
        elseif tv ~= "string" then
            bad_labels(self, labels, depth + 1)
        end
        key = v
    else
        if type(labels) ~= "table" or #labels ~= n then
            bad_labels(self, labels, depth + 1)
        end
        for i = 1, n do
            local v = labels[i]
            local tv = type(v)
            if tv == "number" then
                v = tostring(v)
            elseif tv ~= "string" then
                bad_labels(self, labels, depth + 1)
            end
            parts[i] = v
        end
        key = concat(parts, SEP, 1, n)
    end
    local c = self.cache[key]
    if c ~= nil then
        return c
    end
    -- a value the key format cannot hold, or too long to be a name: "_other"
    local ok = true
    if n == 1 then
        ok = #key <= MAX_VALUE and not find(key, SEP, 1, true)
    elseif n > 1 then
        for i = 1, n do
            if #parts[i] > MAX_VALUE or find(parts[i], SEP, 1, true) then
                ok = false
            end
        end
    end
    return miss(self, key, key, ok)
end

local function number(self, what, v, depth)
    if type(v) ~= "number" or v ~= v then
        error(self.fname .. ": " .. what .. " must be a number, got " .. tostring(v), depth + 1)
    end
    return v
end

local Counter, Gauge, Histogram = {}, {}, {}
Counter.__index, Gauge.__index, Histogram.__index = Counter, Gauge, Histogram

-- counter:inc([n[, labels]]): adds n (default 1, >= 0).
function Counter:inc(v, labels)
    if v == nil then
        v = 1
    elseif type(v) ~= "number" or not (v >= 0) or v == math.huge then
        error(self.fname .. ": a counter goes up by a finite number >= 0, got " .. tostring(v),
            2)
    end
    if self.id < 0 then
        return
    end
    local c = cells(self, labels, 2)
    c[0] = c[0] + v
end

-- gauge:set(v[, labels]), gauge:inc([n[, labels]]), gauge:dec([n[, labels]]).
function Gauge:set(v, labels)
    number(self, "the value", v, 2)
    if self.id >= 0 then
        cells(self, labels, 2)[0] = v
    end
end

function Gauge:inc(v, labels)
    v = v == nil and 1 or number(self, "the step", v, 2)
    if self.id >= 0 then
        local c = cells(self, labels, 2)
        c[0] = c[0] + v
    end
end

function Gauge:dec(v, labels)
    v = v == nil and 1 or number(self, "the step", v, 2)
    if self.id >= 0 then
        local c = cells(self, labels, 2)
        c[0] = c[0] - v
    end
end

-- histogram:observe(v[, labels]): counts v in the first bucket whose bound is >= v.
function Histogram:observe(v, labels)
    number(self, "the value", v, 2)
    if self.id < 0 then
        return
    end
    local c = cells(self, labels, 2)
    local b, nb = self.bounds, self.nbounds
    local i = 1
    while i <= nb and v > b[i] do
        i = i + 1
    end
    c[i - 1] = c[i - 1] + 1
    c[nb + 1] = c[nb + 1] + v
end

-- ---- declarations ----

local function check_labels(fname, labels)
    if labels == nil then
        return {}
    end
    if type(labels) ~= "table" then
        error(fname .. ": labels must be a list of names, got " .. type(labels), 4)
    end
    if #labels > MAX_LABELS then
        error(fname .. ": at most " .. MAX_LABELS .. " labels, got " .. #labels, 4)
    end
    local seen, out = {}, {}
    for i, l in ipairs(labels) do
        if not valid_name(l) then
            error(fname .. ": invalid label name " .. string.format("%q", tostring(l)) ..
                ": expected letters, digits and _, not starting with a digit or __", 4)
        end
        if RESERVED_LABELS[l] then
            error(fname .. ": label name \"" .. l .. "\" is reserved", 4)
        end
        if seen[l] then
            error(fname .. ": label \"" .. l .. "\" given twice", 4)
        end
        seen[l], out[i] = true, l
    end
    return out
end

local function check_bounds(fname, bounds)
    if bounds == nil then
        return DEFAULT_BOUNDS
    end
    if type(bounds) ~= "table" or #bounds == 0 or #bounds > MAX_BOUNDS then
        error(fname .. ": buckets must be a list of 1 to " .. MAX_BOUNDS ..
            " increasing upper bounds", 4)
    end
    local out = {}
    for i, b in ipairs(bounds) do
        if type(b) ~= "number" or b ~= b or b == math.huge or b == -math.huge or
            (i > 1 and b <= out[i - 1]) then
            error(fname .. ": buckets must be finite numbers in increasing order, got " ..
                tostring(b) .. " at " .. i, 4)
        end
        out[i] = b
    end
    return out
end

local function check_name(fname, kind, name)
    if not valid_name(name) then
        error(fname .. ": invalid metric name " .. string.format("%q", tostring(name)) ..
            ": expected letters, digits and _ (at most " .. MAX_NAME ..
            "), not starting with a digit or __", 4)
    end
    local base = name
    if kind == COUNTER then
        base = name:gsub("_total$", "")
    end
    for _, sfx in ipairs(RESERVED_SUFFIXES) do
        if base:sub(-#sfx) == sfx then
            error(fname .. ": metric name \"" .. name .. "\" ends with \"" .. sfx .. "\"" ..
                (kind == COUNTER and " before _total" or "") ..
                ", a suffix the exposition formats give samples", 4)
        end
    end
    return base, kind == COUNTER and base .. "_total" or name
end

local function declare(fname, kind, name, help, labels, bounds, opts)
    local plugin = core.loading
    if plugin == nil then
        error(fname .. ": declare metrics when the plugin loads (at the top level of its file)",
            3)
    end
    local base, full = check_name(fname, kind, name)
    if type(help) ~= "string" or #help > MAX_HELP then
        error(fname .. ": help must be a string of at most " .. MAX_HELP .. " bytes", 3)
    end
    labels = check_labels(fname, labels)
    bounds = kind == HISTOGRAM and check_bounds(fname, bounds) or {}
    local max = DEFAULT_MAX_SERIES
    if opts ~= nil then
        if type(opts) ~= "table" then
            error(fname .. ": options must be a table, got " .. type(opts), 3)
        end
        for k in pairs(opts) do
            if k ~= "max_series" then
                error(fname .. ": unknown option \"" .. tostring(k) .. "\" (max_series)", 3)
            end
        end
        max = opts.max_series or max
        if type(max) ~= "number" or max % 1 ~= 0 or max < 1 or max > MAX_MAX_SERIES then
            error(fname .. ": max_series must be an integer from 1 to " .. MAX_MAX_SERIES, 3)
        end
    end
    -- one family name, one shape: a scrape cannot show two
    local shape = KINDS[kind] .. " {" .. concat(labels, ", ") .. "}" ..
        (kind == HISTOGRAM and " [" .. concat(bounds, ", ") .. "]" or "")
    local fam = FAMILIES[base]
    if fam ~= nil and fam.shape ~= shape then
        error(fname .. ": \"" .. name .. "\" is already declared by plugin \"" .. fam.plugin ..
            "\" as " .. fam.shape .. "; a metric name has one type, label set and buckets", 3)
    end
    local mine = MINE[plugin .. SEP .. full]
    if mine ~= nil then
        return mine -- declared again alike (a module required twice)
    end
    FAMILIES[base] = fam or { shape = shape, plugin = plugin }
    local lnames = concat(labels, SEP)
    local cb = ffi.new("double[?]", #bounds > 0 and #bounds or 1, bounds)
    local id = C.mg_lua_metric_declare(core.state, plugin, full, kind, help, #help, lnames,
        #lnames, #labels, cb, #bounds, max)
    if id == -2 then
        error(fname .. ": cannot declare \"" .. name .. "\": too many metrics or out of memory", 3)
    end
    local ncells = kind == HISTOGRAM and #bounds + 2 or 1
    local mt = kind == COUNTER and Counter or kind == GAUGE and Gauge or Histogram
    local m = setmetatable({
        id = id, -- < 0: not counting (metrics off): updates do nothing
        fname = "mg.metrics " .. KINDS[kind] .. " \"" .. full .. "\"",
        nlabels = #labels, labels = labels, bounds = bounds, nbounds = #bounds,
        cache = {}, scratch = ffi.new("double[?]", ncells),
    }, mt)
    MINE[plugin .. SEP .. full] = m
    return m
end

-- mg.metrics.counter(name, help[, labels[, opts]]): a counter ("_total" is appended to
-- a name without it). opts.max_series bounds its label sets per worker (default 100).
function M.counter(name, help, labels, opts)
    local m = declare("mg.metrics.counter", COUNTER, name, help, labels, nil, opts)
    return m -- not a tail call: the errors name the plugin's line
end

-- mg.metrics.gauge(name, help[, labels[, opts]]): a value that goes up and down;
-- exported summed over the live workers.
function M.gauge(name, help, labels, opts)
    local m = declare("mg.metrics.gauge", GAUGE, name, help, labels, nil, opts)
    return m -- not a tail call: the errors name the plugin's line
end

-- mg.metrics.histogram(name, help[, labels[, buckets[, opts]]]): observations counted
-- per bucket (upper bounds, increasing; default 5 ms .. 10 s).
function M.histogram(name, help, labels, buckets, opts)
    local m = declare("mg.metrics.histogram", HISTOGRAM, name, help, labels, buckets, opts)
    return m -- not a tail call: the errors name the plugin's line
end

return M
