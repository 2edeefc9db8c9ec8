//! The node's mempool as an immutable snapshot that workers read without locks.
//!
//! A mempool thread polls the node, fetches only transactions it has not seen, resolves their
//! inputs against the index and against each other, and publishes a new `Arc<Snapshot>`. Workers
//! clone the `Arc` and answer from it; nothing they read can change under them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::chain::{self, Hash32, OutPoint, Transaction};
use crate::daemon::Daemon;

/// A confirmed output as the index knows it: what the mempool needs to price and attribute spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrevOut {
    pub scripthash: Hash32,
    pub value: u64,
}

/// Looks up confirmed outputs; the index implements it, so the mempool never touches SQLite.
pub trait OutputLookup {
    /// The unspent-or-spent confirmed output at `outpoint`, if the index has it.
    fn confirmed_output(&mut self, outpoint: &OutPoint) -> Option<PrevOut>;

    /// The hash of the indexed tip (internal order): a transaction that left the node's
    /// mempool stays in the view while the node's tip is ahead of it, since it may sit in a
    /// block the index has not committed yet (a payment must never be in neither).
    fn indexed_tip(&mut self) -> Option<Hash32>;
}

/// One unconfirmed transaction with everything the protocol methods need, precomputed.
#[derive(Debug, Clone)]
pub struct MempoolTx {
    pub txid: Hash32,
    pub tx: Transaction,
    pub fee: u64,
    pub vsize: u64,
    /// True when an input spends another mempool transaction (Electrum height -1).
    pub has_unconfirmed_inputs: bool,
    /// Outputs: (vout, scripthash, value).
    pub funding: Vec<(u32, Hash32, u64)>,
    /// Spent outputs: (outpoint, scripthash, value).
    pub spending: Vec<(OutPoint, Hash32, u64)>,
    /// Keva index scripthashes of its keva output (history-only entries).
    pub keva: Vec<Hash32>,
    /// Approximate heap bytes, for the size cap.
    pub bytes: usize,
}

impl MempoolTx {
    /// Electrum's mempool height: 0, or -1 when an input is unconfirmed.
    pub fn height(&self) -> i64 {
        if self.has_unconfirmed_inputs {
            -1
        } else {
            0
        }
    }

    /// Every scripthash whose status this transaction changes.
    pub fn scripthashes(&self) -> impl Iterator<Item = &Hash32> {
        self.funding
            .iter()
            .map(|(_, sh, _)| sh)
            .chain(self.spending.iter().map(|(_, sh, _)| sh))
            .chain(self.keva.iter())
    }
}

/// An immutable view of the mempool at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    txs: HashMap<Hash32, Arc<MempoolTx>>,
    by_scripthash: HashMap<Hash32, Vec<Hash32>>,
    spent: HashMap<OutPoint, Hash32>,
    histogram: Vec<(f64, u64)>,
    bytes: usize,
}

impl Snapshot {
    /// The transaction with this txid, if unconfirmed.
    pub fn get(&self, txid: &Hash32) -> Option<&Arc<MempoolTx>> {
        self.txs.get(txid)
    }

    /// Number of transactions in the view.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether the view holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Approximate memory the view holds, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Unconfirmed history of a scripthash in Electrum order: height 0 before -1, then txid hex.
    pub fn history(&self, scripthash: &Hash32) -> Vec<Arc<MempoolTx>> {
        let mut txs: Vec<Arc<MempoolTx>> = self
            .by_scripthash
            .get(scripthash)
            .into_iter()
            .flatten()
            .filter_map(|txid| self.txs.get(txid).cloned())
            .collect();
        txs.sort_by(|a, b| {
            b.height()
                .cmp(&a.height())
                .then_with(|| display_order(&a.txid).cmp(&display_order(&b.txid)))
        });
        txs
    }

