"""Issue 15: 3 nodes behind a router with `hash $uri consistent`, members
from etcd (thumbnail-cluster register / watch). Real etcd, real nginx with
the module, loopback only. Figures are printed (pytest -s, or in the
report of a failure)."""

import collections
import concurrent.futures
import http.client
import threading
import time

import pytest

import cluster as c
from load import Load

FILES = ["landscape-exif6.jpg", "kodim01.png", "kodim05.png", "kodim23.png"]


def keys(tag, n):
    """n distinct thumbnail URIs; `tag` (a height) keeps each test's keys apart."""
    return [f"/t/{40 + i}x{tag}/{FILES[i % len(FILES)]}" for i in range(n)]


def fetch_all(port, jobs, threads=16):
    """GET each path of `jobs` (in order, `threads` at a time, keep-alive
    per thread): [(path, status, headers)]."""
    local = threading.local()

    def one(path):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local.conn.request("GET", path)
        r = local.conn.getresponse()
        r.read()
        return path, r.status, {k.lower(): v for k, v in r.getheaders()}

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, jobs))


def owners(port, paths, expect=200):
    """The node address each path is routed to, on one keep-alive
    connection opened now (callers make sure that every router worker that
    accepts connections runs the config they mean to ask)."""
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for p in paths:
            try:
                conn.request("GET", p)
                r = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError):
                # an idle keep-alive connection closed by a worker of the
                # config before (a reload's old worker): a GET is retried,
                # once, on a new connection, as any HTTP client does
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", p)
                r = conn.getresponse()
            r.read()
            assert r.status == expect, (p, r.status)
            addr = r.getheader("X-Upstream")
            assert "," not in addr, (p, addr)  # not a retry
            out[p] = addr
    finally:
        conn.close()
    return out


def new_config_active(router, old_workers, path, away=None, to=None, timeout=5):
    """Seconds until the router runs the new config: `path` is routed away
    from `away` (or to `to`), on a new connection per try, 10 ms apart, and
    every router worker that accepts connections is a new one (the old ones
    are shutting down, their listening sockets closed)."""
    t0 = time.monotonic()

    def done():
        addr = c.http_get(router.port, path)[1]["x-upstream"]
        if (away and addr == away) or (to and addr != to):
            return False
        now = set(router.worker_pids())
        return len(now) == router.workers and not now & old_workers

    c.wait_for(done, timeout, 0.01, f"new config for {path}")
    return time.monotonic() - t0


def check_each_key_on_one_node(cl, paths, results):
    """Every response 200 from the predicted owner (nginx's ketama over the
    server text, key = $uri), each key seen by exactly one node."""
    ring = cl.routers[0].ring()
    by_key = collections.defaultdict(set)
    for path, status, h in results:
        assert status == 200, (path, status)
        by_key[path].add(h["x-upstream"])
    for p in paths:
        assert by_key[p] == {c.ketama_owner(ring, p)}, (p, by_key[p])
    seen = {n.name: set(n.seen()) & set(paths) for n in cl.nodes}
    for a in cl.nodes:
        for b in cl.nodes:
            if a is not b:
                assert not seen[a.name] & seen[b.name], f"keys seen by both {a.name} and {b.name}"
    assert sum(len(s) for s in seen.values()) == len(paths)
    return seen


def test_200_keys_x8_render_once_cluster_wide(exact, capsys):
    """3 nodes + router, 200 distinct keys x 8 concurrent requests: the sum
    of renders over the nodes is 200, no key is rendered on two nodes.
    (3 x 1 worker until the node-wide cache lands, then 3 x 2.)"""
    cl = exact
    paths = keys(30, 200)
    before = cl.renders()
    t0 = time.monotonic()
    results = fetch_all(cl.routers[0].port, [p for p in paths for _ in range(8)], threads=16)
    took = time.monotonic() - t0
    seen = check_each_key_on_one_node(cl, paths, results)
    after = cl.renders()
    delta = {n: after[n] - before[n] for n in after}
    with capsys.disabled():
        print(f"\n  {cl.nodes[0].workers} worker(s)/node: 1600 requests in {took:.2f} s; "
              f"renders per node {delta} (keys per node { {n: len(s) for n, s in seen.items()} }), "
              f"sum {sum(delta.values())}")
    assert sum(delta.values()) == 200
    for n in cl.nodes:
        assert delta[n.name] == len(seen[n.name])


