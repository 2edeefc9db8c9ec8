//! The only node calls a client request can cause: `getrawtransaction`, `sendrawtransaction`,
//! `estimatesmartfee` and `getnetworkinfo`.
//!
//! [`NodeGateway`] keeps the [`Daemon`] private and exposes exactly these four, so no method
//! handler can reach any other node RPC (wallet calls, `stop`, …), whatever a client sends.

use serde_json::{json, Value};

use crate::chain::hash::hash_to_hex;
use crate::chain::Hash32;
use crate::daemon::{self, Daemon, NodeError};
use crate::jsonrpc::py_repr;
use crate::jsonrpc::RpcError;

/// A narrow handle on the node for the protocol methods.
#[derive(Clone)]
pub struct NodeGateway {
    daemon: Daemon,
}

/// The outcome of a pass-through call: the node's result, or its JSON-RPC error as a value.
pub type NodeAnswer = Result<Value, NodeError>;

impl NodeGateway {
    /// Wraps a daemon client; the wrapper is all the methods ever see of it.
    pub fn new(daemon: Daemon) -> NodeGateway {
        NodeGateway { daemon }
    }

    /// `getrawtransaction <txid> <verbose>`: hex, or the node's JSON object when verbose.
    pub fn get_raw_transaction(
        &self,
        txid: &Hash32,
        verbose: bool,
    ) -> Result<NodeAnswer, RpcError> {
        self.call("getrawtransaction", json!([hash_to_hex(txid), verbose]))
    }

    /// `sendrawtransaction <hex>`: the txid, or the node's rejection.
    pub fn send_raw_transaction(&self, raw_hex: &str) -> Result<NodeAnswer, RpcError> {
        self.call("sendrawtransaction", json!([raw_hex]))
    }

    /// `estimatesmartfee <blocks>`: the node's whole answer object.
    pub fn estimate_smart_fee(&self, blocks: u64) -> Result<NodeAnswer, RpcError> {
        self.call("estimatesmartfee", json!([blocks]))
    }

    /// `getnetworkinfo`, for its `relayfee`.
    pub fn network_info(&self) -> Result<NodeAnswer, RpcError> {
        self.call("getnetworkinfo", json!([]))
    }

    fn call(&self, method: &'static str, params: Value) -> Result<NodeAnswer, RpcError> {
        self.daemon
            .call_node(method, params)
            .map_err(|e| unavailable(method, &e))
    }
}

/// Code 2 with ElectrumX's text for a node error: `daemon error: DaemonError({...})`.
pub fn daemon_error(e: &NodeError) -> RpcError {
    RpcError::daemon_error(format!(
        "daemon error: DaemonError({{'code': {}, 'message': {}}})",
        e.code,
        py_repr(&Value::String(e.message.clone()))
    ))
}

/// The node could not be asked at all: logged in full for the operator, answered without the
/// node's address.
fn unavailable(method: &str, e: &daemon::Error) -> RpcError {
    eprintln!("WARNING:methods: `{method}` for a client failed: {e}");
    RpcError::daemon_error("daemon error: kevacoind is unavailable, try again later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_error_text_is_python_repr() {
        let e = NodeError {
            code: -5,
            message: "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.".into(),
        };
        assert_eq!(
            daemon_error(&e).message,
            "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain \
             transaction. Use gettransaction for wallet transactions.'})"
        );
        assert_eq!(daemon_error(&e).code, 2);
    }
}