    /// Net unconfirmed balance change of a scripthash (may be negative).
    pub fn balance_delta(&self, scripthash: &Hash32) -> i64 {
        let mut delta = 0i64;
        for tx in self.history(scripthash) {
            for (_, sh, value) in &tx.funding {
                if sh == scripthash {
                    delta += *value as i64;
                }
            }
            for (_, sh, value) in &tx.spending {
                if sh == scripthash {
                    delta -= *value as i64;
                }
            }
        }
        delta
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<&Hash32> {
        self.spent.get(outpoint)
    }

    /// Unconfirmed outputs paying a scripthash and not spent in the mempool: (outpoint, value).
    pub fn unspent_outputs(&self, scripthash: &Hash32) -> Vec<(OutPoint, u64)> {
        let mut out = Vec::new();
        for tx in self.history(scripthash) {
            for (vout, sh, value) in &tx.funding {
                let outpoint = OutPoint {
                    txid: tx.txid,
                    vout: *vout,
                };
                if sh == scripthash && !self.spent.contains_key(&outpoint) {
                    out.push((outpoint, *value));
                }
            }
        }
        out
    }

    /// ElectrumX's compact fee histogram: `[[sat/vB, cumulative vsize], …]`, rates descending.
    pub fn fee_histogram(&self) -> &[(f64, u64)] {
        &self.histogram
    }

    /// Every transaction in the view.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<MempoolTx>> {
        self.txs.values()
    }
}

fn display_order(h: &Hash32) -> [u8; 32] {
    let mut r = *h;
    r.reverse();
    r
}

/// Shares the current snapshot between the mempool thread, the sync thread and the workers.
///
/// The sync thread commits a block and then drops its transactions from the view
/// ([`Mempool::commit_block`]). A worker takes its snapshot *before* reading the index, so a
/// payment is never in neither; when it is in both (the snapshot predates the commit), the
/// methods leave out mempool entries the index already holds.
#[derive(Clone, Default)]
pub struct Mempool {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Mempool {
    /// The current view; cheap (an `Arc` clone) and never blocked by a refresh in progress.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Replaces the view atomically.
    pub fn publish(&self, snapshot: Snapshot) {
        *self.current.write() = Arc::new(snapshot);
    }

    /// Replaces the view only if it is still `base`: a refresh computed from a view that a block
    /// commit has since replaced would bring mined transactions back.
    pub fn publish_over(&self, base: &Arc<Snapshot>, snapshot: Snapshot) -> bool {
        let mut current = self.current.write();
        if !Arc::ptr_eq(&current, base) {
            return false;
        }
        *current = Arc::new(snapshot);
        true
    }

    /// Runs the index commit `commit` and removes the transactions it confirmed (and any
    /// mempool transaction spending the same outputs) from the view in one step.
    pub fn commit_block<R, E>(
        &self,
        commit: impl FnOnce() -> Result<(R, Vec<Hash32>, Vec<OutPoint>), E>,
    ) -> Result<(R, HashSet<Hash32>), E> {
        let (result, mined, spent) = commit()?;
        let old = self.snapshot();
        let mined: HashSet<Hash32> = mined.into_iter().collect();
        let conflicts: HashSet<Hash32> = spent
            .iter()
            .filter_map(|o| old.spender(o).copied())
            .collect();
        if mined.is_empty() && conflicts.is_empty() {
            return Ok((result, HashSet::new()));
        }
        let mut doomed: HashSet<Hash32> = old
            .txs
            .keys()
            .filter(|t| mined.contains(*t) || conflicts.contains(*t))
            .copied()
            .collect();
        // Children of a conflicting transaction are invalid too.
        loop {
            let before = doomed.len();
            for (txid, tx) in &old.txs {
                let mined_parent_is_fine = |p: &Hash32| mined.contains(p);
                if !doomed.contains(txid)
                    && tx.tx.inputs.iter().any(|i| {
                        doomed.contains(&i.prevout.txid) && !mined_parent_is_fine(&i.prevout.txid)
                    })
                {
                    doomed.insert(*txid);
                }
            }
            if doomed.len() == before {
                break;
            }
        }
        let mut kept = HashMap::new();
        for (txid, tx) in &old.txs {
            if doomed.contains(txid) {
                continue;
            }
            let mut tx = tx.clone();
            if tx.has_unconfirmed_inputs
                && !tx.tx.inputs.iter().any(|i| {
                    old.txs.contains_key(&i.prevout.txid) && !doomed.contains(&i.prevout.txid)
                })
            {
                // Every unconfirmed parent was just mined: height -1 becomes 0.
                let mut updated = (*tx).clone();
                updated.has_unconfirmed_inputs = false;
                tx = Arc::new(updated);
            }
            kept.insert(*txid, tx);
        }
        let bytes = kept.values().map(|t| t.bytes).sum();
        let new = index(kept, bytes);
        let touched = touched(&old, &new);
        self.publish(new);
        Ok((result, touched))
    }
}

/// Polls the node and keeps the shared view up to date.
pub struct Poller {
    daemon: Daemon,
    mempool: Mempool,
    builder: Builder,
}

impl Poller {
    /// A poller publishing into `mempool`, keeping at most `max_bytes` of transactions.
    pub fn new(daemon: Daemon, mempool: Mempool, max_bytes: usize) -> Poller {
        Poller {
            daemon,
            mempool,
            builder: Builder::new(max_bytes),
        }
    }

