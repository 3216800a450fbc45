//! Resampling: an integer box pre-reduction of large sources (cheap, to about
//! 2× the target), then Lanczos3 via fast_image_resize. RGBA is
//! premultiplied once, in place, before both steps and divided once on the
//! small result, so transparent pixels leave no dark fringes and no
//! full-size copy is made for it.

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

/// Resamples the `crop` of `src` to `width` × `height`. Takes `src` by
/// value: RGBA is premultiplied in its buffer.
pub(crate) fn resize(src: Pixels, crop: Rect, width: u32, height: u32) -> Result<Pixels> {
    resize_placed(src, crop, width, height, |_, k| {
        Ok(Rect { x: crop.x / k, y: crop.y / k, width: crop.width / k, height: crop.height / k })
    })
}

/// [`resize`] of a crop whose size is `crop`'s but whose position `place`
/// decides, looking at the pixels: it gets the image the final step reads
/// (premultiplied, after the box step) and that image's scale, `k` source
/// pixels per pixel, and returns the crop in that image's pixels. A smart
/// crop looks at the box step's small result instead of making another
/// pass over the decoded image.
pub(crate) fn resize_placed(
    mut src: Pixels,
    crop: Rect,
    width: u32,
    height: u32,
    place: impl FnOnce(&Pixels, f64) -> Result<Rect>,
) -> Result<Pixels> {
    let alpha = src.layout == Layout::Rgba;
    if alpha {
        let mut view = image_mut(&mut src)?;
        MulDiv::default()
            .multiply_alpha_inplace(&mut view)
            .map_err(|e| Error::internal(format!("premultiply: {e}")))?;
    }
    let factor = box_factor(crop, width, height);
    let mut out = if factor >= 2 {
        let reduced = box_reduce(&src, factor);
        drop(src);
        let crop = place(&reduced, f64::from(factor))?;
        lanczos(&reduced, crop, width, height)?
    } else {
        let crop = place(&src, 1.0)?;
        lanczos(&src, crop, width, height)?
    };
    if alpha {
        let mut view = image_mut(&mut out)?;
        MulDiv::default()
            .divide_alpha_inplace(&mut view)
            .map_err(|e| Error::internal(format!("unpremultiply: {e}")))?;
    }
    Ok(out)
}

fn image_mut(px: &mut Pixels) -> Result<Image<'_>> {
    let ptype = pixel_type(px.layout);
    Image::from_slice_u8(px.width, px.height, &mut px.data, ptype)
        .map_err(|e| Error::internal(format!("image view: {e}")))
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
    let view = ImageRef::new(src.width, src.height, &src.data, ptype)
        .map_err(|e| Error::internal(format!("resize source: {e}")))?;
    let mut dst = Image::new(width, height, ptype);
    // Clamp against rounding: fast_image_resize rejects crops past the edge.
    let x = crop.x.clamp(0.0, f64::from(src.width));
    let y = crop.y.clamp(0.0, f64::from(src.height));
    let w = crop.width.min(f64::from(src.width) - x);
    let h = crop.height.min(f64::from(src.height) - y);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(x, y, w, h)
        // Alpha, if any, is premultiplied already (see `resize`).
        .use_alpha(false);
    Resizer::new().resize(&view, &mut dst, &options).map_err(|e| Error::internal(format!("resize: {e}")))?;
    Ok(Pixels::new(width, height, src.layout, dst.into_vec()))
}

/// The whole of `src` resampled to `width` × `height` with a box (area)
/// filter, as is: for analysis proxies (smart crop), not for output.
pub(crate) fn resample_box(src: &Pixels, width: u32, height: u32) -> Result<Pixels> {
    let ptype = pixel_type(src.layout);
    let view = ImageRef::new(src.width, src.height, &src.data, ptype)
        .map_err(|e| Error::internal(format!("resample source: {e}")))?;
    let mut dst = Image::new(width, height, ptype);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box)).use_alpha(false);
    Resizer::new().resize(&view, &mut dst, &options).map_err(|e| Error::internal(format!("resample: {e}")))?;
    Ok(Pixels::new(width, height, src.layout, dst.into_vec()))
}

