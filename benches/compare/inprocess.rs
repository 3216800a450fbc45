//! In-process timing of `thumbnail::render` for `make bench-compare`
//! (benches/compare/compare.py runs it beside the Pillow and pyvips peers).
//!
//! ```text
//! cargo bench --bench compare_inprocess -- [--runs N] [--warmup N] [--once]
//!     [--image PATH SPEC [SPEC ...]] ...
//! ```
//!
//! One thread. Each source is read into memory once, outside the timing;
//! every timed run is the whole `render` (sniff, decode, resize, encode).
//! Without `--image`, every image of `$THUMBNAIL_SHARED/bench-images`
//! (default `../shared`) goes to boxes 200x200 and 800x800 (q80; PNG out too
//! for the PNG source). Defaults: `--runs 9 --warmup 2`, or the environment
//! variables `COMPARE_RUNS` and `COMPARE_WARMUP`.
//!
//! `--floor` times the decoder alone instead, at the scale the render of
//! that spec decodes at (JPEG: libjpeg-turbo's DCT scaling; WebP: libwebp's
//! rescaler; PNG and GIF: full size): the floor a render cannot go under.
//!
//! `--once` renders each case a single time and reports the process's peak
//! RSS (VmHWM) before and after it: run it in a fresh process per case so the
//! parent can also read the child's `ru_maxrss`.
//!
//! Output: one JSON object per line on stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use thumbnail::{Limits, Spec};

/// Fewest timed runs a median is reported over (the issue asks for ≥ 7).
const MIN_RUNS: usize = 7;

struct Case {
    image: PathBuf,
    spec: String,
}

struct Options {
    runs: usize,
    warmup: usize,
    once: bool,
    floor: bool,
    cases: Vec<Case>,
}

fn main() {
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("compare_inprocess: {message}");
            std::process::exit(2);
        }
    };
    for case in &options.cases {
        let line = if options.once {
            measure_once(case)
        } else if options.floor {
            measure_floor(case, &options)
        } else {
            measure_timed(case, &options)
        };
        match line {
            Ok(json) => println!("{json}"),
            Err(message) => {
                eprintln!("compare_inprocess: {}: {}: {message}", case.image.display(), case.spec);
                std::process::exit(1);
            }
        }
    }
}

fn parse_args(argv: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        runs: env_count("COMPARE_RUNS")?.unwrap_or(9),
        warmup: env_count("COMPARE_WARMUP")?.unwrap_or(2),
        once: false,
        floor: false,
        cases: Vec::new(),
    };
    let mut image: Option<PathBuf> = None;
    let mut args = argv.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to harness = false binaries
            "--bench" => {}
            "--runs" => options.runs = count(args.next(), "--runs")?,
            "--warmup" => options.warmup = count(args.next(), "--warmup")?,
            "--once" => options.once = true,
            "--floor" => options.floor = true,
            "--image" => image = Some(PathBuf::from(args.next().ok_or("--image needs a path")?)),
            spec if !spec.starts_with("--") => {
                let image = image.clone().ok_or_else(|| format!("spec {spec} before any --image"))?;
                options.cases.push(Case { image, spec: spec.to_string() });
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if image.is_some() && options.cases.is_empty() {
        return Err("--image needs at least one SPEC after it".into());
    }
    if options.cases.is_empty() {
        options.cases = default_cases();
    }
    Ok(options)
}

fn count(value: Option<String>, name: &str) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{name} needs a number"))?;
    value.parse().map_err(|_| format!("{name}: not a number: {value}"))
}

fn env_count(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(value) => count(Some(value), name).map(Some),
        Err(_) => Ok(None),
    }
}

