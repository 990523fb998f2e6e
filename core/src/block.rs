//! Blocks: a header and its transactions.
//!
//! Byte layout: `header [96] | tx_count u32 | txs`, each transaction in its own
//! self-delimiting encoding (see [`crate::tx`]).

use serde::{Deserialize, Serialize};

use crate::encoding::{Decode, DecodeError, Encode, Reader, decode_capped, put_count};
use crate::hash::Hash;
use crate::header::{BlockHeader, BlockId, HEADER_LEN};
use crate::merkle::merkle_root;
use crate::tx::{COINBASE_LEN, Transaction, TxId};

/// A hard cap on any block's encoded size, whatever the network's parameters say
/// (genesis files may not set a larger `max_block_bytes`). [`Block::from_bytes`]
/// refuses longer inputs outright.
pub const MAX_BLOCK_BYTES_LIMIT: usize = 32 * 1024 * 1024;

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, coinbase first.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// The block id.
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    /// The ids of its transactions, in order.
    pub fn txids(&self) -> Vec<TxId> {
        self.txs.iter().map(Transaction::id).collect()
    }

    /// The merkle root of its transactions (what `header.tx_root` must be).
    pub fn compute_tx_root(&self) -> Hash {
        merkle_root(&self.txids())
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_count(out, self.txs.len());
        for tx in &self.txs {
            tx.encode_to(out);
        }
    }
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 4 + self.txs.iter().map(Encode::encoded_len).sum::<usize>()
    }
}

impl Decode for Block {
    /// Refuses inputs over [`MAX_BLOCK_BYTES_LIMIT`] before reading anything.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_capped(bytes, MAX_BLOCK_BYTES_LIMIT)
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        // Bounded both by the input left and by the largest block any network allows.
        let n = r.count(MAX_BLOCK_BYTES_LIMIT / COINBASE_LEN, COINBASE_LEN)?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            txs.push(Transaction::decode_from(r)?);
        }
        Ok(Block { header, txs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; MAX_BLOCK_BYTES_LIMIT + 1];
        assert!(matches!(
            Block::from_bytes(&bytes),
            Err(DecodeError::LengthTooLarge { .. })
        ));
    }

    #[test]
    fn forged_count_is_refused() {
        let mut bytes = vec![0u8; HEADER_LEN];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 41]);
        assert!(matches!(
            Block::from_bytes(&bytes),
            Err(DecodeError::LengthTooLarge { .. })
        ));
    }
}
