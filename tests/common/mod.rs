//! Shared helpers for integration tests: the corpus lives beside the project.
#![allow(dead_code)]

pub mod refs;

use std::path::PathBuf;

/// `../shared` relative to the project root (overridable with THUMBNAIL_SHARED).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("THUMBNAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

pub fn corpus(path: &str) -> PathBuf {
    shared_dir().join("corpus").join(path)
}

pub fn read_corpus(path: &str) -> Vec<u8> {
    let p = corpus(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

pub fn bench_image(name: &str) -> Vec<u8> {
    let p = shared_dir().join("bench-images").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// One row of MANIFEST.tsv.
pub struct Entry {
    pub path: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Main token of `expected` (e.g. `decode-ok`).
    pub expected: String,
    /// Qualifiers after the main token (e.g. `orientation=6`).
    pub qualifiers: Vec<String>,
}

impl Entry {
    pub fn orientation(&self) -> u8 {
        self.qualifiers
            .iter()
            .find_map(|q| q.strip_prefix("orientation="))
            .and_then(|o| o.parse().ok())
            .filter(|o| (1..=8).contains(o))
            .unwrap_or(1)
    }
}

pub fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus("MANIFEST.tsv")).expect("corpus MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let mut expected = cols[9].split(';').map(str::to_owned);
            Entry {
                path: cols[0].to_owned(),
                width: cols[2].parse().ok(),
                height: cols[3].parse().ok(),
                expected: expected.next().unwrap_or_default(),
                qualifiers: expected.collect(),
            }
        })
        .collect()
}

/// Decodes a JPEG, PNG or WebP output to RGB8 for pixel checks (zune-jpeg /
/// png / libwebp through the library; alpha is dropped).
pub fn decode_rgb(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    if bytes.starts_with(b"RIFF") {
        let d = thumbnail::stages::decode(bytes).expect("output WebP decodes");
        let ch = d.channels();
        let rgb =
            d.data().chunks_exact(ch).flat_map(|p| if ch == 1 { [p[0]; 3] } else { [p[0], p[1], p[2]] }).collect();
        (d.width(), d.height(), rgb)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        use zune_core::bytestream::ZCursor;
        use zune_core::colorspace::ColorSpace;
        use zune_core::options::DecoderOptions;
        let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
        let px = d.decode().expect("output JPEG decodes");
        let (w, h) = d.dimensions().unwrap();
        (w as u32, h as u32, px)
    } else {
        let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
        d.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut r = d.read_info().expect("output PNG header");
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).expect("output PNG decodes");
        let ch = info.color_type.samples();
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(ch)
            .flat_map(|p| match ch {
                1 | 2 => [p[0], p[0], p[0]],
                _ => [p[0], p[1], p[2]],
            })
            .collect();
        (info.width, info.height, rgb)
    }
}

/// Peak signal-to-noise ratio in dB between two equal-length 8-bit buffers.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

/// What every cache's stats must satisfy at any moment (groupcache's counters).
pub fn check_cache_invariants(s: &thumbnail::CacheStats) {
    assert_eq!(s.gets, s.hits + s.misses, "gets == hits + misses: {s:?}");
    assert_eq!(s.loads, s.local_loads + s.local_load_errors + s.loads_deduped, "{s:?}");
    assert!(s.error_hits <= s.hits, "{s:?}");
    assert!(s.bytes <= s.capacity_bytes, "{s:?}");
}
