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
//! Every JPEG is decoded here (through `tj`, whose `decode` also reports
//! libjpeg-turbo's warnings); a lossless one always at full size.

use super::{dc, tj};

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

/// Decodes `bytes` at `m`/8 of its size (`m` from [`eighths`]), refusing
/// more than `max_pixels`. A progressive JPEG at 1/8 is decoded from its DC
/// scans alone (`dc`) when that decodes cleanly; any doubt (a warning, an
/// error) decodes the whole file instead.
pub(crate) fn decode(bytes: &[u8], m: u32, progressive: bool, max_pixels: u64) -> Result<tj::Decoded, tj::Fatal> {
    if m == 1
        && progressive
        && let Some(dc_only) = dc::dc_scans_only(bytes)
        && let Ok(decoded) = decode_stream(&dc_only, m, max_pixels)
        && decoded.warning.is_none()
    {
        return Ok(decoded);
    }
    decode_stream(bytes, m, max_pixels)
}

fn decode_stream(bytes: &[u8], m: u32, max_pixels: u64) -> Result<tj::Decoded, tj::Fatal> {
    debug_assert!((1..=8).contains(&m));
    let g = gcd(m, 8);
    tj::decode(bytes, m / g, 8 / g, max_pixels)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(path: &str) -> Vec<u8> {
        std::fs::read(crate::test_corpus::shared().join(path)).unwrap()
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
            let dc_only = dc::dc_scans_only(&bytes).expect("well-formed");
            assert!(dc_only.len() < bytes.len() / 2, "{path}: {} of {} bytes", dc_only.len(), bytes.len());
            let fast = decode_stream(&dc_only, 1, u64::MAX).expect("DC-only stream decodes");
            let whole = decode_stream(&bytes, 1, u64::MAX).expect("whole file decodes");
            assert!(fast.warning.is_none() && whole.warning.is_none(), "{path}");
            assert_eq!((fast.width, fast.height), (whole.width, whole.height));
            let (tj::Samples::Eight(a), tj::Samples::Eight(b)) = (&fast.samples, &whole.samples) else { panic!() };
            let db = psnr(a, b);
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
