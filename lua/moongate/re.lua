-- moongate.re: mg.re, Perl-compatible regular expressions (PCRE2, JIT-compiled) in the
-- style of OpenResty's ngx.re. Patterns are compiled on first use and kept in the
-- worker's cache (lua.regex_cache_size, LRU), so a pattern written inline costs one
-- hash lookup after its first call.
--
--   mg.re.match(subject, pattern[, flags[, init]])        captures table, or nil
--   mg.re.find(subject, pattern[, flags[, init[, nth]]])  from, to (1-based, inclusive)
--   mg.re.test(subject, pattern[, flags[, init]])         true or false
--   mg.re.gmatch(subject, pattern[, flags])               iterator of captures tables
--   mg.re.sub(subject, pattern, replace[, flags])         new string, 0 or 1
--   mg.re.gsub(subject, pattern, replace[, flags])        new string, substitutions
--   mg.re.split(subject, pattern[, flags[, max]])         list of the pieces
--
-- A captures table holds [0] the whole match, [1..n] the groups, and each named group
-- by its name; a group that took no part is false. `replace` is a template ("$0",
-- "$1", "${name}", "$$" for a dollar) or a function given the captures table and
-- returning the replacement. `init` is a 1-based byte position (negative counts from
-- the end). Every function returns nil, err for a pattern that does not compile, a
-- subject that is not valid UTF-8 under "u", or a match that hits lua.regex_match_limit
-- (the worker goes on).
--
-- flags: i caseless, m multiline, s dot matches newline, x extended, u UTF-8, a
-- anchored, D duplicate names, J JavaScript compatible; o and j are accepted and mean
-- nothing (every pattern is cached and JIT-compiled).
local ffi = require "ffi"
local cffi = require "moongate.ffi"

