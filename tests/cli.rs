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
