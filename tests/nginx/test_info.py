"""`thumbnail size;` and `thumbnail test;` (issue 18): image_filter's size
and test modes. size answers image_filter's JSON with the size as stored
(read from the header: a 4-gigapixel PNG is answered, never decoded); test
passes an image through unchanged. Static (file) and proxied (memory)
sources; thumbnail_max_source_size; a header past the first 256 KB; 415
for what is not an image; HEAD; Range dropped; counted as responses."""

import json

import pytest
import requests

from conftest import CORPUS, SHARED, TIMEOUT, assert_refused, image_info, nginx_t_location, served

BODY = r"""
    server {{
        listen 127.0.0.1:{PORT};
        access_log off;

        location /size/ {{ alias {CORPUS}/; thumbnail size; }}
        location /test/ {{ alias {CORPUS}/; thumbnail test; }}
        location /bsize/ {{ alias {BENCH}/; thumbnail size; }}
        location /btest/ {{ alias {BENCH}/; thumbnail test; }}
        location /gen/ {{ alias {PREFIX}/gen/; thumbnail size; }}
        location /gentest/ {{ alias {PREFIX}/gen/; thumbnail test; }}
        # served as application/octet-stream: test names the format
        location /rawtest/ {{
            alias {CORPUS}/;
            types {{ }}
            default_type application/octet-stream;
            thumbnail test;
        }}
        # proxied: the source arrives in memory
        location /psize/ {{
            proxy_pass http://127.0.0.1:{ORIGIN}/corpus/;
            thumbnail size;
        }}
        location /ptest/ {{
            proxy_pass http://127.0.0.1:{ORIGIN}/bench-images/;
            thumbnail test;
        }}
        location /smallsize/ {{
            alias {CORPUS}/;
            thumbnail size;
            thumbnail_max_source_size 20k;
        }}
        location /smalltest/ {{
            alias {CORPUS}/;
            thumbnail test;
            thumbnail_max_source_size 20k;
        }}
        location /fbtest/ {{
            alias {CORPUS}/;
            thumbnail test;
            error_page 415 = /fallback.png;
        }}
        # image_filter's answer for a non-image, as the README shows it
        location /sizefb/ {{
            alias {CORPUS}/;
            thumbnail size;
            error_page 415 =200 @empty;
        }}
        location @empty {{
            types {{ }}
            default_type application/json;
            return 200 '{{}}\r\n';
        }}
        location = /fallback.png {{
            alias {CORPUS}/conformance/png/pngsuite/basn2c08.png;
        }}
        # thumbnail on still renders; a nested location inherits size
        location /nest/ {{
            alias {CORPUS}/;
            thumbnail size;
            location /nest/photos/ {{ }}
        }}
        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location /static/ {{ alias {SHARED}/; }}
        location = /stats {{ thumbnail_stats; }}
    }}
"""

IMAGES = [
    "conformance/jpeg/libjpeg-turbo/testorig.jpg",
    "photos/rocket.jpg",
    "photos/camera.png",
    "edge/exif-orientation/Landscape_6.jpg",   # stored 1200x1800, shown 1800x1200
    "edge/progressive/" ,                       # placeholder, replaced below
    "edge/misnamed/png-named-jpg-size-6x6.jpg",
    "edge/metadata/app13-multiple.jpg",
]


def corpus_images():
    out = []
    for path in IMAGES:
        if path.endswith("/"):
            found = sorted(p for p in (CORPUS / path).iterdir() if p.suffix in (".jpg", ".jpeg"))
            if not found:
                continue
            path = str(found[0].relative_to(CORPUS))
        out.append(path)
    return out


def size_json(kind, w, h):
    return f'{{ "img" : {{ "width": {w}, "height": {h}, "type": "{kind}" }} }}\r\n'.encode()


@pytest.fixture(scope="module")
def info(tmp_path_factory):
    yield from served(tmp_path_factory, "info", 1, BODY)


def stats(ngx):
    return ngx.stats()["totals"]


