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
use crate::orient;
use crate::resize;
use crate::spec::Spec;

/// Renders a thumbnail of `source` (JPEG or PNG bytes) as `spec` says,
/// refusing anything over `limits` before decoding.
///
/// Never panics: a panic inside a decoder is caught and returned as an
/// `internal` error.
pub fn render(source: &[u8], spec: &Spec, limits: &Limits) -> Result<Thumbnail> {
    guard(|| render_unguarded(source, spec, limits))
}

/// Reads only the header of `source`: format, stored size, orientation.
pub fn probe(source: &[u8]) -> Result<Info> {
    guard(|| Ok(Source::open(source, &Limits::unlimited())?.info()))
}

fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::internal("decoder panicked")))
}

fn render_unguarded(bytes: &[u8], spec: &Spec, limits: &Limits) -> Result<Thumbnail> {
    let source = Source::open(bytes, limits)?;
    let info = source.info();
    let orientation = if spec.orient { info.orientation } else { 1 };
    let (shown_w, shown_h) = orient::displayed(orientation, (info.width, info.height));
    let plan = geometry::plan(spec, shown_w, shown_h);
    limits.check_output(plan.canvas.0, plan.canvas.1)?;
    let format = spec.format.unwrap_or(info.format);

    // The decoder may shrink the image (JPEG DCT scaling) as long as the
    // crop keeps the headroom Lanczos3 needs for the final step.
    let min_scale = resize::LANCZOS_HEADROOM
        * (f64::from(plan.scaled.0) / plan.crop.width).max(f64::from(plan.scaled.1) / plan.crop.height);
    let pixels = source.decode(min_scale.min(1.0))?;
    // Work in the stored frame; only the thumbnail-sized result is rotated.
    let (sw, sh) = (f64::from(pixels.width), f64::from(pixels.height));
    let crop = scale_rect(plan.crop, sw / f64::from(info.width), sh / f64::from(info.height), orientation);
    let crop = orient::rect_to_stored(orientation, crop, sw, sh);
    // The stored frame's size of the displayed target: the same swap.
    let (w, h) = orient::displayed(orientation, plan.scaled);
    let resized = resize::resize(pixels, crop, w, h)?;
    let upright = orient::apply(resized, orientation);
    let finished = compose::finish(upright, plan.canvas, plan.offset, spec.background, format);
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
