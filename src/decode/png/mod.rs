//! PNG through the png crate: every colour type and bit depth, palette with
//! tRNS, Adam7. Output is 8-bit gray, RGB or RGBA; 16-bit samples are rounded
//! (not truncated) to 8 bits. The common 8-bit kinds are first tried by
//! `fast` (libdeflate, one call).

use std::io::Cursor;

use png::{BitDepth, ColorType, DecodeOptions, Decoder, DecodingError, Reader, Transformations};

mod fast;

use super::Info;
use crate::error::{Error, Result};
use crate::exif;
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels, gray_alpha_to_rgba};

/// Cap on the png crate's own allocations (row buffers, metadata chunks);
/// the pixel buffer itself is bounded by the pixel limit.
const PNG_INTERNAL_BYTES: usize = 16 << 20;

pub(crate) struct PngSource<'a> {
    bytes: &'a [u8],
    reader: Reader<Cursor<&'a [u8]>>,
    info: Info,
}

impl<'a> PngSource<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<PngSource<'a>> {
        check_methods(bytes)?;
        let mut options = DecodeOptions::default();
        // Text and ICC are stripped from output anyway; skipping them also
        // defuses zlib bombs hidden in zTXt/iCCP chunks.
        options.set_ignore_text_chunk(true);
        options.set_ignore_iccp_chunk(true);
        let mut decoder = Decoder::new_with_options(Cursor::new(bytes), options);
        decoder.set_limits(png::Limits { bytes: PNG_INTERNAL_BYTES });
        let (width, height) = decoder.read_header_info().map_err(map_error)?.size();
        if width == 0 || height == 0 {
            return Err(Error::corrupt("PNG has a zero dimension"));
        }
        // Refuse before read_info() sizes any buffer from these dimensions.
        limits.check_source_pixels(width, height)?;
        decoder.set_transformations(Transformations::EXPAND);
        let reader = decoder.read_info().map_err(map_error)?;
        let orientation = reader.info().exif_metadata.as_deref().map_or(1, exif::orientation);
        let (color, _) = reader.output_color_type();
        let has_alpha = matches!(color, ColorType::Rgba | ColorType::GrayscaleAlpha);
        let info = Info { format: Format::Png, width, height, orientation, has_alpha, progressive: false };
        Ok(PngSource { bytes, reader, info })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    pub(crate) fn decode(self) -> Result<Pixels> {
        match fast::decode(self.bytes, self.info.width, self.info.height) {
            Some(pixels) => Ok(pixels),
            None => self.decode_with_png_crate(),
        }
    }

    pub(super) fn decode_with_png_crate(mut self) -> Result<Pixels> {
        let size =
            self.reader.output_buffer_size().ok_or_else(|| Error::too_large("PNG frame does not fit in memory"))?;
        let mut raw = vec![0u8; size];
        let frame = self.reader.next_frame(&mut raw).map_err(map_error)?;
        raw.truncate(frame.buffer_size());
        let (width, height) = (frame.width, frame.height);
        let wide = frame.bit_depth == BitDepth::Sixteen;
        let samples = if wide { to_8bit(&raw) } else { raw };
        let (layout, data) = match frame.color_type {
            ColorType::Grayscale => (Layout::Gray, samples),
            ColorType::Rgb => (Layout::Rgb, samples),
            ColorType::Rgba => (Layout::Rgba, samples),
            ColorType::GrayscaleAlpha => (Layout::Rgba, gray_alpha_to_rgba(&samples)),
            ColorType::Indexed => return Err(Error::internal("PNG palette was not expanded")),
        };
        if data.len() != width as usize * height as usize * layout.channels() {
            return Err(Error::internal("PNG frame size mismatch"));
        }
        Ok(Pixels::new(width, height, layout, data))
    }
}

/// PNG defines only compression/filter method 0. The png crate skips
/// iCCP (we ignore it) and does not check IHDR's methods, so the chunks
/// before the image data are walked here and any other method is refused.
fn check_methods(bytes: &[u8]) -> Result<()> {
    let unknown = |what: &str, m: u8| Err(Error::corrupt(format!("PNG {what} method {m} unknown")));
    let mut at = 8;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let data = &bytes[at + 8..(at + 8).saturating_add(len).min(bytes.len())];
        match kind {
            b"IHDR" => match (data.get(10), data.get(11)) {
                (Some(0), Some(0)) | (None, _) | (_, None) => {}
                (Some(&c), Some(0)) => return unknown("compression", c),
                (_, Some(&f)) => return unknown("filter", f),
            },
            b"iCCP" | b"zTXt" => {
                let method = data.iter().take(80).position(|&b| b == 0).and_then(|nul| data.get(nul + 1));
                if let Some(&m) = method.filter(|&&m| m != 0) {
                    return unknown("chunk compression", m);
                }
            }
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        at = at.saturating_add(12).saturating_add(len);
    }
    Ok(())
}

/// Big-endian 16-bit samples to 8 bits, rounded to nearest: v * 255 / 65535.
fn to_8bit(wide: &[u8]) -> Vec<u8> {
    wide.chunks_exact(2)
        .map(|b| {
            let v = u32::from(u16::from_be_bytes([b[0], b[1]]));
            ((v * 255 + 32767) / 65535) as u8
        })
        .collect()
}

fn map_error(e: DecodingError) -> Error {
    match e {
        DecodingError::LimitsExceeded => Error::too_large("PNG exceeds decoder memory limit"),
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::corrupt("PNG is truncated")
        }
        other => Error::corrupt(format!("PNG: {other}")),
    }
}
