#!/usr/bin/env python3
"""`make nginx-burst-bench`: a burst of distinct thumbnail misses of a big
photo, and meanwhile a small static file from the same nginx worker.

nginx (Debian's, with target/nginx/ngx_http_thumbnail_module.so) runs with
one worker, `thread_pool default threads=4` and the module's defaults
(thumbnail_max_queue 64). Each round sends BURST (200) requests at once, one
connection each, for distinct thumbnails of big20mp.jpg (6028x3391, 4.4 MB:
every one a miss), while a probe process fetches static10k.jpg (9,962 B)
over one keep-alive connection every 2 ms. Printed per round and over all
rounds: the static file's p50/p99/max while the burst's responses were
coming (and before the burst), and the burst's statuses with their times.

    make nginx-burst-bench [BURST_ARGS='--rounds 5 --burst 200']
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/nginx"))

from burst import Probe, burst, percentile  # noqa: E402
from conftest import Nginx  # noqa: E402

SERVER = r"""
    thumbnail_cache size=256m shards=16;
    EXTRA

    server {{
        listen 127.0.0.1:{PORT};
        access_log off;
        location ~ ^/b/(?<spec>[^/]+)/(?<file>.+)$ {{
            alias {BENCH}/$file;
            thumbnail on;
            thumbnail_spec $spec;
        }}
        location /static/ {{ alias {SHARED}/; }}
        location = /stats {{ thumbnail_stats; }}
        location = /status {{ stub_status; }}
    }}
"""

STATIC = "/static/bench-images/static10k.jpg"


def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def summary(values):
    return f"p50 {ms(percentile(values, 50))} ms, p99 {ms(percentile(values, 99))} ms, " \
           f"max {ms(max(values) if values else None)} ms (n={len(values)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--image", default="big20mp.jpg")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--conf", default="",
                    help="more http-level directives, e.g. 'thumbnail_render_nice 0;'")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="burst-", dir=ROOT / "target") as tmp:
        ngx = Nginx(tmp, 1, SERVER.replace("EXTRA", args.conf), "burst", threads=args.threads)
        ngx.start()
        try:
            figures = run(ngx, args)
        finally:
            ngx.stop()
            crashes = ngx.crashes()
    if crashes:
        print("crashes:", crashes)
        sys.exit(1)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1))


def run(ngx, args):
    # warm the page cache and the static path
    ngx.get(f"/static/bench-images/{args.image}")
    for _ in range(20):
        ngx.get(STATIC)

    all_during, all_before, rounds = [], [], []
    print(f"nginx-burst-bench: {args.rounds} rounds of {args.burst} distinct thumbnails of "
          f"{args.image} at once; probe {STATIC} every 2 ms (1 worker, {args.threads} threads"
          f"{', ' + args.conf if args.conf else ''})")
    for rnd in range(args.rounds):
        base = 100 + rnd * args.burst
        paths = [f"/b/{base + i}x{base + i}/{args.image}" for i in range(args.burst)]
        with Probe(ngx.port, STATIC) as probe:
            time.sleep(1.0)
            start, end, results = burst(ngx.port, paths)
            time.sleep(0.2)
        # the static requests that started while burst responses were due
        during = probe.between(start, end)
        before = probe.between(start - 1.0, start)
        codes = {}
        for status, _ in results:
            codes[status] = codes.get(status, 0) + 1
        t503 = [t for s, t in results if s == 503]
        t200 = [t for s, t in results if s == 200]
        print(f"round {rnd + 1}: burst {end - start:.2f} s, statuses {codes}")
        print(f"  static before: {summary(before)}")
        print(f"  static during: {summary(during)}")
        print(f"  503 times: {summary(t503)}")
        print(f"  200 times: {summary(t200)}")
        all_during += during
        all_before += before
        rounds.append({"codes": {str(k): v for k, v in codes.items()}, "seconds": end - start,
                       "static_p50": percentile(during, 50), "static_p99": percentile(during, 99),
                       "static_max": max(during) if during else None,
                       "t503_max": max(t503) if t503 else None})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ngx.stats()["totals"]["in_flight"]:
            time.sleep(0.1)
    print(f"all rounds, static before: {summary(all_before)}")
    print(f"all rounds, static during: {summary(all_during)}")
    return {"rounds": rounds, "static_during_p50": percentile(all_during, 50),
            "static_during_p99": percentile(all_during, 99),
            "static_during_max": max(all_during) if all_during else None,
            "static_before_p99": percentile(all_before, 99)}


if __name__ == "__main__":
    main()
