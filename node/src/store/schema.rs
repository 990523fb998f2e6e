//! Every column family and its key/value types, declared once.
//!
//! A table names its column family and the types of its keys and values; the store
//! resolves the column family from [`Table::NAME`], so no other code spells a column
//! family name.

use cairn_core::encoding::{Decode, Encode};
use cairn_core::{Account, Address, BlockHeader, BlockId, Hash, TxId, UndoRecord};

use super::StoreError;

/// Version of the on-disk layout. A store written by a newer version is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// A key: encodes so that RocksDB's byte order is the order that matters (heights
/// big-endian).
pub trait Key: Sized {
    /// The key bytes.
    fn to_key(&self) -> Vec<u8>;
    /// Parses key bytes.
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError>;
}

/// A value stored in a table.
pub trait Value: Sized {
    /// The value bytes.
    fn to_value(&self) -> Vec<u8>;
    /// Parses value bytes.
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError>;
}

/// A typed table: one column family.
pub trait Table {
    /// Column family name.
    const NAME: &'static str;
    /// Key type.
    type Key: Key;
    /// Value type.
    type Value: Value;
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $cf:literal, $k:ty => $v:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Table for $name {
            const NAME: &'static str = $cf;
            type Key = $k;
            type Value = $v;
        }
    };
}

table!(
    /// Every block header that passed the standalone and contextual header rules.
    Headers, "headers", BlockId => BlockHeader
);
table!(
    /// Per-block index data: cumulative work and validation status.
    BlockIndex, "block_index", BlockId => IndexEntry
);
table!(
    /// Transactions of every stored block (encoded as `count | txs`).
    Bodies, "bodies", BlockId => Body
);
table!(
    /// Main-chain block id by height.
    Heights, "heights", u64 => BlockId
);
table!(
    /// Main-chain position of every transaction.
    TxIndex, "tx_index", TxId => TxLocation
);
table!(
    /// Account state at the tip.
    Accounts, "accounts", Address => Account
);
table!(
    /// Undo record of every main-chain block.
    Undo, "undo", BlockId => UndoRecord
);
table!(
    /// Time-limited bans of peers (written through [`crate::store::BanStore`]).
    Peers, "peers", PeerKey => BanRecord
);

/// The `meta` column family holds store-wide facts, one typed table per key: each
/// reads and writes the one key it names, with its own value type.
macro_rules! meta {
    ($(#[$doc:meta])* $name:ident, $key:literal => $v:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Table for $name {
            const NAME: &'static str = META;
            type Key = MetaKey;
            type Value = $v;
        }
        impl $name {
            /// The one key of this fact.
            pub const KEY: MetaKey = MetaKey($key);
        }
    };
}

/// Column family of the store-wide facts.
const META: &str = "meta";

meta!(
    /// `u32` LE: [`SCHEMA_VERSION`] of the writer.
    SchemaVersion, b"schema_version" => u32
);
meta!(
    /// The genesis block id.
    GenesisId, b"genesis_id" => BlockId
);
meta!(
    /// The network's name (UTF-8).
    NetworkName, b"network" => String
);
meta!(
    /// The main-chain tip; moved by the same batch that connects or disconnects a block.
    Tip, b"tip" => BlockId
);

/// All column families, for opening the database.
pub const COLUMN_FAMILIES: &[&str] = &[
    META,
    Headers::NAME,
    BlockIndex::NAME,
    Bodies::NAME,
    Heights::NAME,
    TxIndex::NAME,
    Accounts::NAME,
    Undo::NAME,
    Peers::NAME,
];

/// A key of the `meta` column family (see [`Tip`], [`GenesisId`], …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaKey(&'static [u8]);

impl Key for MetaKey {
    fn to_key(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError> {
        [
            SchemaVersion::KEY,
            GenesisId::KEY,
            NetworkName::KEY,
            Tip::KEY,
        ]
        .into_iter()
        .find(|k| k.0 == bytes)
        .ok_or_else(|| StoreError::Corrupt("unknown meta key".into()))
    }
}

/// [`Peers`] key: a peer id's bytes (its multihash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKey(pub Vec<u8>);

impl Key for PeerKey {
    fn to_key(&self) -> Vec<u8> {
        self.0.clone()
    }
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(PeerKey(bytes.to_vec()))
    }
}

/// [`Peers`] value: a ban (8 bytes, LE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanRecord {
    /// Milliseconds since the Unix epoch when the ban ends.
    pub until_ms: u64,
}

