# mk/fidelity.mk: the reference decoders the fidelity tests compare with
# (tests/fidelity.rs, tests/damaged.rs, tests/icc.rs).
#
# Included by the top-level Makefile after mk/nginx.mk (uses its ngx_apt);
# `make help` lists the `##` targets.

FID_APT_PKGS ?= libjpeg-turbo-progs imagemagick webp colord-data python3-venv
FID_VENV     := $(CURDIR)/target/fidelity-venv
FID_PYTHON   ?= python3

.PHONY: fidelity-deps fidelity-test

## fidelity-deps: the reference decoders: djpeg
## (libjpeg-turbo-progs), ImageMagick, dwebp, colord-data's ICC
## profiles (apt-get, only what is missing), and Pillow in
## target/fidelity-venv
fidelity-deps: $(FID_VENV)/.ok
	@$(call ngx_apt,$(FID_APT_PKGS))

$(FID_VENV)/.ok:
	@$(call ngx_apt,python3-venv,fidelity-deps)
	$(FID_PYTHON) -m venv --clear $(FID_VENV)
	$(FID_VENV)/bin/pip install -q Pillow
	@touch $@

## fidelity-test: the fidelity suites alone: every decode-ok
## corpus file against Pillow/ImageMagick/djpeg/dwebp, damaged
## JPEGs against djpeg, ICC files against ImageMagick
## (reference results cached in target/fidelity-refs)
fidelity-test: fidelity-deps
	$(CARGO) test --release --locked --test fidelity --test damaged --test icc -- --nocapture
