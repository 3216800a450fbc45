#!/usr/bin/env python3
"""`make bench-compare`: this library beside its peers, every ratio from one run.

Sections (each row: our figure, the peers', our ratio to the best peer):
  inprocess  the Rust API (benches/compare/inprocess.rs) vs Pillow vs pyvips
             (benches/compare/peers.py), one thread, median after warm-up;
             peak RSS of one render per library in a fresh process
  process    the `thumbnail` CLI vs vipsthumbnail vs ImageMagick convert vs
             GraphicsMagick gm: median wall time, CPU time, peak RSS
  nginx      wrk on 127.0.0.1: our module with no cache (every request
             renders) vs image_filter; our cache hit vs a plain static file

Writes target/bench-compare/results.md and results.json. Python standard
library only; the peers run in the venv that mk/bench.mk makes.
"""

import argparse
import contextlib
import datetime
import grp
import json
import os
import platform
import pwd
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "target" / "bench-compare"
# the bench binary builds in its own target dir: `cargo bench` and `cargo
# build --release` in one dir rebuild the library for each other (dev-dependency
# features), and the nginx module links target/release/libthumbnail.a
BENCH_CARGO_TARGET = ROOT / "target" / "bench-cargo"
VENV_PYTHON = ROOT / "target" / "bench-venv" / "bin" / "python"
CLI = ROOT / "target" / "release" / "thumbnail"
MODULE_SO = ROOT / "target" / "nginx" / "ngx_http_thumbnail_module.so"
PEERS_PY = Path(__file__).resolve().parent / "peers.py"

sys.path.insert(0, str(ROOT / "tests" / "nginx"))
from image_header import image_size  # noqa: E402  (one header parser, shared with the nginx tests)
UNIQUE_QUERY_LUA = Path(__file__).resolve().parent / "unique-query.lua"

NGINX_BIN = os.environ.get("NGX_BIN", "/usr/sbin/nginx")
IMAGE_FILTER_SO = "/usr/lib/nginx/modules/ngx_http_image_filter_module.so"
# /usr/bin/convert, not the first `convert` on PATH: some machines put a
# wrapper in /usr/local/bin, whose start-up would be timed too
IMAGEMAGICK = "/usr/bin/convert"
GNU_TIME = "/usr/bin/time"  # Debian package `time`

IMAGES = ["big20mp.jpg", "prog18mp.jpg", "mid4mp.jpg", "alpha2mp.png"]
BOXES = [200, 800]
HIT_SOURCE, HIT_SPEC = "mid4mp.jpg", "260x260,q80"  # ~ static10k.jpg (260x163 q80 of mid4mp)
STATIC_FILE = "static10k.jpg"
SLOW_IMAGES = {"prog18mp.jpg"}  # progressive: ~1 request/s, so wrk runs longer

# Issue 16's rows (section "formats"): (source, spec, what). mid4mp.webp
# and mid4mp.gif are made from mid4mp.jpg in the work dir (cwebp -q 90,
# ImageMagick); the 380-frame GIF is the corpus's.
FORMAT_CASES = [
    ("mid4mp.jpg", "800x800,q80,webp", "WebP out"),
    ("mid4mp.jpg", "200x200,q80,webp", "WebP out"),
    ("alpha2mp.png", "800x800,q80,webp", "WebP out, alpha"),
    ("mid4mp.webp", "800x800,q80,jpeg", "WebP in"),
    ("mid4mp.webp", "200x200,q80,jpeg", "WebP in"),
    ("mid4mp.gif", "200x200,png", "GIF first frame"),
    ("gifplayer-muybridge.gif", "200x200,png", "GIF first frame, 380 frames"),
    ("mid4mp.jpg", "800x800,q80,avif", "AVIF out"),
]
TARGET_WEBP_BYTES = 0.03      # WebP out: |ours/peer - 1| against the faster peer

# Issue 8's bars (ratios from one run)
TARGET_INPROCESS_TIME = 1.0   # ours/best peer time, at most
TARGET_MISS_THROUGHPUT = 5.0  # ours/image_filter req/s, at least
TARGET_HIT_THROUGHPUT = 0.9   # ours hit/static req/s, at least
TARGET_RSS_SHARE = 0.25       # of the fully decoded big20mp.jpg (RGB8)
# other processes using more than this share of all cores during a section
# make its figures suspect (a quiet machine shows ~1%)
BUSY_SHARE = 0.10


@dataclass
class Budget:
    """How many runs and seconds each kind of measurement gets."""
    runs: int = 9           # in-process timed renders (issue: >= 7)
    warmup: int = 2
    process_runs: int = 5   # whole-process runs, after one untimed run
    miss_rounds: int = 3    # ours vs image_filter: alternating rounds, median
    wrk_seconds: int = 2    # per miss round
    wrk_seconds_slow: int = 4
    settle_seconds: float = 1.0  # idle gap after a wrk run (threads finish)
    hit_rounds: int = 3     # cache hit vs static: alternating rounds, median
    hit_seconds: int = 3

    @staticmethod
    def quick():
        return Budget(runs=3, warmup=1, process_runs=2, miss_rounds=1, wrk_seconds=1, wrk_seconds_slow=3,
                      settle_seconds=0.5, hit_rounds=1, hit_seconds=1)


@dataclass
class Case:
    """One row: a source image to a box, JPEG q80 or PNG out."""
    image: str
    box: int
    out: str  # "jpeg" | "png"

    @property
    def spec(self):  # this library's spec, also parsed by peers.py
        return f"{self.box}x{self.box},q80,jpeg" if self.out == "jpeg" else f"{self.box}x{self.box},png"

    @property
    def label(self):
        return f"{self.image} → {self.box} {self.out}"


def all_cases():
    cases = []
    for image in IMAGES:
        for box in BOXES:
            cases.append(Case(image, box, "jpeg"))
            if image.endswith(".png"):
                cases.append(Case(image, box, "png"))
    return cases


# ---------------------------------------------------------------- processes

@dataclass
class ChildResult:
    returncode: int
    wall_ms: float
    cpu_ms: float | None
    maxrss_kb: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


