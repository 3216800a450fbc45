package thumbnail

// #include <stdlib.h>
// #include "thumbnail.h"
import "C"

import (
	"math"
	"runtime"
	"unsafe"
)

// ABIVersion is the ABI version of the C API this package is written for
// (the header's THUMBNAIL_ABI_VERSION); LibraryABIVersion returns the
// linked library's.
const ABIVersion = 1

// The package does not compile against a header of another ABI version.
const (
	_ = uint(ABIVersion - C.THUMBNAIL_ABI_VERSION)
	_ = uint(C.THUMBNAIL_ABI_VERSION - ABIVersion)
)

// Version returns the linked library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.thumbnail_version()) }

// LibraryABIVersion returns the linked library's ABI version, equal to
// ABIVersion when header and library match.
func LibraryABIVersion() int { return int(C.thumbnail_abi_version()) }

// Format is an image format.
type Format int

// The image formats.
const (
	FormatUnknown Format = C.THUMBNAIL_FORMAT_UNKNOWN
	FormatJPEG    Format = C.THUMBNAIL_FORMAT_JPEG
	FormatPNG     Format = C.THUMBNAIL_FORMAT_PNG
	// FormatWebP is read and written.
	FormatWebP Format = C.THUMBNAIL_FORMAT_WEBP
	// FormatGIF is read only.
	FormatGIF Format = C.THUMBNAIL_FORMAT_GIF
	// FormatAVIF is written only, by a library built with the avif feature.
	FormatAVIF Format = C.THUMBNAIL_FORMAT_AVIF
)

// String returns "jpeg", "png", "webp", "gif", "avif" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatJPEG:
		return "jpeg"
	case FormatPNG:
		return "png"
	case FormatWebP:
		return "webp"
	case FormatGIF:
		return "gif"
	case FormatAVIF:
		return "avif"
	default:
		return "unknown"
	}
}

// MediaType returns "image/jpeg", "image/png", "image/webp", "image/gif",
// "image/avif", or "" for FormatUnknown.
func (f Format) MediaType() string {
	if f.String() == "unknown" {
		return ""
	}
	return "image/" + f.String()
}

// Image is a rendered thumbnail. Its Data is ordinary Go memory (a copy of
// the library's bytes), owned by the caller.
type Image struct {
	// Data is the encoded image: a complete JPEG, PNG, WebP or AVIF file.
	Data []byte
	// MediaType is "image/jpeg", "image/png", "image/webp" or "image/avif",
	// for Content-Type.
	MediaType string
	// Width and Height are the thumbnail's size in pixels.
	Width, Height int
	// Format is FormatJPEG, FormatPNG, FormatWebP or FormatAVIF.
	Format Format
}

// Info is what an image header says (Probe).
type Info struct {
	// Format is FormatJPEG or FormatPNG.
	Format Format
	// Width and Height are the size as stored, before EXIF orientation.
	Width, Height int
	// Orientation is the EXIF orientation 1..8 (1 when absent or invalid).
	Orientation int
	// HasAlpha reports whether the decoded pixels carry an alpha channel.
	HasAlpha bool
	// Progressive reports a progressive JPEG, which costs several times a
	// baseline decode of the same size.
	Progressive bool
}

// DisplaySize returns the size as displayed: Width and Height swapped for
// orientations 5 to 8.
func (i Info) DisplaySize() (width, height int) {
	if i.Orientation >= 5 && i.Orientation <= 8 {
		return i.Height, i.Width
	}
	return i.Width, i.Height
}

