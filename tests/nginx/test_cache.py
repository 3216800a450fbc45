"""The per-worker cache (hits answered before the source is read or proxied),
in-worker single-flight, and the stats summed over the workers."""

import concurrent.futures
import json
import shutil
import socket
import threading
import time

import requests

from conftest import CORPUS, TIMEOUT, image_info

CACHE_FIELDS = ["gets", "hits", "misses", "loads", "loads_deduped", "local_loads",
                "local_load_errors", "evictions", "expirations", "oversize_rejects",
                "error_hits", "bytes", "items", "capacity_bytes", "shards"]
MODULE_FIELDS = ["requests", "cache_hits", "renders", "render_errors", "flight_waits",
                 "not_modified", "status_400", "status_413", "status_415", "status_500",
                 "status_503", "heavy_refused", "in_flight", "waiting", "heavy"]


def test_cache_hit_does_not_touch_origin(ngx):
    path = "/corpus/photos/camera.png"
    with requests.Session() as s:  # one connection: one worker, one cache
        before = ngx.origin_requests(path)
        first = ngx.get("/p/111x111/photos/camera.png", session=s)
        assert first.status_code == 200
        assert ngx.origin_requests(path) == before + 1
        for _ in range(3):
            again = ngx.get("/p/111x111/photos/camera.png", session=s)
            assert again.status_code == 200
            assert again.content == first.content
            assert again.headers["ETag"] == first.headers["ETag"]
            assert again.headers["Content-Type"] == "image/png"
        assert ngx.origin_requests(path) == before + 1
        # HEAD on a hit
        h = s.head(ngx.url("/p/111x111/photos/camera.png"), timeout=TIMEOUT)
        assert h.status_code == 200 and h.content == b""
        assert int(h.headers["Content-Length"]) == len(first.content)
        assert ngx.origin_requests(path) == before + 1
        # another spec of the same source is another key
        assert ngx.get("/p/112x112/photos/camera.png", session=s).status_code == 200
        assert ngx.origin_requests(path) == before + 2


def test_default_key_has_args_for_proxied_sources(ngx):
    """An origin may serve another image for other arguments: in a proxied
    location the query string is part of the default key."""
    with requests.Session() as s:  # one worker, one cache
        a = ngx.get("/pq/114x114/byarg?f=rocket.jpg", session=s)
        b = ngx.get("/pq/114x114/byarg?f=coffee.png", session=s)
        assert a.status_code == b.status_code == 200
        assert image_info(a.content)[0] == "jpeg"
        assert image_info(b.content)[0] == "png"
        assert a.headers["ETag"] != b.headers["ETag"]


def test_default_key_ignores_args_for_static_files(ngx):
    """A static file is the same whatever the query string: no new key, so
    no way to make the server render again by adding one."""
    with requests.Session() as s:
        first = ngx.get("/t/115x115/photos/rocket.jpg?v=1", session=s)
        before = ngx.stats()["totals"]["cache_hits"]
        again = ngx.get("/t/115x115/photos/rocket.jpg?v=2", session=s)
        assert again.headers["ETag"] == first.headers["ETag"]
        assert ngx.stats()["totals"]["cache_hits"] == before + 1


def test_cache_hit_without_static_source(ngx):
    """A static source removed after the first request: the cache hit is
    still served (the file is not even opened), a new key gets 404."""
    src = ngx.prefix / "src"
    src.mkdir(exist_ok=True)
    shutil.copy(CORPUS / "photos/rocket.jpg", src / "gone.jpg")
    with requests.Session() as s:  # one worker, one cache
        first = ngx.get("/tmpsrc/116x116/gone.jpg", session=s)
        assert first.status_code == 200
        (src / "gone.jpg").unlink()
        again = ngx.get("/tmpsrc/116x116/gone.jpg", session=s)
        assert again.status_code == 200
        assert again.content == first.content
        assert ngx.get("/tmpsrc/117x117/gone.jpg", session=s).status_code == 404


def test_cache_hit_counted(ngx):
    with requests.Session() as s:
        ngx.get("/t/113x113/photos/coffee.png", session=s)
        before = ngx.stats()["totals"]["cache_hits"]
        ngx.get("/t/113x113/photos/coffee.png", session=s)
        assert ngx.stats()["totals"]["cache_hits"] == before + 1


def session_per_worker(ngx, tries=64):
    """{pid: keep-alive session served by that worker}. The listen socket
    has reuseport, so new connections land on the workers at random."""
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


def by_pid(stats):
    return {w["pid"]: w for w in stats["workers"]}


