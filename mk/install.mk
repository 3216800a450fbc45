# mk/install.mk: make install / make uninstall of everything a user needs,
# under DESTDIR/PREFIX (PREFIX=/usr/local by default), and a test of both.
#
# Included by the top-level Makefile after mk/capi.mk (capi_install, the
# library's half) and mk/nginx.mk (the module's build). The targets are
# described by their `##` lines (`make help`).
#
# What goes where (PREFIX=/usr/local; with PREFIX=/usr the nginx paths are
# Debian's own):
#   bin/thumbnail                                      the CLI
#   include/thumbnail.h                                the C header
#   lib/libthumbnail.so.N, lib/libthumbnail.so -> .N   shared library (SONAME libthumbnail.so.N)
#   lib/libthumbnail.a                                 static library
#   lib/pkgconfig/thumbnail.pc                         pkg-config
#   share/lua/5.1/resty/thumbnail.lua                  Lua (OpenResty) module
#   share/lua/5.1/resty/thumbnail/cdefs.lua
#   lib/nginx/modules/ngx_http_thumbnail_module.so     nginx dynamic module
#   share/nginx/modules-available/mod-http-thumbnail.conf   its load_module line
# Enabling the module is one link, as Debian's modules do:
#   ln -s PREFIX/share/nginx/modules-available/mod-http-thumbnail.conf \
#         /etc/nginx/modules-enabled/50-mod-http-thumbnail.conf

INSTALL_BINDIR       ?= $(PREFIX)/bin
INSTALL_LUADIR       ?= $(PREFIX)/share/lua/5.1
INSTALL_NGX_MODDIR   ?= $(PREFIX)/lib/nginx/modules
INSTALL_NGX_CONFDIR  ?= $(PREFIX)/share/nginx/modules-available
INSTALL_NGX_CONF     := mod-http-thumbnail.conf
INSTALL_TEST_ROOT    := $(CURDIR)/target/install-test

# Every file `make install` writes, relative to DESTDIR (uninstall removes
# exactly these; install-test checks the list both ways).
INSTALL_FILES = \
	$(INSTALL_BINDIR)/thumbnail \
	$(PREFIX)/include/thumbnail.h \
	$(PREFIX)/lib/libthumbnail.a \
	$(PREFIX)/lib/libthumbnail.so.$(CAPI_ABI) \
	$(PREFIX)/lib/libthumbnail.so \
	$(PREFIX)/lib/pkgconfig/thumbnail.pc \
	$(INSTALL_LUADIR)/resty/thumbnail.lua \
	$(INSTALL_LUADIR)/resty/thumbnail/cdefs.lua \
	$(INSTALL_NGX_MODDIR)/ngx_http_thumbnail_module.so \
	$(INSTALL_NGX_CONFDIR)/$(INSTALL_NGX_CONF)

.PHONY: install-lib install-cli install-lua install-nginx uninstall install-test

## install: everything below into DESTDIR/PREFIX
## (PREFIX=/usr/local): install-lib, install-cli,
## install-lua, install-nginx; paths: mk/install.mk's header
install: install-lib install-cli install-lua install-nginx

## install-lib: thumbnail.h, libthumbnail.a,
## libthumbnail.so.N (+ .so link), thumbnail.pc
install-lib: capi-install

## install-cli: the thumbnail CLI into PREFIX/bin
install-cli: lib
	install -d $(DESTDIR)$(INSTALL_BINDIR)
	install -m 755 target/release/thumbnail $(DESTDIR)$(INSTALL_BINDIR)/thumbnail

## install-lua: resty.thumbnail into PREFIX/share/lua/5.1
## (on LuaJIT's and OpenResty's default package.path)
install-lua:
	install -d $(DESTDIR)$(INSTALL_LUADIR)/resty/thumbnail
	install -m 644 bindings/lua/lib/resty/thumbnail.lua $(DESTDIR)$(INSTALL_LUADIR)/resty/thumbnail.lua
	install -m 644 bindings/lua/lib/resty/thumbnail/cdefs.lua $(DESTDIR)$(INSTALL_LUADIR)/resty/thumbnail/cdefs.lua

## install-nginx: the nginx module into PREFIX/lib/nginx/
## modules and its load_module line into PREFIX/share/
## nginx/modules-available/mod-http-thumbnail.conf (builds it
## against Debian's nginx-dev: make nginx-module)
install-nginx: nginx-module
	install -d $(DESTDIR)$(INSTALL_NGX_MODDIR) $(DESTDIR)$(INSTALL_NGX_CONFDIR)
	install -m 644 $(NGX_SO) $(DESTDIR)$(INSTALL_NGX_MODDIR)/ngx_http_thumbnail_module.so
	echo 'load_module $(INSTALL_NGX_MODDIR)/ngx_http_thumbnail_module.so;' \
		> $(DESTDIR)$(INSTALL_NGX_CONFDIR)/$(INSTALL_NGX_CONF)
	chmod 644 $(DESTDIR)$(INSTALL_NGX_CONFDIR)/$(INSTALL_NGX_CONF)

