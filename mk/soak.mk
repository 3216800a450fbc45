# mk/soak.mk: the nginx module under a long mixed load (tests/soak/soak.py).
#
# Included by the top-level Makefile after mk/nginx.mk (NGX_SO, NGX_BIN,
# NGX_PYTHON, nginx-module, nginx-test-deps). Targets:
#
#   soak        real nginx with the module (2 workers, 2 pool threads, as the
#               invoking user) for SOAK_SECONDS (default 600) of valid
#               photos, corrupt files, bombs, invalid specs, conditional
#               requests, client aborts and slow readers, plus `nginx -s
#               reload` once a minute; fails on a worker crash, an
#               [alert]/[crit]/[emerg] line, any 500, or worker RSS growth
#               over SOAK_RSS_GROWTH_MB (64) between the first and the last
#               third of the run. Report: target/soak/nginx/report.txt (and
#               report.json, error.log beside it).
#   soak-short  the same for 60 seconds (part of `make test`)

SOAK_SECONDS       ?= 600
SOAK_RSS_GROWTH_MB ?= 64
SOAK_FLAGS         ?=

.PHONY: soak soak-short soak-run

## soak: nginx + module under a mixed load and a reload a minute, SOAK_SECONDS (600)
soak: nginx-module nginx-test-deps
	@$(MAKE) --no-print-directory soak-run SOAK_SECONDS=$(SOAK_SECONDS)

## soak-short: the soak for 60 s (part of `make test`)
soak-short: nginx-module nginx-test-deps
	@$(MAKE) --no-print-directory soak-run SOAK_SECONDS=60

soak-run:
	env -u NGINX THUMBNAIL_SHARED=$(SHARED) NGX_MODULE_SO=$(NGX_SO) NGINX_BIN=$(NGX_BIN) \
		$(NGX_PYTHON) tests/soak/soak.py --seconds $(SOAK_SECONDS) \
		--rss-growth-mb $(SOAK_RSS_GROWTH_MB) --prefix $(CURDIR)/target/soak/nginx $(SOAK_FLAGS)
