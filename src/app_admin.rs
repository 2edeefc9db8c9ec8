//! The chain side of the admin interface (`keva-electrum rpc …`): node, index and moderation
//! commands; the server answers the session commands itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::chain::address::address_to_script;
use crate::chain::hash::{from_hex, hash_from_hex, hash_to_hex};
use crate::chain::keva::address_scripthash;
use crate::chain::Network;
use crate::daemon::Daemon;
use crate::index::read::Reader;
use crate::index::sync::SourceCounts;
use crate::index::writer::set_ban;
use crate::jsonrpc::RpcError;
use crate::server::Admin;

/// What the admin commands reach: the node client, the index file, the sync thread's controls.
pub struct AppAdmin {
    pub network: Network,
    pub db_path: PathBuf,
    pub daemon: Daemon,
    pub stop: Arc<AtomicBool>,
    /// `DAEMON_URL` as configured: what `daemon_url` without an argument goes back to.
    pub daemon_urls: String,
    /// Read by the sync thread: blocks to undo and index again.
    pub forced_reorg: Arc<AtomicU32>,
    /// `REORG_LIMIT`: a forced reorg may not go deeper.
    pub reorg_limit: u32,
    /// Blocks indexed from the node's block files and over RPC since the start.
    pub source_counts: Arc<SourceCounts>,
}

impl AppAdmin {
    fn reader(&self) -> Result<Reader, RpcError> {
        Reader::open(&self.db_path, self.network, 2)
            .map_err(|e| RpcError::bad_request(format!("cannot read the index: {e}")))
    }

    fn ban(&self, txid: &str, reason: Option<u32>) -> Result<Value, RpcError> {
        let hash = hash_from_hex(txid)
            .map_err(|e| RpcError::bad_request(format!("{txid:?} is not a transaction id: {e}")))?;
        let changed = set_ban(&self.db_path, self.network, &hash, reason)
            .map_err(|e| RpcError::bad_request(format!("cannot write the ban: {e}")))?;
        let shown = hash_to_hex(&hash);
        Ok(json!(match (reason.is_some(), changed) {
            (true, _) => format!("banned {shown}"),
            (false, true) => format!("unbanned {shown}"),
            (false, false) => format!("{shown} was not banned"),
        }))
    }
}

impl Admin for AppAdmin {
    fn getinfo(&self) -> Value {
        let db_height = self
            .reader()
            .ok()
            .and_then(|r| r.tip().ok().flatten())
            .map_or(-1, |(h, _)| i64::from(h));
        json!({
            "coin": "Kevacoin",
            "network": self.network.name(),
            "daemon": self.daemon.current_url(),
            "daemon height": self.daemon.block_count().ok(),
            "db height": db_height,
            "db": self.db_path.display().to_string(),
            "blocks from files": self.source_counts.files.load(Ordering::Relaxed),
            "blocks over rpc": self.source_counts.rpc.load(Ordering::Relaxed),
        })
    }

    fn daemon_url(&self, url: Option<&str>) -> Result<Value, RpcError> {
        let urls = url.unwrap_or(&self.daemon_urls);
        let info = self.daemon.switch_urls(urls).map_err(|e| {
            RpcError::bad_request(format!(
                "{e}; still using the node at {}",
                self.daemon.current_url()
            ))
        })?;
        Ok(json!(format!("now using daemon at {}", info.url)))
    }

    fn stop(&self) -> Result<Value, RpcError> {
        self.stop.store(true, Ordering::Relaxed);
        Ok(json!("stopping"))
    }

    fn reorg(&self, count: u32) -> Result<Value, RpcError> {
        if count > self.reorg_limit {
            return Err(RpcError::bad_request(format!(
                "reorg: {count} blocks is deeper than REORG_LIMIT={}",
                self.reorg_limit
            )));
        }
        let db_height = self
            .reader()?
            .tip()
            .map_err(|e| RpcError::bad_request(format!("index read: {e}")))?
            .map_or(-1, |(h, _)| i64::from(h));
        let node_height = self
            .daemon
            .block_count()
            .map_err(|e| RpcError::bad_request(e.to_string()))?;
        if db_height < i64::from(node_height) {
            return Err(RpcError::bad_request("still catching up with daemon"));
        }
        self.forced_reorg.fetch_max(count, Ordering::Relaxed);
        Ok(json!(format!(
            "scheduled a reorg of {} blocks",
            thousands(count)
        )))
    }

    fn query(&self, items: &[String], limit: usize) -> Result<Value, RpcError> {
        let reader = self.reader()?;
        let mut lines = Vec::new();
        for item in items {
            let script = match address_to_script(item, self.network) {
                Ok(s) => s,
                Err(_) => from_hex(item).map_err(|_| {
                    RpcError::bad_request(format!(
                        "{item:?} is neither a {} address nor a script in hex",
                        self.network.name()
                    ))
                })?,
            };
            let sh = address_scripthash(&script);
            let fail = |e: crate::index::Error| RpcError::bad_request(format!("index read: {e}"));
            let history = reader.history(&sh, limit.max(1)).map_err(fail)?;
            let utxos = reader.utxos(&sh).map_err(fail)?;
            let balance = reader.balance(&sh).map_err(fail)?;
            lines.push(format!("{item}:"));
            lines.push(format!(
                "  history ({} shown, limit {limit}):",
                history.len()
            ));
            for h in &history {
                lines.push(format!("    {} height {}", hash_to_hex(&h.txid), h.height));
            }
            lines.push(format!("  UTXOs ({}):", utxos.len()));
            for u in utxos.iter().take(limit) {
                lines.push(format!(
                    "    {}:{} {} sat at height {}",
                    hash_to_hex(&u.txid),
                    u.vout,
                    u.value,
                    u.height
                ));
            }
            lines.push(format!(
                "  balance: {balance} sat ({}.{:08} KVA)",
                balance / 100_000_000,
                balance % 100_000_000
            ));
        }
        Ok(json!(lines))
    }

    fn keva_ban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        self.ban(txid, Some(0))
    }

    fn keva_unban_tx(&self, txid: &str) -> Result<Value, RpcError> {
        self.ban(txid, None)
    }

    fn metrics(&self) -> String {
        let height = self
            .reader()
            .ok()
            .and_then(|r| r.tip().ok().flatten())
            .map_or(-1, |(h, _)| i64::from(h));
        let bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", self.db_path.display())).ok())
            .map(|m| m.len())
            .sum();
        let files = self.source_counts.files.load(Ordering::Relaxed);
        let rpc = self.source_counts.rpc.load(Ordering::Relaxed);
        format!(
            "# HELP keva_electrum_db_height Height of the indexed tip.\n\
             # TYPE keva_electrum_db_height gauge\n\
             keva_electrum_db_height {height}\n\
             # HELP keva_electrum_db_bytes Size of the SQLite index with its WAL.\n\
             # TYPE keva_electrum_db_bytes gauge\n\
             keva_electrum_db_bytes {bytes}\n\
             # HELP keva_electrum_sync_blocks_total Blocks indexed since the start, by source.\n\
             # TYPE keva_electrum_sync_blocks_total counter\n\
             keva_electrum_sync_blocks_total{{source=\"files\"}} {files}\n\
             keva_electrum_sync_blocks_total{{source=\"rpc\"}} {rpc}\n"
        )
    }
}

/// `1234567` as `1,234,567`, as ElectrumX formats counts.
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (3, "3"),
            (999, "999"),
            (1000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }
}
