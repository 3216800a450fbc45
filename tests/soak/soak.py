#!/usr/bin/env python3
"""Soak test: real nginx with the thumbnail module under a mixed load.

Starts Debian's nginx with the module (as the invoking user: `user root;`
only when run as root, as tests/nginx/conftest.py does), two workers and a
two-thread pool, from a generated config in a fresh prefix, and for
--seconds sends a mix of

  photo      valid JPEG/PNG sources at a pool of specs (hits) and fresh
             sizes (misses), static and through proxy_pass
  corrupt    broken, truncated and fuzzer-found files of the corpus
  bomb       decompression bombs (65535x65535 headers, 4.3 GP PNG, ...)
  anim       GIF and WebP sources (still and animated) at specs with
             webp, anim, auto (with and without `Accept: image/webp`)
  unsup      formats the library does not read (text, BMP, TIFF, AVIF
             headers written into the prefix, served from /u/)
  badspec    invalid specs, log-injection attempts (%0a, %1b, %00) among them
  cond       If-None-Match with the thumbnail's ETag; a lone
             If-Modified-Since, on renderable and unrenderable sources
  head       HEAD; range: a Range header (ignored by the module)
  abort      the client goes away before the answer (FIN or RST, before
             or after the request is complete, during a render)
  slow       slow readers of large thumbnails (small receive buffer, a
             few KB at a time), some of which give up
  burst      every 20 s, 40 concurrent misses on distinct keys

plus `nginx -s reload` once a minute (the first at half a minute), while
it samples every second the workers' PIDs and RSS, /status latency, and
afterwards the error log.

Fails (exit 1) on: a worker crash (`exited on signal`, a nonzero exit
code, or a worker PID gone without a reload since it appeared), an
`[alert]`, `[crit]` or `[emerg]` line, any 500, nginx gone, or RSS growth
over the bound: the largest worker RSS in the last third of the run may
exceed the largest in the first third after warm-up by at most
--rss-growth-mb (64 MB; the workers' caches are 16 MB each), the master's
by at most --master-growth-mb (16 MB). Prints a summary and writes
report.json in the prefix.

Environment (or flags): NGINX_BIN, NGX_MODULE_SO, THUMBNAIL_SHARED.
Standard library only.
"""

import argparse
import asyncio
import collections
import email.utils
import json
import os
import pathlib
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]

ACCEPT = {  # statuses that are no surprise for a class (others are listed)
    "photo": {200, 503},
    "proxied": {200, 503},
    "corrupt": {200, 413, 415, 503},
    "bomb": {200, 413, 415, 503},  # png_decompression_dos.png: a zlib bomb in a text chunk, ignored
    "anim": {200, 413, 415, 503},
    "unsup": {415},
    "badspec": {400},
    "cond": {200, 304, 413, 415, 503},
    "head": {200, 503},
    "range": {200, 503},
    "slow": {200, 413, 503},  # 413: a PNG over thumbnail_max_output_size
    "burst": {200, 503},
    "status": {200},
}

BAD_SPECS = [
    "0x0", "200x200,bogus", "200x200,q0", "200x200,q101", "200x200,cover,cover", "x", "200",
    "200x200,north", "10x,contain", "65536x1", "200x200,bg=ggg", "200x200,%20cover",
    "a" * 300, "200x200," + "q9," * 60,
    # log injection: the spec is a decoded capture of $uri
    "200x200,%0a2030/01/01%2000:00:00%20[alert]%201#1:%20injected",
    "200x200,%0d%0aX-Injected:%201", "200x200,%1b[31mred%1b[0m", "%00200x200", "200x200,%e2%80%a8x",
    "200x200,%ff%fe", "200x200,c%C3%A9ver",
]
GOOD_SPECS = [
    "64x64", "100x100,cover", "120x80,cover,q70", "200x200", "200x200,cover,png", "300x200,contain,bg=222",
    "x150", "160x", "256x256,fill", "400x300,cover,northwest,q85", "200x200,cover,progressive",
    "100x100,noorient", "50x50,enlarge",
]

