#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from the shared test corpus.

Usage: seeds.py CORPUS_DIR SPEC_SEEDS OUT_DIR MAX_LEN

Writes OUT_DIR/<target>/ for every target (the directories are emptied
first). The shared corpus is only read; nothing is written into the
repository.

- probe:  every file of the corpus listed in MANIFEST.tsv (all formats, GIF
          and WebP included, so their decoders have seeds when they land),
          cut to MAX_LEN bytes; and three small images with each EXIF
          orientation added (APP1 / eXIf, both byte orders).
- render: the same files behind the 6 bytes that choose the spec
          (fz_spec_from in fuzz/fuzz.h), rotating through SPEC_PREFIXES so
          that every fit, format and option starts with some images; GIF
          and WebP files also behind each of ANIM_PREFIXES (`anim`).
- cache:  the same with a 5th byte of operations (fuzz/cache.c).
- spec:   one file per line of SPEC_SEEDS.
"""

import hashlib
import os
import pathlib
import shutil
import struct
import sys
import zlib

# (width, height, fit|gravity|format, flags, ops, more): see fz_spec_from in
# fuzz/fuzz.h (FZ_SPEC_BYTES = 6)
SPEC_PREFIXES = [
    (64, 64, 0x00, 0x00, 0, 0),   # 64x64
    (100, 0, 0x00, 0x08, 0, 0),   # 100x,q..
    (48, 48, 0x01, 0x10, 0, 0),   # cover, bg
    (32, 24, 0x06, 0x30, 0, 0),   # contain, north, bg=RGB
    (40, 20, 0x03, 0x02, 0, 0),   # fill, progressive
    (0, 50, 0x40, 0x04, 0, 0),    # x50,jpeg,noorient
    (30, 30, 0x85, 0x01, 0, 0),   # png, cover, north, enlarge
    (120, 90, 0xC1, 0x4A, 0, 0),  # jpg, cover, progressive, q, reversed
    (200, 200, 0x32, 0x81, 0, 0), # contain, big box, enlarge
    (16, 0, 0x30, 0x00, 0, 0),    # explicit inside
    (1, 1, 0x00, 0x00, 0, 0),     # 1x1
    (255, 3, 0x1D, 0x18, 0, 0),   # cover, southeast..., q, bg
    (64, 40, 0x00, 0x00, 0x01, 0x00),  # rotate=90
    (48, 32, 0x01, 0x00, 0x00, 0x01),  # cover, attention
    (48, 48, 0x01, 0x00, 0x00, 0x02),  # cover, entropy
    (60, 40, 0x01, 0x00, 0x06, 0x03),  # cover, focus, rotate=180, flip
    (64, 48, 0x00, 0x00, 0x10, 0x04),  # sharpen=4, webp
    (80, 0, 0x00, 0x00, 0x20, 0x08),   # blur, auto
    (50, 50, 0x00, 0x00, 0x0B, 0x0C),  # rotate=270, flop, auto=webp
    (40, 40, 0x02, 0x00, 0x40, 0x60),  # contain, wm (render_ex, apply=wm overlay)
    (40, 30, 0x00, 0x00, 0x00, 0x40),  # render_ex, apply=always overlay
    (30, 30, 0x00, 0x00, 0x30, 0x90),  # exp=, auto=avif, strict
    (20, 20, 0x00, 0x00, 0x00, 0x14),  # avif
    (64, 64, 0x00, 0x00, 0x00, 0x20),  # wm without an overlay
]
# GIF and WebP files get these too: animated output, plain and as WebP
ANIM_PREFIXES = [
    (64, 64, 0x00, 0x00, 0x80, 0x00),  # anim (the source's format: GIF -> WebP)
    (48, 48, 0x01, 0x00, 0x81, 0x04),  # cover, rotate=90, anim, webp
    (40, 40, 0x02, 0x00, 0xA0, 0x4C),  # contain, blur, anim, auto=webp, overlay
]
CACHE_OPS = [0x00, 0x01, 0x08, 0x10, 0x21, 0x60, 0x82, 0x93, 0x2C, 0xB5]


def exif_tiff(orientation, big_endian):
    """A TIFF header with one IFD entry: Orientation (0x0112) = orientation."""
    e = ">" if big_endian else "<"
    return ((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8) + struct.pack(e + "H", 1)
            + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0))


def with_orientation(data, orientation, big_endian):
    """`data` (a JPEG or PNG) with an EXIF orientation added: an APP1
    segment after SOI, or an eXIf chunk after IHDR."""
    tiff = exif_tiff(orientation, big_endian)
    if data[:2] == b"\xff\xd8":
        body = b"Exif\x00\x00" + tiff
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return data[:33] + chunk + data[33:]


# Small complete images to carry every EXIF orientation (the corpus's
# oriented photos are over the fuzz targets' pixel limit): baseline JPEG
# 227x149, 8-bit RGB and RGBA PNGs (the png_fast path).
ORIENTATION_BASES = [
    "conformance/jpeg/libjpeg-turbo/testorig.jpg",
    "conformance/png/pngsuite/basn2c08.png",
    "conformance/png/pngsuite/basn6a08.png",
]


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
        if rel.endswith((".gif", ".webp")):
            for k, anim in enumerate(ANIM_PREFIXES):
                (dirs["render"] / f"anim{k}__{name}").write_bytes((bytes(anim) + data)[:max_len])
                (dirs["cache"] / f"anim{k}__{name}").write_bytes((bytes(anim) + ops + data)[:max_len])
    synth = 0
    for base in ORIENTATION_BASES:
        if not (corpus / base).is_file():
            continue
        data = (corpus / base).read_bytes()
        for orientation in range(1, 9):
            for big_endian in (False, True):
                image = with_orientation(data, orientation, big_endian)
                name = f"synth__orient{orientation}-{'be' if big_endian else 'le'}__{base.replace('/', '__')}"
                (dirs["probe"] / name).write_bytes(image)
                prefix = bytes(SPEC_PREFIXES[(orientation + 3 * big_endian) % len(SPEC_PREFIXES)])
                (dirs["render"] / name).write_bytes(prefix + image)
                ops = bytes([CACHE_OPS[orientation % len(CACHE_OPS)]])
                (dirs["cache"] / name).write_bytes(prefix + ops + image)
                synth += 1
    specs = [line for line in spec_seeds.read_text().splitlines() if line and not line.startswith("#")]
    for line in specs:
        raw = line.encode().decode("unicode_escape").encode("latin-1")
        (dirs["spec"] / hashlib.sha1(raw).hexdigest()).write_bytes(raw)
    print(f"seeds: {count} corpus files and {synth} with an EXIF orientation added for probe/render/cache, "
          f"{len(specs)} specs, in {out}")


if __name__ == "__main__":
    main()
