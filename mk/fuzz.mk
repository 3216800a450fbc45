# mk/fuzz.mk: libFuzzer targets through the C ABI (fuzz/).
#
# Included by the top-level Makefile, which has a `lib` target (cargo build
# --release) and defines SHARED (the corpus checkout). Targets:
#
#   fuzz          build every target and run each for FUZZ_SECONDS (default
#                 60); fails on any crash, finding (abort), timeout, leak or
#                 out-of-memory, whose reproducer is saved in
#                 target/fuzz/artifacts/<target>/
#   fuzz-short    the same for 30 seconds a target (part of `make test`)
#   fuzz-regress  fuzz/regressions/<target>/ replayed through the same
#                 harnesses built with $(CC) against target/release (no
#                 clang, no libFuzzer; part of `make test`)
#   fuzz-coverage edges each target's corpus reaches, by file of src/ and by
#                 component (target/fuzz/coverage.txt)
#   fuzz-repro    FUZZ_TARGET=render FUZZ_INPUT=file: run one input under
#                 the instrumented binary (ASan report, symbolized)
#   fuzz-build    the instrumented library and target binaries only
#   fuzz-deps     clang and its libFuzzer/ASan runtime (apt, when missing)
#
# The build: the Rust code with SanitizerCoverage (the RUSTFLAGS below; with
# --target so that build scripts are not instrumented), the C dependencies
# (libjpeg-turbo through cmake, libdeflate and libwebp through cc) compiled by clang with
# -fsanitize=address,fuzzer-no-link, overflow checks and debug assertions on,
# `--cfg fuzzing` (the png crate and png_fast skip chunk CRCs), into its own
# target dir; then each fuzz/<target>.c linked with the staticlib by
# `clang -fsanitize=fuzzer,address`.
#
# A run keeps its grown corpus in target/fuzz/corpus/<target>/ (next runs
# start from it), seeded from $(SHARED)/corpus (fuzz/seeds.py writes
# target/fuzz/seeds/) and fuzz/regressions/<target>/; its log goes to
# target/fuzz/logs/<target>.log and a summary (executions, exec/s, coverage,
# features, corpus, peak RSS) to target/fuzz/logs/summary.txt (fuzz-short:
# target/fuzz/short/). Targets may run
# in parallel as separate makes: `make fuzz-run FUZZ_TARGETS=render &` etc.

FUZZ_TARGETS   ?= probe render cache spec
FUZZ_SECONDS   ?= 60
FUZZ_CLANG     ?= clang
FUZZ_NICE      ?= nice -n 10
# per input: seconds; RSS of the whole process; largest single malloc
FUZZ_TIMEOUT   ?= 10
FUZZ_RSS_MB    ?= 2048
FUZZ_MALLOC_MB ?= 512
FUZZ_MAX_LEN   ?= 65536
FUZZ_SPEC_MAX_LEN ?= 512
FUZZ_FLAGS     ?=
FUZZ_CORPUS    ?= $(SHARED)/corpus
# where a run keeps the corpus it grows (one directory per target)
FUZZ_WORK      ?= $(CURDIR)/target/fuzz/corpus
# its logs, per-target summaries and summary.txt
FUZZ_LOGS      ?= $(CURDIR)/target/fuzz/logs

FUZZ_TRIPLE    := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_TRIPLE_   := $(subst -,_,$(FUZZ_TRIPLE))
FUZZ_BUILD     := $(CURDIR)/target/fuzz-build
FUZZ_LIB       := $(FUZZ_BUILD)/$(FUZZ_TRIPLE)/release/libthumbnail.a
FUZZ_OUT       := $(CURDIR)/target/fuzz
FUZZ_BIN       := $(FUZZ_OUT)/bin
FUZZ_SEEDS     := $(FUZZ_OUT)/seeds
FUZZ_REPLAY    := $(FUZZ_OUT)/replay
FUZZ_SYSLIBS   := -lgcc_s -lutil -lrt -lpthread -lm -ldl
FUZZ_SAN_CFLAGS := -fsanitize=address,fuzzer-no-link -g -O1 -fno-omit-frame-pointer
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
	-Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares \
	-Cforce-frame-pointers=yes --cfg fuzzing
FUZZ_ENV := CC_$(FUZZ_TRIPLE_)=$(FUZZ_CLANG) CXX_$(FUZZ_TRIPLE_)=$(FUZZ_CLANG)++ \
	CFLAGS_$(FUZZ_TRIPLE_)='$(FUZZ_SAN_CFLAGS)' CXXFLAGS_$(FUZZ_TRIPLE_)='$(FUZZ_SAN_CFLAGS)' \
	CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
	CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
	CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
	RUSTFLAGS='$(FUZZ_RUSTFLAGS)'
FUZZ_ASAN_OPTIONS := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:symbolize=1:allocator_may_return_null=0
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -I$(CURDIR)/include

