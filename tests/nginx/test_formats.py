"""Issue 16 in nginx: GIF and WebP sources, WebP/AVIF output, and `auto`:
the module reads Accept, the bucket goes into the cache key and the ETag
(never the header), `Vary: Accept` on every negotiated response (the
JPEG/PNG fallback and 304s too) and on none whose URL names the format,
$thumbnail_format."""

import requests

from conftest import TIMEOUT, image_info

KODAK = "photos/kodak/kodim01.png"  # 768x512
WEBP_BROWSER = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
OLD_BROWSER = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"


def kind(data):
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return image_info(data)[0]


def test_gif_and_webp_sources(ngx):
    r = ngx.get("/t/45x/edge/gif/hat.gif")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert image_info(r.content)[1:] == (45, 56)
    r = ngx.get("/t/100x/edge/webp/harvesters.lossy.webp")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert kind(r.content) == "webp"
    r = ngx.get("/t/100x,jpeg/edge/webp/harvesters.lossy.webp")
    assert r.headers["Content-Type"] == "image/jpeg" and image_info(r.content)[1] == 100
    r = ngx.get("/p/100x,webp,q70/photos/rocket.jpg")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert "Vary" not in r.headers


def test_animation(ngx):
    r = ngx.get("/t/100x,anim/edge/animated/chi.gif")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert b"ANIM" in r.content[:64] and r.content.count(b"ANMF") > 1
    still = ngx.get("/t/100x/edge/animated/chi.gif")
    assert still.headers["Content-Type"] == "image/png"


def test_webp_side_limit_is_400(ngx):
    assert ngx.get(f"/t/16384x10,webp/{KODAK}").status_code == 400


def get(ngx, path, accept, session=None, **headers):
    headers["Accept"] = accept
    return ngx.get(path, session=session, headers=headers)


def test_vary_only_when_negotiated(ngx):
    r = get(ngx, f"/tv/200x200,auto/{KODAK}", WEBP_BROWSER)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert kind(r.content) == "webp"
    assert r.headers["Vary"] == "Accept"
    assert r.headers["X-Thumbnail-Format"] == "webp"
    # the fallback (PNG source, a client without WebP) varies too
    r = get(ngx, f"/tv/200x200,auto/{KODAK}", OLD_BROWSER)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.headers["Vary"] == "Accept"
    assert r.headers["X-Thumbnail-Format"] == "source"
    r = get(ngx, "/tv/200x200,auto/photos/rocket.jpg", "*/*")
    assert r.headers["Content-Type"] == "image/jpeg" and r.headers["Vary"] == "Accept"
    # a WebP source for a client without WebP: JPEG (no alpha)
    r = get(ngx, "/tv/200x200,auto/edge/webp/harvesters.lossy.webp", "*/*")
    assert r.headers["Content-Type"] == "image/jpeg" and r.headers["Vary"] == "Accept"
    # the URL names the format (or keeps the source's): no Vary, no bucket
    for spec in ("200x200,webp", "200x200,png", "200x200"):
        r = get(ngx, f"/tv/{spec}/{KODAK}", WEBP_BROWSER)
        assert r.status_code == 200
        assert "Vary" not in r.headers, spec
        assert "X-Thumbnail-Format" not in r.headers, spec


def test_q0_and_wildcards(ngx):
    r = get(ngx, f"/tv/150x,auto/{KODAK}", "image/webp;q=0, image/*, */*")
    assert r.headers["Content-Type"] == "image/png"
    r = get(ngx, f"/tv/150x,auto/{KODAK}", "IMAGE/WEBP ; Q=0.5")
    assert r.headers["Content-Type"] == "image/webp"
    # no Accept header at all
    r = requests.get(ngx.url(f"/tv/150x,auto/{KODAK}"), headers={"Accept": None}, timeout=TIMEOUT)
    assert r.headers["Content-Type"] == "image/png" and r.headers["Vary"] == "Accept"


def test_cache_key_and_etag_per_bucket(ngx):
    path = f"/tv/210x140,cover,auto/{KODAK}"
    with requests.Session() as s:  # one connection: one worker, one cache
        before = ngx.stats()["totals"]
        webp = get(ngx, path, WEBP_BROWSER, session=s)
        png = get(ngx, path, OLD_BROWSER, session=s)
        webp2 = get(ngx, path, "image/webp", session=s)  # another spelling, same bucket
        png2 = get(ngx, path, "text/html,*/*", session=s)
        after = ngx.stats()["totals"]
    assert webp.headers["Content-Type"] == "image/webp" and png.headers["Content-Type"] == "image/png"
    assert webp2.content == webp.content and png2.content == png.content
    assert webp.headers["ETag"] != png.headers["ETag"]
    assert webp2.headers["ETag"] == webp.headers["ETag"]
    # two renders (one per bucket), two hits: the header's spelling is not in the key
    assert after["renders"] - before["renders"] == 2
    assert after["cache_hits"] - before["cache_hits"] == 2


def test_304_per_bucket(ngx):
    path = f"/tv/190x,auto/{KODAK}"
    with requests.Session() as s:
        webp = get(ngx, path, WEBP_BROWSER, session=s)
        etag = webp.headers["ETag"]
        r = get(ngx, path, WEBP_BROWSER, session=s, **{"If-None-Match": etag})
        assert r.status_code == 304 and r.headers["Vary"] == "Accept"
        assert r.headers["ETag"] == etag
        # the same ETag from a client in another bucket is not a match
        r = get(ngx, path, OLD_BROWSER, session=s, **{"If-None-Match": etag})
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
        assert r.headers["Vary"] == "Accept"
        r = get(ngx, path, OLD_BROWSER, session=s, **{"If-None-Match": r.headers["ETag"]})
        assert r.status_code == 304 and r.headers["Vary"] == "Accept"


def test_avif_only_where_enabled(ngx):
    # thumbnail_avif off (/tv/): never AVIF, even for a client that lists it first
    r = get(ngx, f"/tv/120x,auto/{KODAK}", "image/avif,image/webp,*/*")
    assert r.headers["X-Thumbnail-Format"] == "webp" and kind(r.content) == "webp"
    # thumbnail_avif on (/ta/): AVIF if the library was built with it, else WebP
    r = get(ngx, f"/ta/120x,auto/{KODAK}", "image/avif,image/webp,*/*")
    assert r.status_code == 200 and r.headers["Vary"] == "Accept"
    bucket = r.headers["X-Thumbnail-Format"]
    assert bucket in ("avif", "webp")
    assert kind(r.content) == bucket and r.headers["Content-Type"] == f"image/{bucket}"
    # animations are never AVIF
    r = get(ngx, "/ta/80x,auto,anim/edge/animated/chi.gif", "image/avif,image/webp")
    assert r.headers["Content-Type"] == "image/webp" and b"ANMF" in r.content
