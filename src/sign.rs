//! Signed URLs, compatible with imgproxy's scheme, so existing URL
//! builders work: the signature of a path is the unpadded base64url of
//! HMAC-SHA256(key, salt ‖ path), optionally truncated to its first N
//! bytes (1..=32, imgproxy's `IMGPROXY_SIGNATURE_SIZE`). Keys and salts are
//! given in hex; several pairs may be configured, and a signature made with
//! any of them verifies (key rotation); new signatures use the first.
//!
//! Expiry: a path that contains a token `exp=UNIX` (delimited by `/`, `,`,
//! `?`, `&` or `;`, e.g. the spec option `200x200,exp=1767225600`) is valid
//! up to and including that second. The token is inside the signed part, so
//! it cannot be changed; a path with a malformed or repeated `exp=` never
//! verifies.
//!
//! ```
//! let signer = thumbnail::sign::Signer::new(&[("736563726574", "68656C6C6F")], 32).unwrap();
//! let path = "/fill/300/400/sm/0/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
//! assert_eq!(signer.sign(path), "AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM");
//! assert!(signer.verify(path, "AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM"));
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Full signature size in bytes (SHA-256), and the default.
pub const MAX_SIZE: usize = 32;
/// Longest signature text: 32 bytes in unpadded base64url.
pub const MAX_SIGNATURE_LEN: usize = 43;

/// A set of key/salt pairs and a signature size. Immutable; share it.
#[derive(Clone)]
pub struct Signer {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    size: usize,
}

impl std::fmt::Debug for Signer {
    // Never prints the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("pairs", &self.pairs.len()).field("size", &self.size).finish()
    }
}

impl Signer {
    /// `pairs` of (key, salt) in hex (either case); `size` is the
    /// signature's length in bytes before base64url, 1..=32 (0 means 32).
    /// Errors (`invalid-spec`): no pair, an empty key, odd or non-hex
    /// digits, a size over 32.
    pub fn new<K: AsRef<str>, S: AsRef<str>>(pairs: &[(K, S)], size: usize) -> Result<Signer> {
        let mut decoded = Vec::with_capacity(pairs.len());
        for (i, (key, salt)) in pairs.iter().enumerate() {
            let key =
                hex(key.as_ref()).ok_or_else(|| Error::invalid_spec(format!("signing key {} is not hex", i + 1)))?;
            let salt =
                hex(salt.as_ref()).ok_or_else(|| Error::invalid_spec(format!("signing salt {} is not hex", i + 1)))?;
            decoded.push((key, salt));
        }
        Signer::from_bytes(decoded, size)
    }

    /// As [`Signer::new`] with raw key and salt bytes.
    pub fn from_bytes(pairs: Vec<(Vec<u8>, Vec<u8>)>, size: usize) -> Result<Signer> {
        if pairs.is_empty() {
            return Err(Error::invalid_spec("signing needs at least one key/salt pair"));
        }
        if let Some(i) = pairs.iter().position(|(key, _)| key.is_empty()) {
            return Err(Error::invalid_spec(format!("signing key {} is empty", i + 1)));
        }
        let size = if size == 0 { MAX_SIZE } else { size };
        if size > MAX_SIZE {
            return Err(Error::invalid_spec(format!("signature size {size} out of range 1..={MAX_SIZE}")));
        }
        Ok(Signer { pairs, size })
    }

    /// The signature size in bytes (before base64url).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The signature of `path` (everything after the signature in the URL,
    /// leading `/` included, as imgproxy signs it) with the first pair.
    pub fn sign(&self, path: impl AsRef<[u8]>) -> String {
        let (key, salt) = &self.pairs[0];
        base64url(&mac(key, salt, path.as_ref())[..self.size])
    }

    /// Whether `signature` is the signature of `path` under any pair and
    /// the path's `exp=` (if any) has not passed. Compares in constant
    /// time, and tries every pair whatever the result.
    pub fn verify(&self, path: impl AsRef<[u8]>, signature: impl AsRef<[u8]>) -> bool {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.verify_at(path, signature, now)
    }

    /// [`Signer::verify`] at the UNIX time `now` (seconds).
    pub fn verify_at(&self, path: impl AsRef<[u8]>, signature: impl AsRef<[u8]>, now: u64) -> bool {
        let (path, signature) = (path.as_ref(), signature.as_ref());
        let mut ok = subtle::Choice::from(0);
        for (key, salt) in &self.pairs {
            let expected = base64url(&mac(key, salt, path)[..self.size]);
            ok |= expected.as_bytes().ct_eq(signature);
        }
        let fresh = match expiry(path) {
            Ok(None) => true,
            Ok(Some(expires)) => now <= expires,
            Err(MalformedExpiry) => false,
        };
        bool::from(ok) && fresh
    }
}

/// A path's `exp=` that is not one run of digits, or is given twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedExpiry;

impl std::fmt::Display for MalformedExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed or repeated exp=")
    }
}

impl std::error::Error for MalformedExpiry {}

/// The `exp=UNIX` of a path: `Ok(None)` without one.
pub fn expiry(path: impl AsRef<[u8]>) -> std::result::Result<Option<u64>, MalformedExpiry> {
    let mut found = None;
    for token in path.as_ref().split(|b| matches!(b, b'/' | b',' | b'?' | b'&' | b';')) {
        let Some(value) = token.strip_prefix(b"exp=") else { continue };
        if found.is_some() || value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
            return Err(MalformedExpiry);
        }
        found = Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
    }
    Ok(found)
}

fn mac(key: &[u8], salt: &[u8], path: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(salt);
    mac.update(path);
    mac.finalize().into_bytes().into()
}

/// Hex digits (either case, even count) to bytes.
fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes().chunks_exact(2).map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect()
}

/// Unpadded base64url (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        // RFC 4648 §10, unpadded; plus the URL-safe characters.
        for (input, expected) in
            [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE")]
        {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn hex_and_expiry_parse_strictly() {
        assert_eq!(hex("0aFf"), Some(vec![10, 255]));
        assert_eq!(hex("abc"), None);
        assert_eq!(hex("zz"), None);
        assert_eq!(expiry("/200x200,exp=17/a.jpg"), Ok(Some(17)));
        assert_eq!(expiry("/a/b.jpg?exp=5"), Ok(Some(5)));
        assert_eq!(expiry("/a/exp.jpg"), Ok(None));
        assert_eq!(expiry("/a/xexp=5"), Ok(None));
        assert_eq!(expiry("/exp=5/exp=6"), Err(MalformedExpiry));
        assert_eq!(expiry("/exp=5x"), Err(MalformedExpiry));
        assert_eq!(expiry("/exp="), Err(MalformedExpiry));
    }
}
