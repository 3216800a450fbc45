//! The spec grammar shared by the CLI, nginx, Lua, Go and C:
//!
//! ```text
//! SPEC    = SIZE *( "," OPTION )
//! SIZE    = W "x" H | W "x" | "x" H          (1..=65535 each)
//! OPTION  = "inside" | "cover" | "contain" | "fill"            (fit, default inside)
//!         | "center" | "north" | "south" | "east" | "west"
//!         | "northeast" | "northwest" | "southeast" | "southwest"  (gravity: cover, contain)
//!         | "attention" | "entropy"                            (smart gravity: cover only)
//!         | "q" 1..=100                                        (quality, default 80)
//!         | "jpeg" | "jpg" | "png"                             (output format, default: the source's)
//!         | "enlarge"                                          (allow upscaling)
//!         | "bg=" RRGGBB | "bg=" RGB                          (background, default ffffff)
//!         | "progressive"                                      (progressive JPEG)
//!         | "noorient"                                         (ignore EXIF orientation)
//!         | "webp" | "avif"                                   (output formats; avif: with the `avif` feature)
//!         | "auto" | "auto=webp" | "auto=avif"                (format from the client's Accept; see below)
//!         | "anim"                                             (keep animation: animated WebP out)
//!         | "focus=" X "," Y                                   (focal point, fractions 0..1: cover only)
//!         | "rotate=" ( "0" | "90" | "180" | "270" )           (clockwise, after EXIF orientation)
//!         | "flip" | "flop"                                    (mirror top-bottom / left-right, after rotate)
//!         | "sharpen" | "sharpen=" 1..=5                       (unsharp mask; bare "sharpen" is level 2)
//!         | "blur=" 1..=50                                     (Gaussian blur, sigma in output pixels)
//!         | "wm"                                               (apply the host's watermark overlay)
//!         | "exp=" UNIX                                        (signed-URL expiry; not in the canonical form)
//! ```
//!
//! `webp`, `avif` and `auto` are output formats (one format per spec) and
//! print where `jpeg` does; `anim` prints last. `auto` is negotiated by the
//! caller ([`Spec::negotiate`]) into `auto=webp`, `auto=avif` or plain
//! `auto` (the client takes neither: the source's format, JPEG or PNG).
//!
//! Every spec has one canonical string ([`Spec::canonical`]): size first, then
//! options in the order above, defaults left out. Equal options give equal
//! strings, so the canonical string can be part of a cache key.
//!
//! `focus=X,Y` is the one option that contains a comma: the `focus=` option
//! takes the next part as Y (no other option is a bare number). X and Y have
//! up to 6 decimals and are kept to 3 (`focus=0.25,0.75`). `exp=` is read by
//! the signed-URL verifier ([`crate::sign`]); rendering ignores it, so it is
//! left out of the canonical form (every expiry shares one cache entry).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::image::Format;
use crate::negotiate::{self, Bucket};

/// Longest spec string accepted; specs arrive from URLs.
pub const MAX_SPEC_LEN: usize = 256;
/// Largest width or height a spec may name (limits may lower it further).
pub const MAX_SPEC_DIMENSION: u32 = 65535;
/// JPEG, WebP and AVIF quality when the spec names none.
pub const DEFAULT_QUALITY: u8 = 80;
/// WebP's largest side (14-bit fields in the bitstream).
pub const MAX_WEBP_SIDE: u32 = 16383;

/// How the image is fitted into the requested box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Fit within the box, keep aspect ratio.
    #[default]
    Inside,
    /// Fill the box, keep aspect ratio, crop the overflow at the gravity.
    Cover,
    /// Fit within the box and pad to exactly the box with the background.
    Contain,
    /// Stretch to exactly the box.
    Fill,
}

/// Where the kept part of the image sits (crop for `cover`, placement for `contain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gravity {
    #[default]
    Center,
    North,
    South,
    East,
    West,
    NorthEast,
    NorthWest,
    SouthEast,
    SouthWest,
    /// libvips's `attention`: the crop is centred on the most salient area
    /// (edges, skin tones, saturated colour), found on a small proxy.
    Attention,
    /// libvips's `entropy`: the lower-entropy side is trimmed until the crop
    /// remains.
    Entropy,
}

