//! A batch: inputs expanded (directories, `-`), then read, rendered and
//! written by `-j` threads (std threads pulling the next file from a shared
//! index), each result handed to the reporter on this thread. A failure is
//! one file's: the others go on.

use std::collections::HashMap;
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use thumbnail::{Format, Limits, Spec};

use crate::args::{Options, SHORT_USAGE};
use crate::naming::{self, Output};
use crate::report::Reporter;
use crate::{EXIT_IMAGE, EXIT_OK, EXIT_USAGE_OR_IO};

/// Why one file failed.
#[derive(Clone)]
pub enum Failure {
    /// Reading or writing (exit 1).
    Io(String),
    /// The image or the spec (`kind: reason`, exit 2).
    Image(String),
}

/// An input to work on, or one that already failed (an unreadable
/// directory) with its name.
type Input = Result<String, (String, Failure)>;

/// One file's result.
pub enum Outcome {
    Written { output: Option<PathBuf>, width: u32, height: u32, format: Format, warnings: Vec<String> },
    Failed(Failure),
}

/// The inputs as files: directories replaced by their image files (sorted,
/// not recursive); an input that is not a directory is kept as given (a
/// missing file fails when it is read, in its turn). Returns the files and
/// whether this is a batch (several inputs, or a directory): a batch names
/// the file in each message and ends with a summary.
///
/// With the default output (`tn_%s` beside each input), a directory's files
/// named `tn_*` are skipped, so a second run does not thumbnail the first
/// run's thumbnails.
fn expand(inputs: &[String], skip_tn: bool) -> (Vec<Input>, bool) {
    let mut files = Vec::new();
    let mut batch = inputs.len() > 1;
    for input in inputs {
        let path = Path::new(input);
        if input == "-" || !path.is_dir() {
            files.push(Ok(input.clone()));
            continue;
        }
        batch = true;
        match fs::read_dir(path) {
            Ok(entries) => {
                let mut names: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && naming::is_image_name(p))
                    .filter(|p| !skip_tn || !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tn_")))
                    .collect();
                names.sort();
                files.extend(names.into_iter().map(|p| Ok(p.to_string_lossy().into_owned())));
            }
            Err(e) => files.push(Err((input.clone(), Failure::Io(format!("cannot read directory {input}: {e}"))))),
        }
    }
    (files, batch)
}

pub fn render_all(options: &Options) -> u8 {
    let mut spec = match Spec::parse(&options.spec) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_IMAGE;
        }
    };
    if let Some(accept) = options.accept.as_deref() {
        spec = spec.negotiate(accept, options.avif);
    }
    let output = Output::new(options.output.as_deref(), options.inputs == ["-"]);
    match output.format() {
        Ok(Some(format)) if spec.format.is_none() && spec.auto.is_none() => spec.format = Some(format),
        Ok(_) => {}
        Err(message) => return usage(&message),
    }
    let (files, batch) = expand(&options.inputs, options.output.is_none());
    if matches!(output, Output::Stdout) {
        if files.len() != 1 {
            return usage("-o - (standard output) takes exactly one input");
        }
        if std::io::stdout().is_terminal() {
            return usage("refusing to write an image to a terminal: redirect standard output, or give -o");
        }
    }

    let jobs = options.jobs.min(files.len()).max(1);
    let mut reporter = Reporter::new(files.len(), batch, jobs, options.quiet, options.verbose);
    let next = AtomicUsize::new(0);
    let claims = Mutex::new(HashMap::new());
    let work = Work { spec: &spec, limits: &options.limits, output: &output, claims: &claims };
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, files, work) = (&next, &files, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let (name, outcome) = match file {
                        Ok(input) => (input.as_str(), work.one(input)),
                        Err((input, failure)) => (input.as_str(), Outcome::Failed(failure.clone())),
                    };
                    if tx.send((name.to_owned(), outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (input, outcome) in rx {
            reporter.record(&input, outcome);
        }
    });
    reporter.finish()
}

fn usage(message: &str) -> u8 {
    eprintln!("thumbnail: {message}");
    eprintln!("{SHORT_USAGE}");
    EXIT_USAGE_OR_IO
}