def run_child(cmd, timeout, env=None, measure=True):
    """Run cmd to completion; wall time, and CPU time and peak RSS of that child.

    The child runs under GNU time, which reports the child's own ru_maxrss:
    a child forked from this process and read with os.wait4 would report at
    least this Python's RSS (~40 MB), since exec records the old address
    space's peak in ru_maxrss. The child gets its own process group, so a
    timeout or an interrupt kills GNU time and the measured program together.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as usage_file:
        argv = [str(part) for part in cmd]
        if measure:
            argv = [GNU_TIME, "-f", "%M %U %S", "-o", usage_file.name, "--", *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        timed_out = threading.Event()

        def on_timeout():
            timed_out.set()
            kill_group(proc.pid)

        killer = threading.Timer(timeout, on_timeout)
        killer.start()
        try:
            proc.wait()
        except BaseException:  # Ctrl-C: the child's group is not the terminal's
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            killer.cancel()
        wall_ms = (time.perf_counter() - start) * 1e3
        maxrss_kb, cpu_ms = None, None
        if measure:
            # "Command exited with non-zero status N" may come first
            fields = (usage_file.read().strip().splitlines() or [""])[-1].split()
            if len(fields) == 3:
                maxrss_kb, cpu_ms = int(fields[0]), (float(fields[1]) + float(fields[2])) * 1e3
        out.seek(0)
        err.seek(0)
        return ChildResult(
            returncode=proc.returncode,
            wall_ms=wall_ms,
            cpu_ms=cpu_ms,
            maxrss_kb=maxrss_kb,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out.is_set(),
        )


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def check_child(result, cmd):
    if result.returncode != 0:
        why = "timed out" if result.timed_out else f"exit {result.returncode}"
        raise RuntimeError(f"{shlex.join(map(str, cmd))}: {why}: {result.stderr.strip()[-600:]}")
    return result


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def tool_version(cmd, timeout=20):
    try:
        result = run_child(cmd, timeout, measure=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    text = (result.stdout + result.stderr).strip()
    return text.splitlines()[0] if text else f"exit {result.returncode}"


class CpuWatch:
    """Share of the machine's CPU that processes other than this run used.

    /proc/stat's busy time minus our own CPU time (this process and every
    child it waited for: bench binaries, tools, wrk, nginx with its workers).
    A large share means another job competed with the measurements.
    """

    def __init__(self):
        self.start = (time.monotonic(), busy_cpu_seconds(), own_cpu_seconds())

    def others_share(self):
        wall, busy, own = (now - then for now, then in zip((time.monotonic(), busy_cpu_seconds(), own_cpu_seconds()), self.start))
        return max(0.0, (busy - own) / (wall * (os.cpu_count() or 1))) if wall > 0 else 0.0


def busy_cpu_seconds():
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


# ---------------------------------------------------------------- images

def check_thumbnail(data, case_out, box, source_size, who):
    """Raise unless data is a case_out image fitted inside box x box."""
    kind, width, height = image_size(data)
    if kind != case_out:
        raise RuntimeError(f"{who}: output is {kind}, expected {case_out}")
    if width is None:
        raise RuntimeError(f"{who}: output JPEG has no frame header")
    src_w, src_h = source_size
    scale = min(box / src_w, box / src_h)
    want_w, want_h = src_w * scale, src_h * scale
    # tools round the short side differently (112 vs 113): allow 2 px
    if max(width, height) != box or abs(width - want_w) > 2 or abs(height - want_h) > 2:
        raise RuntimeError(f"{who}: output is {width}x{height}, expected about {want_w:.0f}x{want_h:.0f}")
    return width, height


# ---------------------------------------------------------------- section: in-process

def inprocess_cmd(lib, bench_bin, case_path, spec, budget, once):
    if lib == "thumbnail":
        cmd = [bench_bin]
    else:
        cmd = [VENV_PYTHON, PEERS_PY, "--lib", lib]
    if once:
        cmd += ["--once"]
    else:
        cmd += ["--runs", budget.runs, "--warmup", budget.warmup]
    return cmd + ["--image", case_path, spec]


def measure_library(lib, bench_bin, path, spec, budget):
    """Timed renders in one child, then one render in a fresh child for its peak RSS."""
    entry = {}
    timed_cmd = inprocess_cmd(lib, bench_bin, path, spec, budget, once=False)
    once_cmd = inprocess_cmd(lib, bench_bin, path, spec, budget, once=True)
    try:
        entry |= json_lines(check_child(run_child(timed_cmd, timeout=300), timed_cmd).stdout)[0]
    except (RuntimeError, IndexError, OSError, json.JSONDecodeError) as e:
        entry["error"] = str(e)
    try:
        once_child = check_child(run_child(once_cmd, timeout=300), once_cmd)
        once = json_lines(once_child.stdout)[0]
        entry |= {
            "peak_rss_kb": once_child.maxrss_kb,  # the whole fresh process
            "render_hwm_growth_kb": once["hwm_after_kb"] - once["hwm_before_kb"],
            "hwm_before_kb": once["hwm_before_kb"],
        }
    except (RuntimeError, IndexError, OSError, json.JSONDecodeError) as e:
        entry["rss_error"] = str(e)
    return entry


def measure_inprocess(cases, images_dir, bench_bin, budget, log):
    """Per row, interleaved so slow drift in background load hits every library alike."""
    libs = ["thumbnail", "pillow", "pyvips"]
    rows = []
    for case in cases:
        row = {"case": case.__dict__ | {"spec": case.spec}, "libs": {}}
        for lib in libs:
            entry = measure_library(lib, bench_bin, images_dir / case.image, case.spec, budget)
            row["libs"][lib] = entry
            log(f"  in-process {case.label:32} {lib:9} {fmt_ms(entry.get('median_ms'))} ms  rss {fmt_mb(entry.get('peak_rss_kb'))} MB")
        rows.append(row)
    return rows


# ---------------------------------------------------------------- section: formats

def format_sources(images_dir, work_dir, log):
    """Paths of FORMAT_CASES' sources, making the derived ones."""
    paths = {name: images_dir / name for name in IMAGES}
    paths["gifplayer-muybridge.gif"] = images_dir.parent / "corpus/edge/animated/gifplayer-muybridge.gif"
    made = {
        "mid4mp.webp": ["cwebp", "-quiet", "-q", "90", "-m", "4", str(images_dir / "mid4mp.jpg"), "-o"],
        "mid4mp.gif": [IMAGEMAGICK, str(images_dir / "mid4mp.jpg"), "GIF:"],
    }
    for name, cmd in made.items():
        out = work_dir / name
        cmd = cmd + [str(out)] if cmd[-1] == "-o" else cmd[:-1] + [f"GIF:{out}"]
        subprocess.run(cmd, check=True, timeout=300)
        paths[name] = out
        log(f"  made {out} ({out.stat().st_size} bytes)")
    return paths


