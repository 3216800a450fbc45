//! WebP and GIF against reference decoders (issue 16): libwebp's `dwebp`,
//! ImageMagick's `convert` and libwebp's `webpmux` from Debian (`make
//! test-rust` installs them: packages `webp` and `imagemagick`). Pixels are
//! compared on a common size, not just "decoded OK"; animated output's frame
//! count and delays are checked against the source's.
//!
//! `cargo test --release --test formats -- --nocapture` prints the figures.

mod common;

use std::path::Path;
use std::process::Command;

use thumbnail::{Limits, Spec, render};

/// Runs a tool and returns its stdout; a missing tool is a clear failure.
fn tool(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (install Debian's webp and imagemagick: make test-rust)"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// One RGBA image from a PAM stream (dwebp -pam, convert ... pam:-); returns
/// it and the rest of the stream (ImageMagick writes one PAM per frame).
fn read_pam(bytes: &[u8]) -> ((u32, u32, Vec<u8>), &[u8]) {
    let end = bytes.windows(7).position(|w| w == b"ENDHDR\n").expect("PAM header") + 7;
    let header = std::str::from_utf8(&bytes[..end]).unwrap();
    let field = |name: &str| -> u32 {
        header.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse().unwrap()).expect(name)
    };
    let (w, h, depth) = (field("WIDTH "), field("HEIGHT "), field("DEPTH "));
    let len = (w * h * depth) as usize;
    let raw = &bytes[end..end + len];
    let rgba = match depth {
        4 => raw.to_vec(),
        3 => raw.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        2 => raw.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        1 => raw.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        d => panic!("PAM depth {d}"),
    };
    ((w, h, rgba), &bytes[end + len..])
}

/// Every frame of a PAM stream.
fn read_pams(mut bytes: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (frame, rest) = read_pam(bytes);
        frames.push(frame);
        bytes = rest;
    }
    frames
}

/// RGBA composited over white, as RGB: compares colour and coverage at once.
fn over_white(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            [0, 1, 2].map(|c| ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8)
        })
        .collect()
}

fn to_rgba(d: &thumbnail::stages::Decoded) -> Vec<u8> {
    match d.channels() {
        4 => d.data().to_vec(),
        3 => d.data().chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        _ => d.data().iter().flat_map(|&v| [v, v, v, 255]).collect(),
    }
}

/// ImageMagick paints the GIF's background colour where no frame has drawn
/// yet; browsers (and this library) leave it transparent. Such pixels (ours
/// fully transparent, theirs opaque) are taken out of both images, over
/// white, and counted.
fn without_background_policy(ours: &[u8], theirs: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
    let (mut a, mut b, mut skipped) = (Vec::new(), Vec::new(), 0);
    for (p, q) in ours.chunks_exact(4).zip(theirs.chunks_exact(4)) {
        if p[3] == 0 && q[3] == 255 {
            skipped += 1;
        } else {
            a.extend_from_slice(p);
            b.extend_from_slice(q);
        }
    }
    (over_white(&a), over_white(&b), skipped)
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

fn write_temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("thumbnail-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn corpus_rows(prefix: &str, kind_prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::corpus("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| c[0].starts_with(prefix) && c[1].starts_with(kind_prefix) && c[9].starts_with("decode-ok"))
        .map(|c| c[0].to_owned())
        .collect()
}

/// Our full-size WebP decode against dwebp's, every still WebP of the
/// corpus: same libwebp family (1.6 here, Debian's 1.2.4 there), so the
/// pixels should agree to the bit or nearly.
#[test]
fn webp_decodes_as_dwebp_does() {
    let files = corpus_rows("edge/webp/", "webp/");
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let ours = thumbnail::stages::decode(&common::read_corpus(&path)).unwrap();
        let (w, h, theirs) = read_pam(&tool("dwebp", &["-pam", "-o", "-", common::corpus(&path).to_str().unwrap()])).0;
        assert_eq!((ours.width(), ours.height()), (w, h), "{path}");
        let ours = to_rgba(&ours);
        let (psnr, max) = (common::psnr(&ours, &theirs), max_diff(&ours, &theirs));
        println!("{path}: {w}x{h}, against dwebp PSNR {psnr:.1} dB, max difference {max}");
        assert!(max <= 2, "{path}: max difference {max}");
    }
}

