"""Replaying saved cases against a fresh gateway, and shrinking the one that kills a
worker to a minimal repro.

Cases are replayed one recorded connection after the other (the cases of a connection
share it, as when they were recorded; the connections of a burst run at the same time);
after each the logs are read. The
first connection followed by a death or a sanitizer report is the hit. --minimize then
tries the hit's cases alone, drops steps, joins sends and cuts bytes, keeping every
change after which the worker still dies, and writes the result as minimal.json.
"""

import collections
import os
import shutil
import tempfile
import threading
import time

from . import findings, harness, tlsfuzz

TROUBLE = ("death", "sanitizer", "stall", "alert")


class Replayer:
    """Runs cases against `gw`; a race may need several runs, so each test is tried up
    to `repeat` times."""

    def __init__(self, gw, found, wait, repeat):
        self.gw = gw
        self.found = found
        self.wait = wait
        self.repeat = max(1, repeat)
        self.tries = 0
        self.hellos = tlsfuzz.capture_hellos(gw.tls_files) if gw.tls_port else []

    def run_repeated(self, cases, show=None):
        return self.run_unit([cases], show)

    def run(self, cases, show=None):
        """Runs `cases` on one connection; returns the trouble events that followed."""
        self.tries += 1
        harness.wait_workers(self.gw)
        self.found.poll()
        self.run_conn(cases, show)
        time.sleep(self.wait)
        return [(k, d) for k, d in self.found.poll() if k in TROUBLE]

    def run_conn(self, cases, show):
        if cases[0].get("port") == "tlsflood":
            out = tlsfuzz.run_flood(self.gw.tls_port, cases[0]["flood"], self.hellos)
            if show:
                show("  job %s conn %s %s: %s" % (cases[0].get("job"), cases[0].get("conn"),
                                                  cases[0].get("seed"), out))
            return
        try:
            conn = tlsfuzz.open_conn(self.gw, cases[0], self.gw.tls_files)
            if getattr(conn, "hs", "ok") != "ok":
                if show:
                    show("  job %s conn %s: handshake %s" % (cases[0].get("job"),
                                                             cases[0].get("conn"), conn.hs))
                return
            for c in cases:
                out = conn.run(c["steps"])
                if show:
                    show("  job %s conn %s #%s %s: %s" % (
                        c.get("job"), c.get("conn"), c.get("n"), c.get("seed"),
                        findings.describe_outcome(out)))
            conn.close()
        except OSError as e:
            if show:
                show("  connection failed: %s" % e)

    def run_burst(self, groups, show=None):
        """Runs each connection's cases of a burst at the same time, as recorded."""
        self.tries += 1
        harness.wait_workers(self.gw)
        self.found.poll()
        threads = [threading.Thread(target=self.run_conn, args=(g, show), daemon=True)
                   for g in groups]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        time.sleep(self.wait)
        return [(k, d) for k, d in self.found.poll() if k in TROUBLE]

    def run_unit(self, unit, show=None):
        """A unit is one connection's cases, or a burst: several connections at once."""
        for _ in range(self.repeat):
            events = self.run_burst(unit, show) if len(unit) > 1 else self.run(unit[0], show)
            if events:
                return events
        return []

    def reproduces(self, steps, base):
        """Whether `steps` on a connection like the case `base` (its port, TLS
        parameters) still make trouble."""
        return bool(self.run_repeated([dict(base, steps=steps)]))


