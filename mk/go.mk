# mk/go.mk: the Go bindings (bindings/go, package thumbnail, cgo).
#
# Included by the top-level Makefile, which defines a `lib` target that runs
# `cargo build --release --locked`. The targets are described by their `##`
# lines (`make help`); go-test-pkgconfig needs mk/capi.mk's capi_install.
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

.PHONY: go-test go-test-pkgconfig go-tools

go-tools:
	@command -v $(GO) >/dev/null 2>&1 || { \
		echo "go-tools: installing golang-go"; \
		apt-get update -qq && apt-get install -y -qq golang-go; }
	@$(GO) version

## go-test: go vet + go test -race of bindings/go, linked
## statically against target/release/libthumbnail.a
## (installs golang-go with apt-get if go is missing)
go-test: go-tools lib
	cd $(GO_DIR) && export $(GO_ENV) CGO_CFLAGS='$(GO_CGO_CFLAGS)' && \
		$(GO) vet ./... && $(GO) test -race -count=1 ./...

## go-test-pkgconfig: the Go tests with -tags
## thumbnail_pkgconfig, against libthumbnail.so installed
## into target/go-prefix (not part of go-test)
go-test-pkgconfig: go-tools lib
	@rm -rf $(GO_PREFIX)
	@$(call capi_install,$(GO_PREFIX),$(GO_PREFIX))
	cd $(GO_DIR) && export $(GO_ENV) CGO_CFLAGS='$(GO_CGO_CFLAGS)' \
		PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig LD_LIBRARY_PATH=$(GO_PREFIX)/lib && \
		$(GO) vet -tags thumbnail_pkgconfig ./... && \
		$(GO) test -tags thumbnail_pkgconfig -count=1 ./...
