package thumbnail

// Only declarations may precede import "C" in a file with //export.

// #include <stdint.h>
// #include <stdlib.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// Return values of the loader callback (nonzero means failure; the library
// puts the number in its message).
const (
	loadFailedError    = 1 // load returned an error
	loadFailedPanic    = 2 // load panicked
	loadFailedRepeated = 3 // called twice for one GetOrRender (never expected)
	loadFailedHandle   = 4 // userdata was not a *loadCall (never expected)
)

// loadCall is the state of one GetOrRender call's loader. The library
// calls the loader on the calling thread, so it runs on the goroutine that
// called GetOrRender, which reads the fields after the C call returns.
type loadCall struct {
	load       func() ([]byte, error)
	called     bool
	err        error          // what load returned
	panicked   bool           // load panicked with panicValue
	panicValue interface{}    //
	src        unsafe.Pointer // C copy of the loaded bytes, freed by freeSource
}

// freeSource frees the C copy of the loaded bytes; call after the C call
// that used them has returned.
func (l *loadCall) freeSource() {
	if l.src != nil {
		C.free(l.src)
		l.src = nil
	}
}

func (l *loadCall) run(src **C.uint8_t, srcLen *C.size_t) (rc C.int32_t) {
	*src, *srcLen = nil, 0
	if l.called {
		return loadFailedRepeated
	}
	l.called = true
	// A panic must not unwind through the library's frames: catch it here,
	// fail the load, and let GetOrRender re-raise it.
	defer func() {
		if r := recover(); r != nil {
			l.panicked, l.panicValue = true, r
			rc = loadFailedPanic
		}
	}()
	b, err := l.load()
	if err != nil {
		l.err = err
		return loadFailedError
	}
	if len(b) == 0 {
		return 0 // an empty source: the render fails as ErrUnsupported
	}
	// cgo forbids C from keeping Go pointers, and the library reads the
	// bytes after this function returns: hand it a C copy, owned by l.
	l.src = C.CBytes(b)
	*src, *srcLen = (*C.uint8_t)(l.src), C.size_t(len(b))
	return 0
}

//export thumbnailGoLoad
func thumbnailGoLoad(handle C.uintptr_t, src **C.uint8_t, srcLen *C.size_t) C.int32_t {
	call, ok := cgo.Handle(handle).Value().(*loadCall)
	if !ok {
		*src, *srcLen = nil, 0
		return loadFailedHandle
	}
	return call.run(src, srcLen)
}
