package thumbnail_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

func newCache(t *testing.T, opts thumbnail.CacheOptions) *thumbnail.Cache {
	t.Helper()
	c, err := thumbnail.NewCache(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bytesLoader(b []byte, calls *int32) func() ([]byte, error) {
	return func() ([]byte, error) {
		atomic.AddInt32(calls, 1)
		return b, nil
	}
}

func TestCacheBasics(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	c := newCache(t, thumbnail.CacheOptions{})
	if st := c.Stats(); st.Shards != 16 || st.CapacityBytes == 0 || st.CapacityBytes > 64<<20 {
		t.Fatalf("default options: %+v", st)
	}
	if img, ok := c.Get("rocket:200x200"); ok || img != nil {
		t.Fatal("hit in an empty cache")
	}
	var calls int32
	img, err := c.GetOrRender("rocket:200x200", bytesLoader(src, &calls), "200x200")
	if err != nil {
		t.Fatal(err)
	}
	if img.Width != 200 || img.Height != 133 || calls != 1 {
		t.Fatalf("%dx%d after %d loads", img.Width, img.Height, calls)
	}
	decode(t, img)
	again, err := c.GetOrRender("rocket:200x200", bytesLoader(src, &calls), "200x200")
	if err != nil || calls != 1 || !bytes.Equal(again.Data, img.Data) {
		t.Fatalf("second call: err %v, %d loads", err, calls)
	}
	got, ok := c.Get("rocket:200x200")
	if !ok || !bytes.Equal(got.Data, img.Data) || got.MediaType != img.MediaType || got.Width != 200 || got.Height != 133 || got.Format != img.Format {
		t.Fatalf("Get: %v %+v", ok, got)
	}
	// Returned images are Go copies: changing one changes nothing cached.
	got.Data[0] ^= 0xff
	if got2, _ := c.Get("rocket:200x200"); !bytes.Equal(got2.Data, img.Data) {
		t.Fatal("cached bytes changed through a returned image")
	}
	// An invalid spec is reported even for a cached key, without loading.
	if _, err := c.GetOrRender("rocket:200x200", bytesLoader(src, &calls), "0x0"); !errors.Is(err, thumbnail.ErrInvalidSpec) || calls != 1 {
		t.Fatalf("invalid spec: %v after %d loads", err, calls)
	}
	// Render errors come through too, and an empty source is unsupported.
	if _, err := c.GetOrRender("bmp", func() ([]byte, error) { return []byte("BM\x00\x00\x00\x00"), nil }, "10x10"); !errors.Is(err, thumbnail.ErrUnsupported) {
		t.Fatalf("bmp: %v", err)
	}
	if _, err := c.GetOrRender("empty", func() ([]byte, error) { return nil, nil }, "10x10"); !errors.Is(err, thumbnail.ErrUnsupported) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := c.GetOrRender("nil", nil, "10x10"); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("nil loader: %v", err)
	}
	if _, err := c.GetOrRender("bad\xff", bytesLoader(src, &calls), "10x10"); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("non-UTF-8 key: %v", err)
	}
	if _, ok := c.Get("bad\xff"); ok {
		t.Fatal("non-UTF-8 key hit")
	}

	st := c.Stats()
	if st.Gets != st.Hits+st.Misses || st.Loads != st.LocalLoads+st.LocalLoadErrors+st.LoadsDeduped {
		t.Fatalf("stats do not add up: %+v", st)
	}
	if st.LocalLoads != 1 || st.LocalLoadErrors != 2 || st.Items != 1 || st.Bytes == 0 {
		t.Fatalf("stats: %+v", st)
	}
	var fromJSON map[string]uint64
	if err := json.Unmarshal([]byte(c.StatsJSON()), &fromJSON); err != nil {
		t.Fatalf("StatsJSON %q: %v", c.StatsJSON(), err)
	}
	if fromJSON["gets"] != st.Gets || fromJSON["local_loads"] != st.LocalLoads || fromJSON["shards"] != st.Shards || len(fromJSON) != 15 {
		t.Fatalf("StatsJSON %v vs Stats %+v", fromJSON, st)
	}

	if !c.Remove("rocket:200x200") || c.Remove("rocket:200x200") {
		t.Fatal("Remove")
	}
	if _, ok := c.Get("rocket:200x200"); ok {
		t.Fatal("hit after Remove")
	}
	if _, err := c.GetOrRender("a", bytesLoader(src, &calls), "50x50"); err != nil {
		t.Fatal(err)
	}
	c.Clear()
	if _, ok := c.Get("a"); ok || c.Stats().Items != 0 {
		t.Fatal("hit after Clear")
	}
	if c.Stats().Gets < st.Gets {
		t.Fatal("Clear reset the counters")
	}
}

