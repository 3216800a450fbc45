"""thumbnail_cache_control (issue 18): a Cache-Control for thumbnails whose
source sent none. The source's own wins; the value is the same on a render,
a hit (zone, in either worker, and per-worker cache), requests that waited
for another's render (in the leader's worker and across workers), HEAD and
304; `expires` overrides it; error responses never carry it."""


import pytest
import requests

from conftest import TIMEOUT, assert_refused, free_port, nginx_t, served
from test_zone import session_per_worker

CC = "public, max-age=86400"
SRC_CC = "public, max-age=600"

# @CCPORT@: an origin whose responses name their own Cache-Control
BODY = r"""
    server {{
        listen 127.0.0.1:@CCPORT@;
        access_log off;
        location / {{
            root {CORPUS};
            add_header Cache-Control "public, max-age=600";
        }}
        location /bare/ {{ alias {CORPUS}/; }}
    }}

    @CACHE@
    thumbnail_max_heavy 8;
    thumbnail_cache_control "public, max-age=86400";

    server {{
        listen 127.0.0.1:{PORT} reuseport;
        access_log off;

        # a static source: no Cache-Control of its own
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
        # a proxied source with its own Cache-Control, and one without
        location ~ ^/cc/(?<spec>[^/]+)/ {{
            rewrite ^/cc/[^/]+/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:@CCPORT@;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/nocc/(?<spec>[^/]+)/ {{
            rewrite ^/nocc/[^/]+/(.*)$ /bare/$1 break;
            proxy_pass http://127.0.0.1:@CCPORT@;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        # nginx's expires runs after the module: it wins
        location ~ ^/ex/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            expires 1h;
        }}
        # turned off below the http level; and a value from a variable
        location ~ ^/off/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_cache_control off;
        }}
        location ~ ^/var/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_cache_control $arg_cc;
        }}
        location = /stats {{ thumbnail_stats; }}
        location = /pid {{ return 200 $pid; }}
    }}
"""


def body(cache):
    return BODY.replace("@CCPORT@", str(free_port())).replace("@CACHE@", cache)


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    yield from served(tmp_path_factory, "cczone", 2, body("thumbnail_cache zone=thumbs:32m lock_age=60s;"))


@pytest.fixture(scope="module")
def perworker(tmp_path_factory):
    yield from served(tmp_path_factory, "ccworker", 1, body("thumbnail_cache size=16m;"))


def cache_control(r):
    # requests joins repeated headers with ", ": a second Cache-Control
    # would show here as a longer value
    return r.headers.get("Cache-Control")


def every_path(ngx, path, want):
    """The miss, then in each worker a hit, a HEAD and a 304: all carry
    Cache-Control `want` (None: none)."""
    sessions = session_per_worker(ngx)
    try:
        first = next(iter(sessions.values()))
        miss = ngx.get(path, session=first)
        assert miss.status_code == 200, miss.status_code
        assert cache_control(miss) == want, miss.headers
        etag = miss.headers["ETag"]
        for s in sessions.values():
            hit = ngx.get(path, session=s)
            assert hit.status_code == 200 and hit.content == miss.content
            assert cache_control(hit) == want, hit.headers
            head = s.head(ngx.url(path), timeout=TIMEOUT)
            assert head.status_code == 200 and cache_control(head) == want, head.headers
            nm = ngx.get(path, session=s, headers={"If-None-Match": etag})
            assert nm.status_code == 304 and cache_control(nm) == want, nm.headers
        return miss
    finally:
        for s in sessions.values():
            s.close()


def concurrent_first(ngx, path, n=8):
    """n requests at once for a cold key: a leader, its worker's waiters,
    the other worker's followers."""
    responses = ngx.get_at_once(path, n)
    assert [r.status_code for r in responses] == [200] * n
    return [cache_control(r) for r in responses]


def test_static_source_gets_the_directive(zone):
    every_path(zone, "/t/120x120/photos/rocket.jpg", CC)


def test_source_cache_control_wins(zone):
    every_path(zone, "/cc/121x121/photos/rocket.jpg", SRC_CC)
    # the same origin without one: the directive's
    every_path(zone, "/nocc/122x122/photos/rocket.jpg", CC)


def test_waiters_carry_the_same(zone):
    assert concurrent_first(zone, "/b/123x123/big20mp.jpg") == [CC] * 8
    assert concurrent_first(zone, "/cc/124x124/photos/harvesters.jpeg") == [SRC_CC] * 8
    t = zone.stats()["totals"]
    # the test saw waiters (in-worker or cross-worker), not only hits
    assert t["flight_waits"] + t["zone_waits"] > 0, t


def test_expires_overrides(zone):
    r = zone.get("/ex/125x125/photos/rocket.jpg")
    assert r.status_code == 200
    assert cache_control(r) == "max-age=3600", r.headers
    assert "Expires" in r.headers
    hit = zone.get("/ex/125x125/photos/rocket.jpg")
    assert cache_control(hit) == "max-age=3600", hit.headers


def test_off_and_variables(zone):
    every_path(zone, "/off/126x126/photos/rocket.jpg", None)
    r = zone.get("/var/127x127/photos/rocket.jpg?cc=no-store")
    assert cache_control(r) == "no-store", r.headers
    # an empty value adds nothing
    r = zone.get("/var/127x127/photos/rocket.jpg")
    assert r.status_code == 200 and cache_control(r) is None, r.headers


def test_errors_do_not_carry_it(zone):
    bad = zone.get("/t/0x0/photos/rocket.jpg")
    assert bad.status_code == 400 and cache_control(bad) is None
    notimg = zone.get("/t/90x90/README.md")
    assert notimg.status_code == 415 and cache_control(notimg) is None
    missing = zone.get("/t/90x90/photos/no-such.jpg")
    assert missing.status_code == 404 and cache_control(missing) is None


def test_per_worker_cache(perworker):
    """The per-worker cache keeps no headers: its hits get the directive,
    even for a source that sent its own (documented)."""
    s = requests.Session()
    try:
        for path in ("/t/128x128/photos/rocket.jpg", "/nocc/129x129/photos/rocket.jpg"):
            miss = perworker.get(path, session=s)
            hit = perworker.get(path, session=s)
            nm = perworker.get(path, session=s, headers={"If-None-Match": miss.headers["ETag"]})
            assert [miss.status_code, hit.status_code, nm.status_code] == [200, 200, 304]
            assert [cache_control(x) for x in (miss, hit, nm)] == [CC] * 3
        miss = perworker.get("/cc/130x130/photos/rocket.jpg", session=s)
        hit = perworker.get("/cc/130x130/photos/rocket.jpg", session=s)
        assert cache_control(miss) == SRC_CC
        assert cache_control(hit) == CC
        assert perworker.stats()["totals"]["cache_hits"] >= 3
    finally:
        s.close()


def test_bad_configuration(tmp_path):
    """An empty value is refused at load time (`off` turns it off)."""
    out = nginx_t(tmp_path, 'thumbnail_cache_control ""; server { listen 127.0.0.1:1; }')
    assert_refused(out, "thumbnail_cache_control")
