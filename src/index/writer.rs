//! The single writer: applies prepared blocks and rolls back to a height, each batch inside one
//! SQLite transaction that also records the new tip, so a crash leaves the last committed state.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::prepared::PreparedBlock;
use super::{db, from_display, schema, to_display, Error, Result};
use crate::chain::address::{base58check_encode, script_to_address};
use crate::chain::keva::{namespace_to_string, reaction_target, KevaOp};
use crate::chain::{hash::hash_to_hex, Hash32, Network};

mod rollback;

/// The committed (or, inside a transaction, pending) tip and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipState {
    /// Height of the last indexed block; -1 for an empty index.
    pub height: i64,
    /// Its hash (internal order); `None` for an empty index.
    pub hash: Option<Hash32>,
    /// tx_num of the next transaction.
    pub next_tx_num: i64,
    /// scripts.id of the next new script.
    pub next_script: i64,
    /// Whether initial sync finished (deferred indexes built, bulk settings off).
    pub caught_up: bool,
}

/// What one committed transaction changed, for notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Scripthashes (internal order) whose history changed; empty when `all` is set.
    pub scripthashes: HashSet<Hash32>,
    /// Set when touched scripthashes were not tracked (bulk initial sync): assume all changed.
    pub all: bool,
}

/// Owner of the only write connection.
pub struct Writer {
    conn: Connection,
    network: Network,
    path: PathBuf,
    state: TipState,
    in_txn: bool,
    track_touched: bool,
    history: Vec<(i64, i64)>,
    reactions: Vec<Reaction>,
    touched: HashSet<Hash32>,
    touched_overflow: bool,
}

/// A reaction waiting to be counted: (post txid in display order, kind 1–3, its tx_num).
type Reaction = ([u8; 32], u8, i64);

/// Beyond this many touched scripthashes in one commit, report "all changed" instead (bounds
/// memory when a long catch-up runs with tracking on).
const TOUCHED_LIMIT: usize = 100_000;

impl Writer {
    /// Opens or creates the index at `path` for `network`, with a page cache of `cache_mb`.
    pub fn open(path: &Path, network: Network, cache_mb: u32) -> Result<Writer> {
        let conn = db::open_writer(path, network, cache_mb)?;
        let state = read_state(&conn)?;
        let mut w = Writer {
            conn,
            network,
            path: path.to_path_buf(),
            state,
            in_txn: false,
            track_touched: true,
            history: Vec::new(),
            reactions: Vec::new(),
            touched: HashSet::new(),
            touched_overflow: false,
        };
        w.apply_sync_mode()?;
        Ok(w)
    }

    /// Whether SQLite could only open the file for reading (no write permission then): such
    /// an index is served as it is until the server is restarted with write access.
    pub fn is_read_only(&self) -> bool {
        self.conn
            .is_readonly(rusqlite::DatabaseName::Main)
            .unwrap_or(false)
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The network this index follows.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Tip and counters including uncommitted work of the open transaction.
    pub fn state(&self) -> &TipState {
        &self.state
    }

    /// The stored hash of the block at `height` (internal order), including uncommitted blocks.
    pub fn block_hash(&self, height: i64) -> Result<Option<Hash32>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT hash FROM blocks WHERE height = ?1")?;
        let h: Option<Vec<u8>> = st.query_row([height], |r| r.get(0)).optional()?;
        h.map(|b| from_display(&b)).transpose()
    }

    /// Stored hashes of heights `first..first+count` that exist (internal order).
    pub fn block_hashes(&self, first: i64, count: i64) -> Result<Vec<Hash32>> {
        let mut st = self.conn.prepare_cached(
            "SELECT hash FROM blocks WHERE height >= ?1 AND height < ?2 ORDER BY height",
        )?;
        let rows = st.query_map([first, first + count], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(from_display(&r?)?);
        }
        Ok(out)
    }

    /// Whether scripthashes touched by each commit are collected (off during initial sync,
    /// where nobody is subscribed and the set would be huge).
    pub fn set_track_touched(&mut self, on: bool) {
        self.track_touched = on;
    }

    /// Starts a write transaction (no-op when one is open).
    pub fn begin(&mut self) -> Result<()> {
        if !self.in_txn {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_txn = true;
        }
        Ok(())
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.in_txn
    }

