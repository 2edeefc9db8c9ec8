//! The stand-in's chain: blocks, transaction index, spent outputs and mempool.
//!
//! Coinbase-only blocks are kept as a few integers and rebuilt on demand, so a
//! mainnet-shaped chain of a million blocks fits in tens of megabytes.

use super::analyze::{analyze, TxMeta};
use crate::chain::hash::from_hex;
use crate::chain::merkle::merkle_root;
use crate::chain::{Block, Hash32, Header, Network, OutPoint, Transaction, TxOut};
use std::collections::HashMap;

pub use coinbase::{coinbase, subsidy};
use hash_index::HashIndex;

mod coinbase;
mod hash_index;

/// nBits of every generated block (regtest's proof-of-work limit).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Header version of generated blocks (BIP9 top bits).
pub const BLOCK_VERSION: i32 = 0x2000_0000;
/// Seconds between generated blocks (Kevacoin's target spacing).
pub const BLOCK_SPACING: u32 = 120;
/// Satoshis per KVA.
pub const COIN: u64 = 100_000_000;

/// A node error answered to a client: code and message as kevacoind words them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// JSON-RPC error code.
    pub code: i64,
    /// Message text.
    pub message: String,
}

impl Reject {
    /// Builds a rejection.
    pub fn new(code: i64, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }
}

enum Body {
    /// Coinbase-only block paying `payees[payee]`, rebuilt on demand.
    Compact { payee: u32, tag: u32 },
    /// Any other block, with its serialized bytes and per-transaction records.
    Full(Box<FullBlock>),
}

struct FullBlock {
    bytes: Vec<u8>,
    metas: Vec<TxMeta>,
}

struct StoredBlock {
    hash: Hash32,
    time: u32,
    body: Body,
}

/// A transaction waiting in the mempool.
#[derive(Clone, Debug)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Transaction,
    /// Its serialization (with witness).
    pub bytes: Vec<u8>,
    /// Its ground-truth record.
    pub meta: TxMeta,
    /// Inputs minus outputs, in satoshis.
    pub fee: u64,
    /// Unix time it entered the mempool.
    pub time: u64,
}

/// Where a transaction was found.
pub enum Found {
    /// In the block at this height.
    Confirmed {
        tx: Transaction,
        height: u32,
        block_hash: Hash32,
        time: u32,
    },
    /// In the mempool.
    Mempool(Box<MempoolEntry>),
}

/// The chain, the indexes over it and the mempool.
pub struct Chain {
    network: Network,
    blocks: Vec<StoredBlock>,
    payees: Vec<Vec<u8>>,
    payee_ids: HashMap<Vec<u8>, u32>,
    txindex: HashIndex,
    block_index: HashIndex,
    /// Confirmed spends: outpoint → spending txid.
    spent: HashMap<OutPoint, Hash32>,
    mempool: HashMap<Hash32, MempoolEntry>,
    mempool_order: Vec<Hash32>,
    mempool_spent: HashMap<OutPoint, Hash32>,
    /// Distinguishes blocks mined again at a height after a reorg.
    next_tag: u32,
}

impl Chain {
    /// A chain holding only `network`'s real genesis block.
    pub fn new(network: Network) -> Result<Chain, String> {
        let bytes = from_hex(network.genesis_block_hex())
            .map_err(|e| format!("genesis block hex of {}: {e}", network.name()))?;
        let block = Block::from_bytes(&bytes)
            .map_err(|e| format!("genesis block of {}: {e}", network.name()))?;
        let metas = block.txs.iter().map(analyze).collect();
        let genesis = StoredBlock {
            hash: block.header.hash(),
            time: block.header.time(),
            body: Body::Full(Box::new(FullBlock { bytes, metas })),
        };
        let mut block_index = HashIndex::default();
        block_index.insert(&genesis.hash, 0);
        Ok(Chain {
            network,
            blocks: vec![genesis],
            payees: Vec::new(),
            payee_ids: HashMap::new(),
            txindex: HashIndex::default(),
            block_index,
            spent: HashMap::new(),
            mempool: HashMap::new(),
            mempool_order: Vec::new(),
            mempool_spent: HashMap::new(),
            next_tag: 0,
        })
    }