impl Gravity {
    /// Horizontal and vertical position of the kept region, 0.0 (left/top) to 1.0.
    pub fn weights(self) -> (f64, f64) {
        match self {
            Gravity::Center => (0.5, 0.5),
            Gravity::North => (0.5, 0.0),
            Gravity::South => (0.5, 1.0),
            Gravity::East => (1.0, 0.5),
            Gravity::West => (0.0, 0.5),
            Gravity::NorthEast => (1.0, 0.0),
            Gravity::NorthWest => (0.0, 0.0),
            Gravity::SouthEast => (1.0, 1.0),
            Gravity::SouthWest => (0.0, 1.0),
            // Placed by looking at the pixels (src/ops/smartcrop.rs); the
            // plan starts from the centre.
            Gravity::Attention | Gravity::Entropy => (0.5, 0.5),
        }
    }

    /// The spec token: `center`, `northeast`, `attention`...
    pub fn as_str(self) -> &'static str {
        name_of(&GRAVITIES, self)
    }

    /// The gravity a spec token names.
    pub fn from_name(name: &str) -> Option<Gravity> {
        lookup(&GRAVITIES, name)
    }

    /// `attention` or `entropy`: placed by the pixels, `cover` only.
    pub fn is_smart(self) -> bool {
        matches!(self, Gravity::Attention | Gravity::Entropy)
    }
}

const FITS: [(&str, Fit); 4] =
    [("inside", Fit::Inside), ("cover", Fit::Cover), ("contain", Fit::Contain), ("fill", Fit::Fill)];

const GRAVITIES: [(&str, Gravity); 11] = [
    ("center", Gravity::Center),
    ("north", Gravity::North),
    ("south", Gravity::South),
    ("east", Gravity::East),
    ("west", Gravity::West),
    ("northeast", Gravity::NorthEast),
    ("northwest", Gravity::NorthWest),
    ("southeast", Gravity::SouthEast),
    ("southwest", Gravity::SouthWest),
    ("attention", Gravity::Attention),
    ("entropy", Gravity::Entropy),
];

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table.iter().find(|(_, v)| *v == value).map_or("", |(n, _)| n)
}

fn lookup<T: Copy>(table: &[(&'static str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const WHITE: Rgb = Rgb(255, 255, 255);
}

/// A parsed, validated spec. Build one with `str::parse` / [`Spec::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    /// Box width; `None` follows the aspect ratio.
    pub width: Option<u32>,
    /// Box height; `None` follows the aspect ratio.
    pub height: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    /// Output format; `None` keeps the source's format.
    pub format: Option<Format>,
    /// JPEG quality, 1..=100.
    pub quality: u8,
    pub enlarge: bool,
    pub background: Rgb,
    pub progressive: bool,
    /// Apply EXIF orientation (default true; `noorient` turns it off).
    pub orient: bool,
    /// `auto`: the output format is negotiated; the bucket is what
    /// [`Spec::negotiate`] found (`Bucket::Source` until then). `format`
    /// is `None` when this is set.
    pub auto: Option<Bucket>,
    /// `anim`: an animated source (GIF, WebP) stays animated (WebP out);
    /// without it the first frame is the image.
    pub animate: bool,
    /// Focal point for `cover`, in the oriented source (before `rotate`).
    pub focus: Option<Focus>,
    /// Clockwise rotation after EXIF orientation: 0, 90, 180 or 270.
    pub rotate: u16,
    /// Mirror top-bottom (after `rotate`).
    pub flip: bool,
    /// Mirror left-right (after `rotate`).
    pub flop: bool,
    /// Unsharp-mask level 1..=5; 0 is none.
    pub sharpen: u8,
    /// Gaussian blur sigma in output pixels, 1..=50; 0 is none.
    pub blur: u8,
    /// Apply the host's watermark overlay (see [`crate::Overlay`]).
    pub watermark: bool,
}

/// A focal point in thousandths of the oriented source's width and height
/// (0..=1000 each): `focus=0.25,0.75` is `Focus { x: 250, y: 750 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Focus {
    pub x: u16,
    pub y: u16,
}

/// The level a bare `sharpen` means.
pub const DEFAULT_SHARPEN: u8 = 2;
/// Largest `sharpen=N`.
pub const MAX_SHARPEN: u8 = 5;
/// Largest `blur=N`.
pub const MAX_BLUR: u8 = 50;

