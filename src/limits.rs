//! Resource limits, enforced from the header before pixel memory is allocated.

use crate::error::{Error, Result};

/// Limits for one render. Every surface (CLI, C, nginx, Lua, Go) uses these
/// same defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest accepted source, in bytes.
    pub max_source_bytes: u64,
    /// Largest accepted source, in pixels (width × height from the header).
    pub max_source_pixels: u64,
    /// Largest output width.
    pub max_output_width: u32,
    /// Largest output height.
    pub max_output_height: u32,
    /// Refuse a damaged or truncated source as `corrupt` instead of serving
    /// the part that decodes (the default, as browsers show such files).
    pub strict: bool,
    /// Most frames an animated source may have to be rendered animated
    /// (`anim`); a still render reads only the first frame.
    pub max_frames: u32,
    /// Most pixels of an animation in all: canvas width × height × frames.
    pub max_animation_pixels: u64,
    /// `auto` picks AVIF only for outputs of at most this many pixels
    /// (AVIF encodes are slow), WebP above.
    pub avif_max_pixels: u64,
    /// rav1e speed for AVIF, 0 (slowest) ..= 10 (fastest); values above 10
    /// count as 10.
    pub avif_speed: u8,
    /// Largest encoded output, in bytes; checked after encoding, so it bounds
    /// what a render hands back (and a cache or a slow client holds), not
    /// the work. `u64::MAX`, the default, means no limit.
    pub max_output_bytes: u64,
}

impl Limits {
    pub const DEFAULT_MAX_SOURCE_BYTES: u64 = 64 << 20;
    pub const DEFAULT_MAX_SOURCE_PIXELS: u64 = 50_000_000;
    pub const DEFAULT_MAX_OUTPUT_SIDE: u32 = 4096;
    pub const DEFAULT_MAX_FRAMES: u32 = 100;
    pub const DEFAULT_MAX_ANIMATION_PIXELS: u64 = 50_000_000;
    pub const DEFAULT_AVIF_MAX_PIXELS: u64 = 1_000_000;
    pub const DEFAULT_AVIF_SPEED: u8 = 9;

    pub(crate) fn check_animation(&self, width: u32, height: u32, frames: u32) -> Result<()> {
        if frames > self.max_frames {
            return Err(Error::too_large(format!("animation has {frames} frames, limit {}", self.max_frames)));
        }
        let pixels = u64::from(width) * u64::from(height) * u64::from(frames);
        if pixels > self.max_animation_pixels {
            return Err(Error::too_large(format!(
                "animation is {width}x{height} x {frames} frames ({pixels} pixels), limit {}",
                self.max_animation_pixels
            )));
        }
        Ok(())
    }

    pub(crate) fn check_source_bytes(&self, len: usize) -> Result<()> {
        if len as u64 > self.max_source_bytes {
            return Err(Error::too_large(format!("source is {len} bytes, limit {}", self.max_source_bytes)));
        }
        Ok(())
    }

    pub(crate) fn check_source_pixels(&self, width: u32, height: u32) -> Result<()> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_source_pixels {
            return Err(Error::too_large(format!(
                "source is {width}x{height} ({pixels} pixels), limit {} pixels",
                self.max_source_pixels
            )));
        }
        Ok(())
    }

    pub(crate) fn check_output_bytes(&self, len: usize) -> Result<()> {
        if len as u64 > self.max_output_bytes {
            return Err(Error::too_large(format!("output is {len} bytes, limit {}", self.max_output_bytes)));
        }
        Ok(())
    }

    pub(crate) fn check_output(&self, width: u32, height: u32) -> Result<()> {
        if width > self.max_output_width || height > self.max_output_height {
            return Err(Error::too_large(format!(
                "output {width}x{height} exceeds limit {}x{}",
                self.max_output_width, self.max_output_height
            )));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_source_bytes: Self::DEFAULT_MAX_SOURCE_BYTES,
            max_source_pixels: Self::DEFAULT_MAX_SOURCE_PIXELS,
            max_output_width: Self::DEFAULT_MAX_OUTPUT_SIDE,
            max_output_height: Self::DEFAULT_MAX_OUTPUT_SIDE,
            strict: false,
            max_frames: Self::DEFAULT_MAX_FRAMES,
            max_animation_pixels: Self::DEFAULT_MAX_ANIMATION_PIXELS,
            avif_max_pixels: Self::DEFAULT_AVIF_MAX_PIXELS,
            avif_speed: Self::DEFAULT_AVIF_SPEED,
            max_output_bytes: u64::MAX,
        }
    }
}

impl Limits {
    /// No limits at all; for [`probe`](crate::probe), which allocates nothing
    /// proportional to the image.
    pub(crate) fn unlimited() -> Limits {
        Limits {
            max_source_bytes: u64::MAX,
            max_source_pixels: u64::MAX,
            max_output_width: u32::MAX,
            max_output_height: u32::MAX,
            strict: false,
            max_frames: u32::MAX,
            max_animation_pixels: u64::MAX,
            avif_max_pixels: Self::DEFAULT_AVIF_MAX_PIXELS,
            avif_speed: Self::DEFAULT_AVIF_SPEED,
            max_output_bytes: u64::MAX,
        }
    }
}
