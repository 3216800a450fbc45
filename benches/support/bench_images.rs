//! The benchmark photos in `$THUMBNAIL_SHARED/bench-images` (default
//! `../shared`), read in place.

use std::path::PathBuf;

pub fn bench_image(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("THUMBNAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    std::fs::read(dir.join("bench-images").join(name)).expect("bench image")
}
