//! PNG via the png crate with fast compression: thumbnails are small and
//! must not spend tens of milliseconds in deflate.

use png::{BitDepth, ColorType, Compression, Encoder};

use crate::error::{Error, Result};
use crate::pixels::{Layout, Pixels};

pub(crate) fn encode(img: &Pixels) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(img.data.len() / 2 + 1024);
    let mut encoder = Encoder::new(&mut out, img.width, img.height);
    encoder.set_color(match img.layout {
        Layout::Gray => ColorType::Grayscale,
        Layout::Rgb => ColorType::Rgb,
        Layout::Rgba => ColorType::Rgba,
    });
    encoder.set_depth(BitDepth::Eight);
    encoder.set_compression(Compression::Fast);
    let fail = |e: png::EncodingError| Error::internal(format!("PNG encode: {e}"));
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&img.data).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}
