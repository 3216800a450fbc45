//! AVIF via ravif (rav1e), the `avif` cargo feature: 8-bit, one thread
//! (the request path must not fan out over the host's cores), speed from
//! `Limits::avif_speed` (default 9), quality from the spec's `qN`.

use ravif::{BitDepth, Encoder, Img, RGB8, RGBA8};

use crate::error::{Error, Result};
use crate::pixels::{Layout, Pixels};

pub(crate) fn encode(img: &Pixels, quality: u8, speed: u8) -> Result<Vec<u8>> {
    let encoder = Encoder::new()
        .with_quality(f32::from(quality.clamp(1, 100)))
        .with_speed(speed.clamp(1, 10))
        .with_bit_depth(BitDepth::Eight)
        .with_num_threads(Some(1));
    let (w, h) = (img.width as usize, img.height as usize);
    let fail = |e: ravif::Error| Error::internal(format!("AVIF encode: {e}"));
    let encoded = match img.layout {
        Layout::Rgba => {
            let px: Vec<RGBA8> = img.data.chunks_exact(4).map(|p| RGBA8::new(p[0], p[1], p[2], p[3])).collect();
            encoder.encode_rgba(Img::new(px.as_slice(), w, h)).map_err(fail)?
        }
        Layout::Rgb => {
            let px: Vec<RGB8> = img.data.chunks_exact(3).map(|p| RGB8::new(p[0], p[1], p[2])).collect();
            encoder.encode_rgb(Img::new(px.as_slice(), w, h)).map_err(fail)?
        }
        Layout::Gray => {
            let px: Vec<RGB8> = img.data.iter().map(|&v| RGB8::new(v, v, v)).collect();
            encoder.encode_rgb(Img::new(px.as_slice(), w, h)).map_err(fail)?
        }
    };
    Ok(encoded.avif_file)
}
