//! Whole blocks as returned by `getblock <hash> 0`: a variable-length header then the transactions.

use super::encode::{write_compact_size, Cursor, Error, Result};
use super::hash::hash_to_hex;
use super::header::Header;
use super::merkle;
use super::tx::Transaction;
use super::Hash32;

/// Smallest possible serialized transaction (version, two counts, lock time).
const MIN_TX_LEN: usize = 10;

/// A decoded block.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    /// The block header (its raw bytes are what clients are served).
    pub header: Header,
    /// Transactions in block order; the first is the coinbase.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// Parses a whole block; trailing bytes are an error.
    pub fn from_bytes(b: &[u8]) -> Result<Block> {
        let mut cur = Cursor::new(b);
        let header = Header::parse(&mut cur)?;
        let ctx = |e: Error| e.context(format!("block {}", hash_to_hex(&header.hash())));
        let count = cur.read_count(MIN_TX_LEN, "transaction").map_err(ctx)?;
        let mut txs = Vec::with_capacity(count);
        for i in 0..count {
            let tx =
                Transaction::parse(&mut cur).map_err(|e| ctx(e.context(format!("tx #{i}"))))?;
            txs.push(tx);
        }
        if !cur.is_empty() {
            return Err(ctx(Error::new(format!(
                "{} trailing bytes after {count} transactions",
                cur.remaining()
            ))));
        }
        Ok(Block { header, txs })
    }

    /// Network serialization (header, CompactSize count, txs with witness).
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = self.header.as_bytes().to_vec();
        write_compact_size(&mut out, self.txs.len() as u64);
        for tx in &self.txs {
            out.extend_from_slice(&tx.serialize());
        }
        out
    }

    /// Txids in block order.
    pub fn txids(&self) -> Vec<Hash32> {
        self.txs.iter().map(Transaction::txid).collect()
    }

    /// Merkle root recomputed from the transactions.
    pub fn compute_merkle_root(&self) -> Hash32 {
        merkle::merkle_root(&self.txids())
    }

    /// Checks merkle root == header's and (if given) height and prev hash; error names block hash and what differs.
    pub fn validate(
        &self,
        expected_height: Option<u32>,
        expected_prev: Option<Hash32>,
    ) -> Result<()> {
        let id = hash_to_hex(&self.header.hash());
        if self.txs.is_empty() {
            return Err(Error::new(format!("block {id} has no transactions")));
        }
        let computed = self.compute_merkle_root();
        if computed != self.header.merkle_root() {
            return Err(Error::new(format!(
                "block {id}: merkle root {} in header but the transactions give {}",
                hash_to_hex(&self.header.merkle_root()),
                hash_to_hex(&computed)
            )));
        }
        if let Some(h) = expected_height {
            if self.header.height() != h {
                return Err(Error::new(format!(
                    "block {id}: header says height {} (nNonce) but height {h} was expected",
                    self.header.height()
                )));
            }
        }
        if let Some(prev) = expected_prev {
            if self.header.prev_hash() != prev {
                return Err(Error::new(format!(
                    "block {id}: previous block {} but {} was expected",
                    hash_to_hex(&self.header.prev_hash()),
                    hash_to_hex(&prev)
                )));
            }
        }
        Ok(())
    }
}
