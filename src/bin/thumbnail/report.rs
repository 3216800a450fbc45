//! What a run tells its user, all on standard error: one line per failure
//! (`kind: reason`; in a batch, `FILE: kind: reason`), with `-v` one line
//! per file written, a progress bar while a batch runs on a terminal, and a
//! summary line at the end of a batch. Also the exit status.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::batch::{Failure, Outcome};
use crate::{EXIT_IMAGE, EXIT_OK, EXIT_USAGE_OR_IO};

pub struct Reporter {
    total: usize,
    batch: bool,
    jobs: usize,
    quiet: bool,
    verbose: bool,
    /// Draw a progress bar (a batch, standard error a terminal, not quiet).
    bar: bool,
    written: usize,
    io_failed: usize,
    image_failed: usize,
    started: Instant,
    drawn: Option<Instant>,
}

/// Redraws at most this often, and always for the last file.
const REDRAW: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 24;

impl Reporter {
    pub fn new(total: usize, batch: bool, jobs: usize, quiet: bool, verbose: bool) -> Reporter {
        let bar = batch && !quiet && std::io::stderr().is_terminal();
        Reporter {
            total,
            batch,
            jobs,
            quiet,
            verbose,
            bar,
            written: 0,
            io_failed: 0,
            image_failed: 0,
            started: Instant::now(),
            drawn: None,
        }
    }

    fn done(&self) -> usize {
        self.written + self.io_failed + self.image_failed
    }

    fn failed(&self) -> usize {
        self.io_failed + self.image_failed
    }

    pub fn record(&mut self, input: &str, outcome: Outcome) {
        let mut lines = Vec::new();
        match outcome {
            Outcome::Written { output, width, height, format, warnings } => {
                self.written += 1;
                // damage served anyway, unusable colour profiles: shown even with -q
                for warning in warnings {
                    lines.push(if self.batch {
                        format!("warning: {input}: {warning}")
                    } else {
                        format!("warning: {warning}")
                    });
                }
                if self.verbose {
                    let to = output.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
                    lines.push(format!("{input} -> {to} ({width}x{height} {})", format.as_str()));
                }
            }
            // I/O messages name their file already
            Outcome::Failed(Failure::Io(message)) => {
                self.io_failed += 1;
                lines.push(message);
            }
            Outcome::Failed(Failure::Image(message)) => {
                self.image_failed += 1;
                lines.push(if self.batch { format!("{input}: {message}") } else { message });
            }
        }
        let mut err = std::io::stderr().lock();
        for line in &lines {
            if self.bar {
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = writeln!(err, "{line}");
            self.drawn = None;
        }
        if self.bar && (self.done() == self.total || self.drawn.is_none_or(|t| t.elapsed() >= REDRAW)) {
            let filled = BAR_WIDTH * self.done() / self.total.max(1);
            let failed = if self.failed() > 0 { format!(", {} failed", self.failed()) } else { String::new() };
            let name: String = {
                let chars: Vec<char> = input.chars().collect();
                let keep = chars.len().min(40);
                chars[chars.len() - keep..].iter().collect()
            };
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {}/{}{failed} {name}",
                "#".repeat(filled),
                "-".repeat(BAR_WIDTH - filled),
                self.done(),
                self.total
            );
            let _ = err.flush();
            self.drawn = Some(Instant::now());
        }
    }

    /// Ends the run: clears the bar, prints the summary line of a batch
    /// (also under `-q` when something failed), returns the exit status.
    pub fn finish(self) -> u8 {
        let mut err = std::io::stderr().lock();
        if self.bar && self.drawn.is_some() {
            let _ = write!(err, "\r\x1b[2K");
        }
        if self.batch && (!self.quiet || self.failed() > 0) {
            let secs = self.started.elapsed().as_secs_f64();
            let jobs = if self.jobs == 1 { "1 job".to_owned() } else { format!("{} jobs", self.jobs) };
            let _ = if self.failed() == 0 {
                writeln!(err, "thumbnail: {} of {} written in {secs:.1} s ({jobs})", self.written, self.total)
            } else {
                writeln!(
                    err,
                    "thumbnail: {} of {} written, {} failed, in {secs:.1} s ({jobs})",
                    self.written,
                    self.total,
                    self.failed()
                )
            };
        }
        if self.io_failed > 0 {
            EXIT_USAGE_OR_IO
        } else if self.image_failed > 0 {
            EXIT_IMAGE
        } else {
            EXIT_OK
        }
    }
}
