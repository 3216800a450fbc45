//! The `thumbnail` binary: outputs, format choice, probe JSON, exit codes.

mod common;

use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_thumbnail")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("thumbnail-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn renders_with_format_from_extension_or_spec() {
    let src = common::corpus("photos/kodak/kodim01.png");
    let src = src.to_str().unwrap();
    let out = tmp("a.jpg");
    assert_eq!(cli(&[src, "-s", "200x200", "-o", &out]).0, 0);
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "jpg extension gives JPEG");
    let (w, h, _) = common::decode_rgb(&bytes);
    assert_eq!((w, h), (200, 133));
    let out = tmp("b.jpg");
    assert_eq!(cli(&[src, "-s", "100x100,png", "-o", &out]).0, 0);
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"), "spec format wins over extension");
}

#[test]
fn probe_prints_one_json_object() {
    let path = common::corpus("edge/exif-orientation/Landscape_6.jpg");
    let (code, stdout, _) = cli(&["--probe", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), r#"{"format":"jpeg","width":1200,"height":1800,"orientation":6}"#);
}

#[test]
fn exit_codes_and_error_lines() {
    let photo = common::corpus("edge/exif-orientation/Landscape_1.jpg");
    let photo = photo.to_str().unwrap();
    let (code, _, err) = cli(&[photo, "-s", "0x0", "-o", &tmp("c.jpg")]);
    assert_eq!((code, err.lines().count()), (2, 1));
    assert!(err.starts_with("invalid-spec: "), "{err}");
    let text = common::corpus("MANIFEST.tsv"); // not an image (GIF renders since issue 16)
    let (code, _, err) = cli(&[text.to_str().unwrap(), "-s", "10x10", "-o", &tmp("d.png")]);
    assert_eq!(code, 2);
    assert!(err.starts_with("unsupported: "), "{err}");
    let broken = common::corpus("corrupt/png/x_ihdr_missing.png");
    let (code, _, err) = cli(&[broken.to_str().unwrap(), "-s", "10x10", "-o", &tmp("e.png")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("corrupt: "), "{err}");
    let (code, _, err) = cli(&[photo, "-s", "10x10", "-o", &tmp("f.jpg"), "--max-pixels", "1000"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("too-large: "), "{err}");
    assert_eq!(cli(&["/nonexistent.jpg", "-s", "10x10", "-o", &tmp("g.jpg")]).0, 1);
    assert_eq!(cli(&[photo, "-s", "10x10", "-o", &tmp("h.gif")]).0, 1);
    assert_eq!(cli(&[]).0, 1);
    assert_eq!(cli(&[photo, "--bogus"]).0, 1);
}

/// A damaged source is served with a warning on stderr, and refused with
/// --strict (exit 2, `corrupt: ...`).
#[test]
fn strict_refuses_what_the_default_serves_with_a_warning() {
    let src = common::corpus("corrupt/truncated/peacock.default.truncated.jpeg");
    let src = src.to_str().unwrap();
    let out = tmp("damaged.jpg");
    let (code, _, stderr) = cli(&[src, "-s", "100x100", "-o", &out]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.starts_with("warning: JPEG: Premature end of JPEG file"), "{stderr}");
    let (code, _, stderr) = cli(&[src, "-s", "100x100", "-o", &out, "--strict"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("corrupt: "), "{stderr}");
}

// --- issue 18: the CLI in the conventions of vipsthumbnail ---------------

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thumbnail-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the CLI in `dir` with `stdin` as its standard input.
fn cli_in(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thumbnail"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn copy_corpus(dir: &Path, files: &[(&str, &str)]) {
    for (from, to) in files {
        std::fs::copy(common::corpus(from), dir.join(to)).unwrap();
    }
}

fn size_of(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h, _) = common::decode_rgb(&bytes);
    (w, h)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn help_and_version_go_to_stdout_with_exit_0() {
    let (code, out, err) = cli(&["--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("usage: thumbnail") && out.contains("-o, --output PATTERN") && err.is_empty(), "{out}");
    assert_eq!(cli(&["-h"]).1, out);
    let (code, out, _) = cli(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("thumbnail {} (libthumbnail ABI 1)\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(cli(&["-V"]).1, out);
    // a usage error: short usage on stderr, exit 1, nothing on stdout
    let (code, out, err) = cli(&["-s"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("-s needs a value") && err.contains("thumbnail --help"), "{err}");
    assert_eq!(cli(&["-j", "0", "x.jpg"]).0, 1);
}

#[test]
fn default_output_is_tn_name_beside_each_input_in_the_source_format() {
    let dir = scratch("default");
    std::fs::create_dir(dir.join("in")).unwrap();
    copy_corpus(&dir, &[("photos/rocket.jpg", "in/rocket.jpg"), ("photos/coffee.png", "in/coffee.png")]);
    let (code, _, err) = cli_in(&dir, &["in/rocket.jpg", "in/coffee.png"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&dir.join("in")), ["coffee.png", "rocket.jpg", "tn_coffee.png", "tn_rocket.jpg"]);
    // vipsthumbnail's default box: 128x128
    assert_eq!(size_of(&dir.join("in/tn_rocket.jpg")), (128, 85));
    assert!(std::fs::read(dir.join("in/tn_coffee.png")).unwrap().starts_with(b"\x89PNG"));
    assert!(err.starts_with("thumbnail: 2 of 2 written in "), "summary: {err}");
    // a directory input: its image files; a second run skips tn_* outputs
    let (code, _, err) = cli_in(&dir, &["-s", "50", "in"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&dir.join("in")).len(), 4, "no tn_tn_*: {:?}", names(&dir.join("in")));
    assert_eq!(size_of(&dir.join("in/tn_rocket.jpg")), (50, 33));
}

#[test]
fn pattern_with_percent_s_several_inputs_and_size_shorthands() {
    let dir = scratch("pattern");
    copy_corpus(&dir, &[("photos/rocket.jpg", "rocket.jpg"), ("photos/coffee.png", "coffee.png")]);
    // the issue's example: -s 200x -o 'out/%s_thumb.jpg' (out/ is made)
    let (code, _, err) = cli_in(&dir, &["-s", "200x", "-o", "out/%s_thumb.jpg", "rocket.jpg", "coffee.png"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&dir.join("out")), ["coffee_thumb.jpg", "rocket_thumb.jpg"]);
    assert_eq!(size_of(&dir.join("out/rocket_thumb.jpg")), (200, 133));
    assert!(std::fs::read(dir.join("out/coffee_thumb.jpg")).unwrap().starts_with(&[0xFF, 0xD8]), ".jpg: JPEG");
    // -s 100 is a 100x100 box, --size=VALUE and -sVALUE work, a spec keeps its options
    for (size, want) in [("100", (100, 67)), ("x40", (60, 40)), ("64,cover", (64, 64)), ("30x30,fill", (30, 30))] {
        let (code, _, err) = cli_in(&dir, &[&format!("--size={size}"), "-o", "s/%s.png", "rocket.jpg"], b"");
        assert_eq!(code, 0, "{size}: {err}");
        assert_eq!(size_of(&dir.join("s/rocket.png")), want, "{size}");
        assert!(err.is_empty(), "a single file prints nothing on success: {err}");
    }
    assert_eq!(cli_in(&dir, &["-s100", "-o", "%d/c/%s", "rocket.jpg"], b"").0, 0);
    assert_eq!(size_of(&dir.join("c/rocket.jpg")), (100, 67), "%d and the format's extension added");
    // %s%% and no temporary files left behind
    assert_eq!(cli_in(&dir, &["-o", "p/%s%%.jpg", "coffee.png"], b"").0, 0);
    assert_eq!(names(&dir.join("p")), ["coffee%.jpg"]);
}

#[test]
fn one_bad_file_never_stops_a_batch() {
    let dir = scratch("bad");
    copy_corpus(
        &dir,
        &[("photos/rocket.jpg", "a.jpg"), ("corrupt/png/x_ihdr_missing.png", "b.png"), ("photos/coffee.png", "c.png")],
    );
    // a text file named like an image: a GIF would render now
    std::fs::write(dir.join("d.gif"), b"not an image at all").unwrap();
    let (code, _, err) = cli_in(&dir, &["-s", "40", "-o", "out/%s.jpg", "-j", "2", "."], b"");
    assert_eq!(code, 2, "image errors only: exit 2\n{err}");
    assert_eq!(names(&dir.join("out")), ["a.jpg", "c.jpg"]);
    assert!(err.contains("./b.png: corrupt: "), "{err}");
    assert!(err.contains("./d.gif: unsupported: "), "{err}");
    let summary = err.lines().last().unwrap();
    assert!(summary.starts_with("thumbnail: 2 of 4 written, 2 failed, in "), "{summary}");
    assert!(!err.contains('\r'), "no progress bar when stderr is not a terminal");
    // a file that cannot be read: exit 1, the rest still written
    let (code, _, err) = cli_in(&dir, &["-o", "more/%s.jpg", "missing.jpg", "a.jpg"], b"");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read missing.jpg: "), "{err}");
    assert_eq!(names(&dir.join("more")), ["a.jpg"]);
    // -q keeps the failure lines and, as something failed, the summary
    let (code, _, err) = cli_in(&dir, &["-q", "-o", "q/%s.jpg", "a.jpg", "b.png"], b"");
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 2, "{err}");
    let (code, _, err) = cli_in(&dir, &["-q", "-o", "q2/%s.jpg", "a.jpg", "c.png"], b"");
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn parallel_jobs_give_the_same_bytes() {
    let dir = scratch("jobs");
    let mut inputs = Vec::new();
    for i in 0..6 {
        let name = format!("p{i}.png");
        copy_corpus(&dir, &[(if i % 2 == 0 { "photos/coffee.png" } else { "photos/rocket.jpg" }, &name)]);
        inputs.push(name);
    }
    let run = |jobs: &str, out: &str| {
        let mut args = vec!["-s", "64", "-j", jobs, "-o"];
        let pattern = format!("{out}/%s.jpg");
        args.push(&pattern);
        args.extend(inputs.iter().map(String::as_str));
        let (code, _, err) = cli_in(&dir, &args, b"");
        assert_eq!(code, 0, "{err}");
        assert!(err.contains(&format!("({jobs} job")), "{err}");
        names(&dir.join(out)).into_iter().map(|n| std::fs::read(dir.join(out).join(n)).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run("1", "one"), run("4", "four"));
}

#[test]
fn stdin_and_stdout() {
    let dir = scratch("stdio");
    let png = common::read_corpus("photos/coffee.png");
    // - in, standard output by default, in the source's format
    let (code, out, err) = cli_in(&dir, &["-", "-s", "20"], &png);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(b"\x89PNG"), "stdout keeps the source's format");
    // -o - from a file; the spec's format wins
    let src = common::corpus("photos/rocket.jpg");
    let (code, out, _) = cli_in(&dir, &[src.to_str().unwrap(), "-s", "20,png", "-o", "-"], b"");
    assert_eq!(code, 0);
    assert!(out.starts_with(b"\x89PNG"));
    // - in, a file out: %s is "stdin"
    assert_eq!(cli_in(&dir, &["-", "-o", "%s.jpg"], &png).0, 0);
    assert_eq!(size_of(&dir.join("stdin.jpg")), (128, 85));
    // standard output takes one input; stdin is read once
    assert_eq!(cli_in(&dir, &["-o", "-", "a.jpg", "b.jpg"], b"").0, 1);
    assert_eq!(cli_in(&dir, &["-", "-"], b"").0, 1);
    // bad bytes on stdin
    let (code, _, err) = cli_in(&dir, &["-", "-s", "20"], b"not an image");
    assert_eq!(code, 2);
    assert!(err.starts_with("unsupported: "), "{err}");
}

#[test]
fn outputs_never_overwrite_inputs_or_each_other() {
    let dir = scratch("clobber");
    copy_corpus(&dir, &[("photos/rocket.jpg", "a.jpg")]);
    std::fs::create_dir(dir.join("b")).unwrap();
    copy_corpus(&dir, &[("photos/rocket.jpg", "b/a.jpg")]);
    let before = std::fs::read(dir.join("a.jpg")).unwrap();
    let (code, _, err) = cli_in(&dir, &["-o", "%s.jpg", "a.jpg"], b"");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refusing to overwrite a.jpg"), "{err}");
    assert_eq!(std::fs::read(dir.join("a.jpg")).unwrap(), before);
    // two inputs, one output name: the second is refused, not overwritten
    let (code, _, err) = cli_in(&dir, &["-j", "1", "-o", "out/%s.jpg", "a.jpg", "b/a.jpg"], b"");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("out/a.jpg is already the thumbnail of a.jpg"), "{err}");
    assert_eq!(names(&dir.join("out")), ["a.jpg"], "no temporary files left");
}

#[test]
fn probe_of_several_inputs_names_each_file() {
    let a = common::corpus("photos/coffee.png");
    let b = common::corpus("edge/gif/2x2.gif");
    let text = scratch("probe").join("notes.txt");
    std::fs::write(&text, b"not an image at all").unwrap();
    let (code, out, err) = cli(&["--probe", a.to_str().unwrap(), b.to_str().unwrap(), text.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with(&format!("{{\"file\":\"{}\",\"format\":\"png\"", a.display())), "{out}");
    assert!(out.contains("\"format\":\"gif\",\"width\":2,\"height\":2"), "{out}");
    assert!(err.contains("notes.txt: unsupported: "), "{err}");
}

/// The progress bar shows on a terminal only: `script` gives the CLI a
/// pseudo-terminal (util-linux, in every Debian).
#[test]
fn progress_bar_on_a_terminal_only() {
    let dir = scratch("tty");
    copy_corpus(&dir, &[("photos/rocket.jpg", "a.jpg"), ("photos/coffee.png", "b.png")]);
    let cmd = format!("{} -s 32 -o 'o/%s.jpg' a.jpg b.png", env!("CARGO_BIN_EXE_thumbnail"));
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains("\r\x1b[2K[") && tty.contains("2/2"), "a bar on a terminal: {tty:?}");
    assert!(tty.contains("thumbnail: 2 of 2 written in"), "{tty:?}");
    // the same with -q: nothing at all
    let out = Command::new("script")
        .args(["-qec", &format!("{cmd} -q"), "/dev/null"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn accept_resolves_auto_and_names_the_output() {
    let dir = scratch("accept");
    copy_corpus(&dir, &[("photos/rocket.jpg", "a.jpg"), ("photos/coffee.png", "c.png")]);
    // WebP accepted: the default name takes the negotiated format's extension
    let (code, _, err) = cli_in(&dir, &["-s", "40,auto", "--accept", "image/webp,*/*", "a.jpg"], b"");
    assert_eq!(code, 0, "{err}");
    let webp = std::fs::read(dir.join("tn_a.webp")).unwrap();
    assert_eq!((&webp[..4], &webp[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
    // neither WebP nor AVIF: the source's format
    let (code, _, err) = cli_in(&dir, &["-s", "40,auto", "--accept", "*/*", "c.png"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(size_of(&dir.join("tn_c.png")).0, 40);
    // an explicit extension does not override auto
    let (code, _, err) = cli_in(&dir, &["-s", "40,auto", "--accept", "image/webp", "-o", "x/%s.jpg", "c.png"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&dir.join("x")), ["c.jpg"]);
    assert_eq!(&std::fs::read(dir.join("x/c.jpg")).unwrap()[8..12], b"WEBP");
}
