#!/usr/bin/env bash
# test.sh DEB_DIR CHROOT_TARBALL: the packages of make deb, as a Debian 12
# user meets them. In a fresh copy of a clean bookworm chroot
# (packaging/deb/chroot.sh makes it once and caches it as CHROOT_TARBALL):
#   1. apt-get install ./*.deb (the chroot has their Depends: nothing to fetch);
#   2. the module is enabled as Debian enables its modules
#      (/etc/nginx/modules-enabled/50-mod-http-thumbnail.conf), Debian's own
#      /etc/nginx/nginx.conf loads it, and a server in conf.d serves a
#      thumbnail on 127.0.0.1 (checked with the packaged CLI's --probe);
#   3. the CLI, resty.thumbnail under LuaJIT (found by SONAME) and
#      pkg-config work;
#   4. apt-get remove moves the module's link aside as Debian's modules do,
#      purge removes it, and no packaged file is left.
# The chroot is removed afterwards. Warm (chroot cached), the whole test
# takes 35 s (make deb-test, a 2-core VM); making the chroot once, about
# 2 minutes more.
#
# test.sh --smoke DEB_DIR: names, fields and files of the packages only
# (dpkg-deb, no install), for make test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SMOKE=0
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
DEBS=$(cd "$1" && pwd)
ABI=$(sed -n '/^\[package.metadata.capi\]/,/^\[/s/^abi-version *= *\([0-9]*\).*/\1/p' "$ROOT/Cargo.toml")
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }
check() { if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
has() { if grep -qE -- "$3" <<<"$2"; then ok "$1"; else fail "$1" "no /$3/ in: $2"; fi; }

deb() { ls "$DEBS"/"$1"_*.deb 2>/dev/null | head -n 1; }

# --- the packages as files ------------------------------------------------
for p in libthumbnail$ABI libthumbnail-dev thumbnail-tools libnginx-mod-http-thumbnail lua-resty-thumbnail; do
    [ -n "$(deb "$p")" ] && ok "package $p built" || fail "package $p built"
done
LIB=$(deb "libthumbnail$ABI"); DEV=$(deb libthumbnail-dev); NGX=$(deb libnginx-mod-http-thumbnail)
has "libthumbnail$ABI holds libthumbnail.so.$ABI" "$(dpkg-deb -c "$LIB")" "usr/lib/$MA/libthumbnail\.so\.$ABI$"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
dpkg-deb -x "$LIB" "$TMP/lib"
has "its SONAME" "$(readelf -d "$TMP/lib/usr/lib/$MA/libthumbnail.so.$ABI")" "SONAME.*\[libthumbnail\.so\.$ABI\]"
has "libthumbnail-dev: the .so link, header, pkg-config" "$(dpkg-deb -c "$DEV" | tr '\n' ' ')" \
    "usr/include/thumbnail\.h .*libthumbnail\.so -> libthumbnail\.so\.$ABI"
check "libthumbnail-dev depends on its library" "$(dpkg-deb -f "$DEV" Depends)" "libthumbnail$ABI (= $(dpkg-deb -f "$DEV" Version))"
NGX_ABI=$(dpkg-query -W -f='${Provides}\n' nginx | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' | head -n 1)
has "the module depends on Debian's nginx ABI ($NGX_ABI)" "$(dpkg-deb -f "$NGX" Depends)" "^$NGX_ABI(,|$)"
dpkg-deb -x "$NGX" "$TMP/ngx"
check "modules-available line" "$(cat "$TMP/ngx/usr/share/nginx/modules-available/mod-http-thumbnail.conf")" \
    "load_module modules/ngx_http_thumbnail_module.so;"
dpkg-deb -e "$NGX" "$TMP/ngx-control"
has "postinst enables 50-mod-http-thumbnail.conf" "$(cat "$TMP/ngx-control/postinst")" \
    "mod-http-thumbnail\.conf:50-mod-http-thumbnail\.conf"

if [ "$SMOKE" = 1 ]; then
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
    exit
fi

# --- installed in a clean bookworm ----------------------------------------
TARBALL=$2
bash "$ROOT/packaging/deb/chroot.sh" "$TARBALL"
RFS=$(mktemp -d "$(dirname "$TARBALL")/root.XXXXXX")
cleanup() {
    if [ -s "$RFS/run/nginx.pid" ]; then kill -TERM "$(cat "$RFS/run/nginx.pid")" 2>/dev/null || true; sleep 1; fi
    umount "$RFS/proc" 2>/dev/null || true
    rm -rf "$RFS" "$TMP"
}
trap cleanup EXIT
tar -C "$RFS" -xf "$TARBALL"
chmod 755 "$RFS" # mktemp -d made it 0700: it is the chroot's /, which nginx's www-data must enter
mount -t proc proc "$RFS/proc"
in_chroot() { chroot "$RFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
mkdir -p "$RFS/tmp/debs" "$RFS/srv/images"
cp "$DEBS"/*.deb "$RFS/tmp/debs/"
cp "$ROOT/samples/"*.jpg "$RFS/srv/images/" 2>/dev/null || true
IMAGE=$(basename "$(ls "$RFS/srv/images/"*.jpg | head -n 1)")

if in_chroot sh -c 'cd /tmp/debs && apt-get install -y -q ./*.deb' > "$TMP/apt-install.log" 2>&1; then
    ok "apt-get install ./*.deb in a clean Debian 12"
else
    fail "apt-get install ./*.deb" "$(tail -5 "$TMP/apt-install.log")"
fi
check "modules-enabled link, as Debian's modules" "$(readlink "$RFS/etc/nginx/modules-enabled/50-mod-http-thumbnail.conf")" \
    /usr/share/nginx/modules-available/mod-http-thumbnail.conf

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$RFS/etc/nginx/conf.d/thumbnail-test.conf" <<EOF
server {
    listen 127.0.0.1:$PORT;
    location ~ ^/t/(?<spec>[^/]+)/(?<file>[^/]+)\$ {
        alias /srv/images/\$file;
        thumbnail on;
        thumbnail_spec \$spec;
    }
}
EOF
if in_chroot nginx -t -q > "$TMP/nginx-t.log" 2>&1; then ok "Debian's nginx.conf loads the module (nginx -t)";
else fail "nginx -t" "$(cat "$TMP/nginx-t.log")"; fi
in_chroot nginx || fail "nginx starts"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
CODE=$(curl -s --max-time 30 -o "$RFS/tmp/thumb.jpg" -w '%{http_code} %{content_type}' "http://127.0.0.1:$PORT/t/200x200,cover/$IMAGE" || true)
check "a thumbnail served by Debian's nginx" "$CODE" "200 image/jpeg"
has "its size (the packaged CLI's --probe)" "$(in_chroot thumbnail --probe /tmp/thumb.jpg 2>&1 || true)" '"width":200,"height":200'
check "a bad spec: 400" "$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' "http://127.0.0.1:$PORT/t/0x0/$IMAGE" || true)" 400
in_chroot nginx -s quit 2>/dev/null || true
for _ in $(seq 1 100); do [ -s "$RFS/run/nginx.pid" ] || break; sleep 0.1; done
BAD=$(grep -E '\[(alert|emerg|crit)\]' "$RFS/var/log/nginx/error.log" || true)
check "error.log: no alert/emerg/crit" "$BAD" ""

has "thumbnail --version" "$(in_chroot thumbnail --version 2>&1 || true)" "^thumbnail .* \(libthumbnail ABI $ABI\)$"
in_chroot thumbnail -q -s 64 -o '/tmp/%s.png' "/srv/images/$IMAGE" && ok "thumbnail renders a file" || fail "thumbnail renders a file"
LUA=$(in_chroot luajit -e "local t = require 'resty.thumbnail'
local f = assert(io.open('/srv/images/$IMAGE', 'rb'))
local d, i = t.render(f:read('*a'), '40x40,png')
print(d and (i.width .. 'x' .. i.height .. ' ' .. i.media_type) or i, t.library_path)" 2>&1 || true)
has "resty.thumbnail under LuaJIT, by SONAME" "$LUA" "^40x[0-9]+ image/png	libthumbnail\.so\.$ABI \(system library path\)$"
check "pkg-config --libs thumbnail" "$(in_chroot pkg-config --libs thumbnail 2>&1 | xargs || true)" "-lthumbnail"

in_chroot apt-get remove -y -q libnginx-mod-http-thumbnail > "$TMP/apt-remove.log" 2>&1 || fail "apt-get remove"
[ -L "$RFS/etc/nginx/modules-enabled/50-mod-http-thumbnail.conf.removed" ] \
    && [ ! -e "$RFS/etc/nginx/modules-enabled/50-mod-http-thumbnail.conf" ] \
    && ok "remove: the link moved aside (.removed), as Debian's modules" || fail "remove: the link moved aside"
in_chroot apt-get purge -y -q libnginx-mod-http-thumbnail libthumbnail-dev thumbnail-tools lua-resty-thumbnail \
    "libthumbnail$ABI" > "$TMP/apt-purge.log" 2>&1 || fail "apt-get purge"
LEFT=$(cd "$RFS" && ls -d etc/nginx/modules-enabled/*thumbnail* usr/lib/nginx/modules/*thumbnail* usr/bin/thumbnail \
    usr/lib/"$MA"/libthumbnail* usr/include/thumbnail.h usr/share/lua/5.1/resty/thumbnail* 2>/dev/null || true)
check "purge: nothing left" "$LEFT" ""

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
