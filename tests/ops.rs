//! Issue 19's operations, checked by pixels on synthetic images: smart
//! crops contain the salient object for every box shape, entropy keeps the
//! textured side, focus centres its point, rotation and mirroring move a
//! known colour where they should (with EXIF orientation too), sharpen
//! raises edge contrast, and a watermark lands at its corner with the
//! expected alpha.

mod common;

use common::{decode_rgb, psnr, read_corpus};
use thumbnail::{ErrorKind, Limits, Overlay, RenderOptions, Spec};

const W: u32 = 800;
const H: u32 = 600;
const GREY: [u8; 3] = [128, 128, 128];

/// Encodes RGB or RGBA pixels as PNG.
fn png(width: u32, height: u32, channels: usize, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(if channels == 4 { png::ColorType::Rgba } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(data).unwrap();
    out
}

fn render(src: &[u8], spec: &str) -> (u32, u32, Vec<u8>) {
    let spec = Spec::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let thumb = thumbnail::render(src, &spec, &Limits::default()).unwrap();
    decode_rgb(thumb.data())
}

/// Texture that survives downscaling: `size`-pixel square cells, each
/// black or white at random (a hash of the cell).
fn cell(size: i32, x: i32, y: i32) -> [u8; 3] {
    let (cx, cy) = (x.div_euclid(size) as u32, y.div_euclid(size) as u32);
    let h = cx.wrapping_mul(0x9E37_79B1) ^ cy.wrapping_mul(0x85EB_CA77);
    let h = (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
    if (h >> 16) & 1 == 1 { [255; 3] } else { [0; 3] }
}

/// Grey 800x600 with one object around (cx, cy) (fractions); `paint`
/// gives the object's pixel at offset (dx, dy) from its centre, or None.
fn scene(cx: f64, cy: f64, paint: impl Fn(i32, i32) -> Option<[u8; 3]>) -> Vec<u8> {
    let (ox, oy) = ((cx * f64::from(W)) as i32, (cy * f64::from(H)) as i32);
    let mut data = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H as i32 {
        for x in 0..W as i32 {
            data.extend_from_slice(&paint(x - ox, y - oy).unwrap_or(GREY));
        }
    }
    png(W, H, 3, &data)
}

const SKIN: [u8; 3] = [224, 172, 140];
const BLUE: [u8; 3] = [40, 90, 230];
/// The object's centre: off-centre on both axes, so every box shape's
/// centred crop misses it (or all but a sliver of it).
const AT: (f64, f64) = (0.92, 0.86);

fn disc(colour: [u8; 3]) -> impl Fn(i32, i32) -> Option<[u8; 3]> {
    move |dx, dy| (dx * dx + dy * dy <= 40 * 40).then_some(colour)
}

fn noise_block(dx: i32, dy: i32) -> Option<[u8; 3]> {
    (dx.abs() < 40 && dy.abs() < 36).then(|| cell(10, dx, dy))
}

/// Pixels of `img` that belong to the object, by colour.
fn count(img: &[u8], object: &dyn Fn(&[u8]) -> bool) -> usize {
    img.chunks_exact(3).filter(|p| object(p)).count()
}

fn near(colour: [u8; 3]) -> impl Fn(&[u8]) -> bool {
    move |p| p.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 12)
}

fn textured(p: &[u8]) -> bool {
    p.iter().any(|&v| v.abs_diff(128) > 40)
}

const BOXES: [&str; 5] = ["300x100", "100x300", "160x200", "400x150", "120x120"];

/// For every box shape: the smart crop holds at least 90% of what a crop
/// centred on the object holds, and the centred crop holds under 10%.
fn check_smart(gravity: &str, src: &[u8], object: &dyn Fn(&[u8]) -> bool) {
    for size in BOXES {
        let reference = count(&render(src, &format!("{size},cover,png,focus={},{}", AT.0, AT.1)).2, object);
        let smart = count(&render(src, &format!("{size},cover,{gravity},png")).2, object);
        let centre = count(&render(src, &format!("{size},cover,png")).2, object);
        println!("{gravity} {size}: smart {smart}, on the object {reference}, centre {centre}");
        assert!(reference > 50, "{size}: the object is visible in the reference crop");
        assert!(smart * 10 >= reference * 9, "{gravity} {size}: {smart} of {reference} object pixels");
        assert!(centre * 10 < reference, "{size}: the centred crop must miss the object ({centre})");
    }
}

#[test]
fn attention_finds_a_skin_coloured_blob() {
    check_smart("attention", &scene(AT.0, AT.1, disc(SKIN)), &near(SKIN));
}

#[test]
fn attention_finds_a_saturated_patch_on_grey() {
    check_smart("attention", &scene(AT.0, AT.1, disc(BLUE)), &near(BLUE));
}

#[test]
fn attention_finds_texture() {
    check_smart("attention", &scene(AT.0, AT.1, noise_block), &textured);
}

#[test]
fn entropy_keeps_the_textured_side() {
    check_smart("entropy", &scene(AT.0, AT.1, noise_block), &textured);
    // A textured half (the right half, or the bottom one for boxes wider
    // than the source, whose crops move vertically): the crop keeps as
    // much of it as a crop pushed against that side.
    let wide = |size: &str| {
        let (w, h) = size.split_once('x').unwrap();
        w.parse::<f64>().unwrap() / h.parse::<f64>().unwrap() > f64::from(W) / f64::from(H)
    };
    // Cells large enough that a sub-pixel shift of the crop does not blur
    // them to grey at 120 px.
    let right = scene(0.0, 0.0, |dx, dy| (dx >= 400).then(|| cell(24, dx, dy)));
    let bottom = scene(0.0, 0.0, |dx, dy| (dy >= 300).then(|| cell(24, dx, dy)));
    for size in BOXES {
        let (src, side) = if wide(size) { (&bottom, "south") } else { (&right, "east") };
        let best = count(&render(src, &format!("{size},cover,png,{side}")).2, &textured);
        let smart = count(&render(src, &format!("{size},cover,entropy,png")).2, &textured);
        let centre = count(&render(src, &format!("{size},cover,png")).2, &textured);
        println!("entropy half {size}: {smart} textured, against the {side} edge {best}, centre {centre}");
        assert!(smart * 10 >= best * 9 && best * 10 >= centre * 12, "{size}: {smart} / {best} / {centre}");
    }
}

#[test]
fn smart_gravities_apply_to_cover_only() {
    for spec in ["100x100,attention", "100x100,contain,entropy", "100x100,fill,attention"] {
        let e = Spec::parse(spec).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSpec, "{spec}");
    }
    assert!(
        Spec::parse("100x100,contain,attention").unwrap_err().message().contains("attention applies only to cover")
    );
}

