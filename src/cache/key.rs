//! Stored keys: short ones inline, so that a lookup's key comparison reads
//! no memory beyond the slab slot it already reads.

/// Bytes of key stored inline; chosen so that a slab slot ([`Hot`]) is two
/// cache lines (checked in `mod.rs`).
///
/// [`Hot`]: super::s3fifo::Hot
pub(crate) const INLINE_KEY: usize = 77;

/// A key as the cache stores it: inline if at most [`INLINE_KEY`] bytes,
/// else on the heap.
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<str>),
}

impl Key {
    pub(crate) fn new(key: &str) -> Key {
        let src = key.as_bytes();
        let mut bytes = [0; INLINE_KEY];
        match (bytes.get_mut(..src.len()), u8::try_from(src.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(src);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(key.into()),
        }
    }

    /// The key's bytes (its UTF-8).
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Key::Heap(s) => s.as_bytes(),
        }
    }

    /// Whether this is `key`.
    #[inline]
    pub(crate) fn is(&self, key: &str) -> bool {
        self.as_bytes() == key.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_inline_long_ones_on_the_heap() {
        let fits = "k".repeat(INLINE_KEY);
        let long = "k".repeat(INLINE_KEY + 1);
        // Multi-byte UTF-8 that straddles the inline limit.
        let wide = "é".repeat(INLINE_KEY / 2 + 1);
        for (key, inline) in [("", true), ("a|w=1", true), (&*fits, true), (&*long, false), (&*wide, false)] {
            let k = Key::new(key);
            assert_eq!(matches!(k, Key::Inline { .. }), inline, "{} bytes", key.len());
            assert_eq!(k.as_bytes(), key.as_bytes());
            assert!(k.is(key));
            assert!(!k.is(&format!("{key}x")));
            let mut shorter = key.chars();
            if shorter.next_back().is_some() {
                assert!(!k.is(shorter.as_str()));
            }
        }
    }
}
