//! Damaged JPEGs are shown as libjpeg-turbo (and so browsers, Pillow,
//! libvips, image_filter) shows them, and refused in strict mode.
//!
//! The damaged files are made here from corpus photos: restart markers
//! overwritten, bytes flipped in the entropy-coded data, the file cut at
//! several points. Each is decoded by us (`stages::decode_reduced`, the
//! decode `render` does, at the same M/8 scale) and by Debian's `djpeg
//! -scale M/8` (libjpeg-turbo-progs, `make fidelity-deps`): mean absolute
//! difference ≤ 2 levels.
//!
//! `cargo test --release --test damaged -- --nocapture` prints each case.

mod common;

use common::refs;
use thumbnail::{ErrorKind, Limits, Spec, stages};

const BAR: f64 = 2.0;

/// The entropy-coded data of the first scan: from after the SOS header to
/// the EOI (the last FF D9).
fn scan(bytes: &[u8]) -> (usize, usize) {
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).expect("SOS");
    let header = usize::from(u16::from_be_bytes([bytes[sos + 2], bytes[sos + 3]]));
    let eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]).expect("EOI");
    (sos + 2 + header, eoi)
}

/// Restart markers (FF D0..D7) in the scan data, by offset.
fn restarts(bytes: &[u8]) -> Vec<usize> {
    let (start, end) = scan(bytes);
    (start..end - 1).filter(|&i| bytes[i] == 0xFF && (0xD0..=0xD7).contains(&bytes[i + 1])).collect()
}

/// The restart markers nearest `fractions` of the way through the scan
/// overwritten: the first with zero bytes (the marker is gone), the rest
/// renumbered (the wrong marker arrives), as a damaged card or transfer does.
fn overwrite_restarts(bytes: &[u8], fractions: &[f64]) -> Vec<u8> {
    let markers = restarts(bytes);
    assert!(markers.len() > 10, "{} restart markers", markers.len());
    let mut out = bytes.to_vec();
    for (i, f) in fractions.iter().enumerate() {
        let at = markers[((markers.len() as f64) * f) as usize];
        if i == 0 {
            out[at..at + 2].copy_from_slice(&[0x00, 0x00]);
        } else {
            out[at + 1] = 0xD0 + (out[at + 1] - 0xD0 + 3) % 8;
        }
    }
    out
}

/// One byte flipped (XOR 0x5A) at each of `fractions` of the scan, never
/// creating or breaking a marker.
fn flip_bytes(bytes: &[u8], fractions: &[f64]) -> Vec<u8> {
    let (start, end) = scan(bytes);
    let mut out = bytes.to_vec();
    for f in fractions {
        let mut at = start + ((end - start) as f64 * f) as usize;
        while out[at] == 0xFF || out[at - 1] == 0xFF || out[at] ^ 0x5A == 0xFF {
            at += 1;
        }
        out[at] ^= 0x5A;
    }
    out
}

fn truncate(bytes: &[u8], fraction: f64) -> Vec<u8> {
    bytes[..(bytes.len() as f64 * fraction) as usize].to_vec()
}

/// Ours against djpeg at `m`/8; returns the distance.
fn compare(name: &str, damaged: &[u8], m: u32) -> f64 {
    let ours = stages::decode_reduced(damaged, f64::from(m) / 8.0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fidelity-refs/damaged");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.jpg"));
    std::fs::write(&file, damaged).unwrap();
    let reference = refs::djpeg(&file, Some(m)).unwrap_or_else(|| panic!("{name}: djpeg fails"));
    assert_eq!((ours.width(), ours.height()), (reference.width, reference.height), "{name}: size");
    let ours_rgb: Vec<u8> = match ours.channels() {
        1 => ours.data().iter().flat_map(|&g| [g, g, g]).collect(),
        _ => ours.data().to_vec(),
    };
    let d = refs::mad(&ours_rgb, &refs::over_grey(&reference));
    println!("{name:<40} at {m}/8: {}x{}, {d:.3} levels from djpeg", reference.width, reference.height);
    d
}