#[test]
fn focus_centres_its_point() {
    let src = scene(0.3, 0.4, disc(BLUE));
    // On the axis the box cuts, the disc's centroid sits at the centre.
    for (size, vertical) in [("200x100", true), ("100x200", false)] {
        let (w, h, img) = render(&src, &format!("{size},cover,png,focus=0.3,0.4"));
        let blue = near(BLUE);
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (i, p) in img.chunks_exact(3).enumerate() {
            if blue(p) {
                sx += f64::from(i as u32 % w);
                sy += f64::from(i as u32 / w);
                n += 1.0;
            }
        }
        assert!(n > 100.0);
        let (at, middle) = if vertical { (sy / n, f64::from(h) / 2.0) } else { (sx / n, f64::from(w) / 2.0) };
        assert!((at - middle).abs() < 1.0, "{size}: centroid {at}, centre {middle}");
    }
}

#[test]
fn focus_is_in_the_upright_frame_and_survives_rotation() {
    // The same upright point on an orientation-8 file and on orientation 1.
    for spec in ["200x200,cover,png,focus=0.2,0.5", "200x200,cover,png,focus=0.85,0.3,rotate=90,flop"] {
        let a = render(&read_corpus("edge/exif-orientation/Landscape_1.jpg"), spec);
        let b = render(&read_corpus("edge/exif-orientation/Landscape_8.jpg"), spec);
        let db = psnr(&a.2, &b.2);
        assert!(db > 25.0, "{spec}: {db:.1} dB");
    }
    let left = render(&read_corpus("edge/exif-orientation/Landscape_1.jpg"), "200x200,cover,png,focus=0,0.5");
    let right = render(&read_corpus("edge/exif-orientation/Landscape_1.jpg"), "200x200,cover,png,focus=1,0.5");
    assert!(psnr(&left.2, &right.2) < 18.0, "focus moves the crop");
}

