//! Watermarks: an overlay image (PNG with alpha, or any image this library
//! decodes) composited onto the finished thumbnail with a gravity, a
//! margin, an opacity and optional scaling relative to the thumbnail.
//!
//! An [`Overlay`] is decoded once (a host makes it at configuration time)
//! and shared by every render; renders take it by reference
//! ([`crate::RenderOptions`]). Its options use one syntax on every surface,
//! the nginx directive's: `gravity=southeast margin=8 opacity=0.6
//! scale=0.2 apply=always` (separated by spaces or commas; every option
//! optional).

use std::sync::Arc;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::decode::Source;
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels};
use crate::resize;
use crate::spec::{Gravity, Spec, printable};

/// Largest overlay accepted, in pixels (from its header): a logo, not a photo.
const MAX_OVERLAY_PIXELS: u64 = 16_000_000;
/// Scaled copies kept per overlay (thumbnail sizes in use).
const SCALED_KEPT: usize = 4;

/// When an overlay is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverlayApply {
    /// To every render it is passed to.
    #[default]
    Always,
    /// Only to renders whose spec says `wm`.
    Wm,
}

/// How an overlay is placed. Parse one from text with
/// [`OverlayOptions::parse`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct OverlayOptions {
    /// Corner, edge or centre of the thumbnail (`attention` and `entropy`
    /// are not placements). Default `southeast`.
    pub gravity: Gravity,
    /// Pixels kept clear between the overlay and the thumbnail's edges
    /// (default 0).
    pub margin: u32,
    /// Multiplies the overlay's alpha, 0.0..=1.0 (default 1).
    pub opacity: f32,
    /// Overlay width as a fraction of the thumbnail's width, 0 < scale ≤ 1;
    /// `None` keeps the overlay's own size (shrunk if it does not fit).
    pub scale: Option<f32>,
    /// When it applies (default always).
    pub apply: OverlayApply,
}

impl Default for OverlayOptions {
    fn default() -> Self {
        OverlayOptions {
            gravity: Gravity::SouthEast,
            margin: 0,
            opacity: 1.0,
            scale: None,
            apply: OverlayApply::Always,
        }
    }
}

impl OverlayOptions {
    /// Parses `name=value` options separated by spaces or commas:
    /// `gravity=` one of center, north, south, east, west, northeast,
    /// northwest, southeast, southwest; `margin=` 0..=10000 pixels;
    /// `opacity=` 0..=1; `scale=` 0 < s ≤ 1; `apply=` always or wm.
    pub fn parse(text: &str) -> Result<OverlayOptions> {
        let mut options = OverlayOptions::default();
        for option in text.split([' ', ',', '\t', '\n']).filter(|s| !s.is_empty()) {
            let bad = |what: &str| Error::invalid_spec(format!("watermark option {}: {what}", printable(option)));
            let (name, value) = option.split_once('=').ok_or_else(|| bad("expected name=value"))?;
            match name {
                "gravity" => {
                    let gravity = Gravity::from_name(value).ok_or_else(|| bad("unknown gravity"))?;
                    if gravity.is_smart() {
                        return Err(bad("a compass point or center"));
                    }
                    options.gravity = gravity;
                }
                "margin" => {
                    options.margin = value.parse().ok().filter(|m| *m <= 10_000).ok_or_else(|| bad("0..=10000"))?;
                }
                "opacity" => options.opacity = fraction(value).ok_or_else(|| bad("a number 0..=1"))?,
                "scale" => {
                    let scale = fraction(value).filter(|s| *s > 0.0).ok_or_else(|| bad("a number 0 < scale <= 1"))?;
                    options.scale = Some(scale);
                }
                "apply" => {
                    options.apply = match value {
                        "always" => OverlayApply::Always,
                        "wm" => OverlayApply::Wm,
                        _ => return Err(bad("always or wm")),
                    }
                }
                _ => return Err(bad("unknown option (gravity, margin, opacity, scale, apply)")),
            }
        }
        Ok(options)
    }

    /// The options as text in a fixed form (part of [`Overlay::id`]).
    fn canonical(&self) -> String {
        let gravity = self.gravity.as_str();
        let scale = self.scale.map_or(String::from("none"), |s| s.to_string());
        let apply = if self.apply == OverlayApply::Wm { "wm" } else { "always" };
        format!("gravity={gravity} margin={} opacity={} scale={scale} apply={apply}", self.margin, self.opacity)
    }
}

/// Plain decimals 0..=1 (`0`, `1`, `0.6`, `.5`), as f32.
fn fraction(text: &str) -> Option<f32> {
    let plain = !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    text.parse::<f32>().ok().filter(|v| plain && (0.0..=1.0).contains(v))
}