# GIF and WebP render now (src/decode/gif.rs, webp.rs): still, or animated
# WebP out with `anim`
ANIM_SPECS = [
    "64x64", "100x100,cover", "120x80,webp", "100x100,anim", "100x100,webp,anim", "80x80,cover,auto,anim",
    "120x120,auto", "90x90,contain,auto=webp", "64x64,png",
]
# Sources the library refuses as unsupported (415), written into the prefix
UNSUPPORTED = {
    "text.jpg": b"not an image, whatever the name says\n",
    "bitmap.bmp": b"BM" + bytes(60),
    "scan.tif": b"II*\x00" + bytes(60),
    "photo.avif": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(32),
}

LOG_LINE = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: ")
SEVERE = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(alert|crit|emerg)\] ")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus_classes(corpus):
    """path lists by class, from MANIFEST.tsv."""
    classes = collections.defaultdict(list)
    for line in (corpus / "MANIFEST.tsv").read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 10 or not (corpus / cols[0]).is_file():
            continue
        path, expected, size = cols[0], cols[9].split(";")[0], int(cols[4] or 0)
        if path.startswith("corrupt/bombs/"):
            classes["bomb"].append(path)
        elif path.startswith("corrupt/") or expected in ("decode-error", "error-or-partial"):
            classes["corrupt"].append(path)
        elif path.endswith((".gif", ".webp")):
            classes["anim"].append(path)
        elif expected == "decode-ok" and path.endswith((".jpg", ".jpeg", ".png", ".apng")):
            classes["photo"].append(path)
            if size > 300_000 and path.startswith("photos/"):
                classes["big"].append(path)
    return classes


CONF = """
load_module {module};
{user}
worker_processes {workers};
worker_shutdown_timeout 10s;
error_log {prefix}/error.log info;
pid {prefix}/nginx.pid;
thread_pool default threads={threads};
events {{ worker_connections 2048; }}
http {{
    access_log off;
    default_type application/octet-stream;
    types {{ image/jpeg jpg jpeg; image/png png; image/gif gif; image/webp webp; }}
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    sendfile on;
    thumbnail_cache size={cache_mb}m shards=8;

    server {{
        listen 127.0.0.1:{origin};
        location / {{ root {shared}; }}
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {corpus}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/p/(?<spec>[^/]+)/ {{
            rewrite ^/p/[^/]+/(.*)$ /corpus/$1 break;
            proxy_pass http://127.0.0.1:{origin};
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/u/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {prefix}/unsup/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location = /stats {{ thumbnail_stats; }}
        location = /status {{ stub_status; }}
    }}
}}
"""