/// What every worker shares.
struct Work<'a> {
    spec: &'a Spec,
    limits: &'a Limits,
    output: &'a Output,
    /// Output path -> the input it was written for, so two inputs that
    /// would write one file (`-o out/x.jpg` for several) do not overwrite
    /// each other: the second fails.
    claims: &'a Mutex<HashMap<PathBuf, String>>,
}

impl Work<'_> {
    fn one(&self, input: &str) -> Outcome {
        match self.try_one(input) {
            Ok(done) => done,
            Err(failure) => Outcome::Failed(failure),
        }
    }

    fn try_one(&self, input: &str) -> Result<Outcome, Failure> {
        let bytes = read_input(input).map_err(|e| Failure::Io(format!("cannot read {input}: {e}")))?;
        let (thumb, warnings) = thumbnail::render_with_warnings(&bytes, self.spec, self.limits)
            .map_err(|e| Failure::Image(e.to_string()))?;
        drop(bytes);
        let (width, height, format) = (thumb.width(), thumb.height(), thumb.format());
        let Some(path) = self.output.path_for(input, format) else {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(thumb.data())
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::Io(format!("cannot write to standard output: {e}")))?;
            return Ok(Outcome::Written { output: None, width, height, format, warnings });
        };
        if input != "-" && same_file(Path::new(input), &path) {
            return Err(Failure::Io(format!(
                "refusing to overwrite {input} with its own thumbnail (-o {} names it)",
                path.display()
            )));
        }
        {
            let mut claims = self.claims.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(other) = claims.get(&path) {
                return Err(Failure::Io(format!(
                    "{} is already the thumbnail of {other}: put %s in -o to name each output",
                    path.display()
                )));
            }
            claims.insert(path.clone(), input.to_owned());
        }
        write_whole(&path, thumb.data()).map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(Outcome::Written { output: Some(path), width, height, format, warnings })
    }
}

fn read_input(input: &str) -> std::io::Result<Vec<u8>> {
    if input == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        fs::read(input)
    }
}

/// Whether `output` exists and is the very file `input` is (hard links
/// and symlinks included).
fn same_file(input: &Path, output: &Path) -> bool {
    match (fs::metadata(input), fs::metadata(output)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes `data` to `path` whole: into a temporary file beside it, then
/// renamed over it, so a reader (or a killed run) never sees half a
/// thumbnail. Missing directories are made. A path that exists and is not
/// a regular file (a device such as /dev/null, a FIFO) or is a symlink is
/// written in place instead, so it is never replaced.
fn write_whole(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Ok(meta) = fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return fs::write(path, data);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// `--probe`: one JSON line per input (with "file" first in a batch).
pub fn probe_all(options: &Options) -> u8 {
    let (files, batch) = expand(&options.inputs, false);
    let mut status = EXIT_OK;
    let mut stdout = std::io::stdout().lock();
    for file in files {
        let (input, result) = match file {
            Ok(input) => {
                let result = read_input(&input)
                    .map_err(|e| Failure::Io(format!("cannot read {input}: {e}")))
                    .and_then(|bytes| thumbnail::probe(&bytes).map_err(|e| Failure::Image(e.to_string())));
                (input, result)
            }
            Err((input, failure)) => (input, Err(failure)),
        };
        match result {
            Ok(info) => {
                let file = if batch { format!("\"file\":{},", json_string(&input)) } else { String::new() };
                let _ = writeln!(
                    stdout,
                    "{{{file}\"format\":\"{}\",\"width\":{},\"height\":{},\"orientation\":{}}}",
                    info.format.as_str(),
                    info.width,
                    info.height,
                    info.orientation
                );
            }
            Err(Failure::Io(message)) => {
                eprintln!("{message}");
                status = EXIT_USAGE_OR_IO;
            }
            Err(Failure::Image(message)) => {
                let line = if batch { format!("{input}: {message}") } else { message };
                eprintln!("{line}");
                if status == EXIT_OK {
                    status = EXIT_IMAGE;
                }
            }
        }
    }
    status
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
