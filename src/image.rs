//! The finished product: encoded bytes plus what a server needs to send them.

use std::sync::Arc;

/// An image format this library reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    /// Read and written (libwebp); animated WebP is read and written too.
    Webp,
    /// Read only (first frame, or every frame with `anim`).
    Gif,
    /// Written only, with the `avif` cargo feature.
    Avif,
}

impl Format {
    /// Short lowercase name: `jpeg`, `png`, `webp`, `gif`, `avif` (as in the
    /// spec grammar and JSON).
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Avif => "avif",
        }
    }

    /// The media type for `Content-Type`.
    pub const fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Avif => "image/avif",
        }
    }
}

/// An encoded thumbnail. Immutable; cloning shares the bytes (no copy), so a
/// cache hit hands out the stored buffer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    data: Arc<[u8]>,
    format: Format,
    width: u32,
    height: u32,
}

impl Thumbnail {
    pub fn new(data: impl Into<Arc<[u8]>>, format: Format, width: u32, height: u32) -> Self {
        Thumbnail { data: data.into(), format, width, height }
    }

    /// The encoded image bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// A shared handle to the bytes, for callers that keep them beyond `self`.
    pub fn shared_data(&self) -> Arc<[u8]> {
        Arc::clone(&self.data)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn media_type(&self) -> &'static str {
        self.format.media_type()
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }
}