/// The reduced-size WebP decode (libwebp's rescaler) followed by our
/// resize, against dwebp's full decode resized by ImageMagick to the same
/// size: the shrink-on-load path keeps the picture.
#[test]
fn webp_thumbnail_matches_dwebp_then_imagemagick() {
    let path = "edge/webp/harvesters.lossy.webp"; // 1165x859
    let thumb = render(&common::read_corpus(path), &Spec::parse("200x,png").unwrap(), &Limits::default()).unwrap();
    let (w, h) = (thumb.width(), thumb.height());
    let (_, _, ours) = common::decode_rgb(thumb.data());
    let full =
        write_temp("harvesters.pam", &tool("dwebp", &["-pam", "-o", "-", common::corpus(path).to_str().unwrap()]));
    let size = format!("{w}x{h}!");
    let theirs =
        read_pam(&tool("convert", &[full.to_str().unwrap(), "-filter", "Lanczos", "-resize", &size, "pam:-"])).0;
    let theirs: Vec<u8> = theirs.2.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let psnr = common::psnr(&ours, &theirs);
    println!("{path} -> {w}x{h}: against dwebp + ImageMagick Lanczos PSNR {psnr:.1} dB");
    assert!(psnr > 35.0, "PSNR {psnr:.1}");
}

/// Our WebP output, decoded by dwebp, against our PNG output of the same
/// spec (the encoder keeps the picture, alpha included), and orientation
/// baked in: an EXIF-6 JPEG gives an upright WebP.
#[test]
fn webp_output_decodes_in_dwebp_close_to_the_png_output() {
    for (path, spec) in [
        ("photos/kodak/kodim03.png", "300x"),
        ("conformance/png/pngsuite/basn6a08.png", "32x32"),
        ("edge/exif-orientation/Landscape_6.jpg", "150x"),
        ("edge/gif/transparent.gif", "100x"),
    ] {
        let src = common::read_corpus(path);
        let png = render(&src, &Spec::parse(&format!("{spec},png")).unwrap(), &Limits::default()).unwrap();
        let webp = render(&src, &Spec::parse(&format!("{spec},webp,q90")).unwrap(), &Limits::default()).unwrap();
        assert_eq!((png.width(), png.height()), (webp.width(), webp.height()), "{path}");
        assert_eq!(webp.media_type(), "image/webp");
        let file = write_temp("out.webp", webp.data());
        let (w, h, decoded) = read_pam(&tool("dwebp", &["-pam", "-o", "-", file.to_str().unwrap()])).0;
        assert_eq!((w, h), (png.width(), png.height()), "{path}");
        let png_rgba = to_rgba(&thumbnail::stages::decode(png.data()).unwrap());
        let psnr = common::psnr(&over_white(&decoded), &over_white(&png_rgba));
        println!(
            "{path} {spec}: WebP q90 {} bytes, {w}x{h}, against the PNG output PSNR {psnr:.1} dB",
            webp.data().len()
        );
        assert!(psnr > 30.0, "{path}: PSNR {psnr:.1}");
    }
}

