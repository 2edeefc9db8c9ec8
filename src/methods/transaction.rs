//! `blockchain.transaction.*`: broadcast and get pass through to the node; get_merkle and
//! id_from_pos are answered from the index.

use serde_json::{json, Value};

use super::node::daemon_error;
use super::params::{boolean, hex_string, non_negative_integer, thousands, tx_hash};
use super::{arg, index_failure, opt, Ctx};
use crate::chain::hash::hash_to_hex;
use crate::chain::merkle::merkle_branch;
use crate::chain::Hash32;
use crate::jsonrpc::py_repr;
use crate::jsonrpc::RpcError;

/// `blockchain.transaction.broadcast(raw_tx)`: the txid, or code 1 with the node's reason.
pub fn broadcast(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let raw = hex_string(arg(args, 0))?;
    ctx.bump_cost(0.25 + raw.len() as f64 / 5000.0);
    match ctx.node.send_raw_transaction(raw)? {
        Ok(Value::String(txid)) => Ok(Value::String(txid)),
        Ok(other) => Err(super::internal_failure(format!(
            "sendrawtransaction returned {other} instead of a txid"
        ))),
        Err(e) => Err(RpcError::bad_request(format!(
            "the transaction was rejected by network rules.\n\n{}\n[{raw}]",
            e.message
        ))),
    }
}

/// `blockchain.transaction.get(tx_hash, verbose=false)`: raw hex, or the node's object.
pub fn get(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let txid = tx_hash(arg(args, 0))?;
    let verbose = boolean(opt(args, 1), "verbose")?;
    ctx.bump_cost(1.0);
    ctx.node
        .get_raw_transaction(&txid, verbose)?
        .map_err(|e| daemon_error(&e))
}

/// `blockchain.transaction.get_merkle(tx_hash, height)`.
pub fn get_merkle(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let txid = tx_hash(arg(args, 0))?;
    let height = non_negative_integer(arg(args, 1))?;
    let txids = txids_at(ctx, height)?;
    let Some(pos) = txids.iter().position(|t| *t == txid) else {
        return Err(RpcError::bad_request(format!(
            "tx {} not in block at height {}",
            hash_to_hex(&txid),
            thousands(height)
        )));
    };
    Ok(json!({
        "block_height": height,
        "merkle": branch_hex(&txids, pos),
        "pos": pos,
    }))
}

/// `blockchain.transaction.id_from_pos(height, tx_pos, merkle=false)`.
pub fn id_from_pos(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let tx_pos = non_negative_integer(arg(args, 1))?;
    let height = non_negative_integer(arg(args, 0))?;
    let merkle = boolean(opt(args, 2), "merkle")?;
    let txids = txids_at(ctx, height)?;
    let Some(txid) = usize::try_from(tx_pos).ok().and_then(|p| txids.get(p)) else {
        return Err(RpcError::bad_request(format!(
            "no tx at position {} in block at height {}",
            thousands(tx_pos),
            thousands(height)
        )));
    };
    let tx_hash = hash_to_hex(txid);
    if !merkle {
        return Ok(Value::String(tx_hash));
    }
    Ok(json!({"tx_hash": tx_hash, "merkle": branch_hex(&txids, tx_pos as usize)}))
}

/// Txids of the block at `height` in block order (none for genesis, which is not indexed);
/// past the tip, ElectrumX's database error text.
fn txids_at(ctx: &Ctx, height: u64) -> Result<Vec<Hash32>, RpcError> {
    let tip = ctx
        .reader
        .tip()
        .map_err(index_failure)?
        .map_or(-1, |(h, _)| i64::from(h));
    let not_on_disk = || {
        let text = format!(
            "block {} not on disk (>{})",
            thousands(height),
            thousands(tip)
        );
        RpcError::bad_request(format!(
            "db error: DBError({})",
            py_repr(&Value::String(text))
        ))
    };
    if i128::from(height) > i128::from(tip) {
        return Err(not_on_disk());
    }
    if height == 0 {
        return Ok(Vec::new());
    }
    let txids = ctx
        .reader
        .block_txids(height as u32)
        .map_err(index_failure)?
        .ok_or_else(not_on_disk)?;
    ctx.bump_cost(0.25 + txids.len() as f64 / 2500.0);
    Ok(txids)
}

fn branch_hex(txids: &[Hash32], pos: usize) -> Vec<String> {
    merkle_branch(txids, pos).iter().map(hash_to_hex).collect()
}