FUZZ_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: fuzz fuzz-short fuzz-run fuzz-regress fuzz-coverage fuzz-repro fuzz-build fuzz-lib fuzz-deps fuzz-seeds fuzz-clean

## fuzz: every libFuzzer target for FUZZ_SECONDS each (fails on a finding)
fuzz: fuzz-build fuzz-seeds
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

## fuzz-short: every libFuzzer target for 30 s (part of `make test`)
# From the seeds and regressions alone, into a scratch corpus: loading the
# grown corpus of long runs would take longer than the run itself.
fuzz-short: fuzz-build fuzz-seeds
	@rm -rf $(FUZZ_OUT)/short
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=30 FUZZ_WORK=$(FUZZ_OUT)/short/corpus \
		FUZZ_LOGS=$(FUZZ_OUT)/short/logs

# Runs every target even when one fails, then prints the summary and fails.
# Needs fuzz-build and fuzz-seeds made first (by one make, not by several
# fuzz-runs in parallel).
fuzz-run:
	@for t in $(FUZZ_TARGETS); do \
		test -x $(FUZZ_BIN)/fuzz-$$t -a -d $(FUZZ_SEEDS)/$$t || { \
			echo "fuzz-run: no $(FUZZ_BIN)/fuzz-$$t or $(FUZZ_SEEDS)/$$t; run make fuzz-build fuzz-seeds first" >&2; exit 2; }; \
	done
	@mkdir -p $(FUZZ_LOGS)
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/$$t $(FUZZ_OUT)/artifacts/$$t fuzz/regressions/$$t; \
		log=$(FUZZ_LOGS)/$$t.log; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
		case $$t in spec) dict=fuzz/spec.dict; len=$(FUZZ_SPEC_MAX_LEN);; *) dict=fuzz/image.dict; len=$(FUZZ_MAX_LEN);; esac; \
		start=$$(date +%s); \
		env $(FUZZ_ASAN_OPTIONS) $(FUZZ_NICE) $(FUZZ_BIN)/fuzz-$$t \
			$(FUZZ_WORK)/$$t $(FUZZ_SEEDS)/$$t fuzz/regressions/$$t \
			-dict=$$dict -max_len=$$len -max_total_time=$(FUZZ_SECONDS) \
			-timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_MALLOC_MB) \
			-artifact_prefix=$(FUZZ_OUT)/artifacts/$$t/ -print_final_stats=1 \
			-reload=0 $(FUZZ_FLAGS) > $$log 2>&1; \
		rc=$$?; secs=$$(( $$(date +%s) - start )); \
		last=$$(grep -E '^#[0-9]+' $$log | tail -n 1); \
		execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
		eps=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log); \
		rss=$$(sed -n 's/^stat::peak_rss_mb: *//p' $$log); \
		cov=$$(echo "$$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p'); \
		ft=$$(echo "$$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p'); \
		corp=$$(echo "$$last" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p'); \
		if [ $$rc -eq 0 ]; then res=ok; else res="FAILED(rc=$$rc)"; failed="$$failed $$t"; fi; \
		printf '%-7s %6s %10s %7s %6s %7s %8s %7s  %s\n' $$t $$secs "$${execs:-?}" "$${eps:-?}" \
			"$${cov:-?}" "$${ft:-?}" "$${corp:-?}" "$${rss:-?}" "$$res" > $(FUZZ_LOGS)/$$t.summary; \
		if [ $$rc -ne 0 ]; then \
			echo "fuzz: $$t FAILED; the end of its log:" >&2; \
			grep -v -E '^#[0-9]+|^INFO:' $$log | tail -n 40 >&2; \
			ls -1t $(FUZZ_OUT)/artifacts/$$t/ 2>/dev/null | head -n 3 | sed "s|^|  reproducer: target/fuzz/artifacts/$$t/|" >&2; \
		fi; \
	done; \
	{ printf '%-7s %6s %10s %7s %6s %7s %8s %7s  %s\n' target secs execs exec/s cov ft corpus rss_mb result; \
	  for t in $(FUZZ_TARGETS); do cat $(FUZZ_LOGS)/$$t.summary; done; } | tee $(FUZZ_LOGS)/summary.txt; \
	if [ -n "$$failed" ]; then \
		echo "fuzz: findings in:$$failed (make fuzz-repro FUZZ_TARGET=... FUZZ_INPUT=...;" \
			"a fixed finding's input goes into fuzz/regressions/<target>/)" >&2; \
		exit 1; \
	fi

## fuzz-regress: fuzz/regressions/ replayed by the harnesses against target/release
fuzz-regress: lib
	@mkdir -p $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(CC) $(FUZZ_CFLAGS) fuzz/$$t.c fuzz/replay.c $(CURDIR)/target/release/libthumbnail.a \
			$(FUZZ_SYSLIBS) -lc -o $(FUZZ_REPLAY)/fuzz-replay-$$t; \
		$(FUZZ_REPLAY)/fuzz-replay-$$t fuzz/regressions/$$t; \
	done

