fn main() {
    // Shared library SONAME = ABI version (src/ffi/version.rs THUMBNAIL_ABI_VERSION).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libthumbnail.so.1");
    println!("cargo:rerun-if-changed=build.rs");
}
