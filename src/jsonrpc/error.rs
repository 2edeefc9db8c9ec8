//! The error half of every answer: JSON-RPC and ElectrumX error codes with ElectrumX's texts.

use super::thousands;
use std::fmt;

/// A JSON-RPC error object; methods return it and it goes to the client as `{code, message}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC or ElectrumX error code (see the associated constants).
    pub code: i64,
    /// Human-readable text, ElectrumX's wording where one exists.
    pub message: String,
}

impl RpcError {
    /// The line was not JSON or not UTF-8.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON was not a request object (also used for oversized responses).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method, or `method` is not a string.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong number or names of arguments.
    pub const INVALID_ARGS: i64 = -32602;
    /// A handler failed unexpectedly.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The session used too many resources and is being closed.
    pub const EXCESSIVE_RESOURCE_USAGE: i64 = -101;
    /// The request took longer than `REQUEST_TIMEOUT`.
    pub const SERVER_BUSY: i64 = -102;
    /// ElectrumX `BAD_REQUEST`: every semantic or validation error of a method.
    pub const BAD_REQUEST: i64 = 1;
    /// ElectrumX `DAEMON_ERROR`: the node refused or failed.
    pub const DAEMON_ERROR: i64 = 2;

    /// An error with any code.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// Code 1, for invalid values of otherwise well-formed requests.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Self::BAD_REQUEST, message)
    }

    /// Code 2, for failures reported by the node.
    pub fn daemon_error(message: impl Into<String>) -> Self {
        Self::new(Self::DAEMON_ERROR, message)
    }

    /// -32602, for argument-count and argument-name errors.
    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_ARGS, message)
    }

    /// -32601 `unknown method "<name>"`, what a backend answers for a method it does not serve.
    pub fn unknown_method(method: &str) -> Self {
        Self::new(
            Self::METHOD_NOT_FOUND,
            format!("unknown method \"{method}\""),
        )
    }

    /// -32603, for a handler that failed unexpectedly.
    pub fn internal() -> Self {
        Self::new(Self::INTERNAL_ERROR, "internal server error")
    }

    /// -32600 replacing a response larger than `MAX_SEND` (ElectrumX's text, sic).
    pub fn response_too_large(max_send: usize) -> Self {
        Self::new(
            Self::INVALID_REQUEST,
            format!(
                "response too large (over {} bytes",
                thousands(max_send as u64)
            ),
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}
