//! Library and ABI versions.

use std::ffi::{CStr, c_char};

/// The ABI version: bumped only by a change that breaks binary compatibility
/// (a removed or changed function, struct or status meaning). Written once,
/// in Cargo.toml (`[package.metadata.capi] abi-version`); build.rs passes it
/// here and makes it the SONAME suffix (`libthumbnail.so.N`).
pub const THUMBNAIL_ABI_VERSION: u32 = parse_u32(env!("THUMBNAIL_ABI_VERSION"));

const fn parse_u32(text: &str) -> u32 {
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty(), "THUMBNAIL_ABI_VERSION is empty");
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "THUMBNAIL_ABI_VERSION is not a number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// `CARGO_PKG_VERSION`, NUL-terminated.
const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("the package version contains a NUL"),
};

/// Returns the library version, e.g. `"0.1.0"`: a static NUL-terminated
/// string equal to the header's `THUMBNAIL_VERSION` when header and library
/// match.
///
/// Ownership: static; never free it.
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Returns the ABI version of the library, equal to the header's
/// `THUMBNAIL_ABI_VERSION` when header and library match. A program can
/// compare the two at startup to detect a mismatched library.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_abi_version() -> u32 {
    THUMBNAIL_ABI_VERSION
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_package_version() {
        let v = unsafe { std::ffi::CStr::from_ptr(super::thumbnail_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