def test_two_workers_per_node(cluster2, capsys):
    """The same through 3 nodes x 2 workers. Routing is exact (each key on
    one node); the renders are exactly 200 once the nodes share one cache
    (node.conf.in: thumbnail_cache zone=...), and until then at most two
    per key on its node (one per worker)."""
    cl = cluster2
    paths = keys(31, 200)
    before = cl.renders()
    results = fetch_all(cl.routers[0].port, [p for p in paths for _ in range(8)], threads=16)
    seen = check_each_key_on_one_node(cl, paths, results)
    after = cl.renders()
    delta = {n: after[n] - before[n] for n in after}
    with capsys.disabled():
        print(f"\n  2 workers/node, {'shared' if c.NODE_CACHE_SHARED else 'per-worker'} cache: "
              f"renders per node {delta}, sum {sum(delta.values())} for 200 keys")
    for n in cl.nodes:
        if c.NODE_CACHE_SHARED:
            assert delta[n.name] == len(seen[n.name])
        else:
            assert len(seen[n.name]) <= delta[n.name] <= 2 * len(seen[n.name])
    # the second router rendered the same file and routes every key the same way
    r1, r2 = cl.routers
    assert r1.upstream.read_bytes() == r2.upstream.read_bytes()
    first = {p: h["x-upstream"] for p, _, h in results}
    assert owners(r2.port, paths) == first


def test_hash_key_is_the_cache_key(exact):
    """A key routed to node X is cached on X only: asked directly, X answers
    from its cache (no render) and another node renders it."""
    cl = exact
    paths = keys(32, 30)
    got = owners(cl.routers[0].port, paths)
    time.sleep(0.1)
    before = cl.renders()
    for p in paths:
        owner = cl.node_by_addr(got[p])
        s, h, _ = c.http_get(owner.port, p)
        assert s == 200 and h["x-thumbnail-node"] == owner.name
    assert cl.renders() == before, "a direct request to the owner rendered"
    for p in paths:
        other = next(n for n in cl.nodes if n.addr != got[p])
        assert c.http_get(other.port, p)[0] == 200
    after = cl.renders()
    assert sum(after.values()) - sum(before.values()) == len(paths)


def test_membership_change_under_load(cluster2, capsys):
    """A node leaves (its register gets SIGTERM and revokes the lease) and
    comes back, under continuous load: only its keys move (<= 1/3 + 5 %),
    and back; the new config is active within 1 s of the etcd change; a
    client that retries on an early keep-alive close sees no failure."""
    cl = cluster2
    router = cl.routers[0]
    paths = keys(33, 300)  # real thumbnails: the load
    # owners are counted on 3000 more keys: sources that do not exist, so
    # each costs a 404 from its owner instead of a render
    sample = [f"/t/40x40/none-{i}.jpg" for i in range(3000)]
    before = owners(router.port, paths)
    before_s = owners(router.port, sample, expect=404)
    victim = cl.nodes[1]
    mine = [p for p in paths if before[p] == victim.addr]
    mine_s = [p for p in sample if before_s[p] == victim.addr]
    assert mine, "the victim owns no key"
    fresh = lambda i: f"/t/{i % 2000 + 40}x{100 + i // 2000}/{FILES[i % 4]}"
    load = Load(router.port, paths, threads=4, fresh=fresh).start()
    try:
        time.sleep(0.5)
        old = set(router.worker_pids())
        cl.leave(victim)  # revokes the lease: the etcd change
        leave_s = new_config_active(router, old, mine[0], away=victim.addr)
        c.wait_for(lambda: all(len(r.servers()) == 2 for r in cl.routers), 5, what="upstreams with 2 servers")
        after = owners(router.port, paths)
        after_s = owners(router.port, sample, expect=404)
        assert owners(cl.routers[1].port, paths) == after
        time.sleep(0.5)
        old = set(router.worker_pids())
        cl.join(victim)  # starts a register: the etcd change is a few ms later
        join_s = new_config_active(router, old, mine[0], to=victim.addr)
        c.wait_for(lambda: all(len(r.servers()) == 3 for r in cl.routers), 5, what="upstreams with 3 servers")
        back = owners(router.port, paths)
        back_s = owners(router.port, sample, expect=404)
        time.sleep(0.5)
    finally:
        load.stop()
    moved = [p for p in paths if after[p] != before[p]]
    moved_s = [p for p in sample if after_s[p] != before_s[p]]
    share = len(moved_s) / len(sample)
    ring = c.ketama_points(sorted({*before_s.values()}), c.template_weight())
    predicted = sum(c.ketama_owner(ring, p) == victim.addr for p in sample) / len(sample)
    watch_log = [l for l in cl.watchers[0].text().splitlines() if "ms after the change" in l][-2:]
    with capsys.disabled():
        print(f"\n  leave: new config active {leave_s * 1000:.0f} ms after the revoke; "
              f"join: {join_s * 1000:.0f} ms after starting the register")
        print(f"  keys that changed owner: {len(moved_s)}/{len(sample)} = {share:.1%} (ketama predicts "
              f"{predicted:.1%}), all the leaver's; of the 300 loaded: {len(moved)}; after it rejoined: "
              f"{sum(back_s[p] != before_s[p] for p in sample)} differ from the start")
        print("  watcher: " + "\n  watcher: ".join(watch_log))
        print(f"  load during both changes: {load.summary()}")
    assert set(moved) == set(mine), "a key that the leaver did not own moved"
    assert set(moved_s) == set(mine_s), "a key that the leaver did not own moved"
    assert share <= 1 / 3 + 0.05
    assert back == before and back_s == before_s
    assert leave_s < 1.0 and join_s < 1.0
    assert load.failures == 0, load.errors
    assert load.requests > 100


