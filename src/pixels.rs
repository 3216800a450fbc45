//! Decoded 8-bit pixel buffers passed between pipeline stages.

/// Channel layout of a pixel buffer. Gray stays one channel end to end (a
/// third of the work of RGB); gray+alpha is widened to RGBA at decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Gray,
    Rgb,
    /// Straight (not premultiplied) alpha.
    Rgba,
}

impl Layout {
    pub(crate) const fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

/// A tightly packed, row-major 8-bit image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Pixels {
    pub(crate) fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Pixels {
        debug_assert_eq!(data.len(), width as usize * height as usize * layout.channels());
        Pixels { width, height, layout, data }
    }

    pub(crate) fn stride(&self) -> usize {
        self.width as usize * self.layout.channels()
    }
}

/// Gray+alpha samples widened to RGBA (the pipeline has no two-channel layout).
pub(crate) fn gray_alpha_to_rgba(ga: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ga.len() * 2);
    for p in ga.chunks_exact(2) {
        out.extend_from_slice(&[p[0], p[0], p[0], p[1]]);
    }
    out
}

/// Gray or RGB widened to RGBA, opaque (RGBA is returned as it is).
pub(crate) fn to_rgba(px: Pixels) -> Pixels {
    let data = match px.layout {
        Layout::Rgba => return px,
        Layout::Gray => px.data.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        Layout::Rgb => px.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
    };
    Pixels::new(px.width, px.height, Layout::Rgba, data)
}
