//! The libwebp glue: the one module outside src/ffi allowed `unsafe`.
//!
//! libwebp (vendored by `libwebp-sys`, built by `cc`, linked statically) is
//! a C library, so calling it is `unsafe`; everything the rest of the crate
//! needs from it is wrapped here behind safe functions that own their
//! buffers: header features, still decoding (incremental, into our own
//! buffer, optionally scaled), the animation decoder, the still encoder and
//! the animation encoder. Every `unsafe` block carries a `SAFETY` comment.
//! Nothing here interprets pixels or applies limits: callers in
//! `decode/webp.rs` and `encode/webp.rs` do that first.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::marker::PhantomData;
use std::ptr;

use libwebp_sys as sys;

/// What `WebPGetFeatures` reads from the header (RIFF + VP8/VP8L/VP8X).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub animated: bool,
}

/// Why a libwebp call failed, in libwebp's own terms (callers classify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The bitstream is broken or not WebP.
    Bitstream(&'static str),
    /// A valid feature libwebp does not decode here.
    Unsupported,
    /// libwebp could not allocate.
    OutOfMemory,
    /// Anything else (bad parameters: a bug of ours).
    Other(String),
}

fn status_failure(status: sys::VP8StatusCode) -> Failure {
    use sys::VP8StatusCode::*;
    match status {
        VP8_STATUS_OUT_OF_MEMORY => Failure::OutOfMemory,
        VP8_STATUS_UNSUPPORTED_FEATURE => Failure::Unsupported,
        VP8_STATUS_NOT_ENOUGH_DATA | VP8_STATUS_SUSPENDED => Failure::Bitstream("truncated"),
        VP8_STATUS_BITSTREAM_ERROR => Failure::Bitstream("bitstream error"),
        other => Failure::Other(format!("{other:?}")),
    }
}

/// Reads the header only (no pixel memory).
pub(crate) fn features(bytes: &[u8]) -> Result<Features, Failure> {
    let mut f =
        sys::WebPBitstreamFeatures { width: 0, height: 0, has_alpha: 0, has_animation: 0, format: 0, pad: [0; 5] };
    // SAFETY: `bytes` is valid for `bytes.len()` reads; `f` is a valid,
    // writable struct of the type libwebp expects.
    let status = unsafe { sys::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut f) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return Err(status_failure(status));
    }
    let side = |v: c_int| u32::try_from(v).ok().filter(|&v| v > 0);
    match (side(f.width), side(f.height)) {
        (Some(width), Some(height)) => {
            Ok(Features { width, height, has_alpha: f.has_alpha != 0, animated: f.has_animation != 0 })
        }
        _ => Err(Failure::Bitstream("zero or negative dimension")),
    }
}

/// A decoded still image: tightly packed RGB or RGBA (straight alpha).
pub(crate) struct Still {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
    /// Rows fully decoded; less than `height` for a truncated file.
    pub rows: u32,
}

/// Decodes a still (non-animated) WebP at `width` × `height`: the stored
/// size, or smaller, in which case libwebp's rescaler (area averaging)
/// shrinks it while decoding. Uses the incremental decoder over the whole
/// buffer, so a truncated file returns the rows it had (`rows < height`)
/// instead of nothing; rows never reached stay zero.
pub(crate) fn decode_still(bytes: &[u8], f: &Features, width: u32, height: u32, alpha: bool) -> Result<Still, Failure> {
    let mut config = sys::WebPDecoderConfig::new().map_err(|()| Failure::Other("decoder config".into()))?;
    if (width, height) != (f.width, f.height) {
        config.options.use_scaling = 1;
        config.options.scaled_width = c_int::try_from(width).map_err(|_| Failure::Other("width".into()))?;
        config.options.scaled_height = c_int::try_from(height).map_err(|_| Failure::Other("height".into()))?;
    }
    let channels = if alpha { 4 } else { 3 };
    let stride = width as usize * channels;
    // Zeroed (calloc): rows a truncated file never reaches stay transparent
    // (RGBA) or black (RGB).
    let mut data = vec![0u8; stride * height as usize];
    config.output.colorspace = if alpha { sys::WEBP_CSP_MODE::MODE_RGBA } else { sys::WEBP_CSP_MODE::MODE_RGB };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer {
        rgba: data.as_mut_ptr(),
        stride: c_int::try_from(stride).map_err(|_| Failure::Other("stride".into()))?,
        size: data.len(),
    };
    // SAFETY: `config` is initialised (WebPInitDecoderConfig) and stays at
    // this address, unmoved, until `idec` is deleted below: the decoder
    // keeps pointers to `config.output` and `config.options`. The output
    // buffer points into `data`, which outlives `idec` and is not touched
    // until then.
    let idec = unsafe { sys::WebPIDecode(ptr::null(), 0, &mut config) };
    if idec.is_null() {
        return Err(Failure::OutOfMemory);
    }
    let idec = IDecoder(idec);
    // SAFETY: `idec` is live; `bytes` is valid for its length for the
    // whole call (WebPIUpdate reads it during the call only: the buffer
    // given is the complete input, not appended to later).
    let status = unsafe { sys::WebPIUpdate(idec.0, bytes.as_ptr(), bytes.len()) };
    let rows = match status {
        sys::VP8StatusCode::VP8_STATUS_OK => height,
        sys::VP8StatusCode::VP8_STATUS_SUSPENDED => {
            let mut last_y: c_int = 0;
            // SAFETY: `idec` is live; NULL is allowed for the other outputs.
            unsafe { sys::WebPIDecGetRGB(idec.0, &mut last_y, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()) };
            u32::try_from(last_y).unwrap_or(0).min(height)
        }
        other => return Err(status_failure(other)),
    };
    drop(idec);
    Ok(Still { width, height, alpha, data, rows })
}

