//! What every keva method reads about a keva transaction, each piece a bounded number of
//! indexed lookups: its operation (hidden when banned), its reaction counts and the profile of
//! its namespace (kept by the worker, see [`super::profile`]).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::super::{index_failure, Ctx};
use super::profile::{profile_display_name, Profile};
use crate::chain::hash::hash_to_hex;
use crate::chain::keva::{index_scripthash, parse_keva_script, KevaOp, PROFILE_KEY};
use crate::chain::Hash32;
use crate::index::read::{reaction_scripthash, KevaPageItem, ReactionCounts};
use crate::jsonrpc::RpcError;
use crate::mempool::MempoolTx;

/// Reply, share and like index kinds (`00 01`, `00 02`, `00 03` ‖ txid).
pub const REPLY: u8 = 1;
/// See [`REPLY`].
pub const SHARE: u8 = 2;
/// See [`REPLY`].
pub const LIKE: u8 = 3;

/// Lookups of one keva call over the index reader and the mempool snapshot, with memos.
pub struct View<'a, 'c> {
    ctx: &'a Ctx<'c>,
    /// Profiles with unconfirmed parts, for this call only.
    pending_profiles: HashMap<Vec<u8>, Profile>,
    /// Whether the worker's profiles were checked against the index in this call.
    profiles_checked: bool,
}

impl<'a, 'c> View<'a, 'c> {
    /// A view for one call.
    pub fn new(ctx: &'a Ctx<'c>) -> Self {
        View {
            ctx,
            pending_profiles: HashMap::new(),
            profiles_checked: false,
        }
    }

    /// The call's context.
    pub fn ctx(&self) -> &'a Ctx<'c> {
        self.ctx
    }

    /// Unconfirmed transactions touching `sh`, newest first (a transaction before the ones
    /// it spends from), leaving out any the index already holds: between a block commit and
    /// the next mempool refresh a mined transaction is in both.
    pub fn unconfirmed(&self, sh: &Hash32) -> Result<Vec<Arc<MempoolTx>>, RpcError> {
        let txs = self.unmined(sh)?;
        let depths: Vec<usize> = txs.iter().map(|t| self.mempool_depth(&t.txid)).collect();
        let mut order: Vec<usize> = (0..txs.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(depths[*i]));
        Ok(order.into_iter().map(|i| Arc::clone(&txs[i])).collect())
    }

    /// The snapshot's transactions touching `sh` that the index does not hold, unordered.
    fn unmined(&self, sh: &Hash32) -> Result<Vec<Arc<MempoolTx>>, RpcError> {
        let mut txs = Vec::new();
        for tx in self.ctx.mempool.history(sh) {
            let mined = self
                .ctx
                .reader
                .tx_location(&tx.txid)
                .map_err(index_failure)?
                .is_some();
            if !mined {
                txs.push(tx);
            }
        }
        Ok(txs)
    }

    /// Length of the longest chain of unconfirmed ancestors of `txid`.
    fn mempool_depth(&self, txid: &Hash32) -> usize {
        let mempool = self.ctx.mempool;
        let parents = |t: &Hash32| -> Vec<Hash32> {
            mempool.get(t).map_or_else(Vec::new, |tx| {
                tx.tx
                    .inputs
                    .iter()
                    .map(|i| i.prevout.txid)
                    .filter(|p| mempool.get(p).is_some())
                    .collect()
            })
        };
        let mut memo: HashMap<Hash32, usize> = HashMap::new();
        let mut stack = vec![*txid];
        while let Some(top) = stack.last().copied() {
            if memo.contains_key(&top) {
                stack.pop();
                continue;
            }
            let ps = parents(&top);
            let pending: Vec<Hash32> = ps
                .iter()
                .filter(|p| !memo.contains_key(*p))
                .copied()
                .collect();
            if pending.is_empty() {
                let d = ps
                    .iter()
                    .filter_map(|p| memo.get(p))
                    .max()
                    .map_or(0, |m| m + 1);
                memo.insert(top, d);
                stack.pop();
            } else {
                stack.extend(pending);
            }
        }
        memo.get(txid).copied().unwrap_or(0)
    }

    /// Replies, shares and likes of `txid`: confirmed ones (banned included, as the reference
    /// counts them) plus unconfirmed ones.
    pub fn counts(&self, txid: &Hash32) -> Result<[u64; 3], RpcError> {
        let confirmed = self
            .ctx
            .reader
            .reaction_counts(txid)
            .map_err(index_failure)?;
        self.with_unconfirmed(txid, confirmed)
    }

    /// [`View::counts`] of a page item, whose confirmed counts came with it.
    pub fn item_counts(&self, p: &KevaPageItem) -> Result<[u64; 3], RpcError> {
        self.with_unconfirmed(&p.item.txid, p.reactions)
    }

    fn with_unconfirmed(
        &self,
        txid: &Hash32,
        confirmed: ReactionCounts,
    ) -> Result<[u64; 3], RpcError> {
        let mut out = [confirmed.replies, confirmed.shares, confirmed.likes];
        if !self.ctx.mempool.is_empty() {
            for (slot, kind) in out.iter_mut().zip([REPLY, SHARE, LIKE]) {
                *slot += self.unmined(&reaction_scripthash(txid, kind))?.len() as u64;
            }
        }
        Ok(out)
    }

