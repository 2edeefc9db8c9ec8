//! `blockchain.keva.get_transactions_info(txs, namespace_info)`: per requested transaction,
//! in request order, `{o, i, t, h, n?, kv?}` — outputs and spent outputs as flat
//! `[address, satoshis, …]` lists, block time and height (-1 for unconfirmed), the namespace
//! output, and with `namespace_info` the keva operation. Bans do not apply here (the reference
//! reads banned operations too).

use serde_json::{json, Map, Value};

use super::super::params::tx_hash;
use super::super::{arg, index_failure, Ctx};
use super::view::{b64, mempool_keva};
use crate::chain::keva::{address_script, namespace_to_string, KevaOp};
use crate::chain::Hash32;
use crate::index::writer::address_label;
use crate::jsonrpc::RpcError;
use crate::mempool::MempoolTx;

/// Most transactions one request may ask about (the reference's `MAX_INFO_TXS`).
pub const MAX_INFO_TXS: usize = 200;

/// The handler; checks the arguments in the reference's order and with its texts.
pub fn get_transactions_info(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let namespace_info = match arg(args, 1) {
        Value::Bool(b) => *b,
        _ => {
            return Err(RpcError::bad_request(
                "\"namespace_info\" must be a boolean",
            ))
        }
    };
    let Value::Array(txs) = arg(args, 0) else {
        return Err(RpcError::bad_request(
            "expected a list of transaction hashes",
        ));
    };
    if txs.len() > MAX_INFO_TXS {
        return Err(RpcError::bad_request(format!(
            "too many transactions, max: {MAX_INFO_TXS}"
        )));
    }
    let txids = txs.iter().map(tx_hash).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(txids.len());
    for txid in &txids {
        out.push(tx_info(ctx, txid, namespace_info)?);
    }
    ctx.bump_cost(0.1 + out.len() as f64 * 0.01);
    Ok(Value::Array(out))
}

/// One entry; `{}` when the transaction is neither confirmed nor in the mempool.
fn tx_info(ctx: &Ctx, txid: &Hash32, namespace_info: bool) -> Result<Value, RpcError> {
    let (outputs, inputs, time, height, keva) = match ctx.reader.tx_summary(txid) {
        Ok(Some(s)) => (
            s.outputs,
            s.inputs,
            i64::from(s.time),
            i64::from(s.location.height),
            s.keva.map(|k| (k.vout, k.op)),
        ),
        Ok(None) => match ctx.mempool.get(txid) {
            Some(tx) => {
                let (outputs, inputs) = mempool_summary(ctx, tx)?;
                (outputs, inputs, -1, -1, mempool_keva(tx))
            }
            None => return Ok(json!({})),
        },
        Err(e) => return Err(index_failure(e)),
    };
    let mut item = Map::new();
    item.insert("o".into(), flatten(&outputs));
    item.insert("i".into(), flatten(&merge_by_address(inputs)));
    item.insert("t".into(), json!(time));
    item.insert("h".into(), json!(height));
    if let Some((vout, op)) = keva {
        item.insert(
            "n".into(),
            json!([namespace_to_string(op.namespace()), vout]),
        );
        if namespace_info {
            item.insert("kv".into(), kv(&op));
        }
    }
    Ok(Value::Object(item))
}

/// `{op, key, value?}` with the opcode as a number and base64 bytes.
fn kv(op: &KevaOp) -> Value {
    let key = match op {
        KevaOp::Namespace { display_name, .. } => display_name,
        KevaOp::Put { key, .. } | KevaOp::Delete { key, .. } => key,
    };
    let mut m = Map::new();
    m.insert("op".into(), json!(op.code()));
    m.insert("key".into(), json!(b64(key)));
    if let Some(value) = op.value() {
        m.insert("value".into(), json!(b64(value)));
    }
    Value::Object(m)
}

/// Outputs and spent outputs of an unconfirmed transaction, as (address text, satoshis);
/// spent outputs the index and the mempool do not know are left out.
type Pairs = Vec<(String, u64)>;

fn mempool_summary(ctx: &Ctx, tx: &MempoolTx) -> Result<(Pairs, Pairs), RpcError> {
    let network = ctx.config.network;
    let label = |script: &[u8]| address_label(address_script(script), network);
    let outputs = tx
        .tx
        .outputs
        .iter()
        .map(|o| (label(&o.script_pubkey), o.value))
        .collect();
    let mut inputs = Vec::with_capacity(tx.tx.inputs.len());
    if tx.tx.is_coinbase() {
        return Ok((outputs, inputs));
    }
    for input in &tx.tx.inputs {
        let prev = input.prevout;
        if let Some(parent) = ctx.mempool.get(&prev.txid) {
            if let Some(o) = parent.tx.outputs.get(prev.vout as usize) {
                inputs.push((label(&o.script_pubkey), o.value));
            }
            continue;
        }
        if let Some(o) = ctx
            .reader
            .output(&prev.txid, prev.vout)
            .map_err(index_failure)?
        {
            inputs.push((o.address, o.value));
        }
    }
    Ok((outputs, inputs))
}

/// The reference sums spent outputs of the same address into its first entry.
fn merge_by_address(pairs: Pairs) -> Pairs {
    let mut out: Pairs = Vec::with_capacity(pairs.len());
    for (address, value) in pairs {
        match out.iter_mut().find(|(a, _)| *a == address) {
            Some((_, total)) => *total += value,
            None => out.push((address, value)),
        }
    }
    out
}

/// `[address, satoshis, address, satoshis, …]`.
fn flatten(pairs: &[(String, u64)]) -> Value {
    let mut v = Vec::with_capacity(pairs.len() * 2);
    for (address, value) in pairs {
        v.push(json!(address));
        v.push(json!(value));
    }
    Value::Array(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_of_one_address_are_summed_in_first_position() {
        let pairs = vec![
            ("Va".to_string(), 5),
            ("Kb".to_string(), 1),
            ("Va".to_string(), 7),
        ];
        assert_eq!(
            flatten(&merge_by_address(pairs)),
            json!(["Va", 12, "Kb", 1])
        );
    }
}