def measure_formats(images_dir, work_dir, bench_bin, budget, log):
    paths = format_sources(images_dir, work_dir, log)
    rows = []
    for image, spec, what in FORMAT_CASES:
        row = {"case": {"image": image, "spec": spec, "what": what}, "libs": {}}
        for lib in ("thumbnail", "pillow", "pyvips"):
            entry = measure_library(lib, bench_bin, paths[image], spec, budget)
            row["libs"][lib] = entry
            log(f"  formats {image:24} {spec:18} {lib:9} {fmt_ms(entry.get('median_ms'))} ms  {entry.get('out_bytes')} B")
        cmd = [bench_bin, "--floor", "--runs", budget.runs, "--warmup", budget.warmup, "--image", paths[image], spec]
        try:
            row["floor"] = json_lines(check_child(run_child(cmd, timeout=300, measure=False), cmd).stdout)[0]
        except (RuntimeError, IndexError, OSError, json.JSONDecodeError) as e:
            row["floor"] = {"error": str(e)}
        log(f"  formats {image:24} {spec:18} floor     {fmt_ms(row['floor'].get('median_ms'))} ms")
        if spec.endswith("webp"):
            try:
                row["same_pixels"] = same_pixels_bytes(paths[image], spec, work_dir)
            except (subprocess.SubprocessError, OSError, ImportError) as e:
                row["same_pixels"] = {"error": str(e)}
            log(f"  formats {image:24} {spec:18} same pixels {row['same_pixels']}")
        rows.append(row)
    return rows


def same_pixels_bytes(src, spec, work_dir):
    """WebP bytes of one set of pixels (ours, resized, as PNG) from each
    encoder at the spec's quality and effort 4: the encoders' settings
    compared without the resamplers' differences (and without the ICC,
    EXIF and XMP chunks libvips 8.14's webpsave keeps despite strip)."""
    import io

    import pyvips
    from PIL import Image

    quality = int(next(o[1:] for o in spec.split(",") if re.fullmatch(r"q\d+", o)))
    png, webp = work_dir / "same-pixels.png", work_dir / "same-pixels.webp"
    png_spec = spec.replace("webp", "png")
    subprocess.run([str(CLI), str(src), "-s", png_spec, "-o", str(png)], check=True, timeout=300)
    subprocess.run([str(CLI), str(png), "-s", spec, "-o", str(webp)], check=True, timeout=300)
    pil = io.BytesIO()
    Image.open(png).save(pil, "WEBP", quality=quality, method=4)
    pyvips.cache_set_max(0)  # the same file name holds other pixels on the next row
    vips = pyvips.Image.new_from_buffer(png.read_bytes(), "").write_to_buffer(".webp", Q=quality, effort=4, strip=True)
    return {"thumbnail": webp.stat().st_size, "pillow": len(pil.getvalue()), "pyvips": len(vips)}


