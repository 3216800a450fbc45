//go:build thumbnail_static

package thumbnail

// With `-tags thumbnail_static` the package links the static library of
// the source checkout it sits in: run `make lib` (or `cargo build
// --release`) in the repository root first. The extra system libraries are
// what the Rust staticlib needs on Linux/glibc (`cargo rustc --release
// --lib --crate-type staticlib -- --print native-static-libs`). This is for
// developing the bindings; the default (link_pkgconfig.go) uses an
// installed library through pkg-config.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libthumbnail.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
