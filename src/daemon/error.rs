//! What can go wrong when talking to kevacoind, worded so an operator knows what to fix.
//!
//! No variant ever holds credentials: URLs are stored with their user information removed.

use std::fmt;
use std::time::Duration;

/// A JSON-RPC error object returned by the node (`{"code": .., "message": ..}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeError {
    /// The node's error code, e.g. -5 (not found), -25/-26 (rejected), -28 (warming up).
    pub code: i64,
    /// The node's own explanation.
    pub message: String,
}

impl NodeError {
    /// Code the node uses while it loads its block index (retry later).
    pub const WARMING_UP: i64 = -28;
    /// Code for "no such transaction / block".
    pub const NOT_FOUND: i64 = -5;
    /// Code for an unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for NodeError {}

/// Every failure of a daemon call; `Display` says what to check.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// No node answered at any configured URL (connection refused, DNS, reset).
    Unreachable { urls: Vec<String>, detail: String },
    /// The node rejected the credentials (HTTP 401).
    Auth { url: String, cookie: bool },
    /// The node accepted the connection but did not answer in time.
    Timeout { url: String, after: Duration },
    /// The node answered a call with a JSON-RPC error.
    Node { method: String, error: NodeError },
    /// The node's answer was not what a kevacoind sends (bad JSON, bad hex, wrong shape, HTTP 5xx).
    BadResponse { url: String, detail: String },
    /// The node follows another chain than the configured `NET`.
    WrongNetwork {
        url: String,
        expected: String,
        detail: String,
    },
    /// The node runs without `txindex=1`, which the server needs.
    NoTxindex { url: String },
    /// The configuration cannot work (bad `DAEMON_URL`, unreadable cookie file).
    Config(String),
}

impl Error {
    /// Whether waiting may cure it (the node is starting, restarting or busy), as opposed to a
    /// configuration the operator must fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } => true,
            Error::Node { error, .. } => error.code == NodeError::WARMING_UP,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable { urls, detail } => write!(
                f,
                "cannot reach kevacoind at {} ({detail}): is kevacoind running, is `rpcport` right?",
                urls.join(", ")
            ),
            Error::Auth { url, cookie: false } => write!(
                f,
                "kevacoind at {url} refused the credentials (HTTP 401): check `rpcuser`/`rpcpassword` \
                 in kevacoin.conf against the user and password in DAEMON_URL"
            ),
            Error::Auth { url, cookie: true } => write!(
                f,
                "kevacoind at {url} refused the cookie credentials (HTTP 401): check that the cookie \
                 file belongs to this node, or put `rpcuser`/`rpcpassword` into DAEMON_URL"
            ),
            Error::Timeout { url, after } => write!(
                f,
                "kevacoind at {url} did not answer within {:.1} s: is the node overloaded or stuck? \
                 (the node may still be busy; the call can be retried)",
                after.as_secs_f64()
            ),
            Error::Node { method, error } => {
                write!(f, "kevacoind answered `{method}` with an error: {error}")
            }
            Error::BadResponse { url, detail } => write!(
                f,
                "kevacoind at {url} sent an answer that cannot be used: {detail} \
                 (is DAEMON_URL pointing at kevacoind's RPC port?)"
            ),
            Error::WrongNetwork {
                url,
                expected,
                detail,
            } => write!(
                f,
                "kevacoind at {url} is not on {expected}: {detail}; set NET to the node's network \
                 or point DAEMON_URL at a {expected} node"
            ),
            Error::NoTxindex { url } => write!(
                f,
                "kevacoind at {url} runs without a transaction index: add `txindex=1` to \
                 kevacoin.conf and restart it once with `-reindex`"
            ),
            Error::Config(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}
