"""Thumbnails through nginx: sizes, formats, orientation, static and proxied
sources, and the HTTP semantics (Content-Type/Length, ETag, 304, HEAD,
Last-Modified, no ranges)."""

import email.utils
import hashlib
import os
import re

import pytest
import requests

from conftest import CORPUS, ROOT, image_info, mean_abs_diff, png_pixels, quote

PHOTOS = [
    # path, spec, expected (format, width, height)
    ("photos/rocket.jpg", "200x200", ("jpeg", 200, 133)),
    ("photos/rocket.jpg", "200x200,cover,q80", ("jpeg", 200, 200)),
    ("photos/rocket.jpg", "x100", ("jpeg", 150, 100)),
    ("photos/rocket.jpg", "100x100,cover,png", ("png", 100, 100)),
    ("photos/kodak/kodim01.png", "300x300", ("png", 300, 200)),
    ("photos/kodak/kodim01.png", "300x300,contain,jpeg,bg=222", ("jpeg", 300, 300)),
    # canonical form longer than the text (jpg -> jpeg, bg=123 -> bg=112233)
    ("photos/rocket.jpg", "90x90,jpg,contain,bg=123", ("jpeg", 90, 90)),
    ("photos/coffee.png", "160x", None),
    ("photos/harbour-9MP-HMD_Nokia_8.3_5G.jpg", "256x256", None),
    # EXIF orientation 6: stored 1200x1800, displayed 1800x1200
    ("edge/exif-orientation/Landscape_6.jpg", "300x300", ("jpeg", 300, 200)),
    ("edge/exif-orientation/Landscape_6.jpg", "300x300,noorient", ("jpeg", 200, 300)),
    ("edge/exif-orientation/Portrait_8.jpg", "300x300", ("jpeg", 200, 300)),
    ("edge/misnamed/" + sorted(os.listdir(CORPUS / "edge/misnamed"))[0], "64x64", None),
]


@pytest.mark.parametrize("prefix", ["/t", "/p", "/pc"], ids=["static", "proxied", "chunked"])
@pytest.mark.parametrize("path,spec,expected", PHOTOS, ids=[f"{p}:{s}" for p, s, _ in PHOTOS])
def test_thumbnail(ngx, prefix, path, spec, expected):
    r = ngx.get(f"{prefix}/{spec}/{quote(path)}")
    assert r.status_code == 200, r.text[:200]
    fmt, w, h = image_info(r.content)
    assert r.headers["Content-Type"] == f"image/{fmt}"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.headers["ETag"].startswith('"t-')
    assert "Accept-Ranges" not in r.headers
    if expected:
        assert (fmt, w, h) == expected
    else:
        box_w, _, box_h = spec.partition(",")[0].partition("x")
        assert w <= int(box_w or 65535) and h <= int(box_h or 65535)


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
@pytest.mark.parametrize("shape", ["Landscape", "Portrait"])
def test_orientation_by_pixels(ngx, prefix, shape):
    """Each of the 8 EXIF orientations, applied, looks like orientation 1
    pixel for pixel (JPEG noise aside); ignoring it (noorient) does not."""
    def pixels(n, extra=""):
        r = ngx.get(f"{prefix}/48x48,png{extra}/edge/exif-orientation/{shape}_{n}.jpg")
        assert r.status_code == 200
        return png_pixels(r.content)

    upright = pixels(1)
    assert upright[:2] == ((48, 32) if shape == "Landscape" else (32, 48))
    for n in range(2, 9):
        assert mean_abs_diff(pixels(n), upright) < 8, n
    # stored upside down (3) or mirrored (2): same size, other pixels
    for n in (2, 3):
        assert mean_abs_diff(pixels(n, ",noorient"), upright) > 20, n


def test_static_and_proxied_agree(ngx):
    a = ngx.get("/t/150x150/photos/astronaut.png")
    b = ngx.get("/p/150x150/photos/astronaut.png")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content


def test_every_way_the_body_arrives_gives_the_same_thumbnail(ngx):
    # file buffers read whole (/t/, sendfile on), the copy filter's memory
    # buffers (/nosf/), its reads on a pool thread (/aio/) and with
    # O_DIRECT (/dio/, where the filesystem allows it), proxied (/p/)
    for path in ("photos/astronaut.png", "photos/rocket.jpg", "edge/exif-orientation/Portrait_6.jpg"):
        bodies = {}
        for prefix in ("t", "nosf", "aio", "dio", "p"):
            r = ngx.get(f"/{prefix}/120x120/{path}")
            assert r.status_code == 200, (prefix, path, r.status_code)
            bodies[prefix] = r.content
        assert len(set(bodies.values())) == 1, (path, {k: len(v) for k, v in bodies.items()})
        assert max(image_info(bodies["t"])[1:]) == 120, image_info(bodies["t"])


