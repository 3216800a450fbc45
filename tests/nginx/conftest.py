"""Harness for the nginx module tests.

Starts Debian's nginx (``/usr/sbin/nginx``, or $NGINX_BIN) with
``load_module target/nginx/ngx_http_thumbnail_module.so`` from a generated
config in a temporary prefix, on free 127.0.0.1 ports, in the foreground in a
process group of its own, and stops it at the end (SIGQUIT to the group, a
bounded wait, then SIGKILL to the group).

Two instances:

* ``ngx``: ``worker_processes 2``, a per-worker cache, a static front
  (``/t/<spec>/<corpus path>``, ``/b/<spec>/<bench image>``), a proxied front
  (``/p/<spec>/<corpus path>``) to an origin server block with its own access
  log, and the error-case locations. Tests that need the same worker twice use
  one keep-alive connection (``requests.Session``).
* ``ngx1``: ``worker_processes 1``, for single-flight, the render queue limit
  and event-loop responsiveness.
* ``ngx_heavy``: ``worker_processes 1``, a 2-thread pool and
  ``thumbnail_max_heavy 1``, for heavy-render admission.

Environment: THUMBNAIL_SHARED (corpus checkout, default ../shared),
NGX_MODULE_SO, NGINX_BIN (not NGINX: nginx itself reads that variable).
"""

import grp
import json
import os
import pathlib
import pwd
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.parse

