//! Meeting the node: the start-up check (reachable, right network, `txindex` on) and the wait
//! for a node that is not up yet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{log, Daemon, Error, NodeError};
use crate::chain::hash::hash_to_hex;

/// How often the start-up wait for the node says it is still waiting (as ElectrumX does).
const WAIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What the start-up check learned about the node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// `getnetworkinfo.version`, e.g. 160900.
    pub version: u64,
    /// `getnetworkinfo.subversion`, e.g. "/KevacoinCore:0.16.9/".
    pub subversion: String,
    /// `getblockchaininfo.chain`: "main", "test" or "regtest".
    pub chain: String,
    /// The node's block height.
    pub height: u32,
    /// The node's header height (ahead of `height` while it syncs).
    pub headers: u32,
    /// Whether the node is still in initial block download.
    pub initial_block_download: bool,
    /// `Some(true)` when a confirmed transaction could be fetched; `None` when the chain holds
    /// only the genesis block, so nothing could be checked yet.
    pub txindex: Option<bool>,
    /// The URL that answered (no credentials).
    pub url: String,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let txindex = match self.txindex {
            Some(true) => "on",
            Some(false) => "OFF",
            None => "not yet checkable (only the genesis block)",
        };
        write!(
            f,
            "kevacoind {} (version {}) at {}: chain {}, height {}, headers {}{}, txindex {}",
            self.subversion,
            self.version,
            self.url,
            self.chain,
            self.height,
            self.headers,
            if self.initial_block_download {
                " (initial block download)"
            } else {
                ""
            },
            txindex
        )
    }
}

impl Daemon {
    /// Waits until the node passes [`Daemon::startup_check`]: a node not listening yet, or
    /// still loading its block index (-28), is waited for with a log line every 10 s naming the
    /// URL; misconfiguration (credentials, network, txindex, a URL that is no node) ends the
    /// wait with its error. `None` when `stop` was set first.
    pub fn wait_for_node(&self, stop: &AtomicBool) -> Result<Option<NodeInfo>, Error> {
        let mut logged: Option<Instant> = None;
        loop {
            match self.startup_check() {
                Ok(info) => return Ok(Some(info)),
                Err(e) if e.is_transient() => {
                    if logged.is_none_or(|t| t.elapsed() >= WAIT_LOG_INTERVAL) {
                        let why = match &e {
                            Error::Node { error, .. } => {
                                format!("it is still starting ({})", error.message)
                            }
                            other => other.to_string(),
                        };
                        log(&format!(
                            "waiting for kevacoind at {}: {why} (retrying every second)",
                            self.current_url()
                        ));
                        logged = Some(Instant::now());
                    }
                }
                Err(e) => return Err(e),
            }
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Checks the node before anything else runs: reachable, right network, `txindex` on.
    /// A node still warming up is an error here (-28), not waited for.
    pub fn startup_check(&self) -> Result<NodeInfo, Error> {
        let net = self
            .call_once("getnetworkinfo", &json!([]))?
            .map_err(|error| Error::Node {
                method: "getnetworkinfo".into(),
                error,
            })?;
        let chain_info = self.blockchain_info()?;
        let url = self.current_url();
        let chain = chain_info["chain"].as_str().unwrap_or("?").to_string();
        let expected = self.inner.network;
        let genesis = self.block_hash(0)?;
        if genesis != expected.genesis_hash() {
            return Err(Error::WrongNetwork {
                url,
                expected: expected.name().to_string(),
                detail: format!(
                    "its genesis block is {} (chain \"{chain}\") but {} starts with {}",
                    hash_to_hex(&genesis),
                    expected.name(),
                    hash_to_hex(&expected.genesis_hash())
                ),
            });
        }
        let height = self.block_count()?;
        let txindex = if height == 0 {
            None
        } else {
            Some(self.probe_txindex()?)
        };
        if txindex == Some(false) {
            return Err(Error::NoTxindex { url });
        }
        let info = NodeInfo {
            version: net["version"].as_u64().unwrap_or(0),
            subversion: net["subversion"].as_str().unwrap_or("").to_string(),
            chain,
            height,
            headers: chain_info["headers"].as_u64().map_or(height, |h| h as u32),
            initial_block_download: chain_info["initialblockdownload"]
                .as_bool()
                .unwrap_or(false),
            txindex,
            url,
        };
        log(&info.to_string());
        Ok(info)
    }

    /// Fetches block 1's coinbase through `getrawtransaction`: only a node with txindex has it.
    fn probe_txindex(&self) -> Result<bool, Error> {
        let hash = self.block_hash(1)?;
        let block = self.call("getblock", json!([hash_to_hex(&hash), 1]))?;
        let txid = block["tx"]
            .get(0)
            .and_then(Value::as_str)
            .ok_or_else(|| self.bad("getblock 1 has no `tx` list"))?
            .to_string();
        match self.call_node("getrawtransaction", json!([txid, false]))? {
            Ok(_) => Ok(true),
            Err(e) if e.code == NodeError::NOT_FOUND => Ok(false),
            Err(e) => Err(Error::Node {
                method: "getrawtransaction".into(),
                error: e,
            }),
        }
    }
}
