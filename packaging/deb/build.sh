#!/usr/bin/env bash
# build.sh OUT_DIR: the Debian packages of a built tree (make deb runs it
# after building the library, the CLI and the nginx module), with
# dpkg-deb --build; no debhelper. Named and laid out as Debian's own:
#
#   libthumbnail$ABI             /usr/lib/$MA/libthumbnail.so.$ABI (SONAME)
#   libthumbnail-dev             header, .a, .so link, pkg-config file
#   thumbnail-tools              /usr/bin/thumbnail
#   libnginx-mod-http-thumbnail  /usr/lib/nginx/modules/ngx_http_thumbnail_module.so,
#                                /usr/share/nginx/modules-available/mod-http-thumbnail.conf,
#                                enabled as /etc/nginx/modules-enabled/50-mod-http-thumbnail.conf
#                                by its postinst, as dh_nginx does for Debian's modules
#   lua-resty-thumbnail          /usr/share/lua/5.1/resty/thumbnail{.lua,/cdefs.lua}
#
# $ABI is Cargo.toml's [package.metadata.capi] abi-version, $MA the
# multiarch triplet. The nginx module depends on the nginx-abi-* that the
# nginx it was built against provides (Debian's modules do the same).
# Environment (make deb sets them): DEB_VERSION, NGX_SO.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
cd "$ROOT"

