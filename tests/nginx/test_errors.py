"""Error statuses: 400 bad/forbidden spec, 413 over a byte or pixel limit,
415 not an image / corrupt (and error_page 415 as with image_filter), 503
when the render queue is full. Each is logged once with the reason."""

import concurrent.futures
import os
import socketserver
import threading
import time

import pytest
import requests

from conftest import CORPUS, TIMEOUT, Nginx, quote


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


@pytest.mark.parametrize("path", [
    "corrupt/truncated/peacock.default.truncated.jpeg",
    "corrupt/truncated/hippopotamus.regular.truncated.png",
    "edge/jpeg-misc/small-img-8x8192.jpg",
])
def test_strict_refuses_damaged_sources_415(ngx, path):
    # served as browsers show them by default; thumbnail_strict on refuses
    assert ngx.get(f"/t/64x64/{path}").status_code == 200
    assert ngx.get(f"/strict/64x64/{path}").status_code == 415
    assert ngx.get("/strict/64x64/photos/rocket.jpg").status_code == 200


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
    "MANIFEST.tsv",
    # corrupt either way (a truncated file is served unless thumbnail_strict:
    # test_strict_refuses_damaged_sources_415)
    "corrupt/png/x_ihdr_missing.png",
    "README.md",
])
def test_not_an_image_415(ngx, prefix, path):
    r = ngx.get(f"{prefix}/100x100/{quote(path)}")
    assert r.status_code == 415, (path, r.status_code)


def test_415_logged_once(ngx):
    path = "README.md"  # not an image (GIF and WebP render since issue 16)
    assert ngx.get(f"/t/77x77/{quote(path)}").status_code == 415
    lines = [line for line in ngx.log().splitlines()
             if "thumbnail:" in line and "77x77" in line]
    assert len(lines) == 1, lines
    assert "[info]" in lines[0] and "unsupported" in lines[0]


@pytest.mark.parametrize("uri,reason", [
    ("/small/78x78/photos/rocket.jpg", "larger than thumbnail_max_source_size"),
    ("/smallpc/78x79/photos/rocket.jpg", "larger than thumbnail_max_source_size"),
    ("/fewpixels/78x80/photos/rocket.jpg", "too-large"),
    ("/smallout/780x780/photos/rocket.jpg", "too-large"),
], ids=["content-length", "chunked", "pixels", "output"])
def test_413_logged_once(ngx, uri, reason):
    assert ngx.get(uri).status_code == 413
    lines = [line for line in ngx.log().splitlines()
             if "thumbnail:" in line and f"GET {uri} " in line]
    assert len(lines) == 1, lines
    assert "[warn]" in lines[0] and reason in lines[0], lines[0]


def test_error_page_415_fallback(ngx):
    fallback = ngx.get("/static/corpus/conformance/png/pngsuite/basn2c08.png").content
    r = ngx.get("/fb/100x100/MANIFEST.tsv")
    assert r.status_code == 200
    assert r.content == fallback
    # and an image is still a thumbnail there
    r = ngx.get("/fb/100x100/photos/rocket.jpg")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"


def test_errors_keep_the_connection(ngx):
    with requests.Session() as s:
        assert ngx.get("/t/100x100/MANIFEST.tsv", session=s).status_code == 415
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


# --- sources over the byte limit are refused without being read ------------

class _Origin(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _SlowOriginHandler(socketserver.BaseRequestHandler):
    """/cl/...: Content-Length 1 GB, then 64 KB every 50 ms; /chunked/...:
    chunked, 64 KB chunks as fast as they go. Each for at most 8 s or 64 MB;
    records (bytes sent, whether the peer closed, seconds) per path."""

    def handle(self):
        sock = self.request
        sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                return
            head += data
        path = head.split(b" ")[1].decode()
        chunked = path.startswith("/chunked/")
        block = b"\xff\xd8" + b"\x00" * (65536 - 2)
        sent, closed, start = 0, False, time.monotonic()
        try:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n"
                         + (b"Transfer-Encoding: chunked\r\n" if chunked
                            else b"Content-Length: 1000000000\r\n")
                         + b"\r\n")
            while time.monotonic() - start < 8 and sent < 64 << 20:
                if chunked:
                    sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
                else:
                    sock.sendall(block)
                    time.sleep(0.05)
                sent += len(block)
        except OSError:
            closed = True
        self.server.results[path] = (sent, closed, time.monotonic() - start)


SLOW_SERVER = r"""
    server {{
        listen 127.0.0.1:{PORT};
        location ~ ^/slow/(?<spec>[^/]+)/ {{
            rewrite ^/slow/[^/]+/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:SLOW_ORIGIN;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_max_source_size 1m;
        }}
    }}
"""


@pytest.fixture
def slow(tmp_path):
    origin = _Origin(("127.0.0.1", 0), _SlowOriginHandler)
    origin.results = {}
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    n = Nginx(tmp_path, 1, SLOW_SERVER.replace("SLOW_ORIGIN", str(origin.server_address[1])),
              "slow")
    n.start()
    yield n, origin
    n.stop()
    origin.shutdown()
    origin.server_close()


@pytest.mark.parametrize("kind", ["cl", "chunked"])
def test_source_too_big_not_buffered(slow, kind):
    """With Content-Length over the limit, 413 comes at once and the origin
    is dropped (a 1 GB body at 1.3 MB/s is never waited for); a chunked body
    is cut off as soon as it passes the limit."""
    n, origin = slow
    path = f"/{kind}/photo.jpg"
    t = time.monotonic()
    r = n.get(f"/slow/100x100{path}")
    elapsed = time.monotonic() - t
    assert r.status_code == 413
    assert elapsed < 4, elapsed
    deadline = time.monotonic() + 10
    while path not in origin.results and time.monotonic() < deadline:
        time.sleep(0.05)
    sent, closed, seconds = origin.results[path]
    assert closed, origin.results  # nginx hung up on the origin
    assert seconds < 5 and sent < 32 << 20, origin.results
    assert not n.crashes()
    lines = [line for line in n.log().splitlines() if "thumbnail:" in line]
    assert len(lines) == 1 and "[warn]" in lines[0] and "thumbnail_max_source_size" in lines[0], lines
