//! `sharpen` and `blur`, on the resized (thumbnail-sized) image: resizing
//! softens, and image_filter users rely on `image_filter_sharpen`.
//!
//! Both kernels are symmetric, so they commute with orientation and run in
//! the stored frame before the small result is turned. RGBA is filtered
//! premultiplied, so transparent pixels' colour does not bleed in.

use crate::error::Result;
use crate::pixels::Pixels;
use crate::resize;
#[cfg(test)]
use crate::spec::MAX_BLUR;

/// Unsharp-mask amounts of `sharpen=1..=5` in 1/256: out = in + amount ×
/// (in − gauss(in)).
const SHARPEN_AMOUNTS: [i32; 5] = [64, 128, 205, 307, 410];
/// The unsharp mask's Gaussian (sigma 0.7 px) in 1/4096.
const SHARPEN_KERNEL: [u32; 5] = [39, 841, 2336, 841, 39];
/// Up to this sigma `blur` convolves with a true Gaussian; above it, three
/// box blurs (cost independent of sigma) are within 6% of its width.
const EXACT_BLUR_MAX: u8 = 3;

/// Sharpens `img` at `level` (1..=5; anything else is no change).
pub(crate) fn sharpen(mut img: Pixels, level: u8) -> Result<Pixels> {
    let Some(&amount) = SHARPEN_AMOUNTS.get(usize::from(level).wrapping_sub(1)) else {
        return Ok(img);
    };
    resize::premultiply(&mut img, true)?;
    let blurred = convolve(&img, &SHARPEN_KERNEL);
    for (v, &b) in img.data.iter_mut().zip(&blurred) {
        let s = i32::from(*v);
        *v = (s + (((s - i32::from(b)) * amount + 128) >> 8)).clamp(0, 255) as u8;
    }
    if img.layout.channels() == 4 {
        // Premultiplied colour must not exceed alpha.
        for px in img.data.chunks_exact_mut(4) {
            let a = px[3];
            for c in &mut px[..3] {
                *c = (*c).min(a);
            }
        }
    }
    resize::premultiply(&mut img, false)?;
    Ok(img)
}

/// Every channel convolved with the symmetric `kernel` (odd length,
/// weights in 1/4096 summing to 4096) along rows, then columns; edges
/// repeated; fixed point.
fn convolve(img: &Pixels, kernel: &[u32]) -> Vec<u8> {
    let (w, h, ch) = (img.width as usize, img.height as usize, img.layout.channels());
    let stride = w * ch;
    let radius = kernel.len() / 2;
    // Horizontal: each row padded with its edge pixels, then one flat,
    // vectorisable multiply-add per tap; sums in 1/4096 (≤ 255 × 4096).
    let mut padded = vec![0u32; stride + 2 * radius * ch];
    let mut rows = vec![0u32; img.data.len()];
    for (src, dst) in img.data.chunks_exact(stride).zip(rows.chunks_exact_mut(stride)) {
        for (p, &v) in padded[radius * ch..][..stride].iter_mut().zip(src) {
            *p = u32::from(v);
        }
        for i in 0..radius {
            for c in 0..ch {
                padded[i * ch + c] = u32::from(src[c]);
                padded[radius * ch + stride + i * ch + c] = u32::from(src[stride - ch + c]);
            }
        }
        dst.fill(0);
        for (k, &weight) in kernel.iter().enumerate() {
            for (d, &v) in dst.iter_mut().zip(&padded[k * ch..][..stride]) {
                *d += weight * v;
            }
        }
    }
    let radius = radius as isize;
    // Vertical: ≤ 255 × 4096², still within u32.
    let mut out = vec![0u8; img.data.len()];
    let mut sums = vec![0u32; stride];
    for y in 0..h as isize {
        sums.fill(0);
        for (k, &weight) in (-radius..=radius).zip(kernel) {
            let row = &rows[(y + k).clamp(0, h as isize - 1) as usize * stride..][..stride];
            for (sum, &v) in sums.iter_mut().zip(row) {
                *sum += weight * v;
            }
        }
        for (o, &sum) in out[y as usize * stride..][..stride].iter_mut().zip(&sums) {
            *o = ((u64::from(sum) + (1 << 23)) >> 24) as u8;
        }
    }
    out
}

/// A Gaussian of `sigma` sampled out to about 3 sigma, in 1/4096 (the centre
/// takes the rounding, so the weights sum to exactly 4096).
fn gaussian_kernel(sigma: f64) -> Vec<u32> {
    let radius = (3.0 * sigma).round() as i64;
    let raw: Vec<f64> = (-radius..=radius).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = raw.iter().sum();
    let mut kernel: Vec<u32> = raw.iter().map(|v| (v / total * 4096.0).round() as u32).collect();
    let sum: u32 = kernel.iter().sum();
    kernel[radius as usize] = kernel[radius as usize] + 4096 - sum;
    kernel
}

