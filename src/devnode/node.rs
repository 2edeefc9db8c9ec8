//! The stand-in node's state: chain + wallet + settings, with the operations that keep the
//! wallet in step with the chain (mine, accept, drop, rewind, reorg).

use super::blockfiles::BlockFileWriter;
use super::state::{Chain, Reject};
use super::wallet::{AddrKind, Built, Wallet};
use crate::chain::{Hash32, Network, Transaction};
use std::time::{SystemTime, UNIX_EPOCH};

/// Settings a test or script can change at run time.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Whether confirmed transactions can be fetched (`-txindex`).
    pub txindex: bool,
    /// Minimum relay fee in satoshis per 1000 vbytes (the node's 1000 by default).
    pub relay_fee_per_kb: u64,
    /// What `estimatesmartfee` answers, in KVA/kB; `None` = "insufficient data".
    pub fee_estimate: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            txindex: true,
            relay_fee_per_kb: 1000,
            fee_estimate: Some(0.0002),
        }
    }
}

/// Chain, wallet and settings behind one lock.
pub struct NodeState {
    /// The chain and mempool.
    pub chain: Chain,
    /// The built-in wallet.
    pub wallet: Wallet,
    /// Run-time settings.
    pub settings: Settings,
    /// Script that `mine` pays when no payee is given (a wallet key).
    pub default_payee: Vec<u8>,
    /// The block files every newly mined block is appended to, as the node does.
    pub files: Option<BlockFileWriter>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl NodeState {
    /// A node holding only the genesis block; its wallet derives keys from `seed`.
    pub fn new(network: Network, seed: u64) -> Result<NodeState, String> {
        let mut wallet = Wallet::new(seed);
        let k = wallet.new_key(AddrKind::P2shP2wpkh);
        let default_payee = wallet.key(k).script();
        Ok(NodeState {
            chain: Chain::new(network)?,
            wallet,
            settings: Settings::default(),
            default_payee,
            files: None,
        })
    }

    /// Accepts a transaction into the mempool (node policy checks) and updates the wallet.
    pub fn submit(&mut self, tx: Transaction) -> Result<Hash32, Reject> {
        let txid = self
            .chain
            .accept(tx, self.settings.relay_fee_per_kb, now())?;
        if let Some(e) = self.chain.mempool_entry(&txid) {
            let meta = e.meta.clone();
            self.wallet.observe(&meta, false);
        }
        Ok(txid)
    }

    /// Submits a transaction the wallet built.
    pub fn submit_built(&mut self, built: Result<Built, String>) -> Result<Built, String> {
        let built = built?;
        self.submit(built.tx.clone())
            .map_err(|r| format!("the stand-in rejected its own transaction: {}", r.message))?;
        Ok(built)
    }

    /// Mines `n` blocks paying `payee` (default: the wallet), with the whole mempool in the
    /// first one when `with_mempool`. Returns the new hashes.
    pub fn mine(&mut self, n: u32, payee: Option<&[u8]>, with_mempool: bool) -> Vec<Hash32> {
        let payee = payee.map_or_else(|| self.default_payee.clone(), |p| p.to_vec());
        let mut hashes = Vec::with_capacity(n as usize);
        for i in 0..n {
            let txids: Option<&[Hash32]> = if with_mempool && i == 0 {
                None
            } else {
                Some(&[])
            };
            hashes.push(self.chain.mine(&payee, txids, None));
            self.observe_tip();
            self.store_tip();
        }
        hashes
    }

    /// Mines one block with exactly the given mempool transactions.
    pub fn mine_txs(&mut self, payee: Option<&[u8]>, txids: &[Hash32]) -> Hash32 {
        let payee = payee.map_or_else(|| self.default_payee.clone(), |p| p.to_vec());
        let h = self.chain.mine(&payee, Some(txids), None);
        self.observe_tip();
        self.store_tip();
        h
    }

    /// Appends the tip block to the block files, when the node keeps them.
    fn store_tip(&mut self) {
        let Some(files) = self.files.as_mut() else {
            return;
        };
        let bytes = self
            .chain
            .block_bytes(self.chain.height())
            .unwrap_or_default();
        if let Err(e) = files.append(&bytes).and_then(|_| files.flush()) {
            eprintln!(
                "keva-devnode: cannot append to the block files in {}: {e}",
                files.dir().display()
            );
        }
    }

    fn observe_tip(&mut self) {
        let wallet = &self.wallet;
        let metas = self
            .chain
            .block_metas_if(self.chain.height(), &|s| wallet.owns_script(s));
        for m in &metas {
            self.wallet.observe(m, true);
        }
    }

    /// Drops mempool transactions (all when `None`) and their descendants.
    pub fn drop_mempool(&mut self, txids: Option<&[Hash32]>) -> Vec<Hash32> {
        let all = self.chain.mempool_txids();
        let dropped = self.chain.drop_mempool(txids.unwrap_or(&all));
        self.wallet.rescan(&self.chain);
        dropped
    }

    /// Disconnects blocks down to `height` (like `invalidateblock`); their transactions go back
    /// to the mempool when `resubmit`, as a node does. Returns the number of blocks removed.
    pub fn rewind(&mut self, height: u32, resubmit: bool) -> u32 {
        let mut removed = 0;
        let mut returned: Vec<Vec<Transaction>> = Vec::new();
        let held: Vec<Transaction> = self
            .chain
            .mempool_entries()
            .into_iter()
            .map(|e| e.tx.clone())
            .collect();
        while self.chain.height() > height {
            match self.chain.disconnect_tip() {
                Some(txs) => returned.push(txs),
                None => break,
            }
            removed += 1;
        }
        if resubmit && removed > 0 {
            let all = self.chain.mempool_txids();
            self.chain.drop_mempool(&all);
            for txs in returned.into_iter().rev() {
                for tx in txs {
                    let _ = self.chain.accept(tx, 0, now());
                }
            }
            for tx in held {
                let _ = self.chain.accept(tx, 0, now());
            }
        }
        self.wallet.rescan(&self.chain);
        removed
    }

    /// Replaces the last `depth` blocks by `new_blocks` competing ones (a reorg); returns the
    /// new blocks' hashes. Transactions of the old branch return to the mempool when
    /// `resubmit` (and are then mined into the first new block when `mine_mempool`).
    pub fn reorg(
        &mut self,
        depth: u32,
        new_blocks: u32,
        resubmit: bool,
        mine_mempool: bool,
    ) -> Vec<Hash32> {
        let target = self.chain.height().saturating_sub(depth);
        self.rewind(target, resubmit);
        self.mine(new_blocks, None, mine_mempool)
    }
}
