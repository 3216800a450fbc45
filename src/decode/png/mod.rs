//! PNG through the png crate: every colour type and bit depth, palette with
//! tRNS, Adam7. Output is 8-bit gray, RGB or RGBA; 16-bit samples are rounded
//! (not truncated) to 8 bits. The common 8-bit kinds are first tried by
//! `fast` (libdeflate, one call).
//!
//! Colour: an iCCP profile (inflated here with a cap: it can be a zlib
//! bomb), else an sRGB chunk (sRGB), else gAMA (a power law with sRGB's
//! primaries, as browsers read it) goes to the pipeline as the source's
//! profile; cHRM is not read.
//!
//! Damage: image data that ends early or breaks off (truncated file, bad
//! zlib stream) is served as browsers show it, the rows (or Adam7 passes)
//! decoded so far, the rest transparent; with `Limits::strict` it is
//! `corrupt`. Chunk CRC errors and broken headers are `corrupt` either way.

use std::io::Cursor;

use png::{BitDepth, ColorType, DecodeOptions, Decoder, DecodingError, Reader, Transformations};

mod fast;

use super::{Decoded, Info};
use crate::error::{Error, ErrorKind, Result};
use crate::exif;
use crate::icc;
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels, gray_alpha_to_rgba};

/// Cap on the png crate's own allocations (row buffers, metadata chunks);
/// the pixel buffer itself is bounded by the pixel limit.
const PNG_INTERNAL_BYTES: usize = 16 << 20;

/// Largest inflated iCCP profile; a larger one (or a zlib bomb) is ignored
/// and the image treated as sRGB.
const MAX_ICC_BYTES: usize = 4 << 20;

pub(crate) struct PngSource<'a> {
    bytes: &'a [u8],
    reader: Reader<Cursor<&'a [u8]>>,
    info: Info,
    colour: Colour<'a>,
    strict: bool,
}

/// The colour chunks before the image data.
#[derive(Default)]
struct Colour<'a> {
    /// iCCP's compressed profile (after the name and method bytes).
    iccp: Option<&'a [u8]>,
    srgb: bool,
    gamma: Option<u32>,
}

impl<'a> PngSource<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<PngSource<'a>> {
        let colour = check_methods(bytes)?;
        let mut options = DecodeOptions::default();
        // Text is stripped from output anyway and iCCP is read by
        // `check_methods` (inflated with a cap): skipping both in the png
        // crate defuses zlib bombs hidden in zTXt/iCCP chunks.
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
        Ok(PngSource { bytes, reader, info, colour, strict: limits.strict })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    pub(crate) fn decode(self) -> Result<Decoded> {
        let mut warnings = Vec::new();
        let found = self.colour.found();
        let pixels = match fast::decode(self.bytes, self.info.width, self.info.height) {
            Some(pixels) => pixels,
            None => self.decode_with_png_crate(&mut warnings)?,
        };
        let profile = found.into_profile(&mut warnings);
        Ok(Decoded { pixels, profile, warnings })
    }

    pub(super) fn decode_with_png_crate(mut self, warnings: &mut Vec<String>) -> Result<Pixels> {
        let size =
            self.reader.output_buffer_size().ok_or_else(|| Error::too_large("PNG frame does not fit in memory"))?;
        let mut raw = vec![0u8; size];
        let frame = match self.reader.next_frame(&mut raw) {
            Ok(frame) => frame,
            Err(e) if self.strict || !is_data_damage(&e) => return Err(map_error(e)),
            Err(e) => {
                drop(raw);
                let partial = partial(self.bytes).ok_or_else(|| map_error(e.clone_kind()))?;
                warnings.push(format!("PNG: {}; the rows decoded before it are shown", map_error(e)));
                return Ok(partial);
            }
        };
        raw.truncate(frame.buffer_size());
        to_pixels(raw, frame.width, frame.height, frame.color_type, frame.bit_depth)
    }
}

/// The header of a PNG for `probe`: [`PngSource::open`] without limits,
/// except that a PNG the png crate refuses for its working memory (rows
/// over `PNG_INTERNAL_BYTES`, e.g. 12189728 x 32 gray+alpha, or a huge
/// metadata chunk) is described from IHDR and the chunks before the image
/// data (tRNS, eXIf), which allocates nothing proportional to the image.
/// Such a file still renders as `too-large`; its header is not broken.
pub(crate) fn probe(bytes: &[u8]) -> Result<Info> {
    match PngSource::open(bytes, &Limits::unlimited()) {
        Ok(source) => Ok(source.info),
        Err(e) if e.kind() == ErrorKind::TooLarge => header_only(bytes),
        Err(e) => Err(e),
    }
}

fn header_only(bytes: &[u8]) -> Result<Info> {
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_limits(png::Limits { bytes: PNG_INTERNAL_BYTES });
    let header = decoder.read_header_info().map_err(map_error)?;
    let (width, height) = header.size();
    let colour = header.color_type;
    if width == 0 || height == 0 {
        return Err(Error::corrupt("PNG has a zero dimension"));
    }
    let (mut trns, mut orientation) = (false, 1);
    let mut at = 8;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
        let data = &bytes[at + 8..(at + 8).saturating_add(len).min(bytes.len())];
        match &chunk[4..8] {
            b"tRNS" => trns = true,
            b"eXIf" if orientation == 1 => orientation = exif::orientation(data),
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        at = at.saturating_add(12).saturating_add(len);
    }
    let has_alpha = trns || matches!(colour, ColorType::Rgba | ColorType::GrayscaleAlpha);
    Ok(Info { format: Format::Png, width, height, orientation, has_alpha, progressive: false })
}