def minimize(rp, group, max_tries, show=print):
    """The smallest steps found that still make trouble, from the hit `group`."""
    port = group[0].get("port", "main")
    base = {k: v for k, v in group[0].items() if k in ("port", "kind", "tls", "http")}
    start = rp.tries
    cases = list(group)
    if len(cases) > 1:
        for c in reversed(cases):
            if rp.reproduces(c["steps"], base):
                cases = [c]
                break
    steps = [s for c in cases for s in c["steps"]]

    def budget():
        return rp.tries - start < max_tries

    # drop whole steps, last first (sleeps, waits, reads, extra sends)
    i = len(steps) - 1
    while i >= 0 and budget():
        cand = steps[:i] + steps[i + 1:]
        if cand and rp.reproduces(cand, base):
            steps = cand
            show("  %d steps" % len(steps))
        i -= 1
    # join neighbouring sends
    joined = []
    for op, arg in steps:
        if op == "send" and joined and joined[-1][0] == "send":
            joined[-1] = ["send", joined[-1][1] + arg]
        else:
            joined.append([op, arg])
    if len(joined) < len(steps) and budget() and rp.reproduces(joined, base):
        steps = joined
    # drop whole lines of each send (headers, chunk lines), then cut bytes, halving the
    # piece size down to one byte
    for k in range(len(steps)):
        if steps[k][0] != "send":
            continue
        lines = steps[k][1].splitlines(keepends=True)
        j = len(lines) - 1
        while j >= 0 and budget():
            cand_lines = lines[:j] + lines[j + 1:]
            cand = steps[:k] + [["send", b"".join(cand_lines)]] + steps[k + 1:]
            if rp.reproduces(cand, base):
                lines, steps = cand_lines, cand
                show("  %d lines in send %d" % (len(lines), k))
            j -= 1
    for k in range(len(steps)):
        if steps[k][0] != "send":
            continue
        size = max(1, len(steps[k][1]) // 2)
        while size >= 1 and budget():
            off = 0
            while off < len(steps[k][1]) and budget():
                data = steps[k][1]
                cand = steps[:k] + [["send", data[:off] + data[off + size:]]] + steps[k + 1:]
                if rp.reproduces(cand, base):
                    steps = cand
                    show("  %d bytes in send %d" % (len(steps[k][1]), k))
                else:
                    off += size
            size //= 2
    show("  minimized in %d tries" % (rp.tries - start))
    return dict(base, port=port, seed="minimized", job=0, conn=0, n=0, t0=time.time(),
                steps=steps)


def replay(args, show=print):
    cases = findings.load_cases(args.replay)
    groups = collections.OrderedDict()
    for c in cases:
        groups.setdefault((c.get("job"), c.get("conn")), []).append(c)
    units = collections.OrderedDict()  # a burst's connections run together
    for key, group in groups.items():
        burst = group[0].get("burst")
        units.setdefault(("burst", burst) if burst else key, []).append(group)
    root = tempfile.mkdtemp(prefix="moongate-replay-")
    tls = not args.no_tls or any(c.get("port") in ("tls", "tlsraw", "tlsflood") for c in cases)
    gw, up_pid, hole = harness.start_all(args.bin, root, args.seed, 3600, tls=tls)
    found = findings.Findings(None, gw.error_log, gw.stderr_log, lambda: [])
    rp = Replayer(gw, found, args.replay_wait, args.replay_repeat)
    show("replaying %d cases on %d connections against %s" % (len(cases), len(groups),
                                                                args.bin))
    hit = minimal = hit_unit = None
    try:
        for unit in units.values():
            events = rp.run_unit(unit, show)
            for kind, d in events:
                show("  [%s] %s" % (kind, d["line"][:300]))
            if events and hit_unit is None:
                hit = unit[0] if len(unit) == 1 else None
                hit_unit = unit
                if not args.replay_all:
                    break
        if hit and args.minimize:
            show("minimizing (at most %d tries)" % args.minimize_tries)
            minimal = minimize(rp, hit, args.minimize_tries, show)
    except KeyboardInterrupt:
        show("  interrupted: stopping")
    rc, exits, ok = harness.graceful_stop(gw, found, show)
    harness.stop_upstream(up_pid, hole)
    show("graceful stop: master status %s, worker exits: %s" % (
        rc, ", ".join(w for _, w in exits) or "none logged"))
    if minimal:
        path = os.path.join(args.replay if os.path.isdir(args.replay)
                            else os.path.dirname(os.path.abspath(args.replay)), "minimal.json")
        with open(path, "w") as f:
            f.write(findings.case_to_json(minimal) + "\n")
        show("\nminimal case (%s), bytes as sent in Python notation:" % path)
        print_steps(minimal["steps"], show)
    elif hit_unit:
        show("\nreproduced by %s (bytes as sent, Python notation):"
             % ("this connection's cases" if len(hit_unit) == 1
                else "these %d connections at once" % len(hit_unit)))
        for group in hit_unit:
            for c in group:
                show(" connection %s:" % c.get("conn"))
                print_steps(c["steps"], show)
        if hit is None and args.minimize:
            show("(a burst is not minimized: replay its connections alone to try)")
    if hit_unit or not ok:
        show("server root kept: %s" % root)
        return 1
    show("not reproduced")
    shutil.rmtree(root, ignore_errors=True)
    return 0


def print_steps(steps, show):
    for op, arg in steps:
        show("  %s %r" % (op, arg))

