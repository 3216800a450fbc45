#!/usr/bin/env python3
"""bench-zone: the nginx module's node-wide cache zone (issue 21), measured.

  1. Hit path: requests/s of a cache hit (wrk, keep-alive) with the zone,
     with the per-worker cache, and of nginx sending a static file of about
     the thumbnail's size; -c1 and -c2, alternating rounds, medians, and
     the workers' CPU time per request; the ratios computed within this one
     run. (Commits up to ad20b72 measured the per-worker cache as an L1 in
     front of the zone too, before that combination was retired.)
  2. Cold-key storm: N requests at once (pre-opened connections, half on
     each worker) for a key nobody has: the latency of every request,
     split into the worker that rendered and the other one, against the
     latency of a lone render of the same kind; and the same storm through
     proxy_cache + proxy_cache_lock in front of the module (nginx's own
     cache lock, whose waiters poll every 500 ms).
  3. Memory: K distinct thumbnails into the zone: its `bytes` against the
     sum of the thumbnails' sizes, and the pages it uses beyond that.

Every server: 2 workers, a 2-thread default pool, no access log.
Writes target/bench-zone/results.md and results.json.

    python3 benches/zone/zone_bench.py [--quick]      (make bench-zone)
"""

import argparse
import concurrent.futures
import http.client
import grp
import json
import os
import pathlib
import pwd
import platform
import re
import selectors
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("THUMBNAIL_SHARED", ROOT.parent / "shared")).resolve()
IMAGES = SHARED / "bench-images"
MODULE_SO = ROOT / "target/nginx/ngx_http_thumbnail_module.so"
NGINX_BIN = os.environ.get("NGX_BIN", "/usr/sbin/nginx")
OUT = ROOT / "target/bench-zone"
ENV = {k: v for k, v in os.environ.items() if k != "NGINX"}  # nginx reads $NGINX

# as benches/compare: a 260x163 q80 thumbnail of mid4mp.jpg is ~10 KB, the
# size of static10k.jpg
HIT_SOURCE, HIT_SPEC = "mid4mp.jpg", "260x260,q80"
STATIC_FILE = "static10k.jpg"
STORM_SOURCE = "mid4mp.jpg"    # 4 MP baseline JPEG, ~15-30 ms a render
TARGET_HIT = 0.9               # zone hit / per-worker hit and / static, at least
TARGET_FOLLOWER_MS = 20        # follower p99 <= lone render p99 + this


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOCATION = """
    location ~ ^/t/(?<spec>[^/]+)/(?<file>[^/]+)$ {{
      alias {images}/$file;
      thumbnail on;
      thumbnail_spec $spec;
      {extra}
      add_header X-Pid $pid always;
    }}
    location = /stats {{ thumbnail_stats; }}
    location = /pid {{ return 200 $pid; }}
"""

CACHES = {
    "zone": "thumbnail_cache zone=bench:64m;",
    "worker": "thumbnail_cache size=64m;",
}


def conf(mode, prefix, port, timing=False):
    """mode: zone | worker | static | proxycache; timing: an
    access log of $uri $request_time"""
    temp = "\n".join(f"  {k}_temp_path {prefix}/tmp/{k};"
                     for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    load = "" if mode == "static" else f"load_module {MODULE_SO};"
    if mode == "static":
        http = f"""
  server {{
    listen 127.0.0.1:{port} reuseport;
    location /static/ {{ alias {IMAGES}/; }}
  }}"""
    elif mode == "proxycache":
        # nginx's own cache and cache lock in front of a module server
        # without a cache (each request that reaches it renders)
        back = free_port()
        http = f"""
  proxy_cache_path {prefix}/cache levels=1:2 keys_zone=pc:16m max_size=1g inactive=1h use_temp_path=off;
  server {{
    listen 127.0.0.1:{back};
    {LOCATION.format(images=IMAGES, extra="thumbnail_max_heavy 2;")}
  }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location /t/ {{
      proxy_pass http://127.0.0.1:{back};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache pc;
      proxy_cache_key $uri;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
      proxy_cache_lock_age 10s;
    }}
    location = /pid {{ return 200 $pid; }}
  }}"""
    else:
        http = f"""
  {CACHES[mode]}
  map $request_method $purge_method {{ PURGE 1; default 0; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    {LOCATION.format(images=IMAGES, extra="thumbnail_max_heavy 2; thumbnail_cache_purge $purge_method;" if mode != "worker" else "thumbnail_max_heavy 2;")}
  }}"""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};" if os.geteuid() == 0 else ""  # the invoking user
    return f"""{load}
daemon off;
master_process on;
{user}
worker_processes 2;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
thread_pool default threads=2;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  log_format timing '$uri $request_time';
  access_log {f"{prefix}/timing.log timing" if timing else "off"};
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
{temp}
{http}
}}
"""


