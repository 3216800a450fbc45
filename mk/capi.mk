# mk/capi.mk: the C API: header generation, installation with pkg-config,
# and the C tests (native, valgrind, AddressSanitizer, pkg-config example).
#
# Included by the top-level Makefile, which defines PREFIX (?= /usr/local) and
# a `lib` target that runs `cargo build --release`. The targets are described
# by their `##` lines (`make help`).
#
# Needs: cc (gcc or clang), valgrind, pkg-config, readelf (binutils).

# Both from Cargo.toml, their one home.
CAPI_ABI              := $(shell sed -n '/^\[package.metadata.capi\]/,/^\[/s/^abi-version *= *\([0-9]*\).*/\1/p' Cargo.toml)
CAPI_CBINDGEN_VERSION := 0.29.4
CAPI_VERSION          := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

PREFIX     ?= /usr/local
CARGO      ?= cargo
CBINDGEN   ?= $(or $(CARGO_HOME),$(HOME)/.cargo)/bin/cbindgen
VALGRIND   ?= valgrind
PKG_CONFIG ?= pkg-config
READELF    ?= readelf

# The test corpus lives beside the repository (the top Makefile's SHARED).
CAPI_SHARED  ?= $(or $(SHARED),$(CURDIR)/../shared)
CAPI_CORPUS  ?= $(CAPI_SHARED)/corpus

