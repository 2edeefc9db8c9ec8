//! The admin (`rpc`) service as ElectrumX's `electrumx_rpc` expects it: newline JSON-RPC on a
//! loopback port, one command per request.
//!
//! Commands about sessions (`sessions`, `groups`, `disconnect`, `log`, the session part of
//! `getinfo`) and peers (`peers`, `add_peer`) are answered by the server itself. The others
//! concern the chain, the node or the process and go to the program's [`Admin`]
//! implementation, called on the admin thread, never on the event loop.

use super::pool::{Done, Outcome, Route, Wake};
use crate::jsonrpc::{bind_params, encode_error, encode_result, py_str, RpcError};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the program implements for the admin commands that are not about sessions or peers.
///
/// Each method runs on the admin thread and may block (read the index, call the node); the
/// server keeps serving meanwhile. Errors are sent to the CLI as they are, so their text should
/// tell the operator what to do.
pub trait Admin: Send + Sync + 'static {
    /// Facts about the chain and the process for `getinfo`, e.g. `{"coin": "Kevacoin",
    /// "daemon": "http://127.0.0.1:9337/", "daemon height": n, "db height": n}`; merged with
    /// the server's own keys (`sessions`, `groups`, `peers`, `uptime`, …).
    fn getinfo(&self) -> Value;

    /// `daemon_url [URL]`: switches to the given node URL(s) (comma-separated) when `url` is
    /// given; returns a sentence naming the node now in use (without credentials).
    fn daemon_url(&self, url: Option<&str>) -> Result<Value, RpcError>;

    /// `stop`: starts a clean shutdown and returns at once (e.g. `"stopping"`).
    fn stop(&self) -> Result<Value, RpcError>;

    /// `reorg [COUNT]`: undoes the last `count` blocks so they are indexed again (testing aid).
    fn reorg(&self, count: u32) -> Result<Value, RpcError>;

    /// `query ITEM… [--limit N]`: history, UTXOs and balance of each address or script (hex),
    /// as a list of lines to print.
    fn query(&self, items: &[String], limit: usize) -> Result<Value, RpcError>;

    /// `keva_ban_tx TXID`: hides the keva content of a transaction from every keva method.
    fn keva_ban_tx(&self, txid: &str) -> Result<Value, RpcError>;

    /// `keva_unban_tx TXID`: shows a banned transaction's keva content again.
    fn keva_unban_tx(&self, txid: &str) -> Result<Value, RpcError>;

    /// Extra lines for the Prometheus endpoint (tip height, sync rate, SQLite sizes), in the
    /// text exposition format; empty when there is nothing to add.
    fn metrics(&self) -> String;
}

/// Commands answered by [`Admin`] (the others are answered by the event loop).
pub const APP_COMMANDS: &[&str] = &[
    "getinfo",
    "daemon_url",
    "stop",
    "reorg",
    "query",
    "keva_ban_tx",
    "keva_unban_tx",
];

/// One admin command for the admin thread.
#[derive(Debug)]
pub struct AdminJob {
    /// Where the answer goes.
    pub route: Route,
    /// The request id (`None` for a notification: run, answer nobody).
    pub id: Option<Value>,
    /// The command name.
    pub command: String,
    /// Its params as sent.
    pub params: Value,
    /// The server's own part of the answer (`getinfo`), else `null`.
    pub local: Value,
}

/// Starts the admin thread.
pub fn spawn(
    admin: Arc<dyn Admin>,
    jobs: Receiver<AdminJob>,
    done: Sender<Done>,
    wake: Wake,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("admin".to_string())
        .spawn(move || {
            for job in jobs.iter() {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    run_command(&*admin, &job.command, &job.params, job.local)
                }))
                .unwrap_or_else(|_| Err(RpcError::internal()));
                if done.send(answer(job.route, job.id, &result)).is_err() {
                    return;
                }
                wake.wake();
            }
        })
}

/// The encoded answer to an admin request.
pub fn answer(route: Route, id: Option<Value>, result: &Result<Value, RpcError>) -> Done {
    let error = result.is_err();
    let outcome = match id {
        None => Outcome::Silent { error },
        Some(id) => Outcome::Response {
            bytes: match result {
                Ok(v) => encode_result(&id, v),
                Err(e) => encode_error(&id, e),
            },
            error,
        },
    };
    Done {
        route,
        outcome,
        cost: 0.0,
    }
}

