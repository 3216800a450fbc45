//! The rendered-image handle and its accessors.

use std::ffi::{CStr, c_char};
use std::ptr;

use super::args;
use super::panic::guard;
use crate::image::{Format, Thumbnail};

/// An image format.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum thumbnail_format {
    /// No format: returned for a NULL image and stored in a zeroed
    /// thumbnail_info on error. Never the format of a real image.
    Unknown = 0,
    /// JPEG (`image/jpeg`).
    Jpeg = 1,
    /// PNG (`image/png`).
    Png = 2,
    /// WebP (`image/webp`), read and written.
    Webp = 3,
    /// GIF (`image/gif`), read only.
    Gif = 4,
    /// AVIF (`image/avif`), written only (the `avif` build feature).
    Avif = 5,
}

impl From<Format> for thumbnail_format {
    fn from(format: Format) -> thumbnail_format {
        match format {
            Format::Jpeg => thumbnail_format::Jpeg,
            Format::Png => thumbnail_format::Png,
            Format::Webp => thumbnail_format::Webp,
            Format::Gif => thumbnail_format::Gif,
            Format::Avif => thumbnail_format::Avif,
        }
    }
}

/// The static media type of a format.
pub(crate) fn media_type(format: Format) -> &'static CStr {
    match format {
        Format::Jpeg => c"image/jpeg",
        Format::Png => c"image/png",
        Format::Webp => c"image/webp",
        Format::Gif => c"image/gif",
        Format::Avif => c"image/avif",
    }
}

/// A rendered thumbnail: encoded bytes, format and size. Opaque.
///
/// Made by thumbnail_render() and the thumbnail_cache_* functions; freed
/// with thumbnail_image_free(). Immutable: once made it may be read from
/// any number of threads at once. Its bytes may be shared with a cache and
/// with other handles (no copy is made), and stay valid until this handle
/// is freed, even if the cache evicts them or is itself freed.
pub struct thumbnail_image {
    pub(crate) thumb: Thumbnail,
}

impl thumbnail_image {
    /// A new handle for C; the caller frees it with thumbnail_image_free().
    pub(crate) fn into_raw(thumb: Thumbnail) -> *mut thumbnail_image {
        args::into_handle(thumbnail_image { thumb })
    }
}

/// Returns a pointer to the image's encoded bytes (a complete JPEG, PNG,
/// WebP or AVIF file), `thumbnail_image_len(img)` bytes long; NULL if `img` is NULL.
///
/// Ownership: the bytes belong to `img`; they stay valid and unchanged until
/// thumbnail_image_free(img). Do not free or modify them.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_data(img: *const thumbnail_image) -> *const u8 {
    guard(ptr::null(), || match unsafe { img.as_ref() } {
        Some(img) => img.thumb.data().as_ptr(),
        None => ptr::null(),
    })
}

/// Returns the length in bytes of the image's encoded data; 0 if `img` is
/// NULL.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_len(img: *const thumbnail_image) -> usize {
    guard(0, || unsafe { img.as_ref() }.map_or(0, |img| img.thumb.data().len()))
}

/// Returns the image's width in pixels; 0 if `img` is NULL.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_width(img: *const thumbnail_image) -> u32 {
    guard(0, || unsafe { img.as_ref() }.map_or(0, |img| img.thumb.width()))
}

/// Returns the image's height in pixels; 0 if `img` is NULL.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_height(img: *const thumbnail_image) -> u32 {
    guard(0, || unsafe { img.as_ref() }.map_or(0, |img| img.thumb.height()))
}

/// Returns the image's format; THUMBNAIL_FORMAT_UNKNOWN if `img` is NULL.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_format(img: *const thumbnail_image) -> thumbnail_format {
    guard(thumbnail_format::Unknown, || {
        unsafe { img.as_ref() }.map_or(thumbnail_format::Unknown, |img| img.thumb.format().into())
    })
}

/// Returns the image's media type for `Content-Type`: `"image/jpeg"`,
/// `"image/png"`, `"image/webp"` or `"image/avif"`; NULL if `img` is NULL.
///
/// Ownership: the string is static (it outlives `img`); never free it.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_media_type(img: *const thumbnail_image) -> *const c_char {
    guard(ptr::null(), || unsafe { img.as_ref() }.map_or(ptr::null(), |img| media_type(img.thumb.format()).as_ptr()))
}

/// Frees an image handle. NULL is allowed and does nothing. Afterwards
/// `img` and any pointer from thumbnail_image_data(img) are invalid; other
/// handles sharing the same bytes (e.g. from a cache) are unaffected.
///
/// Ownership: takes `img`, which must come from this library and not have
/// been freed before.
/// Thread safety: call once, when no other thread is using `img`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_image_free(img: *mut thumbnail_image) {
    // SAFETY: the documented contract.
    guard((), || unsafe { args::free_handle(img) });
}
