"""The moongate under test: a server root of its own, its configuration and plugins, and
the master process started in the foreground as our child.

The root is laid out like the t/ suite's: conf/moongate.yaml, plugins/, logs/ (error
and access log), plus stderr.log, where the master and workers write (sanitizer
reports land there). Timeouts are short so that slow-client cases end within seconds.
"""

import json
import os
import signal
import socket
import subprocess
import time

# Every route the fuzzer aims at, by the path prefix the seeds use. The upstream decides
# on odd answers by words in the path (see upstream.py), so /up/slow/x is a slow answer.
ROUTES = {
    "return": "/hello",
    "none": "/nope",
    "proxy": "/up/",
    "retry": "/retry/",
    "blackhole": "/black/",
    "self": "/self/",
    "body": "/body/",
    "body_answer": "/bodyans/",
    "body_small": "/bodysmall/",
    "rewrite": "/rw/",
    "limited": "/limited/",
    "limited_proxy": "/limup/",
    "echo": "/echo/",
    "auth": "/private/",
    "call": "/call/",
    "filter": "/filter/",
    "reroute": "/reroute/",
}

CONFIG = """\
worker_processes: 2
listen: ["127.0.0.1:{port}"]
admin: {{ listen: "127.0.0.1:{admin_port}" }}
pid_file: logs/moongate.pid
error_log: {{ path: logs/error.log, level: info }}
access_log: {{ path: logs/access.log, format: combined }}
http:
  client_header_timeout: 2s
  client_body_timeout: 2s
  send_timeout: 2s
  keepalive_timeout: 3s
  client_max_body_size: 64k
  drain_timeout: 5s
lua:
  stall_timeout: 2s

upstreams:
  - name: py
    nodes: [{{ address: "127.0.0.1:{up_port}" }}]
    keepalive: 8
    timeouts: {{ connect: 1s, send: 2s, read: 2s }}
  - name: retry
    nodes:
      - {{ address: "127.0.0.1:{dead_port}" }}
      - {{ address: "127.0.0.1:{up_port}" }}
    retries: 2
    keepalive: 4
    timeouts: {{ connect: 1s, send: 2s, read: 2s }}
  - name: blackhole
    nodes:
      - {{ address: "127.0.0.1:{hole_port}" }}
      - {{ address: "127.0.0.1:{up_port}" }}
    retries: 1
    timeouts: {{ connect: 1s, send: 1s, read: 1s }}
  - name: self
    nodes: [{{ address: "127.0.0.1:{port}" }}]
    host: backend.local
    keepalive: 8
    retries: 1
    timeouts: {{ connect: 1s, send: 2s, read: 2s }}

routes:
  - name: backend
    hosts: ["backend.local"]
    paths: ["/*"]
    return: {{ status: 200, content_type: application/json, body: "{{\\"from\\":\\"backend\\"}}\\n" }}
  - name: hello
    paths: ["/hello"]
    return: {{ status: 200, body: "hello world\\n" }}
  - name: proxy
    paths: ["/up/*"]
    upstream: py
  - name: retry
    paths: ["/retry/*"]
    upstream: retry
  - name: blackhole
    paths: ["/black/*"]
    upstream: blackhole
  - name: self
    paths: ["/self/*"]
    upstream: self
  - name: body
    paths: ["/body/*"]
    upstream: py
    plugins:
      fuzz-body: {{ mode: set }}
  - name: body-answer
    paths: ["/bodyans/*"]
    plugins:
      fuzz-body: {{ mode: answer }}
  - name: body-small
    paths: ["/bodysmall/*"]
    upstream: py
    plugins:
      fuzz-body: {{ mode: answer, max: 16 }}
  - name: rewrite
    paths: ["/rw/*"]
    upstream: py
    plugins:
      fuzz-rewrite: {{ sleep_ms: 5 }}
  - name: limited
    paths: ["/limited/*"]
    return: {{ status: 200, body: "within the limit\\n" }}
    rate_limit:
      - {{ algorithm: token_bucket, rate: 20/s, burst: 5, key: remote_addr, scope: local }}
  - name: limited-proxy
    paths: ["/limup/*"]
    upstream: py
    rate_limit:
      - {{ algorithm: sliding_window, rate: 30/s, key: remote_addr, scope: local, headers: true }}
  - name: echo
    paths: ["/echo/{{name}}"]
    plugins:
      echo: {{ body: "hello $param_name, you sent $method $path $query\\n" }}
  - name: private
    paths: ["/private/*"]
    upstream: py
    plugins:
      key-auth: {{ header: apikey }}
  - name: call
    paths: ["/call/*"]
    plugins:
      fuzz-call: {{ url: "http://127.0.0.1:{up_port}/called" }}
  - name: filter
    paths: ["/filter/*"]
    upstream: py
    plugins:
      fuzz-filter: {{ audit_url: "http://127.0.0.1:{up_port}/audit" }}
  - name: reroute
    paths: ["/reroute/*"]
    upstream: py
    plugins:
      fuzz-rewrite: {{ sleep_ms: 0, reroute_to: /hello }}

consumers:
  - name: fuzz
    credentials:
      key-auth: {{ key: fuzz-key }}
"""

