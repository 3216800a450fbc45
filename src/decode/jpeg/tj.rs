//! The TurboJPEG 3 calls the `turbojpeg` crate does not wrap, bound
//! directly to its `raw` (turbojpeg-sys) functions: `tj3GetErrorCode`
//! (whether a failed decode is a warning, after which every row was
//! decoded, or a fatal error), `tj3Decompress12` (12-bit lossy and
//! lossless) and `tj3Decompress16` (13- to 16-bit lossless).
//!
//! The one module of the decoders with `unsafe` (ARCHITECTURE.md,
//! invariants). It keeps the contract small: [`decode`] reads the header of
//! the very bytes it then decompresses, sizes the output buffer itself from
//! that header and the scaling factor, and owns the handle for exactly one
//! call, so no caller can pass a buffer that does not fit.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int};

use turbojpeg::raw;

/// A JPEG's colour space as libjpeg-turbo reads it (Adobe APP14 and JFIF
/// markers decide between RGB and YCbCr, CMYK and YCCK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colorspace {
    Rgb,
    YCbCr,
    Gray,
    Cmyk,
    Ycck,
}

/// What `tj3DecompressHeader` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    pub width: u32,
    pub height: u32,
    pub colorspace: Colorspace,
    /// Bits per sample: 8 or 12 (lossy), 2..=16 (lossless).
    pub precision: u8,
    pub lossless: bool,
}

/// Output pixel format: one of TurboJPEG's packed formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Gray,
    Rgb,
    /// Four samples, as stored (no inversion, no conversion).
    Cmyk,
}

impl Format {
    const fn channels(self) -> usize {
        match self {
            Format::Gray => 1,
            Format::Rgb => 3,
            Format::Cmyk => 4,
        }
    }

    const fn raw(self) -> c_int {
        (match self {
            Format::Gray => raw::TJPF_TJPF_GRAY,
            Format::Rgb => raw::TJPF_TJPF_RGB,
            Format::Cmyk => raw::TJPF_TJPF_CMYK,
        }) as c_int
    }
}

/// Samples of a decoded image, at the source's precision.
pub(crate) enum Samples {
    /// Precision ≤ 8 (lossy 8-bit, or lossless 2..=8 bits).
    Eight(Vec<u8>),
    /// Precision 9..=16, each sample in 0..2^precision.
    Wide(Vec<u16>),
}

/// A decoded image and whether libjpeg-turbo warned on the way.
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub precision: u8,
    pub samples: Samples,
    /// The first warning (corrupt data, premature end, ...): every row was
    /// still produced, the damaged parts as libjpeg-turbo fills them.
    pub warning: Option<String>,
}

/// A failed call: libjpeg-turbo's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fatal(pub String);

/// libjpeg's warning messages (jerror.h, every JWRN_ code; the corrupt-data
/// ones share a prefix). After a warning libjpeg goes on; after a fatal
/// error it stops, and the fatal message replaces any earlier warning's
/// (libjpeg formats only the first warning, but every error), so a failed
/// decode whose message is one of these produced every row.
const WARNINGS: [&str; 7] = [
    "Corrupt JPEG data: ",
    "Premature end of JPEG file",
    "Inconsistent progression sequence for component ",
    "Invalid SOS parameters for sequential JPEG",
    "Unknown Adobe color transform code ",
    "Warning: unknown JFIF revision number ",
    "Application transferred too many scanlines",
];

fn is_warning_message(message: &str) -> bool {
    WARNINGS.iter().any(|w| message.starts_with(w))
}

/// One TurboJPEG decompression instance, destroyed on drop.
struct Handle(raw::tjhandle);

