//! Compact blocks (after BIP152): a block announced as its header, a few prefilled
//! transactions and a 6-byte short id for every other transfer, so that a peer that
//! already holds the transfers in its mempool rebuilds the block without fetching it.
//!
//! Byte layout (PROTOCOL.md §15): `header [96] | n_short u32 | short ids [6 × n] |
//! n_prefilled u32 | (index u32 | transaction) × n`. Prefilled indexes are block
//! positions, strictly increasing; the first is 0 and carries the coinbase; the short
//! ids fill the remaining positions in order.
//!
//! Short ids are keyed by the block: `blake3_keyed(key = block id, txid)[..6]`. A
//! block id costs a proof of work, so nobody can grind transfers whose short ids
//! collide in blocks they do not mine, and a collision found for one block says
//! nothing about the next. A collision in a receiver's mempool only costs a round trip
//! (the position is fetched, or the block is when the root does not match): it never
//! changes what a block is, since a rebuilt block is checked against the header's
//! merkle root and then fully validated.

use std::collections::HashMap;

use crate::encoding::{Decode, DecodeError, Encode, Reader, decode_capped, put_count};
use crate::header::{BlockHeader, BlockId, HEADER_LEN};
use crate::tx::{COINBASE_LEN, TRANSFER_LEN, Transaction, Transfer, TxId};
use crate::{Block, block::MAX_BLOCK_BYTES_LIMIT};

/// Bytes of a short transfer id.
pub const SHORT_ID_LEN: usize = 6;

/// A transfer's short id within one block.
pub type ShortId = [u8; SHORT_ID_LEN];

/// Most transactions a compact block may describe (as many as the largest block any
/// network allows could hold).
pub const MAX_COMPACT_TXS: usize = MAX_BLOCK_BYTES_LIMIT / TRANSFER_LEN;

/// The short id of transfer `tx` in block `block`.
pub fn short_id(block: &BlockId, tx: &TxId) -> ShortId {
    let h = blake3::keyed_hash(block.as_bytes(), tx.as_bytes());
    let mut id = [0u8; SHORT_ID_LEN];
    id.copy_from_slice(&h.as_bytes()[..SHORT_ID_LEN]);
    id
}

/// A block as it is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactBlock {
    /// The header (its id keys the short ids).
    pub header: BlockHeader,
    /// Short ids of the transfers that are not prefilled, in block order.
    pub short_ids: Vec<ShortId>,
    /// Transactions sent whole, with their positions in the block (coinbase first).
    pub prefilled: Vec<(u32, Transaction)>,
}

/// Why a compact block (or the transfers that complete it) cannot make a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The answer to a request for missing transfers has the wrong number of them.
    #[error("{got} transfers sent for {asked} missing positions")]
    WrongCount {
        /// Positions asked for.
        asked: usize,
        /// Transfers sent.
        got: usize,
    },
    /// A sent transfer does not have the short id of the position it fills.
    #[error("the transfer for position {index} does not match its short id")]
    WrongTransfer {
        /// The position.
        index: u32,
    },
    /// The rebuilt block's merkle root is not the header's (a short-id collision in
    /// the receiver's mempool, or a made-up announcement): fetch the whole block.
    #[error("the rebuilt block's transactions do not match its header")]
    RootMismatch,
}