/// Multiplies (`true`) or divides RGBA colour by alpha in place; other
/// layouts are left alone.
pub(crate) fn premultiply(px: &mut Pixels, multiply: bool) -> Result<()> {
    if px.layout != Layout::Rgba {
        return Ok(());
    }
    let mut view = image_mut(px)?;
    let result = if multiply {
        MulDiv::default().multiply_alpha_inplace(&mut view)
    } else {
        MulDiv::default().divide_alpha_inplace(&mut view)
    };
    result.map_err(|e| Error::internal(format!("alpha: {e}")))
}

/// Averages `factor` × `factor` blocks (partial blocks at the right and
/// bottom edges average what they have), every channel alike: RGBA
/// arrives premultiplied, so this is the alpha-weighted average.
///
/// Each band of `factor` rows is first summed down its columns (one flat,
/// vectorised loop over whole rows), then across each block: the second
/// step touches only 1/`factor` of the samples.
pub(crate) fn box_reduce(src: &Pixels, factor: u32) -> Pixels {
    let k = factor as usize;
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = (sw.div_ceil(k), sh.div_ceil(k));
    let ch = src.layout.channels();
    let stride = src.stride();
    let mut out = vec![0u8; dw * dh * ch];
    // A band is at most MAX_BOX_FACTOR rows: its column sums fit in u16
    // (32 × 255), which doubles the lanes per vector add.
    let mut columns = vec![0u16; stride];
    for (oy, out_row) in out.chunks_exact_mut(dw * ch).enumerate() {
        let rows = (oy * k)..((oy + 1) * k).min(sh);
        let rows_n = rows.len();
        columns.fill(0);
        for row in src.data[rows.start * stride..rows.end * stride].chunks_exact(stride) {
            for (sum, &v) in columns.iter_mut().zip(row) {
                *sum += u16::from(v);
            }
        }
        match src.layout {
            Layout::Gray => sum_blocks::<1>(&columns, k, rows_n, out_row),
            Layout::Rgb => sum_blocks::<3>(&columns, k, rows_n, out_row),
            Layout::Rgba => sum_blocks::<4>(&columns, k, rows_n, out_row),
        }
    }
    Pixels::new(dw as u32, dh as u32, src.layout, out)
}

/// Averages each run of `k` pixels of a band's column sums (over `rows_n`
/// rows) into one output pixel. `CH` is a constant so the per-pixel loops
/// unroll into vector adds.
fn sum_blocks<const CH: usize>(columns: &[u16], k: usize, rows_n: usize, out_row: &mut [u8]) {
    let mut average = Average::of(k * rows_n);
    for (block, px) in columns.chunks(k * CH).zip(out_row.as_chunks_mut::<CH>().0) {
        let n = block.len() / CH * rows_n;
        if n != average.n {
            average = Average::of(n); // the partial block at the right edge
        }
        let mut sums = [0u32; CH];
        for sample in block.as_chunks::<CH>().0 {
            for c in 0..CH {
                sums[c] += u32::from(sample[c]);
            }
        }
        for c in 0..CH {
            px[c] = average.of_sum(sums[c]);
        }
    }
}

/// Rounded division of a block's sum by its sample count through a
/// multiply: a hardware divide per output sample dominated the box step
/// (`perf record` on `cargo bench --bench pipeline`).
#[derive(Clone, Copy)]
struct Average {
    n: usize,
    /// ⌊2³²/n⌋ + 1: exact for every sum + n/2 below 2³²/n, and a sum is at
    /// most MAX_BOX_FACTOR² × 255 (n ≤ MAX_BOX_FACTOR², so 2³²/n ≥ 2²²).
    reciprocal: u64,
}

impl Average {
    fn of(n: usize) -> Average {
        Average { n, reciprocal: (1u64 << 32) / n as u64 + 1 }
    }

