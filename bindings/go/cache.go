package thumbnail

/*
#include <stdint.h>
#include <stdlib.h>
#include "thumbnail.h"

// thumbnailGoLoad is the exported Go loader (callback.go).
extern int32_t thumbnailGoLoad(uintptr_t handle, uint8_t **src, size_t *src_len);

// The thumbnail_load_fn given to the library: userdata carries a
// runtime/cgo.Handle of the Go loader, passed as an integer so that no Go
// pointer is ever handed to C.
static int32_t thumbnail_go_load(void *userdata, const uint8_t **src, size_t *src_len) {
	return thumbnailGoLoad((uintptr_t)userdata, (uint8_t **)src, src_len);
}

static thumbnail_status thumbnail_go_get_or_load(const thumbnail_cache *cache,
		const char *key, size_t key_len, uintptr_t handle,
		const char *spec, size_t spec_len, const thumbnail_limits *limits,
		thumbnail_image **out, thumbnail_cache_source *source_out,
		char *err, size_t err_len) {
	return thumbnail_cache_get_or_load(cache, key, key_len, thumbnail_go_load,
		(void *)handle, spec, spec_len, limits, out, source_out, err, err_len);
}

// The same with an overlay (ops.go): the options struct lives on the C stack.
static thumbnail_status thumbnail_go_get_or_load_ex(const thumbnail_cache *cache,
		const char *key, size_t key_len, uintptr_t handle,
		const char *spec, size_t spec_len, const thumbnail_limits *limits,
		const thumbnail_overlay *overlay,
		thumbnail_image **out, thumbnail_cache_source *source_out,
		char *err, size_t err_len) {
	thumbnail_render_options o = thumbnail_render_options_default();
	o.limits = limits;
	o.overlay = overlay;
	return thumbnail_cache_get_or_load_ex(cache, key, key_len, thumbnail_go_load,
		(void *)handle, spec, spec_len, &o, out, source_out, err, err_len);
}
*/
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// CacheOptions sizes a Cache. The zero value gives the library's defaults:
// 64 MiB in 16 shards, no time to live, failures not remembered.
type CacheOptions struct {
	// CapacityBytes is the total byte budget, split evenly across shards;
	// each entry is charged its key length + data length + a fixed
	// overhead, and a value larger than one shard's share is never cached.
	// 0 means the default (64 MiB); a negative value caches nothing
	// (single-flight still works).
	CapacityBytes int64
	// Shards is the number of independently locked shards; 0 means the
	// default (16). Rounded up to a power of two and clamped to 1..1024.
	Shards int
	// TTL is how long a value stays fresh (rounded up to milliseconds);
	// 0 means values never expire.
	TTL time.Duration
	// ErrorTTL is how long a failed render or load is remembered and
	// returned to GetOrRender callers without trying again (negative
	// caching); 0 means failures are not remembered.
	ErrorTTL time.Duration
}

// CacheStats is a snapshot of a Cache's counters and gauges, named as in
// groupcache. Counters only grow (Clear does not reset them). When no call
// is in progress: Gets == Hits+Misses,
// Loads == LocalLoads+LocalLoadErrors+LoadsDeduped, ErrorHits <= Hits,
// Bytes <= CapacityBytes.
type CacheStats struct {
	Gets            uint64 // lookups: Get and GetOrRender calls
	Hits            uint64 // lookups answered from the cache (a value or a remembered error)
	Misses          uint64 // lookups not answered from the cache (absent or expired)
	Loads           uint64 // GetOrRender misses: each rendered or waited
	LoadsDeduped    uint64 // loads satisfied by another caller's render of the same key
	LocalLoads      uint64 // renders (loads included) that succeeded
	LocalLoadErrors uint64 // renders (loads included) that failed
	Evictions       uint64 // entries evicted to stay within the budget
	Expirations     uint64 // entries found past their TTL and dropped
	OversizeRejects uint64 // values not cached because they exceed one shard's budget
	ErrorHits       uint64 // hits that returned a remembered error; included in Hits
	Bytes           uint64 // bytes charged for the entries held
	Items           uint64 // entries held, remembered errors included
	CapacityBytes   uint64 // the byte budget in force
	Shards          uint64 // the number of shards in force
}

// Cache is an in-memory cache of rendered thumbnails shared by goroutines:
// sharded, bounded by bytes, S3-FIFO eviction per shard, with
// single-flight (when many goroutines miss on one key at once, one loads
// and renders, the others wait for its result). All methods are safe for
// concurrent use.
//
// Call Close when done; a finalizer frees a forgotten cache as a backstop.
// Close waits for calls in progress; methods called after it report
// ErrClosed (or a miss, a zero value, false).
type Cache struct {
	mu     sync.Mutex
	idle   sync.Cond // signalled when active drops to 0
	ptr    *C.thumbnail_cache
	active int // calls in progress that use ptr
}

