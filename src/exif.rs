//! Just enough EXIF (TIFF) parsing to find the orientation tag in IFD0.
//! Every read is bounds-checked: EXIF blocks come from untrusted files.

const ORIENTATION_TAG: u16 = 0x0112;
const SHORT: u16 = 3;

/// Returns the EXIF orientation (1..=8) from a TIFF-structured block, or 1
/// when it is missing, unreadable or out of range.
pub(crate) fn orientation(tiff: &[u8]) -> u8 {
    read_orientation(tiff).filter(|o| (1..=8).contains(o)).unwrap_or(1)
}

fn read_orientation(tiff: &[u8]) -> Option<u8> {
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    let big_endian = match tiff.get(0..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    for i in 0..count {
        let entry = ifd.checked_add(2 + i * 12)?;
        if u16_at(entry)? == ORIENTATION_TAG {
            if u16_at(entry + 2)? != SHORT {
                return None;
            }
            return u8::try_from(u16_at(entry + 8)?).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::orientation;

    fn block(big_endian: bool, value: u16) -> Vec<u8> {
        let mut t = Vec::new();
        type Writers = (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]);
        let (w16, w32): Writers =
            if big_endian { (u16::to_be_bytes, u32::to_be_bytes) } else { (u16::to_le_bytes, u32::to_le_bytes) };
        t.extend_from_slice(if big_endian { b"MM\0*" } else { b"II*\0" });
        t.extend_from_slice(&w32(8));
        t.extend_from_slice(&w16(1));
        t.extend_from_slice(&w16(0x0112));
        t.extend_from_slice(&w16(3));
        t.extend_from_slice(&w32(1));
        t.extend_from_slice(&w16(value));
        t.extend_from_slice(&[0, 0]);
        t
    }

    #[test]
    fn reads_both_byte_orders() {
        for o in 1..=8 {
            assert_eq!(orientation(&block(true, o)), o as u8);
            assert_eq!(orientation(&block(false, o)), o as u8);
        }
    }

    #[test]
    fn out_of_range_and_garbage_count_as_one() {
        assert_eq!(orientation(&block(true, 0)), 1);
        assert_eq!(orientation(&block(true, 9)), 1);
        assert_eq!(orientation(&block(true, 300)), 1);
        assert_eq!(orientation(b""), 1);
        assert_eq!(orientation(b"MM\0*\xff\xff\xff\xff"), 1);
        let mut cut = block(false, 6);
        cut.truncate(15);
        assert_eq!(orientation(&cut), 1);
    }
}