/// Orientation is baked into every output format: each EXIF orientation's
/// WebP matches orientation 1's (JPEG and PNG: tests/orientation.rs).
#[test]
fn orientation_is_baked_into_webp() {
    for format in ["webp"] {
        let spec = Spec::parse(&format!("120x120,{format}")).unwrap();
        let upright =
            render(&common::read_corpus("edge/exif-orientation/Landscape_1.jpg"), &spec, &Limits::default()).unwrap();
        let reference = to_rgba(&thumbnail::stages::decode(upright.data()).unwrap());
        for n in 2..=8 {
            let path = format!("edge/exif-orientation/Landscape_{n}.jpg");
            let out = render(&common::read_corpus(&path), &spec, &Limits::default()).unwrap();
            assert_eq!((out.width(), out.height()), (upright.width(), upright.height()), "{path}");
            let pixels = to_rgba(&thumbnail::stages::decode(out.data()).unwrap());
            let psnr = common::psnr(&pixels, &reference);
            println!("{path} as {format}: PSNR {psnr:.1} dB against orientation 1");
            assert!(psnr > 25.0, "{path} {format}: {psnr:.1} dB");
        }
    }
}

/// GIF's first frame (or the only one) against ImageMagick's coalesced
/// first frame, at full size: palette, transparency, interlacing and a
/// frame smaller than the screen.
#[test]
fn gif_first_frame_matches_imagemagick() {
    let mut files = corpus_rows("edge/gif/", "gif/");
    files.extend(corpus_rows("edge/animated/", "gif/"));
    assert!(files.len() >= 12, "{files:?}");
    for path in files {
        let ours = thumbnail::stages::decode(&common::read_corpus(&path)).unwrap();
        let frames = tool("convert", &[common::corpus(&path).to_str().unwrap(), "-coalesce", "pam:-"]);
        let (w, h, theirs) = read_pam(&frames).0;
        assert_eq!((ours.width(), ours.height()), (w, h), "{path}");
        let (ours, theirs, skipped) = without_background_policy(&to_rgba(&ours), &theirs);
        let max = max_diff(&ours, &theirs);
        println!(
            "{path}: {w}x{h}, first frame against ImageMagick: max difference {max} \
             ({skipped} pixels transparent here, background colour there)"
        );
        assert!(max <= 1, "{path}: max difference {max}");
    }
}

/// `anim`: every frame composited (disposal, local palettes, transparency),
/// written as animated WebP with the source's frame count and delays; each
/// output frame, as ImageMagick decodes it, against ImageMagick's
/// coalesced source frame, both at the output size.
#[test]
fn animation_keeps_frames_delays_and_pixels() {
    let files = [
        "edge/animated/animated-red-blue.gif",
        "edge/animated/any-disposal.gif",
        "edge/animated/mixed-disposal.gif",
        "edge/animated/border_touching_layers.gif",
        "edge/animated/chi.gif",
        "edge/animated/moon_impact.gif",
        "edge/animated/large-gif-anim-full-frame-replace.gif",
        "edge/animated/anim.webp",
    ];
    for path in files {
        let src = common::read_corpus(path);
        let info = thumbnail::probe(&src).unwrap();
        let (w, h) = (info.width, info.height);
        // Source delays in ms, as played: ImageMagick's centiseconds, with
        // browsers' rule (10 ms or less plays as 100 ms) for GIF.
        let want_ms: Vec<u32> = if path.ends_with(".gif") {
            String::from_utf8(tool("identify", &["-format", "%T\n", common::corpus(path).to_str().unwrap()]))
                .unwrap()
                .lines()
                .map(|cs| cs.parse::<u32>().unwrap() * 10)
                .map(|ms| if ms <= 10 { 100 } else { ms })
                .collect()
        } else {
            mux_durations(&common::corpus(path))
        };
        let spec = format!("{w}x{h},anim,q95");
        let out = render(&src, &Spec::parse(&spec).unwrap(), &Limits::default()).unwrap();
        assert_eq!(out.media_type(), "image/webp", "{path}");
        let file = write_temp("anim.webp", out.data());
        let got_ms = mux_durations(&file);
        // Pixels over white: our WebP as libwebp's WebPAnimDecoder
        // composites it, against ImageMagick's coalesced source frames.
        // libwebp's encoder merges a frame identical to the one before into
        // its duration (as gif2webp does), so the check is on the timeline:
        // each output frame stands for a run of source frames whose delays
        // add up to its duration, and matches every one of them.
        let ours = thumbnail::stages::decode_frames(out.data()).unwrap();
        let decoded_ms: Vec<u32> = ours.iter().map(|(_, ms)| *ms).collect();
        assert_eq!(decoded_ms, got_ms, "{path}: libwebp's decoder and webpmux agree on durations");
        let theirs = read_pams(&tool("convert", &[common::corpus(path).to_str().unwrap(), "-coalesce", "pam:-"]));
        assert_eq!(theirs.len(), want_ms.len(), "{path}: ImageMagick and identify agree");
        let (mut worst, mut skipped, mut next) = (f64::INFINITY, 0, 0);
        for (i, (frame, ms)) in ours.iter().enumerate() {
            let mut covered = 0;
            while covered < *ms {
                assert!(next < theirs.len(), "{path}: output frame {i} outlasts the source");
                let b = &theirs[next];
                assert_eq!((frame.width(), frame.height()), (b.0, b.1), "{path} frame {i}");
                let (a, b, n) = without_background_policy(&to_rgba(frame), &b.2);
                worst = worst.min(common::psnr(&a, &b));
                skipped += n;
                covered += want_ms[next];
                next += 1;
            }
            assert_eq!(covered, *ms, "{path}: output frame {i} is not a run of source frames");
        }
        assert_eq!(next, theirs.len(), "{path}: every source frame is shown");
        println!(
            "{path}: {} source frames as {} ({:?} ms), worst frame PSNR {worst:.1} dB (q95, lossy or \
             lossless per frame; {skipped} background-policy pixels)",
            theirs.len(),
            ours.len(),
            got_ms
        );
        // Lossy WebP on small saturated drawings scores 26-27 dB when right;
        // a wrong disposal leaves whole regions wrong, far below that.
        assert!(worst > 24.0, "{path}: a frame at {worst:.1} dB");
    }
}

