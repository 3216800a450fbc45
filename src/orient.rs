//! EXIF orientation. The pipeline resizes in the stored frame and turns only
//! the small result upright, so a rotation costs thumbnail-sized work.
//!
//! Orientation N maps a displayed pixel (x, y) to a stored pixel:
//! 1 (x, y) · 2 (W-1-x, y) · 3 (W-1-x, H-1-y) · 4 (x, H-1-y) ·
//! 5 (y, x) · 6 (y, H-1-x) · 7 (W-1-y, H-1-x) · 8 (W-1-y, x),
//! where W × H is the stored size.

use crate::geometry::Rect;
use crate::pixels::Pixels;

/// A stored-frame size (or any width/height pair) as displayed: swapped by
/// the orientations that turn the image a quarter (5 to 8).
pub(crate) fn displayed<T>(orientation: u8, (w, h): (T, T)) -> (T, T) {
    if orientation >= 5 { (h, w) } else { (w, h) }
}

/// Maps a rectangle in the displayed frame to the stored frame of a
/// `stored_w` × `stored_h` image.
pub(crate) fn rect_to_stored(orientation: u8, r: Rect, stored_w: f64, stored_h: f64) -> Rect {
    let (w, h) = (stored_w, stored_h);
    let (x, y, rw, rh) = match orientation {
        2 => (w - r.x - r.width, r.y, r.width, r.height),
        3 => (w - r.x - r.width, h - r.y - r.height, r.width, r.height),
        4 => (r.x, h - r.y - r.height, r.width, r.height),
        5 => (r.y, r.x, r.height, r.width),
        6 => (r.y, h - r.x - r.width, r.height, r.width),
        7 => (w - r.y - r.height, h - r.x - r.width, r.height, r.width),
        8 => (w - r.y - r.height, r.x, r.height, r.width),
        _ => (r.x, r.y, r.width, r.height),
    };
    Rect { x, y, width: rw, height: rh }
}

/// Where orientation `o` sends a point of the displayed frame, in
/// fractions of the width and height (0..=1), in the stored frame: the
/// table above on the unit square.
pub(crate) fn map_unit<T>(o: u8, (u, v): (T, T)) -> (T, T)
where
    T: Copy + std::ops::Sub<Output = T> + From<u8>,
{
    let one = || T::from(1);
    match o {
        2 => (one() - u, v),
        3 => (one() - u, one() - v),
        4 => (u, one() - v),
        5 => (v, u),
        6 => (v, one() - u),
        7 => (one() - v, one() - u),
        8 => (one() - v, u),
        _ => (u, v),
    }
}

/// The one orientation that does `first`, then `then` on its upright
/// result: a displayed pixel goes through `then`'s map, then `first`'s.
/// Orientations form the dihedral group of the square, so the composite is
/// again one of 1..=8, and the pipeline still resizes in the stored frame
/// and turns only the small result.
pub(crate) fn compose(first: u8, then: u8) -> u8 {
    let both = |p: (i16, i16)| map_unit(first, map_unit(then, p));
    // An affine map of the unit square is fixed by three corners.
    let corners = [(0, 0), (1, 0), (0, 1)];
    (1..=8).find(|&o| corners.iter().all(|&p| map_unit(o, p) == both(p))).unwrap_or(1)
}

/// The orientation that undoes `o`: `compose(o, inverse(o)) == 1`.
pub(crate) fn inverse(o: u8) -> u8 {
    (1..=8).find(|&i| compose(o, i) == 1).unwrap_or(1)
}

/// The spec's `rotate` (clockwise), then `flip` (top-bottom), then `flop`
/// (left-right), as one orientation applied after EXIF's. In EXIF's terms
/// a clockwise quarter turn is 6, a half turn 3, three quarters 8; a
/// top-bottom mirror 4, a left-right mirror 2.
pub(crate) fn of_ops(rotate: u16, flip: bool, flop: bool) -> u8 {
    let mut o = match rotate {
        90 => 6,
        180 => 3,
        270 => 8,
        _ => 1,
    };
    if flip {
        o = compose(o, 4);
    }
    if flop {
        o = compose(o, 2);
    }
    o
}