from image_header import image_size
import zlib

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("THUMBNAIL_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "corpus"
BENCH = SHARED / "bench-images"
SAMPLES = ROOT / "samples"
MODULE = pathlib.Path(
    os.environ.get("NGX_MODULE_SO", ROOT / "target/nginx/ngx_http_thumbnail_module.so")
).resolve()
NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")

# nginx reads $NGINX as a list of inherited listening sockets (binary
# upgrade): never pass one to it
NGINX_ENV = {k: v for k, v in os.environ.items() if k != "NGINX"}

TIMEOUT = 30  # seconds, for every HTTP request
# nginx's `user` line for workers started by root: the invoking user and group
INVOKING_USER = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quote(path):
    return urllib.parse.quote(path, safe="/")


# --- image headers -----------------------------------------------------------

def image_info(data):
    """(format, width, height) of a PNG or JPEG byte string, from its header."""
    kind, w, h = image_size(data)
    if kind == "unknown":
        raise AssertionError(f"not a PNG or JPEG: {data[:16]!r}")
    if w is None:
        raise AssertionError("JPEG without SOF")
    return kind, w, h


def png_pixels(data):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced
    grey/RGB/RGBA PNG: enough to compare thumbnails pixel by pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    assert depth == 8 and interlace == 0, ihdr
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, channels, rows


def mean_abs_diff(a, b):
    """Mean absolute difference of two same-size png_pixels() results."""
    assert a[:3] == b[:3], (a[:3], b[:3])
    total = sum(abs(x - y) for ra, rb in zip(a[3], b[3]) for x, y in zip(ra, rb))
    return total / (a[0] * a[1] * a[2])


# --- nginx instances -----------------------------------------------------------

class Nginx:
    def __init__(self, prefix, workers, http_body, name, threads=4, env=None):
        self.prefix = pathlib.Path(prefix)
        self.workers = workers
        self.name = name
        self.port = free_port()
        self.origin_port = free_port()
        while self.origin_port == self.port:
            self.origin_port = free_port()
        self.conf = self.prefix / "nginx.conf"
        self.error_log = self.prefix / "error.log"
        self.origin_log = self.prefix / "origin.log"
        self.pid_file = self.prefix / "nginx.pid"
        self.env = dict(NGINX_ENV, **(env or {}))
        for d in ("tmp",):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)
        # workers run as the invoking user, whoever that is (the rule of
        # every harness that starts a server; tests/private_checkout.sh)
        user = f"user {INVOKING_USER};" if os.geteuid() == 0 else ""
        tmp = self.prefix / "tmp"
        self.conf.write_text(f"""
load_module {MODULE};
{user}
worker_processes {workers};
error_log {self.error_log} info;
pid {self.pid_file};
thread_pool default threads={threads};
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/octet-stream;
    types {{ image/jpeg jpg jpeg; image/png png; image/gif gif; image/webp webp; text/plain txt tsv md; }}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000;
    # as Debian's nginx.conf has it: static sources reach the filter as
    # file buffers (read whole by the module); see /nosf/ and /aio/
    sendfile on;

    # the origin of the proxied locations
    server {{
        listen 127.0.0.1:{self.origin_port};
        access_log {self.origin_log};
        location / {{ root {SHARED}; }}
        # no Content-Length: the sub filter makes the response chunked
        location /chunked/ {{
            alias {SHARED}/;
            sub_filter_types *;
            sub_filter 'NEVER-MATCHES-ANYTHING' 'x';
        }}
        # a dynamic origin: the image depends on the query string
        location = /byarg {{
            root {CORPUS}/photos;
            try_files /$arg_f =404;
        }}
        # compresses images for clients that accept it
        location /gzip/ {{
            alias {SHARED}/;
            gzip on;
            gzip_types image/jpeg image/png;
            gzip_min_length 0;
            gzip_http_version 1.0;  # what proxy_pass speaks
        }}
    }}

{http_body.format(SHARED=SHARED, CORPUS=CORPUS, BENCH=BENCH, SAMPLES=SAMPLES,
                  ORIGIN=self.origin_port, PORT=self.port, PREFIX=self.prefix)}
}}
""")

    # -- lifecycle

    def start(self):
        out = subprocess.run([NGINX, "-t", "-q", "-p", str(self.prefix), "-c", str(self.conf)],
                             capture_output=True, text=True, timeout=30, env=NGINX_ENV)
        assert out.returncode == 0, out.stderr
        # in the foreground, in a process group of its own: the master is our
        # child, and killpg reaches its workers even if the master is gone
        with open(self.prefix / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
                env=self.env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            if len(self.worker_pids()) == self.workers:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    socket.create_connection(("127.0.0.1", self.origin_port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx {self.name} did not start:\n{self.log()}\n"
                             + (self.prefix / "stderr.log").read_text(errors="replace"))

    def stop(self):
        proc = getattr(self, "proc", None)
        if proc is None:
            return
        pgid = proc.pid
        if proc.poll() is None:
            os.killpg(pgid, signal.SIGQUIT)  # graceful: let requests finish
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # the master, or workers it left
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    # -- introspection

    def master_pid(self):
        return self.proc.pid

    def worker_pids(self):
        master = self.master_pid()
        out = subprocess.run(["ps", "--ppid", str(master), "-o", "pid=,args="],
                             capture_output=True, text=True, timeout=10).stdout
        return sorted(int(line.split()[0]) for line in out.splitlines()
                      if "worker process" in line and "shutting down" not in line)

    def log(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def crashes(self):
        """Lines of the error log that say a process crashed or nginx saw
        something it should never see. The level is the one after the date
        (a logged request value may hold any text: test_hardening.py)."""
        return [line for line in self.log().splitlines()
                if ("exited on signal" in line and "thumbnail:" not in line)
                or re.match(r"\S+ \S+ \[(alert|emerg|crit)\] ", line)]

    def reload(self):
        """SIGHUP, then wait (bounded) until the old workers have exited."""
        old = set(self.worker_pids())
        os.kill(self.master_pid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["ps", "--ppid", str(self.master_pid()), "-o", "pid="],
                                 capture_output=True, text=True, timeout=10).stdout
            if not old & {int(p) for p in out.split()}:
                if len(self.worker_pids()) == self.workers:
                    return
            time.sleep(0.05)
        raise AssertionError(f"old workers {old} still there 30 s after SIGHUP")

    def origin_requests(self, needle):
        if not self.origin_log.exists():
            return 0
        return sum(1 for line in self.origin_log.read_text(errors="replace").splitlines()
                   if needle in line)

    def active_connections(self):
        """stub_status's count (the request asking for it included)."""
        r = requests.get(self.url("/status"), timeout=TIMEOUT)
        return int(r.text.split()[2])

    def settled(self, seconds=20):
        """Wait (bounded) until no render runs, nobody waits and no
        connection but ours is open; True if that happened."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t = self.stats()["totals"]
            if (t["in_flight"] == 0 and t["waiting"] == 0 and t["heavy"] == 0
                    and self.active_connections() == 1):
                return True
            time.sleep(0.05)
        return False

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, session=None, **kw):
        kw.setdefault("timeout", TIMEOUT)
        return (session or requests).get(self.url(path), **kw)

    def stats(self):
        r = requests.get(self.url("/stats"), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.text)


MAIN_SERVER = r"""
    thumbnail_cache size=64m shards=8;
    thumbnail_max_heavy 8;  # the corpus is rendered 4 at a time (test_heavy.py)

    server {{
        # reuseport: each worker has its own socket, and new connections are
        # spread over them (tests that need both workers rely on it)
        listen 127.0.0.1:{PORT} reuseport;
        access_log off;

        # static sources
        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/b/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}

        # the copy filter reads the file: into memory (sendfile off), or
        # on a pool thread (aio threads)
        location ~ ^/nosf/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            sendfile off;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/aio/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            aio threads;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        # O_DIRECT reads need aligned buffers: the copy filter's
        location ~ ^/dio/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            directio 4k;
            thumbnail on;
            thumbnail_spec $spec;
        }}

        # proxied sources (Content-Length known / chunked)
        location ~ ^/p/(?<spec>[^/]+)/ {{
            rewrite ^/p/[^/]+/(.*)$ /corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/pq/(?<spec>[^/]+)/ {{
            rewrite ^/pq/[^/]+/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/pz/(?<spec>[^/]+)/ {{
            rewrite ^/pz/[^/]+/(.*)$ /gzip/corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/pc/(?<spec>[^/]+)/ {{
            rewrite ^/pc/[^/]+/(.*)$ /chunked/corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
        }}

        # `auto` (tests/test_formats.py): the bucket in a header, without
        # and with AVIF allowed
        location ~ ^/tv/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            add_header X-Thumbnail-Format $thumbnail_format always;
        }}
        location ~ ^/ta/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_avif on;
            add_header X-Thumbnail-Format $thumbnail_format always;
        }}

        # a fixed spec and an allow-list
        location /fixed/ {{
            alias {CORPUS}/;
            thumbnail on;
            thumbnail_spec "120x80,cover,q70";
        }}
        location ~ ^/allow/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_allowed_specs 100x100 200x200,cover;
        }}

        # small limits
        location ~ ^/small/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_source_size 20k;
        }}
        location ~ ^/smallpc/(?<spec>[^/]+)/ {{
            rewrite ^/smallpc/[^/]+/(.*)$ /chunked/corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_source_size 20k;
        }}
        # damaged sources refused (thumbnail_strict)
        location ~ ^/strict/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_strict on;
        }}
        location ~ ^/fewpixels/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_pixels 100000;
        }}
        location ~ ^/smallout/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_output 256;
        }}

        # error_page 415 as with image_filter
        location ~ ^/fb/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            error_page 415 = /fallback.png;
        }}
        location = /fallback.png {{
            alias {CORPUS}/conformance/png/pngsuite/basn2c08.png;
        }}

        # try_files: a missing source falls back to another thumbnail location
        location ~ ^/tf/(?<spec>[^/]+)/(?<file>.+)$ {{
            root {CORPUS};
            try_files /$file /photos/rocket.jpg;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location /photos/ {{
            root {CORPUS};
            thumbnail on;
            thumbnail_spec 50x50;
        }}

        # the sources as they are, to compare
        location /static/ {{ alias {SHARED}/; }}

        # sources a test may remove
        location ~ ^/tmpsrc/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {PREFIX}/src/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}

        location = /stats {{ thumbnail_stats; }}
        location = /status {{ stub_status; }}
        location = /pid {{ return 200 $pid; }}
    }}
