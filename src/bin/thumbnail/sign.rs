//! `thumbnail sign`: signs a URL path for scripts, as imgproxy signs
//! (`thumbnail::sign`), and prints the signature alone on stdout.
//!
//! ```text
//! thumbnail sign --key HEX --salt HEX [--key HEX --salt HEX]... [--size N] PATH
//! ```
//! The first key/salt pair signs (later pairs only matter to verifiers).
//! Exit 0 on success; 1 for usage errors (message on stderr).
//!
//! Self-contained (one entry point, [`main`]), so a rewrite of the rest of
//! the CLI can keep it as it is.

use std::process::ExitCode;

use thumbnail::sign::Signer;

pub const USAGE: &str = "usage: thumbnail sign --key HEX --salt HEX [--size N] PATH
  prints the signature of PATH (everything after the signature in the URL,
  leading / included): unpadded base64url of HMAC-SHA256(key, salt + PATH),
  truncated to N bytes (1..=32, default 32), as imgproxy signs";

/// Runs `thumbnail sign` with the arguments after `sign`.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match signature(args) {
        Ok(sig) => {
            println!("{sig}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// The signature the arguments ask for, or a usage message.
pub fn signature(args: &[String]) -> Result<String, String> {
    let (mut keys, mut salts, mut size, mut path) = (Vec::new(), Vec::new(), 0usize, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--key" => keys.push(value("--key")?),
            "--salt" => salts.push(value("--salt")?),
            "--size" => {
                let text = value("--size")?;
                size = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=32).contains(n))
                    .ok_or_else(|| format!("--size '{text}' must be 1..=32\n{USAGE}"))?;
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if path.is_none() => path = Some(arg.clone()),
            _ => return Err(format!("unexpected argument {arg}\n{USAGE}")),
        }
    }
    let path = path.ok_or_else(|| format!("missing PATH\n{USAGE}"))?;
    if keys.is_empty() || keys.len() != salts.len() {
        return Err(format!("give --key and --salt in pairs (at least one)\n{USAGE}"));
    }
    let pairs: Vec<(String, String)> = keys.into_iter().zip(salts).collect();
    let signer = Signer::new(&pairs, size).map_err(|e| e.message().to_owned())?;
    Ok(signer.sign(path))
}