// Limits bounds the resources of one render; exceeding one gives
// ErrTooLarge. They are checked from the image header before any pixel
// memory is allocated. A zero field means the library's default (see
// DefaultLimits); a negative one is ErrInvalidArgument.
type Limits struct {
	// MaxSourceBytes is the largest accepted source in bytes (default 64 MiB).
	MaxSourceBytes int64
	// MaxSourcePixels is the largest accepted source in pixels, width times
	// height from the header (default 50,000,000).
	MaxSourcePixels int64
	// MaxOutputWidth is the largest output width (default 4096).
	MaxOutputWidth int
	// MaxOutputHeight is the largest output height (default 4096).
	MaxOutputHeight int
	// Strict refuses a damaged or truncated source (ErrCorrupt) instead of
	// serving the part that decodes (default false).
	Strict bool
	// MaxOutputBytes is the largest encoded thumbnail in bytes, checked
	// after encoding (default 0: no limit).
	MaxOutputBytes int64
	// MaxFrames is the most frames of a source rendered animated (spec
	// "anim") (default 100); a still render reads only the first frame.
	MaxFrames int
	// MaxAnimationPixels bounds an animation in all: canvas width times
	// height times frames (default 50,000,000).
	MaxAnimationPixels int64
	// AVIFMaxPixels: "auto" chooses AVIF only for outputs of at most this
	// many pixels, WebP above (default 1,000,000).
	AVIFMaxPixels int64
	// AVIFSpeed is rav1e's speed for AVIF output, 1 (slow) to 10 (default 9).
	AVIFSpeed int
}

