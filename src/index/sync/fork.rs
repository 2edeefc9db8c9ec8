//! Where the index and the node part: a block that does not continue the indexed tip is
//! refused, and after a reorg the last common height is found by widening windows.

use super::{node_err, write_err, SyncError, Syncer};
use crate::chain::hash::hash_to_hex;
use crate::index::prepared::PreparedBlock;
use crate::index::Error;

impl Syncer {
    /// Why `block` cannot be applied on the indexed tip, when the node sent one that does not
    /// continue it (a lying node, or its chain changed between two calls).
    pub(super) fn refusal(&self, block: &PreparedBlock) -> Option<Error> {
        let s = self.writer.state();
        let shown = hash_to_hex(&block.hash);
        if i64::from(block.height) != s.height + 1 {
            return Some(Error::new(format!(
                "refused block {shown} from the node: it came for height {} but the index \
                 expects {}",
                block.height,
                s.height + 1
            )));
        }
        let prev = block.block.header.prev_hash();
        match s.hash {
            Some(tip) if tip != prev => Some(Error::new(format!(
                "refused block {shown} at height {} from the node: its previous block is {} \
                 but the index has {} at height {}",
                block.height,
                hash_to_hex(&prev),
                hash_to_hex(&tip),
                s.height
            ))),
            _ => None,
        }
    }

    /// The highest height where the index and the node agree (-1 for an empty index).
    pub(super) fn find_fork(&self, node_height: u32) -> std::result::Result<i64, SyncError> {
        let ours = self.writer.state().height;
        if ours < 0 {
            return Ok(-1);
        }
        let mut top = ours.min(i64::from(node_height));
        let mut window = 16i64;
        let limit = i64::from(self.config.reorg_limit) + 1;
        loop {
            let lo = (top - window + 1).max(0);
            let count = (top - lo + 1) as u32;
            let theirs = self
                .daemon
                .block_hashes(lo as u32, count)
                .map_err(node_err)?;
            let mine = self
                .writer
                .block_hashes(lo, i64::from(count))
                .map_err(write_err)?;
            for h in (lo..=top).rev() {
                let i = (h - lo) as usize;
                if mine.get(i).is_some() && mine.get(i) == theirs.get(i) {
                    return Ok(h);
                }
            }
            if lo == 0 {
                return Err(SyncError::Fatal(Error::new(format!(
                    "the node's genesis block {} differs from the index's: the index belongs to another chain; \
                     delete {} and resync",
                    theirs.first().map(hash_to_hex).unwrap_or_default(),
                    self.writer.path().display()
                ))));
            }
            if ours - lo > limit {
                // Deeper than allowed: report the depth seen so far; the caller stops.
                return Ok(lo - 1);
            }
            top = lo - 1;
            window *= 2;
        }
    }
}