ffi.cdef [[
/* The region "lua/moongate/re.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct mg_regex_s mg_regex_t;
mg_regex_t *mg_lua_re_get(const char *pat, size_t plen, unsigned flags, int *info,
                          const char **err, size_t *erroff);
int mg_lua_re_exec(mg_regex_t *re, const char *s, size_t len, size_t start, int *ov,
                   const char **err);
int mg_lua_re_name_at(mg_regex_t *re, int i, const char **name, int *group);
size_t mg_lua_re_cache_count(void);
]]

local C = cffi.C
local ffi_string, ffi_new = ffi.string, ffi.new
local type, tostring, error, concat, sub, byte, find, ipairs = type, tostring, error,
    table.concat, string.sub, string.byte, string.find, ipairs
local tonumber = tonumber

local M = {}

-- the MG_RE_* bits of core/base/regexp.h
local BITS = { i = 1, m = 2, s = 4, x = 8, u = 16, a = 32, D = 64, J = 128, o = 0, j = 0 }
local flag_cache = { [""] = 0 }

local function flag_bits(flags, fname)
    if flags == nil then
        return 0
    end
    local b = flag_cache[flags]
    if b then
        return b
    end
    if type(flags) ~= "string" then
        error(fname .. ": flags must be a string, got " .. type(flags), 3)
    end
    b = 0
    for k = 1, #flags do
        local ch = sub(flags, k, k)
        local v = BITS[ch]
        if v == nil then
            error(fname .. ": unknown flag \"" .. ch .. "\" in \"" .. flags
                .. "\" (expected some of i m s x u a D J o j)", 3)
        end
        b = bit.bor(b, v)
    end
    flag_cache[flags] = b
    return b
end

local info = ffi_new("int[2]")
local errp = ffi_new("const char *[1]")
local erroff = ffi_new("size_t[1]")
local namep = ffi_new("const char *[1]")
local groupp = ffi_new("int[1]")
local ovcap = 64
local ov = ffi_new("int[?]", ovcap)

-- names[bits][pattern] = { {name, group}, ... } or false; dropped whole past a bound
local names, nnames = {}, 0

local function compile(pattern, bits, fname)
    if type(pattern) ~= "string" then
        error(fname .. ": pattern must be a string, got " .. type(pattern), 3)
    end
    local re = C.mg_lua_re_get(pattern, #pattern, bits, info, errp, erroff)
    if re == nil then
        return nil, "bad regex \"" .. pattern .. "\": " .. ffi_string(errp[0])
            .. " at offset " .. tonumber(erroff[0])
    end
    local ncap = info[0]
    if 2 * (ncap + 1) > ovcap then
        ovcap = 2 * (ncap + 1)
        ov = ffi_new("int[?]", ovcap)
    end
    return re, ncap, info[1]
end

local function names_of(re, pattern, bits, nn)
    local per = names[bits]
    if per == nil then
        per = {}
        names[bits] = per
    end
    local list = per[pattern]
    if list == nil then
        list = {}
        for k = 0, nn - 1 do
            C.mg_lua_re_name_at(re, k, namep, groupp)
            list[k + 1] = { ffi_string(namep[0]), groupp[0] }
        end
        nnames = nnames + 1
        if nnames > 4096 then
            names, nnames = { [bits] = per }, 1
        end
        per[pattern] = list
    end
    return list
end

local function check_subject(subject, fname)
    if type(subject) ~= "string" then
        if type(subject) == "number" then
            return tostring(subject)
        end
        error(fname .. ": subject must be a string, got " .. type(subject), 3)
    end
    return subject
end

-- 1-based init (negative from the end) to a 0-based byte offset
local function start_of(init, len, fname)
    if init == nil then
        return 0
    end
    if type(init) ~= "number" then
        error(fname .. ": init must be a number, got " .. type(init), 3)
    end
    if init < 0 then
        init = len + init + 1
        if init < 1 then
            init = 1
        end
    elseif init == 0 then
        init = 1
    end
    return init - 1
end

-- runs one match; returns pairs (> 0), 0, or nil, err
local function exec(re, subject, start)
    if start > #subject then
        return 0
    end
    local rc = C.mg_lua_re_exec(re, subject, #subject, start, ov, errp)
    if rc < 0 then
        return nil, ffi_string(errp[0])
    end
    return rc
end

local function captures(subject, re, pattern, bits, ncap, nn)
    local caps = {}
    for k = 0, ncap do
        local a = ov[2 * k]
        if a >= 0 then
            caps[k] = sub(subject, a + 1, ov[2 * k + 1])
        else
            caps[k] = false
        end
    end
    if nn > 0 then
        local list = names_of(re, pattern, bits, nn)
        for k = 1, #list do
            local e = list[k]
            local v = caps[e[2]]
            -- duplicate names: the first group that took part
            if v ~= false or caps[e[1]] == nil then
                caps[e[1]] = v
            end
        end
    end
    return caps
end

function M.match(subject, pattern, flags, init)
    subject = check_subject(subject, "mg.re.match")
    local bits = flag_bits(flags, "mg.re.match")
    local re, ncap, nn = compile(pattern, bits, "mg.re.match")
    if re == nil then
        return nil, ncap
    end
    local rc, err = exec(re, subject, start_of(init, #subject, "mg.re.match"))
    if rc == nil then
        return nil, err
    end
    if rc == 0 then
        return nil
    end
    return captures(subject, re, pattern, bits, ncap, nn)
end

function M.test(subject, pattern, flags, init)
    subject = check_subject(subject, "mg.re.test")
    local re, ncap = compile(pattern, flag_bits(flags, "mg.re.test"), "mg.re.test")
    if re == nil then
        return nil, ncap
    end
    local rc, err = exec(re, subject, start_of(init, #subject, "mg.re.test"))
    if rc == nil then
        return nil, err
    end
    return rc > 0
end

function M.find(subject, pattern, flags, init, nth)
    subject = check_subject(subject, "mg.re.find")
    local re, ncap = compile(pattern, flag_bits(flags, "mg.re.find"), "mg.re.find")
    if re == nil then
        return nil, ncap
    end
    nth = nth or 0
    if type(nth) ~= "number" or nth < 0 or nth ~= math.floor(nth) then
        error("mg.re.find: nth must be an integer >= 0, got " .. tostring(nth), 2)
    end
    local rc, err = exec(re, subject, start_of(init, #subject, "mg.re.find"))
    if rc == nil then
        return nil, err
    end
    if rc == 0 or nth > ncap or ov[2 * nth] < 0 then
        return nil
    end
    return ov[2 * nth] + 1, ov[2 * nth + 1]
end

-- where the next search starts after a match [a, b): an empty match steps over one
-- character (a whole UTF-8 sequence under "u")
local function next_start(subject, a, b, utf)
    if b > a then
        return b
    end
    local nxt = b + 1
    if utf then
        while nxt < #subject do
            local c = byte(subject, nxt + 1)
            if c < 0x80 or c >= 0xC0 then
                break
            end
            nxt = nxt + 1
        end
    end
    return nxt
end

function M.gmatch(subject, pattern, flags)
    subject = check_subject(subject, "mg.re.gmatch")
    local bits = flag_bits(flags, "mg.re.gmatch")
    local re, ncap = compile(pattern, bits, "mg.re.gmatch")
    if re == nil then
        return nil, ncap
    end
    local utf = bit.band(bits, 16) ~= 0
    local pos, done = 0, false
    return function()
        if done then
            return nil
        end
        -- fetched again: the loop body may have compiled other patterns since
        local r, nc, nn = compile(pattern, bits, "mg.re.gmatch")
        local rc, err = exec(r, subject, pos)
        if rc == nil or rc == 0 then
            done = true
            return nil, err
        end
        local a, b = ov[0], ov[1]
        local caps = captures(subject, r, pattern, bits, nc, nn)
        pos = next_start(subject, a, b, utf)
        if pos > #subject then
            done = true
        end
        return caps
    end
end

-- a template: "$0".."$99", "${name}", "$$"; parsed once per template string
local templates = setmetatable({}, { __mode = "k" })

local function parse_template(tpl)
    local parts, n, i = {}, 0, 1
    local len = #tpl
    while i <= len do
        local d = find(tpl, "$", i, true)
        if d == nil then
            n = n + 1
            parts[n] = sub(tpl, i)
            break
        end
        if d > i then
            n = n + 1
            parts[n] = sub(tpl, i, d - 1)
        end
        local c = sub(tpl, d + 1, d + 1)
        if c == "$" then
            n = n + 1
            parts[n] = "$"
            i = d + 2
        elseif c == "{" then
            local close = find(tpl, "}", d + 2, true)
            if close == nil then
                return nil, "unterminated ${ in the replacement template"
            end
            local name = sub(tpl, d + 2, close - 1)
            n = n + 1
            parts[n] = { tonumber(name) or name }
            i = close + 1
        else
            local digits = tpl:match("^%d%d?", d + 1)
            if digits == nil then
                return nil, "bad \"$\" at position " .. d
                    .. " of the replacement template (use $$ for a dollar)"
            end
            n = n + 1
            parts[n] = { tonumber(digits) }
            i = d + 1 + #digits
        end
    end
    return parts
end

-- nil when every group the template names is in the pattern, else why not
local function template_problem(parts, re, pattern, bits, ncap, nn)
    for k = 1, #parts do
        local g = type(parts[k]) == "table" and parts[k][1]
        if type(g) == "number" and g > ncap then
            return "the replacement names group " .. g .. ", and the pattern has " .. ncap
        elseif type(g) == "string" then
            local found = false
            for _, e in ipairs(nn > 0 and names_of(re, pattern, bits, nn) or {}) do
                found = found or e[1] == g
            end
            if not found then
                return "the replacement names group \"" .. g .. "\", which the pattern does not have"
            end
        end
    end
end

local function expand(parts, caps, out, n)
    for k = 1, #parts do
        local p = parts[k]
        if type(p) == "string" then
            n = n + 1
            out[n] = p
        else
            local v = caps[p[1]]
            if v then
                n = n + 1
                out[n] = v
            end
        end
    end
    return n
end

local function subst(fname, subject, pattern, replace, flags, global)
    subject = check_subject(subject, fname)
    local bits = flag_bits(flags, fname)
    local re, ncap, nn = compile(pattern, bits, fname)
    if re == nil then
        return nil, ncap
    end
    local rtype = type(replace)
    local parts
    if rtype == "string" then
        if find(replace, "$", 1, true) then
            parts = templates[replace]
            if parts == nil then
                local err
                parts, err = parse_template(replace)
                if parts == nil then
                    return nil, err
                end
                templates[replace] = parts
            end
            local why = template_problem(parts, re, pattern, bits, ncap, nn)
            if why then
                return nil, why
            end
        end
    elseif rtype ~= "function" then
        error(fname .. ": replace must be a string or a function, got " .. rtype, 3)
    end
    local utf = bit.band(bits, 16) ~= 0
    local out, n, pos, count, len = {}, 0, 0, 0, #subject
    while pos <= len do
        local rc, err = exec(re, subject, pos)
        if rc == nil then
            return nil, err
        end
        if rc == 0 then
            break
        end
        local a, b = ov[0], ov[1]
        if a > pos then
            n = n + 1
            out[n] = sub(subject, pos + 1, a)
        end
        if rtype == "function" then
            local v = replace(captures(subject, re, pattern, bits, ncap, nn))
            if v ~= nil and v ~= false then
                n = n + 1
                out[n] = tostring(v)
            end
            -- the function may have compiled patterns that evicted this one
            re, ncap, nn = compile(pattern, bits, fname)
        elseif parts then
            n = expand(parts, captures(subject, re, pattern, bits, ncap, nn), out, n)
        else
            n = n + 1
            out[n] = replace
        end
        count = count + 1
        local nxt = next_start(subject, a, b, utf)
        if nxt > b then
            -- an empty match: the character stepped over is kept
            n = n + 1
            out[n] = sub(subject, b + 1, nxt)
        end
        pos = nxt
        if not global then
            break
        end
    end
    if count == 0 then
        return subject, 0
    end
    if pos < len then
        n = n + 1
        out[n] = sub(subject, pos + 1)
    end
    return concat(out, "", 1, n), count
end

function M.sub(subject, pattern, replace, flags)
    return subst("mg.re.sub", subject, pattern, replace, flags, false)
end

function M.gsub(subject, pattern, replace, flags)
    return subst("mg.re.gsub", subject, pattern, replace, flags, true)
end

-- The pieces between matches (groups in the pattern are not added, unlike Perl). max
-- > 0: at most max pieces, the last holding the rest.
function M.split(subject, pattern, flags, max)
    subject = check_subject(subject, "mg.re.split")
    local bits = flag_bits(flags, "mg.re.split")
    local re, err0 = compile(pattern, bits, "mg.re.split")
    if re == nil then
        return nil, err0
    end
    if max ~= nil and (type(max) ~= "number" or max < 0) then
        error("mg.re.split: max must be a number >= 0, got " .. tostring(max), 2)
    end
    local utf = bit.band(bits, 16) ~= 0
    local res, n, pos, piece, len = {}, 0, 0, 0, #subject
    while pos <= len and (max == nil or max == 0 or n + 1 < max) do
        local rc, err = exec(re, subject, pos)
        if rc == nil then
            return nil, err
        end
        if rc == 0 then
            break
        end
        local a, b = ov[0], ov[1]
        -- an empty match cuts between characters, never before the first or after
        -- the last one
        if a < b or (a > piece and a < len) then
            n = n + 1
            res[n] = sub(subject, piece + 1, a)
            piece = b
        end
        pos = next_start(subject, a, b, utf)
    end
    n = n + 1
    res[n] = sub(subject, piece + 1)
    return res
end

-- Patterns in this worker's cache.
function M.cache_count()
    return tonumber(C.mg_lua_re_cache_count())
end

return M