    fn of_sum(self, sum: u32) -> u8 {
        ((u64::from(sum + (self.n / 2) as u32) * self.reciprocal) >> 32) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(src: &Pixels) -> Rect {
        Rect { x: 0.0, y: 0.0, width: f64::from(src.width), height: f64::from(src.height) }
    }

    #[test]
    fn box_reduce_averages_blocks_and_partial_edges() {
        // 3x1 gray, factor 2: [10, 30 | 50] -> [20, 50]
        let src = Pixels::new(3, 1, Layout::Gray, vec![10, 30, 50]);
        let out = box_reduce(&src, 2);
        assert_eq!((out.width, out.height, out.data), (2, 1, vec![20, 50]));
    }

    #[test]
    fn resize_ignores_colour_of_transparent_pixels() {
        // Opaque red beside transparent black, through the box step (40x40
        // to 4x4: factor 5) and Lanczos3: the colour stays pure red.
        let data = [[255, 0, 0, 255], [0, 0, 0, 0]].iter().cycle().take(40 * 40).flatten().copied().collect();
        let src = Pixels::new(40, 40, Layout::Rgba, data);
        let rect = whole(&src);
        assert_eq!(box_factor(rect, 4, 4), 5);
        let out = resize(src, rect, 4, 4).unwrap();
        for px in out.data.chunks_exact(4) {
            // Alpha: half the pixels, give or take the stripes' phase.
            assert_eq!(&px[..3], &[255, 0, 0], "{px:?}");
            assert!((100..=160).contains(&px[3]), "{px:?}");
        }
    }

    #[test]
    fn resize_keeps_the_colour_of_translucent_pixels() {
        // Premultiplying to 8 bits and back must not shift a uniform colour.
        for (colour, alpha) in [([200u8, 100, 50], 128u8), ([13, 250, 77], 9), ([255, 255, 255], 255)] {
            let px = [colour[0], colour[1], colour[2], alpha];
            let src = Pixels::new(50, 30, Layout::Rgba, px.repeat(50 * 30));
            let rect = whole(&src);
            let out = resize(src, rect, 5, 3).unwrap();
            assert_eq!((out.width, out.height), (5, 3));
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
    fn resize_of_opaque_rgba_matches_rgb() {
        let rgb: Vec<u8> = (0..70 * 50 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let (rgb, rgba) = (Pixels::new(70, 50, Layout::Rgb, rgb), Pixels::new(70, 50, Layout::Rgba, rgba));
        let rect = whole(&rgb);
        let a = resize(rgb, rect, 7, 5).unwrap();
        let b = resize(rgba, rect, 7, 5).unwrap();
        let b_rgb: Vec<u8> = b.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_eq!(a.data, b_rgb);
        assert!(b.data.chunks_exact(4).all(|p| p[3] == 255));
    }

    #[test]
    fn average_by_multiply_is_exact_division() {
        for n in (1..=1024).step_by(7).chain([2, 4, 1023, 1024]) {
            let average = Average::of(n);
            for mean in [0u32, 1, 127, 128, 254, 255] {
                // Sums of n samples of 0..=255.
                let top = (mean * n as u32 + n as u32 / 2).min(255 * n as u32);
                for sum in (mean * n as u32).saturating_sub(n as u32)..=top {
                    let exact = (sum + n as u32 / 2) / n as u32;
                    assert_eq!(u32::from(average.of_sum(sum)), exact, "n {n} sum {sum}");
                }
            }
        }
    }

    #[test]
    fn box_factor_keeps_headroom() {
        let full = |w, h| Rect { x: 0.0, y: 0.0, width: w, height: h };
        assert_eq!(box_factor(full(6000.0, 4000.0), 200, 133), 15);
        assert_eq!(box_factor(full(800.0, 600.0), 400, 300), 1);
        assert_eq!(box_factor(full(100000.0, 100000.0), 1, 1), MAX_BOX_FACTOR);
    }
}