class Nginx:
    def __init__(self, args):
        self.args = args
        self.prefix = pathlib.Path(args.prefix).resolve()
        self.port, self.origin = free_port(), free_port()
        while self.origin == self.port:
            self.origin = free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "NGINX"}
        self.conf = self.prefix / "nginx.conf"
        self.error_log = self.prefix / "error.log"

    def write_conf(self):
        if self.prefix.exists():
            subprocess.run(["rm", "-rf", str(self.prefix)], check=True)
        (self.prefix / "tmp").mkdir(parents=True)
        (self.prefix / "unsup").mkdir()
        for name, data in UNSUPPORTED.items():
            (self.prefix / "unsup" / name).write_bytes(data)
        shared = pathlib.Path(self.args.shared).resolve()
        self.conf.write_text(CONF.format(
            module=pathlib.Path(self.args.module).resolve(), user="user root;" if os.geteuid() == 0 else "",
            workers=self.args.workers, threads=self.args.threads, prefix=self.prefix, cache_mb=self.args.cache_mb,
            origin=self.origin, port=self.port, shared=shared, corpus=shared / "corpus"))

    def cmd(self, *extra):
        return [self.args.nginx, "-p", str(self.prefix), "-c", str(self.conf), *extra]

    def start(self):
        out = subprocess.run(self.cmd("-t", "-q"), capture_output=True, text=True, env=self.env, timeout=30)
        if out.returncode != 0:
            sys.exit(f"soak: nginx -t failed:\n{out.stderr}")
        self.stderr = open(self.prefix / "stderr.log", "wb")
        self.proc = subprocess.Popen(self.cmd("-g", "daemon off;"), env=self.env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            if len(self.workers()[0]) == self.args.workers:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        sys.exit("soak: nginx did not start:\n" + self.log() + (self.prefix / "stderr.log").read_text())

    def workers(self):
        """({pid: rss_kb} of active workers, {pid: rss_kb} of shutting-down ones, master rss_kb)."""
        out = subprocess.run(["ps", "--ppid", str(self.proc.pid), "-o", "pid=,rss=,args="],
                             capture_output=True, text=True, timeout=10).stdout
        active, old = {}, {}
        for line in out.splitlines():
            pid, rss, cmd = line.split(None, 2)
            if "worker process" in cmd:
                (old if "shutting down" in cmd else active)[int(pid)] = int(rss)
        try:
            master = int(re.search(r"VmRSS:\s+(\d+)", pathlib.Path(f"/proc/{self.proc.pid}/status").read_text())[1])
        except (OSError, TypeError):
            master = 0
        return active, old, master

    def reload(self):
        return subprocess.run(self.cmd("-s", "reload"), capture_output=True, text=True, env=self.env, timeout=30)

    def stop(self):
        if getattr(self, "proc", None) is None:
            return None
        pgid = self.proc.pid
        if self.proc.poll() is None:
            os.killpg(pgid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        code = self.proc.poll()
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
        return code

    def log(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""


# --- HTTP over raw sockets --------------------------------------------------------

class Result:
    __slots__ = ("status", "headers", "body_len", "elapsed")

    def __init__(self, status, headers, body_len, elapsed):
        self.status, self.headers, self.body_len, self.elapsed = status, headers, body_len, elapsed


async def request(port, method, path, headers=(), *, rcvbuf=None, slow=None, timeout=60):
    """One request on its own connection (Connection: close). `slow` =
    (chunk, delay, give_up_after or None): read `chunk` bytes every `delay`
    seconds; give up (close) after that many seconds. Returns a Result, or
    "aborted" when the reader gave up."""
    start = time.monotonic()
    sock = socket.socket()
    sock.setblocking(False)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 10)
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    except BaseException:
        sock.close()
        raise
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()

        async def read_all():
            data = bytearray()
            while True:
                chunk = await reader.read(slow[0] if slow else 1 << 16)
                if not chunk:
                    return bytes(data)
                data += chunk
                if slow:
                    if slow[2] is not None and time.monotonic() - start > slow[2]:
                        return None
                    await asyncio.sleep(slow[1])

        data = await asyncio.wait_for(read_all(), timeout)
        if data is None:
            return "aborted"
        end = data.find(b"\r\n\r\n")
        if end < 0:
            raise ConnectionError(f"no complete header ({len(data)} bytes)")
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return Result(status, hdrs, len(data) - end - 4, time.monotonic() - start)
    finally:
        writer.transport.abort() if slow and slow[2] else writer.close()


async def abort_request(port, path, rng):
    """Sends a request (whole, or half of it) and goes away after a random
    delay, with a FIN or an RST."""
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 10)
        req = f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode()
        if rng.random() < 0.2:
            req = req[: len(req) // 2]
        await asyncio.get_running_loop().sock_sendall(sock, req)
        await asyncio.sleep(rng.choice([0, 0.005, 0.02, 0.05, 0.1, 0.3]))
        if rng.random() < 0.5:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    finally:
        sock.close()


# --- the load -----------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ngx = Nginx(args)
        shared = pathlib.Path(args.shared).resolve()
        self.corpus = shared / "corpus"
        self.files = corpus_classes(self.corpus)
        for need in ("photo", "corrupt", "bomb", "anim", "big"):
            if not self.files[need]:
                sys.exit(f"soak: no {need} files in {shared / 'corpus'}")
        self.counts = collections.defaultdict(collections.Counter)  # class -> status -> n
        self.surprises = collections.Counter()  # (class, status, path) -> n
        self.errors_500 = []
        self.etags = {}  # path -> etag
        self.status_lat = []
        self.samples = []  # (t, master_kb, {pid: kb} active, {pid: kb} old)
        self.pids_seen = {}  # pid -> generation when first seen
        self.gone = []  # (t, pid, generation, reloads) of workers gone
        self.crashed_pids = []
        self.reloads = []  # t
        self.generation = 0
        self.anomalies = collections.Counter()
        self.stop_at = None

    def q(self, s):
        return urllib.parse.quote(s, safe="/,=%")

    def record(self, cls, path, res):
        if isinstance(res, Result):
            st = res.status
            self.counts[cls][st] += 1
            if st == 500:
                self.errors_500.append((round(self.t(), 1), cls, path))
            if st not in ACCEPT.get(cls, ()):
                self.surprises[(cls, st, path)] += 1
        else:
            self.counts[cls][res] += 1

    def t(self):
        return time.monotonic() - self.t0

    async def one(self, cls, method, path, headers=(), **kw):
        try:
            res = await request(self.ngx.port, method, path, headers, **kw)
        except asyncio.TimeoutError:
            res = "timeout"
        except (ConnectionError, OSError) as e:
            res = f"conn-error:{type(e).__name__}"
        self.record(cls, path, res)
        return res

    def photo_path(self, unique=False, big=False, prefix="/t/"):
        rng = self.rng
        f = rng.choice(self.files["big" if big else "photo"])
        if unique or rng.random() < 0.3:
            spec = f"{rng.randint(40, 900)}x{rng.randint(40, 900)}," + rng.choice(["cover", "inside", "contain"])
        else:
            spec = rng.choice(GOOD_SPECS)
        return f"{prefix}{spec}/{self.q(f)}"

    async def client(self):
        rng = self.rng
        kinds = ["photo"] * 30 + ["proxied"] * 6 + ["corrupt"] * 12 + ["bomb"] * 5 + ["anim"] * 4 + ["unsup"] * 2 + \
            ["badspec"] * 10 + ["cond"] * 12 + ["head"] * 3 + ["range"] * 2 + ["abort"] * 8 + ["slow"] * 4
        while time.monotonic() < self.stop_at:
            k = rng.choice(kinds)
            if k == "photo":
                await self.one(k, "GET", self.photo_path())
            elif k == "proxied":
                await self.one(k, "GET", self.photo_path(prefix="/p/"))
            elif k in ("corrupt", "bomb"):
                spec = rng.choice(GOOD_SPECS[:5])
                await self.one(k, "GET", f"/{rng.choice('tttp')}/{spec}/{self.q(rng.choice(self.files[k]))}")
            elif k == "anim":
                spec = rng.choice(ANIM_SPECS)
                accept = [("Accept", "image/webp,*/*")] if rng.random() < 0.5 else []
                await self.one(k, "GET", f"/{rng.choice('tttp')}/{spec}/{self.q(rng.choice(self.files[k]))}", accept)
            elif k == "unsup":
                spec = rng.choice(GOOD_SPECS[:5])
                await self.one(k, "GET", f"/u/{spec}/{rng.choice(sorted(UNSUPPORTED))}")
            elif k == "badspec":
                f = rng.choice(self.files["photo"] + self.files["corrupt"])
                await self.one(k, "GET", f"/t/{rng.choice(BAD_SPECS)}/{self.q(f)}")
            elif k == "cond":
                await self.conditional()
            elif k == "head":
                await self.one(k, "HEAD", self.photo_path())
            elif k == "range":
                await self.one(k, "GET", self.photo_path(), [("Range", "bytes=0-99")])
            elif k == "abort":
                path = self.photo_path(unique=True, big=rng.random() < 0.7, prefix=rng.choice(["/t/", "/p/"]))
                try:
                    await abort_request(self.ngx.port, path, rng)
                    self.counts["abort"]["sent"] += 1
                except (ConnectionError, OSError, asyncio.TimeoutError) as e:
                    self.counts["abort"][f"conn-error:{type(e).__name__}"] += 1
            elif k == "slow":
                f = rng.choice(self.files["big"])
                spec = f"{rng.randint(900, 1600)}x{rng.randint(900, 1600)},png"
                give_up = rng.choice([None, None, 1.0, 3.0])
                await self.one(k, "GET", f"/t/{spec}/{self.q(f)}", rcvbuf=4096,
                               slow=(4096, 0.02, give_up), timeout=120)

    async def conditional(self):
        rng = self.rng
        if rng.random() < 0.6:
            path = self.photo_path()
            etag = self.etags.get(path)
            if etag is None:
                res = await self.one("cond", "GET", path)
                if isinstance(res, Result) and "etag" in res.headers:
                    self.etags[path] = etag = res.headers["etag"]
                if len(self.etags) > 5000:
                    self.etags.clear()
            if etag:
                res = await self.one("cond", "GET", path, [("If-None-Match", etag)])
                if isinstance(res, Result) and res.status == 200:
                    self.anomalies["If-None-Match with the thumbnail's ETag got 200"] += 1
        else:
            # a lone If-Modified-Since, on a renderable or an unrenderable source
            # (the source's own mtime: nginx's default `if_modified_since exact`)
            bad = rng.random() < 0.5
            f = rng.choice(self.files["corrupt" if bad else "photo"])
            path = f"/t/{rng.choice(GOOD_SPECS)}/{self.q(f)}"
            mtime = os.stat(self.corpus / f).st_mtime
            res = await self.one("cond", "GET", path, [("If-Modified-Since", email.utils.formatdate(mtime, usegmt=True))])
            if bad and isinstance(res, Result) and res.status == 304:
                self.anomalies["304 for a lone If-Modified-Since on a source that cannot render"] += 1

    async def bursts(self):
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(20)
            if time.monotonic() >= self.stop_at:
                return
            paths = [self.photo_path(unique=True, big=True) for _ in range(40)]
            await asyncio.gather(*(self.one("burst", "GET", p) for p in paths))

    async def status_probe(self):
        while time.monotonic() < self.stop_at:
            t = time.monotonic()
            res = await self.one("status", "GET", "/status", timeout=30)
            if isinstance(res, Result):
                self.status_lat.append((self.t(), time.monotonic() - t))
            await asyncio.sleep(0.5)

    async def reloader(self):
        next_at = self.t0 + self.args.reload_every / 2
        while True:
            await asyncio.sleep(max(0, next_at - time.monotonic()))
            if time.monotonic() >= self.stop_at - 5:
                return
            self.generation += 1  # before the signal: workers seen from now on are new
            out = await asyncio.to_thread(self.ngx.reload)
            self.reloads.append(round(self.t(), 1))
            if out.returncode != 0:
                self.anomalies[f"nginx -s reload failed: {out.stderr.strip()}"] += 1
            next_at += self.args.reload_every

    async def sampler(self):
        last_active = {}
        while time.monotonic() < self.stop_at:
            active, old, master = await asyncio.to_thread(self.ngx.workers)
            now = round(self.t(), 1)
            for pid in active:
                self.pids_seen.setdefault(pid, self.generation)
            present = set(active) | set(old)
            for pid in last_active:
                if pid not in present:
                    gen = self.pids_seen[pid]
                    self.gone.append((now, pid, gen, self.generation))
                    if gen == self.generation:  # no reload since it appeared
                        self.crashed_pids.append((now, pid))
            last_active = active
            self.samples.append((now, master, active, old))
            if self.ngx.proc.poll() is not None:
                self.anomalies["nginx master exited"] += 1
                self.stop_at = time.monotonic()
                return
            await asyncio.sleep(1)

    async def run(self):
        self.t0 = time.monotonic()
        self.stop_at = self.t0 + self.args.seconds
        tasks = [asyncio.create_task(self.client()) for _ in range(self.args.clients)]
        tasks += [asyncio.create_task(c) for c in (self.bursts(), self.status_probe(), self.reloader(), self.sampler())]
        await asyncio.gather(*tasks)
        self.stats = None
        try:  # the module's counters (this generation of workers) for the report
            sock = socket.create_connection(("127.0.0.1", self.ngx.port), timeout=10)
            sock.sendall(b"GET /stats HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            self.stats = json.loads(data.split(b"\r\n\r\n", 1)[1])["totals"]
        except (OSError, ValueError, KeyError, IndexError):
            pass

    # --- verdict ---------------------------------------------------------------------

    def rss_growth(self):
        """(warm-up end, first window max MB, last window max MB, growth MB, master growth MB, windows)."""
        dur = self.args.seconds
        warm = min(15.0, dur * 0.2)
        third = (dur - warm) / 3
        first = [s for s in self.samples if warm <= s[0] < warm + third]
        last = [s for s in self.samples if s[0] >= dur - third]
        mb = lambda kb: kb / 1024
        wmax = lambda ss: max((max(s[2].values(), default=0) for s in ss), default=0)
        mmax = lambda ss: max((s[1] for s in ss), default=0)
        a, b = mb(wmax(first)), mb(wmax(last))
        ma, mb_ = mb(mmax(first)), mb(mmax(last))
        return warm, a, b, b - a, mb_ - ma, (warm, warm + third, dur - third, dur)

    def verdict(self, log, exit_code):
        failures = []
        # Only nginx's own lines: a forged line (the spec is logged as it
        # came, see "malformed" in the report) cannot start with a date,
        # as the spec holds no '/'.
        lines = [l for l in log.splitlines() if LOG_LINE.match(l)]
        crashes = [l for l in lines if re.search(r"\] \d+#\d+: worker process \d+ exited on signal", l)]
        bad_exit = [l for l in lines if re.search(r"\] \d+#\d+: \w+ process \d+ exited with (fatal )?code [1-9]", l)]
        severe = [l for l in lines if SEVERE.match(l)]
        if crashes:
            failures.append(f"{len(crashes)} worker crash(es) in the error log, e.g. {crashes[0]}")
        if bad_exit:
            failures.append(f"{len(bad_exit)} process(es) exited with a nonzero code, e.g. {bad_exit[0]}")
        if self.crashed_pids:
            failures.append(f"worker PIDs gone without a reload: {self.crashed_pids[:5]}")
        if severe:
            failures.append(f"{len(severe)} [alert]/[crit]/[emerg] line(s), e.g. {severe[0]}")
        if self.errors_500:
            failures.append(f"{len(self.errors_500)} response(s) with status 500, e.g. {self.errors_500[:3]}")
        if self.anomalies.get("nginx master exited"):
            failures.append("the nginx master exited during the run")
        if exit_code not in (0, None):
            failures.append(f"nginx exited with code {exit_code} on SIGQUIT")
        _, _, _, growth, master_growth, _ = self.rss_growth()
        if growth > self.args.rss_growth_mb:
            failures.append(f"worker RSS grew {growth:.1f} MB (bound {self.args.rss_growth_mb} MB)")
        if master_growth > self.args.master_growth_mb:
            failures.append(f"master RSS grew {master_growth:.1f} MB (bound {self.args.master_growth_mb} MB)")
        return failures

    def report(self, log, exit_code, wall):
        out = []
        p = out.append
        total = sum(sum(c.values()) for c in self.counts.values())
        p(f"soak: {self.args.seconds} s of load ({wall:.0f} s wall), {self.args.clients} clients, "
          f"{self.args.workers} workers x {self.args.threads} threads, cache {self.args.cache_mb} MB/worker, "
          f"seed {self.args.seed}")
        p(f"requests: {total}  ({total / max(1, self.args.seconds):.1f}/s)   reloads: {len(self.reloads)} at {self.reloads}")
        statuses = sorted({s for c in self.counts.values() for s in c}, key=str)
        p("")
        p(f"{'class':<9}" + "".join(f"{str(s):>9}" for s in statuses) + f"{'total':>9}")
        for cls in sorted(self.counts):
            c = self.counts[cls]
            p(f"{cls:<9}" + "".join(f"{c.get(s, 0):>9}" for s in statuses) + f"{sum(c.values()):>9}")
        p("")
        p(f"500 responses: {len(self.errors_500)}" + (f"  {self.errors_500[:5]}" if self.errors_500 else ""))
        if self.surprises:
            p("statuses outside what a class expects (not failures unless 500):")
            for (cls, st, path), n in self.surprises.most_common(12):
                p(f"  {cls} {st} x{n}: {path[:120]}")
        lat = sorted(l for _, l in self.status_lat)
        if lat:
            q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000
            p(f"/status latency during the load (event-loop responsiveness), ms: p50 {q(0.5):.1f}  p99 {q(0.99):.1f}  "
              f"max {lat[-1] * 1000:.1f}  (n={len(lat)})")
        gens = collections.Counter(self.pids_seen.values())
        p(f"worker PIDs seen: {len(self.pids_seen)} over {self.generation + 1} generation(s) "
          f"{dict(sorted(gens.items()))}; gone: {len(self.gone)}; gone without a reload: {len(self.crashed_pids)}")
        warm, a, b, growth, mgrowth, win = self.rss_growth()
        p(f"RSS: largest worker {a:.1f} MB in [{win[0]:.0f},{win[1]:.0f}) s, {b:.1f} MB in [{win[2]:.0f},{win[3]:.0f}] s: "
          f"growth {growth:+.1f} MB (bound {self.args.rss_growth_mb}); master growth {mgrowth:+.1f} MB "
          f"(bound {self.args.master_growth_mb})")
        p("RSS samples (MB; active workers by PID, * = shutting down):")
        step = max(1, len(self.samples) // 12)
        for t, master, active, old in self.samples[::step] + self.samples[-1:]:
            ws = " ".join(f"{pid}:{kb / 1024:.0f}" for pid, kb in sorted(active.items()))
            olds = " ".join(f"*{pid}:{kb / 1024:.0f}" for pid, kb in sorted(old.items()))
            p(f"  t={t:6.1f}  master {master / 1024:5.1f}  {ws} {olds}".rstrip())
        levels = collections.Counter(m[1] for m in re.finditer(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\]", log, re.M))
        malformed = [l for l in log.splitlines() if l and not LOG_LINE.match(l)]
        p(f"error log lines by level: {dict(sorted(levels.items()))}")
        if malformed:
            p(f"error log lines that do not start with a timestamp and level (log injection?): {len(malformed)}, "
              f"e.g. {malformed[0][:160]!r}")
        for l in [l for l in log.splitlines() if SEVERE.match(l) or (LOG_LINE.match(l) and "exited on signal" in l)][:10]:
            p(f"  {l[:200]}")
        if self.stats:
            keys = ("requests", "cache_hits", "renders", "render_errors", "flight_waits", "not_modified",
                    "status_400", "status_413", "status_415", "status_500", "status_503", "heavy_refused",
                    "evictions", "items", "bytes", "in_flight", "waiting")
            p("module /stats totals at the end (workers of the last reload): "
              + " ".join(f"{k}={self.stats[k]}" for k in keys if k in self.stats))
        for what, n in self.anomalies.items():
            p(f"noticed: {what}: {n}")
        failures = self.verdict(log, exit_code)
        p("")
        p("soak: " + ("PASSED" if not failures else "FAILED:\n  " + "\n  ".join(failures)))
        return "\n".join(out), failures, {
            "counts": {c: {str(k): v for k, v in n.items()} for c, n in self.counts.items()},
            "errors_500": self.errors_500, "reloads": self.reloads, "pids_seen": len(self.pids_seen),
            "gone_without_reload": self.crashed_pids, "rss_growth_mb": growth, "master_growth_mb": mgrowth,
            "rss_samples": [(t, m, a, o) for t, m, a, o in self.samples], "log_levels": levels,
            "malformed_log_lines": len(malformed), "anomalies": dict(self.anomalies), "failures": failures,
            "module_stats": self.stats,
            "status_latency_ms": {"p50": q(0.5), "p99": q(0.99), "max": lat[-1] * 1000} if lat else None,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--nginx", default=os.environ.get("NGINX_BIN", "/usr/sbin/nginx"))
    ap.add_argument("--module", default=os.environ.get("NGX_MODULE_SO", ROOT / "target/nginx/ngx_http_thumbnail_module.so"))
    ap.add_argument("--shared", default=os.environ.get("THUMBNAIL_SHARED", ROOT.parent / "shared"))
    ap.add_argument("--prefix", default=ROOT / "target/soak/nginx")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--cache-mb", type=int, default=16)
    ap.add_argument("--reload-every", type=float, default=60)
    ap.add_argument("--rss-growth-mb", type=float, default=64)
    ap.add_argument("--master-growth-mb", type=float, default=16)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 20)))
    args = ap.parse_args()

    soak = Soak(args)
    soak.ngx.write_conf()
    soak.ngx.start()
    wall = time.monotonic()
    try:
        asyncio.run(soak.run())
    finally:
        exit_code = soak.ngx.stop()
    log = soak.ngx.log()
    text, failures, data = soak.report(log, exit_code, time.monotonic() - wall)
    print(text)
    (soak.ngx.prefix / "report.txt").write_text(text + "\n")
    (soak.ngx.prefix / "report.json").write_text(json.dumps(data, default=str) + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
