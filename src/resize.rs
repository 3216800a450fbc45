//! Resampling: an integer box pre-reduction of large sources (cheap, to about
//! 2× the target), then Lanczos3 via fast_image_resize. Alpha is resampled
//! premultiplied in both steps, so transparent pixels leave no dark fringes.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::pixels::{Layout, Pixels};

/// Headroom left for Lanczos3 after the box step: the box step stops at
/// about this many times the target size.
pub(crate) const LANCZOS_HEADROOM: f64 = 2.0;
/// Largest box factor: a band's column sums (≤ 32 × 255) fit in u16, a
/// block's sums (≤ 32 × 32 × 255 × 255) in u32.
const MAX_BOX_FACTOR: u32 = 32;

fn pixel_type(layout: Layout) -> PixelType {
    match layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba => PixelType::U8x4,
    }
}

/// Resamples the `crop` of `src` to `width` × `height`.
pub(crate) fn resize(src: &Pixels, crop: Rect, width: u32, height: u32) -> Result<Pixels> {
    let factor = box_factor(crop, width, height);
    if factor >= 2 {
        let reduced = box_reduce(src, factor)?;
        let k = f64::from(factor);
        let crop = Rect { x: crop.x / k, y: crop.y / k, width: crop.width / k, height: crop.height / k };
        return lanczos(&reduced, crop, width, height);
    }
    lanczos(src, crop, width, height)
}

/// The integer box factor that leaves at least [`LANCZOS_HEADROOM`]× the
/// target for the final Lanczos3 step (1 when there is nothing to gain).
pub(crate) fn box_factor(crop: Rect, width: u32, height: u32) -> u32 {
    let ratio = (crop.width / f64::from(width)).min(crop.height / f64::from(height));
    let factor = (ratio / LANCZOS_HEADROOM).floor();
    if factor < 2.0 { 1 } else { (factor as u32).min(MAX_BOX_FACTOR) }
}

fn lanczos(src: &Pixels, crop: Rect, width: u32, height: u32) -> Result<Pixels> {
    let ptype = pixel_type(src.layout);
    let view = ImageRef::new(src.width, src.height, &src.data, ptype).map_err(|e| Error::internal(format!("resize source: {e}")))?;
    let mut dst = Image::new(width, height, ptype);
    // Clamp against rounding: fast_image_resize rejects crops past the edge.
    let x = crop.x.clamp(0.0, f64::from(src.width));
    let y = crop.y.clamp(0.0, f64::from(src.height));
    let w = crop.width.min(f64::from(src.width) - x);
    let h = crop.height.min(f64::from(src.height) - y);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(x, y, w, h)
        .use_alpha(src.layout == Layout::Rgba);
    Resizer::new()
        .resize(&view, &mut dst, &options)
        .map_err(|e| Error::internal(format!("resize: {e}")))?;
    Ok(Pixels::new(width, height, src.layout, dst.into_vec()))
}

