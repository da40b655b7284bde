-- moongate.json: JSON (RFC 8259) for plugins: mg.json.encode / mg.json.decode.
--
-- decode is strict (no comments, no trailing commas, no leading zeros) and bounded in
-- depth; null becomes json.null; arrays carry json.array_mt so that an empty one
-- encodes back as []. encode writes integers without a decimal point, escapes control
-- characters, and refuses cycles, functions, NaN and infinities.
local M = {}

local byte, char, sub, find, format = string.byte, string.char, string.sub, string.find,
    string.format
local concat, type, pairs, tostring, floor = table.concat, type, pairs, tostring, math.floor
local huge = math.huge

M.null = setmetatable({}, { __tostring = function() return "null" end })
M.array_mt = { __jsontype = "array" }

-- ---- encode ----

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
    ["\r"] = "\\r", ["\t"] = "\\t" }
for i = 0, 31 do
    local c = char(i)
    ESC[c] = ESC[c] or format("\\u%04x", i)
end
ESC[char(127)] = "\\u007f"

-- A number as JSON: integers exactly, others in the fewest digits that read back to the
-- same double (0.1, not 0.10000000000000001). Not finite: nil.
local function number_text(v)
    if v ~= v or v == huge or v == -huge then
        return nil
    end
    if v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53 then
        return format("%d", v)
    end
    local s = format("%.15g", v)
    if tonumber(s) ~= v then
        s = format("%.16g", v)
        if tonumber(s) ~= v then
            s = format("%.17g", v)
        end
    end
    return s
end
M.number_text = number_text

local function encode_string(s)
    return '"' .. s:gsub('[%c"\\]', ESC) .. '"'
end

local function is_array(t)
    if getmetatable(t) == M.array_mt then
        return true, #t
    end
    local n, max = 0, 0
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
            return false
        end
        n = n + 1
        if k > max then max = k end
    end
    return n > 0 and n == max, max
end

local encode_value