// DefaultLimits returns the library's default limits, the same on every
// surface (CLI, nginx, Lua, Go, C).
func DefaultLimits() Limits {
	l := C.thumbnail_limits_default()
	return Limits{
		MaxSourceBytes:     clampInt64(uint64(l.max_source_bytes)),
		MaxSourcePixels:    clampInt64(uint64(l.max_source_pixels)),
		MaxOutputWidth:     int(l.max_output_width),
		MaxOutputHeight:    int(l.max_output_height),
		Strict:             l.strict != 0,
		MaxOutputBytes:     clampInt64(uint64(l.max_output_bytes)),
		MaxFrames:          int(l.max_frames),
		MaxAnimationPixels: clampInt64(uint64(l.max_animation_pixels)),
		AVIFMaxPixels:      clampInt64(uint64(l.avif_max_pixels)),
		AVIFSpeed:          int(l.avif_speed),
	}
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// toC fills in the defaults and converts to the C struct.
func (l Limits) toC() (C.thumbnail_limits, error) {
	c := C.thumbnail_limits_default()
	if l.MaxSourceBytes < 0 || l.MaxSourcePixels < 0 || l.MaxOutputWidth < 0 || l.MaxOutputHeight < 0 || l.MaxOutputBytes < 0 ||
		l.MaxFrames < 0 || l.MaxAnimationPixels < 0 || l.AVIFMaxPixels < 0 || l.AVIFSpeed < 0 {
		return c, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: negative limit"}
	}
	if int64(l.MaxOutputWidth) > math.MaxUint32 || int64(l.MaxOutputHeight) > math.MaxUint32 ||
		int64(l.MaxFrames) > math.MaxUint32 || l.AVIFSpeed > 10 {
		return c, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: output limit exceeds 2^32-1"}
	}
	if l.MaxSourceBytes > 0 {
		c.max_source_bytes = C.uint64_t(l.MaxSourceBytes)
	}
	if l.MaxSourcePixels > 0 {
		c.max_source_pixels = C.uint64_t(l.MaxSourcePixels)
	}
	if l.MaxOutputWidth > 0 {
		c.max_output_width = C.uint32_t(l.MaxOutputWidth)
	}
	if l.MaxOutputHeight > 0 {
		c.max_output_height = C.uint32_t(l.MaxOutputHeight)
	}
	if l.Strict {
		c.strict = 1
	}
	if l.MaxOutputBytes > 0 {
		c.max_output_bytes = C.uint64_t(l.MaxOutputBytes)
	}
	if l.MaxFrames > 0 {
		c.max_frames = C.uint32_t(l.MaxFrames)
	}
	if l.MaxAnimationPixels > 0 {
		c.max_animation_pixels = C.uint64_t(l.MaxAnimationPixels)
	}
	if l.AVIFMaxPixels > 0 {
		c.avif_max_pixels = C.uint64_t(l.AVIFMaxPixels)
	}
	if l.AVIFSpeed > 0 {
		c.avif_speed = C.uint8_t(l.AVIFSpeed)
	}
	return c, nil
}

// Option changes how Render and Cache.GetOrRender work.
type Option func(*options)

type options struct {
	limits    Limits
	hasLimits bool
	overlay   *Overlay // WithOverlay (ops.go)
}

// WithLimits sets the resource limits of the render (zero fields keep the
// defaults).
func WithLimits(l Limits) Option {
	return func(o *options) {
		o.limits = l
		o.hasLimits = true
	}
}

// cLimits applies opts and returns the C limits, or nil for the defaults.
// The result is Go memory without Go pointers, which C may read during a call.
func cLimits(opts []Option) (*C.thumbnail_limits, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !o.hasLimits {
		return nil, nil
	}
	c, err := o.limits.toC()
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// bytesPtr returns a pointer to b's first byte, or nil for an empty slice
// (the C API takes NULL with length 0 as an empty buffer). The C functions
// only read such buffers during the call, as cgo's pointer rules require.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// text returns a pointer and length for s; the returned slice must be kept
// alive (runtime.KeepAlive) until the C call returns. Go 1.19 has no
// unsafe.StringData, so strings are copied.
func text(s string) (*C.char, C.size_t, []byte) {
	if len(s) == 0 {
		return nil, 0, nil
	}
	b := []byte(s)
	return (*C.char)(unsafe.Pointer(&b[0])), C.size_t(len(b)), b
}

// takeImage copies a C image into Go memory and frees it.
func takeImage(img *C.thumbnail_image) *Image {
	defer C.thumbnail_image_free(img)
	n := int(C.thumbnail_image_len(img))
	data := make([]byte, n)
	if n > 0 {
		copy(data, unsafe.Slice((*byte)(unsafe.Pointer(C.thumbnail_image_data(img))), n))
	}
	mt := ""
	if p := C.thumbnail_image_media_type(img); p != nil {
		mt = C.GoString(p)
	}
	return &Image{
		Data:      data,
		MediaType: mt,
		Width:     int(C.thumbnail_image_width(img)),
		Height:    int(C.thumbnail_image_height(img)),
		Format:    Format(C.thumbnail_image_format(img)),
	}
}

// Render renders a thumbnail of the JPEG, PNG, GIF or WebP image src as spec says,
// e.g. "200x200", "400x300,cover,q85" or "x100,png" (see the spec grammar in
// the repository's README). The result is Go-owned; the library's copy is
// freed before Render returns.
//
// Errors are *Error values: ErrInvalidSpec, ErrUnsupported (also for empty
// src), ErrCorrupt, ErrTooLarge, ErrInvalidArgument or ErrInternal.
// Render is safe for concurrent use.
func Render(src []byte, spec string, opts ...Option) (*Image, error) {
	limits, err := cLimits(opts)
	if err != nil {
		return nil, err
	}
	if ov := overlayOf(opts); ov != nil {
		return renderEx(src, spec, limits, ov)
	}
	specPtr, specLen, specBuf := text(spec)
	var out *C.thumbnail_image
	var eb errBuf
	st := C.thumbnail_render(bytesPtr(src), C.size_t(len(src)), specPtr, specLen, limits, &out, eb.ptr(), eb.len())
	runtime.KeepAlive(src)
	runtime.KeepAlive(specBuf)
	if st != C.THUMBNAIL_STATUS_OK {
		C.thumbnail_image_free(out) // NULL on error; freeing NULL is allowed
		return nil, newError(st, &eb)
	}
	return takeImage(out), nil
}

// Probe reads the header of the JPEG, PNG, GIF or WebP image src (format, stored size,
// EXIF orientation, alpha) without decoding pixels. Errors: ErrUnsupported,
// ErrCorrupt, ErrInvalidArgument or ErrInternal.
func Probe(src []byte) (Info, error) {
	var info C.thumbnail_info
	var eb errBuf
	st := C.thumbnail_probe(bytesPtr(src), C.size_t(len(src)), &info, eb.ptr(), eb.len())
	runtime.KeepAlive(src)
	if st != C.THUMBNAIL_STATUS_OK {
		return Info{}, newError(st, &eb)
	}
	return Info{
		Format:      Format(info.format),
		Width:       int(info.width),
		Height:      int(info.height),
		Orientation: int(info.orientation),
		HasAlpha:    bool(info.has_alpha),
		Progressive: bool(info.progressive),
	}, nil
}

// Canonical validates spec and returns its canonical form: equal specs give
// equal strings (e.g. "x100,q80,inside" gives "x100"), so it can be part of
// a cache key. An invalid spec gives ErrInvalidSpec with the reason.
func Canonical(spec string) (string, error) {
	specPtr, specLen, specBuf := text(spec)
	// A canonical spec can be longer than its text ("jpg" -> "jpeg",
	// "bg=222" -> "bg=222222"); THUMBNAIL_SPEC_CANONICAL_MAX always suffices.
	var out [C.THUMBNAIL_SPEC_CANONICAL_MAX]byte
	var written C.size_t
	var eb errBuf
	st := C.thumbnail_spec_canonical(specPtr, specLen, (*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &written, eb.ptr(), eb.len())
	runtime.KeepAlive(specBuf)
	runtime.KeepAlive(out)
	if st != C.THUMBNAIL_STATUS_OK {
		return "", newError(st, &eb)
	}
	if int(written) > len(out)-1 {
		return "", &Error{Status: StatusInternal, Msg: "internal: canonical spec longer than THUMBNAIL_SPEC_CANONICAL_MAX"}
	}
	return string(out[:written]), nil
}

// Negotiate reduces a client's Accept header to the format the spec's
// "auto" writes for it: FormatAVIF (only if avif is true and the library
// has AVIF), FormatWebP, or source (the client takes neither). q-values
// count ("image/webp;q=0" is a no); "*/*" and "image/*" imply neither. Use
// the result, never the raw header, in a cache key.
func Negotiate(accept string, source Format, avif bool) Format {
	p, n, buf := text(accept)
	f := C.thumbnail_negotiate(p, n, C.thumbnail_format(source), C.bool(avif))
	runtime.KeepAlive(buf)
	return Format(f)
}

// NegotiateSpec resolves spec's "auto" for a client's Accept header and
// returns the canonical result ("200x200,auto" becomes "200x200,auto=webp",
// "...,auto=avif", or stays "...,auto"): the spec to render and to put in a
// cache key. varies is true when spec says auto: the response then needs
// "Vary: Accept". A spec without auto is only canonicalised.
func NegotiateSpec(spec, accept string, avif bool) (canonical string, varies bool, err error) {
	specPtr, specLen, specBuf := text(spec)
	acceptPtr, acceptLen, acceptBuf := text(accept)
	out := make([]byte, C.THUMBNAIL_SPEC_CANONICAL_MAX)
	var written C.size_t
	var v C.bool
	var eb errBuf
	st := C.thumbnail_spec_negotiate(specPtr, specLen, acceptPtr, acceptLen, C.bool(avif),
		(*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &written, &v, eb.ptr(), eb.len())
	runtime.KeepAlive(specBuf)
	runtime.KeepAlive(acceptBuf)
	runtime.KeepAlive(out)
	if st != C.THUMBNAIL_STATUS_OK {
		return "", false, newError(st, &eb)
	}
	return string(out[:written]), bool(v), nil
}

// AVIFAvailable reports whether the linked library writes AVIF (built with
// the avif cargo feature).
func AVIFAvailable() bool { return bool(C.thumbnail_avif_available()) }
