//! EXIF orientation by pixels: all eight orientations of the same photo give
//! the same upright thumbnail, and a box is interpreted after rotation.

mod common;

use common::{decode_rgb, psnr, read_corpus};
use thumbnail::{Limits, Spec};

fn thumb(path: &str, spec: &str) -> (u32, u32, Vec<u8>) {
    let spec = Spec::parse(spec).unwrap();
    let t = thumbnail::render(&read_corpus(path), &spec, &Limits::default()).unwrap();
    decode_rgb(t.data())
}

fn check_family(prefix: &str, want: (u32, u32)) {
    let reference = thumb(&format!("edge/exif-orientation/{prefix}_1.jpg"), "300x300,png");
    assert_eq!((reference.0, reference.1), want);
    for o in [0, 2, 3, 4, 5, 6, 7, 8] {
        let path = format!("edge/exif-orientation/{prefix}_{o}.jpg");
        let upright = thumb(&path, "300x300,png");
        assert_eq!((upright.0, upright.1), want, "{path}");
        let db = psnr(&reference.2, &upright.2);
        // The eight files are separately encoded JPEGs of one picture, so
        // they match closely but not exactly.
        println!("{path}: {db:.1} dB");
        assert!(db > 25.0, "{path}: {db:.1} dB against orientation 1");
        if o >= 2 {
            // Without orientation the picture is not upright: the check above can fail.
            let raw = thumb(&path, "300x300,png,noorient");
            if (raw.0, raw.1) == want {
                let db_raw = psnr(&reference.2, &raw.2);
                println!("{path} unrotated: {db_raw:.1} dB");
                assert!(db_raw < 18.0, "{path}: unrotated matched at {db_raw:.1} dB");
            }
        }
    }
}

#[test]
fn landscape_orientations_are_upright() {
    check_family("Landscape", (300, 200));
}

#[test]
fn portrait_orientations_are_upright() {
    check_family("Portrait", (200, 300));
}

#[test]
fn box_is_interpreted_after_rotation() {
    // Stored 1200x1800 with orientation 6 shows as 1800x1200.
    let (w, h, _) = thumb("edge/exif-orientation/Landscape_6.jpg", "300x");
    assert_eq!((w, h), (300, 200));
    let (w, h, _) = thumb("edge/exif-orientation/Landscape_6.jpg", "300x,noorient");
    assert_eq!((w, h), (300, 450));
}

#[test]
fn png_exif_orientation_rotates_clockwise() {
    let path = "edge/exif-orientation/png-eXIf-orientation6.png";
    let (w, h, shown) = thumb(path, "100x100,png");
    let (sw, sh, stored) = thumb(path, "100x100,png,noorient");
    assert_eq!((w, h), (sh, sw));
    // Orientation 6: displayed (x, y) = stored (y, H-1-x).
    let mut rotated = Vec::with_capacity(stored.len());
    for y in 0..h as usize {
        for x in 0..w as usize {
            let at = ((sh as usize - 1 - x) * sw as usize + y) * 3;
            rotated.extend_from_slice(&stored[at..at + 3]);
        }
    }
    let db = psnr(&shown, &rotated);
    assert!(db > 40.0, "{db:.1} dB");
}

#[test]
fn cover_crop_follows_gravity_after_rotation() {
    // Cropping north of the upright image equals cropping north of the
    // orientation-1 file.
    let a = thumb("edge/exif-orientation/Landscape_1.jpg", "200x200,cover,north,png");
    let b = thumb("edge/exif-orientation/Landscape_8.jpg", "200x200,cover,north,png");
    let db = psnr(&a.2, &b.2);
    println!("north: {db:.1} dB");
    assert!(db > 25.0, "north: {db:.1} dB");
    let c = thumb("edge/exif-orientation/Landscape_8.jpg", "200x200,cover,west,png");
    let d = thumb("edge/exif-orientation/Landscape_1.jpg", "200x200,cover,west,png");
    let db = psnr(&c.2, &d.2);
    println!("west: {db:.1} dB");
    assert!(db > 25.0, "west: {db:.1} dB");
    // And the two gravities differ, so the comparison can fail.
    assert!(psnr(&a.2, &d.2) < 18.0);
}