CAPI_RELEASE     := $(CURDIR)/target/release
CAPI_OUT         := $(CURDIR)/target/capi
CAPI_TEST_PREFIX := $(CURDIR)/target/capi-prefix
CAPI_TESTS       := test_render test_cache test_ops
CAPI_CFLAGS      := -std=c11 -Wall -Wextra -Werror -pthread -g -O1 -I$(CURDIR)/include
# What the Rust staticlib needs from the system on Linux/glibc: the output of
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`.
CAPI_LIBS_PRIVATE := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
CAPI_VALGRIND_FLAGS := --quiet --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite

.PHONY: header header-check cbindgen-cli capi-install \
	capi-test capi-test-native capi-test-valgrind capi-test-asan capi-test-pkgconfig \
	capi-build capi-check-soname

# --- header --------------------------------------------------------------

## header: regenerate include/thumbnail.h with cbindgen
## (installs the pinned cbindgen with cargo if needed)
# cbindgen on src/ffi/mod.rs only (see cbindgen.toml); the same version as the
# dev-dependency tests/header_drift.rs uses, so both produce the same bytes.
header: cbindgen-cli
	$(CBINDGEN) --quiet --config cbindgen.toml --output include/thumbnail.h src/ffi/mod.rs

## header-check: fail if include/thumbnail.h differs from
## what cbindgen makes (tests/header_drift.rs checks it too)
header-check: cbindgen-cli
	@$(CBINDGEN) --quiet --verify --config cbindgen.toml --output include/thumbnail.h src/ffi/mod.rs \
		|| { echo "include/thumbnail.h is out of date: run 'make header' and commit it" >&2; exit 1; }

cbindgen-cli:
	@if [ "$$($(CBINDGEN) --version 2>/dev/null)" != "cbindgen $(CAPI_CBINDGEN_VERSION)" ]; then \
		echo "installing cbindgen $(CAPI_CBINDGEN_VERSION)"; \
		$(CARGO) install cbindgen --version $(CAPI_CBINDGEN_VERSION) --locked; \
	fi

# --- install -------------------------------------------------------------

# $(call capi_install,ROOT,PREFIX): installs under ROOT; the .pc file says PREFIX.
define capi_install
	install -d $(1)/include $(1)/lib/pkgconfig
	install -m 644 include/thumbnail.h $(1)/include/thumbnail.h
	install -m 644 $(CAPI_RELEASE)/libthumbnail.a $(1)/lib/libthumbnail.a
	install -m 755 $(CAPI_RELEASE)/libthumbnail.so $(1)/lib/libthumbnail.so.$(CAPI_ABI)
	ln -sfn libthumbnail.so.$(CAPI_ABI) $(1)/lib/libthumbnail.so
	sed -e 's|@PREFIX@|$(2)|g' -e 's|@VERSION@|$(CAPI_VERSION)|g' \
		-e 's|@LIBS_PRIVATE@|$(CAPI_LIBS_PRIVATE)|g' \
		bindings/c/thumbnail.pc.in > $(1)/lib/pkgconfig/thumbnail.pc
	chmod 644 $(1)/lib/pkgconfig/thumbnail.pc
endef

# `make install` is mk/install.mk's: its install-lib is this capi-install
# (thumbnail.h, libthumbnail.a, libthumbnail.so.N + the .so link,
# thumbnail.pc into DESTDIR/PREFIX).
capi-install: lib
	$(call capi_install,$(DESTDIR)$(PREFIX),$(PREFIX))

# --- tests ---------------------------------------------------------------

## capi-test: every C test: the five capi-test-* below
capi-test: capi-test-native capi-test-valgrind capi-test-asan capi-test-pkgconfig capi-test-intree
	@echo "capi-test: all passed"

# Each test linked statically (the default) and once against the shared
# library, laid out as installed (cargo names it only libthumbnail.so, while
# programs linked with it look for its SONAME, libthumbnail.so.$(CAPI_ABI)).
capi-build: lib
	@mkdir -p $(CAPI_OUT)/lib
	@cp -f $(CAPI_RELEASE)/libthumbnail.so $(CAPI_OUT)/lib/libthumbnail.so.$(CAPI_ABI)
	@ln -sfn libthumbnail.so.$(CAPI_ABI) $(CAPI_OUT)/lib/libthumbnail.so
	@for t in $(CAPI_TESTS); do \
		echo "  CC $$t (static, shared)"; \
		$(CC) $(CAPI_CFLAGS) tests/c/$$t.c $(CAPI_RELEASE)/libthumbnail.a $(CAPI_LIBS_PRIVATE) \
			-o $(CAPI_OUT)/$$t || exit 1; \
		$(CC) $(CAPI_CFLAGS) tests/c/$$t.c -L$(CAPI_OUT)/lib -lthumbnail \
			-o $(CAPI_OUT)/$$t-shared || exit 1; \
	done

## capi-test-native: tests/c linked statically, then against
## the shared library
capi-test-native: capi-build
	@for t in $(CAPI_TESTS); do \
		$(CAPI_OUT)/$$t $(CAPI_CORPUS) || exit 1; \
		LD_LIBRARY_PATH=$(CAPI_OUT)/lib $(CAPI_OUT)/$$t-shared $(CAPI_CORPUS) || exit 1; \
	done

## capi-test-valgrind: the static tests under memcheck (no
## errors, no definite leaks)
capi-test-valgrind: capi-build
	@command -v $(VALGRIND) >/dev/null || { echo "capi-test-valgrind: $(VALGRIND) not found (apt-get install valgrind)" >&2; exit 1; }
	@for t in $(CAPI_TESTS); do \
		echo "  VALGRIND $$t"; \
		$(VALGRIND) $(CAPI_VALGRIND_FLAGS) $(CAPI_OUT)/$$t $(CAPI_CORPUS) || exit 1; \
	done

## capi-test-asan: the tests built with -fsanitize=address
## (skipped, with a message, if cc cannot build ASan
## programs)
# The Rust staticlib is not instrumented, but ASan still checks every C-side
# access and, through its malloc, use-after-free and overflows of memory the
# library hands out. LeakSanitizer needs ptrace; where a sandbox forbids it,
# leaks are left to valgrind.
capi-test-asan: lib
	@mkdir -p $(CAPI_OUT)
	@if ! echo 'int main(void) { return 0; }' | $(CC) -fsanitize=address -x c - -o $(CAPI_OUT)/asan-probe 2>/dev/null; then \
		echo "capi-test-asan: SKIPPED: $(CC) cannot build -fsanitize=address programs (install libasan)"; \
		exit 0; \
	fi; \
	if ASAN_OPTIONS=detect_leaks=1 $(CAPI_OUT)/asan-probe >/dev/null 2>&1; then leaks=1; else \
		leaks=0; echo "capi-test-asan: LeakSanitizer unavailable here; running without leak detection"; fi; \
	for t in $(CAPI_TESTS); do \
		echo "  ASAN $$t"; \
		$(CC) $(CAPI_CFLAGS) -fsanitize=address -fno-omit-frame-pointer tests/c/$$t.c \
			$(CAPI_RELEASE)/libthumbnail.a $(CAPI_LIBS_PRIVATE) -o $(CAPI_OUT)/$$t-asan || exit 1; \
		ASAN_OPTIONS=detect_leaks=$$leaks:abort_on_error=0 $(CAPI_OUT)/$$t-asan $(CAPI_CORPUS) || exit 1; \
	done

## capi-test-intree: bindings/c/example.c linked in-tree
## (-Ltarget/release -lthumbnail) runs: once with
## LD_LIBRARY_PATH=target/release, once with an rpath; the
## loader finds libthumbnail.so.N that `make lib` links
capi-test-intree: lib
	@mkdir -p $(CAPI_OUT)
	@set -e; \
	$(CC) -std=c11 -Wall -Wextra -Werror bindings/c/example.c -I$(CURDIR)/include \
		-L$(CAPI_RELEASE) -lthumbnail -o $(CAPI_OUT)/example-intree; \
	$(READELF) -d $(CAPI_OUT)/example-intree | grep -q 'NEEDED.*\[libthumbnail\.so\.$(CAPI_ABI)\]'; \
	test -e $(CAPI_RELEASE)/libthumbnail.so.$(CAPI_ABI) || { \
		echo "$(CAPI_RELEASE)/libthumbnail.so.$(CAPI_ABI) missing: make lib creates it" >&2; exit 1; }; \
	LD_LIBRARY_PATH=$(CAPI_RELEASE) $(CAPI_OUT)/example-intree \
		$(CAPI_CORPUS)/photos/rocket.jpg 64x64 $(CAPI_OUT)/rocket-intree.jpg; \
	$(CC) -std=c11 -Wall -Wextra -Werror bindings/c/example.c -I$(CURDIR)/include \
		-L$(CAPI_RELEASE) -lthumbnail -Wl,-rpath,$(CAPI_RELEASE) -o $(CAPI_OUT)/example-rpath; \
	env -u LD_LIBRARY_PATH $(CAPI_OUT)/example-rpath \
		$(CAPI_CORPUS)/photos/rocket.jpg 64x64 $(CAPI_OUT)/rocket-rpath.jpg; \
	echo "capi-test-intree: a program linked against target/release runs"

capi-check-soname: lib
	@$(READELF) -d $(CAPI_RELEASE)/libthumbnail.so | grep -q 'SONAME.*\[libthumbnail\.so\.$(CAPI_ABI)\]' || { \
		echo "$(CAPI_RELEASE)/libthumbnail.so has no SONAME libthumbnail.so.$(CAPI_ABI): build.rs must print" >&2; \
		echo '  cargo:rustc-cdylib-link-arg=-Wl,-soname,libthumbnail.so.$(CAPI_ABI)' >&2; exit 1; }

## capi-test-pkgconfig: install into target/capi-prefix, build
## bindings/c/example.c with pkg-config (shared and static),
## run it; check the SONAME
# Install into a scratch prefix and build the example as a user would.
capi-test-pkgconfig: lib capi-check-soname
	@rm -rf $(CAPI_TEST_PREFIX) && mkdir -p $(CAPI_OUT)
	@$(call capi_install,$(CAPI_TEST_PREFIX),$(CAPI_TEST_PREFIX))
	@set -e; export PKG_CONFIG_PATH=$(CAPI_TEST_PREFIX)/lib/pkgconfig; \
	cflags=$$(echo $$($(PKG_CONFIG) --cflags thumbnail)); \
	libs=$$(echo $$($(PKG_CONFIG) --libs thumbnail)); \
	static=$$(echo $$($(PKG_CONFIG) --static --libs thumbnail)); \
	echo "  pkg-config: --cflags '$$cflags' --libs '$$libs' --static --libs '$$static'"; \
	test "$$cflags" = "-I$(CAPI_TEST_PREFIX)/include"; \
	test "$$libs" = "-L$(CAPI_TEST_PREFIX)/lib -lthumbnail"; \
	echo "  CC example (shared)"; \
	$(CC) -std=c11 -Wall -Wextra -Werror bindings/c/example.c $$cflags $$libs -o $(CAPI_OUT)/example-shared; \
	$(READELF) -d $(CAPI_OUT)/example-shared | grep -q 'NEEDED.*\[libthumbnail\.so\.$(CAPI_ABI)\]'; \
	LD_LIBRARY_PATH=$(CAPI_TEST_PREFIX)/lib $(CAPI_OUT)/example-shared \
		$(CAPI_CORPUS)/photos/rocket.jpg 200x200 $(CAPI_OUT)/rocket-shared.jpg; \
	echo "  CC example (static libthumbnail)"; \
	$(CC) -std=c11 -Wall -Wextra -Werror bindings/c/example.c $$cflags \
		$$(echo "$$static" | sed 's/-lthumbnail/-l:libthumbnail.a/') -o $(CAPI_OUT)/example-static; \
	if $(READELF) -d $(CAPI_OUT)/example-static | grep -q libthumbnail; then \
		echo "example-static depends on the shared libthumbnail" >&2; exit 1; fi; \
	$(CAPI_OUT)/example-static $(CAPI_CORPUS)/photos/rocket.jpg 100x100,cover,png $(CAPI_OUT)/rocket-static.png; \
	if $(CAPI_OUT)/example-static $(CAPI_CORPUS)/photos/rocket.jpg 100x100,big /dev/null 2>$(CAPI_OUT)/example.err; then \
		echo "example accepted a bad spec" >&2; exit 1; fi; \
	grep -q "invalid-spec: unknown option 'big'" $(CAPI_OUT)/example.err