def test_fixed_spec(ngx):
    r = ngx.get("/fixed/photos/rocket.jpg")
    assert r.status_code == 200
    assert image_info(r.content) == ("jpeg", 120, 80)


def test_allowed_specs_canonical(ngx):
    # 200x200,cover is allowed; "cover,200x200"... is not a spec, but an
    # equivalent spelling with a default option canonicalises to it
    assert ngx.get("/allow/100x100/photos/rocket.jpg").status_code == 200
    assert ngx.get("/allow/200x200,cover,q80/photos/rocket.jpg").status_code == 200
    assert ngx.get("/allow/200x200,inside/photos/rocket.jpg").status_code == 400
    assert ngx.get("/allow/300x300/photos/rocket.jpg").status_code == 400


def test_last_modified_passed_through(ngx):
    src = ngx.get("/static/corpus/photos/rocket.jpg")
    r = ngx.get("/t/90x90/photos/rocket.jpg")
    assert r.status_code == 200
    assert r.headers["Last-Modified"] == src.headers["Last-Modified"]
    # and the source's ETag is replaced by the thumbnail's
    assert r.headers["ETag"] != src.headers["ETag"]


def test_etag_depends_on_key(ngx):
    a = ngx.get("/t/91x91/photos/rocket.jpg").headers["ETag"]
    b = ngx.get("/t/92x92/photos/rocket.jpg").headers["ETag"]
    c = ngx.get("/t/91x91,q80/photos/rocket.jpg").headers["ETag"]
    assert a != b
    # q80 is the default: same canonical spec, but a different $uri
    assert a != c


