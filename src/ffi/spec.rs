//! Spec validation and canonicalisation.

use std::ffi::c_char;

use super::args;
use super::panic::boundary;
use super::status::{Failure, thumbnail_status};

/// A buffer this size holds every canonical spec and its NUL: the longest
/// is `65535x65535,cover,auto=webp,q100,enlarge,bg=112233,progressive,noorient,focus=0.333,0.667,rotate=270,flip,flop,sharpen=5,wm,anim`
/// (128 bytes; `tests/spec.rs` builds it from every option's longest form;
/// the rest is room for options to come without another ABI change).
pub const THUMBNAIL_SPEC_CANONICAL_MAX: usize = 256;

/// Parses and validates a spec (e.g. `"200x200,cover"`) and writes its
/// canonical form (e.g. `"200x200,cover"`; `"x100,q80,inside"` becomes
/// `"x100"`) into `out` as a NUL-terminated string. Equal specs give equal
/// canonical strings, so the canonical string can be part of a cache key.
///
/// - `spec`, `spec_len`: the spec text, exactly `spec_len` bytes, not
///   NUL-terminated (NULL with length 0 is the empty spec, which is invalid).
/// - `out`, `out_len`: the caller's buffer. May be NULL with `out_len` 0 to
///   ask for the length only. The canonical string can be longer than the
///   input (`bg=fff` becomes `bg=ffffff`, `jpg` becomes `jpeg`), but never
///   longer than THUMBNAIL_SPEC_CANONICAL_MAX - 1 bytes, so a buffer of
///   THUMBNAIL_SPEC_CANONICAL_MAX bytes always suffices.
/// - `written`: may be NULL; receives the canonical string's length without
///   its NUL, whether or not it fit (0 on other errors).
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK; INVALID_SPEC (with the reason in `err`); BUFFER_TOO_SMALL if
/// `out_len` is not at least `*written + 1` (then `out` holds an empty
/// string if `out_len > 0`); INVALID_ARGUMENT if `spec` or `out` is NULL
/// with a nonzero length.
///
/// Ownership: all buffers belong to the caller.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_spec_canonical(
    spec: *const c_char,
    spec_len: usize,
    out: *mut c_char,
    out_len: usize,
    written: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let written = unsafe { args::optional_out(written, 0) };
        if out.is_null() && out_len != 0 {
            return Err(Failure::invalid_argument(format!("out is NULL but out_len is {out_len}")));
        }
        let spec = unsafe { args::spec(spec, spec_len)? };
        unsafe { args::write_text(&spec.canonical(), out, out_len, written, "canonical spec") }
    })
}
