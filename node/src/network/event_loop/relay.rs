//! Requests the loop makes on its own behalf: completing compact blocks (the missing
//! transfers from the peer that announced one, or the whole block), and fetching a
//! newly connected peer's pending transfers. Also the quotas that keep a peer from
//! asking for our mempool over and over.

use std::collections::HashSet;

use cairn_core::compact::{CompactError, PartialBlock};
use cairn_core::wire::{MAX_TRANSFERS, MAX_TX_IDS};
use cairn_core::{BlockHeader, Encode, TxId};
use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use tracing::debug;

use super::EventLoop;
use super::inbound::Done;
use super::outbound::Purpose;
use crate::network::{CompactOutcome, NetworkEvent, SyncRequest, SyncResponse, Verdict};

/// The window of the mempool-request quotas.
const QUOTA_WINDOW_MS: u64 = 60_000;
/// Mempool id lists a peer may ask for per window (one per connection: room for a
/// few reconnections of a flapping link, which the lab saw cost an honest peer
/// points when this was 2).
const ID_LISTS_PER_WINDOW: u32 = 4;
/// Pending transfers a peer may ask for by id per window.
const TRANSFERS_PER_WINDOW: usize = 2 * MAX_TX_IDS;
/// Points for asking for more than the quotas allow (a flood, as on gossip).
const FLOOD_POINTS: u32 = 20;
/// Points for completing a compact block with transfers that do not fit it.
const BAD_COMPLETION_POINTS: u32 = 100;
/// Compact blocks from one peer being completed at once; beyond this its compact
/// blocks are left to sync, so no one peer can hold the validation slots with
/// announcements it never completes.
const MAX_COMPACT_FETCHES_PER_PEER: usize = 2;

/// What an outbound request of the loop's own was for.
pub(super) enum Fetch {
    /// The missing transfers of a compact block `source` announced (gossip `id`).
    Missing {
        id: MessageId,
        source: PeerId,
        partial: Box<PartialBlock>,
        compact_bytes: usize,
    },
    /// The whole block a compact announcement stood for.
    Whole {
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
    },
    /// A newly connected peer's pending transfer ids.
    MempoolIds,
    /// Pending transfers, by id; `rest` is asked for once this answer is in (one
    /// request at a time, so the peer serves them all).
    Transfers { ids: Vec<TxId>, rest: Vec<TxId> },
}

/// How much of our mempool one peer asked for in the current window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quota {
    since_ms: u64,
    id_lists: u32,
    transfers: usize,
}

impl EventLoop {
    /// What to do with a judged compact block (gossip `id` from `source`).
    pub(super) fn on_compact_outcome(
        &mut self,
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        compact_bytes: usize,
        outcome: CompactOutcome,
    ) {
        match outcome {
            CompactOutcome::Judged(verdict) => {
                self.finish_gossip(id, source, verdict, Some(header))
            }
            CompactOutcome::Rebuilt {
                verdict,
                block_bytes,
            } => {
                if verdict == Verdict::Accept {
                    self.stats.compact_rebuilt += 1;
                    self.stats.compact_bytes += compact_bytes as u64;
                    self.stats.compact_block_bytes += block_bytes as u64;
                }
                self.finish_gossip(id, source, verdict, Some(header));
            }
            CompactOutcome::Missing(_) | CompactOutcome::Fetch
                if self.compact_fetches(source) >= MAX_COMPACT_FETCHES_PER_PEER =>
            {
                debug!(target: "net", peer = %source, "compact block left to sync: the peer has others being completed");
                self.give_up(id, source, header);
            }
            CompactOutcome::Missing(partial) => {
                let indexes = partial.missing();
                debug!(target: "net", block = %header.id(), missing = indexes.len(), "compact block: asking for transfers");
                let request = SyncRequest::BlockTransfers {
                    block: header.id(),
                    indexes,
                };
                let fetch = Fetch::Missing {
                    id,
                    source,
                    partial,
                    compact_bytes,
                };
                self.request(source, request, Purpose::Fetch(fetch), true);
            }
            CompactOutcome::Fetch => self.fetch_whole(id, source, header),
        }
    }

    /// Compact blocks from `source` being completed (asked for, or waiting to be).
    fn compact_fetches(&self, source: PeerId) -> usize {
        let completing = |f: &Fetch| matches!(f, Fetch::Missing { .. } | Fetch::Whole { .. });
        let sent = self
            .fetches
            .values()
            .filter(|(p, f)| *p == source && completing(f))
            .count();
        let waiting = self.waiting.get(&source).map_or(0, |q| {
            q.iter()
                .filter(|w| w.fetch().is_some_and(completing))
                .count()
        });
        sent + waiting
    }

