//! Block headers.
//!
//! Byte layout (96 bytes, integers little-endian):
//!
//! ```text
//! version u32 | height u64 | prev [32] | tx_root [32] | timestamp_ms u64 | target u32 | nonce u64
//! ```
//!
//! The first 88 bytes (all but the nonce) are hashed once into the PoW pre-hash.

use serde::{Deserialize, Serialize};

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::Hash;
use crate::pow::{self, CompactTarget};

/// Encoded header length.
pub const HEADER_LEN: usize = 96;
/// Length of the part of a header that the pre-hash covers.
pub const HEADER_PRE_LEN: usize = HEADER_LEN - 8;
/// The only header version this code accepts.
pub const HEADER_VERSION: u32 = 1;

/// A block id: the block's PoW hash.
pub type BlockId = Hash;

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlockHeader {
    /// Header format version.
    pub version: u32,
    /// Distance from genesis (genesis is 0).
    pub height: u64,
    /// The parent's id.
    pub prev: BlockId,
    /// Merkle root of the txids.
    pub tx_root: Hash,
    /// Milliseconds since the Unix epoch, as the miner claims.
    pub timestamp_ms: u64,
    /// The PoW target this block claims to meet.
    pub target: CompactTarget,
    /// The miner's nonce.
    pub nonce: u64,
}

impl BlockHeader {
    /// The 88 bytes the pre-hash covers.
    pub fn pre_bytes(&self) -> [u8; HEADER_PRE_LEN] {
        let mut out = Vec::with_capacity(HEADER_LEN);
        self.encode_to(&mut out);
        let mut pre = [0u8; HEADER_PRE_LEN];
        pre.copy_from_slice(&out[..HEADER_PRE_LEN]);
        pre
    }

    /// `blake3(header without nonce)`: fixed for a mining template.
    pub fn pre_hash(&self) -> Hash {
        Hash::digest(&self.pre_bytes())
    }

    /// The PoW hash, which is also the block id.
    pub fn pow_hash(&self) -> Hash {
        pow::pow_hash(&self.pre_hash(), self.nonce)
    }

    /// The block id (= the PoW hash).
    pub fn id(&self) -> BlockId {
        self.pow_hash()
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        self.prev.encode_to(out);
        self.tx_root.encode_to(out);
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.target.0.to_le_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        HEADER_LEN
    }
}

impl Decode for BlockHeader {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            version: r.u32()?,
            height: r.u64()?,
            prev: Hash::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
            timestamp_ms: r.u64()?,
            target: CompactTarget(r.u32()?),
            nonce: r.u64()?,
        })
    }
}