/// The png crate's output as our 8-bit layouts.
fn to_pixels(raw: Vec<u8>, width: u32, height: u32, color: ColorType, depth: BitDepth) -> Result<Pixels> {
    let samples = if depth == BitDepth::Sixteen { to_8bit(&raw) } else { raw };
    let (layout, data) = match color {
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

/// Damage in the image data itself (it ends early, or the zlib stream
/// breaks off), as opposed to a broken header, a CRC error or a limit.
fn is_data_damage(e: &DecodingError) -> bool {
    match e {
        DecodingError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        DecodingError::Format(f) => {
            let text = f.to_string();
            !text.contains("CRC") && !text.contains("IHDR") && !text.contains("PLTE")
        }
        _ => false,
    }
}

trait CloneKind {
    fn clone_kind(&self) -> DecodingError;
}

impl CloneKind for DecodingError {
    /// A stand-in carrying the same message (DecodingError is not Clone).
    fn clone_kind(&self) -> DecodingError {
        DecodingError::IoError(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, self.to_string()))
    }
}

/// Decodes `bytes` again row by row up to the damage: the rows (for Adam7,
/// the pass rows, each repeated over the pixels its pass stands for, as
/// browsers draw a partly loaded interlaced PNG) decoded before it, every
/// pixel not reached transparent. `None` when not one row decodes.
fn partial(bytes: &[u8]) -> Option<Pixels> {
    let mut options = DecodeOptions::default();
    options.set_ignore_text_chunk(true);
    options.set_ignore_iccp_chunk(true);
    let mut decoder = Decoder::new_with_options(Cursor::new(bytes), options);
    decoder.set_limits(png::Limits { bytes: PNG_INTERNAL_BYTES });
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = (reader.info().width, reader.info().height);
    let (color, depth) = reader.output_color_type();
    let bits_per_pixel = u8::try_from(color.samples() * depth as usize).ok()?;
    let stride = reader.output_line_size(width)?;
    let mut raw = vec![0u8; stride.checked_mul(height as usize)?];
    let mut mask = vec![0u8; width as usize * height as usize];
    let full_row = vec![255u8; width as usize];
    let mut rows = 0usize;
    while let Ok(Some(row)) = reader.next_interlaced_row() {
        match *row.interlace() {
            png::InterlaceInfo::Adam7(ref info) => {
                png::splat_interlaced_row(&mut raw, stride, row.data(), info, bits_per_pixel);
                png::splat_interlaced_row(&mut mask, width as usize, &full_row, info, 8);
            }
            png::InterlaceInfo::Null(_) => {
                let y = rows;
                raw.get_mut(y * stride..(y + 1) * stride)?.copy_from_slice(row.data().get(..stride)?);
                mask[y * width as usize..(y + 1) * width as usize].fill(255);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return None;
    }
    let mut pixels = to_pixels(raw, width, height, color, depth).ok()?;
    if pixels.layout != Layout::Rgba {
        pixels = crate::pixels::to_rgba(pixels);
    }
    for (px, &seen) in pixels.data.chunks_exact_mut(4).zip(&mask) {
        if seen == 0 {
            px[3] = 0;
        }
    }
    Some(pixels)
}

/// PNG defines only compression/filter method 0. The png crate skips
/// iCCP (read here instead) and does not check IHDR's methods, so the
/// chunks before the image data are walked here, any other method is
/// refused, and the colour chunks are kept.
fn check_methods(bytes: &[u8]) -> Result<Colour<'_>> {
    let mut colour = Colour::default();
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
                let nul = data.iter().take(80).position(|&b| b == 0);
                let method = nul.and_then(|nul| data.get(nul + 1));
                if let Some(&m) = method.filter(|&&m| m != 0) {
                    return unknown("chunk compression", m);
                }
                if kind == b"iCCP" && colour.iccp.is_none() {
                    colour.iccp = nul.and_then(|nul| data.get(nul + 2..));
                }
            }
            b"sRGB" => colour.srgb = true,
            b"gAMA" if data.len() == 4 => colour.gamma = Some(u32::from_be_bytes([data[0], data[1], data[2], data[3]])),
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        at = at.saturating_add(12).saturating_add(len);
    }
    Ok(colour)
}

impl Colour<'_> {
    /// iCCP first, then sRGB, then gAMA (the order of precedence PNG gives).
    fn found(&self) -> icc::Found {
        if let Some(zlib) = self.iccp {
            return match inflate_capped(zlib, MAX_ICC_BYTES) {
                Some(profile) => icc::Found::Bytes(profile),
                None => icc::Found::Broken("PNG iCCP does not inflate within 4 MiB".into()),
            };
        }
        match (self.srgb, self.gamma) {
            (false, Some(g)) if g > 0 => icc::Found::Gamma(g as f32 / 100_000.0),
            _ => icc::Found::None,
        }
    }
}

/// A zlib stream inflated into at most `cap` bytes (tries 64 KiB, then the
/// cap), or `None` if it is broken or inflates to more.
fn inflate_capped(zlib: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut decompressor = libdeflater::Decompressor::new();
    for size in [64 << 10, cap] {
        let mut out = vec![0u8; size];
        match decompressor.zlib_decompress(zlib, &mut out) {
            Ok(n) => {
                out.truncate(n);
                return Some(out);
            }
            Err(libdeflater::DecompressionError::InsufficientSpace) => continue,
            Err(_) => return None,
        }
    }
    None
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