#[test]
fn focus_errors_are_clear() {
    for (spec, says) in [
        ("100x100,cover,focus=0.5", "focus needs X,Y"),
        ("100x100,cover,focus=0.5,", "focus Y '' must be a fraction"),
        ("100x100,cover,focus=0.5,1.2", "focus Y 1.2 out of range 0..1"),
        ("100x100,cover,focus=-1,0.5", "focus X '-1' must be a fraction"),
        ("100x100,cover,focus=0.5,q80", "focus Y 'q80' must be a fraction"),
        ("100x100,focus=0.5,0.5", "focus applies only to cover"),
        ("100x100,cover,north,focus=0.5,0.5", "focus and a gravity cannot be combined"),
        ("100x100,cover,focus", "focus needs a point"),
    ] {
        let e = Spec::parse(spec).unwrap_err();
        assert!(e.message().contains(says), "{spec}: {e}");
    }
}

/// A 60x40 grey PNG with a red 10x10 square at its top-left corner.
fn marked() -> Vec<u8> {
    let mut data = Vec::new();
    for y in 0..40 {
        for x in 0..60 {
            data.extend_from_slice(if x < 10 && y < 10 { &[255, 0, 0] } else { &GREY });
        }
    }
    png(60, 40, 3, &data)
}

/// Which corner of `img` is red: "tl", "tr", "bl" or "br".
fn red_corner(w: u32, h: u32, img: &[u8]) -> &'static str {
    let red = |x: u32, y: u32| {
        let p = &img[((y * w + x) * 3) as usize..][..3];
        p[0] > 200 && p[1] < 60 && p[2] < 60
    };
    let corners = [("tl", 2, 2), ("tr", w - 3, 2), ("bl", 2, h - 3), ("br", w - 3, h - 3)];
    let found: Vec<_> = corners.iter().filter(|(_, x, y)| red(*x, *y)).map(|(n, _, _)| *n).collect();
    assert_eq!(found.len(), 1, "exactly one red corner: {found:?}");
    found[0]
}

#[test]
fn rotation_and_mirrors_move_a_known_colour() {
    let src = marked();
    for (ops, size, corner) in [
        ("", (60, 40), "tl"),
        (",rotate=90", (40, 60), "tr"),
        (",rotate=180", (60, 40), "br"),
        (",rotate=270", (40, 60), "bl"),
        (",flip", (60, 40), "bl"),
        (",flop", (60, 40), "tr"),
        (",flip,flop", (60, 40), "br"),
        (",rotate=90,flip", (40, 60), "br"),
        // Applied in canonical order whatever the spec's: rotate, then flop.
        (",flop,rotate=270", (40, 60), "br"),
    ] {
        let (w, h, img) = render(&src, &format!("100x100,png{ops}"));
        assert_eq!((w, h), size, "{ops}");
        assert_eq!(red_corner(w, h, &img), corner, "{ops}");
    }
    // The box applies to the rotated image.
    let (w, h, _) = render(&src, "30x,png,rotate=90");
    assert_eq!((w, h), (30, 45));
}

#[test]
fn rotation_comes_after_exif_orientation() {
    // Every EXIF orientation of the same photo, turned a quarter, matches.
    let upright = render(&read_corpus("edge/exif-orientation/Landscape_1.jpg"), "150x150,png,rotate=90");
    assert_eq!((upright.0, upright.1), (100, 150));
    for o in 2..=8 {
        let path = format!("edge/exif-orientation/Landscape_{o}.jpg");
        let other = render(&read_corpus(&path), "150x150,png,rotate=90");
        let db = psnr(&upright.2, &other.2);
        assert!(db > 25.0, "orientation {o}: {db:.1} dB");
    }
    let unrotated = render(&read_corpus("edge/exif-orientation/Landscape_1.jpg"), "150x150,png,rotate=270");
    assert!(psnr(&upright.2, &unrotated.2) < 18.0);
}

