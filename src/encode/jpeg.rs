//! JPEG via libjpeg-turbo (the library already linked for decoding): 4:2:0
//! chroma, optional progressive. Several times faster than jpeg-encoder
//! 0.7 (SIMD) on the same pixels (`cargo bench --bench codecs`; figures in
//! benches/README.md).

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::error::{Error, Result};
use crate::pixels::{Layout, Pixels};

/// JPEG's frame header stores each side in 16 bits.
const MAX_SIDE: u32 = 65_535;

pub(crate) fn encode(img: &Pixels, quality: u8, progressive: bool) -> Result<Vec<u8>> {
    if img.width > MAX_SIDE || img.height > MAX_SIDE {
        return Err(Error::too_large(format!("{}x{} exceeds JPEG's 65535 limit", img.width, img.height)));
    }
    let (format, subsamp) = match img.layout {
        Layout::Gray => (PixelFormat::GRAY, Subsamp::Gray),
        Layout::Rgb => (PixelFormat::RGB, Subsamp::Sub2x2),
        Layout::Rgba => return Err(Error::internal("alpha must be flattened before JPEG")),
    };
    let fail = |e: turbojpeg::Error| Error::internal(format!("JPEG encode: {e}"));
    let mut compressor = Compressor::new().map_err(fail)?;
    compressor.set_quality(i32::from(quality)).map_err(fail)?;
    compressor.set_subsamp(subsamp).map_err(fail)?;
    compressor.set_progressive(progressive).map_err(fail)?;
    let image = Image {
        pixels: img.data.as_slice(),
        width: img.width as usize,
        pitch: img.stride(),
        height: img.height as usize,
        format,
    };
    compressor.compress_to_vec(image).map_err(fail)
}
