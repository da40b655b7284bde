"""Mutations of seed bytes, and the schedule that turns a case's bytes into socket steps.

A case is a list of steps, each a list [op, arg]:

  ["send", bytes]     write these bytes
  ["sleep", ms]       wait
  ["wait", ms]        wait until some answer bytes arrive, at most ms
  ["read", ms]        read answers until the connection idles or closes, at most ms
  ["shut", 0]         half-close: shutdown(SHUT_WR), then go on
  ["close", 0]        close normally (FIN); the connection is over
  ["rst", 0]          close with SO_LINGER 0 (RST); the connection is over

A case that does not end with close or rst leaves the connection open for the next
case of the same connection (keep-alive).
"""

import re

TOKENS = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b":", b"\r\n\r\n", b",", b";", b"0",
          b"\xff", b"\x7f", b"\x0b", b"\r\n ", b'"', b"%", b"/", b"?", b"#", b"..", b"=",
          b"chunked", b"identity", b"100-continue", b"close", b"keep-alive", b"\r\n0\r\n\r\n"]
NUMBERS = [b"0", b"1", b"-1", b"4294967296", b"18446744073709551615", b"99999999999999999999",
           b"ffffffffffffffff", b"7fffffffffffffff", b"65536", b"65535", b"1048576", b"00005",
           b"0x10", b"+3", b"3 3", b""]
HEADERS = [b"Transfer-Encoding: chunked", b"Content-Length: 4", b"Content-Length: 0",
           b"Expect: 100-continue", b"Connection: close", b"Connection: keep-alive",
           b"Connection: Upgrade", b"Upgrade: websocket", b"Host: b", b"Host: backend.local",
           b"Trailer: X-T", b"Te: trailers", b"apikey: fuzz-key", b"X-Forwarded-For: 1.2.3.4",
           b"Transfer-Encoding: gzip", b"Content-Type: application/json", b"X: " + b"a" * 5000]
NUM_RE = re.compile(rb"[0-9a-fA-F]+")
MAX_LEN = 256 * 1024


def flip(rng, d):
    if not d:
        return d
    i = rng.randrange(len(d))
    return d[:i] + bytes([d[i] ^ (1 << rng.randrange(8))]) + d[i + 1:]


def set_byte(rng, d):
    if not d:
        return d
    i = rng.randrange(len(d))
    return d[:i] + bytes([rng.randrange(256)]) + d[i + 1:]


def insert_token(rng, d):
    i = rng.randrange(len(d) + 1)
    return d[:i] + rng.choice(TOKENS) * rng.choice([1, 1, 1, 2, 3, 50]) + d[i:]


def delete_range(rng, d):
    if not d:
        return d
    i = rng.randrange(len(d))
    return d[:i] + d[i + rng.randint(1, min(16, len(d) - i)):]


def dup_range(rng, d):
    if not d:
        return d
    i = rng.randrange(len(d))
    j = min(len(d), i + rng.randint(1, 64))
    return d[:j] + d[i:j] * rng.choice([1, 2, 10]) + d[j:]


def cut(rng, d):
    return d[:rng.randrange(len(d) + 1)]


def splice(rng, d, other):
    i = rng.randrange(len(d) + 1)
    j = rng.randrange(len(other) + 1)
    return d[:i] + other[j:]


def number(rng, d):
    ms = list(NUM_RE.finditer(d))
    if not ms:
        return insert_token(rng, d)
    m = rng.choice(ms)
    return d[:m.start()] + rng.choice(NUMBERS) + d[m.end():]


def lines_op(rng, d):
    """Duplicates, drops, swaps or adds a header line, or changes a line's ending."""
    lines = d.split(b"\r\n")
    if len(lines) < 2:
        return insert_token(rng, d)
    i = rng.randrange(len(lines))
    op = rng.randrange(6)
    if op == 0:
        lines.insert(i, lines[i])
    elif op == 1 and i > 0:
        del lines[i]
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        lines.insert(max(1, i), rng.choice(HEADERS))
    elif op == 4:
        return b"\r\n".join(lines[:i]) + rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]) + \
            b"\r\n".join(lines[i:])
    else:
        line = lines[i]
        k = line.find(b":")
        if k > 0:
            lines[i] = line[:k] + rng.choice([b" :", b"\t:", b"::", b": ", b":\t", b"_:"]) + \
                line[k + 1:]
        else:
            lines[i] = line.upper() if rng.random() < 0.5 else line.lower()
    return b"\r\n".join(lines)


