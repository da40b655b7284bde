#!/usr/bin/env python3
"""otlp_receiver.py -- a stand-in OpenTelemetry collector for the t/ suite: an
OTLP/HTTP JSON receiver on 127.0.0.1 that appends every request it gets to a file, one
JSON line each: {"path", "method", "headers" (lower-cased names), "content_type",
"body" (the decoded JSON, or null), "error" (why the body did not decode), "time"}.

  otlp_receiver.py --port N --out FILE [--sleep S] [--status CODE]

--sleep makes it wait S seconds before answering (a slow collector), --status answers
with CODE instead of 200 (a failing one). It answers {} as application/json, like a
collector's ExportTraceServiceResponse without partial success. TERM ends it.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test reads the file
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        rec = {
            "path": self.path,
            "method": "POST",
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "content_type": self.headers.get("Content-Type"),
            "body": None,
            "error": None,
            "time": time.time(),
        }
        try:
            rec["body"] = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            rec["error"] = str(e)
        with LOCK:
            with open(self.server.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        if self.server.sleep > 0:
            time.sleep(self.server.sleep)
        body = b"{}"
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sleep", type=float, default=0)
    ap.add_argument("--status", type=int, default=200)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.out, srv.sleep, srv.status = a.out, a.sleep, a.status
    open(a.out, "a").close()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
