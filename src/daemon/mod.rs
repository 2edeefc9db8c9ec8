//! The blocking JSON-RPC client for kevacoind and the reader of its block files: the only code
//! that talks to the node or reads what it wrote.
//!
//! `Daemon` is a cheap `Clone` (one shared keep-alive pool), so the sync thread, the mempool
//! thread and worker threads can each hold one. Bulk calls go out as JSON-RPC batches. While the
//! node answers -28 (warming up) a call waits with backoff and logs once; at start-up
//! [`Daemon::wait_for_node`] waits for a node that is not up yet, logging every 10 s; that wait
//! and the start-up check are in `startup`.

pub mod blockfiles;
mod error;
mod startup;
mod transport;

pub use blockfiles::{BlockFiles, BlockMap, OpenFiles, Unusable};
pub use error::{Error, NodeError};
pub use startup::NodeInfo;
pub use transport::redact;

use crate::chain::hash::{from_hex, hash_from_hex, hash_to_hex};
use crate::chain::{Hash32, Network};
use parking_lot::RwLock;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use transport::Transport;

/// Requests per HTTP round trip for the batched calls (bounds request and answer size).
const MAX_BATCH: usize = 1000;
/// Longest pause between retries while the node warms up.
const MAX_WARMUP_BACKOFF: Duration = Duration::from_secs(5);
/// Writes one operator log line for the daemon layer.
pub(crate) fn log(msg: &str) {
    eprintln!("INFO:daemon: {msg}");
}

/// How to reach the node; built from `DAEMON_URL`, `NET` and friends.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Node URLs in failover order; each may itself be a comma-separated list.
    pub urls: Vec<String>,
    /// The node's `.cookie` file, used for URLs without `user:pass@`.
    pub cookie_file: Option<PathBuf>,
    /// Per-request timeout (connect + answer).
    pub timeout: Duration,
    /// The network the server is configured for (`NET`); the node must match it.
    pub network: Network,
}

struct Inner {
    /// Replaced as a whole by [`Daemon::switch_urls`]; calls under way finish on the old one.
    transport: RwLock<Arc<Transport>>,
    cookie_file: Option<PathBuf>,
    timeout: Duration,
    network: Network,
    next_id: AtomicU64,
    /// Set while a warm-up episode is being waited out, so it is logged once.
    warmup_logged: AtomicBool,
}

/// The node client; clone it freely (clones share one connection pool).
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
    /// Whether a call waits while the node warms up (-28) or returns that error at once.
    waits_warmup: bool,
}

impl Daemon {
    /// Validates the URLs and reads the cookie file; does not contact the node yet.
    pub fn new(cfg: DaemonConfig) -> Result<Daemon, Error> {
        let transport =
            Transport::new(&cfg.urls, cfg.cookie_file.clone(), cfg.timeout, cfg.network)?;
        Ok(Daemon {
            inner: Arc::new(Inner {
                transport: RwLock::new(Arc::new(transport)),
                cookie_file: cfg.cookie_file,
                timeout: cfg.timeout,
                network: cfg.network,
                next_id: AtomicU64::new(1),
                warmup_logged: AtomicBool::new(false),
            }),
            waits_warmup: true,
        })
    }

    /// A clone whose calls answer a node still warming up (-28) with that error at once instead
    /// of waiting it out: for a prober that must report what it sees.
    pub fn impatient(&self) -> Daemon {
        Daemon {
            inner: Arc::clone(&self.inner),
            waits_warmup: false,
        }
    }

    /// The URL currently in use, without credentials (for logs and the admin `daemon_url`).
    pub fn current_url(&self) -> String {
        self.transport().current_url()
    }

    fn transport(&self) -> Arc<Transport> {
        self.inner.transport.read().clone()
    }

    /// Moves every clone to other node URLs (comma-separated, in failover order), once the
    /// first of them passes the start-up check; otherwise nothing changes.
    pub fn switch_urls(&self, urls: &str) -> Result<NodeInfo, Error> {
        let candidate = Daemon::new(DaemonConfig {
            urls: vec![urls.to_string()],
            cookie_file: self.inner.cookie_file.clone(),
            timeout: self.inner.timeout,
            network: self.inner.network,
        })?;
        let info = candidate.startup_check()?;
        *self.inner.transport.write() = candidate.transport();
        log(&format!("now using the node at {}", info.url));
        Ok(info)
    }

