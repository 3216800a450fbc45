"""A thumbnail cluster on 127.0.0.1, from real parts: etcd, nodes (nginx with
the module), `thumbnail-cluster register` per node, and routers (nginx with
`hash $uri consistent`, upstream written by `thumbnail-cluster watch`).

Used by the tests (tests/cluster), `make cluster-demo` (demo.py) and `make
cluster-bench` (bench.py). Standard library only.

Every process is started in a session of its own and stopped through its
own pid / process group; every wait is bounded.

Configs: cluster/nginx/node.conf.in, router.conf.in, upstream.conf.in.
"""

import http.client
import grp
import json
import os
import pathlib
import pwd
import signal
import socket
import subprocess
import time
import urllib.request
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONF = ROOT / "cluster" / "nginx"
NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
MODULE = pathlib.Path(os.environ.get("NGX_MODULE_SO", ROOT / "target/nginx/ngx_http_thumbnail_module.so")).resolve()
CLUSTER_BIN = pathlib.Path(os.environ.get("THUMBNAIL_CLUSTER_BIN", ROOT / "target/release/thumbnail-cluster")).resolve()
ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
SAMPLES = ROOT / "samples"
# nginx reads $NGINX as inherited sockets: never pass one on
ENV = {k: v for k, v in os.environ.items() if k != "NGINX"}
# workers run as the invoking user, whoever that is (the rule of every
# harness that starts a server)
USER = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};" if os.geteuid() == 0 else ""

# True once node.conf.in uses the node-wide shared-memory cache (one cache
# and one single-flight for all workers of a node).
NODE_CACHE_SHARED = any(line.strip().startswith("thumbnail_cache ") and "zone=" in line
                        for line in (CONF / "node.conf.in").read_text().splitlines())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(template, **values):
    text = (CONF / template).read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    assert "@" not in "".join(l.split("#")[0] for l in text.splitlines()), text
    return text


def wait_for(pred, timeout, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout} s")


def http_get(port, path, timeout=10, headers=None):
    """(status, headers dict, body) on a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def up(port, path="/health"):
    try:
        return http_get(port, path, timeout=1)[0] == 200
    except OSError:
        return False


class Proc:
    """A child in a session of its own (stdout/stderr to a log file)."""

    def __init__(self, args, log, env=None):
        self.args, self.log = [str(a) for a in args], pathlib.Path(log)
        self.env = env or ENV
        self.proc = None

    def start(self):
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(self.args, env=self.env, start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """sig to the group, a bounded wait, then SIGKILL to the group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal_group(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        rc, self.proc = self.proc.returncode, None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL, timeout=5)

    def text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Etcd:
    def __init__(self, prefix):
        self.dir = pathlib.Path(prefix)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        peer = f"http://127.0.0.1:{self.peer}"
        self.proc = Proc([ETCD, "--name", "default", "--data-dir", self.dir / "data",
                          "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                          "--initial-cluster", f"default={peer}", "--log-level", "warn"],
                         self.dir / "etcd.log").start()
        wait_for(lambda: self._ready(), 20, 0.05, "etcd ready")
        return self

    def _ready(self):
        if not self.proc.alive():
            raise RuntimeError("etcd exited:\n" + self.proc.text()[-3000:])
        try:
            self.call("/v3/kv/range", {"key": b64("x")}, timeout=1)
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc:
            self.proc.stop()

    def call(self, path, body, timeout=5):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def put(self, key, value, lease=None):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return self.call("/v3/kv/put", body)

    def delete_prefix(self, prefix):
        return self.call("/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})

    def get_prefix(self, prefix):
        r = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        import base64
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in r.get("kvs", [])}


def b64(s):
    import base64
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


class Nginx:
    def __init__(self, prefix, conf_text, port):
        self.prefix = pathlib.Path(prefix)
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(conf_text)
        self.port = port
        self.proc = None

    def check_cmd(self):
        return f"env -u NGINX {NGINX} -t -q -p {self.prefix} -c {self.conf}"

    def start(self, workers):
        out = subprocess.run(["sh", "-c", self.check_cmd()], capture_output=True, text=True, timeout=30, env=ENV)
        assert out.returncode == 0, out.stderr
        self.proc = Proc([NGINX, "-p", self.prefix, "-c", self.conf, "-g", "daemon off;"],
                         self.prefix / "stderr.log").start()
        wait_for(lambda: self._started(workers), 15, 0.05, f"nginx {self.prefix.name}")
        return self

    def _started(self, workers):
        if not self.proc.alive():
            raise RuntimeError(f"nginx {self.prefix} exited:\n{self.error_log()[-3000:]}")
        return len(self.worker_pids()) >= workers and up(self.port)

    def worker_pids(self):
        if not self.alive():
            return []
        out = subprocess.run(["ps", "--ppid", str(self.proc.proc.pid), "-o", "pid=,args="],
                             capture_output=True, text=True, timeout=10).stdout
        return [int(l.split()[0]) for l in out.splitlines()
                if "worker process" in l and "shutting down" not in l]

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def settled(self):
        """The master has its workers and no old worker is shutting down."""
        out = subprocess.run(["ps", "--ppid", str(self.proc.proc.pid), "-o", "args="],
                             capture_output=True, text=True, timeout=10).stdout
        return (sum("worker process" in l for l in out.splitlines()) == self.workers
                and "shutting down" not in out)

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGQUIT, timeout=15)

    def kill(self):
        """SIGKILL to the master and its workers at once (a crash)."""
        if self.proc:
            self.proc.kill()

    def error_log(self):
        p = self.prefix / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def crashes(self):
        return [l for l in self.error_log().splitlines() if "exited on signal" in l or "[alert]" in l
                or "[emerg]" in l or "[crit]" in l]


