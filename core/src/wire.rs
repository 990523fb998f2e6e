//! The sync protocol's messages (`/cairn/<network>/sync/1`) in the canonical encoding.
//!
//! These are the decoders of untrusted bytes a peer sends over the sync protocol; the
//! node frames them (a 4-byte length, checked before anything is allocated). Decoding
//! is strict, and every list is bounded twice: by its limit here and by the bytes left
//! in the frame.

use crate::encoding::{DecodeError, Reader};
use crate::genesis::NetworkId;
use crate::tx::{TRANSFER_LEN, Transaction, Transfer, TxId};
use crate::{Block, BlockHeader, BlockId, Decode, Encode, Work};

/// Most block ids in a locator.
pub const MAX_LOCATOR: usize = 64;
/// Most headers in one response.
pub const MAX_HEADERS: usize = 2_000;
/// Most blocks asked for in one request.
pub const MAX_BLOCKS: usize = 128;
/// Most block positions asked for in one [`SyncRequest::BlockTransfers`] (a receiver
/// that lacks more asks for the whole block).
pub const MAX_TX_INDEXES: usize = 3_000;
/// Most transfer ids in a [`SyncResponse::TxIds`] answer.
pub const MAX_TX_IDS: usize = 5_000;
/// Most transfers asked for by id in one [`SyncRequest::Transfers`].
pub const MAX_TRANSFERS: usize = 400;
/// A peer's view of its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStatus {
    /// Its network id (peers on another network are dropped). The genesis id alone
    /// would not do: networks that differ only in rules share it.
    pub network: NetworkId,
    /// Its tip.
    pub tip: BlockId,
    /// The tip's height.
    pub height: u64,
    /// The tip's cumulative work.
    pub work: Work,
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// "What is your tip?"
    Status,
    /// "Headers of your main chain after the first of these ids you know, at most
    /// `max`." The locator runs from the asker's tip back to genesis.
    Headers {
        /// Block ids, newest first.
        locator: Vec<BlockId>,
        /// Most headers wanted.
        max: u32,
    },
    /// "These blocks, in this order, as many as you have and fit."
    Blocks {
        /// Wanted block ids.
        ids: Vec<BlockId>,
    },
    /// "The transfers at these positions of this block" (completing a compact block
    /// that peer announced).
    BlockTransfers {
        /// The block.
        block: BlockId,
        /// Positions in the block, increasing.
        indexes: Vec<u32>,
    },
    /// "The ids of your pending transfers, best fee first, at most `max`."
    MempoolIds {
        /// Most ids wanted.
        max: u32,
    },
    /// "These pending transfers."
    Transfers {
        /// Their ids.
        ids: Vec<TxId>,
    },
}

/// Encoded length of a [`SyncResponse::Status`].
pub const STATUS_RESPONSE_LEN: usize = 1 + 32 + 32 + 8 + 32;
/// A response's tag and element count.
const LIST_OVERHEAD: usize = 1 + 4;

/// The kind of response a request calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// [`SyncResponse::Status`].
    Status,
    /// [`SyncResponse::Headers`].
    Headers,
    /// [`SyncResponse::Blocks`].
    Blocks,
    /// [`SyncResponse::Transfers`].
    Transfers,
    /// [`SyncResponse::TxIds`].
    TxIds,
}

/// What the answer to one request may be: its kind, its most elements and its most
/// bytes. A response is checked against the request it answers, so a status answer
/// cannot be megabytes and a blocks answer cannot hold more blocks than were asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimit {
    /// The kind of response expected.
    pub kind: ResponseKind,
    /// Most elements (headers or blocks; 1 for a status).
    pub max_items: usize,
    /// Most encoded bytes.
    pub max_bytes: usize,
}

