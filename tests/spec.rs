//! The spec grammar: round trips, canonical form, every error message.

use thumbnail::{ErrorKind, Fit, Format, Gravity, Rgb, Spec};

fn canonical(text: &str) -> String {
    Spec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).canonical()
}

fn error(text: &str) -> String {
    let e = Spec::parse(text).expect_err(text);
    assert_eq!(e.kind(), ErrorKind::InvalidSpec, "{text}");
    e.message().to_owned()
}

#[test]
fn sizes() {
    let s = Spec::parse("200x100").unwrap();
    assert_eq!((s.width, s.height), (Some(200), Some(100)));
    let s = Spec::parse("200x").unwrap();
    assert_eq!((s.width, s.height), (Some(200), None));
    let s = Spec::parse("x100").unwrap();
    assert_eq!((s.width, s.height), (None, Some(100)));
    assert_eq!(canonical("65535x1"), "65535x1");
}

#[test]
fn every_option_parses() {
    let s = Spec::parse("300x200,cover,southwest,png,q95,enlarge,bg=0a0b0c,progressive,noorient").unwrap();
    assert_eq!(s.fit, Fit::Cover);
    assert_eq!(s.gravity, Gravity::SouthWest);
    assert_eq!(s.format, Some(Format::Png));
    assert_eq!(s.quality, 95);
    assert!(s.enlarge && s.progressive && !s.orient);
    assert_eq!(s.background, Rgb(10, 11, 12));
    assert_eq!(Spec::parse("1x1,bg=f0a").unwrap().background, Rgb(0xff, 0x00, 0xaa));
    assert_eq!(Spec::parse("1x1,jpg").unwrap().format, Some(Format::Jpeg));
}

#[test]
fn canonical_form_orders_options_and_drops_defaults() {
    assert_eq!(canonical("200x200,q80"), "200x200");
    assert_eq!(canonical("200x200,inside"), "200x200");
    assert_eq!(canonical("200x200,q90,cover"), "200x200,cover,q90");
    assert_eq!(canonical("200x200,bg=FFFFFF,contain"), "200x200,contain");
    assert_eq!(canonical("200x200,bg=fff,contain"), "200x200,contain");
    assert_eq!(canonical("200x200,jpg"), "200x200,jpeg");
    assert_eq!(
        canonical("9x9,noorient,progressive,bg=000,enlarge,q5,png,north,cover"),
        "9x9,cover,north,png,q5,enlarge,bg=000000,progressive,noorient"
    );
    // Equal options, any order: one string.
    let a = canonical("100x50,enlarge,cover,q70,east");
    let b = canonical("100x50,east,q70,cover,enlarge");
    assert_eq!(a, b);
}

#[test]
fn canonical_round_trips() {
    for text in [
        "1x1",
        "200x",
        "x200",
        "300x200,cover,northeast,q1,progressive",
        "300x200,contain,south,png,bg=123456",
        "300x200,fill,enlarge,noorient",
    ] {
        let once = canonical(text);
        assert_eq!(once, text, "already canonical");
        assert_eq!(canonical(&once), once);
        assert_eq!(Spec::parse(&once).unwrap(), Spec::parse(text).unwrap());
    }
}

#[test]
fn every_error_says_what_is_wrong() {
    assert_eq!(error(""), "empty spec");
    assert_eq!(error(&"1".repeat(300)), "spec longer than 256 bytes");
    assert_eq!(error("200"), "size '200' must be WxH, Wx or xH");
    assert_eq!(error("x"), "size needs a width or a height");
    assert_eq!(error("0x10"), "width 0 out of range 1..=65535");
    assert_eq!(error("10x65536"), "height 65536 out of range 1..=65535");
    assert_eq!(error("-5x10"), "width '-5' is not a number");
    assert_eq!(error("10xabc"), "height 'abc' is not a number");
    assert_eq!(error("10x10,"), "empty option");
    assert_eq!(error("10x10,bogus"), "unknown option 'bogus'");
    assert_eq!(error("10x10,Cover"), "unknown option 'Cover'");
    assert_eq!(error("10x10,cover,fill"), "fit given more than once");
    assert_eq!(error("10x10,cover,north,south"), "gravity given more than once");
    assert_eq!(error("10x10,png,jpeg"), "format given more than once");
    assert_eq!(error("10x10,q0"), "quality 0 out of range 1..=100");
    assert_eq!(error("10x10,q101"), "quality 101 out of range 1..=100");
    assert_eq!(error("10x10,q"), "quality 'q' is not a number");
    assert_eq!(error("10x10,qx"), "quality 'qx' is not a number");
    assert_eq!(error("10x10,q80,q80"), "quality given more than once");
    assert_eq!(error("10x10,enlarge,enlarge"), "enlarge given more than once");
    assert_eq!(error("10x10,bg=12345"), "bg '12345' must be RRGGBB or RGB hex");
    assert_eq!(error("10x10,bg=gggggg"), "bg 'gggggg' must be RRGGBB or RGB hex");
    assert_eq!(error("10x10,north"), "gravity applies only to cover or contain");
    assert_eq!(error("10x,contain"), "contain needs both width and height");
    assert_eq!(error("x10,fill"), "fill needs both width and height");
    assert_eq!(error("10x10,\u{1b}[31m"), "unknown option '?[31m'");
}

