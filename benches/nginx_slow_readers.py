#!/usr/bin/env python3
"""`make nginx-slow-readers-bench`: rendered output held for slow clients.

nginx with one worker, 4 pool threads, no cache and `thumbnail_max_output
4096` (the instance of tests/nginx/test_hardening.py). After two warm-up
renders, 16 clients (receive buffer 4 KB) ask at once for distinct
3000x1875 PNGs of mid4mp.jpg (10.8 MB each) and never read. Printed: the
worker's RSS over its base while the renders run (peak), once they are all
over while the clients still hold on, and after they close; the module's
output_held gauge; how many got 200 and 503.

    make nginx-slow-readers-bench [SLOW_ARGS='--rounds 3']
"""

import argparse
import concurrent.futures
import pathlib
import socket
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/nginx"))

import test_hardening as th  # noqa: E402
from conftest import Nginx  # noqa: E402

SPEC = "{w}x3000,enlarge,png"


def mb(v):
    return v >> 20


def one_round(n, pid, base_w):
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda i: th.fetch(n, f"/big/{SPEC.format(w=base_w - 16 - i)}/mid4mp.jpg")[0],
                    range(2)))
    time.sleep(0.5)
    base, req0 = th.rss(pid), th.totals(n)["requests"]
    socks, peak = [], 0
    try:
        for i in range(16):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(60)
            s.connect(("127.0.0.1", n.port))
            s.sendall(f"GET /big/{SPEC.format(w=base_w - i)}/mid4mp.jpg HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\n\r\n".encode())
            socks.append(s)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            peak = max(peak, th.rss(pid))
            t = th.totals(n)
            if t["requests"] - req0 >= 16 and t["in_flight"] == 0:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        holding, held = th.rss(pid), th.totals(n).get("output_held")
        statuses = []
        for s in socks:
            head = b""
            while not head.endswith(b"\r\n") and len(head) < 64:
                head += s.recv(1)
            statuses.append(int(head.split()[1]))
    finally:
        for s in socks:
            s.close()
    time.sleep(1)
    after = th.rss(pid)
    print(f"base RSS {mb(base)} MB; renders running: +{mb(peak - base)} MB (peak); "
          f"all rendered, clients holding: +{mb(holding - base)} MB "
          f"(output_held {'n/a' if held is None else f'{mb(held)} MB'}); "
          f"clients gone: +{mb(after - base)} MB; "
          f"200: {statuses.count(200)}, 503: {statuses.count(503)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    # (the module of an older commit may not know thumbnail_max_output_size)
    server = th.HARDENING_SERVER.replace("SLOW_ORIGIN", "9").replace(
        "thumbnail_max_output_size 20k;", "")
    with tempfile.TemporaryDirectory(prefix="slow-", dir=ROOT / "target") as tmp:
        (pathlib.Path(tmp) / "src").mkdir()
        n = Nginx(tmp, 1, server, "slow")
        n.start()
        try:
            pid = n.worker_pids()[0]
            for r in range(args.rounds):
                one_round(n, pid, 3000 - 20 * r)
        finally:
            n.stop()
        if n.crashes():
            print("crashes:", n.crashes())
            sys.exit(1)


if __name__ == "__main__":
    main()
