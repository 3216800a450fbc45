# mk/cluster.mk: scale out (issue 15): thumbnail-cluster (cluster/), the
# cluster tests, the groupcache example, a demo and a benchmark.
#
# Included by the top-level Makefile after mk/nginx.mk (uses its ngx_apt,
# nginx-module, nginx-venv, NGX_* variables). Targets:
#
#   cluster-bin    target/release/thumbnail-cluster (a workspace member of
#                  its own: its dependencies stay out of libthumbnail)
#   cluster-deps   etcd-server, etcd-client (apt-get, only when missing)
#   cluster-test   cargo tests of thumbnail-cluster, then tests/cluster
#                  (pytest: etcd, 3 nodes, a router on 127.0.0.1; the Go
#                  groupcache example)
#   cluster-demo   etcd + 3 nodes + a router, in the foreground
#   cluster-bench  cache hits through the router vs direct to a node (wrk)

CLUSTER_BIN      := $(CURDIR)/target/release/thumbnail-cluster
CLUSTER_APT_PKGS ?= etcd-server etcd-client
CLUSTER_GO_PKGS  ?= golang-go golang-github-golang-groupcache-dev
CLUSTER_BENCH_PKGS ?= wrk
CLUSTER_ENV       = NGX_MODULE_SO=$(NGX_SO) NGINX_BIN=$(NGX_BIN) THUMBNAIL_CLUSTER_BIN=$(CLUSTER_BIN)

.PHONY: cluster-bin cluster-deps cluster-go-deps cluster-test cluster-demo cluster-bench

## cluster-bin: target/release/thumbnail-cluster (register / watch, etcd JSON gateway)
cluster-bin: rust-deps
	$(CARGO) build --release --locked -p thumbnail-cluster

## cluster-deps: etcd-server etcd-client (apt-get, only what is missing)
cluster-deps:
	@$(call ngx_apt,$(CLUSTER_APT_PKGS))

cluster-go-deps:
	@$(call ngx_apt,$(CLUSTER_GO_PKGS))

## cluster-test: thumbnail-cluster's unit tests, then tests/cluster (real
## etcd, 3 nodes x 2 workers + router, faults under load, the Go
## groupcache example)
cluster-test: cluster-bin cluster-deps cluster-go-deps nginx-module nginx-venv lib
	$(CARGO) test --release --locked -p thumbnail-cluster
	$(CLUSTER_ENV) env -u NGINX $(NGX_VENV)/bin/pytest -q -s -p no:cacheprovider tests/cluster

## cluster-demo: etcd + 3 nodes + a router on 127.0.0.1 serving
## /t/<spec>/<file> of samples/ (prints the URLs; Ctrl-C stops everything)
cluster-demo: cluster-bin cluster-deps nginx-module
	$(CLUSTER_ENV) env -u NGINX python3 tests/cluster/demo.py

## cluster-bench: cache-hit latency and requests/s through the router vs
## direct to the node, in one run (wrk; prints the ratios)
cluster-bench: cluster-bin cluster-deps nginx-module
	@$(call ngx_apt,$(CLUSTER_BENCH_PKGS))
	$(CLUSTER_ENV) env -u NGINX python3 tests/cluster/bench.py