impl Handle {
    fn new() -> Result<Handle, Fatal> {
        // SAFETY: tj3Init has no preconditions; it returns NULL on failure.
        let ptr = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as c_int) };
        if ptr.is_null() {
            return Err(Fatal("TurboJPEG instance could not be created".into()));
        }
        Ok(Handle(ptr))
    }

    fn get(&self, param: raw::TJPARAM) -> c_int {
        // SAFETY: self.0 is a live handle (created in new, destroyed only in drop).
        unsafe { raw::tj3Get(self.0, param as c_int) }
    }

    fn set(&self, param: raw::TJPARAM, value: c_int) -> Result<(), Fatal> {
        // SAFETY: as in get.
        let rc = unsafe { raw::tj3Set(self.0, param as c_int, value) };
        if rc == 0 { Ok(()) } else { Err(self.error()) }
    }

    /// The message of the last failed call on this thread and handle.
    fn message(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated string that stays
        // valid until the next TurboJPEG call on this handle or thread; it is
        // copied out at once.
        unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.0)) }.to_string_lossy().into_owned()
    }

    fn error(&self) -> Fatal {
        Fatal(self.message())
    }

    /// After a failed call: `Ok(message)` for a warning that left every row
    /// decoded, `Err` for a fatal error.
    fn warning_or_fatal(&self) -> Result<String, Fatal> {
        let message = self.message();
        // SAFETY: as in get.
        let code = unsafe { raw::tj3GetErrorCode(self.0) };
        if code == raw::TJERR_TJERR_WARNING as c_int && is_warning_message(&message) {
            Ok(message)
        } else {
            Err(Fatal(message))
        }
    }

    fn read_header(&self, bytes: &[u8]) -> Result<(Header, Option<String>), Fatal> {
        // SAFETY: the pointer and length describe `bytes`, which outlives the call.
        let rc = unsafe { raw::tj3DecompressHeader(self.0, bytes.as_ptr(), bytes.len() as raw::size_t) };
        let warning = if rc == 0 { None } else { Some(self.warning_or_fatal()?) };
        let colorspace = match self.get(raw::TJPARAM_TJPARAM_COLORSPACE) as raw::TJCS {
            raw::TJCS_TJCS_RGB => Colorspace::Rgb,
            raw::TJCS_TJCS_YCbCr => Colorspace::YCbCr,
            raw::TJCS_TJCS_GRAY => Colorspace::Gray,
            raw::TJCS_TJCS_CMYK => Colorspace::Cmyk,
            raw::TJCS_TJCS_YCCK => Colorspace::Ycck,
            _ => return Err(Fatal("JPEG colour space unknown".into())),
        };
        let (width, height) = (self.get(raw::TJPARAM_TJPARAM_JPEGWIDTH), self.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT));
        let precision = self.get(raw::TJPARAM_TJPARAM_PRECISION);
        if width < 1 || height < 1 || !(2..=16).contains(&precision) {
            return Err(Fatal("JPEG header has no usable frame".into()));
        }
        let header = Header {
            width: width as u32,
            height: height as u32,
            colorspace,
            precision: precision as u8,
            lossless: self.get(raw::TJPARAM_TJPARAM_LOSSLESS) != 0,
        };
        Ok((header, warning))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: self.0 came from tj3Init and is destroyed once, here.
        unsafe { raw::tj3Destroy(self.0) }
    }
}

/// `dim` scaled by `num`/`denom`, rounded up (TurboJPEG's TJSCALED).
pub(crate) fn scaled(dim: u32, num: u32, denom: u32) -> u32 {
    ((u64::from(dim) * u64::from(num)).div_ceil(u64::from(denom))) as u32
}

