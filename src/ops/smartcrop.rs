//! `cover` gravities that look at the pixels: `attention` and `entropy`,
//! with libvips's semantics (`vips_smartcrop`), written here (the Rust
//! crates found are GPL or tied to the `image` crate).
//!
//! libvips resizes the whole image to the cover size and picks the crop on
//! that; here the crop is picked on a proxy about a quarter of the cover
//! size, made from the image the final Lanczos3 step reads (the box step's
//! result), so no extra pass over the decoded image is made. Only the
//! position along the axis the box cuts is decided; the pipeline then crops
//! and resizes as for any gravity.
//!
//! - **attention**: the proxy is shrunk to a 32×32 grid and converted to
//!   CIELAB; each cell scores |Sobel| of L, plus 255 where a and b are skin
//!   tones (a 3..=22, b 4..=31, L ≥ 15), plus 255 where chroma > 60; the
//!   scores are blurred (sigma a tenth of the crop's diagonal in cells, at
//!   least 1) and the crop is centred on the maximum.
//! - **entropy**: the proxy, in gray, is trimmed from the two ends of the
//!   free axis in up to 8 slices, each time dropping the slice whose
//!   histogram has the lower Shannon entropy, until the crop remains.

use std::sync::LazyLock;

use crate::error::Result;
use crate::orient;
use crate::pixels::{Layout, Pixels};
use crate::resize;
use crate::spec::Gravity;

/// The proxy is this many times smaller than the cover-sized image...
const PROXY_SHRINK: f64 = 4.0;
/// ...but keeps at least this many pixels on its short side (when the
/// image has them), so the attention grid and the histograms have data.
const PROXY_MIN_SIDE: f64 = 64.0;
/// libvips's attention grid.
const GRID: u32 = 32;

/// Where a `cover` crop goes, as gravity weights (0.0 = left/top edge, 1.0
/// = right/bottom) in the displayed frame.
///
/// - `img`: the whole image in the stored frame (RGBA premultiplied);
/// - `orientation`: stored → displayed, as the pipeline applies it;
/// - `crop_fraction`: the crop's width and height as fractions of the
///   displayed image (one of them is 1: `cover` cuts one axis);
/// - `target`: the displayed size the crop is resized to.
pub(crate) fn weights(
    gravity: Gravity,
    img: &Pixels,
    orientation: u8,
    crop_fraction: (f64, f64),
    target: (u32, u32),
) -> Result<(f64, f64)> {
    let (dw, dh) = orient::displayed(orientation, (f64::from(img.width), f64::from(img.height)));
    // The cover-sized image (the whole source at the crop's scale), shrunk.
    let cover_scale = f64::from(target.0) / (crop_fraction.0 * dw);
    let mut scale = (cover_scale / PROXY_SHRINK).min(1.0);
    scale = scale.max((PROXY_MIN_SIDE / dw.min(dh)).min(1.0));
    let (pw, ph) = orient::displayed(
        orientation,
        (((dw * scale).round().max(1.0)) as u32, ((dh * scale).round().max(1.0)) as u32),
    );
    let proxy = if (pw, ph) == (img.width, img.height) { img.clone() } else { resize::resample_box(img, pw, ph)? };
    let proxy = orient::apply(proxy, orientation);
    let (pw, ph) = (f64::from(proxy.width), f64::from(proxy.height));
    let window = (crop_fraction.0 * pw, crop_fraction.1 * ph);
    let (left, top) = match gravity {
        Gravity::Entropy => entropy(&proxy, window),
        _ => attention(&proxy, window)?,
    };
    let weight = |offset: f64, slack: f64| if slack >= 0.5 { (offset / slack).clamp(0.0, 1.0) } else { 0.5 };
    Ok((weight(left, pw - window.0), weight(top, ph - window.1)))
}

/// libvips's attention: the top-left of the crop `window` (in `img`'s
/// pixels) centred on the most interesting grid cell.
fn attention(img: &Pixels, window: (f64, f64)) -> Result<(f64, f64)> {
    let (gw, gh) = (GRID.min(img.width), GRID.min(img.height));
    let grid = resize::resample_box(img, gw, gh)?;
    let (w, h) = (gw as usize, gh as usize);
    let n = w * h;
    let (mut l, mut score) = (vec![0f32; n], vec![0f32; n]);
    for (i, px) in grid.data.chunks_exact(grid.layout.channels()).enumerate() {
        let [lightness, a, b] = match grid.layout {
            Layout::Gray => [lab(px[0], px[0], px[0])[0], 0.0, 0.0],
            Layout::Rgb | Layout::Rgba => lab(px[0], px[1], px[2]),
        };
        l[i] = lightness;
        let skin = lightness >= 15.0 && (3.0..=22.0).contains(&a) && (4.0..=31.0).contains(&b);
        let saturated = (a * a + b * b).sqrt() > 60.0;
        score[i] = if skin { 255.0 } else { 0.0 } + if saturated { 255.0 } else { 0.0 };
    }
    // Sobel on L, edges repeated.
    let at = |x: isize, y: isize| l[(y.clamp(0, h as isize - 1) as usize) * w + x.clamp(0, w as isize - 1) as usize];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let gx = at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x - 1, y)
                - at(x - 1, y + 1);
            let gy = at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x, y - 1)
                - at(x + 1, y - 1);
            score[y as usize * w + x as usize] += gx.abs() + gy.abs();
        }
    }
    let (hscale, vscale) = (f64::from(gw) / f64::from(img.width), f64::from(gh) / f64::from(img.height));
    let sigma = ((window.0 * hscale).powi(2) + (window.1 * vscale).powi(2)).sqrt() / 10.0;
    let blurred = gauss_blur(&score, w, h, sigma.max(1.0) as f32);
    let best = blurred.iter().enumerate().fold(0, |best, (i, &v)| if v > blurred[best] { i } else { best });
    let (cx, cy) = (((best % w) as f64 + 0.5) / hscale, ((best / w) as f64 + 0.5) / vscale);
    let left = (cx - window.0 / 2.0).clamp(0.0, (f64::from(img.width) - window.0).max(0.0));
    let top = (cy - window.1 / 2.0).clamp(0.0, (f64::from(img.height) - window.1).max(0.0));
    Ok((left, top))
}