    /// Writes the tip and pending rows and commits; returns what changed.
    pub fn commit(&mut self) -> Result<Touched> {
        if !self.in_txn {
            return Ok(Touched::default());
        }
        self.flush_history()?;
        let s = &self.state;
        self.conn
            .prepare_cached(
                "UPDATE sync_state SET height = ?1, block_hash = ?2, next_tx_num = ?3,
                 next_script = ?4, caught_up = ?5 WHERE id = 0",
            )?
            .execute(params![
                s.height,
                s.hash.as_ref().map(|h| to_display(h).to_vec()),
                s.next_tx_num,
                s.next_script,
                s.caught_up
            ])?;
        self.conn.execute_batch("COMMIT")?;
        self.in_txn = false;
        let all = !self.track_touched || std::mem::take(&mut self.touched_overflow);
        let mut scripthashes = std::mem::take(&mut self.touched);
        if all {
            scripthashes.clear();
        }
        Ok(Touched { scripthashes, all })
    }

    /// Abandons the open transaction and reloads the committed state.
    pub fn abort(&mut self) -> Result<()> {
        if self.in_txn {
            // SQLite may have rolled back already (e.g. after SQLITE_FULL).
            if !self.conn.is_autocommit() {
                self.conn.execute_batch("ROLLBACK")?;
            }
            self.in_txn = false;
        }
        self.history.clear();
        self.reactions.clear();
        self.touched.clear();
        self.touched_overflow = false;
        self.state = read_state(&self.conn)?;
        Ok(())
    }

    /// Builds the deferred indexes and leaves bulk mode; called when initial sync reaches the tip.
    pub fn finish_initial_sync(&mut self) -> Result<()> {
        if self.state.caught_up && schema::deferred_built(&self.conn)? {
            return Ok(());
        }
        self.begin()?;
        self.conn.execute_batch(schema::deferred_sql())?;
        self.state.caught_up = true;
        self.commit()?;
        self.apply_sync_mode()?;
        self.conn.execute_batch("PRAGMA optimize")?;
        Ok(())
    }

    fn apply_sync_mode(&mut self) -> Result<()> {
        // Bulk loading may skip fsync: a killed process loses nothing SQLite wrote (the OS has
        // it) and WAL keeps the file consistent; only a power cut could cost the bulk work.
        let mode = if self.state.caught_up {
            "NORMAL"
        } else {
            "OFF"
        };
        self.conn
            .execute_batch(&format!("PRAGMA synchronous = {mode}"))?;
        Ok(())
    }

