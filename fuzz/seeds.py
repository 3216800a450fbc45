#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from the shared test corpus.

Usage: seeds.py CORPUS_DIR SPEC_SEEDS OUT_DIR MAX_LEN

Writes OUT_DIR/<target>/ for every target (the directories are emptied
first). The shared corpus is only read; nothing is written into the
repository.

- probe:  every file of the corpus listed in MANIFEST.tsv (all formats, GIF
          and WebP included, so their decoders have seeds when they land),
          cut to MAX_LEN bytes.
- render: the same files behind the 4 bytes that choose the spec
          (fz_spec_from in fuzz/fuzz.h), rotating through SPEC_PREFIXES so
          that every fit, format and flag starts with some images.
- cache:  the same with a 5th byte of operations (fuzz/cache.c).
- spec:   one file per line of SPEC_SEEDS.
"""

import hashlib
import os
import pathlib
import shutil
import sys

# (width, height, fit|gravity|format, flags): see fz_spec_from in fuzz/fuzz.h
SPEC_PREFIXES = [
    (64, 64, 0x00, 0x00),   # 64x64
    (100, 0, 0x00, 0x08),   # 100x,q..
    (48, 48, 0x01, 0x10),   # cover, bg
    (32, 24, 0x06, 0x30),   # contain, north, bg=RGB
    (40, 20, 0x03, 0x02),   # fill, progressive
    (0, 50, 0x40, 0x04),    # x50,jpeg,noorient
    (30, 30, 0x85, 0x01),   # png, cover, north, enlarge
    (120, 90, 0xC1, 0x4A),  # jpg, cover, progressive, q, reversed
    (200, 200, 0x32, 0x81), # contain, big box, enlarge
    (16, 0, 0x30, 0x00),    # explicit inside
    (1, 1, 0x00, 0x00),     # 1x1
    (255, 3, 0x1D, 0x18),   # cover, southeast..., q, bg
]
CACHE_OPS = [0x00, 0x01, 0x08, 0x10, 0x21, 0x60, 0x82, 0x93, 0x2C, 0xB5]


def corpus_files(corpus):
    manifest = corpus / "MANIFEST.tsv"
    rows = manifest.read_text().splitlines()[1:]
    for row in rows:
        path = row.split("\t", 1)[0]
        if path and (corpus / path).is_file():
            yield path


def main():
    corpus, spec_seeds, out, max_len = (pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]),
                                        pathlib.Path(sys.argv[3]), int(sys.argv[4]))
    dirs = {t: out / t for t in ("probe", "render", "cache", "spec")}
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    count = 0
    for i, rel in enumerate(sorted(corpus_files(corpus))):
        data = (corpus / rel).read_bytes()
        name = rel.replace("/", "__")
        (dirs["probe"] / name).write_bytes(data[:max_len])
        prefix = bytes(SPEC_PREFIXES[i % len(SPEC_PREFIXES)])
        (dirs["render"] / name).write_bytes((prefix + data)[:max_len])
        ops = bytes([CACHE_OPS[i % len(CACHE_OPS)]])
        (dirs["cache"] / name).write_bytes((prefix + ops + data)[:max_len])
        count += 1
    specs = [line for line in spec_seeds.read_text().splitlines() if line and not line.startswith("#")]
    for line in specs:
        raw = line.encode().decode("unicode_escape").encode("latin-1")
        (dirs["spec"] / hashlib.sha1(raw).hexdigest()).write_bytes(raw)
    print(f"seeds: {count} corpus files for probe/render/cache, {len(specs)} specs, in {out}")


if __name__ == "__main__":
    main()
