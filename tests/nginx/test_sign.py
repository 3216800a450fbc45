"""Signed URLs in nginx (thumbnail_sign_key, thumbnail_sign_size,
thumbnail_signature): imgproxy's scheme, computed here with Python's hmac
as an independent reference; a bad, missing, tampered or expired signature
is 403 before any source is read (the origin's access log is unchanged);
key rotation; truncated signatures; bad keys fail `nginx -t`."""

import base64
import hashlib
import hmac
import subprocess
import time

import pytest
import requests

from conftest import CORPUS, MODULE, NGINX, NGINX_ENV, TIMEOUT, _instance, _stop_checked, image_info

KEY, SALT = "736563726574", "68656C6C6F"     # imgproxy's docs: "secret", "hello"
OLD_KEY, OLD_SALT = "00ff00ff", "0102"

SIGNED = """
    server {{
        listen 127.0.0.1:{PORT};
        # /s/SIG/SPEC/FILE: SIG signs /SPEC/FILE (imgproxy's layout)
        location ~ ^/s/(?<sig>[^/]+)(?<signed>/(?<spec>[^/]+)/.+)$ {{
            rewrite ^/s/[^/]+/[^/]+/(.*)$ /corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_sign_key 736563726574 68656C6C6F;
            thumbnail_sign_key 00ff00ff 0102;
            thumbnail_signature $sig $signed;
        }}
        # /q/SPEC/FILE?sig=SIG: SIG (8 bytes) signs the path as sent
        location ~ ^/q/(?<spec>[^/]+)/ {{
            rewrite ^/q/[^/]+/(.*)$ /corpus/$1 break;
            proxy_pass http://127.0.0.1:{ORIGIN};
            thumbnail on;
            thumbnail_spec $spec;
            thumbnail_sign_key 736563726574 68656C6C6F;
            thumbnail_sign_size 8;
            thumbnail_signature $arg_sig;
        }}
    }}
"""


def sign(path, key=KEY, salt=SALT, size=32):
    mac = hmac.new(bytes.fromhex(key), bytes.fromhex(salt) + path.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:size]).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def ngx_sign(tmp_path_factory):
    n = _instance(tmp_path_factory, "sign", 1, SIGNED)
    yield n
    _stop_checked(n)


def get(ngx, path):
    return requests.get(ngx.url(path), timeout=TIMEOUT)


def test_imgproxy_vector_matches_the_reference():
    path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
    assert sign(path) == "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"


def test_signed_urls_render_and_bad_ones_are_403_without_a_source_read(ngx_sign):
    signed = "/120x80,cover/photos/rocket.jpg"
    good = get(ngx_sign, f"/s/{sign(signed)}{signed}")
    assert good.status_code == 200, good.text
    assert image_info(good.content)[1:] == (120, 80)
    reads = ngx_sign.origin_requests("rocket.jpg")
    assert reads == 1

    other = "/120x80,cover/photos/kodak/kodim01.png"
    expired = "/120x80,cover,exp=1000000000/photos/rocket.jpg"
    for url in [
        f"/s/{sign(signed)}/121x80,cover/photos/rocket.jpg",      # tampered spec
        f"/s/{sign(signed)}/120x80,cover/photos/kodak/kodim01.png",  # tampered path
        f"/s/{sign(signed)[:-1]}A{signed}" if not sign(signed).endswith("A") else f"/s/B{signed}",
        f"/s/x{signed}",                                            # garbage
        f"/s/{sign(signed, size=8)}{signed}",                       # truncated, not accepted here
        f"/s/{sign(expired)}{expired}",                             # expired (2001)
        f"/s/{sign(other, key='11', salt='22')}{other}",            # unknown key
    ]:
        r = get(ngx_sign, url)
        assert r.status_code == 403, (url, r.status_code)
    # No 403 read a source: the origin saw only the one signed request.
    assert ngx_sign.origin_requests("rocket.jpg") == reads
    assert ngx_sign.origin_requests("kodim01") == 0


def test_rotation_and_a_future_expiry(ngx_sign):
    path = "/90x60/photos/kodak/kodim01.png"
    r = get(ngx_sign, f"/s/{sign(path, OLD_KEY, OLD_SALT)}{path}")
    assert r.status_code == 200, "the second configured pair still verifies"
    future = f"/90x60,exp={int(time.time()) + 3600}/photos/kodak/kodim01.png"
    r = get(ngx_sign, f"/s/{sign(future)}{future}")
    assert r.status_code == 200, r.text
    assert image_info(r.content)[1:] == (90, 60)


def test_signature_in_the_query_truncated_to_8_bytes(ngx_sign):
    uri = "/q/100x/photos/rocket.jpg"
    r = get(ngx_sign, f"{uri}?sig={sign(uri, size=8)}")
    assert r.status_code == 200, r.text
    assert image_info(r.content)[1] == 100
    before = ngx_sign.origin_requests("rocket.jpg")
    assert get(ngx_sign, uri).status_code == 403, "missing signature"
    assert get(ngx_sign, f"{uri}?sig={sign(uri)}").status_code == 403, "full-length signature"
    assert ngx_sign.origin_requests("rocket.jpg") == before


def nginx_t(tmp_path, location):
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
            {location}
        }}
    }}
}}
""")
    return subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30, env=NGINX_ENV)


@pytest.mark.parametrize("location,message", [
    ("thumbnail_sign_key abc 00; thumbnail_signature $arg_s;",
     "invalid thumbnail_sign_key: invalid-argument: signing key 1 is not hex"),
    ("thumbnail_sign_key 00 00; thumbnail_sign_key 00 zz; thumbnail_signature $arg_s;",
     "signing salt 2 is not hex"),
    ("thumbnail_sign_key 00 00; thumbnail_sign_size 33; thumbnail_signature $arg_s;",
     "thumbnail_sign_size must be 1..32"),
    ("thumbnail_signature $arg_s;", '"thumbnail_signature" needs "thumbnail_sign_key"'),
    ("thumbnail_sign_key 00 00;", '"thumbnail_sign_key" needs "thumbnail_signature"'),
])
def test_bad_signing_config_fails_nginx_t(tmp_path, location, message):
    out = nginx_t(tmp_path, location)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
