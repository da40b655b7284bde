"""The line server of the gateway's mg.socket route: a TCP server on loopback, in a
child process of its own (a thread per connection), that answers the plugin's commands
well most of the time and otherwise misbehaves, so that mg.socket's receive patterns,
timeouts and keep-alive pool meet what a broken or hostile server sends while plugin
coroutines wait on it.

The plugin (plugins/fuzz-socket.lua) sends one command per line, built from the words
of the request path and what the client put in its X-Sock-* headers (mutated by the
fuzzer):

  ECHO text        -> "text\\r\\n"
  BYTES n          -> n bytes
  UNTIL delim n    -> n bytes, then the delimiter, then n bytes and the delimiter again
  ALL n            -> n bytes, then the connection is closed

Misbehaviour, instead of or around the answer:

  cut        the answer cut in the middle, then the connection closed (or reset)
  silence    no answer (the plugin's read timeout ends it)
  trickle    the answer one byte at a time, a few ms apart
  extra      bytes nobody asked for after the answer (a pooled connection with unread data)
  later      the answer, and 200 ms later bytes nobody asked for (the idle pool sees them)
  long       a line of 70,000 bytes without a line end (past the 64 KiB line limit)
  binary     NUL, bare CR and bytes over 0x7f in the answer, CR LF split
  close      the connection closed (or reset) before any answer
"""

import os
import random
import signal
import socket
import struct
import threading
import time
from .forked import serve_in_child, tcp_listener

MAX_N = 20 * 1024 * 1024  # sizes past mg.socket's 16 MiB cap still get an answer


def number(word):
    try:
        n = int(word)
    except ValueError:
        return 16
    return max(0, min(n, MAX_N))


def answer(line):
    """The well-behaved answer to one command line: (bytes, close after)."""
    word, _, arg = line.partition(b" ")
    if word == b"ECHO":
        return arg + b"\r\n", False
    if word == b"BYTES":
        n = number(arg)
        return (b"0123456789" * (n // 10 + 1))[:n], False
    if word == b"UNTIL":
        delim, _, n = arg.rpartition(b" ")
        body = b"u" * min(number(n), 1 << 20)
        return (body + delim) * 2, False
    if word == b"ALL":
        return b"z" * min(number(arg), 1 << 20), True
    return b"ERR unknown\r\n", False


def send(conn, data, trickle=False):
    if not trickle:
        conn.sendall(data)
        return
    for i in range(min(len(data), 200)):
        conn.sendall(data[i:i + 1])
        time.sleep(0.002)
    conn.sendall(data[200:])


def reset(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def respond(conn, rng, line):
    """Answers one command, well or not. Returns False once the connection is done."""
    data, close = answer(line)
    roll = rng.random()
    if roll < 0.60:
        send(conn, data)
    elif roll < 0.67:
        send(conn, data[:rng.randrange(0, max(1, len(data)))])
        if rng.random() < 0.5:
            reset(conn)
        return False
    elif roll < 0.72:
        return True  # silence: the next command, if any, is answered
    elif roll < 0.78:
        send(conn, data, trickle=True)
    elif roll < 0.84:
        send(conn, data + rng.choice([b"x", b"\r\n", b"extra\r\n" * 50]))
    elif roll < 0.88:
        send(conn, data)

        def later(c=conn):
            time.sleep(0.2)
            try:
                c.sendall(b"unasked\r\n")
            except OSError:
                pass
        threading.Thread(target=later, daemon=True).start()
    elif roll < 0.91:
        send(conn, b"a" * 70000)
    elif roll < 0.96:
        send(conn, rng.choice([b"\x00\r\x00\n", b"\r", b"\xff\xfe\r", b"a\rb\r\n"]) + data)
    else:
        if rng.random() < 0.5:
            reset(conn)
        return False
    return not close


def serve(conn, seed):
    rng = random.Random(seed)
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                if not respond(conn, rng, line.rstrip(b"\r")):
                    return
            if len(buf) > 1 << 20:
                return  # a command without a line end that never ends
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def accept_loop(lsock, seed, lifetime):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    end = time.monotonic() + lifetime
    lsock.settimeout(0.5)
    n = 0
    while time.monotonic() < end:
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            continue
        c.settimeout(None)
        n += 1
        threading.Thread(target=serve, args=(c, seed ^ (n * 0x9e3779b1)), daemon=True).start()


def start(seed, lifetime):
    """Forks the server, which ends after `lifetime` seconds. Returns (pid, port)."""
    return serve_in_child(tcp_listener(64), accept_loop, seed, lifetime)


# What the client's X-Sock-* headers carry: the seeds' values, which the mutator then
# changes (digits, cut, inserted bytes).
LINES = [b"hello", b"", b"a b c", b"x" * 300, b"x" * 6000, b"tab\there", b"\xff\xfe utf",
         b"semi;colon", b"100%", b"--XB--"]
SIZES = [b"0", b"1", b"2", b"10", b"4096", b"16384", b"65536", b"65537", b"1048576",
         b"16777216", b"16777217", b"-1", b"1.5", b"abc", b"99999999999999999999", b""]
DELIMS = [b"--XB--", b";", b"\t", b"x", b"u", b"uu", b"ab" * 40, b"a" * 6000, b""]


def sock_paths():
    """Request targets of the mg.socket route: the words say what the plugin does."""
    return [b"/sock/" + w for w in (
        b"line", b"size", b"until", b"untilchunk", b"untilincl", b"all", b"line/size/until",
        b"line/keep", b"size/keep", b"until/keep", b"line/size/keep/pool2", b"x",
        b"line/line/line/keep", b"all/keep", b"sleep/line/keep")]
