//! Reference decoders run as the user would run them: libjpeg-turbo's
//! `djpeg`, ImageMagick's `convert` (as `/usr/bin/convert`, never a
//! stand-in earlier on PATH), libwebp's `dwebp` and Pillow (one Python
//! process for a whole run, fed paths on stdin). `make fidelity-deps`
//! installs them (Debian packages, and Pillow in target/fidelity-venv).
//!
//! Each returns the full-size first frame as 8-bit RGBA; [`over_grey`] and
//! [`resize_rgb`] bring it to a thumbnail's size for comparison.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// An 8-bit RGBA image.
#[derive(Clone, Debug)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

pub const CONVERT: &str = "/usr/bin/convert";

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with Pillow: $THUMBNAIL_PYTHON, else target/fidelity-venv.
pub fn python() -> PathBuf {
    std::env::var_os("THUMBNAIL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| project().join("target/fidelity-venv/bin/python"))
}

/// Fails with the command that installs the references when one is missing.
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = match *tool {
            "pillow" => Command::new(python()).args(["-c", "import PIL"]).output().is_ok_and(|o| o.status.success()),
            "convert" => Path::new(CONVERT).exists(),
            other => Command::new("sh")
                .args(["-c", &format!("command -v {other}")])
                .output()
                .is_ok_and(|o| o.status.success()),
        };
        assert!(found, "reference decoder {tool} is missing: run `make fidelity-deps`");
    }
}

/// Parses a binary PNM (P5/P6) or PAM (P7) image into RGBA.
pub fn parse_pnm(bytes: &[u8]) -> Option<Rgba> {
    let mut tokens = Vec::new();
    let mut at = 0;
    let magic = bytes.get(..2)?;
    if magic == b"P7" {
        let text_end = bytes.windows(7).position(|w| w == b"ENDHDR\n")? + 7;
        let header = std::str::from_utf8(&bytes[..text_end]).ok()?;
        let field = |name: &str| header.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()));
        let width: u32 = field("WIDTH ")?.parse().ok()?;
        let height: u32 = field("HEIGHT ")?.parse().ok()?;
        let depth: usize = field("DEPTH ")?.parse().ok()?;
        let maxval: u32 = field("MAXVAL ")?.parse().ok()?;
        return to_rgba(&bytes[text_end..], width, height, depth, maxval);
    }
    // P5/P6: magic, width, height, maxval, one whitespace byte.
    at += 2;
    while tokens.len() < 3 {
        while bytes.get(at)?.is_ascii_whitespace() {
            at += 1;
        }
        if bytes[at] == b'#' {
            at += bytes[at..].iter().position(|&b| b == b'\n')?;
            continue;
        }
        let start = at;
        while !bytes.get(at)?.is_ascii_whitespace() {
            at += 1;
        }
        tokens.push(std::str::from_utf8(&bytes[start..at]).ok()?.parse::<u32>().ok()?);
    }
    at += 1;
    let depth = if magic == b"P5" { 1 } else { 3 };
    to_rgba(&bytes[at..], tokens[0], tokens[1], depth, tokens[2])
}

fn to_rgba(raster: &[u8], width: u32, height: u32, depth: usize, maxval: u32) -> Option<Rgba> {
    let wide = maxval > 255;
    let n = width as usize * height as usize * depth;
    let sample = |i: usize| -> u8 {
        if wide {
            let v = u32::from(u16::from_be_bytes([raster[2 * i], raster[2 * i + 1]]));
            ((v * 255 + maxval / 2) / maxval) as u8
        } else {
            let v = u32::from(raster[i]);
            if maxval == 255 { v as u8 } else { ((v * 255 + maxval / 2) / maxval) as u8 }
        }
    };
    if raster.len() < n * if wide { 2 } else { 1 } {
        return None;
    }
    let mut data = Vec::with_capacity(width as usize * height as usize * 4);
    for p in 0..width as usize * height as usize {
        let s = |c: usize| sample(p * depth + c);
        match depth {
            1 => data.extend([s(0), s(0), s(0), 255]),
            2 => data.extend([s(0), s(0), s(0), s(1)]),
            3 => data.extend([s(0), s(1), s(2), 255]),
            4 => data.extend([s(0), s(1), s(2), s(3)]),
            _ => return None,
        }
    }
    Some(Rgba { width, height, data })
}

fn run(cmd: &mut Command) -> Option<Vec<u8>> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

/// djpeg exits with 2 when libjpeg warned ("corrupt data"), having written
/// the whole image.
fn run_djpeg(cmd: &mut Command) -> Option<Vec<u8>> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    (matches!(out.status.code(), Some(0 | 2)) && !out.stdout.is_empty()).then_some(out.stdout)
}

/// `djpeg` (Debian's libjpeg-turbo-progs), optionally scaled to `m`/8 as
/// our shrink-on-load decodes.
pub fn djpeg(path: &Path, eighths: Option<u32>) -> Option<Rgba> {
    let mut cmd = Command::new("djpeg");
    if let Some(m) = eighths {
        cmd.args(["-scale", &format!("{m}/8")]);
    }
    parse_pnm(&run_djpeg(cmd.arg("-pnm").arg(path))?)
}

