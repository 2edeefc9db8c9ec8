//! A compact hash → height map for the stand-in's transaction index.

use std::collections::HashMap;

use crate::chain::Hash32;

/// hash → height, keyed by the first 8 bytes of the hash (with an exact map for collisions)
/// so a million entries cost about 16 bytes each; callers verify candidates.
#[derive(Default)]
pub(super) struct HashIndex {
    by_prefix: HashMap<u64, u32>,
    overflow: HashMap<Hash32, u32>,
}

fn prefix(txid: &Hash32) -> u64 {
    u64::from_le_bytes(txid[..8].try_into().unwrap_or([0; 8]))
}

impl HashIndex {
    pub(super) fn insert(&mut self, txid: &Hash32, height: u32) {
        let p = prefix(txid);
        if let std::collections::hash_map::Entry::Vacant(e) = self.by_prefix.entry(p) {
            e.insert(height);
        } else {
            self.overflow.insert(*txid, height);
        }
    }

    pub(super) fn remove(&mut self, txid: &Hash32, height: u32) {
        if self.overflow.remove(txid).is_none()
            && self.by_prefix.get(&prefix(txid)) == Some(&height)
        {
            self.by_prefix.remove(&prefix(txid));
        }
    }

    pub(super) fn candidates(&self, txid: &Hash32) -> Vec<u32> {
        let mut v = Vec::with_capacity(2);
        if let Some(h) = self.overflow.get(txid) {
            v.push(*h);
        }
        if let Some(h) = self.by_prefix.get(&prefix(txid)) {
            v.push(*h);
        }
        v
    }
}
