//! GIF through the `gif` crate (pure Rust; the authority, no accelerator).
//! By default the first frame is the image, composited on the logical
//! screen as browsers show it (transparent where the frame leaves it
//! uncovered), like libvips, sharp and imgproxy. [`Frames`] composites
//! every frame (disposal modes, local palettes, transparency) for animated
//! output.
//!
//! Opening walks the block structure (no LZW decoding) to learn the logical
//! screen, the frame count and whether the first frame is opaque, so the
//! limits (pixels; frames and frames × screen for animation) are checked
//! before any pixel memory exists.

use std::io::Cursor;
use std::num::NonZeroU64;

use ::gif::{ColorOutput, DecodeOptions, Decoder, DecodingError, DisposalMethod, MemoryLimit};

use super::Info;
use crate::error::{Error, Result};
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels};

pub(crate) struct GifSource<'a> {
    bytes: &'a [u8],
    info: Info,
    walk: Walk,
    strict: bool,
    max_frame_pixels: u64,
}

impl<'a> GifSource<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<GifSource<'a>> {
        let Some(screen) = bytes.get(6..10) else { return Err(Error::corrupt("GIF is truncated in its header")) };
        let width = u32::from(u16::from_le_bytes([screen[0], screen[1]]));
        let height = u32::from(u16::from_le_bytes([screen[2], screen[3]]));
        if width == 0 || height == 0 {
            return Err(Error::corrupt("GIF has a zero dimension"));
        }
        let walk = Walk::blocks(bytes, width, height);
        // A frame may declare more than the screen; it is decoded whole
        // before clipping, so its size counts against the limit too.
        let (fw, fh) = walk.first_frame;
        if u64::from(fw) * u64::from(fh) > limits.max_source_pixels {
            return Err(Error::too_large(format!(
                "GIF's first frame is {fw}x{fh}, limit {} pixels",
                limits.max_source_pixels
            )));
        }
        let info = Info {
            format: Format::Gif,
            width,
            height,
            orientation: 1,
            has_alpha: !walk.first_opaque,
            progressive: false,
        };
        Ok(GifSource { bytes, info, walk, strict: limits.strict, max_frame_pixels: limits.max_source_pixels })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    /// Image descriptors in the file (a truncated file counts those it has).
    pub(crate) fn frames(&self) -> u32 {
        self.walk.frames
    }

    /// The first frame on the logical screen.
    pub(crate) fn decode(self) -> Result<Pixels> {
        let screen = (self.info.width, self.info.height);
        if let Some(pixels) = first_frame_indexed(self.bytes, screen, self.walk.first_opaque, self.max_frame_pixels)? {
            return Ok(pixels);
        }
        let mut frames =
            Frames::new(self.bytes, self.info.width, self.info.height, self.max_frame_pixels, self.strict)?;
        let (pixels, _) = match frames.next_frame() {
            Some(frame) => frame?,
            None => return Err(Error::corrupt("GIF has no image")),
        };
        if self.walk.first_opaque && !frames.partial {
            return Ok(to_rgb(pixels));
        }
        Ok(pixels)
    }

    /// Every frame, composited, for animated output.
    pub(crate) fn frames_decoder(self) -> Result<Frames<'a>> {
        Frames::new(self.bytes, self.info.width, self.info.height, self.max_frame_pixels, self.strict)
    }

    /// The NETSCAPE2.0 loop count (0: forever; 1 when absent: play once).
    pub(crate) fn loop_count(&self) -> u32 {
        self.walk.loop_count
    }
}

