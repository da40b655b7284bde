"""The moongate under test: a server root of its own, its configuration and plugins, and
the master process started in the foreground as our child.

The root is laid out like the t/ suite's: conf/moongate.yaml (from moongate.yaml here,
ports filled in), plugins/ (the Lua files of plugins/ here), logs/ (error and access
log), plus stderr.log, where the master and workers write (sanitizer reports land
there). Timeouts are short so that slow-client cases end within seconds.
"""

import json
import os
import shutil
import signal
import socket
import string
import subprocess
import time

from . import ppfuzz, tlsfuzz

# Every route of moongate.yaml the fuzzer aims at, by the path prefix the seeds use. The
# upstream decides on odd answers by words in the path (see upstream.py), so /up/slow/x
# is a slow answer.
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
    "redis": "/redis/",
    "socket": "/sock/",
    "filter": "/filter/",
    "websocket": "/ws/",
    "reroute": "/reroute/",
    "pool": "/pool/",
    "hash": "/hash/",
    "fault": "/fault/",
    "chaos": "/chaos/",
    "tls": "/tls/",
    "tls_proxy": "/tlsup/",
    "tls_auth": "/tlsauth/",
    "queue": "/queue/",
    "dns": "/dns/",
    "dns_srv": "/dnssrv/",
    "buf_request": "/bufreq/",
    "buf_spill": "/bufspill/",
    "buf_off": "/bufoff/",
    "route_http_small": "/hdrs/",
    "route_http_big": "/bigbody/",
    "cors": "/cors/",
    "cors_any": "/corsany/",
    "ip_restriction": "/ipr/",
    "redirect": "/redir/",
    "https": "/https/",
    "mirror": "/mirror/",
    "mirror_dead": "/mirrordead/",
    "rewrite_body": "/rr/",
    "rewrite_5xx": "/rr5/",
    "regex_proxy": "/rx/",
    "regex_ext": "/rxf/",
    "regex_slow": "/rxslow/",
    "regex_lua": "/relua/",
    "validation": "/rv/",
    "crypto": "/crypto/",
    "upstream_set": "/upset/",
    "upstream_free": "/upfree/",
    "traffic_split": "/split/",
    "auth_basic": "/auth-basic/",
    "auth_jwt": "/auth-jwt/",
    "auth_jwt_native": "/auth-jwtn/",
    "auth_hmac": "/auth-hmac/",
    "auth_fwd": "/auth-fwd/",
}

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "moongate.yaml")   # ${port}-style placeholders
PLUGINS = os.path.join(HERE, "plugins")
LIB = os.path.join(HERE, "lib")  # lua_path modules, copied to conf/lib
# the secrets of moongate.yaml: ${MG_FUZZ_TAG} from the environment, the file's token
SECRET_ENV = {"MG_FUZZ_TAG": "fuzz-tag"}
SECRET_TOKEN = "fuzz-token"

# Sanitizer settings: reports go to stderr; a SEGV is caught by ASan for its stack.
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:print_summary=1:"
    "detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "report_objects=0",
}


# Every access-log variable (docs/access-log.md); the fuzzed requests run through each
# of them, escaped in a template and as JSON fields.
LOG_VARS = (
    "time time_iso8601 time_local msec remote_addr remote_port method uri request protocol "
    "status bytes_sent body_bytes_sent request_length referer user_agent host scheme route "
    "consumer request_id trace_id upstream_addr upstream_status upstream_connect_time "
    "upstream_header_time upstream_response_time upstream_time upstream_tries request_time "
    "plugin_rewrite_time plugin_access_time plugin_balancer_time plugin_header_filter_time "
    "plugin_body_filter_time plugin_log_time tls_version tls_cipher tls_sni").split()

