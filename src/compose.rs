//! Final touches on the small image: flatten alpha for JPEG and pad for `contain`.

use crate::image::Format;
use crate::pixels::{Layout, Pixels};
use crate::spec::Rgb;

/// Makes `img` ready for `format` on a `canvas` (with `img` at `offset`).
pub(crate) fn finish(img: Pixels, canvas: (u32, u32), offset: (u32, u32), bg: Rgb, format: Format) -> Pixels {
    let img = if format == Format::Jpeg && img.layout == Layout::Rgba { flatten(&img, bg) } else { img };
    if (img.width, img.height) == canvas {
        return img;
    }
    let img = if img.layout == Layout::Gray && !is_gray(bg) { gray_to_rgb(&img) } else { img };
    pad(&img, canvas, offset, bg)
}

fn is_gray(Rgb(r, g, b): Rgb) -> bool {
    r == g && g == b
}

/// Composites straight-alpha RGBA over an opaque background.
fn flatten(img: &Pixels, Rgb(r, g, b): Rgb) -> Pixels {
    let bg = [u32::from(r), u32::from(g), u32::from(b)];
    let mut out = Vec::with_capacity(img.data.len() / 4 * 3);
    for px in img.data.chunks_exact(4) {
        let a = u32::from(px[3]);
        for c in 0..3 {
            out.push(((u32::from(px[c]) * a + bg[c] * (255 - a) + 127) / 255) as u8);
        }
    }
    Pixels::new(img.width, img.height, Layout::Rgb, out)
}

fn gray_to_rgb(img: &Pixels) -> Pixels {
    let data = img.data.iter().flat_map(|&v| [v, v, v]).collect();
    Pixels::new(img.width, img.height, Layout::Rgb, data)
}

fn pad(img: &Pixels, (cw, ch): (u32, u32), (ox, oy): (u32, u32), Rgb(r, g, b): Rgb) -> Pixels {
    let fill: &[u8] = match img.layout {
        Layout::Gray => &[r],
        Layout::Rgb => &[r, g, b],
        Layout::Rgba => &[r, g, b, 255],
    };
    let n = img.layout.channels();
    let mut data = fill.repeat(cw as usize * ch as usize);
    let row_len = img.stride();
    let canvas_stride = cw as usize * n;
    for (y, row) in img.data.chunks_exact(row_len).enumerate() {
        let at = (oy as usize + y) * canvas_stride + ox as usize * n;
        data[at..at + row_len].copy_from_slice(row);
    }
    Pixels::new(cw, ch, img.layout, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_flattens_alpha_over_background() {
        let img = Pixels::new(2, 1, Layout::Rgba, vec![0, 0, 0, 0, 255, 0, 0, 255]);
        let out = finish(img, (2, 1), (0, 0), Rgb(0, 0, 255), Format::Jpeg);
        assert_eq!(out.data, vec![0, 0, 255, 255, 0, 0]);
    }

    #[test]
    fn contain_pads_with_background_and_promotes_gray() {
        let img = Pixels::new(1, 1, Layout::Gray, vec![7]);
        let out = finish(img, (3, 1), (1, 0), Rgb(1, 2, 3), Format::Png);
        assert_eq!(out.layout, Layout::Rgb);
        assert_eq!(out.data, vec![1, 2, 3, 7, 7, 7, 1, 2, 3]);
    }
}
