package thumbnail_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thumbnail-rs/thumbnail/bindings/go"
)

// A caller waiting for another goroutine's load of the same key stops at
// its deadline; the load goes on, and its result is cached.
func TestGetOrRenderContextStopsWaiting(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	c := newCache(t, thumbnail.CacheOptions{})
	release := make(chan struct{})
	started := make(chan struct{})
	var loads int32
	slow := func(ctx context.Context) ([]byte, error) {
		atomic.AddInt32(&loads, 1)
		close(started)
		select {
		case <-release:
			return src, nil
		case <-time.After(30 * time.Second):
			return nil, errors.New("never released")
		}
	}
	leader := make(chan error, 1)
	go func() {
		_, err := c.GetOrRenderContext(context.Background(), "k", slow, "64x64")
		leader <- err
	}()
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	img, err := c.GetOrRenderContext(ctx, "k", func(context.Context) ([]byte, error) {
		t.Error("the waiter's load ran")
		return nil, nil
	}, "64x64")
	if !errors.Is(err, context.DeadlineExceeded) || img != nil {
		t.Fatalf("waiter: %v, %v", img, err)
	}
	if waited := time.Since(begin); waited > 10*time.Second {
		t.Fatalf("the waiter returned after %v", waited)
	}

	close(release)
	select {
	case err := <-leader:
		if err != nil {
			t.Fatalf("leader: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("leader did not finish")
	}
	if got, ok := c.Get("k"); !ok || got.Width != 64 {
		t.Fatalf("not cached after the leader finished: %v", ok)
	}
	if loads != 1 {
		t.Fatalf("%d loads", loads)
	}
}

// A done context returns at once without loading; load gets the caller's
// context; results and errors are GetOrRender's.
func TestGetOrRenderContextBasics(t *testing.T) {
	src := corpus(t, "photos/rocket.jpg")
	c := newCache(t, thumbnail.CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetOrRenderContext(ctx, "k", func(context.Context) ([]byte, error) {
		t.Error("loaded with a cancelled context")
		return src, nil
	}, "10x10"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	type key struct{}
	ctx, cancel = context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), time.Minute)
	defer cancel()
	img, err := c.GetOrRenderContext(ctx, "k", func(got context.Context) ([]byte, error) {
		if got.Value(key{}) != "v" {
			t.Error("load did not get the caller's context")
		}
		return src, nil
	}, "20x20,jpg")
	if err != nil || img.Width != 20 {
		t.Fatalf("%v, %v", img, err)
	}
	if _, err := c.GetOrRenderContext(ctx, "bad", func(context.Context) ([]byte, error) { return src, nil }, "0x0"); !errors.Is(err, thumbnail.ErrInvalidSpec) {
		t.Fatalf("invalid spec: %v", err)
	}
	if _, err := c.GetOrRenderContext(ctx, "nil", nil, "10x10"); !errors.Is(err, thumbnail.ErrInvalidArgument) {
		t.Fatalf("nil load: %v", err)
	}
	failure := errors.New("origin said 404")
	if _, err := c.GetOrRenderContext(ctx, "gone", func(context.Context) ([]byte, error) { return nil, failure }, "10x10"); !errors.Is(err, failure) || !errors.Is(err, thumbnail.ErrLoadFailed) {
		t.Fatalf("load error: %v", err)
	}
	// a panic in load reaches the caller
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v", p)
		}
	}()
	c.GetOrRenderContext(ctx, "panics", func(context.Context) ([]byte, error) { panic("boom") }, "10x10")
}
