//! Watermark overlays and the render entry points that take per-call
//! options: thumbnail_overlay_*, thumbnail_render_options,
//! thumbnail_render_ex, thumbnail_cache_get_or_render_ex,
//! thumbnail_cache_get_or_load_ex.

use std::ffi::{CString, c_char, c_void};
use std::mem::size_of;
use std::ptr;

use super::args;
use super::cache::{get_or_render_into, load_source, thumbnail_cache, thumbnail_cache_source, thumbnail_load_fn};
use super::image::thumbnail_image;
use super::panic::{boundary, guard};
use super::render::{limits_from, thumbnail_limits};
use super::status::{Failure, thumbnail_status};
use crate::limits::Limits;
use crate::ops::watermark::Overlay;
use crate::pipeline::RenderOptions;

/// A decoded watermark image and its placement. Opaque.
///
/// Made once (e.g. at configuration time) by thumbnail_overlay_new(), passed
/// to any number of renders through thumbnail_render_options.overlay, freed
/// by thumbnail_overlay_free(). Immutable: may be used by any number of
/// threads at once.
pub struct thumbnail_overlay {
    overlay: Overlay,
    id: CString,
}

/// Decodes a watermark image and parses its placement options.
///
/// - `image`, `image_len`: the encoded overlay, typically a PNG with alpha
///   (any format thumbnail_render() reads; at most 16 megapixels). Only
///   read during the call.
/// - `options`, `options_len`: text, `name=value` separated by spaces or
///   commas, every one optional (the nginx directive's syntax):
///   `gravity=` center, north, south, east, west, northeast, northwest,
///   southeast or southwest (default southeast); `margin=` pixels kept
///   clear of the edges (default 0); `opacity=` 0..1 multiplying the
///   overlay's alpha (default 1); `scale=` overlay width as a fraction of
///   the thumbnail's width, 0 < scale <= 1 (default: the overlay's own size,
///   shrunk to fit); `apply=always` (every render it is passed to, the
///   default) or `apply=wm` (only specs with the `wm` option).
/// - `out`: required; receives the overlay on success, NULL on error.
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK; UNSUPPORTED, CORRUPT or TOO_LARGE for the image;
/// INVALID_SPEC for the options; INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: the caller owns `*out` and frees it with
/// thumbnail_overlay_free() once no render uses it.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_overlay_new(
    image: *const u8,
    image_len: usize,
    options: *const c_char,
    options_len: usize,
    out: *mut *mut thumbnail_overlay,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let image = unsafe { args::bytes(image, image_len, "image")? };
        let options = unsafe { args::bytes(options.cast(), options_len, "options")? };
        let options = std::str::from_utf8(options)
            .map_err(|_| Failure::new(thumbnail_status::InvalidSpec, "watermark options are not UTF-8"))?;
        let overlay = Overlay::new(image, options)?;
        let id = CString::new(overlay.id()).map_err(|_| Failure::new(thumbnail_status::Internal, "overlay id"))?;
        out.set(args::into_handle(thumbnail_overlay { overlay, id }));
        Ok(())
    })
}

/// Returns the overlay's identity: 16 hex digits (a SHA-256 prefix of the
/// image bytes and the options), NUL-terminated; NULL if `overlay` is NULL.
/// A cache of watermarked thumbnails must tell overlays apart: add it to
/// the key (e.g. `source "|" canonical_spec "|wm=" id`), so a new logo or
/// new options never serve thumbnails made with the old one.
///
/// Ownership: the string belongs to `overlay` and lives until
/// thumbnail_overlay_free(overlay).
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_overlay_id(overlay: *const thumbnail_overlay) -> *const c_char {
    // SAFETY: NULL or a live overlay, as documented.
    guard(ptr::null(), || unsafe { overlay.as_ref() }.map_or(ptr::null(), |o| o.id.as_ptr()))
}

