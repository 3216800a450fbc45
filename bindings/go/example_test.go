package thumbnail_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

// samplePNG makes a width x height PNG (a gradient) to stand in for a photo.
func samplePNG(width, height int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			copy(m.Pix[m.PixOffset(x, y):], []uint8{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func ExampleRender() {
	src := samplePNG(640, 480) // e.g. os.ReadFile("photo.jpg")

	img, err := thumbnail.Render(src, "200x200")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Width, img.Height, img.MediaType, len(img.Data) > 0)

	// The same source as a 100x100 JPEG, cropped to fill.
	img, err = thumbnail.Render(src, "100x100,cover,jpeg,q80")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Width, img.Height, img.MediaType)

	// Errors match the sentinels with errors.Is and carry the reason.
	_, err = thumbnail.Render(src, "100x100,big")
	fmt.Println(errors.Is(err, thumbnail.ErrInvalidSpec), err)
	// Output:
	// 200 150 image/png true
	// 100 100 image/jpeg
	// true thumbnail: invalid-spec: unknown option 'big'
}

func ExampleCanonical() {
	spec, err := thumbnail.Canonical("x100,q80,inside")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(spec)
	// Output: x100
}

func ExampleCache_GetOrRender() {
	cache, err := thumbnail.NewCache(thumbnail.CacheOptions{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	spec, _ := thumbnail.Canonical("200x200")
	key := "photos/42.png|" + spec // identify both the source and the spec
	load := func() ([]byte, error) {
		// Called only on a miss, by one goroutine per key at a time.
		fmt.Println("loading")
		return samplePNG(640, 480), nil
	}
	for i := 0; i < 2; i++ {
		img, err := cache.GetOrRender(key, load, spec)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(img.Width, img.Height)
	}
	st := cache.Stats()
	fmt.Println(st.Gets, st.Hits, st.LocalLoads)
	// Output:
	// loading
	// 200 150
	// 200 150
	// 2 1 1
}
