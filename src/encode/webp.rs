//! WebP via libwebp's advanced API (`crate::webp_sys`): lossy at the
//! spec's quality, method 4 (sharp's, libvips' and libwebp's default),
//! alpha kept (lossy alpha plane) when any pixel is not opaque.

use crate::error::{Error, Result};
use crate::pixels::{Layout, Pixels};
use crate::spec::MAX_WEBP_SIDE;
use crate::webp_sys::{self, AnimEncoder, EncodeOptions, Failure};

/// libwebp's default effort; 0..=6.
pub(crate) const METHOD: i32 = 4;

pub(crate) fn options(quality: u8) -> EncodeOptions {
    EncodeOptions { quality: f32::from(quality), method: METHOD }
}

pub(crate) fn check_side(width: u32, height: u32) -> Result<()> {
    if width > MAX_WEBP_SIDE || height > MAX_WEBP_SIDE {
        return Err(Error::invalid_spec(format!(
            "webp output is at most {MAX_WEBP_SIDE} pixels a side; this render would be {width}x{height}"
        )));
    }
    Ok(())
}

pub(crate) fn encode(img: &Pixels, quality: u8) -> Result<Vec<u8>> {
    check_side(img.width, img.height)?;
    let rgb;
    let (data, channels) = match img.layout {
        Layout::Gray => {
            rgb = img.data.iter().flat_map(|&v| [v, v, v]).collect::<Vec<u8>>();
            (rgb.as_slice(), 3)
        }
        Layout::Rgb => (img.data.as_slice(), 3),
        Layout::Rgba => (img.data.as_slice(), 4),
    };
    webp_sys::encode(data, img.width, img.height, channels, options(quality)).map_err(fail)
}

pub(crate) fn fail(f: Failure) -> Error {
    match f {
        Failure::OutOfMemory => Error::too_large("WebP encode: out of memory"),
        other => Error::internal(format!("WebP encode: {other:?}")),
    }
}

/// An animated WebP being written, frame by frame.
pub(crate) struct Animation {
    enc: AnimEncoder,
    /// Start of the next frame, ms.
    at_ms: u32,
    frames: u32,
}

impl Animation {
    pub(crate) fn new(width: u32, height: u32, loop_count: u32, quality: u8) -> Result<Animation> {
        check_side(width, height)?;
        Ok(Animation {
            enc: AnimEncoder::new(width, height, loop_count, options(quality)).map_err(fail)?,
            at_ms: 0,
            frames: 0,
        })
    }

    /// Adds a frame (the animation's size, RGB or RGBA) shown for `ms`.
    pub(crate) fn add(&mut self, img: &Pixels, ms: u32) -> Result<()> {
        let channels = img.layout.channels();
        if channels == 1 {
            return Err(Error::internal("animation frame is gray"));
        }
        let start = i32::try_from(self.at_ms).map_err(|_| Error::too_large("animation longer than 24 days"))?;
        self.enc.add(&img.data, channels, start).map_err(fail)?;
        self.at_ms = self.at_ms.saturating_add(ms);
        self.frames += 1;
        Ok(())
    }

    pub(crate) fn frames(&self) -> u32 {
        self.frames
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        let end = i32::try_from(self.at_ms).map_err(|_| Error::too_large("animation longer than 24 days"))?;
        self.enc.finish(end).map_err(fail)
    }
}
