//! The `dev_*` methods: the stand-in's controls over JSON-RPC, for the demo and for tests
//! that drive it from outside the process.

use std::time::Duration;

use serde_json::{json, Value};

use super::{flag, hashes_json, invalid, kva, need_str, need_u64, param, Effect, FaultRequest};
use crate::chain::hash::{from_hex, hash_from_hex, hash_to_hex};
use crate::chain::Hash32;
use crate::devnode::node::NodeState;
use crate::devnode::state::Reject;
use crate::devnode::truth::Truth;
use crate::devnode::wallet::AddrKind;
use crate::devnode::Fault;

/// A namespace id as a `dev_keva_*` caller writes it: the `N…` id or its 42 hex digits.
fn parse_namespace(s: &str) -> Result<Vec<u8>, Reject> {
    if let Ok(b) = crate::chain::address::base58check_decode(s) {
        if b.len() == 21 && b[0] == 0x35 {
            return Ok(b);
        }
    }
    match from_hex(s) {
        Ok(b) if b.len() == 21 => Ok(b),
        _ => Err(invalid(format!(
            "invalid namespace id {s:?}: give the N… id or 42 hex digits"
        ))),
    }
}

/// The `dev_*` controls: mining, paying, mempool, reorgs, faults, settings, the wallet and
/// the ground truth.
pub(super) fn dev(
    state: &mut NodeState,
    method: &str,
    params: &[Value],
) -> Result<(Value, Effect), Reject> {
    let net = state.chain.network();
    let wallet_err = |e: String| Reject::new(-4, e);
    let v = match method {
        "dev_mine" => {
            let n = need_u64(params, 0, "n")? as u32;
            let with_mempool = flag(params, 1, true);
            let payee = match param(params, 2).and_then(Value::as_str) {
                Some(a) => Some(
                    crate::chain::address::address_to_script(a, net)
                        .map_err(|_| Reject::new(-5, "Invalid address"))?,
                ),
                None => None,
            };
            hashes_json(&state.mine(n, payee.as_deref(), with_mempool))
        }
        "dev_pay" => {
            let addr = need_str(params, 0, "address")?;
            let value = need_u64(params, 1, "satoshis")?;
            let script = crate::chain::address::address_to_script(addr, net)
                .map_err(|_| Reject::new(-5, "Invalid address"))?;
            let built = state.wallet.pay(vec![crate::chain::TxOut {
                value,
                script_pubkey: script,
            }]);
            let built = state.submit_built(built).map_err(wallet_err)?;
            json!(hash_to_hex(&built.txid))
        }
        "dev_dropmempool" => {
            let list: Option<Vec<Hash32>> = match param(params, 0) {
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .map(|t| t.as_str().and_then(|s| hash_from_hex(s).ok()))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| invalid("txids must be 64-hex strings"))?,
                ),
                _ => None,
            };
            hashes_json(&state.drop_mempool(list.as_deref()))
        }
        "dev_reorg" => {
            let depth = need_u64(params, 0, "depth")? as u32;
            let new_blocks = param(params, 1)
                .and_then(Value::as_u64)
                .map_or(depth + 1, |n| n as u32);
            let resubmit = flag(params, 2, true);
            hashes_json(&state.reorg(depth, new_blocks, resubmit, resubmit))
        }
        "dev_rewind" => {
            let height = need_u64(params, 0, "height")? as u32;
            json!(state.rewind(height, flag(params, 1, true)))
        }
        "dev_fail" => {
            let kind = need_str(params, 0, "kind")?;
            let count = param(params, 1)
                .and_then(Value::as_u64)
                .map_or(1, |c| c as u32);
            let ms = param(params, 2).and_then(Value::as_u64).unwrap_or(1000);
            let fault = match kind {
                "none" => None,
                "http500" => Some(Fault::Http500),
                "delay" => Some(Fault::Delay(Duration::from_millis(ms))),
                "warmup" => Some(Fault::WarmingUp),
                "truncate" => Some(Fault::Truncate),
                "close" => Some(Fault::Close),
                _ => {
                    return Err(invalid(format!(
                        "unknown fault {kind:?}: none, http500, delay, warmup, truncate, close"
                    )))
                }
            };
            return Ok((json!(null), Effect::Fault(FaultRequest { fault, count })));
        }
        "dev_set" => {
            let o = param(params, 0)
                .and_then(Value::as_object)
                .ok_or_else(|| invalid("dev_set takes an object"))?;
            if let Some(b) = o.get("txindex").and_then(Value::as_bool) {
                state.settings.txindex = b;
            }
            if let Some(f) = o.get("fee_estimate") {
                state.settings.fee_estimate = f.as_f64();
            }
            if let Some(r) = o.get("relay_fee").and_then(Value::as_u64) {
                state.settings.relay_fee_per_kb = r;
            }
            json!(null)
        }
        "dev_newaddress" => {
            let kind = match param(params, 0)
                .and_then(Value::as_str)
                .unwrap_or("p2sh-p2wpkh")
            {
                "p2pkh" => AddrKind::P2pkh,
                "p2sh" => AddrKind::P2sh,
                "p2wpkh" => AddrKind::P2wpkh,
                _ => AddrKind::P2shP2wpkh,
            };
            let k = state.wallet.new_key(kind);
            json!(state.wallet.address(k, net))
        }
        "dev_wallet" => json!({
            "balance": kva(state.wallet.balance()),
            "coins": state.wallet.coin_count(),
            "namespaces": state.wallet.namespaces().iter()
                .map(|n| crate::chain::address::base58check_encode(n)).collect::<Vec<_>>(),
        }),
        "dev_keva_namespace" => {
            let name = need_str(params, 0, "name")?;
            let built = state.wallet.keva_namespace(name.as_bytes());
            let built = state.submit_built(built).map_err(wallet_err)?;
            let ns = built.namespace.unwrap_or_default();
            json!({"txid": hash_to_hex(&built.txid), "namespaceId": crate::chain::address::base58check_encode(&ns)})
        }
        "dev_keva_put" => {
            let ns = parse_namespace(need_str(params, 0, "namespace")?)?;
            let key = need_str(params, 1, "key")?;
            let value = need_str(params, 2, "value")?;
            let built = state
                .wallet
                .keva_put(&ns, key.as_bytes(), value.as_bytes(), Vec::new());
            let built = state.submit_built(built).map_err(wallet_err)?;
            json!({"txid": hash_to_hex(&built.txid)})
        }
        "dev_keva_delete" => {
            let ns = parse_namespace(need_str(params, 0, "namespace")?)?;
            let key = need_str(params, 1, "key")?;
            let built = state.wallet.keva_delete(&ns, key.as_bytes());
            let built = state.submit_built(built).map_err(wallet_err)?;
            json!({"txid": hash_to_hex(&built.txid)})
        }
        "dev_truth" => {
            let truth = Truth::compute(&state.chain);
            match param(params, 0).and_then(Value::as_str) {
                Some(s) => {
                    let sh = hash_from_hex(s)
                        .map_err(|_| invalid("scripthash must be 64 hex digits"))?;
                    json!({
                        "history": truth.history(&sh).iter()
                            .map(|(t, h)| json!({"tx_hash": hash_to_hex(t), "height": h})).collect::<Vec<_>>(),
                        "confirmed": truth.balance(&sh),
                    })
                }
                None => json!({
                    "height": truth.height, "tx_count": truth.tx_count,
                    "scripthashes": truth.histories.len(), "namespaces": truth.namespaces.len(),
                }),
            }
        }
        _ => return Err(Reject::new(-32601, "Method not found")),
    };
    Ok((v, Effect::None))
}