    /// The network whose genesis this chain starts from.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        (self.blocks.len() - 1) as u32
    }

    /// Hash of the tip.
    pub fn tip_hash(&self) -> Hash32 {
        self.blocks[self.blocks.len() - 1].hash
    }

    /// Hash of the block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<Hash32> {
        self.blocks.get(height as usize).map(|b| b.hash)
    }

    /// Timestamp of the block at `height`.
    pub fn time_at(&self, height: u32) -> Option<u32> {
        self.blocks.get(height as usize).map(|b| b.time)
    }

    /// Height of a block on the active chain.
    pub fn height_of(&self, hash: &Hash32) -> Option<u32> {
        self.block_index.candidates(hash).into_iter().find(|h| {
            self.blocks
                .get(*h as usize)
                .is_some_and(|b| &b.hash == hash)
        })
    }

    /// The full block at `height`, rebuilt for coinbase-only blocks.
    pub fn block(&self, height: u32) -> Option<Block> {
        let stored = self.blocks.get(height as usize)?;
        match &stored.body {
            Body::Full(full) => Block::from_bytes(&full.bytes).ok(),
            Body::Compact { payee, tag } => {
                let prev = self.blocks[height as usize - 1].hash;
                Some(self.compact_block(height, prev, stored.time, *payee, *tag))
            }
        }
    }

    /// The serialized block at `height`.
    pub fn block_bytes(&self, height: u32) -> Option<Vec<u8>> {
        let stored = self.blocks.get(height as usize)?;
        match &stored.body {
            Body::Full(full) => Some(full.bytes.clone()),
            Body::Compact { .. } => self.block(height).map(|b| b.serialize()),
        }
    }

    /// Ground-truth records of the transactions of the block at `height`.
    pub fn block_metas(&self, height: u32) -> Vec<TxMeta> {
        match self.blocks.get(height as usize).map(|b| &b.body) {
            Some(Body::Full(full)) => full.metas.clone(),
            Some(Body::Compact { payee, tag }) => {
                let tx = coinbase(
                    height,
                    &self.payees[*payee as usize],
                    subsidy(height),
                    *tag,
                    None,
                );
                vec![analyze(&tx)]
            }
            None => Vec::new(),
        }
    }

    /// Like `block_metas`, but skips a coinbase-only block whose payee script `want` rejects
    /// (a cheap filter for wallet rescans over long chains).
    pub fn block_metas_if(&self, height: u32, want: &dyn Fn(&[u8]) -> bool) -> Vec<TxMeta> {
        if let Some(Body::Compact { payee, .. }) = self.blocks.get(height as usize).map(|b| &b.body)
        {
            if !want(&self.payees[*payee as usize]) {
                return Vec::new();
            }
        }
        self.block_metas(height)
    }

    fn compact_block(&self, height: u32, prev: Hash32, time: u32, payee: u32, tag: u32) -> Block {
        let cb = coinbase(
            height,
            &self.payees[payee as usize],
            subsidy(height),
            tag,
            None,
        );
        let header =
            Header::build_regtest(BLOCK_VERSION, prev, cb.txid(), time, REGTEST_BITS, height);
        Block {
            header,
            txs: vec![cb],
        }
    }

    /// Looks a transaction up in the mempool, then (with `txindex`) in the chain.
    pub fn find_tx(&self, txid: &Hash32, txindex: bool) -> Option<Found> {
        if let Some(e) = self.mempool.get(txid) {
            return Some(Found::Mempool(Box::new(e.clone())));
        }
        if !txindex {
            return None;
        }
        for height in self.txindex.candidates(txid) {
            let block = self.block(height)?;
            if let Some(tx) = block.txs.into_iter().find(|t| &t.txid() == txid) {
                return Some(Found::Confirmed {
                    tx,
                    height,
                    block_hash: self.blocks[height as usize].hash,
                    time: self.blocks[height as usize].time,
                });
            }
        }
        None
    }

    /// The output `op` with the height that confirmed it (None while in the mempool).
    pub fn output(&self, op: &OutPoint) -> Option<(TxOut, Option<u32>)> {
        match self.find_tx(&op.txid, true)? {
            Found::Mempool(e) => {
                e.tx.outputs
                    .get(op.vout as usize)
                    .map(|o| (o.clone(), None))
            }
            Found::Confirmed { tx, height, .. } => tx
                .outputs
                .get(op.vout as usize)
                .map(|o| (o.clone(), Some(height))),
        }
    }

    /// Whether `op` exists and nothing (confirmed or in the mempool) spends it.
    pub fn is_unspent(&self, op: &OutPoint) -> bool {
        !self.spent.contains_key(op)
            && !self.mempool_spent.contains_key(op)
            && self.output(op).is_some()
    }

    /// Mempool txids in arrival order.
    pub fn mempool_txids(&self) -> Vec<Hash32> {
        self.mempool_order.clone()
    }

    /// One mempool entry.
    pub fn mempool_entry(&self, txid: &Hash32) -> Option<&MempoolEntry> {
        self.mempool.get(txid)
    }

    /// Mempool entries in arrival order.
    pub fn mempool_entries(&self) -> Vec<&MempoolEntry> {
        self.mempool_order
            .iter()
            .filter_map(|t| self.mempool.get(t))
            .collect()
    }

    /// Checks a transaction like the node's mempool acceptance and adds it.
    /// `min_fee_per_kb` is the relay fee in satoshis per 1000 vbytes.
    pub fn accept(
        &mut self,
        tx: Transaction,
        min_fee_per_kb: u64,
        now: u64,
    ) -> Result<Hash32, Reject> {
        let txid = tx.txid();
        if tx.is_coinbase() {
            return Err(Reject::new(-26, "coinbase"));
        }
        if tx.inputs.is_empty() {
            return Err(Reject::new(-26, "bad-txns-vin-empty"));
        }
        if tx.outputs.is_empty() {
            return Err(Reject::new(-26, "bad-txns-vout-empty"));
        }
        if self.mempool.contains_key(&txid) {
            return Err(Reject::new(-26, "txn-already-in-mempool"));
        }
        if self.find_tx(&txid, true).is_some() {
            return Err(Reject::new(-27, "transaction already in block chain"));
        }
        let keva_outputs = tx
            .outputs
            .iter()
            .filter(|o| super::analyze::split_keva(&o.script_pubkey).is_some())
            .count();
        if keva_outputs > 0 && tx.version != super::analyze::KEVA_TX_VERSION {
            return Err(Reject::new(
                -26,
                "tx-keva-version: keva output outside a 0x7100 transaction",
            ));
        }
        if keva_outputs > 1 {
            return Err(Reject::new(-26, "tx-keva-multiple-outputs"));
        }
        let mut total_in: u64 = 0;
        for (i, input) in tx.inputs.iter().enumerate() {
            if tx.inputs[..i].iter().any(|p| p.prevout == input.prevout) {
                return Err(Reject::new(-26, "bad-txns-inputs-duplicate"));
            }
            if self.mempool_spent.contains_key(&input.prevout) {
                return Err(Reject::new(-26, "txn-mempool-conflict"));
            }
            if self.spent.contains_key(&input.prevout) {
                return Err(Reject::new(-25, "Missing inputs"));
            }
            match self.output(&input.prevout) {
                Some((out, _)) => total_in += out.value,
                None => return Err(Reject::new(-25, "Missing inputs")),
            }
        }
        let total_out: u64 = tx.outputs.iter().map(|o| o.value).sum();
        if total_out > total_in {
            return Err(Reject::new(-26, "bad-txns-in-belowout"));
        }
        let fee = total_in - total_out;
        let min_fee = (tx.vsize() as u64 * min_fee_per_kb).div_ceil(1000);
        if fee < min_fee {
            return Err(Reject::new(
                -26,
                format!("min relay fee not met, {fee} < {min_fee} (code 66)"),
            ));
        }
        let meta = analyze(&tx);
        for input in &tx.inputs {
            self.mempool_spent.insert(input.prevout, txid);
        }
        let bytes = tx.serialize();
        self.mempool.insert(
            txid,
            MempoolEntry {
                tx,
                bytes,
                meta,
                fee,
                time: now,
            },
        );
        self.mempool_order.push(txid);
        Ok(txid)
    }

    /// Removes mempool transactions (and anything in the mempool that spends them).
    /// Returns the txids removed.
    pub fn drop_mempool(&mut self, txids: &[Hash32]) -> Vec<Hash32> {
        let mut doomed: Vec<Hash32> = txids
            .iter()
            .filter(|t| self.mempool.contains_key(*t))
            .copied()
            .collect();
        let mut i = 0;
        while i < doomed.len() {
            let t = doomed[i];
            for child in &self.mempool_order {
                let spends = self.mempool[child]
                    .tx
                    .inputs
                    .iter()
                    .any(|inp| inp.prevout.txid == t);
                if spends && !doomed.contains(child) {
                    doomed.push(*child);
                }
            }
            i += 1;
        }
        for t in &doomed {
            if let Some(e) = self.mempool.remove(t) {
                for input in &e.tx.inputs {
                    self.mempool_spent.remove(&input.prevout);
                }
            }
        }
        self.mempool_order.retain(|t| !doomed.contains(t));
        doomed
    }

    /// Appends a block at the tip paying `payee`, holding the given mempool transactions
    /// (all of the mempool when `txids` is `None`). Returns the new block hash.
    pub fn mine(&mut self, payee: &[u8], txids: Option<&[Hash32]>, time: Option<u32>) -> Hash32 {
        let height = self.height() + 1;
        let prev = self.tip_hash();
        let time = time.unwrap_or_else(|| self.blocks[0].time + height * BLOCK_SPACING);
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        let chosen: Vec<Hash32> = match txids {
            None => self.mempool_order.clone(),
            Some(list) => self
                .mempool_order
                .iter()
                .filter(|t| list.contains(t))
                .copied()
                .collect(),
        };
        if chosen.is_empty() {
            let payee_id = self.payee_id(payee);
            let block = self.compact_block(height, prev, time, payee_id, tag);
            let hash = block.header.hash();
            self.txindex.insert(&block.txs[0].txid(), height);
            self.block_index.insert(&hash, height);
            self.blocks.push(StoredBlock {
                hash,
                time,
                body: Body::Compact {
                    payee: payee_id,
                    tag,
                },
            });
            return hash;
        }
        let entries: Vec<MempoolEntry> = chosen
            .iter()
            .filter_map(|t| self.mempool.get(t).cloned())
            .collect();
        self.drop_mempool_exact(&chosen);
        let fees: u64 = entries.iter().map(|e| e.fee).sum();
        let mut txs = Vec::with_capacity(entries.len() + 1);
        let witness_root = if entries.iter().any(|e| e.tx.has_witness()) {
            let mut wtxids = vec![[0u8; 32]];
            wtxids.extend(entries.iter().map(|e| e.tx.wtxid()));
            Some(merkle_root(&wtxids))
        } else {
            None
        };
        txs.push(coinbase(
            height,
            payee,
            subsidy(height) + fees,
            tag,
            witness_root,
        ));
        txs.extend(entries.iter().map(|e| e.tx.clone()));
        let txids: Vec<Hash32> = txs.iter().map(|t| t.txid()).collect();
        let header = Header::build_regtest(
            BLOCK_VERSION,
            prev,
            merkle_root(&txids),
            time,
            REGTEST_BITS,
            height,
        );
        let hash = header.hash();
        let block = Block { header, txs };
        let mut metas = Vec::with_capacity(block.txs.len());
        metas.push(analyze(&block.txs[0]));
        metas.extend(entries.into_iter().map(|e| e.meta));
        for (tx, txid) in block.txs.iter().zip(&txids) {
            self.txindex.insert(txid, height);
            if !tx.is_coinbase() {
                for input in &tx.inputs {
                    self.spent.insert(input.prevout, *txid);
                }
            }
        }
        self.block_index.insert(&hash, height);
        self.blocks.push(StoredBlock {
            hash,
            time,
            body: Body::Full(Box::new(FullBlock {
                bytes: block.serialize(),
                metas,
            })),
        });
        hash
    }

    fn drop_mempool_exact(&mut self, txids: &[Hash32]) {
        for t in txids {
            if let Some(e) = self.mempool.remove(t) {
                for input in &e.tx.inputs {
                    self.mempool_spent.remove(&input.prevout);
                }
            }
        }
        self.mempool_order.retain(|t| !txids.contains(t));
    }

    fn payee_id(&mut self, script: &[u8]) -> u32 {
        if let Some(id) = self.payee_ids.get(script) {
            return *id;
        }
        let id = self.payees.len() as u32;
        self.payees.push(script.to_vec());
        self.payee_ids.insert(script.to_vec(), id);
        id
    }

    /// Disconnects the tip block; returns its non-coinbase transactions (oldest first).
    /// The genesis block is never removed.
    pub fn disconnect_tip(&mut self) -> Option<Vec<Transaction>> {
        let height = self.height();
        if height == 0 {
            return None;
        }
        let block = self.block(height)?;
        for tx in &block.txs {
            let txid = tx.txid();
            self.txindex.remove(&txid, height);
            if !tx.is_coinbase() {
                for input in &tx.inputs {
                    self.spent.remove(&input.prevout);
                }
            }
        }
        let hash = self.blocks[height as usize].hash;
        self.block_index.remove(&hash, height);
        self.blocks.pop();
        Some(block.txs.into_iter().skip(1).collect())
    }

    /// Number of stored blocks kept in full (non-coinbase-only) form.
    pub fn full_block_count(&self) -> usize {
        self.blocks
            .iter()
            .filter(|b| matches!(b.body, Body::Full(_)))
            .count()
    }
}
