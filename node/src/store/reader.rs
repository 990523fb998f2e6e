//! Read-only access to the store for everyone but the chain manager.
//!
//! [`StoreReader`] has no way to write. Point reads that must agree with each other
//! (a tip and the block it names, an account and the height it is valid at) go
//! through a [`ReadSnapshot`]: a RocksDB snapshot, so a block connected while a
//! reader works is either wholly visible to it or not at all. Readers never take the
//! chain's lock: RocksDB serves them while a block is being written.

use std::sync::Arc;

use cairn_core::state::immature_heights;
use cairn_core::{
    Account, AccountView, Address, Amount, Block, BlockHeader, BlockId, ChainParams, Coinbase,
};
use rocksdb::{IteratorMode, ReadOptions};

use super::schema::{
    Accounts, BlockIndex, Bodies, Headers, Heights, IndexEntry, Key, Rewards, Table, Tip, TxIndex,
    TxLocation, Value,
};
use super::{ColumnStats, Store, StoreError};

/// A cloneable, read-only handle on the store.
#[derive(Debug, Clone)]
pub struct StoreReader {
    store: Arc<Store>,
}

impl StoreReader {
    pub(crate) fn new(store: Arc<Store>) -> StoreReader {
        StoreReader { store }
    }

    /// A consistent view of the whole store as it is now.
    pub fn snapshot(&self) -> ReadSnapshot<'_> {
        ReadSnapshot {
            store: &self.store,
            snapshot: self.store.db.snapshot(),
        }
    }

    /// Reads one value (the latest write).
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        self.store.get::<T>(key)
    }

    /// Every entry of table `T`, in key order.
    pub fn iter<T: Table>(
        &self,
    ) -> impl Iterator<Item = Result<(T::Key, T::Value), StoreError>> + '_ {
        self.store.iter::<T>()
    }

    /// The number of keys in table `T` (reads the whole table).
    pub fn count<T: Table>(&self) -> Result<u64, StoreError> {
        self.store.count::<T>()
    }

    /// Per-column-family sizes.
    pub fn column_stats(&self) -> Vec<ColumnStats> {
        self.store.column_stats()
    }
}

impl AccountView for StoreReader {
    type Error = StoreError;

    fn account(&self, address: &Address) -> Result<Option<Account>, StoreError> {
        self.store.get::<Accounts>(address)
    }
}

/// The store at one instant.
pub struct ReadSnapshot<'s> {
    store: &'s Store,
    snapshot: rocksdb::Snapshot<'s>,
}

impl std::fmt::Debug for ReadSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadSnapshot")
            .field("sequence", &self.snapshot.sequence_number())
            .finish()
    }
}

