//! Accept negotiation for the spec's `auto` format: the client's `Accept`
//! header reduced to one [`Bucket`], which is all that goes into a cache key
//! (never the raw header, which has thousands of spellings).
//!
//! The parser is q-aware (RFC 9110 §12.5.1): `image/webp;q=0` means "not
//! WebP", a media range listed twice counts with its lowest q, and the
//! wildcards `*/*` and `image/*` imply neither WebP nor AVIF (browsers that
//! decode them list them by name; old clients send `*/*` and do not).
//! Anything unparseable counts as not accepted: a wrong guess costs a
//! broken image, a missed one only bytes.

/// What a client accepts, reduced to the choice the render makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// AVIF (only where the caller enabled it); WebP where AVIF is not
    /// suitable (animation, an output over `Limits::avif_max_pixels`).
    Avif,
    /// WebP.
    Webp,
    /// Neither: the source's own format, or JPEG/PNG for a source no client
    /// may be assumed to read as is (WebP, GIF).
    Source,
}

impl Bucket {
    /// `avif`, `webp`, `source`: for logs and cache keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Bucket::Avif => "avif",
            Bucket::Webp => "webp",
            Bucket::Source => "source",
        }
    }
}

/// Longest `Accept` value looked at; the rest is ignored (browsers send
/// under 200 bytes).
pub const MAX_ACCEPT_LEN: usize = 4096;

/// Reduces an `Accept` header to a bucket. `avif` says whether AVIF may be
/// chosen at all (the operator's switch, and the library built with the
/// `avif` feature: without it, AVIF is never chosen).
pub fn negotiate(accept: &str, avif: bool) -> Bucket {
    let avif = avif && cfg!(feature = "avif");
    let q_avif = if avif { quality(accept, "image/avif") } else { 0 };
    let q_webp = quality(accept, "image/webp");
    if q_avif > 0 && q_avif >= q_webp {
        Bucket::Avif
    } else if q_webp > 0 {
        Bucket::Webp
    } else {
        Bucket::Source
    }
}

/// The q-value (0..=1000, thousandths) that `accept` gives to exactly
/// `media_type` (lowercase `type/subtype`): 0 when not listed by name.
pub fn quality(accept: &str, media_type: &str) -> u16 {
    let accept = truncate(accept, MAX_ACCEPT_LEN);
    let mut found: Option<u16> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case(media_type) {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else { continue };
            if key.trim().eq_ignore_ascii_case("q") {
                q = parse_qvalue(value.trim());
                break;
            }
        }
        let q = q.unwrap_or(0);
        found = Some(found.map_or(q, |f| f.min(q)));
    }
    found.unwrap_or(0)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths; `None` for anything else.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table: header, bucket with AVIF enabled, bucket without.
    #[test]
    fn accept_table() {
        let webp_or_avif = if cfg!(feature = "avif") { Bucket::Avif } else { Bucket::Webp };
        let avif_or_source = if cfg!(feature = "avif") { Bucket::Avif } else { Bucket::Source };
        let rows: &[(&str, Bucket, Bucket)] = &[
            // Browsers as they send it for <img>.
            ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", webp_or_avif, Bucket::Webp),
            ("image/webp,*/*", Bucket::Webp, Bucket::Webp),
            ("image/avif,image/webp,*/*", webp_or_avif, Bucket::Webp),
            ("image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", Bucket::Source, Bucket::Source),
            // Wildcards imply nothing.
            ("*/*", Bucket::Source, Bucket::Source),
            ("image/*", Bucket::Source, Bucket::Source),
            ("image/*;q=1, */*", Bucket::Source, Bucket::Source),
            ("", Bucket::Source, Bucket::Source),
            // q-values.
            ("image/webp;q=0", Bucket::Source, Bucket::Source),
            ("image/webp;q=0.0", Bucket::Source, Bucket::Source),
            ("image/webp;q=0.000", Bucket::Source, Bucket::Source),
            ("image/webp;q=0.001", Bucket::Webp, Bucket::Webp),
            ("image/webp;q=1.000", Bucket::Webp, Bucket::Webp),
            ("image/avif;q=0,image/webp", Bucket::Webp, Bucket::Webp),
            ("image/avif;q=0.5,image/webp;q=0.9", Bucket::Webp, Bucket::Webp),
            ("image/avif;q=0.9,image/webp;q=0.5", webp_or_avif, Bucket::Webp),
            ("image/avif", avif_or_source, Bucket::Source),
            // Listed twice: the lower q counts.
            ("image/webp, image/webp;q=0", Bucket::Source, Bucket::Source),
            // Case and whitespace.
            ("IMAGE/WEBP", Bucket::Webp, Bucket::Webp),
            ("Image/WebP ; Q=0.5", Bucket::Webp, Bucket::Webp),
            ("  image/webp  ;  q=1  ,  */*  ", Bucket::Webp, Bucket::Webp),
            ("\timage/webp\t", Bucket::Webp, Bucket::Webp),
            // Other parameters before q.
            ("image/webp;level=1;q=0", Bucket::Source, Bucket::Source),
            ("image/webp;level=1", Bucket::Webp, Bucket::Webp),
            // Garbage: invalid q-values count as not accepted.
            ("image/webp;q=", Bucket::Source, Bucket::Source),
            ("image/webp;q=abc", Bucket::Source, Bucket::Source),
            ("image/webp;q=1.5", Bucket::Source, Bucket::Source),
            ("image/webp;q=2", Bucket::Source, Bucket::Source),
            ("image/webp;q=-1", Bucket::Source, Bucket::Source),
            ("image/webp;q=0.1234", Bucket::Source, Bucket::Source),
            ("image/webpx", Bucket::Source, Bucket::Source),
            ("image/web", Bucket::Source, Bucket::Source),
            ("xxximage/webp", Bucket::Source, Bucket::Source),
            ("image/webp,,,;;;", Bucket::Webp, Bucket::Webp),
            (",,,;;;=", Bucket::Source, Bucket::Source),
            ("image/webp\u{0}", Bucket::Source, Bucket::Source),
            ("ïmage/wébp, image/webp", Bucket::Webp, Bucket::Webp),
        ];
        for (accept, with_avif, without) in rows {
            assert_eq!(negotiate(accept, true), *with_avif, "{accept:?} with AVIF enabled");
            assert_eq!(negotiate(accept, false), *without, "{accept:?} with AVIF disabled");
        }
    }

    #[test]
    fn long_headers_are_cut_not_scanned_whole() {
        let mut long = "x/y,".repeat(MAX_ACCEPT_LEN);
        long.push_str("image/webp");
        assert_eq!(negotiate(&long, true), Bucket::Source);
        let mut early = String::from("image/webp,");
        early.push_str(&"é".repeat(MAX_ACCEPT_LEN)); // cut inside a character
        assert_eq!(negotiate(&early, false), Bucket::Webp);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.0"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue(".5"), None);
        assert_eq!(parse_qvalue("0."), Some(0));
    }
}
