//! The status enum, the mapping from [`ErrorKind`], and writing messages
//! into the caller's error buffer.

use std::ffi::{CStr, c_char};
use std::ptr;

use crate::error::{Error, ErrorKind};

/// The result of a call. `THUMBNAIL_STATUS_OK` (0) is success; every other
/// value is an error, and a call that takes an error buffer has written
/// `name: reason` into it (see thumbnail_status_name()).
///
/// The numbers are part of the ABI: once released, a number keeps its
/// meaning and is never reused. New statuses may be added with new numbers,
/// so treat any unknown nonzero value as an error.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum thumbnail_status {
    /// Success.
    Ok = 0,
    /// The spec string is malformed or out of range (HTTP 400); the message
    /// says which part.
    InvalidSpec = 1,
    /// The bytes are not an image format this library decodes (JPEG, PNG,
    /// GIF, WebP), or are empty, or the output format is not built in
    /// (AVIF without the `avif` feature) (HTTP 415).
    Unsupported = 2,
    /// The image claims a supported format but its data is broken (HTTP 415).
    Corrupt = 3,
    /// The source or the requested output exceeds a limit (see
    /// thumbnail_limits), or a value does not fit in a cache (HTTP 413).
    TooLarge = 4,
    /// The caller broke the calling contract: a NULL pointer where one is
    /// not allowed, a NULL buffer with a nonzero length, a cache key that is
    /// not UTF-8. Not caused by image data.
    InvalidArgument = 5,
    /// A bug or resource failure inside the library, including a caught
    /// panic (HTTP 500). The library stays usable.
    Internal = 6,
    /// The cache holds no fresh value for the key (thumbnail_cache_get(),
    /// thumbnail_cache_remove()). Not a failure of the cache.
    NotFound = 7,
    /// The caller's output buffer is too small; the call reported the size
    /// it needs. Nothing else happened: retry with a larger buffer.
    BufferTooSmall = 8,
    /// The caller's source loader (thumbnail_load_fn) returned nonzero, or
    /// returned NULL with a nonzero length (HTTP 502). Every caller waiting
    /// for the same key gets this status too.
    LoadFailed = 9,
}

impl thumbnail_status {
    /// The stable lowercase name; matches `ErrorKind::as_str` for the
    /// statuses that come from the library.
    pub const fn name(self) -> &'static CStr {
        match self {
            thumbnail_status::Ok => c"ok",
            thumbnail_status::InvalidSpec => c"invalid-spec",
            thumbnail_status::Unsupported => c"unsupported",
            thumbnail_status::Corrupt => c"corrupt",
            thumbnail_status::TooLarge => c"too-large",
            thumbnail_status::InvalidArgument => c"invalid-argument",
            thumbnail_status::Internal => c"internal",
            thumbnail_status::NotFound => c"not-found",
            thumbnail_status::BufferTooSmall => c"buffer-too-small",
            thumbnail_status::LoadFailed => c"load-failed",
        }
    }

    /// The status for a number, if it is one.
    pub const fn from_i32(n: i32) -> Option<thumbnail_status> {
        Some(match n {
            0 => thumbnail_status::Ok,
            1 => thumbnail_status::InvalidSpec,
            2 => thumbnail_status::Unsupported,
            3 => thumbnail_status::Corrupt,
            4 => thumbnail_status::TooLarge,
            5 => thumbnail_status::InvalidArgument,
            6 => thumbnail_status::Internal,
            7 => thumbnail_status::NotFound,
            8 => thumbnail_status::BufferTooSmall,
            9 => thumbnail_status::LoadFailed,
            _ => return None,
        })
    }
}

/// The one mapping from the library's error kinds to statuses.
pub(crate) const fn status_of(kind: ErrorKind) -> thumbnail_status {
    match kind {
        ErrorKind::InvalidSpec => thumbnail_status::InvalidSpec,
        ErrorKind::Unsupported => thumbnail_status::Unsupported,
        ErrorKind::Corrupt => thumbnail_status::Corrupt,
        ErrorKind::TooLarge => thumbnail_status::TooLarge,
        ErrorKind::Internal => thumbnail_status::Internal,
        ErrorKind::LoadFailed => thumbnail_status::LoadFailed,
    }
}

/// The HTTP status for a status: the error kinds' own mapping
/// ([`ErrorKind::http_status`]); the statuses that no image causes are
/// 500 (a caller's bug) or 404 (`NotFound`).
pub(crate) const fn http_status_of(status: thumbnail_status) -> u16 {
    match status {
        thumbnail_status::Ok => 200,
        thumbnail_status::InvalidSpec => ErrorKind::InvalidSpec.http_status(),
        thumbnail_status::Unsupported => ErrorKind::Unsupported.http_status(),
        thumbnail_status::Corrupt => ErrorKind::Corrupt.http_status(),
        thumbnail_status::TooLarge => ErrorKind::TooLarge.http_status(),
        thumbnail_status::Internal => ErrorKind::Internal.http_status(),
        thumbnail_status::LoadFailed => ErrorKind::LoadFailed.http_status(),
        thumbnail_status::NotFound => 404,
        thumbnail_status::InvalidArgument | thumbnail_status::BufferTooSmall => 500,
    }
}