impl Spec {
    /// A spec for a box with every option at its default.
    pub fn new(width: Option<u32>, height: Option<u32>) -> Spec {
        Spec {
            width,
            height,
            fit: Fit::default(),
            gravity: Gravity::default(),
            format: None,
            quality: DEFAULT_QUALITY,
            enlarge: false,
            background: Rgb::WHITE,
            progressive: false,
            orient: true,
            auto: None,
            animate: false,
            focus: None,
            rotate: 0,
            flip: false,
            flop: false,
            sharpen: 0,
            blur: 0,
            watermark: false,
        }
    }

    /// Parses and validates a spec string.
    pub fn parse(text: &str) -> Result<Spec> {
        if text.is_empty() {
            return Err(Error::invalid_spec("empty spec"));
        }
        if text.len() > MAX_SPEC_LEN {
            return Err(Error::invalid_spec(format!("spec longer than {MAX_SPEC_LEN} bytes")));
        }
        let mut parts = text.split(',');
        let size = parts.next().unwrap_or_default();
        let (width, height) = parse_size(size)?;
        let mut spec = Spec::new(width, height);
        let mut seen = Seen::default();
        while let Some(option) = parts.next() {
            if let Some(x) = option.strip_prefix("focus=") {
                // The one option with a comma: Y is the next part.
                seen.once(Slot::Focus)?;
                spec.focus = Some(parse_focus(x, parts.next())?);
                continue;
            }
            spec.apply_option(option, &mut seen)?;
        }
        if seen.has(Slot::Gravity) && !matches!(spec.fit, Fit::Cover | Fit::Contain) {
            return Err(Error::invalid_spec("gravity applies only to cover or contain"));
        }
        if spec.gravity.is_smart() && spec.fit != Fit::Cover {
            let name = name_of(&GRAVITIES, spec.gravity);
            return Err(Error::invalid_spec(format!("{name} applies only to cover")));
        }
        if spec.focus.is_some() {
            if spec.fit != Fit::Cover {
                return Err(Error::invalid_spec("focus applies only to cover"));
            }
            if seen.has(Slot::Gravity) {
                return Err(Error::invalid_spec("focus and a gravity cannot be combined"));
            }
        }
        if spec.sharpen != 0 && spec.blur != 0 {
            return Err(Error::invalid_spec("sharpen and blur cannot be combined"));
        }
        if matches!(spec.fit, Fit::Contain | Fit::Fill) && (width.is_none() || height.is_none()) {
            let fit = name_of(&FITS, spec.fit);
            return Err(Error::invalid_spec(format!("{fit} needs both width and height")));
        }
        if spec.animate && matches!(spec.format, Some(Format::Jpeg | Format::Png | Format::Avif)) {
            let format = spec.format.map_or("", Format::as_str);
            return Err(Error::invalid_spec(format!("anim needs animated output: webp or auto, not {format}")));
        }
        if spec.format == Some(Format::Webp) {
            for side in [width, height].into_iter().flatten() {
                if side > MAX_WEBP_SIDE {
                    return Err(Error::invalid_spec(format!(
                        "webp output is at most {MAX_WEBP_SIDE} pixels a side; the spec asks for {side}"
                    )));
                }
            }
        }
        Ok(spec)
    }

    /// Resolves `auto` for a client whose `Accept` header is `accept`
    /// (`avif`: whether AVIF may be chosen). A spec without `auto` comes
    /// back unchanged. The result's canonical string names the bucket
    /// (`auto=webp`, `auto=avif`, `auto`), never the header, so it is the
    /// cache key's spec.
    pub fn negotiate(&self, accept: &str, avif: bool) -> Spec {
        let mut spec = self.clone();
        if spec.auto.is_some() {
            spec.auto = Some(negotiate::negotiate(accept, avif));
        }
        spec
    }

    /// Whether the output format depends on the client's `Accept` header
    /// (the spec says `auto`): such a response needs `Vary: Accept`.
    pub fn varies_on_accept(&self) -> bool {
        self.auto.is_some()
    }