    /// Appends the block at `state().height + 1`; a transaction must be open.
    pub fn apply_block(&mut self, b: &PreparedBlock) -> Result<()> {
        if !self.in_txn {
            return Err(Error::new("apply_block outside a transaction"));
        }
        let expected = self.state.height + 1;
        let shown = hash_to_hex(&b.hash);
        if i64::from(b.height) != expected {
            return Err(Error::new(format!(
                "block {shown} is at height {} but the index expects {expected}",
                b.height
            )));
        }
        let prev = b.block.header.prev_hash();
        match self.state.hash {
            Some(tip) if tip != prev => {
                return Err(Error::new(format!(
                    "block {shown} at height {} does not extend the indexed tip {}",
                    b.height,
                    hash_to_hex(&tip)
                )))
            }
            None if b.hash != self.network.genesis_hash() => {
                return Err(Error::new(format!(
                    "the node's block 0 is {shown}, not the {} genesis {}: is DAEMON_URL pointing at a {} node?",
                    self.network.name(),
                    hash_to_hex(&self.network.genesis_hash()),
                    self.network.name()
                )))
            }
            _ => {}
        }
        let first_tx_num = self.state.next_tx_num;
        self.conn
            .prepare_cached(
                "INSERT INTO blocks (height, hash, header, time, first_tx_num, tx_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                b.height,
                to_display(&b.hash).as_slice(),
                b.block.header.as_bytes(),
                b.block.header.time(),
                first_tx_num,
                b.tx_count() as i64
            ])?;
        // Genesis transactions are counted but not indexed (ElectrumX).
        if b.height > 0 {
            for i in 0..b.tx_count() {
                self.apply_tx(b, i, first_tx_num + i as i64).map_err(|e| {
                    e.context(format!("block {shown} (height {}) tx {i}", b.height))
                })?;
            }
        }
        self.state.height = expected;
        self.state.hash = Some(b.hash);
        self.state.next_tx_num = first_tx_num + b.tx_count() as i64;
        Ok(())
    }

    fn apply_tx(&mut self, b: &PreparedBlock, i: usize, tx_num: i64) -> Result<()> {
        let tx = &b.block.txs[i];
        self.conn
            .prepare_cached("INSERT INTO txs (tx_num, txid, height) VALUES (?1, ?2, ?3)")?
            .execute(params![
                tx_num,
                to_display(&b.txids[i]).as_slice(),
                b.height
            ])?;
        if !tx.is_coinbase() {
            for (vin, input) in tx.inputs.iter().enumerate() {
                self.spend(&input.prevout.txid, input.prevout.vout, tx_num, vin as i64)
                    .map_err(|e| e.context(format!("input {vin}")))?;
            }
        }
        for (vout, (out, prep)) in tx.outputs.iter().zip(&b.outputs[i]).enumerate() {
            let script_id = match &prep.scripthash {
                Some(sh) => {
                    let addr = &out.script_pubkey[prep.address_script.clone()];
                    let id = self.intern(sh, tx_num, Some(addr))?;
                    self.history.push((id, tx_num));
                    Some(id)
                }
                None => None,
            };
            self.conn
                .prepare_cached(
                    "INSERT INTO outputs (tx_num, vout, value, script_id) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![tx_num, vout as i64, out.value as i64, script_id])?;
            if let Some((op, hashes)) = &prep.keva {
                self.insert_keva(op, hashes, tx_num, vout as i64)?;
            }
        }
        Ok(())
    }

    fn spend(&mut self, txid: &Hash32, vout: u32, tx_num: i64, vin: i64) -> Result<()> {
        let found: Option<(i64, Option<i64>)> = self
            .conn
            .prepare_cached(
                "UPDATE outputs SET spent_tx_num = ?3, spent_vin = ?4
                 WHERE tx_num = (SELECT tx_num FROM txs WHERE txid = ?1 ORDER BY tx_num DESC LIMIT 1)
                   AND vout = ?2 AND spent_tx_num IS NULL
                 RETURNING tx_num, script_id",
            )?
            .query_row(
                params![to_display(txid).as_slice(), vout, tx_num, vin],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            Some((_, Some(script_id))) => {
                self.history.push((script_id, tx_num));
                if self.track_touched && !self.touched_overflow {
                    let sh = self.scripthash_of(script_id)?;
                    self.touch(sh);
                }
                Ok(())
            }
            Some((_, None)) => Ok(()),
            None => Err(self.explain_missing_spend(txid, vout)),
        }
    }

    fn explain_missing_spend(&self, txid: &Hash32, vout: u32) -> Error {
        let what = format!("{}:{vout}", hash_to_hex(txid));
        let exists: rusqlite::Result<Option<Option<i64>>> = self
            .conn
            .query_row(
                "SELECT o.spent_tx_num FROM txs t JOIN outputs o ON o.tx_num = t.tx_num
                 WHERE t.txid = ?1 AND o.vout = ?2 ORDER BY t.tx_num DESC LIMIT 1",
                params![to_display(txid).as_slice(), vout],
                |r| r.get(0),
            )
            .optional();
        let why = match exists {
            Ok(Some(Some(by))) => format!("already spent by tx_num {by}"),
            Ok(Some(None)) => "unspent, yet the update failed".to_string(),
            Ok(None) => "not in the index".to_string(),
            Err(e) => format!("lookup failed: {e}"),
        };
        Error::new(format!(
            "spends output {what}, which is {why}; the index does not match the node's chain \
             (delete the index and resync if this persists)"
        ))
    }

    fn touch(&mut self, sh: Hash32) {
        if self.touched_overflow {
            return;
        }
        self.touched.insert(sh);
        if self.touched.len() > TOUCHED_LIMIT {
            self.touched.clear();
            self.touched_overflow = true;
        }
    }

    fn scripthash_of(&self, id: i64) -> Result<Hash32> {
        let b: Vec<u8> = self
            .conn
            .prepare_cached("SELECT scripthash FROM scripts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?;
        from_display(&b)
    }

    /// The id of a script, creating the row when it is new; `addr` is the output script for
    /// address text (None for keva index pseudo-scripts).
    fn intern(&mut self, sh: &Hash32, tx_num: i64, addr: Option<&[u8]>) -> Result<i64> {
        if self.track_touched {
            self.touch(*sh);
        }
        let key = to_display(sh);
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM scripts WHERE scripthash = ?1")?
            .query_row([key.as_slice()], |r| r.get(0))
            .optional()?;
        if let Some(id) = found {
            return Ok(id);
        }
        let id = self.state.next_script;
        let address = addr.map(|s| address_label(s, self.network));
        self.conn
            .prepare_cached(
                "INSERT INTO scripts (id, scripthash, first_tx_num, address) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, key.as_slice(), tx_num, address])?;
        self.state.next_script = id + 1;
        Ok(id)
    }

    fn insert_keva(
        &mut self,
        op: &KevaOp,
        hashes: &[Hash32],
        tx_num: i64,
        vout: i64,
    ) -> Result<()> {
        let (key, value): (&[u8], Option<&[u8]>) = match op {
            KevaOp::Namespace { display_name, .. } => (display_name, None),
            KevaOp::Put { key, value, .. } => (key, Some(value)),
            KevaOp::Delete { key, .. } => (key, None),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO keva_ops (tx_num, vout, op, namespace, key, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                tx_num,
                vout,
                op.code(),
                namespace_to_string(op.namespace()),
                key,
                value
            ])?;
        for sh in hashes {
            let id = self.intern(sh, tx_num, None)?;
            self.history.push((id, tx_num));
        }
        if let Some((kind, post)) = reaction_target(op) {
            self.reactions.push((post, kind, tx_num));
        }
        Ok(())
    }

    fn flush_history(&mut self) -> Result<()> {
        let reactions = std::mem::take(&mut self.reactions);
        self.add_reaction_counts(reactions, 1)?;
        if self.history.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.history);
        rows.sort_unstable();
        rows.dedup();
        const CHUNK: usize = 256;
        let full_sql = multi_row_insert("history (script_id, tx_num)", 2, CHUNK);
        let mut chunks = rows.chunks_exact(CHUNK);
        for chunk in &mut chunks {
            let mut st = self.conn.prepare_cached(&full_sql)?;
            let flat: Vec<i64> = chunk.iter().flat_map(|&(a, b)| [a, b]).collect();
            st.execute(rusqlite::params_from_iter(flat))?;
        }
        let mut st = self
            .conn
            .prepare_cached("INSERT INTO history (script_id, tx_num) VALUES (?1, ?2)")?;
        for &(a, b) in chunks.remainder() {
            st.execute([a, b])?;
        }
        Ok(())
    }

    /// Adds (`sign` 1) or takes back (-1) reactions in `reaction_counts`. A transaction counts
    /// once per post and kind, as it appears once in that reaction's history.
    fn add_reaction_counts(&mut self, mut reactions: Vec<Reaction>, sign: i64) -> Result<()> {
        reactions.sort_unstable();
        reactions.dedup();
        let mut add = self.conn.prepare_cached(
            "INSERT INTO reaction_counts (txid, replies, shares, likes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (txid) DO UPDATE SET replies = replies + excluded.replies,
                 shares = shares + excluded.shares, likes = likes + excluded.likes
             RETURNING replies, shares, likes",
        )?;
        let mut delete = self
            .conn
            .prepare_cached("DELETE FROM reaction_counts WHERE txid = ?1")?;
        for post in reactions.chunk_by(|a, b| a.0 == b.0) {
            let mut n = [0i64; 3];
            for (_, kind, _) in post {
                n[usize::from(*kind - 1)] += sign;
            }
            let txid = post[0].0.as_slice();
            let now: [i64; 3] = add.query_row(params![txid, n[0], n[1], n[2]], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?])
            })?;
            if now.iter().any(|c| *c < 0) {
                return Err(Error::new(format!(
                    "rollback: reaction counts of {} would go below zero",
                    crate::chain::hash::to_hex(&post[0].0)
                )));
            }
            if now == [0; 3] {
                delete.execute([txid])?;
            }
        }
        Ok(())
    }
}