def formats_table(rows):
    libs = ("thumbnail", "pillow", "pyvips")
    lines = [
        "| source → spec (what) | ours ms | Pillow ms | pyvips ms | ours/best time (WebP out: target ≤ 1.0) | ours KB | Pillow KB | pyvips KB | ours/faster peer's bytes (WebP out: within 3 %) | same pixels: ours/faster peer's bytes | floor ms | ours/floor |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        case, entries, floor = row["case"], row["libs"], row.get("floor", {})
        times = {lib: entries[lib].get("median_ms") for lib in libs}
        cells = [f"{case['image']} → {case['spec']} ({case['what']})"]
        cells += [cell_or_error(entries[lib], fmt_ms(times[lib])) for lib in libs]
        # the time bar is WebP out's; the other rows show the ratio
        webp_out = case["spec"].endswith("webp")
        cells.append(time_ratio_cell(times, TARGET_INPROCESS_TIME if webp_out else None))
        cells += ["–" if entries[lib].get("out_bytes") is None else f"{entries[lib]['out_bytes'] / 1000:.1f}" for lib in libs]
        peers = {lib: times[lib] for lib in libs[1:] if times[lib]}
        ours_bytes = entries["thumbnail"].get("out_bytes")
        faster = min(peers, key=peers.get) if peers else None
        if faster and ours_bytes:
            ratio = ours_bytes / entries[faster]["out_bytes"]
            text = f"{ratio:.3f} ({PEER_NAMES[faster]})"
            if webp_out:
                text += " " + verdict(abs(ratio - 1) <= TARGET_WEBP_BYTES)
            cells.append(text)
        else:
            cells.append("–")
        same = row.get("same_pixels", {})
        if faster and same.get("thumbnail") and same.get(faster):
            ratio = same["thumbnail"] / same[faster]
            cells.append(f"{ratio:.3f} ({PEER_NAMES[faster]}) {verdict(abs(ratio - 1) <= TARGET_WEBP_BYTES)}")
        else:
            cells.append(same.get("error", "–"))
        cells.append(cell_or_error(floor, fmt_ms(floor.get("median_ms"))))
        ours, floor_ms = times["thumbnail"], floor.get("median_ms")
        cells.append(f"{ours / floor_ms:.2f}" if ours and floor_ms else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------- section: whole process

def process_cmds(case, src, out_base):
    """{tool: (argv, output path)} for one row, each tool's usual fast path."""
    box, ext = case.box, ("jpg" if case.out == "jpeg" else "png")
    flatten = case.out == "jpeg" and case.image.endswith(".png")  # alpha over white, as ours
    out = {tool: out_base.with_name(f"{out_base.name}-{tool}.{ext}") for tool in ("thumbnail", "vipsthumbnail", "convert", "gm")}
    # ours writes no EXIF/XMP/ICC; the others copy some unless told to strip
    # (vips: all, convert -thumbnail: ICC, gm -thumbnail: all)
    vips_options = "Q=80,strip" if case.out == "jpeg" else "strip"
    if flatten:
        vips_options += ",background=255"
    quality = ["-quality", "80"] if case.out == "jpeg" else []  # -quality on PNG means zlib level
    flatten_args = ["-background", "white", "-flatten"] if flatten else []
    hint = f"{2 * box}x{2 * box}"  # JPEG DCT scaling hint: decode at >= 2x the box
    return {
        "thumbnail": ([CLI, src, "-s", f"{box}x{box},q80", "-o", out["thumbnail"]], out["thumbnail"]),
        "vipsthumbnail": (["vipsthumbnail", src, "-s", f"{box}x{box}", "-o", f"{out['vipsthumbnail']}[{vips_options}]"], out["vipsthumbnail"]),
        "convert": ([IMAGEMAGICK, "-define", f"jpeg:size={hint}", src, "-thumbnail", f"{box}x{box}", *flatten_args, "-strip", *quality, out["convert"]], out["convert"]),
        "gm": (["gm", "convert", "-size", hint, src, "-thumbnail", f"{box}x{box}", *flatten_args, "-strip", *quality, out["gm"]], out["gm"]),
    }


def measure_process(cases, images_dir, budget, work_dir, source_sizes, log):
    rows = []
    for case in cases:
        row = {"case": case.__dict__ | {"spec": case.spec}, "tools": {}}
        out_base = work_dir / f"{Path(case.image).stem}-{case.box}"
        for tool, (cmd, out_path) in process_cmds(case, images_dir / case.image, out_base).items():
            try:
                # the first run is untimed: page cache, dynamic linking, font/config caches
                check_child(run_child(cmd, timeout=120), cmd)
                size = check_thumbnail(out_path.read_bytes(), case.out, case.box, source_sizes[case.image], tool)
                runs = [check_child(run_child(cmd, timeout=120), cmd) for _ in range(budget.process_runs)]
                entry = {
                    "cmd": shlex.join(map(str, cmd)),
                    "runs": len(runs),
                    "median_ms": round(statistics.median(r.wall_ms for r in runs), 3),
                    "min_ms": round(min(r.wall_ms for r in runs), 3),
                    "cpu_median_ms": round(statistics.median(r.cpu_ms for r in runs), 3),
                    "peak_rss_kb": max(r.maxrss_kb for r in runs),
                    "width": size[0], "height": size[1],
                    "out_bytes": out_path.stat().st_size,
                }
            except (RuntimeError, OSError) as e:
                entry = {"cmd": shlex.join(map(str, cmd)), "error": str(e)}
            row["tools"][tool] = entry
            log(f"  process {case.label:32} {tool:13} {fmt_ms(entry.get('median_ms'))} ms  rss {fmt_mb(entry.get('peak_rss_kb'))} MB")
        rows.append(row)
    return rows


# ---------------------------------------------------------------- section: nginx

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(prefix, port, images_dir, mode):
    """One server on 127.0.0.1:port. mode: miss | hit | image_filter | static.

    Every mode: 2 workers, a 2-thread default pool, no access log,
    keep-alive for the whole wrk run.
    """
    thumbnail_location = (
        "location ~ ^/t/(?<spec>[^/]+)/(?<file>[^/]+)$ {\n"
        f"      alias {images_dir}/$file;\n"
        "      thumbnail on;\n"
        "      thumbnail_spec $spec;\n"
        # miss: a key per request URI (wrk adds ?t=..&n=..), so single-flight
        # never merges two concurrent requests: every request renders
        + ("      thumbnail_cache_key $host$request_uri;\n" if mode == "miss" else "")
        # as many heavy renders (prog18mp.jpg) as pool threads: the table
        # measures renders, not the admission limit's 503s
        + ("      thumbnail_max_heavy 2;\n" if mode == "miss" else "")
        + "    }\n"
        "    location = /stats { thumbnail_stats; }"
    )
    locations = {
        "miss": thumbnail_location,
        "hit": thumbnail_location,
        "image_filter": (
            "location ~ ^/if/(?<w>[0-9]+)x(?<h>[0-9]+)/(?<file>[^/]+)$ {\n"
            f"      alias {images_dir}/$file;\n"
            "      image_filter resize $w $h;\n"
            "      image_filter_jpeg_quality 80;\n"
            "      image_filter_buffer 64M;\n"
            "    }"
        ),
        "static": f"location /static/ {{ alias {images_dir}/; }}",
    }[mode]
    load = {
        "miss": f"load_module {MODULE_SO};",
        "hit": f"load_module {MODULE_SO};",
        "image_filter": f"load_module {IMAGE_FILTER_SO};",
        "static": "",
    }[mode]
    cache = "thumbnail_cache size=64m;" if mode == "hit" else ""
    temp_paths = "\n".join(f"  {kind}_temp_path {prefix}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # workers run as the invoking user (as root, nginx would pick nobody)
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};" if os.geteuid() == 0 else ""
    return f"""{load}
daemon off;
master_process on;
{user}
worker_processes 2;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
thread_pool default threads=2;
events {{ worker_connections 256; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
{temp_paths}
  {cache}
  server {{
    listen 127.0.0.1:{port};
    {locations}
  }}
}}
"""


class Nginx:
    """An nginx master in the foreground on 127.0.0.1; stop() always ends it and its workers."""

    def __init__(self, mode, images_dir, work_dir):
        self.mode = mode
        self.port = free_port()
        self.prefix = work_dir / f"nginx-{mode}"
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(nginx_conf(self.prefix, self.port, images_dir, mode))
        self.proc = None
        self.stderr = None
        self.workers = []

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self):
        """Start and wait until it accepts connections; stopped again if it does not."""
        env = {k: v for k, v in os.environ.items() if k != "NGINX"}  # nginx reads $NGINX as inherited sockets
        self.stderr = open(self.prefix / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [NGINX_BIN, "-p", str(self.prefix), "-c", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr, env=env,
        )
        try:
            self.wait_listening(deadline=time.monotonic() + 15)
        except BaseException:
            self.stop()
            raise
        self.workers = child_pids(self.proc.pid)
        return self

    def wait_listening(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx ({self.mode}) exited {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx ({self.mode}) did not listen on {self.port}: {self.log_tail()}")

    def stop(self):
        if self.stderr:
            self.stderr.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.workers = child_pids(self.proc.pid) or self.workers
        self.proc.send_signal(signal.SIGTERM)  # fast shutdown
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.kill_orphaned_workers()

    def kill_orphaned_workers(self):
        """A SIGKILLed master leaves its workers running: end those (still nginx workers)."""
        for pid in self.workers:
            try:
                if b"nginx: worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass

    def log_tail(self):
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-800:])
        return " | ".join(t.strip() for t in texts if t.strip())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def child_pids(parent):
    """pids whose parent is `parent` (nginx's workers), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent:
            pids.append(int(entry.name))
    return pids


def http_get(url, timeout=120):
    """(status, content type, body) over a fresh connection."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def check_response(url, want_type, box=None, source_size=None, who=""):
    """Raise unless url answers 200 with an image of want_type (fitted in box when given)."""
    status, content_type, body = http_get(url)
    if status != 200 or content_type != f"image/{want_type}":
        raise RuntimeError(f"{who}: {url}: {status} {content_type}: {body[:200]!r}")
    if box is None:
        kind, width, height = image_size(body)
        if kind != want_type:
            raise RuntimeError(f"{who}: {url}: body is {kind}")
        return {"status": status, "content_type": content_type, "width": width, "height": height, "bytes": len(body)}
    width, height = check_thumbnail(body, want_type, box, source_size, who)
    return {"status": status, "content_type": content_type, "width": width, "height": height, "bytes": len(body)}


def thumbnail_stats(server):
    status, _, body = http_get(server.url("/stats"), timeout=10)
    return json.loads(body)["totals"] if status == 200 else {}


WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url, connections, seconds, script=None):
    """wrk -tN -cN for `seconds`; successful requests/s, count, errors, median latency."""
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency"]
    if script:
        cmd += ["-s", script]
    result = check_child(run_child(cmd + [url], timeout=seconds + 90, measure=False), cmd)
    text = result.stdout
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not requests or not rate:
        raise RuntimeError(f"wrk output not understood: {text[-400:]}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s|m)\b", text)
    count = int(requests.group(1))
    failed = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "cmd": shlex.join(cmd + [url]),
        "connections": connections,
        "seconds": seconds,
        "requests": count,
        # wrk's Requests/sec counts error responses too; a quick 503 is no thumbnail
        "req_per_s": float(rate.group(1)) * (count - failed) / max(1, count),
        "non_2xx": failed,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "latency_p50_ms": round(float(p50.group(1)) * WRK_UNITS[p50.group(2)], 3) if p50 else None,
    }


