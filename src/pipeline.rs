//! The whole render: open (sniff + header + limits), plan, decode, resize in
//! the stored frame, orient the small result, compose, encode.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::compose;
use crate::decode::{Info, Source};
use crate::encode;
use crate::error::{Error, Result};
use crate::geometry::{self, Rect};
use crate::image::Thumbnail;
use crate::limits::Limits;
use crate::ops::watermark::Overlay;
use crate::ops::{filter, smartcrop};
use crate::orient;
use crate::resize;
use crate::spec::{Fit, Spec};

/// Per-call options beyond the spec and the limits. More may be added, so
/// build one from `RenderOptions::default()` and its setters.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct RenderOptions<'a> {
    /// A watermark, composited onto the finished thumbnail when the
    /// overlay applies to the spec (always, or only with `wm`; see
    /// [`Overlay`]). A spec with `wm` and no overlay is `invalid-spec`.
    pub overlay: Option<&'a Overlay>,
}

impl<'a> RenderOptions<'a> {
    /// These options with `overlay`.
    pub fn overlay(mut self, overlay: Option<&'a Overlay>) -> Self {
        self.overlay = overlay;
        self
    }
}

/// Renders a thumbnail of `source` (JPEG or PNG bytes) as `spec` says,
/// refusing anything over `limits` before decoding.
///
/// Never panics: a panic inside a decoder is caught and returned as an
/// `internal` error.
pub fn render(source: &[u8], spec: &Spec, limits: &Limits) -> Result<Thumbnail> {
    render_with(source, spec, limits, &RenderOptions::default())
}

/// [`render`] with per-call options (a watermark overlay).
pub fn render_with(source: &[u8], spec: &Spec, limits: &Limits, options: &RenderOptions<'_>) -> Result<Thumbnail> {
    guard(|| render_unguarded(source, spec, limits, options))
}

/// Reads only the header of `source`: format, stored size, orientation.
pub fn probe(source: &[u8]) -> Result<Info> {
    guard(|| Ok(Source::open(source, &Limits::unlimited())?.info()))
}

pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::internal("decoder panicked")))
}

fn render_unguarded(bytes: &[u8], spec: &Spec, limits: &Limits, options: &RenderOptions<'_>) -> Result<Thumbnail> {
    if spec.watermark && options.overlay.is_none() {
        return Err(Error::invalid_spec("wm: no watermark overlay is configured"));
    }
    let overlay = options.overlay.filter(|o| o.applies_to(spec));
    let source = Source::open(bytes, limits)?;
    let info = source.info();
    // rotate/flip/flop come after EXIF's orientation: one composite
    // orientation keeps the resize in the stored frame.
    let user = orient::of_ops(spec.rotate, spec.flip, spec.flop);
    let orientation = orient::compose(if spec.orient { info.orientation } else { 1 }, user);
    let (shown_w, shown_h) = orient::displayed(orientation, (info.width, info.height));
    let mut plan = geometry::plan(spec, shown_w, shown_h);
    if let Some(focus) = spec.focus {
        // Given in the upright source; the plan's frame is after rotate/flip/flop.
        let point = (f64::from(focus.x) / 1000.0, f64::from(focus.y) / 1000.0);
        let point = orient::map_unit(orient::inverse(user), point);
        plan.crop = geometry::centre_on(plan.crop, shown_w, shown_h, point);
    }
    limits.check_output(plan.canvas.0, plan.canvas.1)?;
    let format = spec.format.unwrap_or(info.format);

    // The decoder may shrink the image (JPEG DCT scaling) as long as the
    // crop keeps the headroom Lanczos3 needs for the final step.
    let min_scale = resize::LANCZOS_HEADROOM
        * (f64::from(plan.scaled.0) / plan.crop.width).max(f64::from(plan.scaled.1) / plan.crop.height);
    let pixels = source.decode(min_scale.min(1.0))?;
    // Work in the stored frame; only the thumbnail-sized result is rotated.
    let (sw, sh) = (f64::from(pixels.width), f64::from(pixels.height));
    let to_stored = |r: Rect| {
        let r = scale_rect(r, sw / f64::from(info.width), sh / f64::from(info.height), orientation);
        orient::rect_to_stored(orientation, r, sw, sh)
    };
    let crop = to_stored(plan.crop);
    // The stored frame's size of the displayed target: the same swap.
    let (w, h) = orient::displayed(orientation, plan.scaled);
    let resized = if spec.fit == Fit::Cover && spec.gravity.is_smart() {
        // The crop's size is planned; where it sits, the pixels decide.
        let fraction = (plan.crop.width / f64::from(shown_w), plan.crop.height / f64::from(shown_h));
        resize::resize_placed(pixels, crop, w, h, |img, k| {
            let weights = smartcrop::weights(spec.gravity, img, orientation, fraction, plan.scaled)?;
            let r = to_stored(geometry::place_at(plan.crop, shown_w, shown_h, weights));
            Ok(Rect { x: r.x / k, y: r.y / k, width: r.width / k, height: r.height / k })
        })?
    } else {
        resize::resize(pixels, crop, w, h)?
    };
    let resized = filter::sharpen(filter::blur(resized, spec.blur)?, spec.sharpen)?;
    let upright = orient::apply(resized, orientation);
    let finished = compose::finish(upright, plan.canvas, plan.offset, spec.background, format);
    let finished = match overlay {
        Some(overlay) => overlay.draw(finished)?,
        None => finished,
    };
    let data = encode::encode(&finished, format, spec)?;
    limits.check_output_bytes(data.len())?;
    Ok(Thumbnail::new(data, format, finished.width, finished.height))
}

/// Rescales a displayed-frame rect when the decoded size differs from the
/// header's (it never should; this keeps the crop inside the pixels if so).
fn scale_rect(r: Rect, sx: f64, sy: f64, orientation: u8) -> Rect {
    let (sx, sy) = orient::displayed(orientation, (sx, sy));
    if sx == 1.0 && sy == 1.0 {
        return r;
    }
    Rect { x: r.x * sx, y: r.y * sy, width: r.width * sx, height: r.height * sy }
}
