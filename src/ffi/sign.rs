//! Signed URLs (imgproxy's scheme): thumbnail_signer_*.

use std::ffi::c_char;
use std::ptr;

use super::args;
use super::panic::{boundary, guard};
use super::status::{Failure, thumbnail_status};
use crate::sign::Signer;

/// A buffer this size holds every signature and its NUL: 32 bytes are 43
/// characters of unpadded base64url.
pub const THUMBNAIL_SIGNATURE_MAX: usize = 44;

/// One key/salt pair, both as hex text (either case), exactly `*_len`
/// bytes each, not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct thumbnail_sign_key {
    pub key_hex: *const c_char,
    pub key_hex_len: usize,
    pub salt_hex: *const c_char,
    pub salt_hex_len: usize,
}

/// Key/salt pairs and a signature size for signed URLs. Opaque.
///
/// The signature of a path is the unpadded base64url of HMAC-SHA256(key,
/// salt ‖ path), truncated to `size` bytes: imgproxy's scheme, so its URL
/// builders work. Made by thumbnail_signer_new(), freed by
/// thumbnail_signer_free(); immutable, so any number of threads may use it
/// at once.
pub struct thumbnail_signer {
    signer: Signer,
}

/// Makes a signer from `n_keys` key/salt pairs.
///
/// - `keys`, `n_keys`: at least one pair. A signature made with any pair
///   verifies (key rotation: put the new pair first, keep the old ones
///   until their URLs are gone); thumbnail_signer_sign() uses the first.
///   Read during the call only.
/// - `size`: signature length in bytes before base64url, 1..=32 (imgproxy's
///   IMGPROXY_SIGNATURE_SIZE); 0 means 32.
/// - `out`: required; receives the signer, NULL on error.
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK; INVALID_ARGUMENT (no pair, an empty key, a key or salt that
/// is not hex, size over 32, NULL pointers) or INTERNAL.
///
/// Ownership: the caller owns `*out` and frees it with
/// thumbnail_signer_free(). The library keeps its own copy of the keys.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_signer_new(
    keys: *const thumbnail_sign_key,
    n_keys: usize,
    size: u32,
    out: *mut *mut thumbnail_signer,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        if keys.is_null() && n_keys != 0 {
            return Err(Failure::invalid_argument(format!("keys is NULL but n_keys is {n_keys}")));
        }
        let pairs = if n_keys == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(keys, n_keys) } };
        let mut text = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let key = unsafe { args::bytes(pair.key_hex.cast(), pair.key_hex_len, "key_hex")? };
            let salt = unsafe { args::bytes(pair.salt_hex.cast(), pair.salt_hex_len, "salt_hex")? };
            let utf8 = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            text.push((utf8(key), utf8(salt)));
        }
        let signer = Signer::new(&text, size as usize).map_err(|e| Failure::invalid_argument(e.message()))?;
        out.set(args::into_handle(thumbnail_signer { signer }));
        Ok(())
    })
}

/// Frees a signer (and wipes nothing: keys are not treated as secrets in
/// memory). NULL is allowed and does nothing.
///
/// Ownership: takes `signer`, which must come from thumbnail_signer_new()
/// and not have been freed before.
/// Thread safety: call once, when no other thread is using `signer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_signer_free(signer: *mut thumbnail_signer) {
    // SAFETY: the documented contract.
    guard((), || unsafe { args::free_handle(signer) });
}

/// Writes the signature of `path` (with the first pair) into `out` as a
/// NUL-terminated string.
///
/// - `path`, `path_len`: what is signed: everything after the signature in
///   the URL, as imgproxy signs it (e.g. `/200x200,cover/photos/cat.jpg`);
///   an `exp=UNIX` token in it makes the signature expire.
/// - `out`, `out_len`: the caller's buffer; THUMBNAIL_SIGNATURE_MAX bytes
///   always suffice. May be NULL with `out_len` 0 to ask for the length.
/// - `written`: may be NULL; receives the signature's length without its
///   NUL, whether or not it fit.
///
/// Returns OK, BUFFER_TOO_SMALL, INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: all buffers belong to the caller.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_signer_sign(
    signer: *const thumbnail_signer,
    path: *const c_char,
    path_len: usize,
    out: *mut c_char,
    out_len: usize,
    written: *mut usize,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let written = unsafe { args::optional_out(written, 0) };
        let signer = unsafe { args::handle(signer, "signer")? };
        let path = unsafe { args::bytes(path.cast(), path_len, "path")? };
        unsafe { args::write_text(&signer.signer.sign(path), out, out_len, written, "signature") }
    })
}