impl CompactBlock {
    /// Announces `block`: the coinbase and every transfer for which `prefill` says
    /// yes are sent whole, while they fit in `prefill_budget` bytes (the coinbase is
    /// always sent); every other transfer as its short id.
    pub fn new(block: &Block, prefill: impl Fn(&TxId) -> bool, prefill_budget: usize) -> Self {
        let id = block.id();
        let mut short_ids = Vec::with_capacity(block.txs.len().saturating_sub(1));
        let mut prefilled = Vec::new();
        let mut budget = prefill_budget;
        for (i, tx) in block.txs.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let txid = tx.id();
            let whole = match tx {
                Transaction::Coinbase(_) => true,
                Transaction::Transfer(_) => {
                    prefill(&txid) && budget >= TRANSFER_LEN && {
                        budget -= TRANSFER_LEN;
                        true
                    }
                }
            };
            if whole {
                prefilled.push((index, tx.clone()));
            } else {
                short_ids.push(short_id(&id, &txid));
            }
        }
        CompactBlock {
            header: block.header,
            short_ids,
            prefilled,
        }
    }

    /// The block's id.
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    /// How many transactions the block holds.
    pub fn tx_count(&self) -> usize {
        self.short_ids.len() + self.prefilled.len()
    }

    /// Fills what a receiver holds: `index` (from [`CompactBlock::index`]) maps short
    /// ids to the id of the receiver's transfer, `None` where two of its transfers
    /// share one, and `get` gives a transfer by id. Positions it cannot fill
    /// (unknown, ambiguous, or a short id that appears twice in this block) are left
    /// for [`PartialBlock::missing`].
    pub fn rebuild(
        &self,
        index: &HashMap<ShortId, Option<TxId>>,
        get: impl Fn(&TxId) -> Option<Transfer>,
    ) -> PartialBlock {
        let total = self.tx_count();
        let mut slots: Vec<Option<Transaction>> = vec![None; total];
        let mut is_prefilled = vec![false; total];
        for (i, tx) in &self.prefilled {
            // Indexes were checked on decoding (and by construction).
            if let Some(slot) = slots.get_mut(*i as usize) {
                *slot = Some(tx.clone());
                is_prefilled[*i as usize] = true;
            }
        }
        let mut seen: HashMap<ShortId, usize> = HashMap::with_capacity(self.short_ids.len());
        for s in &self.short_ids {
            *seen.entry(*s).or_insert(0) += 1;
        }
        let mut shorts = self.short_ids.iter();
        let mut positions = Vec::with_capacity(self.short_ids.len());
        for (i, filled) in is_prefilled.iter().enumerate() {
            if *filled {
                continue;
            }
            let Some(s) = shorts.next() else { break };
            positions.push((i, *s));
            if seen.get(s) == Some(&1)
                && let Some(Some(txid)) = index.get(s)
                && let Some(t) = get(txid)
            {
                slots[i] = Some(Transaction::Transfer(t));
            }
        }
        PartialBlock {
            header: self.header,
            shorts: positions.into_iter().collect(),
            slots,
        }
    }

    /// The index a receiver rebuilds from: the ids of its transfers keyed by their
    /// short ids in this block, ambiguous short ids mapped to `None`.
    pub fn index(&self, txids: impl IntoIterator<Item = TxId>) -> HashMap<ShortId, Option<TxId>> {
        let id = self.id();
        let mut map: HashMap<ShortId, Option<TxId>> = HashMap::new();
        for txid in txids {
            map.entry(short_id(&id, &txid))
                .and_modify(|v| *v = None)
                .or_insert(Some(txid));
        }
        map
    }
}

/// A compact block with the transfers a receiver had filled in.
#[derive(Debug, Clone)]
pub struct PartialBlock {
    header: BlockHeader,
    /// Position → short id, for positions not prefilled.
    shorts: HashMap<usize, ShortId>,
    slots: Vec<Option<Transaction>>,
}

impl PartialBlock {
    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The positions still empty, in order.
    pub fn missing(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
            .collect()
    }

    /// Completes the block with `transfers` for the [`missing`](Self::missing)
    /// positions (in order) and checks it against the header's merkle root.
    pub fn complete(mut self, transfers: Vec<Transfer>) -> Result<Block, CompactError> {
        let missing = self.missing();
        if missing.len() != transfers.len() {
            return Err(CompactError::WrongCount {
                asked: missing.len(),
                got: transfers.len(),
            });
        }
        let id = self.header.id();
        for (index, t) in missing.into_iter().zip(transfers) {
            let i = index as usize;
            if self.shorts.get(&i) != Some(&short_id(&id, &t.id())) {
                return Err(CompactError::WrongTransfer { index });
            }
            self.slots[i] = Some(Transaction::Transfer(t));
        }
        let block = Block {
            header: self.header,
            txs: self.slots.into_iter().flatten().collect(),
        };
        if block.compute_tx_root() != block.header.tx_root {
            return Err(CompactError::RootMismatch);
        }
        Ok(block)
    }
}

