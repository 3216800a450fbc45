// Command render is the smallest program using the Go bindings from its
// own module, as a user outside the repository writes it (see go.mod and
// the bindings' README): render FILE SPEC OUT.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	thumbnail "github.com/thumbnail-rs/thumbnail/bindings/go"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: render FILE SPEC OUT")
		os.Exit(1)
	}
	file, spec, out := os.Args[1], os.Args[2], os.Args[3]
	cache, err := thumbnail.NewCache(thumbnail.CacheOptions{CapacityBytes: 16 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cache.Close()
	canonical, err := thumbnail.Canonical(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	img, err := cache.GetOrRenderContext(ctx, file+"|"+canonical, func(context.Context) ([]byte, error) {
		return os.ReadFile(file)
	}, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.WriteFile(out, img.Data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%dx%d %s, libthumbnail %s\n", img.Width, img.Height, img.MediaType, thumbnail.Version())
}
