// Package thumbnail renders JPEG and PNG thumbnails with libthumbnail, the
// project's Rust library, through its C API (cgo).
//
// Render makes one thumbnail from encoded bytes and a spec such as
// "200x200", "400x300,cover,q85" or "x100,png"; Probe reads an image header;
// Canonical normalises a spec for use in cache keys. Cache is a shared,
// byte-bounded, sharded cache (S3-FIFO eviction) with single-flight:
// GetOrRender calls its load function only when the key is missing and no
// other goroutine is already loading it.
//
// Every result is Go memory: the library's buffers are copied and freed
// before a call returns, and no state is shared between calls except a
// Cache. Errors are *Error values that match the sentinels (ErrInvalidSpec,
// ErrUnsupported, ErrCorrupt, ErrTooLarge, ...) with errors.Is.
//
// By default the package links an installed libthumbnail found by
// pkg-config (`make install`, or Debian's libthumbnail-dev); inside a
// source checkout, `-tags thumbnail_static` links the checkout's
// target/release/libthumbnail.a instead. See README.md.
package thumbnail