/// Decodes `bytes` at `num`/`denom` of its size (lossless
/// JPEGs always at full size), refusing more than `max_pixels` (from the
/// header, before anything is allocated). Warnings do not fail the decode:
/// they come back in [`Decoded::warning`]. Gray stays gray, RGB and YCbCr
/// become RGB, CMYK and YCCK become CMYK samples as stored.
pub(crate) fn decode(bytes: &[u8], num: u32, denom: u32, max_pixels: u64) -> Result<Decoded, Fatal> {
    let handle = Handle::new()?;
    // Markers are read by our own walk (ICC with a size cap), not saved here.
    handle.set(raw::TJPARAM_TJPARAM_SAVEMARKERS, 0)?;
    handle.set(raw::TJPARAM_TJPARAM_STOPONWARNING, 0)?;
    if let Ok(limit) = c_int::try_from(max_pixels) {
        handle.set(raw::TJPARAM_TJPARAM_MAXPIXELS, limit)?;
    }
    let (header, header_warning) = handle.read_header(bytes)?;
    if u64::from(header.width) * u64::from(header.height) > max_pixels {
        return Err(Fatal("Image is too large".into()));
    }
    let format = match header.colorspace {
        Colorspace::Gray => Format::Gray,
        Colorspace::Rgb | Colorspace::YCbCr => Format::Rgb,
        Colorspace::Cmyk | Colorspace::Ycck => Format::Cmyk,
    };
    let (num, denom) = if header.lossless { (1, 1) } else { (num, denom) };
    let factor = raw::tjscalingfactor { num: num as c_int, denom: denom as c_int };
    // SAFETY: a live handle; the factor is passed by value.
    if unsafe { raw::tj3SetScalingFactor(handle.0, factor) } != 0 {
        return Err(handle.error());
    }
    let (width, height) = (scaled(header.width, num, denom), scaled(header.height, num, denom));
    let channels = format.channels();
    let pitch = (width as usize).checked_mul(channels).ok_or_else(|| Fatal("JPEG row too long".into()))?;
    let len = pitch.checked_mul(height as usize).ok_or_else(|| Fatal("JPEG too large".into()))?;
    let pitch_c = c_int::try_from(pitch).map_err(|_| Fatal("JPEG row too long".into()))?;
    // tj3Decompress* read the header of `bytes` again (the same bytes, so the
    // same size) and write `height` rows of `pitch` samples.
    let (rc, samples) = match header.precision {
        ..=8 => {
            let mut out = vec![0u8; len];
            // SAFETY: `bytes` is valid for its length; `out` holds exactly
            // pitch × height samples of the format, the scaled size of this
            // header at the factor just set (lossless: unscaled, and the
            // factor is 1/1); the handle is live.
            let rc = unsafe {
                raw::tj3Decompress8(
                    handle.0,
                    bytes.as_ptr(),
                    bytes.len() as raw::size_t,
                    out.as_mut_ptr(),
                    pitch_c,
                    format.raw(),
                )
            };
            (rc, Samples::Eight(out))
        }
        9..=12 => {
            let mut out = vec![0i16; len];
            // SAFETY: as for tj3Decompress8, with 16-bit samples.
            let rc = unsafe {
                raw::tj3Decompress12(
                    handle.0,
                    bytes.as_ptr(),
                    bytes.len() as raw::size_t,
                    out.as_mut_ptr(),
                    pitch_c,
                    format.raw(),
                )
            };
            (rc, Samples::Wide(out.into_iter().map(|v| v.max(0) as u16).collect()))
        }
        _ => {
            let mut out = vec![0u16; len];
            // SAFETY: as for tj3Decompress8, with 16-bit samples.
            let rc = unsafe {
                raw::tj3Decompress16(
                    handle.0,
                    bytes.as_ptr(),
                    bytes.len() as raw::size_t,
                    out.as_mut_ptr(),
                    pitch_c,
                    format.raw(),
                )
            };
            (rc, Samples::Wide(out))
        }
    };
    let warning = if rc == 0 { header_warning } else { Some(handle.warning_or_fatal()?) };
    Ok(Decoded { width, height, precision: header.precision, samples, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_messages_are_told_from_fatal_ones() {
        assert!(is_warning_message("Corrupt JPEG data: bad Huffman code"));
        assert!(is_warning_message("Premature end of JPEG file"));
        assert!(!is_warning_message("Unsupported marker type 0xc5"));
        assert!(!is_warning_message("Bogus marker length"));
        assert!(!is_warning_message("Not a JPEG file: starts with 0x89 0x50"));
    }

    #[test]
    fn scaled_rounds_up() {
        assert_eq!(scaled(227, 1, 8), 29);
        assert_eq!(scaled(8, 3, 8), 3);
        assert_eq!(scaled(1, 1, 8), 1);
    }
}