/// Checks an [`APP_COMMANDS`] request's params and calls the matching [`Admin`] method; the
/// one place where the admin thread turns untrusted params into arguments.
pub fn run_command(
    admin: &dyn Admin,
    command: &str,
    params: &Value,
    local: Value,
) -> Result<Value, RpcError> {
    match command {
        "getinfo" => {
            bind_params(command, params, &[], &[])?;
            let mut info = admin.getinfo();
            if let (Some(info), Value::Object(local)) = (info.as_object_mut(), local) {
                info.extend(local);
            }
            Ok(info)
        }
        "daemon_url" => {
            let a = bind_params(command, params, &[], &["daemon_url"])?;
            let url = match a[0] {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(other) => {
                    return Err(bad(format!("daemon_url: {} is not a URL", py_str(other))))
                }
            };
            admin.daemon_url(url)
        }
        "stop" => {
            bind_params(command, params, &[], &[])?;
            admin.stop()
        }
        "reorg" => {
            let a = bind_params(command, params, &[], &["count"])?;
            let count = match a[0] {
                None | Some(Value::Null) => 3,
                Some(v) => int_param(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        bad(format!(
                            "reorg: count {} is not a positive whole number",
                            py_str(v)
                        ))
                    })?,
            };
            admin.reorg(count)
        }
        "query" => {
            let a = bind_params(command, params, &["items"], &["limit"])?;
            let items: Vec<String> = match a[0] {
                Some(Value::Array(list)) => list.iter().map(py_str).collect(),
                Some(Value::String(s)) => vec![s.clone()],
                Some(other) => {
                    return Err(bad(format!("query: items {} is not a list", py_str(other))))
                }
                None => Vec::new(),
            };
            if items.is_empty() {
                return Err(bad("query: give at least one address or script"));
            }
            let limit = match a[1] {
                None | Some(Value::Null) => 1000,
                Some(v) => int_param(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        bad(format!("query: limit {} is not a whole number", py_str(v)))
                    })?,
            };
            admin.query(&items, limit)
        }
        "keva_ban_tx" | "keva_unban_tx" => {
            let a = bind_params(command, params, &["txid"], &[])?;
            let txid = match a[0] {
                Some(Value::String(s)) if is_txid(s) => s.to_ascii_lowercase(),
                Some(v) => {
                    return Err(bad(format!(
                        "{command}: {} is not a transaction id (64 hex digits)",
                        py_str(v)
                    )))
                }
                None => return Err(bad(format!("{command}: give a transaction id"))),
            };
            if command == "keva_ban_tx" {
                admin.keva_ban_tx(&txid)
            } else {
                admin.keva_unban_tx(&txid)
            }
        }
        other => Err(RpcError::unknown_method(other)),
    }
}

/// An admin error with code 1 (ElectrumX `BAD_REQUEST`).
pub fn bad(message: impl Into<String>) -> RpcError {
    RpcError::bad_request(message)
}

/// A whole number given as a JSON number or a decimal string.
pub fn int_param(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_txid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Session ids from `disconnect` / `log` params: numbers or strings, one or a list.
pub fn session_ids(command: &str, params: &Value) -> Result<Vec<u64>, RpcError> {
    let list: Vec<&Value> = match params {
        // Positional: the ids themselves (["3", 5]) or one list of them ([[3, 5]]).
        Value::Array(items) => match items.as_slice() {
            [Value::Array(inner)] => inner.iter().collect(),
            _ => items.iter().collect(),
        },
        _ => match bind_params(command, params, &[], &["session_ids"])?[0] {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v) => vec![v],
        },
    };
    list.into_iter()
        .map(|v| {
            // Ids are u64: every one the CLI can send parses, past i64::MAX too.
            let id = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            id.ok_or_else(|| bad(format!("{command}: {} is not a session id", py_str(v))))
        })
        .collect()
}

/// Shows an address unless `ANON_LOGS` hides it.
pub fn show_addr(addr: std::net::SocketAddr, anon: bool) -> String {
    if anon {
        "xx.xx.xx.xx:xx".to_string()
    } else {
        addr.to_string()
    }
}

/// `{"sessions": …}` part of `getinfo` built by the loop; keys as ElectrumX.
pub fn sessions_info(
    count: u64,
    with_subs: u64,
    errors: u64,
    logged: u64,
    pending: u64,
    subs: u64,
) -> Value {
    json!({
        "count": count,
        "count with subs": with_subs,
        "errors": errors,
        "logged": logged,
        "pending requests": pending,
        "subs": subs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_accept_numbers_strings_and_lists() {
        assert_eq!(session_ids("log", &json!(["3", 5])).unwrap(), vec![3, 5]);
        assert_eq!(session_ids("log", &json!([[7, "8"]])).unwrap(), vec![7, 8]);
        assert_eq!(
            session_ids("log", &json!({"session_ids": ["9"]})).unwrap(),
            vec![9]
        );
        assert!(session_ids("log", &json!(["x"]))
            .unwrap_err()
            .message
            .contains("not a session id"));
        // Any u64 the CLI accepts, beyond i64 too (a fuzzing finding); negatives are refused.
        let big = "13333333333333336436";
        assert_eq!(
            session_ids("disconnect", &json!({"session_ids": ["44", big]})).unwrap(),
            vec![44, 13_333_333_333_333_336_436]
        );
        assert_eq!(
            session_ids("log", &json!([u64::MAX])).unwrap(),
            vec![u64::MAX]
        );
        assert!(session_ids("log", &json!([-1])).is_err());
    }
}
