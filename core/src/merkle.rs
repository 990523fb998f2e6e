//! The transaction merkle tree and inclusion proofs.
//!
//! Leaves are txids. Each level pairs neighbours, `node = blake3(0x01 ‖ left ‖ right)`;
//! an odd node at the end of a level is carried up unchanged (never duplicated, so no
//! two different transaction lists share a root the way Bitcoin's CVE-2012-2459 lists
//! did). The root of no leaves is [`Hash::ZERO`]; the root of one leaf is the leaf.

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// Domain byte of an inner node.
const NODE_TAG: u8 = 0x01;

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[NODE_TAG]);
    h.update(&left.0);
    h.update(&right.0);
    h.finalize().into()
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The merkle root of `leaves`.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [one] => *one,
        _ => {
            let mut level = next_level(leaves);
            while level.len() > 1 {
                level = next_level(&level);
            }
            level[0]
        }
    }
}

/// Proof that a leaf is at `index` among `leaf_count` leaves under a root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MerkleProof {
    /// The leaf's position.
    pub index: u32,
    /// How many leaves the tree has.
    pub leaf_count: u32,
    /// Sibling hashes from the leaf level up; levels where the node is carried up
    /// unchanged contribute none.
    pub siblings: Vec<Hash>,
}

impl MerkleProof {
    /// Builds the proof for leaf `index`, or `None` if it is out of range.
    pub fn new(leaves: &[Hash], index: usize) -> Option<MerkleProof> {
        if index >= leaves.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut level = leaves.to_vec();
        let mut i = index;
        while level.len() > 1 {
            let sibling = i ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            level = next_level(&level);
            i /= 2;
        }
        Some(MerkleProof {
            index: u32::try_from(index).ok()?,
            leaf_count: u32::try_from(leaves.len()).ok()?,
            siblings,
        })
    }

    /// Whether `leaf` is at `self.index` in a tree with root `root`.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> bool {
        if self.index >= self.leaf_count {
            return false;
        }
        let (mut i, mut n) = (self.index as u64, self.leaf_count as u64);
        let mut acc = *leaf;
        let mut siblings = self.siblings.iter();
        while n > 1 {
            let carried = i == n - 1 && n % 2 == 1;
            if !carried {
                let Some(s) = siblings.next() else {
                    return false;
                };
                acc = if i % 2 == 0 {
                    node(&acc, s)
                } else {
                    node(s, &acc)
                };
            }
            i /= 2;
            n = n.div_ceil(2);
        }
        siblings.next().is_none() && acc == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Hash::digest(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn small_trees() {
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        let l = leaves(3);
        assert_eq!(merkle_root(&l[..1]), l[0]);
        assert_eq!(merkle_root(&l[..2]), node(&l[0], &l[1]));
        assert_eq!(merkle_root(&l), node(&node(&l[0], &l[1]), &l[2]));
    }

    #[test]
    fn no_duplication_ambiguity() {
        let l = leaves(3);
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(merkle_root(&l), merkle_root(&dup));
    }

    #[test]
    fn every_proof_verifies_and_wrong_ones_do_not() {
        for n in 1..40 {
            let l = leaves(n);
            let root = merkle_root(&l);
            for i in 0..n {
                let p = MerkleProof::new(&l, i).unwrap();
                assert!(p.verify(&l[i], &root), "n={n} i={i}");
                assert!(!p.verify(&Hash::digest(b"other"), &root));
                let mut q = p.clone();
                q.index = ((i + 1) % n) as u32;
                assert!(n == 1 || !q.verify(&l[i], &root));
                let mut q = p.clone();
                q.siblings.push(Hash::ZERO);
                assert!(!q.verify(&l[i], &root));
            }
            assert!(MerkleProof::new(&l, n).is_none());
        }
    }
}
