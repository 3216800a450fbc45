package thumbnail

// #include "thumbnail.h"
import "C"

import (
	"errors"
	"strconv"
	"unsafe"
)

// Status is a status number of the C API (thumbnail_status). The numbers
// never change meaning; unknown nonzero values are errors too.
type Status int

// The statuses of the C API.
const (
	StatusOK              Status = C.THUMBNAIL_STATUS_OK
	StatusInvalidSpec     Status = C.THUMBNAIL_STATUS_INVALID_SPEC
	StatusUnsupported     Status = C.THUMBNAIL_STATUS_UNSUPPORTED
	StatusCorrupt         Status = C.THUMBNAIL_STATUS_CORRUPT
	StatusTooLarge        Status = C.THUMBNAIL_STATUS_TOO_LARGE
	StatusInvalidArgument Status = C.THUMBNAIL_STATUS_INVALID_ARGUMENT
	StatusInternal        Status = C.THUMBNAIL_STATUS_INTERNAL
	StatusNotFound        Status = C.THUMBNAIL_STATUS_NOT_FOUND
	StatusBufferTooSmall  Status = C.THUMBNAIL_STATUS_BUFFER_TOO_SMALL
	StatusLoadFailed      Status = C.THUMBNAIL_STATUS_LOAD_FAILED
)

// String returns the library's lowercase name of the status, e.g.
// "invalid-spec", or "unknown" for a number that is no status.
func (s Status) String() string {
	if int64(s) != int64(int32(s)) {
		return "unknown"
	}
	return C.GoString(C.thumbnail_status_name(C.int32_t(s)))
}

// HTTPStatus returns the HTTP status a server answers with for s: the
// library's one mapping (thumbnail_status_http), shared with nginx and Lua:
// 400 invalid-spec, 413 too-large, 415 unsupported and corrupt, 502
// load-failed, 404 not-found, 200 OK, 500 otherwise.
func (s Status) HTTPStatus() int {
	if int64(s) != int64(int32(s)) {
		return 500
	}
	return int(C.thumbnail_status_http(C.int32_t(s)))
}

// HTTPStatus returns the HTTP status for an error of this package (see
// Status.HTTPStatus), 200 for nil, and 500 for any other error.
func HTTPStatus(err error) int {
	if err == nil {
		return 200
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status.HTTPStatus()
	}
	return 500
}

// Error is an error reported by the library. Compare it with the sentinel
// values using errors.Is, which compares the Status only:
//
//	if errors.Is(err, thumbnail.ErrInvalidSpec) { /* HTTP 400 */ }
//
// Use errors.As to get at the Status and the library's message.
type Error struct {
	// Status is the C status; never StatusOK.
	Status Status
	// Msg is the library's "name: reason" message, e.g.
	// "invalid-spec: unknown option 'big'".
	Msg string
	// Err is the underlying Go error, if any: for StatusLoadFailed in the
	// call whose loader failed, the error the loader returned.
	Err error
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "thumbnail: " + e.Status.String()
	}
	return "thumbnail: " + e.Msg
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, ErrCorrupt) holds for every corrupt-image error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Unwrap returns the underlying Go error (see Error.Err), or nil.
func (e *Error) Unwrap() error { return e.Err }

// Sentinel errors, one per C status, for errors.Is.
var (
	// ErrInvalidSpec: the spec is malformed or out of range (HTTP 400).
	ErrInvalidSpec = &Error{Status: StatusInvalidSpec}
	// ErrUnsupported: not a JPEG or PNG, or empty input (HTTP 415).
	ErrUnsupported = &Error{Status: StatusUnsupported}
	// ErrCorrupt: a JPEG or PNG whose data is broken (HTTP 415).
	ErrCorrupt = &Error{Status: StatusCorrupt}
	// ErrTooLarge: the source or the output exceeds a Limits field (HTTP 413).
	ErrTooLarge = &Error{Status: StatusTooLarge}
	// ErrInvalidArgument: a calling-contract violation, e.g. a cache key
	// that is not UTF-8 or a negative option.
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	// ErrInternal: a bug or resource failure inside the library (HTTP 500).
	ErrInternal = &Error{Status: StatusInternal}
	// ErrNotFound: no cached value for the key.
	ErrNotFound = &Error{Status: StatusNotFound}
	// ErrBufferTooSmall: never returned by this package (it sizes its
	// buffers itself); present for completeness.
	ErrBufferTooSmall = &Error{Status: StatusBufferTooSmall}
	// ErrLoadFailed: the source loader of Cache.GetOrRender failed, in this
	// call or in the call this one waited for (HTTP 502).
	ErrLoadFailed = &Error{Status: StatusLoadFailed}
)

// ErrClosed is returned by Cache methods called after Cache.Close.
var ErrClosed = errors.New("thumbnail: cache is closed")

// errBufLen is the size of the per-call error message buffer.
const errBufLen = 512

// errBuf is a per-call buffer for the C API's "name: reason" message. It is
// Go memory without Go pointers, which cgo allows C to write during a call.
type errBuf [errBufLen]byte

func (b *errBuf) ptr() *C.char { return (*C.char)(unsafe.Pointer(&b[0])) }

func (b *errBuf) len() C.size_t { return C.size_t(len(b)) }

// newError makes the error for a nonzero status and the message in b.
func newError(st C.thumbnail_status, b *errBuf) error {
	msg := ""
	if b != nil {
		n := 0
		for n < len(b) && b[n] != 0 {
			n++
		}
		msg = string(b[:n])
	}
	s := Status(st)
	if msg == "" {
		msg = s.String()
		if msg == "unknown" {
			msg = "unknown status " + strconv.Itoa(int(s))
		}
	}
	return &Error{Status: s, Msg: msg}
}
