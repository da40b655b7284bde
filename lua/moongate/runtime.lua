-- moongate.runtime: the plugin loader and the phase runner of one Lua state.
--
-- init() compiles the plugins the master read, checks every plugin config against its
-- plugin's schema and orders each route's plugins by priority; run() is the body of a
-- request's coroutine (rewrite, access, balancer; a timer job); filter() runs the
-- header_filter, body_filter and log phases; finish() forgets a request.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"
local schema = require "moongate.schema"

local C = cffi.C
local REWRITE, ACCESS, BALANCER = core.REWRITE, core.ACCESS, core.BALANCER
local HEADER_FILTER, BODY_FILTER, LOG, TIMER = core.HEADER_FILTER, core.BODY_FILTER, core.LOG,
    core.TIMER
local NAMES = core.NAMES
local xpcall, traceback, tostring, type, pairs, ipairs = xpcall, debug.traceback, tostring,
    type, pairs, ipairs
local sort, concat = table.sort, table.concat

local M = {}

local mg             -- the API table, loaded in init (it needs the FFI declarations)
local response
local PLUGINS = {}   -- name -> plugin table (with _idx, _file)
local ROUTES = {}    -- route index (0-based) -> { [phase] = { entry, ... } }
local ROUTE_CONF = {} -- route index -> { name -> entry } (consumer merges start here)
local CONSUMERS = {} -- name -> { name, credentials = { plugin -> value }, plugins = {...} }
local CRED_INDEX = {} -- plugin -> field -> value -> consumer (built on demand)
local TASKS = {}     -- task id -> request state
local MERGED = {}    -- "route/consumer" -> { [phase] = entries }
local MASK = {}      -- route index -> the phases (bits) its plugins run in
local WATCH          -- int32_t* where the running plugin and phase are published
local TASK_NOW       -- mg_lua_task_t** holding the task entered now
local PCELLS         -- uint64_t** per plugin index * 8 + phase (metrics), nil: not counting

-- The request's ctx table, made when a plugin or mg.ctx first asks for it.
local function state_ctx(rs)
    local ctx = rs.ctx
    if ctx == nil then
        ctx = {}
        rs.ctx = ctx
    end
    return ctx
end
M.ctx = state_ctx

local PHASES = { "rewrite", "access", "balancer", "header_filter", "body_filter", "log" }
local PLUGIN_KEYS = {
    name = true, version = true, priority = true, schema = true, description = true,
    credential_schema = true, init_worker = true, native = true,
}
for _, p in ipairs(PHASES) do
    PLUGIN_KEYS[p] = true
