//! The pipeline's stages one at a time, for benchmarks only (hidden from the
//! docs; not a stable API).

use crate::error::Result;
use crate::geometry::Rect;
use crate::image::Format;
use crate::limits::Limits;
use crate::ops::watermark::Overlay;
use crate::ops::{filter, smartcrop};
use crate::pixels::Pixels;
use crate::spec::{Gravity, Spec};
use crate::{decode, encode, resize};

/// Decoded pixels, opaque.
#[derive(Clone)]
pub struct Decoded(Pixels);

impl Decoded {
    pub fn width(&self) -> u32 {
        self.0.width
    }
    pub fn height(&self) -> u32 {
        self.0.height
    }
    /// Channels per pixel: 1 (gray), 3 (RGB) or 4 (RGBA).
    pub fn channels(&self) -> usize {
        self.0.layout.channels()
    }
    /// Packed rows of 8-bit samples.
    pub fn data(&self) -> &[u8] {
        &self.0.data
    }
}

/// Full-size decode.
pub fn decode(bytes: &[u8]) -> Result<Decoded> {
    decode_reduced(bytes, 1.0)
}

/// Decode keeping at least `min_scale` of each side, as `render` does for
/// a target that needs no more (JPEG shrink-on-load).
pub fn decode_reduced(bytes: &[u8], min_scale: f64) -> Result<Decoded> {
    Ok(Decoded(decode::Source::open(bytes, &Limits::default())?.decode(min_scale)?.pixels))
}

/// The whole image resized to `width` × `height` (box pre-reduction +
/// Lanczos3). Consumes `img`, as `render` does (RGBA is premultiplied in
/// its buffer).
pub fn resize(img: Decoded, width: u32, height: u32) -> Result<Decoded> {
    let full = Rect { x: 0.0, y: 0.0, width: f64::from(img.0.width), height: f64::from(img.0.height) };
    Ok(Decoded(resize::resize(img.0, full, width, height)?))
}

/// Encodes as `render` would for `format` and the spec's quality.
pub fn encode(img: &Decoded, format: Format, spec: &Spec) -> Result<Vec<u8>> {
    encode::encode(&img.0, format, spec)
}

/// Every frame of an animated GIF or WebP, composited (for WebP by
/// libwebp's own `WebPAnimDecoder`), with its duration in ms; tests use it
/// to check animated output.
pub fn decode_frames(bytes: &[u8]) -> Result<Vec<(Decoded, u32)>> {
    let source = decode::Source::open(bytes, &Limits::default())?;
    let Some(mut frames) = source.into_frames(bytes)? else {
        return Err(crate::error::Error::unsupported("not an animated format"));
    };
    let mut out = Vec::new();
    while let Some(frame) = frames.next_frame() {
        let (pixels, ms) = frame?;
        out.push((Decoded(pixels), ms));
    }
    Ok(out)
}

/// Where a `cover` crop of `crop_fraction` (of `img`'s width and height)
/// resized to `target` goes with `gravity` (attention or entropy): the
/// analysis render runs on the box step's result.
pub fn smart_crop(
    img: &Decoded,
    gravity: Gravity,
    crop_fraction: (f64, f64),
    target: (u32, u32),
) -> Result<(f64, f64)> {
    smartcrop::weights(gravity, &img.0, 1, crop_fraction, target)
}

/// `sharpen=level` on a resized image.
pub fn sharpen(img: Decoded, level: u8) -> Result<Decoded> {
    Ok(Decoded(filter::sharpen(img.0, level)?))
}

/// `blur=sigma` on a resized image.
pub fn blur(img: Decoded, sigma: u8) -> Result<Decoded> {
    Ok(Decoded(filter::blur(img.0, sigma)?))
}

/// The overlay composited onto a finished thumbnail.
pub fn watermark(img: Decoded, overlay: &Overlay) -> Result<Decoded> {
    Ok(Decoded(overlay.draw(img.0)?))
}