@pytest.mark.parametrize("front", ["/size/", "/psize/"])
def test_size_is_image_filters_json(info, front):
    for path in corpus_images():
        src = (CORPUS / path).read_bytes()
        kind, w, h = image_info(src)  # an independent header parser: stored size
        r = info.get(front + path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["Content-Type"] == "application/json"
        assert r.content == size_json(kind, w, h), (path, r.content)
        assert int(r.headers["Content-Length"]) == len(r.content)
        # none of the source's headers, as image_filter
        assert "ETag" not in r.headers and "Last-Modified" not in r.headers
        assert json.loads(r.content) == {"img": {"width": w, "height": h, "type": kind}}


def test_size_reports_the_stored_size(info):
    r = info.get("/size/edge/exif-orientation/Landscape_6.jpg")
    assert json.loads(r.content)["img"] == {"width": 1200, "height": 1800, "type": "jpeg"}


def test_size_never_decodes(info):
    """Headers declaring 4.3 and 0.28 gigapixels: answered from the header
    (a decode would be refused by thumbnail_max_pixels, or take minutes);
    no render is started."""
    before = stats(info)
    r = info.get("/size/corrupt/bombs/65536-uint32-limit.png")
    assert r.status_code == 200 and json.loads(r.content)["img"] == {
        "width": 65536, "height": 65536, "type": "png"}
    r = info.get("/size/corrupt/bombs/giant-image.jpg")
    assert r.status_code == 200 and json.loads(r.content)["img"] == {
        "width": 20000, "height": 14000, "type": "jpeg"}
    r = info.get("/bsize/big20mp.jpg")
    assert json.loads(r.content)["img"] == {"width": 6028, "height": 3391, "type": "jpeg"}
    after = stats(info)
    assert after["renders"] == before["renders"]
    assert after["responses_200"] - before["responses_200"] == 3


def test_header_past_the_first_256k(info):
    """A JPEG whose SOF comes after 300 KB of APP15 segments: the first
    read does not hold the header, the second (the whole file) does."""
    src = (CORPUS / "conformance/jpeg/libjpeg-turbo/testorig.jpg").read_bytes()
    assert src[:2] == b"\xff\xd8"
    filler = b"".join(b"\xff\xef" + (65533 + 2).to_bytes(2, "big") + bytes(65533) for _ in range(5))
    big = src[:2] + filler + src[2:]
    assert len(big) > 300 * 1024
    gen = info.prefix / "gen"
    gen.mkdir(exist_ok=True)
    (gen / "late-header.jpg").write_bytes(big)
    r = info.get("/gen/late-header.jpg")
    assert r.status_code == 200, r.status_code
    assert r.content == size_json("jpeg", 227, 149)


def test_not_an_image_is_415(info):
    """Text, and a JPEG cut inside its header (image_filter's size would
    answer 200 "{}" for either; here 415, as for every non-image)."""
    for path in ("README.md", "MANIFEST.tsv"):
        for front in ("/size/", "/test/", "/psize/"):
            r = info.get(front + path)
            assert r.status_code == 415, (front, path, r.status_code)
    src = (CORPUS / "photos/rocket.jpg").read_bytes()
    gen = info.prefix / "gen"
    gen.mkdir(exist_ok=True)
    (gen / "cut.jpg").write_bytes(src[:300])
    (gen / "empty.png").write_bytes(b"")
    for name in ("cut.jpg", "empty.png"):
        for front in ("/gen/", "/gentest/"):
            r = info.get(front + name)
            assert r.status_code == 415, (front, name, r.status_code)


def test_test_passes_images_unchanged(info):
    for path in corpus_images():
        src = (CORPUS / path).read_bytes()
        kind, _, _ = image_info(src)
        r = info.get("/rawtest/" + path)
        assert r.status_code == 200, path
        assert r.content == src, path
        assert r.headers["Content-Type"] == f"image/{kind}", (path, r.headers)
        assert int(r.headers["Content-Length"]) == len(src)
    # a large file source (read whole on the pool) and a proxied one
    big = (SHARED / "bench-images/big20mp.jpg").read_bytes()
    for front in ("/btest/", "/ptest/"):
        r = info.get(front + "big20mp.jpg")
        assert r.status_code == 200 and r.content == big, front


def test_test_ignores_ranges_and_head(info):
    src = (CORPUS / "photos/rocket.jpg").read_bytes()
    r = info.get("/test/photos/rocket.jpg", headers={"Range": "bytes=0-99"})
    assert r.status_code == 200 and r.content == src
    head = requests.head(info.url("/test/photos/rocket.jpg"), timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(src)
    head = requests.head(info.url("/size/photos/rocket.jpg"), timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    kind, w, h = image_info(src)
    assert int(head.headers["Content-Length"]) == len(size_json(kind, w, h))


def test_max_source_size(info):
    # rocket.jpg is 112 KB, over 20k: 413 from Content-Length, never read
    assert info.get("/smallsize/photos/rocket.jpg").status_code == 413
    assert info.get("/smalltest/photos/rocket.jpg").status_code == 413
    small = "conformance/jpeg/libjpeg-turbo/testorig.jpg"  # 5.7 KB
    assert info.get("/smallsize/" + small).content == size_json("jpeg", 227, 149)
    assert info.get("/smalltest/" + small).content == (CORPUS / small).read_bytes()


def test_error_page_and_missing_source(info):
    r = info.get("/sizefb/README.md")
    assert r.status_code == 200 and r.content == b"{}\r\n", r.content
    assert r.headers["Content-Type"] == "application/json"
    r = info.get("/fbtest/README.md")
    assert r.status_code == 200
    assert r.content == (CORPUS / "conformance/png/pngsuite/basn2c08.png").read_bytes()
    assert info.get("/size/photos/no-such.jpg").status_code == 404
    assert info.get("/test/photos/no-such.jpg").status_code == 404


def test_modes_side_by_side(info):
    """thumbnail on renders as before; a nested location inherits size."""
    r = info.get("/t/50x50/photos/rocket.jpg")
    assert r.status_code == 200
    kind, w, h = image_info(r.content)
    assert max(w, h) == 50, (w, h)
    r = info.get("/nest/photos/rocket.jpg")
    assert r.headers["Content-Type"] == "application/json"
    t = stats(info)
    assert t["in_flight"] == 0 and t["output_held"] == 0, t
    assert t["responses_200"] > 0 and t["responses_415"] > 0


def test_directive_values(tmp_path):
    assert_refused(nginx_t_location(tmp_path, "thumbnail resize;"),
                   'it must be "on", "off", "size" or "test"')
    assert_refused(nginx_t_location(tmp_path, "thumbnail size; thumbnail test;"), "is duplicate")
    for ok in ("thumbnail size;", "thumbnail test;", "thumbnail OFF;"):
        out = nginx_t_location(tmp_path, ok)
        assert out.returncode == 0, (ok, out.stderr)
    # on still needs its spec
    assert_refused(nginx_t_location(tmp_path, "thumbnail on;"), "needs")


def gif_or_webp_size(data):
    """(type, width, height) from a GIF's logical screen or a WebP's
    VP8 / VP8L / VP8X header: a parser independent of the library's."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif", int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", data[:16]
    chunk, body = data[12:16], data[20:]
    if chunk == b"VP8X":
        return ("webp", 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
    if chunk == b"VP8L":
        bits = int.from_bytes(body[1:5], "little")
        return "webp", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    assert chunk == b"VP8 ", chunk
    return ("webp", int.from_bytes(body[6:8], "little") & 0x3FFF, int.from_bytes(body[8:10], "little") & 0x3FFF)


@pytest.mark.parametrize("path", [
    "edge/gif/bricks-dither.gif",
    "edge/animated/anim.webp",
    "edge/webp/bricks-color.lossy.webp",
    "edge/webp/hat.lossless.webp",
])
def test_gif_and_webp(info, path):
    """The formats of issue 16: size names them as image_filter does
    (`gif`, `webp`), test passes them with their media type."""
    src = (CORPUS / path).read_bytes()
    kind, w, h = gif_or_webp_size(src)
    r = info.get("/size/" + path)
    assert r.status_code == 200, (path, r.status_code)
    assert r.content == size_json(kind, w, h), (path, r.content)
    r = info.get("/rawtest/" + path)
    assert r.status_code == 200 and r.content == src, path
    assert r.headers["Content-Type"] == f"image/{kind}", (path, r.headers)
