-- moongate.encode: mg.encode, base64 (RFC 4648 section 4), base64url (section 5) and
-- hex over core/base/encode.c. Works in every phase, in timers and at plugin load.
--
--   mg.encode.base64(s)            "aGk=": with padding
--   mg.encode.base64url(s)         "aGk": URL-safe alphabet, no padding (JWS, JWT)
--   mg.encode.hex(s)               lower case
--   mg.encode.base64_decode(s)     the bytes, or nil, "invalid base64"
--   mg.encode.base64url_decode(s)  with or without padding; nil, "invalid base64url"
--   mg.encode.hex_decode(s)        either case; nil, "invalid hex"
--
-- The decoders are strict: a character outside the alphabet, misplaced padding, a
-- length no encoder makes or stray bits in the last character give nil, never bytes.
local ffi = require "ffi"

if not pcall(ffi.typeof, "struct mg_lua_encode_marker") then
    ffi.cdef [[
/* The region "lua/moongate/encode.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_encode_marker { int unused; };
size_t mg_lua_base64_encode(const char *s, size_t n, char *out, int url);
size_t mg_lua_hex_encode(const char *s, size_t n, char *out);
long mg_lua_base64_decode(const char *s, size_t n, char *out, int url);
long mg_lua_hex_decode(const char *s, size_t n, char *out);
]]
end

local C = ffi.C
local ffi_string, type, floor = ffi.string, type, math.floor

-- One scratch buffer per Lua state, grown on demand; an output over KEEP bytes gets a
-- buffer of its own so that one large call does not pin memory for the state's life.
local KEEP = 65536
local scratch, scap = ffi.new("char[?]", 4096), 4096

local function buf(n)
    if n <= scap then
        return scratch
    end
    if n > KEEP then
        return ffi.new("char[?]", n)
    end
    scap = KEEP
    scratch = ffi.new("char[?]", scap)
    return scratch
end

local function need_string(fname, s)
    if type(s) ~= "string" then
        error(fname .. ": expected a string, got " .. type(s), 3)
    end
end

local M = {}

-- base64 (url 0) and base64url (url 1, no padding).
local function b64encoder(fname, url)
    return function(s)
        need_string(fname, s)
        local n = #s
        local out = buf(floor((n + 2) / 3) * 4)
        return ffi_string(out, C.mg_lua_base64_encode(s, n, out, url))
    end
end

M.base64 = b64encoder("mg.encode.base64", 0)
M.base64url = b64encoder("mg.encode.base64url", 1)

function M.hex(s)
    need_string("mg.encode.hex", s)
    local n = #s
    local out = buf(2 * n)
    return ffi_string(out, C.mg_lua_hex_encode(s, n, out))
end

-- The decoders (kind 0 base64, 1 base64url, 2 hex): each writes at most #s bytes. The C
-- functions are called through C.name, which LuaJIT compiles best.
local function decoder(fname, kind, err)
    return function(s)
        need_string(fname, s)
        local out = buf(#s)
        local n
        if kind == 2 then
            n = C.mg_lua_hex_decode(s, #s, out)
        else
            n = C.mg_lua_base64_decode(s, #s, out, kind)
        end
        if n < 0 then
            return nil, err
        end
        return ffi_string(out, n)
    end
end

M.base64_decode = decoder("mg.encode.base64_decode", 0, "invalid base64")
M.base64url_decode = decoder("mg.encode.base64url_decode", 1, "invalid base64url")
M.hex_decode = decoder("mg.encode.hex_decode", 2, "invalid hex")

return M
