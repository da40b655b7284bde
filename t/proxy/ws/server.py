"""A WebSocket upstream for t/proxy/websocket.t (Debian's python3-websockets).

    server.py PORT [EVENTS_FILE [CERT KEY]]    (with CERT and KEY: wss, TLS)

Paths:
  /ws/echo           echoes every message, text or binary
  /ws/close/CODE     closes at once with CODE and the reason "bye"
  /ws/drop           after the first message, drops the TCP connection (no close frame)
  /ws/record         notes each message in EVENTS_FILE as "got PATH MESSAGE", echoes it
  /ws/flood          sends 4000 binary messages of 16 KiB as fast as the peer takes them,
                     noting "flood N" every 100 (N sent so far)
  anything else      echoes too

Each connection's end is appended to EVENTS_FILE as "closed PATH CODE" (the close code
the server saw: 1006 when the peer vanished without a close frame)."""
import asyncio
import ssl
import sys

import websockets

PORT = int(sys.argv[1])
EVENTS = sys.argv[2] if len(sys.argv) > 2 else None
TLS = None
if len(sys.argv) > 4:
    TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS.load_cert_chain(sys.argv[3], sys.argv[4])


def note(line):
    if EVENTS:
        with open(EVENTS, "a") as f:
            f.write(line + "\n")


async def handler(ws, path):
    try:
        if path.startswith("/ws/close/"):
            await ws.close(int(path.rsplit("/", 1)[1]), "bye")
        elif path == "/ws/flood":
            chunk = b"f" * 16384
            for i in range(4000):
                await ws.send(chunk)
                if i % 100 == 99:
                    note("flood %d" % (i + 1))
            await ws.wait_closed()
        elif path == "/ws/drop":
            await ws.recv()
            ws.transport.abort()
        else:
            async for msg in ws:
                if path == "/ws/record":
                    note("got %s %s" % (path, msg))
                await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        note("closed %s %s" % (path, ws.close_code))


async def main():
    async with websockets.serve(handler, "127.0.0.1", PORT, max_size=4 << 20,
                                ping_interval=None, ssl=TLS):
        print("ready", flush=True)
        await asyncio.Future()


asyncio.run(main())