/// Largest difference between neighbours across a vertical edge, in row y.
fn edge_contrast(w: u32, img: &[u8], y: u32) -> i32 {
    let row = &img[(y * w * 3) as usize..][..(w * 3) as usize];
    let g: Vec<i32> = row.chunks_exact(3).map(|p| i32::from(p[1])).collect();
    // Contrast across the edge: the overshoot's span 4 px either side.
    let mid = (w / 2) as usize;
    let lo = g[mid - 4..mid + 4].iter().min().unwrap();
    let hi = g[mid - 4..mid + 4].iter().max().unwrap();
    hi - lo
}

#[test]
fn sharpen_raises_edge_contrast_and_blur_lowers_it() {
    // Dark left half, light right half: resizing softens the step.
    let data: Vec<u8> = (0..W * H).flat_map(|i| if i % W < W / 2 { [60, 60, 60] } else { [190, 190, 190] }).collect();
    let src = png(W, H, 3, &data);
    let (w, _, plain) = render(&src, "200x,png");
    let base = edge_contrast(w, &plain, 50);
    let mut last = base;
    for level in 1..=5 {
        let (_, _, sharp) = render(&src, &format!("200x,png,sharpen={level}"));
        let c = edge_contrast(w, &sharp, 50);
        println!("sharpen={level}: edge contrast {c} (plain {base})");
        assert!(c > last, "level {level}: {c} after {last}");
        last = c;
    }
    assert!(last >= base + 40, "sharpen=5 raises the contrast measurably: {last} vs {base}");
    // A gradient measure: the step's steepest neighbour difference drops with blur.
    let steep = |img: &[u8]| img[..(w * 3) as usize].chunks_exact(3).map(|p| i32::from(p[1])).collect::<Vec<_>>();
    let max_step = |row: Vec<i32>| row.windows(2).map(|p| (p[1] - p[0]).abs()).max().unwrap();
    let plain_step = max_step(steep(&plain));
    let (_, _, blurred) = render(&src, "200x,png,blur=4");
    let blurred_step = max_step(steep(&blurred));
    assert!(blurred_step * 3 < plain_step, "blur: {blurred_step} vs {plain_step}");
    assert!(Spec::parse("200x,sharpen,blur=2").is_err());
}

/// A 40x20 overlay: opaque red left half, half-transparent blue right half.
fn logo() -> Vec<u8> {
    let mut data = Vec::new();
    for _ in 0..20 {
        for x in 0..40 {
            data.extend_from_slice(if x < 20 { &[255, 0, 0, 255] } else { &[0, 0, 255, 128] });
        }
    }
    png(40, 20, 4, &data)
}

fn white(w: u32, h: u32) -> Vec<u8> {
    png(w, h, 3, &vec![255; (w * h * 3) as usize])
}

fn render_wm(src: &[u8], spec: &str, overlay: &Overlay) -> thumbnail::Result<(u32, u32, Vec<u8>)> {
    let spec = Spec::parse(spec).unwrap();
    let options = RenderOptions::default().overlay(Some(overlay));
    let thumb = thumbnail::render_with(src, &spec, &Limits::default(), &options)?;
    Ok(decode_rgb(thumb.data()))
}

