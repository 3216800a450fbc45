"""$thumbnail_cache_status and $thumbnail_render_time (issue 18): in a
header (add_header ... always) and in the access log, for a miss, a hit,
requests that waited for another's render, a render without a cache
(BYPASS), and requests that never reached the cache."""

import concurrent.futures
import re
import threading
import time

import pytest
import requests

from conftest import TIMEOUT, Nginx

LOCATIONS = r"""
    log_format thumbs '$uri $status $thumbnail_cache_status $thumbnail_render_time';
    server {{
        listen 127.0.0.1:{PORT};
        access_log {PREFIX}/thumbs.log thumbs;
        add_header X-Cache-Status $thumbnail_cache_status always;
        add_header X-Render-Time $thumbnail_render_time always;
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
        location /plain/ {{ alias {CORPUS}/; }}
        location = /stats {{ thumbnail_stats; }}
    }}
"""


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    ngx = Nginx(tmp_path_factory.mktemp("vars"), 1, "    thumbnail_cache size=16m;\n" + LOCATIONS, "vars")
    ngx.start()
    yield ngx
    ngx.stop()
    assert not ngx.crashes(), ngx.crashes()


@pytest.fixture(scope="module")
def uncached(tmp_path_factory):
    ngx = Nginx(tmp_path_factory.mktemp("vars-nocache"), 1, LOCATIONS, "vars-nocache")
    ngx.start()
    yield ngx
    ngx.stop()
    assert not ngx.crashes(), ngx.crashes()


def log_lines(ngx, prefix="", want=1):
    """The access log's lines starting with prefix, once there are want of
    them: nginx writes a line after the response has left (bounded wait)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        lines = [l for l in (ngx.prefix / "thumbs.log").read_text().splitlines() if l.startswith(prefix)]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_miss_then_hit(cached):
    first = cached.get("/t/101x101/photos/rocket.jpg")
    assert first.status_code == 200
    assert first.headers["X-Cache-Status"] == "MISS"
    assert re.fullmatch(r"\d+\.\d{3}", first.headers["X-Render-Time"]), first.headers
    again = cached.get("/t/101x101/photos/rocket.jpg")
    assert again.headers["X-Cache-Status"] == "HIT"
    assert "X-Render-Time" not in again.headers
    lines = log_lines(cached, "/t/101x101/", 2)
    assert re.fullmatch(r"/t/101x101/photos/rocket.jpg 200 MISS \d+\.\d{3}", lines[0]), lines
    assert lines[1] == "/t/101x101/photos/rocket.jpg 200 HIT -", lines


def test_waiters_say_wait(cached):
    """Concurrent first requests for one key: one renders (MISS), the
    others wait for it (WAIT)."""
    n = 6
    barrier = threading.Barrier(n)

    def get(_):
        barrier.wait(timeout=TIMEOUT)
        return requests.get(cached.url("/b/222x222/big20mp.jpg"), timeout=TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        statuses = sorted(r.headers.get("X-Cache-Status") for r in ex.map(get, range(n)))
    assert statuses.count("MISS") == 1, statuses
    assert set(statuses) <= {"MISS", "WAIT", "HIT"} and "WAIT" in statuses, statuses


def test_requests_that_never_reach_the_cache(cached):
    bad = cached.get("/t/0x0/photos/rocket.jpg")
    assert bad.status_code == 400
    assert "X-Cache-Status" not in bad.headers
    plain = cached.get("/plain/photos/rocket.jpg")
    assert plain.status_code == 200 and "X-Cache-Status" not in plain.headers
    assert log_lines(cached, "/plain/") == ["/plain/photos/rocket.jpg 200 - -"]


def test_bypass_without_a_cache(uncached):
    for _ in range(2):
        r = uncached.get("/t/99x99/photos/rocket.jpg")
        assert r.status_code == 200
        assert r.headers["X-Cache-Status"] == "BYPASS"
        assert re.fullmatch(r"\d+\.\d{3}", r.headers["X-Render-Time"])
