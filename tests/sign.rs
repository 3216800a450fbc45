//! Signed URLs: imgproxy's published vectors, key rotation, truncation,
//! expiry and tampering.
//!
//! The vectors are those of imgproxy's documentation ("Signing the URL"):
//! key `secret` (hex 736563726574), salt `hello` (68656C6C6F). The
//! truncated and expiring ones were computed with Python's `hmac` module.

use thumbnail::sign::{self, Signer};

const KEY: &str = "736563726574";
const SALT: &str = "68656C6C6F";
/// imgproxy's docs up to 2.x (basic URL format).
const OLD_PATH: &str = "/fill/300/400/sm/0/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
const OLD_SIG: &str = "AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM";
/// imgproxy's current docs (processing options).
const PATH: &str = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
const SIG: &str = "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8";

fn signer(size: usize) -> Signer {
    Signer::new(&[(KEY, SALT)], size).unwrap()
}

#[test]
fn imgproxy_published_vectors() {
    let s = signer(32);
    assert_eq!(s.sign(OLD_PATH), OLD_SIG);
    assert_eq!(s.sign(PATH), SIG);
    assert!(s.verify(OLD_PATH, OLD_SIG));
    assert!(s.verify(PATH, SIG));
    // Size 0 means the default, 32; hex is case-insensitive.
    assert_eq!(Signer::new(&[(KEY, SALT.to_lowercase())], 0).unwrap().sign(PATH), SIG);
}

#[test]
fn truncation_keeps_the_signature_prefix() {
    for (size, expected) in [(1, "oA"), (8, "oKfUtW34Dvo"), (16, "oKfUtW34Dvo2BGQehJFR4A")] {
        let s = signer(size);
        assert_eq!(s.sign(PATH), expected, "size {size}");
        assert!(s.verify(PATH, expected));
        // A truncating server refuses the full signature and vice versa.
        assert!(!s.verify(PATH, SIG));
        assert!(!signer(32).verify(PATH, expected));
    }
    for size in 1..=32 {
        assert_eq!(signer(size).sign(PATH).len(), (size * 4).div_ceil(3), "size {size}");
    }
    assert!(Signer::new(&[(KEY, SALT)], 33).is_err());
}

#[test]
fn rotation_accepts_every_configured_pair_and_signs_with_the_first() {
    let new = ("943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881", "520f986b99");
    let rotated = Signer::new(&[new, (KEY, SALT)], 32).unwrap();
    assert!(rotated.verify(PATH, SIG), "old key still verifies");
    let fresh = rotated.sign(PATH);
    assert_ne!(fresh, SIG, "new signatures use the first pair");
    assert!(rotated.verify(PATH, &fresh));
    assert!(!signer(32).verify(PATH, &fresh), "the old-only server refuses the new key");
}

#[test]
fn tampering_fails() {
    let s = signer(32);
    let path = "/200x200,cover/photos/cat.jpg";
    let sig = s.sign(path);
    assert!(s.verify(path, &sig));
    assert!(!s.verify("/200x200,cover/photos/dog.jpg", &sig), "path");
    assert!(!s.verify("/400x400,cover/photos/cat.jpg", &sig), "spec");
    assert!(!s.verify("/200x200,cover/photos/cat.jpg/", &sig), "trailing byte");
    let mut flipped = sig.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    assert!(!s.verify(path, String::from_utf8(flipped).unwrap()), "signature");
    assert!(!s.verify(path, &sig[..42]), "short signature");
    assert!(!s.verify(path, format!("{sig}=")), "padded");
    assert!(!s.verify(path, ""), "missing");
    assert!(!s.verify(path, sig.to_uppercase()), "case");
    assert!(!Signer::new(&[(KEY, "00")], 32).unwrap().verify(path, &sig), "salt");
}

#[test]
fn expiry_is_part_of_the_signed_path() {
    let s = Signer::new(
        &[(
            "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881",
            "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5",
        )],
        32,
    )
    .unwrap();
    let path = "/200x200,cover,exp=1767225600/photos/cat.jpg";
    let sig = "kydZygLJYKUpGeVTijwz9-b5ljr5HvsX0FuaOUsHX_M";
    assert_eq!(s.sign(path), sig);
    assert!(s.verify_at(path, sig, 1_767_225_599));
    assert!(s.verify_at(path, sig, 1_767_225_600), "valid through the second it names");
    assert!(!s.verify_at(path, sig, 1_767_225_601), "expired");
    assert!(!s.verify(path, sig), "2026-01-01 has passed by the system clock");
    // Moving the expiry breaks the signature.
    assert!(!s.verify_at("/200x200,cover,exp=1999999999/photos/cat.jpg", sig, 0));
    // Malformed or repeated expiries never verify, even when signed.
    for bad in ["/a,exp=12x/b.jpg", "/a,exp=1,exp=2/b.jpg", "/a,exp=/b.jpg"] {
        assert!(!s.verify_at(bad, s.sign(bad), 0), "{bad}");
        assert_eq!(sign::expiry(bad), Err(sign::MalformedExpiry));
    }
    // exp in the spec parses and stays out of the canonical form.
    let spec: thumbnail::Spec = "200x200,cover,exp=1767225600".parse().unwrap();
    assert_eq!(spec.canonical(), "200x200,cover");
}

#[test]
fn bad_keys_are_refused_clearly() {
    let e = Signer::new(&[("abc", "00")], 32).unwrap_err();
    assert!(e.message().contains("key 1 is not hex"), "{e}");
    let e = Signer::new(&[(KEY, SALT), ("00", "xyz!")], 32).unwrap_err();
    assert!(e.message().contains("salt 2 is not hex"), "{e}");
    let e = Signer::new(&[("", "00")], 32).unwrap_err();
    assert!(e.message().contains("key 1 is empty"), "{e}");
    let none: [(&str, &str); 0] = [];
    assert!(Signer::new(&none, 32).is_err());
    // Debug output never shows key material.
    assert!(!format!("{:?}", signer(32)).contains(KEY));
}
