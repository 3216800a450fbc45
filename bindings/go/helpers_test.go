package thumbnail_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

// sharedDir is the project's shared/ directory: $THUMBNAIL_SHARED, else
// ../../../shared relative to this package (the repository's sibling).
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("THUMBNAIL_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "corpus")); err != nil {
		t.Fatalf("test corpus not found in %s (set THUMBNAIL_SHARED to the shared/ directory): %v", dir, err)
	}
	return dir
}

// corpus reads a file of shared/corpus.
func corpus(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "corpus", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode decodes img.Data with the standard library decoder for its
// format, checking that format, media type and size agree.
func decode(t testing.TB, img *thumbnail.Image) image.Image {
	t.Helper()
	var (
		m   image.Image
		err error
	)
	switch img.Format {
	case thumbnail.FormatJPEG:
		if img.MediaType != "image/jpeg" {
			t.Fatalf("JPEG with media type %q", img.MediaType)
		}
		m, err = jpeg.Decode(bytes.NewReader(img.Data))
	case thumbnail.FormatPNG:
		if img.MediaType != "image/png" {
			t.Fatalf("PNG with media type %q", img.MediaType)
		}
		m, err = png.Decode(bytes.NewReader(img.Data))
	default:
		t.Fatalf("unexpected format %v", img.Format)
	}
	if err != nil {
		t.Fatalf("decoding the %v output: %v", img.Format, err)
	}
	if b := m.Bounds(); b.Dx() != img.Width || b.Dy() != img.Height {
		t.Fatalf("decoded %dx%d, Image says %dx%d", b.Dx(), b.Dy(), img.Width, img.Height)
	}
	return m
}

// meanAbsDiff compares two images of the same size by luma, 0..255.
func meanAbsDiff(a, b image.Image) float64 {
	r := a.Bounds()
	var sum float64
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			la := luma(a, r.Min.X+x, r.Min.Y+y)
			lb := luma(b, b.Bounds().Min.X+x, b.Bounds().Min.Y+y)
			if la > lb {
				sum += la - lb
			} else {
				sum += lb - la
			}
		}
	}
	return sum / float64(r.Dx()*r.Dy())
}

func luma(m image.Image, x, y int) float64 {
	r, g, b, _ := m.At(x, y).RGBA()
	return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
}

func TestHTTPStatus(t *testing.T) {
	want := map[thumbnail.Status]int{
		thumbnail.StatusOK: 200, thumbnail.StatusInvalidSpec: 400, thumbnail.StatusUnsupported: 415,
		thumbnail.StatusCorrupt: 415, thumbnail.StatusTooLarge: 413, thumbnail.StatusInvalidArgument: 500,
		thumbnail.StatusInternal: 500, thumbnail.StatusNotFound: 404, thumbnail.StatusBufferTooSmall: 500,
		thumbnail.StatusLoadFailed: 502, thumbnail.Status(99): 500, thumbnail.Status(1 << 40): 500,
	}
	for s, code := range want {
		if got := s.HTTPStatus(); got != code {
			t.Errorf("%v.HTTPStatus() = %d, want %d", s, got, code)
		}
	}
	if thumbnail.HTTPStatus(nil) != 200 || thumbnail.HTTPStatus(thumbnail.ErrClosed) != 500 {
		t.Error("HTTPStatus of nil or a plain error")
	}
}
