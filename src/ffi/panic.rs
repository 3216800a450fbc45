//! The panic boundary: every entry point runs its body through one of these
//! helpers, so a panic (a bug) becomes `THUMBNAIL_STATUS_INTERNAL` instead of
//! unwinding into C, which would abort the host process.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::status::{Failure, thumbnail_status, write_message};

/// Runs `body`, catching panics; on failure writes `name: reason` into the
/// caller's error buffer `(err, err_len)` and returns the failure's status.
///
/// `err` must be NULL or valid for writes of `err_len` bytes (each entry
/// point passes its caller's buffer through).
pub(crate) fn boundary<F>(err: *mut c_char, err_len: usize, body: F) -> thumbnail_status
where
    F: FnOnce() -> Result<(), Failure>,
{
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return thumbnail_status::Ok,
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(thumbnail_status::Internal, panic_reason(payload)),
    };
    let status = failure.status;
    // Formatting cannot panic, but nothing may unwind from here either way.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the entry point's contract on (err, err_len), see above.
        unsafe { write_message(err, err_len, status, &failure.message) }
    }));
    status
}

/// Runs `body` for an entry point that returns a plain value (an accessor,
/// a free function); returns `fallback` if it panics.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// `panic: <message>` for the usual payloads; drops the payload without
/// letting a panicking destructor escape.
fn panic_reason(payload: Box<dyn Any + Send>) -> String {
    let reason = if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_owned()
    };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_with_a_message() {
        let mut buf = [0x55u8; 64];
        let status = boundary(buf.as_mut_ptr().cast(), buf.len(), || panic!("boom"));
        assert_eq!(status, thumbnail_status::Internal);
        let end = buf.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&buf[..end], b"internal: panic: boom");
        assert_eq!(guard(7, || panic!("x")), 7);
        assert_eq!(boundary(std::ptr::null_mut(), 0, || Ok(())), thumbnail_status::Ok);
    }
}
