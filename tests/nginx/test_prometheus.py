"""thumbnail_stats in Prometheus' text format (issue 18): `thumbnail_stats
prometheus;` and `?format=prometheus` on the JSON location, parsed with
prometheus_client's parser. A known sequence of requests, split over both
workers (reuseport, one keep-alive session pinned to each), must show up
summed: responses by status, the render time histogram (count = renders,
monotonic buckets, +Inf = count), the JSON's counters under their
Prometheus names, and the zone's own figures."""


import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import TIMEOUT, assert_refused, free_port, nginx_t_location, served
from test_zone import session_per_worker

BODY = r"""
    thumbnail_cache zone=thumbs:32m lock_age=60s;
    thumbnail_max_heavy 8;

    server {{
        listen 127.0.0.1:{PORT} reuseport;
        access_log off;

        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/small/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_source_size 20k;
        }}
        location ~ ^/q0/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_queue 0;
        }}
        location ~ ^/sig/(?<sig>[^/]+)(?<signed>/(?<spec>[^/]+)/(?<file>.+))$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_sign_key 736563726574 68656C6C6F;
            thumbnail_signature $sig $signed;
        }}
        # a source nobody answers: 502
        location ~ ^/dead/(?<spec>[^/]+)/ {{
            proxy_pass http://127.0.0.1:@DEADPORT@;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location = /metrics {{ thumbnail_stats prometheus; }}
        location = /stats {{ thumbnail_stats; }}
        location = /stats-json {{ thumbnail_stats json; }}
        location = /pid {{ return 200 $pid; }}
    }}
"""

# (worker, path, headers, expected status); renders: the requests that render
SEQUENCE = [
    (0, "/t/100x100/photos/rocket.jpg", {}, 200),        # render
    (0, "/t/101x101/photos/camera.png", {}, 200),        # render
    (0, "/t/0x0/photos/rocket.jpg", {}, 400),
    (0, "/small/100x100/photos/rocket.jpg", {}, 413),    # Content-Length > 20k
    (0, "/sig/AAAA/100x100/photos/rocket.jpg", {}, 403),
    (1, "/t/100x100/photos/rocket.jpg", {}, 200),        # zone hit
    (1, "/t/302x302/photos/astronaut.png", {}, 200),    # render
    (1, "/t/100x100/photos/rocket.jpg", "ETAG", 304),
    (1, "/t/90x90/README.md", {}, 415),                  # render that fails
    (1, "/t/90x90/photos/no-such.jpg", {}, 404),
    (1, "/dead/90x90/x.jpg", {}, 502),
    (1, "/q0/103x103/photos/rocket.jpg", {}, 503),       # miss, queue 0
]
RENDERS = 4
RESPONSES = {"200": 4, "304": 1, "400": 1, "403": 1, "404": 1, "413": 1, "415": 1,
             "500": 0, "502": 1, "503": 1, "504": 0, "other": 0}
FAILURES = {"400": 1, "413": 1, "415": 1, "500": 0, "503": 1}


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    yield from served(tmp_path_factory, "prom", 2, BODY.replace("@DEADPORT@", str(free_port())))


def scrape(ngx, path="/metrics"):
    r = requests.get(ngx.url(path), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4"
    return r.text, {f.name: f for f in text_string_to_metric_families(r.text)}


def samples(family, name=None):
    """{labels as a sorted tuple: value} of a family's samples named name."""
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples
            if name is None or s.name == name}


def value(families, family, sample=None):
    (v,) = samples(families[family], sample).values()
    return v


@pytest.fixture(scope="module")
def after_sequence(prom):
    sessions = sorted(session_per_worker(prom).items())
    try:
        etag = None
        for worker, path, headers, status in SEQUENCE:
            if headers == "ETAG":
                headers = {"If-None-Match": etag}
            r = prom.get(path, session=sessions[worker][1], headers=headers)
            assert r.status_code == status, (path, r.status_code)
            if path == "/t/100x100/photos/rocket.jpg" and status == 200:
                etag = r.headers["ETag"]
    finally:
        for _, s in sessions:
            s.close()
    return scrape(prom)


def test_responses_by_status(after_sequence):
    _, fam = after_sequence
    got = {dict(k)["status"]: v for k, v in samples(fam["thumbnail_responses"]).items()}
    assert got == RESPONSES
    assert fam["thumbnail_responses"].type == "counter"
    got = {dict(k)["status"]: v for k, v in samples(fam["thumbnail_failures"]).items()}
    assert got == FAILURES


