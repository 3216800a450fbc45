//! Output names and formats: the `-o` pattern (`%s`, `%d`, `%%`), the
//! default `tn_%s.EXT` beside each input, and which format a thumbnail gets.

use std::path::{Path, PathBuf};

use thumbnail::{Format, Spec};

/// Where thumbnails go.
pub enum Output {
    /// Standard output.
    Stdout,
    /// A path pattern; the default is `%d/tn_%s` (beside each input).
    Pattern { pattern: String },
}

impl Output {
    pub fn new(pattern: Option<&str>, stdin_only: bool) -> Output {
        match pattern {
            Some("-") => Output::Stdout,
            Some(p) => Output::Pattern { pattern: p.to_owned() },
            None if stdin_only => Output::Stdout,
            None => Output::Pattern { pattern: "%d/tn_%s".to_owned() },
        }
    }

    /// The format the pattern's extension names: `Ok(None)` when it has no
    /// extension (the format's own is added), an error when the extension
    /// names no format this library writes.
    pub fn format(&self) -> Result<Option<Format>, String> {
        let Output::Pattern { pattern, .. } = self else { return Ok(None) };
        let name = pattern.rsplit('/').next().unwrap_or(pattern);
        let Some((_, ext)) = name.rsplit_once('.') else { return Ok(None) };
        if ext.is_empty() || ext.contains('%') {
            return Ok(None);
        }
        format_of_extension(ext).map(Some).ok_or_else(|| {
            format!(
                "cannot tell the output format from '{pattern}': use .jpg, .jpeg, .png, .webp or .avif, or name the format in -s \
                 (e.g. -s 200,png)"
            )
        })
    }

    /// The output path for `input` (a path, or `-` for stdin) whose
    /// thumbnail is in `format`.
    pub fn path_for(&self, input: &str, format: Format) -> Option<PathBuf> {
        let Output::Pattern { pattern, .. } = self else { return None };
        let (dir, stem) = if input == "-" {
            (".".to_owned(), "stdin".to_owned())
        } else {
            let path = Path::new(input);
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_string_lossy().into_owned(),
                _ => ".".to_owned(),
            };
            let stem = path.file_stem().map_or_else(|| input.to_owned(), |s| s.to_string_lossy().into_owned());
            (dir, stem)
        };
        let mut out = String::with_capacity(pattern.len() + stem.len() + dir.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('s') => out.push_str(&stem),
                Some('d') => out.push_str(&dir),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        if self.format().ok().flatten().is_none() {
            out.push('.');
            out.push_str(extension(format));
        }
        // "./tn_x.jpg" for an input in the current directory reads as "tn_x.jpg"
        let out = out.strip_prefix("./").map(str::to_owned).unwrap_or(out);
        Some(PathBuf::from(out))
    }
}

/// The file extension of a format: `jpg` for JPEG (as vipsthumbnail and
/// most tools write it), else the format's spec name.
pub fn extension(format: Format) -> &'static str {
    if format == Format::Jpeg { "jpg" } else { format.as_str() }
}

/// The format an extension names, through the spec grammar's format tokens
/// (`jpg`, `jpeg`, `png`, and whatever formats the grammar gains).
pub fn format_of_extension(ext: &str) -> Option<Format> {
    let ext = ext.to_ascii_lowercase();
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Spec::parse(&format!("1x1,{ext}")).ok().and_then(|s| s.format)
}

/// Extensions of files a directory input contributes (case-insensitive).
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "avif"];

pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}
