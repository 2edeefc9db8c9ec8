//! Bitcoin merkle trees over txids (sha256d nodes; an odd level repeats its last node).

use super::hash::sha256d;
use super::Hash32;

fn parent(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left);
    buf[32..].copy_from_slice(right);
    sha256d(&buf)
}

fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pair[0])))
        .collect()
}

/// Root of the tree over `leaves`; all zeros for an empty list, as the node computes it.
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => [0; 32],
        1 => leaves[0],
        _ => {
            let mut level = next_level(leaves);
            while level.len() > 1 {
                level = next_level(&level);
            }
            level[0]
        }
    }
}

/// Sibling hashes from the leaf at `index` up to the root, as `blockchain.transaction.get_merkle`
/// returns them; empty when `index` is out of range or there is a single leaf.
pub fn merkle_branch(leaves: &[Hash32], index: usize) -> Vec<Hash32> {
    if index >= leaves.len() {
        return Vec::new();
    }
    let mut branch = Vec::new();
    let mut level = leaves.to_vec();
    let mut idx = index;
    while level.len() > 1 {
        let sibling = idx ^ 1;
        branch.push(*level.get(sibling).unwrap_or(&level[idx]));
        level = next_level(&level);
        idx >>= 1;
    }
    branch
}

/// Recomputes the root from a leaf, its index and its branch (for checking proofs).
pub fn root_from_branch(leaf: Hash32, index: usize, branch: &[Hash32]) -> Hash32 {
    let mut h = leaf;
    let mut idx = index;
    for sibling in branch {
        h = if idx & 1 == 1 {
            parent(sibling, &h)
        } else {
            parent(&h, sibling)
        };
        idx >>= 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n).map(|i| sha256d(&[i as u8])).collect()
    }

    #[test]
    fn branches_prove_every_leaf() {
        for n in 1..=17 {
            let l = leaves(n);
            let root = merkle_root(&l);
            for i in 0..n {
                let b = merkle_branch(&l, i);
                assert_eq!(root_from_branch(l[i], i, &b), root, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn odd_level_duplicates_last() {
        let l = leaves(3);
        let expected = parent(&parent(&l[0], &l[1]), &parent(&l[2], &l[2]));
        assert_eq!(merkle_root(&l), expected);
        assert_eq!(merkle_root(&[]), [0; 32]);
        assert!(merkle_branch(&l, 3).is_empty());
    }
}
