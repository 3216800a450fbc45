#!/usr/bin/env python3
"""Edge coverage of the fuzz corpora, by source file or component.

Usage: coverage.py ROOT TARGET=LOG...

Each LOG is the output of `fuzz-TARGET CORPUS... -runs=0 -print_coverage=1`
(make fuzz-coverage). libFuzzer lists every instrumented function with the
edges its corpus reached ("COVERED_FUNC: hits: 3 edges: 5/9 name file:line"
or UNCOVERED_FUNC). This sums them per group: the library's own files
(src/...), each Rust dependency crate, libjpeg-turbo, libdeflate and
libwebp (the C code), the fuzz harnesses; Rust's standard library, inlined into the
instrumented code, is left out. The last column takes, per function, the
best target (edges are counted per binary, so they cannot be united exactly).
"""

import collections
import re
import sys

LINE = re.compile(r"^(UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) (.*) (\S+):\d+$")


def group(path, root):
    if path.startswith(root + "/src/"):
        return path[len(root) + 1:]
    if path.startswith(root + "/fuzz/"):
        return None  # the harnesses
    if path.startswith("/rustc/"):
        return None  # std, inlined
    if "/libjpeg-turbo/" in path:
        return "[C] libjpeg-turbo"
    if "libdeflate" in path and path.endswith((".c", ".h")):
        return "[C] libdeflate"
    if "libwebp" in path and path.endswith((".c", ".h")):
        return "[C] libwebp"
    m = re.search(r"/registry/src/[^/]+/([^/]+?)-\d+\.\d+\.\d+[^/]*/", path)
    if m:
        return f"[crate] {m.group(1)}"
    return "[other] " + path.rsplit("/", 1)[0][-40:]


def main():
    root, runs = sys.argv[1].rstrip("/"), sys.argv[2:]
    targets = []
    funcs = collections.defaultdict(dict)  # target -> (name, file) -> (covered, total)
    for arg in runs:
        target, log = arg.split("=", 1)
        targets.append(target)
        with open(log, errors="replace") as f:
            for line in f:
                m = LINE.match(line.rstrip("\n"))
                if m:
                    funcs[target][(m.group(4), m.group(5))] = (int(m.group(2)), int(m.group(3)))
    table = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    best = {}
    for target in targets:
        for (name, path), (cov, total) in funcs[target].items():
            g = group(path, root)
            if g is None:
                continue
            table[g][target][0] += cov
            table[g][target][1] += total
            key = (g, name, path)
            best[key] = (max(best.get(key, (0, total))[0], cov), total)
    merged = collections.defaultdict(lambda: [0, 0])
    for (g, _, _), (cov, total) in best.items():
        merged[g][0] += cov
        merged[g][1] += total

    def cell(c):
        return f"{c[0]}/{c[1]} {100 * c[0] / c[1]:.0f}%" if c[1] else "-"

    width = max(len(g) for g in table) if table else 10
    print(f"{'edges covered':<{width}}  " + "  ".join(f"{t:>16}" for t in targets) + f"  {'best of all':>16}")

    def order(g):
        return (g.startswith("["), g)

    totals = collections.defaultdict(lambda: [0, 0])
    for g in sorted(table, key=order):
        print(f"{g:<{width}}  " + "  ".join(f"{cell(table[g][t]):>16}" for t in targets)
              + f"  {cell(merged[g]):>16}")
        for t in targets:
            totals[t][0] += table[g][t][0]
            totals[t][1] += table[g][t][1]
    own = [g for g in merged if not g.startswith("[")]
    own_sum = [sum(merged[g][0] for g in own), sum(merged[g][1] for g in own)]
    all_sum = [sum(v[0] for v in merged.values()), sum(v[1] for v in merged.values())]
    print(f"{'src/ (the library)':<{width}}  " + "  ".join(
        f"{cell([sum(table[g][t][0] for g in own), sum(table[g][t][1] for g in own)]):>16}" for t in targets)
        + f"  {cell(own_sum):>16}")
    print(f"{'everything above':<{width}}  " + "  ".join(f"{cell(totals[t]):>16}" for t in targets)
          + f"  {cell(all_sum):>16}")


if __name__ == "__main__":
    main()
