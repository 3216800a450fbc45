#!/usr/bin/env python3
"""Rewrites the chunk CRCs of a PNG file in place (or into OUT).

The fuzz build skips PNG chunk CRCs (`--cfg fuzzing`, as the png crate's own
fuzzing does), so a PNG reproducer from target/fuzz/artifacts/ may carry
wrong CRCs that the release library refuses early. Fix them before the
input goes into fuzz/regressions/:

    fuzz/png_crc.py FILE [OUT]              (a PNG)
    fuzz/png_crc.py --skip N FILE [OUT]     (a PNG after N bytes, e.g. the
                                             4-byte spec prefix of render)

Chunks are walked while their lengths fit; trailing bytes are kept as they
are.
"""

import sys
import zlib


def fix(data, skip=0):
    out = bytearray(data)
    pos = skip + 8
    if out[skip:pos] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG at that offset")
    n = 0
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos:pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = zlib.crc32(out[pos + 4:end]).to_bytes(4, "big")
        n += 1
        pos = end + 4
    return bytes(out), n


def main():
    args = sys.argv[1:]
    skip = 0
    if args[:1] == ["--skip"]:
        skip, args = int(args[1]), args[2:]
    src = args[0]
    dst = args[1] if len(args) > 1 else src
    with open(src, "rb") as f:
        data, n = fix(f.read(), skip)
    with open(dst, "wb") as f:
        f.write(data)
    print(f"{dst}: {n} chunk CRCs written")


if __name__ == "__main__":
    main()
