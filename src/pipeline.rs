//! The whole render: open (sniff + header + limits), plan, decode, resize in
//! the stored frame, orient the small result, compose, encode.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::compose;
use crate::decode::{Frames, Info, Source};
use crate::encode;
use crate::error::{Error, Result};
use crate::geometry::{self, Plan, Rect};
use crate::icc::{self, Profile};
use crate::image::{Format, Thumbnail};
use crate::limits::Limits;
use crate::negotiate::Bucket;
use crate::ops::watermark::Overlay;
use crate::ops::{filter, smartcrop};
use crate::orient;
use crate::pixels::Pixels;
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

/// Renders a thumbnail of `source` (JPEG, PNG, GIF or WebP bytes) as `spec` says,
/// refusing anything over `limits` before decoding.
///
/// Never panics: a panic inside a decoder is caught and returned as an
/// `internal` error.
pub fn render(source: &[u8], spec: &Spec, limits: &Limits) -> Result<Thumbnail> {
    render_with(source, spec, limits, &RenderOptions::default())
}

/// [`render`] with per-call options (a watermark overlay).
pub fn render_with(source: &[u8], spec: &Spec, limits: &Limits, options: &RenderOptions<'_>) -> Result<Thumbnail> {
    guard(|| render_unguarded(source, spec, limits, options)).map(|(thumbnail, _)| thumbnail)
}

/// [`render`], also returning what it overlooked: damage in the source that
/// was served anyway (never in `strict` mode) and colour profiles that could
/// not be used (the image is then treated as sRGB). Empty for a sound source.
pub fn render_with_warnings(source: &[u8], spec: &Spec, limits: &Limits) -> Result<(Thumbnail, Vec<String>)> {
    guard(|| render_unguarded(source, spec, limits, &RenderOptions::default()))
}

/// Reads only the header of `source`: format, stored size, orientation.
pub fn probe(source: &[u8]) -> Result<Info> {
    guard(|| Source::probe(source))
}

pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::internal("decoder panicked")))
}

fn render_unguarded(
    bytes: &[u8],
    spec: &Spec,
    limits: &Limits,
    options: &RenderOptions<'_>,
) -> Result<(Thumbnail, Vec<String>)> {
    if spec.watermark && options.overlay.is_none() {
        return Err(Error::invalid_spec("wm: no watermark overlay is configured"));
    }
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
    let animate = spec.animate && source.frames() > 1;
    let format = output_format(spec, &info, animate, plan.canvas, limits);
    if format == Format::Webp {
        // Before decoding: a spec whose box fits may still ask for more
        // (a missing side following the aspect ratio).
        encode::webp::check_side(plan.canvas.0, plan.canvas.1)?;
    }
    let steps = Steps {
        info: &info,
        plan: &plan,
        orientation,
        spec,
        format,
        overlay: options.overlay.filter(|o| o.applies_to(spec)),
    };
    if animate && format == Format::Webp {
        limits.check_animation(info.width, info.height, source.frames())?;
        if let Some(frames) = source.into_frames(bytes)? {
            return Ok((render_animation(frames, &steps, limits)?, Vec::new()));
        }
        return Err(Error::internal("animated source without a frame decoder"));
    }

    // The decoder may shrink the image (JPEG DCT scaling, WebP's
    // rescaler) as long as the crop keeps the headroom Lanczos3 needs for
    // the final step.
    let min_scale = resize::LANCZOS_HEADROOM
        * (f64::from(plan.scaled.0) / plan.crop.width).max(f64::from(plan.scaled.1) / plan.crop.height);
    let decoded = source.decode(min_scale.min(1.0))?;
    let mut warnings = decoded.warnings;
    let finished = steps.finish(decoded.pixels, decoded.profile.as_ref(), &mut warnings)?;
    let data = match format {
        Format::Avif => encode::encode_avif(&finished, spec.quality, limits.avif_speed)?,
        _ => encode::encode(&finished, format, spec)?,
    };
    limits.check_output_bytes(data.len())?;
    Ok((Thumbnail::new(data, format, finished.width, finished.height), warnings))
}

