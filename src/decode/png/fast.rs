//! A fast path for the common PNG: 8-bit gray, gray+alpha, RGB or RGBA,
//! not interlaced, no palette, no tRNS. The image data is inflated in one
//! call by libdeflate into a buffer of the exact size, then unfiltered in
//! place: faster than the png crate's streaming inflate (`cargo bench
//! --bench codecs` measures both; figures in benches/README.md).
//!
//! Only an accelerator, like `jpeg::turbo`: anything it does not take, or
//! any fault (CRC, zlib, size, chunk order), returns `None` and the png
//! crate decodes the file, so it alone decides what is accepted and how
//! errors are classified.

use libdeflater::Decompressor;

use crate::pixels::{Layout, Pixels, gray_alpha_to_rgba};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The parts of a PNG this path needs, after every chunk's CRC checked out.
struct Parsed<'a> {
    width: u32,
    height: u32,
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    channels: usize,
    idat: Vec<&'a [u8]>,
}

/// Decodes `bytes` when it is a PNG this path takes and its header says
/// `width` × `height` (already checked against the limits).
pub(crate) fn decode(bytes: &[u8], width: u32, height: u32) -> Option<Pixels> {
    let png = parse(bytes)?;
    if (png.width, png.height) != (width, height) {
        return None;
    }
    let stride = (width as usize).checked_mul(png.channels)?;
    let raw_len = stride.checked_add(1)?.checked_mul(height as usize)?;
    let joined;
    let zlib: &[u8] = match png.idat.as_slice() {
        [one] => one,
        many => {
            joined = many.concat();
            &joined
        }
    };
    let mut raw = vec![0u8; raw_len];
    let inflated = Decompressor::new().deflate_decompress(deflate_body(zlib)?, &mut raw).ok()?;
    if inflated != raw_len {
        return None;
    }
    unfilter(&mut raw, stride, png.channels)?;
    raw.truncate(stride * height as usize);
    let (layout, data) = match png.channels {
        1 => (Layout::Gray, raw),
        2 => (Layout::Rgba, gray_alpha_to_rgba(&raw)),
        3 => (Layout::Rgb, raw),
        _ => (Layout::Rgba, raw),
    };
    Some(Pixels::new(width, height, layout, data))
}

/// Walks the chunks: IHDR first, IDATs consecutive, IEND last, every CRC
/// right, nothing this path does not handle (palette, tRNS, APNG, unknown
/// critical chunks).
fn parse(bytes: &[u8]) -> Option<Parsed<'_>> {
    let mut rest = bytes.strip_prefix(SIGNATURE)?;
    let mut header = None;
    let mut idat = Vec::new();
    let mut idat_ended = false;
    loop {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = rest.get(4..8usize.checked_add(len)?)?;
        let crc = u32::from_be_bytes(rest.get(8 + len..12 + len)?.try_into().ok()?);
        // Fuzz builds (`--cfg fuzzing`, mk/fuzz.mk) skip the check, as the
        // png crate does, so that mutated chunks reach the code below.
        if !cfg!(fuzzing) && crc32fast::hash(body) != crc {
            return None;
        }
        let (kind, data) = body.split_at(4);
        rest = &rest[12 + len..];
        match (kind, header.is_some()) {
            (b"IHDR", false) => header = Some(parse_header(data)?),
            (_, false) => return None,
            (b"IDAT", true) if !idat_ended => idat.push(data),
            (b"IEND", true) if !idat.is_empty() => break,
            (b"PLTE" | b"tRNS" | b"acTL" | b"IDAT" | b"IHDR" | b"IEND", true) => return None,
            // An uppercase first letter marks a chunk a decoder must understand.
            (_, true) if kind[0].is_ascii_uppercase() => return None,
            _ => idat_ended = !idat.is_empty(),
        }
    }
    let (width, height, channels) = header?;
    Some(Parsed { width, height, channels, idat })
}

