//! `blockchain.block.header`, `blockchain.block.headers`, `blockchain.block.count` and the tip
//! for `blockchain.headers.subscribe`, with `cp_height` checkpoint proofs.

use serde_json::{json, Map, Value};

use super::params::{non_negative_integer, non_negative_integer_or_zero, thousands};
use super::{arg, index_failure, opt, Ctx};
use crate::chain::hash::{hash_to_hex, to_hex};
use crate::jsonrpc::RpcError;

/// Most headers one `blockchain.block.headers` call returns (ElectrumX `MAX_CHUNK_SIZE`).
pub const MAX_CHUNK_SIZE: u64 = 2016;

/// Height of the indexed tip, -1 while the index is empty.
fn tip_height(ctx: &Ctx) -> Result<i64, RpcError> {
    Ok(ctx
        .reader
        .tip()
        .map_err(index_failure)?
        .map_or(-1, |(h, _)| i64::from(h)))
}

/// `blockchain.block.header(height, cp_height=0)`.
pub fn block_header(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let height = non_negative_integer(arg(args, 0))?;
    let cp_height = non_negative_integer_or_zero(opt(args, 1))?;
    let tip = tip_height(ctx)?;
    let header = if i128::from(height) <= i128::from(tip) {
        ctx.reader.header(height as u32).map_err(index_failure)?
    } else {
        None
    };
    let Some(header) = header else {
        return Err(RpcError::bad_request(format!(
            "height {} out of range",
            thousands(height)
        )));
    };
    ctx.bump_cost(1.25);
    let hex = to_hex(&header);
    if cp_height == 0 {
        return Ok(Value::String(hex));
    }
    let mut result = Map::new();
    result.insert("header".into(), Value::String(hex));
    result.extend(merkle_proof(ctx, height, cp_height, tip)?);
    Ok(Value::Object(result))
}

/// `blockchain.block.headers(start_height, count, cp_height=0)`: protocol 1.4 shape
/// `{hex, count, max}`, at most 2016 headers, clamped to the tip without an error.
pub fn block_headers(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let start = non_negative_integer(arg(args, 0))?;
    let count = non_negative_integer(arg(args, 1))?;
    let cp_height = non_negative_integer_or_zero(opt(args, 2))?;
    let count = count.min(MAX_CHUNK_SIZE);
    let tip = tip_height(ctx)?;
    let available = if i128::from(start) > i128::from(tip) {
        0
    } else {
        count.min((tip as u64 + 1) - start)
    };
    let headers = if available > 0 {
        ctx.reader
            .headers(start as u32, available as u32)
            .map_err(index_failure)?
    } else {
        Vec::new()
    };
    let count = headers.len() as u64;
    ctx.bump_cost(1.25 + count as f64 / 50.0);
    let hex: String = headers.iter().map(|h| to_hex(h)).collect();
    let mut result = Map::new();
    result.insert("hex".into(), Value::String(hex));
    result.insert("count".into(), json!(count));
    result.insert("max".into(), json!(MAX_CHUNK_SIZE));
    if count > 0 && cp_height > 0 {
        result.extend(merkle_proof(ctx, start + count - 1, cp_height, tip)?);
    }
    Ok(Value::Object(result))
}

/// `{branch, root}` proving header `height` against the checkpoint `cp_height`.
fn merkle_proof(
    ctx: &Ctx,
    height: u64,
    cp_height: u64,
    tip: i64,
) -> Result<Map<String, Value>, RpcError> {
    if !(height <= cp_height && i128::from(cp_height) <= i128::from(tip)) {
        return Err(RpcError::bad_request(format!(
            "require header height {} <= cp_height {} <= chain height {}",
            thousands(height),
            thousands(cp_height),
            thousands(tip)
        )));
    }
    let (branch, root) =
        ctx.caches
            .proofs
            .branch_and_root(ctx.reader, height as u32, cp_height as u32)?;
    ctx.bump_cost(branch.len() as f64 * 0.05);
    let mut out = Map::new();
    out.insert(
        "branch".into(),
        Value::Array(
            branch
                .iter()
                .map(|h| Value::String(hash_to_hex(h)))
                .collect(),
        ),
    );
    out.insert("root".into(), Value::String(hash_to_hex(&root)));
    Ok(out)
}

/// `blockchain.block.count()` (Kevacoin): the height of the indexed tip.
pub fn block_count(ctx: &Ctx, _args: &[Option<&Value>]) -> Result<Value, RpcError> {
    Ok(json!(tip_height(ctx)?.max(0)))
}

/// The tip as `blockchain.headers.subscribe` reports it: `{"height": n, "hex": header}`.
pub fn tip(ctx: &Ctx) -> Result<Value, RpcError> {
    let Some((height, _)) = ctx.reader.tip().map_err(index_failure)? else {
        return Err(RpcError::bad_request(
            "the server has not indexed any block yet; try again shortly",
        ));
    };
    let header = ctx
        .reader
        .header(height)
        .map_err(index_failure)?
        .ok_or_else(|| {
            super::internal_failure(format!("the index lacks its tip header {height}"))
        })?;
    Ok(json!({"height": height, "hex": to_hex(&header)}))
}