/// Blurs `img` with a Gaussian of `sigma` pixels (1..=50), approximated
/// by three box blurs (cost independent of sigma).
pub(crate) fn blur(mut img: Pixels, sigma: u8) -> Result<Pixels> {
    if sigma == 0 {
        return Ok(img);
    }
    resize::premultiply(&mut img, true)?;
    if sigma <= EXACT_BLUR_MAX {
        img.data = convolve(&img, &gaussian_kernel(f64::from(sigma)));
    } else {
        let (w, h, ch) = (img.width as usize, img.height as usize, img.layout.channels());
        for radius in box_radii(f64::from(sigma)) {
            box_pass(&mut img.data, w, h, ch, radius, true);
            box_pass(&mut img.data, w, h, ch, radius, false);
        }
    }
    resize::premultiply(&mut img, false)?;
    Ok(img)
}

/// Radii of three box blurs whose sum approximates a Gaussian of `sigma`
/// (W. Jarosz, "Fast image convolutions", 2001: widths wl and wl + 2).
fn box_radii(sigma: f64) -> [usize; 3] {
    let n = 3.0;
    let ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut wl = ideal.floor() as i64;
    if wl % 2 == 0 {
        wl -= 1;
    }
    let wl = wl.max(1);
    let wlf = wl as f64;
    let m = ((12.0 * sigma * sigma - n * wlf * wlf - 4.0 * n * wlf - 3.0 * n) / (-4.0 * wlf - 4.0)).round() as i64;
    std::array::from_fn(|i| {
        let width = if (i as i64) < m { wl } else { wl + 2 };
        ((width - 1) / 2) as usize
    })
}

/// One running-sum box blur of `radius` along rows (`horizontal`) or
/// columns, edges repeated.
fn box_pass(data: &mut [u8], w: usize, h: usize, ch: usize, radius: usize, horizontal: bool) {
    if radius == 0 {
        return;
    }
    let (len, lines, step, line_step) = if horizontal { (w, h, ch, w * ch) } else { (h, w, w * ch, ch) };
    let width = (2 * radius + 1) as u32;
    let mut line = vec![0u8; len];
    for l in 0..lines {
        for c in 0..ch {
            let base = l * line_step + c;
            for (i, v) in line.iter_mut().enumerate() {
                *v = data[base + i * step];
            }
            let at = |i: isize| u32::from(line[i.clamp(0, len as isize - 1) as usize]);
            let mut sum: u32 = (-(radius as isize)..=radius as isize).map(at).sum();
            for i in 0..len {
                data[base + i * step] = ((sum + width / 2) / width) as u8;
                sum += at(i as isize + radius as isize + 1);
                sum -= at(i as isize - radius as isize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::Layout;

    fn edge() -> Pixels {
        // 16x4 gray: 64 on the left half, 192 on the right.
        let data = (0..64).map(|i| if i % 16 < 8 { 64 } else { 192 }).collect();
        Pixels::new(16, 4, Layout::Gray, data)
    }

    #[test]
    fn sharpen_raises_the_step_and_leaves_flat_areas() {
        for level in 1..=5 {
            let out = sharpen(edge(), level).unwrap();
            let row = &out.data[..16];
            assert_eq!((row[0], row[15]), (64, 192), "flat areas unchanged");
            assert!(row[7] < 64 && row[8] > 192, "level {level}: {row:?}");
        }
        assert_eq!(sharpen(edge(), 0).unwrap(), edge());
    }

    #[test]
    fn blur_spreads_the_step_and_keeps_flat_colour() {
        let flat = Pixels::new(8, 8, Layout::Rgb, vec![90; 8 * 8 * 3]);
        assert_eq!(blur(flat.clone(), 3).unwrap(), flat);
        let out = blur(edge(), 2).unwrap();
        let row = &out.data[..16];
        assert!(row[7] > 64 && row[8] < 192 && row[7] < row[8], "{row:?}");
    }

    #[test]
    fn box_radii_approximate_the_variance() {
        for sigma in (EXACT_BLUR_MAX + 1..=MAX_BLUR).map(f64::from) {
            // A box of radius r has variance r(r+1)/3; three add up.
            let var: f64 = box_radii(sigma).iter().map(|&r| (r * (r + 1)) as f64 / 3.0).sum();
            assert!((var.sqrt() - sigma).abs() / sigma < 0.06, "sigma {sigma}: {}", var.sqrt());
        }
        assert_eq!(gaussian_kernel(0.7), SHARPEN_KERNEL);
    }
}
