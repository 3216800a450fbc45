# mk/fidelity.mk: the reference decoders the fidelity tests compare with
# (tests/fidelity.rs, tests/damaged.rs, tests/icc.rs).
#
# Included by the top-level Makefile; `make help` lists the `##` targets.

FID_APT_PKGS ?= libjpeg-turbo-progs imagemagick webp colord-data python3-venv
FID_VENV     := $(CURDIR)/target/fidelity-venv
FID_PYTHON   ?= python3
FID_SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: fidelity-deps fidelity-test

## fidelity-deps: the reference decoders: djpeg
## (libjpeg-turbo-progs), ImageMagick, dwebp, colord-data's ICC
## profiles (apt-get, only what is missing), and Pillow in
## target/fidelity-venv
fidelity-deps: $(FID_VENV)/.ok
	@$(call fid_apt,$(FID_APT_PKGS))

# Waits up to 10 minutes for another apt/dpkg (other worktrees may be
# installing); refreshes the package lists only if a package is unknown.
define fid_apt
missing=""; \
for p in $(1); do \
	dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" \
		|| missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
	echo "fidelity: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$(FID_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing \
	|| { $(FID_SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq \
	     && $(FID_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; }; \
fi
endef

$(FID_VENV)/.ok:
	@$(call fid_apt,python3-venv)
	$(FID_PYTHON) -m venv $(FID_VENV)
	$(FID_VENV)/bin/pip install -q Pillow
	@touch $@

## fidelity-test: the fidelity suites alone: every decode-ok
## corpus file against Pillow/ImageMagick/djpeg/dwebp, damaged
## JPEGs against djpeg, ICC files against ImageMagick
## (reference results cached in target/fidelity-refs)
fidelity-test: fidelity-deps
	$(CARGO) test --release --locked --test fidelity --test damaged --test icc -- --nocapture
