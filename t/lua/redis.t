# mg.redis: a plugin's Redis commands on the worker's loop, against a redis-server of
# the block's own (`--- redis`: Debian package redis-server): every reply type, error
# replies, pipelines in one round trip, AUTH and SELECT, Redis going away and coming
# back, deadlines, many requests sharing the pool, timers, the `redis:` block.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: every reply type: status, integer, bulk, nil bulk, arrays, nested arrays
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
local function show(v)
    if v == mg.redis.null then return "null" end
    if type(v) ~= "table" then return type(v) .. ":" .. tostring(v) end
    local out = {}
    for i = 1, #v do out[i] = show(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
end
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        local out = {}
        out[#out + 1] = show(red:set("k1", "v\0one"))
        out[#out + 1] = show(#red:get("k1"))
        out[#out + 1] = show(red:get("nope"))
        out[#out + 1] = show(red:incr("n"))
        out[#out + 1] = show(red:incrby("n", 41))
        red:del("l")
        out[#out + 1] = show(red:rpush("l", "a", "b", 3))
        out[#out + 1] = show(red:lrange("l", 0, -1))
        out[#out + 1] = show(red:lrange("empty", 0, -1))
        red:hmset("h", { f = "x" })
        out[#out + 1] = show(red:hmget("h", "f", "g"))
        out[#out + 1] = show(red:call("eval", "return {1, {2, 'x'}, redis.status_reply('S')}", 0))
        out[#out + 1] = show(red:ping())
        return 200, table.concat(out, " ") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
string:OK number:5 null number:1 number:42 number:3 [string:a,string:b,string:3] [] [string:x,null] [number:1,[number:2,string:x],string:S] string:PONG




=== TEST 2: an error reply is nil, "ERR ..."; refused commands and bad arguments
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        local out = {}
        red:set("s", "str")
        local v, err = red:lpush("s", "x")
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:call("nosuchcommand", "a")
        out[#out + 1] = tostring(v) .. " " .. err:sub(1, 24)
        v, err = red:blpop("l", 0)
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:select(2)
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:multi()
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:set("k", {})
        out[#out + 1] = tostring(v) .. " " .. err
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
nil WRONGTYPE Operation against a key holding the wrong kind of value
nil ERR unknown command 'NOS
nil blpop is not allowed on a shared connection (blocking)
nil select is not allowed on a shared connection (connection state: give db to mg.redis.new)
nil multi needs a pipeline (init_pipeline ... commit_pipeline)
nil bad argument #2 to set (a table)




=== TEST 3: a pipeline goes out in one write: results in order, error replies as {false, msg}, MULTI/EXEC inside it
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000,
                                         pool_size = 1 })
        local function reads()
            return tonumber(red:info("stats"):match("total_reads_processed:(%d+)"))
        end
        local before = reads()
        red:init_pipeline()
        red:set("p", "1")
        red:incr("p")
        red:lpush("p", "x")
        red:multi()
        red:incr("p")
        red:incr("p")
        red:exec()
        red:get("p")
        local res, err = red:commit_pipeline()
        if not res then return 500, err end
        local out = {}
        for i, v in ipairs(res) do
            out[i] = type(v) == "table" and (v[1] == false and "false:" .. v[2]:sub(1, 9)
                or "[" .. table.concat(v, ",") .. "]") or tostring(v)
        end
        -- Redis read the 9 commands at once: one read for them, one for the INFO after
        local after = reads()
        return 200, table.concat(out, " ") .. "\nreads " .. (after - before) .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
OK 2 false:WRONGTYPE OK QUEUED QUEUED [3,4] 4
reads 2
