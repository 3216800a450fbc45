#!/usr/bin/env bash
# private_checkout.sh: the Lua-in-nginx suite from a checkout inside a folder
# only its owner may enter (mktemp -d makes it 0700), as a CI clone or a
# developer's private directory may be (issue 20, weakness 6).
#
#   tests/private_checkout.sh          (make test-private-checkout)
#
# Every harness that starts a server runs it as the invoking user, so the
# server can read the checkout wherever it lies. This copies what the suite
# reads (bindings/lua and the built library and CLI, a few MB) into
# $(mktemp -d)/repo and runs that copy's bindings/lua/t/nginx_test.sh and
# nginx_shared_test.py, whose ROOT is then the private folder. Started as root with `user nobody
# nogroup;` (as it was), every request failed there with "module 'thumbtest'
# not found". The folder is removed on exit.
set -eu

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${THUMBNAIL_SHARED:-$ROOT/../shared}
export THUMBNAIL_SHARED=$(cd "$SHARED" && pwd)

PRIVATE=$(mktemp -d)
trap 'rm -rf "$PRIVATE"' EXIT
chmod 0700 "$PRIVATE"
echo "# private checkout: $PRIVATE ($(stat -c '%a %U' "$PRIVATE"))"

mkdir -p "$PRIVATE/repo/target/release"
cp -a "$ROOT/bindings" "$PRIVATE/repo/"
cp -a "$ROOT/target/release/libthumbnail.so" "$ROOT/target/release/thumbnail" \
    "$PRIVATE/repo/target/release/"

bash "$PRIVATE/repo/bindings/lua/t/nginx_test.sh"
python3 "$PRIVATE/repo/bindings/lua/t/nginx_shared_test.py"
