//! A small HTTP/1.1 client on `std::net`: what etcd's JSON gateway and a
//! node's health URL need, and nothing else (no TLS, no redirects, no
//! connection reuse). Unary requests send `Connection: close` and read the
//! response to its end; [`Stream`] reads a long-lived (chunked) response
//! body as it arrives.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// `http://host:port` (a path after it is ignored).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// endpoints are supported"))?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !p.is_empty() => {
                (h, p.parse::<u16>().map_err(|_| format!("{url}: bad port"))?)
            }
            _ if !authority.is_empty() && !authority.contains(':') => (authority, 80),
            _ => return Err(format!("{url}: expected http://host:port")),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(Endpoint { host, port })
    }

    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    fn connect(&self, timeout: Duration) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn send(&self, method: &str, path: &str, body: &[u8], close: bool, timeout: Duration) -> io::Result<TcpStream> {
        let mut s = self.connect(timeout)?;
        s.set_write_timeout(Some(timeout))?;
        s.set_read_timeout(Some(timeout))?;
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}:{}\r\n", self.port);
        if method == "POST" {
            req.push_str("Content-Type: application/json\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if close {
            req.push_str("Connection: close\r\n");
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(body);
        s.write_all(&out)?;
        Ok(s)
    }

    /// One request, `Connection: close`, the whole response read within
    /// `timeout` (connect, and each read). Returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: &[u8], timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
        let mut s = self.send(method, path, body, true, timeout)?;
        let deadline = Instant::now() + timeout;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        let head_end = loop {
            if let Some(i) = find(&raw, b"\r\n\r\n") {
                break i;
            }
            let n = read_until(&mut s, &mut buf, deadline)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the header"));
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let head = Head::parse(&raw[..head_end])?;
        let mut body = Body::new(&head);
        let mut rest = raw.split_off(head_end + 4);
        let mut out = Vec::new();
        loop {
            body.decode(&mut rest, &mut out)?;
            if body.done {
                return Ok((head.status, out));
            }
            let n = read_until(&mut s, &mut buf, deadline)?;
            if n == 0 {
                if body.until_eof {
                    return Ok((head.status, out));
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-body"));
            }
            rest.extend_from_slice(&buf[..n]);
        }
    }

    /// A request whose response body is read as it arrives.
    pub fn stream(&self, path: &str, body: &[u8], timeout: Duration) -> io::Result<Stream> {
        let s = self.send("POST", path, body, false, timeout)?;
        let mut st = Stream { sock: s, raw: Vec::new(), body: None, status: 0 };
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 16384];
        let head_end = loop {
            if let Some(i) = find(&st.raw, b"\r\n\r\n") {
                break i;
            }
            let n = read_until(&mut st.sock, &mut buf, deadline)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the header"));
            }
            st.raw.extend_from_slice(&buf[..n]);
        };
        let head = Head::parse(&st.raw[..head_end])?;
        st.status = head.status;
        st.body = Some(Body::new(&head));
        st.raw.drain(..head_end + 4);
        Ok(st)
    }
}

fn read_until(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
    }
    s.set_read_timeout(Some(left))?;
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Head {
    status: u16,
    chunked: bool,
    length: Option<usize>,
}

impl Head {
    fn parse(raw: &[u8]) -> io::Result<Head> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let text = std::str::from_utf8(raw).map_err(|_| bad("header is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.split(' ');
        if !parts.next().unwrap_or("").starts_with("HTTP/1.") {
            return Err(bad("not an HTTP/1.x response"));
        }
        let status = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad status line"))?;
        let (mut chunked, mut length) = (false, None);
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse().map_err(|_| bad("bad Content-Length"))?);
                }
            }
        }
        Ok(Head { status, chunked, length })
    }
}