/// Frees an overlay. NULL is allowed and does nothing.
///
/// Ownership: takes `overlay`, which must come from thumbnail_overlay_new()
/// and not have been freed before.
/// Thread safety: call once, when no render that was given `overlay` is in
/// progress.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_overlay_free(overlay: *mut thumbnail_overlay) {
    // SAFETY: the documented contract.
    guard((), || unsafe { args::free_handle(overlay) });
}

/// Per-call options of thumbnail_render_ex() and the cache's `_ex`
/// functions. Get one from thumbnail_render_options_default() and set the
/// fields you need: later versions append fields, and `size` tells the
/// library which ones the caller knows. A plain struct owned by the
/// caller; the library reads it during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct thumbnail_render_options {
    /// `sizeof(thumbnail_render_options)` as the caller was compiled with;
    /// thumbnail_render_options_default() sets it. Do not change it.
    pub size: usize,
    /// Resource limits; NULL for the defaults (thumbnail_limits_default()).
    pub limits: *const thumbnail_limits,
    /// A watermark (thumbnail_overlay_new()), or NULL for none. It must
    /// stay alive until the call returns.
    pub overlay: *const thumbnail_overlay,
}

/// Returns the default render options: `size` set, no limits (defaults),
/// no overlay.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_render_options_default() -> thumbnail_render_options {
    thumbnail_render_options { size: size_of::<thumbnail_render_options>(), limits: ptr::null(), overlay: ptr::null() }
}

/// The limits and overlay at `opts` (NULL: the defaults).
///
/// # Safety
/// `opts` NULL or valid for a read of `opts->size` bytes (at least the
/// first field); its pointers NULL or valid for the call.
unsafe fn options_from<'a>(opts: *const thumbnail_render_options) -> Result<(Limits, Option<&'a Overlay>), Failure> {
    if opts.is_null() {
        return Ok((Limits::default(), None));
    }
    // SAFETY: non-NULL; the caller's struct starts with `size`.
    let size = unsafe { opts.cast::<usize>().read() };
    if size < size_of::<thumbnail_render_options>() {
        return Err(Failure::invalid_argument(format!(
            "opts->size is {size}, expected at least {}: start from thumbnail_render_options_default()",
            size_of::<thumbnail_render_options>()
        )));
    }
    // SAFETY: the caller's struct holds at least the fields of this version.
    let o = unsafe { opts.read() };
    // SAFETY: NULL or valid, as documented on the fields.
    let limits = unsafe { limits_from(o.limits) };
    let overlay = unsafe { o.overlay.as_ref() }.map(|o| &o.overlay);
    Ok((limits, overlay))
}

/// thumbnail_render() with per-call options (thumbnail_render_options):
/// limits and a watermark overlay.
///
/// A spec with the `wm` option needs an overlay (INVALID_SPEC without one);
/// an overlay made with `apply=wm` is used only for such specs, one made
/// with `apply=always` for every spec.
///
/// - `opts`: NULL for the defaults; otherwise its `size` must be at least
///   this header's `sizeof(thumbnail_render_options)` (INVALID_ARGUMENT).
/// - every other argument as for thumbnail_render().
///
/// Returns what thumbnail_render() returns.
///
/// Ownership: as for thumbnail_render(); the overlay stays the caller's.
/// Thread safety: callable from any number of threads at once, with the
/// same overlay too.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_render_ex(
    src: *const u8,
    src_len: usize,
    spec: *const c_char,
    spec_len: usize,
    opts: *const thumbnail_render_options,
    out: *mut *mut thumbnail_image,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let spec = unsafe { args::spec(spec, spec_len)? };
        let (limits, overlay) = unsafe { options_from(opts)? };
        let thumb = crate::render_with(src, &spec, &limits, &RenderOptions::default().overlay(overlay))?;
        out.set(thumbnail_image::into_raw(thumb));
        Ok(())
    })
}

