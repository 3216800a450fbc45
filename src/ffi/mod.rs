//! The C ABI: every `extern "C"` function and every `unsafe` block of the
//! crate lives under this module. `include/thumbnail.h` is generated from
//! it by cbindgen (`make header`; `tests/header_drift.rs` checks it).
//!
//! Rules every function follows (the header's preamble states them for C
//! callers):
//!
//! - names are `thumbnail_<object>_<verb>`; handles are opaque
//!   (`thumbnail_image`, `thumbnail_cache`), plain data is `#[repr(C)]`;
//! - fallible functions return a [`thumbnail_status`] whose numbers never
//!   change, and write `kind: reason` into an optional caller buffer
//!   (`char *err, size_t err_len`); there is no thread-local last error;
//! - a panic never crosses the boundary ([`panic::boundary`]), a NULL
//!   pointer where one is not allowed is `THUMBNAIL_STATUS_INVALID_ARGUMENT`,
//!   and on any error an output handle is set to NULL;
//! - byte buffers are `(const uint8_t *ptr, size_t len)` and text is
//!   `(const char *ptr, size_t len)`, never NUL-terminated on input; a NULL
//!   pointer with length 0 is an empty buffer;
//! - outputs come last, before the error buffer.
//!
//! The module is split by object: [`status`], [`version`], [`spec`],
//! [`image`], [`render`], [`cache`], [`negotiate`], [`overlay`] (watermarks and the
//! `_ex` renders with per-call options), [`sign`] (signed URLs); [`panic`]
//! and [`args`] hold the boundary helpers shared by all of them.

// The one module allowed `unsafe` (the crate root denies it elsewhere).
#![allow(unsafe_code)]
// C names, snake_case like the rest of the C API (as rustls-ffi does).
#![allow(non_camel_case_types)]
// Every function here is called from C; the header's preamble and each
// function's documentation state the pointer contract, for C callers.
#![allow(clippy::missing_safety_doc)]
// C signatures are flat: buffers as (pointer, length) pairs, outputs last.
#![allow(clippy::too_many_arguments)]

// In header order: cbindgen (run on this file, see cbindgen.toml) emits
// functions in the order it meets them.
pub mod status;
pub mod version;
pub mod spec;
pub mod image;
pub mod render;
pub mod cache;
pub mod negotiate;
pub mod overlay;
pub mod sign;
mod args;
mod panic;

pub use cache::{
    thumbnail_cache, thumbnail_cache_options, thumbnail_cache_source, thumbnail_cache_stats, thumbnail_load_fn,
};
pub use image::{thumbnail_format, thumbnail_image};
pub use overlay::{thumbnail_overlay, thumbnail_render_options};
pub use render::{thumbnail_info, thumbnail_limits};
pub use sign::{THUMBNAIL_SIGNATURE_MAX, thumbnail_sign_key, thumbnail_signer};
pub use spec::THUMBNAIL_SPEC_CANONICAL_MAX;
pub use status::thumbnail_status;
pub use version::THUMBNAIL_ABI_VERSION;