/// Body framing: chunked, Content-Length, or until the connection closes.
struct Body {
    chunked: bool,
    /// bytes left in the current chunk (chunked) or in the body (length)
    left: usize,
    /// chunked: the CRLF after a chunk's data is still to be skipped
    in_chunk: bool,
    until_eof: bool,
    done: bool,
}

impl Body {
    fn new(head: &Head) -> Body {
        match (head.chunked, head.length) {
            (true, _) => Body { chunked: true, left: 0, in_chunk: false, until_eof: false, done: false },
            (false, Some(n)) => Body { chunked: false, left: n, in_chunk: false, until_eof: false, done: n == 0 },
            (false, None) => Body { chunked: false, left: usize::MAX, in_chunk: false, until_eof: true, done: false },
        }
    }

    /// Moves the decodable part of `raw` into `out`.
    fn decode(&mut self, raw: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<()> {
        if !self.chunked {
            let n = raw.len().min(self.left);
            out.extend_from_slice(&raw[..n]);
            raw.drain(..n);
            if !self.until_eof {
                self.left -= n;
                self.done = self.left == 0;
            }
            return Ok(());
        }
        let mut pos = 0;
        while !self.done {
            if self.in_chunk {
                let n = (raw.len() - pos).min(self.left);
                out.extend_from_slice(&raw[pos..pos + n]);
                pos += n;
                self.left -= n;
                if self.left > 0 || raw.len() - pos < 2 {
                    break;
                }
                if &raw[pos..pos + 2] != b"\r\n" {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk not followed by CRLF"));
                }
                pos += 2;
                self.in_chunk = false;
            } else {
                let Some(eol) = find(&raw[pos..], b"\r\n") else { break };
                let line = std::str::from_utf8(&raw[pos..pos + eol]).unwrap_or("");
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
                pos += eol + 2;
                if size == 0 {
                    // trailers are not used by the gateway: the stream is over
                    self.done = true;
                } else {
                    self.left = size;
                    self.in_chunk = true;
                }
            }
        }
        raw.drain(..pos);
        Ok(())
    }
}

/// A response body read as it arrives (etcd's `/v3/watch`).
pub struct Stream {
    sock: TcpStream,
    raw: Vec<u8>,
    body: Option<Body>,
    pub status: u16,
}

impl Stream {
    /// Appends whatever body bytes arrive within `wait` to `out`. Ok(false)
    /// when nothing arrived in time; an error when the stream ended.
    pub fn read_some(&mut self, out: &mut Vec<u8>, wait: Duration) -> io::Result<bool> {
        let body = self.body.as_mut().expect("header read");
        let before = out.len();
        body.decode(&mut self.raw, out)?;
        if out.len() > before {
            return Ok(true);
        }
        if body.done {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended"));
        }
        self.sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 16384];
        let n = match self.sock.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream closed")),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        self.raw.extend_from_slice(&buf[..n]);
        body.decode(&mut self.raw, out)?;
        Ok(out.len() > before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let head = Head { status: 200, chunked: true, length: None };
        let mut body = Body::new(&head);
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for p in parts {
            raw.extend_from_slice(p);
            body.decode(&mut raw, &mut out).unwrap();
        }
        (out, body.done)
    }

    #[test]
    fn chunked_split_anywhere() {
        let whole: &[u8] = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for cut in 0..whole.len() {
            for cut2 in cut..whole.len() {
                let (out, done) = decode_all(&[&whole[..cut], &whole[cut..cut2], &whole[cut2..]]);
                assert_eq!(out, b"hello, world");
                assert!(done);
            }
        }
        let (out, done) = decode_all(&[b"3\r\nabc\r\n4\r\nde"]);
        assert_eq!(out, b"abcde");
        assert!(!done);
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 2379));
        let e = Endpoint::parse("http://[::1]:2379/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.url().as_str()), ("::1", 2379, "http://[::1]:2379"));
        assert!(Endpoint::parse("https://x:1").is_err());
        assert!(Endpoint::parse("http://x:notaport").is_err());
    }
}
