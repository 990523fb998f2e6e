//! Every column family and its key/value types, declared once.
//!
//! A table names its column family and the types of its keys and values; the store
//! resolves the column family from [`Table::NAME`], so no other code spells a column
//! family name.

use cairn_core::encoding::Reader;
use cairn_core::encoding::{Decode, Encode};
use cairn_core::{
    Account, Address, Amount, BlockHeader, BlockId, Coinbase, Hash, TxId, UndoRecord,
};

use super::StoreError;

/// Version of the on-disk layout. A store written by a newer version is refused.
/// Version 2 added the `rewards` column family (multi-output coinbases that mature)
/// and the pool's four (`pool_*`); version 3 the `candidates` column family and the
/// `next_seq` fact, so that opening the chain never walks the whole block index (a
/// version-2 store is upgraded by one walk when it is first opened).
pub const SCHEMA_VERSION: u32 = 3;

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
    /// Stored valid blocks off the main chain that had more work than the tip when
    /// they were stored or disconnected: the best valid block is always the tip or
    /// one of these, so finding it on opening reads only them. Connecting a block
    /// removes it; stale entries are dropped when the chain opens.
    Candidates, "candidates", BlockId => ()
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
    /// The coinbase of every main-chain block: what matures `coinbase_maturity` blocks
    /// later, and what is still immature.
    Rewards, "rewards", BlockId => Coinbase
);
table!(
    /// The pool's accepted shares, by sequence number: the PPLNS log.
    PoolShares, "pool_shares", u64 => ShareRecord
);
table!(
    /// What the pool owes each miner beyond the coinbases that paid it (PPLNS credit).
    PoolCredits, "pool_credits", Address => Amount
);
table!(
    /// The credit changes of every pool block found, by its coinbase's id: applied when
    /// a block with that coinbase connects (written before the block is submitted).
    PoolJobs, "pool_jobs", TxId => JobRecord
);
table!(
    /// What connecting each main-chain pool block did to the credits, to undo it.
    PoolPayouts, "pool_payouts", BlockId => PayoutRecord
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
meta!(
    /// `u64` LE: the arrival number the next stored block gets (first seen wins
    /// between chains of equal work).
    NextSeq, b"next_seq" => u64
);
meta!(
    /// Where the stored pool share log begins once its oldest shares were deleted.
    PoolLogStart, b"pool_log_start" => ShareLogStart
);

/// All column families, for opening the database.
pub const COLUMN_FAMILIES: &[&str] = &[
    META,
    Headers::NAME,
    BlockIndex::NAME,
    Bodies::NAME,
    Heights::NAME,
    Candidates::NAME,
    TxIndex::NAME,
    Accounts::NAME,
    Undo::NAME,
    Rewards::NAME,
    Peers::NAME,
    PoolShares::NAME,
    PoolCredits::NAME,
    PoolJobs::NAME,
    PoolPayouts::NAME,
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
            PoolLogStart::KEY,
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

/// Integers store their little-endian bytes.
macro_rules! le_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn to_value(&self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
            fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
                Ok(<$t>::from_le_bytes(
                    bytes.try_into().map_err(|e| corrupt(stringify!($t), e))?,
                ))
            }
        }
    )*};
}
le_value!(u32, u64);

/// A table whose keys are the whole entry (a set).
impl Value for () {
    fn to_value(&self) -> Vec<u8> {
        Vec::new()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(corrupt("empty value", format!("{} bytes", bytes.len())))
        }
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

impl Value for Coinbase {
    fn to_value(&self) -> Vec<u8> {
        self.to_bytes()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        match cairn_core::Transaction::from_bytes(bytes) {
            Ok(cairn_core::Transaction::Coinbase(cb)) => Ok(cb),
            Ok(_) => Err(StoreError::Corrupt("reward: not a coinbase".into())),
            Err(e) => Err(corrupt("reward", e)),
        }
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

/// [`PoolLogStart`] value: the first stored share's sequence number and the
/// cumulative work of all shares before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShareLogStart {
    /// The first share kept.
    pub seq: u64,
    /// The work of the deleted shares before it.
    pub total: u128,
}

impl Value for ShareLogStart {
    fn to_value(&self) -> Vec<u8> {
        let mut out = self.seq.to_le_bytes().to_vec();
        put_u128(&mut out, self.total);
        out
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_all("pool log start", bytes, |r| {
            Ok(ShareLogStart {
                seq: r.u64()?,
                total: read_u128(r)?,
            })
        })
    }
}

/// [`PoolShares`] value: one accepted share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareRecord {
    /// The payout address it was mined for.
    pub address: Address,
    /// Its work (expected hashes at its share target).
    pub work: u128,
    /// When it was accepted, ms since the Unix epoch.
    pub time_ms: u64,
}

/// How one miner's credit moves when a pool block connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditChange {
    /// The miner.
    pub address: Address,
    /// Its credit when the job was made.
    pub before: Amount,
    /// Its credit after the job's block, as the job computed it.
    pub after: Amount,
}