    fn apply_option(&mut self, option: &str, seen: &mut Seen) -> Result<()> {
        if option.is_empty() {
            return Err(Error::invalid_spec("empty option"));
        }
        if let Some(fit) = lookup(&FITS, option) {
            seen.once(Slot::Fit)?;
            self.fit = fit;
        } else if let Some(gravity) = lookup(&GRAVITIES, option) {
            seen.once(Slot::Gravity)?;
            self.gravity = gravity;
        } else if let Some(format) = parse_format(option) {
            seen.once(Slot::Format)?;
            self.format = Some(format);
        } else if let Some(bucket) = parse_auto(option) {
            seen.once(Slot::Format)?;
            self.auto = Some(bucket);
        } else if let Some(q) = option.strip_prefix('q') {
            seen.once(Slot::Quality)?;
            self.quality = parse_quality(q)?;
        } else if let Some(hex) = option.strip_prefix("bg=") {
            seen.once(Slot::Background)?;
            self.background = parse_colour(hex)?;
        } else if let Some(degrees) = option.strip_prefix("rotate=") {
            seen.once(Slot::Rotate)?;
            self.rotate = parse_rotate(degrees)?;
        } else if let Some(level) = option.strip_prefix("sharpen=") {
            seen.once(Slot::Sharpen)?;
            self.sharpen = parse_level(level, "sharpen", MAX_SHARPEN)?;
        } else if let Some(sigma) = option.strip_prefix("blur=") {
            seen.once(Slot::Blur)?;
            self.blur = parse_level(sigma, "blur", MAX_BLUR)?;
        } else if let Some(time) = option.strip_prefix("exp=") {
            // Checked by the signed-URL verifier; rendering ignores it.
            seen.once(Slot::Expiry)?;
            parse_decimal(time)
                .ok_or_else(|| Error::invalid_spec(format!("exp {} is not a UNIX time", printable(time))))?;
        } else {
            match option {
                "enlarge" => {
                    seen.once(Slot::Enlarge)?;
                    self.enlarge = true;
                }
                "progressive" => {
                    seen.once(Slot::Progressive)?;
                    self.progressive = true;
                }
                "noorient" => {
                    seen.once(Slot::NoOrient)?;
                    self.orient = false;
                }
                "anim" => {
                    seen.once(Slot::Anim)?;
                    self.animate = true;
                }
                "flip" => {
                    seen.once(Slot::Flip)?;
                    self.flip = true;
                }
                "flop" => {
                    seen.once(Slot::Flop)?;
                    self.flop = true;
                }
                "sharpen" => {
                    seen.once(Slot::Sharpen)?;
                    self.sharpen = DEFAULT_SHARPEN;
                }
                "wm" => {
                    seen.once(Slot::Watermark)?;
                    self.watermark = true;
                }
                "focus" => return Err(Error::invalid_spec("focus needs a point: focus=X,Y (fractions 0..1)")),
                _ => {
                    // One spelling per option: "200x200, cover" is refused
                    // (canonical strings never hold spaces), but the message
                    // says why.
                    let hint = if option.trim_ascii() == option { "" } else { " (no spaces around ',')" };
                    return Err(Error::invalid_spec(format!("unknown option {}{hint}", printable(option))));
                }
            }
        }
        Ok(())
    }

