"""The event loop stays responsive while renders run on the thread pool, and
no file of the corpus crashes, hangs or leaks a worker."""

import concurrent.futures
import csv
import re
import time

import requests

from conftest import CORPUS, TIMEOUT, quote


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
