"""thumbnail_watermark: the overlay is decoded at load time (a bad file
fails `nginx -t`), composited onto every thumbnail of the location or,
with apply=wm, only onto specs with `wm`; the overlay is part of the cache
key."""

import subprocess

import pytest
import requests

from conftest import CORPUS, MODULE, NGINX, NGINX_ENV, TIMEOUT, _instance, _stop_checked, png_pixels

LOGO = "edge/png-alpha/rgb_trns.png"

MARKED = """
    server {{
        listen 127.0.0.1:{PORT};
        location ~ ^/plain/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/always/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_watermark {CORPUS}/edge/png-alpha/rgb_trns.png gravity=northwest margin=0 scale=0.25;
        }}
        location ~ ^/bywm/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_watermark {CORPUS}/edge/png-alpha/rgb_trns.png gravity=northwest scale=0.25 apply=wm;
        }}
    }}
"""


@pytest.fixture(scope="module")
def ngx_wm(tmp_path_factory):
    n = _instance(tmp_path_factory, "wm", 1, MARKED)
    yield n
    _stop_checked(n)


def pixels(ngx, path):
    r = requests.get(ngx.url(path), timeout=TIMEOUT)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return png_pixels(r.content)


def region_diff(a, b, x0, x1, y0, y1):
    _, _, ch, rows_a = a
    _, _, _, rows_b = b
    return sum(abs(rows_a[y][x] - rows_b[y][x]) for y in range(y0, y1) for x in range(x0 * ch, x1 * ch))


def test_watermark_in_the_corner_only(ngx_wm):
    plain = pixels(ngx_wm, "/plain/200x,png/photos/rocket.jpg")
    marked = pixels(ngx_wm, "/always/200x,png/photos/rocket.jpg")
    w, h = plain[0], plain[1]
    assert (marked[0], marked[1]) == (w, h)
    # scale=0.25: a 50x50 logo at the top-left corner.
    assert region_diff(plain, marked, 0, 50, 0, 50) > 0
    assert region_diff(plain, marked, 50, w, 0, h) == 0
    assert region_diff(plain, marked, 0, w, 50, h) == 0


def test_apply_wm_marks_only_specs_with_wm(ngx_wm):
    plain = pixels(ngx_wm, "/plain/200x,png/photos/rocket.jpg")
    assert pixels(ngx_wm, "/bywm/200x,png/photos/rocket.jpg")[3] == plain[3]
    marked = pixels(ngx_wm, "/bywm/200x,png,wm/photos/rocket.jpg")
    assert region_diff(plain, marked, 0, 50, 0, 50) > 0
    r = requests.get(ngx_wm.url("/plain/200x,png,wm/photos/rocket.jpg"), timeout=TIMEOUT)
    assert r.status_code == 400, "wm without a watermark"


def nginx_t(tmp_path, directive):
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
load_module {MODULE};
error_log stderr;
pid {tmp_path}/nginx.pid;
events {{}}
http {{
    server {{
        listen 127.0.0.1:1;
        location /x/ {{
            alias {CORPUS}/;
            thumbnail on;
            thumbnail_spec 10x10;
            {directive}
        }}
    }}
}}
""")
    return subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30, env=NGINX_ENV)


@pytest.mark.parametrize("directive,message", [
    (f"thumbnail_watermark {CORPUS}/nope.png;", "thumbnail_watermark: cannot open"),
    (f"thumbnail_watermark {CORPUS}/MANIFEST.tsv;", "unsupported"),
    (f"thumbnail_watermark {CORPUS}/{LOGO} opacity=2;", "watermark option 'opacity=2'"),
    (f"thumbnail_watermark {CORPUS}/{LOGO} gravity=up;", "unknown gravity"),
])
def test_bad_watermark_fails_nginx_t(tmp_path, directive, message):
    out = nginx_t(tmp_path, directive)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_good_watermark_passes_nginx_t(tmp_path):
    out = nginx_t(tmp_path, f"thumbnail_watermark {CORPUS}/{LOGO} gravity=southeast margin=8 opacity=0.6 scale=0.2;")
    assert out.returncode == 0, out.stderr
