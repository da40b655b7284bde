"""The fuzzer's own servers (upstream, Redis, name server, line server) each run in a
child process of their own, so that a slow or stuck server thread never holds up the
client side. The listening socket is made here, the child serves it, the parent closes
its copy."""

import os
import socket


def tcp_listener(backlog):
    """A TCP socket listening on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


def serve_in_child(sock, serve, *args, before=None):
    """Forks a child that runs serve(sock, *args) (after before(), when given) and exits;
    closes the parent's sock. Returns (pid, port)."""
    port = sock.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        try:
            if before is not None:
                before()
            serve(sock, *args)
        finally:
            os._exit(0)
    sock.close()
    return pid, port
