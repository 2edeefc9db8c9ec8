//! Blocks and where transactions sit in them: the tip, headers, block hashes and times,
//! transaction positions.

use rusqlite::{params, OptionalExtension};

use super::super::{from_display, to_display, Result};
use super::Reader;
use crate::chain::Hash32;

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Global chain position.
    pub tx_num: i64,
    /// Block height.
    pub height: u32,
    /// Position in the block (0 = coinbase).
    pub position: u32,
}

impl Reader {
    /// Height and hash (internal order) of the indexed tip; `None` for an empty index.
    pub fn tip(&self) -> Result<Option<(u32, Hash32)>> {
        let row: (i64, Option<Vec<u8>>) = self
            .conn
            .prepare_cached("SELECT height, block_hash FROM sync_state WHERE id = 0")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match row {
            (h, Some(hash)) if h >= 0 => Ok(Some((h as u32, from_display(&hash)?))),
            _ => Ok(None),
        }
    }

    /// The raw header at `height`.
    pub fn header(&self, height: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT header FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?)
    }

    /// Raw headers of heights `start..start+count` that exist, in order.
    pub fn headers(&self, start: u32, count: u32) -> Result<Vec<Vec<u8>>> {
        let mut st = self.conn.prepare_cached(
            "SELECT header FROM blocks WHERE height >= ?1 AND height < ?2 ORDER BY height",
        )?;
        let end = i64::from(start) + i64::from(count);
        let rows = st.query_map(params![start, end], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The block hash (internal order) at `height`.
    pub fn block_hash(&self, height: u32) -> Result<Option<Hash32>> {
        let h: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?;
        h.map(|b| from_display(&b)).transpose()
    }

    /// Txids (internal order) of the block at `height`, in block order. `None` for an unknown
    /// height and for genesis, whose transactions are not indexed.
    pub fn block_txids(&self, height: u32) -> Result<Option<Vec<Hash32>>> {
        let Some((first, count)) = self.block_range(height)? else {
            return Ok(None);
        };
        if height == 0 {
            return Ok(None);
        }
        let mut st = self.conn.prepare_cached(
            "SELECT txid FROM txs WHERE tx_num >= ?1 AND tx_num < ?2 ORDER BY tx_num",
        )?;
        let rows = st.query_map([first, first + count], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::with_capacity(count as usize);
        for r in rows {
            out.push(from_display(&r?)?);
        }
        Ok(Some(out))
    }

    fn block_range(&self, height: u32) -> Result<Option<(i64, i64)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT first_tx_num, tx_count FROM blocks WHERE height = ?1")?
            .query_row([height], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Block time (header nTime) at `height`.
    pub fn block_time(&self, height: u32) -> Result<Option<u32>> {
        Ok(self
            .conn
            .prepare_cached("SELECT time FROM blocks WHERE height = ?1")?
            .query_row([height], |r| r.get(0))
            .optional()?)
    }

    /// Where a confirmed transaction is.
    pub fn tx_location(&self, txid: &Hash32) -> Result<Option<TxLocation>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.tx_num, t.height, t.tx_num - b.first_tx_num FROM txs t
                 JOIN blocks b ON b.height = t.height
                 WHERE t.txid = ?1 ORDER BY t.tx_num DESC LIMIT 1",
            )?
            .query_row([to_display(txid).as_slice()], |r| {
                Ok(TxLocation {
                    tx_num: r.get(0)?,
                    height: r.get(1)?,
                    position: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// The txid (internal order) of a tx_num.
    pub fn txid(&self, tx_num: i64) -> Result<Option<Hash32>> {
        let b: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT txid FROM txs WHERE tx_num = ?1")?
            .query_row([tx_num], |r| r.get(0))
            .optional()?;
        b.map(|b| from_display(&b)).transpose()
    }

    /// The txid at a block position (`blockchain.transaction.id_from_pos`).
    pub fn txid_at(&self, height: u32, position: u32) -> Result<Option<Hash32>> {
        match self.block_range(height)? {
            Some((first, count)) if height > 0 && i64::from(position) < count => {
                self.txid(first + i64::from(position))
            }
            _ => Ok(None),
        }
    }

    /// Location of a tx_num.
    pub fn tx_location_of(&self, tx_num: i64) -> Result<Option<TxLocation>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.height, t.tx_num - b.first_tx_num FROM txs t
                 JOIN blocks b ON b.height = t.height WHERE t.tx_num = ?1",
            )?
            .query_row([tx_num], |r| {
                Ok(TxLocation {
                    tx_num,
                    height: r.get(0)?,
                    position: r.get(1)?,
                })
            })
            .optional()?)
    }
}
