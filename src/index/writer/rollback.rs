//! Undoing blocks for a reorganisation: every row a block added, found from its first
//! tx_num, is deleted or restored inside the writer's open transaction.

use rusqlite::OptionalExtension;

use super::Writer;
use crate::chain::hash::hash_to_hex;
use crate::chain::keva::{index_scripthashes, reaction_target, KevaOp};
use crate::index::keva_rows::keva_op_from_row;
use crate::index::{from_display, to_display, Error, Result};

impl Writer {
    /// Removes every block above `height` (and all their rows) inside the open transaction.
    pub fn rollback_to(&mut self, height: i64) -> Result<()> {
        if !self.in_txn {
            return Err(Error::new("rollback_to outside a transaction"));
        }
        if height >= self.state.height {
            return Ok(());
        }
        self.flush_history()?;
        let first: i64 = self
            .conn
            .query_row(
                "SELECT first_tx_num FROM blocks WHERE height = ?1",
                [height + 1],
                |r| r.get(0),
            )
            .map_err(|e| {
                Error::new(format!(
                    "rollback to height {height}: block {} missing: {e}",
                    height + 1
                ))
            })?;
        // Every history row at tx_num >= first comes from an output created, an output spent,
        // or a keva operation in that range: find them all, then delete exactly those rows.
        let mut rows: Vec<(i64, i64)> = Vec::new();
        {
            let mut st = self.conn.prepare_cached(
                "SELECT script_id, tx_num FROM outputs WHERE tx_num >= ?1 AND script_id IS NOT NULL",
            )?;
            for r in st.query_map([first], |r| Ok((r.get(0)?, r.get(1)?)))? {
                rows.push(r?);
            }
            let mut st = self.conn.prepare_cached(
                "SELECT script_id, spent_tx_num FROM outputs
                 WHERE spent_tx_num >= ?1 AND script_id IS NOT NULL",
            )?;
            for r in st.query_map([first], |r| Ok((r.get(0)?, r.get(1)?)))? {
                rows.push(r?);
            }
        }
        let keva = self.keva_ops_from(first)?;
        let reactions = keva
            .iter()
            .filter_map(|(tx_num, op)| reaction_target(op).map(|(k, post)| (post, k, *tx_num)))
            .collect();
        self.add_reaction_counts(reactions, -1)?;
        for (tx_num, op) in keva {
            for sh in index_scripthashes(&op) {
                let id: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT id FROM scripts WHERE scripthash = ?1")?
                    .query_row([to_display(&sh).as_slice()], |r| r.get(0))
                    .optional()?;
                match id {
                    Some(id) => rows.push((id, tx_num)),
                    None => {
                        return Err(Error::new(format!(
                            "rollback: keva index script {} of tx_num {tx_num} is missing",
                            hash_to_hex(&sh)
                        )))
                    }
                }
            }
        }
        rows.sort_unstable();
        rows.dedup();
        let mut script_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        script_ids.dedup();
        for &id in &script_ids {
            let (sh, first_use): (Vec<u8>, i64) = self
                .conn
                .prepare_cached("SELECT scripthash, first_tx_num FROM scripts WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if self.track_touched {
                self.touch(from_display(&sh)?);
            }
            if first_use >= first {
                // ids follow first use, so every script from here on is orphaned too.
                self.state.next_script = self.state.next_script.min(id);
            }
        }
        {
            let mut st = self
                .conn
                .prepare_cached("DELETE FROM history WHERE script_id = ?1 AND tx_num = ?2")?;
            for &(a, b) in &rows {
                st.execute([a, b])?;
            }
        }
        let c = &self.conn;
        c.execute("DELETE FROM outputs WHERE tx_num >= ?1", [first])?;
        c.execute(
            "UPDATE outputs SET spent_tx_num = NULL, spent_vin = NULL WHERE spent_tx_num >= ?1",
            [first],
        )?;
        c.execute("DELETE FROM keva_ops WHERE tx_num >= ?1", [first])?;
        c.execute("DELETE FROM txs WHERE tx_num >= ?1", [first])?;
        c.execute("DELETE FROM blocks WHERE height > ?1", [height])?;
        c.execute(
            "DELETE FROM scripts WHERE id >= ?1",
            [self.state.next_script],
        )?;
        self.state.height = height;
        self.state.hash = self.block_hash(height)?;
        self.state.next_tx_num = first;
        Ok(())
    }

    fn keva_ops_from(&self, first: i64) -> Result<Vec<(i64, KevaOp)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT tx_num, op, namespace, key, value FROM keva_ops WHERE tx_num >= ?1",
        )?;
        let mut out = Vec::new();
        let rows = st.query_map([first], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, u8>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })?;
        for r in rows {
            let (tx_num, code, ns, key, value) = r?;
            out.push((tx_num, keva_op_from_row(code, &ns, key, value)?));
        }
        Ok(out)
    }
}