## fuzz-coverage: edge coverage of each target's corpus by source file and component
# Replays target/fuzz/corpus/<target> (plus regressions) once with
# -print_coverage=1 and sums the edges per file of src/, per crate, for
# libjpeg-turbo and libdeflate (fuzz/coverage.py): target/fuzz/coverage.txt.
fuzz-coverage: fuzz-build
	@mkdir -p $(FUZZ_OUT)/logs
	@set -e; args=""; for t in $(FUZZ_TARGETS); do \
		echo "fuzz-coverage: $$t ($$(ls $(FUZZ_OUT)/corpus/$$t 2>/dev/null | wc -l) inputs)"; \
		env $(FUZZ_ASAN_OPTIONS) $(FUZZ_NICE) $(FUZZ_BIN)/fuzz-$$t $(FUZZ_OUT)/corpus/$$t fuzz/regressions/$$t \
			-runs=0 -print_coverage=1 -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_MALLOC_MB) \
			-timeout=$(FUZZ_TIMEOUT) > $(FUZZ_OUT)/logs/$$t.coverage 2>&1; \
		args="$$args $$t=$(FUZZ_OUT)/logs/$$t.coverage"; \
	done; \
	python3 fuzz/coverage.py $(CURDIR) $$args | tee $(FUZZ_OUT)/coverage.txt

## fuzz-repro: FUZZ_TARGET=<target> FUZZ_INPUT=<file>: one input, instrumented
fuzz-repro: fuzz-build
	@test -n "$(FUZZ_TARGET)" -a -n "$(FUZZ_INPUT)" || { echo "usage: make fuzz-repro FUZZ_TARGET=render FUZZ_INPUT=file" >&2; exit 2; }
	env $(FUZZ_ASAN_OPTIONS) $(FUZZ_BIN)/fuzz-$(FUZZ_TARGET) -rss_limit_mb=$(FUZZ_RSS_MB) \
		-malloc_limit_mb=$(FUZZ_MALLOC_MB) -timeout=$(FUZZ_TIMEOUT) $(FUZZ_INPUT)

## fuzz-build: the instrumented library (target/fuzz-build) and target/fuzz/bin/fuzz-*
fuzz-build: fuzz-lib
	@mkdir -p $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_TARGETS); do \
		if [ ! -f $(FUZZ_BIN)/fuzz-$$t ] || [ -n "$$(find $(FUZZ_LIB) fuzz/$$t.c fuzz/fuzz.h include/thumbnail.h -newer $(FUZZ_BIN)/fuzz-$$t)" ]; then \
			echo "  CLANG fuzz-$$t"; \
			$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address fuzz/$$t.c $(FUZZ_LIB) $(FUZZ_SYSLIBS) \
				-o $(FUZZ_BIN)/fuzz-$$t; \
		fi; \
	done

# Only the staticlib: the cdylib and the CLI would need the sanitizer
# runtime at link time. Cargo rebuilds only what changed.
fuzz-lib: fuzz-deps rust-deps
	@test -n "$(FUZZ_TRIPLE)" || { echo "fuzz: cannot tell rustc's host triple" >&2; exit 1; }
	$(FUZZ_ENV) $(FUZZ_NICE) $(CARGO) rustc --release --locked --lib --crate-type staticlib \
		--target $(FUZZ_TRIPLE) --target-dir $(FUZZ_BUILD)

## fuzz-deps: clang with its libFuzzer and ASan runtime (apt-get, when missing)
fuzz-deps:
	@if ! command -v $(FUZZ_CLANG) >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
		| $(FUZZ_CLANG) -x c -fsanitize=fuzzer,address -o /dev/null - 2>/dev/null; then \
		echo "fuzz: installing clang and its sanitizer runtime"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(FUZZ_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends clang llvm \
			$$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: \(clang-[0-9]*\)$$/\1/p' | head -n 1 | sed 's/^clang-\(.*\)/libclang-rt-\1-dev/') \
		|| { $(FUZZ_SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq \
		     && $(FUZZ_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends clang llvm \
			$$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: \(clang-[0-9]*\)$$/\1/p' | head -n 1 | sed 's/^clang-\(.*\)/libclang-rt-\1-dev/'); }; \
	fi

# Seeds from the shared corpus (read in place); remade when the script,
# the spec seeds or the corpus manifest change.
fuzz-seeds: $(FUZZ_SEEDS)/.ok

$(FUZZ_SEEDS)/.ok: fuzz/seeds.py fuzz/spec.seeds $(FUZZ_CORPUS)/MANIFEST.tsv
	python3 fuzz/seeds.py $(FUZZ_CORPUS) fuzz/spec.seeds $(FUZZ_SEEDS) $(FUZZ_MAX_LEN)
	@touch $@

fuzz-clean:
	rm -rf $(FUZZ_BUILD) $(FUZZ_OUT)
