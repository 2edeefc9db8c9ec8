//! `cp_height` checkpoint proofs: merkle branches over block hashes.
//!
//! The leaves are the Kevacoin block hashes (Keccak) of heights `0..=cp_height`; interior nodes
//! are sha256d with the last node of an odd level repeated, as in ElectrumX for every coin.
//!
//! A proof near the tip of a long chain would need every block hash. Instead, the tree is cut
//! into aligned segments of 2,048 leaves: the subtree node of a complete segment never changes
//! while its blocks stay in the chain, so it is computed once and cached. Because block hashes
//! commit to their ancestors, one matching hash at the end of the newest cached segment proves
//! every older cached segment still current.

use parking_lot::Mutex;

use super::{index_failure, internal_failure};
use crate::chain::hash::sha256d;
use crate::chain::merkle::{merkle_branch, merkle_root};
use crate::chain::{Hash32, Header};
use crate::index::Reader;
use crate::jsonrpc::RpcError;

/// Leaves per cached segment (a power of two).
const SEGMENT_DEPTH: u32 = 11;
const SEGMENT: u64 = 1 << SEGMENT_DEPTH;

/// Cached subtree nodes of complete segments, shared by all workers.
#[derive(Default)]
pub struct ProofCache {
    /// Segment `i` covers heights `i*2048 .. (i+1)*2048`: (hash of its last block, its node).
    segments: Mutex<Vec<(Hash32, Hash32)>>,
}

impl ProofCache {
    /// Branch (deepest first) from leaf `height` to the root over heights `0..=cp_height`,
    /// and the root, all in internal byte order. The caller checks `height <= cp_height <= tip`.
    pub fn branch_and_root(
        &self,
        reader: &Reader,
        height: u32,
        cp_height: u32,
    ) -> Result<(Vec<Hash32>, Hash32), RpcError> {
        let leaves_total = u64::from(cp_height) + 1;
        let height = u64::from(height);
        if leaves_total <= SEGMENT {
            let leaves = block_hashes(reader, 0, leaves_total)?;
            return Ok((
                merkle_branch(&leaves, height as usize),
                merkle_root(&leaves),
            ));
        }
        let complete = leaves_total / SEGMENT;
        let partial = leaves_total % SEGMENT;
        let mut nodes = self.complete_segments(reader, complete)?;

        let target = height / SEGMENT;
        let start = target * SEGMENT;
        let len = SEGMENT.min(leaves_total - start);
        let leaves = block_hashes(reader, start, len)?;
        let (mut branch, node) = fixed_depth_branch(&leaves, (height - start) as usize);
        if partial > 0 {
            if target == complete {
                nodes.push(node);
            } else {
                let tail = block_hashes(reader, complete * SEGMENT, partial)?;
                nodes.push(fixed_depth_branch(&tail, 0).1);
            }
        }
        branch.extend(merkle_branch(&nodes, target as usize));
        Ok((branch, merkle_root(&nodes)))
    }

    /// Nodes of segments `0..count`, from the cache where it is still current.
    fn complete_segments(&self, reader: &Reader, count: u64) -> Result<Vec<Hash32>, RpcError> {
        let mut cache = self.segments.lock();
        // Drop cached segments that a reorg replaced: find the newest needed one still current.
        let mut valid = cache.len().min(count as usize);
        while valid > 0 {
            let last_height = valid as u64 * SEGMENT - 1;
            let current = reader
                .block_hash(last_height as u32)
                .map_err(index_failure)?;
            if current == Some(cache[valid - 1].0) {
                break;
            }
            valid -= 1;
        }
        if valid < cache.len().min(count as usize) {
            cache.truncate(valid);
        }
        for segment in cache.len() as u64..count {
            let leaves = block_hashes(reader, segment * SEGMENT, SEGMENT)?;
            let node = fixed_depth_branch(&leaves, 0).1;
            cache.push((leaves[leaves.len() - 1], node));
        }
        Ok(cache[..count as usize].iter().map(|(_, n)| *n).collect())
    }
}

/// Keccak block hashes of heights `start..start+count`, all of which must exist.
fn block_hashes(reader: &Reader, start: u64, count: u64) -> Result<Vec<Hash32>, RpcError> {
    let headers = reader
        .headers(start as u32, count as u32)
        .map_err(index_failure)?;
    if headers.len() as u64 != count {
        return Err(internal_failure(format!(
            "the index lacks headers {start}..{} needed for a checkpoint proof",
            start + count
        )));
    }
    headers
        .iter()
        .map(|raw| {
            Header::from_bytes(raw)
                .map(|h| h.hash())
                .map_err(|e| internal_failure(format!("stored header is corrupt: {e}")))
        })
        .collect()
}

/// Branch of leaf `index` and the node reached after exactly [`SEGMENT_DEPTH`] levels, pairing
/// as the whole tree does (an odd level repeats its last node), even for a short segment.
fn fixed_depth_branch(leaves: &[Hash32], index: usize) -> (Vec<Hash32>, Hash32) {
    let mut level = leaves.to_vec();
    let mut idx = index;
    let mut branch = Vec::with_capacity(SEGMENT_DEPTH as usize);
    for _ in 0..SEGMENT_DEPTH {
        branch.push(*level.get(idx ^ 1).unwrap_or(&level[idx]));
        level = level
            .chunks(2)
            .map(|pair| {
                let mut buf = [0u8; 64];
                buf[..32].copy_from_slice(&pair[0]);
                buf[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
                sha256d(&buf)
            })
            .collect();
        idx >>= 1;
    }
    (branch, level[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n as u32).map(|i| sha256d(&i.to_le_bytes())).collect()
    }

    /// Splitting into segments gives the same branch and root as the plain tree.
    #[test]
    fn segmented_tree_equals_plain_tree() {
        for n in [2049usize, 2050, 3000, 4096, 4097, 6145] {
            let all = leaves(n);
            let root = merkle_root(&all);
            for index in [0usize, 1, 2047, 2048, n - 2, n - 1] {
                let complete = n / 2048;
                let mut nodes: Vec<Hash32> = (0..complete)
                    .map(|s| fixed_depth_branch(&all[s * 2048..(s + 1) * 2048], 0).1)
                    .collect();
                let target = index / 2048;
                let seg = &all[target * 2048..n.min((target + 1) * 2048)];
                let (mut branch, node) = fixed_depth_branch(seg, index - target * 2048);
                if n % 2048 > 0 {
                    if target == complete {
                        nodes.push(node);
                    } else {
                        nodes.push(fixed_depth_branch(&all[complete * 2048..], 0).1);
                    }
                }
                branch.extend(merkle_branch(&nodes, target));
                assert_eq!(merkle_root(&nodes), root, "root n={n}");
                assert_eq!(branch, merkle_branch(&all, index), "branch n={n} i={index}");
            }
        }
    }
}