impl ReadSnapshot<'_> {
    /// Reads one value.
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        match self.snapshot.get_pinned_cf_opt(
            self.store.cf::<T>(),
            key.to_key(),
            ReadOptions::default(),
        )? {
            Some(bytes) => Ok(Some(T::Value::from_value(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every entry of table `T`, in key order.
    pub fn iter<T: Table>(
        &self,
    ) -> impl Iterator<Item = Result<(T::Key, T::Value), StoreError>> + '_ {
        self.snapshot
            .iterator_cf(self.store.cf::<T>(), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item?;
                Ok((T::Key::from_key(&k)?, T::Value::from_value(&v)?))
            })
    }

    /// Entries of table `T` from `from` (inclusive) in key order.
    pub fn iter_from<T: Table>(
        &self,
        from: &T::Key,
    ) -> impl Iterator<Item = Result<(T::Key, T::Value), StoreError>> + '_ {
        let key = from.to_key();
        self.snapshot
            .iterator_cf(
                self.store.cf::<T>(),
                IteratorMode::From(&key, rocksdb::Direction::Forward),
            )
            .map(|item| {
                let (k, v) = item?;
                Ok((T::Key::from_key(&k)?, T::Value::from_value(&v)?))
            })
    }

    /// The main-chain tip in this snapshot.
    pub fn tip(&self) -> Result<BlockId, StoreError> {
        self.get::<Tip>(&Tip::KEY)?
            .ok_or_else(|| StoreError::Corrupt("no tip".into()))
    }

    /// The main-chain tip's header in this snapshot.
    pub fn tip_header(&self) -> Result<BlockHeader, StoreError> {
        let tip = self.tip()?;
        self.header(&tip)?
            .ok_or_else(|| StoreError::Corrupt(format!("no header for the tip {tip}")))
    }

    /// A stored header (main chain or not).
    pub fn header(&self, id: &BlockId) -> Result<Option<BlockHeader>, StoreError> {
        self.get::<Headers>(id)
    }

    /// Cumulative work and status of a stored block.
    pub fn index_entry(&self, id: &BlockId) -> Result<Option<IndexEntry>, StoreError> {
        self.get::<BlockIndex>(id)
    }

    /// A stored block with its body (main chain or not; `None` for a header whose
    /// body is not stored).
    pub fn block(&self, id: &BlockId) -> Result<Option<Block>, StoreError> {
        let Some(header) = self.header(id)? else {
            return Ok(None);
        };
        Ok(self.get::<Bodies>(id)?.map(|body| Block {
            header,
            txs: body.0,
        }))
    }

    /// The main-chain block id at `height`.
    pub fn block_id_at(&self, height: u64) -> Result<Option<BlockId>, StoreError> {
        self.get::<Heights>(&height)
    }

    /// The main-chain block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, StoreError> {
        match self.block_id_at(height)? {
            Some(id) => self.block(&id),
            None => Ok(None),
        }
    }

    /// Whether the stored block `id` at `height` is on the main chain.
    pub fn on_main_chain(&self, id: &BlockId, height: u64) -> Result<bool, StoreError> {
        Ok(self.block_id_at(height)? == Some(*id))
    }

    /// Main-chain headers after the first locator entry that is on the main chain (or
    /// after genesis if none is), at most `max`: what a peer's headers request gets.
    pub fn headers_after(
        &self,
        locator: &[BlockId],
        max: usize,
    ) -> Result<Vec<BlockHeader>, StoreError> {
        let mut start = 0;
        for id in locator {
            if let Some(h) = self.header(id)?
                && self.on_main_chain(id, h.height)?
            {
                start = h.height;
                break;
            }
        }
        let mut out = Vec::new();
        for item in self
            .iter_from::<Heights>(&start.saturating_add(1))
            .take(max)
        {
            let (height, id) = item?;
            let header = self
                .header(&id)?
                .ok_or_else(|| StoreError::Corrupt(format!("no header at height {height}")))?;
            out.push(header);
        }
        Ok(out)
    }

    /// The main chain's coinbases that have not matured at this snapshot's tip: what
    /// has been earned but cannot be spent yet.
    pub fn immature_coinbases(&self, params: &ChainParams) -> Result<Vec<Coinbase>, StoreError> {
        let tip = self.tip_header()?.height;
        immature_heights(params, tip)
            .map(|height| {
                let id = self.block_id_at(height)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("no main-chain block at {height}"))
                })?;
                self.get::<Rewards>(&id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("no coinbase stored for {id}")))
            })
            .collect()
    }

    /// What the immature coinbases ([`ReadSnapshot::immature_coinbases`]) pay `address`.
    pub fn immature(&self, params: &ChainParams, address: &Address) -> Result<Amount, StoreError> {
        let paid = self
            .immature_coinbases(params)?
            .iter()
            .try_fold(Amount::ZERO, |sum, cb| sum.checked_add(cb.paid_to(address)));
        paid.ok_or_else(|| StoreError::Corrupt("immature rewards overflow".into()))
    }

    /// Where a main-chain transaction is.
    pub fn tx_location(&self, id: &cairn_core::TxId) -> Result<Option<TxLocation>, StoreError> {
        self.get::<TxIndex>(id)
    }
}

impl AccountView for ReadSnapshot<'_> {
    type Error = StoreError;

    fn account(&self, address: &Address) -> Result<Option<Account>, StoreError> {
        self.get::<Accounts>(address)
    }
}