local function encode_table(t, out, seen, opts)
    if seen[t] then
        return nil, "cannot encode a table that contains itself"
    end
    seen[t] = true
    local arr, n = is_array(t)
    if arr then
        out[#out + 1] = "["
        for i = 1, n do
            if i > 1 then out[#out + 1] = "," end
            local ok, err = encode_value(t[i], out, seen, opts)
            if not ok then return nil, err end
        end
        out[#out + 1] = "]"
    else
        local keys = {}
        for k in pairs(t) do
            if type(k) ~= "string" and type(k) ~= "number" then
                return nil, "cannot encode a " .. type(k) .. " key"
            end
            keys[#keys + 1] = k
        end
        if opts and opts.sort_keys then
            table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        end
        out[#out + 1] = "{"
        for i, k in ipairs(keys) do
            if i > 1 then out[#out + 1] = "," end
            out[#out + 1] = encode_string(tostring(k))
            out[#out + 1] = ":"
            local ok, err = encode_value(t[k], out, seen, opts)
            if not ok then return nil, err end
        end
        out[#out + 1] = "}"
    end
    seen[t] = nil
    return true
end

encode_value = function(v, out, seen, opts)
    local t = type(v)
    if v == nil or v == M.null then
        out[#out + 1] = "null"
    elseif t == "boolean" then
        out[#out + 1] = v and "true" or "false"
    elseif t == "number" then
        local text = number_text(v)
        if text == nil then
            return nil, "cannot encode " .. tostring(v)
        end
        out[#out + 1] = text
    elseif t == "string" then
        out[#out + 1] = encode_string(v)
    elseif t == "table" then
        return encode_table(v, out, seen, opts)
    else
        return nil, "cannot encode a " .. t
    end
    return true
end

-- The JSON text of `value`, or nil, err. opts.sort_keys orders object keys.
function M.encode(value, opts)
    local out = {}
    local ok, err = encode_value(value, out, {}, opts)
    if not ok then
        return nil, err
    end
    return concat(out)
end

-- ---- decode ----

local function utf8(cp)
    if cp < 0x80 then
        return char(cp)
    elseif cp < 0x800 then
        return char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
    elseif cp < 0x10000 then
        return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
        0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local UNESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
    r = "\r", t = "\t" }

local decode_value

local function err_at(pos, what)
    return nil, what .. " at position " .. pos
end

local function skip(s, pos)
    return find(s, "[^ \t\r\n]", pos) or #s + 1
end

local function decode_string(s, pos)
    local parts, i = {}, pos + 1
    while true do
        local j = find(s, '["\\%c]', i)
        if j == nil then
            return err_at(pos, "unterminated string")
        end
        parts[#parts + 1] = sub(s, i, j - 1)
        local c = sub(s, j, j)
        if c == '"' then
            return concat(parts), j + 1
        elseif c == "\\" then
            local e = sub(s, j + 1, j + 1)
            if e == "u" then
                local hex = sub(s, j + 2, j + 5)
                if not hex:match("^%x%x%x%x$") then
                    return err_at(j, "invalid \\u escape")
                end
                local cp = tonumber(hex, 16)
                i = j + 6
                if cp >= 0xD800 and cp <= 0xDBFF then
                    local lo = sub(s, i, i + 5):match("^\\u(%x%x%x%x)$")
                    local l = lo and tonumber(lo, 16)
                    if not l or l < 0xDC00 or l > 0xDFFF then
                        return err_at(j, "unpaired surrogate")
                    end
                    cp = 0x10000 + (cp - 0xD800) * 1024 + (l - 0xDC00)
                    i = i + 6
                elseif cp >= 0xDC00 and cp <= 0xDFFF then
                    return err_at(j, "unpaired surrogate")
                end
                parts[#parts + 1] = utf8(cp)
            elseif UNESC[e] then
                parts[#parts + 1] = UNESC[e]
                i = j + 2
            else
                return err_at(j, "invalid escape")
            end
        else
            return err_at(j, "control character in string")
        end
    end
end

local function decode_number(s, pos)
    local i = pos
    if sub(s, i, i) == "-" then
        i = i + 1
    end
    local d = s:match("^0", i) or s:match("^[1-9]%d*", i)
    if not d then
        return err_at(pos, "invalid number")
    end
    i = i + #d
    local frac = s:match("^%.%d+", i)
    if frac then
        i = i + #frac
    elseif sub(s, i, i) == "." then
        return err_at(pos, "invalid number")
    end
    local exp = s:match("^[eE][-+]?%d+", i)
    if exp then
        i = i + #exp
    elseif s:match("^[eE]", i) then
        return err_at(pos, "invalid number")
    end
    if s:match("^%d", i) then
        return err_at(pos, "invalid number (leading zero)")
    end
    return tonumber(sub(s, pos, i - 1)), i
end

local function decode_array(s, pos, depth, opts)
    local out, n = setmetatable({}, M.array_mt), 0
    pos = skip(s, pos + 1)
    if sub(s, pos, pos) == "]" then
        return out, pos + 1
    end
    while true do
        local v, np = decode_value(s, pos, depth, opts)
        if np == nil then
            return nil, v
        end
        n = n + 1
        out[n] = v
        pos = skip(s, np)
        local c = sub(s, pos, pos)
        if c == "]" then
            return out, pos + 1
        elseif c ~= "," then
            return err_at(pos, "expected ',' or ']'")
        end
        pos = skip(s, pos + 1)
    end
end

local function decode_object(s, pos, depth, opts)
    local out = {}
    pos = skip(s, pos + 1)
    if sub(s, pos, pos) == "}" then
        return out, pos + 1
    end
    while true do
        if sub(s, pos, pos) ~= '"' then
            return err_at(pos, "expected a string key")
        end
        local k, np = decode_string(s, pos)
        if k == nil then
            return nil, np
        end
        pos = skip(s, np)
        if sub(s, pos, pos) ~= ":" then
            return err_at(pos, "expected ':'")
        end
        local v
        v, np = decode_value(s, skip(s, pos + 1), depth, opts)
        if np == nil then
            return nil, v
        end
        out[k] = v
        pos = skip(s, np)
        local c = sub(s, pos, pos)
        if c == "}" then
            return out, pos + 1
        elseif c ~= "," then
            return err_at(pos, "expected ',' or '}'")
        end
        pos = skip(s, pos + 1)
    end
end

-- Returns value, next position; or nil, error message (second slot) on failure.
decode_value = function(s, pos, depth, opts)
    local c = sub(s, pos, pos)
    if c == "{" or c == "[" then
        if depth >= opts.max_depth then
            return "nesting deeper than " .. opts.max_depth .. " at position " .. pos, nil
        end
        local v, np = (c == "{" and decode_object or decode_array)(s, pos, depth + 1, opts)
        if v == nil then
            return np, nil
        end
        return v, np
    elseif c == '"' then
        local v, np = decode_string(s, pos)
        if v == nil then
            return np, nil
        end
        return v, np
    elseif c == "-" or (c >= "0" and c <= "9" and c ~= "") then
        local v, np = decode_number(s, pos)
        if v == nil then
            return np, nil
        end
        return v, np
    elseif sub(s, pos, pos + 3) == "true" then
        return true, pos + 4
    elseif sub(s, pos, pos + 4) == "false" then
        return false, pos + 5
    elseif sub(s, pos, pos + 3) == "null" then
        return opts.null, pos + 4
    end
    return "unexpected " .. (c == "" and "end of input" or "'" .. c .. "'") .. " at position "
        .. pos, nil
end

-- The value of JSON text `s`, or nil, err. opts.max_depth (default 64); opts.null: what
-- null becomes (default json.null).
function M.decode(s, opts)
    if type(s) ~= "string" then
        return nil, "expected a string to decode, got " .. type(s)
    end
    local o = { max_depth = 64, null = M.null }
    if opts then
        o.max_depth = opts.max_depth or 64
        if opts.null ~= nil or opts.null_as_nil then
            o.null = opts.null
        end
    end
    local v, np = decode_value(s, skip(s, 1), 0, o)
    if np == nil then
        return nil, v
    end
    np = skip(s, np)
    if np <= #s then
        return nil, "trailing garbage at position " .. np
    end
    return v
end

return M
