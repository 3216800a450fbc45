//go:build thumbnail_pkgconfig

package thumbnail

// With `-tags thumbnail_pkgconfig` the package takes its compiler and linker
// flags from pkg-config's thumbnail.pc (installed by `make install`), which
// links the shared libthumbnail.so.1. Set PKG_CONFIG_PATH if the prefix is
// not one pkg-config searches.

// #cgo pkg-config: thumbnail
import "C"