class Node(Nginx):
    """A node; with peer=True also its own router (peer-router.conf.in on
    public_port, upstream.conf in its prefix)."""

    def __init__(self, prefix, name, workers, images=SAMPLES, peer=False):
        self.name, self.workers = name, workers
        port = free_port()
        prefix = pathlib.Path(prefix)
        self.public_port = free_port() if peer else None
        peer_router = fill("peer-router.conf.in", PREFIX=prefix, PUBLIC_PORT=self.public_port) if peer else ""
        super().__init__(prefix, fill("node.conf.in", NAME=name, PORT=port, PREFIX=prefix, IMAGES=images,
                                      MODULE=MODULE, WORKERS=workers, USER=USER, PEER_ROUTER=peer_router), port)
        self.addr = f"127.0.0.1:{port}"
        self.upstream = self.prefix / "upstream.conf"

    def reload_cmd(self):
        return f"kill -HUP $(cat {self.prefix}/nginx.pid)"

    def start(self):
        return super().start(self.workers)

    def stats(self):
        s, _, body = http_get(self.port, "/stats")
        assert s == 200, body
        return json.loads(body)["totals"]

    def seen(self):
        """URIs of /t/ requests in the access log (one per request)."""
        p = self.prefix / "access.log"
        if not p.exists():
            return []
        return [l.split()[0] for l in p.read_text().splitlines() if l.startswith("/t/")]


class Router(Nginx):
    def __init__(self, prefix, workers=2, port=None):
        self.workers = workers
        port = port or free_port()
        super().__init__(prefix, fill("router.conf.in", PORT=port, PREFIX=pathlib.Path(prefix), USER=USER,
                                      WORKERS=workers), port)
        self.upstream = self.prefix / "upstream.conf"

    def start(self):
        return super().start(self.workers)

    def reload_cmd(self):
        return f"kill -HUP $(cat {self.prefix}/nginx.pid)"

    def servers(self):
        """The server addresses of the upstream file in force."""
        return [l.split()[1] for l in self.upstream.read_text().splitlines() if l.strip().startswith("server ")]

    def ring(self):
        """nginx's ketama ring of the upstream file in force."""
        return ketama_points(self.servers(), template_weight())


def template_weight():
    """The weight= of the server line of upstream.conf.in (1 if none)."""
    line = next(l for l in (CONF / "upstream.conf.in").read_text().splitlines() if "{{addr}}" in l)
    return next((int(w[7:]) for w in line.split() if w.startswith("weight=")), 1)


def register_proc(etcd, prefix, node, log, ttl=3, health=True):
    args = [CLUSTER_BIN, "register", "--etcd", etcd.url, "--prefix", prefix,
            "--name", node.name, "--addr", node.addr, "--ttl", ttl]
    if health:
        args += ["--health", f"http://{node.addr}/health"]
    return Proc(args, log).start()


def watch_proc(etcd, prefix, router, log, debounce_ms=50, once=False):
    args = [CLUSTER_BIN, "watch", "--etcd", etcd.url, "--prefix", prefix,
            "--template", CONF / "upstream.conf.in", "--output", router.upstream,
            "--check", router.check_cmd(), "--debounce", debounce_ms]
    if once:
        # the first upstream, before the router starts: no check, no reload
        args = [a for a in args if a not in ("--check", router.check_cmd())] + ["--once"]
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30, env=ENV)
    args += ["--reload", router.reload_cmd()]
    return Proc(args, log).start()


