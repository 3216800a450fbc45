"""make cluster-demo: etcd + 3 nodes (2 workers each) + a router on
127.0.0.1, the router's upstream kept by `thumbnail-cluster watch`. Prints
the URLs; Ctrl-C or SIGTERM (make passes it on) stops everything."""

import os
import pathlib
import shutil
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cluster as c  # noqa: E402

PORT = int(os.environ.get("CLUSTER_DEMO_PORT", "8090"))
SPECS = ["120x120,jpeg", "200x200,cover,jpeg,q85", "300x200,contain,jpeg,bg=222", "400x"]


def main():
    base = c.ROOT / "target" / "cluster-demo"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    etcd = c.Etcd(base / "etcd").start()
    cl = c.Cluster(base, etcd, "/thumbnail/nodes/", nodes=3, workers=2, router_port=PORT)
    try:
        files = sorted(p.name for p in c.SAMPLES.iterdir() if p.suffix in (".jpg", ".png"))
        html = ['<!doctype html><meta charset="utf-8"><title>thumbnail cluster demo</title>',
                "<style>body{font-family:sans-serif;background:#eee}figure{display:inline-block;margin:8px}"
                "img{background:#ccc}</style><h1>thumbnail cluster: 3 nodes behind a router</h1>",
                "<p>Each <code>/t/&lt;spec&gt;/&lt;file&gt;</code> is routed by <code>hash $uri consistent</code> "
                "to the node that owns it (hover: the response header X-Upstream names it).</p>"]
        for f in files:
            html.append(f"<h2>{f}</h2>")
            html += [f'<figure><img src="/t/{s}/{f}"><figcaption>{s}</figcaption></figure>' for s in SPECS]
        (base / "router1").mkdir(parents=True, exist_ok=True)
        (base / "router1" / "index.html").write_text("\n".join(html))
        cl.start()
        r = cl.routers[0]
        print(f"cluster-demo: router  http://127.0.0.1:{r.port}/   (e.g. /t/200x200,cover/{files[0]})")
        for n in cl.nodes:
            print(f"cluster-demo: {n.name}   http://{n.addr}/stats")
        print(f"cluster-demo: etcd    {etcd.url}  (members: ETCDCTL_API=3 etcdctl --endpoints {etcd.url} "
              f"get --prefix /thumbnail/nodes/)")
        print(f"cluster-demo: logs and configs in {base}; Ctrl-C stops everything")
        sys.stdout.flush()
        while not stop:
            if os.getppid() == 1:  # make went away without telling us
                break
            dead = [p for p in [*cl.nodes, *cl.routers] if not p.alive()]
            if dead:
                print(f"cluster-demo: {dead[0].prefix.name} exited; stopping", file=sys.stderr)
                break
            time.sleep(0.2)
    finally:
        print("cluster-demo: stopping")
        cl.stop()
        etcd.stop()


if __name__ == "__main__":
    main()
