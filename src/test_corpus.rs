//! The shared test corpus for the crate's unit tests: `../shared` beside
//! the checkout, or `$THUMBNAIL_SHARED` (as tests/common/mod.rs).

use std::path::PathBuf;

pub(crate) fn shared() -> PathBuf {
    std::env::var_os("THUMBNAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// The corpus files whose path ends with `suffix`, bombs left out, with
/// the manifest's expectation and the bytes.
pub(crate) fn files(suffix: &str) -> Vec<(String, String, Vec<u8>)> {
    let root = shared().join("corpus");
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (path, expected) = (line.split('\t').next()?, line.rsplit('\t').next()?);
            (path.ends_with(suffix) && !path.contains("bombs/"))
                .then(|| (path.to_string(), expected.to_string(), std::fs::read(root.join(path)).unwrap()))
        })
        .collect()
}
