//! WebP through libwebp (the authority; there is no accelerator): lossy,
//! lossless, alpha, animation. A still image decodes at reduced size where
//! the render allows (libwebp's rescaler, while decoding), the way a JPEG
//! decodes at 1/8..1/2. An animated file gives its first frame here;
//! [`Frames`] gives every frame for animated output. A truncated still
//! serves the rows that decoded (lenient default) or is `corrupt`
//! (`Limits::strict`).

use super::Info;
use crate::error::{Error, Result};
use crate::exif;
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels};
use crate::webp_sys::{self, AnimDecoder, Failure, Features};

pub(crate) struct WebpSource<'a> {
    bytes: &'a [u8],
    features: Features,
    info: Info,
    frames: u32,
    icc: Option<&'a [u8]>,
    strict: bool,
}

impl<'a> WebpSource<'a> {
    /// Reads the RIFF header and chunk list only (no pixel memory).
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<WebpSource<'a>> {
        let features = webp_sys::features(bytes).map_err(classify)?;
        let chunks = Chunks::walk(bytes);
        let orientation = chunks.exif.map_or(1, exif::orientation);
        let info = Info {
            format: Format::Webp,
            width: features.width,
            height: features.height,
            orientation,
            has_alpha: features.has_alpha,
            progressive: false,
        };
        let frames = if features.animated { chunks.frames.max(1) } else { 1 };
        Ok(WebpSource { bytes, features, info, frames, icc: chunks.icc, strict: limits.strict })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    /// Frames in the file (1 for a still image), from the chunk list.
    pub(crate) fn frames(&self) -> u32 {
        self.frames
    }

    /// The `ICCP` chunk's profile, if the file has one (not applied here).
    pub(crate) fn icc_profile(&self) -> Option<&'a [u8]> {
        self.icc
    }

    /// Decodes the image (the first frame of an animation), keeping at
    /// least `min_scale` of each side.
    pub(crate) fn decode(self, min_scale: f64) -> Result<Pixels> {
        if self.features.animated {
            let mut frames = Frames::new(self.bytes)?;
            return match frames.next_frame() {
                Some(frame) => Ok(frame?.0),
                None => Err(Error::corrupt("WebP animation has no frame")),
            };
        }
        let (w, h) = (self.features.width, self.features.height);
        let scaled = |side: u32| ((f64::from(side) * min_scale).ceil() as u32).clamp(1, side);
        let (sw, sh) = if min_scale < 1.0 { (scaled(w), scaled(h)) } else { (w, h) };
        let still =
            webp_sys::decode_still(self.bytes, &self.features, sw, sh, self.features.has_alpha).map_err(classify)?;
        if still.rows < still.height && (self.strict || still.rows == 0) {
            return Err(Error::corrupt(format!("WebP is truncated ({} of {} rows decode)", still.rows, still.height)));
        }
        let layout = if still.alpha { Layout::Rgba } else { Layout::Rgb };
        Ok(Pixels::new(still.width, still.height, layout, still.data))
    }
}

fn classify(f: Failure) -> Error {
    match f {
        Failure::Bitstream(why) => Error::corrupt(format!("WebP: {why}")),
        Failure::Unsupported => Error::unsupported("WebP feature not supported by libwebp"),
        Failure::OutOfMemory => Error::too_large("WebP: out of memory"),
        Failure::Other(why) => Error::internal(format!("WebP: {why}")),
    }
}

/// Every frame of an animated WebP, composited on the canvas by libwebp.
pub(crate) struct Frames<'a> {
    dec: AnimDecoder<'a>,
    last_ms: i32,
}

impl<'a> Frames<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Frames<'a>> {
        Ok(Frames { dec: AnimDecoder::new(bytes).map_err(classify)?, last_ms: 0 })
    }

    /// Loop count (0: forever).
    pub(crate) fn loop_count(&self) -> u32 {
        self.dec.loop_count
    }

    /// The next full-canvas frame (straight RGBA) and how long it shows, in ms.
    pub(crate) fn next_frame(&mut self) -> Option<Result<(Pixels, u32)>> {
        let (w, h) = (self.dec.width, self.dec.height);
        let last = self.last_ms;
        let frame = match self.dec.next_frame()? {
            Ok((rgba, end_ms)) => Ok((Pixels::new(w, h, Layout::Rgba, rgba.to_vec()), end_ms)),
            Err(f) => Err(classify(f)),
        };
        Some(frame.map(|(px, end_ms)| {
            self.last_ms = end_ms;
            (px, u32::try_from(end_ms - last).unwrap_or(0))
        }))
    }
}

/// What the RIFF chunk list says besides the bitstream: metadata chunks
/// and the animation's frame count. Every read is bounds-checked.
struct Chunks<'a> {
    icc: Option<&'a [u8]>,
    exif: Option<&'a [u8]>,
    frames: u32,
}

impl<'a> Chunks<'a> {
    fn walk(bytes: &'a [u8]) -> Chunks<'a> {
        let mut chunks = Chunks { icc: None, exif: None, frames: 0 };
        let mut at = 12; // "RIFF" size "WEBP"
        while let Some(header) = bytes.get(at..at + 8) {
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let start = at + 8;
            let body = &bytes[start..start.saturating_add(len).min(bytes.len())];
            match &header[0..4] {
                b"ICCP" if chunks.icc.is_none() => chunks.icc = Some(body),
                b"EXIF" if chunks.exif.is_none() => chunks.exif = Some(body),
                b"ANMF" => chunks.frames = chunks.frames.saturating_add(1),
                _ => {}
            }
            // Chunks are padded to an even length.
            at = start.saturating_add(len).saturating_add(len & 1);
        }
        chunks
    }
}