/// The first frame decoded to palette indices and expanded once, straight
/// into the screen (RGB when it covers the screen without transparency,
/// as the walk found it): one pass over the pixels where the crate's RGBA
/// output and the compositing copies make four (benches/README.md has the
/// times). `None` when the frame's data breaks off: the compositing path
/// then decides what is served.
fn first_frame_indexed(
    bytes: &[u8],
    (width, height): (u32, u32),
    opaque: bool,
    max_frame_pixels: u64,
) -> Result<Option<Pixels>> {
    let options = decode_options(ColorOutput::Indexed, max_frame_pixels);
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(classify)?;
    let (rect, transparent) = match decoder.next_frame_info().map_err(classify)? {
        Some(f) => (Rect::of(f), f.transparent),
        None => return Err(Error::corrupt("GIF has no image")),
    };
    if u64::from(rect.width) * u64::from(rect.height) > max_frame_pixels {
        return Err(Error::too_large(format!("GIF frame is {}x{}", rect.width, rect.height)));
    }
    let mut indices = vec![0u8; decoder.buffer_size()];
    if decoder.read_into_buffer(&mut indices).is_err() {
        return Ok(None);
    }
    let palette = decoder.palette().map_err(classify)?;
    let channels = if opaque { 3 } else { 4 };
    let (cw, ch) = (width as usize, height as usize);
    let mut out = vec![0u8; cw * ch * channels];
    if let Some((visible_w, visible_h)) = rect.visible(width, height) {
        let frame_w = rect.width as usize;
        for y in 0..visible_h {
            let src = &indices[y * frame_w..y * frame_w + visible_w];
            let at = ((rect.top as usize + y) * cw + rect.left as usize) * channels;
            let dst = &mut out[at..at + visible_w * channels];
            // an index past the palette stays (transparent) black, as the
            // crate's RGBA output leaves it
            for (d, &i) in dst.chunks_exact_mut(channels).zip(src) {
                if Some(i) == transparent {
                    continue;
                }
                if let Some(c) = palette.get(usize::from(i) * 3..usize::from(i) * 3 + 3) {
                    d[..3].copy_from_slice(c);
                    if channels == 4 {
                        d[3] = 0xFF;
                    }
                }
            }
        }
    }
    let layout = if opaque { Layout::Rgb } else { Layout::Rgba };
    Ok(Some(Pixels::new(width, height, layout, out)))
}

/// The crate's options for one output: memory for a frame of at most
/// `max_frame_pixels` in that output, unknown extension blocks skipped.
fn decode_options(output: ColorOutput, max_frame_pixels: u64) -> DecodeOptions {
    let bytes_per_pixel = if output == ColorOutput::RGBA { 4 } else { 1 };
    let limit = max_frame_pixels.saturating_mul(bytes_per_pixel).max(1);
    let mut options = DecodeOptions::new();
    options.set_color_output(output);
    options.set_memory_limit(MemoryLimit::Bytes(NonZeroU64::new(limit).unwrap_or(NonZeroU64::MIN)));
    options.allow_unknown_blocks(true);
    options
}

fn to_rgb(px: Pixels) -> Pixels {
    let data = px.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Pixels::new(px.width, px.height, Layout::Rgb, data)
}

fn classify(e: DecodingError) -> Error {
    match e {
        DecodingError::OutOfMemory | DecodingError::MemoryLimit => {
            Error::too_large("GIF frame exceeds the memory limit")
        }
        DecodingError::UnexpectedEof => Error::corrupt("GIF is truncated"),
        other => Error::corrupt(format!("GIF: {other}")),
    }
}

/// The frames of a GIF composited on its logical screen, one at a time:
/// the canvas, plus a saved copy while a frame asks to be disposed to the
/// previous state.
pub(crate) struct Frames<'a> {
    decoder: Decoder<Cursor<&'a [u8]>>,
    width: u32,
    height: u32,
    canvas: Vec<u8>,
    /// What the last frame asks done to its rectangle before the next.
    pending: Option<(DisposalMethod, Rect, Option<Vec<u8>>)>,
    frame: Vec<u8>,
    strict: bool,
    max_frame_pixels: u64,
    /// A frame's data ended early; it was served as far as it decoded.
    pub(crate) partial: bool,
    done: bool,
}

#[derive(Clone, Copy)]
struct Rect {
    left: u32,
    top: u32,
    width: u32,
    height: u32,
}

impl Rect {
    fn of(f: &::gif::Frame<'_>) -> Rect {
        Rect { left: u32::from(f.left), top: u32::from(f.top), width: u32::from(f.width), height: u32::from(f.height) }
    }

    /// Width and height of the part on a `cw` x `ch` screen; none when
    /// the rectangle starts off it.
    fn visible(self, cw: u32, ch: u32) -> Option<(usize, usize)> {
        (self.left < cw && self.top < ch)
            .then(|| (self.width.min(cw - self.left) as usize, self.height.min(ch - self.top) as usize))
    }
}

