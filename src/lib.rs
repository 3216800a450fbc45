//! thumbnail: image thumbnails inside the programs that serve images.
//!
//! The pipeline: sniff the format from the bytes, read the header, enforce
//! [`Limits`] before any pixel memory is allocated, decode, apply EXIF
//! orientation, resize per a [`Spec`], encode. [`Cache`] keeps finished
//! thumbnails in memory with single-flight de-duplication of misses.
//!
//! ```no_run
//! let source = std::fs::read("photo.jpg").unwrap();
//! let spec: thumbnail::Spec = "200x200,cover".parse().unwrap();
//! let thumb = thumbnail::render(&source, &spec, &thumbnail::Limits::default()).unwrap();
//! assert!(thumb.width() <= 200 && thumb.height() <= 200);
//! ```

// `unsafe` lives only in src/ffi (the C ABI) and src/webp_sys.rs (the
// libwebp glue), which allow it by name.
#![deny(unsafe_code)]

pub mod cache;
mod compose;
mod decode;
mod encode;
mod error;
mod exif;
pub mod ffi;

mod geometry;
mod icc;
mod image;
mod limits;
pub mod negotiate;
mod ops;
mod orient;
mod pipeline;
mod pixels;
mod resize;
mod sniff;
pub mod sign;
pub mod spec;
#[doc(hidden)]
pub mod stages;
#[cfg(test)]
mod test_corpus;
mod webp_sys;

pub use cache::{Cache, CacheOptions, CacheSource, CacheStats};
pub use decode::Info;
pub use error::{Error, ErrorKind, Result};
pub use image::{Format, Thumbnail};
pub use limits::Limits;
pub use negotiate::Bucket;
pub use ops::watermark::{Overlay, OverlayApply, OverlayOptions};
pub use pipeline::{RenderOptions, probe, render, render_with, render_with_warnings};
pub use spec::{Fit, Focus, Gravity, Rgb, Spec};
