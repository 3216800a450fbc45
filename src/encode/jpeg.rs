//! JPEG via jpeg-encoder (SIMD): 4:2:0 chroma, optional progressive.

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use crate::error::{Error, Result};
use crate::pixels::{Layout, Pixels};

pub(crate) fn encode(img: &Pixels, quality: u8, progressive: bool) -> Result<Vec<u8>> {
    let (Ok(width), Ok(height)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(Error::too_large(format!("{}x{} exceeds JPEG's 65535 limit", img.width, img.height)));
    };
    let color = match img.layout {
        Layout::Gray => ColorType::Luma,
        Layout::Rgb => ColorType::Rgb,
        Layout::Rgba => return Err(Error::internal("alpha must be flattened before JPEG")),
    };
    // Thumbnails compress to roughly a bit per pixel; start near that.
    let mut out = Vec::with_capacity(img.data.len() / 8 + 1024);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_progressive(progressive);
    encoder
        .encode(&img.data, width, height, color)
        .map_err(|e| Error::internal(format!("JPEG encode: {e}")))?;
    Ok(out)
}
