# mk/lua.mk: the OpenResty / LuaJIT bindings (bindings/lua, module
# resty.thumbnail).
#
# Included by the top-level Makefile, which defines a `lib` target that runs
# `cargo build --release --locked`. The targets are described by their `##`
# lines (`make help`).
#
# The corpus is $(THUMBNAIL_SHARED)/corpus (default ../shared/corpus).

LUAJIT ?= luajit
LUA_DIR := bindings/lua
LUA_CDEFS := $(LUA_DIR)/lib/resty/thumbnail/cdefs.lua
# luajit2 is OpenResty's LuaJIT branch (the `luajit` package conflicts with it).
LUA_APT_PACKAGES := nginx libnginx-mod-http-lua lua-resty-core luajit2 curl
LUA_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: lua-test lua-test-unit lua-test-nginx lua-deps lua-cdefs lua-cdefs-check test-private-checkout

## lua-test: lua-test-unit, lua-test-nginx and
## test-private-checkout (after lua-deps and lib)
lua-test: lua-test-unit lua-test-nginx test-private-checkout

## lua-test-unit: the unit tests with standalone LuaJIT
## (bindings/lua/t/run.lua)
lua-test-unit: lua-deps lib
	$(LUAJIT) $(LUA_DIR)/t/run.lua

## lua-test-nginx: the module in a real nginx with
## lua-nginx-module (bindings/lua/t/nginx_test.sh), and its
## node-wide cache with 2 workers (t/nginx_shared_test.py)
lua-test-nginx: lua-deps lib
	bash $(LUA_DIR)/t/nginx_test.sh
	python3 $(LUA_DIR)/t/nginx_shared_test.py

## test-private-checkout: lua-test-nginx again from a copy in
## a mktemp -d folder (mode 0700): servers run as the
## invoking user, so a private checkout works
## (tests/private_checkout.sh)
test-private-checkout: lua-deps lib
	bash tests/private_checkout.sh

## lua-deps: nginx, lua-nginx-module, lua-resty-core, luajit2
## and curl (apt-get, only what is missing)
# Installs only what is missing; waits up to 10 minutes for another apt/dpkg
# to release its lock, and refreshes the package lists if a package is unknown.
lua-deps:
	@missing=""; \
	for p in $(LUA_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "lua-deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(LUA_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing \
		|| { $(LUA_SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq \
		     && $(LUA_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; }; \
	fi

## lua-cdefs: regenerate bindings/lua/.../cdefs.lua from
## include/thumbnail.h (commit the result)
lua-cdefs:
	$(LUAJIT) $(LUA_DIR)/gen_cdefs.lua include/thumbnail.h $(LUA_CDEFS)

## lua-cdefs-check: fail if cdefs.lua is out of date
## (lua-test-unit checks it too)
lua-cdefs-check:
	@$(LUAJIT) $(LUA_DIR)/gen_cdefs.lua include/thumbnail.h | cmp -s - $(LUA_CDEFS) \
		|| { echo "$(LUA_CDEFS) is out of date: run 'make lua-cdefs' and commit it" >&2; exit 1; }