    /// The one canonical string of this spec: size, then options in grammar
    /// order, defaults omitted.
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl FromStr for Spec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Spec> {
        Spec::parse(s)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.width {
            write!(f, "{w}")?;
        }
        f.write_str("x")?;
        if let Some(h) = self.height {
            write!(f, "{h}")?;
        }
        if self.fit != Fit::Inside {
            write!(f, ",{}", name_of(&FITS, self.fit))?;
        }
        if self.gravity != Gravity::Center {
            write!(f, ",{}", name_of(&GRAVITIES, self.gravity))?;
        }
        if let Some(format) = self.format {
            write!(f, ",{}", format.as_str())?;
        }
        match self.auto {
            None => {}
            Some(Bucket::Source) => f.write_str(",auto")?,
            Some(bucket) => write!(f, ",auto={}", bucket.as_str())?,
        }
        if self.quality != DEFAULT_QUALITY {
            write!(f, ",q{}", self.quality)?;
        }
        if self.enlarge {
            f.write_str(",enlarge")?;
        }
        if self.background != Rgb::WHITE {
            let Rgb(r, g, b) = self.background;
            write!(f, ",bg={r:02x}{g:02x}{b:02x}")?;
        }
        if self.progressive {
            f.write_str(",progressive")?;
        }
        if !self.orient {
            f.write_str(",noorient")?;
        }
        if let Some(Focus { x, y }) = self.focus {
            write!(f, ",focus={},{}", Thousandths(x), Thousandths(y))?;
        }
        if self.rotate != 0 {
            write!(f, ",rotate={}", self.rotate)?;
        }
        if self.flip {
            f.write_str(",flip")?;
        }
        if self.flop {
            f.write_str(",flop")?;
        }
        match self.sharpen {
            0 => {}
            DEFAULT_SHARPEN => f.write_str(",sharpen")?,
            level => write!(f, ",sharpen={level}")?,
        }
        if self.blur != 0 {
            write!(f, ",blur={}", self.blur)?;
        }
        if self.watermark {
            f.write_str(",wm")?;
        }
        if self.animate {
            f.write_str(",anim")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Fit,
    Gravity,
    Format,
    Quality,
    Background,
    Enlarge,
    Progressive,
    NoOrient,
    Focus,
    Rotate,
    Flip,
    Flop,
    Sharpen,
    Blur,
    Watermark,
    Expiry,
    Anim,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::Fit => "fit",
            Slot::Gravity => "gravity",
            Slot::Format => "format",
            Slot::Quality => "quality",
            Slot::Background => "bg",
            Slot::Enlarge => "enlarge",
            Slot::Progressive => "progressive",
            Slot::NoOrient => "noorient",
            Slot::Focus => "focus",
            Slot::Rotate => "rotate",
            Slot::Flip => "flip",
            Slot::Flop => "flop",
            Slot::Sharpen => "sharpen",
            Slot::Blur => "blur",
            Slot::Watermark => "wm",
            Slot::Expiry => "exp",
            Slot::Anim => "anim",
        }
    }
}

/// Which option groups were already given, to reject repeats.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn once(&mut self, slot: Slot) -> Result<()> {
        let bit = 1 << slot as u32;
        if self.0 & bit != 0 {
            return Err(Error::invalid_spec(format!("{} given more than once", slot.name())));
        }
        self.0 |= bit;
        Ok(())
    }

    fn has(&self, slot: Slot) -> bool {
        self.0 & (1 << slot as u32) != 0
    }
}

fn parse_size(size: &str) -> Result<(Option<u32>, Option<u32>)> {
    let Some((w, h)) = size.split_once('x') else {
        return Err(Error::invalid_spec(format!("size {} must be WxH, Wx or xH", printable(size))));
    };
    let width = parse_dimension(w, "width")?;
    let height = parse_dimension(h, "height")?;
    if width.is_none() && height.is_none() {
        return Err(Error::invalid_spec("size needs a width or a height"));
    }
    Ok((width, height))
}

fn parse_dimension(text: &str, what: &str) -> Result<Option<u32>> {
    if text.is_empty() {
        return Ok(None);
    }
    let value = parse_decimal(text)
        .ok_or_else(|| Error::invalid_spec(format!("{what} {} is not a number", printable(text))))?;
    if value == 0 || value > u64::from(MAX_SPEC_DIMENSION) {
        return Err(Error::invalid_spec(format!("{what} {value} out of range 1..={MAX_SPEC_DIMENSION}")));
    }
    Ok(Some(value as u32))
}

/// Plain ASCII digits only (no sign, no spaces); saturates instead of overflowing.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_quality(text: &str) -> Result<u8> {
    let value = parse_decimal(text)
        .ok_or_else(|| Error::invalid_spec(format!("quality {} is not a number", printable(&format!("q{text}")))))?;
    if !(1..=100).contains(&value) {
        return Err(Error::invalid_spec(format!("quality {value} out of range 1..=100")));
    }
    Ok(value as u8)
}

fn parse_format(text: &str) -> Option<Format> {
    match text {
        "jpeg" | "jpg" => Some(Format::Jpeg),
        "png" => Some(Format::Png),
        "webp" => Some(Format::Webp),
        "avif" => Some(Format::Avif),
        _ => None,
    }
}

