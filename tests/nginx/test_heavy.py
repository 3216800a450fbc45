"""Heavy-render admission (issue 8): a source over thumbnail_heavy_pixels,
or a progressive JPEG over a tenth of it, is heavy; with thumbnail_max_heavy 1 on a 2-thread
pool, one heavy render runs at a time, further heavy ones get 503 at once
with Retry-After, and ordinary thumbnails keep a thread of their own."""

import concurrent.futures
import time

import requests

from conftest import TIMEOUT, image_info

HEAVY = "prog18mp.jpg"  # 5640x3172 progressive: ~1 s to render, more on a loaded box


def timed_get(ngx, path):
    t = time.monotonic()
    r = requests.get(ngx.url(path), timeout=TIMEOUT)
    return r, time.monotonic() - t


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def start_heavy(ngx, ex, spec):
    """One heavy render, admitted and running when this returns."""
    before = ngx.stats()["totals"]["renders"]
    started = time.monotonic()
    future = ex.submit(timed_get, ngx, f"/b/{spec}/{HEAVY}")
    assert wait_for(lambda: ngx.stats()["totals"]["renders"] > before), "heavy render not posted"
    assert ngx.stats()["totals"]["heavy"] == 1
    return future, started


def test_heavy_refused_ordinary_served(ngx_heavy):
    ngx = ngx_heavy
    before = ngx.stats()["totals"]
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        heavy, started = start_heavy(ngx, ex, "401x401")

        # more heavy renders of other keys, all at once: refused at once
        extra = [ex.submit(timed_get, ngx, f"/b/{402 + i}x{402 + i}/{HEAVY}") for i in range(3)]
        refused = [f.result() for f in extra]

        # an ordinary thumbnail in the same worker meanwhile
        ordinary, ordinary_time = timed_get(ngx, "/s/200x200/kodim01.png")
        heavy_running = not heavy.done()

        r, _ = heavy.result()
        heavy_time = time.monotonic() - started

    assert r.status_code == 200 and image_info(r.content)[:2] == ("jpeg", 401)
    for resp, _ in refused:
        assert resp.status_code == 503, resp.status_code
        assert resp.headers.get("Retry-After") == "1"
    assert heavy_running, f"the heavy render ({heavy_time:.2f} s) ended too early to prove anything"
    assert max(t for _, t in refused) < heavy_time / 2, (refused, heavy_time)

    assert ordinary.status_code == 200
    assert image_info(ordinary.content) == ("png", 200, 133)
    assert ordinary_time < heavy_time / 2, (ordinary_time, heavy_time)

    after = ngx.stats()["totals"]
    assert after["heavy_refused"] - before["heavy_refused"] == 3
    assert after["status_503"] - before["status_503"] == 3
    assert after["heavy"] == 0 and after["in_flight"] == 0
    lines = [line for line in ngx.log().splitlines() if "heavy source (5640x3172" in line]
    assert len(lines) == 3 and all("[warn]" in line for line in lines), lines


def test_heavy_by_pixels(ngx_heavy):
    """While a heavy render runs, a baseline source over thumbnail_heavy_pixels
    is refused and one under it is served."""
    ngx = ngx_heavy
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        heavy, _ = start_heavy(ngx, ex, "411x411")
        # mid4mp.jpg: 2560x1600 baseline, 4.1 MP
        over, _ = timed_get(ngx, "/mp1/412x412/mid4mp.jpg")
        under, _ = timed_get(ngx, "/b/413x413/mid4mp.jpg")
        # one key asked 3 times at once: the waiters share the leader's 503
        same = [f.result()[0] for f in
                [ex.submit(timed_get, ngx, f"/b/414x414/{HEAVY}") for _ in range(3)]]
        heavy_running = not heavy.done()
        assert heavy.result()[0].status_code == 200
    assert heavy_running, "the heavy render ended too early to prove anything"
    assert over.status_code == 503 and over.headers.get("Retry-After") == "1"
    assert under.status_code == 200 and image_info(under.content)[:2] == ("jpeg", 413)
    assert [(r.status_code, r.headers.get("Retry-After")) for r in same] == [(503, "1")] * 3
    assert any("heavy source (2560x1600)" in line for line in ngx.log().splitlines())


def test_small_progressive_is_not_heavy(ngx_heavy):
    """A progressive JPEG is heavy only over a tenth of
    thumbnail_heavy_pixels: with the limit at 1 MP, cat.jpg (320x240,
    76 800 px) is served while a heavy render runs, progressive3.jpg
    (650x470, 305 500 px) is refused."""
    ngx = ngx_heavy
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        heavy, _ = start_heavy(ngx, ex, "415x415")
        small, _ = timed_get(ngx, "/c1/100x100/edge/progressive/cat.jpg")
        larger, _ = timed_get(ngx, "/c1/100x100/edge/progressive/progressive3.jpg")
        heavy_running = not heavy.done()
        assert heavy.result()[0].status_code == 200
    assert heavy_running, "the heavy render ended too early to prove anything"
    assert small.status_code == 200 and image_info(small.content)[:2] == ("jpeg", 100)
    assert larger.status_code == 503 and larger.headers.get("Retry-After") == "1"


def test_heavy_admitted_again(ngx_heavy):
    """The heavy slot is given back when the render ends, also after a
    refusal: the next heavy render is served."""
    r, _ = timed_get(ngx_heavy, f"/b/421x421/{HEAVY}")
    assert r.status_code == 200
    assert ngx_heavy.stats()["totals"]["heavy"] == 0
