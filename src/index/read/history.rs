//! Scripthash histories, unspent outputs and balances (the Electrum scripthash methods).

use rusqlite::params;

use super::super::{from_display, to_display, Result};
use super::Reader;
use crate::chain::Hash32;

/// One confirmed history entry of a scripthash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// Global chain position (the keva methods page by it).
    pub tx_num: i64,
    /// Transaction id (internal order).
    pub txid: Hash32,
    /// Block height.
    pub height: u32,
}

/// One confirmed unspent output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    /// Creating transaction (internal order).
    pub txid: Hash32,
    /// Output index.
    pub vout: u32,
    /// Amount in satoshis.
    pub value: u64,
    /// Height of the creating block.
    pub height: u32,
    /// tx_num of the creating transaction (chain order).
    pub tx_num: i64,
}

impl Reader {
    /// Up to `limit` history entries of `scripthash` in chain order (pass max + 1 to detect a
    /// history that is too large).
    pub fn history(&self, scripthash: &Hash32, limit: usize) -> Result<Vec<HistoryItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT h.tx_num, t.txid, t.height FROM scripts s
             JOIN history h ON h.script_id = s.id JOIN txs t ON t.tx_num = h.tx_num
             WHERE s.scripthash = ?1 ORDER BY h.tx_num LIMIT ?2",
        )?;
        let rows = st.query(params![to_display(scripthash).as_slice(), limit as i64])?;
        collect_history(rows)
    }

    /// A page of `scripthash`'s history newest first: entries with tx_num < `below` (all when
    /// `None`), at most `limit` (the keva methods' paging).
    pub fn history_page(
        &self,
        scripthash: &Hash32,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT h.tx_num, t.txid, t.height FROM scripts s
             JOIN history h ON h.script_id = s.id JOIN txs t ON t.tx_num = h.tx_num
             WHERE s.scripthash = ?1 AND h.tx_num < ?2 ORDER BY h.tx_num DESC LIMIT ?3",
        )?;
        let below = below.unwrap_or(i64::MAX);
        let rows = st.query(params![
            to_display(scripthash).as_slice(),
            below,
            limit as i64
        ])?;
        collect_history(rows)
    }

    /// Number of confirmed history entries of `scripthash`.
    pub fn history_len(&self, scripthash: &Hash32) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM scripts s JOIN history h ON h.script_id = s.id
                 WHERE s.scripthash = ?1",
            )?
            .query_row([to_display(scripthash).as_slice()], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Confirmed unspent outputs of `scripthash`, in chain order.
    pub fn utxos(&self, scripthash: &Hash32) -> Result<Vec<Utxo>> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.tx_num, o.vout, o.value, t.txid, t.height FROM scripts s
             JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
             JOIN txs t ON t.tx_num = o.tx_num
             WHERE s.scripthash = ?1 ORDER BY o.tx_num, o.vout",
        )?;
        let mut rows = st.query([to_display(scripthash).as_slice()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Utxo {
                tx_num: r.get(0)?,
                vout: r.get(1)?,
                value: r.get::<_, i64>(2)? as u64,
                txid: from_display(&r.get::<_, Vec<u8>>(3)?)?,
                height: r.get(4)?,
            });
        }
        Ok(out)
    }

    /// Confirmed balance of `scripthash` in satoshis.
    pub fn balance(&self, scripthash: &Hash32) -> Result<u64> {
        let v: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(o.value), 0) FROM scripts s
                 JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
                 WHERE s.scripthash = ?1",
            )?
            .query_row([to_display(scripthash).as_slice()], |r| r.get(0))?;
        Ok(v as u64)
    }
}

fn collect_history(mut rows: rusqlite::Rows<'_>) -> Result<Vec<HistoryItem>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(HistoryItem {
            tx_num: r.get(0)?,
            txid: from_display(&r.get::<_, Vec<u8>>(1)?)?,
            height: r.get(2)?,
        });
    }
    Ok(out)
}
