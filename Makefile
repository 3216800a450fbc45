# thumbnail: build, test, demo. `make test` installs what it needs.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
SHARED ?= $(CURDIR)/../shared
# Cargo features of the library build (`lib`, hence the nginx module, Go,
# Lua and C tests), e.g. CARGO_FEATURES=avif for AVIF output.
CARGO_FEATURES ?=
CARGO_FEATURE_FLAGS := $(if $(CARGO_FEATURES),--features $(CARGO_FEATURES))
export THUMBNAIL_SHARED := $(SHARED)

.PHONY: all help rust-deps lib lint test test-rust formats-deps capi-deps demo demo-cli bench clean

all: lib

## help: this list: the `## target: text` lines of the
## Makefile and of mk/*.mk, in the order make reads them
# A line `## name: text` starts a target's entry; further `##` lines continue
# it (so a continuation must not begin with `word:`).
help:
	@awk '/^## / { \
	    if (FILENAME != file) { file = FILENAME; printf "%s%s\n", (n++ ? "\n" : ""), file } \
	    text = substr($$0, 4); \
	    if (match(text, /^[A-Za-z0-9_.-]+: /)) { \
	        printf "  %-20s %s\n", substr(text, 1, RLENGTH - 2), substr(text, RLENGTH + 1) \
	    } else { \
	        printf "  %-20s %s\n", "", text \
	    } \
	}' $(MAKEFILE_LIST)

## rust-deps: what the build needs besides cargo (apt-get,
## only when missing): cmake, nasm and cc build the vendored
## libjpeg-turbo (JPEG decoding and encoding) with its SIMD
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

## lib: target/release/libthumbnail.{a,so} and the
## `thumbnail` CLI (cargo build --release), plus the link
## libthumbnail.so.N -> libthumbnail.so that the SONAME names,
## so programs linked in-tree run with LD_LIBRARY_PATH or rpath
lib: rust-deps
	$(CARGO) build --release --locked $(CARGO_FEATURE_FLAGS)
	@ln -sfn libthumbnail.so target/release/libthumbnail.so.$(CAPI_ABI)

## test: every test suite; installs what it needs: lint
## (rustfmt, clippy, gofmt), Rust (core, cache, CLI, corpus,
## header drift), C ABI (native, valgrind, ASan, pkg-config),
## Go (cgo, -race), Lua (LuaJIT, nginx + lua-nginx-module),
## the nginx module (real nginx, pytest), the cluster (etcd,
## 3 nodes + router, groupcache example), make install +
## uninstall into a DESTDIR (install-test), the Debian
## packages in a clean bookworm chroot (deb-test), the fuzz
## regressions, 30 s of each fuzz target, a 60 s soak of nginx
test: lint test-rust capi-test go-test lua-test nginx-test cluster-test install-test deb-test fuzz-regress fuzz-short soak-short

## lint: rustfmt and clippy (-D warnings, every target; the
## lint set is in Cargo.toml [lints]), gofmt; a stray `unsafe`
## outside src/ffi fails the build
lint: rust-deps go-tools
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings
	@out=$$(gofmt -l bindings/go); if [ -n "$$out" ]; then \
	  echo "gofmt: these files need formatting (gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi

## test-rust: the Rust tests only (cargo test --release);
## tests/formats.rs compares with Debian's dwebp, webpmux and
## ImageMagick (apt-get, only when missing)
test-rust: rust-deps fidelity-deps formats-deps
	$(CARGO) test --release --locked $(CARGO_FEATURE_FLAGS)

# Reference decoders of tests/formats.rs: dwebp, webpmux, ImageMagick, and
# libvips (vips) for AVIF with --features avif (ngx_apt: mk/nginx.mk).
formats-deps:
	@$(call ngx_apt,webp imagemagick libvips-tools)

## demo: nginx on 127.0.0.1:8080 with the module, serving
## thumbnails of samples/ (same as nginx-demo)
demo: nginx-demo

## demo-cli: the CLI alone: thumbnails of samples/ into
## target/demo
demo-cli: lib
	@mkdir -p target/demo
	@for f in samples/*.png samples/*.jpg; do \
	  n=$$(basename $${f%.*}); \
	  for s in 200x200 400x300,cover 300x300,contain,bg=222; do \
	    ./target/release/thumbnail $$f -s $$s -o target/demo/$$n-$${s//[,=]/_}.jpg || exit 1; \
	  done; \
	done
	@ls -1 target/demo | sed 's|^|target/demo/|'

## bench: cargo bench: the criterion benches (pipeline
## stages, codecs, cache) and compare_inprocess
## (benches/README.md)
bench: rust-deps
	$(CARGO) bench --locked

## capi-deps: what the C tests need: valgrind, pkg-config,
## cc, readelf (apt-get, only when missing)
capi-deps:
	@missing=""; \
	for t in valgrind:valgrind pkg-config:pkg-config cc:gcc readelf:binutils; do \
	  command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

capi-build capi-test-asan capi-check-soname capi-test-pkgconfig capi-test-intree: capi-deps

## clean: cargo clean: removes target/ (the nginx build, the
## venvs and the demo's files too)
clean:
	$(CARGO) clean

include mk/capi.mk
include mk/go.mk
include mk/lua.mk
include mk/nginx.mk
include mk/cluster.mk
include mk/bench.mk
include mk/fidelity.mk
include mk/install.mk
include mk/deb.mk
include mk/fuzz.mk
include mk/soak.mk
