//! Resampling quality: the box pre-reduction must stay close to a straight
//! Lanczos3 of the full image. Measure: PSNR ≥ 40 dB on RGB output (PNG, so
//! no JPEG loss is measured), against fast_image_resize's Lanczos3 of the
//! full decode.

mod common;

use common::{psnr, read_corpus};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use thumbnail::{Limits, Spec};

fn reference_lanczos(jpeg: &[u8], w: u32, h: u32) -> Vec<u8> {
    let (sw, sh, rgb) = common::decode_rgb(jpeg);
    let src = ImageRef::new(sw, sh, &rgb, PixelType::U8x3).unwrap();
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&src, &mut dst, &opts).unwrap();
    dst.into_vec()
}

fn check(path: &str, spec: &str, min_db: f64) -> f64 {
    let source = match path.strip_prefix("bench-images/") {
        Some(name) => common::bench_image(name),
        None => read_corpus(path),
    };
    let t = thumbnail::render(&source, &Spec::parse(spec).unwrap(), &Limits::default()).unwrap();
    let (w, h, ours) = common::decode_rgb(t.data());
    let reference = reference_lanczos(&source, w, h);
    let db = psnr(&ours, &reference);
    println!("{path} {spec}: {w}x{h}, {db:.1} dB");
    assert!(db >= min_db, "{path} {spec}: {db:.1} dB < {min_db}");
    db
}

#[test]
fn prereduced_thumbnails_match_straight_lanczos3() {
    // 4032x3024 → 200 px: box factor 7 before Lanczos3.
    check("photos/museum-12MP-42_IndexError.jpg", "200x200,png", 40.0);
    check("photos/harbour-9MP-HMD_Nokia_8.3_5G.jpg", "300x300,png", 40.0);
    check("photos/wisteria-8MP-iphone_hdr_NO.jpg", "150x150,png", 40.0);
}

#[test]
fn progressive_thumbnails_from_dc_scans_match_straight_lanczos3() {
    // 5640x3172 progressive → 200 px: decoded at 1/8 from its DC scans.
    check("bench-images/prog18mp.jpg", "200x200,png", 40.0);
    check("bench-images/prog18mp.jpg", "120x120,png", 40.0);
}

#[test]
fn the_measure_can_fail() {
    // A thumbnail of a different photo is far below the threshold.
    let a = read_corpus("photos/museum-12MP-42_IndexError.jpg");
    let b = read_corpus("photos/wisteria-8MP-iphone_hdr_NO.jpg");
    let spec = Spec::parse("64x48,fill,png").unwrap();
    let ta = thumbnail::render(&a, &spec, &Limits::default()).unwrap();
    let tb = thumbnail::render(&b, &spec, &Limits::default()).unwrap();
    assert!(psnr(&common::decode_rgb(ta.data()).2, &common::decode_rgb(tb.data()).2) < 25.0);
}

/// Shrink-on-load: a JPEG decoded at M/8 size (libjpeg-turbo's scaled
/// IDCT) must be that size and look like the full decode resampled to it.
#[test]
fn reduced_jpeg_decode_matches_the_full_decode_resampled() {
    use thumbnail::stages;
    for (path, min_scale, eighths) in [
        ("photos/museum-12MP-42_IndexError.jpg", 0.1, 1),
        ("photos/harbour-9MP-HMD_Nokia_8.3_5G.jpg", 0.3, 3),
        ("photos/wisteria-8MP-iphone_hdr_NO.jpg", 0.5, 4),
    ] {
        let source = read_corpus(path);
        let full = stages::decode(&source).unwrap();
        let reduced = stages::decode_reduced(&source, min_scale).unwrap();
        let want = (full.width() * eighths).div_ceil(8);
        assert_eq!(reduced.width(), want, "{path}: width at {eighths}/8");
        assert_eq!(reduced.height(), (full.height() * eighths).div_ceil(8), "{path}: height");
        let reference = stages::resize(full, reduced.width(), reduced.height()).unwrap();
        let db = psnr(reduced.data(), reference.data());
        println!("{path} at {eighths}/8: {}x{}, {db:.1} dB", reduced.width(), reduced.height());
        assert!(db >= 30.0, "{path} at {eighths}/8: {db:.1} dB");
    }
}