/// Whether `sig` is a valid signature of `path` under any of the signer's
/// pairs, and the path's `exp=UNIX` (if any) is not past (by the system
/// clock). Compares in constant time. false for NULL arguments, a
/// malformed or repeated `exp=`, and on any internal error.
///
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_signer_verify(
    signer: *const thumbnail_signer,
    path: *const c_char,
    path_len: usize,
    sig: *const c_char,
    sig_len: usize,
) -> bool {
    guard(false, || {
        // SAFETY: the pointer contract of the header's preamble.
        let checked = unsafe { checked(signer, path, path_len, sig, sig_len) };
        checked.is_some_and(|(s, p, g)| s.signer.verify(p, g))
    })
}

/// thumbnail_signer_verify() at the UNIX time `now` (seconds) instead of
/// the system clock (a server's cached time, or a test's).
///
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_signer_verify_at(
    signer: *const thumbnail_signer,
    path: *const c_char,
    path_len: usize,
    sig: *const c_char,
    sig_len: usize,
    now: u64,
) -> bool {
    guard(false, || {
        // SAFETY: the pointer contract of the header's preamble.
        let checked = unsafe { checked(signer, path, path_len, sig, sig_len) };
        checked.is_some_and(|(s, p, g)| s.signer.verify_at(p, g, now))
    })
}

/// The arguments of a verify call, or None if one is invalid.
///
/// # Safety
/// As for [`args::handle`] and [`args::bytes`].
unsafe fn checked<'a>(
    signer: *const thumbnail_signer,
    path: *const c_char,
    path_len: usize,
    sig: *const c_char,
    sig_len: usize,
) -> Option<(&'a thumbnail_signer, &'a [u8], &'a [u8])> {
    // SAFETY: forwarded.
    unsafe {
        let signer = args::handle(signer, "signer").ok()?;
        let path = args::bytes(path.cast(), path_len, "path").ok()?;
        let sig = args::bytes(sig.cast(), sig_len, "sig").ok()?;
        Some((signer, path, sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_through_the_c_abi() {
        let (key, salt) = ("736563726574", "68656C6C6F");
        let pair = thumbnail_sign_key {
            key_hex: key.as_ptr().cast(),
            key_hex_len: key.len(),
            salt_hex: salt.as_ptr().cast(),
            salt_hex_len: salt.len(),
        };
        let mut signer = ptr::null_mut();
        let st = unsafe { thumbnail_signer_new(&pair, 1, 0, &mut signer, ptr::null_mut(), 0) };
        assert_eq!(st, thumbnail_status::Ok);
        let path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
        let mut buf = [0 as c_char; THUMBNAIL_SIGNATURE_MAX];
        let mut written = 0;
        let st = unsafe {
            thumbnail_signer_sign(
                signer,
                path.as_ptr().cast(),
                path.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut written,
                ptr::null_mut(),
                0,
            )
        };
        assert_eq!((st, written), (thumbnail_status::Ok, 43));
        let sig = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(sig, "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8");
        assert!(unsafe { thumbnail_signer_verify(signer, path.as_ptr().cast(), path.len(), buf.as_ptr(), 43) });
        assert!(!unsafe { thumbnail_signer_verify(signer, path.as_ptr().cast(), path.len() - 1, buf.as_ptr(), 43) });
        assert!(!unsafe { thumbnail_signer_verify(ptr::null(), path.as_ptr().cast(), path.len(), buf.as_ptr(), 43) });
        unsafe { thumbnail_signer_free(signer) };
        // No pair, a bad key: INVALID_ARGUMENT and a NULL handle.
        let mut signer = ptr::dangling_mut::<thumbnail_signer>();
        let st = unsafe { thumbnail_signer_new(ptr::null(), 0, 0, &mut signer, ptr::null_mut(), 0) };
        assert_eq!((st, signer), (thumbnail_status::InvalidArgument, ptr::null_mut()));
    }
}