/// Averages `factor` × `factor` blocks (partial blocks at the right and
/// bottom edges average what they have). RGBA is averaged alpha-weighted.
///
/// Each band of `factor` rows is first summed down its columns (one flat,
/// vectorised loop over whole rows), then across each block: the second
/// step touches only 1/`factor` of the samples. RGBA bands are
/// premultiplied first by fast_image_resize's SIMD code, the step the
/// compiler cannot vectorise (measured: 4 ms of a 17 ms render of a
/// 1920x1200 RGBA PNG when done per pixel).
pub(crate) fn box_reduce(src: &Pixels, factor: u32) -> Result<Pixels> {
    let k = factor as usize;
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = (sw.div_ceil(k), sh.div_ceil(k));
    let ch = src.layout.channels();
    let stride = src.stride();
    let rgba = src.layout == Layout::Rgba;
    let mut out = vec![0u8; dw * dh * ch];
    // A band is at most MAX_BOX_FACTOR rows: its column sums fit in u16
    // (32 × 255), which doubles the lanes per vector add.
    let mut columns = vec![0u16; stride];
    let mut premultiplied = vec![0u8; if rgba { stride * k } else { 0 }];
    let mul_div = MulDiv::default();
    for (oy, out_row) in out.chunks_exact_mut(dw * ch).enumerate() {
        let rows = (oy * k)..((oy + 1) * k).min(sh);
        let rows_n = rows.len();
        let mut band = &src.data[rows.start * stride..rows.end * stride];
        if rgba {
            let fail = |e: &dyn std::fmt::Display| Error::internal(format!("premultiply: {e}"));
            let straight = ImageRef::new(src.width, rows_n as u32, band, PixelType::U8x4).map_err(|e| fail(&e))?;
            let target = &mut premultiplied[..band.len()];
            let mut premul = Image::from_slice_u8(src.width, rows_n as u32, target, PixelType::U8x4).map_err(|e| fail(&e))?;
            mul_div.multiply_alpha(&straight, &mut premul).map_err(|e| fail(&e))?;
            band = &premultiplied[..band.len()];
        }
        columns.fill(0);
        for row in band.chunks_exact(stride) {
            for (sum, &v) in columns.iter_mut().zip(row) {
                *sum += u16::from(v);
            }
        }
        for (block, px) in columns.chunks(k * ch).zip(out_row.chunks_exact_mut(ch)) {
            let n = (block.len() / ch * rows_n) as u32;
            let mut sums = [0u32; 4];
            for sample in block.chunks_exact(ch) {
                for (sum, &v) in sums.iter_mut().zip(sample) {
                    *sum += u32::from(v);
                }
            }
            if rgba {
                // Colour sums are premultiplied (each ≤ its alpha): unpremultiply.
                let a = sums[3];
                for c in 0..3 {
                    px[c] = if a == 0 { 0 } else { ((sums[c] * 255 + a / 2) / a).min(255) as u8 };
                }
                px[3] = ((a + n / 2) / n) as u8;
            } else {
                for (p, &sum) in px.iter_mut().zip(&sums) {
                    *p = ((sum + n / 2) / n) as u8;
                }
            }
        }
    }
    Ok(Pixels::new(dw as u32, dh as u32, src.layout, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_reduce_averages_blocks_and_partial_edges() {
        // 3x1 gray, factor 2: [10, 30 | 50] -> [20, 50]
        let src = Pixels::new(3, 1, Layout::Gray, vec![10, 30, 50]);
        let out = box_reduce(&src, 2).unwrap();
        assert_eq!((out.width, out.height, out.data), (2, 1, vec![20, 50]));
    }

    #[test]
    fn box_reduce_ignores_colour_of_transparent_pixels() {
        // Opaque red next to transparent black: colour stays pure red.
        let src = Pixels::new(2, 1, Layout::Rgba, vec![255, 0, 0, 255, 0, 0, 0, 0]);
        let out = box_reduce(&src, 2).unwrap();
        assert_eq!(out.data, vec![255, 0, 0, 128]);
    }

    #[test]
    fn box_reduce_keeps_the_colour_of_translucent_pixels() {
        // Premultiplying to 8 bits and back must not shift a uniform colour.
        for (colour, alpha) in [([200u8, 100, 50], 128u8), ([13, 250, 77], 9), ([255, 255, 255], 255)] {
            let px = [colour[0], colour[1], colour[2], alpha];
            let src = Pixels::new(5, 3, Layout::Rgba, px.repeat(15));
            let out = box_reduce(&src, 2).unwrap();
            assert_eq!((out.width, out.height), (3, 2));
            for got in out.data.chunks_exact(4) {
                assert_eq!(got[3], alpha);
                for c in 0..3 {
                    let tolerance = if alpha < 16 { 16 } else { 1 };
                    assert!(got[c].abs_diff(colour[c]) <= tolerance, "{got:?} from {px:?}");
                }
            }
        }
    }

    #[test]
    fn box_reduce_of_opaque_rgba_matches_rgb() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let a = box_reduce(&Pixels::new(7, 5, Layout::Rgb, rgb), 3).unwrap();
        let b = box_reduce(&Pixels::new(7, 5, Layout::Rgba, rgba), 3).unwrap();
        let b_rgb: Vec<u8> = b.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_eq!(a.data, b_rgb);
    }

    #[test]
    fn box_factor_keeps_headroom() {
        let full = |w, h| Rect { x: 0.0, y: 0.0, width: w, height: h };
        assert_eq!(box_factor(full(6000.0, 4000.0), 200, 133), 15);
        assert_eq!(box_factor(full(800.0, 600.0), 400, 300), 1);
        assert_eq!(box_factor(full(100000.0, 100000.0), 1, 1), MAX_BOX_FACTOR);
    }
}