fn default_cases() -> Vec<Case> {
    let dir = std::env::var_os("THUMBNAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("bench-images");
    let mut cases = Vec::new();
    for name in ["big20mp.jpg", "prog18mp.jpg", "mid4mp.jpg", "alpha2mp.png"] {
        for side in [200, 800] {
            let mut specs = vec![format!("{side}x{side},q80,jpeg")];
            if name.ends_with(".png") {
                specs.push(format!("{side}x{side},png"));
            }
            for spec in specs {
                cases.push(Case { image: dir.join(name), spec });
            }
        }
    }
    cases
}

fn load(case: &Case) -> Result<(Vec<u8>, Spec), String> {
    let bytes = std::fs::read(&case.image).map_err(|e| format!("cannot read: {e}"))?;
    let spec = Spec::parse(&case.spec).map_err(|e| format!("bad spec: {e}"))?;
    Ok((bytes, spec))
}

/// Warm-up, then `runs` timed renders; median, min and max in milliseconds.
fn measure_timed(case: &Case, options: &Options) -> Result<String, String> {
    if options.runs < MIN_RUNS {
        eprintln!("compare_inprocess: note: {} runs (< {MIN_RUNS}): a smoke test, not a result", options.runs);
    }
    let (bytes, spec) = load(case)?;
    let limits = Limits::default();
    let mut last = None;
    for _ in 0..options.warmup {
        last = Some(thumbnail::render(&bytes, &spec, &limits).map_err(|e| e.to_string())?);
    }
    let mut times_ms = Vec::with_capacity(options.runs);
    for _ in 0..options.runs.max(1) {
        let start = Instant::now();
        let thumb = thumbnail::render(&bytes, &spec, &limits).map_err(|e| e.to_string())?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        last = Some(thumb);
    }
    let thumb = last.expect("at least one render");
    times_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(format!(
        "{{\"lib\":\"thumbnail\",\"image\":{},\"spec\":{},\"runs\":{},\"warmup\":{},\
         \"median_ms\":{:.3},\"min_ms\":{:.3},\"max_ms\":{:.3},\"times_ms\":[{}],\
         \"width\":{},\"height\":{},\"out_bytes\":{},\"media_type\":{}}}",
        json_string(&file_name(&case.image)),
        json_string(&case.spec),
        times_ms.len(),
        options.warmup,
        median(&times_ms),
        times_ms[0],
        times_ms[times_ms.len() - 1],
        times_ms.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(","),
        thumb.width(),
        thumb.height(),
        thumb.data().len(),
        json_string(thumb.media_type()),
    ))
}

/// The decoder alone at the scale `render` would decode at for an
/// `inside` fit of the spec's box (2x the target, as the pipeline keeps
/// for Lanczos3), timed like a render.
fn measure_floor(case: &Case, options: &Options) -> Result<String, String> {
    let (bytes, spec) = load(case)?;
    let info = thumbnail::probe(&bytes).map_err(|e| e.to_string())?;
    let (w, h) = info.oriented_size();
    let bw = f64::from(spec.width.unwrap_or(u32::MAX));
    let bh = f64::from(spec.height.unwrap_or(u32::MAX));
    let scale = (bw / f64::from(w)).min(bh / f64::from(h)).min(1.0);
    let min_scale = (2.0 * scale).min(1.0);
    for _ in 0..options.warmup {
        thumbnail::stages::decode_reduced(&bytes, min_scale).map_err(|e| e.to_string())?;
    }
    let mut times_ms = Vec::with_capacity(options.runs);
    let mut size = (0, 0);
    for _ in 0..options.runs.max(1) {
        let start = Instant::now();
        let d = thumbnail::stages::decode_reduced(&bytes, min_scale).map_err(|e| e.to_string())?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        size = (d.width(), d.height());
    }
    times_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(format!(
        "{{\"lib\":\"floor\",\"image\":{},\"spec\":{},\"runs\":{},\"median_ms\":{:.3},\
         \"decoded_width\":{},\"decoded_height\":{},\"min_scale\":{:.4}}}",
        json_string(&file_name(&case.image)),
        json_string(&case.spec),
        times_ms.len(),
        median(&times_ms),
        size.0,
        size.1,
        min_scale,
    ))
}

/// One render; peak RSS before (source loaded) and after it.
fn measure_once(case: &Case) -> Result<String, String> {
    let (bytes, spec) = load(case)?;
    let before_kb = peak_rss_kb()?;
    let start = Instant::now();
    let thumb = thumbnail::render(&bytes, &spec, &Limits::default()).map_err(|e| e.to_string())?;
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    let after_kb = peak_rss_kb()?;
    Ok(format!(
        "{{\"lib\":\"thumbnail\",\"image\":{},\"spec\":{},\"once_ms\":{:.3},\
         \"hwm_before_kb\":{},\"hwm_after_kb\":{},\"width\":{},\"height\":{},\"out_bytes\":{}}}",
        json_string(&file_name(&case.image)),
        json_string(&case.spec),
        elapsed_ms,
        before_kb,
        after_kb,
        thumb.width(),
        thumb.height(),
        thumb.data().len(),
    ))
}

/// The process's peak resident set so far (VmHWM), in KiB.
fn peak_rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_string())
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