/// Turns stored-frame pixels upright.
pub(crate) fn apply(src: Pixels, orientation: u8) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return src;
    }
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = displayed(orientation, (sw, sh));
    let ch = src.layout.channels();
    let mut data = vec![0u8; src.data.len()];
    for y in 0..dh {
        let row = &mut data[y * dw * ch..(y + 1) * dw * ch];
        for (x, out) in row.chunks_exact_mut(ch).enumerate() {
            let (sx, sy) = match orientation {
                2 => (sw - 1 - x, y),
                3 => (sw - 1 - x, sh - 1 - y),
                4 => (x, sh - 1 - y),
                5 => (y, x),
                6 => (y, sh - 1 - x),
                7 => (sw - 1 - y, sh - 1 - x),
                _ => (sw - 1 - y, x),
            };
            let at = (sy * sw + sx) * ch;
            out.copy_from_slice(&src.data[at..at + ch]);
        }
    }
    Pixels::new(dw as u32, dh as u32, src.layout, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::Layout;

    /// A 3x2 gray image whose values name their stored position.
    fn sample() -> Pixels {
        Pixels::new(3, 2, Layout::Gray, vec![0, 1, 2, 10, 11, 12])
    }

    #[test]
    fn all_orientations_match_the_exif_definition() {
        // Displayed rows for each orientation of
        //   0  1  2
        //  10 11 12
        let expected: [(u8, u32, &[u8]); 8] = [
            (1, 3, &[0, 1, 2, 10, 11, 12]),
            (2, 3, &[2, 1, 0, 12, 11, 10]),
            (3, 3, &[12, 11, 10, 2, 1, 0]),
            (4, 3, &[10, 11, 12, 0, 1, 2]),
            (5, 2, &[0, 10, 1, 11, 2, 12]),
            (6, 2, &[10, 0, 11, 1, 12, 2]),
            (7, 2, &[12, 2, 11, 1, 10, 0]),
            (8, 2, &[2, 12, 1, 11, 0, 10]),
        ];
        for (o, width, data) in expected {
            let out = apply(sample(), o);
            assert_eq!(out.width, width, "orientation {o}");
            assert_eq!(out.data, data, "orientation {o}");
        }
    }

    #[test]
    fn composing_equals_applying_one_after_the_other() {
        for first in 1..=8u8 {
            for then in 1..=8u8 {
                let twice = apply(apply(sample(), first), then);
                let once = apply(sample(), compose(first, then));
                assert_eq!((once.width, &once.data), (twice.width, &twice.data), "{first} then {then}");
            }
            assert_eq!(compose(first, inverse(first)), 1);
        }
    }

    #[test]
    fn user_operations_turn_and_mirror_the_upright_image() {
        // Upright 3x2:  0 1 2 / 10 11 12.
        let shown = |o| apply(sample(), o).data;
        assert_eq!(shown(of_ops(90, false, false)), [10, 0, 11, 1, 12, 2]);
        assert_eq!(shown(of_ops(180, false, false)), [12, 11, 10, 2, 1, 0]);
        assert_eq!(shown(of_ops(270, false, false)), [2, 12, 1, 11, 0, 10]);
        assert_eq!(shown(of_ops(0, true, false)), [10, 11, 12, 0, 1, 2]);
        assert_eq!(shown(of_ops(0, false, true)), [2, 1, 0, 12, 11, 10]);
        // rotate first, then flip: the turned 2x3 image's rows swap.
        assert_eq!(shown(of_ops(90, true, false)), [12, 2, 11, 1, 10, 0]);
    }

    #[test]
    fn rects_map_consistently_with_pixels() {
        // A 1x1 rect at displayed (x, y) must land on the stored pixel that
        // `apply` copies to (x, y).
        for o in 1..=8u8 {
            let shown = apply(sample(), o);
            for y in 0..shown.height {
                for x in 0..shown.width {
                    let r = Rect { x: f64::from(x), y: f64::from(y), width: 1.0, height: 1.0 };
                    let s = rect_to_stored(o, r, 3.0, 2.0);
                    let stored = sample().data[(s.y as usize) * 3 + s.x as usize];
                    assert_eq!(stored, shown.data[(y * shown.width + x) as usize], "o={o} ({x},{y})");
                }
            }
        }
    }
}
