"""The peer layout (groupcache's): no router tier, every node is its own
router. A request to any node is forwarded to the key's owner (itself
included) by nginx's `hash $uri consistent` over the upstream file that
the node's own `thumbnail-cluster watch` writes. 1 worker per node until
the node-wide cache lands (node.conf.in: zone=), then 2."""

import collections
import concurrent.futures
import pytest

import cluster as c


@pytest.fixture(scope="module")
def peers(tmp_path_factory, etcd):
    cl = c.PeerCluster(tmp_path_factory.mktemp("peers"), etcd, "/thumbnail/peers/", nodes=3,
                       workers=2 if c.NODE_CACHE_SHARED else 1)
    try:
        cl.start()
        yield cl
    finally:
        cl.stop()
    crashes = [l for n in cl.nodes for l in n.crashes()]
    assert not crashes, crashes


def test_any_node_forwards_to_the_owner(peers, capsys):
    cl = peers
    files = ["landscape-exif6.jpg", "kodim01.png", "kodim05.png", "kodim23.png"]
    paths = [f"/t/{40 + i}x36/{files[i % 4]}" for i in range(90)]
    # the same file on every peer (ketama hashes the server text)
    texts = {n.upstream.read_text() for n in cl.nodes}
    assert len(texts) == 1
    servers = [l.split()[1] for l in texts.pop().splitlines() if l.strip().startswith("server ")]
    assert sorted(servers) == sorted(n.addr for n in cl.nodes)
    ring = c.ketama_points(servers, c.template_weight())
    before = cl.renders()
    # each key asked at every peer's public port, all at once
    jobs = [(n.public_port, p) for p in paths for n in cl.nodes]
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(lambda j: (j[1],) + c.http_get(*j, timeout=30), jobs))
    by_key = collections.defaultdict(set)
    for p, status, h, _ in results:
        assert status == 200, (p, status)
        by_key[p].add(h["x-upstream"])
    for p in paths:
        assert by_key[p] == {c.ketama_owner(ring, p)}, (p, by_key[p])
    after = cl.renders()
    delta = {n: after[n] - before[n] for n in after}
    with capsys.disabled():
        print(f"\n  peer layout: {len(jobs)} requests (each of 90 keys at each of 3 peers): "
              f"renders {delta}, sum {sum(delta.values())}")
    assert sum(delta.values()) == len(paths)


def test_peer_leaves_and_the_others_follow(peers):
    """A peer's register leaves: the other peers' watchers rewrite their
    upstream and reload; its keys are answered by the next peer."""
    cl = peers
    victim = cl.nodes[2]
    others = [n for n in cl.nodes if n is not victim]
    old = {n.name: set(n.worker_pids()) for n in others}
    cl.registers.pop(victim.name).stop()
    c.wait_for(lambda: all(victim.addr not in n.upstream.read_text() for n in others), 3, 0.02,
               "the others dropped the peer")
    # reloaded: only new workers accept connections
    c.wait_for(lambda: all(len(set(n.worker_pids()) - old[n.name]) == n.workers
                           and not set(n.worker_pids()) & old[n.name] for n in others), 5, 0.02, "reloaded")
    for i in range(30):
        s, h, _ = c.http_get(others[i % 2].public_port, f"/t/{40 + i}x37/kodim01.png")
        assert s == 200 and h["x-upstream"] != victim.addr
