# mk/deb.mk: Debian packages from the tree (make deb) and their test in a
# clean Debian 12 chroot (make deb-test). packaging/deb/build.sh says what
# each package holds; packaging/deb/test.sh how they are tested.
#
# Included by the top-level Makefile after mk/nginx.mk (nginx-module, the
# module built against Debian's nginx-dev). The targets are described by
# their `##` lines (`make help`).

DEB_OUT     := $(CURDIR)/target/deb
DEB_CHROOT  := $(DEB_OUT)/bookworm-chroot.tar
DEB_VERSION ?= $(CAPI_VERSION)-1

.PHONY: deb deb-deps deb-test deb-smoke

deb-deps:
	@$(call ngx_apt,dpkg-dev binutils)

## deb: target/deb/*.deb: libthumbnailN (N: Cargo.toml's
## abi-version), libthumbnail-dev, thumbnail-tools,
## libnginx-mod-http-thumbnail, lua-resty-thumbnail, with
## dpkg-deb (packaging/deb/build.sh)
deb: lib nginx-module deb-deps
	DEB_VERSION=$(DEB_VERSION) NGX_SO=$(NGX_SO) bash packaging/deb/build.sh $(DEB_OUT)

## deb-test: the packages installed with apt into a clean
## Debian 12 chroot (debootstrap once, cached as
## target/deb/bookworm-chroot.tar), enabled as Debian enables
## modules, serving a thumbnail through Debian's nginx.conf;
## then the CLI, Lua and pkg-config; then apt remove/purge
deb-test: deb
	bash packaging/deb/test.sh $(DEB_OUT) $(DEB_CHROOT)

## deb-smoke: make deb, then check each package's name,
## Depends and files with dpkg-deb (no install; in make test)
deb-smoke: deb
	bash packaging/deb/test.sh --smoke $(DEB_OUT)
