package thumbnail_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

// logo is a 40x20 PNG: opaque red.
func logo(t *testing.T) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			m.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestOverlayWatermarksTheCorner(t *testing.T) {
	ov, err := thumbnail.NewOverlay(logo(t), "gravity=southeast margin=8 opacity=0.6")
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	if len(ov.ID()) != 16 {
		t.Fatalf("id %q", ov.ID())
	}
	src := corpus(t, "photos/rocket.jpg")
	plain, err := thumbnail.Render(src, "200x,png")
	if err != nil {
		t.Fatal(err)
	}
	marked, err := thumbnail.Render(src, "200x,png", thumbnail.WithOverlay(ov))
	if err != nil {
		t.Fatal(err)
	}
	a, b := decode(t, plain), decode(t, marked)
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	// Inside the overlay (x w-48..w-8, y h-28..h-8): red at 0.6 over the photo.
	x, y := w-20, h-15
	r0, g0, _, _ := a.At(x, y).RGBA()
	r1, g1, _, _ := b.At(x, y).RGBA()
	wantR := (255*153 + (r0>>8)*102 + 127) / 255
	wantG := (0*153 + (g0>>8)*102 + 127) / 255
	if d := int(r1>>8) - int(wantR); d < -1 || d > 1 {
		t.Errorf("red at (%d,%d): %d, want %d", x, y, r1>>8, wantR)
	}
	if d := int(g1>>8) - int(wantG); d < -1 || d > 1 {
		t.Errorf("green at (%d,%d): %d, want %d", x, y, g1>>8, wantG)
	}
	// Outside it, nothing changed.
	if a.At(5, 5) != b.At(5, 5) || a.At(w-5, h-5) != b.At(w-5, h-5) {
		t.Error("pixels outside the overlay changed")
	}
}

func TestOverlayErrorsAndSpecWm(t *testing.T) {
	if _, err := thumbnail.NewOverlay([]byte("nope"), ""); !errors.Is(err, thumbnail.ErrUnsupported) {
		t.Fatalf("bad image: %v", err)
	}
	if _, err := thumbnail.NewOverlay(logo(t), "opacity=3"); !errors.Is(err, thumbnail.ErrInvalidSpec) {
		t.Fatalf("bad options: %v", err)
	}
	src := corpus(t, "photos/rocket.jpg")
	if _, err := thumbnail.Render(src, "200x,wm"); !errors.Is(err, thumbnail.ErrInvalidSpec) {
		t.Fatalf("wm without overlay: %v", err)
	}
	ov, err := thumbnail.NewOverlay(logo(t), "apply=wm")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := thumbnail.Render(src, "200x,png")
	same, err := thumbnail.Render(src, "200x,png", thumbnail.WithOverlay(ov))
	if err != nil || !bytes.Equal(plain.Data, same.Data) {
		t.Fatalf("apply=wm without wm must not watermark: %v", err)
	}
	marked, err := thumbnail.Render(src, "200x,png,wm", thumbnail.WithOverlay(ov))
	if err != nil || bytes.Equal(plain.Data, marked.Data) {
		t.Fatalf("apply=wm with wm must watermark: %v", err)
	}
	ov.Close()
	if _, err := thumbnail.Render(src, "200x", thumbnail.WithOverlay(ov)); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("closed overlay: %v", err)
	}
}

func TestCacheGetOrRenderWithOverlay(t *testing.T) {
	ov, err := thumbnail.NewOverlay(logo(t), "gravity=northwest")
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	c, err := thumbnail.NewCache(thumbnail.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := corpus(t, "photos/rocket.jpg")
	key := "rocket.jpg|200x|wm=" + ov.ID()
	var wg sync.WaitGroup
	loads := 0
	var mu sync.Mutex
	results := make([]*thumbnail.Image, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			img, err := c.GetOrRender(key, func() ([]byte, error) {
				mu.Lock()
				loads++
				mu.Unlock()
				return src, nil
			}, "200x,png", thumbnail.WithOverlay(ov))
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = img
		}(i)
	}
	wg.Wait()
	direct, err := thumbnail.Render(src, "200x,png", thumbnail.WithOverlay(ov))
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range results {
		if img == nil || !bytes.Equal(img.Data, direct.Data) {
			t.Fatalf("result %d differs from a direct render", i)
		}
	}
	if loads < 1 || loads > len(results) {
		t.Fatalf("loads %d", loads)
	}
}

func TestSignerImgproxyVectorsRotationExpiry(t *testing.T) {
	const path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
	const sig = "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"
	s, err := thumbnail.NewSigner([]thumbnail.SignKey{{Key: "736563726574", Salt: "68656C6C6F"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Sign(path); got != sig {
		t.Fatalf("sign: %q", got)
	}
	if !s.Verify(path, sig) || s.Verify(path+"x", sig) || s.Verify(path, sig[:42]) {
		t.Fatal("verify")
	}
	short, _ := thumbnail.NewSigner([]thumbnail.SignKey{{Key: "736563726574", Salt: "68656C6C6F"}}, 8)
	defer short.Close()
	if got := short.Sign(path); got != "oKfUtW34Dvo" {
		t.Fatalf("size 8: %q", got)
	}
	rotated, err := thumbnail.NewSigner([]thumbnail.SignKey{{Key: "00ff", Salt: "01"}, {Key: "736563726574", Salt: "68656C6C6F"}}, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	if !rotated.Verify(path, sig) || rotated.Sign(path) == sig {
		t.Fatal("rotation")
	}
	expiring := "/200x200,cover,exp=1767225600/cat.jpg"
	esig := s.Sign(expiring)
	if !s.VerifyAt(expiring, esig, time.Unix(1767225600, 0)) || s.VerifyAt(expiring, esig, time.Unix(1767225601, 0)) {
		t.Fatal("expiry")
	}
	if _, err := thumbnail.NewSigner([]thumbnail.SignKey{{Key: "xyz", Salt: "00"}}, 32); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := thumbnail.NewSigner(nil, 32); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("no key: %v", err)
	}
}

func TestCanonicalMayBeLongerThanItsInput(t *testing.T) {
	for spec, want := range map[string]string{
		"x1,bg=123":                   "x1,bg=112233",
		"9x9,cover,focus=.5,.5":       "",
		"9x9,rotate=90,cover,sharpen": "9x9,cover,rotate=90,sharpen",
	} {
		got, err := thumbnail.Canonical(spec)
		if want == "" {
			if !errors.Is(err, thumbnail.ErrInvalidSpec) {
				t.Errorf("%s: %v", spec, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: %q, %v", spec, got, err)
		}
	}
}
