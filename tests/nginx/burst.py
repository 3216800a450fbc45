"""A burst of thumbnail misses beside a small static file on the same
worker: the client side of tests/nginx/test_hardening.py's event-loop test
and of benches/nginx_burst.py (`make nginx-burst-bench`).

The burst opens one connection per URI at once (asyncio) and records each
response's status and time. A probe runs in a process of its own (so the
burst's client work does not delay it): one keep-alive connection asking
for the static file again and again with a short pause, recording when each
request started and how long it took. The static latencies that count are
those of requests that started while the burst's responses were still
coming.
"""

import asyncio
import multiprocessing
import socket
import time


def _read_response(sock, buf):
    """One HTTP/1.1 response with Content-Length from sock; returns
    (status, body length, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the header")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed in the body")
        rest += data
    return status, length, rest[length:]


def _probe(port, path, interval, stop, out):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    samples, buf = [], b""
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            sock.sendall(req)
            status, _, buf = _read_response(sock, buf)
            samples.append((t0, time.monotonic() - t0, status))
            time.sleep(interval)
    finally:
        sock.close()
        out.put(samples)


class Probe:
    """Context manager: the static-file probe in its own process."""

    def __init__(self, port, path, interval=0.002):
        ctx = multiprocessing.get_context("fork")
        self.stop = ctx.Event()
        self.out = ctx.Queue()
        self.proc = ctx.Process(target=_probe, args=(port, path, interval, self.stop, self.out),
                                daemon=True)
        self.samples = []

    def __enter__(self):
        self.proc.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        try:
            self.samples = self.out.get(timeout=60)
        finally:
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.kill()
        return False

    def between(self, start, end):
        """Latencies (s) of the probe requests started in [start, end]."""
        return [dt for t0, dt, _ in self.samples if start <= t0 <= end]


async def _one(port, path, timeout):
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                         .encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status = int(head.split(b" ", 2)[1])
            await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        return type(e).__name__, time.monotonic() - t0
    return status, time.monotonic() - t0


def burst(port, paths, timeout=60):
    """GETs every path at once, one connection each; returns (start, end,
    [(status, seconds)]) with monotonic start and end times."""
    async def run():
        return await asyncio.gather(*(_one(port, p, timeout) for p in paths))
    start = time.monotonic()
    results = asyncio.run(run())
    return start, time.monotonic(), results


def percentile(values, p):
    """The p-th percentile (nearest rank) of values, or None."""
    if not values:
        return None
    values = sorted(values)
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]