/// Owns a `WebPIDecoder`.
struct IDecoder(*mut sys::WebPIDecoder);

impl Drop for IDecoder {
    fn drop(&mut self) {
        // SAFETY: made by WebPIDecode, deleted once, here.
        unsafe { sys::WebPIDelete(self.0) }
    }
}

/// The animation decoder: full-canvas RGBA frames (disposal and blending
/// done by libwebp), one at a time; two canvases of memory.
pub(crate) struct AnimDecoder<'a> {
    dec: *mut sys::WebPAnimDecoder,
    pub width: u32,
    pub height: u32,
    pub loop_count: u32,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> AnimDecoder<'a> {
    /// Parses the container (no frame is decoded yet). The caller has
    /// checked the canvas and frame count against its limits.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<AnimDecoder<'a>, Failure> {
        let mut options =
            sys::WebPAnimDecoderOptions { color_mode: sys::WEBP_CSP_MODE::MODE_RGBA, use_threads: 0, padding: [0; 7] };
        // SAFETY: `options` is a valid, writable struct.
        if unsafe { sys::WebPAnimDecoderOptionsInit(&mut options) } == 0 {
            return Err(Failure::Other("animation decoder options".into()));
        }
        options.color_mode = sys::WEBP_CSP_MODE::MODE_RGBA;
        options.use_threads = 0;
        let data = sys::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
        // SAFETY: `data` points to `bytes`, which the decoder borrows for
        // 'a (recorded in `_bytes`), longer than the decoder lives.
        let dec = unsafe { sys::WebPAnimDecoderNew(&data, &options) };
        if dec.is_null() {
            return Err(Failure::Bitstream("animation container does not parse"));
        }
        let mut info = sys::WebPAnimInfo::default();
        // SAFETY: `dec` is live; `info` is writable.
        let ok = unsafe { sys::WebPAnimDecoderGetInfo(dec, &mut info) };
        let decoder = AnimDecoder {
            dec,
            width: info.canvas_width,
            height: info.canvas_height,
            loop_count: info.loop_count,
            _bytes: PhantomData,
        };
        if ok == 0 {
            return Err(Failure::Other("animation info".into()));
        }
        Ok(decoder)
    }

    /// The next full-canvas frame (RGBA, `width * height * 4` bytes) and
    /// the time it ends, in ms from the start; `None` after the last.
    pub(crate) fn next_frame(&mut self) -> Option<Result<(&[u8], i32), Failure>> {
        // SAFETY: `self.dec` is live.
        if unsafe { sys::WebPAnimDecoderHasMoreFrames(self.dec) } == 0 {
            return None;
        }
        let mut buf: *mut u8 = ptr::null_mut();
        let mut timestamp: c_int = 0;
        // SAFETY: `self.dec` is live; both outputs are writable.
        if unsafe { sys::WebPAnimDecoderGetNext(self.dec, &mut buf, &mut timestamp) } == 0 || buf.is_null() {
            return Some(Err(Failure::Bitstream("animation frame does not decode")));
        }
        let len = self.width as usize * self.height as usize * 4;
        // SAFETY: libwebp returns its canvas, `width * height * 4` bytes,
        // valid until the next GetNext/Delete; the borrow of `self` (&mut)
        // ends before either can happen.
        Some(Ok((unsafe { std::slice::from_raw_parts(buf, len) }, timestamp)))
    }
}

