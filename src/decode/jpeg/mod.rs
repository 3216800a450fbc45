//! JPEG through libjpeg-turbo, the one decoder: baseline, progressive,
//! arithmetic-coded, 12-bit and lossless (2 to 16 bits); gray stays gray,
//! YCbCr and RGB become RGB, CMYK/YCCK (Adobe inverted too) become RGB
//! through their ICC profile when they carry one, else by the naive formula.
//!
//! The marker walk here reads what the pipeline needs before decoding (the
//! frame size for the limits, EXIF orientation, the Adobe transform, the
//! ICC chunks); `turbo` decodes, at reduced size where the thumbnail
//! allows; `tj` is the thin binding to the TurboJPEG calls the `turbojpeg`
//! crate does not wrap.
//!
//! Damage: a file libjpeg-turbo decodes to the end with warnings only (bad
//! Huffman codes, lost restart markers, stray bytes, a premature end) is
//! served as it decodes it, which is what browsers, Pillow, libvips and
//! image_filter show; with `Limits::strict` any warning refuses the file as
//! `corrupt` (djpeg's `-strict`).

mod dc;
mod tj;
mod turbo;

use super::{Decoded, Info};
use crate::error::{Error, Result};
use crate::exif;
use crate::icc::{self, Profile};
use crate::image::Format;
use crate::limits::Limits;
use crate::pixels::{Layout, Pixels};

/// Largest ICC profile taken from APP2 chunks. Real ones are a few KB
/// (matrix/TRC) to a few hundred KB (CMYK LUTs); a larger one is ignored
/// and the image treated as sRGB.
const MAX_ICC_BYTES: usize = 4 << 20;

pub(crate) struct JpegSource<'a> {
    bytes: &'a [u8],
    info: Info,
    markers: Markers<'a>,
    strict: bool,
    max_pixels: u64,
}

impl<'a> JpegSource<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<JpegSource<'a>> {
        let markers = walk(bytes);
        let frame = markers.frame.ok_or_else(|| Error::corrupt("JPEG has no frame header"))?;
        if frame.width == 0 || frame.height == 0 {
            return Err(Error::corrupt("JPEG has a zero dimension (DNL is not supported)"));
        }
        if let Some(feature) = unsupported_feature(frame.marker) {
            return Err(Error::unsupported(format!("JPEG {feature} is not supported")));
        }
        let info = Info {
            format: Format::Jpeg,
            width: u32::from(frame.width),
            height: u32::from(frame.height),
            orientation: markers.exif.map_or(1, exif::orientation),
            has_alpha: false,
            progressive: frame.marker == 0xC2,
        };
        Ok(JpegSource { bytes, info, markers, strict: limits.strict, max_pixels: limits.max_source_pixels })
    }

    pub(crate) fn info(&self) -> Info {
        self.info
    }

    /// Decodes at the smallest size that keeps at least `min_scale` of each
    /// side (a reduced DCT when that is below 1), else at full size.
    pub(crate) fn decode(self, min_scale: f64) -> Result<Decoded> {
        let m = turbo::eighths(min_scale);
        let decoded = turbo::decode(self.bytes, m, self.info.progressive, self.max_pixels).map_err(classify)?;
        if let Some(warning) = &decoded.warning
            && self.strict
        {
            return Err(Error::corrupt(format!("JPEG (strict): {warning}")));
        }
        let profile = self.markers.icc_profile();
        let mut warnings: Vec<String> = decoded.warning.iter().map(|w| format!("JPEG: {w}")).collect();
        let (pixels, profile) = to_pixels(decoded, self.markers.adobe, profile, &mut warnings)?;
        if (pixels.width, pixels.height) != (tj::scaled(self.info.width, m, 8), tj::scaled(self.info.height, m, 8))
            && (pixels.width, pixels.height) != (self.info.width, self.info.height)
        {
            return Err(Error::corrupt("JPEG frame size changed between header and data"));
        }
        Ok(Decoded { pixels, profile, warnings })
    }
}

