//! The read API the rest of the server uses: one [`Reader`] per worker thread, each a read-only
//! connection whose queries are prepared once and cached. The queries are grouped by what
//! they serve:
//!
//! * `chain`: the tip, headers, blocks and where transactions sit.
//! * `history`: scripthash histories, unspent outputs and balances.
//! * `keva`: keva operations and pages, reaction counts, profiles and bans.
//! * `outputs`: outputs and transaction summaries (get_transactions_info, the mempool).

mod chain;
mod history;
mod keva;
mod outputs;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::Connection;

use super::{db, Result};
use crate::chain::Network;

pub use chain::TxLocation;
pub use history::{HistoryItem, Utxo};
pub use keva::{reaction_scripthash, KevaPageItem, KevaRow, ProfileEntries, ReactionCounts};
pub use outputs::{OutputInfo, TxSummary};

/// A read-only view of the index for one thread.
pub struct Reader {
    conn: Connection,
    /// Namespace ids decoded from their stored text: pages show the same few namespaces
    /// again and again, and decoding checks a double SHA-256.
    namespaces: RefCell<HashMap<String, Vec<u8>>>,
}

impl Reader {
    /// Opens the index read-only; `cache_mb` bounds this connection's page cache.
    pub fn open(path: &Path, network: Network, cache_mb: u32) -> Result<Reader> {
        Ok(Reader {
            conn: db::open_reader(path, network, cache_mb)?,
            namespaces: RefCell::default(),
        })
    }

    /// A number that changes with every commit of the index (a block, a reorg, a ban), for
    /// answers kept between calls (`PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    /// Frees this connection's page cache: after a very long answer it would otherwise hold
    /// pages that no other request needs, beside the answer's own buffers.
    pub fn release_memory(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA shrink_memory")?;
        Ok(())
    }
}