impl SyncRequest {
    /// The limit on a response to this request, on a network whose blocks are at most
    /// `max_block_bytes` and whose responders stop adding blocks past `soft_bytes`
    /// (one block may cross it).
    pub fn response_limit(&self, max_block_bytes: usize, soft_bytes: usize) -> ResponseLimit {
        match self {
            SyncRequest::Status => ResponseLimit {
                kind: ResponseKind::Status,
                max_items: 1,
                max_bytes: STATUS_RESPONSE_LEN,
            },
            SyncRequest::Headers { max, .. } => {
                let n = usize::try_from(*max)
                    .unwrap_or(MAX_HEADERS)
                    .min(MAX_HEADERS);
                ResponseLimit {
                    kind: ResponseKind::Headers,
                    max_items: n,
                    max_bytes: LIST_OVERHEAD + n * crate::header::HEADER_LEN,
                }
            }
            SyncRequest::Blocks { ids } => {
                let n = ids.len().min(MAX_BLOCKS);
                let body = n
                    .saturating_mul(max_block_bytes)
                    .min(soft_bytes.saturating_add(max_block_bytes));
                ResponseLimit {
                    kind: ResponseKind::Blocks,
                    max_items: n,
                    max_bytes: LIST_OVERHEAD + body,
                }
            }
            SyncRequest::BlockTransfers { indexes: list, .. } => {
                transfers_limit(list.len().min(MAX_TX_INDEXES))
            }
            SyncRequest::Transfers { ids } => transfers_limit(ids.len().min(MAX_TRANSFERS)),
            SyncRequest::MempoolIds { max } => {
                let n = usize::try_from(*max).unwrap_or(MAX_TX_IDS).min(MAX_TX_IDS);
                ResponseLimit {
                    kind: ResponseKind::TxIds,
                    max_items: n,
                    max_bytes: LIST_OVERHEAD + 32 * n,
                }
            }
        }
    }
}

fn transfers_limit(n: usize) -> ResponseLimit {
    ResponseLimit {
        kind: ResponseKind::Transfers,
        max_items: n,
        max_bytes: LIST_OVERHEAD + n * TRANSFER_LEN,
    }
}

impl SyncResponse {
    /// Decodes a response to a request whose limit is `limit`: the wrong kind, too
    /// many bytes or more elements than asked for are refused before anything is
    /// allocated for them.
    pub fn decode_limited(bytes: &[u8], limit: &ResponseLimit) -> Result<Self, DecodeError> {
        if bytes.len() > limit.max_bytes {
            return Err(DecodeError::LengthTooLarge {
                len: bytes.len() as u64,
                max: limit.max_bytes as u64,
            });
        }
        let mut r = Reader::new(bytes);
        let tag = r.u8()?;
        let expected = match limit.kind {
            ResponseKind::Status => 0,
            ResponseKind::Headers => 1,
            ResponseKind::Blocks => 2,
            ResponseKind::Transfers => 3,
            ResponseKind::TxIds => 4,
        };
        if tag != expected {
            return Err(DecodeError::UnknownTag {
                what: match limit.kind {
                    ResponseKind::Status => "response to a status request",
                    ResponseKind::Headers => "response to a headers request",
                    ResponseKind::Blocks => "response to a blocks request",
                    ResponseKind::Transfers => "response to a transfers request",
                    ResponseKind::TxIds => "response to a mempool request",
                },
                tag,
            });
        }
        let response = match limit.kind {
            ResponseKind::Status => SyncResponse::Status(decode_status(&mut r)?),
            ResponseKind::Headers => {
                let n = r.count(limit.max_items.min(MAX_HEADERS), crate::header::HEADER_LEN)?;
                SyncResponse::Headers(decode_n(&mut r, n)?)
            }
            ResponseKind::Blocks => {
                let n = r.count(limit.max_items.min(MAX_BLOCKS), crate::header::HEADER_LEN)?;
                SyncResponse::Blocks(decode_n(&mut r, n)?)
            }
            ResponseKind::Transfers => {
                SyncResponse::Transfers(decode_transfers(&mut r, limit.max_items)?)
            }
            ResponseKind::TxIds => SyncResponse::TxIds(decode_ids(&mut r, limit.max_items)?),
        };
        r.finish()?;
        Ok(response)
    }
}

fn decode_status(r: &mut Reader<'_>) -> Result<ChainStatus, DecodeError> {
    Ok(ChainStatus {
        network: NetworkId::decode_from(r)?,
        tip: BlockId::decode_from(r)?,
        height: r.u64()?,
        work: Work::from_be_bytes(r.array()?),
    })
}

fn decode_transfers(r: &mut Reader<'_>, max: usize) -> Result<Vec<Transfer>, DecodeError> {
    let n = r.count(max.min(MAX_TX_INDEXES.max(MAX_TRANSFERS)), TRANSFER_LEN)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match Transaction::decode_from(r)? {
            Transaction::Transfer(t) => out.push(t),
            Transaction::Coinbase(_) => {
                return Err(DecodeError::NonCanonical(
                    "a coinbase where transfers belong",
                ));
            }
        }
    }
    Ok(out)
}