// A miss through GetOrRender's loader is one lookup (gets 1, misses 1), and
// specs whose canonical form is longer than their text work.
func TestCacheOneLookupPerMissAndGrowingSpecs(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	c := newCache(t, thumbnail.CacheOptions{})
	var calls int32
	for _, spec := range []string{"40x40,jpg", "40x40,contain,bg=222"} {
		key := "rocket|" + spec
		if canon, err := thumbnail.Canonical(spec); err != nil {
			t.Fatalf("Canonical(%q): %v", spec, err)
		} else {
			key = "rocket|" + canon
		}
		if _, err := c.GetOrRender(key, bytesLoader(src, &calls), spec); err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
	}
	if st := c.Stats(); st.Gets != 2 || st.Misses != 2 || st.Loads != 2 || calls != 2 {
		t.Fatalf("two misses: %+v after %d loads", st, calls)
	}
}

// 32 goroutines x 4 overlapping keys: each key's loader runs exactly once
// and everyone gets the same bytes.
func TestCacheSingleFlight(t *testing.T) {
	src := corpus(t, "photos/kodak/kodim01.png")
	c := newCache(t, thumbnail.CacheOptions{Shards: 4})
	const goroutines, keys = 32, 4
	var calls [keys]int32
	specs := [keys]string{"100x100", "120x120", "140x140", "160x160"}
	var results [goroutines][keys]*thumbnail.Image
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*keys)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			for j := 0; j < keys; j++ {
				k := (g + j) % keys
				img, err := c.GetOrRender(fmt.Sprintf("kodim01:%s", specs[k]), func() ([]byte, error) {
					atomic.AddInt32(&calls[k], 1)
					time.Sleep(20 * time.Millisecond)
					return src, nil
				}, specs[k])
				if err != nil {
					errs <- err
					continue
				}
				results[g][k] = img
			}
		}(g)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k := 0; k < keys; k++ {
		if n := atomic.LoadInt32(&calls[k]); n != 1 {
			t.Errorf("key %d: loader ran %d times", k, n)
		}
		first := results[0][k]
		if want := 100 + 20*k; first.Width != want {
			t.Errorf("key %d: width %d, want %d", k, first.Width, want)
		}
		for g := 1; g < goroutines; g++ {
			if !bytes.Equal(results[g][k].Data, first.Data) {
				t.Errorf("key %d: goroutine %d got different bytes", k, g)
			}
		}
	}
	st := c.Stats()
	t.Logf("%+v", st)
	if st.Gets != goroutines*keys || st.Gets != st.Hits+st.Misses {
		t.Errorf("gets %d, hits %d, misses %d", st.Gets, st.Hits, st.Misses)
	}
	if st.Loads != st.LocalLoads+st.LocalLoadErrors+st.LoadsDeduped || st.LocalLoads != keys || st.LocalLoadErrors != 0 {
		t.Errorf("loads do not add up: %+v", st)
	}
	if st.Items != keys || st.Shards != 4 {
		t.Errorf("items %d, shards %d", st.Items, st.Shards)
	}
}