fn parse_auto(text: &str) -> Option<Bucket> {
    match text {
        "auto" => Some(Bucket::Source),
        "auto=webp" => Some(Bucket::Webp),
        "auto=avif" => Some(Bucket::Avif),
        _ => None,
    }
}

fn parse_colour(hex: &str) -> Result<Rgb> {
    let bad = || Error::invalid_spec(format!("bg {} must be RRGGBB or RGB hex", printable(hex)));
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).map_err(|_| bad());
    match hex.len() {
        6 => {
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
            Ok(Rgb(byte(0)?, byte(2)?, byte(4)?))
        }
        3 => Ok(Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
        _ => Err(bad()),
    }
}

/// Quotes untrusted text for a message (messages end up in logs and HTTP
/// headers): in single quotes, readable as typed (spaces and printable
/// non-ASCII stay), with only what is unprintable escaped: `\n`, `\r`,
/// `\t`, `\xHH` for other ASCII controls, `\u{HHHH}` for other control
/// and invisible format characters (C1 controls, line separators, bidi
/// overrides, zero-width characters); `\` and `'` are escaped so the
/// quoting stays unambiguous. At most 32 characters are shown, then `...`.
pub(crate) fn printable(text: &str) -> String {
    const SHOWN: usize = 32;
    let mut out = String::with_capacity(text.len().min(4 * SHOWN) + 5);
    out.push('\'');
    for c in text.chars().take(SHOWN) {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || invisible(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    if text.chars().nth(SHOWN).is_some() {
        out.push_str("...");
    }
    out
}

/// Format characters that change how a log line reads without showing:
/// zero-width spaces and joiners, bidi marks, embeddings, overrides and
/// isolates, line and paragraph separators, the byte-order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn parse_rotate(text: &str) -> Result<u16> {
    match text {
        "0" => Ok(0),
        "90" => Ok(90),
        "180" => Ok(180),
        "270" => Ok(270),
        _ => Err(Error::invalid_spec(format!("rotate {} must be 0, 90, 180 or 270", printable(text)))),
    }
}

/// `sharpen=N` / `blur=N`: 1..=max.
fn parse_level(text: &str, what: &str, max: u8) -> Result<u8> {
    let value = parse_decimal(text)
        .ok_or_else(|| Error::invalid_spec(format!("{what} {} is not a number", printable(text))))?;
    if value == 0 || value > u64::from(max) {
        return Err(Error::invalid_spec(format!("{what} {value} out of range 1..={max}")));
    }
    Ok(value as u8)
}

/// `focus=X,Y`: `x` is what follows `focus=`, `y` the next comma-separated part.
fn parse_focus(x: &str, y: Option<&str>) -> Result<Focus> {
    let Some(y) = y else {
        return Err(Error::invalid_spec("focus needs X,Y: focus=X,Y (fractions 0..1)"));
    };
    Ok(Focus { x: parse_fraction(x, "X")?, y: parse_fraction(y, "Y")? })
}

/// A fraction 0..=1 written `D` or `D.DDDDDD` (up to 6 decimals), in
/// thousandths, rounded half up: exact decimal arithmetic, no float.
fn parse_fraction(text: &str, axis: &str) -> Result<u16> {
    let bad = || {
        Error::invalid_spec(format!(
            "focus {axis} {} must be a fraction 0..1 with up to 6 decimals (focus=X,Y)",
            printable(text)
        ))
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() != 1 || !digits(int) || frac.len() > 6 || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    let mut micro = u32::from(int.as_bytes()[0] - b'0') * 1_000_000;
    let mut scale = 100_000;
    for b in frac.bytes() {
        micro += u32::from(b - b'0') * scale;
        scale /= 10;
    }
    if micro > 1_000_000 {
        // text is digits and a dot here: printed as is, like the other numbers
        return Err(Error::invalid_spec(format!("focus {axis} {text} out of range 0..1")));
    }
    Ok(((micro + 500) / 1000) as u16)
}

/// Thousandths written as the shortest decimal: 500 -> `0.5`, 1000 -> `1`.
struct Thousandths(u16);

impl fmt::Display for Thousandths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, mut frac) = (self.0 / 1000, self.0 % 1000);
        write!(f, "{int}")?;
        if frac == 0 {
            return Ok(());
        }
        let mut width = 3;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")
    }
}