/// Frame durations (ms) from `webpmux -info`.
fn mux_durations(path: &Path) -> Vec<u32> {
    let info = String::from_utf8(tool("webpmux", &["-info", path.to_str().unwrap()])).unwrap();
    let mut durations = Vec::new();
    let mut in_table = false;
    for line in info.lines() {
        if line.starts_with("No.:") {
            in_table = true;
        } else if in_table
            && let Some(cols) = line.split_once(':').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
            && cols.len() >= 6
        {
            durations.push(cols[5].parse().unwrap());
        }
    }
    durations
}

/// A truncated GIF or WebP serves what decoded (the rows before the cut,
/// the rest transparent or black, as browsers show it) unless
/// `Limits::strict`, which makes it `corrupt`; a file cut before any pixel
/// data is `corrupt` either way.
#[test]
fn truncated_gif_and_webp_lenient_unless_strict() {
    let strict = Limits { strict: true, ..Limits::default() };
    for (path, keep) in
        [("edge/webp/harvesters.lossy.webp", 0.6), ("edge/gif/hat.gif", 0.6), ("edge/gif/bricks-dither.gif", 0.5)]
    {
        let full = common::read_corpus(path);
        let cut = &full[..(full.len() as f64 * keep) as usize];
        let spec = Spec::parse("100x100,png").unwrap();
        let lenient = render(cut, &spec, &Limits::default()).unwrap_or_else(|e| panic!("{path} lenient: {e}"));
        let whole = render(&full, &spec, &Limits::default()).unwrap();
        assert_eq!((lenient.width(), lenient.height()), (whole.width(), whole.height()), "{path}");
        let e = render(cut, &spec, &strict).expect_err(path);
        assert_eq!(e.kind(), thumbnail::ErrorKind::Corrupt, "{path} strict: {e}");
        // The top rows decoded: the first output row matches the whole file's.
        let (w, _, a) = common::decode_rgb(lenient.data());
        let (_, _, b) = common::decode_rgb(whole.data());
        let row = w as usize * 3;
        let psnr = common::psnr(&a[..row * 5], &b[..row * 5]);
        println!(
            "{path} cut to {:.0} %: lenient {}x{}, top rows PSNR {psnr:.1} dB against the whole file; strict: {e}",
            keep * 100.0,
            lenient.width(),
            lenient.height()
        );
        assert!(psnr > 30.0, "{path}: top rows {psnr:.1} dB");
        let header_only = &full[..40.min(full.len())];
        let e = render(header_only, &spec, &Limits::default()).expect_err(path);
        assert!(matches!(e.kind(), thumbnail::ErrorKind::Corrupt), "{path} header only: {e}");
    }
}