/// 8-bit gray or RGB pixels from what libjpeg-turbo produced: wide samples
/// rounded to 8 bits, CMYK/YCCK through the profile (which is then spent)
/// or the naive formula.
fn to_pixels(
    decoded: tj::Decoded,
    adobe: Option<u8>,
    profile: icc::Found,
    warnings: &mut Vec<String>,
) -> Result<(Pixels, Option<Profile>)> {
    let (w, h) = (decoded.width, decoded.height);
    let n = w as usize * h as usize;
    let samples = match decoded.samples {
        tj::Samples::Eight(s) => s,
        tj::Samples::Wide(s) => {
            let max = (1u32 << decoded.precision) - 1;
            s.iter().map(|&v| ((u32::from(v).min(max) * 255 + max / 2) / max) as u8).collect()
        }
    };
    let profile = profile.into_profile(warnings);
    let channels = samples.len() / n.max(1);
    match channels {
        1 => Ok((Pixels::new(w, h, Layout::Gray, samples), profile)),
        3 => Ok((Pixels::new(w, h, Layout::Rgb, samples), profile)),
        4 => {
            // Photoshop writes Adobe CMYK inverted (255 = no ink), and marks
            // it with APP14, as libvips and Pillow assume.
            let mut cmyk = samples;
            if adobe.is_none() {
                cmyk.iter_mut().for_each(|v| *v = 255 - *v);
            }
            // Now 255 = no ink throughout; an ICC CMYK profile wants ink.
            if let Some(p) = profile.filter(Profile::is_cmyk)
                && let Some(rgb) = icc::cmyk_to_srgb(&p, &cmyk, warnings)
            {
                return Ok((Pixels::new(w, h, Layout::Rgb, rgb), None));
            }
            let rgb = cmyk
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u32::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((u32::from(c) * k + 127) / 255) as u8)
                })
                .collect();
            Ok((Pixels::new(w, h, Layout::Rgb, rgb), None))
        }
        _ => Err(Error::internal("JPEG decoded to an unexpected channel count")),
    }
}

/// A fatal libjpeg-turbo error in our kinds.
fn classify(e: tj::Fatal) -> Error {
    if e.0 == "Image is too large" {
        Error::too_large("JPEG exceeds the pixel limit")
    } else if e.0.starts_with("Unsupported JPEG process") {
        Error::unsupported(format!("JPEG: {}", e.0))
    } else {
        Error::corrupt(format!("JPEG: {}", e.0))
    }
}

/// Names a JPEG process libjpeg-turbo does not decode (hierarchical,
/// differential), from the frame marker.
fn unsupported_feature(marker: u8) -> Option<&'static str> {
    matches!(marker, 0xC5..=0xC7 | 0xCD..=0xCF).then_some("hierarchical coding")
}

/// The frame header's fields the pipeline needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    marker: u8,
    width: u16,
    height: u16,
}

/// What the marker segments before the first scan say.
#[derive(Debug, Default)]
struct Markers<'a> {
    frame: Option<Frame>,
    /// The first APP1 Exif block.
    exif: Option<&'a [u8]>,
    /// The Adobe APP14 transform flag, when that marker is present.
    adobe: Option<u8>,
    /// APP2 ICC_PROFILE chunks: (sequence number, count, data).
    icc: Vec<(u8, u8, &'a [u8])>,
}

impl Markers<'_> {
    /// The ICC profile reassembled from its chunks, as libjpeg's
    /// `jpeg_read_icc_profile` does: every chunk 1..=count present once,
    /// with one count; anything else is a broken profile.
    fn icc_profile(&self) -> icc::Found {
        let Some(&(_, count, _)) = self.icc.first() else { return icc::Found::None };
        let count = usize::from(count);
        if count == 0 || self.icc.len() != count || self.icc.iter().any(|&(_, c, _)| usize::from(c) != count) {
            return icc::Found::Broken("JPEG ICC chunks are inconsistent".into());
        }
        let mut chunks: Vec<_> = self.icc.clone();
        chunks.sort_by_key(|&(seq, _, _)| seq);
        if chunks.iter().enumerate().any(|(i, &(seq, _, _))| usize::from(seq) != i + 1) {
            return icc::Found::Broken("JPEG ICC chunk numbers are inconsistent".into());
        }
        let total: usize = chunks.iter().map(|c| c.2.len()).sum();
        if total > MAX_ICC_BYTES {
            return icc::Found::Broken(format!("JPEG ICC profile of {total} bytes is over the cap"));
        }
        icc::Found::Bytes(chunks.iter().flat_map(|c| c.2.iter().copied()).collect())
    }
}

