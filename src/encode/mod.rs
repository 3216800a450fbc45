//! Encoding the finished pixels. Nothing from the source's metadata (EXIF,
//! XMP, ICC) is written: output is plain sRGB 8-bit.

#[cfg(feature = "avif")]
mod avif;
mod jpeg;
mod png;
pub(crate) mod webp;

use crate::error::{Error, Result};
use crate::image::Format;
use crate::pixels::Pixels;
use crate::spec::Spec;

pub(crate) fn encode(img: &Pixels, format: Format, spec: &Spec) -> Result<Vec<u8>> {
    match format {
        Format::Jpeg => jpeg::encode(img, spec.quality, spec.progressive),
        Format::Png => png::encode(img),
        Format::Webp => webp::encode(img, spec.quality),
        Format::Avif => encode_avif(img, spec.quality, crate::limits::Limits::DEFAULT_AVIF_SPEED),
        Format::Gif => Err(Error::unsupported("GIF output is not supported (webp keeps animation)")),
    }
}

/// AVIF at the given rav1e speed (the `avif` feature; `unsupported`
/// without it).
pub(crate) fn encode_avif(img: &Pixels, quality: u8, speed: u8) -> Result<Vec<u8>> {
    #[cfg(feature = "avif")]
    return avif::encode(img, quality, speed);
    #[cfg(not(feature = "avif"))]
    {
        let _ = (img, quality, speed);
        Err(Error::unsupported("AVIF output needs the library built with the `avif` feature"))
    }
}
