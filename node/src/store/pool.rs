//! The pool's own tables, written through this small API (shares and found jobs) or
//! by the pool's [`crate::chain::BlockHook`] inside the chain's batches (credits and
//! payouts), so no chain state is writable from the pool.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_core::{Address, Amount, TxId};

use super::schema::{
    JobRecord, PayoutRecord, PoolCredits, PoolJobs, PoolLogStart, PoolPayouts, PoolShares,
    ShareLogStart, ShareRecord,
};
use super::{Store, StoreError};

/// Persisted pool books.
#[derive(Debug, Clone)]
pub struct PoolStore {
    store: Arc<Store>,
}

impl PoolStore {
    pub(crate) fn new(store: Arc<Store>) -> PoolStore {
        PoolStore { store }
    }

    /// Appends an accepted share under `seq`. Not synced to disk: it survives the
    /// process being killed (RocksDB's log is in the OS's cache), not a power cut.
    pub fn append_share(&self, seq: u64, share: &ShareRecord) -> Result<(), StoreError> {
        let mut b = self.store.batch();
        b.put::<PoolShares>(&seq, share);
        self.store.write(b)
    }

    /// Every stored share from `from_seq` on, oldest first.
    pub fn shares_from(&self, from_seq: u64) -> Result<Vec<(u64, ShareRecord)>, StoreError> {
        let mut it = self.store.db.raw_iterator_cf(self.store.cf::<PoolShares>());
        it.seek(from_seq.to_be_bytes());
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            use super::schema::{Key, Value};
            out.push((u64::from_key(k)?, ShareRecord::from_value(v)?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Where the stored log begins (sequence 0 and no work before, until pruned).
    pub fn log_start(&self) -> Result<ShareLogStart, StoreError> {
        Ok(self
            .store
            .get::<PoolLogStart>(&PoolLogStart::KEY)?
            .unwrap_or_default())
    }

    /// Deletes the shares before `start.seq`, and records where the log now begins,
    /// in one batch.
    pub fn prune_shares_before(&self, start: ShareLogStart) -> Result<(), StoreError> {
        let mut b = self.store.batch();
        b.delete_range::<PoolShares>(&0, &start.seq);
        b.put::<PoolLogStart>(&PoolLogStart::KEY, &start);
        self.store.write(b)
    }

    /// Records the credit changes of a block the pool found, before it is submitted,
    /// so that they apply whenever a block with this coinbase connects.
    pub fn save_job(&self, coinbase: &TxId, job: &JobRecord) -> Result<(), StoreError> {
        let mut b = self.store.batch();
        b.put::<PoolJobs>(coinbase, job);
        self.store.write(b)
    }

    /// Every miner's credit.
    pub fn credits(&self) -> Result<BTreeMap<Address, Amount>, StoreError> {
        self.store.iter::<PoolCredits>().collect()
    }

    /// The pool blocks on the main chain, newest first, at most `max`.
    pub fn payouts(
        &self,
        max: usize,
    ) -> Result<Vec<(cairn_core::BlockId, PayoutRecord)>, StoreError> {
        let mut all: Vec<_> = self.store.iter::<PoolPayouts>().collect::<Result<_, _>>()?;
        all.sort_by_key(|(_, p): &(_, PayoutRecord)| std::cmp::Reverse(p.height));
        all.truncate(max);
        Ok(all)
    }
}