/// sRGB (8-bit) to CIELAB (D65), as libvips converts for its attention.
fn lab(r: u8, g: u8, b: u8) -> [f32; 3] {
    static LINEAR: LazyLock<[f32; 256]> = LazyLock::new(|| {
        std::array::from_fn(|i| {
            let c = i as f32 / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        })
    });
    let (r, g, b) = (LINEAR[r as usize], LINEAR[g as usize], LINEAR[b as usize]);
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| if t > 0.008_856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// A separable Gaussian blur of a small plane, edges repeated.
fn gauss_blur(plane: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut sum = 0.0;
                for (k, weight) in (-radius..=radius).zip(&kernel) {
                    let (sx, sy) = if horizontal { (x + k, y) } else { (x, y + k) };
                    let (sx, sy) = (sx.clamp(0, w as isize - 1) as usize, sy.clamp(0, h as isize - 1) as usize);
                    sum += weight * src[sy * w + sx];
                }
                out[y as usize * w + x as usize] = sum / total;
            }
        }
        out
    };
    pass(&pass(plane, true), false)
}

/// libvips's entropy: trim the lower-entropy end until `window` remains;
/// returns the window's top-left in `img`'s pixels.
fn entropy(img: &Pixels, window: (f64, f64)) -> (f64, f64) {
    let (w, h) = (img.width as usize, img.height as usize);
    let gray: Vec<u8> = match img.layout {
        Layout::Gray => img.data.clone(),
        _ => img
            .data
            .chunks_exact(img.layout.channels())
            .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29 + 128) >> 8) as u8)
            .collect(),
    };
    let (target_w, target_h) = ((window.0.round() as usize).clamp(1, w), (window.1.round() as usize).clamp(1, h));
    let score = |left: usize, top: usize, width: usize, height: usize| {
        let mut histogram = [0u32; 256];
        for row in gray[top * w..(top + height) * w].chunks_exact(w) {
            for &v in &row[left..left + width] {
                histogram[v as usize] += 1;
            }
        }
        let n = (width * height) as f64;
        histogram.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / n).map(|p| -p * p.log2()).sum::<f64>()
    };
    let (mut left, mut top, mut width, mut height) = (0, 0, w, h);
    let max_slice = (width - target_w).div_ceil(8).max((height - target_h).div_ceil(8));
    while width > target_w || height > target_h {
        let slice_w = (width - target_w).min(max_slice);
        let slice_h = (height - target_h).min(max_slice);
        if slice_w > 0 {
            let left_score = score(left, top, slice_w, height);
            let right_score = score(left + width - slice_w, top, slice_w, height);
            width -= slice_w;
            if left_score < right_score {
                left += slice_w;
            }
        }
        if slice_h > 0 {
            let top_score = score(left, top, width, slice_h);
            let bottom_score = score(left, top + height - slice_h, width, slice_h);
            height -= slice_h;
            if top_score < bottom_score {
                top += slice_h;
            }
        }
    }
    (left as f64, top as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_matches_reference_values() {
        // White, black, and sRGB red (L 53.24, a 80.09, b 67.20).
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.1);
        assert!(close(lab(255, 255, 255), [100.0, 0.0, 0.0]), "{:?}", lab(255, 255, 255));
        assert!(close(lab(0, 0, 0), [0.0, 0.0, 0.0]));
        assert!(close(lab(255, 0, 0), [53.24, 80.09, 67.20]), "{:?}", lab(255, 0, 0));
    }

    #[test]
    fn entropy_keeps_the_textured_side() {
        // 64x16 gray: flat on the left, noise on the right; keep 16x16.
        let (w, h) = (64usize, 16usize);
        let mut data = vec![128u8; w * h];
        let mut seed = 1u32;
        for y in 0..h {
            for x in 40..w {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                data[y * w + x] = (seed >> 16) as u8;
            }
        }
        let img = Pixels::new(w as u32, h as u32, Layout::Gray, data);
        let (left, top) = entropy(&img, (16.0, 16.0));
        assert!(left >= 40.0, "left {left}");
        assert_eq!(top, 0.0);
    }
}
