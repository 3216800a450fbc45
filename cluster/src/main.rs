//! `thumbnail-cluster`: membership of thumbnail nodes in etcd, and nginx
//! upstreams rendered from it. See cluster/README.md.
//!
//! ```text
//! thumbnail-cluster register --name NAME --addr HOST:PORT [--etcd URLS] [--prefix P] [--ttl S] [--health URL]
//! thumbnail-cluster watch --template FILE --output FILE [--check CMD] [--reload CMD]
//!                         [--etcd URLS] [--prefix P] [--debounce MS] [--resync S] [--once]
//! ```

mod etcd;
mod http;
mod upstream;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd::Etcd;
use upstream::Member;

const USAGE: &str = "usage:
  thumbnail-cluster register --name NAME --addr HOST:PORT [--etcd URLS] [--prefix PREFIX]
                             [--ttl SECONDS] [--health URL]
  thumbnail-cluster watch --template FILE --output FILE [--check CMD] [--reload CMD]
                          [--etcd URLS] [--prefix PREFIX] [--debounce MS] [--resync SECONDS] [--once]

  --etcd      etcd JSON gateway endpoints, comma-separated (default http://127.0.0.1:2379)
  --prefix    key prefix of the members (default /thumbnail/nodes/); a member is PREFIX<NAME> = HOST:PORT
register: puts the key under a lease of --ttl seconds (default 5), keeps the lease alive, and
          revokes it on SIGTERM/SIGINT. With --health, the key is only there while GET URL is 200.
watch:    renders --template (each line holding {{addr}} repeated per member, {{name}} too) to
          --output (temp file, fsync, rename), runs --check (restoring the old file if it fails)
          and --reload (sh -c), then watches the prefix and does it again when the member set
          changes (after --debounce ms, default 100). --once: render once and exit (1 if no member).";

fn log(what: &str, msg: &str) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, ms) = (now.as_secs(), now.subsec_millis());
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    eprintln!("{h:02}:{m:02}:{s:02}.{ms:03} thumbnail-cluster {what}[{}]: {msg}", std::process::id());
}

struct Args(Vec<String>);