impl Value for BanRecord {
    fn to_value(&self) -> Vec<u8> {
        self.until_ms.to_le_bytes().to_vec()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(BanRecord {
            until_ms: u64::from_le_bytes(bytes.try_into().map_err(|e| corrupt("ban", e))?),
        })
    }
}

impl Value for u32 {
    fn to_value(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(u32::from_le_bytes(
            bytes.try_into().map_err(|e| corrupt("u32", e))?,
        ))
    }
}

impl Value for String {
    fn to_value(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| corrupt("text", e))
    }
}

/// Validation status of a stored block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStatus {
    /// Header and body passed every stateless rule; not (yet) connected.
    Valid = 1,
    /// Failed a rule (stateful ones included); never to be connected.
    Invalid = 2,
}

/// [`BlockIndex`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Work of the chain from genesis up to and including this block.
    pub cumulative_work: cairn_core::Work,
    /// What is known of its validity.
    pub status: BlockStatus,
    /// Arrival order, for "first seen wins" among equal work.
    pub seq: u64,
}

/// [`TxIndex`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// The main-chain block holding it.
    pub block: BlockId,
    /// Its position in the block.
    pub index: u32,
}

/// [`Bodies`] value: a block's transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(pub Vec<cairn_core::Transaction>);

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Key for Hash {
    fn to_key(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(Hash(bytes.try_into().map_err(|e| corrupt("hash key", e))?))
    }
}

impl Key for Address {
    fn to_key(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(Address(
            bytes.try_into().map_err(|e| corrupt("address key", e))?,
        ))
    }
}

impl Key for u64 {
    fn to_key(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn from_key(bytes: &[u8]) -> Result<Self, StoreError> {
        Ok(u64::from_be_bytes(
            bytes.try_into().map_err(|e| corrupt("height key", e))?,
        ))
    }
}

/// Core types store their canonical encoding.
macro_rules! canonical_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn to_value(&self) -> Vec<u8> {
                self.to_bytes()
            }
            fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
                <$t>::from_bytes(bytes).map_err(|e| corrupt(stringify!($t), e))
            }
        }
    )*};
}
canonical_value!(Hash, BlockHeader, Account, UndoRecord);

impl Value for IndexEntry {
    fn to_value(&self) -> Vec<u8> {
        let mut v = self.cumulative_work.to_be_bytes().to_vec();
        v.push(self.status as u8);
        v.extend_from_slice(&self.seq.to_le_bytes());
        v
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != 41 {
            return Err(StoreError::Corrupt("index entry length".into()));
        }
        let work = cairn_core::Work::from_be_bytes(
            bytes[..32].try_into().map_err(|e| corrupt("work", e))?,
        );
        let status = match bytes[32] {
            1 => BlockStatus::Valid,
            2 => BlockStatus::Invalid,
            s => return Err(StoreError::Corrupt(format!("block status {s}"))),
        };
        let seq = u64::from_le_bytes(bytes[33..].try_into().map_err(|e| corrupt("seq", e))?);
        Ok(IndexEntry {
            cumulative_work: work,
            status,
            seq,
        })
    }
}

impl Value for TxLocation {
    fn to_value(&self) -> Vec<u8> {
        let mut v = self.block.0.to_vec();
        v.extend_from_slice(&self.index.to_le_bytes());
        v
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != 36 {
            return Err(StoreError::Corrupt("tx location length".into()));
        }
        Ok(TxLocation {
            block: Hash(bytes[..32].try_into().map_err(|e| corrupt("tx block", e))?),
            index: u32::from_le_bytes(bytes[32..].try_into().map_err(|e| corrupt("tx index", e))?),
        })
    }
}

impl Value for Body {
    fn to_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.0.iter().map(Encode::encoded_len).sum::<usize>());
        let count = u32::try_from(self.0.len()).expect("a block's transaction count fits u32");
        out.extend_from_slice(&count.to_le_bytes());
        for tx in &self.0 {
            tx.encode_to(&mut out);
        }
        out
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = cairn_core::encoding::Reader::new(bytes);
        let n = r
            .count(usize::MAX, cairn_core::tx::COINBASE_LEN)
            .map_err(|e| corrupt("body", e))?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            txs.push(
                cairn_core::Transaction::decode_from(&mut r).map_err(|e| corrupt("body tx", e))?,
            );
        }
        r.finish().map_err(|e| corrupt("body", e))?;
        Ok(Body(txs))
    }
}
