//! Resampling: an integer box pre-reduction of large sources (cheap, to about
//! 2× the target), then Lanczos3 via fast_image_resize. Alpha is resampled
//! premultiplied in both steps, so transparent pixels leave no dark fringes.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::pixels::{Layout, Pixels};

/// Headroom left for Lanczos3 after the box step: the box step stops at
/// about this many times the target size.
pub(crate) const LANCZOS_HEADROOM: f64 = 2.0;
/// Largest box factor; keeps the u32 accumulators far from overflow.
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
        let reduced = box_reduce(src, factor);
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
pub(crate) fn box_reduce(src: &Pixels, factor: u32) -> Pixels {
    let k = factor as usize;
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = (sw.div_ceil(k), sh.div_ceil(k));
    let ch = src.layout.channels();
    let stride = src.stride();
    let mut out = vec![0u8; dw * dh * ch];
    let mut acc = vec![0u32; dw * ch];
    let mut alpha = vec![0u32; if src.layout == Layout::Rgba { dw } else { 0 }];
    for (oy, out_row) in out.chunks_exact_mut(dw * ch).enumerate() {
        acc.fill(0);
        alpha.fill(0);
        let rows = (oy * k)..((oy + 1) * k).min(sh);
        let rows_n = rows.len();
        for y in rows {
            let row = &src.data[y * stride..(y + 1) * stride];
            if src.layout == Layout::Rgba {
                accumulate_rgba(row, k, &mut acc, &mut alpha);
            } else {
                accumulate(row, ch, k, &mut acc);
            }
        }
        for ox in 0..dw {
            let cols = k.min(sw - ox * k);
            let n = (cols * rows_n) as u32;
            let px = &mut out_row[ox * ch..(ox + 1) * ch];
            let sums = &acc[ox * ch..(ox + 1) * ch];
            if src.layout == Layout::Rgba {
                let a = alpha[ox];
                for c in 0..3 {
                    px[c] = if a == 0 { 0 } else { ((sums[c] + a / 2) / a) as u8 };
                }
                px[3] = ((a + n / 2) / n) as u8;
            } else {
                for c in 0..ch {
                    px[c] = ((sums[c] + n / 2) / n) as u8;
                }
            }
        }
    }
    Pixels::new(dw as u32, dh as u32, src.layout, out)
}

fn accumulate(row: &[u8], ch: usize, k: usize, acc: &mut [u32]) {
    for (block, sums) in row.chunks(k * ch).zip(acc.chunks_exact_mut(ch)) {
        for px in block.chunks_exact(ch) {
            for c in 0..ch {
                sums[c] += u32::from(px[c]);
            }
        }
    }
}

/// Colour sums are weighted by alpha (premultiplied); alpha sums separately.
fn accumulate_rgba(row: &[u8], k: usize, acc: &mut [u32], alpha: &mut [u32]) {
    for ((block, sums), a_sum) in row.chunks(k * 4).zip(acc.chunks_exact_mut(4)).zip(alpha.iter_mut()) {
        for px in block.chunks_exact(4) {
            let a = u32::from(px[3]);
            sums[0] += u32::from(px[0]) * a;
            sums[1] += u32::from(px[1]) * a;
            sums[2] += u32::from(px[2]) * a;
            *a_sum += a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_reduce_averages_blocks_and_partial_edges() {
        // 3x1 gray, factor 2: [10, 30 | 50] -> [20, 50]
        let src = Pixels::new(3, 1, Layout::Gray, vec![10, 30, 50]);
        let out = box_reduce(&src, 2);
        assert_eq!((out.width, out.height, out.data), (2, 1, vec![20, 50]));
    }

    #[test]
    fn box_reduce_ignores_colour_of_transparent_pixels() {
        // Opaque red next to transparent black: colour stays pure red.
        let src = Pixels::new(2, 1, Layout::Rgba, vec![255, 0, 0, 255, 0, 0, 0, 0]);
        let out = box_reduce(&src, 2);
        assert_eq!(out.data, vec![255, 0, 0, 128]);
    }

    #[test]
    fn box_factor_keeps_headroom() {
        let full = |w, h| Rect { x: 0.0, y: 0.0, width: w, height: h };
        assert_eq!(box_factor(full(6000.0, 4000.0), 200, 133), 15);
        assert_eq!(box_factor(full(800.0, 600.0), 400, 300), 1);
        assert_eq!(box_factor(full(100000.0, 100000.0), 1, 1), MAX_BOX_FACTOR);
    }
}
