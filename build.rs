//! Reads the C ABI version from Cargo.toml (`[package.metadata.capi]
//! abi-version`, its one home) and makes it the shared library's SONAME and
//! the `THUMBNAIL_ABI_VERSION` that src/ffi/version.rs compiles in.

use std::{env, fs};

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR") + "/Cargo.toml";
    let text = fs::read_to_string(&manifest).expect("read Cargo.toml");
    let abi = abi_version(&text).expect("Cargo.toml: [package.metadata.capi] needs `abi-version = N`");
    println!("cargo:rustc-env=THUMBNAIL_ABI_VERSION={abi}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libthumbnail.so.{abi}");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
}

/// `abi-version = N` inside the `[package.metadata.capi]` table.
fn abi_version(toml: &str) -> Option<u32> {
    let mut in_table = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[package.metadata.capi]";
        } else if in_table && let Some(value) = line.strip_prefix("abi-version") {
            return value.trim_start().strip_prefix('=')?.trim().parse().ok();
        }
    }
    None
}