func durationMS(d time.Duration) C.uint64_t {
	ms := (d + time.Millisecond - 1) / time.Millisecond // round up: 1ns is not "forever"
	return C.uint64_t(ms)
}

// NewCache makes a new, empty cache. Negative Shards, TTL or ErrorTTL are
// ErrInvalidArgument.
func NewCache(opts CacheOptions) (*Cache, error) {
	if opts.Shards < 0 || opts.TTL < 0 || opts.ErrorTTL < 0 {
		return nil, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: negative cache option"}
	}
	co := C.thumbnail_cache_options_default()
	switch {
	case opts.CapacityBytes < 0:
		co.capacity_bytes = 0
	case opts.CapacityBytes > 0:
		co.capacity_bytes = C.uint64_t(opts.CapacityBytes)
	}
	if opts.Shards > 0 {
		s := opts.Shards
		if int64(s) > math.MaxUint32 {
			s = math.MaxUint32
		}
		co.shards = C.uint32_t(s)
	}
	co.ttl_ms = durationMS(opts.TTL)
	co.error_ttl_ms = durationMS(opts.ErrorTTL)

	var p *C.thumbnail_cache
	var eb errBuf
	if st := C.thumbnail_cache_new(&co, &p, eb.ptr(), eb.len()); st != C.THUMBNAIL_STATUS_OK {
		return nil, newError(st, &eb)
	}
	c := &Cache{ptr: p}
	c.idle.L = &c.mu
	runtime.SetFinalizer(c, (*Cache).Close)
	return c, nil
}

// acquire returns the C handle and counts a call in progress, or returns
// nil if the cache is closed. Every non-nil acquire needs a release.
func (c *Cache) acquire() *C.thumbnail_cache {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil
	}
	c.active++
	return c.ptr
}

func (c *Cache) release() {
	c.mu.Lock()
	c.active--
	if c.active == 0 {
		c.idle.Broadcast()
	}
	c.mu.Unlock()
	runtime.KeepAlive(c)
}