    /// One refresh: the node's txids, the new transactions, the next view. Returns the
    /// scripthashes whose status may have changed (empty when nothing did).
    pub fn poll_once(
        &mut self,
        lookup: &mut dyn OutputLookup,
    ) -> Result<HashSet<Hash32>, crate::daemon::Error> {
        let base = self.mempool.snapshot();
        let mut node_txids = self.daemon.raw_mempool()?;
        let listed: HashSet<&Hash32> = node_txids.iter().collect();
        let departed: Vec<Hash32> = base
            .txs
            .keys()
            .filter(|t| !listed.contains(t))
            .copied()
            .collect();
        if !departed.is_empty() {
            // Read after the mempool list: if the node's tip is still the indexed one, the
            // departed transactions were dropped or replaced, not mined into a newer block.
            let node_tip = self.daemon.best_block_hash()?;
            if lookup.indexed_tip() != Some(node_tip) {
                node_txids.extend(departed.iter().copied());
            }
        }
        let missing = self.builder.missing(&base, &node_txids);
        if missing.is_empty() && departed.is_empty() && self.builder.pending.is_empty() {
            // Nothing arrived, left or waits for a parent: the view stands as it is.
            return Ok(HashSet::new());
        }
        let mut fetched = Vec::with_capacity(missing.len());
        for chunk in missing.chunks(500) {
            for raw in self.daemon.raw_transactions(chunk)?.into_iter().flatten() {
                match Transaction::from_bytes(&raw) {
                    Ok(tx) => fetched.push(tx),
                    Err(e) => eprintln!("mempool: skipping a transaction the node sent: {e}"),
                }
            }
        }
        let next = self.builder.build(&base, &node_txids, fetched, lookup);
        let changed = touched(&base, &next);
        if changed.is_empty() && next.len() == base.len() {
            return Ok(changed);
        }
        if self.mempool.publish_over(&base, next) {
            Ok(changed)
        } else {
            // A block was committed meanwhile; the next poll starts from its view.
            Ok(HashSet::new())
        }
    }
}

/// What changed between two views: the scripthashes whose status may differ.
pub fn touched(old: &Snapshot, new: &Snapshot) -> HashSet<Hash32> {
    let mut touched = HashSet::new();
    for (txid, tx) in &old.txs {
        if !new.txs.contains_key(txid) {
            touched.extend(tx.scripthashes().copied());
        }
    }
    for (txid, tx) in &new.txs {
        match old.txs.get(txid) {
            Some(prev) if prev.has_unconfirmed_inputs == tx.has_unconfirmed_inputs => {}
            _ => touched.extend(tx.scripthashes().copied()),
        }
    }
    touched
}

/// Builds the next snapshot from the node's txid list, reusing what the previous one resolved.
pub struct Builder {
    /// Transactions fetched but whose inputs could not be resolved yet (parents not seen).
    pending: HashMap<Hash32, Transaction>,
    /// Cap on the snapshot's approximate size; whole transactions beyond it are left out.
    max_bytes: usize,
    over_cap_logged: bool,
}

impl Builder {
    /// A builder keeping at most `max_bytes` of transactions in a view.
    pub fn new(max_bytes: usize) -> Builder {
        Builder {
            pending: HashMap::new(),
            max_bytes,
            over_cap_logged: false,
        }
    }

