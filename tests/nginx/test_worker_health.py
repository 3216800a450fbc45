"""The event loop stays responsive while renders run on the thread pool, and
no file of the corpus crashes, hangs or leaks a worker."""

import concurrent.futures
import csv
import re
import socket
import struct
import time

import requests

from conftest import CORPUS, MAIN_SERVER, MODULE, TIMEOUT, Nginx, image_info, quote


def test_event_loop_responsive(ngx1):
    """Three ~1 s renders of an 18 MP progressive JPEG run on pool threads;
    meanwhile the same (only) worker serves a small static file at once."""
    specs = [f"{500 + i}x{500 + i},q{70 + i}" for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(len(specs)) as ex:
        started = time.monotonic()
        renders = [ex.submit(requests.get, ngx1.url(f"/b/{s}/prog18mp.jpg"), timeout=TIMEOUT)
                   for s in specs]
        # wait until the renders are posted to the pool
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and ngx1.stats()["totals"]["in_flight"] < 1:
            time.sleep(0.01)
        in_flight = ngx1.stats()["totals"]["in_flight"]
        timings = []
        for _ in range(5):
            t = time.monotonic()
            r = requests.get(ngx1.url("/static/bench-images/static10k.jpg"), timeout=TIMEOUT)
            timings.append(time.monotonic() - t)
            assert r.status_code == 200 and len(r.content) == 9962
        still_rendering = not all(f.done() for f in renders)
        results = [f.result() for f in renders]
        elapsed = time.monotonic() - started
    assert [r.status_code for r in results] == [200] * len(specs)
    assert in_flight >= 1
    assert still_rendering, f"renders finished too early ({elapsed:.2f} s) to prove anything"
    assert max(timings) < 0.1, timings


def manifest():
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        return [row["path"] for row in csv.DictReader(f, delimiter="\t")]


def test_corpus_no_crash(ngx):
    pids = ngx.worker_pids()
    assert len(pids) == 2
    paths = manifest()
    assert len(paths) > 500

    def get(path):
        r = requests.get(ngx.url(f"/t/64x64/{quote(path)}"), timeout=TIMEOUT)
        return path, r.status_code

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(get, paths))

    unexpected = [(p, c) for p, c in results if c not in (200, 413, 415)]
    assert not unexpected, unexpected
    assert sum(1 for _, c in results if c == 200) > 400

    log = ngx.log()
    assert "exited on signal" not in log
    assert not re.search(r"\[(alert|emerg|crit)\]", log), \
        [line for line in log.splitlines() if re.search(r"\[(alert|emerg|crit)\]", line)]
    assert ngx.worker_pids() == pids
    st = ngx.stats()["totals"]
    assert st["in_flight"] == 0 and st["waiting"] == 0
    assert st["status_500"] == 0




def render_on_many_threads(n, tag):
    specs = [f"{30 + tag}x{30 + i}" for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda s: requests.get(n.url(f"/t/{s}/photos/rocket.jpg"),
                                                   timeout=TIMEOUT).status_code, specs))
    assert codes == [200] * len(specs)


def test_module_never_unloaded(tmp_path):
    """The pool threads that ran renders keep thread-specific data whose
    destructors are code of this module. An exiting worker (stop, reload)
    does not wait for those threads to finish exiting before it unloads its
    modules, and a destructor run after the unload crashed the worker with
    SIGSEGV now and then. The module pins itself (RTLD_NODELETE); the
    dynamic linker's own log (LD_DEBUG=files) shows it is never unmapped,
    however the race goes. And reload and stop leave no crash in the log."""
    ld_log = tmp_path / "ld"
    n = Nginx(tmp_path / "prefix", 2, MAIN_SERVER, "unload", threads=8,
              env={"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(ld_log)})
    n.start()
    try:
        render_on_many_threads(n, 0)
        n.reload()
        render_on_many_threads(n, 1)
        assert not n.crashes(), n.crashes()
    finally:
        n.stop()
    assert not n.crashes(), n.crashes()
    lines = [line for f in tmp_path.glob("ld.*") for line in f.read_text().splitlines()]
    assert any(MODULE.name in line for line in lines), "no LD_DEBUG output"
    unmapped = [line for line in lines if "destroying link map" in line and MODULE.name in line]
    assert not unmapped, unmapped


def test_aborted_clients_leave_nothing_behind(ngx1):
    """Clients hang up at every stage: while the source is read (static and
    through proxy_pass), while the render runs, while waiting for another
    request's render; some with a reset. Nothing is left behind: no request,
    connection, render or waiter, and the worker is the same."""
    pids = ngx1.worker_pids()
    uris = ["/b/601x601/prog18mp.jpg", "/b/602x602/big20mp.jpg",
            "/p/603x603/bench-images/prog18mp.jpg"]
    socks = []
    for uri in uris:
        for _ in range(3):  # a leader and two waiters per key
            s = socket.create_connection(("127.0.0.1", ngx1.port), timeout=5)
            s.sendall(f"GET {uri} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            socks.append(s)
    for i, s in enumerate(socks):
        time.sleep(0.04 * (i % 4))
        if i % 2:  # reset rather than close
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert ngx1.settled(30), (ngx1.stats()["totals"], ngx1.active_connections())
    assert ngx1.worker_pids() == pids
    assert not ngx1.crashes(), ngx1.crashes()
    r = ngx1.get(uris[1])
    assert r.status_code == 200 and image_info(r.content)[:2] == ("jpeg", 602)