/// A copy of the overlay resized for one thumbnail size.
type Scaled = ((u32, u32), Arc<Pixels>);

/// A decoded watermark and its placement. Immutable once made (a few
/// scaled copies are kept behind a lock); share it between threads by
/// reference or `Arc`.
pub struct Overlay {
    /// Straight-alpha RGBA.
    pixels: Pixels,
    /// Every pixel has r == g == b: a gray thumbnail stays gray.
    gray: bool,
    options: OverlayOptions,
    id: String,
    scaled: Mutex<Vec<Scaled>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("width", &self.pixels.width)
            .field("height", &self.pixels.height)
            .field("options", &self.options)
            .field("id", &self.id)
            .finish()
    }
}

impl Overlay {
    /// Decodes `image` (PNG with alpha, typically; any format this library
    /// reads) and parses `options` (see [`OverlayOptions::parse`]).
    /// Errors: the image's (`unsupported`, `corrupt`, `too-large` past 16
    /// MP) or `invalid-spec` for the options.
    pub fn new(image: &[u8], options: &str) -> Result<Overlay> {
        Overlay::with_options(image, OverlayOptions::parse(options)?)
    }

    /// As [`Overlay::new`] with parsed options.
    pub fn with_options(image: &[u8], options: OverlayOptions) -> Result<Overlay> {
        if options.gravity.is_smart() {
            return Err(Error::invalid_spec("watermark gravity must be a compass point or center"));
        }
        let limits = Limits { max_source_pixels: MAX_OVERLAY_PIXELS, ..Limits::default() };
        let decoded = crate::pipeline::guard(|| Source::open(image, &limits)?.decode(1.0))?;
        let mut pixels = decoded.pixels;
        // An overlay with a colour profile is drawn in sRGB, as thumbnails are.
        if let Some(profile) = &decoded.profile {
            let _unusable = crate::icc::apply(profile, &mut pixels);
        }
        let pixels = to_rgba(pixels);
        let gray = pixels.data.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]);
        let mut hash = Sha256::new();
        hash.update(image);
        hash.update([0]);
        hash.update(options.canonical().as_bytes());
        let digest = hash.finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Overlay { pixels, gray, options, id, scaled: Mutex::new(Vec::new()) })
    }

    /// 16 hex digits naming the image and its options (a SHA-256 prefix):
    /// add it to cache keys of watermarked renders, so that changing the
    /// overlay changes the keys.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn options(&self) -> OverlayOptions {
        self.options
    }

    /// The decoded overlay's size.
    pub fn size(&self) -> (u32, u32) {
        (self.pixels.width, self.pixels.height)
    }

    /// Whether a render of `spec` gets this overlay.
    pub(crate) fn applies_to(&self, spec: &Spec) -> bool {
        self.options.apply == OverlayApply::Always || spec.watermark
    }

    /// Composites the overlay onto `img` (the finished thumbnail).
    pub(crate) fn draw(&self, img: Pixels) -> Result<Pixels> {
        let (cw, ch) = (img.width, img.height);
        let mut margin = self.options.margin;
        if u64::from(margin) * 2 >= u64::from(cw.min(ch)) {
            margin = 0; // a thumbnail too small for the margin
        }
        let (room_w, room_h) = (f64::from(cw - 2 * margin), f64::from(ch - 2 * margin));
        let (ow, oh) = (f64::from(self.pixels.width), f64::from(self.pixels.height));
        let mut k = self.options.scale.map_or(1.0, |s| f64::from(s) * f64::from(cw) / ow);
        k = k.min(room_w / ow).min(room_h / oh);
        let size = (((ow * k).round() as u32).max(1), ((oh * k).round() as u32).max(1));
        let overlay = self.scaled_to(size)?;
        let (gx, gy) = self.options.gravity.weights();
        let x = margin + ((f64::from(cw - 2 * margin) - f64::from(size.0)).max(0.0) * gx).round() as u32;
        let y = margin + ((f64::from(ch - 2 * margin) - f64::from(size.1)).max(0.0) * gy).round() as u32;
        let opacity = (f64::from(self.options.opacity) * 255.0).round() as u32;
        let mut img = if img.layout == Layout::Gray && !self.gray { gray_to_rgb(img) } else { img };
        blend(&mut img, &overlay, (x, y), opacity);
        Ok(img)
    }

    /// The overlay resized to `size` (kept for the next render of that size).
    fn scaled_to(&self, size: (u32, u32)) -> Result<Arc<Pixels>> {
        if let Some((_, px)) = self.scaled.lock().iter().find(|(s, _)| *s == size) {
            return Ok(Arc::clone(px));
        }
        let full = Rect { x: 0.0, y: 0.0, width: f64::from(self.pixels.width), height: f64::from(self.pixels.height) };
        let px = if size == self.size() {
            Arc::new(self.pixels.clone())
        } else {
            Arc::new(resize::resize(self.pixels.clone(), full, size.0, size.1)?)
        };
        let mut kept = self.scaled.lock();
        if kept.len() >= SCALED_KEPT {
            kept.remove(0);
        }
        kept.push((size, Arc::clone(&px)));
        Ok(px)
    }
}