"""

SINGLE_SERVER = r"""
    thumbnail_cache size=64m shards=8;
    thumbnail_max_heavy 8;  # several prog18mp.jpg at once (test_heavy.py)

    server {{
        listen 127.0.0.1:{PORT};
        access_log off;

        location ~ ^/b/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/p/(?<spec>[^/]+)/ {{
            rewrite ^/p/[^/]+/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/q1/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_queue 1;
        }}
        location /static/ {{ alias {SHARED}/; }}
        location = /stats {{ thumbnail_stats; }}
        location = /status {{ stub_status; }}
    }}
"""


# thumbnail_max_heavy 1 on a 2-thread pool: one thread always stays free
HEAVY_SERVER = r"""
    thumbnail_cache size=64m shards=8;
    thumbnail_max_heavy 1;

    server {{
        listen 127.0.0.1:{PORT};
        access_log off;

        location ~ ^/b/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        # the same, where anything over 1 MP is heavy
        location ~ ^/mp1/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_heavy_pixels 1000000;
        }}
        # corpus files where a progressive JPEG over 100 000 pixels is heavy
        location ~ ^/c1/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_heavy_pixels 1000000;
        }}
        location ~ ^/s/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {SAMPLES}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location = /stats {{ thumbnail_stats; }}
    }}
"""


def _stop_checked(ngx):
    """Stop an instance and fail the session if any process crashed, also
    while shutting down (workers exit with the pool threads' data alive)."""
    ngx.stop()
    assert not ngx.crashes(), ngx.crashes()


def _instance(tmp_path_factory, name, workers, body, threads=4):
    if not MODULE.exists():
        pytest.exit(f"{MODULE} missing: run `make nginx-module`", returncode=2)
    if not CORPUS.is_dir():
        pytest.exit(f"corpus {CORPUS} missing (set THUMBNAIL_SHARED)", returncode=2)
    ngx = Nginx(tmp_path_factory.mktemp(name), workers, body, name, threads)
    ngx.start()
    return ngx


@pytest.fixture(scope="session")
def ngx(tmp_path_factory):
    n = _instance(tmp_path_factory, "ngx2", 2, MAIN_SERVER)
    yield n
    _stop_checked(n)


@pytest.fixture(scope="session")
def ngx1(tmp_path_factory):
    n = _instance(tmp_path_factory, "ngx1", 1, SINGLE_SERVER)
    yield n
    _stop_checked(n)


@pytest.fixture(scope="session")
def ngx_heavy(tmp_path_factory):
    n = _instance(tmp_path_factory, "heavy", 1, HEAVY_SERVER, threads=2)
    yield n
    _stop_checked(n)


def pytest_report_header(config):
    return [f"nginx: {NGINX}", f"module: {MODULE}", f"shared: {SHARED}"]
