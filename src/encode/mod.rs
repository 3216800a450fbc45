//! Encoding the finished pixels. Nothing from the source's metadata (EXIF,
//! XMP, ICC) is written: output is plain sRGB 8-bit.

mod jpeg;
mod png;

use crate::error::Result;
use crate::image::Format;
use crate::pixels::Pixels;
use crate::spec::Spec;

pub(crate) fn encode(img: &Pixels, format: Format, spec: &Spec) -> Result<Vec<u8>> {
    match format {
        Format::Jpeg => jpeg::encode(img, spec.quality, spec.progressive),
        Format::Png => png::encode(img),
    }
}
