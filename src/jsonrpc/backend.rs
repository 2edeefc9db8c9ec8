//! The boundary between the server (sockets, protocol, limits) and the methods that read the
//! index. The server runs every backend call on a worker thread, never on the event loop.

use super::RpcError;
use serde_json::Value;

/// A successful result.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A JSON value, serialized by the worker.
    Value(Value),
    /// JSON text written directly by a method whose answer can be too large to build as a
    /// value tree first (a value tree of a long history takes ~10 times its text).
    Text(String),
}

impl Reply {
    /// The result as a value (text is parsed back: for tests and other in-process callers).
    pub fn into_value(self) -> Value {
        match self {
            Reply::Value(v) => v,
            Reply::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Value(value)
    }
}

/// The answer to one method call, with the resource cost it incurred.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The result, or the protocol error to send.
    pub result: Result<Reply, RpcError>,
    /// Cost units charged to the session (ElectrumX scale: a ping is 0.1, a header 0.25–1.25,
    /// a history 0.1 + 0.001 per entry). Errors are charged 100 more by the server.
    pub cost: f64,
}

impl Answer {
    /// A successful answer with the default cost of 0.1.
    pub fn ok(value: Value) -> Self {
        Answer {
            result: Ok(Reply::Value(value)),
            cost: 0.1,
        }
    }

    /// An error answer with the default cost of 0.1 (plus the server's error charge).
    pub fn err(error: RpcError) -> Self {
        Answer {
            result: Err(error),
            cost: 0.1,
        }
    }

    /// The same answer with another cost.
    pub fn with_cost(mut self, cost: f64) -> Self {
        self.cost = cost;
        self
    }
}

impl From<Result<Value, RpcError>> for Answer {
    fn from(result: Result<Value, RpcError>) -> Self {
        Answer {
            result: result.map(Reply::Value),
            cost: 0.1,
        }
    }
}

/// What the rest of the program implements to serve the protocol methods.
///
/// The server itself answers `server.version`, `server.ping`, `server.banner`,
/// `server.donation_address`, `server.features`, `server.peers.subscribe`, `server.add_peer`,
/// `blockchain.headers.subscribe`, `blockchain.scripthash.subscribe` and
/// `blockchain.scripthash.unsubscribe`; every other method goes to [`Backend::call`], which
/// answers `RpcError::unknown_method` for names it does not serve.
///
/// Scripthashes are passed as the 32 bytes of the hex string the client sent, in that order
/// (Electrum display order, i.e. the reversed sha256 of the script). `ChainEvent::touched` uses
/// the same order.
pub trait Backend: Send + Sync + 'static {
    /// Per-worker state (e.g. its read-only SQLite connection), created once on each worker.
    type Worker;

    /// Creates the state of one worker; runs on that worker's thread.
    fn new_worker(&self) -> Self::Worker;

    /// Runs one request (params are positional or named, validated by the method).
    fn call(&self, worker: &mut Self::Worker, method: &str, params: &Value) -> Answer;

    /// The Electrum status of a scripthash: hex sha256 of its history string, `None` when the
    /// history is empty; an error (e.g. "history too large") refuses or ends the subscription.
    fn scripthash_status(
        &self,
        worker: &mut Self::Worker,
        scripthash: &[u8; 32],
    ) -> Result<Option<String>, RpcError>;

    /// The current tip `{"height": n, "hex": "<raw header>"}`, for the first
    /// `blockchain.headers.subscribe` before any `ChainEvent` has been seen.
    fn tip(&self, worker: &mut Self::Worker) -> Result<Value, RpcError>;
}