impl Encode for CompactBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_count(out, self.short_ids.len());
        for s in &self.short_ids {
            out.extend_from_slice(s);
        }
        put_count(out, self.prefilled.len());
        for (i, tx) in &self.prefilled {
            out.extend_from_slice(&i.to_le_bytes());
            tx.encode_to(out);
        }
    }

    fn encoded_len(&self) -> usize {
        HEADER_LEN
            + 4
            + SHORT_ID_LEN * self.short_ids.len()
            + 4
            + self
                .prefilled
                .iter()
                .map(|(_, t)| 4 + t.encoded_len())
                .sum::<usize>()
    }
}

impl Decode for CompactBlock {
    /// Refuses inputs over [`MAX_BLOCK_BYTES_LIMIT`] before reading anything.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_capped(bytes, MAX_BLOCK_BYTES_LIMIT)
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let n = r.count(MAX_COMPACT_TXS, SHORT_ID_LEN)?;
        let mut short_ids = Vec::with_capacity(n);
        for _ in 0..n {
            short_ids.push(r.array::<SHORT_ID_LEN>()?);
        }
        let m = r.count(MAX_COMPACT_TXS, 4 + COINBASE_LEN.min(TRANSFER_LEN))?;
        if m == 0 {
            return Err(DecodeError::NonCanonical(
                "compact block without a coinbase",
            ));
        }
        let total = n + m;
        let mut prefilled: Vec<(u32, Transaction)> = Vec::with_capacity(m);
        for k in 0..m {
            let index = r.u32()?;
            let tx = Transaction::decode_from(r)?;
            let in_order = prefilled.last().is_none_or(|(last, _)| index > *last);
            if (index as usize) >= total || !in_order {
                return Err(DecodeError::NonCanonical(
                    "prefilled indexes must increase and lie in the block",
                ));
            }
            // Position 0 carries the coinbase, and only position 0 does.
            let coinbase = matches!(tx, Transaction::Coinbase(_));
            if (k == 0) != (index == 0) || (index == 0) != coinbase {
                return Err(DecodeError::NonCanonical(
                    "a compact block's coinbase is prefilled at position 0",
                ));
            }
            prefilled.push((index, tx));
        }
        Ok(CompactBlock {
            header,
            short_ids,
            prefilled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ChainBuilder, easy_params};

    /// A chain whose tip holds `n` transfers, and those transfers.
    fn block_with(n: usize) -> (Block, Vec<Transfer>) {
        let mut chain = ChainBuilder::new(easy_params());
        chain.extend(vec![], 1_000);
        let to = crate::genesis::dev_keys()[1].address();
        let txs: Vec<Transfer> = (0..n)
            .map(|i| chain.transfer(i % 4, to, 1, 1 + i as u64))
            .collect();
        let block = chain.build(txs.clone(), 1_000);
        (block, txs)
    }

    fn pool(c: &CompactBlock, txs: &[Transfer]) -> HashMap<ShortId, Option<TxId>> {
        c.index(txs.iter().map(Transfer::id))
    }

    /// Rebuilds `c` from an index over `txs`.
    fn rebuild(
        c: &CompactBlock,
        index: &HashMap<ShortId, Option<TxId>>,
        txs: &[Transfer],
    ) -> PartialBlock {
        c.rebuild(index, |id| txs.iter().find(|t| t.id() == *id).cloned())
    }

    #[test]
    fn a_block_whose_transfers_are_all_known_rebuilds_without_a_round_trip() {
        let (block, txs) = block_with(6);
        let c = CompactBlock::new(&block, |_| false, 0);
        assert_eq!(c.prefilled.len(), 1, "only the coinbase");
        assert_eq!(c.short_ids.len(), block.txs.len() - 1);
        let bytes = c.to_bytes();
        assert_eq!(bytes.len(), c.encoded_len());
        assert!(bytes.len() < block.to_bytes().len() / 4);
        let decoded = CompactBlock::from_bytes(&bytes).expect("decodes");
        assert_eq!(decoded, c);
        let partial = rebuild(&decoded, &pool(&decoded, &txs), &txs);
        assert!(partial.missing().is_empty());
        assert_eq!(partial.complete(vec![]), Ok(block));
    }

    #[test]
    fn missing_transfers_are_asked_for_by_position_and_checked() {
        let (block, txs) = block_with(6);
        // Prefill the second transfer; the receiver lacks the fourth and fifth.
        let second = txs[1].id();
        let c = CompactBlock::new(&block, |id| *id == second, 10_000);
        assert_eq!(c.prefilled.len(), 2);
        let known: Vec<Transfer> = txs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, t)| t.clone())
            .collect();
        let partial = rebuild(&c, &pool(&c, &known), &known);
        // Block positions are one past the transfer's index (the coinbase is 0).
        assert_eq!(partial.missing(), vec![4, 5]);
        assert_eq!(
            partial.clone().complete(vec![txs[3].clone()]),
            Err(CompactError::WrongCount { asked: 2, got: 1 })
        );
        assert_eq!(
            partial
                .clone()
                .complete(vec![txs[4].clone(), txs[3].clone()]),
            Err(CompactError::WrongTransfer { index: 4 })
        );
        assert_eq!(
            partial.complete(vec![txs[3].clone(), txs[4].clone()]),
            Ok(block)
        );
    }

    #[test]
    fn the_prefill_budget_is_kept() {
        let (block, _) = block_with(6);
        let c = CompactBlock::new(&block, |_| true, 2 * TRANSFER_LEN + 10);
        assert_eq!(c.prefilled.len(), 3, "the coinbase and two transfers");
        let all = CompactBlock::new(&block, |_| true, usize::MAX);
        assert!(all.short_ids.is_empty());
        assert_eq!(
            rebuild(&all, &HashMap::new(), &[]).complete(vec![]),
            Ok(block)
        );
    }

    #[test]
    fn ambiguous_short_ids_are_fetched_and_a_wrong_rebuild_is_caught() {
        let (block, txs) = block_with(3);
        let c = CompactBlock::new(&block, |_| false, 0);
        // The receiver's pool maps every short id to the wrong transfer (as a
        // collision would): the merkle root catches it.
        let mut wrong = pool(&c, &txs);
        let keys: Vec<ShortId> = wrong.keys().copied().collect();
        let first = wrong[&keys[0]];
        *wrong.get_mut(&keys[0]).expect("key") = wrong[&keys[1]];
        *wrong.get_mut(&keys[1]).expect("key") = first;
        let partial = rebuild(&c, &wrong, &txs);
        assert!(partial.missing().is_empty());
        assert_eq!(partial.complete(vec![]), Err(CompactError::RootMismatch));
        // Ambiguous entries are left missing.
        let mut ambiguous = pool(&c, &txs);
        *ambiguous.get_mut(&keys[0]).expect("key") = None;
        assert_eq!(rebuild(&c, &ambiguous, &txs).missing().len(), 1);
        // A short id that appears twice in the block is fetched at both positions.
        let mut twice = c.clone();
        twice.short_ids[1] = twice.short_ids[0];
        assert_eq!(rebuild(&twice, &pool(&c, &txs), &txs).missing(), vec![1, 2]);
    }

    #[test]
    fn malformed_compact_blocks_are_refused() {
        let (block, _) = block_with(3);
        let c = CompactBlock::new(&block, |_| true, usize::MAX);
        let bytes = c.to_bytes();
        for cut in 0..bytes.len() {
            assert!(CompactBlock::from_bytes(&bytes[..cut]).is_err());
        }
        let mut bad = c.clone();
        bad.prefilled.swap(1, 2);
        assert!(CompactBlock::from_bytes(&bad.to_bytes()).is_err(), "order");
        let mut bad = c.clone();
        bad.prefilled.remove(0);
        assert!(
            CompactBlock::from_bytes(&bad.to_bytes()).is_err(),
            "coinbase"
        );
        let mut bad = c.clone();
        bad.prefilled[2].0 = 9;
        assert!(CompactBlock::from_bytes(&bad.to_bytes()).is_err(), "range");
        let mut bad = c;
        bad.prefilled.clear();
        assert!(CompactBlock::from_bytes(&bad.to_bytes()).is_err(), "empty");
    }

    #[test]
    fn short_ids_are_keyed_by_the_block() {
        let (block, txs) = block_with(1);
        let other = BlockId::digest(b"another block");
        assert_ne!(
            short_id(&block.id(), &txs[0].id()),
            short_id(&other, &txs[0].id())
        );
    }
}
