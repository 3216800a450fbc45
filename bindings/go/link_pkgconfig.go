//go:build !thumbnail_static

package thumbnail

// By default the package takes its compiler and linker flags from
// pkg-config's thumbnail.pc, as installed by `make install` or Debian's
// libthumbnail-dev, and links the shared libthumbnail.so.N. Set
// PKG_CONFIG_PATH if the prefix is not one pkg-config searches. Inside a
// source checkout, `-tags thumbnail_static` links the checkout's static
// library instead (link_static.go).

// #cgo pkg-config: thumbnail
import "C"