PLUGINS = {
    "fuzz-body.lua": """\
-- fuzz-body: reads the whole request body in the access phase, then lets the request
-- go on (pass), replaces the body (set) or answers with its length (answer).
local mg = require "moongate"
return {
    name = "fuzz-body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        mode = { type = "string", enum = { "pass", "set", "answer" }, default = "pass" },
        max = { type = "integer", min = 0, default = 0 },
    } },
    access = function(conf, ctx)
        local body, err
        if conf.max > 0 then
            body, err = mg.request.get_body(conf.max)
        else
            body, err = mg.request.get_body()
        end
        if conf.mode == "answer" then
            return 200, "read " .. (body and #body or tostring(err)) .. "\\n"
        end
        if conf.mode == "set" and body then
            mg.request.set_body(body:upper())
        end
    end,
}
""",
    "fuzz-rewrite.lua": """\
-- fuzz-rewrite: sleeps, reads and replaces the body in the rewrite phase, and may send
-- the request to another path and route again.
local mg = require "moongate"
return {
    name = "fuzz-rewrite", version = "1.0", priority = 1100,
    schema = { type = "record", fields = {
        sleep_ms = { type = "integer", min = 0, default = 0 },
        reroute_to = { type = "string", default = "" },
    } },
    rewrite = function(conf, ctx)
        if conf.sleep_ms > 0 then
            mg.sleep(conf.sleep_ms)
        end
        local body = mg.request.get_body()
        if body and #body > 0 then
            mg.request.set_body("rw:" .. body)
        end
        mg.request.set_header("X-Fuzz-Rewrite", "1")
        if conf.reroute_to ~= "" then
            mg.request.set_path(conf.reroute_to)
            mg.request.reroute()
        end
    end,
}
""",
    "fuzz-call.lua": """\
-- fuzz-call: asks the upstream from the access phase and answers with what it said.
local mg = require "moongate"
return {
    name = "fuzz-call", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        url = { type = "string", required = true },
    } },
    access = function(conf, ctx)
        local body = mg.request.get_body(4096)
        local res, err = mg.http.request({ url = conf.url, timeout = 500,
                                           method = body and #body > 0 and "POST" or "GET",
                                           body = body and #body > 0 and body or nil })
        if not res then
            return 502, { error = tostring(err) }
        end
        return 200, "upstream said " .. res.status .. " with " .. #res.body .. " bytes\\n"
    end,
}
""",
    "fuzz-filter.lua": """\
-- fuzz-filter: touches the answer in every filter phase and queues a call in log.
local mg = require "moongate"
return {
    name = "fuzz-filter", version = "1.0", priority = 900,
    schema = { type = "record", fields = {
        audit_url = { type = "string", required = true },
    } },
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Fuzz-Filter", tostring(mg.response.get_status()))
    end,
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        if chunk and #chunk > 0 then
            mg.response.set_body_chunk(chunk:upper())
        end
    end,
    log = function(conf, ctx)
        if mg.request.get_path():find("audit", 1, true) then
            mg.http.request({ method = "POST", url = conf.audit_url, body = "x", timeout = 300 })
        end
    end,
}
""",
}

# Sanitizer settings: reports go to stderr; a SEGV is caught by ASan for its stack.
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:print_summary=1:"
    "detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "report_objects=0",
}


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    """One moongate master started from `binary` on a fresh root; ports set at init."""

    def __init__(self, binary, root, up_port, dead_port, hole_port):
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.admin_port = free_port()
        self.ports = dict(port=self.port, admin_port=self.admin_port, up_port=up_port,
                          dead_port=dead_port, hole_port=hole_port)
        self.proc = None
        self.error_log = os.path.join(root, "logs", "error.log")
        self.stderr_log = os.path.join(root, "stderr.log")
        self.conf_file = os.path.join(root, "conf", "moongate.yaml")

    def write_root(self):
        for d in ("conf", "logs", "plugins"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(self.conf_file, "w") as f:
            f.write(CONFIG.format(**self.ports))
        for name, text in PLUGINS.items():
            with open(os.path.join(self.root, "plugins", name), "w") as f:
                f.write(text)

    def start(self, timeout=30.0):
        """Starts the master and waits until both workers serve. Raises on failure."""
        env = dict(os.environ)
        for k, v in SAN_ENV.items():
            env.setdefault(k, v)
        out = open(self.stderr_log, "ab")
        self.proc = subprocess.Popen([self.binary, "-p", self.root, "-c", self.conf_file],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     env=env, start_new_session=True)
        out.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("moongate exited with status %d at start; see %s"
                                   % (self.proc.returncode, self.stderr_log))
            st = self.status(timeout=1.0)
            if st and len(st.get("workers", [])) >= 2:
                return
            time.sleep(0.1)
        raise RuntimeError("moongate did not serve within %.0f s" % timeout)

    def status(self, timeout=2.0):
        """The admin API's /status as a dict, or None when it does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.admin_port), timeout) as s:
                s.settimeout(timeout)
                s.sendall(b"GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                data = bytearray()
                end = time.monotonic() + timeout
                while time.monotonic() < end:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return None
        try:
            return json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, graceful=True, timeout=30.0):
        """QUIT (graceful) or TERM, then KILL after `timeout`. Returns the master's exit
        status (negative for a signal), or None when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT if graceful else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(10)
                return None
        return self.proc.returncode
