"""Error statuses: 400 bad/forbidden spec, 413 over a byte or pixel limit,
415 not an image / corrupt (and error_page 415 as with image_filter), 503
when the render queue is full. Each is logged once with the reason."""

import concurrent.futures
import os
import time

import pytest
import requests

from conftest import CORPUS, TIMEOUT, quote


def first(folder):
    return folder + "/" + sorted(os.listdir(CORPUS / folder))[0]


@pytest.mark.parametrize("spec", ["foo", "0x0", "200x200,sideways", "200x200,q101", "x"])
def test_bad_spec_400(ngx, spec):
    r = ngx.get(f"/t/{quote(spec)}/photos/rocket.jpg")
    assert r.status_code == 400


def test_bad_spec_logged_with_reason(ngx):
    assert ngx.get("/t/123x456,wobble/photos/rocket.jpg").status_code == 400
    log = ngx.log()
    lines = [line for line in log.splitlines() if "123x456,wobble" in line and "thumbnail:" in line]
    assert len(lines) == 1, lines
    assert "[info]" in lines[0] and "invalid-spec" in lines[0]


def test_bad_spec_does_not_read_source(ngx):
    before = ngx.origin_requests("/corpus/photos/chelsea.png")
    assert ngx.get("/p/nope/photos/chelsea.png").status_code == 400
    assert ngx.origin_requests("/corpus/photos/chelsea.png") == before


@pytest.mark.parametrize("prefix", ["/small", "/smallpc"], ids=["content-length", "chunked"])
def test_source_too_big_413(ngx, prefix):
    # rocket.jpg is 112 KB; the limit is 20k
    r = ngx.get(f"{prefix}/100x100/photos/rocket.jpg")
    assert r.status_code == 413
    # a small source in the same location is fine
    small = "conformance/jpeg/mozilla/jpg-size-33x33.jpg"
    assert ngx.get(f"{prefix}/16x16/{small}").status_code == 200


def test_pixel_limit_413(ngx):
    # 640x427 = 273k pixels > 100000
    assert ngx.get("/fewpixels/50x50/photos/rocket.jpg").status_code == 413
    assert ngx.get("/fewpixels/50x50/conformance/jpeg/libjpeg-turbo/testorig.jpg").status_code == 200


def test_output_limit_413(ngx):
    assert ngx.get("/smallout/300x300/photos/rocket.jpg").status_code == 413
    assert ngx.get("/smallout/200x200/photos/rocket.jpg").status_code == 200


@pytest.mark.parametrize("path", [
    "corrupt/bombs/65536-uint32-limit.png",
    first("corrupt/bombs"),
])
def test_bombs_413(ngx, path):
    t = time.monotonic()
    r = ngx.get(f"/t/100x100/{quote(path)}")
    assert r.status_code in (413, 415)
    assert time.monotonic() - t < 5


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
@pytest.mark.parametrize("path", [
    first("edge/gif"),
    first("edge/webp"),
    "MANIFEST.tsv",
    first("corrupt/truncated"),
])
def test_not_an_image_415(ngx, prefix, path):
    r = ngx.get(f"{prefix}/100x100/{quote(path)}")
    assert r.status_code == 415, (path, r.status_code)


def test_415_logged_once(ngx):
    path = first("edge/animated")
    assert ngx.get(f"/t/77x77/{quote(path)}").status_code == 415
    lines = [line for line in ngx.log().splitlines()
             if "thumbnail:" in line and "77x77" in line]
    assert len(lines) == 1, lines
    assert "[info]" in lines[0] and "unsupported" in lines[0]


def test_error_page_415_fallback(ngx):
    fallback = ngx.get("/static/corpus/conformance/png/pngsuite/basn2c08.png").content
    r = ngx.get(f"/fb/100x100/{quote(first('edge/gif'))}")
    assert r.status_code == 200
    assert r.content == fallback
    # and an image is still a thumbnail there
    r = ngx.get("/fb/100x100/photos/rocket.jpg")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"


def test_errors_keep_the_connection(ngx):
    with requests.Session() as s:
        assert ngx.get(f"/t/100x100/{quote(first('edge/gif'))}", session=s).status_code == 415
        assert ngx.get("/t/55x55/photos/rocket.jpg", session=s).status_code == 200


def test_queue_full_503(ngx1):
    """thumbnail_max_queue 1: while one ~1 s render runs, others are refused
    at once, before their source is read."""
    specs = [f"{300 + i}x{300 + i}" for i in range(5)]

    def get(spec):
        t = time.monotonic()
        r = requests.get(ngx1.url(f"/q1/{spec}/prog18mp.jpg"), timeout=TIMEOUT)
        if r.status_code == 503:
            assert r.headers.get("Retry-After") == "1"
        return r.status_code, time.monotonic() - t

    with concurrent.futures.ThreadPoolExecutor(len(specs)) as ex:
        results = list(ex.map(get, specs))

    codes = [c for c, _ in results]
    assert 200 in codes and 503 in codes, results
    assert set(codes) <= {200, 503}, results
    slowest_503 = max(t for c, t in results if c == 503)
    slowest_200 = max(t for c, t in results if c == 200)
    assert slowest_503 < slowest_200, results
    assert "thumbnail_max_queue 1), refusing" in ngx1.log()