/// ImageMagick's first frame, as stored (no -auto-orient), 8-bit.
pub fn imagemagick(path: &Path) -> Option<Rgba> {
    let spec = format!("{}[0]", path.display());
    parse_pnm(&run(Command::new(CONVERT).args([spec.as_str(), "-depth", "8", "pam:-"]))?)
}

/// ImageMagick converting to sRGB through the file's embedded profile
/// (relative colorimetric), which is what we must match.
pub fn imagemagick_to_srgb(path: &Path, srgb_icc: &Path) -> Option<Rgba> {
    let spec = format!("{}[0]", path.display());
    let srgb = srgb_icc.to_str()?;
    parse_pnm(&run(Command::new(CONVERT).args([
        spec.as_str(),
        "-intent",
        "relative",
        "-profile",
        srgb,
        "-depth",
        "8",
        "pam:-",
    ]))?)
}

/// dwebp's decode (first frame of a still image).
pub fn dwebp(path: &Path) -> Option<Rgba> {
    parse_pnm(&run(Command::new("dwebp").arg(path).args(["-pam", "-o", "-"]))?)
}

const PILLOW_SCRIPT: &str = r#"
import sys
from PIL import Image, ImageFile
out = sys.stdout.buffer
for line in sys.stdin:
    path = line.rstrip("\n")
    try:
        im = Image.open(path)
        im.seek(0)
        im = im.convert("RGBA")
        head = b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n" % im.size
        body = im.tobytes()
    except Exception:
        head, body = b"P7\nWIDTH 0\nHEIGHT 0\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n", b""
    out.write(head)
    out.write(body)
    out.flush()
"#;

/// One Python process decoding with Pillow (`Image.open(...).convert("RGBA")`,
/// first frame), for as many files as asked.
pub struct Pillow {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Pillow {
    pub fn start() -> Pillow {
        let mut child = Command::new(python())
            .args(["-c", PILLOW_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python with Pillow (make fidelity-deps)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Pillow { child, stdin, stdout }
    }

    pub fn decode(&mut self, path: &Path) -> Option<Rgba> {
        writeln!(self.stdin, "{}", path.display()).ok()?;
        self.stdin.flush().ok()?;
        let mut header = Vec::new();
        loop {
            let n = self.stdout.read_until(b'\n', &mut header).ok()?;
            if n == 0 {
                return None;
            }
            if header.ends_with(b"ENDHDR\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&header);
        let field = |name: &str| -> usize {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
        };
        let (w, h) = (field("WIDTH "), field("HEIGHT "));
        let mut body = vec![0u8; w * h * 4];
        self.stdout.read_exact(&mut body).ok()?;
        (w > 0 && h > 0).then_some(Rgba { width: w as u32, height: h as u32, data: body })
    }
}

impl Drop for Pillow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RGBA composited over mid grey (128), as RGB.
pub fn over_grey(img: &Rgba) -> Vec<u8> {
    img.data
        .chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            [0, 1, 2].map(|c| ((u32::from(p[c]) * a + 128 * (255 - a) + 127) / 255) as u8)
        })
        .collect()
}

/// RGB resized to `w` × `h` with Lanczos3 (unchanged when already that size).
pub fn resize_rgb(rgb: &[u8], sw: u32, sh: u32, w: u32, h: u32) -> Vec<u8> {
    if (sw, sh) == (w, h) {
        return rgb.to_vec();
    }
    let src = ImageRef::new(sw, sh, rgb, PixelType::U8x3).unwrap();
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&src, &mut dst, &opts).unwrap();
    dst.into_vec()
}

/// Mean absolute difference of two equal-length sample buffers.
pub fn mad(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| f64::from(x.abs_diff(y))).sum::<f64>() / a.len().max(1) as f64
}

/// Decodes our PNG (or JPEG) output to RGBA.
pub fn decode_ours(bytes: &[u8]) -> Rgba {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let (width, height, rgb) = super::decode_rgb(bytes);
        let data = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        return Rgba { width, height, data };
    }
    let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut r = d.read_info().expect("output PNG header");
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).expect("output PNG decodes");
    let ch = info.color_type.samples();
    let data = buf[..info.buffer_size()]
        .chunks_exact(ch)
        .flat_map(|p| match ch {
            1 => [p[0], p[0], p[0], 255],
            2 => [p[0], p[0], p[0], p[1]],
            3 => [p[0], p[1], p[2], 255],
            _ => [p[0], p[1], p[2], p[3]],
        })
        .collect();
    Rgba { width: info.width, height: info.height, data }
}

/// A reference, composited over grey and brought to `w` × `h`.
pub fn at_size(img: &Rgba, w: u32, h: u32) -> Vec<u8> {
    resize_rgb(&over_grey(img), img.width, img.height, w, h)
}
