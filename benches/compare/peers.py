"""In-process peers for `make bench-compare`: Pillow and pyvips, timed the way
benches/compare/inprocess.rs times this library.

    peers.py --lib pillow|pyvips [--runs N] [--warmup N] [--once]
             --image PATH SPEC [SPEC ...] [--image PATH SPEC ...]

SPEC is the subset of this library's spec grammar the comparison uses:
"WxH" plus "q80" and "jpeg"/"png"/"webp"/"avif" (e.g. "200x200,q80,jpeg",
"800x800,png", "800x800,q80,webp": WebP at that quality, effort/method 4,
as ours). A GIF source gives its first frame.
Each source is read into memory once, outside the timing; a timed run is
bytes -> decode -> thumbnail -> encoded bytes in memory. One thread
(pyvips: VIPS_CONCURRENCY=1, set before the import). One JSON object per
line on stdout, with the same keys as the Rust bench.

Runs in the venv made by mk/bench.mk (pillow, pyvips from PyPI; pyvips uses
Debian's libvips42).
"""

import argparse
import io
import json
import os
import statistics
import sys
import time


def parse_spec(text):
    """(width, height, format, quality) from e.g. "200x200,q80,jpeg"."""
    size, *options = text.split(",")
    width, height = (int(side) for side in size.split("x"))
    image_format, quality = "jpeg", 80
    for option in options:
        if option in ("jpeg", "jpg"):
            image_format = "jpeg"
        elif option in ("png", "webp", "avif"):
            image_format = option
        elif option.startswith("q"):
            quality = int(option[1:])
        else:
            raise ValueError(f"spec option not supported by the peers: {option}")
    return width, height, image_format, quality


def pillow_renderer():
    from PIL import Image

    def flatten_on_white(im):
        # this library composes alpha over white (bg=ffffff) for JPEG out
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background

    def render(data, width, height, image_format, quality):
        im = Image.open(io.BytesIO(data))
        # thumbnail() calls draft() itself (JPEG DCT scaling, reducing_gap=2.0)
        # and then reduce() + LANCZOS: Pillow's fastest honest path
        im.thumbnail((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if image_format == "jpeg":
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = flatten_on_white(im)
            elif im.mode != "RGB":
                im = im.convert("RGB")
            im.save(out, "JPEG", quality=quality)
        elif image_format == "webp":
            if im.mode not in ("RGB", "RGBA"):
                im = im.convert("RGBA" if "transparency" in im.info or im.mode in ("LA", "PA") else "RGB")
            im.save(out, "WEBP", quality=quality, method=4)
        elif image_format == "avif":
            im.save(out, "AVIF", quality=quality)
        else:
            im.save(out, "PNG")
        return out.getvalue(), im.size

    import PIL

    return render, f"Pillow {PIL.__version__}"


def pyvips_renderer():
    os.environ["VIPS_CONCURRENCY"] = "1"
    import pyvips

    # the operation cache would answer repeated identical calls from memory
    pyvips.cache_set_max(0)

    def render(data, width, height, image_format, quality):
        im = pyvips.Image.thumbnail_buffer(data, width, height=height)
        if image_format == "jpeg":
            if im.hasalpha():
                im = im.flatten(background=[255, 255, 255])
            # strip: libvips copies EXIF/XMP/ICC, which the others do not write
            out = im.write_to_buffer(".jpg", Q=quality, strip=True)
        elif image_format == "webp":
            out = im.write_to_buffer(".webp", Q=quality, effort=4, strip=True)
        elif image_format == "avif":
            out = im.heifsave_buffer(Q=quality, compression="av1", strip=True)
        else:
            out = im.write_to_buffer(".png", strip=True)
        return out, (im.width, im.height)

    version = f"pyvips {pyvips.__version__} (libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, {'API' if pyvips.API_mode else 'ABI'} mode)"
    return render, version


RENDERERS = {"pillow": pillow_renderer, "pyvips": pyvips_renderer}


def peak_rss_kb():
    """This process's peak resident set so far (VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_timed(render, lib, path, spec_text, runs, warmup):
    with open(path, "rb") as source:
        data = source.read()
    spec = parse_spec(spec_text)
    for _ in range(warmup):
        render(data, *spec)
    times_ms = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        out, size = render(data, *spec)
        times_ms.append((time.perf_counter() - start) * 1e3)
    times_ms.sort()
    return {
        "lib": lib, "image": os.path.basename(path), "spec": spec_text,
        "runs": len(times_ms), "warmup": warmup,
        "median_ms": round(statistics.median(times_ms), 3),
        "min_ms": round(times_ms[0], 3), "max_ms": round(times_ms[-1], 3),
        "times_ms": [round(t, 3) for t in times_ms],
        "width": size[0], "height": size[1], "out_bytes": len(out),
    }


def measure_once(render, lib, path, spec_text):
    with open(path, "rb") as source:
        data = source.read()
    spec = parse_spec(spec_text)
    before_kb = peak_rss_kb()
    start = time.perf_counter()
    out, size = render(data, *spec)
    elapsed_ms = (time.perf_counter() - start) * 1e3
    return {
        "lib": lib, "image": os.path.basename(path), "spec": spec_text,
        "once_ms": round(elapsed_ms, 3), "hwm_before_kb": before_kb, "hwm_after_kb": peak_rss_kb(),
        "width": size[0], "height": size[1], "out_bytes": len(out),
    }


def parse_cases(words):
    """[(path, spec)] from "--image PATH SPEC SPEC --image PATH SPEC"."""
    cases, image = [], None
    words = list(words)
    while words:
        word = words.pop(0)
        if word == "--image":
            image = words.pop(0)
        elif image is None:
            raise SystemExit(f"peers.py: spec {word} before any --image")
        else:
            cases.append((image, word))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=sorted(RENDERERS), required=True)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--version", action="store_true", help="print the library's version and exit")
    args, rest = parser.parse_known_args()
    render, version = RENDERERS[args.lib]()
    if args.version:
        print(json.dumps({"lib": args.lib, "version": version}))
        return
    for path, spec in parse_cases(rest):
        if args.once:
            row = measure_once(render, args.lib, path, spec)
        else:
            row = measure_timed(render, args.lib, path, spec, args.runs, args.warmup)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