class Cluster:
    """etcd (shared or own) + N nodes (each with its register) + routers
    (each with its watcher), all members under `prefix`."""

    def __init__(self, base, etcd, prefix, nodes=3, workers=2, routers=1, ttl=3, router_workers=2,
                 router_port=None):
        self.base = pathlib.Path(base)
        self.etcd, self.prefix, self.ttl = etcd, prefix, ttl
        self.nodes = [Node(self.base / f"node{i + 1}", f"node{i + 1}", workers) for i in range(nodes)]
        self.routers = [Router(self.base / f"router{i + 1}", router_workers, router_port if i == 0 else None)
                        for i in range(routers)]
        self.registers = {}
        self.watchers = []

    def start(self):
        for n in self.nodes:
            n.start()
            self.join(n)
        names = {n.name for n in self.nodes}
        wait_for(lambda: {k[len(self.prefix):] for k in self.etcd.get_prefix(self.prefix)} >= names,
                 15, 0.05, "members registered")
        for i, r in enumerate(self.routers):
            out = watch_proc(self.etcd, self.prefix, r, None, once=True)
            assert out.returncode == 0, out.stderr
            r.start()
            self.watchers.append(watch_proc(self.etcd, self.prefix, r, self.base / f"watch{i + 1}.log"))
        return self

    def join(self, node):
        self.registers[node.name] = register_proc(self.etcd, self.prefix, node,
                                                  self.base / f"register-{node.name}.log", self.ttl)

    def leave(self, node):
        """Graceful leave: SIGTERM to the register, which revokes its lease."""
        return self.registers.pop(node.name).stop()

    def stop(self):
        for w in self.watchers:
            w.stop()
        for r in self.routers:
            r.stop()
        for p in self.registers.values():
            p.stop()
        for n in self.nodes:
            n.stop()

    def node_by_addr(self, addr):
        return next(n for n in self.nodes if n.addr == addr)

    def renders(self):
        return {n.name: n.stats()["renders"] for n in self.nodes if n.alive()}


class PeerCluster(Cluster):
    """Every node its own router: each node registers its thumbnail server
    and runs a watcher that writes its own upstream.conf and reloads it.
    The registers run without --health: a node's nginx needs the upstream
    file (so the members) before it can start and answer a health check."""

    def __init__(self, base, etcd, prefix, nodes=3, workers=1, ttl=3):
        self.base = pathlib.Path(base)
        self.etcd, self.prefix, self.ttl = etcd, prefix, ttl
        self.nodes = [Node(self.base / f"peer{i + 1}", f"peer{i + 1}", workers, peer=True) for i in range(nodes)]
        self.routers = []
        self.registers = {}
        self.watchers = []

    def start(self):
        for n in self.nodes:
            self.registers[n.name] = register_proc(self.etcd, self.prefix, n,
                                                   self.base / f"register-{n.name}.log", self.ttl, health=False)
        names = {n.name for n in self.nodes}
        wait_for(lambda: {k[len(self.prefix):] for k in self.etcd.get_prefix(self.prefix)} >= names,
                 15, 0.05, "members registered")
        for n in self.nodes:
            out = watch_proc(self.etcd, self.prefix, n, None, once=True)
            assert out.returncode == 0, out.stderr
            n.start()
            self.watchers.append(watch_proc(self.etcd, self.prefix, n, self.base / f"watch-{n.name}.log"))
        return self


# --- nginx's ketama (ngx_http_upstream_hash_module.c, `hash ... consistent`) ---

def ketama_points(servers, weight=1):
    """Sorted (hash, server) points: 160 per unit of weight, each
    crc32(HOST \\0 PORT PREV_HASH) as nginx computes it (little-endian
    PREV_HASH, x86)."""
    points = []
    for server in servers:
        host, _, port = server.rpartition(":")
        base = host.encode() + b"\0" + port.encode()
        prev = 0
        for _ in range(160 * weight):
            h = zlib.crc32(base + prev.to_bytes(4, "little"))
            points.append((h, server))
            prev = h
    points.sort(key=lambda p: p[0])
    # nginx drops a point whose hash equals the previous one
    out = []
    for p in points:
        if not out or out[-1][0] != p[0]:
            out.append(p)
    return out


def ketama_owner(points, key):
    h = zlib.crc32(key.encode())
    lo, hi = 0, len(points)
    while lo < hi:
        mid = (lo + hi) // 2
        if h > points[mid][0]:
            lo = mid + 1
        elif h < points[mid][0]:
            hi = mid
        else:
            lo = mid
            break
    return points[lo % len(points)][1]
