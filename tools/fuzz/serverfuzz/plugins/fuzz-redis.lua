-- fuzz-redis: mg.redis against the fuzzer's misbehaving Redis (redisfuzz.py): single
-- commands and pipelines by the words in the path; answers what came back.
local mg = require "moongate"
local function show(v)
    if type(v) == "table" then
        return "table(" .. #v .. ")"
    end
    return type(v) .. ":" .. #tostring(v)
end
return {
    name = "fuzz-redis", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        port = { type = "integer", required = true },
    } },
    access = function(conf, ctx)
        local red, err = mg.redis.new({ address = "127.0.0.1:" .. conf.port, timeout = 300,
                                        pool_size = 2 })
        if not red then
            return 503, { error = err }
        end
        local path = mg.request.get_path()
        local out = {}
        if path:find("pipe", 1, true) or path:find("many", 1, true) then
            red:init_pipeline()
            for i = 1, path:find("many", 1, true) and 50 or 3 do
                red:set("k" .. i, path)
                red:get("k" .. i)
            end
            local res, perr = red:commit_pipeline()
            if not res then
                return 503, { error = perr }
            end
            for i = 1, #res do
                out[#out + 1] = show(res[i])
            end
        end
        local v, cerr
        if path:find("hgetall", 1, true) then
            v, cerr = red:hgetall("h")
        elseif path:find("eval", 1, true) then
            v, cerr = red:eval("return {1, 'a', {2}}", 0)
        elseif path:find("set", 1, true) then
            v, cerr = red:set("k", path, "EX", 10)
        else
            v, cerr = red:get("k")
        end
        out[#out + 1] = v ~= nil and show(v) or ("err:" .. tostring(cerr))
        return 200, table.concat(out, " ") .. "\n"
    end,
}
