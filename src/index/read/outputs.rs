//! Outputs and transaction summaries: what get_transactions_info shows and the mempool needs
//! to resolve the coins an unconfirmed transaction spends.

use rusqlite::{params, OptionalExtension};

use super::super::{from_display, to_display, Result};
use super::{KevaRow, Reader, TxLocation};
use crate::chain::Hash32;

/// One output as get_transactions_info and the mempool need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// The creating transaction's chain position.
    pub tx_num: i64,
    /// Amount in satoshis.
    pub value: u64,
    /// Scripthash (internal order) of the keva-stripped script; `None` for OP_RETURN.
    pub scripthash: Option<Hash32>,
    /// Address text (`K…`/`V…`/`kva1…`, `unh…`, or `ret`).
    pub address: String,
    /// Height of the creating block.
    pub height: u32,
    /// tx_num of the spending transaction, if spent in the chain.
    pub spent_by: Option<i64>,
}

/// Inputs and outputs of a confirmed transaction (get_transactions_info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSummary {
    /// Where it is.
    pub location: TxLocation,
    /// Block time (header nTime).
    pub time: u32,
    /// Outputs in order: (address text, satoshis).
    pub outputs: Vec<(String, u64)>,
    /// Spent outputs in input order: (address text, satoshis); empty for a coinbase.
    pub inputs: Vec<(String, u64)>,
    /// The keva operation it carries, if any.
    pub keva: Option<KevaRow>,
}

/// outputs ⋈ scripts columns: tx_num, value, scripthash, address, height, spent_tx_num.
type OutputRowRaw = (i64, i64, Option<Vec<u8>>, Option<String>, u32, Option<i64>);

impl Reader {
    /// One confirmed output (spent or not).
    pub fn output(&self, txid: &Hash32, vout: u32) -> Result<Option<OutputInfo>> {
        let row: Option<OutputRowRaw> = self
            .conn
            .prepare_cached(
                "SELECT o.tx_num, o.value, s.scripthash, s.address, t.height, o.spent_tx_num
                 FROM txs t JOIN outputs o ON o.tx_num = t.tx_num AND o.vout = ?2
                 LEFT JOIN scripts s ON s.id = o.script_id
                 WHERE t.txid = ?1 ORDER BY t.tx_num DESC LIMIT 1",
            )?
            .query_row(params![to_display(txid).as_slice(), vout], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        row.map(|(tx_num, value, sh, address, height, spent_by)| {
            Ok(OutputInfo {
                tx_num,
                value: value as u64,
                scripthash: sh.map(|b| from_display(&b)).transpose()?,
                address: address.unwrap_or_else(|| "ret".to_string()),
                height,
                spent_by,
            })
        })
        .transpose()
    }

    /// Inputs, outputs, time and keva operation of a confirmed transaction.
    pub fn tx_summary(&self, txid: &Hash32) -> Result<Option<TxSummary>> {
        let Some(location) = self.tx_location(txid)? else {
            return Ok(None);
        };
        let time = self.block_time(location.height)?.unwrap_or(0);
        let pairs = |sql: &str| -> Result<Vec<(String, u64)>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map([location.tx_num], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "ret".to_string()),
                    r.get::<_, i64>(1)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let outputs = pairs(
            "SELECT s.address, o.value FROM outputs o LEFT JOIN scripts s ON s.id = o.script_id
             WHERE o.tx_num = ?1 ORDER BY o.vout",
        )?;
        let inputs = pairs(
            "SELECT s.address, o.value FROM outputs o LEFT JOIN scripts s ON s.id = o.script_id
             WHERE o.spent_tx_num = ?1 ORDER BY o.spent_vin",
        )?;
        let keva = self.keva_op(location.tx_num)?;
        Ok(Some(TxSummary {
            location,
            time,
            outputs,
            inputs,
            keva,
        }))
    }
}

/// The mempool resolves spent outputs and checks the indexed tip through the same reader.
impl crate::mempool::OutputLookup for Reader {
    fn confirmed_output(
        &mut self,
        outpoint: &crate::chain::OutPoint,
    ) -> Option<crate::mempool::PrevOut> {
        let out = self.output(&outpoint.txid, outpoint.vout).ok()??;
        Some(crate::mempool::PrevOut {
            scripthash: out.scripthash?,
            value: out.value,
        })
    }

    fn indexed_tip(&mut self) -> Option<Hash32> {
        self.tip().ok().flatten().map(|(_, hash)| hash)
    }
}
