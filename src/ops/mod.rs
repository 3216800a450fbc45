//! Operations beyond fitting a box (issue 19): content-aware `cover`
//! gravities, sharpen and blur, watermarks. Rotation and mirroring are
//! folded into the EXIF orientation (`orient::of_ops`); signed URLs are
//! [`crate::sign`].

pub(crate) mod filter;
pub(crate) mod smartcrop;
pub mod watermark;