def test_stats_add_up(ngx):
    """Known traffic on each of the 2 workers: each worker's slot counts its
    own requests, the totals are the sums, and every worker's /stats says
    the same."""
    sessions = session_per_worker(ngx)
    (pid_a, a), (pid_b, b) = sorted(sessions.items())
    try:
        before = by_pid(ngx.stats())
        # worker a: 3 renders, 2 cache hits, 1 bad spec; worker b: 1 render, 4 hits
        for spec in ("241x241", "242x242", "243x243", "241x241", "242x242", "bogus"):
            ngx.get(f"/t/{spec}/photos/rocket.jpg", session=a)
        for spec in ("244x244",) * 5:
            ngx.get(f"/t/{spec}/photos/rocket.jpg", session=b)
        seen = [json.loads(ngx.get("/stats", session=s).text) for s in (a, b)]
    finally:
        for s in sessions.values():
            s.close()

    assert seen[0]["totals"] == seen[1]["totals"]
    st = seen[0]
    assert st["worker_processes"] == 2
    workers = st["workers"]
    assert [w["worker"] for w in workers] == [0, 1]
    assert sorted(w["pid"] for w in workers) == ngx.worker_pids() == sorted((pid_a, pid_b))
    for field in CACHE_FIELDS + MODULE_FIELDS:
        assert st["totals"][field] == sum(w[field] for w in workers), field

    after = by_pid(st)
    delta = {pid: {f: after[pid][f] - before[pid][f] for f in MODULE_FIELDS + CACHE_FIELDS}
             for pid in (pid_a, pid_b)}
    assert (delta[pid_a]["requests"], delta[pid_a]["renders"],
            delta[pid_a]["cache_hits"], delta[pid_a]["status_400"]) == (6, 3, 2, 1)
    assert (delta[pid_b]["requests"], delta[pid_b]["renders"],
            delta[pid_b]["cache_hits"], delta[pid_b]["status_400"]) == (5, 1, 4, 0)
    # one lookup per request that reaches the cache: a miss that renders is
    # one get and one miss (issue 18: the render thread counted another)
    assert (delta[pid_a]["gets"], delta[pid_a]["hits"], delta[pid_a]["misses"],
            delta[pid_a]["loads"]) == (5, 2, 3, 3)
    assert (delta[pid_b]["gets"], delta[pid_b]["hits"], delta[pid_b]["misses"],
            delta[pid_b]["loads"]) == (5, 4, 1, 1)

    for w in workers + [st["totals"]]:
        assert w["gets"] == w["hits"] + w["misses"]
        assert w["loads"] == w["local_loads"] + w["local_load_errors"] + w["loads_deduped"]
        assert w["bytes"] <= w["capacity_bytes"]
        assert w["in_flight"] == 0 and w["waiting"] == 0 and w["heavy"] == 0
    assert st["totals"]["capacity_bytes"] == 2 * 64 * 1024 * 1024


def test_single_flight(ngx1):
    """8 concurrent first requests for one key: the origin sees one request,
    one render runs, the other 7 wait for it and get the same bytes."""
    uri = "/p/321x321/bench-images/big20mp.jpg"
    path = "/bench-images/big20mp.jpg"
    before_origin = ngx1.origin_requests(path)
    before = ngx1.stats()["totals"]
    n = 8
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(ngx1.url(uri), timeout=TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        responses = list(ex.map(get, range(n)))

    assert [r.status_code for r in responses] == [200] * n
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["ETag"] for r in responses}) == 1
    assert ngx1.origin_requests(path) == before_origin + 1
    after = ngx1.stats()["totals"]
    assert after["renders"] - before["renders"] == 1
    assert after["local_loads"] - before["local_loads"] == 1
    # each request either waited for the render or (if it came late) hit
    waited = after["flight_waits"] - before["flight_waits"]
    hit = after["cache_hits"] - before["cache_hits"]
    assert waited + hit == n - 1 and waited >= 1
    assert after["waiting"] == 0 and after["in_flight"] == 0


def test_single_flight_leader_fails(ngx1):
    """Waiters of a render that fails get the same error status."""
    uri = "/p/322x322/corpus/MANIFEST.tsv"  # not an image: 415
    n = 6
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(ngx1.url(uri), timeout=TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        codes = list(ex.map(get, range(n)))
    assert codes == [415] * n


def test_single_flight_source_missing(ngx1):
    """The leader's source is a 404: waiters retry on their own and get 404."""
    uri = "/p/323x323/corpus/no-such-file.jpg"
    n = 5
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(ngx1.url(uri), timeout=TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        codes = list(ex.map(get, range(n)))
    assert codes == [404] * n
    assert ngx1.stats()["totals"]["waiting"] == 0


def test_waiting_client_goes_away(ngx1):
    """A waiter that disconnects is dropped cleanly; the leader still answers."""
    uri = "/b/324x324/prog18mp.jpg"
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        leader = ex.submit(requests.get, ngx1.url(uri), timeout=TIMEOUT)
        time.sleep(0.1)
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", ngx1.port), timeout=5)
            s.sendall(f"GET {uri} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            time.sleep(0.05)
            s.close()
        assert leader.result().status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and ngx1.stats()["totals"]["waiting"]:
        time.sleep(0.05)
    assert ngx1.stats()["totals"]["waiting"] == 0
    assert "[alert]" not in ngx1.log()
