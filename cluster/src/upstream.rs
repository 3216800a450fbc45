//! Members read from etcd, the upstream file rendered from them, and its
//! atomic replacement.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// `host:port`, as it goes into the `server` line
    pub addr: String,
    /// the key's name under the prefix
    pub name: String,
}

/// A member name: the part of the key after the prefix.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `host:port` where host is an IPv4 address, `[IPv6]` or a DNS name, and
/// port is 1..=65535; nothing that could break out of a `server` line.
pub fn valid_addr(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else { return false };
    if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<std::net::Ipv4Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The members of `kvs` (keys under `prefix`), sorted by address then name,
/// one per address; and a line for each key skipped.
pub fn members(prefix: &str, kvs: &[(String, String)]) -> (Vec<Member>, Vec<String>) {
    let mut out: Vec<Member> = Vec::new();
    let mut skipped = Vec::new();
    for (key, value) in kvs {
        let name = key.strip_prefix(prefix).unwrap_or("");
        let value = value.trim();
        if !valid_name(name) {
            skipped.push(format!("skipping key {key:?}: the name after the prefix must be [A-Za-z0-9._-]+"));
        } else if !valid_addr(value) {
            skipped.push(format!("skipping key {key:?}: value {value:?} is not host:port"));
        } else {
            out.push(Member { addr: value.to_string(), name: name.to_string() });
        }
    }
    out.sort();
    out.dedup_by(|b, a| {
        if a.addr == b.addr {
            skipped.push(format!("skipping key {prefix}{}: address {} already listed by {}", b.name, b.addr, a.name));
            true
        } else {
            false
        }
    });
    (out, skipped)
}

/// The template with each line that holds `{{addr}}` repeated once per
/// member (`{{addr}}` and `{{name}}` replaced). The output depends only on
/// the template and the member set, so every router renders the same
/// `server` lines (nginx's ketama hashes their text).
pub fn render(template: &str, members: &[Member]) -> String {
    let mut out = String::new();
    for line in template.split_inclusive('\n') {
        if line.contains("{{addr}}") {
            for m in members {
                out.push_str(&line.replace("{{addr}}", &m.addr).replace("{{name}}", &m.name));
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

pub fn check_template(template: &str) -> Result<(), String> {
    if template.lines().any(|l| l.contains("{{addr}}")) {
        Ok(())
    } else {
        Err("the template has no line with {{addr}} (the line repeated for each member)".into())
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in ["127.0.0.1:8080", "node-1.example.com:80", "[::1]:9000", "localhost:1"] {
            assert!(valid_addr(ok), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "1.2.3:80",
            "300.0.0.1:80",
            "a b:80",
            "x:80; }",
            "x:+80",
            "[zz]:80",
            "-a.com:80",
            ":80",
            "host:80\nserver evil:1",
        ] {
            assert!(!valid_addr(bad), "{bad:?}");
        }
    }

    #[test]
    fn members_sorted_deduped_and_bad_ones_skipped() {
        let p = "/t/nodes/";
        let kvs: Vec<(String, String)> = [
            ("/t/nodes/c", "127.0.0.1:3"),
            ("/t/nodes/a", "127.0.0.1:2"),
            ("/t/nodes/b", "not an address"),
            ("/t/nodes/d", "127.0.0.1:2"),
            ("/t/nodes/x/y", "127.0.0.1:4"),
            ("/t/nodes/e", " 127.0.0.1:1\n"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (m, skipped) = members(p, &kvs);
        let got: Vec<_> = m.iter().map(|m| (m.addr.as_str(), m.name.as_str())).collect();
        assert_eq!(got, [("127.0.0.1:1", "e"), ("127.0.0.1:2", "a"), ("127.0.0.1:3", "c")]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
    }

    #[test]
    fn render_is_independent_of_key_order() {
        let t = "upstream u {\n    hash $uri consistent;\n    server {{addr}} max_fails=1; # {{name}}\n    keepalive 8;\n}\n";
        let kvs = |order: &[usize]| {
            let all = [("/p/a", "10.0.0.1:80"), ("/p/b", "10.0.0.2:80"), ("/p/c", "10.0.0.3:80")];
            order.iter().map(|&i| (all[i].0.to_string(), all[i].1.to_string())).collect::<Vec<_>>()
        };
        let a = render(t, &members("/p/", &kvs(&[0, 1, 2])).0);
        let b = render(t, &members("/p/", &kvs(&[2, 0, 1])).0);
        assert_eq!(a, b);
        assert_eq!(
            a,
            "upstream u {\n    hash $uri consistent;\n    server 10.0.0.1:80 max_fails=1; # a\n    \
             server 10.0.0.2:80 max_fails=1; # b\n    server 10.0.0.3:80 max_fails=1; # c\n    keepalive 8;\n}\n"
        );
        assert!(check_template(t).is_ok());
        assert!(check_template("upstream u {}").is_err());
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("thumbnail-cluster-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("up.conf");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
