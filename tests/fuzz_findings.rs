//! Fuzzer findings not fixed yet, as failing tests (ignored so that the
//! suite stays green; `cargo test --release --test fuzz_findings -- --ignored`
//! runs them). When one is fixed: drop its `#[ignore]`, move its input from
//! fuzz/findings/ into fuzz/regressions/<target>/ and remove its allowance
//! from fuzz/fuzz.h (`fz_known`). Fixed findings are replayed by
//! `make fuzz-regress` instead.

use std::path::Path;

use thumbnail::ErrorKind;

fn finding(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings").join(name)).unwrap()
}

/// thumbnail_probe() promises OK, unsupported or corrupt for any bytes (and
/// "applies no limits"), but a PNG whose rows need more than the png
/// crate's 16 MiB working memory (PNG_INTERNAL_BYTES in src/decode/png.rs)
/// fails read_info() with LimitsExceeded, which becomes too-large. This one
/// is 12189728x32 gray+alpha (48 MiB a row); a 2100000x1 16-bit RGBA PNG
/// (2.1 MP, under every default limit) does the same. Found by the probe
/// fuzz target in its first second.
#[test]
#[ignore = "open fuzz finding: probe returns too-large for PNG rows over 16 MiB"]
fn probe_of_a_png_with_huge_rows_is_not_too_large() {
    let bytes = finding("probe-png-wide-rows.png");
    match thumbnail::probe(&bytes) {
        Ok(info) => assert_eq!((info.width, info.height), (12189728, 32)),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::Corrupt),
            "probe of a 12189728x32 PNG: {e}"
        ),
    }
}
