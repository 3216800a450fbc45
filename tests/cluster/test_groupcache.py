"""The groupcache example (bindings/go/examples/groupcache), built offline in
GOPATH mode against Debian's golang-github-golang-groupcache-dev, with cgo
against target/release/libthumbnail.a: 3 peers on loopback; each key is
loaded (rendered) by one peer only: LocalLoads summed over the peers equals
the number of distinct keys."""

import concurrent.futures
import json
import os
import pathlib
import subprocess
import time

import cluster as c

GOCODE = "/usr/share/gocode"
IMPORT = "github.com/thumbnail-rs/thumbnail/bindings/go/examples/groupcache"


def build(out_dir):
    gopath = c.ROOT / "target" / "go-cluster"
    link = gopath / "src" / "github.com" / "thumbnail-rs" / "thumbnail"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or os.readlink(link) != str(c.ROOT):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(c.ROOT)
    binary = out_dir / "groupcache-thumbs"
    # the in-tree static link (bindings/go/link_static.go); the default is pkg-config
    env = dict(c.ENV, GO111MODULE="off", GOPATH=f"{gopath}:{GOCODE}", GOFLAGS="-tags=thumbnail_static", GOPROXY="off")
    out = subprocess.run(["go", "build", "-o", str(binary), IMPORT], cwd=gopath, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return binary


def test_groupcache_three_peers_load_each_key_once(tmp_path, capsys):
    binary = build(tmp_path)
    ports = [c.free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    peers = [c.Proc([binary, "-self", u, "-peers", ",".join(urls), "-root", c.SAMPLES],
                    tmp_path / f"peer{i}.log").start() for i, u in enumerate(urls)]
    try:
        for p in ports:
            c.wait_for(lambda: c.up(p, "/stats"), 15, 0.05, "peer up")
        files = ["landscape-exif6.jpg", "kodim01.png", "kodim05.png", "kodim23.png"]
        keys = [f"/t/{50 + i}x{50 + i},cover/{files[i % 4]}" for i in range(60)]
        # each key 6 times, on every peer, 12 at a time
        jobs = [(ports[j % 3], k) for k in keys for j in range(6)]
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            results = list(ex.map(lambda job: (job[1],) + c.http_get(*job, timeout=30), jobs))
        for k, status, headers, body in results:
            assert status == 200, (k, status, body[:200])
            assert headers["content-type"] in ("image/jpeg", "image/png")
            assert len(body) > 100
        stats = [json.loads(c.http_get(p, "/stats")[2]) for p in ports]
        # an unknown source and a bad spec (a peer that does not own the key
        # loads it itself when the owner answers an error: groupcache's way)
        assert all(c.http_get(p, "/t/50x50/nope.jpg")[0] == 404 for p in ports)
        assert c.http_get(ports[1], "/t/0x0/kodim01.png")[0] == 400
    finally:
        for p in peers:
            p.stop()
    loads = [s["LocalLoads"] for s in stats]
    with capsys.disabled():
        print(f"\n  groupcache: {len(jobs)} requests for {len(keys)} keys over 3 peers: "
              f"LocalLoads {loads} (sum {sum(loads)}), PeerLoads {[s['PeerLoads'] for s in stats]}, "
              f"Gets {[s['Gets'] for s in stats]}")
    assert sum(loads) == len(keys)
    assert all(s["PeerErrors"] == 0 for s in stats)
    assert all(l > 0 for l in loads)