/// AVIF output (`--features avif`), decoded by Debian's libvips (libheif
/// with libaom/dav1d): size, alpha, pixels against the PNG output, and
/// orientation baked in; `auto` picks AVIF only up to `avif_max_pixels`
/// and never for animations.
#[cfg(feature = "avif")]
#[test]
fn avif_output_decodes_in_libvips() {
    let decode_avif = |data: &[u8]| -> (u32, u32, Vec<u8>) {
        let file = write_temp("out.avif", data);
        let png = file.with_extension("png");
        tool("vips", &["copy", file.to_str().unwrap(), png.to_str().unwrap()]);
        let d = thumbnail::stages::decode(&std::fs::read(&png).unwrap()).unwrap();
        (d.width(), d.height(), to_rgba(&d))
    };
    for (path, spec) in [("photos/kodak/kodim03.png", "300x"), ("conformance/png/pngsuite/basn6a08.png", "32x32")] {
        let src = common::read_corpus(path);
        let avif = render(&src, &Spec::parse(&format!("{spec},avif")).unwrap(), &Limits::default()).unwrap();
        let png = render(&src, &Spec::parse(&format!("{spec},png")).unwrap(), &Limits::default()).unwrap();
        assert_eq!(avif.media_type(), "image/avif");
        let (w, h, pixels) = decode_avif(avif.data());
        assert_eq!((w, h), (png.width(), png.height()), "{path}");
        let reference = to_rgba(&thumbnail::stages::decode(png.data()).unwrap());
        let psnr = common::psnr(&over_white(&pixels), &over_white(&reference));
        println!("{path} {spec}: AVIF {} bytes, against the PNG output PSNR {psnr:.1} dB", avif.data().len());
        assert!(psnr > 30.0, "{path}: {psnr:.1} dB");
    }
    let spec = Spec::parse("120x120,avif").unwrap();
    let upright =
        render(&common::read_corpus("edge/exif-orientation/Landscape_1.jpg"), &spec, &Limits::default()).unwrap();
    let reference = decode_avif(upright.data()).2;
    for n in [3, 6, 8] {
        let out = render(
            &common::read_corpus(&format!("edge/exif-orientation/Landscape_{n}.jpg")),
            &spec,
            &Limits::default(),
        )
        .unwrap();
        let psnr = common::psnr(&decode_avif(out.data()).2, &reference);
        println!("Landscape_{n} as AVIF: PSNR {psnr:.1} dB against orientation 1");
        assert!(psnr > 25.0, "orientation {n}: {psnr:.1} dB");
    }
    let auto = Spec::parse("1200x,auto").unwrap().negotiate("image/avif,image/webp", true);
    let src = common::read_corpus("photos/kodak/kodim03.png"); // 768x512: 0.39 MP
    assert_eq!(render(&src, &auto, &Limits::default()).unwrap().media_type(), "image/avif");
    let small_cap = Limits { avif_max_pixels: 100_000, ..Limits::default() };
    assert_eq!(render(&src, &auto, &small_cap).unwrap().media_type(), "image/webp");
    let anim = Spec::parse("64x,auto,anim").unwrap().negotiate("image/avif", true);
    let gif = common::read_corpus("edge/animated/chi.gif");
    assert_eq!(render(&gif, &anim, &Limits::default()).unwrap().media_type(), "image/webp");
}