/// The text get_transactions_info shows for an output script (and operators type).
pub fn address_label(script: &[u8], network: Network) -> String {
    match script_to_address(script, network) {
        Some(a) => a,
        None if super::prepared::is_unspendable(script) => "ret".to_string(),
        None => format!("unh{}", base58check_encode(script)),
    }
}

fn multi_row_insert(table: &str, cols: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    format!("INSERT INTO {table} VALUES {}", vec![one; rows].join(","))
}

fn read_state(conn: &Connection) -> Result<TipState> {
    conn.query_row(
        "SELECT height, block_hash, next_tx_num, next_script, caught_up FROM sync_state WHERE id = 0",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
            ))
        },
    )
    .map_err(|e| Error::new(format!("reading the sync state: {e}")))
    .and_then(|(height, hash, next_tx_num, next_script, caught_up)| {
        Ok(TipState {
            height,
            hash: hash.map(|h| from_display(&h)).transpose()?,
            next_tx_num,
            next_script,
            caught_up,
        })
    })
}

/// Bans (reason `Some`) or unbans (`None`) a transaction's keva content; uses its own short
/// connection so the admin interface need not go through the sync thread. Returns whether
/// anything changed.
pub fn set_ban(path: &Path, network: Network, txid: &Hash32, reason: Option<u32>) -> Result<bool> {
    let conn = db::open_writer(path, network, 1)?;
    let key = to_display(txid);
    let n = match reason {
        Some(reason) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            conn.execute(
                "INSERT OR REPLACE INTO banned_txs (txid, reason, banned_at) VALUES (?1, ?2, ?3)",
                params![key.as_slice(), reason, now],
            )?
        }
        None => conn.execute("DELETE FROM banned_txs WHERE txid = ?1", [key.as_slice()])?,
    };
    Ok(n > 0)
}
