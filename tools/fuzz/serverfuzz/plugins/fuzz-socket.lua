-- fuzz-socket: mg.socket.tcp against the fuzzer's misbehaving line server
-- (sockfuzz.py). The words in the path say what to do, in order (line, size, until,
-- untilchunk, untilincl, all, sleep), and whether the connection goes back to the pool
-- (keep; pool2 names a second, smaller pool); the client's X-Sock-Line, X-Sock-Size and
-- X-Sock-Until headers give the line sent, the byte count and the delimiter. Every
-- call is protected: a bad value raises in the API, which is part of what is fuzzed.
local mg = require "moongate"

local function show(ok, a, b, c)
    if not ok then
        return "raised"
    end
    if a == nil then
        return "nil:" .. tostring(b) .. ":" .. #tostring(c or "")
    end
    return type(a) .. ":" .. #tostring(a)
end

-- A request header as one string (the first of repeated ones), or the default.
local function header(name, default)
    local v = mg.request.get_header(name)
    if type(v) == "table" then
        v = v[1]
    end
    return v ~= nil and tostring(v) or default
end

return {
    name = "fuzz-socket", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        port = { type = "integer", required = true },
    } },
    access = function(conf, ctx)
        local path = mg.request.get_path()
        local line = header("X-Sock-Line", "hello")
        local size = header("X-Sock-Size", "10")
        local delim = header("X-Sock-Until", "--XB--")
        local s, err = mg.socket.tcp()
        if not s then
            return 503, { error = err }
        end
        s:settimeouts(300, 300, 300)
        local pool = path:find("pool2", 1, true) and "fuzz2" or nil
        local ok, cerr = s:connect("127.0.0.1", conf.port, { pool = pool, pool_size = 4 })
        if not ok then
            return 502, { error = cerr }
        end
        local out = { "reused:" .. tostring(s:getreusedtimes()) }
        for word in path:gmatch("[a-z0-9]+") do
            local r
            if word == "line" then
                r = show(pcall(s.send, s, { "ECHO ", line, "\n" }))
                r = r .. " " .. show(pcall(s.receive, s, "*l"))
            elseif word == "size" then
                r = show(pcall(s.send, s, "BYTES " .. size .. "\n"))
                r = r .. " " .. show(pcall(s.receive, s, tonumber(size) or size))
            elseif word == "until" or word == "untilchunk" or word == "untilincl" then
                r = show(pcall(s.send, s, "UNTIL " .. delim .. " " .. size .. "\n"))
                local iok, it = pcall(s.receiveuntil, s, delim,
                                      { inclusive = word == "untilincl" })
                if iok then
                    local chunk = word == "untilchunk" and (tonumber(size) or 3) or nil
                    for _ = 1, 4 do
                        local cok, data, e, partial = pcall(it, chunk)
                        r = r .. " " .. show(cok, data, e, partial)
                        if not cok or data == nil then
                            break
                        end
                    end
                else
                    r = r .. " raised"
                end
            elseif word == "all" then
                r = show(pcall(s.send, s, "ALL " .. size .. "\n"))
                r = r .. " " .. show(pcall(s.receive, s, "*a"))
            elseif word == "sleep" then
                mg.sleep(50)
            end
            if r then
                out[#out + 1] = word .. "=" .. r
            end
        end
        if path:find("keep", 1, true) then
            out[#out + 1] = "keep=" .. show(pcall(s.setkeepalive, s, 2000,
                                                  pool and 2 or nil))
        else
            out[#out + 1] = "close=" .. show(pcall(s.close, s))
        end
        return 200, table.concat(out, " ") .. "\n"
    end,
}