class Nginx:
    def __init__(self, mode, timing=False):
        self.mode = mode
        self.port = free_port()
        self.prefix = OUT / f"nginx-{mode}{'-timing' if timing else ''}"
        subprocess.run(["rm", "-rf", str(self.prefix)], check=True)
        (self.prefix / "tmp").mkdir(parents=True)
        (self.prefix / "nginx.conf").write_text(conf(mode, self.prefix, self.port, timing))
        self.proc = None

    def __enter__(self):
        self.stderr = open(self.prefix / "stderr.log", "wb")
        self.proc = subprocess.Popen([NGINX_BIN, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, env=ENV, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx {self.mode} exited: {(self.prefix / 'stderr.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx {self.mode} did not listen")

    def __exit__(self, *exc):
        self.stderr.close()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def get(self, path, conn=None, method="GET"):
        own = conn is None
        conn = conn or self.conn()
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            if own:
                conn.close()

    def stats(self):
        return json.loads(self.get("/stats")[2])

    def conns_per_worker(self, per_worker, tries=400):
        """per_worker keep-alive connections on each of the 2 workers: {pid: [conn, ...]}"""
        got = {}
        for _ in range(tries):
            c = self.conn()
            pid = int(self.get("/pid", c)[2])
            got.setdefault(pid, [])
            if len(got[pid]) < per_worker:
                got[pid].append(c)
            else:
                c.close()
            if len(got) == 2 and all(len(v) == per_worker for v in got.values()):
                return got
        raise RuntimeError(f"could not open {per_worker} connections on each worker: {[len(v) for v in got.values()]}")


class Raw:
    """A keep-alive HTTP/1.1 connection on a plain socket, so that one
    thread can drive many at once (selectors) and timestamp each response
    as its last byte arrives: Python threads on a loaded 2-core host add
    tens of ms of scheduling noise to per-request latencies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, path):
        self.buf = b""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())

    def feed(self):
        """read what is there; the (status, headers, body) once complete, else None"""
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed")
        self.buf += chunk
        return self.complete()

    def complete(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        length = int(headers.get("content-length", 0))
        if len(self.buf) < end + 4 + length:
            return None
        return int(head[0].split()[1]), headers, self.buf[end + 4:end + 4 + length]

    def get(self, path):
        self.send(path)
        while True:
            r = self.feed()
            if r:
                return r

    def close(self):
        self.sock.close()


def run_wrk(url, connections, seconds):
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not rate or not count or non2xx:
        raise RuntimeError(f"wrk: {out[-400:]}")
    return float(rate.group(1)), int(count.group(1)), shlex.join(cmd)


def workers_cpu_ns(master):
    """CPU time (ns) the master's children (the workers) have used, from
    /proc/<pid>/schedstat: unlike req/s, not moved by other load on the host"""
    total = 0
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != master:
                continue
            total += int((entry / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# ------------------------------------------------------------------ hit path

def warm(server, path):
    """The hit key in every place a hit can come from: the zone, or each
    worker's own cache."""
    conns = server.conns_per_worker(1)
    (pa, [a]), (pb, [b]) = sorted(conns.items())
    if server.mode == "worker":
        for c in (a, b):
            assert server.get(path, c)[0] == 200
    else:
        assert server.get(path, a)[0] == 200
    st = server.stats()
    for c in (a, b):
        c.close()
    return st


def hit_path(rounds, seconds, log):
    path = f"/t/{HIT_SPEC}/{HIT_SOURCE}"
    paths = {"zone": path, "worker": path, "static": f"/static/{STATIC_FILE}"}
    result = {"paths": paths, "rounds": rounds, "seconds": seconds, "servers": {}}
    with Nginx("zone") as zone, Nginx("worker") as worker, Nginx("static") as static:
        servers = {"zone": zone, "worker": worker, "static": static}
        for name, s in servers.items():
            status, headers, body = s.get(paths[name])
            assert status == 200 and headers.get("Content-Type") == "image/jpeg", (name, status)
            result["servers"][name] = {"bytes": len(body)}
            if name != "static":
                result["servers"][name]["renders_after_warmup"] = warm(s, path)["totals"]["renders"]
        before = {n: s.stats()["totals"]["renders"] for n, s in servers.items() if n != "static"}
        for c in (1, 2):
            per = {n: [] for n in servers}
            cpu = {n: 0 for n in servers}
            reqs = {n: 0 for n in servers}
            for i in range(rounds):
                # alternating, in a rotating order: a burst of other load
                # on the host does not always hit the same server
                names = list(servers)
                names = names[i % len(names):] + names[:i % len(names)]
                for name in names:
                    s = servers[name]
                    ns0 = workers_cpu_ns(s.proc.pid)
                    rate, count, cmd = run_wrk(s.url(paths[name]), c, seconds)
                    cpu[name] += workers_cpu_ns(s.proc.pid) - ns0
                    reqs[name] += count
                    per[name].append(rate)
                    result["servers"][name]["cmd"] = cmd
                    time.sleep(0.1)
            for name in servers:
                us = cpu[name] / reqs[name] / 1000
                result["servers"][name][f"c{c}"] = {"median": statistics.median(per[name]), "rounds": per[name],
                                                    "worker_cpu_us_per_request": us, "requests": reqs[name]}
                log(f"  hit -c{c} {name:7} {statistics.median(per[name]):9.0f} req/s  {us:6.1f} us CPU/request  "
                    f"rounds {[round(r) for r in per[name]]}")
        after = {n: s.stats()["totals"]["renders"] for n, s in servers.items() if n != "static"}
        result["renders_during_wrk"] = {n: after[n] - before[n] for n in after}
    for c in (1, 2):
        m = {n: result["servers"][n][f"c{c}"]["median"] for n in servers}
        # CPU per request inverted: the throughput a CPU-bound server would have
        u = {n: 1 / result["servers"][n][f"c{c}"]["worker_cpu_us_per_request"] for n in servers}
        result[f"ratios_c{c}"] = {k: m[a] / m[b] for k, (a, b) in RATIOS.items() if a in m and b in m}
        result[f"cpu_ratios_c{c}"] = {k: u[a] / u[b] for k, (a, b) in RATIOS.items() if a in u and b in u}
    return result


RATIOS = {"zone/worker": ("zone", "worker"), "zone/static": ("zone", "static"),
          "worker/static": ("worker", "static")}


# ------------------------------------------------------------------ storm

def raw_per_worker(server, per_worker, tries=400):
    """per_worker Raw connections on each of the 2 workers: {pid: [Raw, ...]}"""
    got = {}
    for _ in range(tries):
        c = Raw(server.port)
        pid = int(c.get("/pid")[2])
        got.setdefault(pid, [])
        if len(got[pid]) < per_worker:
            got[pid].append(c)
        else:
            c.close()
        if len(got) == 2 and all(len(v) == per_worker for v in got.values()):
            return got
    raise RuntimeError("could not open the connections on each worker")


def storm_round(conns, path):
    """One request per connection, written back to back from one thread;
    (pid, ms, status, body) each, ms from the first write to the last byte."""
    flat = [(pid, c) for pid, cs in conns.items() for c in cs]
    sel = selectors.DefaultSelector()
    t0 = time.perf_counter()
    for pid, c in flat:
        c.send(path)
        sel.register(c.sock, selectors.EVENT_READ, (pid, c))
    done = []
    deadline = time.monotonic() + 120
    while len(done) < len(flat) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            pid, c = key.data
            r = c.feed()
            if r:
                done.append((pid, (time.perf_counter() - t0) * 1000, r[0], r[2]))
                sel.unregister(c.sock)
    sel.close()
    if len(done) < len(flat):
        raise RuntimeError("storm round did not finish in 120 s")
    return done


def lone_renders(server, n, tag, log):
    conns = raw_per_worker(server, 1)
    ms = []
    for i in range(n):
        c = list(conns.values())[i % 2][0]
        t0 = time.perf_counter()
        status = c.get(lone_path(i, tag))[0]
        ms.append((time.perf_counter() - t0) * 1000)
        assert status == 200
    for cs in conns.values():
        for c in cs:
            c.close()
    return ms


# a lone render and a storm's key: the same work (box, source), other keys
def lone_path(i, tag):
    return f"/t/{400 + i}x{400 + i},q{70 + tag}/{STORM_SOURCE}"


def storm_path(i, tag):
    return f"/t/{400 + i}x{400 + i},q{80 + tag}/{STORM_SOURCE}"


def request_times(server, pattern):
    """nginx's $request_time (ms) of the requests whose URI matches pattern"""
    log = server.prefix / "timing.log"
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        uri, _, t = line.rpartition(" ")
        if re.search(pattern, uri):
            out.append(float(t) * 1000)
    return out


def storm(mode, rounds, followers, tag, log):
    """rounds cold keys, each asked by `followers` requests at once"""
    with Nginx(mode, timing=True) as server:
        alone = lone_renders(server, rounds, tag, log)
        conns = raw_per_worker(server, followers // 2)
        rendered_by, others, all_ms, delays = [], [], [], []
        renders0 = None if mode == "proxycache" else server.stats()["totals"]["renders"]
        bodies_ok = True
        for i in range(rounds):
            path = storm_path(i, tag)
            before = None if mode == "proxycache" else {w["pid"]: w["renders"] for w in server.stats()["workers"]}
            res = storm_round(conns, path)
            bodies_ok &= len({r[3] for r in res}) == 1 and all(r[2] == 200 for r in res)
            all_ms += [r[1] for r in res]
            # after the first response (the render's end, give or take a
            # wake-up): what waiting for another's render costs
            first = min(r[1] for r in res)
            delays += sorted(r[1] - first for r in res)[1:]
            if before is not None:
                after = {w["pid"]: w["renders"] for w in server.stats()["workers"]}
                renderer = [p for p in after if after[p] - before.get(p, 0) == 1]
                rendered_by += [r[1] for r in res if renderer and r[0] == renderer[0]]
                others += [r[1] for r in res if renderer and r[0] != renderer[0]]
        renders = None if renders0 is None else server.stats()["totals"]["renders"] - renders0
        for cs in conns.values():
            for c in cs:
                c.close()
        time.sleep(0.2)  # the access log is written as each request ends
        server_alone = request_times(server, r",q7\d/")
        server_storm = request_times(server, r",q8\d/")
    out = {
        "mode": mode, "rounds": rounds, "requests_per_round": followers,
        "lone_render_ms": {"p50": pct(alone, 50), "p99": pct(alone, 99), "n": len(alone)},
        "storm_ms": {"p50": pct(all_ms, 50), "p99": pct(all_ms, 99), "max": max(all_ms), "n": len(all_ms)},
        "renders": renders, "bodies_ok": bodies_ok,
        "after_first_ms": {"p50": pct(delays, 50), "p99": pct(delays, 99), "max": max(delays)},
        "server_lone_render_ms": {"p50": pct(server_alone, 50), "p99": pct(server_alone, 99), "n": len(server_alone)},
        "server_storm_ms": {"p50": pct(server_storm, 50), "p99": pct(server_storm, 99), "n": len(server_storm)},
    }
    if rendered_by:
        out["same_worker_ms"] = {"p50": pct(rendered_by, 50), "p99": pct(rendered_by, 99), "n": len(rendered_by)}
        out["other_worker_ms"] = {"p50": pct(others, 50), "p99": pct(others, 99), "n": len(others)}
    log(f"  storm {mode:10} lone render p50 {out['lone_render_ms']['p50']:.1f} p99 {out['lone_render_ms']['p99']:.1f} ms; "
        f"storm p50 {out['storm_ms']['p50']:.1f} p99 {out['storm_ms']['p99']:.1f} max {out['storm_ms']['max']:.1f} ms; "
        f"renders {renders} for {rounds} keys")
    log(f"        {'':10} after the first response: p50 {out['after_first_ms']['p50']:.1f} "
        f"p99 {out['after_first_ms']['p99']:.1f} max {out['after_first_ms']['max']:.1f} ms")
    log(f"        {'':10} nginx $request_time: lone p99 {out['server_lone_render_ms']['p99']:.1f} ms, "
        f"storm p50 {out['server_storm_ms']['p50']:.1f} p99 {out['server_storm_ms']['p99']:.1f} ms")
    if rendered_by:
        log(f"        {'':10} rendering worker p99 {out['same_worker_ms']['p99']:.1f} ms, "
            f"other worker p99 {out['other_worker_ms']['p99']:.1f} ms")
    return out


# ------------------------------------------------------------------ memory

def memory(k, log):
    with Nginx("zone") as server:
        before = server.stats()["zone"]
        sizes = []
        for i in range(k):
            status, _, body = server.get(f"/t/{100 + i}x{100 + i},q80/{HIT_SOURCE}")
            assert status == 200
            sizes.append(len(body))
        after = server.stats()["zone"]
    items = after["items"] - before["items"]
    out = {
        "thumbnails": k, "sum_of_sizes": sum(sizes), "zone_bytes": after["bytes"] - before["bytes"],
        "items": items, "used_bytes": after["used_bytes"] - before["used_bytes"],
        "mean_size": sum(sizes) / k,
    }
    out["overhead_per_item"] = (out["used_bytes"] - out["sum_of_sizes"]) / k
    log(f"  memory: {k} thumbnails, sum {out['sum_of_sizes']} B, zone bytes {out['zone_bytes']} B, "
        f"pages used {out['used_bytes']} B: {out['overhead_per_item']:.0f} B overhead per entry "
        f"(mean size {out['mean_size']:.0f} B)")
    return out


# ------------------------------------------------------------------ report

def verdict(ok):
    return "yes" if ok else "**no**"


def markdown(r):
    lines = [f"# bench-zone ({r['command']})", "",
             f"{r['when']}, {r['cpu']}, {os.cpu_count()} CPUs, load average at start {r['load']}; "
             f"commit {r['commit']}", ""]
    h = r["hit"]
    lines += [f"## Hit path (wrk, keep-alive, {h['rounds']} alternating rounds of {h['seconds']} s each)", "",
              "req/s: median of the rounds. CPU/request: the nginx workers' CPU time (/proc/PID/schedstat) "
              "over all rounds divided by the requests, which other load on the host moves far less.", "",
              "| server | bytes | -c1 req/s | -c1 µs CPU/request | -c2 req/s | -c2 µs CPU/request |",
              "|---|---|---|---|---|---|"]
    for name in h["servers"]:
        s = h["servers"][name]
        lines.append(f"| {name} | {s['bytes']} | {s['c1']['median']:.0f} | {s['c1']['worker_cpu_us_per_request']:.1f} | "
                     f"{s['c2']['median']:.0f} | {s['c2']['worker_cpu_us_per_request']:.1f} |")
    lines += ["", "| ratio | -c1 req/s | -c2 req/s | -c1 by CPU | -c2 by CPU | target |", "|---|---|---|---|---|---|"]
    for key in h["ratios_c1"]:
        target = TARGET_HIT if key in ("zone/worker", "zone/static") else None
        c1, c2 = h["ratios_c1"][key], h["ratios_c2"][key]
        u1, u2 = h["cpu_ratios_c1"][key], h["cpu_ratios_c2"][key]
        t = f"≥ {target}: req/s {verdict(c1 >= target and c2 >= target)}, CPU {verdict(u1 >= target and u2 >= target)}" if target else ""
        lines.append(f"| {key} | {c1:.2f} | {c2:.2f} | {u1:.2f} | {u2:.2f} | {t} |")
    lines += ["", f"renders during the wrk runs: {h['renders_during_wrk']} (all hits)", ""]
    lines += ["## Cold-key storm", "",
              f"{r['storm_followers']} requests at once per cold key ({STORM_SOURCE}, a new spec each round), "
              f"pre-opened keep-alive connections, half on each worker, written back to back by one thread, "
              f"each timed to its last byte; lone render: one request per cold key, same client.", "",
              "| front | keys | renders | lone render p50 / p99 ms | storm p50 / p99 / max ms | rendering worker p99 | other worker p99 | after the first response p50 / p99 / max | p99 ≤ lone p99 + 20 ms | nginx $request_time: lone p99, storm p99 |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["storm"]:
        same = f"{s['same_worker_ms']['p99']:.1f}" if "same_worker_ms" in s else "–"
        other = f"{s['other_worker_ms']['p99']:.1f}" if "other_worker_ms" in s else "–"
        okay = s["storm_ms"]["p99"] <= s["lone_render_ms"]["p99"] + TARGET_FOLLOWER_MS
        lines.append(f"| {s['mode']} | {s['rounds']} | {s['renders'] if s['renders'] is not None else '–'} | "
                     f"{s['lone_render_ms']['p50']:.1f} / {s['lone_render_ms']['p99']:.1f} | "
                     f"{s['storm_ms']['p50']:.1f} / {s['storm_ms']['p99']:.1f} / {s['storm_ms']['max']:.1f} | "
                     f"{same} | {other} | {s['after_first_ms']['p50']:.1f} / {s['after_first_ms']['p99']:.1f} / {s['after_first_ms']['max']:.1f} | {verdict(okay)} | "
                     f"{s['server_lone_render_ms']['p99']:.1f}, {s['server_storm_ms']['p99']:.1f} |")
    m = r["memory"]
    lines += ["", "## Memory", "",
              f"{m['thumbnails']} thumbnails ({HIT_SOURCE}, specs 100x100..{99 + m['thumbnails']}x{99 + m['thumbnails']}, "
              f"mean {m['mean_size']:.0f} B): sum of sizes {m['sum_of_sizes']} B, zone `bytes` {m['zone_bytes']} B "
              f"({'equal' if m['zone_bytes'] == m['sum_of_sizes'] else '**differ**'}), pages in use "
              f"{m['used_bytes']} B: {m['overhead_per_item']:.0f} B per entry beyond the thumbnail.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 s rounds, few keys")
    ap.add_argument("--command", default="python3 benches/zone/zone_bench.py")
    args = ap.parse_args()
    rounds, seconds, keys, followers, mem = (1, 1, 5, 8, 50) if args.quick else (9, 2, 40, 16, 400)
    for p in (MODULE_SO, IMAGES / HIT_SOURCE):
        if not p.exists():
            sys.exit(f"missing {p} (make nginx-module; THUMBNAIL_SHARED)")
    OUT.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    r = {"command": args.command, "when": time.strftime("%Y-%m-%d %H:%M"),
         "cpu": platform.processor() or platform.machine(), "load": os.getloadavg()[0],
         "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True).stdout.strip(),
         "storm_followers": followers}
    try:
        with open("/proc/cpuinfo") as f:
            r["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    log("hit path")
    r["hit"] = hit_path(rounds, seconds, log)
    log("cold-key storm")
    r["storm"] = [storm("zone", keys, followers, 0, log),
                  storm("worker", keys, followers, 1, log),
                  storm("proxycache", max(3, keys // 3), followers, 2, log)]
    log("memory")
    r["memory"] = memory(mem, log)
    (OUT / "results.json").write_text(json.dumps(r, indent=1))
    (OUT / "results.md").write_text(markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()