fn decode_n<T: Decode>(r: &mut Reader<'_>, n: usize) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(T::decode_from(r)?);
    }
    Ok(out)
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    /// The responder's tip.
    Status(ChainStatus),
    /// Consecutive main-chain headers (empty if the responder has nothing after the
    /// locator).
    Headers(Vec<BlockHeader>),
    /// A prefix of the asked blocks, in the order asked (the responder stops at the
    /// first one it lacks or when the response is full).
    Blocks(Vec<Block>),
    /// Transfers: all the positions asked for (or none, when the responder does not
    /// have the block or a position holds the coinbase), or the asked pending
    /// transfers the responder still has, in the order asked.
    Transfers(Vec<Transfer>),
    /// Pending transfer ids, best fee first.
    TxIds(Vec<TxId>),
}

impl Encode for SyncRequest {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            SyncRequest::Status => out.push(0),
            SyncRequest::Headers { locator, max } => {
                out.push(1);
                encode_ids(locator, out);
                out.extend_from_slice(&max.to_le_bytes());
            }
            SyncRequest::Blocks { ids } => {
                out.push(2);
                encode_ids(ids, out);
            }
            SyncRequest::BlockTransfers { block, indexes } => {
                out.push(3);
                block.encode_to(out);
                encode_count(indexes.len(), out);
                for i in indexes {
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
            SyncRequest::MempoolIds { max } => {
                out.push(4);
                out.extend_from_slice(&max.to_le_bytes());
            }
            SyncRequest::Transfers { ids } => {
                out.push(5);
                encode_ids(ids, out);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            SyncRequest::Status => 1,
            SyncRequest::Headers { locator, .. } => 1 + 4 + 32 * locator.len() + 4,
            SyncRequest::Blocks { ids } => 1 + 4 + 32 * ids.len(),
            SyncRequest::BlockTransfers { indexes, .. } => 1 + 32 + 4 + 4 * indexes.len(),
            SyncRequest::MempoolIds { .. } => 1 + 4,
            SyncRequest::Transfers { ids } => 1 + 4 + 32 * ids.len(),
        }
    }
}

impl Decode for SyncRequest {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(SyncRequest::Status),
            1 => {
                let locator = decode_ids(r, MAX_LOCATOR)?;
                let max = r.u32()?;
                Ok(SyncRequest::Headers { locator, max })
            }
            2 => Ok(SyncRequest::Blocks {
                ids: decode_ids(r, MAX_BLOCKS)?,
            }),
            3 => {
                let block = BlockId::decode_from(r)?;
                let n = r.count(MAX_TX_INDEXES, 4)?;
                let mut indexes = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = r.u32()?;
                    if indexes.last().is_some_and(|last| i <= *last) {
                        return Err(DecodeError::NonCanonical("block positions must increase"));
                    }
                    indexes.push(i);
                }
                Ok(SyncRequest::BlockTransfers { block, indexes })
            }
            4 => Ok(SyncRequest::MempoolIds { max: r.u32()? }),
            5 => Ok(SyncRequest::Transfers {
                ids: decode_ids(r, MAX_TRANSFERS)?,
            }),
            tag => Err(DecodeError::UnknownTag {
                what: "sync request",
                tag,
            }),
        }
    }
}

impl Encode for SyncResponse {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            SyncResponse::Status(s) => {
                out.push(0);
                s.network.encode_to(out);
                s.tip.encode_to(out);
                out.extend_from_slice(&s.height.to_le_bytes());
                out.extend_from_slice(&s.work.to_be_bytes());
            }
            SyncResponse::Headers(headers) => {
                out.push(1);
                encode_count(headers.len(), out);
                for h in headers {
                    h.encode_to(out);
                }
            }
            SyncResponse::Blocks(blocks) => {
                out.push(2);
                encode_count(blocks.len(), out);
                for b in blocks {
                    b.encode_to(out);
                }
            }
            SyncResponse::Transfers(txs) => {
                out.push(3);
                encode_count(txs.len(), out);
                for t in txs {
                    t.encode_to(out);
                }
            }
            SyncResponse::TxIds(ids) => {
                out.push(4);
                encode_ids(ids, out);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            SyncResponse::Status(_) => STATUS_RESPONSE_LEN,
            SyncResponse::Headers(h) => 1 + 4 + h.iter().map(Encode::encoded_len).sum::<usize>(),
            SyncResponse::Blocks(b) => 1 + 4 + b.iter().map(Encode::encoded_len).sum::<usize>(),
            SyncResponse::Transfers(t) => 1 + 4 + TRANSFER_LEN * t.len(),
            SyncResponse::TxIds(ids) => 1 + 4 + 32 * ids.len(),
        }
    }
}

