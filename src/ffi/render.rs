//! Rendering and probing: limits, image info, thumbnail_render, thumbnail_probe.

use std::ffi::c_char;

use super::args;
use super::image::{thumbnail_format, thumbnail_image};
use super::panic::boundary;
use super::status::thumbnail_status;
use crate::limits::Limits;

/// Resource limits for one render, checked from the image header before any
/// pixel memory is allocated; exceeding one gives THUMBNAIL_STATUS_TOO_LARGE.
/// Get the defaults from thumbnail_limits_default() and change fields as
/// needed; passing NULL instead of a thumbnail_limits pointer means the
/// defaults. A plain struct: the caller owns it, and the library only reads
/// it during the call it is passed to.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct thumbnail_limits {
    /// Largest accepted source, in bytes (default 64 MiB).
    pub max_source_bytes: u64,
    /// Largest accepted source, in pixels, width times height from the
    /// header (default 50,000,000).
    pub max_source_pixels: u64,
    /// Largest output width (default 4096).
    pub max_output_width: u32,
    /// Largest output height (default 4096).
    pub max_output_height: u32,
    /// Nonzero: refuse a damaged or truncated source
    /// (THUMBNAIL_STATUS_CORRUPT) instead of serving the part that decodes
    /// (default 0). A byte, not a bool, so that every bit pattern is valid.
    pub strict: u8,
    /// Largest encoded output, in bytes: a larger thumbnail is
    /// THUMBNAIL_STATUS_TOO_LARGE (checked after encoding, so it bounds the
    /// memory a result holds, not the work). 0, the default, means no limit.
    pub max_output_bytes: u64,
    /// Most frames of a source rendered animated (spec `anim`) (default
    /// 100); a still render reads only the first frame.
    pub max_frames: u32,
    /// Most pixels of an animation in all, canvas width times height times
    /// frames (default 50,000,000).
    pub max_animation_pixels: u64,
    /// `auto` chooses AVIF only for outputs of at most this many pixels,
    /// WebP above (default 1,000,000).
    pub avif_max_pixels: u64,
    /// rav1e speed for AVIF output, 0 (slowest) to 10 (default 9).
    pub avif_speed: u8,
}

impl From<Limits> for thumbnail_limits {
    fn from(l: Limits) -> thumbnail_limits {
        thumbnail_limits {
            max_source_bytes: l.max_source_bytes,
            max_source_pixels: l.max_source_pixels,
            max_output_width: l.max_output_width,
            max_output_height: l.max_output_height,
            strict: u8::from(l.strict),
            max_frames: l.max_frames,
            max_animation_pixels: l.max_animation_pixels,
            avif_max_pixels: l.avif_max_pixels,
            avif_speed: l.avif_speed,
            max_output_bytes: if l.max_output_bytes == u64::MAX { 0 } else { l.max_output_bytes },
        }
    }
}

/// The limits at `ptr`, or the defaults for NULL.
///
/// # Safety
/// `ptr` must be NULL or valid for a read of a thumbnail_limits.
pub(crate) unsafe fn limits_from(ptr: *const thumbnail_limits) -> Limits {
    // SAFETY: promised by the caller; every bit pattern is a valid value.
    match unsafe { ptr.as_ref() } {
        None => Limits::default(),
        Some(l) => Limits {
            max_source_bytes: l.max_source_bytes,
            max_source_pixels: l.max_source_pixels,
            max_output_width: l.max_output_width,
            max_output_height: l.max_output_height,
            strict: l.strict != 0,
            max_frames: l.max_frames,
            max_animation_pixels: l.max_animation_pixels,
            avif_max_pixels: l.avif_max_pixels,
            avif_speed: l.avif_speed,
            max_output_bytes: if l.max_output_bytes == 0 { u64::MAX } else { l.max_output_bytes },
        },
    }
}

/// Returns the default limits (the same on every surface: CLI, nginx, Lua,
/// Go, C).
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_limits_default() -> thumbnail_limits {
    Limits::default().into()
}

/// What an image header says, read without decoding pixels
/// (thumbnail_probe()).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct thumbnail_info {
    /// THUMBNAIL_FORMAT_JPEG, _PNG, _WEBP or _GIF
    /// (THUMBNAIL_FORMAT_UNKNOWN only in the zeroed struct of a failed call).
    pub format: thumbnail_format,
    /// Width as stored in the file, before EXIF orientation.
    pub width: u32,
    /// Height as stored in the file, before EXIF orientation.
    pub height: u32,
    /// EXIF orientation 1..=8 (1 when absent or invalid). For 5..=8 the
    /// displayed image is `height` wide and `width` high.
    pub orientation: u32,
    /// Whether the decoded pixels carry an alpha channel.
    pub has_alpha: bool,
    /// A progressive JPEG: decoding it costs several times a baseline one
    /// of the same size (servers may route or cap such renders).
    pub progressive: bool,
}

const NO_INFO: thumbnail_info = thumbnail_info {
    format: thumbnail_format::Unknown,
    width: 0,
    height: 0,
    orientation: 0,
    has_alpha: false,
    progressive: false,
};

/// Renders a thumbnail of the JPEG, PNG, GIF or WebP image in `src` as
/// `spec` says.
/// Limits are enforced from the header before decoding.
///
/// - `src`, `src_len`: the encoded source image. NULL with length 0 is an
///   empty source (THUMBNAIL_STATUS_UNSUPPORTED); NULL with a nonzero
///   length is INVALID_ARGUMENT. Only read during the call.
/// - `spec`, `spec_len`: the spec text (e.g. `"200x200,cover,q85"`),
///   exactly `spec_len` bytes, not NUL-terminated.
/// - `limits`: NULL for the defaults.
/// - `out`: required; receives the new image on success, NULL on any error.
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK, INVALID_SPEC, UNSUPPORTED, CORRUPT, TOO_LARGE,
/// INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: on success the caller owns `*out` and frees it with
/// thumbnail_image_free(). All other buffers belong to the caller.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_render(
    src: *const u8,
    src_len: usize,
    spec: *const c_char,
    spec_len: usize,
    limits: *const thumbnail_limits,
    out: *mut *mut thumbnail_image,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, std::ptr::null_mut(), "out")? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let spec = unsafe { args::spec(spec, spec_len)? };
        let limits = unsafe { limits_from(limits) };
        let thumb = crate::render(src, &spec, &limits)?;
        out.set(thumbnail_image::into_raw(thumb));
        Ok(())
    })
}

/// Reads the header of the JPEG, PNG, GIF or WebP image in `src` (format, stored size,
/// EXIF orientation, alpha) without decoding pixels; applies no limits, as
/// it allocates nothing proportional to the image.
///
/// - `src`, `src_len`: as for thumbnail_render().
/// - `out`: required; filled on success, zeroed (format
///   THUMBNAIL_FORMAT_UNKNOWN) on any error.
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK, UNSUPPORTED, CORRUPT, INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: all buffers belong to the caller.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_probe(
    src: *const u8,
    src_len: usize,
    out: *mut thumbnail_info,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, NO_INFO, "out")? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let info = crate::probe(src)?;
        out.set(thumbnail_info {
            format: info.format.into(),
            width: info.width,
            height: info.height,
            orientation: u32::from(info.orientation),
            has_alpha: info.has_alpha,
            progressive: info.progressive,
        });
        Ok(())
    })
}
