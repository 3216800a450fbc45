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
    assert_eq!(error("10x10,\u{1b}[31m"), "unknown option '\\x1b[31m'");
}

/// issue 18: error messages quote the offending text as typed (spaces and
/// printable non-ASCII included) and escape only what is unprintable; they
/// used to print every space and non-ASCII character as `?`
/// (`unknown option '?cover'`).
#[test]
fn errors_quote_the_text_readably() {
    assert_eq!(error("200x200, cover"), "unknown option ' cover' (no spaces around ',')");
    assert_eq!(error("200x200,cover "), "unknown option 'cover ' (no spaces around ',')");
    assert_eq!(error("200x200,big cover"), "unknown option 'big cover'");
    assert_eq!(error("200 x200"), "width '200 ' is not a number");
    assert_eq!(error("10x10,grün"), "unknown option 'grün'");
    assert_eq!(error("10x10,bg=ff ff ff"), "bg 'ff ff ff' must be RRGGBB or RGB hex");
    assert_eq!(error("10x10,q 9"), "quality 'q 9' is not a number");
    assert_eq!(error("10x10,a\nb\r\tc"), "unknown option 'a\\nb\\r\\tc'");
    assert_eq!(error("10x10,a\u{7f}\u{85}"), "unknown option 'a\\x7f\\u{0085}'");
    assert_eq!(error("10x10,\u{202e}gpj"), "unknown option '\\u{202e}gpj'");
    assert_eq!(error("10x10,it's\\"), "unknown option 'it\\'s\\\\'");
    assert_eq!(error(&format!("10x10,{}", "y".repeat(40))), format!("unknown option '{}'...", "y".repeat(32)));
}

/// issue 18 decision: a space after a comma is not accepted. Each option
/// has one spelling, canonical strings hold no spaces, and a URL with
/// `%20` in its spec is a typo worth a 400 rather than a second URL for the
/// same thumbnail; the message says what to change.
#[test]
fn spaces_around_commas_are_refused() {
    for text in ["200x200, cover", "200x200 ,cover", " 200x200", "200x200,cover ", "200x200,\tq90"] {
        assert!(Spec::parse(text).is_err(), "{text:?} was accepted");
    }
}

#[test]
fn error_display_has_kind_prefix() {
    let e = Spec::parse("nope").unwrap_err();
    assert_eq!(e.to_string(), "invalid-spec: size 'nope' must be WxH, Wx or xH");
}