impl Drop for AnimDecoder<'_> {
    fn drop(&mut self) {
        // SAFETY: made by WebPAnimDecoderNew, deleted once, here.
        unsafe { sys::WebPAnimDecoderDelete(self.dec) }
    }
}

/// Encoder settings shared by stills and animations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodeOptions {
    /// 0..=100, as the spec's `qN`.
    pub quality: f32,
    /// 0 (fast) ..= 6 (slow, smaller); libwebp's, sharp's and libvips'
    /// default is 4.
    pub method: i32,
}

fn config(o: EncodeOptions) -> Result<sys::WebPConfig, Failure> {
    let mut config = sys::WebPConfig::new_with_preset(sys::WebPPreset::WEBP_PRESET_DEFAULT, o.quality)
        .map_err(|()| Failure::Other("encoder config".into()))?;
    config.method = o.method;
    config.thread_level = 0;
    // SAFETY: `config` is a valid, initialised struct.
    if unsafe { sys::WebPValidateConfig(&config) } == 0 {
        return Err(Failure::Other("invalid encoder config".into()));
    }
    Ok(config)
}

/// A `WebPPicture` that frees what libwebp allocated into it.
struct Picture(sys::WebPPicture);

impl Picture {
    /// Imports packed RGB (3 channels) or RGBA (4, straight alpha).
    fn import(data: &[u8], width: u32, height: u32, channels: usize, argb: bool) -> Result<Picture, Failure> {
        let mut pic = Picture(sys::WebPPicture::new().map_err(|()| Failure::Other("picture".into()))?);
        let stride = width as usize * channels;
        if data.len() != stride * height as usize || !(channels == 3 || channels == 4) {
            return Err(Failure::Other("pixel buffer size".into()));
        }
        pic.0.width = c_int::try_from(width).map_err(|_| Failure::Other("width".into()))?;
        pic.0.height = c_int::try_from(height).map_err(|_| Failure::Other("height".into()))?;
        pic.0.use_argb = c_int::from(argb);
        let stride = c_int::try_from(stride).map_err(|_| Failure::Other("stride".into()))?;
        // SAFETY: `data` holds `height` rows of `stride` bytes (checked
        // above); libwebp copies them into memory the picture owns.
        let ok = unsafe {
            if channels == 4 {
                sys::WebPPictureImportRGBA(&mut pic.0, data.as_ptr(), stride)
            } else {
                sys::WebPPictureImportRGB(&mut pic.0, data.as_ptr(), stride)
            }
        };
        if ok == 0 {
            return Err(Failure::OutOfMemory);
        }
        Ok(pic)
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPPictureInit; freeing an unallocated
        // picture is allowed.
        unsafe { sys::WebPPictureFree(&mut self.0) }
    }
}

/// Encodes one still image (lossy; alpha kept if any pixel is not opaque).
pub(crate) fn encode(
    data: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    o: EncodeOptions,
) -> Result<Vec<u8>, Failure> {
    let config = config(o)?;
    let mut pic = Picture::import(data, width, height, channels, false)?;
    let mut writer = MemoryWriter::new();
    pic.0.writer = Some(sys::WebPMemoryWrite);
    pic.0.custom_ptr = (&raw mut writer.0).cast::<c_void>();
    // SAFETY: `config` is validated, `pic` imported; the writer callback
    // appends to `writer`, which outlives the call.
    let ok = unsafe { sys::WebPEncode(&config, &mut pic.0) };
    if ok == 0 {
        return Err(match pic.0.error_code {
            sys::WebPEncodingError::VP8_ENC_ERROR_OUT_OF_MEMORY
            | sys::WebPEncodingError::VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY => Failure::OutOfMemory,
            other => Failure::Other(format!("{other:?}")),
        });
    }
    Ok(writer.to_vec())
}

/// A `WebPMemoryWriter`, cleared on drop.
struct MemoryWriter(sys::WebPMemoryWriter);

impl MemoryWriter {
    fn new() -> MemoryWriter {
        let mut w = sys::WebPMemoryWriter { mem: ptr::null_mut(), size: 0, max_size: 0, pad: [0] };
        // SAFETY: `w` is writable.
        unsafe { sys::WebPMemoryWriterInit(&mut w) };
        MemoryWriter(w)
    }

    fn to_vec(&self) -> Vec<u8> {
        if self.0.mem.is_null() {
            return Vec::new();
        }
        // SAFETY: libwebp wrote `size` bytes at `mem`.
        unsafe { std::slice::from_raw_parts(self.0.mem, self.0.size) }.to_vec()
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPMemoryWriterInit; cleared once.
        unsafe { sys::WebPMemoryWriterClear(&mut self.0) }
    }
}

