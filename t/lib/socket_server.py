#!/usr/bin/python3
"""A line-protocol server for t/lua/socket.t (mg.socket): loopback only, standard
library only. Prints one line "plain=P tls=P silent=P" once listening, then serves
until killed.

Every connection gets a number (1, 2, ... per listener kind); commands are lines
ending in LF (a CR before it is dropped):

  ECHO text      -> "text\r\n"
  CONN           -> "conn=<its number> req=<commands on it so far>\r\n"
  CONNS          -> "conns=<connections accepted so far, all kinds>\r\n"
  BYTES n        -> n bytes "0123456789" repeated, no line end
  SLOW text      -> "text\r\n", one byte every 10 ms
  CLOSE text     -> "text" (no line end), then the connection is closed
  ALL n          -> n bytes, then the connection is closed
  LONG n         -> n bytes "a" with no line end, then nothing more
  NONE           -> nothing, ever (the connection stays open)
  PARTS a|b|...  -> "a--XB--b--XB--...--XB--" in pieces of 3 bytes, 5 ms apart
  QUIT           -> the connection is closed
  SEND_LATER text -> "text\r\n" 300 ms later, unasked (for pooled connections)
  set k f e n / get k / delete k: the memcached text protocol for those three

The silent listener accepts and never reads or answers.
"""
import argparse
import os
import socket
import ssl
import sys
import threading
import time

lock = threading.Lock()
counts = {"all": 0}
store = {}


def next_conn():
    with lock:
        counts["all"] += 1
        return counts["all"]


def readline(f):
    line = f.readline()
    if not line:
        return None
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def memcached(conn, f, parts):
    cmd = parts[0]
    if cmd == b"set" and len(parts) == 5:
        n = int(parts[4])
        data = f.read(n + 2)
        store[parts[1]] = (parts[2], data[:n])
        conn.sendall(b"STORED\r\n")
    elif cmd == b"get":
        for k in parts[1:]:
            if k in store:
                flags, v = store[k]
                conn.sendall(b"VALUE %s %s %d\r\n%s\r\n" % (k, flags, len(v), v))
        conn.sendall(b"END\r\n")
    elif cmd == b"delete" and len(parts) == 2:
        conn.sendall(b"DELETED\r\n" if store.pop(parts[1], None) else b"NOT_FOUND\r\n")
    else:
        conn.sendall(b"ERROR\r\n")


def serve(conn):
    num = next_conn()
    req = 0
    f = conn.makefile("rb")
    try:
        while True:
            line = readline(f)
            if line is None:
                return
            req += 1
            word, _, arg = line.partition(b" ")
            if word == b"ECHO":
                conn.sendall(arg + b"\r\n")
            elif word == b"CONN":
                conn.sendall(b"conn=%d req=%d\r\n" % (num, req))
            elif word == b"CONNS":
                conn.sendall(b"conns=%d\r\n" % counts["all"])
            elif word == b"BYTES":
                n = int(arg)
                conn.sendall((b"0123456789" * (n // 10 + 1))[:n])
            elif word == b"SLOW":
                for i in range(len(arg) + 2):
                    conn.sendall((arg + b"\r\n")[i:i + 1])
                    time.sleep(0.01)
            elif word == b"CLOSE":
                conn.sendall(arg)
                return
            elif word == b"ALL":
                conn.sendall(b"z" * int(arg))
                return
            elif word == b"LONG":
                conn.sendall(b"a" * int(arg))
            elif word == b"NONE":
                time.sleep(3600)
            elif word == b"PARTS":
                data = b"".join(p + b"--XB--" for p in arg.split(b"|"))
                for i in range(0, len(data), 3):
                    conn.sendall(data[i:i + 3])
                    time.sleep(0.005)
            elif word == b"QUIT":
                return
            elif word == b"SEND_LATER":
                def later(c=conn, text=arg):
                    time.sleep(0.3)
                    try:
                        c.sendall(text + b"\r\n")
                    except OSError:
                        pass
                threading.Thread(target=later, daemon=True).start()
            else:
                memcached(conn, f, line.split(b" "))
    except (OSError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def accept_loop(lsock, ctx):
    while True:
        conn, _ = lsock.accept()

        def run(c=conn):
            if ctx is not None:
                try:
                    c = ctx.wrap_socket(c, server_side=True)
                except (OSError, ssl.SSLError):
                    c.close()
                    return
            serve(c)
        threading.Thread(target=run, daemon=True).start()


def silent_loop(lsock):
    held = []
    while True:
        conn, _ = lsock.accept()
        held.append(conn)


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certs", help="directory with server.crt and server.key")
    ap.add_argument("--unix", help="also serve the plain protocol on this Unix socket")
    a = ap.parse_args()
    plain, silent = listen(), listen()
    threading.Thread(target=accept_loop, args=(plain, None), daemon=True).start()
    threading.Thread(target=silent_loop, args=(silent,), daemon=True).start()
    tls_port = 0
    if a.certs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(a.certs, "server.crt"),
                            os.path.join(a.certs, "server.key"))
        tls = listen()
        tls_port = tls.getsockname()[1]
        threading.Thread(target=accept_loop, args=(tls, ctx), daemon=True).start()
    if a.unix:
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind(a.unix)
        u.listen(16)
        threading.Thread(target=accept_loop, args=(u, None), daemon=True).start()
    print("plain=%d tls=%d silent=%d" % (plain.getsockname()[1], tls_port,
                                          silent.getsockname()[1]), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