## uninstall: removes every file install writes (same
## DESTDIR and PREFIX), and the resty/thumbnail folder
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))
	-rmdir $(DESTDIR)$(INSTALL_LUADIR)/resty/thumbnail 2>/dev/null

## install-test: make install into target/install-test,
## then use every part from there (C via pkg-config, CLI,
## Lua under LuaJIT, nginx -t with the load_module line),
## then make uninstall: no file may remain
install-test: lib nginx-module lua-deps capi-deps
	@rm -rf $(INSTALL_TEST_ROOT) && mkdir -p $(INSTALL_TEST_ROOT)/work
	@set -e; root=$(INSTALL_TEST_ROOT)/root; prefix=/usr/local; \
	$(MAKE) -s --no-print-directory install DESTDIR=$$root PREFIX=$$prefix >$(INSTALL_TEST_ROOT)/install.log; \
	expected=$$(for f in $(INSTALL_FILES); do echo "$$f"; done | sort); \
	found=$$(cd $$root && find . \( -type f -o -type l \) | sed 's|^\.||' | sort); \
	if [ "$$expected" != "$$found" ]; then \
		echo "install-test: installed files differ from INSTALL_FILES:" >&2; \
		diff <(echo "$$expected") <(echo "$$found") >&2; exit 1; fi; \
	echo "install-test: $$(echo "$$found" | wc -l) files installed under $$root$$prefix"; \
	lib=$$root$$prefix/lib; \
	test "$$(readlink $$lib/libthumbnail.so)" = libthumbnail.so.$(CAPI_ABI); \
	$(READELF) -d $$lib/libthumbnail.so.$(CAPI_ABI) | grep -q 'SONAME.*\[libthumbnail\.so\.$(CAPI_ABI)\]'; \
	export PKG_CONFIG_SYSROOT_DIR=$$root PKG_CONFIG_PATH=$$lib/pkgconfig; \
	$(CC) -std=c11 -Wall -Werror bindings/c/example.c $$($(PKG_CONFIG) --cflags --libs thumbnail) \
		-o $(INSTALL_TEST_ROOT)/work/example; \
	LD_LIBRARY_PATH=$$lib $(INSTALL_TEST_ROOT)/work/example $(CAPI_CORPUS)/photos/rocket.jpg 100x100 \
		$(INSTALL_TEST_ROOT)/work/c.jpg; \
	echo "install-test: C example built with pkg-config and run"; \
	$$root$$prefix/bin/thumbnail --version; \
	$$root$$prefix/bin/thumbnail -q -s 50 -o $(INSTALL_TEST_ROOT)/work/%s.png $(CAPI_CORPUS)/photos/coffee.png; \
	LD_LIBRARY_PATH=$$lib $(LUAJIT) -e "package.path = '$$root$$prefix/share/lua/5.1/?.lua;' .. package.path \
		local t = require 'resty.thumbnail' \
		local d, i = t.render(io.open('$(CAPI_CORPUS)/photos/coffee.png', 'rb'):read('*a'), '40x40,jpeg') \
		assert(d and i.width == 40, i) \
		print('install-test: resty.thumbnail ' .. t._VERSION .. ' from ' .. t.library_path)"; \
	sed "s|$$prefix|$$root$$prefix|" $$root$$prefix/share/nginx/modules-available/$(INSTALL_NGX_CONF) \
		> $(INSTALL_TEST_ROOT)/work/nginx.conf; \
	grep -q '^load_module /usr/local/lib/nginx/modules/ngx_http_thumbnail_module.so;$$' \
		$$root$$prefix/share/nginx/modules-available/$(INSTALL_NGX_CONF); \
	printf '%s\n' 'error_log stderr;' 'pid $(INSTALL_TEST_ROOT)/work/nginx.pid;' 'events {}' \
		'http { thumbnail_cache size=1m; }' >> $(INSTALL_TEST_ROOT)/work/nginx.conf; \
	$(NGX_RUN) -t -q -p $(INSTALL_TEST_ROOT)/work -c $(INSTALL_TEST_ROOT)/work/nginx.conf; \
	echo "install-test: nginx -t loads the installed module through its modules-available line"; \
	$(MAKE) -s --no-print-directory uninstall DESTDIR=$$root PREFIX=$$prefix; \
	left=$$(cd $$root && find . \( -type f -o -type l \) | sed 's|^\.||'); \
	if [ -n "$$left" ]; then echo "install-test: left after uninstall:" >&2; echo "$$left" >&2; exit 1; fi; \
	echo "install-test: uninstall removed every file"