    /// Txids in `node_txids` that neither `prev` nor the pending set hold: what to fetch.
    pub fn missing(&self, prev: &Snapshot, node_txids: &[Hash32]) -> Vec<Hash32> {
        node_txids
            .iter()
            .filter(|t| !prev.txs.contains_key(*t) && !self.pending.contains_key(*t))
            .copied()
            .collect()
    }

    /// The next view: `prev` minus txs the node dropped, plus `fetched` resolved against the
    /// index (`lookup`) and each other, in any arrival order.
    pub fn build(
        &mut self,
        prev: &Snapshot,
        node_txids: &[Hash32],
        fetched: Vec<Transaction>,
        lookup: &mut dyn OutputLookup,
    ) -> Snapshot {
        let wanted: HashSet<Hash32> = node_txids.iter().copied().collect();
        for tx in fetched {
            let txid = tx.txid();
            if wanted.contains(&txid) {
                self.pending.insert(txid, tx);
            }
        }
        self.pending.retain(|txid, _| wanted.contains(txid));

        // Keep what is still in the node's mempool. A parent that left (mined or replaced)
        // changes a child's inputs, so children of departed txs are resolved again.
        let mut kept: HashMap<Hash32, Arc<MempoolTx>> = HashMap::new();
        for (txid, tx) in &prev.txs {
            if wanted.contains(txid) {
                let parents_still_there = tx.tx.inputs.iter().all(|i| {
                    !prev.txs.contains_key(&i.prevout.txid) || wanted.contains(&i.prevout.txid)
                });
                if parents_still_there {
                    kept.insert(*txid, tx.clone());
                } else {
                    self.pending.insert(*txid, tx.tx.clone());
                }
            }
        }

        // Resolve pending transactions until no more progress: parents before children.
        let mut bytes: usize = kept.values().map(|t| t.bytes).sum();
        loop {
            let mut progressed = false;
            let ids: Vec<Hash32> = self.pending.keys().copied().collect();
            for txid in ids {
                let tx = &self.pending[&txid];
                let Some(entry) = resolve(tx, txid, &kept, lookup) else {
                    continue;
                };
                if bytes + entry.bytes > self.max_bytes {
                    if !self.over_cap_logged {
                        eprintln!(
                            "mempool: the node's mempool exceeds the {} MB cap; \
                             transactions beyond it are not shown until it shrinks",
                            self.max_bytes / 1_000_000
                        );
                        self.over_cap_logged = true;
                    }
                    continue;
                }
                bytes += entry.bytes;
                self.pending.remove(&txid);
                kept.insert(txid, Arc::new(entry));
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        if bytes < self.max_bytes / 2 {
            self.over_cap_logged = false;
        }
        index(kept, bytes)
    }
}

/// Prices and attributes one transaction, or None while a parent is unknown.
fn resolve(
    tx: &Transaction,
    txid: Hash32,
    mempool: &HashMap<Hash32, Arc<MempoolTx>>,
    lookup: &mut dyn OutputLookup,
) -> Option<MempoolTx> {
    let mut spending = Vec::with_capacity(tx.inputs.len());
    let mut has_unconfirmed_inputs = false;
    let mut input_total: u64 = 0;
    for input in &tx.inputs {
        let prevout = input.prevout;
        let (scripthash, value) = if let Some(parent) = mempool.get(&prevout.txid) {
            has_unconfirmed_inputs = true;
            let (_, sh, value) = parent
                .funding
                .iter()
                .find(|(vout, _, _)| *vout == prevout.vout)?;
            (*sh, *value)
        } else {
            let out = lookup.confirmed_output(&prevout)?;
            (out.scripthash, out.value)
        };
        input_total = input_total.saturating_add(value);
        spending.push((prevout, scripthash, value));
    }
    let mut funding = Vec::with_capacity(tx.outputs.len());
    let mut keva = Vec::new();
    let mut output_total: u64 = 0;
    for (vout, out) in tx.outputs.iter().enumerate() {
        output_total = output_total.saturating_add(out.value);
        funding.push((
            vout as u32,
            chain::keva::address_scripthash(&out.script_pubkey),
            out.value,
        ));
        if tx.is_keva() {
            if let Some((op, _)) = chain::keva::parse_keva_script(&out.script_pubkey) {
                keva.extend(chain::keva::index_scripthashes(&op));
            }
        }
    }
    let size = tx.serialize().len();
    let bytes = 2 * size + 64 * (funding.len() + spending.len() + keva.len()) + 256;
    Some(MempoolTx {
        txid,
        fee: input_total.saturating_sub(output_total),
        vsize: tx.vsize() as u64,
        tx: tx.clone(),
        has_unconfirmed_inputs,
        funding,
        spending,
        keva,
        bytes,
    })
}

/// Builds the lookup tables and the fee histogram of a view.
fn index(txs: HashMap<Hash32, Arc<MempoolTx>>, bytes: usize) -> Snapshot {
    let mut by_scripthash: HashMap<Hash32, Vec<Hash32>> = HashMap::new();
    let mut spent = HashMap::new();
    for (txid, tx) in &txs {
        let mut seen = HashSet::new();
        for sh in tx.scripthashes() {
            if seen.insert(*sh) {
                by_scripthash.entry(*sh).or_default().push(*txid);
            }
        }
        for (outpoint, _, _) in &tx.spending {
            spent.insert(*outpoint, *txid);
        }
    }
    let histogram = fee_histogram(txs.values().map(|t| (t.fee, t.vsize)));
    Snapshot {
        txs,
        by_scripthash,
        spent,
        histogram,
        bytes,
    }
}

/// ElectrumX's compact histogram: `[rate, vsize]` pairs, rates (sat/vB, floored to 0.1)
/// strictly descending, each vsize the total of its bin; bins close once they pass 100 kvB
/// (the overshoot carried over), each next bin 10 % larger, and the last partial bin dropped.
pub fn fee_histogram(entries: impl Iterator<Item = (u64, u64)>) -> Vec<(f64, u64)> {
    let mut by_rate: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    for (fee, vsize) in entries.filter(|(_, vsize)| *vsize > 0) {
        *by_rate.entry(fee.saturating_mul(10) / vsize).or_default() += vsize;
    }
    let mut out = Vec::new();
    let mut bin_size: f64 = 100_000.0;
    let mut carried: f64 = 0.0;
    let mut in_bin: u64 = 0;
    for (rate_tenths, vsize) in by_rate.iter().rev() {
        in_bin += vsize;
        if in_bin as f64 + carried > bin_size {
            out.push((*rate_tenths as f64 / 10.0, in_bin));
            carried += in_bin as f64 - bin_size;
            in_bin = 0;
            bin_size *= 1.1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_drops_partial_bin_and_descends() {
        assert!(fee_histogram([(1000u64, 250u64)].into_iter()).is_empty());
        let entries: Vec<(u64, u64)> = (0..400u64).map(|i| ((i % 40 + 1) * 1000, 1000)).collect();
        let h = fee_histogram(entries.into_iter());
        assert!(!h.is_empty());
        for pair in h.windows(2) {
            assert!(pair[0].0 > pair[1].0, "rates must strictly descend: {h:?}");
        }
        // Each size is its own bin's total, never the running total.
        let total: u64 = h.iter().map(|p| p.1).sum();
        assert!(total <= 400 * 1000, "{h:?}");
        assert!(h[0].1 > 100_000);
        assert!(h.iter().all(|p| p.1 < 200_000), "{h:?}");
    }
}