// waitLoads waits until the cache has counted n loads (the leader's and
// its waiters'), i.e. until n-1 callers wait for the one loading.
func waitLoads(c *thumbnail.Cache, n uint64) error {
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Loads < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d loads after 10s", c.Stats().Loads, n)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func TestCacheLoadError(t *testing.T) {
	c := newCache(t, thumbnail.CacheOptions{})
	const n = 8
	errUpstream := errors.New("upstream said 503")
	var calls int32
	var waitErr error
	load := func() ([]byte, error) {
		atomic.AddInt32(&calls, 1)
		waitErr = waitLoads(c, n) // every other caller is now waiting for this load
		return nil, errUpstream
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = c.GetOrRender("k", load, "100x100")
		}(i)
	}
	wg.Wait()
	if waitErr != nil {
		t.Fatal(waitErr)
	}
	if calls != 1 {
		t.Fatalf("loader ran %d times", calls)
	}
	leaders := 0
	for _, err := range errs {
		if !errors.Is(err, thumbnail.ErrLoadFailed) {
			t.Fatalf("not ErrLoadFailed: %v", err)
		}
		if errors.Is(err, errUpstream) {
			leaders++
			if err.Error() != "thumbnail: load-failed: upstream said 503" {
				t.Errorf("leader's message: %q", err.Error())
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("%d errors wrap the loader's error, want 1: %v", leaders, errs)
	}
	st := c.Stats()
	if st.LocalLoadErrors != 1 || st.LoadsDeduped != n-1 || st.Items != 0 {
		t.Fatalf("stats: %+v", st)
	}
	// Failures are not remembered by default: the next call loads again.
	if _, err := c.GetOrRender("k", bytesLoader(corpus(t, "photos/rocket.jpg"), &calls), "100x100"); err != nil || calls != 2 {
		t.Fatalf("retry: %v after %d loads", err, calls)
	}
}

func TestCacheErrorTTL(t *testing.T) {
	c := newCache(t, thumbnail.CacheOptions{ErrorTTL: time.Hour})
	var calls int32
	load := func() ([]byte, error) { atomic.AddInt32(&calls, 1); return nil, errors.New("gone") }
	for i := 0; i < 3; i++ {
		if _, err := c.GetOrRender("k", load, "10x10"); !errors.Is(err, thumbnail.ErrLoadFailed) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if calls != 1 || c.Stats().ErrorHits != 2 {
		t.Fatalf("%d loads, stats %+v", calls, c.Stats())
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("a remembered error is a Get hit")
	}
}

func TestCacheTTL(t *testing.T) {
	c := newCache(t, thumbnail.CacheOptions{TTL: 30 * time.Millisecond})
	var calls int32
	src := corpus(t, "photos/rocket.jpg")
	if _, err := c.GetOrRender("k", bytesLoader(src, &calls), "10x10"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := c.Get("k"); ok {
		t.Fatal("hit after the TTL")
	}
	if c.Stats().Expirations != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
}

func TestCacheCapacity(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	var calls int32
	// Nothing is stored, but concurrent misses are still de-duplicated.
	none := newCache(t, thumbnail.CacheOptions{CapacityBytes: -1})
	for i := 0; i < 2; i++ {
		if _, err := none.GetOrRender("k", bytesLoader(src, &calls), "10x10"); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || none.Stats().CapacityBytes != 0 {
		t.Fatalf("%d loads, %+v", calls, none.Stats())
	}
	// A small cache evicts.
	small := newCache(t, thumbnail.CacheOptions{CapacityBytes: 8 << 10, Shards: 1})
	for i := 0; i < 10; i++ {
		if _, err := small.GetOrRender(fmt.Sprint("k", i), bytesLoader(src, &calls), "100x100"); err != nil {
			t.Fatal(err)
		}
	}
	if st := small.Stats(); st.Evictions == 0 || st.Bytes > st.CapacityBytes {
		t.Fatalf("stats %+v", st)
	}
	if _, err := thumbnail.NewCache(thumbnail.CacheOptions{Shards: -1}); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("negative shards: %v", err)
	}
}

// A panicking loader fails the load for waiters, re-panics in its own
// goroutine after the C call returned, and leaves the cache usable.
func TestCacheLoaderPanic(t *testing.T) {
	c := newCache(t, thumbnail.CacheOptions{})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		c.GetOrRender("k", func() ([]byte, error) { panic("boom") }, "10x10")
		t.Fatal("no panic")
	}()
	var calls int32
	img, err := c.GetOrRender("k", bytesLoader(corpus(t, "photos/rocket.jpg"), &calls), "10x10")
	if err != nil || img.Width != 10 {
		t.Fatalf("after a panic: %v", err)
	}
}

func TestCacheClose(t *testing.T) {
	c, err := thumbnail.NewCache(thumbnail.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := corpus(t, "photos/rocket.jpg")
	var calls int32
	if _, err := c.GetOrRender("k", bytesLoader(src, &calls), "10x10"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if img, ok := c.Get("k"); ok || img != nil {
		t.Fatal("Get after Close")
	}
	if _, err := c.GetOrRender("k", bytesLoader(src, &calls), "10x10"); !errors.Is(err, thumbnail.ErrClosed) || calls != 1 {
		t.Fatalf("GetOrRender after Close: %v", err)
	}
	if c.Remove("k") || c.Stats() != (thumbnail.CacheStats{}) || c.StatsJSON() != "" {
		t.Fatal("closed cache still answers")
	}
	c.Clear()
	var nilCache *thumbnail.Cache
	if nilCache.Close() != nil {
		t.Fatal("nil Close")
	}
	// A forgotten cache is freed by its finalizer.
	func() {
		forgotten, err := thumbnail.NewCache(thumbnail.CacheOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := forgotten.GetOrRender("k", bytesLoader(src, &calls), "10x10"); err != nil {
			t.Fatal(err)
		}
	}()
	runtime.GC()
	runtime.GC()
}

// Close while other goroutines use the cache: it waits for calls in
// progress, and later calls see ErrClosed.
func TestCacheCloseConcurrent(t *testing.T) {
	c, err := thumbnail.NewCache(thumbnail.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := corpus(t, "photos/rocket.jpg")
	var wg sync.WaitGroup
	var ops int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprint("k", (g+i)%5)
				_, err := c.GetOrRender(key, func() ([]byte, error) {
					time.Sleep(time.Millisecond)
					return src, nil
				}, "32x32")
				if errors.Is(err, thumbnail.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				c.Get(key)
				c.Stats()
				if i%7 == 0 {
					c.Remove(key)
				}
				atomic.AddInt64(&ops, 1)
			}
		}(g)
	}
	time.Sleep(50 * time.Millisecond)
	c.Close()
	wg.Wait()
	if atomic.LoadInt64(&ops) == 0 {
		t.Fatal("no operation ran before Close")
	}
}