/// The lenient render serves the file; strict refuses exactly what
/// libjpeg-turbo warned about. A flipped byte can leave a valid Huffman
/// stream (wrong coefficients, no warning): such damage cannot be seen, and
/// strict serves it too; lost markers and truncation always warn.
fn check_lenient_and_strict(name: &str, damaged: &[u8], must_warn: bool) {
    let spec = Spec::parse("200x200").unwrap();
    let (_, warnings) = thumbnail::render_with_warnings(damaged, &spec, &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: lenient render fails: {e}"));
    assert!(!must_warn || !warnings.is_empty(), "{name}: damage served without a warning");
    let strict = Limits { strict: true, ..Limits::default() };
    match thumbnail::render(damaged, &spec, &strict) {
        Err(err) => assert!(err.kind() == ErrorKind::Corrupt && !warnings.is_empty(), "{name}: {err}"),
        Ok(_) => assert!(warnings.is_empty(), "{name}: strict served a file with warnings {warnings:?}"),
    }
}

#[test]
fn damaged_jpegs_decode_as_libjpeg_turbo_decodes_them() {
    refs::require_tools(&["djpeg"]);
    let museum = common::read_corpus("photos/museum-12MP-42_IndexError.jpg"); // DRI 4
    let wisteria = common::read_corpus("photos/wisteria-8MP-iphone_hdr_NO.jpg"); // DRI 204
    let harbour = common::read_corpus("photos/harbour-9MP-HMD_Nokia_8.3_5G.jpg"); // no restarts
    let summer = common::read_corpus("photos/kde-summer_1am-2560x1600.jpg"); // progressive
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("museum-restarts".into(), overwrite_restarts(&museum, &[0.2, 0.5, 0.8])),
        ("wisteria-restarts".into(), overwrite_restarts(&wisteria, &[0.3, 0.6])),
        ("museum-flips".into(), flip_bytes(&museum, &[0.25, 0.5, 0.75])),
        ("harbour-flip".into(), flip_bytes(&harbour, &[0.6])),
        ("summer-flip".into(), flip_bytes(&summer, &[0.1])),
    ];
    for f in [0.1, 0.5, 0.9] {
        cases.push((format!("harbour-cut-{f}"), truncate(&harbour, f)));
        cases.push((format!("summer-cut-{f}"), truncate(&summer, f)));
        cases.push((format!("wisteria-cut-{f}"), truncate(&wisteria, f)));
    }
    let mut worst: f64 = 0.0;
    for (name, damaged) in &cases {
        check_lenient_and_strict(name, damaged, !name.contains("flip"));
        for m in [1, 2, 8] {
            let d = compare(name, damaged, m);
            assert!(d <= BAR, "{name} at {m}/8: {d:.3} levels from djpeg (bar {BAR})");
            worst = worst.max(d);
        }
    }
    println!("{} damaged files x 3 scales: worst {worst:.3} levels from djpeg", cases.len());
}

/// The case: a camera JPEG with a few damaged restart markers.
/// libjpeg-turbo resynchronises at the next marker, so the thumbnail is
/// the photo with a few blocks lost, not a photo that turns grey below the
/// first damage (what zune-jpeg's lenient mode gave).
#[test]
fn a_few_bad_restart_markers_lose_a_few_blocks_not_the_picture() {
    let museum = common::read_corpus("photos/museum-12MP-42_IndexError.jpg");
    let damaged = overwrite_restarts(&museum, &[0.2, 0.5, 0.8]);
    let spec = Spec::parse("256x256,png").unwrap();
    let render = |b: &[u8]| refs::decode_ours(thumbnail::render(b, &spec, &Limits::default()).unwrap().data());
    let (good, bad) = (render(&museum), render(&damaged));
    let d = refs::mad(&good.data, &bad.data);
    println!("museum with 3 bad restart markers: {d:.3} levels from the sound file's thumbnail");
    assert!(d < 1.0, "{d:.3}");
    // The measure can fail: a thumbnail grey from 20% down is far off.
    let mut grey = good.clone();
    let from = grey.data.len() / 5;
    grey.data[from..].chunks_exact_mut(4).for_each(|p| p[..3].fill(128));
    assert!(refs::mad(&good.data, &grey.data) > 10.0);
}

/// Truncated PNGs follow the same policy: the rows decoded so far are
/// served (the rest transparent, so a JPEG thumbnail shows the background
/// there, as a browser shows the page behind), and strict refuses.
#[test]
fn truncated_pngs_serve_the_decoded_rows() {
    let astronaut = common::read_corpus("photos/astronaut.png");
    let spec = Spec::parse("128x128,png").unwrap();
    let whole = refs::decode_ours(thumbnail::render(&astronaut, &spec, &Limits::default()).unwrap().data());
    for f in [0.3, 0.6] {
        let cut = truncate(&astronaut, f);
        let name = format!("astronaut-cut-{f}");
        check_lenient_and_strict(&name, &cut, true);
        let t = refs::decode_ours(thumbnail::render(&cut, &spec, &Limits::default()).unwrap().data());
        assert_eq!((t.width, t.height), (whole.width, whole.height));
        let row =
            |img: &refs::Rgba, y: u32| img.data[(y * img.width * 4) as usize..][..(img.width * 4) as usize].to_vec();
        // The top rows are the picture; the bottom row is transparent.
        let top = refs::mad(&row(&t, 2), &row(&whole, 2));
        let bottom = row(&t, t.height - 1);
        println!("{name}: top row {top:.2} levels from the whole file's; bottom alpha {}", bottom[3]);
        assert!(top < 2.0, "{name}: {top:.2}");
        assert!(bottom.chunks_exact(4).all(|p| p[3] == 0), "{name}: bottom row not transparent");
    }
    // Interlaced: the passes that arrived, spread over their pixels.
    let interlaced = common::read_corpus("conformance/png/pngsuite/basi2c08.png");
    let cut = truncate(&interlaced, 0.7);
    check_lenient_and_strict("basi2c08-cut", &cut, true);
}