/// Why a call failed: a status and a reason (without the `name: ` prefix).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: thumbnail_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: thumbnail_status, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure::new(thumbnail_status::InvalidArgument, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::new(status_of(e.kind()), e.message())
    }
}

/// Writes `name: message` into `(err, err_len)` as a NUL-terminated string,
/// truncated at a UTF-8 character boundary to fit; NUL bytes inside the
/// message become `?`. Writes nothing if `err` is NULL or `err_len` is 0.
///
/// # Safety
/// `err` must be NULL or valid for writes of `err_len` bytes.
pub(crate) unsafe fn write_message(err: *mut c_char, err_len: usize, status: thumbnail_status, message: &str) {
    if err.is_null() || err_len == 0 {
        return;
    }
    let mut text = String::with_capacity(24 + message.len());
    text.push_str(status.name().to_str().unwrap_or("error"));
    text.push_str(": ");
    text.push_str(message);
    let text = if text.contains('\0') { text.replace('\0', "?") } else { text };
    let mut n = text.len().min(err_len - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: n < err_len, and the caller promised err_len writable bytes.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr(), err.cast::<u8>(), n);
        err.add(n).write(0);
    }
}

/// Returns a static, NUL-terminated, lowercase name for a status number:
/// `"ok"`, `"invalid-spec"`, `"unsupported"`, `"corrupt"`, `"too-large"`,
/// `"invalid-argument"`, `"internal"`, `"not-found"`, `"buffer-too-small"`,
/// `"load-failed"`, or `"unknown"` for a number that is no status (the
/// argument is a plain integer so that any value is safe to pass).
///
/// Ownership: the string is static; never free it.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_status_name(status: i32) -> *const c_char {
    match thumbnail_status::from_i32(status) {
        Some(s) => s.name().as_ptr(),
        None => c"unknown".as_ptr(),
    }
}

/// Returns the HTTP status a server answers with for a status number: 200
/// for OK, 400 invalid-spec, 413 too-large, 415 unsupported and corrupt,
/// 502 load-failed, 404 not-found, 500 for internal and for every status
/// that is a caller's bug (invalid-argument, buffer-too-small) or unknown.
/// nginx, Lua and Go use this one mapping.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_status_http(status: i32) -> u16 {
    thumbnail_status::from_i32(status).map_or(500, http_status_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(err_len: usize, message: &str) -> Vec<u8> {
        let mut buf = vec![0xAAu8; err_len + 1];
        unsafe { write_message(buf.as_mut_ptr().cast(), err_len, thumbnail_status::Corrupt, message) };
        assert_eq!(buf[err_len], 0xAA, "wrote past err_len");
        let end = buf.iter().position(|&b| b == 0).expect("NUL-terminated");
        assert!(end < err_len.max(1));
        buf.truncate(end);
        buf
    }

    #[test]
    fn message_is_prefixed_and_truncated_at_char_boundaries() {
        assert_eq!(written(64, "bad"), b"corrupt: bad");
        assert_eq!(written(1, "bad"), b"");
        assert_eq!(written(4, "bad"), b"cor");
        // "é" is two bytes: never cut in half.
        assert_eq!(written(11, "é"), b"corrupt: ");
        assert_eq!(written(12, "é"), "corrupt: é".as_bytes());
        assert_eq!(written(32, "a\0b"), b"corrupt: a?b");
        unsafe { write_message(ptr::null_mut(), 10, thumbnail_status::Corrupt, "x") };
    }

    #[test]
    fn kinds_map_to_their_statuses_and_names_agree() {
        for kind in ErrorKind::ALL {
            assert_eq!(status_of(kind).name().to_str().unwrap(), kind.as_str());
            assert_eq!(thumbnail_status_http(status_of(kind) as i32), kind.http_status());
        }
        assert_eq!(thumbnail_status_http(0), 200);
        assert_eq!(thumbnail_status_http(7), 404);
        assert_eq!(thumbnail_status_http(99), 500);
        for n in 0..10 {
            assert_eq!(thumbnail_status::from_i32(n).unwrap() as i32, n);
        }
        assert!(thumbnail_status::from_i32(10).is_none());
        assert!(thumbnail_status::from_i32(-1).is_none());
    }

    #[test]
    fn load_failures_keep_their_kind() {
        let f = Failure::from(Error::load_failed("loader returned 3"));
        assert_eq!((f.status, f.message.as_str()), (thumbnail_status::LoadFailed, "loader returned 3"));
        let f = Failure::from(Error::new(ErrorKind::Internal, "render panicked"));
        assert_eq!(f.status, thumbnail_status::Internal);
    }
}
