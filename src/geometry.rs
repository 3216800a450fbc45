//! Where the pixels go: from a spec and the (oriented) source size to a crop
//! of the source, the size it is scaled to, and the canvas it lands on.

use crate::spec::{Fit, Spec};

/// A rectangle in source pixels; fractional so crops stay exact under scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The geometry of one render, in the displayed (oriented) frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Part of the source that is kept.
    pub crop: Rect,
    /// Size the crop is resampled to.
    pub scaled: (u32, u32),
    /// Size of the output; larger than `scaled` only for `contain`.
    pub canvas: (u32, u32),
    /// Top-left of the scaled image on the canvas.
    pub offset: (u32, u32),
}

fn at_least_one(v: f64) -> u32 {
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// Plans the render of a `width` × `height` (displayed) source.
pub(crate) fn plan(spec: &Spec, width: u32, height: u32) -> Plan {
    let (sw, sh) = (f64::from(width), f64::from(height));
    let (bw, bh) = match (spec.width, spec.height) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, at_least_one(sh * f64::from(w) / sw)),
        (None, Some(h)) => (at_least_one(sw * f64::from(h) / sh), h),
        (None, None) => (width, height),
    };
    let full = Rect { x: 0.0, y: 0.0, width: sw, height: sh };
    match spec.fit {
        Fit::Inside => {
            // A missing side does not constrain: its derived length is
            // rounded, and fitting inside it could take a pixel off the
            // side that was asked for (640x427 at "200x" gave 199x133).
            let (fw, fh) = (spec.width.map_or(u32::MAX, |_| bw), spec.height.map_or(u32::MAX, |_| bh));
            let scaled = fit_inside(width, height, fw, fh, spec.enlarge);
            Plan { crop: full, scaled, canvas: scaled, offset: (0, 0) }
        }
        Fit::Fill => Plan { crop: full, scaled: (bw, bh), canvas: (bw, bh), offset: (0, 0) },
        Fit::Contain => {
            let scaled = fit_inside(width, height, bw, bh, spec.enlarge);
            let (gx, gy) = spec.gravity.weights();
            let offset =
                ((f64::from(bw - scaled.0) * gx).round() as u32, (f64::from(bh - scaled.1) * gy).round() as u32);
            Plan { crop: full, scaled, canvas: (bw, bh), offset }
        }
        Fit::Cover => {
            let box_aspect = f64::from(bw) / f64::from(bh);
            let (cw, ch) = if sw / sh > box_aspect { (sh * box_aspect, sh) } else { (sw, sw / box_aspect) };
            let (gx, gy) = spec.gravity.weights();
            let crop = Rect { x: (sw - cw) * gx, y: (sh - ch) * gy, width: cw, height: ch };
            // Without `enlarge`, a source smaller than the box is cropped to
            // the box's shape but not scaled up.
            let scaled =
                if !spec.enlarge && cw < f64::from(bw) { (at_least_one(cw), at_least_one(ch)) } else { (bw, bh) };
            Plan { crop, scaled, canvas: scaled, offset: (0, 0) }
        }
    }
}

/// Moves a `cover` crop so that the point (`fx`, `fy`) (fractions of the
/// `width` × `height` source) is as close to its centre as the source
/// allows.
pub(crate) fn centre_on(crop: Rect, width: u32, height: u32, (fx, fy): (f64, f64)) -> Rect {
    let (sw, sh) = (f64::from(width), f64::from(height));
    let x = (fx * sw - crop.width / 2.0).clamp(0.0, (sw - crop.width).max(0.0));
    let y = (fy * sh - crop.height / 2.0).clamp(0.0, (sh - crop.height).max(0.0));
    Rect { x, y, ..crop }
}

/// Moves a `cover` crop to the position given as weights, as a gravity
/// does: 0.0 is the left/top edge, 1.0 the right/bottom.
pub(crate) fn place_at(crop: Rect, width: u32, height: u32, (gx, gy): (f64, f64)) -> Rect {
    let (sw, sh) = (f64::from(width), f64::from(height));
    Rect { x: (sw - crop.width).max(0.0) * gx, y: (sh - crop.height).max(0.0) * gy, ..crop }
}

