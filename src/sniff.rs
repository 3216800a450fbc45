//! Format detection from content (magic numbers), never from a file name.

use crate::error::{Error, Result};
use crate::image::Format;

/// Identifies the format of `bytes`. Known formats this library does not
/// decode yet get an `unsupported` error that names them.
pub fn sniff(bytes: &[u8]) -> Result<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok(Format::Gif);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::Webp);
    }
    let other = if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        "HEIF/AVIF"
    } else if bytes.starts_with(b"BM") {
        "BMP"
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        "TIFF"
    } else if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL ") {
        "JPEG XL"
    } else if bytes.is_empty() {
        return Err(Error::unsupported("empty input"));
    } else {
        return Err(Error::unsupported("not a JPEG, PNG, GIF or WebP image"));
    };
    Err(Error::unsupported(format!("{other} images are not supported")))
}