/// thumbnail_cache_get_or_render() with per-call options (see
/// thumbnail_render_ex()).
///
/// The key must identify the overlay too: the cache does not look at
/// `opts`, so renders with different overlays under one key would share
/// one entry. Append thumbnail_overlay_id() to keys of watermarked
/// renders.
///
/// Arguments, returns, ownership and thread safety as for
/// thumbnail_cache_get_or_render(), with `opts` as for thumbnail_render_ex().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_or_render_ex(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    src: *const u8,
    src_len: usize,
    spec: *const c_char,
    spec_len: usize,
    opts: *const thumbnail_render_options,
    out: *mut *mut thumbnail_image,
    source_out: *mut thumbnail_cache_source,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let source_out = unsafe { args::optional_out(source_out, thumbnail_cache_source::None) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let spec = unsafe { args::spec(spec, spec_len)? };
        let (limits, overlay) = unsafe { options_from(opts)? };
        let options = RenderOptions::default().overlay(overlay);
        get_or_render_into(cache, key, false, || crate::render_with(src, &spec, &limits, &options), out, source_out)
    })
}

/// thumbnail_cache_get_or_load() with per-call options (see
/// thumbnail_render_ex() and, for the key, thumbnail_cache_get_or_render_ex()).
///
/// Arguments, returns, ownership and thread safety as for
/// thumbnail_cache_get_or_load(), with `opts` as for thumbnail_render_ex().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_or_load_ex(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    load: thumbnail_load_fn,
    userdata: *mut c_void,
    spec: *const c_char,
    spec_len: usize,
    opts: *const thumbnail_render_options,
    out: *mut *mut thumbnail_image,
    source_out: *mut thumbnail_cache_source,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above and on
        // thumbnail_load_fn.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let source_out = unsafe { args::optional_out(source_out, thumbnail_cache_source::None) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let load = load.ok_or_else(|| Failure::invalid_argument("load is NULL"))?;
        let spec = unsafe { args::spec(spec, spec_len)? };
        let (limits, overlay) = unsafe { options_from(opts)? };
        let options = RenderOptions::default().overlay(overlay);
        // SAFETY: the contract of thumbnail_load_fn.
        let render = || crate::render_with(unsafe { load_source(load, userdata) }?, &spec, &limits, &options);
        get_or_render_into(cache, key, false, render, out, source_out)
    })
}

/// thumbnail_cache_get_or_render_ex() for a caller that has just looked
/// `key` up with thumbnail_cache_get(), got NOT_FOUND, and fetched the
/// source since (a loader of its own, e.g. one that yields, or a phase that
/// reads the source between the lookup and the render). That lookup
/// already counted the miss, so this call counts no second get or miss: a
/// miss through a loader is one `gets` and one `misses`, as with
/// thumbnail_cache_get_or_load(). Loads, renders and waits are counted as
/// usual, and single-flight works as in thumbnail_cache_get_or_render().
/// If another caller stored `key` meanwhile, that image is returned
/// (THUMBNAIL_CACHE_SOURCE_HIT) and src is not rendered; a remembered error
/// is returned without counting an `error_hits`.
///
/// Arguments, returns, ownership and thread safety: as for
/// thumbnail_cache_get_or_render_ex().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_or_render_after_miss(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    src: *const u8,
    src_len: usize,
    spec: *const c_char,
    spec_len: usize,
    opts: *const thumbnail_render_options,
    out: *mut *mut thumbnail_image,
    source_out: *mut thumbnail_cache_source,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract of
        // thumbnail_cache_get_or_render_ex().
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let source_out = unsafe { args::optional_out(source_out, thumbnail_cache_source::None) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let spec = unsafe { args::spec(spec, spec_len)? };
        let (limits, overlay) = unsafe { options_from(opts)? };
        let options = RenderOptions::default().overlay(overlay);
        get_or_render_into(cache, key, true, || crate::render_with(src, &spec, &limits, &options), out, source_out)
    })
}
