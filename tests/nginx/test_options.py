"""thumbnail_quality (issue 18): a location's default JPEG quality that a
URL's own qN overrides (with `thumbnail_spec $spec,q85;` a URL's qN is an
error: quality given more than once)."""

import subprocess

import pytest

from conftest import MODULE, NGINX, NGINX_ENV, Nginx

BODY = r"""
    thumbnail_cache size=16m;
    server {{
        listen 127.0.0.1:{PORT};
        location ~ ^/q/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_quality 30;
        }}
        location ~ ^/d/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location ~ ^/a/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_allowed_specs 200x200,jpeg;
            thumbnail_quality 30;
        }}
    }}
"""

PHOTO = "photos/kodak/kodim01.png"


@pytest.fixture(scope="module")
def ngx(tmp_path_factory):
    n = Nginx(tmp_path_factory.mktemp("options"), 1, BODY, "options")
    n.start()
    yield n
    n.stop()
    assert not n.crashes(), n.crashes()


def body(ngx, path):
    r = ngx.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    assert r.headers["Content-Type"] == "image/jpeg"
    return r


def test_location_quality_applies_unless_the_url_names_one(ngx):
    low = body(ngx, f"/q/200x200,jpeg/{PHOTO}")            # q30 from the location
    default = body(ngx, f"/d/200x200,jpeg/{PHOTO}")        # the library's q80
    same_as_low = body(ngx, f"/d/200x200,jpeg,q30/{PHOTO}")
    url_wins = body(ngx, f"/q/200x200,jpeg,q80/{PHOTO}")   # the URL's qN overrides
    assert low.content == same_as_low.content
    assert url_wins.content == default.content
    assert len(low.content) < len(default.content) * 0.8, (len(low.content), len(default.content))
    # the rendered spec is the key: q30 and q80 are two thumbnails
    assert low.headers["ETag"] != url_wins.headers["ETag"]


def test_allow_list_sees_the_urls_spec(ngx):
    body(ngx, f"/a/200x200,jpeg/{PHOTO}")
    assert ngx.get(f"/a/200x200,jpeg,q30/{PHOTO}").status_code == 400


def test_bad_quality_fails_nginx_t(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"load_module {MODULE};\nerror_log stderr;\npid {tmp_path}/pid;\nevents {{}}\n"
                    "http { server { location / { thumbnail_quality 101; } } }\n")
    out = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True,
                         text=True, timeout=30, env=NGINX_ENV)
    assert out.returncode != 0 and "thumbnail_quality must be 1..100" in out.stderr, out.stderr
