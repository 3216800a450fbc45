"""Fixtures of the cluster tests: one etcd for the session, and clusters of
3 nodes + 1 router under their own key prefixes (see cluster.py).

* ``cluster2``: 3 nodes x 2 workers (reuseport), as issue 15 asks, and two
  routers (each with its watcher).
* ``exact``: the cluster where a node renders each key once whatever the
  worker that receives it: ``cluster2`` once node.conf.in uses the
  node-wide shared-memory cache (``zone=``), until then 3 nodes x 1 worker.

Environment: NGX_MODULE_SO, NGINX_BIN, THUMBNAIL_CLUSTER_BIN, ETCD_BIN.
"""

import os
import shutil

import pytest

import cluster as c


def _check_parts():
    for what, path in [("module", c.MODULE), ("thumbnail-cluster", c.CLUSTER_BIN), ("etcd", c.ETCD),
                       ("nginx", c.NGINX)]:
        if not os.path.exists(path):
            pytest.exit(f"{what} missing: {path} (make cluster-test builds and installs it)", returncode=2)


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    _check_parts()
    e = c.Etcd(tmp_path_factory.mktemp("etcd")).start()
    yield e
    e.stop()


def _cluster(tmp_path_factory, etcd, name, workers, routers=1):
    cl = c.Cluster(tmp_path_factory.mktemp(name), etcd, f"/thumbnail/{name}/", nodes=3, workers=workers,
                   routers=routers)
    try:
        cl.start()
    except BaseException:
        cl.stop()
        raise
    yield cl
    cl.stop()
    crashes = [l for x in cl.nodes + cl.routers for l in x.crashes()]
    assert not crashes, crashes


@pytest.fixture(scope="session")
def cluster2(tmp_path_factory, etcd):
    yield from _cluster(tmp_path_factory, etcd, "w2", 2, routers=2)


@pytest.fixture(scope="session")
def exact(tmp_path_factory, etcd, request):
    if c.NODE_CACHE_SHARED:
        yield request.getfixturevalue("cluster2")
    else:
        yield from _cluster(tmp_path_factory, etcd, "w1", 1)


def pytest_configure(config):
    # A directory of our own: under /tmp/pytest-of-USER, pytest keeps only
    # the 3 newest sessions' directories, so other pytest runs on the
    # machine could remove etcd's data and the logs of a running session.
    if not config.option.basetemp:
        config.option.basetemp = str(c.ROOT / "target" / "cluster-tests")


def pytest_report_header(config):
    return [f"nginx: {c.NGINX}, module: {c.MODULE}", f"thumbnail-cluster: {c.CLUSTER_BIN}",
            f"etcd: {c.ETCD} ({shutil.which('etcd')})",
            f"node cache: {'node-wide shared zone' if c.NODE_CACHE_SHARED else 'per worker'}"]