#[test]
fn error_display_has_kind_prefix() {
    let e = Spec::parse("nope").unwrap_err();
    assert_eq!(e.to_string(), "invalid-spec: size 'nope' must be WxH, Wx or xH");
}

#[test]
fn longest_canonical_spec_fits_the_c_buffer_size() {
    let longest = canonical("65535x65535,contain,northwest,jpg,q100,enlarge,bg=123,progressive,noorient");
    assert_eq!(longest.len(), 78, "{longest}");
    assert!(longest.len() < thumbnail::ffi::THUMBNAIL_SPEC_CANONICAL_MAX);
    // The formats of issue 16: `auto=webp` is the longest format token.
    let longest = canonical("65535x65535,contain,northwest,auto=webp,q100,enlarge,bg=123,progressive,noorient,anim");
    assert_eq!(longest.len(), 88, "{longest}");
    assert!(longest.len() < thumbnail::ffi::THUMBNAIL_SPEC_CANONICAL_MAX);
}

#[test]
fn formats_auto_and_anim() {
    assert_eq!(Spec::parse("1x1,webp").unwrap().format, Some(Format::Webp));
    assert_eq!(Spec::parse("1x1,avif").unwrap().format, Some(Format::Avif));
    let s = Spec::parse("1x1,auto").unwrap();
    assert_eq!((s.format, s.auto), (None, Some(thumbnail::Bucket::Source)));
    assert!(s.varies_on_accept() && !Spec::parse("1x1,webp").unwrap().varies_on_accept());
    assert!(Spec::parse("1x1,anim").unwrap().animate);
    // Canonical: formats where jpeg prints, anim last; old strings unchanged.
    assert_eq!(canonical("200x200,anim,q90,webp,cover"), "200x200,cover,webp,q90,anim");
    assert_eq!(canonical("200x200,noorient,anim,auto"), "200x200,auto,noorient,anim");
    assert_eq!(canonical("200x200,auto=avif,q70"), "200x200,auto=avif,q70");
    // Negotiation names the bucket, never the header.
    let auto = Spec::parse("200x200,auto").unwrap();
    assert_eq!(auto.negotiate("image/webp,*/*", false).canonical(), "200x200,auto=webp");
    assert_eq!(auto.negotiate("*/*", true).canonical(), "200x200,auto");
    let fixed = Spec::parse("200x200,png").unwrap();
    assert_eq!(fixed.negotiate("image/webp", true), fixed);
    // WebP's side limit is a spec error when the spec names the box.
    assert_eq!(error("16384x10,webp"), "webp output is at most 16383 pixels a side; the spec asks for 16384");
    assert_eq!(canonical("16383x16383,webp"), "16383x16383,webp");
    assert_eq!(error("10x10,webp,auto"), "format given more than once");
    assert_eq!(error("10x10,anim,anim"), "anim given more than once");
    assert_eq!(error("10x10,anim,jpeg"), "anim needs animated output: webp or auto, not jpeg");
    assert_eq!(error("10x10,avif,anim"), "anim needs animated output: webp or auto, not avif");
    assert_eq!(error("10x10,auto=jpeg"), "unknown option 'auto=jpeg'");
}

#[test]
fn header_defines_the_same_canonical_max() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/thumbnail.h")).unwrap();
    let define = format!("#define THUMBNAIL_SPEC_CANONICAL_MAX {}\n", thumbnail::ffi::THUMBNAIL_SPEC_CANONICAL_MAX);
    assert!(header.contains(&define), "include/thumbnail.h lacks {define:?}");
}