    /// The profile of namespace `ns` (raw 21 bytes), from the history of
    /// `ns ‖ \x01_KEVA_NS_`: short code from its first entry, display name from its latest
    /// (an unconfirmed one first). The worker keeps it while none of it is unconfirmed.
    pub fn profile(&mut self, ns: &[u8]) -> Result<Profile, RpcError> {
        if let Some(p) = self.pending_profiles.get(ns) {
            return Ok(p.clone());
        }
        if !self.profiles_checked {
            let version = self.ctx.reader.data_version().map_err(index_failure)?;
            self.ctx.profiles.borrow_mut().validate(version);
            self.profiles_checked = true;
        }
        let kept = self.ctx.profiles.borrow().get(ns).cloned();
        let sh = match &kept {
            Some((sh, _)) => *sh,
            None => index_scripthash(&[ns, PROFILE_KEY].concat()),
        };
        let pending = self.unconfirmed(&sh)?;
        if !pending.is_empty() {
            let p = self.compute_profile(&sh, &pending)?;
            self.pending_profiles.insert(ns.to_vec(), p.clone());
            return Ok(p);
        }
        if let Some((_, p)) = kept {
            return Ok(p);
        }
        let p = self.compute_profile(&sh, &[])?;
        self.ctx.profiles.borrow_mut().insert(ns, sh, p.clone());
        Ok(p)
    }

    fn compute_profile(
        &self,
        sh: &Hash32,
        pending: &[Arc<MempoolTx>],
    ) -> Result<Profile, RpcError> {
        let (first, last) = self.ctx.reader.profile_entries(sh).map_err(index_failure)?;
        let short_code = first.as_ref().map(|p| {
            let h = p.item.height.to_string();
            format!("{}{h}{}", h.len(), p.position)
        });
        let latest = match pending.first() {
            Some(tx) => mempool_op(tx),
            None => match &last {
                Some(p) => match page_op(p) {
                    Some(op) => Some(op.clone()),
                    None => return Ok(Profile::Hidden),
                },
                None => None,
            },
        };
        let from_profile = match &latest {
            Some(KevaOp::Put { key, value, .. }) if key == PROFILE_KEY => {
                profile_display_name(value)
            }
            _ => None,
        };
        let display_name = match from_profile {
            Some(name) => name,
            None => self.registered_name(first.as_ref(), pending)?,
        };
        Ok(Profile::Known {
            short_code,
            display_name,
        })
    }

    /// The name the namespace was registered with (its first profile-history entry), or ""
    /// when that registration is banned or unknown.
    fn registered_name(
        &self,
        first: Option<&KevaPageItem>,
        pending: &[Arc<MempoolTx>],
    ) -> Result<String, RpcError> {
        let op = match first {
            Some(p) => page_op(p).cloned(),
            None => pending.iter().rev().find_map(|tx| mempool_op(tx)),
        };
        Ok(match op {
            Some(KevaOp::Namespace { display_name, .. }) => {
                String::from_utf8_lossy(&display_name).into_owned()
            }
            _ => String::new(),
        })
    }
}

/// The keva operation a page item shows; `None` when it is banned or carries none.
pub fn page_op(item: &KevaPageItem) -> Option<&KevaOp> {
    item.op.as_ref().filter(|_| !item.banned)
}

/// The keva operation an unconfirmed transaction carries (its first keva output).
pub fn mempool_op(tx: &MempoolTx) -> Option<KevaOp> {
    mempool_keva(tx).map(|(_, op)| op)
}

/// The first keva output of an unconfirmed transaction: (vout, operation).
pub fn mempool_keva(tx: &MempoolTx) -> Option<(u32, KevaOp)> {
    tx.tx
        .outputs
        .iter()
        .enumerate()
        .find_map(|(i, o)| parse_keva_script(&o.script_pubkey).map(|(op, _)| (i as u32, op)))
}

/// Base64 as the reference encodes keys and values.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The reference's `type` for an operation.
pub fn op_type(op: &KevaOp) -> &'static str {
    match op {
        KevaOp::Namespace { .. } => "REG",
        KevaOp::Put { .. } => "PUT",
        KevaOp::Delete { .. } => "DEL",
    }
}

/// Adds `type`, `key` (a registration's display name) and `value` of `op` to `item`.
pub fn put_op_fields(item: &mut Map<String, Value>, op: &KevaOp) {
    item.insert("type".into(), json!(op_type(op)));
    item.insert("key".into(), json!(b64(op.second_arg())));
    if let Some(value) = op.value() {
        item.insert("value".into(), json!(b64(value)));
    }
}

/// `tx_hash` as clients print it.
pub fn txid_json(txid: &Hash32) -> Value {
    Value::String(hash_to_hex(txid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_fields_follow_the_reference() {
        let ns = vec![0x35; 21];
        let mut m = Map::new();
        put_op_fields(
            &mut m,
            &KevaOp::Namespace {
                namespace: ns.clone(),
                display_name: b"My Namespace".to_vec(),
            },
        );
        assert_eq!(
            Value::Object(m),
            json!({"type": "REG", "key": "TXkgTmFtZXNwYWNl"})
        );
        let mut m = Map::new();
        put_op_fields(
            &mut m,
            &KevaOp::Put {
                namespace: ns.clone(),
                key: b"key 1029".to_vec(),
                value: b"value #Kevacoin 1029".to_vec(),
            },
        );
        assert_eq!(
            Value::Object(m),
            json!({"type": "PUT", "key": "a2V5IDEwMjk=", "value": "dmFsdWUgI0tldmFjb2luIDEwMjk="})
        );
        let mut m = Map::new();
        put_op_fields(
            &mut m,
            &KevaOp::Delete {
                namespace: ns,
                key: Vec::new(),
            },
        );
        assert_eq!(Value::Object(m), json!({"type": "DEL", "key": ""}));
    }
}
