"""Starting and stopping what a run needs: the upstream and the gateway; liveness
probes; the graceful stop at the end, with its check of the workers' exit statuses."""

import os
import signal
import time

from . import client, dnsfuzz, gateway, redisfuzz, sockfuzz, upstream

_dns_pids = []  # the name servers (and the Redis, the line server) started, ended with the upstream


def start_all(binary, root, seed, lifetime, tls=True):
    """The upstream (alive for `lifetime` s) and the gateway (with a TLS listener
    unless `tls` is false), started. Returns (gateway, upstream pid, the blackhole
    socket to close at the end)."""
    up_pid, up_port, dead_port, hole_port, hole = upstream.start(seed, lifetime)
    dns_pid, dns_port = dnsfuzz.start(seed, up_port, lifetime)
    _dns_pids.append(dns_pid)
    redis_pid, redis_port = redisfuzz.start(seed, lifetime)
    _dns_pids.append(redis_pid)
    sock_pid, sock_port = sockfuzz.start(seed, lifetime)
    _dns_pids.append(sock_pid)
    gw = gateway.Gateway(binary, root, up_port, dead_port, hole_port, tls=tls, dns_port=dns_port,
                         redis_port=redis_port, sock_port=sock_port)
    gw.write_root()
    try:
        gw.start()
    except RuntimeError:
        stop_upstream(up_pid, hole)
        raise
    return gw, up_pid, hole


def stop_upstream(pid, hole):
    hole.close()
    for p in [pid] + _dns_pids:
        try:
            os.kill(p, signal.SIGTERM)
            os.waitpid(p, 0)
        except OSError:
            pass
    del _dns_pids[:]


def probe(port, timeout):
    """True when GET /hello on a new connection gets a 200 within `timeout` s."""
    try:
        c = client.Conn(port, timeout)
        out = c.run([["send", b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"],
                     ["read", timeout * 1000], ["close", 0]])
        return 200 in out["statuses"]
    except OSError:
        return False


def wait_workers(gw, n=2, timeout=10.0):
    """Waits until /status lists `n` serving workers (after a crash, the master may
    hold a respawn back for a second). True when they are there in time."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = gw.status(timeout=1.0)
        if st and len([w for w in st.get("workers", []) if w.get("pid")]) >= n:
            return True
        time.sleep(0.1)
    return False


def graceful_stop(gw, found, show=print):
    """QUIT, then the worker exits logged since. Returns (master status, [(pid, what)],
    ok): ok when the master exited 0 and at least two workers exited with status 0
    and none otherwise (a LeakSanitizer report makes a worker's status non-zero)."""
    time.sleep(1.0)
    found.poll()
    mark = len(found.exits)
    rc = gw.stop(graceful=True, timeout=40)
    time.sleep(0.2)
    for kind, d in found.poll():
        show("  [%s] %s" % (kind, d["line"][:300]))
    exits = [(d["pid"], d["what"]) for d in found.exits[mark:]]
    ok = rc == 0 and len(exits) >= 2 and all(w == "exit status 0" for _, w in exits)
    return rc, exits, ok
