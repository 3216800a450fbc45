//! Checking and converting the raw arguments every entry point receives.

use std::ffi::c_char;
use std::{ptr, slice, str};

use super::status::{Failure, thumbnail_status};
use crate::spec::Spec;

/// `(ptr, len)` as bytes: NULL with length 0 is the empty buffer; NULL with
/// a nonzero length is an invalid argument named `what`.
///
/// # Safety
/// A non-NULL `ptr` must be valid for reads of `len` bytes for `'a`, and
/// the bytes must not change during `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::invalid_argument(format!("{what} is NULL but its length is {len}")))
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid_argument(format!("{what} length {len} is impossible")));
    }
    // SAFETY: non-NULL, length checked, validity promised by the caller.
    Ok(unsafe { slice::from_raw_parts(ptr, len) })
}

/// A spec given as `(const char *, size_t)`, parsed. Not UTF-8 is an invalid
/// spec, as is empty (including NULL with length 0).
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn spec(ptr: *const c_char, len: usize) -> Result<Spec, Failure> {
    // SAFETY: forwarded.
    let raw = unsafe { bytes(ptr.cast(), len, "spec")? };
    let text =
        str::from_utf8(raw).map_err(|_| Failure::new(thumbnail_status::InvalidSpec, "spec is not valid UTF-8"))?;
    Ok(Spec::parse(text)?)
}

/// A cache key given as `(const char *, size_t)`; must be UTF-8.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn key<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, Failure> {
    // SAFETY: forwarded.
    let raw = unsafe { bytes(ptr.cast(), len, "key")? };
    str::from_utf8(raw).map_err(|_| Failure::invalid_argument("key is not valid UTF-8"))
}

/// A required output location: checks it is not NULL and stores the
/// "nothing" value in it right away, so that every later failure (a panic
/// included) leaves it at that value.
///
/// # Safety
/// A non-NULL `out` must be valid for writes of a `T`.
pub(crate) unsafe fn out<T>(out: *mut T, empty: T, what: &str) -> Result<Out<T>, Failure> {
    if out.is_null() {
        return Err(Failure::invalid_argument(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, validity promised by the caller.
    unsafe { out.write(empty) };
    Ok(Out(out))
}

/// An optional output location: stores the "nothing" value if non-NULL.
///
/// # Safety
/// As for [`out`].
pub(crate) unsafe fn optional_out<T>(out: *mut T, empty: T) -> Option<Out<T>> {
    if out.is_null() {
        return None;
    }
    // SAFETY: non-NULL, validity promised by the caller.
    unsafe { out.write(empty) };
    Some(Out(out))
}

/// A checked, non-NULL output location (see [`out`]).
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    pub(crate) fn set(self, value: T) {
        // SAFETY: checked non-NULL and promised writable when created.
        unsafe { self.0.write(value) }
    }
}

/// A shared reference to a handle, or an invalid argument if NULL.
///
/// # Safety
/// A non-NULL `handle` must point to a live `T` for `'a`.
pub(crate) unsafe fn handle<'a, T>(handle: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: promised by the caller.
    unsafe { handle.as_ref() }.ok_or_else(|| Failure::invalid_argument(format!("{what} is NULL")))
}

/// Writes `text` as a NUL-terminated string into the caller's `(out,
/// out_len)`, reporting its length (without the NUL) through `written` if
/// that is not NULL, whether or not it fits. If it does not fit, stores an
/// empty string (when `out_len > 0`) and fails with BUFFER_TOO_SMALL;
/// `out` may be NULL with `out_len` 0 to ask for the length only.
///
/// # Safety
/// `out` must be NULL or valid for writes of `out_len` bytes; `written`
/// NULL or valid for a write.
pub(crate) unsafe fn write_text(
    text: &str,
    out: *mut c_char,
    out_len: usize,
    written: Option<Out<usize>>,
    what: &str,
) -> Result<(), Failure> {
    if out.is_null() && out_len != 0 {
        return Err(Failure::invalid_argument(format!("out is NULL but out_len is {out_len}")));
    }
    if let Some(written) = written {
        written.set(text.len());
    }
    if text.len() >= out_len {
        if out_len > 0 {
            // SAFETY: out_len > 0 bytes are writable.
            unsafe { out.write(0) };
        }
        return Err(Failure::new(
            thumbnail_status::BufferTooSmall,
            format!("{what} needs {} bytes with its NUL, the buffer has {out_len}", text.len() + 1),
        ));
    }
    // SAFETY: text.len() + 1 <= out_len bytes are writable.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
        out.add(text.len()).write(0);
    }
    Ok(())
}

/// Moves `value` to the heap as a handle for C; freed by [`free_handle`].
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is a no-op.
///
/// # Safety
/// `handle` must be NULL or come from `into_handle::<T>` and not have been
/// freed.
pub(crate) unsafe fn free_handle<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: promised by the caller.
        drop(unsafe { Box::from_raw(handle) });
    }
}
