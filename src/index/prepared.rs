//! A block parsed and hashed ahead of the writer (on the prefetch thread), so the writer thread
//! spends its time in SQLite only.

use crate::chain::keva::{index_scripthashes, parse_keva_script, KevaOp};
use crate::chain::script::{scripthash, OP_0, OP_RETURN};
use crate::chain::{merkle, Block, Hash32};

use super::{Error, Result};

/// What the index needs from one output, computed once.
#[derive(Debug, Clone)]
pub struct PreparedOutput {
    /// Electrum scripthash of the keva-stripped script; `None` for unspendable OP_RETURN outputs.
    pub scripthash: Option<Hash32>,
    /// Byte range of the keva-stripped (address) script inside the output's script.
    pub address_script: std::ops::Range<usize>,
    /// The keva operation and its index scripthashes, when the output carries one.
    pub keva: Option<(KevaOp, Vec<Hash32>)>,
}

/// A block ready for [`super::Writer::apply_block`].
#[derive(Debug, Clone)]
pub struct PreparedBlock {
    /// Height the block is applied at.
    pub height: u32,
    /// Block hash (internal order).
    pub hash: Hash32,
    /// The parsed block.
    pub block: Block,
    /// Txids in block order (internal order).
    pub txids: Vec<Hash32>,
    /// Per transaction, per output.
    pub outputs: Vec<Vec<PreparedOutput>>,
    /// Size of the raw block, for the prefetch queue's byte budget and statistics.
    pub size: usize,
}

impl PreparedBlock {
    /// Parses `raw`, checks it is the block with `hash` at `height` and that its merkle root
    /// matches its transactions, and precomputes txids and scripthashes.
    pub fn parse(height: u32, hash: &Hash32, raw: &[u8]) -> Result<PreparedBlock> {
        let shown = crate::chain::hash::hash_to_hex(hash);
        let block = Block::from_bytes(raw)
            .map_err(|e| Error::new(format!("block {shown} at height {height}: {e}")))?;
        if block.header.hash() != *hash {
            return Err(Error::new(format!(
                "the node returned block {} when asked for {shown} (height {height})",
                crate::chain::hash::hash_to_hex(&block.header.hash())
            )));
        }
        if block.header.height() != height {
            return Err(Error::new(format!(
                "block {shown} says it is at height {} (nNonce) but the node listed it at {height}",
                block.header.height()
            )));
        }
        let txids: Vec<Hash32> = block.txs.iter().map(|tx| tx.txid()).collect();
        if merkle::merkle_root(&txids) != block.header.merkle_root() {
            return Err(Error::new(format!(
                "block {shown} at height {height}: merkle root does not match its transactions"
            )));
        }
        let outputs = block
            .txs
            .iter()
            .map(|tx| {
                tx.outputs
                    .iter()
                    .map(|o| prepare_output(&o.script_pubkey))
                    .collect()
            })
            .collect();
        Ok(PreparedBlock {
            height,
            hash: *hash,
            block,
            txids,
            outputs,
            size: raw.len(),
        })
    }

    /// Number of transactions.
    pub fn tx_count(&self) -> usize {
        self.block.txs.len()
    }
}

fn prepare_output(script: &[u8]) -> PreparedOutput {
    let (keva, address_script) = match parse_keva_script(script) {
        Some((op, addr)) => {
            let start = script.len() - addr.len();
            let hashes = index_scripthashes(&op);
            (Some((op, hashes)), start..script.len())
        }
        None => (None, 0..script.len()),
    };
    let addr = &script[address_script.clone()];
    // ElectrumX's test, on the whole script: OP_RETURN or OP_0 OP_RETURN never funds anything.
    let scripthash = if is_unspendable(script) {
        None
    } else {
        Some(scripthash(addr))
    };
    PreparedOutput {
        scripthash,
        address_script,
        keva,
    }
}

/// Outputs ElectrumX leaves out of history and the UTXO set.
pub fn is_unspendable(script: &[u8]) -> bool {
    matches!(script, [OP_RETURN, ..] | [OP_0, OP_RETURN, ..])
}