def test_sigkill_of_a_node_under_load(cluster2, capsys):
    """A node crashes (SIGKILL to its nginx and its register): requests for
    its keys go to the next node on the ring (proxy_next_upstream error,
    max_fails) until its lease expires and the routers drop it; a client
    that retries on an early keep-alive close sees no failure."""
    cl = cluster2
    router = cl.routers[0]
    paths = keys(34, 300)
    before = owners(router.port, paths)
    victim = cl.nodes[2]
    mine = [p for p in paths if before[p] == victim.addr]
    fresh = lambda i: f"/t/{i % 2000 + 40}x{200 + i // 2000}/{FILES[i % 4]}"
    load = Load(router.port, paths, threads=4, fresh=fresh).start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        victim.kill()
        cl.registers.pop(victim.name).kill()
        # lease TTL 3 s, then the watcher's reload
        c.wait_for(lambda: len(router.servers()) == 2, cl.ttl + 5, 0.05, "the dead node dropped")
        dropped = time.monotonic() - t0
        time.sleep(1.0)
        during = owners(router.port, mine)
        assert victim.addr not in during.values()
    finally:
        load.stop()
    with capsys.disabled():
        print(f"\n  SIGKILL: dropped from the upstream {dropped:.2f} s later (lease TTL {cl.ttl} s); "
              f"{load.summary()}")
    # the node comes back for the tests after this one
    victim.start()
    cl.join(victim)
    c.wait_for(lambda: len(router.servers()) == 3, 5, what="the node back")
    assert load.failures == 0, load.errors
    assert load.requests > 100


def test_register_leaves_when_its_nginx_dies(cluster2, capsys):
    """register --health: the node's nginx dies while its register lives;
    the register revokes its lease (two failed health checks), and
    registers again once nginx is back."""
    cl = cluster2
    router = cl.routers[0]
    victim = cl.nodes[0]
    t0 = time.monotonic()
    victim.kill()
    c.wait_for(lambda: victim.addr not in router.servers(), 10, 0.02, "the node without nginx dropped")
    gone = time.monotonic() - t0
    assert cl.registers[victim.name].alive()
    victim.start()
    t1 = time.monotonic()
    c.wait_for(lambda: victim.addr in router.servers(), 10, 0.02, "the node back")
    back = time.monotonic() - t1
    with capsys.disabled():
        print(f"\n  nginx of a node killed: dropped {gone:.2f} s later; back {back:.2f} s after its restart")
    text = cl.registers[victim.name].text()
    assert "node not healthy" in text and text.count("registered ") >= 2


