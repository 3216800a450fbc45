//! Header reading and decoding. Opening a source reads only its header, so
//! limits are checked before [`Source::decode`] allocates pixel memory.

// jpeg/: libjpeg-turbo decides (turbo.rs through tj.rs; dc.rs DC-only
// progressive). png/: the png crate is the authority (it alone decides what
// is accepted and how errors are classified); fast.rs (libdeflate) is an
// accelerator for the common case.
mod jpeg;
mod png;
// gif.rs (the gif crate) and webp.rs (libwebp, through crate::webp_sys):
// authorities without an accelerator.
pub(crate) mod gif;
pub(crate) mod webp;

use crate::error::Result;
use crate::icc::{self, Profile};
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::Pixels;
use crate::sniff::sniff;

/// What the header says about an image, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub format: Format,
    /// Width as stored in the file (before EXIF orientation).
    pub width: u32,
    /// Height as stored in the file (before EXIF orientation).
    pub height: u32,
    /// EXIF orientation 1..=8 (1 when absent or out of range).
    pub orientation: u8,
    /// Whether decoded pixels carry an alpha channel.
    pub has_alpha: bool,
    /// Progressive JPEG: every scan must be decoded before any pixel is
    /// final, so it costs several times a baseline decode and cannot be
    /// decoded at reduced size cheaply. Servers use this to keep such
    /// renders from filling a thread pool.
    pub progressive: bool,
}

impl Info {
    /// Width and height as displayed, after EXIF orientation.
    pub fn oriented_size(&self) -> (u32, u32) {
        crate::orient::displayed(self.orientation, (self.width, self.height))
    }
}

/// Decoded pixels, the source's colour profile (applied by the pipeline
/// after resizing; `None` for sRGB) and what the decoder had to overlook.
pub(crate) struct Decoded {
    pub pixels: Pixels,
    pub profile: Option<Profile>,
    /// Damage served anyway (lenient mode) and unusable colour profiles.
    pub warnings: Vec<String>,
}

/// An image whose header has been read and checked, ready to decode.
/// One lives on the stack per render, so the JPEG variant's size is not
/// worth a heap allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Source<'a> {
    Jpeg(jpeg::JpegSource<'a>),
    Png(png::PngSource<'a>),
    Webp(webp::WebpSource<'a>),
    Gif(gif::GifSource<'a>),
}

impl<'a> Source<'a> {
    /// Sniffs the format and reads the header; refuses sources over `limits`
    /// (bytes, pixels) before anything proportional to the image is allocated.
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Source<'a>> {
        limits.check_source_bytes(bytes.len())?;
        let source = match sniff(bytes)? {
            Format::Jpeg => Source::Jpeg(jpeg::JpegSource::open(bytes, limits)?),
            Format::Png => Source::Png(png::PngSource::open(bytes, limits)?),
            Format::Webp => Source::Webp(webp::WebpSource::open(bytes, limits)?),
            Format::Gif => Source::Gif(gif::GifSource::open(bytes, limits)?),
            Format::Avif => return Err(crate::error::Error::unsupported("AVIF images are not read, only written")),
        };
        let info = source.info();
        limits.check_source_pixels(info.width, info.height)?;
        Ok(source)
    }

    /// The header alone, for [`crate::probe`] (no limits): what `open`
    /// reads, except that a PNG whose rows need more than the png crate's
    /// working memory is described from its chunks instead of refused.
    pub(crate) fn probe(bytes: &[u8]) -> Result<Info> {
        match sniff(bytes)? {
            Format::Png => png::probe(bytes),
            _ => Ok(Source::open(bytes, &Limits::unlimited())?.info()),
        }
    }

    pub(crate) fn info(&self) -> Info {
        match self {
            Source::Jpeg(s) => s.info(),
            Source::Png(s) => s.info(),
            Source::Webp(s) => s.info(),
            Source::Gif(s) => s.info(),
        }
    }

    /// Decodes into 8-bit pixels (gray, RGB or RGBA), at full size or, where
    /// the format allows it cheaply, smaller but keeping at least
    /// `min_scale` (0 < min_scale ≤ 1) of each side. Damage is served or
    /// refused as the `limits` given to [`Source::open`] say (`strict`).
    pub(crate) fn decode(self, min_scale: f64) -> Result<Decoded> {
        match self {
            Source::Jpeg(s) => s.decode(min_scale),
            Source::Png(s) => s.decode(),
            Source::Webp(s) => {
                let found = s.icc_profile().map_or(icc::Found::None, |b| icc::Found::Bytes(b.to_vec()));
                let pixels = s.decode(min_scale)?;
                let mut warnings = Vec::new();
                let profile = found.into_profile(&mut warnings);
                Ok(Decoded { pixels, profile, warnings })
            }
            Source::Gif(s) => Ok(Decoded { pixels: s.decode()?, profile: None, warnings: Vec::new() }),
        }
    }

    /// Frames in the source: 1 for a still image (APNG: its default image).
    pub(crate) fn frames(&self) -> u32 {
        match self {
            Source::Webp(s) => s.frames(),
            Source::Gif(s) => s.frames(),
            Source::Jpeg(_) | Source::Png(_) => 1,
        }
    }
}

/// Every frame of an animated source, composited on its canvas (straight
/// RGBA), with how long each shows (ms): for `anim` renders.
pub(crate) enum Frames<'a> {
    Gif(Box<gif::Frames<'a>>, u32),
    Webp(webp::Frames<'a>),
}

impl<'a> Source<'a> {
    /// The frame decoder of an animated GIF or WebP; `None` for a format
    /// whose animation is not read (JPEG, PNG/APNG: first frame only).
    pub(crate) fn into_frames(self, bytes: &'a [u8]) -> Result<Option<Frames<'a>>> {
        Ok(match self {
            Source::Gif(s) => {
                let loops = s.loop_count();
                Some(Frames::Gif(Box::new(s.frames_decoder()?), loops))
            }
            Source::Webp(_) => Some(Frames::Webp(webp::Frames::new(bytes)?)),
            Source::Jpeg(_) | Source::Png(_) => None,
        })
    }
}

impl Frames<'_> {
    /// Loop count for the output (0: forever).
    pub(crate) fn loop_count(&self) -> u32 {
        match self {
            Frames::Gif(_, loops) => *loops,
            Frames::Webp(f) => f.loop_count(),
        }
    }

    pub(crate) fn next_frame(&mut self) -> Option<Result<(Pixels, u32)>> {
        match self {
            Frames::Gif(f, _) => f.next_frame(),
            Frames::Webp(f) => f.next_frame(),
        }
    }
}