impl Decode for SyncResponse {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(SyncResponse::Status(decode_status(r)?)),
            1 => {
                let n = r.count(MAX_HEADERS, crate::header::HEADER_LEN)?;
                Ok(SyncResponse::Headers(decode_n::<BlockHeader>(r, n)?))
            }
            2 => {
                let n = r.count(MAX_BLOCKS, crate::header::HEADER_LEN)?;
                Ok(SyncResponse::Blocks(decode_n::<Block>(r, n)?))
            }
            3 => Ok(SyncResponse::Transfers(decode_transfers(
                r,
                MAX_TX_INDEXES.max(MAX_TRANSFERS),
            )?)),
            4 => Ok(SyncResponse::TxIds(decode_ids(r, MAX_TX_IDS)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "sync response",
                tag,
            }),
        }
    }
}

fn encode_count(n: usize, out: &mut Vec<u8>) {
    // Every list here is bounded far below u32::MAX by the constants above.
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
}

fn encode_ids(ids: &[BlockId], out: &mut Vec<u8>) {
    encode_count(ids.len(), out);
    for id in ids {
        id.encode_to(out);
    }
}

fn decode_ids(r: &mut Reader<'_>, max: usize) -> Result<Vec<BlockId>, DecodeError> {
    let n = r.count(max, 32)?;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(BlockId::decode_from(r)?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ChainBuilder, easy_params};

    fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T) {
        let bytes = v.to_bytes();
        assert_eq!(bytes.len(), v.encoded_len());
        assert_eq!(&T::from_bytes(&bytes).expect("decodes"), v);
        // Every strict prefix fails; so does a trailing byte.
        for cut in 0..bytes.len() {
            assert!(
                T::from_bytes(&bytes[..cut]).is_err(),
                "prefix {cut} decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(T::from_bytes(&longer).is_err());
    }

    #[test]
    fn messages_round_trip_and_reject_truncation() {
        let mut chain = ChainBuilder::new(easy_params());
        chain.extend(vec![], 1_000);
        chain.extend(vec![], 1_000);
        let ids: Vec<BlockId> = chain.blocks.iter().map(Block::id).collect();
        round_trip(&SyncRequest::Status);
        round_trip(&SyncRequest::Headers {
            locator: ids.clone(),
            max: 7,
        });
        round_trip(&SyncRequest::Blocks { ids: ids.clone() });
        let status = SyncResponse::Status(ChainStatus {
            network: chain.params.network_id(),
            tip: ids[2],
            height: 2,
            work: Work::from_be_bytes([7; 32]),
        });
        round_trip(&status);
        // The network id is the status's first field, where the genesis id used to be.
        assert_eq!(
            &status.to_bytes()[1..33],
            chain.params.network_id().as_bytes()
        );
        round_trip(&SyncResponse::Headers(
            chain.blocks.iter().map(|b| b.header).collect(),
        ));
        round_trip(&SyncResponse::Blocks(chain.blocks.clone()));
        round_trip(&SyncRequest::BlockTransfers {
            block: ids[1],
            indexes: vec![1, 4, 9],
        });
        round_trip(&SyncRequest::MempoolIds { max: 77 });
        round_trip(&SyncRequest::Transfers { ids: ids.clone() });
        let to = crate::genesis::dev_keys()[1].address();
        let txs = vec![chain.transfer(0, to, 5, 1), chain.transfer(2, to, 6, 1)];
        round_trip(&SyncResponse::Transfers(txs.clone()));
        round_trip(&SyncResponse::TxIds(ids.clone()));
        // Block positions must increase.
        let unordered = SyncRequest::BlockTransfers {
            block: ids[1],
            indexes: vec![4, 4],
        };
        assert!(SyncRequest::from_bytes(&unordered.to_bytes()).is_err());
        // Answers to transfer requests are held to the count asked.
        let one = SyncRequest::Transfers { ids: vec![ids[0]] }.response_limit(1 << 20, 4 << 20);
        assert!(
            SyncResponse::decode_limited(&SyncResponse::Transfers(txs.clone()).to_bytes(), &one)
                .is_err()
        );
        let two = SyncRequest::BlockTransfers {
            block: ids[0],
            indexes: vec![1, 2],
        }
        .response_limit(1 << 20, 4 << 20);
        assert_eq!(
            SyncResponse::decode_limited(&SyncResponse::Transfers(txs.clone()).to_bytes(), &two),
            Ok(SyncResponse::Transfers(txs))
        );
        let few = SyncRequest::MempoolIds { max: 2 }.response_limit(1 << 20, 4 << 20);
        assert!(
            SyncResponse::decode_limited(&SyncResponse::TxIds(ids.clone()).to_bytes(), &few)
                .is_err()
        );
    }

    #[test]
    fn oversized_lists_are_refused() {
        let ids = vec![BlockId::default(); MAX_LOCATOR + 1];
        let bytes = SyncRequest::Headers {
            locator: ids,
            max: 1,
        }
        .to_bytes();
        assert!(SyncRequest::from_bytes(&bytes).is_err());
        let bytes = SyncRequest::Blocks {
            ids: vec![BlockId::default(); MAX_BLOCKS + 1],
        }
        .to_bytes();
        assert!(SyncRequest::from_bytes(&bytes).is_err());
    }

    #[test]
    fn responses_are_held_to_the_request_they_answer() {
        let mut chain = ChainBuilder::new(easy_params());
        for _ in 0..3 {
            chain.extend(vec![], 1_000);
        }
        let ids: Vec<BlockId> = chain.blocks.iter().map(Block::id).collect();
        let max_block = 1 << 20;
        let soft = 4 << 20;
        let status = SyncRequest::Status.response_limit(max_block, soft);
        let two_headers = SyncRequest::Headers {
            locator: vec![ids[0]],
            max: 2,
        }
        .response_limit(max_block, soft);
        let two_blocks = SyncRequest::Blocks {
            ids: ids[..2].to_vec(),
        }
        .response_limit(max_block, soft);
        assert_eq!(status.max_bytes, STATUS_RESPONSE_LEN);
        assert_eq!(two_headers.max_bytes, 5 + 2 * crate::header::HEADER_LEN);
        assert_eq!(two_blocks.max_bytes, 5 + 2 * max_block);
        let all_blocks = SyncRequest::Blocks {
            ids: vec![BlockId::default(); MAX_BLOCKS],
        }
        .response_limit(max_block, soft);
        assert_eq!(all_blocks.max_bytes, 5 + soft + max_block);

        // Answers within their limits decode.
        let headers = SyncResponse::Headers(chain.blocks[..2].iter().map(|b| b.header).collect());
        let blocks = SyncResponse::Blocks(chain.blocks[..2].to_vec());
        let st = SyncResponse::Status(ChainStatus {
            network: chain.params.network_id(),
            tip: ids[1],
            height: 1,
            work: Work::from_be_bytes([1; 32]),
        });
        for (r, limit) in [
            (&st, &status),
            (&headers, &two_headers),
            (&blocks, &two_blocks),
        ] {
            assert_eq!(
                SyncResponse::decode_limited(&r.to_bytes(), limit).as_ref(),
                Ok(r)
            );
        }
        // The wrong kind, more elements than asked, or more bytes than allowed are not.
        assert!(matches!(
            SyncResponse::decode_limited(&headers.to_bytes(), &status),
            Err(DecodeError::LengthTooLarge { .. } | DecodeError::UnknownTag { .. })
        ));
        let small = SyncResponse::Headers(vec![chain.blocks[0].header]);
        assert!(matches!(
            SyncResponse::decode_limited(&small.to_bytes(), &status),
            Err(DecodeError::UnknownTag { .. })
        ));
        let three = SyncResponse::Headers(chain.blocks.iter().map(|b| b.header).collect());
        assert!(matches!(
            SyncResponse::decode_limited(&three.to_bytes(), &two_headers),
            Err(DecodeError::LengthTooLarge { .. })
        ));
        let three = SyncResponse::Blocks(chain.blocks[..3].to_vec());
        assert_eq!(
            SyncResponse::decode_limited(&three.to_bytes(), &two_blocks),
            Err(DecodeError::LengthTooLarge { len: 3, max: 2 })
        );
    }
}