/// [`PoolJobs`] value: a pool block's split, as far as the credits go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The block's height.
    pub height: u64,
    /// The share log position the job's window ended at (cumulative work).
    pub window_end: u128,
    /// The window's work.
    pub window_work: u128,
    /// What the coinbase paid in all.
    pub reward: Amount,
    /// Every credit the block changes, sorted by address.
    pub changes: Vec<CreditChange>,
}

/// [`PoolPayouts`] value: the credits a connected pool block changed, as they were
/// before it (`None`: no credit), sorted by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    /// The block's height.
    pub height: u64,
    /// Its coinbase's id (the key of its [`JobRecord`]).
    pub coinbase: TxId,
    /// The credits before the block.
    pub before: Vec<(Address, Option<Amount>)>,
}

fn put_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn read_u128(r: &mut Reader<'_>) -> Result<u128, cairn_core::DecodeError> {
    Ok(u128::from_le_bytes(r.array::<16>()?))
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Decodes a whole value with `f`, or names what is corrupt.
fn decode_all<T>(
    what: &str,
    bytes: &[u8],
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, cairn_core::DecodeError>,
) -> Result<T, StoreError> {
    let mut r = Reader::new(bytes);
    let v = f(&mut r).map_err(|e| corrupt(what, e))?;
    r.finish().map_err(|e| corrupt(what, e))?;
    Ok(v)
}

impl Value for Amount {
    fn to_value(&self) -> Vec<u8> {
        self.to_bytes()
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        Amount::from_bytes(bytes).map_err(|e| corrupt("amount", e))
    }
}

impl Value for ShareRecord {
    fn to_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(44);
        self.address.encode_to(&mut out);
        put_u128(&mut out, self.work);
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_all("share", bytes, |r| {
            Ok(ShareRecord {
                address: Address::decode_from(r)?,
                work: read_u128(r)?,
                time_ms: r.u64()?,
            })
        })
    }
}

impl Value for JobRecord {
    fn to_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + 36 * self.changes.len());
        out.extend_from_slice(&self.height.to_le_bytes());
        put_u128(&mut out, self.window_end);
        put_u128(&mut out, self.window_work);
        self.reward.encode_to(&mut out);
        put_len(&mut out, self.changes.len());
        for c in &self.changes {
            c.address.encode_to(&mut out);
            c.before.encode_to(&mut out);
            c.after.encode_to(&mut out);
        }
        out
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_all("pool job", bytes, |r| {
            let height = r.u64()?;
            let window_end = read_u128(r)?;
            let window_work = read_u128(r)?;
            let reward = Amount::decode_from(r)?;
            let n = r.count(usize::MAX, 36)?;
            let mut changes = Vec::with_capacity(n);
            for _ in 0..n {
                changes.push(CreditChange {
                    address: Address::decode_from(r)?,
                    before: Amount::decode_from(r)?,
                    after: Amount::decode_from(r)?,
                });
            }
            Ok(JobRecord {
                height,
                window_end,
                window_work,
                reward,
                changes,
            })
        })
    }
}

impl Value for PayoutRecord {
    fn to_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(44 + 29 * self.before.len());
        out.extend_from_slice(&self.height.to_le_bytes());
        self.coinbase.encode_to(&mut out);
        put_len(&mut out, self.before.len());
        for (a, before) in &self.before {
            a.encode_to(&mut out);
            match before {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    v.encode_to(&mut out);
                }
            }
        }
        out
    }
    fn from_value(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_all("pool payout", bytes, |r| {
            let height = r.u64()?;
            let coinbase = Hash::decode_from(r)?;
            let n = r.count(usize::MAX, 21)?;
            let mut before = Vec::with_capacity(n);
            for _ in 0..n {
                let a = Address::decode_from(r)?;
                let v = match r.u8()? {
                    0 => None,
                    1 => Some(Amount::decode_from(r)?),
                    tag => {
                        return Err(cairn_core::DecodeError::UnknownTag {
                            what: "pool payout entry",
                            tag,
                        });
                    }
                };
                before.push((a, v));
            }
            Ok(PayoutRecord {
                height,
                coinbase,
                before,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_facts_refuse_bytes_of_the_wrong_shape() {
        assert_eq!(u64::from_value(&7u64.to_value()).unwrap(), 7);
        for bad in [&[][..], &[1, 2, 3], &[0; 9]] {
            assert!(matches!(u64::from_value(bad), Err(StoreError::Corrupt(_))));
        }
        assert!(<()>::from_value(&[]).is_ok());
        assert!(matches!(
            <()>::from_value(&[0]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