def timed_wrk(server, path, connections, seconds, settle_seconds, script=None):
    """wrk against one server, with the module's render counter around it when it has one."""
    before = thumbnail_stats(server) if server.mode in ("miss", "hit") else {}
    result = run_wrk(server.url(path), connections, seconds, script)
    time.sleep(settle_seconds)  # renders still running when wrk stopped finish before the next run
    if before:
        after = thumbnail_stats(server)
        result["renders"] = after.get("renders", 0) - before.get("renders", 0)
        result["cache_hits"] = after.get("cache_hits", 0) - before.get("cache_hits", 0)
    return result


def nginx_miss_rows(images_dir, work_dir, budget, source_sizes, log):
    """Our module without a cache vs image_filter: same files, same boxes, source format out.

    Both servers stay up (an idle nginx costs nothing) so each row measures
    ours and image_filter back to back: drift in background load hits both.
    """
    cases = [Case(image, box, "png" if image.endswith(".png") else "jpeg") for image in IMAGES for box in BOXES]
    paths = {
        "thumbnail": lambda case: f"/t/{case.box}x{case.box},q80/{case.image}",
        "image_filter": lambda case: f"/if/{case.box}x{case.box}/{case.image}",
    }
    rows = [{"case": case.__dict__, "servers": {}} for case in cases]
    with contextlib.ExitStack() as stack:
        servers = {}
        try:
            servers["thumbnail"] = stack.enter_context(Nginx("miss", images_dir, work_dir))
            servers["image_filter"] = stack.enter_context(Nginx("image_filter", images_dir, work_dir))
        except RuntimeError as e:
            log(f"  nginx: {e}")
            for row in rows:
                row["error"] = str(e)
            return rows
        for case, row in zip(cases, rows):
            seconds = budget.wrk_seconds_slow if case.image in SLOW_IMAGES else budget.wrk_seconds
            entries = {name: {"path": paths[name](case)} for name in servers}
            for name, server in servers.items():
                try:
                    entries[name]["check"] = check_response(server.url(entries[name]["path"]), case.out, case.box, source_sizes[case.image], name)
                except (RuntimeError, OSError) as e:
                    entries[name]["error"] = str(e)
            # alternating rounds and the median, as for the hit path: the
            # host's speed drifts over seconds, and one long run each would
            # let that drift decide the ratio
            settle = budget.settle_seconds * (3 if case.image in SLOW_IMAGES else 1)
            for connections in (1, 2):
                rounds = {name: [] for name in servers}
                for _ in range(budget.miss_rounds):
                    for name, server in servers.items():
                        entry = entries[name]
                        if "error" in entry:
                            continue
                        try:
                            rounds[name].append(timed_wrk(server, entry["path"], connections, seconds, settle, str(UNIQUE_QUERY_LUA)))
                        except (RuntimeError, OSError) as e:
                            entry["error"] = str(e)
                for name, results in rounds.items():
                    if results and "error" not in entries[name]:
                        result = entries[name][f"c{connections}"] = merge_rounds(results)
                        per_round = ", ".join(f"{r['req_per_s']:.2f}" for r in results)
                        log(f"  nginx miss {case.label:30} {name:12} -c{connections} {result['req_per_s']:9.2f} req/s  n={result['requests']} (rounds: {per_round})")
            row["servers"] = entries
    return rows


def nginx_hit_rows(images_dir, work_dir, budget, log):
    """Our cache hit (cache on, warmed in every worker) vs nginx sending static10k.jpg, back to back."""
    paths = {"thumbnail_hit": f"/t/{HIT_SPEC}/{HIT_SOURCE}", "static": f"/static/{STATIC_FILE}"}
    row = {"hit_path": paths["thumbnail_hit"], "static_path": paths["static"], "servers": {}}
    entries = {name: {"path": path} for name, path in paths.items()}
    row["servers"] = entries
    with contextlib.ExitStack() as stack:
        try:
            servers = {
                "thumbnail_hit": stack.enter_context(Nginx("hit", images_dir, work_dir)),
                "static": stack.enter_context(Nginx("static", images_dir, work_dir)),
            }
            for name, server in servers.items():
                entries[name]["check"] = check_response(server.url(paths[name]), "jpeg", who=name)
            entries["thumbnail_hit"]["stats_after_warmup"] = warm_every_worker(servers["thumbnail_hit"], paths["thumbnail_hit"])
        except (RuntimeError, OSError) as e:
            row["error"] = str(e)
            log(f"  nginx hit/static: {e}")
            return row
        # a few short rounds, alternating, and the median: one burst of
        # background load then cannot decide the ratio on its own
        for connections in (1, 2):
            rounds = {name: [] for name in servers}
            for _ in range(budget.hit_rounds):
                for name, server in servers.items():
                    try:
                        rounds[name].append(timed_wrk(server, paths[name], connections, budget.hit_seconds, 0.2))
                    except (RuntimeError, OSError) as e:
                        entries[name]["error"] = str(e)
            for name, results in rounds.items():
                if results:
                    entries[name][f"c{connections}"] = merge_rounds(results)
                    per_round = ", ".join(f"{r['req_per_s']:.0f}" for r in results)
                    log(f"  nginx {name:14} -c{connections} {statistics.median(r['req_per_s'] for r in results):10.0f} req/s (rounds: {per_round})")
    return row


