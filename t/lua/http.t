# mg.http.request: a plugin's HTTP/1.1 calls on the worker's loop (answers with a
# length, chunked or to the close; HEAD; 1xx skipped; errors, timeouts and limits).
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: a GET to the echo upstream: status, lower-cased headers, body
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_ECHO_PORT/hello" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.url }
        if not res then
            return 502, "err: " .. err
        end
        return 200, res.status .. " " .. tostring(res.headers["content-length"]) .. " " .. res.body
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
200 12 hello world




=== TEST 2: a POST with a body and headers; the echo upstream sees them
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_ECHO_PORT/post/it?a=1" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.url, method = "PUT", body = "payload!",
                                          headers = { ["X-One"] = "1" } }
        if not res then
            return 502, "err: " .. err
        end
        return 200, res.body
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body_like: "body":"payload!".*"content-length":"8".*"user-agent":"moongate","x-one":"1".*"method":"PUT","uri":"/post/it\?a=1"



=== TEST 3: a chunked answer is de-chunked, its trailers dropped; a 100 Continue is skipped
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: a\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_RAND_PORT_1/" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.url }
        if not res then
            return 502, "err: " .. err
        end
        return 200, res.status .. " " .. res.headers["x-a"] .. " " .. tostring(res.headers["x-t"])
            .. " [" .. res.body .. "]"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body: 200 a nil [hello world]



=== TEST 4: an answer to the close; a HEAD answer has no body
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_RAND_PORT_1/" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.url, method = "HEAD" }
        if not res then
            return 502, "err: " .. err
        end
        return 200, res.status .. " " .. res.headers["content-length"] .. " [" .. res.body .. "]"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body: 200 20 []



=== TEST 5: errors: refused, bad urls, https to a closed port, a name that cannot exist, a timeout, a body too large
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        local function try(opts)
            local res, err = mg.http.request(opts)
            out[#out + 1] = res and tostring(res.status) or err
        end
        try{ url = "http://127.0.0.1:$MG_RAND_PORT_1/" }
        try{ url = "ftp://x/" }
        try{ url = "https://127.0.0.1/" }
        try{ url = "http://example.invalid/" }
        try{ url = "http://127.0.0.1:99999/" }
        try{ url = "http://127.0.0.1:$MG_ECHO_PORT/delay/2000", timeout = 200 }
        try{ url = "http://127.0.0.1:$MG_ECHO_PORT/hello", max_body = 5 }
        try{ url = "http://localhost:$MG_ECHO_PORT/status/404" }
        return 200, table.concat(out, "|")
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body: connection refused|bad url|connection refused|host not found|bad url port|timeout|response body too large|404



=== TEST 6: a malformed answer and one cut short
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort"
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_RAND_PORT_1/" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.url }
        return 200, res and "ok" or err
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body: connection closed before the response ended



=== TEST 7: headers.Host is sent instead of the URL's authority (one value, not empty); a Content-Length there is still ignored
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { url: "http://127.0.0.1:$MG_ECHO_PORT/h" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
local function host_seen(conf, headers)
    local res, err = mg.http.request{ url = conf.url, headers = headers }
    if not res then
        return "err: " .. err
    end
    return res.body:match('"host":"([^"]*)"') or res.body
end
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { url = { type = "string", required = true } } },
    access = function(conf)
        local out = {
            host_seen(conf, nil),
            host_seen(conf, { Host = "api.internal" }),
            host_seen(conf, { host = "api.internal:8443", ["X-A"] = "1", ["Content-Length"] = "99" }),
            host_seen(conf, { Host = "a b" }),
            host_seen(conf, { Host = "" }),
            host_seen(conf, { Host = { "a", "b" } }),
            host_seen(conf, { Host = "a,b" }),
        }
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body_like eval
qr{\A127\.0\.0\.1:\d+
api\.internal
api\.internal:8443
err: bad header "Host"
err: bad header "Host"
err: bad header "Host"
err: bad header "Host"
\z}