/// What decoded pixels go through, the same for a still and for each frame
/// of an animation.
struct Steps<'a> {
    info: &'a Info,
    plan: &'a Plan,
    orientation: u8,
    spec: &'a Spec,
    format: Format,
    /// Only when it applies to the spec.
    overlay: Option<&'a Overlay>,
}

impl Steps<'_> {
    /// Crop, resize in the stored frame, colour to sRGB, filters, orient
    /// the small result, compose, watermark.
    fn finish(&self, pixels: Pixels, profile: Option<&Profile>, warnings: &mut Vec<String>) -> Result<Pixels> {
        let Steps { info, plan, orientation, spec, format, overlay } = *self;
        let (shown_w, shown_h) = orient::displayed(orientation, (info.width, info.height));
        // Work in the stored frame; only the thumbnail-sized result is rotated.
        let (sw, sh) = (f64::from(pixels.width), f64::from(pixels.height));
        let to_stored = |r: Rect| {
            let r = scale_rect(r, sw / f64::from(info.width), sh / f64::from(info.height), orientation);
            orient::rect_to_stored(orientation, r, sw, sh)
        };
        let crop = to_stored(plan.crop);
        // The stored frame's size of the displayed target: the same swap.
        let (w, h) = orient::displayed(orientation, plan.scaled);
        let mut resized = if spec.fit == Fit::Cover && spec.gravity.is_smart() {
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
        // Colour to sRGB on the thumbnail, not the source: far fewer pixels.
        if let Some(profile) = profile {
            warnings.extend(icc::apply(profile, &mut resized));
        }
        let resized = filter::sharpen(filter::blur(resized, spec.blur)?, spec.sharpen)?;
        let upright = orient::apply(resized, orientation);
        let finished = compose::finish(upright, plan.canvas, plan.offset, spec.background, format);
        match overlay {
            Some(overlay) => overlay.draw(finished),
            None => Ok(finished),
        }
    }
}

/// Every frame through the same steps as a still, into an animated WebP
/// (one frame in memory at a time, besides the decoder's canvas).
fn render_animation(mut frames: Frames<'_>, steps: &Steps<'_>, limits: &Limits) -> Result<Thumbnail> {
    let (w, h) = steps.plan.canvas;
    let mut out = encode::webp::Animation::new(w, h, frames.loop_count(), steps.spec.quality)?;
    while let Some(frame) = frames.next_frame() {
        let (pixels, ms) = frame?;
        out.add(&steps.finish(pixels, None, &mut Vec::new())?, ms)?;
    }
    if out.frames() == 0 {
        return Err(Error::corrupt("animation has no frame"));
    }
    let data = out.finish()?;
    limits.check_output_bytes(data.len())?;
    Ok(Thumbnail::new(data, Format::Webp, w, h))
}

/// The format to write: the spec's; for `auto`, the negotiated bucket's
/// (AVIF only for stills of at most `avif_max_pixels`, else WebP); with
/// no format, the source's where it can be written (a GIF becomes PNG, or
/// WebP when animated output is asked for).
fn output_format(spec: &Spec, info: &Info, animate: bool, canvas: (u32, u32), limits: &Limits) -> Format {
    let pixels = u64::from(canvas.0) * u64::from(canvas.1);
    match (spec.auto, spec.format) {
        (Some(Bucket::Avif), _) if !animate && cfg!(feature = "avif") && pixels <= limits.avif_max_pixels => {
            Format::Avif
        }
        (Some(Bucket::Avif | Bucket::Webp), _) => Format::Webp,
        // The client reads neither WebP nor AVIF: JPEG or PNG.
        (Some(Bucket::Source), _) => match info.format {
            Format::Jpeg => Format::Jpeg,
            Format::Webp if !info.has_alpha => Format::Jpeg,
            _ => Format::Png,
        },
        (None, Some(format)) => format,
        (None, None) => match info.format {
            Format::Gif if animate => Format::Webp,
            Format::Gif | Format::Avif => Format::Png,
            other => other,
        },
    }
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
