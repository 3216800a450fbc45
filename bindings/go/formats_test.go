package thumbnail_test

import (
	"bytes"
	"errors"
	"testing"

	thumbnail "github.com/thumbnail-rs/thumbnail/bindings/go"
)

func TestWebPAndGIF(t *testing.T) {
	img, err := thumbnail.Render(corpus(t, "edge/gif/hat.gif"), "45x")
	if err != nil || img.Format != thumbnail.FormatPNG || img.Width != 45 || img.Height != 56 {
		t.Fatalf("gif: %+v %v", img, err)
	}
	img, err = thumbnail.Render(corpus(t, "edge/webp/hat.lossy.webp"), "45x,webp,q70")
	if err != nil || img.Format != thumbnail.FormatWebP || img.MediaType != "image/webp" || !bytes.HasPrefix(img.Data, []byte("RIFF")) {
		t.Fatalf("webp: %+v %v", img, err)
	}
	info, err := thumbnail.Probe(img.Data)
	if err != nil || info.Format != thumbnail.FormatWebP || info.Width != 45 {
		t.Fatalf("probe: %+v %v", info, err)
	}
	// 31 frames: refused as an animation under MaxFrames 10, fine as a still.
	chi := corpus(t, "edge/animated/chi.gif")
	if _, err := thumbnail.Render(chi, "50x,anim", thumbnail.WithLimits(thumbnail.Limits{MaxFrames: 10})); !errors.Is(err, thumbnail.ErrTooLarge) {
		t.Fatalf("anim over MaxFrames: %v", err)
	}
	if img, err = thumbnail.Render(chi, "50x,anim"); err != nil || img.Format != thumbnail.FormatWebP {
		t.Fatalf("anim: %+v %v", img, err)
	}
}

func TestNegotiate(t *testing.T) {
	if f := thumbnail.Negotiate("image/avif,image/webp,*/*", thumbnail.FormatJPEG, false); f != thumbnail.FormatWebP {
		t.Fatalf("webp: %v", f)
	}
	if f := thumbnail.Negotiate("image/webp;q=0, */*", thumbnail.FormatJPEG, true); f != thumbnail.FormatJPEG {
		t.Fatalf("q=0: %v", f)
	}
	if f := thumbnail.Negotiate("", thumbnail.FormatPNG, true); f != thumbnail.FormatPNG {
		t.Fatalf("empty: %v", f)
	}
	spec, varies, err := thumbnail.NegotiateSpec("200x200,q80,auto", "image/webp", false)
	if err != nil || spec != "200x200,auto=webp" || !varies {
		t.Fatalf("auto: %q %v %v", spec, varies, err)
	}
	spec, varies, err = thumbnail.NegotiateSpec("200x200,webp", "*/*", false)
	if err != nil || spec != "200x200,webp" || varies {
		t.Fatalf("explicit: %q %v %v", spec, varies, err)
	}
	if _, _, err := thumbnail.NegotiateSpec("200x200,auto,png", "", false); !errors.Is(err, thumbnail.ErrInvalidSpec) {
		t.Fatalf("bad spec: %v", err)
	}
	if got, err := thumbnail.Canonical("1x1,bg=000"); err != nil || got != "1x1,bg=000000" {
		t.Fatalf("canonical longer than its input: %q %v", got, err)
	}
	_ = thumbnail.AVIFAvailable()
}