/// The animation encoder (`WebPAnimEncoder`): frames go in one at a time
/// and are compressed as they arrive, so only the encoder's own canvases
/// are held, never every frame.
pub(crate) struct AnimEncoder {
    enc: *mut sys::WebPAnimEncoder,
    config: sys::WebPConfig,
    width: u32,
    height: u32,
}

impl AnimEncoder {
    /// `loop_count` 0 loops forever.
    pub(crate) fn new(width: u32, height: u32, loop_count: u32, o: EncodeOptions) -> Result<AnimEncoder, Failure> {
        let config = config(o)?;
        // SAFETY: a zeroed options struct is a valid value to initialise.
        let mut options: sys::WebPAnimEncoderOptions = unsafe { std::mem::zeroed() };
        // SAFETY: `options` is writable.
        let ok = unsafe { sys::WebPAnimEncoderOptionsInitInternal(&mut options, sys::WEBP_MUX_ABI_VERSION as c_int) };
        if ok == 0 {
            return Err(Failure::Other("animation encoder options".into()));
        }
        options.anim_params.loop_count = c_int::try_from(loop_count).unwrap_or(0);
        // Each frame lossy or lossless, whichever is smaller: GIF frames
        // are flat palette art, where lossless is smaller and exact, and
        // lossy sub-frames blended on lossy canvases accumulate error
        // (any-disposal.gif's 5th frame: 22 dB lossy-only, exact mixed).
        options.allow_mixed = 1;
        let (w, h) = (c_int::try_from(width), c_int::try_from(height));
        let (Ok(w), Ok(h)) = (w, h) else { return Err(Failure::Other("size".into())) };
        // SAFETY: `options` is initialised.
        let enc = unsafe { sys::WebPAnimEncoderNewInternal(w, h, &options, sys::WEBP_MUX_ABI_VERSION as c_int) };
        if enc.is_null() {
            return Err(Failure::OutOfMemory);
        }
        Ok(AnimEncoder { enc, config, width, height })
    }

    /// Adds a frame (`width * height` pixels, RGB or RGBA) shown from
    /// `start_ms`.
    pub(crate) fn add(&mut self, data: &[u8], channels: usize, start_ms: i32) -> Result<(), Failure> {
        let mut pic = Picture::import(data, self.width, self.height, channels, true)?;
        // SAFETY: `self.enc` is live, `pic` imported (ARGB, as the
        // animation encoder wants), `self.config` validated. The encoder
        // copies the frame; `pic` is freed after the call.
        let ok = unsafe { sys::WebPAnimEncoderAdd(self.enc, &mut pic.0, start_ms, &self.config) };
        if ok == 0 {
            return Err(Failure::Other(self.error()));
        }
        Ok(())
    }

    /// Ends the animation at `end_ms` and returns the file.
    pub(crate) fn finish(self, end_ms: i32) -> Result<Vec<u8>, Failure> {
        // SAFETY: `self.enc` is live; a NULL frame marks the end.
        if unsafe { sys::WebPAnimEncoderAdd(self.enc, ptr::null_mut(), end_ms, ptr::null()) } == 0 {
            return Err(Failure::Other(self.error()));
        }
        let mut out = sys::WebPData::default();
        // SAFETY: `self.enc` is live; `out` is writable and, on success,
        // owns a WebPMalloc'd buffer that is copied and freed below.
        if unsafe { sys::WebPAnimEncoderAssemble(self.enc, &mut out) } == 0 {
            return Err(Failure::Other(self.error()));
        }
        // SAFETY: on success `out` holds `size` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(out.bytes, out.size) }.to_vec();
        // SAFETY: `out.bytes` came from WebPMalloc, freed once.
        unsafe { sys::WebPDataClear(&mut out) };
        Ok(bytes)
    }

    fn error(&self) -> String {
        // SAFETY: `self.enc` is live; the message is a static or
        // encoder-owned NUL-terminated string, copied at once.
        let msg = unsafe { sys::WebPAnimEncoderGetError(self.enc) };
        if msg.is_null() {
            return "animation encoder failed".into();
        }
        // SAFETY: non-NULL, NUL-terminated (above).
        unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned()
    }
}

impl Drop for AnimEncoder {
    fn drop(&mut self) {
        // SAFETY: made by WebPAnimEncoderNewInternal, deleted once, here.
        unsafe { sys::WebPAnimEncoderDelete(self.enc) }
    }
}
