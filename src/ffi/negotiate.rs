//! Accept negotiation for the spec's `auto` format.

use std::ffi::c_char;

use super::args;
use super::image::thumbnail_format;
use super::panic::{boundary, guard};
use super::status::{Failure, thumbnail_status};
use crate::negotiate::{self, Bucket};

/// Reduces a client's `Accept` header to the format `auto` writes for it:
/// THUMBNAIL_FORMAT_AVIF (only if `avif` is true and the library was built
/// with the `avif` feature), THUMBNAIL_FORMAT_WEBP, or `source` (the client
/// takes neither; the render then writes the source's format, or JPEG/PNG
/// for a WebP or GIF source). q-values count (`image/webp;q=0` is a no);
/// the wildcard ranges (any type, any image type) imply neither WebP nor AVIF.
///
/// Use the result, never the raw header, in a cache key; or let
/// thumbnail_spec_negotiate() put it into the spec.
///
/// - `accept`, `accept_len`: the header value, not NUL-terminated; NULL
///   with length 0 (no header) is allowed; NULL with a nonzero length
///   counts as no header. Bytes that are not UTF-8 never match.
/// - `source`: returned for the fallback (THUMBNAIL_FORMAT_UNKNOWN if the
///   caller does not know the source yet).
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_negotiate(
    accept: *const c_char,
    accept_len: usize,
    source: thumbnail_format,
    avif: bool,
) -> thumbnail_format {
    guard(source, || {
        // SAFETY: the pointer contract documented above.
        let accept = unsafe { args::bytes(accept.cast(), accept_len, "accept") }.unwrap_or(&[]);
        match negotiate::negotiate(&String::from_utf8_lossy(accept), avif) {
            Bucket::Avif => thumbnail_format::Avif,
            Bucket::Webp => thumbnail_format::Webp,
            Bucket::Source => source,
        }
    })
}

/// Resolves a spec's `auto` format for a client: writes the spec's
/// canonical form with `auto` replaced by the bucket (`auto=avif`,
/// `auto=webp`, or `auto` when the client takes neither), e.g.
/// `"200x200,auto"` with `Accept: image/webp` gives `"200x200,auto=webp"`.
/// A spec without `auto` is only canonicalised. The result is both the spec
/// to render and the spec part of a cache key: it names the bucket, never
/// the header.
///
/// - `spec`, `spec_len`, `out`, `out_len`, `written`, `err`, `err_len`: as
///   for thumbnail_spec_canonical() (a THUMBNAIL_SPEC_CANONICAL_MAX buffer
///   always suffices).
/// - `accept`, `accept_len`, `avif`: as for thumbnail_negotiate().
/// - `varies`: may be NULL; set to true when the spec says `auto`, i.e. the
///   response depends on `Accept` and needs `Vary: Accept`.
///
/// Returns OK, INVALID_SPEC, BUFFER_TOO_SMALL or INVALID_ARGUMENT.
///
/// Ownership: all buffers belong to the caller.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_spec_negotiate(
    spec: *const c_char,
    spec_len: usize,
    accept: *const c_char,
    accept_len: usize,
    avif: bool,
    out: *mut c_char,
    out_len: usize,
    written: *mut usize,
    varies: *mut bool,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let written = unsafe { args::optional_out(written, 0) };
        let varies = unsafe { args::optional_out(varies, false) };
        if out.is_null() && out_len != 0 {
            return Err(Failure::invalid_argument(format!("out is NULL but out_len is {out_len}")));
        }
        let spec = unsafe { args::spec(spec, spec_len)? };
        let accept = unsafe { args::bytes(accept.cast(), accept_len, "accept")? };
        let negotiated = spec.negotiate(&String::from_utf8_lossy(accept), avif);
        if let Some(varies) = varies {
            varies.set(negotiated.varies_on_accept());
        }
        unsafe { args::write_text(&negotiated.canonical(), out, out_len, written, "negotiated spec") }
    })
}

/// Whether this library was built with AVIF output (the `avif` cargo
/// feature). Without it a spec naming `avif` fails as UNSUPPORTED and
/// negotiation never picks AVIF.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_avif_available() -> bool {
    cfg!(feature = "avif")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_returns_the_bucket_or_the_source() {
        let a = "image/webp,*/*";
        let f = unsafe { thumbnail_negotiate(a.as_ptr().cast(), a.len(), thumbnail_format::Jpeg, false) };
        assert_eq!(f, thumbnail_format::Webp);
        let f = unsafe { thumbnail_negotiate(std::ptr::null(), 0, thumbnail_format::Png, true) };
        assert_eq!(f, thumbnail_format::Png);
        let f = unsafe { thumbnail_negotiate(std::ptr::null(), 5, thumbnail_format::Unknown, true) };
        assert_eq!(f, thumbnail_format::Unknown);
    }

    #[test]
    fn spec_negotiate_rewrites_auto_only() {
        let run = |spec: &str, accept: &str| {
            let mut out = [0 as c_char; 128];
            let mut varies = false;
            let status = unsafe {
                thumbnail_spec_negotiate(
                    spec.as_ptr().cast(),
                    spec.len(),
                    accept.as_ptr().cast(),
                    accept.len(),
                    false,
                    out.as_mut_ptr(),
                    out.len(),
                    std::ptr::null_mut(),
                    &mut varies,
                    std::ptr::null_mut(),
                    0,
                )
            };
            assert_eq!(status, thumbnail_status::Ok);
            let text = unsafe { std::ffi::CStr::from_ptr(out.as_ptr()) }.to_str().unwrap().to_owned();
            (text, varies)
        };
        assert_eq!(run("200x200,q80,auto", "image/webp"), ("200x200,auto=webp".into(), true));
        assert_eq!(run("200x200,auto=webp", "*/*"), ("200x200,auto".into(), true));
        assert_eq!(run("200x200,webp", "*/*"), ("200x200,webp".into(), false));
        assert_eq!(run("200x", ""), ("200x".into(), false));
    }
}