impl Args {
    fn take(&mut self, flag: &str) -> Result<Option<String>, String> {
        match self.0.iter().position(|a| a == flag) {
            None => Ok(None),
            Some(i) if i + 1 < self.0.len() => {
                let v = self.0.remove(i + 1);
                self.0.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(format!("{flag} needs a value")),
        }
    }
    fn take_or(&mut self, flag: &str, default: &str) -> Result<String, String> {
        Ok(self.take(flag)?.unwrap_or_else(|| default.to_string()))
    }
    fn need(&mut self, flag: &str) -> Result<String, String> {
        self.take(flag)?.ok_or_else(|| format!("{flag} is required"))
    }
    fn num(&mut self, flag: &str, default: u64) -> Result<u64, String> {
        match self.take(flag)? {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{flag}: {v:?} is not a number")),
        }
    }
    fn switch(&mut self, flag: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a != flag);
        self.0.len() != before
    }
    fn done(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some(a) => Err(format!("unexpected argument {a:?}")),
        }
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return if argv.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS };
    }
    let cmd = argv.remove(0);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("thumbnail-cluster: signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    let result = match cmd.as_str() {
        "register" => register(Args(argv), &stop),
        "watch" => watch(Args(argv), &stop),
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("thumbnail-cluster {cmd}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Sleeps up to `d`, in steps, returning early (true) once `stop` is set.
fn nap(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    true
}

/// Exponential backoff: 100 ms doubling up to `max`.
struct Backoff {
    next: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff { next: Duration::from_millis(100), max, failures: 0 }
    }
    fn fail(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        self.failures += 1;
        d
    }
    /// true if there were failures before this success
    fn ok(&mut self) -> bool {
        let had = self.failures > 0;
        *self = Backoff::new(self.max);
        had
    }
}

// --- register -----------------------------------------------------------------

fn register(mut a: Args, stop: &AtomicBool) -> Result<ExitCode, String> {
    let etcd = Etcd::new(&a.take_or("--etcd", "http://127.0.0.1:2379")?)?;
    let prefix = a.take_or("--prefix", "/thumbnail/nodes/")?;
    let name = a.need("--name")?;
    let addr = a.need("--addr")?;
    let ttl = a.num("--ttl", 5)?;
    let health = a.take("--health")?.map(|u| health_target(&u)).transpose()?;
    a.done()?;
    if !upstream::valid_name(&name) {
        return Err(format!("--name {name:?}: use [A-Za-z0-9._-]+"));
    }
    if !upstream::valid_addr(&addr) {
        return Err(format!("--addr {addr:?}: expected host:port"));
    }
    if !(2..=3600).contains(&ttl) {
        return Err("--ttl: 2..3600 seconds".into());
    }
    let key = format!("{prefix}{name}");
    let ttl_d = Duration::from_secs(ttl);
    // three keep-alives per TTL: one lost keep-alive never loses the lease
    let interval = ttl_d / 3;
    let w = "register";
    let mut backoff = Backoff::new(Duration::from_secs(2));
    let mut was_unhealthy = false;
    while !stop.load(Ordering::Relaxed) {
        if let Some(h) = &health {
            if let Err(e) = healthy(h) {
                if !was_unhealthy {
                    log(w, &format!("node not healthy ({e}): not registering {key} until it is"));
                    was_unhealthy = true;
                }
                nap(stop, Duration::from_millis(250));
                continue;
            }
            was_unhealthy = false;
        }
        let lease = match etcd.grant(ttl) {
            Ok(l) => l,
            Err(e) => {
                let d = backoff.fail();
                log(w, &format!("etcd: {e}; retry in {d:?}"));
                nap(stop, d);
                continue;
            }
        };
        if let Err(e) = etcd.put(&key, &addr, lease) {
            let d = backoff.fail();
            log(w, &format!("etcd put {key}: {e}; retry in {d:?}"));
            let _ = etcd.revoke(lease);
            nap(stop, d);
            continue;
        }
        backoff.ok();
        log(w, &format!("registered {key} = {addr} (lease {lease:x}, ttl {ttl} s)"));
        let mut last_ok = Instant::now();
        let mut sick = 0;
        loop {
            if nap(stop, interval) {
                return Ok(leave(&etcd, lease, &key, ttl));
            }
            if let Some(h) = &health {
                match healthy(h) {
                    Ok(()) => sick = 0,
                    Err(e) => {
                        sick += 1;
                        if sick >= 2 {
                            log(w, &format!("node not healthy ({e}): leaving"));
                            leave(&etcd, lease, &key, ttl);
                            break;
                        }
                    }
                }
            }
            match etcd.keepalive(lease) {
                Ok(t) if t > 0 => last_ok = Instant::now(),
                Ok(_) => {
                    log(w, &format!("lease {lease:x} expired: registering {key} again"));
                    break;
                }
                Err(e) => {
                    log(w, &format!("keepalive: {e}"));
                    if last_ok.elapsed() >= ttl_d {
                        log(w, "no keepalive for a whole TTL: the lease is gone, registering again");
                        break;
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Graceful leave: revoke the lease (the key goes with it).
fn leave(etcd: &Etcd, lease: i64, key: &str, ttl: u64) -> ExitCode {
    match etcd.revoke(lease) {
        Ok(()) => {
            log("register", &format!("revoked lease {lease:x}: {key} removed"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            log("register", &format!("revoke failed ({e}): {key} disappears when the lease expires (<= {ttl} s)"));
            ExitCode::from(1)
        }
    }
}

fn health_target(url: &str) -> Result<(http::Endpoint, String), String> {
    let ep = http::Endpoint::parse(url)?;
    let rest = &url["http://".len()..];
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/").to_string();
    Ok((ep, path))
}

fn healthy((ep, path): &(http::Endpoint, String)) -> Result<(), String> {
    match ep.request("GET", path, b"", Duration::from_secs(1)) {
        Ok((200, _)) => Ok(()),
        Ok((s, _)) => Err(format!("HTTP {s}")),
        Err(e) => Err(e.to_string()),
    }
}

// --- watch --------------------------------------------------------------------

struct Watcher {
    prefix: String,
    template: String,
    output: PathBuf,
    check: Option<String>,
    reload: Option<String>,
    /// the skip messages of the last read, logged again only when they change
    skipped: std::cell::RefCell<Vec<String>>,
}

enum Applied {
    /// the member set rendered to what the file already holds
    Unchanged,
    /// written, checked and reloaded
    Changed,
    /// nothing written: no valid member, or the check failed
    Kept,
}

fn watch(mut a: Args, stop: &AtomicBool) -> Result<ExitCode, String> {
    let etcd = Etcd::new(&a.take_or("--etcd", "http://127.0.0.1:2379")?)?;
    let prefix = a.take_or("--prefix", "/thumbnail/nodes/")?;
    let template_path = a.need("--template")?;
    let output = PathBuf::from(a.need("--output")?);
    let check = a.take("--check")?;
    let reload = a.take("--reload")?;
    let debounce = Duration::from_millis(a.num("--debounce", 100)?);
    let resync = Duration::from_secs(a.num("--resync", 30)?.max(1));
    let once = a.switch("--once");
    a.done()?;
    let template = std::fs::read_to_string(&template_path).map_err(|e| format!("{template_path}: {e}"))?;
    upstream::check_template(&template).map_err(|e| format!("{template_path}: {e}"))?;
    let w = Watcher { prefix, template, output, check, reload, skipped: Default::default() };
    let mut backoff = Backoff::new(Duration::from_secs(2));
    let mut changed_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let (kvs, rev) = match etcd.range_prefix(&w.prefix) {
            Ok(r) => r,
            Err(e) => {
                if once {
                    return Err(format!("etcd: {e}"));
                }
                let d = backoff.fail();
                log("watch", &format!("etcd unreachable ({e}): keeping the current upstream; retry in {d:?}"));
                nap(stop, d);
                continue;
            }
        };
        if backoff.ok() {
            log("watch", &format!("etcd reachable again (revision {rev})"));
        }
        let kvs: Vec<(String, String)> = kvs.into_iter().map(|kv| (kv.key, kv.value)).collect();
        let applied = w.apply(&kvs, rev, changed_at.take());
        if once {
            return Ok(if matches!(applied, Applied::Kept) { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
        // watch from the revision after the one just read: no change is missed
        let mut stream = match etcd.watch(&w.prefix, rev + 1) {
            Ok(s) => s,
            Err(e) => {
                let d = backoff.fail();
                log("watch", &format!("etcd watch: {e}; retry in {d:?}"));
                nap(stop, d);
                continue;
            }
        };
        let idle_since = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match stream.next(Duration::from_millis(200)) {
                Ok(None) if idle_since.elapsed() >= resync => break, // resync: read the prefix again
                Ok(None) => {}
                Ok(Some(msg)) => {
                    let r = &msg["result"];
                    if msg.get("error").is_some() || r["canceled"].as_bool() == Some(true) {
                        log("watch", &format!("watch ended by etcd: {msg}"));
                        break;
                    }
                    if etcd::int(&r["compact_revision"]).unwrap_or(0) > 0 {
                        log("watch", "watch revision compacted: reading the prefix again");
                        break;
                    }
                    if r["events"].as_array().is_some_and(|e| !e.is_empty()) {
                        // debounce: let a burst of changes arrive, then read the prefix once
                        changed_at = Some(Instant::now());
                        let end = Instant::now() + debounce;
                        while let Some(left) = end.checked_duration_since(Instant::now()) {
                            if stream.next(left).is_err() {
                                break;
                            }
                        }
                        break;
                    }
                }
                Err(e) => {
                    let d = backoff.fail();
                    log("watch", &format!("etcd watch stream: {e}; keeping the current upstream; retry in {d:?}"));
                    nap(stop, d);
                    break;
                }
            }
        }
    }
    log("watch", "stopped");
    Ok(ExitCode::SUCCESS)
}

impl Watcher {
    fn apply(&self, kvs: &[(String, String)], rev: i64, changed_at: Option<Instant>) -> Applied {
        let (members, skipped) = upstream::members(&self.prefix, kvs);
        if *self.skipped.borrow() != skipped {
            for s in &skipped {
                log("watch", s);
            }
            *self.skipped.borrow_mut() = skipped;
        }
        if members.is_empty() {
            log(
                "watch",
                &format!("no valid member under {} at revision {rev}: keeping the current upstream", self.prefix),
            );
            return Applied::Kept;
        }
        let text = upstream::render(&self.template, &members);
        let old = std::fs::read(&self.output).ok();
        if old.as_deref() == Some(text.as_bytes()) {
            return Applied::Unchanged;
        }
        let t0 = Instant::now();
        if let Err(e) = upstream::write_atomic(&self.output, text.as_bytes()) {
            log("watch", &format!("writing {}: {e}; keeping the current upstream", self.output.display()));
            return Applied::Kept;
        }
        if let Some(check) = &self.check
            && let Err(e) = run(check)
        {
            let restored = match &old {
                Some(old) => upstream::write_atomic(&self.output, old),
                None => std::fs::remove_file(&self.output),
            };
            log(
                "watch",
                &format!(
                    "check failed, previous upstream {} ({}): {e}",
                    if restored.is_ok() { "restored" } else { "NOT restored" },
                    describe(&members)
                ),
            );
            return Applied::Kept;
        }
        if let Some(reload) = &self.reload
            && let Err(e) = run(reload)
        {
            log("watch", &format!("reload failed: {e}"));
        }
        let since =
            changed_at.map(|c| format!(", {} ms after the change", c.elapsed().as_millis())).unwrap_or_default();
        log(
            "watch",
            &format!(
                "revision {rev}: {} member(s) {}; written, checked and reloaded in {} ms{since}",
                members.len(),
                describe(&members),
                t0.elapsed().as_millis()
            ),
        );
        Applied::Changed
    }
}

fn describe(members: &[Member]) -> String {
    members.iter().map(|m| format!("{}={}", m.name, m.addr)).collect::<Vec<_>>().join(" ")
}

/// `sh -c CMD`; Err with its exit status and output when it fails.
fn run(cmd: &str) -> Result<(), String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output().map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if msg.is_empty() {
            msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Err(format!("`{cmd}` exited with {}: {}", out.status, msg.replace('\n', " | ")))
    }
}
