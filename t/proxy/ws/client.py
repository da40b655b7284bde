"""A WebSocket client for t/proxy/websocket.t (Debian's python3-websockets).

    client.py SCENARIO URI [ARG] [--header NAME:VALUE]... [--ca FILE]   (wss:// URIs)

Prints one line per finding; the test reads them. Scenarios:
  echo           text, binary, a 1 MB binary message, 1000 messages in a row, a ping
  close          waits for the server's close: "closed CODE REASON"
  client-close   closes with 4002 "cya": "close CODE REASON" as the server answered
  status         only the handshake: "open", or "status N" when it was refused
  idle SECONDS   one echo, then waits: "closed CODE after SECONDS" (or "still open")
  drop           one message to /ws/drop: "dropped CODE" once the upstream vanished
  abort          one echo, then drops the TCP connection without a close frame
  hold           one echo, prints "open", waits for a line on stdin, echoes again
  cap            holds one tunnel and opens a second: "second open" or "second status N"
  header NAME    the 101's header NAME: "header VALUE", then one echo: "echo ok"
  slowread       prints "open", reads nothing until a line comes on stdin, then reads the
                 4000 messages of /ws/flood: "got N bytes B"
"""
import asyncio
import os
import ssl
import sys
import time

import websockets

args, headers, tls = [], [], None
argv = sys.argv[1:]
while argv:
    a = argv.pop(0)
    if a == "--header":
        name, _, value = argv.pop(0).partition(":")
        headers.append((name, value))
    elif a == "--ca":
        tls = ssl.create_default_context(cafile=argv.pop(0))
    else:
        args.append(a)
scenario, uri = args[0], args[1]
extra = args[2] if len(args) > 2 else None


def connect(u=None):
    # no compression: the bytes counted are the bytes sent
    return websockets.connect(u or uri, max_size=4 << 20, compression=None,
                              extra_headers=headers, ping_interval=None, open_timeout=5,
                              **({"ssl": tls} if tls else {}))


async def echo():
    async with connect() as ws:
        await ws.send("hello")
        print("text", "ok" if await ws.recv() == "hello" else "bad")
        await ws.send(b"\x00\x01\xfe\xff")
        print("binary", "ok" if await ws.recv() == b"\x00\x01\xfe\xff" else "bad")
        big = os.urandom(1 << 20)
        await ws.send(big)
        print("large", "ok" if await ws.recv() == big else "bad")
        for i in range(1000):
            await ws.send("m%d" % i)
        got = [await ws.recv() for _ in range(1000)]
        print("many", "ok" if got == ["m%d" % i for i in range(1000)] else "bad")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 3)
        print("pong ok")


async def close():
    async with connect() as ws:
        try:
            await asyncio.wait_for(ws.recv(), 3)
            print("no close")
        except websockets.ConnectionClosed as e:
            print("closed", e.code, e.reason)


async def client_close():
    async with connect() as ws:
        await ws.close(4002, "cya")
        print("close", ws.close_code, ws.close_reason)


async def status():
    try:
        async with connect() as ws:
            print("open")
    except websockets.InvalidStatusCode as e:
        print("status", e.status_code)


async def idle():
    async with connect() as ws:
        await ws.send("x")
        await ws.recv()
        start = time.time()
        try:
            await asyncio.wait_for(ws.recv(), float(extra) + 3)
            print("got a message")
        except websockets.ConnectionClosed as e:
            print("closed", e.code, "after", round(time.time() - start, 1))
        except asyncio.TimeoutError:
            print("still open")


async def drop():
    async with connect() as ws:
        await ws.send("x")
        try:
            await asyncio.wait_for(ws.recv(), 3)
            print("no drop")
        except websockets.ConnectionClosed as e:
            print("dropped", e.code)


async def abort():
    ws = await connect()
    await ws.send("x")
    await ws.recv()
    ws.transport.abort()
    print("aborted")


async def hold():
    async with connect() as ws:
        await ws.send("before")
        print("open" if await ws.recv() == "before" else "bad", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await ws.send("after")
        print("after", "ok" if await asyncio.wait_for(ws.recv(), 3) == "after" else "bad")


async def cap():
    async with connect() as first:
        await first.send("1")
        await first.recv()
        try:
            async with connect() as ws:
                print("second open")
        except websockets.InvalidStatusCode as e:
            print("second status", e.status_code)


async def header():
    async with connect() as ws:
        print("header", ws.response_headers.get(extra))
        await ws.send("x")
        print("echo", "ok" if await ws.recv() == "x" else "bad")


async def slowread():
    async with connect() as ws:
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        n = size = 0
        while n < 4000:
            m = await asyncio.wait_for(ws.recv(), 10)
            n, size = n + 1, size + len(m)
        print("got", n, "bytes", size)


SCENARIOS = {"echo": echo, "close": close, "client-close": client_close, "status": status,
             "idle": idle, "drop": drop, "abort": abort, "hold": hold, "cap": cap,
             "header": header, "slowread": slowread}

try:
    asyncio.run(SCENARIOS[scenario]())
except Exception as e:  # the test shows what went wrong
    print("error", type(e).__name__, e)