fn to_rgba(px: Pixels) -> Pixels {
    let data = match px.layout {
        Layout::Rgba => return px,
        Layout::Rgb => px.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        Layout::Gray => px.data.iter().flat_map(|&v| [v, v, v, 255]).collect(),
    };
    Pixels::new(px.width, px.height, Layout::Rgba, data)
}

fn gray_to_rgb(img: Pixels) -> Pixels {
    let data = img.data.iter().flat_map(|&v| [v, v, v]).collect();
    Pixels::new(img.width, img.height, Layout::Rgb, data)
}

/// "Over" compositing of straight-alpha RGBA `top` (alpha × `opacity`/255)
/// onto `img` at `at`, clipped to `img`.
fn blend(img: &mut Pixels, top: &Pixels, (x0, y0): (u32, u32), opacity: u32) {
    let n = img.layout.channels();
    let stride = img.stride();
    let w = (top.width.min(img.width.saturating_sub(x0))) as usize;
    let h = (top.height.min(img.height.saturating_sub(y0))) as usize;
    for y in 0..h {
        let src = &top.data[y * top.width as usize * 4..][..w * 4];
        let dst = &mut img.data[(y0 as usize + y) * stride + x0 as usize * n..][..w * n];
        for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(n)) {
            let a = (u32::from(s[3]) * opacity + 127) / 255;
            if a == 0 {
                continue;
            }
            match n {
                1 => d[0] = mix(s[0], d[0], a),
                3 => {
                    for c in 0..3 {
                        d[c] = mix(s[c], d[c], a);
                    }
                }
                _ => {
                    // Over a translucent background: out_a = a + b(1 - a).
                    let b = u32::from(d[3]);
                    let out = a * 255 + b * (255 - a);
                    if out == 0 {
                        continue;
                    }
                    for c in 0..3 {
                        let v = u32::from(s[c]) * a * 255 + u32::from(d[c]) * b * (255 - a);
                        d[c] = ((v + out / 2) / out) as u8;
                    }
                    d[3] = ((out + 127) / 255) as u8;
                }
            }
        }
    }
}

fn mix(top: u8, bottom: u8, a: u32) -> u8 {
    ((u32::from(top) * a + u32::from(bottom) * (255 - a) + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_reject_clearly() {
        let o = OverlayOptions::parse("gravity=northwest margin=8, opacity=0.6 scale=0.2 apply=wm").unwrap();
        assert_eq!(o.gravity, Gravity::NorthWest);
        assert_eq!((o.margin, o.opacity, o.scale, o.apply), (8, 0.6, Some(0.2), OverlayApply::Wm));
        assert_eq!(OverlayOptions::parse("").unwrap(), OverlayOptions::default());
        for (bad, says) in [
            ("gravity=up", "unknown gravity"),
            ("gravity=attention", "compass point"),
            ("opacity=1.5", "0..=1"),
            ("opacity=-1", "0..=1"),
            ("scale=0", "scale"),
            ("margin=x", "0..=10000"),
            ("size=3", "unknown option"),
            ("opacity", "name=value"),
        ] {
            let e = OverlayOptions::parse(bad).unwrap_err();
            assert!(e.message().contains(says), "{bad}: {e}");
        }
        let o = OverlayOptions::default();
        assert_eq!(o.canonical(), "gravity=southeast margin=0 opacity=1 scale=none apply=always");
    }

    #[test]
    fn blend_is_over_with_opacity() {
        let mut img = Pixels::new(2, 1, Layout::Rgb, vec![0, 0, 0, 0, 0, 0]);
        let top = Pixels::new(1, 1, Layout::Rgba, vec![255, 255, 255, 255]);
        blend(&mut img, &top, (1, 0), 153);
        assert_eq!(img.data, vec![0, 0, 0, 153, 153, 153]);
        let mut clear = Pixels::new(1, 1, Layout::Rgba, vec![0, 0, 0, 0]);
        blend(&mut clear, &top, (0, 0), 128);
        assert_eq!(clear.data, vec![255, 255, 255, 128]);
    }
}