    fn fetch_whole(&mut self, id: MessageId, source: PeerId, header: BlockHeader) {
        debug!(target: "net", block = %header.id(), "compact block: fetching the whole block");
        let request = SyncRequest::Blocks {
            ids: vec![header.id()],
        };
        let fetch = Fetch::Whole { id, source, header };
        self.request(source, request, Purpose::Fetch(fetch), true);
    }

    /// Reports a gossip message's verdict: forwarding, penalties, and syncing from
    /// the sender when the block does not connect.
    pub(super) fn finish_gossip(
        &mut self,
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
        header: Option<BlockHeader>,
    ) {
        self.validating = self.validating.saturating_sub(1);
        debug!(target: "net", %id, peer = %source, ?verdict, "gossip validated");
        let acceptance = match &verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Ignore => MessageAcceptance::Ignore,
            Verdict::Unconnected => {
                if let Some(header) = header {
                    self.emit(NetworkEvent::UnconnectedBlock {
                        peer: source,
                        header,
                    });
                }
                MessageAcceptance::Ignore
            }
            Verdict::Reject(reason) => {
                self.stats.gossip_rejected += 1;
                self.penalize(source, super::inbound::INVALID_POINTS, reason);
                MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
    }

    /// The answer (or failure) of one of the loop's own requests to `peer`.
    pub(super) fn on_fetched(
        &mut self,
        peer: PeerId,
        fetch: Fetch,
        answer: Result<SyncResponse, String>,
    ) {
        match (fetch, answer) {
            (
                Fetch::Missing {
                    id,
                    source,
                    partial,
                    compact_bytes,
                },
                Ok(SyncResponse::Transfers(txs)),
            ) => {
                let chain = self.chain.clone();
                let header = *partial.header();
                let lost = Done::lost_gossip(&id, source);
                // Hashing, the merkle root and validation run off the runtime; the
                // message still holds its validation slot.
                self.spawn_blocking(
                    move || match partial.complete(txs) {
                        Ok(block) => {
                            let bytes = block.encoded_len();
                            Done::Completed {
                                id,
                                source,
                                header,
                                verdict: chain.on_block(block, source),
                                compact_bytes,
                                block_bytes: bytes,
                            }
                        }
                        Err(e) => Done::Incomplete {
                            id,
                            source,
                            header,
                            blame: (e != CompactError::RootMismatch).then(|| e.to_string()),
                        },
                    },
                    lost,
                );
            }
            (Fetch::Whole { id, source, header }, Ok(SyncResponse::Blocks(mut blocks)))
                if blocks.len() == 1 && blocks[0].id() == header.id() =>
            {
                self.stats.compact_fetched += 1;
                let chain = self.chain.clone();
                let block = blocks.remove(0);
                let lost = Done::lost_gossip(&id, source);
                self.spawn_blocking(
                    move || Done::Gossip {
                        id,
                        source,
                        verdict: chain.on_block(block, source),
                        header: Some(header),
                    },
                    lost,
                );
            }
            (
                Fetch::Missing {
                    id,
                    source,
                    partial,
                    ..
                },
                answer,
            ) => {
                debug!(target: "net", %peer, "missing transfers not delivered: {:?}", answer.err());
                self.give_up(id, source, *partial.header());
            }
            (Fetch::Whole { id, source, header }, answer) => {
                debug!(target: "net", %peer, "compact block's whole block not delivered: {:?}", answer.map(|_| "another block"));
                self.give_up(id, source, header);
            }
            (Fetch::MempoolIds, Ok(SyncResponse::TxIds(ids))) => {
                let chain = self.chain.clone();
                // Bounded like gossip validation: mempool sync is best effort.
                self.spawn_validation(
                    move || Done::WantTransfers {
                        peer,
                        ids: chain.unknown_transfers(&ids),
                    },
                    Done::lost_sync(peer),
                );
            }
            (Fetch::Transfers { ids, rest }, Ok(SyncResponse::Transfers(txs))) => {
                let asked: HashSet<TxId> = ids.into_iter().collect();
                if let Some(t) = txs.iter().find(|t| !asked.contains(&t.id())) {
                    let reason = format!("sent transfer {} that was not asked for", t.id());
                    self.penalize(peer, BAD_COMPLETION_POINTS, &reason);
                    return;
                }
                self.want_transfers(peer, rest);
                let chain = self.chain.clone();
                self.spawn_validation(
                    move || {
                        let mut admitted = 0u64;
                        let mut rejected = None;
                        for t in txs {
                            match chain.on_transfer(t, peer) {
                                Verdict::Accept => admitted += 1,
                                Verdict::Reject(reason) => {
                                    rejected = Some(reason);
                                    break;
                                }
                                _ => {}
                            }
                        }
                        Done::Synced {
                            peer,
                            admitted,
                            rejected,
                        }
                    },
                    Done::lost_sync(peer),
                );
            }
            (Fetch::MempoolIds | Fetch::Transfers { .. }, answer) => {
                debug!(target: "net", %peer, "mempool sync request failed: {:?}", answer.err());
            }
        }
    }

    /// A compact block that could not be completed from its announcer: drop the
    /// message and let sync fetch the block (through headers from the announcer, or
    /// from whoever has it at the next status round).
    fn give_up(&mut self, id: MessageId, source: PeerId, header: BlockHeader) {
        self.finish_gossip(id, source, Verdict::Unconnected, Some(header));
    }

    /// A compact block completed with its missing transfers.
    pub(super) fn on_completed(
        &mut self,
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        verdict: Verdict,
        bytes: (usize, usize),
    ) {
        if verdict == Verdict::Accept {
            self.stats.compact_completed += 1;
            self.stats.compact_bytes += bytes.0 as u64;
            self.stats.compact_block_bytes += bytes.1 as u64;
        }
        self.finish_gossip(id, source, verdict, Some(header));
    }

    /// The missing transfers did not complete the block: a collision in our mempool
    /// (no one's fault) or transfers that do not fit (the sender's).
    pub(super) fn on_incomplete(
        &mut self,
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        blame: Option<String>,
    ) {
        match blame {
            Some(reason) => {
                self.penalize(source, BAD_COMPLETION_POINTS, &reason);
                self.give_up(id, source, header);
            }
            None => self.fetch_whole(id, source, header),
        }
    }

    /// Asks a newly connected peer for its pending transfers.
    pub(super) fn ask_mempool(&mut self, peer: PeerId) {
        let max = u32::try_from(MAX_TX_IDS).unwrap_or(u32::MAX);
        let request = SyncRequest::MempoolIds { max };
        self.request(peer, request, Purpose::Fetch(Fetch::MempoolIds), false);
    }

    /// Asks `peer` for the pending transfers `ids` we lack, [`MAX_TRANSFERS`] at a
    /// time.
    pub(super) fn want_transfers(&mut self, peer: PeerId, mut ids: Vec<TxId>) {
        if ids.is_empty() || !self.peers.contains_key(&peer) {
            return;
        }
        let rest = ids.split_off(ids.len().min(MAX_TRANSFERS));
        let request = SyncRequest::Transfers { ids: ids.clone() };
        let fetch = Fetch::Transfers { ids, rest };
        self.request(peer, request, Purpose::Fetch(fetch), false);
    }

    /// Whether `peer` may be served `request` now, counting it; a request over the
    /// quota costs points.
    pub(super) fn within_quota(
        &mut self,
        peer: PeerId,
        request: &SyncRequest,
        now_ms: u64,
    ) -> bool {
        let (lists, transfers) = match request {
            SyncRequest::MempoolIds { .. } => (1, 0),
            SyncRequest::Transfers { ids } => (0, ids.len()),
            _ => return true,
        };
        let q = self.quota.entry(peer).or_insert(Quota {
            since_ms: now_ms,
            id_lists: 0,
            transfers: 0,
        });
        if now_ms.saturating_sub(q.since_ms) > QUOTA_WINDOW_MS {
            *q = Quota {
                since_ms: now_ms,
                id_lists: 0,
                transfers: 0,
            };
        }
        // A refused request does not count: each kind has its own quota.
        let ok = q.id_lists + lists <= ID_LISTS_PER_WINDOW
            && q.transfers + transfers <= TRANSFERS_PER_WINDOW;
        if ok {
            q.id_lists += lists;
            q.transfers += transfers;
        } else {
            self.penalize(peer, FLOOD_POINTS, "mempool requests over the quota");
        }
        ok
    }

    /// Forgets quotas whose window has passed.
    pub(super) fn expire_quotas(&mut self, now_ms: u64) {
        self.quota
            .retain(|_, q| now_ms.saturating_sub(q.since_ms) <= QUOTA_WINDOW_MS);
    }
}
