//! Decompression bombs are refused from the header: quickly, and with the
//! whole process's peak memory under 64 MiB. Each one runs in a child
//! process (the CLI) so its peak RSS is measured alone, via wait4(2).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PEAK_RSS_LIMIT_KB: i64 = 64 * 1024;
/// A hang guard, not a speed target; the measured times are printed.
const TIME_LIMIT: Duration = Duration::from_secs(1);

/// Runs the CLI on `path`; returns (exit code, stderr, peak RSS KiB, elapsed).
fn run_cli(path: &std::path::Path) -> (i32, String, i64, Duration) {
    let start = Instant::now();
    // Reaped by wait4 below, which also gives the peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_thumbnail"))
        .arg(path)
        .args(["-s", "200x200", "-o", "/dev/null.jpg"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child; rusage is a valid out-pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let elapsed = start.elapsed();
    let mut stderr = String::new();
    use std::io::Read;
    child.stderr.unwrap().read_to_string(&mut stderr).unwrap();
    (libc::WEXITSTATUS(status), stderr, usage.ru_maxrss, elapsed)
}

#[test]
fn bombs_are_refused_quickly_in_little_memory() {
    let bombs: Vec<_> = common::manifest().into_iter().filter(|e| e.expected == "reject-or-bounded").collect();
    assert_eq!(bombs.len(), 5);
    for e in bombs {
        let (code, stderr, peak_kb, elapsed) = run_cli(&common::corpus(&e.path));
        println!("{}: exit {code}, {elapsed:?}, peak {peak_kb} KiB, {}", e.path, stderr.trim());
        assert!(elapsed < TIME_LIMIT, "{}: took {elapsed:?}", e.path);
        assert!(peak_kb < PEAK_RSS_LIMIT_KB, "{}: peak RSS {peak_kb} KiB", e.path);
        // Refused as too large, or (for the GIF) unsupported, or — for the
        // 1x1 PNG whose bomb is in a text chunk we skip — rendered.
        let ok = match code {
            2 => stderr.starts_with("too-large:") || stderr.starts_with("unsupported:"),
            0 => e.path.ends_with("png_decompression_dos.png"),
            _ => false,
        };
        assert!(ok, "{}: exit {code}: {stderr}", e.path);
    }
}