/// IHDR → (width, height, channels) when 8-bit, not interlaced, no palette.
fn parse_header(data: &[u8]) -> Option<(u32, u32, usize)> {
    let &[w0, w1, w2, w3, h0, h1, h2, h3, depth, colour, compression, filter, interlace] = data else {
        return None;
    };
    let (width, height) = (u32::from_be_bytes([w0, w1, w2, w3]), u32::from_be_bytes([h0, h1, h2, h3]));
    if width == 0 || height == 0 || depth != 8 || (compression, filter, interlace) != (0, 0, 0) {
        return None;
    }
    let channels = match colour {
        0 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        _ => return None,
    };
    Some((width, height, channels))
}

/// The DEFLATE stream inside a zlib stream: a valid 2-byte header without
/// a preset dictionary, and the 4-byte Adler-32 after it, which is not
/// checked (every chunk's CRC was; the png crate skips it too).
fn deflate_body(zlib: &[u8]) -> Option<&[u8]> {
    let [cmf, flg, ..] = *zlib else { return None };
    let deflate = cmf & 0x0f == 8 && cmf >> 4 <= 7;
    let check_ok = (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
    let preset_dictionary = flg & 0x20 != 0;
    if !deflate || !check_ok || preset_dictionary {
        return None;
    }
    zlib.get(2..zlib.len().checked_sub(4)?)
}

/// Reverses the per-row filters of `raw` (rows of 1 filter byte + `stride`
/// bytes) in place, moving each row down over the filter bytes as soon as
/// it is done (while it is still in cache), so the first `stride` × rows
/// bytes end up as the image; `None` on an unknown filter type.
fn unfilter(raw: &mut [u8], stride: usize, bpp: usize) -> Option<()> {
    match bpp {
        1 => unfilter_rows::<1>(raw, stride),
        2 => unfilter_rows::<2>(raw, stride),
        3 => unfilter_rows::<3>(raw, stride),
        _ => unfilter_rows::<4>(raw, stride),
    }
}

fn unfilter_rows<const BPP: usize>(raw: &mut [u8], stride: usize) -> Option<()> {
    let zeros = vec![0u8; stride];
    let mut prev_start = None;
    for (y, start) in (0..raw.len()).step_by(stride + 1).enumerate() {
        let (before, row) = raw.split_at_mut(start);
        let (filter, cur) = row[..stride + 1].split_first_mut()?;
        let prev = prev_start.map_or(zeros.as_slice(), |p: usize| &before[p..p + stride]);
        match *filter {
            0 => {}
            1 => sub::<BPP>(cur),
            2 => up(cur, prev),
            3 => average::<BPP>(cur, prev),
            4 => paeth::<BPP>(cur, prev),
            _ => return None,
        }
        raw.copy_within(start + 1..start + 1 + stride, y * stride);
        prev_start = Some(y * stride);
    }
    Some(())
}

fn sub<const BPP: usize>(cur: &mut [u8]) {
    if BPP == 4 {
        return sub_rgba(cur);
    }
    for i in BPP..cur.len() {
        cur[i] = cur[i].wrapping_add(cur[i - BPP]);
    }
}

/// Sub for 4-byte pixels, a pixel at a time in a u32: one add chain per
/// pixel instead of a load-add-store chain per byte.
fn sub_rgba(cur: &mut [u8]) {
    const LOW7: u32 = 0x7f7f_7f7f;
    let mut left = 0u32;
    for px in cur.as_chunks_mut::<4>().0 {
        let x = u32::from_le_bytes(*px);
        // Bytewise wrapping add: add the low 7 bits, then xor in the top bits.
        left = ((x & LOW7) + (left & LOW7)) ^ ((x ^ left) & !LOW7);
        *px = left.to_le_bytes();
    }
}

/// Up, in fixed-size blocks the compiler turns into vector adds.
fn up(cur: &mut [u8], prev: &[u8]) {
    let (blocks, tail) = cur.as_chunks_mut::<32>();
    let (prev_blocks, prev_tail) = prev.as_chunks::<32>();
    for (c, u) in blocks.iter_mut().zip(prev_blocks) {
        for i in 0..32 {
            c[i] = c[i].wrapping_add(u[i]);
        }
    }
    for (c, &u) in tail.iter_mut().zip(prev_tail) {
        *c = c.wrapping_add(u);
    }
}

fn average<const BPP: usize>(cur: &mut [u8], prev: &[u8]) {
    for i in 0..BPP.min(cur.len()) {
        cur[i] = cur[i].wrapping_add(prev[i] / 2);
    }
    for i in BPP..cur.len() {
        let avg = ((u16::from(cur[i - BPP]) + u16::from(prev[i])) / 2) as u8;
        cur[i] = cur[i].wrapping_add(avg);
    }
}

fn paeth<const BPP: usize>(cur: &mut [u8], prev: &[u8]) {
    // Left and upper-left start at zero for the first pixel.
    let mut left = [0u8; BPP];
    let mut upper_left = [0u8; BPP];
    for (px, up) in cur.chunks_exact_mut(BPP).zip(prev.chunks_exact(BPP)) {
        for c in 0..BPP {
            let value = px[c].wrapping_add(predict(left[c], up[c], upper_left[c]));
            px[c] = value;
            left[c] = value;
            upper_left[c] = up[c];
        }
    }
}

/// The Paeth predictor: whichever neighbour is closest to left + up - upper-left.
fn predict(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (i16::from(a), i16::from(b), i16::from(c));
    let pa = (ib - ic).abs();
    let pb = (ia - ic).abs();
    let pc = (ia + ib - 2 * ic).abs();
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paeth_predictor_follows_the_spec() {
        assert_eq!(predict(10, 20, 10), 20); // p = 20: up is exact
        assert_eq!(predict(20, 10, 10), 20); // p = 20: left is exact
        assert_eq!(predict(10, 10, 20), 10); // p = 0: tie goes to left
        assert_eq!(predict(100, 50, 60), 100); // p = 90: pa 10, pb 40, pc 50
        assert_eq!(predict(0, 255, 255), 0);
    }

    #[test]
    fn every_filter_type_round_trips() {
        // 3 RGB pixels per row, one row per filter type, unfiltered by hand.
        let stride = 9;
        let image: Vec<u8> = (0..5 * stride).map(|i| (i * 53 % 256) as u8).collect();
        let mut raw = Vec::new();
        for (y, row) in image.chunks_exact(stride).enumerate() {
            let prev = if y == 0 { vec![0; stride] } else { image[(y - 1) * stride..y * stride].to_vec() };
            raw.push(y as u8);
            for i in 0..stride {
                let a = if i >= 3 { row[i - 3] } else { 0 };
                let c = if i >= 3 { prev[i - 3] } else { 0 };
                let predicted = match y {
                    0 => 0,
                    1 => a,
                    2 => prev[i],
                    3 => ((u16::from(a) + u16::from(prev[i])) / 2) as u8,
                    _ => predict(a, prev[i], c),
                };
                raw.push(row[i].wrapping_sub(predicted));
            }
        }
        unfilter(&mut raw, stride, 3).unwrap();
        assert_eq!(raw[..image.len()], image);
    }

    /// Every corpus PNG: where the fast path takes a file, the png crate
    /// accepts it too and gives the same pixels.
    #[test]
    fn agrees_with_the_png_crate_on_the_corpus() {
        use crate::decode::png::PngSource;
        use crate::limits::Limits;
        let (mut taken, mut total) = (0, 0);
        for (path, expected, bytes) in crate::test_corpus::files(".png") {
            total += 1;
            let Ok(source) = PngSource::open(&bytes, &Limits::default()) else { continue };
            let info = source.info();
            let Some(fast) = decode(&bytes, info.width, info.height) else { continue };
            taken += 1;
            let reference = source.decode_with_png_crate(&mut Vec::new());
            assert_eq!(reference.as_ref().ok(), Some(&fast), "{path} ({expected})");
        }
        println!("fast path took {taken} of {total} corpus PNGs");
        assert!(taken >= 50, "fast path took only {taken} of {total}");
    }

    #[test]
    fn sub_on_whole_pixels_adds_bytewise() {
        let mut row: Vec<u8> = (0..64u32).map(|i| (i * 97 % 256) as u8).collect();
        let mut expected = row.clone();
        for i in 4..expected.len() {
            expected[i] = expected[i].wrapping_add(expected[i - 4]);
        }
        sub::<4>(&mut row);
        assert_eq!(row, expected);
    }

    #[test]
    fn an_unknown_filter_type_is_refused() {
        let mut raw = vec![5, 1, 2, 3];
        assert!(unfilter(&mut raw, 3, 3).is_none());
    }
}
