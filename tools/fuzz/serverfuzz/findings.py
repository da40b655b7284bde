"""What went wrong, from the gateway's own logs, and the cases saved for each finding.

The master logs every worker exit (core/master.c, log_exit):

  2025/01/02 10:00:00 [alert] 4242#-: worker 4250 (slot 1) killed by signal 11 (Segmentation fault)
  2025/01/02 10:00:00 [alert] 4242#-: worker 4250 (slot 1) exited with status 1

at `alert` when the exit was not asked for (or a stop ended with a status other than
0), at `notice` otherwise. A worker stuck in Lua is killed with an `alert` line
"worker N stalled for ...". Sanitizers write to stderr: "==PID==ERROR:
AddressSanitizer: ...", "==PID==ERROR: LeakSanitizer: ...", "FILE:LINE:COL: runtime
error: ..." (UBSan).

A finding is one such event (with the events that follow it within a second, which
are the same crash seen from another side) and the last cases of every fuzzing
connection slot at that moment. Each is saved as DIR/NNN-SIGNATURE/ with finding.txt
and cases.jsonl (one case per line, replayable with --replay).
"""

import collections
import json
import os
import re
import threading
import time

EXIT_RE = re.compile(r"\[(\w+)\] \d+#[-\d]+: worker (\d+) \(slot (\d+)\) "
                     r"(?:killed by signal (\d+) \(([^)]*)\)|exited with status (\d+))")
STALL_RE = re.compile(r"\[alert\] .*worker (\d+) stalled for")
SAN_RE = re.compile(r"==(\d+)==ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ")
LEVEL_RE = re.compile(r"^\S+ \S+ \[(crit|alert|emerg)\] ")
FRAME_RE = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+) (\S*core/[^\s:]+(?::\d+)?)")
GROUP_WINDOW = 1.0
MAX_SAVED_PER_SIG = 3
MAX_SAVED = 40


