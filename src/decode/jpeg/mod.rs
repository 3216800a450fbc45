//! JPEG through zune-jpeg: baseline, progressive, every subsampling, restart
//! markers; grayscale stays gray, CMYK/YCCK (Adobe inverted too) become RGB.
//! YCbCr, RGB and gray JPEGs are first tried with libjpeg-turbo
//! (`turbo`): faster, and able to decode at reduced size. zune-jpeg
//! decodes the rest and has the last word on every file libjpeg-turbo
//! does not decode cleanly, except that a file both reject is served as
//! libjpeg-turbo decodes it when it only warned of corrupt data.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;
use zune_jpeg::errors::DecodeErrors;

mod dc;
mod turbo;

use super::Info;
use crate::error::{Error, ErrorKind, Result};
use crate::exif;
use crate::image::Format;
use crate::pixels::{Layout, Pixels};

pub(crate) struct JpegSource<'a> {
    decoder: JpegDecoder<ZCursor<&'a [u8]>>,
    decoder_bytes: &'a [u8],
    info: Info,
    layout: Layout,
    /// YCbCr, RGB or gray: what libjpeg-turbo converts itself.
    scalable: bool,
}

impl<'a> JpegSource<'a> {
    pub(crate) fn open(bytes: &'a [u8]) -> Result<JpegSource<'a>> {
        let options = DecoderOptions::default()
            .set_strict_mode(false)
            .set_max_width(usize::from(u16::MAX))
            .set_max_height(usize::from(u16::MAX));
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
        decoder.decode_headers().map_err(|e| classify(bytes, e))?;
        let (width, height) = decoder.dimensions().ok_or_else(|| Error::corrupt("JPEG has no frame header"))?;
        if width == 0 || height == 0 {
            return Err(Error::corrupt("JPEG has a zero dimension"));
        }
        let input = decoder.input_colorspace();
        let gray = input == Some(ColorSpace::Luma);
        let scalable = matches!(input, Some(ColorSpace::Luma | ColorSpace::YCbCr | ColorSpace::RGB));
        let (colorspace, layout) = if gray { (ColorSpace::Luma, Layout::Gray) } else { (ColorSpace::RGB, Layout::Rgb) };
        decoder.set_options(decoder.options().jpeg_set_out_colorspace(colorspace));
        let orientation = decoder.exif().map_or(1, |e| exif::orientation(e));
        let info = Info {
            format: Format::Jpeg,
            width: width as u32,
            height: height as u32,
            orientation,
            has_alpha: false,
            progressive: is_progressive(bytes),
        };
        Ok(JpegSource { decoder, decoder_bytes: bytes, info, layout, scalable })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    /// Decodes at the smallest size that keeps at least `min_scale` of each
    /// side (a reduced DCT when that is below 1), else at full size.
    pub(crate) fn decode(self, min_scale: f64) -> Result<Pixels> {
        if self.scalable
            && let Some(pixels) = turbo::decode(
                self.decoder_bytes,
                turbo::eighths(min_scale),
                self.info.width,
                self.info.height,
                self.layout,
                self.info.progressive,
            )
        {
            return Ok(pixels);
        }
        let (bytes, info, layout, scalable) = (self.decoder_bytes, self.info, self.layout, self.scalable);
        match self.decode_full() {
            Err(e) if scalable && e.kind() == ErrorKind::Corrupt => {
                let m = turbo::eighths(min_scale);
                turbo::decode_despite_warnings(bytes, m, info.width, info.height, layout).ok_or(e)
            }
            result => result,
        }
    }

    fn decode_full(mut self) -> Result<Pixels> {
        let size = self.decoder.output_buffer_size().ok_or_else(|| Error::internal("JPEG output size unknown"))?;
        let mut data = vec![0u8; size];
        let bytes = self.decoder_bytes;
        self.decoder.decode_into(&mut data).map_err(|e| classify(bytes, e))?;
        Ok(Pixels::new(self.info.width, self.info.height, self.layout, data))
    }
}

/// Maps a decoder error to our kinds. zune-jpeg reports optional JPEG
/// features (12-bit, arithmetic, lossless, hierarchical) as generic errors,
/// so the frame header is checked to call those `unsupported`.
fn classify(bytes: &[u8], e: DecodeErrors) -> Error {
    if let Some(feature) = unsupported_feature(bytes) {
        return Error::unsupported(format!("JPEG {feature} is not supported"));
    }
    match e {
        DecodeErrors::Unsupported(scheme) => Error::unsupported(format!("JPEG: {scheme:?}")),
        other => Error::corrupt(format!("JPEG: {other}")),
    }
}

/// Whether the frame header is SOF2 (progressive, Huffman).
fn is_progressive(bytes: &[u8]) -> bool {
    matches!(frame_marker(bytes), Some((0xC2, _)))
}

/// Names an optional JPEG feature the frame header declares, if any.
fn unsupported_feature(bytes: &[u8]) -> Option<&'static str> {
    let (marker, at) = frame_marker(bytes)?;
    match marker {
        0xC3 | 0xC7 | 0xCB | 0xCF => Some("lossless coding"),
        0xC5 | 0xC6 => Some("hierarchical coding"),
        0xC9..=0xCA | 0xCC..=0xCE => Some("arithmetic coding"),
        _ => {
            let precision = *bytes.get(at + 4)?;
            (precision != 8).then_some("with other than 8-bit samples")
        }
    }
}

/// Walks the marker segments to the first start-of-frame marker (or DAC,
/// which only arithmetic-coded files have) and returns it with its offset.
fn frame_marker(bytes: &[u8]) -> Option<(u8, usize)> {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8) => return Some((marker, at)),
            0xDA | 0xD9 => return None,
            _ => at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
        }
    }
    None
}
