//! Ground truth of the stand-in's active chain: what a correct index must contain.
//!
//! Folded from the stand-in's own per-transaction records (see `analyze`), never from the
//! indexer's code, so a test can compare the two.

use super::analyze::{index_script, KevaOp, TxMeta};
use super::state::Chain;
use crate::chain::hash::sha256;
use crate::chain::{Hash32, OutPoint};
use std::collections::{BTreeMap, HashMap};

/// One confirmed keva operation in a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KevaEvent {
    /// The transaction carrying it.
    pub txid: Hash32,
    /// Its block height.
    pub height: u32,
    /// The operation.
    pub op: KevaOp,
}

/// A namespace as the confirmed chain leaves it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceTruth {
    /// Display name from the registration.
    pub display_name: Vec<u8>,
    /// Current keys: key → (value, txid, height) of the put that set it; deletes remove keys.
    pub keys: BTreeMap<Vec<u8>, (Vec<u8>, Hash32, u32)>,
    /// Every operation in chain order (registration first).
    pub events: Vec<KevaEvent>,
}

/// An unspent output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Utxo {
    /// The output.
    pub outpoint: OutPoint,
    /// Amount in satoshis.
    pub value: u64,
    /// Height of the block that created it.
    pub height: u32,
}

/// Ground truth of the confirmed chain.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// Height of the tip the truth describes.
    pub height: u32,
    /// Hash of that tip.
    pub tip: Hash32,
    /// Electrum history per scripthash (sha256 of the script, internal order): (txid, height)
    /// in chain order, one entry per transaction; includes keva index pseudo-scripts.
    pub histories: HashMap<Hash32, Vec<(Hash32, u32)>>,
    /// Unspent outputs per scripthash, sorted by outpoint.
    pub utxos: HashMap<Hash32, Vec<Utxo>>,
    /// Namespace id (21 bytes) → state.
    pub namespaces: BTreeMap<Vec<u8>, NamespaceTruth>,
    /// Number of transactions in the chain.
    pub tx_count: u64,
}

impl Truth {
    /// Confirmed balance of a scripthash in satoshis.
    pub fn balance(&self, scripthash: &Hash32) -> u64 {
        self.utxos
            .get(scripthash)
            .map_or(0, |u| u.iter().map(|x| x.value).sum())
    }

    /// History of a scripthash (empty when unknown).
    pub fn history(&self, scripthash: &Hash32) -> &[(Hash32, u32)] {
        self.histories.get(scripthash).map_or(&[], |v| v.as_slice())
    }

    /// Scripthash of the keva index pseudo-script for `x` (namespace, namespace‖key, tag, …).
    pub fn index_scripthash(x: &[u8]) -> Hash32 {
        sha256(&index_script(x))
    }

    /// Folds the whole active chain.
    pub fn compute(chain: &Chain) -> Truth {
        let mut f = Folder::default();
        for h in 0..=chain.height() {
            for meta in chain.block_metas(h) {
                f.add(&meta, h);
            }
        }
        let mut utxos: HashMap<Hash32, Vec<Utxo>> = HashMap::new();
        for (op, (sh, value, height)) in f.unspent {
            utxos.entry(sh).or_default().push(Utxo {
                outpoint: op,
                value,
                height,
            });
        }
        for v in utxos.values_mut() {
            v.sort_by_key(|u| (u.outpoint.txid, u.outpoint.vout));
        }
        Truth {
            height: chain.height(),
            tip: chain.tip_hash(),
            histories: f.histories,
            utxos,
            namespaces: f.namespaces,
            tx_count: f.tx_count,
        }
    }
}

#[derive(Default)]
struct Folder {
    unspent: HashMap<OutPoint, (Hash32, u64, u32)>,
    histories: HashMap<Hash32, Vec<(Hash32, u32)>>,
    namespaces: BTreeMap<Vec<u8>, NamespaceTruth>,
    tx_count: u64,
}

impl Folder {
    fn add(&mut self, meta: &TxMeta, height: u32) {
        self.tx_count += 1;
        let mut touched: Vec<Hash32> = Vec::new();
        for op in &meta.inputs {
            if let Some((sh, _, _)) = self.unspent.remove(op) {
                touched.push(sh);
            }
        }
        for (vout, out) in meta.outputs.iter().enumerate() {
            if let Some(sh) = out.scripthash {
                let op = OutPoint {
                    txid: meta.txid,
                    vout: vout as u32,
                };
                self.unspent.insert(op, (sh, out.value, height));
                touched.push(sh);
            }
        }
        if let Some(k) = &meta.keva {
            touched.extend(k.index_keys.iter().map(|x| Truth::index_scripthash(x)));
            let ns = self
                .namespaces
                .entry(k.op.namespace().to_vec())
                .or_default();
            match &k.op {
                KevaOp::Namespace { display_name, .. } => ns.display_name = display_name.clone(),
                KevaOp::Put { key, value, .. } => {
                    ns.keys
                        .insert(key.clone(), (value.clone(), meta.txid, height));
                }
                KevaOp::Delete { key, .. } => {
                    ns.keys.remove(key);
                }
            }
            ns.events.push(KevaEvent {
                txid: meta.txid,
                height,
                op: k.op.clone(),
            });
        }
        let mut seen: Vec<Hash32> = Vec::with_capacity(touched.len());
        for sh in touched {
            if !seen.contains(&sh) {
                seen.push(sh);
                self.histories
                    .entry(sh)
                    .or_default()
                    .push((meta.txid, height));
            }
        }
    }
}
