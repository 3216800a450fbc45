//! etcd v3 through its JSON gateway (`/v3/...`, etcd 3.4): keys and values
//! are base64, 64-bit integers are JSON strings. Each call tries the
//! endpoints in turn, starting with the last one that answered.

use std::cell::Cell;
use std::io;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Endpoint, Stream};

/// Connect and per-read timeout of unary calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Etcd {
    endpoints: Vec<Endpoint>,
    current: Cell<usize>,
}

pub struct Kv {
    pub key: String,
    pub value: String,
}

impl Etcd {
    /// `http://host:port[,http://host:port...]`
    pub fn new(list: &str) -> Result<Etcd, String> {
        let endpoints =
            list.split(',').filter(|s| !s.is_empty()).map(Endpoint::parse).collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err("no etcd endpoint".into());
        }
        Ok(Etcd { endpoints, current: Cell::new(0) })
    }

    fn each_endpoint<T>(&self, mut f: impl FnMut(&Endpoint) -> Result<T, String>) -> Result<T, String> {
        let n = self.endpoints.len();
        let mut errors = Vec::new();
        for i in 0..n {
            let idx = (self.current.get() + i) % n;
            match f(&self.endpoints[idx]) {
                Ok(v) => {
                    self.current.set(idx);
                    return Ok(v);
                }
                Err(e) => errors.push(format!("{}: {e}", self.endpoints[idx].url())),
            }
        }
        Err(errors.join("; "))
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let body = body.to_string();
        self.each_endpoint(|ep| {
            let (status, resp) = ep.request("POST", path, body.as_bytes(), CALL_TIMEOUT).map_err(|e| e.to_string())?;
            let v: Value =
                serde_json::from_slice(&resp).map_err(|e| format!("{path}: HTTP {status}, body is not JSON ({e})"))?;
            if status != 200 {
                let msg = v.get("message").or_else(|| v.get("error")).and_then(Value::as_str).unwrap_or("");
                return Err(format!("{path}: HTTP {status} {msg}"));
            }
            Ok(v)
        })
    }

    /// Every key under `prefix` and the store's revision.
    pub fn range_prefix(&self, prefix: &str) -> Result<(Vec<Kv>, i64), String> {
        let v = self.call(
            "/v3/kv/range",
            json!({"key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix.as_bytes()))}),
        )?;
        let rev = int(&v["header"]["revision"]).ok_or("range: no header.revision")?;
        let mut kvs = Vec::new();
        for kv in v["kvs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let key = unb64(kv["key"].as_str().unwrap_or("")).ok_or("range: key is not base64")?;
            let value = unb64(kv["value"].as_str().unwrap_or("")).ok_or("range: value is not base64")?;
            kvs.push(Kv { key: String::from_utf8_lossy(&key).into(), value: String::from_utf8_lossy(&value).into() });
        }
        Ok((kvs, rev))
    }

    pub fn grant(&self, ttl: u64) -> Result<i64, String> {
        let v = self.call("/v3/lease/grant", json!({"TTL": ttl.to_string()}))?;
        if let Some(e) = v["error"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("lease grant: {e}"));
        }
        int(&v["ID"]).ok_or_else(|| "lease grant: no ID".into())
    }

    pub fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), String> {
        self.call(
            "/v3/kv/put",
            json!({"key": b64(key.as_bytes()), "value": b64(value.as_bytes()), "lease": lease.to_string()}),
        )
        .map(drop)
    }

    /// One keep-alive; the lease's remaining TTL (0: the lease is gone).
    pub fn keepalive(&self, lease: i64) -> Result<i64, String> {
        let v = self.call("/v3/lease/keepalive", json!({"ID": lease.to_string()}))?;
        let r = &v["result"];
        if r.is_null() {
            return Err(format!("lease keepalive: unexpected answer {v}"));
        }
        Ok(int(&r["TTL"]).unwrap_or(0))
    }

    pub fn revoke(&self, lease: i64) -> Result<(), String> {
        self.call("/v3/lease/revoke", json!({"ID": lease.to_string()})).map(drop)
    }

    /// A watch of every key under `prefix` from `start_revision` on.
    pub fn watch(&self, prefix: &str, start_revision: i64) -> Result<Watch, String> {
        let body = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix.as_bytes())),
            "start_revision": start_revision.to_string(),
        }})
        .to_string();
        self.each_endpoint(|ep| {
            let stream = ep.stream("/v3/watch", body.as_bytes(), CALL_TIMEOUT).map_err(|e| e.to_string())?;
            if stream.status != 200 {
                return Err(format!("/v3/watch: HTTP {}", stream.status));
            }
            Ok(Watch { stream, buf: Vec::new() })
        })
    }
}

/// The gateway's watch stream: JSON messages, one after another.
pub struct Watch {
    stream: Stream,
    buf: Vec<u8>,
}

impl Watch {
    /// The next message, or None if none arrived within `wait`.
    pub fn next(&mut self, wait: Duration) -> io::Result<Option<Value>> {
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    self.buf.drain(..used);
                    return Ok(Some(v));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("watch: bad JSON: {e}")));
                }
                _ => {}
            }
            if !self.stream.read_some(&mut self.buf, wait)? {
                return Ok(None);
            }
        }
    }
}

/// An int64 of the gateway: a JSON string (or, leniently, a number).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The smallest key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let byte = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
        let n = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg==")] {
            assert_eq!(b64(raw.as_bytes()), enc);
            assert_eq!(unb64(enc).unwrap(), raw.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unb64(&b64(&all)).unwrap(), all);
        assert!(unb64("a*b=").is_none());
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/thumbnail/nodes/"), b"/thumbnail/nodes0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }
}
