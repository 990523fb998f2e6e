//! The verified-transfer cache: ids of transfers whose signature this node has
//! already checked (on admission to the mempool), so that connecting a block of
//! transfers the node has seen costs no second verification (Bitcoin Core's signature
//! cache plays the same part).
//!
//! The key is the transaction id: blake3 of the transfer's canonical bytes, signature
//! and chain id included, so an id names exactly one signed message, and the cache
//! belongs to one node, which serves one network (the signing message's network id).
//! A hit therefore never gives a wrong verdict; a miss (an id evicted, or never seen)
//! only costs the verification. Bounded: the oldest ids go first, and a block's
//! validation takes the ids it uses out (a reorganisation re-verifies them, if their
//! block comes back).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use cairn_core::TxId;

/// Ids kept by default: about nine full blocks of transfers, ~5 MB.
pub(crate) const DEFAULT_CAPACITY: usize = 65_536;

/// Transfers whose signatures verified, by id.
#[derive(Debug)]
pub struct VerifiedTransfers {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<TxId>,
    /// Insertion order for eviction; may hold ids already dropped (skipped then).
    order: VecDeque<TxId>,
}

impl VerifiedTransfers {
    /// An empty cache of at most `capacity` ids.
    pub fn new(capacity: usize) -> VerifiedTransfers {
        VerifiedTransfers {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `id`'s signature verified on this node's network.
    pub fn insert(&self, id: TxId) {
        let mut inner = self.lock();
        if !inner.ids.insert(id) {
            return;
        }
        inner.order.push_back(id);
        while inner.ids.len() > self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.ids.remove(&old);
        }
        // Ids taken by `take_each` stay in `order` until they reach its front; keep
        // that backlog within the capacity too.
        if inner.order.len() > 2 * self.capacity {
            let Inner { ids, order } = &mut *inner;
            let mut seen = HashSet::with_capacity(ids.len());
            order.retain(|id| ids.contains(id) && seen.insert(*id));
        }
    }

    /// Which of `ids` are known to verify, dropping them (their block is being
    /// validated: they will not be checked again soon), in one lock.
    pub fn take_each(&self, ids: &[TxId]) -> Vec<bool> {
        let mut inner = self.lock();
        ids.iter().map(|id| inner.ids.remove(id)).collect()
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.lock().ids.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for VerifiedTransfers {
    fn default() -> VerifiedTransfers {
        VerifiedTransfers::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TxId {
        cairn_core::Hash::digest(&n.to_le_bytes())
    }

    #[test]
    fn bounded_oldest_first_and_taken_once() {
        let cache = VerifiedTransfers::new(3);
        for n in 0..5 {
            cache.insert(id(n));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(
            cache.take_each(&[id(0), id(1), id(3)]),
            vec![false, false, true]
        );
        assert_eq!(cache.take_each(&[id(3), id(4)]), vec![false, true]);
        cache.insert(id(4));
        // Taken ids do not hold room, and the order backlog stays bounded.
        for round in 0..100 {
            cache.insert(id(1_000 + round));
            cache.take_each(&[id(1_000 + round)]);
        }
        assert!(cache.lock().order.len() <= 6);
        assert_eq!(cache.take_each(&[id(2), id(4)]), vec![true, true]);
        assert!(cache.is_empty());
    }
}
