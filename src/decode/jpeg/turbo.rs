//! YCbCr, RGB and gray JPEG decoding through libjpeg-turbo, at full size
//! or reduced ("shrink-on-load").
//!
//! A JPEG stores 8×8 DCT blocks, so a decoder can produce the image at
//! M/8 of its size by running a smaller inverse DCT per block: most of the
//! work of a full decode (IDCT, upsampling, colour conversion, and the
//! full-size buffer) is never done. zune-jpeg has no scaled decoding;
//! libjpeg-turbo (vendored, statically linked, through the safe `turbojpeg`
//! crate) does, and is what Pillow, libvips and most servers decode
//! untrusted JPEGs with. At full size it is as fast or faster (`cargo bench
//! --bench codecs`; figures in benches/README.md).
//!
//! This path is first an accelerator: the caller falls back to the full
//! zune-jpeg decode when it returns `None` (a warning or an error from
//! libjpeg-turbo, or a header that disagrees). Only when zune-jpeg rejects
//! the file too does the caller ask again, with [`decode_despite_warnings`]:
//! an image libjpeg-turbo decodes to the end with nothing worse than a
//! corrupt-data warning is served as it decodes it, which is what every
//! libjpeg-based server (image_filter, Pillow, libvips) does.

use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

use super::dc;
use crate::pixels::{Layout, Pixels};

/// Scales offered, as M of M/8. 5/8 to 7/8 are left out: libjpeg-turbo has
/// SIMD inverse DCTs only for 1/8, 1/4, 1/2 and 1, and its C 5×5 to 7×7
/// ones made those scales slower than a full decode, while 3/8 still pays
/// (`cargo bench --bench codecs` times every M/8; figures in
/// benches/README.md).
const EIGHTHS: [u32; 5] = [1, 2, 3, 4, 8];

/// The smallest offered M/8 scale that keeps at least `min_scale` of the
/// image, as M (8: full size).
pub(crate) fn eighths(min_scale: f64) -> u32 {
    let wanted = if min_scale > 0.0 { min_scale * 8.0 - 1e-9 } else { 0.0 };
    EIGHTHS.into_iter().find(|&m| f64::from(m) >= wanted).unwrap_or(8)
}

/// Decodes `bytes` (a `width` × `height` baseline or progressive JPEG whose
/// header the caller has already checked against the limits) at `m`/8 of
/// its size (`m` from [`eighths`]) into `layout` (Gray or Rgb). A
/// progressive JPEG at 1/8 is decoded from its DC scans alone (`dc`)
/// when that works.
pub(crate) fn decode(
    bytes: &[u8],
    m: u32,
    width: u32,
    height: u32,
    layout: Layout,
    progressive: bool,
) -> Option<Pixels> {
    if m == 1
        && progressive
        && let Some(dc_only) = dc::dc_scans_only(bytes)
        && let Some(pixels) = decode_stream(&dc_only, m, width, height, layout, Warnings::Refuse)
    {
        return Some(pixels);
    }
    decode_stream(bytes, m, width, height, layout, Warnings::Refuse)
}

/// Decodes the whole of `bytes` as [`decode`] does, keeping the image when
/// libjpeg-turbo only warned that the data is corrupt or ends early.
pub(crate) fn decode_despite_warnings(bytes: &[u8], m: u32, width: u32, height: u32, layout: Layout) -> Option<Pixels> {
    decode_stream(bytes, m, width, height, layout, Warnings::Accept)
}

/// What a decode does with libjpeg-turbo's warnings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Warnings {
    /// Any warning fails the decode (the fast path).
    Refuse,
    /// A corrupt-data warning keeps the decoded image (the last resort).
    Accept,
}