# The access-log formats reloads go through: a template of every variable first (the
# start), then every field as JSON, then the two fixed formats.
ACCESS_LOGS = [
    "{ path: logs/access.log, format: '%s' }"
    % " ".join("%s=${%s}" % (v, v) if i % 2 else "$" + v for i, v in enumerate(LOG_VARS)),
    "{ path: logs/access.log, format: [%s] }" % ", ".join(LOG_VARS),
    "{ path: logs/access.log, format: combined }",
    "{ path: logs/access.log, format: json, buffer: 0 }",
]


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    """One moongate master started from `binary` on a fresh root; ports set at init."""

    def __init__(self, binary, root, up_port, dead_port, hole_port, tls=True, dns_port=None,
                 redis_port=None, sock_port=None):
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.admin_port = free_port()
        self.tls_port = free_port() if tls else None
        self.pp_port = free_port()  # proxy_protocol: true (ppfuzz.py)
        self.tls_files = None  # the certificates' paths, once made (write_root)
        self.ports = dict(port=self.port, admin_port=self.admin_port, up_port=up_port,
                          dead_port=dead_port, hole_port=hole_port,
                          dns_port=dns_port if dns_port is not None else dead_port,
                          redis_port=redis_port if redis_port is not None else dead_port,
                          sock_port=sock_port if sock_port is not None else dead_port)
        self.vars = dict(self.ports, workers=2, sleep_ms=5, rate=20, listen=self.listen_yaml(),
                         tls_section="", trusted=json.dumps(ppfuzz.TRUSTED),
                         access_log=ACCESS_LOGS[0], trace_ratio=1, trace_port=up_port)
        self.proc = None
        self.error_log = os.path.join(root, "logs", "error.log")
        self.stderr_log = os.path.join(root, "stderr.log")
        self.conf_file = os.path.join(root, "conf", "moongate.yaml")

    def write_root(self):
        for d in ("conf", "logs", "plugins"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        if self.tls_port:
            self.tls_files = tlsfuzz.make_certs(self.root)
            self.vars.update(listen=self.listen_yaml(), tls_section=self.tls_yaml())
        self.write_config()
        for name in os.listdir(PLUGINS):
            if name.endswith(".lua"):
                shutil.copy(os.path.join(PLUGINS, name), os.path.join(self.root, "plugins"))
        self.write_platform()

    def write_platform(self):
        """What the chaos route and the consumers' secrets need: the lua_path module
        (conf/lib, beside the configuration file) and the secret file."""
        shutil.copytree(LIB, os.path.join(self.root, "conf", "lib"), dirs_exist_ok=True)
        os.makedirs(os.path.join(self.root, "conf", "fuzz-secrets"), exist_ok=True)
        with open(os.path.join(self.root, "conf", "fuzz-secrets", "token"), "w") as f:
            f.write(SECRET_TOKEN + "\n")

    def listen_yaml(self):
        """The plain listener, the PROXY protocol one, and the TLS one once its
        certificates are made."""
        out = ['"127.0.0.1:%d"' % self.port,
               '{ address: "127.0.0.1:%d", proxy_protocol: true }' % self.pp_port]
        if self.tls_files:
            out.append('{ address: "127.0.0.1:%d", tls: true }' % self.tls_port)
        return "[%s]" % ", ".join(out)

    def tls_yaml(self, n=0):
        """The tls: section: ECDSA and RSA for the same names, a wildcard set served
        with its chain, a name that asks for a client certificate (optional), a short
        handshake timeout. Reloads (`n`) turn session tickets and client certificate
        headers on and off."""
        f = self.tls_files
        return "\n".join([
            "tls:",
            "  certificates:",
            "    - { cert: %s, key: %s, snis: [%s] }" % (f["main_ec"], f["main_ec_key"],
                                                        ", ".join(tlsfuzz.NAMES_MAIN)),
            "    - { cert: %s, key: %s, snis: [%s] }" % (f["main_rsa"], f["main_rsa_key"],
                                                        ", ".join(tlsfuzz.NAMES_MAIN)),
            "    - { cert: %s, key: %s, snis: [\"%s\"] }" % (
                f["wild"], f["wild_key"], '", "'.join(tlsfuzz.NAMES_WILD)),
            "    - { cert: %s, key: %s, snis: [%s], client_ca: %s, client_verify: optional }"
            % (f["mtls"], f["mtls_key"], ", ".join(tlsfuzz.NAMES_MTLS), f["ca"]),
            "  handshake_timeout: %ds" % tlsfuzz.HANDSHAKE_TIMEOUT,
            "  session_tickets: %s" % ("false" if n % 3 == 2 else "true"),
            "  client_cert_headers: %s" % ("false" if n % 2 else "true"),
        ])

    def write_config(self):
        with open(CONFIG) as f:
            text = string.Template(f.read()).safe_substitute(self.vars)
        tmp = self.conf_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf_file)  # a reload never reads half a file

    def vary(self, n):
        """Writes the configuration of the n-th reload: a plugin's config, a rate limit and
        the trace sample ratio change every time (the workers switch generation in
        place), every fifth sends spans to a port that refuses them; every fourth reload
        asks for three workers instead of two, and the next one for two again, so that
        a new set of workers starts and the old one drains. The access-log format goes
        round ACCESS_LOGS."""
        self.vars.update(sleep_ms=5 + n % 3, rate=20 + 5 * (n % 2),
                         workers=3 if n % 4 == 3 else 2,
                         access_log=ACCESS_LOGS[n % len(ACCESS_LOGS)],
                         trace_ratio=(1, 0.5, 0)[n % 3],
                         trace_port=self.ports["dead_port" if n % 5 == 4 else "up_port"])
        if self.tls_port:
            self.vars.update(tls_section=self.tls_yaml(n))
        self.write_config()

    def start(self, timeout=30.0):
        """Starts the master and waits until both workers serve. Raises on failure."""
        env = dict(os.environ)
        for k, v in SAN_ENV.items():
            env.setdefault(k, v)
        env.update(SECRET_ENV)
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

    def worker_rss(self):
        """{pid: VmRSS in KiB} of the serving workers (from /status and /proc)."""
        st = self.status(timeout=2.0) or {}
        out = {}
        for w in st.get("workers", []):
            pid = w.get("pid")
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            out[pid] = int(line.split()[1])
            except (OSError, TypeError, ValueError):
                pass
        return out

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