MUTATORS = [flip, set_byte, insert_token, insert_token, delete_range, dup_range, cut,
            number, number, lines_op, lines_op, lines_op]


def mutate(rng, data, other):
    """`data` changed by 1 to 4 mutations; `other` is material for splicing."""
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        if rng.random() < 0.06:
            data = splice(rng, data, other)
        else:
            data = rng.choice(MUTATORS)(rng, data)
    return data[:MAX_LEN]


def split_points(rng, n, parts):
    """Sorted cut positions in 0..n: at most `parts` of them, none at the ends."""
    if n < 2 or parts <= 0:
        return []
    return sorted(set(rng.randrange(1, n) for _ in range(parts)))


def schedule(rng, parts, last_in_conn):
    """Steps that send `parts` (the natural pieces of a case), split at random points,
    with small delays, then end in one of the ways a client may: read the answer,
    half-close, close early, reset early or late, or leave without reading."""
    steps = []
    pieces = []
    for k, part in enumerate(parts):
        if rng.random() < 0.3 and pieces:
            pieces[-1] += part
            continue
        if k > 0 and rng.random() < 0.5:
            pieces.append(None)  # wait for an interim answer (100 Continue) here
        pieces.append(part)
    bounds = []  # step counts at which a whole piece has been sent
    for piece in pieces:
        if piece is None:
            steps.append(["wait", rng.choice([20, 100, 300])])
            continue
        style = rng.random()
        cuts = []
        if style < 0.2:
            cuts = split_points(rng, len(piece), rng.randint(1, 6))
        elif style < 0.23:
            cuts = list(range(1, min(len(piece), 40)))  # byte by byte, up to 40
        prev = 0
        for c in cuts + [len(piece)]:
            steps.append(["send", piece[prev:c]])
            if c != len(piece):
                steps.append(["sleep", rng.choice([0, 0, 1, 5, 20, 60])])
            prev = c
        bounds.append(len(steps))
    return ending(rng, steps, bounds, last_in_conn)


def ending(rng, steps, bounds, last_in_conn):
    """`steps`, perhaps cut short, followed by the way the case ends."""
    r = rng.random()
    if r < 0.07:
        # reset as soon as a whole piece (a head, say) is out: the server is reading it
        k = rng.choice(bounds) if bounds else len(steps)
        return steps[:k] + [["sleep", rng.choice([0, 0, 0, 2, 10])], ["rst", 0]]
    if r < 0.12:
        # reset at any point, even inside a piece
        k = rng.randrange(len(steps) + 1)
        return steps[:k] + [["sleep", rng.choice([0, 0, 2, 10, 50])], ["rst", 0]]
    if r < 0.16:
        return steps + [["wait", rng.choice([0, 30, 200])], ["rst", 0]]
    if r < 0.19:
        # reset while the answer streams (big, trickle, slow upstream answers)
        return steps + [["read", rng.choice([20, 100, 400])], ["rst", 0]]
    if r < 0.21:
        k = rng.choice(bounds + [rng.randrange(len(steps) + 1)])
        return steps[:k] + [["close", 0]]
    if r < 0.28:
        return steps + [["shut", 0], ["read", 2500]]
    if r < 0.31:
        return steps + [["sleep", rng.choice([50, 500, 2500])],
                        rng.choice([["rst", 0], ["close", 0]])]
    if r < 0.33:
        # a slow client: the rest comes after the header/body timeout (2 s)
        return steps + [["sleep", 2200], ["send", b"\r\n"], ["read", 1500]]
    read = [["read", rng.choice([300, 500, 800, 800, 1500, 3000])]]
    if last_in_conn and rng.random() < 0.3:
        return steps + read + [rng.choice([["rst", 0], ["close", 0]])]
    return steps + read