def merge_rounds(results):
    """One wrk figure from several rounds: median req/s, summed counts, every round kept."""
    merged = {
        "connections": results[0]["connections"],
        "seconds": sum(r["seconds"] for r in results),
        "req_per_s": statistics.median(r["req_per_s"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "latency_p50_ms": statistics.median(r["latency_p50_ms"] or 0 for r in results),
        "rounds": results,
    }
    if all("renders" in r for r in results):
        merged["renders"] = sum(r["renders"] for r in results)
    return merged


def warm_every_worker(server, path, attempts=64):
    """Request path on fresh connections until every worker's cache holds it (each worker has its own)."""
    stats = {}
    for _ in range(attempts):
        check_response(server.url(path), "jpeg", who="thumbnail_hit")
        status, _, body = http_get(server.url("/stats"), timeout=10)
        stats = json.loads(body) if status == 200 else {}
        workers = stats.get("workers", [])
        if workers and all(worker.get("items", 0) >= 1 for worker in workers):
            return stats.get("totals", {})
    raise RuntimeError(f"cache not warm in every worker after {attempts} requests: {stats}")


# ---------------------------------------------------------------- report

def fmt_ms(value):
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_mb(kb):
    """MB = 10^6 bytes, as the issue's "61 MB" decoded image; kb are KiB."""
    return "–" if kb is None else f"{kb * 1024 / 1e6:.1f}"


def fmt_rate(value):
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**not met**")


PEER_NAMES = {"pillow": "Pillow", "pyvips": "pyvips", "vipsthumbnail": "vips", "convert": "convert", "gm": "gm"}


def time_ratio_cell(times, target=None):
    """"ours/best (best peer's name)" from {name: median ms}; the verdict when there is a target."""
    peers = {name: t for name, t in times.items() if name != "thumbnail" and t is not None}
    ours = times.get("thumbnail")
    if ours is None or not peers:
        return "–"
    best = min(peers, key=peers.get)
    value = ours / peers[best]
    text = f"{value:.2f} ({PEER_NAMES[best]})"
    return f"{text} {verdict(value <= target)}" if target is not None else text


def inprocess_table(rows):
    libs = ("thumbnail", "pillow", "pyvips")
    lines = [
        "| image → box, out | ours ms | Pillow ms | pyvips ms | ours/best time (≤ 1.0 wins; target ≤ 1.0) | ours RSS MB | Pillow RSS MB | pyvips RSS MB | ours render Δ MB | Pillow Δ MB | pyvips Δ MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        case, entries = Case(**{k: row["case"][k] for k in ("image", "box", "out")}), row["libs"]
        times = {lib: entries[lib].get("median_ms") for lib in libs}
        cells = [case.label]
        cells += [cell_or_error(entries[lib], fmt_ms(times[lib])) for lib in libs]
        cells.append(time_ratio_cell(times, TARGET_INPROCESS_TIME))
        cells += [fmt_mb(entries[lib].get("peak_rss_kb")) for lib in libs]
        cells += [fmt_mb(entries[lib].get("render_hwm_growth_kb")) for lib in libs]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def process_table(rows):
    tools = ("thumbnail", "vipsthumbnail", "convert", "gm")
    lines = [
        "| image → box, out | ours ms (cpu) | vipsthumbnail ms (cpu) | convert ms (cpu) | gm ms (cpu) | ours/best wall (≤ 1.0 wins) | ours RSS MB | vips RSS MB | convert RSS MB | gm RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        case, entries = Case(**{k: row["case"][k] for k in ("image", "box", "out")}), row["tools"]
        cells = [case.label]
        for tool in tools:
            entry = entries[tool]
            cells.append(cell_or_error(entry, f"{fmt_ms(entry.get('median_ms'))} ({fmt_ms(entry.get('cpu_median_ms'))})"))
        cells.append(time_ratio_cell({tool: entries[tool].get("median_ms") for tool in tools}))
        cells += [fmt_mb(entries[tool].get("peak_rss_kb")) for tool in tools]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def throughput_ratio(ours, peer):
    """(text, ours/peer req/s or its lower bound) for two wrk results.

    A peer that completed no request in `seconds` made under 1/seconds
    requests/s, so the ratio is at least ours × seconds.
    """
    if not ours or not peer:
        return "–", None, False
    if peer["requests"] == 0:
        if ours["requests"] == 0:
            return "– (neither completed a request)", None, False
        bound = ours["req_per_s"] * peer["seconds"]
        return f"> {bound:.2f} (peer completed none)", bound, True
    value = ours["req_per_s"] / peer["req_per_s"]
    return f"{value:.2f}", value, False


def throughput_verdict(value, is_bound, target):
    if value is None:
        return "–"
    if is_bound and value < target:
        return "undecided (run longer)"
    return verdict(value >= target)


def latency_cell(result):
    return fmt_ms(result.get("latency_p50_ms")) if result.get("requests") else "–"


def miss_table(rows):
    lines = [
        "| image → box (source format out) | conns | ours req/s (n) | image_filter req/s (n) | ours/image_filter req/s (≥ 1.0 wins; target ≥ 5) | ours p50 ms | image_filter p50 ms |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        case = Case(**row["case"])
        ours, peer = row["servers"].get("thumbnail", {}), row["servers"].get("image_filter", {})
        for connections in (1, 2):
            o, p = ours.get(f"c{connections}", {}), peer.get(f"c{connections}", {})
            text, value, is_bound = throughput_ratio(o, p)
            lines.append("| " + " | ".join([
                f"{case.image} → {case.box}", str(connections),
                cell_or_error(ours, rate_cell(o, every_request_renders=True)), cell_or_error(peer, rate_cell(p)),
                f"{text} {throughput_verdict(value, is_bound, TARGET_MISS_THROUGHPUT)}",
                latency_cell(o), latency_cell(p),
            ]) + " |")
    return lines


def hit_table(row):
    hit, static = row["servers"].get("thumbnail_hit", {}), row["servers"].get("static", {})
    hit_bytes, static_bytes = hit.get("check", {}).get("bytes"), static.get("check", {}).get("bytes")
    lines = [
        f"| conns | ours cache hit req/s (`{row['hit_path']}`, {hit_bytes} B) | static req/s (`{row['static_path']}`, {static_bytes} B) | ours/static req/s (target ≥ 0.9) | renders during the hit runs |",
        "|--:|--:|--:|--:|--:|",
    ]
    for connections in (1, 2):
        h, s = hit.get(f"c{connections}", {}), static.get(f"c{connections}", {})
        text, value, is_bound = throughput_ratio(h, s)
        lines.append("| " + " | ".join([
            str(connections), cell_or_error(hit, rate_cell(h)), cell_or_error(static, rate_cell(s)),
            f"{text} {throughput_verdict(value, is_bound, TARGET_HIT_THROUGHPUT)}",
            str(h.get("renders", "–")),
        ]) + " |")
    return lines


def rate_cell(result, every_request_renders=False):
    if not result:
        return "–"
    flags, spread = [], ""
    if len(result.get("rounds", [])) > 1:
        rates = [r["req_per_s"] for r in result["rounds"]]
        spread = f" [{fmt_rate(min(rates))}–{fmt_rate(max(rates))}]"
    if every_request_renders and "renders" in result and result["renders"] < result["requests"]:
        flags.append(f"only {result['renders']} renders")  # cached or merged: not the miss path
    if result.get("non_2xx"):
        flags.append(f"{result['non_2xx']} non-2xx")
    if result.get("socket_errors"):
        flags.append(f"{result['socket_errors']} socket errors")
    text = f"{fmt_rate(result.get('req_per_s'))} ({result.get('requests')}){spread}"
    return text + (f" ⚠ {', '.join(flags)}" if flags else "")


def cell_or_error(entry, text):
    return "error" if "error" in entry else text


def rss_target_line(inprocess_rows, source_sizes):
    """The issue's memory bar: one big20mp.jpg → 200 render in ≤ 25% of the decoded RGB image."""
    width, height = source_sizes.get("big20mp.jpg", (0, 0))
    decoded_kb = width * height * 3 / 1024
    for row in inprocess_rows:
        case = row["case"]
        if (case["image"], case["box"], case["out"]) == ("big20mp.jpg", 200, "jpeg"):
            ours = row["libs"]["thumbnail"]
            if "peak_rss_kb" not in ours:
                return "- Peak RSS, big20mp.jpg → 200: not measured (error)."
            limit_kb = TARGET_RSS_SHARE * decoded_kb
            return (
                f"- Peak RSS, big20mp.jpg → 200 (whole bench process, 4.4 MB source held in memory): "
                f"{fmt_mb(ours['peak_rss_kb'])} MB = {ours['peak_rss_kb'] / decoded_kb:.0%} of the decoded image "
                f"({fmt_mb(decoded_kb)} MB); target ≤ 25% ({fmt_mb(limit_kb)} MB): {verdict(ours['peak_rss_kb'] <= limit_kb)}. "
                f"Growth during the render alone: {fmt_mb(ours['render_hwm_growth_kb'])} MB."
            )
    return "- Peak RSS, big20mp.jpg → 200: row not run."


def markdown(results):
    env, budget = results["environment"], results["budget"]
    lines = [
        "# Benchmark: thumbnail vs its peers",
        "",
        f"- Date: {env['date']}",
        f"- Machine: {env['cpu_model']}, {env['cores']} cores, Linux {env['kernel']}",
        f"- Other processes' share of the CPU while measuring: "
        + ", ".join(f"{k} {v:.0%}" for k, v in env["others_cpu_share"].items())
        + f" (load average {env['load_start']} at start, {env['load_end']} at end)"
        + (" — **busy machine: other work competed with the measurements, treat the figures as rough**" if env["busy"] else " — quiet machine"),
        f"- Command: `{env['command']}`{' (BENCH_QUICK=1: smoke test, too few runs for results)' if env['quick'] else ''}",
        f"- Commit: {env['commit']}",
        f"- Peers: {'; '.join(f'{k}: {v}' for k, v in env['versions'].items())}",
        f"- Runs: in-process median of {budget['runs']} after {budget['warmup']} warm-up; "
        f"whole process median of {budget['process_runs']} after 1 untimed; miss cells: median of "
        f"{budget.get('miss_rounds', 1)} alternating rounds of {budget['wrk_seconds']} s "
        f"({budget['wrk_seconds_slow']} s for {', '.join(sorted(SLOW_IMAGES))}); "
        f"hit and static: median of {budget.get('hit_rounds', 1)} alternating rounds of {budget.get('hit_seconds', budget['wrk_seconds'])} s. "
        f"Wall time {env['elapsed_s']:.0f} s.",
        "",
    ]
    if "inprocess" in results:
        lines += [
            "## In-process, one thread (ms, median; lower is better)",
            "",
            "Source bytes in memory → encoded thumbnail in memory (JPEG q80 or PNG). Ours: `thumbnail::render`; "
            "Pillow: `Image.open` + `thumbnail((w, h), LANCZOS)` (applies `draft`), alpha flattened on white for JPEG; "
            "pyvips: `thumbnail_buffer` + `write_to_buffer`, VIPS_CONCURRENCY=1, operation cache off, metadata stripped. "
            "RSS (MB = 10^6 B): peak of a fresh process doing one render (Python's interpreter and imports included); "
            "Δ: growth of the peak during that render.",
            "",
            *inprocess_table(results["inprocess"]),
            "",
        ]
    if "formats" in results:
        lines += [
            "## Formats, in-process, one thread (ms, median; lower is better)",
            "",
            "As the in-process table, with WebP/AVIF output and WebP/GIF sources. WebP: quality 80, "
            "method/effort 4 on every side (Pillow `method=4`, pyvips `effort=4`). AVIF: ours rav1e speed 9, one "
            "thread; pyvips heifsave at its defaults; Pillow's AVIF plugin at its defaults. Floor: our decoder "
            "alone at the scale the render decodes at (`compare_inprocess --floor`).",
            "",
            *formats_table(results["formats"]),
            "",
        ]
    if "process" in results:
        lines += [
            "## Whole process (ms wall, median; CPU ms in brackets; lower is better)",
            "",
            "Each tool as a user runs it (default threading), file in → file out. Commands in results.json.",
            "",
            *process_table(results["process"]),
            "",
        ]
    if "nginx_miss" in results:
        lines += [
            "## nginx miss path: our module without a cache vs image_filter (requests/s; higher is better)",
            "",
            "wrk -tN -cN on 127.0.0.1, 2 workers, thread_pool threads=2; every request renders "
            "(unique query per request, key `$host$request_uri`, so single-flight merges nothing; "
            "`thumbnail_max_heavy 2`, so no heavy render is refused). "
            "Requests/s counts 2xx responses only; (n) = completed requests.",
            "",
            *miss_table(results["nginx_miss"]),
            "",
        ]
    if "nginx_hit" in results:
        lines += [
            "## nginx hit path: our cache hit vs a static file (requests/s; higher is better)",
            "",
            "Requests/s: median of the rounds (completed requests) [slowest–fastest round].",
            "",
            *hit_table(results["nginx_hit"]),
            "",
        ]
    if "inprocess" in results:
        lines += ["## Memory target", "", rss_target_line(results["inprocess"], results["source_sizes"]), ""]
    if results["errors"]:
        lines += ["## Errors", "", *[f"- {e}" for e in results["errors"]], ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- environment and main

def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" (uncommitted changes)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def peer_versions(sections):
    versions = {}
    if "inprocess" in sections or "formats" in sections:
        for lib in ("pillow", "pyvips"):
            cmd = [VENV_PYTHON, PEERS_PY, "--lib", lib, "--version"]
            try:
                result = run_child(cmd, 60, measure=False)
                versions[lib] = json_lines(result.stdout)[0]["version"] if result.returncode == 0 else "unavailable"
            except (OSError, IndexError):
                versions[lib] = "unavailable"
    if "process" in sections:
        versions["vipsthumbnail"] = tool_version(["vipsthumbnail", "--version"])
        versions["convert"] = tool_version([IMAGEMAGICK, "-version"])
        versions["gm"] = tool_version(["gm", "version"])
    if "nginx" in sections:
        versions["nginx"] = tool_version([NGINX_BIN, "-v"])
        versions["wrk"] = tool_version(["wrk", "-v"])
    return versions


def find_bench_binary():
    """The compare_inprocess executable that `cargo bench --no-run` built."""
    cmd = ["cargo", "bench", "--locked", "--bench", "compare_inprocess", "--no-run", "--message-format=json"]
    if os.environ.get("CARGO_FEATURES"):  # make bench-compare CARGO_FEATURES=avif
        cmd[2:2] = ["--features", os.environ["CARGO_FEATURES"]]
    env = os.environ | {"CARGO_TARGET_DIR": str(BENCH_CARGO_TARGET)}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}: {result.stderr[-800:]}")
    for message in json_lines(result.stdout):
        if message.get("reason") == "compiler-artifact" and message.get("target", {}).get("name") == "compare_inprocess" and message.get("executable"):
            return Path(message["executable"])
    raise RuntimeError("cargo did not report the compare_inprocess executable")


def source_size(path):
    with open(path, "rb") as f:
        _, width, height = image_size(f.read())
    return width, height


def collect_errors(results):
    errors = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("error", "rss_error"):
                    errors.append(f"{where}: {value}")
                else:
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                case = value.get("case") if isinstance(value, dict) else None
                label = f"{case['image']} → {case.get('box', case.get('spec'))} {case.get('out', '')}" if case else where
                walk(value, f"{where} {label}" if case else where)

    for section in ("inprocess", "process", "nginx_miss", "nginx_hit", "formats"):
        if section in results:
            walk(results[section], section)
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1",
                        help="smoke test: fewer runs, shorter wrk (also BENCH_QUICK=1)")
    parser.add_argument("--only", default="inprocess,formats,process,nginx", help="comma-separated sections to run")
    parser.add_argument("--bench-bin", type=Path, help="the compare_inprocess binary (default: ask cargo)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--command", default=None, help="the command line to record in the report")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON", help="only print the Markdown of an earlier run")
    args = parser.parse_args()
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return 0

    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"inprocess", "process", "nginx", "formats"}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    budget = Budget.quick() if args.quick else Budget()
    shared = Path(os.environ.get("THUMBNAIL_SHARED", ROOT.parent / "shared"))
    images_dir = (shared / "bench-images").resolve()
    missing = [name for name in IMAGES + [STATIC_FILE] if not (images_dir / name).is_file()]
    if missing:
        sys.exit(f"compare.py: missing in {images_dir}: {', '.join(missing)} (set THUMBNAIL_SHARED)")
    work_dir = args.out / "work"  # outputs, nginx prefixes: the last run's only
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    results = {
        "environment": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu_model": cpu_model(),
            "cores": os.cpu_count(),
            "kernel": platform.release(),
            "command": args.command or shlex.join([sys.argv[0], *sys.argv[1:]]),
            "quick": args.quick,
            "commit": git_commit(),
            "versions": peer_versions(sections),
            "load_start": round(load_start, 2),
        },
        "budget": budget.__dict__,
        "source_sizes": {name: source_size(images_dir / name) for name in IMAGES},
    }
    sizes = results["source_sizes"]
    cases = all_cases()
    log(f"bench-compare: {'quick smoke test' if args.quick else 'full run'}, load {load_start:.2f}, images {images_dir}")

    whole_run = CpuWatch()
    others = {}  # section -> share of the CPU used by other processes meanwhile
    if "inprocess" in sections:
        bench_bin = args.bench_bin or find_bench_binary()
        log("in-process (ours, Pillow, pyvips)")
        watch = CpuWatch()
        results["inprocess"] = measure_inprocess(cases, images_dir, bench_bin, budget, log)
        others["inprocess"] = watch.others_share()
    if "formats" in sections:
        bench_bin = args.bench_bin or find_bench_binary()
        log("formats (issue 16: WebP, GIF, AVIF; ours, Pillow, pyvips, the decoder alone)")
        watch = CpuWatch()
        results["formats"] = measure_formats(images_dir, work_dir, bench_bin, budget, log)
        others["formats"] = watch.others_share()
    if "process" in sections:
        log("whole process (thumbnail CLI, vipsthumbnail, convert, gm)")
        watch = CpuWatch()
        results["process"] = measure_process(cases, images_dir, budget, work_dir, sizes, log)
        others["process"] = watch.others_share()
    if "nginx" in sections:
        watch = CpuWatch()
        log("nginx miss path (our module, cache off, vs image_filter)")
        results["nginx_miss"] = nginx_miss_rows(images_dir, work_dir, budget, sizes, log)
        log("nginx hit path (cache on vs static file)")
        results["nginx_hit"] = nginx_hit_rows(images_dir, work_dir, budget, log)
        others["nginx"] = watch.others_share()

    env = results["environment"]
    env["load_end"] = round(os.getloadavg()[0], 2)
    env["elapsed_s"] = round(time.monotonic() - started, 1)
    others["whole run"] = whole_run.others_share()
    env["others_cpu_share"] = {k: round(v, 3) for k, v in others.items()}
    env["busy"] = max(others.values()) > BUSY_SHARE
    results["errors"] = collect_errors(results)

    report = markdown(results)
    (args.out / "results.md").write_text(report + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report)
    log(f"wrote {args.out / 'results.md'} and results.json ({env['elapsed_s']:.0f} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
