package thumbnail_test

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

func TestVersion(t *testing.T) {
	if got := thumbnail.LibraryABIVersion(); got != thumbnail.ABIVersion {
		t.Fatalf("library ABI %d, header ABI %d", got, thumbnail.ABIVersion)
	}
	if thumbnail.Version() == "" {
		t.Fatal("empty version")
	}
}

func TestRenderPhotos(t *testing.T) {
	cases := []struct {
		file, spec string
		w, h       int
		format     thumbnail.Format
	}{
		{"photos/kodak/kodim01.png", "200x200", 200, 133, thumbnail.FormatPNG},
		{"photos/rocket.jpg", "200x200", 200, 133, thumbnail.FormatJPEG},
		{"photos/rocket.jpg", "100x100,cover,png", 100, 100, thumbnail.FormatPNG},
		{"photos/kodak/kodim01.png", "x64,jpeg,q80", 96, 64, thumbnail.FormatJPEG},
		{"edge/exif-orientation/Landscape_6.jpg", "300x", 300, 200, thumbnail.FormatJPEG},
	}
	for _, c := range cases {
		c := c
		t.Run(strings.ReplaceAll(c.file+":"+c.spec, "/", "_"), func(t *testing.T) {
			img, err := thumbnail.Render(corpus(t, c.file), c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != c.w || img.Height != c.h || img.Format != c.format {
				t.Fatalf("got %dx%d %v, want %dx%d %v", img.Width, img.Height, img.Format, c.w, c.h, c.format)
			}
			if img.MediaType != c.format.MediaType() {
				t.Fatalf("media type %q", img.MediaType)
			}
			decode(t, img)
		})
	}
}

// Landscape_6.jpg is stored 1200x1800 with EXIF orientation 6; rendered, it
// must look like Landscape_1.jpg (stored upright).
func TestRenderAppliesEXIFOrientation(t *testing.T) {
	info, err := thumbnail.Probe(corpus(t, "edge/exif-orientation/Landscape_6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 1200 || info.Height != 1800 || info.Orientation != 6 || info.Format != thumbnail.FormatJPEG {
		t.Fatalf("probe: %+v", info)
	}
	if w, h := info.DisplaySize(); w != 1800 || h != 1200 {
		t.Fatalf("display size %dx%d", w, h)
	}
	rotated, err := thumbnail.Render(corpus(t, "edge/exif-orientation/Landscape_6.jpg"), "300x")
	if err != nil {
		t.Fatal(err)
	}
	upright, err := thumbnail.Render(corpus(t, "edge/exif-orientation/Landscape_1.jpg"), "300x")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Width != 300 || rotated.Height != 200 {
		t.Fatalf("rotated: %dx%d, want 300x200", rotated.Width, rotated.Height)
	}
	if d := meanAbsDiff(decode(t, rotated), decode(t, upright)); d > 12 {
		t.Fatalf("orientation 6 render differs from the upright one by %.1f per pixel", d)
	}
}

func TestProbe(t *testing.T) {
	info, err := thumbnail.Probe(corpus(t, "photos/kodak/kodim01.png"))
	if err != nil {
		t.Fatal(err)
	}
	want := thumbnail.Info{Format: thumbnail.FormatPNG, Width: 768, Height: 512, Orientation: 1}
	if info != want {
		t.Fatalf("got %+v, want %+v", info, want)
	}
	if _, err := thumbnail.Probe(nil); !errors.Is(err, thumbnail.ErrUnsupported) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := thumbnail.Probe([]byte("BM\x00\x00\x00\x00")); !errors.Is(err, thumbnail.ErrUnsupported) {
		t.Fatalf("bmp: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	got, err := thumbnail.Canonical("x100,q80,inside")
	if err != nil || got != "x100" {
		t.Fatalf("got %q, %v", got, err)
	}
	got, err = thumbnail.Canonical("200x200,cover")
	if err != nil || got != "200x200,cover" {
		t.Fatalf("got %q, %v", got, err)
	}
	// issue 18: canonical forms longer than their input (the buffer was
	// sized len(spec)+1, so these failed with ErrBufferTooSmall).
	for in, want := range map[string]string{
		"200x200,jpg":        "200x200,jpeg",
		"9x9,bg=222":         "9x9,bg=222222",
		"9x,jpg,bg=123,q9":   "9x,jpeg,q9,bg=112233",
		"1x1,bg=fff,jpg,q80": "1x1,jpeg",
	} {
		if got, err := thumbnail.Canonical(in); err != nil || got != want {
			t.Fatalf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0x0", "100x100,big"} {
		if _, err := thumbnail.Canonical(bad); !errors.Is(err, thumbnail.ErrInvalidSpec) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	kodim := corpus(t, "photos/kodak/kodim01.png")
	cases := []struct {
		name   string
		src    []byte
		spec   string
		opts   []thumbnail.Option
		want   *thumbnail.Error
		inMsg  string
		status thumbnail.Status
	}{
		{"invalid spec", kodim, "0x0", nil, thumbnail.ErrInvalidSpec, "invalid-spec: ", thumbnail.StatusInvalidSpec},
		{"unknown option", kodim, "100x100,big", nil, thumbnail.ErrInvalidSpec, "invalid-spec: unknown option 'big'", thumbnail.StatusInvalidSpec},
		{"bmp", []byte("BM\x00\x00\x00\x00"), "100x100", nil, thumbnail.ErrUnsupported, "unsupported: BMP", thumbnail.StatusUnsupported},
		{"nil input", nil, "100x100", nil, thumbnail.ErrUnsupported, "unsupported: ", thumbnail.StatusUnsupported},
		{"empty input", []byte{}, "100x100", nil, thumbnail.ErrUnsupported, "unsupported: ", thumbnail.StatusUnsupported},
		{"corrupt png", corpus(t, "corrupt/png/x_ihdr_missing.png"), "100x100", nil, thumbnail.ErrCorrupt, "corrupt: ", thumbnail.StatusCorrupt},
		{"truncated png, strict", kodim[:len(kodim)/2], "100x100", []thumbnail.Option{thumbnail.WithLimits(thumbnail.Limits{Strict: true})}, thumbnail.ErrCorrupt, "corrupt: ", thumbnail.StatusCorrupt},
		{"pixel bomb", corpus(t, "corrupt/bombs/giant-image.jpg"), "100x100", nil, thumbnail.ErrTooLarge, "too-large: ", thumbnail.StatusTooLarge},
		{"source bytes limit", kodim, "100x100", []thumbnail.Option{thumbnail.WithLimits(thumbnail.Limits{MaxSourceBytes: 1000})}, thumbnail.ErrTooLarge, "too-large: ", thumbnail.StatusTooLarge},
		{"source pixels limit", kodim, "100x100", []thumbnail.Option{thumbnail.WithLimits(thumbnail.Limits{MaxSourcePixels: 768*512 - 1})}, thumbnail.ErrTooLarge, "too-large: ", thumbnail.StatusTooLarge},
		{"output limit", kodim, "300x300", []thumbnail.Option{thumbnail.WithLimits(thumbnail.Limits{MaxOutputWidth: 100, MaxOutputHeight: 100})}, thumbnail.ErrTooLarge, "too-large: ", thumbnail.StatusTooLarge},
		{"negative limit", kodim, "100x100", []thumbnail.Option{thumbnail.WithLimits(thumbnail.Limits{MaxSourceBytes: -1})}, thumbnail.ErrInvalidArgument, "invalid-argument: ", thumbnail.StatusInvalidArgument},
	}
	all := []error{thumbnail.ErrInvalidSpec, thumbnail.ErrUnsupported, thumbnail.ErrCorrupt, thumbnail.ErrTooLarge,
		thumbnail.ErrInvalidArgument, thumbnail.ErrInternal, thumbnail.ErrLoadFailed}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			img, err := thumbnail.Render(c.src, c.spec, c.opts...)
			if img != nil || err == nil {
				t.Fatalf("got %v, %v; want an error", img, err)
			}
			for _, s := range all {
				if got, want := errors.Is(err, s), s == error(c.want); got != want {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if got, want := thumbnail.HTTPStatus(err), c.status.HTTPStatus(); got != want || want < 400 {
				t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, want)
			}
			var e *thumbnail.Error
			if !errors.As(err, &e) || e.Status != c.status {
				t.Fatalf("errors.As: %#v", err)
			}
			if !strings.HasPrefix(e.Msg, c.inMsg) || !strings.HasPrefix(err.Error(), "thumbnail: "+c.status.String()+": ") {
				t.Fatalf("message %q / %q, want prefix %q", e.Msg, err.Error(), c.inMsg)
			}
		})
	}
}

// Limits that are not exceeded change nothing; zero fields keep defaults.
func TestRenderWithLimits(t *testing.T) {
	def := thumbnail.DefaultLimits()
	if def.MaxSourceBytes != 64<<20 || def.MaxSourcePixels != 50000000 || def.MaxOutputWidth != 4096 || def.MaxOutputHeight != 4096 || def.Strict || def.MaxOutputBytes != 0 ||
		def.MaxFrames != 100 || def.MaxAnimationPixels != 50000000 || def.AVIFSpeed != 9 {
		t.Fatalf("defaults %+v", def)
	}
	img, err := thumbnail.Render(corpus(t, "photos/rocket.jpg"), "200x200",
		thumbnail.WithLimits(thumbnail.Limits{MaxOutputWidth: 200, MaxOutputHeight: 200}))
	if err != nil || img.Width != 200 {
		t.Fatalf("%v %v", img, err)
	}
	if _, err := thumbnail.Render(corpus(t, "photos/rocket.jpg"), "200x200", thumbnail.WithLimits(thumbnail.Limits{})); err != nil {
		t.Fatal(err)
	}
	if _, err := thumbnail.Render(corpus(t, "photos/rocket.jpg"), "200x200,png",
		thumbnail.WithLimits(thumbnail.Limits{MaxOutputBytes: 1000})); !errors.Is(err, thumbnail.ErrTooLarge) {
		t.Fatalf("MaxOutputBytes 1000: %v", err)
	}
}

// A truncated source is served as far as it decodes, as browsers show it;
// Strict refuses it (the README's damage policy).
func TestStrictRefusesWhatTheDefaultServes(t *testing.T) {
	for _, path := range []string{"corrupt/truncated/peacock.default.truncated.jpeg", "corrupt/truncated/hippopotamus.regular.truncated.png"} {
		src := corpus(t, path)
		if _, err := thumbnail.Render(src, "64x64"); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_, err := thumbnail.Render(src, "64x64", thumbnail.WithLimits(thumbnail.Limits{Strict: true}))
		if !errors.Is(err, thumbnail.ErrCorrupt) {
			t.Fatalf("%s strict: %v", path, err)
		}
	}
}

func TestRenderConcurrent(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	want, err := thumbnail.Render(src, "120x120")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				if i%2 == 1 {
					if _, err := thumbnail.Render(src, "0x0"); !errors.Is(err, thumbnail.ErrInvalidSpec) {
						errs <- err
					}
					continue
				}
				img, err := thumbnail.Render(src, "120x120")
				if err != nil {
					errs <- err
				} else if !bytes.Equal(img.Data, want.Data) {
					errs <- errors.New("concurrent render gave different bytes")
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// rss returns the resident set size from /proc/self/statm.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// Renders free their C memory: C allocations are invisible to
// runtime.MemStats, so measure the process's RSS. A leak of the decoded
// source (1.2 MB) or of the output (~60 KB) per render would exceed the
// bound after 300 renders.
func TestRenderMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	src := corpus(t, "photos/kodak/kodim01.png")
	render := func(n int) {
		for i := 0; i < n; i++ {
			img, err := thumbnail.Render(src, "200x200")
			if err != nil {
				t.Fatal(err)
			}
			if i%50 == 0 {
				if _, err := thumbnail.Render(src, "0x0"); err == nil { // error path too
					t.Fatal("no error")
				}
			}
			_ = img
		}
	}
	// The cache path: every call loads (the loaded bytes are copied into C
	// memory) and renders, as the cache stores nothing.
	cache, err := thumbnail.NewCache(thumbnail.CacheOptions{CapacityBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	load := func() ([]byte, error) { return src, nil }
	cached := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := cache.GetOrRender("k", load, "200x200"); err != nil {
				t.Fatal(err)
			}
		}
	}
	render(30) // warm up allocator arenas and the Go heap
	cached(10)
	settle()
	before := rss(t)
	render(300)
	cached(100)
	settle()
	after := rss(t)
	growth := after - before
	t.Logf("RSS %d KiB -> %d KiB (%+d KiB) over 300 renders and 100 cache loads", before>>10, after>>10, growth>>10)
	if growth > 12<<20 {
		t.Fatalf("RSS grew by %d KiB", growth>>10)
	}
}
