//go:build !thumbnail_pkgconfig

package thumbnail

// By default the package links the static library of a source checkout:
// run `cargo build --release` (or `make lib`) in the repository root first.
// The extra system libraries are what the Rust staticlib needs on
// Linux/glibc (`cargo rustc --release --lib --crate-type staticlib --
// --print native-static-libs`). Build with `-tags thumbnail_pkgconfig` to
// use an installed libthumbnail through pkg-config instead (link_pkgconfig.go).

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libthumbnail.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