/// Full-size JPEG decodes go through libjpeg-turbo; they must give the
/// pixels zune-jpeg (an independent decoder) gives, across subsamplings,
/// gray, RGB, restart markers and sizes that are not multiples of a block.
#[test]
fn full_jpeg_decode_matches_an_independent_decoder() {
    use thumbnail::stages;
    for path in [
        "conformance/jpeg/libjpeg-turbo/testorig.jpg",
        "conformance/jpeg/misc/rgb.jpg",
        "conformance/jpeg/misc/restarts.jpg",
        "conformance/jpeg/misc/blank_800x280.jpg",
        "conformance/jpeg/mozilla/jpg-size-15x15.jpg",
        "conformance/jpeg/subsampling/peacock.s1x1-444.jpeg",
        "conformance/jpeg/subsampling/peacock.s2x1-422.jpeg",
        "conformance/jpeg/subsampling/peacock.s1x3.jpeg",
        "photos/harbour-9MP-HMD_Nokia_8.3_5G.jpg",
    ] {
        let source = read_corpus(path);
        let ours = stages::decode(&source).unwrap();
        let (w, h, reference) = common::decode_rgb(&source);
        assert_eq!((ours.width(), ours.height()), (w, h), "{path}");
        let ours_rgb: Vec<u8> = match ours.channels() {
            1 => ours.data().iter().flat_map(|&g| [g, g, g]).collect(),
            _ => ours.data().to_vec(),
        };
        let db = psnr(&ours_rgb, &reference);
        println!("{path}: {w}x{h}, {db:.1} dB");
        assert!(db >= 35.0, "{path}: {db:.1} dB");
    }
}

/// A non-interleaved 4:2:0 file zune-jpeg 0.5 decodes into green stripes;
/// libjpeg-turbo (and ImageMagick) see a vertical red-to-blue gradient.
#[test]
fn non_interleaved_420_decodes_to_its_gradient() {
    use thumbnail::stages;
    let source = read_corpus("conformance/jpeg/subsampling/non_interleaved_420_64x64.jpg");
    let img = stages::decode(&source).unwrap();
    assert_eq!((img.width(), img.height(), img.channels()), (64, 64, 3));
    let px = |x: usize, y: usize| &img.data()[(y * 64 + x) * 3..][..3];
    for x in [0, 31, 63] {
        let (top, bottom) = (px(x, 0), px(x, 63));
        assert!(top[0] > 200 && top[1] < 40 && top[2] < 40, "top row at x={x} is red: {top:?}");
        assert!(bottom[0] < 40 && bottom[1] < 40 && bottom[2] > 200, "bottom row at x={x} is blue: {bottom:?}");
    }
}

/// A 452-byte 8x8192 JPEG whose data breaks off after 96 rows. zune-jpeg
/// rejects it; libjpeg-turbo warns ("bad Huffman code") and decodes the
/// rest as flat grey, as ImageMagick shows it (`convert small-img-8x8192.jpg
/// rgb:-`: rows 0-95 carry the picture, rows 0 and 8 start with (218, 251,
/// 240) and (233, 255, 255), rows 96 on are 128 grey). We serve what
/// libjpeg-based servers serve.
#[test]
fn jpeg_cut_short_decodes_like_libjpeg() {
    use thumbnail::stages;
    let source = read_corpus("edge/jpeg-misc/small-img-8x8192.jpg");
    let img = stages::decode(&source).unwrap();
    assert_eq!((img.width(), img.height(), img.channels()), (8, 8192, 3));
    let row = |y: usize| &img.data()[y * 24..][..24];
    for (y, want) in [(0, [218u8, 251, 240]), (8, [233, 255, 255])] {
        let got = &row(y)[..3];
        assert!(got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 2), "row {y} starts {got:?}, ImageMagick {want:?}");
    }
    let picture_rows = (0..96).filter(|&y| row(y).iter().any(|&v| v != 128)).count();
    assert!(picture_rows >= 90, "only {picture_rows} of the first 96 rows carry the picture");
    for y in 96..8192 {
        assert!(row(y).iter().all(|&v| v == 128), "row {y} is not the grey of missing data: {:?}", row(y));
    }
}