def expected_etag(key):
    """The documented ETag: "t-" + hex(md5(key + "|" + library version))."""
    header = (ROOT / "include/thumbnail.h").read_text()
    version = re.search(r'#define THUMBNAIL_VERSION "([^"]+)"', header).group(1)
    return '"t-%s"' % hashlib.md5(f"{key}|{version}".encode()).hexdigest()


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
def test_if_none_match_on_render(ngx, prefix):
    # a key never requested: the 304 comes from the render path
    spec = "87x87" if prefix == "/t" else "88x88"
    uri = f"{prefix}/{spec}/photos/rocket.jpg"
    # the proxied location rewrites $uri before the key is made
    key_uri = uri if prefix == "/t" else "/corpus/photos/rocket.jpg"
    etag = expected_etag(f"127.0.0.1{key_uri}|{spec}")
    r = ngx.get(uri, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == etag
    r = ngx.get(uri)
    assert r.status_code == 200
    assert r.headers["ETag"] == etag


def test_if_none_match_on_cache_hit(ngx):
    with requests.Session() as s:
        r = ngx.get("/t/93x93/photos/rocket.jpg", session=s)
        assert r.status_code == 200
        etag = r.headers["ETag"]
        r2 = ngx.get("/t/93x93/photos/rocket.jpg", session=s, headers={"If-None-Match": etag})
        assert r2.status_code == 304
        assert r2.content == b""
        assert r2.headers["ETag"] == etag
        r3 = ngx.get("/t/93x93/photos/rocket.jpg", session=s,
                     headers={"If-None-Match": f'"other", W/{etag}'})
        assert r3.status_code == 304
        r4 = ngx.get("/t/93x93/photos/rocket.jpg", session=s, headers={"If-None-Match": '"t-nope"'})
        assert r4.status_code == 200 and r4.content == r.content
        r5 = ngx.get("/t/93x93/photos/rocket.jpg", session=s, headers={"If-None-Match": "*"})
        assert r5.status_code == 304


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
def test_head(ngx, prefix):
    # the first HEAD renders (the source is fetched with GET), the second hits
    for _ in range(2):
        h = requests.head(ngx.url(f"{prefix}/97x97/photos/rocket.jpg"), timeout=30)
        assert h.status_code == 200
        assert h.content == b""
        assert h.headers["Content-Type"] == "image/jpeg"
    g = ngx.get(f"{prefix}/97x97/photos/rocket.jpg")
    assert int(h.headers["Content-Length"]) == len(g.content)
    assert h.headers["ETag"] == g.headers["ETag"]


def test_head_error(ngx):
    h = requests.head(ngx.url("/p/98x98/MANIFEST.tsv"), timeout=30)
    assert h.status_code == 415
    assert h.content == b""


def test_ranges_ignored(ngx):
    full = ngx.get("/t/99x99/photos/rocket.jpg")
    r = ngx.get("/t/99x99/photos/rocket.jpg", headers={"Range": "bytes=0-9"})
    assert r.status_code == 200
    assert r.content == full.content


# The client's Range and validators are about the thumbnail: the source is
# always fetched whole and unconditionally (else a 206 slice or a 412 of the
# source would come back, or a 304 against the source's ETag). Each case uses
# a key of its own so that it is a render, not a cache hit.
SOURCE_HEADERS = [
    ("range", {"Range": "bytes=0-9"}),
    ("if-range", {"Range": "bytes=0-9", "If-Range": '"nope"'}),
    ("if-match", {"If-Match": '"nope"'}),
    ("if-unmodified-since", {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"}),
    ("if-none-match-source-etag", None),
]


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
@pytest.mark.parametrize("case,headers", SOURCE_HEADERS, ids=[c for c, _ in SOURCE_HEADERS])
def test_source_fetched_whole(ngx, prefix, case, headers):
    if headers is None:
        src = ngx.get("/static/corpus/photos/rocket.jpg")
        headers = {"If-None-Match": src.headers["ETag"]}
    size = 150 + [c for c, _ in SOURCE_HEADERS].index(case)
    uri = f"{prefix}/{size}x{size}/photos/rocket.jpg"
    r = ngx.get(uri, headers=headers)
    assert r.status_code == 200, (case, r.status_code, r.headers)
    assert "Content-Range" not in r.headers
    assert image_info(r.content)[:2] == ("jpeg", size)
    assert r.content == ngx.get(uri).content


@pytest.mark.parametrize("prefix", ["/t", "/p"], ids=["static", "proxied"])
def test_if_modified_since_alone(ngx, prefix):
    # the thumbnail's Last-Modified is the source's, but a lone
    # If-Modified-Since names no library version (and, answered by the
    # source, made a 304 for sources that cannot render): the thumbnail comes
    # whole; with If-None-Match, only the ETag counts (test_hardening.py)
    last_modified = ngx.get(f"{prefix}/170x170/photos/rocket.jpg").headers["Last-Modified"]
    r = ngx.get(f"{prefix}/171x171/photos/rocket.jpg",
                headers={"If-Modified-Since": last_modified})
    assert r.status_code == 200 and r.headers["ETag"].startswith('"t-')
    assert image_info(r.content)[:2] == ("jpeg", 171)
    r = ngx.get(f"{prefix}/172x172/photos/rocket.jpg",
                headers={"If-Modified-Since": last_modified, "If-None-Match": '"t-stale"'})
    assert r.status_code == 200 and image_info(r.content)[0] == "jpeg"


def test_compressing_origin(ngx):
    # the origin gzips images for clients that accept it; the source fetch
    # asks for the identity encoding, and the thumbnail is not compressed
    r = ngx.get("/pz/173x173/photos/rocket.jpg", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers
    assert image_info(r.content)[:2] == ("jpeg", 173)


def test_source_errors_pass_through(ngx):
    assert ngx.get("/t/100x100/no/such/file.jpg").status_code == 404
    assert ngx.get("/p/100x100/no/such/file.jpg").status_code == 404


def test_keepalive_survives(ngx):
    with requests.Session() as s:
        for spec in ("61x61", "62x62", "foo", "63x63"):
            r = ngx.get(f"/t/{spec}/photos/rocket.jpg", session=s)
            assert r.status_code in (200, 400)
        assert ngx.get("/t/61x61/photos/rocket.jpg", session=s).status_code == 200


def test_last_modified_date_format(ngx):
    r = ngx.get("/t/64x64/photos/rocket.jpg")
    assert email.utils.parsedate_to_datetime(r.headers["Last-Modified"])


def test_try_files_fallback(ngx):
    r = ngx.get("/tf/100x100/photos/chelsea.png")
    assert r.status_code == 200 and image_info(r.content)[0] == "png"
    r = ngx.get("/tf/100x100/photos/missing.png")
    assert r.status_code == 200
    assert image_info(r.content) == ("jpeg", 50, 33)
    for _ in range(2):
        h = requests.head(ngx.url("/tf/100x100/photos/missing.png"), timeout=30)
        assert h.status_code == 200
        assert h.content == b""
        assert int(h.headers["Content-Length"]) == len(r.content)


def test_leader_goes_away(ngx1):
    """The client of a render in progress disconnects: the render finishes
    on its thread, the request is cleaned up, the next request is served."""
    import socket
    import time
    uri = "/b/333x333/prog18mp.jpg"
    s = socket.create_connection(("127.0.0.1", ngx1.port), timeout=5)
    s.sendall(f"GET {uri} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and ngx1.stats()["totals"]["in_flight"] == 0:
        time.sleep(0.01)
    s.close()
    while time.monotonic() < deadline and ngx1.stats()["totals"]["in_flight"]:
        time.sleep(0.05)
    assert ngx1.stats()["totals"]["in_flight"] == 0
    r = ngx1.get(uri)
    assert r.status_code == 200
    assert image_info(r.content) == ("jpeg", 333, 187)
    assert "[alert]" not in ngx1.log()