/// Largest size with the source's aspect ratio inside `bw` × `bh`; the
/// constraining side matches the box exactly.
fn fit_inside(width: u32, height: u32, bw: u32, bh: u32, enlarge: bool) -> (u32, u32) {
    let (sw, sh) = (f64::from(width), f64::from(height));
    let scale_w = f64::from(bw) / sw;
    let scale_h = f64::from(bh) / sh;
    if !enlarge && scale_w >= 1.0 && scale_h >= 1.0 {
        return (width, height);
    }
    if scale_w <= scale_h { (bw, at_least_one(sh * scale_w).min(bh)) } else { (at_least_one(sw * scale_h).min(bw), bh) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn plan_of(spec: &str, w: u32, h: u32) -> Plan {
        plan(&Spec::parse(spec).unwrap(), w, h)
    }

    #[test]
    fn inside_keeps_aspect_and_never_enlarges_by_default() {
        assert_eq!(plan_of("200x200", 6000, 3000).scaled, (200, 100));
        assert_eq!(plan_of("200x200", 3000, 6000).scaled, (100, 200));
        assert_eq!(plan_of("200x", 6000, 3000).scaled, (200, 100));
        assert_eq!(plan_of("x50", 6000, 3000).scaled, (100, 50));
        assert_eq!(plan_of("2000x2000", 600, 300).scaled, (600, 300));
        assert_eq!(plan_of("2000x2000,enlarge", 600, 300).scaled, (2000, 1000));
        assert_eq!(plan_of("10x10", 1, 1000).scaled, (1, 10));
    }

    #[test]
    fn cover_crops_at_gravity() {
        let p = plan_of("100x100,cover", 400, 200);
        assert_eq!(p.scaled, (100, 100));
        assert_eq!(p.crop, Rect { x: 100.0, y: 0.0, width: 200.0, height: 200.0 });
        let p = plan_of("100x100,cover,west", 400, 200);
        assert_eq!(p.crop.x, 0.0);
        let p = plan_of("100x100,cover,southeast", 200, 400);
        assert_eq!((p.crop.x, p.crop.y), (0.0, 200.0));
        let p = plan_of("1000x500,cover", 400, 400);
        assert_eq!(p.scaled, (400, 200), "no enlargement: crop to the box shape");
    }

    #[test]
    fn focus_centres_the_crop_as_far_as_the_source_allows() {
        let p = plan_of("100x100,cover,focus=0.25,0.5", 400, 200);
        let c = centre_on(p.crop, 400, 200, (0.25, 0.5));
        assert_eq!((c.x, c.y, c.width), (0.0, 0.0, 200.0), "clamped at the left edge");
        let c = centre_on(p.crop, 400, 200, (0.6, 0.5));
        assert_eq!(c.x, 140.0, "centred: 240 - 100");
        let c = centre_on(p.crop, 400, 200, (1.0, 1.0));
        assert_eq!((c.x, c.y), (200.0, 0.0));
        let c = place_at(p.crop, 400, 200, (0.25, 0.0));
        assert_eq!(c.x, 50.0);
    }

    #[test]
    fn contain_pads_to_the_box() {
        let p = plan_of("200x200,contain", 400, 200);
        assert_eq!((p.scaled, p.canvas, p.offset), ((200, 100), (200, 200), (0, 50)));
        let p = plan_of("200x200,contain,north", 400, 200);
        assert_eq!(p.offset, (0, 0));
    }

    #[test]
    fn a_given_side_is_kept_exactly() {
        // 427 * 200 / 640 = 133.4: the derived side rounds down, and the
        // given one must not follow it (it was 199)
        assert_eq!(plan_of("200x", 640, 427).scaled, (200, 133));
        assert_eq!(plan_of("x133", 640, 427).scaled, (199, 133));
        assert_eq!(plan_of("x200", 427, 640).scaled, (133, 200));
        for w in 1..=300 {
            assert_eq!(plan_of(&format!("{w}x"), 640, 427).scaled.0, w, "{w}x");
            assert_eq!(plan_of(&format!("x{w}"), 427, 640).scaled.1, w.min(640), "x{w}");
        }
    }

    #[test]
    fn fill_stretches() {
        let p = plan_of("300x100,fill", 100, 100);
        assert_eq!((p.scaled, p.canvas), ((300, 100), (300, 100)));
    }
}
