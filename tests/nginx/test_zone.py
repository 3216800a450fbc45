"""The node-wide cache zone (`thumbnail_cache zone=...`): one render and one
stored copy per key per node, shared by all workers; cross-worker
single-flight; a killed leader does not wedge its key; reload keeps the
entries; eviction, max_item, purge; hits carry the miss's caching headers.

Every instance listens with `reuseport`, so fresh connections are spread
over the workers by the kernel; a test that needs a given worker keeps a
keep-alive session that it opened on that worker."""

import concurrent.futures
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import CORPUS, MODULE, NGINX, NGINX_ENV, ROOT, TIMEOUT, Nginx, _instance, free_port, image_info

CLI = ROOT / "target/release/thumbnail"

SOURCES = ["photos/rocket.jpg", "photos/coffee.png", "photos/astronaut.png", "photos/camera.png"]

# the origin of /cc/: a proxied source that names its caching headers
CC_ORIGIN = r"""
    server {{
        listen 127.0.0.1:@CCPORT@;
        access_log off;
        location / {{
            root {CORPUS};
            add_header Cache-Control "public, max-age=600";
            add_header Expires "Thu, 31 Dec 2037 23:55:55 GMT";
        }}
    }}
"""

ZONE_SERVER = CC_ORIGIN + r"""
    # lock_age well above any render on a loaded machine: a marker is only
    # taken over here when its owner is dead
    thumbnail_cache zone=thumbs:@SIZE@ lock_age=60s @EXTRA@;
    thumbnail_max_heavy 8;
    thumbnail_max_queue 256;

    map $request_method $purge_method {{ PURGE 1; default 0; }}

    server {{
        listen 127.0.0.1:{PORT} reuseport;
        access_log off;

        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_cache_purge $purge_method;
        }}
        location ~ ^/b/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        # thumbnails over max_item served (not stored) instead of 413
        location ~ ^/nocap/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_output_size 0;
        }}
        location ~ ^/cc/(?<spec>[^/]+)/ {{
            rewrite ^/cc/[^/]+/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:@CCPORT@;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location = /stats {{ thumbnail_stats; }}
        location = /status {{ stub_status; }}
        location = /pid {{ return 200 $pid; }}
    }}
"""


def zone_body(size="32m", extra=""):
    return (ZONE_SERVER.replace("@CCPORT@", str(free_port()))
            .replace("@SIZE@", size).replace("@EXTRA@", extra))


@pytest.fixture(scope="module")
def zone2(tmp_path_factory):
    n = _instance(tmp_path_factory, "zone2", 2, zone_body())
    yield n
    n.stop()
    assert not n.crashes(), n.crashes()


@pytest.fixture(scope="module")
def zone4(tmp_path_factory):
    n = _instance(tmp_path_factory, "zone4", 4, zone_body())
    yield n
    n.stop()
    assert not n.crashes(), n.crashes()


# a zone of 64 KB (about 12 pages for entries) with max_item 24k, 1 worker
@pytest.fixture(scope="module")
def zone_small(tmp_path_factory):
    n = _instance(tmp_path_factory, "zonesmall", 1, zone_body("64k", "max_item=24k"))
    yield n
    n.stop()
    assert not n.crashes(), n.crashes()


def session_per_worker(ngx, tries=64):
    """{pid: keep-alive session served by that worker}"""
    sessions = {}
    for _ in range(tries):
        s = requests.Session()
        pid = int(ngx.get("/pid", session=s).text)
        if pid in sessions:
            s.close()
        else:
            sessions[pid] = s
        if len(sessions) == ngx.workers:
            return sessions
    for s in sessions.values():
        s.close()
    raise AssertionError(f"{tries} connections did not reach all {ngx.workers} workers")


def wait_for(what, predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"{what}: not within {seconds} s")


_references = {}


