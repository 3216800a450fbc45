"""make cluster-bench: cache hits through the router vs direct to the node,
in one run (wrk). A cluster of 3 nodes x 2 workers and a router (2 workers),
as in the tests; one thumbnail, warmed on its owner; then rounds that
alternate router and direct (so both share whatever else the machine is
doing), for two loads: one connection (latency) and 32 connections
(throughput). Prints medians over the rounds and the ratios router/direct.

Environment: CLUSTER_BENCH_ROUNDS (default 3), CLUSTER_BENCH_SECONDS (5)."""

import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cluster as c  # noqa: E402

ROUNDS = int(os.environ.get("CLUSTER_BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("CLUSTER_BENCH_SECONDS", "5"))
PATH = "/t/200x200,cover/kodim01.png"
LOADS = [("1 connection", 1, 1), ("32 connections", 2, 32)]


def wrk(port, threads, conns):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{SECONDS}s", "--latency",
                          f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True,
                         timeout=SECONDS + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    assert "Non-2xx" not in out and "Socket errors" not in out, out

    def pct(p):
        v, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return rps, pct(50), pct(99)


def main():
    base = c.ROOT / "target" / "cluster-bench"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    etcd = c.Etcd(base / "etcd").start()
    cl = c.Cluster(base, etcd, "/thumbnail/bench/", nodes=3, workers=2)
    try:
        cl.start()
        router = cl.routers[0]
        s, h, _ = c.http_get(router.port, PATH)
        assert s == 200
        owner = cl.node_by_addr(h["x-upstream"])
        # warm both workers of the owner (a per-worker cache until the node-wide one lands)
        for _ in range(20):
            assert c.http_get(owner.port, PATH)[0] == 200
        renders = owner.stats()["renders"]
        res = {(l, t): [] for l, _, _ in LOADS for t in ("router", "direct")}
        for _ in range(ROUNDS):
            for label, threads, conns in LOADS:
                res[(label, "router")].append(wrk(router.port, threads, conns))
                res[(label, "direct")].append(wrk(owner.port, threads, conns))
        assert owner.stats()["renders"] == renders, "the benchmark rendered: not all cache hits"
    finally:
        cl.stop()
        etcd.stop()
    print(f"\ncache hits of {PATH} ({owner.name}, 2 workers), wrk {SECONDS} s x {ROUNDS} rounds "
          f"alternating router / direct; medians; {os.cpu_count()} cores shared with everything else\n")
    print("| load | path | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for label, _, _ in LOADS:
        med = {}
        for t in ("router", "direct"):
            rows = res[(label, t)]
            med[t] = [statistics.median(r[i] for r in rows) for i in range(3)]
            print(f"| {label} | {t} | {med[t][0]:.0f} | {med[t][1]:.3f} | {med[t][2]:.3f} |")
        r, d = med["router"], med["direct"]
        print(f"| {label} | router / direct | {r[0] / d[0]:.2f} | {r[1] / d[1]:.2f} | {r[2] / d[2]:.2f} |")


if __name__ == "__main__":
    main()
