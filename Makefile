# thumbnail: build, test, demo. `make test` installs what it needs.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
SHARED ?= $(CURDIR)/../shared
export THUMBNAIL_SHARED := $(SHARED)

.PHONY: all rust-deps lib test test-rust capi-deps demo demo-cli bench clean

all: lib

## rust-deps: what the build needs besides cargo: cmake, nasm and cc build
## the vendored libjpeg-turbo (JPEG decoding and encoding) with its SIMD
## code; cc also builds libdeflate (PNG image data)
rust-deps:
	@missing=""; \
	for t in cmake:cmake nasm:nasm cc:gcc; do \
	  command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## lib: target/release/libthumbnail.{a,so} and the `thumbnail` CLI
lib: rust-deps
	$(CARGO) build --release --locked

## test: every test suite: Rust (core, cache, CLI, corpus, header drift),
## C ABI (native, valgrind, ASan, pkg-config), Go (cgo, -race), Lua (LuaJIT,
## nginx + lua-nginx-module), the nginx module (real nginx, pytest), the fuzz
## regressions, 30 s of each fuzz target, a 60 s soak of nginx with the module
test: test-rust capi-test go-test lua-test nginx-test fuzz-regress fuzz-short soak-short

test-rust: rust-deps
	$(CARGO) test --release --locked

## demo: nginx on 127.0.0.1:8080 with the module, serving thumbnails of samples/
demo: nginx-demo

## demo-cli: the CLI alone: thumbnails of the sample images into target/demo
demo-cli: lib
	@mkdir -p target/demo
	@for f in samples/*.png samples/*.jpg; do \
	  n=$$(basename $${f%.*}); \
	  for s in 200x200 400x300,cover 300x300,contain,bg=222; do \
	    ./target/release/thumbnail $$f -s $$s -o target/demo/$$n-$${s//[,=]/_}.jpg || exit 1; \
	  done; \
	done
	@ls -1 target/demo | sed 's|^|target/demo/|'

## bench: criterion benchmarks of the core and the cache
bench: rust-deps
	$(CARGO) bench --locked

## capi-deps: what the C tests need (apt, only when missing)
capi-deps:
	@missing=""; \
	for t in valgrind:valgrind pkg-config:pkg-config cc:gcc readelf:binutils; do \
	  command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

capi-build capi-test-asan capi-check-soname capi-test-pkgconfig: capi-deps

clean:
	$(CARGO) clean

include mk/capi.mk
include mk/go.mk
include mk/lua.mk
include mk/nginx.mk
include mk/bench.mk
include mk/fuzz.mk
include mk/soak.mk