/// Walks the marker segments from SOI to the first SOS (or EOI) the way
/// libjpeg reads them: bytes before a marker are skipped (libjpeg warns of
/// "extraneous bytes"), fill bytes too, and a length under 2 skips only the
/// length field.
fn walk(bytes: &[u8]) -> Markers<'_> {
    let mut m = Markers::default();
    let mut at = 2;
    while let Some(ff) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
        at += ff;
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at + 1) else { break };
        match marker {
            0x00 | 0x01 | 0xD0..=0xD8 => {
                at += 2;
                continue;
            }
            0xD9 | 0xDA => break,
            _ => {}
        }
        let Some(len) = bytes.get(at + 2..at + 4).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            break;
        };
        let body = &bytes[(at + 4).min(bytes.len())..(at + 2 + len.max(2)).min(bytes.len())];
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && m.frame.is_none() && body.len() >= 5 => {
                m.frame = Some(Frame {
                    marker,
                    height: u16::from_be_bytes([body[1], body[2]]),
                    width: u16::from_be_bytes([body[3], body[4]]),
                });
            }
            0xE1 if m.exif.is_none() && body.starts_with(b"Exif\0\0") => m.exif = Some(body),
            0xE2 if body.starts_with(b"ICC_PROFILE\0") && body.len() >= 14 => {
                m.icc.push((body[12], body[13], &body[14..]));
            }
            0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => m.adobe = Some(body[11]),
            _ => {}
        }
        at += 2 + len.max(2);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend(((body.len() + 2) as u16).to_be_bytes());
        s.extend(body);
        s
    }

    fn icc_chunk(seq: u8, count: u8, data: &[u8]) -> Vec<u8> {
        let mut body = b"ICC_PROFILE\0".to_vec();
        body.extend([seq, count]);
        body.extend(data);
        segment(0xE2, &body)
    }

    fn jpeg(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        parts.iter().for_each(|p| j.extend(p));
        j.extend(segment(0xC0, &[8, 0, 3, 0, 4, 1, 1, 0x11, 0]));
        j.extend([0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn walk_finds_frame_exif_adobe_and_skips_junk() {
        let mut j = jpeg(&[segment(0xE1, b"Exif\0\0MM"), segment(0xEE, b"Adobe\0\x64\0\0\0\0\x02")]);
        j.splice(2..2, [0x12, 0x34, 0xFF, 0xFF]); // junk and fill before the first marker
        let m = walk(&j);
        assert_eq!(m.frame, Some(Frame { marker: 0xC0, width: 4, height: 3 }));
        assert_eq!(m.exif, Some(&b"Exif\0\0MM"[..]));
        assert_eq!(m.adobe, Some(2));
    }

    #[test]
    fn icc_chunks_reassemble_in_sequence_order() {
        let j = jpeg(&[icc_chunk(2, 2, b"world"), icc_chunk(1, 2, b"hello ")]);
        match walk(&j).icc_profile() {
            icc::Found::Bytes(b) => assert_eq!(b, b"hello world"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_icc_chunk_sets_are_refused() {
        for parts in [
            vec![icc_chunk(1, 2, b"a")],                        // a chunk missing
            vec![icc_chunk(1, 2, b"a"), icc_chunk(1, 2, b"b")], // a number twice
            vec![icc_chunk(0, 1, b"a")],                        // numbers start at 1
            vec![icc_chunk(1, 1, b"a"), icc_chunk(2, 2, b"b")], // counts differ
        ] {
            assert!(matches!(walk(&jpeg(&parts)).icc_profile(), icc::Found::Broken(_)));
        }
        assert!(matches!(walk(&jpeg(&[])).icc_profile(), icc::Found::None));
    }

    /// The measurement that dropped zune-jpeg (benches/README.md): each
    /// corpus JPEG through libjpeg-turbo (clean / warning / fatal) and
    /// zune-jpeg (ok / error). Ignored: it reads the whole corpus and only
    /// prints.
    #[test]
    #[ignore]
    fn tally_corpus_jpegs() {
        let root = crate::test_corpus::shared().join("corpus");
        let text = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap();
        let mut tally = std::collections::BTreeMap::<(String, &str), u32>::new();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let bytes = std::fs::read(root.join(cols[0])).unwrap();
            if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                continue;
            }
            let ours = match tj::decode(&bytes, 1, 8, 50_000_000) {
                Ok(d) if d.warning.is_none() => "clean".to_string(),
                Ok(d) => format!("warning ({})", d.warning.unwrap_or_default()),
                Err(e) => format!("FATAL ({})", e.0),
            };
            let mut zune = zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(&bytes[..]));
            let theirs = if zune.decode().is_ok() { "ok" } else { "error" };
            println!("{}\t{}\tlibjpeg-turbo {ours}\tzune-jpeg {theirs}", cols[0], cols[9]);
            let kind = ours.split(' ').next().unwrap_or_default().to_string();
            *tally.entry((kind, theirs)).or_default() += 1;
        }
        println!("{tally:?}");
    }
}