def test_render_histogram(after_sequence):
    _, fam = after_sequence
    h = fam["thumbnail_render_seconds"]
    assert h.type == "histogram"
    buckets = sorted(((float(dict(k)["le"]), v)
                      for k, v in samples(h, "thumbnail_render_seconds_bucket").items()))
    les = [le for le, _ in buckets]
    assert les == [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), counts  # cumulative
    count = value(fam, "thumbnail_render_seconds", "thumbnail_render_seconds_count")
    assert count == RENDERS
    assert counts[-1] == count
    total = value(fam, "thumbnail_render_seconds", "thumbnail_render_seconds_sum")
    assert 0 < total < RENDERS * 10
    assert value(fam, "thumbnail_renders") == RENDERS
    assert value(fam, "thumbnail_render_errors") == 1


def test_summed_over_both_workers(prom, after_sequence):
    """Each worker answered part of the sequence; the exposition is the
    sum of their slots, as the JSON's totals are."""
    _, fam = after_sequence
    stats = prom.stats()
    assert stats["worker_processes"] == 2
    per_worker = [sum(w[f"responses_{s}"] for s in RESPONSES) for w in stats["workers"]]
    assert all(n > 0 for n in per_worker), per_worker
    assert sum(per_worker) == len(SEQUENCE)
    assert value(fam, "thumbnail_worker_processes") == 2
    for key, name in [("responses_200", None), ("renders", "thumbnail_renders"),
                      ("requests", "thumbnail_requests"), ("gets", "thumbnail_cache_gets"),
                      ("misses", "thumbnail_cache_misses"), ("items", "thumbnail_cache_items"),
                      ("bytes", "thumbnail_cache_bytes"),
                      ("cache_hits", "thumbnail_cache_hit_responses"),
                      ("not_modified", "thumbnail_not_modified"),
                      ("render_count", None), ("in_flight", "thumbnail_in_flight")]:
        if name is None:
            continue
        assert value(fam, name) == stats["totals"][key], key
    assert stats["totals"]["responses_200"] == RESPONSES["200"]
    assert stats["totals"]["render_count"] == RENDERS
    assert value(fam, "thumbnail_cache_items") == 3  # the zone's, node-wide
    assert value(fam, "thumbnail_cache_hit_responses") == 2  # the hit and the 304
    # the zone's own figures, labelled with its name
    assert samples(fam["thumbnail_zone_stores"]) == {(("zone", "thumbs"),): 3}
    assert samples(fam["thumbnail_zone_size_bytes"]) == {(("zone", "thumbs"),): 32 * 1024 * 1024}
    assert value(fam, "thumbnail_zone_items") == stats["zone"]["items"] == 3


def test_every_family_has_help_and_type(after_sequence):
    text, fam = after_sequence
    for name, f in fam.items():
        assert f.name.startswith("thumbnail_"), name
        assert f.documentation, name
        assert f.type in ("counter", "gauge", "histogram"), (name, f.type)
        if f.type == "counter":
            assert all(s.name.endswith("_total") for s in f.samples), name
    helps = [l for l in text.splitlines() if l.startswith("# HELP ")]
    types = [l for l in text.splitlines() if l.startswith("# TYPE ")]
    assert len(helps) == len(types) == len(fam)


def test_format_argument_and_json_unchanged(prom, after_sequence):
    _, fam = after_sequence
    _, again = scrape(prom, "/stats?format=prometheus")
    assert samples(again["thumbnail_responses"]) == samples(fam["thumbnail_responses"])
    assert (samples(again["thumbnail_render_seconds"])
            == samples(fam["thumbnail_render_seconds"]))
    assert requests.get(prom.url("/stats?format=xml"), timeout=TIMEOUT).status_code == 400
    for path in ("/stats", "/stats?format=json", "/stats-json"):
        j = requests.get(prom.url(path), timeout=TIMEOUT)
        assert j.headers["Content-Type"] == "application/json"
        totals = j.json()["totals"]
        # the keys the JSON always had are all still there
        for key in ("cache", "gets", "hits", "misses", "loads", "loads_deduped", "local_loads",
                    "local_load_errors", "evictions", "expirations", "oversize_rejects",
                    "error_hits", "bytes", "items", "capacity_bytes", "shards", "requests",
                    "cache_hits", "renders", "render_errors", "flight_waits", "not_modified",
                    "status_400", "status_413", "status_415", "status_500", "status_503",
                    "heavy_refused", "in_flight", "waiting", "heavy", "zone_waits",
                    "held_refused", "output_held"):
            assert key in totals, key
    head = requests.head(prom.url("/metrics"), timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""


def test_bad_format_fails_nginx_t(tmp_path):
    out = nginx_t_location(tmp_path, "thumbnail_stats xml;")
    assert_refused(out, 'it must be "json" or "prometheus"')