/// 12-bit JPEG (tj3Decompress12): libjpeg-turbo's monkey12.jpg is its
/// testimages' monkey16.png coded at 12 bits; our decode (rounded to 8
/// bits) must look like the 16-bit PNG's (rounded to 8 bits).
#[test]
fn twelve_bit_jpeg_matches_its_sixteen_bit_source() {
    use thumbnail::stages;
    let jpeg = stages::decode(&read_corpus("conformance/jpeg/libjpeg-turbo/monkey12.jpg")).unwrap();
    let png = stages::decode(&read_corpus("edge/png-16bit/monkey16.png")).unwrap();
    assert_eq!((jpeg.width(), jpeg.height(), jpeg.channels()), (png.width(), png.height(), 3));
    let db = psnr(jpeg.data(), png.data());
    println!("monkey12.jpg against monkey16.png: {db:.1} dB");
    assert!(db >= 35.0, "{db:.1} dB");
}

/// Lossless JPEG (SOF3) decodes exactly: one made here from a corpus photo
/// by libjpeg-turbo gives back the photo's pixels, and a thumbnail of it
/// is the thumbnail of the photo.
#[test]
fn lossless_jpeg_decodes_exactly() {
    use thumbnail::stages;
    let original = stages::decode(&read_corpus("photos/kodak/kodim03.png")).unwrap();
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_lossless(true).unwrap();
    let image = turbojpeg::Image {
        pixels: original.data(),
        width: original.width() as usize,
        pitch: original.width() as usize * 3,
        height: original.height() as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    let lossless = c.compress_to_vec(image).unwrap();
    assert_eq!(lossless[..4], [0xFF, 0xD8, 0xFF, lossless[3]]);
    let decoded = stages::decode(&lossless).unwrap();
    assert_eq!(decoded.data(), original.data());
    // Shrink-on-load does not apply (no scaled lossless decode): full size.
    let reduced = stages::decode_reduced(&lossless, 0.1).unwrap();
    assert_eq!((reduced.width(), reduced.height()), (original.width(), original.height()));
    // The corpus's 16-bit lossless gray file decodes. Its samples use a
    // small part of the 16-bit range, so scaled to 8 bits by the nominal
    // range (as every sample wider than 8 bits is) it is nearly black.
    let gray = stages::decode(&read_corpus("edge/jpeg-misc/jpeg_lossless_sel1.jpg")).unwrap();
    assert_eq!((gray.width(), gray.height(), gray.channels()), (256, 256, 1));
    let (min, max) = gray.data().iter().fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(min < max, "16-bit lossless gray spans {min}..{max}");
}

/// Arithmetic-coded JPEG: testimgari.jpg is testorig.jpg's picture coded
/// arithmetically; the decodes agree.
#[test]
fn arithmetic_jpeg_matches_its_huffman_twin() {
    use thumbnail::stages;
    let ari = stages::decode(&read_corpus("conformance/jpeg/libjpeg-turbo/testimgari.jpg")).unwrap();
    let huff = stages::decode(&read_corpus("conformance/jpeg/libjpeg-turbo/testorig.jpg")).unwrap();
    assert_eq!((ari.width(), ari.height()), (huff.width(), huff.height()));
    let db = psnr(ari.data(), huff.data());
    println!("testimgari.jpg against testorig.jpg: {db:.1} dB");
    assert!(db >= 35.0, "{db:.1} dB");
}