ABI=$(sed -n '/^\[package.metadata.capi\]/,/^\[/s/^abi-version *= *\([0-9]*\).*/\1/p' Cargo.toml)
UPSTREAM=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
VERSION=${DEB_VERSION:-$UPSTREAM-1}
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
NGX_SO=${NGX_SO:-$ROOT/target/nginx/ngx_http_thumbnail_module.so}
NGX_ABI=$(dpkg-query -W -f='${Provides}\n' nginx | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' | head -n 1)
[ -n "$ABI" ] && [ -n "$NGX_ABI" ] || { echo "build.sh: no ABI version ($ABI) or nginx-abi ($NGX_ABI)" >&2; exit 1; }
RELEASE=$ROOT/target/release
for f in "$RELEASE/libthumbnail.so" "$RELEASE/libthumbnail.a" "$RELEASE/thumbnail" "$NGX_SO"; do
    [ -f "$f" ] || { echo "build.sh: $f missing (make deb builds it)" >&2; exit 1; }
done

LIBPKG=libthumbnail$ABI
WORK=$OUT/build
rm -rf "$WORK" "$OUT"/*.deb
mkdir -p "$WORK"
MAINTAINER="thumbnail maintainers <thumbnail@users.noreply.github.com>"
HOMEPAGE="https://github.com/thumbnail-rs/thumbnail"

# put PKG SRC DEST MODE: a file into a package's tree
put() {
    install -D -m "$4" "$2" "$WORK/$1/$3"
}

# shlibdeps PKG: the Depends of the package's ELF files, from dpkg-shlibdeps
shlibdeps() {
    local files tmp
    files=$(cd "$WORK/$1" && find . -type f \( -name '*.so*' -o -path './usr/bin/*' \) -printf '%P\n')
    [ -n "$files" ] || return 0
    tmp=$(mktemp -d)
    mkdir -p "$tmp/debian"
    printf 'Source: thumbnail\n\nPackage: %s\nArchitecture: any\n' "$1" > "$tmp/debian/control"
    (cd "$tmp" && for f in $files; do echo "-e$WORK/$1/$f"; done | xargs dpkg-shlibdeps -O 2>/dev/null) \
        | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$tmp"
}

# finish PKG ARCH SECTION DEPENDS DESCRIPTION [EXTRA-FIELDS]: docs, control,
# md5sums, then the .deb
finish() {
    local pkg=$1 arch=$2 section=$3 depends=$4 description=$5 extra=${6:-} size deb
    install -d "$WORK/$pkg/usr/share/doc/$pkg" "$WORK/$pkg/DEBIAN"
    {
        echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        echo "Upstream-Name: thumbnail"
        echo "Source: $HOMEPAGE"
        echo
        echo "Files: *"
        echo "License: MIT or Apache-2.0"
    } > "$WORK/$pkg/usr/share/doc/$pkg/copyright"
    printf 'thumbnail (%s) unstable; urgency=medium\n\n  * Built from the source tree (make deb).\n\n -- %s  %s\n' \
        "$VERSION" "$MAINTAINER" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
        | gzip -9n > "$WORK/$pkg/usr/share/doc/$pkg/changelog.Debian.gz"
    chmod 644 "$WORK/$pkg/usr/share/doc/$pkg/"*
    size=$(du -sk --exclude=DEBIAN "$WORK/$pkg" | cut -f1)
    {
        echo "Package: $pkg"
        echo "Source: thumbnail"
        echo "Version: $VERSION"
        echo "Architecture: $arch"
        echo "Maintainer: $MAINTAINER"
        echo "Installed-Size: $size"
        [ -n "$depends" ] && echo "Depends: $depends"
        [ -n "$extra" ] && printf '%s\n' "$extra"
        echo "Section: $section"
        echo "Priority: optional"
        echo "Homepage: $HOMEPAGE"
        printf 'Description: %s\n' "$description"
    } > "$WORK/$pkg/DEBIAN/control"
    (cd "$WORK/$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
        > "$WORK/$pkg/DEBIAN/md5sums"
    find "$WORK/$pkg" -type d -exec chmod 755 {} +
    deb=$OUT/${pkg}_${VERSION}_$arch.deb
    dpkg-deb --root-owner-group -Zxz --build "$WORK/$pkg" "$deb" >/dev/null
    echo "  $(basename "$deb")"
}

echo "build.sh: ABI $ABI, version $VERSION, $ARCH ($MA), $NGX_ABI -> $OUT"

# libthumbnailN: the shared library alone, named after its SONAME
put "$LIBPKG" "$RELEASE/libthumbnail.so" "usr/lib/$MA/libthumbnail.so.$ABI" 644
strip --strip-unneeded "$WORK/$LIBPKG/usr/lib/$MA/libthumbnail.so.$ABI"
install -d "$WORK/$LIBPKG/DEBIAN"
echo "libthumbnail $ABI $LIBPKG (>= $UPSTREAM)" > "$WORK/$LIBPKG/DEBIAN/shlibs"
echo "activate-noawait ldconfig" > "$WORK/$LIBPKG/DEBIAN/triggers"
finish "$LIBPKG" "$ARCH" libs "$(shlibdeps "$LIBPKG")" \
    "image thumbnails library (JPEG, PNG) with limits and a cache
 libthumbnail sniffs, limits, decodes, orients, resizes and encodes JPEG and
 PNG thumbnails, and keeps them in a sharded single-flight cache. This is the
 shared library of its C API (SONAME libthumbnail.so.$ABI)." \
    "Multi-Arch: same"

# libthumbnail-dev: what building against it needs
put libthumbnail-dev include/thumbnail.h usr/include/thumbnail.h 644
put libthumbnail-dev "$RELEASE/libthumbnail.a" "usr/lib/$MA/libthumbnail.a" 644
strip --strip-debug "$WORK/libthumbnail-dev/usr/lib/$MA/libthumbnail.a"
ln -s "libthumbnail.so.$ABI" "$WORK/libthumbnail-dev/usr/lib/$MA/libthumbnail.so"
install -d "$WORK/libthumbnail-dev/usr/lib/$MA/pkgconfig"
sed -e 's|@PREFIX@|/usr|g' -e "s|@VERSION@|$UPSTREAM|g" \
    -e 's|@LIBS_PRIVATE@|-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc|g' \
    -e "s|^libdir=.*|libdir=\${prefix}/lib/$MA|" \
    bindings/c/thumbnail.pc.in > "$WORK/libthumbnail-dev/usr/lib/$MA/pkgconfig/thumbnail.pc"
chmod 644 "$WORK/libthumbnail-dev/usr/lib/$MA/pkgconfig/thumbnail.pc"
finish libthumbnail-dev "$ARCH" libdevel "$LIBPKG (= $VERSION)" \
    "image thumbnails library (JPEG, PNG): development files
 The C header thumbnail.h, the static library, the libthumbnail.so link and
 thumbnail.pc for pkg-config (also what the Go bindings build with)." \
    "Multi-Arch: same"

# thumbnail-tools: the CLI (it links the library statically)
put thumbnail-tools "$RELEASE/thumbnail" usr/bin/thumbnail 755
strip --strip-unneeded "$WORK/thumbnail-tools/usr/bin/thumbnail"
finish thumbnail-tools "$ARCH" graphics "$(shlibdeps thumbnail-tools)" \
    "make thumbnails of JPEG and PNG images from the command line
 thumbnail works like vipsthumbnail: several files or directories, an output
 pattern, a box size, all cores; thumbnail --help."

# libnginx-mod-http-thumbnail: the module, enabled like Debian's modules
NGXPKG=libnginx-mod-http-thumbnail
put "$NGXPKG" "$NGX_SO" usr/lib/nginx/modules/ngx_http_thumbnail_module.so 644
install -d "$WORK/$NGXPKG/usr/share/nginx/modules-available"
echo "load_module modules/ngx_http_thumbnail_module.so;" \
    > "$WORK/$NGXPKG/usr/share/nginx/modules-available/mod-http-thumbnail.conf"
chmod 644 "$WORK/$NGXPKG/usr/share/nginx/modules-available/mod-http-thumbnail.conf"
for script in postinst prerm postrm; do
    install -D -m 755 "packaging/deb/nginx-module.$script" "$WORK/$NGXPKG/DEBIAN/$script"
done
NGX_DEPENDS=$(shlibdeps "$NGXPKG")
finish "$NGXPKG" "$ARCH" httpd "$NGX_ABI${NGX_DEPENDS:+, $NGX_DEPENDS}" \
    "image thumbnails for nginx (thumbnail on; thumbnail_spec ...)
 An nginx dynamic module that renders JPEG and PNG thumbnails of static or
 proxied images on a thread pool, with a shared cache and single-flight.
 It carries its own copy of libthumbnail. Enabled on install as
 /etc/nginx/modules-enabled/50-mod-http-thumbnail.conf." \
    "Recommends: nginx"

# lua-resty-thumbnail: the OpenResty / LuaJIT FFI bindings
LUAPKG=lua-resty-thumbnail
put "$LUAPKG" bindings/lua/lib/resty/thumbnail.lua usr/share/lua/5.1/resty/thumbnail.lua 644
put "$LUAPKG" bindings/lua/lib/resty/thumbnail/cdefs.lua usr/share/lua/5.1/resty/thumbnail/cdefs.lua 644
finish "$LUAPKG" all interpreters "$LIBPKG (>= $UPSTREAM)" \
    "image thumbnails for OpenResty and LuaJIT (resty.thumbnail)
 LuaJIT FFI bindings of libthumbnail: render, probe, and a shared cache,
 from lua-nginx-module or standalone LuaJIT." \
    "Recommends: libnginx-mod-http-lua | luajit"
