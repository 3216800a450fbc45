//! Fuzzer findings, as tests of the library's Rust API. Open findings live
//! in fuzz/findings/ with an ignored, failing test here (`cargo test
//! --release --test fuzz_findings -- --ignored` runs them) and an allowance
//! in fuzz/fuzz.h (`fz_known`); a fixed one moves into
//! fuzz/regressions/<target>/ (replayed by `make fuzz-regress` through the
//! C harness) and its test here loses its `#[ignore]`.

use std::path::Path;

use thumbnail::{ErrorKind, Format, Limits, Spec};

fn regression(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target).join(name)).unwrap()
}

/// A minimal PNG: signature, IHDR, the given chunks, an empty IDAT, IEND
/// (CRCs included).
fn png(width: u32, height: u32, depth: u8, colour: u8, chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in chunks {
        chunk(&mut out, kind, data);
    }
    chunk(&mut out, b"IDAT", &[]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Fixed: thumbnail_probe() promises OK, unsupported or corrupt for any
/// bytes (and "applies no limits"), but a PNG whose rows need more than the
/// png crate's 16 MiB working memory (PNG_INTERNAL_BYTES in
/// src/decode/png/mod.rs) failed read_info() with LimitsExceeded, which
/// became too-large. Found by the probe fuzz target in its first second.
/// Probe now describes such a file from IHDR and the chunks before IDAT;
/// a render still refuses it as too-large.
#[test]
fn probe_of_a_png_with_huge_rows_reads_its_header() {
    // 12189728x32 gray+alpha: 48 MiB a row (CRCs wrong: fuzz builds skip them)
    let bytes = regression("probe", "png-wide-rows");
    match thumbnail::probe(&bytes) {
        Ok(info) => {
            assert_eq!((info.format, info.width, info.height), (Format::Png, 12189728, 32));
            assert!(info.has_alpha);
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupt, "probe of a 12189728x32 PNG: {e}"),
    }

    // 2100000x1 16-bit RGBA (16.8 MB a row, 2.1 MP: under every default
    // limit), with an eXIf orientation and valid CRCs
    let exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00";
    let bytes = png(2_100_000, 1, 16, 6, &[(b"eXIf", exif)]);
    let info = thumbnail::probe(&bytes).expect("probe of a 2100000x1 RGBA16 PNG");
    assert_eq!((info.format, info.width, info.height, info.orientation), (Format::Png, 2_100_000, 1, 6));
    assert!(info.has_alpha && !info.progressive);
    let err = thumbnail::render(&bytes, &Spec::parse("100x100").unwrap(), &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");

    // The same row width in 8-bit gray with tRNS: alpha from tRNS
    let bytes = png(16_800_000, 1, 8, 0, &[(b"tRNS", &[0, 0])]);
    let info = thumbnail::probe(&bytes).expect("probe of a 16800000x1 gray PNG");
    assert_eq!((info.width, info.height, info.orientation), (16_800_000, 1, 1));
    assert!(info.has_alpha);
}
