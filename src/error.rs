//! The one error type of the library. Its kinds are the contract shared by
//! every surface: the CLI prints `kind: message`, the C ABI maps each kind to
//! a fixed status number, nginx maps each kind to an HTTP status.

use std::fmt;

/// What went wrong, in the terms a caller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The spec string is malformed or out of range (HTTP 400).
    InvalidSpec,
    /// The bytes are not an image format this library decodes (HTTP 415).
    Unsupported,
    /// The image claims a supported format but its data is broken (HTTP 415).
    Corrupt,
    /// The source or the requested output exceeds a configured limit (HTTP 413).
    TooLarge,
    /// A bug or resource failure inside the library (HTTP 500).
    Internal,
    /// The caller's source loader failed (HTTP 502): the cache's
    /// `get_or_render` hands this to the leader and to every waiter.
    LoadFailed,
}

impl ErrorKind {
    /// The stable, lowercase name used in messages, the CLI and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidSpec => "invalid-spec",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Internal => "internal",
            ErrorKind::LoadFailed => "load-failed",
        }
    }

    /// The HTTP status a server answers with: the one mapping every surface
    /// uses (the C ABI exports it as `thumbnail_status_http`).
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidSpec => 400,
            ErrorKind::Unsupported | ErrorKind::Corrupt => 415,
            ErrorKind::TooLarge => 413,
            ErrorKind::Internal => 500,
            ErrorKind::LoadFailed => 502,
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::InvalidSpec,
        ErrorKind::Unsupported,
        ErrorKind::Corrupt,
        ErrorKind::TooLarge,
        ErrorKind::Internal,
        ErrorKind::LoadFailed,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its kind and a human-readable reason.
///
/// Cloneable so that one failed render can be handed to every caller that
/// waited for it (the cache's single-flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind`. The message is made fit for one log line:
    /// control characters (decoders end some messages with a newline) become
    /// a space (whitespace) or `?`, and surrounding spaces are trimmed.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: one_line(message.into()) }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The reason without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_spec(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSpec, message)
    }
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// A source loader's failure, for callers of the cache's `get_or_render`.
    pub fn load_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LoadFailed, message)
    }
}

/// Formats as `kind: message`, the form the CLI prints and nginx logs.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `message` without control characters or line separators, trimmed.
fn one_line(message: String) -> String {
    let bad = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !message.contains(bad) && message.trim() == message {
        return message;
    }
    let cleaned: String = message
        .chars()
        .map(|c| {
            if c.is_whitespace() && bad(c) {
                ' '
            } else if bad(c) {
                '?'
            } else {
                c
            }
        })
        .collect();
    cleaned.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        // zune-core ends "Not enough bytes" with a newline (fuzz/regressions/*/jpeg-message-newline).
        let e = Error::corrupt("JPEG: I/O errors Not enough bytes, expected 5 but found 2\n");
        assert_eq!(e.message(), "JPEG: I/O errors Not enough bytes, expected 5 but found 2");
        let e = Error::corrupt("a\r\nb\tc\x1b[31m\x7f\u{85}d\u{2028}e\0");
        assert_eq!(e.message(), "a  b c?[31m? d e?");
        assert_eq!(e.to_string(), "corrupt: a  b c?[31m? d e?");
        assert_eq!(Error::unsupported("  plain  ").message(), "plain");
        assert_eq!(Error::too_large("unchanged: é ü").message(), "unchanged: é ü");
    }
}
