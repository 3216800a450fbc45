# mk/bench.mk: side-by-side comparison against the peers (issue 8).
#
# Included by the top-level Makefile after mk/nginx.mk (uses its NGX_APT_PKGS
# and nginx-module). The targets are described by their `##` lines
# (`make help`); benches/compare/README.md is the how-to.

BENCH_PYTHON   ?= python3
BENCH_VENV     := $(CURDIR)/target/bench-venv
BENCH_REQS     := $(CURDIR)/benches/compare/requirements.txt
# compare.py looks for the bench binary there too; a separate dir because
# `cargo bench` and `cargo build --release` in one dir rebuild the library
# for each other, and nginx-module links target/release/libthumbnail.a
BENCH_CARGO_TARGET := $(CURDIR)/target/bench-cargo
BENCH_QUICK    ?=
BENCH_ARGS     ?=
BENCH_SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# what:package. A path is tested with -e, a name with command -v;
# ImageMagick by path, as another `convert` may come first on PATH.
BENCH_APT_NEEDS := \
	vipsthumbnail:libvips-tools \
	/usr/bin/convert:imagemagick \
	cwebp:webp \
	gm:graphicsmagick \
	wrk:wrk \
	/usr/lib/nginx/modules/ngx_http_image_filter_module.so:libnginx-mod-http-image-filter \
	cc:gcc \
	/usr/bin/time:time

.PHONY: bench-compare bench-deps bench-venv

## bench-compare: this library beside Pillow, pyvips,
## vipsthumbnail, ImageMagick, GraphicsMagick and nginx
## image_filter, from a bare Debian 12 (installs what is
## missing); table in target/bench-compare/results.md.
## BENCH_QUICK=1: smoke test (3 runs, 1 s of wrk per cell);
## BENCH_ARGS='--only inprocess,process': some sections
# Sub-makes, in order, so even `make -j` installs before it builds.
bench-compare: bench-deps
	@$(MAKE) --no-print-directory bench-venv nginx-module
	CARGO_TARGET_DIR=$(BENCH_CARGO_TARGET) $(CARGO) bench --locked $(CARGO_FEATURE_FLAGS) --bench compare_inprocess --no-run
	$(BENCH_PYTHON) benches/compare/compare.py $(if $(filter 1,$(BENCH_QUICK)),--quick) $(BENCH_ARGS) \
		--command "make bench-compare$(if $(filter 1,$(BENCH_QUICK)), BENCH_QUICK=1)$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')"

## bench-deps: the Debian packages for bench-compare (apt-get,
## only when missing)
# nginx and nginx-dev too (NGX_APT_PKGS), so that one apt-get run installs
# everything; nginx-module needs nginx-dev's source tree.
bench-deps:
	@missing=""; \
	for need in $(BENCH_APT_NEEDS); do \
	  what=$${need%%:*}; pkg=$${need##*:}; \
	  case $$what in /*) test -e $$what ;; *) command -v $$what >/dev/null ;; esac || missing="$$missing $$pkg"; \
	done; \
	{ test -x $(NGX_BIN) && test -f $(NGX_SRC)/conf_flags; } || missing="$$missing $(NGX_APT_PKGS)"; \
	$(BENCH_PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3 python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "bench-deps: installing:$$missing"; \
	  $(BENCH_SUDO) apt-get update -qq && \
	  $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## bench-venv: target/bench-venv with the in-process peers
## (Pillow, pyvips) from PyPI
bench-venv: $(BENCH_VENV)/.ok

$(BENCH_VENV)/.ok: $(BENCH_REQS)
	rm -rf $(BENCH_VENV)
	$(BENCH_PYTHON) -m venv --clear $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q -r $(BENCH_REQS)
	@# pyvips loads libvips at import: fail here, not in the middle of a run
	$(BENCH_VENV)/bin/python benches/compare/peers.py --lib pyvips --version
	$(BENCH_VENV)/bin/python benches/compare/peers.py --lib pillow --version
	@touch $@

.PHONY: bench-zone

## bench-zone: the nginx module's node-wide cache zone
## (issue 21): hit path req/s (zone, per-worker, L1+zone,
## static file; -c1 -c2), cold-key storm latency (zone,
## per-worker, proxy_cache_lock), memory per entry; table in
## target/bench-zone/results.md. BENCH_QUICK=1: smoke test
# Needs only nginx (nginx-module installs it) and wrk, not bench-compare's peers.
bench-zone:
	@command -v wrk >/dev/null || $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends wrk
	@$(MAKE) --no-print-directory nginx-module
	$(BENCH_PYTHON) benches/zone/zone_bench.py $(if $(filter 1,$(BENCH_QUICK)),--quick) \
		--command "make bench-zone$(if $(filter 1,$(BENCH_QUICK)), BENCH_QUICK=1)"