#[test]
fn watermark_lands_at_its_corner_with_its_alpha() {
    let overlay = Overlay::new(&logo(), "gravity=southeast margin=8 opacity=0.6").unwrap();
    assert_eq!(overlay.size(), (40, 20));
    let (w, h, img) = render_wm(&white(800, 600), "400x300,png", &overlay).unwrap();
    assert_eq!((w, h), (400, 300));
    let px = |x: u32, y: u32| <[u8; 3]>::try_from(&img[((y * w + x) * 3) as usize..][..3]).unwrap();
    // The overlay spans x 352..392, y 272..292.
    // Opaque red at 0.6: 255 over white stays 255 red, the others 255 × 0.4.
    assert_eq!(px(355, 280), [255, 102, 102]);
    // Blue at alpha 128 × 0.6 = 77: 255 - 77 = 178 red and green.
    assert_eq!(px(385, 280), [178, 178, 255]);
    for (x, y) in [(351, 280), (392, 280), (360, 271), (360, 292), (10, 10), (399, 299)] {
        assert_eq!(px(x, y), [255, 255, 255], "({x}, {y}) outside the overlay");
    }
    // The same with the overlay scaled to a fifth of the width (80x40),
    // at the northwest corner.
    let overlay = Overlay::new(&logo(), "gravity=northwest,margin=0,scale=0.2").unwrap();
    let (w, _, img) = render_wm(&white(800, 600), "400x300,jpeg,q100", &overlay).unwrap();
    let px = |x: u32, y: u32| <[u8; 3]>::try_from(&img[((y * w + x) * 3) as usize..][..3]).unwrap();
    let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6);
    assert!(close(px(20, 20), [255, 0, 0]), "{:?}", px(20, 20));
    assert!(close(px(70, 20), [127, 127, 255]), "{:?}", px(70, 20));
    assert!(close(px(90, 20), [255, 255, 255]), "{:?}", px(90, 20));
    assert!(close(px(20, 50), [255, 255, 255]), "{:?}", px(20, 50));
}

#[test]
fn watermark_by_spec_and_its_errors() {
    let only_wm = Overlay::new(&logo(), "apply=wm").unwrap();
    let src = white(200, 100);
    let (_, _, plain) = render_wm(&src, "200x100,png", &only_wm).unwrap();
    assert!(plain.iter().all(|&v| v == 255), "apply=wm: no wm in the spec, no watermark");
    let (_, _, marked) = render_wm(&src, "200x100,png,wm", &only_wm).unwrap();
    assert_ne!(plain, marked);
    // wm without an overlay is a spec error, not a silent unwatermarked image.
    let e = thumbnail::render(&src, &Spec::parse("200x100,wm").unwrap(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.message().contains("no watermark overlay"), "{e}");
    // Bad overlays fail when made, with the decoder's kind.
    assert_eq!(Overlay::new(b"not an image", "").unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(Overlay::new(&logo()[..60], "").unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(Overlay::new(&logo(), "opacity=2").unwrap_err().kind(), ErrorKind::InvalidSpec);
    // The id names image and options.
    let a = Overlay::new(&logo(), "opacity=0.5").unwrap();
    let b = Overlay::new(&logo(), "opacity=0.6").unwrap();
    assert_eq!(a.id().len(), 16);
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id(), Overlay::new(&logo(), "opacity=0.5 gravity=southeast").unwrap().id());
}

#[test]
fn watermark_on_gray_and_transparent_thumbnails() {
    // A gray source gets a coloured overlay in colour.
    let overlay = Overlay::new(&logo(), "gravity=center").unwrap();
    let gray = {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, 100, 50);
        e.set_color(png::ColorType::Grayscale);
        e.write_header().unwrap().write_image_data(&[200; 5000]).unwrap();
        out
    };
    let (w, _, img) = render_wm(&gray, "100x50,png", &overlay).unwrap();
    let p = &img[((25 * w + 35) * 3) as usize..][..3];
    assert_eq!(p, [255, 0, 0]);
    // Onto a fully transparent PNG thumbnail: the overlay's own alpha.
    let clear = png(100, 50, 4, &[0; 100 * 50 * 4]);
    let spec = Spec::parse("100x50,png").unwrap();
    let thumb =
        thumbnail::render_with(&clear, &spec, &Limits::default(), &RenderOptions::default().overlay(Some(&overlay)))
            .unwrap();
    let mut d = png::Decoder::new(std::io::Cursor::new(thumb.data()));
    d.set_transformations(png::Transformations::EXPAND);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    r.next_frame(&mut buf).unwrap();
    let at = |x: usize, y: usize| &buf[(y * 100 + x) * 4..][..4];
    assert_eq!(at(35, 25), [255, 0, 0, 255]);
    assert_eq!(at(55, 25), [0, 0, 255, 128]);
    assert_eq!(at(5, 5)[3], 0);
}
