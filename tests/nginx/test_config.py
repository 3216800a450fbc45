"""Configuration: bad specs are refused at load time with a clear message;
the module also works without a cache."""

import pytest

from conftest import Nginx, assert_refused, image_info, nginx_t, nginx_t_location


@pytest.mark.parametrize("location,message", [
    ("thumbnail on; thumbnail_spec 200x200,bogus;",
     'invalid thumbnail_spec "200x200,bogus": invalid-spec'),
    ("thumbnail on; thumbnail_spec $arg_s; thumbnail_allowed_specs 100x100 wide;",
     'invalid spec "wide" in thumbnail_allowed_specs'),
    ("thumbnail on; thumbnail_spec 300x300; thumbnail_allowed_specs 100x100;",
     'thumbnail_spec "300x300" is not in thumbnail_allowed_specs'),
    ("thumbnail on;", '"thumbnail on" needs "thumbnail_spec"'),
    ("thumbnail on; thumbnail_spec 10x10; thumbnail_max_output 0;",
     "thumbnail_max_output must be"),
])
def test_bad_config_rejected(tmp_path, location, message):
    out = nginx_t_location(tmp_path, location)
    assert_refused(out, message)
    assert "[emerg]" in out.stderr, out.stderr


def test_good_config_accepted(tmp_path):
    out = nginx_t_location(tmp_path, "thumbnail on; thumbnail_spec $arg_s; "
                                     "thumbnail_allowed_specs 100x100 200x200,q80,cover 50x;")
    assert out.returncode == 0, out.stderr


def test_cache_directive_rejected(tmp_path):
    assert_refused(nginx_t(tmp_path, "thumbnail_cache shards=4;"), 'needs "size="')


NO_CACHE = r"""
    server {{
        listen 127.0.0.1:{PORT};
        location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {CORPUS}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location = /stats {{ thumbnail_stats; }}
    }}
"""


def test_without_cache(tmp_path):
    n = Nginx(tmp_path, 1, NO_CACHE, "nocache")
    n.start()
    try:
        for _ in range(2):
            r = n.get("/t/100x100/photos/rocket.jpg")
            assert r.status_code == 200
            assert image_info(r.content) == ("jpeg", 100, 67)
        st = n.stats()
        assert st["totals"]["cache"] is False
        assert st["totals"]["renders"] == 2
        assert st["totals"]["gets"] == 0
    finally:
        n.stop()
