//! The RocksDB store: typed tables over column families, and atomic write batches.
//!
//! Reads go through [`Store::get`] and [`Store::iter`]; every write goes through a
//! [`StoreBatch`] committed with [`Store::write`], so a block connect or disconnect,
//! with its tip pointer, lands on disk all at once or not at all.

mod bans;
pub mod pool;
mod reader;
pub mod schema;

use std::path::Path;

pub use self::bans::BanStore;
pub use self::pool::PoolStore;
pub use self::reader::{ReadSnapshot, StoreReader};

use cairn_core::state::genesis_writes;
use cairn_core::{Account, AccountView, Address, BlockId, ChainParams, Hash};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch,
    WriteOptions,
};

use self::schema::{
    Accounts, BlockIndex, BlockStatus, Bodies, Body, COLUMN_FAMILIES, GenesisId, Headers, Heights,
    IndexEntry, Key, NetworkName, NextSeq, SCHEMA_VERSION, SchemaVersion, Table, Tip, TxIndex,
    TxLocation, Value,
};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error (I/O, lock held by another process, …).
    #[error("database error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Bytes on disk do not decode: the database is damaged.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// The data directory belongs to another network.
    #[error(
        "this data directory holds network {stored_network:?} (genesis {stored}), not {expected_network:?} (genesis {expected}); use another --datadir"
    )]
    GenesisMismatch {
        /// Genesis id on disk.
        stored: Hash,
        /// Network name on disk.
        stored_network: String,
        /// Genesis id of the configured network.
        expected: Hash,
        /// Name of the configured network.
        expected_network: String,
    },
    /// Written by a newer Cairn whose format this one does not know.
    #[error(
        "database schema version {found} is newer than this node supports ({supported}); upgrade cairn-node"
    )]
    NewerSchema {
        /// Version on disk.
        found: u32,
        /// Version this code writes.
        supported: u32,
    },
}

impl From<std::convert::Infallible> for StoreError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: DB,
}

/// A set of writes that commit together.
pub struct StoreBatch<'s> {
    store: &'s Store,
    inner: WriteBatch,
}

impl std::fmt::Debug for StoreBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreBatch({} ops)", self.inner.len())
    }
}

impl StoreBatch<'_> {
    /// Queues `key → value` in table `T`.
    pub fn put<T: Table>(&mut self, key: &T::Key, value: &T::Value) {
        self.inner
            .put_cf(self.store.cf::<T>(), key.to_key(), value.to_value());
    }

    /// Queues the removal of `key` from table `T`.
    pub fn delete<T: Table>(&mut self, key: &T::Key) {
        self.inner.delete_cf(self.store.cf::<T>(), key.to_key());
    }

    /// Queues the removal of the keys of table `T` from `from` (included) to `to`
    /// (excluded), in key order.
    pub fn delete_range<T: Table>(&mut self, from: &T::Key, to: &T::Key) {
        self.inner
            .delete_range_cf(self.store.cf::<T>(), from.to_key(), to.to_key());
    }
}

/// Size of one column family (RocksDB's own estimates).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnStats {
    /// Column family name.
    pub name: &'static str,
    /// Bytes in SST files on disk.
    pub sst_bytes: u64,
    /// Bytes in memtables not yet flushed.
    pub memtable_bytes: u64,
    /// Estimated number of keys.
    pub estimated_keys: u64,
}

/// How much memory the store may use for caching and buffering writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// The block cache shared by every column family.
    pub cache_bytes: usize,
    /// All write buffers (memtables) together; each column family gets an equal
    /// share, at least 1 MiB.
    pub write_buffer_bytes: usize,
}

impl StoreConfig {
    /// The default block cache, 8 MiB.
    pub const DEFAULT_CACHE_MB: usize = 8;
    /// The default write-buffer budget, 16 MiB.
    pub const DEFAULT_WRITE_BUFFER_MB: usize = 16;
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            cache_bytes: StoreConfig::DEFAULT_CACHE_MB << 20,
            write_buffer_bytes: StoreConfig::DEFAULT_WRITE_BUFFER_MB << 20,
        }
    }
}

impl Store {
    /// Per-column-family sizes.
    pub fn column_stats(&self) -> Vec<ColumnStats> {
        COLUMN_FAMILIES
            .iter()
            .filter_map(|name| {
                let cf = self.db.cf_handle(name)?;
                let prop = |p: &str| {
                    self.db
                        .property_int_value_cf(&cf, p)
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                };
                Some(ColumnStats {
                    name,
                    sst_bytes: prop("rocksdb.total-sst-files-size"),
                    memtable_bytes: prop("rocksdb.cur-size-all-mem-tables"),
                    estimated_keys: prop("rocksdb.estimate-num-keys"),
                })
            })
            .collect()
    }

    /// Opens (creating if needed) the store at `path` for the network `params`,
    /// with the default memory budget. A new store is initialised with the genesis
    /// block in one batch. A store of another network or of a newer schema is
    /// refused.
    pub fn open(path: &Path, params: &ChainParams) -> Result<Store, StoreError> {
        Store::open_with(path, params, &StoreConfig::default())
    }

