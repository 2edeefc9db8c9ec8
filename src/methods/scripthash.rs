//! `blockchain.scripthash.*`: balance, history, mempool, unspent outputs, and the status hash
//! subscriptions are built on.
//!
//! Scripthashes here are sha256(script) in internal order, the order both the index reader and
//! the mempool snapshot take; the Electrum display order (reversed) exists only in parameters
//! and at the [`crate::jsonrpc::Backend`] boundary.

use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::params::scripthash;
use super::{arg, index_failure, Ctx};
use crate::chain::hash::{hash_to_hex, to_hex};
use crate::chain::{Hash32, OutPoint};
use crate::index::read::HistoryItem;
use crate::jsonrpc::RpcError;
use crate::mempool::MempoolTx;

/// `blockchain.scripthash.get_balance(scripthash)`.
pub fn get_balance(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    let confirmed = ctx.reader.balance(&sh).map_err(index_failure)?;
    let unconfirmed = balance_delta(&sh, &unconfirmed_txs(ctx, &sh)?);
    ctx.bump_cost(1.0);
    Ok(json!({"confirmed": confirmed, "unconfirmed": unconfirmed}))
}

/// `blockchain.scripthash.get_history(scripthash)`: chain order, then the mempool; written as
/// text (a history can hold 100,000 entries) with ElectrumX's key order.
pub fn get_history(ctx: &Ctx, args: &[Option<&Value>]) -> Result<String, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    let (confirmed, mempool) = full_history(ctx, &sh)?;
    // An entry is at most 97 bytes with a 7-digit height, 110 with a fee.
    let mut out = JsonArray::with_capacity(confirmed.len() * 97 + mempool.len() * 110);
    for h in &confirmed {
        out.push(format_args!(
            r#"{{"tx_hash":"{}","height":{}}}"#,
            hash_to_hex(&h.txid),
            h.height
        ));
    }
    for tx in &mempool {
        out.push(format_args!(
            r#"{{"tx_hash":"{}","height":{},"fee":{}}}"#,
            hash_to_hex(&tx.txid),
            tx.height(),
            tx.fee
        ));
    }
    Ok(out.finish())
}

/// `blockchain.scripthash.get_mempool(scripthash)`: height 0 before -1, then by txid.
pub fn get_mempool(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    let txs = unconfirmed_txs(ctx, &sh)?;
    ctx.bump_cost(0.1 + txs.len() as f64 * 0.001);
    Ok(Value::Array(txs.iter().map(mempool_entry).collect()))
}

/// `blockchain.scripthash.listunspent(scripthash)`: confirmed in chain order, then mempool
/// outputs (height 0); outputs spent in the mempool are left out. Written as text, like
/// [`get_history`].
pub fn listunspent(ctx: &Ctx, args: &[Option<&Value>]) -> Result<String, RpcError> {
    let sh = scripthash(arg(args, 0))?;
    let confirmed = ctx.reader.utxos(&sh).map_err(index_failure)?;
    let mempool = unconfirmed_txs(ctx, &sh)?;
    let unspent = |txid: Hash32, vout: u32| ctx.mempool.spender(&OutPoint { txid, vout }).is_none();
    // An entry is at most 141 bytes (7-digit height and position, 16-digit value).
    let mut out = JsonArray::with_capacity(confirmed.len() * 141);
    let mut count = 0usize;
    let mut push = |txid: &Hash32, vout: u32, height: u32, value: u64| {
        count += 1;
        out.push(format_args!(
            r#"{{"tx_hash":"{}","tx_pos":{vout},"height":{height},"value":{value}}}"#,
            hash_to_hex(txid)
        ));
    };
    for u in confirmed.iter().filter(|u| unspent(u.txid, u.vout)) {
        push(&u.txid, u.vout, u.height, u.value);
    }
    for tx in &mempool {
        for (vout, out_sh, value) in &tx.funding {
            if out_sh == &sh && unspent(tx.txid, *vout) {
                push(&tx.txid, *vout, 0, *value);
            }
        }
    }
    ctx.bump_cost(1.0 + count as f64 / 50.0);
    Ok(out.finish())
}

/// A JSON array written item by item into one string.
struct JsonArray(String);

impl JsonArray {
    /// Room for `bytes` of items plus the JSON-RPC envelope added around them.
    fn with_capacity(bytes: usize) -> JsonArray {
        let mut s = String::with_capacity(bytes + 128);
        s.push('[');
        JsonArray(s)
    }

    /// Appends one item, already JSON.
    fn push(&mut self, item: std::fmt::Arguments) {
        use std::fmt::Write as _;
        if self.0.len() > 1 {
            self.0.push(',');
        }
        // Writing into a String cannot fail.
        let _ = self.0.write_fmt(item);
    }

    fn finish(mut self) -> String {
        self.0.push(']');
        self.0
    }
}

/// The Electrum status of `sh`: sha256 of `"txid:height:"` over the history, hex (not
/// reversed); `None` for an empty history.
pub fn status(ctx: &Ctx, sh: &Hash32) -> Result<Option<String>, RpcError> {
    let (confirmed, mempool) = full_history(ctx, sh)?;
    if confirmed.is_empty() && mempool.is_empty() {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    for h in &confirmed {
        hasher.update(format!("{}:{}:", hash_to_hex(&h.txid), h.height));
    }
    for tx in &mempool {
        hasher.update(format!("{}:{}:", hash_to_hex(&tx.txid), tx.height()));
    }
    Ok(Some(to_hex(&hasher.finalize())))
}

/// Confirmed history (limited as ElectrumX limits it) and the mempool part without the
/// transactions the index already holds.
fn full_history(
    ctx: &Ctx,
    sh: &Hash32,
) -> Result<(Vec<HistoryItem>, Vec<Arc<MempoolTx>>), RpcError> {
    let limit = ctx.config.history_limit();
    let confirmed = ctx.reader.history(sh, limit).map_err(index_failure)?;
    ctx.bump_cost(0.2 + confirmed.len() as f64 * 0.001);
    if confirmed.len() >= limit {
        return Err(RpcError::bad_request("history too large"));
    }
    Ok((confirmed, unconfirmed_txs(ctx, sh)?))
}

/// The snapshot's transactions touching `sh`, in Electrum order, minus any the index already
/// holds: between a block commit and the next mempool refresh a mined transaction is in both,
/// and wallets reject histories that list a transaction twice.
fn unconfirmed_txs(ctx: &Ctx, sh: &Hash32) -> Result<Vec<Arc<MempoolTx>>, RpcError> {
    let mut out = Vec::new();
    for tx in ctx.mempool.history(sh) {
        let mined = ctx
            .reader
            .tx_location(&tx.txid)
            .map_err(index_failure)?
            .is_some();
        if !mined {
            out.push(tx);
        }
    }
    Ok(out)
}

/// What the unconfirmed transactions add to and take from `sh` (may be negative).
fn balance_delta(sh: &Hash32, txs: &[Arc<MempoolTx>]) -> i64 {
    let mut delta: i64 = 0;
    for tx in txs {
        for (_, out_sh, value) in &tx.funding {
            if out_sh == sh {
                delta = delta.saturating_add_unsigned(*value);
            }
        }
        for (_, in_sh, value) in &tx.spending {
            if in_sh == sh {
                delta = delta.saturating_sub_unsigned(*value);
            }
        }
    }
    delta
}

fn mempool_entry(tx: &Arc<MempoolTx>) -> Value {
    json!({"tx_hash": hash_to_hex(&tx.txid), "height": tx.height(), "fee": tx.fee})
}