def reference(path, spec):
    """The library's own thumbnail of the source (the CLI), to compare bytes."""
    if (path, spec) not in _references:
        out = subprocess.run([str(CLI), str(CORPUS / path), "-s", spec, "-o", "-"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        _references[(path, spec)] = out.stdout
    return _references[(path, spec)]


# --- 200 keys x 8 concurrent requests: 200 renders -----------------------------

@pytest.mark.parametrize("instance", ["zone2", "zone4"])
def test_storm_renders_each_key_once(request, instance):
    ngx = request.getfixturevalue(instance)
    assert CLI.exists(), f"{CLI} missing: cargo build --release"
    keys = [(SOURCES[i % len(SOURCES)], f"{40 + i}x{40 + i},png") for i in range(200)]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        refs = dict(zip(keys, ex.map(lambda k: reference(*k), keys)))

    # the 8 requests of a key one after another in the queue, 48 threads:
    # 6 keys at a time, 8 requests each at once
    jobs = [k for k in keys for _ in range(8)]
    before = ngx.stats()
    old = {w["pid"]: w["requests"] for w in before["workers"]}

    def get(key):
        path, spec = key
        # a fresh connection each: reuseport spreads them over the workers
        r = requests.get(ngx.url(f"/t/{spec}/{path}"), timeout=60)
        return key, r.status_code, r.content

    with concurrent.futures.ThreadPoolExecutor(48) as ex:
        results = list(ex.map(get, jobs))

    assert ngx.settled(), "renders or waiters left over"
    after = ngx.stats()
    delta = {k: after["totals"][k] - before["totals"][k]
             for k in ("renders", "requests", "cache_hits", "flight_waits", "zone_waits")}
    bad = [(k, c) for k, c, _ in results if c != 200]
    assert not bad, bad[:5]
    wrong = [k for k, _, body in results if body != refs[k]]
    assert not wrong, f"{len(wrong)} responses differ from the reference, e.g. {wrong[0]}"
    assert delta["renders"] == 200, delta
    # requests did wait for another's render, in this worker or another
    assert delta["flight_waits"] > 0 and delta["zone_waits"] > 0, delta
    assert delta["requests"] == 1600, delta
    # every worker served some of them
    served = {w["pid"]: w["requests"] - old.get(w["pid"], 0) for w in after["workers"]}
    assert len(served) == ngx.workers and all(n > 0 for n in served.values()), served
    assert after["zone"]["items"] >= 200 and after["zone"]["markers"] == 0
    t = after["totals"]
    assert t["gets"] == t["hits"] + t["misses"], t
    assert t["loads"] == t["local_loads"] + t["local_load_errors"] + t["loads_deduped"], t


def test_one_copy_per_key(zone2):
    """The zone holds each thumbnail once: its bytes are the sum of the
    thumbnails' sizes, whichever worker asked; its pages in use exceed that
    by a bounded overhead per entry."""
    before = zone2.stats()["zone"]
    sizes = []
    for i in range(20):
        spec = f"{300 + i}x{300 + i}"
        bodies = {requests.get(zone2.url(f"/t/{spec}/photos/rocket.jpg"), timeout=TIMEOUT).content
                  for _ in range(4)}
        assert len(bodies) == 1
        sizes.append(len(bodies.pop()))
    after = zone2.stats()["zone"]
    assert after["items"] - before["items"] == 20
    assert after["bytes"] - before["bytes"] == sum(sizes)
    overhead = (after["used_bytes"] - before["used_bytes"]) - sum(sizes)
    # per entry: a node (< 512 B with this key) and the tail's rounding
    # (< 128 B); plus at most one partly used page per slab chunk size
    assert overhead < 20 * 640 + 8 * 4096, overhead


# --- caching headers -------------------------------------------------------------

CACHING = ["Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Expires"]


def caching(r):
    return {h: r.headers.get(h) for h in CACHING}


def test_hit_headers_equal_miss_headers(zone2):
    """A proxied source with Cache-Control, Expires and Last-Modified: the
    miss, a hit in the same worker, a hit in the other worker, waiters in
    both workers all carry the same caching headers."""
    sessions = session_per_worker(zone2)
    (pa, a), (pb, b) = sorted(sessions.items())
    try:
        miss = zone2.get("/cc/150x150/photos/rocket.jpg", session=a)
        assert miss.status_code == 200
        want = caching(miss)
        assert want["Cache-Control"] == "public, max-age=600"
        assert want["Expires"] == "Thu, 31 Dec 2037 23:55:55 GMT"
        assert want["Last-Modified"] and want["ETag"].startswith('"t-')
        hits_before = zone2.stats()["totals"]["cache_hits"]
        for s in (a, b):
            hit = zone2.get("/cc/150x150/photos/rocket.jpg", session=s)
            assert hit.status_code == 200 and hit.content == miss.content
            assert caching(hit) == want
            head = s.head(zone2.url("/cc/150x150/photos/rocket.jpg"), timeout=TIMEOUT)
            assert head.status_code == 200 and head.content == b"" and caching(head) == want
            nm = zone2.get("/cc/150x150/photos/rocket.jpg", session=s,
                           headers={"If-None-Match": want["ETag"]})
            assert nm.status_code == 304 and nm.headers["ETag"] == want["ETag"]
        assert zone2.stats()["totals"]["cache_hits"] - hits_before == 6
    finally:
        for s in sessions.values():
            s.close()

    # 8 at once on a new key: leader, in-worker waiters, other workers' followers
    n = 8
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(zone2.url("/cc/151x151/photos/harvesters.jpeg"), timeout=TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        responses = list(ex.map(get, range(n)))
    assert [r.status_code for r in responses] == [200] * n
    assert len({r.content for r in responses}) == 1
    got = [caching(r) for r in responses]
    assert all(g == got[0] for g in got), got
    assert got[0]["Cache-Control"] == "public, max-age=600"


# --- bad states ------------------------------------------------------------------

def test_render_error_reaches_followers(zone2):
    """A source that fails (415) with requests on both workers: all get 415;
    the error is kept a moment, not rendered again by each follower."""
    n = 8
    before = zone2.stats()["totals"]
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(zone2.url("/t/90x90/corrupt/jpeg/missing-sos.jpg"), timeout=TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        codes = list(ex.map(get, range(n)))
    assert codes == [415] * n
    after = zone2.stats()["totals"]
    # one render per worker at most (followers that came after the error
    # was kept get it without rendering)
    assert 1 <= after["render_errors"] - before["render_errors"] <= zone2.workers
    assert after["waiting"] == 0


def test_oversize_item_served_not_stored(zone_small):
    ngx = zone_small
    # by default thumbnail_max_output_size is max_item: 413, not a render
    # for every request (test_hardening.py)
    assert ngx.get("/t/600x600,q95/photos/rocket.jpg").status_code == 413
    before = ngx.stats()
    big = "/nocap/600x600,q95/photos/rocket.jpg"   # ~60 KB > max_item 24k
    r1 = ngx.get(big)
    assert r1.status_code == 200 and len(r1.content) > 24 * 1024
    assert image_info(r1.content) == ("jpeg", 600, 400)
    r2 = ngx.get(big)
    assert r2.status_code == 200 and r2.content == r1.content
    after = ngx.stats()
    assert after["totals"]["renders"] - before["totals"]["renders"] == 2
    assert after["zone"]["oversize_rejects"] - before["zone"]["oversize_rejects"] == 2
    assert after["totals"]["oversize_rejects"] == after["zone"]["oversize_rejects"]
    assert after["zone"]["items"] == before["zone"]["items"]


def test_full_zone_evicts(zone_small):
    """More thumbnails than the zone holds: every request is answered, the
    oldest entries are evicted (LRU), the newest stay, the zone never
    holds more than its size, and slab allocation never fails loudly."""
    ngx = zone_small
    specs = [f"{150 + i}x{150 + i}" for i in range(16)]   # 3-5 KB each
    for spec in specs:
        r = ngx.get(f"/t/{spec}/photos/rocket.jpg")
        assert r.status_code == 200
    st = ngx.stats()
    z = st["zone"]
    assert z["evictions"] > 0 and z["store_failures"] == 0, z
    assert z["used_bytes"] <= z["size"]
    assert st["totals"]["bytes"] == z["bytes"] and st["totals"]["evictions"] == z["evictions"]
    before = st["totals"]["renders"]
    # the last one is still there, the first one was evicted
    assert ngx.get(f"/t/{specs[-1]}/photos/rocket.jpg").status_code == 200
    assert ngx.stats()["totals"]["renders"] == before
    assert ngx.get(f"/t/{specs[0]}/photos/rocket.jpg").status_code == 200
    assert ngx.stats()["totals"]["renders"] == before + 1
    assert "no memory" not in ngx.log()


def test_purge(zone2):
    url = "/t/130x130/photos/camera.png"
    first = requests.get(zone2.url(url), timeout=TIMEOUT)
    assert first.status_code == 200
    st = zone2.stats()
    renders, items = st["totals"]["renders"], st["zone"]["items"]
    p = requests.request("PURGE", zone2.url(url), timeout=TIMEOUT)
    assert (p.status_code, p.text) == (200, "purged\n")
    assert zone2.stats()["zone"]["items"] == items - 1
    again = requests.request("PURGE", zone2.url(url), timeout=TIMEOUT)
    assert (again.status_code, again.text) == (404, "not cached\n")
    # the spec is canonicalised as for a GET: the same key
    assert requests.request("PURGE", zone2.url("/t/130x130/photos/coffee.png"),
                            timeout=TIMEOUT).status_code == 404
    r = requests.get(zone2.url(url), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == first.content
    assert zone2.stats()["totals"]["renders"] == renders + 1
    assert requests.request("PURGE", zone2.url("/t/bogus/photos/camera.png"),
                            timeout=TIMEOUT).status_code == 400


def test_reload_keeps_hits(zone2):
    urls = [f"/t/{70 + i}x{70 + i}/photos/astronaut.png" for i in range(10)]
    bodies = [requests.get(zone2.url(u), timeout=TIMEOUT).content for u in urls]
    items = zone2.stats()["zone"]["items"]
    zone2.reload()
    st = zone2.stats()
    assert st["zone"]["items"] == items
    for u, body in zip(urls, bodies):
        r = requests.get(zone2.url(u), timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == body
    st = zone2.stats()
    assert st["totals"]["renders"] == 0, st["totals"]     # new workers, no render
    assert st["totals"]["cache_hits"] >= len(urls)


# --- a worker killed mid-render ---------------------------------------------------------

def test_killed_leader_does_not_wedge_its_key(tmp_path):
    """Worker A renders a slow thumbnail (an 18 MP progressive JPEG) and is
    SIGKILLed; a follower parked on worker B takes the key over (A's pid is
    gone) and renders it; a key whose leader died with nobody waiting is
    rendered by the next request."""
    ngx = Nginx(tmp_path, 2, zone_body(), "zonekill", threads=2)
    ngx.start()
    pool = concurrent.futures.ThreadPoolExecutor(4)
    try:
        for key_no, follower in enumerate((True, False)):
            sessions = session_per_worker(ngx)
            (pa, a), (pb, b) = sorted(sessions.items())
            path = f"/b/{333 + key_no}x{333 + key_no}/prog18mp.jpg"
            takeovers = ngx.stats()["zone"]["marker_takeovers"]
            leader = pool.submit(a.get, ngx.url(path), timeout=60)
            wait_for("the leader's marker", lambda: ngx.stats()["zone"]["markers"] == 1)
            if follower:
                waits = ngx.stats()["totals"]["zone_waits"]
                parked = pool.submit(b.get, ngx.url(path), timeout=60)
                wait_for("the follower parks", lambda: ngx.stats()["totals"]["zone_waits"] > waits)
            assert not leader.done(), "the render ended before the kill"
            os.kill(pa, signal.SIGKILL)
            with pytest.raises(requests.exceptions.ConnectionError):
                leader.result(timeout=60)
            started = time.monotonic()
            if follower:
                r = parked.result(timeout=60)
            else:
                r = b.get(ngx.url(path), timeout=60)
            assert r.status_code == 200
            fmt, w, h = image_info(r.content)     # 5640x3172 fitted in the box
            assert fmt == "jpeg" and w == 333 + key_no and h < w
            # the follower did not wait for lock_age (60 s) but for the render
            assert time.monotonic() - started < 30
            st = ngx.stats()
            assert st["zone"]["marker_takeovers"] == takeovers + 1
            assert st["zone"]["markers"] == 0
            # the next request is a hit
            hits = st["totals"]["cache_hits"]
            assert b.get(ngx.url(path), timeout=60).content == r.content
            assert ngx.stats()["totals"]["cache_hits"] == hits + 1
            for s in sessions.values():
                s.close()
            wait_for("the killed worker is replaced", lambda: len(ngx.worker_pids()) == 2)
    finally:
        pool.shutdown(wait=False)
        ngx.stop()
    unexpected = [line for line in ngx.crashes() if "exited on signal 9" not in line]
    assert not unexpected, unexpected


# --- stats -----------------------------------------------------------------------

def test_stats_fields(zone2):
    st = zone2.stats()
    t, z = st["totals"], st["zone"]
    assert t["cache"] is True and t["capacity_bytes"] == 32 * 1024 * 1024
    for field in ("renders", "cache_hits", "zone_waits", "flight_waits", "waiting"):
        assert field in t
    for field in ("name", "size", "used_bytes", "bytes", "items", "evictions", "expirations",
                  "oversize_rejects", "markers", "marker_takeovers", "purges", "store_failures"):
        assert field in z
    assert z["name"] == "thumbs" and z["size"] == 32 * 1024 * 1024
    assert (t["bytes"], t["items"]) == (z["bytes"], z["items"])
    # per-worker counters add up; node-wide gauges are in the totals only
    for field in ("gets", "hits", "misses", "renders", "requests", "zone_waits"):
        assert t[field] == sum(w[field] for w in st["workers"]), field


# --- configuration -----------------------------------------------------------

@pytest.mark.parametrize("http,location,message", [
    ("thumbnail_cache zone=z:64m size=16m;", "", '"size=" and "shards=" (a per-worker cache) cannot be combined'),
    ("thumbnail_cache size=16m inactive=1h;", "", 'inactive=, max_item= and lock_age= need zone='),
    ("thumbnail_cache zone=z:8k;", "", 'zone "zone=z:8k" is too small'),
    ("thumbnail_cache zone=z;", "", 'invalid zone size'),
    ("thumbnail_cache zone=thumbnail_stats:1m;", "", 'zone name "thumbnail_stats" is reserved'),
    ("thumbnail_cache zone=z:1m lock_age=0;", "", 'invalid parameter "lock_age=0"'),
    ("thumbnail_cache zone=z:1m; thumbnail_cache zone=y:1m;", "", "is duplicate"),
    ("thumbnail_cache size=16m;", "thumbnail_cache_purge $arg_p;",
     '"thumbnail_cache_purge" needs "thumbnail_cache zone=..."'),
])
def test_zone_config_rejected(tmp_path, http, location, message):
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
load_module {MODULE};
error_log stderr;
pid {tmp_path}/nginx.pid;
events {{}}
http {{
    {http}
    server {{
        listen 127.0.0.1:1;
        location /x/ {{ alias {CORPUS}/; thumbnail on; thumbnail_spec 10x10; {location} }}
    }}
}}
""")
    out = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)],
                         capture_output=True, text=True, timeout=30, env=NGINX_ENV)
    assert out.returncode != 0
    assert "[emerg]" in out.stderr and message in out.stderr, out.stderr
