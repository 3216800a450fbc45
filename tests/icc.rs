//! Embedded ICC profiles are applied: the thumbnail is sRGB.
//!
//! Against ImageMagick converting to sRGB through the same profile
//! (`convert in -intent relative -profile sRGB.icc`, colord-data's sRGB
//! profile; `make fidelity-deps`): mean absolute difference ≤ 3 levels,
//! for the corpus files with profiles and for corpus photos given
//! colord-data's Adobe RGB, ProPhoto and swapped-red-and-green profiles
//! and the corpus's P3 (D65) one. Broken and hostile profiles fall back to sRGB.
//!
//! `cargo test --release --test icc -- --nocapture` prints each distance.

mod common;

use std::path::{Path, PathBuf};

use common::refs;
use thumbnail::{Limits, Spec};

const BAR: f64 = 3.0;
const COLORD: &str = "/usr/share/color/icc/colord";

fn srgb_icc() -> PathBuf {
    Path::new(COLORD).join("sRGB.icc")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fidelity-refs/icc");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn ours(source: &[u8]) -> (refs::Rgba, Vec<String>) {
    let spec = Spec::parse("128x128,noorient,png").unwrap();
    let (t, warnings) = thumbnail::render_with_warnings(source, &spec, &Limits::default()).unwrap();
    (refs::decode_ours(t.data()), warnings)
}

/// Ours against ImageMagick's conversion of the file at `path`.
fn against_imagemagick(name: &str, path: &Path) -> f64 {
    let (t, warnings) = ours(&std::fs::read(path).unwrap());
    let reference = refs::imagemagick_to_srgb(path, &srgb_icc()).unwrap_or_else(|| panic!("{name}: convert fails"));
    let d = refs::mad(&refs::over_grey(&t), &refs::at_size(&reference, t.width, t.height));
    println!("{name:<60} {d:5.2} levels from ImageMagick {warnings:?}");
    d
}

/// `jpeg` with `profile` in APP2 ICC_PROFILE chunks of at most `chunk`
/// bytes, written in the order `order` gives (1-based sequence numbers).
fn with_icc(jpeg: &[u8], profile: &[u8], chunk: usize, reverse: bool) -> Vec<u8> {
    let parts: Vec<&[u8]> = profile.chunks(chunk).collect();
    let count = parts.len() as u8;
    let mut segments: Vec<Vec<u8>> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut s = vec![0xFF, 0xE2];
            s.extend(((part.len() + 16) as u16).to_be_bytes());
            s.extend(b"ICC_PROFILE\0");
            s.extend([i as u8 + 1, count]);
            s.extend(*part);
            s
        })
        .collect();
    if reverse {
        segments.reverse();
    }
    let mut out = jpeg[..2].to_vec();
    segments.iter().for_each(|s| out.extend(s));
    out.extend(&jpeg[2..]);
    out
}

