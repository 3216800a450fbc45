#!/usr/bin/env bash
# chroot.sh TARBALL: a clean Debian 12 (bookworm) for packaging/deb/test.sh,
# made once with debootstrap (minbase, plus what the test uses: nginx,
# luajit, curl, pkg-config) and kept as TARBALL (under target/, so the next
# run unpacks it instead of downloading again). The mirror is the one this
# machine's apt uses.
set -euo pipefail
TARBALL=$1
[ -s "$TARBALL" ] && exit 0
command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q debootstrap >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
}
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
DIR=$(mktemp -d "$(dirname "$TARBALL")/chroot.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
echo "chroot.sh: debootstrap bookworm from $MIRROR (once; cached as $TARBALL)"
debootstrap --variant=minbase --include=nginx,luajit,curl,pkg-config bookworm "$DIR" "$MIRROR" \
    > "$TARBALL.log" 2>&1 || { tail -20 "$TARBALL.log"; exit 1; }
# no service starts inside the chroot (nginx's postinst would try)
printf '#!/bin/sh\nexit 101\n' > "$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
rm -f "$DIR/etc/nginx/sites-enabled/default"
chroot "$DIR" apt-get clean
tar -C "$DIR" -cf "$TARBALL.tmp" .
mv "$TARBALL.tmp" "$TARBALL"
echo "chroot.sh: $(du -h "$TARBALL" | cut -f1) in $TARBALL"