end
local PLUGIN_KEY_LIST = {}
for k in pairs(PLUGIN_KEYS) do
    PLUGIN_KEY_LIST[#PLUGIN_KEY_LIST + 1] = k
end
table.sort(PLUGIN_KEY_LIST)

-- ---- loading ----

local function errf(spec, where, msg)
    if type(where) == "table" then
        return string.format("%s:%d:%d: %s: %s", spec.file, where.line or 0, where.col or 0,
            where.path or "?", msg)
    end
    return string.format("%s: %s", where, msg)
end

-- ---- shared modules (lua_path) ----

-- Compiles every module the master read under lua_path (a syntax error refuses the
-- load) and puts a searcher for them in package.loaders, after package.preload and
-- before the files of package.path: require "a.b" then finds them, and only them,
-- among the sources that were validated. A module's top level runs when it is first
-- required: at a plugin's top level, under the load's time limit, or in a phase. A
-- name not found gets Lua's usual message, which lists the lua_path places first.
local function install_modules(spec)
    local chunks = {}
    for _, m in ipairs(spec.modules or {}) do
        local chunk, err = loadstring(m.src, "@" .. m.file)
        if not chunk then
            return nil, err
        end
        chunks[m.name] = chunk
    end
    local templates = spec.lua_path or {}
    if #templates == 0 then
        return true
    end
    local function searcher(name)
        local chunk = chunks[name]
        if chunk then
            return chunk
        end
        local file = name:gsub("%.", "/")
        local tried = {}
        for i, t in ipairs(templates) do
            tried[i] = "\n\tno file '" .. t:gsub("%?", function() return file end) .. "'"
        end
        return concat(tried)
    end
    table.insert(package.loaders, 2, searcher)
    return true
end

local function load_plugin(src, idx)
    local chunk, err = loadstring(src.src, "@" .. src.file)
    if not chunk then
        return nil, err
    end
    core.loading = src.name -- mg.metrics declarations belong to it
    local ok, p = pcall(chunk)
    core.loading = nil
    if not ok then
        return nil, tostring(p)
    end
    local where = src.file
    if type(p) ~= "table" then
        return nil, where .. ": a plugin file must return a table, it returned " .. type(p)
    end
    for k in pairs(p) do
        if type(k) ~= "string" or (not PLUGIN_KEYS[k] and k:sub(1, 1) ~= "_") then
            return nil, where .. ": unknown key \"" .. tostring(k) .. "\" in the plugin table"
                .. (type(k) == "string" and schema.suggest(k, PLUGIN_KEY_LIST) or "")
        end
    end
    if p.name ~= src.name then
        return nil, where .. ": name \"" .. tostring(p.name) .. "\" must be the file's name \""
            .. src.name .. "\""
    end
    if p.version ~= nil and type(p.version) ~= "string" then
        return nil, where .. ": version must be a string"
    end
    if type(p.priority) ~= "number" or p.priority % 1 ~= 0 then
        return nil, where .. ": priority must be an integer"
    end
    if type(p.schema) ~= "table" then
        return nil, where .. ": schema must be a table (a record of the config's fields)"
    end
    local okd, derr = schema.validate_def(p.schema, "schema")
    if not okd then
        return nil, where .. ": " .. derr
    end
    if p.credential_schema ~= nil then
        okd, derr = schema.validate_def(p.credential_schema, "credential_schema")
        if not okd then
            return nil, where .. ": " .. derr
        end
    end
    for _, ph in ipairs(PHASES) do
        if p[ph] ~= nil and type(p[ph]) ~= "function" then
            return nil, where .. ": " .. ph .. " must be a function"
        end
    end
    if p.init_worker ~= nil and type(p.init_worker) ~= "function" then
        return nil, where .. ": init_worker must be a function"
    end
    if p.native ~= nil and type(p.native) ~= "function" then
        return nil, where .. ": native must be a function"
    end
    -- phases whose function takes the ctx argument (the others are called without,
    -- so that a request whose plugins never use ctx does not make one)
    p._ctx = {}
    p._phases = 0
    for ph = 0, 5 do
        local f = p[PHASES[ph + 1]]
        if f then
            local info = debug.getinfo(f, "u")
            p._ctx[ph] = info.nparams >= 2 or info.isvararg
            p._phases = bit.bor(p._phases, bit.lshift(1, ph))
        end
    end
    p.version = p.version or ""
    p._idx = idx
    p._file = src.file
    return p
end

-- A plugin map node without its `_priority` key; returns node, priority.
local function take_priority(spec, node, path)
    if node == nil or node.kind ~= "map" then
        return node
    end
    local keys, values, pos, prio = {}, {}, {}, nil
    local kp = node.key_pos or {}
    for i, k in ipairs(node.keys) do
        if k == "_priority" then
            local v = node.values[i]
            prio = v.kind == "scalar" and tonumber(v.value)
            if not prio or prio % 1 ~= 0 then
                return nil, nil, errf(spec, { line = v.line, col = v.col,
                    path = path .. "._priority" }, "expected an integer")
            end
        else
            keys[#keys + 1], values[#values + 1] = k, node.values[i]
            pos[#pos + 1], pos[#pos + 2] = kp[2 * i - 1], kp[2 * i]
        end
    end
    return { kind = "map", keys = keys, values = values, key_pos = pos, line = node.line,
        col = node.col },
        prio
end

-- Checks one `name: config` use; returns an entry { name, plugin, conf, priority }.
local function check_use(spec, use)
    local p = PLUGINS[use.name]
    if p == nil then
        return nil, errf(spec, { line = use.node.line, col = use.node.col, path = use.path },
            "plugin \"" .. use.name .. "\" is not loaded")
    end
    local node, prio, err = take_priority(spec, use.node, use.path)
    if err then
        return nil, err
    end
    local conf, cerr = schema.check(p.schema, node, use.path)
    if conf == nil then
        return nil, errf(spec, cerr, cerr.msg)
    end
    return { name = use.name, plugin = p, conf = conf, priority = prio or p.priority }
end

-- Checks each `name: config` use of a list into entries (name -> entry); returns
-- entries, or nil and the error.
local function add_uses(spec, uses, entries)
    for _, use in ipairs(uses) do
        local e, err = check_use(spec, use)
        if not e then
            return nil, err
        end
        entries[use.name] = e
    end
    return entries
end

local function by_priority(a, b)
    if a.priority ~= b.priority then
        return a.priority > b.priority
    end
    return a.name < b.name
end

-- Phase lists from a name -> entry map.
local function phase_lists(entries)
    local list = {}
    for _, e in pairs(entries) do
        list[#list + 1] = e
    end
    sort(list, by_priority)
    local out, mask = {}, 0
    for ph = 0, 5 do
        local l = {}
        for _, e in ipairs(list) do
            if e.plugin[NAMES[ph]] then
                l[#l + 1] = e
            end
        end
        out[ph] = l
        if #l > 0 then
            mask = mask + 2 ^ ph
        end
    end
    return out, mask
end

-- Fields a credential schema marks `unique` may not repeat across consumers.
local function check_unique(spec, seen, p, use, v)
    local def = p and p.credential_schema
    if not def or not def.fields then
        return true
    end
    for field, fd in pairs(def.fields) do
        if fd.unique and v[field] ~= nil then
            local k = use.name .. "\0" .. field .. "\0" .. tostring(v[field])
            if seen[k] then
                return nil, errf(spec, { line = use.node.line, col = use.node.col,
                    path = use.path .. "." .. field }, "the same " .. field .. " as consumer \""
                    .. seen[k] .. "\"; it must be unique")
            end
            seen[k] = use.consumer
        end
    end
    return true
end

local function load_consumers(spec)
    local extra_mask, seen = 0, {}
    for _, c in ipairs(spec.consumers) do
        local cons = { name = c.name, credentials = {}, plugins = {} }
        for _, use in ipairs(c.credentials) do
            local p = PLUGINS[use.name]
            local v, err
            if p and p.credential_schema then
                v, err = schema.check(p.credential_schema, use.node, use.path)
                if v == nil then
                    return nil, errf(spec, err, err.msg)
                end
            else
                v = schema.to_value(use.node) or {}
            end
            use.consumer = c.name
            local ok, uerr = check_unique(spec, seen, p, use, v)
            if not ok then
                return nil, uerr
            end
            cons.credentials[use.name] = v
        end
        for _, use in ipairs(c.plugins) do
            local e, err = check_use(spec, use)
            if not e then
                return nil, err
            end
            cons.plugins[use.name] = e
            for ph = 1, 5 do
                if e.plugin[NAMES[ph]] then
                    extra_mask = bit.bor(extra_mask, bit.lshift(1, ph))
                end
            end
        end
        CONSUMERS[c.name] = cons
    end
    return extra_mask
end

-- plugin -> its configs in this generation, each table once (init_worker's argument)
local INIT_CONFS, INIT_SEEN = {}, {}

local function note_confs(entries)
    for _, e in pairs(entries or {}) do
        local p = e.plugin
        if p.init_worker and not INIT_SEEN[e.conf] then
            INIT_SEEN[e.conf] = true
            local l = INIT_CONFS[p] or {}
            INIT_CONFS[p] = l
            l[#l + 1] = e.conf
        end
    end
end

-- ---- natives (moongate.native) ----

-- conf -> what its plugin's native(conf) gave ({ rewrite = h } / { access = h }), or
-- false; kept for the state's life, which keeps the handles alive
local NATIVE_OF = {}

local function native_of(e)
    local nat = NATIVE_OF[e.conf]
    if nat == nil then
        local ok, r = pcall(e.plugin.native, e.conf)
        nat = ok and type(r) == "table" and r or false
        NATIVE_OF[e.conf] = nat
    end
    return nat
end

-- Hands C the natives of route i (0-based) when every plugin of it has one for each
-- phase it runs in, rewrite and access only: such a route runs no Lua while the
-- natives decide. Not when a consumer has plugins: one named by an auth plugin brings
-- its own phases.
local function install_natives(state, i, entries, lists, extra_mask)
    if extra_mask ~= 0 or next(entries) == nil then
        return
    end
    for _, e in pairs(entries) do
        local p = e.plugin
        if p.native == nil then
            return
        end
        local nat = native_of(e)
        if not nat then
            return
        end
        for ph = 0, 5 do
            if p[NAMES[ph]] and (ph > ACCESS or nat[NAMES[ph]] == nil) then
                return
            end
        end
    end
    local native = require "moongate.native"
    for ph = REWRITE, ACCESS do
        local l = lists[ph]
        if #l > 0 then
            local hs, cells = {}, {}
            for k, e in ipairs(l) do
                hs[k], cells[k] = NATIVE_OF[e.conf][NAMES[ph]], e.plugin._idx * 8 + ph
            end
            if not native.route(state, i, ph, hs, cells) then
                error("out of memory")
            end
        end
    end
end

-- init(spec, state): returns (phase bits per route, plugins) or (nil, message).
function M.init(spec, state)
    schema.set_upstreams(spec.upstreams)
    schema.set_shared_dicts(spec.shared_dicts)
    core.rl_zones, core.has_redis = spec.rate_limit_zones or {}, spec.redis
    mg = require "moongate"
    response = mg.response
    _G.mg = mg
    WATCH = C.mg_lua_watch_cell(nil)
    TASK_NOW = C.mg_lua_task_cell()
    core.state = state
    require "moongate.metrics" -- declares the C functions counting plugin calls
    local pc = C.mg_lua_plugin_cells(state)
    PCELLS = pc ~= nil and pc or nil
    local mok, merr = install_modules(spec)
    if not mok then
        return nil, merr
    end
    for i, src in ipairs(spec.sources) do
        local p, err = load_plugin(src, i - 1)
        if not p then
            return nil, err
        end
        PLUGINS[src.name] = p
    end
    local globals, gerr = add_uses(spec, spec.global_plugins, {})
    if not globals then
        return nil, gerr
    end
    local extra_mask, err = load_consumers(spec)
    if not extra_mask then
        return nil, err
    end
    local masks = {}
    for i, route in ipairs(spec.routes) do
        local entries = {}
        for name, e in pairs(globals) do
            entries[name] = e
        end
        local _, uerr = add_uses(spec, route.plugins, entries)
        if uerr then
            return nil, uerr
        end
        local lists, mask = phase_lists(entries)
        if mask ~= 0 then
            mask = bit.bor(mask, extra_mask)
        end
        ROUTES[i - 1] = lists
        ROUTE_CONF[i - 1] = entries
        install_natives(state, i - 1, entries, lists, extra_mask)
        MASK[i - 1] = mask
        masks[i] = mask
    end
    local plugins = {}
    for i, src in ipairs(spec.sources) do
        local p = PLUGINS[src.name]
        plugins[i] = { name = p.name, version = p.version, phases = p._phases }
    end
    note_confs(globals)
    for i = 0, #spec.routes - 1 do
        note_confs(ROUTE_CONF[i])
    end
    for _, c in pairs(CONSUMERS) do
        note_confs(c.plugins)
    end
    return masks, plugins
end

-- ---- init_worker ----

-- The jobs C starts, one timer each, when this state's generation begins to serve in a
-- worker (at its start and after each reload): { name =, job = } per plugin with an
-- init_worker function, in load order. A job calls init_worker(confs) -- confs: the
-- plugin's configs in this generation, each once (the tables its phases get) -- in
-- the timer phase, so it may wait and make timers, which are then the plugin's. An
-- error is logged with the plugin's name and goes no further. A generation retired
-- before the job ran (premature) has no use for it.
function M.init_worker_jobs()
    local jobs = {}
    for _, p in pairs(PLUGINS) do
        if p.init_worker then
            jobs[#jobs + 1] = { idx = p._idx, name = p.name, job = function(premature)
                if premature then
                    return
                end
                WATCH[0] = p._idx * 8 + TIMER
                local ok, err = xpcall(p.init_worker, traceback, INIT_CONFS[p] or {})
                if not ok then
                    mg.log(mg.ERR, "plugin \"", p.name, "\" failed in init_worker: ",
                        tostring(err))
                end
            end }
        end
    end
    sort(jobs, function(a, b) return a.idx < b.idx end)
    return jobs
end

-- ---- consumers ----

local function find_consumer(plugin, field, value)
    local byf = CRED_INDEX[plugin]
    if byf == nil then
        byf = {}
        CRED_INDEX[plugin] = byf
    end
    local byv = byf[field]
    if byv == nil then
        byv = {}
        for _, c in pairs(CONSUMERS) do
            local cred = c.credentials[plugin]
            if cred ~= nil and cred[field] ~= nil then
                byv[cred[field]] = c
            end
        end
        byf[field] = byv
    end
    return byv[value]
end

core.consumers, core.consumer_index = CONSUMERS, find_consumer

-- The phase list of a route once a consumer is known: its plugin configs replace the
-- route's, and its own plugins join.
local function chain_for(rs, phase)
    local c = rs.consumer
    if c == nil or next(c.plugins) == nil then
        local lists = ROUTES[rs.route]
        return lists and lists[phase] or {}
    end
    local key = rs.route .. "/" .. c.name
    local m = MERGED[key]
    if m == nil then
        local entries = {}
        for name, e in pairs(ROUTE_CONF[rs.route] or {}) do
            entries[name] = e
        end
        for name, e in pairs(c.plugins) do
            entries[name] = e
        end
        m = phase_lists(entries)
        MERGED[key] = m
    end
    return m[phase]
end

-- ---- running plugins ----

local EXIT

local function on_error(err)
    if err == EXIT then
        return err
    end
    return traceback(tostring(err), 2)
end

local function log_failure(rs, e, phase, err)
    local msg = tostring(err)
    if msg:find("not enough memory", 1, true) then
        msg = msg .. " (Lua memory limit reached: the state holds "
            .. math.floor(tonumber(C.mg_lua_memory_used(rs.task)) / 1048576) .. " MiB)"
    end
    mg.log(mg.ERR, "plugin \"", e.name, "\" failed in ", NAMES[phase], ": ", msg)
end

-- Runs one phase's plugins in order. Returns 0 to go on, or status, body (answer), or
-- -1 (a plugin failed; logged).
local run_consumer_rewrite

local function run_chain(rs, phase, fixed)
    local cur = core.cur
    local list = fixed or chain_for(rs, phase)
    if #list > 0 then
        C.mg_lua_phase_begin(rs.task, phase) -- the time from here is this phase's
    end
    local i = 1
    while i <= #list do
        local e = list[i]
        cur.task, cur.rs, cur.phase = rs.task, rs, phase
        local where = e.plugin._idx * 8 + phase
        WATCH[0] = where
        local f = e.plugin[NAMES[phase]]
        local pc = PCELLS and PCELLS[where]
        local mark = pc ~= nil and C.mg_lua_plugin_enter(rs.task)
        local ok, st, body, hdrs = xpcall(f, on_error, e.conf,
            e.plugin._ctx[phase] and (rs.ctx or state_ctx(rs)) or nil)
        cur.rs, cur.phase = rs, phase
        local failed = not ok and st ~= EXIT
        if pc ~= nil then
            C.mg_lua_plugin_leave(rs.task, pc, failed and 0 or 1, mark)
        end
        if failed then
            log_failure(rs, e, phase, st)
            return -1
        end
        if rs.exit then
            st, body, hdrs = rs.exit[1], rs.exit[2], rs.exit[3]
            rs.exit = nil
        end
        if st ~= nil and phase <= BALANCER then
            local status, b = response.stage(rs.task, st, body, hdrs)
            if not status then
                if pc ~= nil then
                    pc[1] = pc[1] + 1 -- an answer it cannot give is the plugin's error
                end
                log_failure(rs, e, phase, b)
                return -1
            end
            return status, b
        end
        if rs.chain_dirty and not fixed then
            -- the consumer changed: its own rewrite plugins run now (rewrite was over
            -- before it was known), then the phase goes on in the merged list after
            -- this plugin
            rs.chain_dirty = false
            if phase == ACCESS then
                local code, b = run_consumer_rewrite(rs)
                if code ~= 0 then
                    return code, b
                end
                C.mg_lua_phase_begin(rs.task, ACCESS)
            end
            list = chain_for(rs, phase)
            local j = 1
            while j <= #list and not by_priority(e, list[j]) do
                j = j + 1
            end
            i = j
        else
            i = i + 1
        end
    end
    return 0
end

-- A request's state for the API: its task handle, its route and (made on first use)
-- its ctx table. States of finished runs are reused: a proxied request with an access
-- plugin then allocates almost nothing in Lua, which is most of what its plugin costs.
local FREE, nfree = {}, 0
local clear = require "table.clear"

local function new_state(lud, id, route)
    local rs
    if nfree > 0 then
        rs = FREE[nfree]
        FREE[nfree] = nil
        nfree = nfree - 1
    else
        rs = {}
    end
    -- the task handle is read from a C cell: ffi.cast of the light userdata would keep
    -- the request's entry out of compiled code (a conversion LuaJIT does not record)
    rs.task, rs.lud, rs.id, rs.route = TASK_NOW[0], lud, id, route
    return rs
end

-- A state is kept (TASKS) only while a later phase will need it; C calls finish at
-- the end of a request whose state was kept. Otherwise it is free for reuse.
local function free_state(rs)
    if nfree < 256 then
        clear(rs)
        nfree = nfree + 1
        FREE[nfree] = rs
    end
end

local NOT_FOUND = '{"error":"no route matched","status":404}\n'

-- The rewrite functions of the consumer's own plugin configs, in priority order, run
-- as a rewrite phase the moment an access plugin names the consumer. A re-route asked
-- for there is not done (routing is over); the changed path still goes upstream.
local CONSUMER_REWRITE = {}
run_consumer_rewrite = function(rs)
    local c = rs.consumer
    if c == nil or next(c.plugins) == nil then
        return 0
    end
    local list = CONSUMER_REWRITE[c.name]
    if list == nil then
        list = phase_lists(c.plugins)[REWRITE]
        CONSUMER_REWRITE[c.name] = list
    end
    if #list == 0 then
        return 0
    end
    local code, body = run_chain(rs, REWRITE, list)
    rs.reroute = false
    core.cur.phase = ACCESS
    return code, body
end

-- rewrite, re-routing when a plugin asked: the new route's rewrite plugins run too.
local function run_rewrite(rs)
    local hops = 0
    while true do
        local code, body = run_chain(rs, REWRITE)
        if code ~= 0 or not rs.reroute then
            return code, body
        end
        rs.reroute = false
        hops = hops + 1
        if hops > 10 then
            mg.log(mg.ERR, "more than 10 re-routes for one request")
            return -1
        end
        local nr = C.mg_lua_req_reroute(rs.task)
        if nr < 0 then
            C.mg_lua_exit_header(rs.task, "Content-Type", 12, "application/json", 16)
            return 404, NOT_FOUND
        end
        rs.route = nr
    end
end

-- Whether a request's state must outlive this phase: a later phase of its route runs
-- plugins (LATER[phase] holds the bits of the phases after it).
local LATER = {}
for ph = REWRITE, LOG do
    local bits = 0
    for later = ph + 1, LOG do
        bits = bit.bor(bits, bit.lshift(1, later))
    end
    LATER[ph] = bits
end

-- One phase of a request's plugins, on a coroutine (the C phase engine calls the
-- phases in its order): rewrite (re-routing when asked), access or balancer; or a
-- background job (called with the values after it: a timer's `premature`). Returns 0
-- to go on, or status, body to answer, or -1 (a plugin failed); the third value says
-- whether the state was kept for a later phase.
function M.run(lud, id, phase, route, job, ...)
    EXIT = EXIT or response.EXIT
    if phase == TIMER then
        local rs = new_state(lud, id, route)
        rs.job = true
        local cur = core.cur
        cur.task, cur.rs, cur.phase = rs.task, rs, TIMER
        local ok, err = xpcall(job, on_error, ...)
        if not ok then
            mg.log(mg.ERR, "background job failed: ", err)
        end
        free_state(rs)
        return 0
    end
    local rs = TASKS[id]
    if rs == nil then
        rs = new_state(lud, id, route)
    end
    local code, body
    if phase == REWRITE then
        code, body = run_rewrite(rs)
    else
        code, body = run_chain(rs, phase)
    end
    -- kept for the filters and log of a plugin's own answer too: ctx is the request's
    local keep = code >= 0 and bit.band(MASK[rs.route] or 0, LATER[phase]) ~= 0
    if keep then
        TASKS[id] = rs
    else
        TASKS[id] = nil
        free_state(rs)
    end
    return code, body, keep
end

-- header_filter / body_filter / log, called without a coroutine (no waits allowed).
function M.filter(lud, id, phase, route)
    EXIT = EXIT or response.EXIT
    local rs = TASKS[id]
    if rs == nil then
        rs = new_state(lud, id, route)
        TASKS[id] = rs
    end
    if phase == BODY_FILTER then
        rs.chunk = nil
        local code = run_chain(rs, phase)
        return code, rs.chunk
    end
    local code = run_chain(rs, phase)
    return code
end

function M.finish(id)
    local rs = TASKS[id]
    if rs ~= nil then
        TASKS[id] = nil
        free_state(rs)
    end
end

M.HEADER_FILTER, M.LOG = HEADER_FILTER, LOG
M._concat = concat

return M