/// libjpeg's warnings about the entropy-coded data (jerror.h `JWRN_HIT_MARKER`,
/// `JWRN_HUFF_BAD_CODE`, `JWRN_EXTRANEOUS_DATA`, `JWRN_MUST_RESYNC`,
/// `JWRN_JPEG_EOF`). TurboJPEG reports a warning like an error (the
/// `turbojpeg` crate does not pass on `tj3GetErrorCode`), but after a warning
/// it has decoded every row, the damaged ones as flat grey; after an error it
/// has not, and an error's message replaces any earlier warning's.
fn is_corrupt_data_warning(error: &turbojpeg::Error) -> bool {
    matches!(error, turbojpeg::Error::TurboJpegError(message)
        if message.starts_with("Corrupt JPEG data: ") || message == "Premature end of JPEG file")
}

fn decode_stream(bytes: &[u8], m: u32, width: u32, height: u32, layout: Layout, warnings: Warnings) -> Option<Pixels> {
    debug_assert!((1..=8).contains(&m));
    let g = gcd(m, 8);
    let factor = ScalingFactor::new((m / g) as usize, (8 / g) as usize);
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if (header.width, header.height) != (width as usize, height as usize) {
        return None;
    }
    decompressor.set_scaling_factor(factor).ok()?;
    let (w, h) = (factor.scale(header.width), factor.scale(header.height));
    let (format, channels) = match layout {
        Layout::Gray => (PixelFormat::GRAY, 1),
        Layout::Rgb => (PixelFormat::RGB, 3),
        Layout::Rgba => return None,
    };
    let mut data = vec![0u8; w * h * channels];
    let image = Image { pixels: data.as_mut_slice(), width: w, pitch: w * channels, height: h, format };
    match decompressor.decompress(bytes, image) {
        Ok(()) => {}
        Err(e) if warnings == Warnings::Accept && is_corrupt_data_warning(&e) => {}
        Err(_) => return None,
    }
    Some(Pixels::new(w as u32, h as u32, layout, data))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(path: &str) -> Vec<u8> {
        let shared = std::env::var_os("THUMBNAIL_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
        std::fs::read(shared.join(path)).unwrap()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
        if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0 * 255.0 / mse).log10() }
    }

    /// The DC scans alone give nearly the 1/8 image the whole file gives:
    /// same size, from far fewer bytes. Not the same pixels: with no AC data
    /// at all, libjpeg-turbo smooths the DC values across neighbouring
    /// blocks (this test holds it to its PSNR bar; the final thumbnail is
    /// held to 40 dB by tests/quality.rs).
    #[test]
    fn progressive_dc_scans_match_the_whole_file_at_one_eighth() {
        let paths = [
            "corpus/edge/progressive/progressive3.jpg",
            "corpus/edge/progressive/cat.jpg",
            "bench-images/prog18mp.jpg",
        ];
        for path in paths {
            let bytes = shared(path);
            let header = Decompressor::new().unwrap().read_header(&bytes).unwrap();
            assert!(header.is_progressive, "{path}");
            let (w, h) = (header.width as u32, header.height as u32);
            let dc_only = dc::dc_scans_only(&bytes).expect("well-formed");
            assert!(dc_only.len() < bytes.len() / 2, "{path}: {} of {} bytes", dc_only.len(), bytes.len());
            let fast = decode_stream(&dc_only, 1, w, h, Layout::Rgb, Warnings::Refuse).expect("DC-only stream decodes");
            let whole = decode_stream(&bytes, 1, w, h, Layout::Rgb, Warnings::Refuse).expect("whole file decodes");
            assert_eq!((fast.width, fast.height), (whole.width, whole.height));
            let db = psnr(&fast.data, &whole.data);
            println!("{path}: DC scans {} of {} bytes, {db:.1} dB", dc_only.len(), bytes.len());
            assert!(db >= 28.0, "{path}: {db:.1} dB");
        }
    }

    #[test]
    fn eighths_keeps_at_least_the_asked_scale() {
        assert_eq!(eighths(0.0), 1);
        assert_eq!(eighths(0.01), 1);
        assert_eq!(eighths(0.125), 1);
        assert_eq!(eighths(0.126), 2);
        assert_eq!(eighths(0.3), 3);
        assert_eq!(eighths(0.5), 4);
        assert_eq!(eighths(0.51), 8);
        assert_eq!(eighths(1.0), 8);
        assert_eq!(eighths(3.0), 8);
    }
}