    /// [`Store::open`] within `config`'s memory budget: one block cache shared by
    /// every column family, and one cap on all their write buffers (RocksDB's own
    /// defaults are a cache per column family and 64 MiB of write buffer each).
    pub fn open_with(
        path: &Path,
        params: &ChainParams,
        config: &StoreConfig,
    ) -> Result<Store, StoreError> {
        let cache = Cache::new_lru_cache(config.cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        // Most lookups of a block id that is not stored (every new block, every
        // header a peer offers) end at the filter, without reading a data block.
        table.set_bloom_filter(10.0, false);
        let per_cf = (config.write_buffer_bytes / COLUMN_FAMILIES.len()).max(1 << 20);
        let cf_options = || {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_write_buffer_size(per_cf);
            o.set_max_write_buffer_number(2);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o
        };
        let mut opts = cf_options();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(4);
        // 0 would mean no cap at all to RocksDB.
        opts.set_db_write_buffer_size(config.write_buffer_bytes.max(1 << 20));
        let cfs = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let store = Store { db };
        match store.get::<GenesisId>(&GenesisId::KEY)? {
            None => store.init(params)?,
            Some(stored) => store.check_identity(&stored, params)?,
        }
        Ok(store)
    }

    fn check_identity(&self, stored: &BlockId, params: &ChainParams) -> Result<(), StoreError> {
        let version = self
            .get::<SchemaVersion>(&SchemaVersion::KEY)?
            .ok_or_else(|| StoreError::Corrupt("no schema version".into()))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if *stored != params.genesis_id() {
            let network = self
                .get::<NetworkName>(&NetworkName::KEY)
                .ok()
                .flatten()
                .unwrap_or_default();
            return Err(StoreError::GenesisMismatch {
                stored: *stored,
                stored_network: network,
                expected: params.genesis_id(),
                expected_network: params.name().to_owned(),
            });
        }
        Ok(())
    }

    fn init(&self, params: &ChainParams) -> Result<(), StoreError> {
        let genesis = params.genesis_block();
        let id = params.genesis_id();
        let mut b = self.batch();
        b.put::<Headers>(&id, &genesis.header);
        b.put::<Bodies>(&id, &Body(genesis.txs.clone()));
        let work = genesis
            .header
            .target
            .to_target()
            .map(|t| t.work())
            .unwrap_or_default();
        b.put::<BlockIndex>(
            &id,
            &IndexEntry {
                cumulative_work: work,
                status: BlockStatus::Valid,
                seq: 0,
            },
        );
        b.put::<Heights>(&0, &id);
        for (i, tx) in genesis.txs.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| StoreError::Corrupt("genesis size".into()))?;
            b.put::<TxIndex>(&tx.id(), &TxLocation { block: id, index });
        }
        for (addr, acc) in genesis_writes(params) {
            b.put::<Accounts>(&addr, &acc);
        }
        b.put::<NextSeq>(&NextSeq::KEY, &1);
        b.put::<SchemaVersion>(&SchemaVersion::KEY, &SCHEMA_VERSION);
        b.put::<NetworkName>(&NetworkName::KEY, &params.name().to_owned());
        b.put::<Tip>(&Tip::KEY, &id);
        // Genesis id last in key order does not matter: the batch is atomic.
        b.put::<GenesisId>(&GenesisId::KEY, &id);
        self.write(b)
    }

    fn cf<T: Table>(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(T::NAME)
            .expect("every column family in COLUMN_FAMILIES is created when the store opens")
    }

    /// Reads one value.
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        match self.db.get_pinned_cf(self.cf::<T>(), key.to_key())? {
            Some(bytes) => Ok(Some(T::Value::from_value(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every entry of table `T`, in key order.
    pub fn iter<T: Table>(
        &self,
    ) -> impl Iterator<Item = Result<(T::Key, T::Value), StoreError>> + '_ {
        self.db
            .iterator_cf(self.cf::<T>(), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item?;
                Ok((T::Key::from_key(&k)?, T::Value::from_value(&v)?))
            })
    }

    /// The number of keys in table `T` (reads the whole table).
    pub fn count<T: Table>(&self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        let mut it = self.db.raw_iterator_cf(self.cf::<T>());
        it.seek_to_first();
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    /// A new, empty batch.
    pub(crate) fn batch(&self) -> StoreBatch<'_> {
        StoreBatch {
            store: self,
            inner: WriteBatch::default(),
        }
    }

    /// Commits a batch atomically (through the write-ahead log: a killed process loses
    /// either all of it or none).
    pub(crate) fn write(&self, batch: StoreBatch<'_>) -> Result<(), StoreError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(false);
        self.db.write_opt(batch.inner, &opts)?;
        Ok(())
    }

    /// The main-chain tip recorded on disk.
    pub fn tip(&self) -> Result<BlockId, StoreError> {
        self.get::<Tip>(&Tip::KEY)?
            .ok_or_else(|| StoreError::Corrupt("no tip".into()))
    }
}

impl AccountView for Store {
    type Error = StoreError;

    fn account(&self, address: &Address) -> Result<Option<Account>, StoreError> {
        self.get::<Accounts>(address)
    }
}
