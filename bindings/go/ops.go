package thumbnail

/*
#include <stdint.h>
#include <stdlib.h>
#include "thumbnail.h"

// The options struct is built here, on the C stack, so that no Go memory
// holding pointers is handed to C (cgo's rules).
static thumbnail_status thumbnail_go_render_ex(const uint8_t *src, size_t src_len,
		const char *spec, size_t spec_len, const thumbnail_limits *limits,
		const thumbnail_overlay *overlay, thumbnail_image **out, char *err, size_t err_len) {
	thumbnail_render_options o = thumbnail_render_options_default();
	o.limits = limits;
	o.overlay = overlay;
	return thumbnail_render_ex(src, src_len, spec, spec_len, &o, out, err, err_len);
}

// One key/salt pair, copied into C memory by the caller.
static void thumbnail_go_set_key(thumbnail_sign_key *keys, size_t i, const char *key,
		size_t key_len, const char *salt, size_t salt_len) {
	keys[i].key_hex = key;
	keys[i].key_hex_len = key_len;
	keys[i].salt_hex = salt;
	keys[i].salt_hex_len = salt_len;
}
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Overlay is a watermark decoded once and composited onto renders given
// WithOverlay. It is safe for concurrent use; call Close when done (a
// finalizer frees a forgotten one). Close waits for renders using it.
type Overlay struct {
	mu  sync.RWMutex // read-held by every call using ptr
	ptr *C.thumbnail_overlay
	id  string
}

// NewOverlay decodes image (a PNG with alpha, typically; any format Render
// reads, at most 16 megapixels) and parses options, the nginx directive's
// syntax: "gravity=southeast margin=8 opacity=0.6 scale=0.2 apply=always",
// every option optional (see the C header's thumbnail_overlay_new). A bad
// image is ErrUnsupported, ErrCorrupt or ErrTooLarge; bad options
// ErrInvalidSpec.
func NewOverlay(image []byte, options string) (*Overlay, error) {
	optPtr, optLen, optBuf := text(options)
	var p *C.thumbnail_overlay
	var eb errBuf
	st := C.thumbnail_overlay_new(bytesPtr(image), C.size_t(len(image)), optPtr, optLen, &p, eb.ptr(), eb.len())
	runtime.KeepAlive(image)
	runtime.KeepAlive(optBuf)
	if st != C.THUMBNAIL_STATUS_OK {
		return nil, newError(st, &eb)
	}
	o := &Overlay{ptr: p, id: C.GoString(C.thumbnail_overlay_id(p))}
	runtime.SetFinalizer(o, (*Overlay).Close)
	return o, nil
}

// ID returns 16 hex digits naming the overlay's image and options. Cache
// keys of watermarked renders must include it (e.g. key + "|wm=" + ID()):
// the cache does not look at the overlay, so another overlay under the
// same key would be served the old thumbnails.
func (o *Overlay) ID() string { return o.id }

// Close frees the overlay after the renders using it have finished.
// Renders given a closed overlay fail with ErrInvalidArgument. Close is
// idempotent and always returns nil.
func (o *Overlay) Close() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	p := o.ptr
	o.ptr = nil
	o.mu.Unlock()
	if p != nil {
		C.thumbnail_overlay_free(p)
		runtime.SetFinalizer(o, nil)
	}
	return nil
}

// WithOverlay composites overlay onto the thumbnail (Render and
// Cache.GetOrRender): always, or only for specs with the "wm" option if
// the overlay was made with "apply=wm". A spec with "wm" and no overlay is
// ErrInvalidSpec.
func WithOverlay(overlay *Overlay) Option {
	return func(o *options) { o.overlay = overlay }
}

// overlayOf returns the overlay opts ask for, or nil.
func overlayOf(opts []Option) *Overlay {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o.overlay
}

var errOverlayClosed = &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: overlay is closed"}

// renderEx is Render with an overlay.
func renderEx(src []byte, spec string, limits *C.thumbnail_limits, ov *Overlay) (*Image, error) {
	ov.mu.RLock()
	defer ov.mu.RUnlock()
	if ov.ptr == nil {
		return nil, errOverlayClosed
	}
	specPtr, specLen, specBuf := text(spec)
	var out *C.thumbnail_image
	var eb errBuf
	st := C.thumbnail_go_render_ex(bytesPtr(src), C.size_t(len(src)), specPtr, specLen, limits, ov.ptr,
		&out, eb.ptr(), eb.len())
	runtime.KeepAlive(src)
	runtime.KeepAlive(specBuf)
	runtime.KeepAlive(limits)
	if st != C.THUMBNAIL_STATUS_OK {
		C.thumbnail_image_free(out)
		return nil, newError(st, &eb)
	}
	return takeImage(out), nil
}

// SignKey is one key/salt pair of a Signer, both in hex.
type SignKey struct {
	Key, Salt string
}

// SignatureMax is the longest signature plus one (the C buffer size).
const SignatureMax = C.THUMBNAIL_SIGNATURE_MAX

// Signer signs and verifies URL paths as imgproxy does: the unpadded
// base64url of HMAC-SHA256(key, salt + path), truncated to Size bytes. Safe
// for concurrent use; Close frees it (a finalizer frees a forgotten one).
type Signer struct {
	mu  sync.RWMutex
	ptr *C.thumbnail_signer
}

// NewSigner makes a signer from key/salt pairs in hex: Sign uses the
// first, Verify accepts any (key rotation). size is the signature's length
// in bytes before base64url, 1..32, 0 meaning 32. Bad keys or sizes are
// ErrInvalidArgument.
func NewSigner(keys []SignKey, size int) (*Signer, error) {
	if size < 0 || size > 32 {
		return nil, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: signature size must be 0..32"}
	}
	n := len(keys)
	var arr *C.thumbnail_sign_key
	var strs []unsafe.Pointer
	defer func() {
		for _, p := range strs {
			C.free(p)
		}
		if arr != nil {
			C.free(unsafe.Pointer(arr))
		}
	}()
	if n > 0 {
		arr = (*C.thumbnail_sign_key)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.thumbnail_sign_key{}))))
		for i, k := range keys {
			key, salt := C.CString(k.Key), C.CString(k.Salt)
			strs = append(strs, unsafe.Pointer(key), unsafe.Pointer(salt))
			C.thumbnail_go_set_key(arr, C.size_t(i), key, C.size_t(len(k.Key)), salt, C.size_t(len(k.Salt)))
		}
	}
	var p *C.thumbnail_signer
	var eb errBuf
	if st := C.thumbnail_signer_new(arr, C.size_t(n), C.uint32_t(size), &p, eb.ptr(), eb.len()); st != C.THUMBNAIL_STATUS_OK {
		return nil, newError(st, &eb)
	}
	s := &Signer{ptr: p}
	runtime.SetFinalizer(s, (*Signer).Close)
	return s, nil
}

// Close frees the signer; later calls sign "" and verify nothing. Close is
// idempotent and always returns nil.
func (s *Signer) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	p := s.ptr
	s.ptr = nil
	s.mu.Unlock()
	if p != nil {
		C.thumbnail_signer_free(p)
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Sign returns the signature of path (everything after the signature in
// the URL, leading "/" included), or "" after Close.
func (s *Signer) Sign(path string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return ""
	}
	pathPtr, pathLen, pathBuf := text(path)
	var out [SignatureMax]byte
	var written C.size_t
	st := C.thumbnail_signer_sign(s.ptr, pathPtr, pathLen, (*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &written, nil, 0)
	runtime.KeepAlive(pathBuf)
	if st != C.THUMBNAIL_STATUS_OK {
		return ""
	}
	return string(out[:written])
}

// Verify reports whether sig is a valid signature of path under any pair
// and path's "exp=UNIX" token, if any, has not passed. Constant-time.
func (s *Signer) Verify(path, sig string) bool {
	return s.verify(path, sig, nil)
}

// VerifyAt is Verify at the time now instead of the clock.
func (s *Signer) VerifyAt(path, sig string, now time.Time) bool {
	return s.verify(path, sig, &now)
}

func (s *Signer) verify(path, sig string, now *time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return false
	}
	pathPtr, pathLen, pathBuf := text(path)
	sigPtr, sigLen, sigBuf := text(sig)
	var ok C.bool
	if now == nil {
		ok = C.thumbnail_signer_verify(s.ptr, pathPtr, pathLen, sigPtr, sigLen)
	} else {
		secs := now.Unix()
		if secs < 0 {
			secs = 0
		}
		ok = C.thumbnail_signer_verify_at(s.ptr, pathPtr, pathLen, sigPtr, sigLen, C.uint64_t(secs))
	}
	runtime.KeepAlive(pathBuf)
	runtime.KeepAlive(sigBuf)
	return bool(ok)
}
