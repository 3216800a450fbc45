# mk/nginx.mk: the nginx module (ngx_module/), its tests and a demo.
#
# Included by the top-level Makefile, which has a `lib` target running
# `cargo build --release --locked` and defines SHARED (the corpus checkout).
# The targets are described by their `##` lines (`make help`).

# not called NGINX: nginx reads an $$NGINX environment variable as a list of
# inherited sockets, and make exports command-line variables
NGX_BIN         ?= /usr/sbin/nginx
NGX_RUN         := env -u NGINX $(NGX_BIN)
NGX_SRC         ?= /usr/share/nginx/src
NGX_APT_PKGS    ?= nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev gcc make
NGX_TEST_PKGS   ?= python3-venv procps
NGX_DEMO_PORT   ?= 8080
NGX_PYTHON      ?= python3
SHARED          ?= $(CURDIR)/../shared

NGX_TREE        := $(CURDIR)/target/nginx-src
NGX_BUILD       := $(CURDIR)/target/nginx-build
NGX_OUT         := $(CURDIR)/target/nginx
NGX_SO          := $(NGX_OUT)/ngx_http_thumbnail_module.so
NGX_VENV        := $(CURDIR)/target/venv
NGX_DEMO        := $(CURDIR)/target/demo
NGX_MODULE_SRCS := $(wildcard $(CURDIR)/ngx_module/*.c $(CURDIR)/ngx_module/*.h)
NGX_LIBTHUMB    := $(CURDIR)/target/release/libthumbnail.a

# Debian builds nginx with these; the module must match its ABI
# (conf_flags carries the configure options that decide the signature).
NGX_CC_OPT      := -g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT      := -Wl,-z,relro -Wl,-z,now -fPIC

NGX_SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Every server a target starts runs as the invoking user: as root, nginx
# would otherwise run its workers as nobody, who cannot read a checkout in
# a folder only its owner may enter (tests/private_checkout.sh).
NGX_USER_LINE   := $(shell [ "$$(id -u)" = 0 ] && echo "user $$(id -un) $$(id -gn);")

.PHONY: nginx-module nginx-deps nginx-test-deps nginx-test nginx-venv nginx-demo nginx-clean nginx-burst-bench nginx-slow-readers-bench

## nginx-module: target/nginx/ngx_http_thumbnail_module.so,
## built against Debian's nginx with nginx-dev's configure
## tree (after nginx-deps), then checked with nginx -t
# The steps run in one recipe, after `lib`, so that even `make -j` sees the
# fresh libthumbnail.a: configure once (again when ngx_module/config or
# nginx-dev change) in a copy of nginx-dev's tree so nothing under /usr is
# written; relink when a source or libthumbnail.a is newer than the .so
# (nginx's own Makefile does not know the .so depends on the .a).
nginx-module: lib nginx-deps
	@test -f $(NGX_SRC)/conf_flags || { echo "$(NGX_SRC)/conf_flags missing: install nginx-dev" >&2; exit 1; }
	@set -e; \
	if [ ! -f $(NGX_BUILD)/Makefile ] \
	   || [ -n "$$(find $(CURDIR)/ngx_module/config $(NGX_SRC)/conf_flags -newer $(NGX_BUILD)/Makefile)" ]; then \
		echo "nginx-module: configure (log: target/nginx-configure.log)"; \
		rm -rf $(NGX_TREE) $(NGX_BUILD); \
		cp -a $(NGX_SRC) $(NGX_TREE); \
		cd $(NGX_TREE) && bash -c '. ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
			--with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
			--add-dynamic-module=$(CURDIR)/ngx_module --builddir=$(NGX_BUILD)' \
			> $(CURDIR)/target/nginx-configure.log 2>&1 \
			|| { tail -30 $(CURDIR)/target/nginx-configure.log; exit 1; }; \
		rm -f $(NGX_SO); \
	fi; \
	if [ ! -f $(NGX_SO) ] \
	   || [ -n "$$(find $(NGX_LIBTHUMB) $(NGX_MODULE_SRCS) -newer $(NGX_SO))" ]; then \
		echo "nginx-module: make modules"; \
		rm -f $(NGX_BUILD)/ngx_http_thumbnail_module.so; \
		$(MAKE) -s -C $(NGX_TREE) -f $(NGX_BUILD)/Makefile modules \
			| { grep -v -e '^cc ' -e '^[[:space:]]' || true; }; \
		test -f $(NGX_BUILD)/ngx_http_thumbnail_module.so; \
		mkdir -p $(NGX_OUT); \
		strip --strip-debug -o $(NGX_SO) $(NGX_BUILD)/ngx_http_thumbnail_module.so; \
		echo "nginx-module: built $(NGX_SO)"; \
	fi
	@$(call ngx_check)

## nginx-deps: what building the module needs: nginx,
## nginx-dev, libpcre2-dev, zlib1g-dev, libssl-dev, gcc,
## make (apt-get, only what is missing)
# Waits up to 10 minutes for another apt/dpkg to release its lock (other
# worktrees may be installing at the same time); refreshes the package lists
# only if a package is unknown.
nginx-deps:
	@$(call ngx_apt,$(NGX_APT_PKGS))

nginx-test-deps:
	@$(call ngx_apt,$(NGX_TEST_PKGS))

# $(call ngx_apt,PACKAGES[,LABEL]) in any recipe (fidelity.mk, lua.mk,
# cluster.mk, deb.mk use it too): installs those of PACKAGES that are
# missing, saying so as LABEL (default: the target)
define ngx_apt
missing=""; \
for p in $(1); do \
	dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" \
		|| missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
	echo "$(or $(2),$@): installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$(NGX_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing \
	|| { $(NGX_SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq \
	     && $(NGX_SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; }; \
fi
endef

# load_module + every directive through Debian's nginx -t
define ngx_check
rm -rf $(NGX_OUT)/check && mkdir -p $(NGX_OUT)/check && printf '%s\n' \
		'load_module $(NGX_SO);' \
		'error_log stderr;' \
		'pid $(NGX_OUT)/check/nginx.pid;' \
		'thread_pool default threads=4;' \
		'events {}' \
		'http {' \
		'  thumbnail_cache size=16m shards=4 ttl=10m;' \
		'  thumbnail_max_queue 32;' \
		'  thumbnail_heavy_pixels 30000000; thumbnail_max_heavy 2;' \
		'  thumbnail_render_nice 10;' \
		'  server {' \
		'    listen 127.0.0.1:1;' \
		'    location ~ ^/t/(?<spec>[^/]+)/(?<file>.+)$$ {' \
		'      alias $(CURDIR)/samples/$$file;' \
		'      thumbnail on; thumbnail_spec $$spec;' \
		'      thumbnail_allowed_specs 200x200 300x300,cover;' \
		'      thumbnail_max_source_size 32m; thumbnail_max_pixels 40000000;' \
		'      thumbnail_max_output 2048; thumbnail_thread_pool default;' \
		'      thumbnail_max_output_size 4m; thumbnail_max_output_held 32m;' \
		'      thumbnail_cache_key $$host$$uri;' \
		'      thumbnail_strict off;' \
		'      thumbnail_avif on;' \
		'      thumbnail_cache_control "public, max-age=60";' \
		'    }' \
		'    location /stats { thumbnail_stats; }' \
		'    location /metrics { thumbnail_stats prometheus; }' \
		'    location /size/ { alias $(CURDIR)/samples/; thumbnail size; }' \
		'    location /test/ { alias $(CURDIR)/samples/; thumbnail test; }' \
		'  }' \
		'}' > $(NGX_OUT)/check/nginx.conf && \
	$(NGX_RUN) -t -q -p $(NGX_OUT)/check -c $(NGX_OUT)/check/nginx.conf \
	&& sed -e 's|thumbnail_cache size=16m shards=4 ttl=10m;|thumbnail_cache zone=check:1m inactive=1h ttl=1d max_item=256k lock_age=10s;|' \
	       -e 's|thumbnail_cache_key $$host$$uri;|thumbnail_cache_key $$host$$uri; thumbnail_cache_purge $$arg_purge;|' \
	       $(NGX_OUT)/check/nginx.conf > $(NGX_OUT)/check/zone.conf \
	&& grep -q 'zone=check' $(NGX_OUT)/check/zone.conf && grep -q 'thumbnail_cache_purge' $(NGX_OUT)/check/zone.conf \
	&& $(NGX_RUN) -t -q -p $(NGX_OUT)/check -c $(NGX_OUT)/check/zone.conf \
	&& echo "nginx-module: $(NGX_BIN) -t accepts load_module $(NGX_SO) (per-worker cache, and zone)"
endef

nginx-venv: nginx-test-deps $(NGX_VENV)/.ok

# again when this file changes (a package added to the list)
$(NGX_VENV)/.ok: $(CURDIR)/mk/nginx.mk
	$(NGX_PYTHON) -m venv --clear $(NGX_VENV)
	$(NGX_VENV)/bin/pip install -q pytest requests prometheus_client
	@touch $@

## nginx-test: the module's pytest suite in tests/nginx
## (venv in target/venv; starts its own nginx instances)
nginx-test: nginx-module nginx-venv
	THUMBNAIL_SHARED=$(SHARED) NGX_MODULE_SO=$(NGX_SO) NGINX_BIN=$(NGX_BIN) \
		env -u NGINX $(NGX_VENV)/bin/pytest -q -p no:cacheprovider --basetemp=$(CURDIR)/target/nginx-tests tests/nginx

## nginx-demo: nginx in the foreground on 127.0.0.1:8080
## (NGX_DEMO_PORT=... to change it) serving /t/<spec>/<file>
## thumbnails of samples/ and an index page
nginx-demo: nginx-module
	@rm -rf $(NGX_DEMO)/nginx && mkdir -p $(NGX_DEMO)/nginx/logs $(NGX_DEMO)/nginx/tmp
	@{ \
	echo '<!doctype html><meta charset="utf-8"><title>thumbnail nginx demo</title>'; \
	echo '<style>body{font-family:sans-serif;background:#eee}figure{display:inline-block;margin:8px;vertical-align:top}img{background:#ccc}</style>'; \
	echo '<h1>ngx_http_thumbnail_module</h1>'; \
	echo '<p>Every image is <code>/t/&lt;spec&gt;/&lt;file&gt;</code>, rendered once on a thread pool and cached in a zone shared by both workers. <a href="/stats">/stats</a></p>'; \
	for f in samples/*.png samples/*.jpg; do \
		n=$$(basename $$f); echo "<h2>$$n</h2>"; \
		for s in 120x120,jpeg 200x200,cover,jpeg,q85 300x200,contain,jpeg,bg=222 400x; do \
			echo "<figure><img src=\"/t/$$s/$$n\"><figcaption>$$s</figcaption></figure>"; \
		done; \
	done; \
	} > $(NGX_DEMO)/index.html
	@printf '%s\n' \
		'load_module $(NGX_SO);' \
		'daemon off;' \
		'master_process on;' \
		'$(NGX_USER_LINE)' \
		'worker_processes 2;' \
		'error_log $(NGX_DEMO)/nginx/logs/error.log info;' \
		'pid $(NGX_DEMO)/nginx/nginx.pid;' \
		'thread_pool default threads=4;' \
		'events { worker_connections 1024; }' \
		'http {' \
		'  include /etc/nginx/mime.types;' \
		'  access_log $(NGX_DEMO)/nginx/logs/access.log;' \
		'  client_body_temp_path $(NGX_DEMO)/nginx/tmp/body;' \
		'  proxy_temp_path $(NGX_DEMO)/nginx/tmp/proxy;' \
		'  fastcgi_temp_path $(NGX_DEMO)/nginx/tmp/fastcgi;' \
		'  uwsgi_temp_path $(NGX_DEMO)/nginx/tmp/uwsgi;' \
		'  scgi_temp_path $(NGX_DEMO)/nginx/tmp/scgi;' \
		'  thumbnail_cache zone=thumbs:64m inactive=1h;' \
		'  server {' \
		'    listen 127.0.0.1:$(NGX_DEMO_PORT) reuseport;' \
		'    location = / { root $(NGX_DEMO); try_files /index.html =404; }' \
		'    location ~ ^/t/(?<spec>[^/]+)/(?<file>[^/]+)$$ {' \
		'      alias $(CURDIR)/samples/$$file;' \
		'      thumbnail on;' \
		'      thumbnail_spec $$spec;' \
		'    }' \
		'    location = /stats { thumbnail_stats; }' \
		'  }' \
		'}' > $(NGX_DEMO)/nginx/nginx.conf
	@echo "nginx-demo: http://127.0.0.1:$(NGX_DEMO_PORT)/  (stats: /stats; Ctrl-C stops)"
	$(NGX_RUN) -p $(NGX_DEMO)/nginx -c $(NGX_DEMO)/nginx/nginx.conf

## nginx-clean: remove target/nginx-src, target/nginx-build,
## target/nginx and the demo's nginx prefix
nginx-clean:
	rm -rf $(NGX_TREE) $(NGX_BUILD) $(NGX_OUT) $(NGX_DEMO)/nginx

## nginx-burst-bench: a burst of 200 distinct thumbnail misses
## of a 4.4 MB photo beside a small static file on the same
## worker; prints the static file's p50/p99 (BURST_ARGS=...)
BURST_ARGS ?=
nginx-burst-bench: nginx-module nginx-venv
	THUMBNAIL_SHARED=$(SHARED) NGX_MODULE_SO=$(NGX_SO) NGINX_BIN=$(NGX_BIN) \
		env -u NGINX $(NGX_VENV)/bin/python benches/nginx_burst.py $(BURST_ARGS)

## nginx-slow-readers-bench: 16 clients that never read ask
## for 10.8 MB PNGs; prints the worker's RSS and output_held
SLOW_ARGS ?=
nginx-slow-readers-bench: nginx-module nginx-venv
	THUMBNAIL_SHARED=$(SHARED) NGX_MODULE_SO=$(NGX_SO) NGINX_BIN=$(NGX_BIN) \
		env -u NGINX $(NGX_VENV)/bin/python benches/nginx_slow_readers.py $(SLOW_ARGS)