#[test]
fn longest_canonical_spec_fits_the_c_buffer_size() {
    // Every slot at its longest canonical token. Two branches: contain with
    // a 9-letter gravity, or cover with a focal point (focus excludes a
    // gravity, and focus and the gravities apply to cover only); `sharpen=N`
    // is longer than `blur=NN` and they exclude each other; `exp=` is not
    // in the canonical form.
    let ops = ",rotate=270,flip,flop,sharpen=5,wm,exp=99999999999";
    let contain =
        canonical(&format!("65535x65535,contain,northwest,jpg,q100,enlarge,bg=123,progressive,noorient{ops}"));
    let cover =
        canonical(&format!("65535x65535,cover,jpg,q100,enlarge,bg=123,progressive,noorient,focus=0.3333,0.6666{ops}"));
    assert_eq!(contain.len(), 112, "{contain}");
    assert_eq!(cover.len(), 118, "{cover}");
    assert_eq!(
        cover,
        "65535x65535,cover,jpeg,q100,enlarge,bg=112233,progressive,noorient,focus=0.333,0.667,rotate=270,flip,flop,sharpen=5,wm"
    );
    let attention = canonical(&format!("65535x65535,cover,attention,jpg,q100,enlarge,bg=123,progressive{ops}"));
    assert!(attention.len() < cover.len());
    // The formats of issue 16: `auto=webp` is the longest format token,
    // and `anim` goes with it.
    let animated = canonical(&format!(
        "65535x65535,cover,auto=webp,q100,enlarge,bg=123,progressive,noorient,focus=0.3333,0.6666{ops},anim"
    ));
    assert_eq!(animated.len(), 128, "{animated}");
    assert!(animated.len() < thumbnail::ffi::THUMBNAIL_SPEC_CANONICAL_MAX);
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
fn operation_options_parse_and_canonicalise() {
    let s = Spec::parse("200x100,cover,focus=0.25,0.75,rotate=90,flip,flop,sharpen=4,wm").unwrap();
    assert_eq!(s.focus, Some(thumbnail::Focus { x: 250, y: 750 }));
    assert_eq!((s.rotate, s.flip, s.flop, s.sharpen, s.blur, s.watermark), (90, true, true, 4, 0, true));
    assert_eq!(Spec::parse("1x1,sharpen").unwrap().sharpen, 2);
    assert_eq!(Spec::parse("1x1,blur=7").unwrap().blur, 7);
    assert_eq!(Spec::parse("9x9,cover,attention").unwrap().gravity, Gravity::Attention);
    assert_eq!(Spec::parse("9x9,cover,entropy").unwrap().gravity, Gravity::Entropy);
    // Canonical: appended after noorient, defaults dropped, the focus
    // kept to 3 decimals without trailing zeros.
    assert_eq!(canonical("200x200,wm,sharpen=2,flop,flip,rotate=0,cover"), "200x200,cover,flip,flop,sharpen,wm");
    assert_eq!(canonical("200x200,rotate=270,noorient"), "200x200,noorient,rotate=270");
    assert_eq!(canonical("200x200,blur=3,q90"), "200x200,q90,blur=3");
    assert_eq!(canonical("9x9,cover,focus=0.5000,1.0"), "9x9,cover,focus=0.5,1");
    assert_eq!(canonical("9x9,cover,focus=0,0.1234"), "9x9,cover,focus=0,0.123");
    assert_eq!(canonical("9x9,cover,focus=0.9996,0.0005"), "9x9,cover,focus=1,0.001");
    assert_eq!(canonical("9x9,entropy,cover,q70"), "9x9,cover,entropy,q70");
    assert_eq!(canonical("9x9,exp=1767225600"), "9x9");
    // Existing canonical strings are unchanged.
    assert_eq!(
        canonical("9x9,noorient,progressive,bg=000,enlarge,q5,png,north,cover"),
        "9x9,cover,north,png,q5,enlarge,bg=000000,progressive,noorient"
    );
    for text in
        ["300x200,cover,attention,q90", "1x1,cover,focus=0.125,0.875,rotate=180,flop,sharpen=5", "10x,blur=50,wm"]
    {
        assert_eq!(canonical(text), text, "already canonical");
    }
}

#[test]
fn operation_errors_say_what_is_wrong() {
    assert_eq!(error("10x10,rotate=45"), "rotate '45' must be 0, 90, 180 or 270");
    assert_eq!(error("10x10,rotate=90,rotate=180"), "rotate given more than once");
    assert_eq!(error("10x10,flip,flip"), "flip given more than once");
    assert_eq!(error("10x10,sharpen=0"), "sharpen 0 out of range 1..=5");
    assert_eq!(error("10x10,sharpen=6"), "sharpen 6 out of range 1..=5");
    assert_eq!(error("10x10,sharpen,sharpen=3"), "sharpen given more than once");
    assert_eq!(error("10x10,blur=51"), "blur 51 out of range 1..=50");
    assert_eq!(error("10x10,blur=x"), "blur 'x' is not a number");
    assert_eq!(error("10x10,blur=2,sharpen"), "sharpen and blur cannot be combined");
    assert_eq!(error("10x10,exp=soon"), "exp 'soon' is not a UNIX time");
    assert_eq!(error("10x10,wm,wm"), "wm given more than once");
    assert_eq!(error("10x10,attention"), "gravity applies only to cover or contain");
    assert_eq!(error("10x10,contain,entropy"), "entropy applies only to cover");
    assert_eq!(error("10x10,cover,focus=0.5,0.5,focus=0.1,0.1"), "focus given more than once");
    assert_eq!(error("10x10,cover,focus=1.5,0"), "focus X 1.5 out of range 0..1");
    assert_eq!(
        error("10x10,cover,focus=0.1234567,0"),
        "focus X '0.1234567' must be a fraction 0..1 with up to 6 decimals (focus=X,Y)"
    );
    assert_eq!(
        error("10x10,cover,focus=.5,0"),
        "focus X '.5' must be a fraction 0..1 with up to 6 decimals (focus=X,Y)"
    );
    assert_eq!(error("10x10,cover,focus=0.5"), "focus needs X,Y: focus=X,Y (fractions 0..1)");
}

#[test]
fn header_defines_the_same_canonical_max() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/thumbnail.h")).unwrap();
    let define = format!("#define THUMBNAIL_SPEC_CANONICAL_MAX {}\n", thumbnail::ffi::THUMBNAIL_SPEC_CANONICAL_MAX);
    assert!(header.contains(&define), "include/thumbnail.h lacks {define:?}");
}