// Close frees the cache and everything it holds. It waits for calls in
// progress to finish (so it must not be called from a GetOrRender loader of
// the same cache). Images already returned stay valid (they are Go memory).
// Close is idempotent and always returns nil.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	p := c.ptr
	c.ptr = nil // new calls now see a closed cache
	for c.active > 0 {
		c.idle.Wait()
	}
	c.mu.Unlock()
	if p != nil {
		C.thumbnail_cache_free(p)
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// Get returns the cached image for key, or false on a miss (absent,
// expired, a remembered error, a key that is not UTF-8, or a closed cache).
func (c *Cache) Get(key string) (*Image, bool) {
	p := c.acquire()
	if p == nil {
		return nil, false
	}
	defer c.release()
	keyPtr, keyLen, keyBuf := text(key)
	var out *C.thumbnail_image
	st := C.thumbnail_cache_get(p, keyPtr, keyLen, &out)
	runtime.KeepAlive(keyBuf)
	runtime.KeepAlive(c)
	if st != C.THUMBNAIL_STATUS_OK {
		C.thumbnail_image_free(out)
		return nil, false
	}
	return takeImage(out), true
}

// GetOrRender returns the cached image for key or, on a miss, calls load
// for the source bytes, renders them with spec and opts (as Render does),
// caches the result and returns it. The key must identify both the source
// and the spec (e.g. a source id joined with Canonical(spec)), and, with
// WithOverlay, the overlay too (append Overlay.ID()).
//
// Single-flight: of all the goroutines missing on key at the same time,
// only one calls its load function; the others wait and share its result,
// image or error. The loaded bytes are copied into C memory for the render
// and released before GetOrRender returns, so load may reuse its buffer.
//
// Errors: those of Render (the spec is validated before the cache is
// consulted, so an invalid spec is ErrInvalidSpec even on a hit); if load
// returns an error, ErrLoadFailed wrapping it (errors.Is matches both
// ErrLoadFailed and the loader's error), while goroutines that waited for
// that load get ErrLoadFailed alone; ErrClosed after Close. A panic in load
// fails the load for the waiters and is re-raised in the goroutine that
// called load, after the library call has returned. load must not call
// runtime.Goexit (e.g. t.FailNow), nor GetOrRender for the same key.
func (c *Cache) GetOrRender(key string, load func() ([]byte, error), spec string, opts ...Option) (*Image, error) {
	if load == nil {
		return nil, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: load is nil"}
	}
	limits, err := cLimits(opts)
	if err != nil {
		return nil, err
	}
	p := c.acquire()
	if p == nil {
		return nil, ErrClosed
	}
	defer c.release()
	ov := overlayOf(opts)
	var ovPtr *C.thumbnail_overlay
	if ov != nil {
		ov.mu.RLock()
		defer ov.mu.RUnlock()
		if ov.ptr == nil {
			return nil, errOverlayClosed
		}
		ovPtr = ov.ptr
	}

	call := &loadCall{load: load}
	h := cgo.NewHandle(call)
	keyPtr, keyLen, keyBuf := text(key)
	specPtr, specLen, specBuf := text(spec)
	var out *C.thumbnail_image
	var source C.thumbnail_cache_source
	var eb errBuf
	var st C.thumbnail_status
	if ovPtr == nil {
		st = C.thumbnail_go_get_or_load(p, keyPtr, keyLen, C.uintptr_t(h), specPtr, specLen,
			limits, &out, &source, eb.ptr(), eb.len())
	} else {
		st = C.thumbnail_go_get_or_load_ex(p, keyPtr, keyLen, C.uintptr_t(h), specPtr, specLen,
			limits, ovPtr, &out, &source, eb.ptr(), eb.len())
	}
	runtime.KeepAlive(keyBuf)
	runtime.KeepAlive(specBuf)
	runtime.KeepAlive(limits)
	runtime.KeepAlive(c)
	h.Delete()
	call.freeSource()

	if call.panicked {
		C.thumbnail_image_free(out)
		panic(call.panicValue)
	}
	if st != C.THUMBNAIL_STATUS_OK {
		C.thumbnail_image_free(out)
		e := newError(st, &eb).(*Error)
		if e.Status == StatusLoadFailed && call.err != nil {
			e.Msg = "load-failed: " + call.err.Error()
			e.Err = call.err
		}
		return nil, e
	}
	return takeImage(out), nil
}

// Remove removes key's value (or remembered error) and reports whether
// there was one. A render of key in progress is detached: its waiters still
// get its result, but it is not cached.
func (c *Cache) Remove(key string) bool {
	p := c.acquire()
	if p == nil {
		return false
	}
	defer c.release()
	keyPtr, keyLen, keyBuf := text(key)
	st := C.thumbnail_cache_remove(p, keyPtr, keyLen)
	runtime.KeepAlive(keyBuf)
	runtime.KeepAlive(c)
	return st == C.THUMBNAIL_STATUS_OK
}

// Clear removes every entry and detaches every render in progress.
// Counters are kept.
func (c *Cache) Clear() {
	p := c.acquire()
	if p == nil {
		return
	}
	defer c.release()
	C.thumbnail_cache_clear(p)
	runtime.KeepAlive(c)
}

// Stats returns a snapshot of the counters and gauges; the zero value after
// Close.
func (c *Cache) Stats() CacheStats {
	p := c.acquire()
	if p == nil {
		return CacheStats{}
	}
	defer c.release()
	var s C.thumbnail_cache_stats
	st := C.thumbnail_cache_get_stats(p, &s)
	runtime.KeepAlive(c)
	if st != C.THUMBNAIL_STATUS_OK {
		return CacheStats{}
	}
	return CacheStats{
		Gets:            uint64(s.gets),
		Hits:            uint64(s.hits),
		Misses:          uint64(s.misses),
		Loads:           uint64(s.loads),
		LoadsDeduped:    uint64(s.loads_deduped),
		LocalLoads:      uint64(s.local_loads),
		LocalLoadErrors: uint64(s.local_load_errors),
		Evictions:       uint64(s.evictions),
		Expirations:     uint64(s.expirations),
		OversizeRejects: uint64(s.oversize_rejects),
		ErrorHits:       uint64(s.error_hits),
		Bytes:           uint64(s.bytes),
		Items:           uint64(s.items),
		CapacityBytes:   uint64(s.capacity_bytes),
		Shards:          uint64(s.shards),
	}
}

// StatsJSON returns the counters and gauges as one line of JSON with the C
// field names, e.g. `{"gets":10,"hits":7,...,"shards":16}`; "" after Close.
func (c *Cache) StatsJSON() string {
	p := c.acquire()
	if p == nil {
		return ""
	}
	defer c.release()
	buf := make([]byte, 1024)
	for tries := 0; tries < 3; tries++ {
		var written C.size_t
		st := C.thumbnail_cache_stats_json(p, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &written)
		runtime.KeepAlive(buf)
		runtime.KeepAlive(c)
		switch st {
		case C.THUMBNAIL_STATUS_OK:
			return string(buf[:written])
		case C.THUMBNAIL_STATUS_BUFFER_TOO_SMALL:
			buf = make([]byte, int(written)+1)
		default:
			return ""
		}
	}
	return ""
}