/// `png` with an iCCP chunk holding `zlib` (the compressed profile).
fn with_iccp(png_bytes: &[u8], zlib: &[u8]) -> Vec<u8> {
    let mut body = b"iCCP".to_vec();
    body.extend(b"test\0\0");
    body.extend(zlib);
    let mut chunk = ((body.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend(&body);
    chunk.extend(crc32fast::hash(&body).to_be_bytes());
    let after_ihdr = 8 + 25;
    let mut out = png_bytes[..after_ihdr].to_vec();
    out.extend(chunk);
    out.extend(&png_bytes[after_ihdr..]);
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0u8; c.zlib_compress_bound(data.len())];
    let n = c.zlib_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn corpus_files_with_profiles_match_imagemagick() {
    refs::require_tools(&["convert"]);
    assert!(srgb_icc().exists(), "colord-data is missing: run `make fidelity-deps`");
    let mut worst: f64 = 0.0;
    for path in [
        "edge/cmyk/ycck.jpg", // YCCK with an 18-chunk CMYK profile
        "edge/png-16bit/monkey16.png",
        "edge/png-misc/red-blue-gradient.dcip3d65-no-chrm-no-gama.png",
        "photos/astronaut.png",
        "photos/chelsea.png",
        "edge/jpeg-misc/jpg-srgb-icc.jpg",
    ] {
        let d = against_imagemagick(path, &common::corpus(path));
        assert!(d <= BAR, "{path}: {d:.2} levels from ImageMagick (bar {BAR})");
        worst = worst.max(d);
    }
    println!("worst {worst:.2}");
}

#[test]
fn photos_with_wide_and_odd_profiles_match_imagemagick() {
    refs::require_tools(&["convert"]);
    let kodak = common::read_corpus("photos/kodak/kodim23.png");
    let jpeg = common::read_corpus("photos/mate-LadyBird.jpg"); // no profile of its own
    let p3 = corpus_p3();
    let mut profiles: Vec<(String, Vec<u8>)> = ["AdobeRGB1998", "ProPhotoRGB", "SwappedRedAndGreen", "WideGamutRGB"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(Path::new(COLORD).join(format!("{n}.icc"))).unwrap()))
        .collect();
    profiles.push(("P3-D65".into(), p3));
    for (name, profile) in &profiles {
        let png_file = scratch(&format!("kodim23-{name}.png"));
        std::fs::write(&png_file, with_iccp(&kodak, &zlib(profile))).unwrap();
        let d = against_imagemagick(&format!("kodim23.png + {name}"), &png_file);
        assert!(d <= BAR, "{name} PNG: {d:.2}");
        // In three chunks. ImageMagick joins chunks in file order, so it is
        // given them in order; ours must give the same pixels when they
        // come last to first (reassembled by sequence number, as libjpeg's
        // jpeg_read_icc_profile does).
        let jpg_file = scratch(&format!("ladybird-{name}.jpg"));
        let in_order = with_icc(&jpeg, profile, profile.len() / 3 + 1, false);
        std::fs::write(&jpg_file, &in_order).unwrap();
        let d = against_imagemagick(&format!("mate-LadyBird.jpg + {name} (3 chunks)"), &jpg_file);
        assert!(d <= BAR, "{name} JPEG: {d:.2}");
        let reversed = with_icc(&jpeg, profile, profile.len() / 3 + 1, true);
        assert_eq!(ours(&reversed).0.data, ours(&in_order).0.data, "{name}: chunk order matters");
    }
}

/// The P3 (D65) profile embedded in the corpus's
/// `red-blue-gradient.dcip3d65-no-chrm-no-gama.png`, inflated.
fn corpus_p3() -> Vec<u8> {
    let png_bytes = common::read_corpus("edge/png-misc/red-blue-gradient.dcip3d65-no-chrm-no-gama.png");
    let at = png_bytes.windows(4).position(|w| w == b"iCCP").unwrap();
    let len = u32::from_be_bytes(png_bytes[at - 4..at].try_into().unwrap()) as usize;
    let body = &png_bytes[at + 4..at + 4 + len];
    let zlib = &body[body.iter().position(|&b| b == 0).unwrap() + 2..];
    let mut out = vec![0u8; 1 << 20];
    let n = libdeflater::Decompressor::new().zlib_decompress(zlib, &mut out).unwrap();
    out.truncate(n);
    out
}

/// sRGB red written as P3 numbers (ImageMagick/lcms2 computes them) with
/// the P3 profile embedded comes out as sRGB red; without the transform it
/// would be a duller red.
#[test]
fn a_p3_red_patch_lands_on_srgb_red() {
    refs::require_tools(&["convert"]);
    let p3_file = scratch("p3-d65.icc");
    std::fs::write(&p3_file, corpus_p3()).unwrap();
    let out = std::process::Command::new(refs::CONVERT)
        .args(["-size", "1x1", "xc:rgb(255,0,0)", "-profile"])
        .arg(srgb_icc())
        .args(["-intent", "relative", "-profile"])
        .arg(&p3_file)
        .args(["-depth", "8", "rgb:-"])
        .output()
        .unwrap();
    let red_in_p3: [u8; 3] = out.stdout[..3].try_into().unwrap();
    assert!(red_in_p3[0] < 245 && red_in_p3[1] > 30, "{red_in_p3:?}");
    let pixels: Vec<u8> = red_in_p3.repeat(64 * 64);
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(100).unwrap();
    c.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    let image = turbojpeg::Image {
        pixels: &pixels[..],
        width: 64,
        pitch: 64 * 3,
        height: 64,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = c.compress_to_vec(image).unwrap();
    let (t, warnings) = ours(&with_icc(&jpeg, &corpus_p3(), 60_000, false));
    assert!(warnings.is_empty(), "{warnings:?}");
    let centre = &t.data[((32 * 64 + 32) * 4) as usize..][..3];
    println!("P3 {red_in_p3:?} -> sRGB {centre:?}");
    assert!(centre[0] >= 250 && centre[1] <= 8 && centre[2] <= 8, "{centre:?}");
}

/// A profile that is garbage, truncated, split inconsistently or a zlib
/// bomb never fails the image: it is sRGB, with a warning.
#[test]
fn broken_and_hostile_profiles_fall_back_to_srgb() {
    let jpeg = common::read_corpus("photos/mate-LadyBird.jpg");
    let plain = ours(&jpeg).0;
    let mut truncated = corpus_p3();
    truncated.truncate(300);
    for (name, bad) in [
        ("garbage", with_icc(&jpeg, &[0x5A; 3000], 60_000, false)),
        ("truncated P3", with_icc(&jpeg, &truncated, 60_000, false)),
        ("a chunk missing", {
            let p3 = corpus_p3();
            let whole = with_icc(&jpeg, &p3, p3.len() / 2 + 1, false);
            let second = whole.windows(14).rposition(|w| w == b"ICC_PROFILE\0\x02\x02").unwrap() - 4;
            let len = usize::from(u16::from_be_bytes([whole[second + 2], whole[second + 3]]));
            [&whole[..second], &whole[second + 2 + len..]].concat()
        }),
    ] {
        let (t, warnings) = ours(&bad);
        assert_eq!(t.data, plain.data, "{name}: not rendered as sRGB");
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        println!("{name}: {warnings:?}");
    }
    // PNG: an iCCP that inflates to 64 MiB is given up at the 4 MiB cap.
    let png_bytes = common::read_corpus("photos/kodak/kodim23.png");
    let bomb = zlib(&vec![0u8; 64 << 20]);
    let started = std::time::Instant::now();
    let (t, warnings) = ours(&with_iccp(&png_bytes, &bomb));
    println!("iCCP bomb ({} bytes): {:?}, {warnings:?}", bomb.len(), started.elapsed());
    assert_eq!(t.data, ours(&png_bytes).0.data);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}