    /// The node's height (`getblockcount`).
    pub fn block_count(&self) -> Result<u32, Error> {
        let v = self.call("getblockcount", json!([]))?;
        v.as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| self.bad(format!("getblockcount returned {v}")))
    }

    /// The node's tip (`getbestblockhash`).
    pub fn best_block_hash(&self) -> Result<Hash32, Error> {
        let v = self.call("getbestblockhash", json!([]))?;
        self.parse_hash("getbestblockhash", &v)
    }

    fn block_hash(&self, height: u32) -> Result<Hash32, Error> {
        Ok(self.block_hashes(height, 1)?[0])
    }

    /// Block hashes for heights `first..first+count` (batched `getblockhash`).
    pub fn block_hashes(&self, first: u32, count: u32) -> Result<Vec<Hash32>, Error> {
        let params: Vec<Value> = (0..count)
            .map(|i| json!([first as u64 + i as u64]))
            .collect();
        let answers = self.batch("getblockhash", &params)?;
        answers
            .into_iter()
            .map(|a| {
                let v = a.map_err(|e| Error::Node {
                    method: "getblockhash".into(),
                    error: e,
                })?;
                self.parse_hash("getblockhash", &v)
            })
            .collect()
    }

    /// Raw blocks for the given hashes (batched `getblock <hash> 0`), in the same order.
    pub fn blocks(&self, hashes: &[Hash32]) -> Result<Vec<Vec<u8>>, Error> {
        let params: Vec<Value> = hashes.iter().map(|h| json!([hash_to_hex(h), 0])).collect();
        let answers = self.batch("getblock", &params)?;
        answers
            .into_iter()
            .map(|a| {
                let v = a.map_err(|e| Error::Node {
                    method: "getblock".into(),
                    error: e,
                })?;
                self.parse_hex("getblock", &v)
            })
            .collect()
    }

    /// Raw transactions (batched `getrawtransaction <txid> false`); `None` for unknown txids.
    pub fn raw_transactions(&self, txids: &[Hash32]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let params: Vec<Value> = txids
            .iter()
            .map(|t| json!([hash_to_hex(t), false]))
            .collect();
        let answers = self.batch("getrawtransaction", &params)?;
        answers
            .into_iter()
            .map(|a| match a {
                Ok(v) => self.parse_hex("getrawtransaction", &v).map(Some),
                Err(e) if e.code == NodeError::NOT_FOUND => Ok(None),
                Err(e) => Err(Error::Node {
                    method: "getrawtransaction".into(),
                    error: e,
                }),
            })
            .collect()
    }

    /// The node's JSON view of one transaction (`getrawtransaction <txid> true`).
    pub fn transaction_verbose(&self, txid: &Hash32) -> Result<Value, Error> {
        self.call("getrawtransaction", json!([hash_to_hex(txid), true]))
    }

    /// Txids in the node's mempool (`getrawmempool`).
    pub fn raw_mempool(&self) -> Result<Vec<Hash32>, Error> {
        let v = self.call("getrawmempool", json!([false]))?;
        let list = v
            .as_array()
            .ok_or_else(|| self.bad(format!("getrawmempool returned {}", short(&v))))?;
        list.iter()
            .map(|t| self.parse_hash("getrawmempool", t))
            .collect()
    }

    /// Broadcasts a transaction; the node's rejection (-25, -26, -27, …) is a value.
    pub fn send_raw_transaction(&self, hex: &str) -> Result<Result<Hash32, NodeError>, Error> {
        match self.call_node("sendrawtransaction", json!([hex]))? {
            Ok(v) => self.parse_hash("sendrawtransaction", &v).map(Ok),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Fee estimate in KVA/kB for confirmation within `blocks`; `None` when the node has none.
    pub fn estimate_smart_fee(&self, blocks: u32) -> Result<Option<f64>, Error> {
        let v = self.call("estimatesmartfee", json!([blocks]))?;
        Ok(v.get("feerate")
            .and_then(Value::as_f64)
            .filter(|f| *f > 0.0))
    }

    /// The node's minimum relay fee in KVA/kB (`getnetworkinfo.relayfee`).
    pub fn relay_fee(&self) -> Result<f64, Error> {
        let v = self.network_info()?;
        v["relayfee"]
            .as_f64()
            .ok_or_else(|| self.bad("getnetworkinfo has no numeric `relayfee`"))
    }

    /// `getmempoolinfo` as the node returns it.
    pub fn mempool_info(&self) -> Result<Value, Error> {
        self.call("getmempoolinfo", json!([]))
    }

    /// `getblockchaininfo` as the node returns it.
    pub fn blockchain_info(&self) -> Result<Value, Error> {
        self.call("getblockchaininfo", json!([]))
    }

    /// `getnetworkinfo` as the node returns it.
    pub fn network_info(&self) -> Result<Value, Error> {
        self.call("getnetworkinfo", json!([]))
    }

    /// One call whose node error is a failure of the caller's request.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.call_node(method, params)?.map_err(|e| Error::Node {
            method: method.to_string(),
            error: e,
        })
    }

    /// One call; a node error is returned as a value (warm-up is waited out first).
    pub fn call_node(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, NodeError>, Error> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.call_once(method, &params)? {
                Err(e) if e.code == NodeError::WARMING_UP && self.waits_warmup => {
                    self.wait_warmup(&self.current_url(), &e, &mut backoff);
                }
                other => {
                    self.end_warmup();
                    return Ok(other);
                }
            }
        }
    }

    /// One request, its node error returned as a value, warm-up included.
    fn call_once(&self, method: &str, params: &Value) -> Result<Result<Value, NodeError>, Error> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let (v, url) = self.transport().post(body.to_string().as_bytes())?;
        self.answer(&url, method, &v)
    }

    /// Many calls of one method, sent as JSON-RPC batches; answers come back in `params` order.
    pub fn batch(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Vec<Result<Value, NodeError>>, Error> {
        let mut out = Vec::with_capacity(params.len());
        for chunk in params.chunks(MAX_BATCH) {
            out.extend(self.batch_chunk(method, chunk)?);
        }
        Ok(out)
    }

    fn batch_chunk(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Vec<Result<Value, NodeError>>, Error> {
        let mut backoff = Duration::from_millis(50);
        'retry: loop {
            let first = self
                .inner
                .next_id
                .fetch_add(params.len() as u64, Ordering::Relaxed);
            let reqs: Vec<Value> = params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    json!({"jsonrpc": "1.0", "id": first + i as u64, "method": method, "params": p})
                })
                .collect();
            let (v, url) = self
                .transport()
                .post(Value::Array(reqs).to_string().as_bytes())?;
            let list = match v {
                Value::Array(list) => list,
                // A whole-batch error (e.g. warming up) comes back as a single object.
                single => match self.answer(&url, method, &single)? {
                    Err(e) if e.code == NodeError::WARMING_UP && self.waits_warmup => {
                        self.wait_warmup(&url, &e, &mut backoff);
                        continue 'retry;
                    }
                    Err(e) => {
                        return Err(Error::Node {
                            method: method.to_string(),
                            error: e,
                        })
                    }
                    Ok(_) => {
                        return Err(Error::BadResponse {
                            url,
                            detail: format!("a batch of `{method}` was answered with one object"),
                        })
                    }
                },
            };
            if list.len() != params.len() {
                return Err(Error::BadResponse {
                    url,
                    detail: format!(
                        "a batch of {} `{method}` calls got {} answers",
                        params.len(),
                        list.len()
                    ),
                });
            }
            let mut slots: Vec<Option<Result<Value, NodeError>>> = vec![None; params.len()];
            for item in &list {
                let idx = item["id"]
                    .as_u64()
                    .and_then(|id| id.checked_sub(first))
                    .map(|i| i as usize)
                    .filter(|i| *i < params.len())
                    .ok_or_else(|| Error::BadResponse {
                        url: url.clone(),
                        detail: format!("a batch answer has an unknown id {}", item["id"]),
                    })?;
                let answer = self.answer(&url, method, item)?;
                if matches!(&answer, Err(e) if e.code == NodeError::WARMING_UP && self.waits_warmup)
                {
                    if let Err(e) = &answer {
                        self.wait_warmup(&url, e, &mut backoff);
                    }
                    continue 'retry;
                }
                slots[idx] = Some(answer);
            }
            self.end_warmup();
            return slots
                .into_iter()
                .map(|s| {
                    s.ok_or_else(|| Error::BadResponse {
                        url: url.clone(),
                        detail: format!("a batch of `{method}` calls repeated an id"),
                    })
                })
                .collect();
        }
    }

    /// Splits one JSON-RPC response object into its result or node error.
    fn answer(
        &self,
        url: &str,
        method: &str,
        v: &Value,
    ) -> Result<Result<Value, NodeError>, Error> {
        let obj = v.as_object().ok_or_else(|| Error::BadResponse {
            url: url.to_string(),
            detail: format!("`{method}` was answered with {}", short(v)),
        })?;
        match obj.get("error") {
            Some(e) if !e.is_null() => {
                let code = e["code"].as_i64().unwrap_or(0);
                let message = e["message"].as_str().unwrap_or("").to_string();
                Ok(Err(NodeError { code, message }))
            }
            _ => match obj.get("result") {
                Some(r) => Ok(Ok(r.clone())),
                None => Err(Error::BadResponse {
                    url: url.to_string(),
                    detail: format!("the answer to `{method}` has neither result nor error"),
                }),
            },
        }
    }

    fn wait_warmup(&self, url: &str, e: &NodeError, backoff: &mut Duration) {
        if !self.inner.warmup_logged.swap(true, Ordering::Relaxed) {
            log(&format!(
                "kevacoind at {url} is warming up ({}); waiting for it",
                e.message
            ));
        }
        std::thread::sleep(*backoff);
        *backoff = (*backoff * 2).min(MAX_WARMUP_BACKOFF);
    }

    fn end_warmup(&self) {
        if self.inner.warmup_logged.swap(false, Ordering::Relaxed) {
            log("kevacoind has finished warming up");
        }
    }

    fn parse_hash(&self, method: &str, v: &Value) -> Result<Hash32, Error> {
        v.as_str()
            .and_then(|s| hash_from_hex(s).ok())
            .ok_or_else(|| {
                self.bad(format!(
                    "`{method}` returned {} instead of a hash",
                    short(v)
                ))
            })
    }

    fn parse_hex(&self, method: &str, v: &Value) -> Result<Vec<u8>, Error> {
        let s = v
            .as_str()
            .ok_or_else(|| self.bad(format!("`{method}` returned {} instead of hex", short(v))))?;
        from_hex(s).map_err(|e| self.bad(format!("`{method}` returned bad hex: {e}")))
    }

    fn bad(&self, detail: impl Into<String>) -> Error {
        Error::BadResponse {
            url: self.current_url(),
            detail: detail.into(),
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s
    }
}
