//! The spec grammar shared by the CLI, nginx, Lua, Go and C:
//!
//! ```text
//! SPEC    = SIZE *( "," OPTION )
//! SIZE    = W "x" H | W "x" | "x" H          (1..=65535 each)
//! OPTION  = "inside" | "cover" | "contain" | "fill"            (fit, default inside)
//!         | "center" | "north" | "south" | "east" | "west"
//!         | "northeast" | "northwest" | "southeast" | "southwest"  (gravity: cover, contain)
//!         | "q" 1..=100                                        (quality, default 80)
//!         | "jpeg" | "jpg" | "png"                             (output format, default: the source's)
//!         | "enlarge"                                          (allow upscaling)
//!         | "bg=" RRGGBB | "bg=" RGB                          (background, default ffffff)
//!         | "progressive"                                      (progressive JPEG)
//!         | "noorient"                                         (ignore EXIF orientation)
//! ```
//!
//! Every spec has one canonical string ([`Spec::canonical`]): size first, then
//! options in the order above, defaults left out. Equal options give equal
//! strings, so the canonical string can be part of a cache key.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::image::Format;

/// Longest spec string accepted; specs arrive from URLs.
pub const MAX_SPEC_LEN: usize = 256;
/// Largest width or height a spec may name (limits may lower it further).
pub const MAX_SPEC_DIMENSION: u32 = 65535;
/// JPEG quality when the spec names none.
pub const DEFAULT_QUALITY: u8 = 80;

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
        }
    }
}

const FITS: [(&str, Fit); 4] =
    [("inside", Fit::Inside), ("cover", Fit::Cover), ("contain", Fit::Contain), ("fill", Fit::Fill)];

const GRAVITIES: [(&str, Gravity); 9] = [
    ("center", Gravity::Center),
    ("north", Gravity::North),
    ("south", Gravity::South),
    ("east", Gravity::East),
    ("west", Gravity::West),
    ("northeast", Gravity::NorthEast),
    ("northwest", Gravity::NorthWest),
    ("southeast", Gravity::SouthEast),
    ("southwest", Gravity::SouthWest),
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
}

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
        for option in parts {
            spec.apply_option(option, &mut seen)?;
        }
        if seen.has(Slot::Gravity) && !matches!(spec.fit, Fit::Cover | Fit::Contain) {
            return Err(Error::invalid_spec("gravity applies only to cover or contain"));
        }
        if matches!(spec.fit, Fit::Contain | Fit::Fill) && (width.is_none() || height.is_none()) {
            let fit = name_of(&FITS, spec.fit);
            return Err(Error::invalid_spec(format!("{fit} needs both width and height")));
        }
        Ok(spec)
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
        } else if let Some(q) = option.strip_prefix('q') {
            seen.once(Slot::Quality)?;
            self.quality = parse_quality(q)?;
        } else if let Some(hex) = option.strip_prefix("bg=") {
            seen.once(Slot::Background)?;
            self.background = parse_colour(hex)?;
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
        }
    }
}

/// Which option groups were already given, to reject repeats.
#[derive(Default)]
struct Seen(u16);

impl Seen {
    fn once(&mut self, slot: Slot) -> Result<()> {
        let bit = 1 << slot as u16;
        if self.0 & bit != 0 {
            return Err(Error::invalid_spec(format!("{} given more than once", slot.name())));
        }
        self.0 |= bit;
        Ok(())
    }

    fn has(&self, slot: Slot) -> bool {
        self.0 & (1 << slot as u16) != 0
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
fn printable(text: &str) -> String {
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
