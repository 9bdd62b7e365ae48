//! The engine's error type: a status class (mapped to a negative `int` at the C ABI) and a message
//! written for the person reading `hs_last_error()`.

use std::fmt;

/// What kind of failure happened. The FFI layer turns each into a stable negative status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument is invalid: NULL, not UTF-8, out of range, malformed.
    Invalid,
    /// The call does not fit the server's state (not started, already running, shut down, freed).
    State,
    /// The operating system refused: bind, listen, socket options.
    Io,
    /// An id (connection, timer, route) that is not (or no longer) known.
    NotFound,
    /// A route pattern that does not compile.
    Pattern,
    /// A bounded queue is full (a WebSocket client that does not read).
    Full,
    /// A panic was caught at the boundary.
    Panic,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
