//! Drives ../shared/corpus/MANIFEST.tsv: every file does what its `expected`
//! column says, and nothing panics or hangs.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{Entry, manifest, read_corpus};
use thumbnail::{ErrorKind, Limits, Spec, Thumbnail};

const BOX: u32 = 64;

/// A hang guard, not a speed target: the slowest corpus file takes ~1 s.
const PER_FILE_TIMEOUT: Duration = Duration::from_secs(30);

fn render_with_timeout(path: &str) -> thumbnail::Result<Thumbnail> {
    let bytes = read_corpus(path);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let spec = Spec::parse(&format!("{BOX}x{BOX}")).unwrap();
        let _ = tx.send(thumbnail::render(&bytes, &spec, &Limits::default()));
    });
    rx.recv_timeout(PER_FILE_TIMEOUT).unwrap_or_else(|_| panic!("{path}: no result within {PER_FILE_TIMEOUT:?}"))
}

/// The inside-fit size of a displayed `w` × `h` image in a BOX×BOX box, never enlarged.
fn expected_size(w: u32, h: u32) -> (u32, u32) {
    if w <= BOX && h <= BOX {
        return (w, h);
    }
    if w >= h {
        (BOX, ((f64::from(h) * f64::from(BOX) / f64::from(w)).round() as u32).max(1))
    } else {
        (((f64::from(w) * f64::from(BOX) / f64::from(h)).round() as u32).max(1), BOX)
    }
}

fn check_decode_ok(e: &Entry, thumb: &Thumbnail) -> Result<(), String> {
    let (w, h) = (e.width.ok_or("no width")?, e.height.ok_or("no height")?);
    let (w, h) = if e.orientation() >= 5 { (h, w) } else { (w, h) };
    let want = expected_size(w, h);
    if (thumb.width(), thumb.height()) != want {
        return Err(format!("got {}x{}, want {}x{}", thumb.width(), thumb.height(), want.0, want.1));
    }
    // The output must itself be a valid image of the size we claim.
    let info = thumbnail::probe(thumb.data()).map_err(|e| format!("output does not probe: {e}"))?;
    if (info.width, info.height) != want {
        return Err(format!("output header says {}x{}", info.width, info.height));
    }
    let (dw, dh, _) = common::decode_rgb(thumb.data());
    if (dw, dh) != want {
        return Err(format!("output decodes as {dw}x{dh}"));
    }
    Ok(())
}

#[test]
fn corpus_manifest() {
    let entries = manifest();
    assert!(entries.len() > 500, "manifest has {} rows", entries.len());
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for e in &entries {
        let result = render_with_timeout(&e.path);
        let tally = counts.entry(e.expected.clone()).or_default();
        let verdict: Result<(), String> = match (e.expected.as_str(), &result) {
            (_, Err(err)) if err.kind() == ErrorKind::Internal => Err(format!("internal error: {err}")),
            ("decode-ok", Ok(t)) => check_decode_ok(e, t),
            ("decode-ok", Err(err)) => Err(format!("should decode: {err}")),
            ("decode-ok-or-unsupported", Ok(t)) => check_decode_ok(e, t),
            ("decode-ok-or-unsupported", Err(err)) if err.kind() == ErrorKind::Unsupported => Ok(()),
            ("decode-ok-or-unsupported", Err(err)) => Err(format!("want ok or unsupported: {err}")),
            ("decode-error", Ok(_)) => Err("should fail".into()),
            ("decode-error", Err(err)) => {
                if matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::Unsupported | ErrorKind::TooLarge) {
                    Ok(())
                } else {
                    Err(format!("wrong kind: {err}"))
                }
            }
            ("reject-or-bounded", Ok(t)) => {
                (t.width() <= BOX && t.height() <= BOX).then_some(()).ok_or("oversized output".into())
            }
            ("reject-or-bounded", Err(err)) => matches!(err.kind(), ErrorKind::TooLarge | ErrorKind::Unsupported)
                .then_some(())
                .ok_or(format!("want too-large: {err}")),
            // decode-ok-or-error, error-or-partial, no-crash: any clean result.
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => tally.0 += 1,
            Err(why) => {
                tally.1 += 1;
                failures.push(format!("{} [{}]: {why}", e.path, e.expected));
            }
        }
    }
    for (expected, (ok, bad)) in &counts {
        println!("{expected:>26}: {ok} as expected, {bad} not");
    }
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}

/// probe() flags progressive JPEGs (servers cap them) and only those.
#[test]
fn probe_flags_progressive_jpegs() {
    let text = std::fs::read_to_string(common::corpus("MANIFEST.tsv")).unwrap();
    let (mut progressive, mut baseline) = (0, 0);
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, kind) = (cols[0], cols[1]);
        let expect = match kind {
            "jpeg/progressive" | "jpeg/non-interleaved-progressive" => true,
            "jpeg/baseline" | "jpeg/grayscale" | "jpeg/chroma-subsampling" => false,
            _ => continue,
        };
        let info = thumbnail::probe(&read_corpus(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(info.progressive, expect, "{path} ({kind})");
        if expect { progressive += 1 } else { baseline += 1 }
    }
    assert!(progressive >= 2 && baseline >= 10, "{progressive} progressive, {baseline} baseline");
}
