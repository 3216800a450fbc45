package thumbnail

import "context"

// GetOrRenderContext is GetOrRender for callers that must stop waiting:
// a request whose client went away, a deadline. It returns ctx.Err() as
// soon as ctx is done, whether this call is loading, rendering, or waiting
// for another goroutine's render of key. load receives ctx, so a fetch of
// the source (e.g. http.NewRequestWithContext) stops with it.
//
// What the library is doing when ctx ends runs to completion in the
// background (a C call cannot be interrupted): a render that finishes is
// still cached for the next caller, and its result is dropped for this
// one. If this call was loading, the load's error (for instance
// context.Canceled from an HTTP client) also reaches the goroutines that
// were waiting for that load, as ErrLoadFailed; they may retry. A panic in
// load is re-raised here while the caller still waits; after ctx has ended
// it is dropped.
//
// With a context that can never be done (context.Background()), this is
// GetOrRender itself, with no extra goroutine.
func (c *Cache) GetOrRenderContext(ctx context.Context, key string, load func(context.Context) ([]byte, error), spec string, opts ...Option) (*Image, error) {
	if load == nil {
		return nil, &Error{Status: StatusInvalidArgument, Msg: "invalid-argument: load is nil"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bound := func() ([]byte, error) { return load(ctx) }
	if ctx.Done() == nil {
		return c.GetOrRender(key, bound, spec, opts...)
	}
	type result struct {
		img      *Image
		err      error
		panicked bool
		value    interface{}
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks on a caller that left
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{panicked: true, value: p}
			}
			done <- r
		}()
		r.img, r.err = c.GetOrRender(key, bound, spec, opts...)
	}()
	select {
	case r := <-done:
		if r.panicked {
			panic(r.value)
		}
		return r.img, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