class LogTail:
    """New complete lines of a growing file, with the offset each starts at."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b""

    def skip_to_end(self):
        try:
            self.pos = os.path.getsize(self.path)
        except OSError:
            self.pos = 0
        self.partial = b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read(8 << 20)
        except OSError:
            return []
        start = self.pos - len(self.partial)
        self.pos += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        out = []
        for raw in data[:cut].split(b"\n")[:-1]:
            out.append((start, raw.decode("utf-8", "replace")))
            start += len(raw) + 1
        return out


def classify(line):
    """(kind, detail) for a line that reports trouble, else None. Kinds: death, stall,
    sanitizer, alert, exit (an expected worker exit, notice level)."""
    m = EXIT_RE.search(line)
    if m:
        level, pid, slot, sig, signame, code = m.groups()
        what = "signal %s (%s)" % (sig, signame) if sig else "exit status %s" % code
        if level in ("alert", "crit"):
            return "death", dict(pid=int(pid), slot=int(slot), what=what, line=line)
        return "exit", dict(pid=int(pid), slot=int(slot), what=what, line=line,
                            code=None if sig else int(code), signal=int(sig) if sig else None)
    if STALL_RE.search(line):
        return "stall", dict(line=line)
    m = SAN_RE.search(line)
    if m:
        return "sanitizer", dict(pid=int(m.group(1)) if m.group(1) else None, line=line)
    if LEVEL_RE.search(line) and "crashed" not in line:
        return "alert", dict(line=line)
    return None


def report_excerpt(path, offset, max_lines=80):
    """The sanitizer report starting at `offset` of `path`, up to its SUMMARY line."""
    out = []
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            for _ in range(max_lines):
                raw = f.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                out.append(line)
                if line.startswith("SUMMARY:"):
                    break
    except OSError:
        pass
    return out


def signature(events, excerpt):
    """A short name for the crash: the sanitizer's error and first core/ frame, or the
    UBSan message, or the signal or exit status."""
    for line in excerpt:
        m = re.search(r"ERROR: (\w+): ([\w-]+)", line)
        if m:
            frame = next((f for f in (FRAME_RE.search(x) for x in excerpt) if f), None)
            where = "%s %s" % (frame.group(1), frame.group(2)) if frame else ""
            return ("%s %s" % (m.group(2), where)).strip()
        m = re.search(r"(\S*core/\S+): runtime error: (.*)", line)
        if m:
            return "ubsan %s %s" % (m.group(1), m.group(2)[:60])
    for kind, d in events:
        if kind == "death":
            return d["what"]
        if kind == "stall":
            return "stall"
        if kind == "alert":
            return "alert " + d["line"].split("]: ", 1)[-1][:60]
    return "unknown"


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "finding"


def case_to_json(rec):
    """A case record as a JSON line; bytes as latin-1 text (JSON escapes the rest)."""
    out = dict(rec)
    out["steps"] = [[op, arg.decode("latin-1") if isinstance(arg, bytes) else arg]
                    for op, arg in rec["steps"]]
    return json.dumps(out, sort_keys=True)


def case_from_json(text):
    rec = json.loads(text)
    rec["steps"] = [[op, arg.encode("latin-1") if op == "send" else arg]
                    for op, arg in rec["steps"]]
    return rec


def load_cases(path):
    """Cases from a finding directory (its cases.jsonl), a .jsonl or a .json file."""
    if os.path.isdir(path):
        path = os.path.join(path, "cases.jsonl")
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("[") or path.endswith(".json"):
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
        return [case_from_json(json.dumps(x)) for x in items]
    return [case_from_json(line) for line in text.splitlines() if line.strip()]


class Findings:
    """Events seen in the logs, grouped into findings, with cases saved to `out_dir`.
    `snapshot()` (set by the caller) returns the case records to save with a finding."""

    def __init__(self, out_dir, error_log, stderr_log, snapshot):
        self.out_dir = out_dir
        self.paths = dict(error=error_log, stderr=stderr_log)
        self.tails = {k: LogTail(p) for k, p in self.paths.items()}
        self.snapshot = snapshot
        self.lock = threading.Lock()
        self.items = []
        self.counts = dict(death=0, stall=0, sanitizer=0, alert=0, lagged=0)
        self.lags = collections.deque(maxlen=100)  # (when, seconds) of our own stalls
        self.exits = []
        self.last_death = 0.0
        self.saved = 0

    def note_lag(self, seconds):
        """Records how late the fuzzer's own 0.2 s tick woke up: when the machine is so
        loaded that the fuzzer stalls for seconds, a worker stall at the same time says
        more about the machine than about the worker."""
        if seconds > 0.5:
            self.lags.append((time.monotonic(), seconds))

    def recent_lag(self, now, window=15.0):
        return max([s for t, s in self.lags if now - t < window] or [0.0])

    def poll(self):
        """Reads new log lines; returns the new trouble events as (kind, detail)."""
        new = []
        for name, tail in self.tails.items():
            for offset, line in tail.lines():
                c = classify(line)
                if not c:
                    continue
                kind, d = c
                d.update(log=name, offset=offset)
                if kind == "exit":
                    self.exits.append(d)
                    continue
                new.append((kind, d))
        now = time.monotonic()
        with self.lock:
            for kind, d in new:
                lag = self.recent_lag(now)
                if kind in ("stall", "hang") and lag > 1.0:
                    d["line"] += " [the fuzzer itself stalled %.1f s meanwhile]" % lag
                    self.counts["lagged"] += 1
                self.counts[kind] += 1
                if kind in ("death", "stall"):
                    self.last_death = now
                if kind == "death":
                    self.exits.append(d)
                item = self.group_of(kind, d, now)
                if item:
                    item["events"].append((kind, d))
                else:
                    item = dict(t=now, wall=time.time(), events=[(kind, d)],
                                cases=self.snapshot(), pids=set())
                    self.items.append(item)
                if d.get("pid"):
                    item["pids"].add(d["pid"])
        return new

    def group_of(self, kind, d, now):
        """The finding an event belongs to, or None for a new one. A sanitizer report
        joins the finding of its pid; a worker's death joins the finding of its pid or
        the latest pid-less report (UBSan's) still waiting for its death: symbolizing a
        report can take seconds before the worker exits. Other lines join whatever was
        opened in the last second."""
        recent = [i for i in self.items[-40:] if now - i["t"] < 30]
        pid = d.get("pid")
        if pid:
            for item in reversed(recent):
                if pid in item["pids"]:
                    return item
        if kind == "death":
            for item in reversed(recent):
                kinds = [k for k, _ in item["events"]]
                if "death" not in kinds and "sanitizer" in kinds and not item["pids"]:
                    return item
            return None
        if kind == "sanitizer":
            return None
        last = self.items[-1] if self.items else None
        return last if last and now - last["t"] < GROUP_WINDOW else None

    def add_hang(self, detail):
        with self.lock:
            lag = self.recent_lag(time.monotonic())
            if lag > 1.0:
                detail += " [the fuzzer itself stalled %.1f s meanwhile]" % lag
                self.counts["lagged"] += 1
            self.counts.setdefault("hang", 0)
            self.counts["hang"] += 1
            self.items.append(dict(t=time.monotonic(), wall=time.time(),
                                   events=[("hang", dict(line=detail))],
                                   cases=self.snapshot(), pids=set()))

    def finish(self):
        """Writes every finding (a few per signature) to disk; returns
        [(signature, count, saved_dir_or_None)] in order of first appearance."""
        by_sig = {}
        for item in self.items:
            excerpt = []
            for kind, d in item["events"]:
                if kind == "sanitizer" and d.get("log") == "stderr":
                    excerpt = report_excerpt(self.paths["stderr"], d["offset"])
                    break
            item["excerpt"] = excerpt
            sig = signature(item["events"], excerpt)
            item["sig"] = sig
            entry = by_sig.setdefault(sig, [0, None])
            entry[0] += 1
            if entry[0] <= MAX_SAVED_PER_SIG and self.saved < MAX_SAVED:
                d = self.save(item)
                entry[1] = entry[1] or d
        return [(sig, n, d) for sig, (n, d) in by_sig.items()]

    def save(self, item):
        self.saved += 1
        d = os.path.join(self.out_dir, "%03d-%s" % (self.saved, slug(item["sig"])))
        os.makedirs(d, exist_ok=True)
        cases = sorted(item["cases"], key=lambda c: (c["t0"], c["job"]))
        with open(os.path.join(d, "cases.jsonl"), "w") as f:
            for c in cases:
                f.write(case_to_json(c) + "\n")
        with open(os.path.join(d, "finding.txt"), "w") as f:
            f.write("signature: %s\n" % item["sig"])
            f.write("time: %s\n\n" % time.strftime("%Y-%m-%d %H:%M:%S",
                                                    time.localtime(item["wall"])))
            for kind, ev in item["events"]:
                f.write("%s: %s\n" % (kind, ev["line"]))
            if item["excerpt"]:
                f.write("\n" + "\n".join(item["excerpt"]) + "\n")
            f.write("\ncases (last ones of every connection slot; suspects: the connection "
                    "ended without an answer):\n")
            for c in cases:
                f.write("  job %d conn %d #%d %-8s %-40s %s\n" % (
                    c["job"], c["conn"], c["n"], c["port"], c["seed"][:40],
                    describe_outcome(c.get("outcome"))))
        return d


def describe_outcome(o):
    if o is None:
        return "in flight"
    flags = [k for k in ("eof", "reset", "send_error", "send_timeout", "timeout", "garbage",
                         "error") if o.get(k)]
    st = ",".join(str(s) for s in o.get("statuses", [])) or "-"
    suspect = "SUSPECT " if not o.get("statuses") and (o.get("eof") or o.get("reset")) else ""
    return "%sstatuses %s %s" % (suspect, st, " ".join(flags))