impl<'a> Frames<'a> {
    fn new(bytes: &'a [u8], width: u32, height: u32, max_frame_pixels: u64, strict: bool) -> Result<Frames<'a>> {
        let options = decode_options(ColorOutput::RGBA, max_frame_pixels);
        let decoder = options.read_info(Cursor::new(bytes)).map_err(classify)?;
        let canvas = vec![0u8; width as usize * height as usize * 4];
        Ok(Frames {
            decoder,
            width,
            height,
            canvas,
            pending: None,
            frame: Vec::new(),
            strict,
            max_frame_pixels,
            partial: false,
            done: false,
        })
    }

    /// The next frame on the canvas (straight RGBA) and its delay in ms.
    /// Delays of 10 ms or less become 100 ms, as browsers (and gif2webp)
    /// play them.
    pub(crate) fn next_frame(&mut self) -> Option<Result<(Pixels, u32)>> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn advance(&mut self) -> Result<Option<(Pixels, u32)>> {
        self.dispose_previous();
        let info = match self.decoder.next_frame_info() {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(None),
            // A broken or cut-off block after the first frame ends the
            // animation where it breaks (lenient), like browsers.
            Err(_) if self.pending.is_some() && !self.strict => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let rect = Rect::of(info);
        let dispose = info.dispose;
        let delay = match u32::from(info.delay) * 10 {
            d if d <= 10 => 100,
            d => d,
        };
        if u64::from(rect.width) * u64::from(rect.height) > self.max_frame_pixels {
            return Err(Error::too_large(format!("GIF frame is {}x{}", rect.width, rect.height)));
        }
        self.frame.clear();
        self.frame.resize(self.decoder.buffer_size(), 0);
        if let Err(e) = self.decoder.read_into_buffer(&mut self.frame) {
            // The rows before the break are in the buffer; the rest stay
            // transparent. Served unless strict.
            if self.strict {
                return Err(classify(e));
            }
            self.partial = true;
            self.done = true;
        }
        let saved = (dispose == DisposalMethod::Previous).then(|| self.canvas.clone());
        self.draw(rect);
        self.pending = Some((dispose, rect, saved));
        let pixels = Pixels::new(self.width, self.height, Layout::Rgba, self.canvas.clone());
        Ok(Some((pixels, delay)))
    }

    /// Draws the decoded frame: opaque pixels replace the canvas,
    /// transparent ones leave it; the part off the screen is clipped.
    fn draw(&mut self, r: Rect) {
        let cw = self.width as usize;
        let Some((visible_w, visible_h)) = r.visible(self.width, self.height) else { return };
        let frame_stride = r.width as usize * 4;
        for y in 0..visible_h {
            let src = &self.frame[y * frame_stride..y * frame_stride + visible_w * 4];
            let at = ((r.top as usize + y) * cw + r.left as usize) * 4;
            let dst = &mut self.canvas[at..at + visible_w * 4];
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                if s[3] != 0 {
                    d.copy_from_slice(s);
                }
            }
        }
    }

    /// Applies the last frame's disposal before the next frame is drawn.
    fn dispose_previous(&mut self) {
        let Some((dispose, r, saved)) = self.pending.take() else { return };
        match dispose {
            DisposalMethod::Background => {
                // Browsers clear to transparent, not to the background colour.
                let cw = self.width as usize;
                let Some((w, h)) = r.visible(self.width, self.height) else { return };
                for y in r.top as usize..r.top as usize + h {
                    let at = (y * cw + r.left as usize) * 4;
                    self.canvas[at..at + w * 4].fill(0);
                }
            }
            DisposalMethod::Previous => {
                if let Some(saved) = saved {
                    self.canvas = saved;
                }
            }
            DisposalMethod::Any | DisposalMethod::Keep => {}
        }
    }
}

/// What the block structure says, read without LZW decoding.
struct Walk {
    frames: u32,
    /// The first frame covers the screen and declares no transparency.
    first_opaque: bool,
    /// The first frame descriptor's width and height.
    first_frame: (u32, u32),
    loop_count: u32,
}

impl Walk {
    fn blocks(bytes: &[u8], width: u32, height: u32) -> Walk {
        let mut walk = Walk { frames: 0, first_opaque: false, first_frame: (0, 0), loop_count: 1 };
        let Some(&flags) = bytes.get(10) else { return walk };
        let mut at = 13;
        if flags & 0x80 != 0 {
            at += 3 << ((flags & 7) + 1);
        }
        let mut transparent = false;
        while let Some(&block) = bytes.get(at) {
            match block {
                0x2C => {
                    let Some(d) = bytes.get(at + 1..at + 10) else { break };
                    if walk.frames == 0 {
                        let le = |i: usize| u32::from(u16::from_le_bytes([d[i], d[i + 1]]));
                        let covers = le(0) == 0 && le(2) == 0 && le(4) >= width && le(6) >= height;
                        walk.first_opaque = covers && !transparent;
                        walk.first_frame = (le(4), le(6));
                    }
                    walk.frames = walk.frames.saturating_add(1);
                    let local = d[8];
                    at += 10;
                    if local & 0x80 != 0 {
                        at += 3 << ((local & 7) + 1);
                    }
                    at += 1; // LZW minimum code size
                    at = skip_sub_blocks(bytes, at);
                    transparent = false;
                }
                0x21 => {
                    let label = bytes.get(at + 1).copied();
                    let body = at + 2;
                    if label == Some(0xF9) && bytes.get(body) == Some(&4) {
                        transparent = bytes.get(body + 1).is_some_and(|f| f & 1 != 0);
                    }
                    if label == Some(0xFF)
                        && bytes.get(body..body + 12) == Some(b"\x0bNETSCAPE2.0")
                        && let Some(s) = bytes.get(body + 12..body + 16)
                        && s[0] == 3
                        && s[1] == 1
                    {
                        walk.loop_count = u32::from(u16::from_le_bytes([s[2], s[3]]));
                    }
                    at = skip_sub_blocks(bytes, body);
                }
                _ => break, // trailer (0x3B) or garbage
            }
        }
        walk
    }
}

/// Skips data sub-blocks (length byte, data) up to the zero terminator.
fn skip_sub_blocks(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&len) = bytes.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first frame as the compositing path gives it (the reference of
    /// the indexed fast path).
    fn composited(bytes: &[u8], source: &GifSource<'_>) -> Option<Pixels> {
        let info = source.info();
        let mut frames = Frames::new(bytes, info.width, info.height, source.max_frame_pixels, false).ok()?;
        let (pixels, _) = frames.next_frame()?.ok()?;
        Some(if source.walk.first_opaque && !frames.partial { to_rgb(pixels) } else { pixels })
    }

    fn check(name: &str, bytes: &[u8]) -> bool {
        let Ok(source) = GifSource::open(bytes, &Limits::default()) else { return false };
        let screen = (source.info.width, source.info.height);
        let fast = first_frame_indexed(bytes, screen, source.walk.first_opaque, source.max_frame_pixels);
        let Ok(Some(fast)) = fast else { return false };
        assert_eq!(Some(&fast), composited(bytes, &source).as_ref(), "{name}");
        true
    }

    /// Every corpus GIF the fast path takes: the same pixels as the
    /// compositing path.
    #[test]
    fn indexed_first_frame_agrees_with_compositing_on_the_corpus() {
        let corpus = crate::test_corpus::files(".gif");
        let total = corpus.len();
        let taken = corpus.iter().filter(|(path, _, bytes)| check(path, bytes)).count();
        assert!(total >= 10 && taken * 2 > total, "{taken} of {total} corpus GIFs taken");
    }

    /// A frame smaller than the screen, off its corner, with a transparent
    /// index, and one hanging over the screen's edge.
    #[test]
    fn indexed_first_frame_agrees_with_compositing_on_partial_frames() {
        let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        for (left, top, w, h, transparent) in [(3, 2, 5, 4, Some(2)), (6, 5, 6, 6, None), (0, 0, 10, 8, Some(0))] {
            let mut bytes = Vec::new();
            {
                let mut enc = ::gif::Encoder::new(&mut bytes, 10, 8, &palette).unwrap();
                let mut frame = ::gif::Frame {
                    left,
                    top,
                    width: w,
                    height: h,
                    transparent,
                    buffer: (0..w * h).map(|i| (i % 4) as u8).collect::<Vec<u8>>().into(),
                    ..Default::default()
                };
                enc.write_frame(&frame).unwrap();
                frame.left = 0;
                enc.write_frame(&frame).unwrap();
            }
            assert!(check(&format!("{left},{top} {w}x{h} {transparent:?}"), &bytes));
        }
    }
}
