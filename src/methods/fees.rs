//! Fee methods: `blockchain.estimatefee` and `blockchain.relayfee` from the node, cached until
//! the next block so wallets polling them do not reach the node, and the mempool histogram.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::node::daemon_error;
use super::params::non_negative_integer;
use super::{arg, index_failure, Ctx};
use crate::chain::Hash32;
use crate::jsonrpc::RpcError;

/// Most distinct `estimatefee` targets remembered per block (the node accepts 1..=1008).
const MAX_CACHED_TARGETS: usize = 1100;

/// Node answers valid until the indexed tip changes.
#[derive(Default)]
pub struct FeeCache {
    inner: Mutex<FeeCacheInner>,
}

#[derive(Default)]
struct FeeCacheInner {
    tip: Option<Hash32>,
    estimates: HashMap<u64, Value>,
    relay: Option<Value>,
}

impl FeeCache {
    fn at_tip(&self, tip: Option<Hash32>) -> parking_lot::MutexGuard<'_, FeeCacheInner> {
        let mut inner = self.inner.lock();
        if inner.tip != tip {
            inner.tip = tip;
            inner.estimates.clear();
            inner.relay = None;
        }
        inner
    }
}

fn current_tip(ctx: &Ctx) -> Result<Option<Hash32>, RpcError> {
    Ok(ctx.reader.tip().map_err(index_failure)?.map(|(_, h)| h))
}

/// `blockchain.estimatefee(number)`: the node's `estimatesmartfee` feerate (coin/kB), or -1
/// when it has no estimate.
pub fn estimatefee(ctx: &Ctx, args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let number = non_negative_integer(arg(args, 0))?;
    let tip = current_tip(ctx)?;
    if let Some(v) = ctx.caches.fees.at_tip(tip).estimates.get(&number) {
        return Ok(v.clone());
    }
    ctx.bump_cost(2.0);
    let answer = ctx
        .node
        .estimate_smart_fee(number)?
        .map_err(|e| daemon_error(&e))?;
    let feerate = match answer.get("feerate") {
        Some(v @ Value::Number(_)) => v.clone(),
        _ => json!(-1),
    };
    let mut cache = ctx.caches.fees.at_tip(tip);
    if cache.estimates.len() < MAX_CACHED_TARGETS {
        cache.estimates.insert(number, feerate.clone());
    }
    Ok(feerate)
}

/// `blockchain.relayfee()`: the node's minimum relay fee (`getnetworkinfo.relayfee`, coin/kB).
pub fn relayfee(ctx: &Ctx, _args: &[Option<&Value>]) -> Result<Value, RpcError> {
    let tip = current_tip(ctx)?;
    if let Some(v) = &ctx.caches.fees.at_tip(tip).relay {
        return Ok(v.clone());
    }
    ctx.bump_cost(2.0);
    let info = ctx.node.network_info()?.map_err(|e| daemon_error(&e))?;
    let fee = match info.get("relayfee") {
        Some(v @ Value::Number(_)) => v.clone(),
        _ => {
            return Err(super::internal_failure(
                "getnetworkinfo has no numeric `relayfee`",
            ))
        }
    };
    ctx.caches.fees.at_tip(tip).relay = Some(fee.clone());
    Ok(fee)
}

/// `mempool.get_fee_histogram()`: `[[sat/vB, vsize], …]` from the current mempool snapshot.
pub fn fee_histogram(ctx: &Ctx, _args: &[Option<&Value>]) -> Result<Value, RpcError> {
    ctx.bump_cost(1.0);
    Ok(Value::Array(
        ctx.mempool
            .fee_histogram()
            .iter()
            .map(|(rate, size)| json!([rate, size]))
            .collect(),
    ))
}
