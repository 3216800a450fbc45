//! The DC-only subset of a progressive JPEG, for decoding at 1/8 size.
//!
//! At 1/8 scale each 8×8 block becomes one pixel computed from its DC
//! coefficient alone, so the AC scans of a progressive JPEG (most of its
//! bytes and almost all of its decoding time: every scan is decoded in full
//! before any pixel is output) cannot change the luma result. This copies
//! the file with only its DC scans (Ss = 0) kept, which libjpeg-turbo then
//! decodes several times faster (`cargo bench --bench pipeline`, figures
//! in benches/README.md).
//! The price: finding no AC data at all, libjpeg-turbo smooths the DC
//! values across neighbouring blocks, a slight softening (tests/quality.rs
//! holds the thumbnail to 40 dB against a straight Lanczos3 of the full
//! decode).
//!
//! Only a well-formed stream is rewritten: anything unexpected (no EOI, a
//! segment running past the end) returns `None` and the caller decodes the
//! original bytes.

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

/// `bytes` with every progressive AC scan removed, or `None` when the
/// marker structure is not the well-formed one this expects.
pub(crate) fn dc_scans_only(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 8);
    out.extend_from_slice(&bytes[..2]);
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            0xFF => at += 1, // fill byte before a marker
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                return Some(out);
            }
            0xD0..=0xD8 | 0x01 => return None, // RSTn/SOI/TEM outside a scan
            SOS => {
                let header_end = at + 2 + segment_length(bytes, at)?;
                let components = usize::from(*bytes.get(at + 4)?);
                let spectral_start = *bytes.get(at + 5 + 2 * components)?;
                let data_end = entropy_end(bytes, header_end)?;
                if spectral_start == 0 {
                    out.extend_from_slice(&bytes[at..data_end]);
                }
                at = data_end;
            }
            _ => {
                let end = at + 2 + segment_length(bytes, at)?;
                out.extend_from_slice(bytes.get(at..end)?);
                at = end;
            }
        }
    }
}

/// The length field of the segment whose marker is at `at` (it counts
/// itself, so the segment is `2 + length` bytes from `at`).
fn segment_length(bytes: &[u8], at: usize) -> Option<usize> {
    let length = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
    (length >= 2 && at + 2 + length <= bytes.len()).then_some(length)
}

/// Where the entropy-coded data starting at `from` ends: the 0xFF of the
/// next marker that is not a stuffed zero (FF 00) or a restart (FF D0..D7).
fn entropy_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match *bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, a table segment, a DC scan, an AC scan, EOI.
    fn tiny() -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend([0xFF, 0xC4, 0x00, 0x04, 0xAA, 0xBB]); // a "DHT" with 2 bytes
        // SOS: 1 component, Ss=0: data with a stuffed FF 00 and a restart
        j.extend([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00]);
        j.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        // SOS: Ss=1 (AC)
        j.extend([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x00]);
        j.extend([0x77, 0x88, 0xFF, 0x00]);
        j.extend([0xFF, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn keeps_tables_and_dc_scans_drops_ac_scans() {
        let out = dc_scans_only(&tiny()).unwrap();
        let mut want = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x04, 0xAA, 0xBB];
        want.extend([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00]);
        want.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        want.extend([0xFF, 0xD9]);
        assert_eq!(out, want);
    }

    #[test]
    fn malformed_streams_are_left_alone() {
        let full = tiny();
        for cut in 0..full.len() - 1 {
            assert_eq!(dc_scans_only(&full[..cut]), None, "cut at {cut}");
        }
        let mut bad_length = full.clone();
        bad_length[5] = 0xFF; // DHT length past the end
        assert_eq!(dc_scans_only(&bad_length), None);
    }
}
