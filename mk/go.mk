# mk/go.mk: the Go bindings (bindings/go, package thumbnail, cgo).
#
# Included by the top-level Makefile, which defines a `lib` target that runs
# `cargo build --release --locked`. The targets are described by their `##`
# lines (`make help`); go-test-pkgconfig and go-test-outside need
# mk/capi.mk's capi_install.
#
# Link modes (bindings/go/link_*.go): the default build takes libthumbnail
# from pkg-config (an installed library, as a user has it); -tags
# thumbnail_static links this checkout's target/release/libthumbnail.a.
#
# The tests read the corpus from $THUMBNAIL_SHARED/corpus (the top Makefile
# exports THUMBNAIL_SHARED), else from ../shared beside the repository.

GO        ?= go
GO_DIR    := $(CURDIR)/bindings/go
GO_PREFIX := $(CURDIR)/target/go-prefix
# Standard library only: never reach for a module proxy.
GO_ENV := GOFLAGS=-mod=mod GOPROXY=off
# Without HOME (some CI environments) go has no default build cache.
ifeq ($(HOME),)
GO_ENV += GOCACHE=$(CURDIR)/target/go/cache GOPATH=$(CURDIR)/target/go/path
endif
# go's build cache does not notice changes to headers outside the package
# (include/thumbnail.h); naming the header's hash in CGO_CFLAGS, which is part
# of the cache key, makes cgo recompile when the header changes.
GO_HEADER_SUM = $(shell sha256sum include/thumbnail.h | cut -c1-16)
GO_CGO_CFLAGS = $(or $(CGO_CFLAGS),-g -O2) -DTHUMBNAIL_HEADER_SUM=$(GO_HEADER_SUM)

GO_OUTSIDE := $(CURDIR)/target/go-outside

.PHONY: go-test go-test-static go-test-pkgconfig go-test-outside go-tools

go-tools:
	@command -v $(GO) >/dev/null 2>&1 || { \
		echo "go-tools: installing golang-go"; \
		apt-get update -qq && apt-get install -y -qq golang-go; }
	@$(GO) version

## go-test: go-test-static (the tests, -race, in-tree) and
## go-test-outside (a user's module, default build)
go-test: go-test-static go-test-outside

## go-test-static: go vet + go test -race of bindings/go with
## -tags thumbnail_static: target/release/libthumbnail.a of
## this checkout (installs golang-go with apt-get if missing)
go-test-static: go-tools lib
	cd $(GO_DIR) && export $(GO_ENV) CGO_CFLAGS='$(GO_CGO_CFLAGS)' && \
		$(GO) vet -tags thumbnail_static ./... && $(GO) test -tags thumbnail_static -race -count=1 ./...

## go-test-pkgconfig: the Go tests built the default way
## (pkg-config), against libthumbnail.so installed into
## target/go-prefix (not part of go-test)
go-test-pkgconfig: go-tools lib
	@rm -rf $(GO_PREFIX)
	@$(call capi_install,$(GO_PREFIX),$(GO_PREFIX))
	cd $(GO_DIR) && export $(GO_ENV) CGO_CFLAGS='$(GO_CGO_CFLAGS)' \
		PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig LD_LIBRARY_PATH=$(GO_PREFIX)/lib && \
		$(GO) vet ./... && $(GO) test -count=1 ./...

## go-test-outside: bindings/go/examples/render copied into
## its own module in a mktemp -d folder, with the README's
## go.mod lines (require + replace to this checkout), built
## the default way (pkg-config, an install in
## target/go-prefix) and run on a photo
go-test-outside: go-tools lib
	@rm -rf $(GO_PREFIX)
	@$(call capi_install,$(GO_PREFIX),$(GO_PREFIX))
	@set -e; app=$$(mktemp -d); trap 'rm -rf "$$app"' EXIT; \
	cp $(GO_DIR)/examples/render/main.go $$app/; \
	printf '%s\n' 'module example.com/render' '' 'go 1.19' '' \
		'require github.com/thumbnail-rs/thumbnail/bindings/go v0.0.0' '' \
		'replace github.com/thumbnail-rs/thumbnail/bindings/go => $(GO_DIR)' > $$app/go.mod; \
	cd $$app && export $(GO_ENV) PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig; \
	$(GO) build -o render . ; \
	if $(GO) list -f '{{.CgoFiles}}' -deps . | grep -q link_static; then \
		echo "go-test-outside: the default build picked link_static.go" >&2; exit 1; fi; \
	LD_LIBRARY_PATH=$(GO_PREFIX)/lib ./render $(SHARED)/corpus/photos/rocket.jpg 200x200,jpg $$app/out.jpg; \
	$(READELF) -d render | grep -q 'NEEDED.*libthumbnail\.so\.$(CAPI_ABI)'; \
	echo "go-test-outside: a module outside the checkout builds with pkg-config and runs"