def test_etcd_down_routers_keep_serving(cluster2, etcd, capsys):
    """etcd stops: the upstream file stays, the router serves every key;
    when etcd returns the watcher follows changes again."""
    cl = cluster2
    router, watcher = cl.routers[0], cl.watchers[0]
    # no router worker of an older config left (a reload of the test before
    # could still be closing its idle keep-alive connections)
    c.wait_for(router.settled, 10, 0.05, "router settled")
    paths = keys(35, 60)
    owners(router.port, paths)
    conf = router.upstream.read_text()
    etcd.stop()
    try:
        t0 = time.monotonic()
        rounds = 0
        while time.monotonic() - t0 < cl.ttl + 2:  # longer than a lease's TTL
            assert all(s == 200 for _, s, _ in fetch_all(router.port, paths, threads=4))
            rounds += 1
        assert router.upstream.read_text() == conf
        assert "etcd unreachable" in watcher.text()
    finally:
        etcd.start()
    c.wait_for(lambda: "etcd reachable again" in watcher.text(), 10, 0.05, "watcher reconnected")
    # the registers re-register; nobody is dropped for good
    c.wait_for(lambda: len(router.servers()) == 3, 10, 0.05, "3 members after the outage")
    time.sleep(1)
    node = cl.nodes[0]
    cl.leave(node)
    c.wait_for(lambda: len(router.servers()) == 2, 2, 0.01, "watcher follows a leave after the outage")
    cl.join(node)
    c.wait_for(lambda: len(router.servers()) == 3, 2, 0.01, "and a join")
    with capsys.disabled():
        print(f"\n  etcd down {cl.ttl + 2} s: {rounds} rounds of {len(paths)} keys through the router, all 200; "
              "watcher recovered")


def test_watcher_faults(etcd, tmp_path):
    """Malformed values are skipped (logged), an empty member set keeps the
    old file, a failing check restores the previous file and does not
    reload, reloads happen only when the member set changes, and a burst is
    one reload."""
    prefix = "/thumbnail/faults/"
    router = c.Router(tmp_path / "r")
    reloads = tmp_path / "reloads"
    args = [c.CLUSTER_BIN, "watch", "--etcd", etcd.url, "--prefix", prefix,
            "--template", c.CONF / "upstream.conf.in", "--output", router.upstream,
            "--check", router.check_cmd(), "--reload", f"echo reload >> {reloads}", "--debounce", 200]
    w = c.Proc(args, tmp_path / "watch.log").start()
    n_reloads = lambda: len(reloads.read_text().splitlines()) if reloads.exists() else 0

    def reloads_are(n):
        # the reload runs just after the file is in place; then nothing more
        c.wait_for(lambda: n_reloads() >= n, 5, what=f"{n} reloads")
        time.sleep(0.5)
        assert n_reloads() == n
    try:
        etcd.put(prefix + "a", "127.0.0.1:1001")
        etcd.put(prefix + "bad", "not-an-address;")
        c.wait_for(lambda: router.upstream.exists() and router.servers() == ["127.0.0.1:1001"], 5)
        # the watcher may have read the prefix between the two puts: the
        # bad value then comes with the next read
        c.wait_for(lambda: 'skipping key "/thumbnail/faults/bad"' in w.text(), 5, what="the skip logged")
        reloads_are(1)
        etcd.put(prefix + "b", "127.0.0.1:1002")
        c.wait_for(lambda: len(router.servers()) == 2, 5)
        reloads_are(2)
        # the same value again: an etcd event, no change of the member set
        etcd.put(prefix + "b", "127.0.0.1:1002")
        reloads_are(2)
        # a burst of 5 puts: one reload
        for i in range(3, 8):
            etcd.put(prefix + f"n{i}", f"127.0.0.1:100{i}")
        c.wait_for(lambda: len(router.servers()) == 7, 5)
        reloads_are(3)
        # the router's own config broken: the check fails, the old file stays
        good = router.upstream.read_text()
        main = router.conf.read_text()
        router.conf.write_text(main + "\nthis_is_not_a_directive;\n")
        etcd.put(prefix + "n9", "127.0.0.1:1009")
        c.wait_for(lambda: "check failed, previous upstream restored" in w.text(), 5)
        assert router.upstream.read_text() == good
        reloads_are(3)
        router.conf.write_text(main)
        etcd.put(prefix + "n10", "127.0.0.1:1010")  # the next change goes through
        c.wait_for(lambda: len(router.servers()) == 9, 5)
        reloads_are(4)
        # every member gone: never an empty upstream
        etcd.delete_prefix(prefix)
        c.wait_for(lambda: "no valid member under /thumbnail/faults/" in w.text(), 5)
        assert len(router.servers()) == 9
        reloads_are(4)
        assert w.alive()
    finally:
        w.stop()
