//! Work the loop hands to blocking threads, bounded: validating gossip (through
//! [`ChainAccess`]) and serving peers' sync requests.
//!
//! [`ChainAccess`]: crate::network::ChainAccess

use cairn_core::compact::CompactBlock;
use cairn_core::{Block, BlockHeader, Decode, Transaction, TxId};
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use tracing::debug;

use super::EventLoop;
use crate::network::codec::{MAX_BLOCKS, MAX_HEADERS, SOFT_RESPONSE_BYTES};
use crate::network::{CompactOutcome, MAX_SERVING_PER_PEER, SyncRequest, SyncResponse, Verdict};
use crate::node::now_ms;
use cairn_core::wire::{MAX_TRANSFERS, MAX_TX_IDS};

/// Most gossip validations being worked on at once; beyond this, gossip is ignored.
const MAX_VALIDATING: usize = 128;
/// Most inbound sync requests being served at once (and per peer:
/// [`MAX_SERVING_PER_PEER`]); beyond this, requests are dropped (the peer sees a
/// failed request).
const MAX_SERVING: usize = 32;
/// Capacity of the channel that brings blocking work back to the loop.
pub(super) const MAX_BLOCKING: usize = MAX_VALIDATING + MAX_SERVING;
/// Penalty for an invalid (or undecodable) block or transfer.
pub(super) const INVALID_POINTS: u32 = 100;

/// Work finished on a blocking thread.
pub(super) enum Done {
    Gossip {
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
        header: Option<cairn_core::BlockHeader>,
    },
    Served {
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    /// A compact block judged by the chain side.
    Compact {
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        bytes: usize,
        outcome: CompactOutcome,
    },
    /// A compact block completed with the transfers its announcer sent.
    Completed {
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        verdict: Verdict,
        compact_bytes: usize,
        block_bytes: usize,
    },
    /// The announcer's transfers did not complete the block (`blame`: whose fault).
    Incomplete {
        id: MessageId,
        source: PeerId,
        header: BlockHeader,
        blame: Option<String>,
    },
    /// The pending transfers a new peer has and we lack.
    WantTransfers { peer: PeerId, ids: Vec<TxId> },
    /// A peer's pending transfers went through the mempool.
    Synced {
        peer: PeerId,
        admitted: u64,
        rejected: Option<String>,
    },
    /// Serving a request of `peer` panicked: its place is given back, the request
    /// goes unanswered.
    Unserved { peer: PeerId },
}

impl Done {
    /// What a mempool sync step with `peer` that panicked reports: nothing synced.
    pub(super) fn lost_sync(peer: PeerId) -> Done {
        Done::Synced {
            peer,
            admitted: 0,
            rejected: None,
        }
    }

    /// What a validation of gossip message `id` that panicked reports: ignored,
    /// its place given back.
    pub(super) fn lost_gossip(id: &MessageId, source: PeerId) -> Done {
        Done::Gossip {
            id: id.clone(),
            source,
            verdict: Verdict::Ignore,
            header: None,
        }
    }
}

/// Runs `work`; if it panics (no input is known to make it), `lost` instead, so that
/// the bounded pool's place is always given back.
fn run_caught(work: impl FnOnce() -> Done, lost: Done) -> Done {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(done) => done,
        Err(_) => {
            tracing::error!(target: "net", "a blocking task panicked; its place is given back");
            lost
        }
    }
}

impl EventLoop {
    /// Runs `work` on a blocking thread, sending its result back to the loop (`lost`
    /// if it panics).
    pub(super) fn spawn_blocking(&self, work: impl FnOnce() -> Done + Send + 'static, lost: Done) {
        let tx = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            // Capacity equals the number of tasks allowed at once, so this never waits.
            let _ = tx.blocking_send(run_caught(work, lost));
        });
    }

    /// Validates gossip on a blocking thread if there is room; false when full.
    pub(super) fn spawn_validation(
        &mut self,
        work: impl FnOnce() -> Done + Send + 'static,
        lost: Done,
    ) -> bool {
        if self.validating >= MAX_VALIDATING {
            return false;
        }
        self.validating += 1;
        self.spawn_blocking(work, lost);
        true
    }

    /// Whether a request of `peer` would be served now.
    fn has_serving_room(&self, peer: PeerId) -> bool {
        let total: usize = self.serving.values().sum();
        let mine = self.serving.get(&peer).copied().unwrap_or(0);
        total < MAX_SERVING && mine < MAX_SERVING_PER_PEER
    }

    /// Serves a request on a blocking thread if there is room overall and for this
    /// peer; false when full.
    fn spawn_serving(
        &mut self,
        peer: PeerId,
        work: impl FnOnce() -> Done + Send + 'static,
    ) -> bool {
        let total: usize = self.serving.values().sum();
        let mine = self.serving.get(&peer).copied().unwrap_or(0);
        if total >= MAX_SERVING || mine >= MAX_SERVING_PER_PEER {
            return false;
        }
        *self.serving.entry(peer).or_insert(0) += 1;
        self.spawn_blocking(work, Done::Unserved { peer });
        true
    }

    /// Gives back the serving place a request of `peer` held.
    fn served(&mut self, peer: PeerId) {
        if let Some(n) = self.serving.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.serving.remove(&peer);
            }
        }
    }

    pub(super) fn on_done(&mut self, done: Done) {
        match done {
            Done::Gossip {
                id,
                source,
                verdict,
                header,
            } => self.finish_gossip(id, source, verdict, header),
            Done::Compact {
                id,
                source,
                header,
                bytes,
                outcome,
            } => {
                self.on_compact_outcome(id, source, header, bytes, outcome);
            }
            Done::Completed {
                id,
                source,
                header,
                verdict,
                compact_bytes,
                block_bytes,
            } => self.on_completed(id, source, header, verdict, (compact_bytes, block_bytes)),
            Done::Incomplete {
                id,
                source,
                header,
                blame,
            } => self.on_incomplete(id, source, header, blame),
            Done::WantTransfers { peer, ids } => {
                self.validating = self.validating.saturating_sub(1);
                self.want_transfers(peer, ids);
            }
            Done::Synced {
                peer,
                admitted,
                rejected,
            } => {
                self.validating = self.validating.saturating_sub(1);
                self.stats.mempool_synced += admitted;
                debug!(target: "net", %peer, admitted, "pending transfers synced");
                if let Some(reason) = rejected {
                    self.penalize(peer, INVALID_POINTS, &reason);
                }
            }
            Done::Unserved { peer } => self.served(peer),
            Done::Served {
                peer,
                channel,
                response,
            } => {
                self.served(peer);
                self.stats.requests_served += 1;
                if let SyncResponse::Blocks(b) = &response {
                    self.stats.blocks_served += b.len() as u64;
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
        }
    }

    pub(super) fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        self.stats.gossip_in += 1;
        let chain = self.chain.clone();
        let blocks = message.topic == self.topics.blocks.hash();
        if message.topic == self.topics.compact.hash() {
            self.stats.compact_in += 1;
            let mid = id.clone();
            let lost = Done::lost_gossip(&id, source);
            let spawned = self.spawn_validation(
                move || {
                    let bytes = message.data.len();
                    match CompactBlock::from_bytes(&message.data) {
                        Ok(compact) => Done::Compact {
                            id: mid,
                            source,
                            header: compact.header,
                            bytes,
                            outcome: chain.on_compact(&compact, source),
                        },
                        Err(e) => Done::Gossip {
                            id: mid,
                            source,
                            verdict: Verdict::Reject(format!("undecodable compact block: {e}")),
                            header: None,
                        },
                    }
                },
                lost,
            );
            if !spawned {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
            }
            return;
        }
        if !blocks && message.topic != self.topics.txs.hash() {
            // We only subscribe to our two topics; anything else is noise.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
            return;
        }
        // Decoding (up to a whole block) and validation both run off the runtime.
        let mid = id.clone();
        let lost = Done::lost_gossip(&id, source);
        let spawned = self.spawn_validation(
            move || {
                let (verdict, header) = if blocks {
                    match Block::from_bytes(&message.data) {
                        Ok(block) => {
                            let header = block.header;
                            (chain.on_block(block, source), Some(header))
                        }
                        Err(e) => (Verdict::Reject(format!("undecodable block: {e}")), None),
                    }
                } else {
                    let verdict = match Transaction::from_bytes(&message.data) {
                        Ok(Transaction::Transfer(t)) => chain.on_transfer(t, source),
                        Ok(Transaction::Coinbase(_)) => {
                            Verdict::Reject("coinbase gossiped as a transfer".into())
                        }
                        Err(e) => Verdict::Reject(format!("undecodable transfer: {e}")),
                    };
                    (verdict, None)
                };
                Done::Gossip {
                    id: mid,
                    source,
                    verdict,
                    header,
                }
            },
            lost,
        );
        if !spawned {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
        }
    }

    pub(super) fn on_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        // Room first: a request dropped for want of room must not use up the quota.
        if !self.has_serving_room(peer) {
            debug!(target: "net", %peer, "busy: sync request dropped");
            self.stats.requests_dropped += 1;
            return;
        }
        if !self.within_quota(peer, &request, now_ms()) {
            debug!(target: "net", %peer, "mempool request over the quota dropped");
            return;
        }
        let chain = self.chain.clone();
        let accepted = self.spawn_serving(peer, move || {
            let response = match request {
                SyncRequest::Status => SyncResponse::Status(chain.status()),
                SyncRequest::Headers { locator, max } => {
                    let max = usize::try_from(max).unwrap_or(MAX_HEADERS).min(MAX_HEADERS);
                    SyncResponse::Headers(chain.headers_after(&locator, max))
                }
                SyncRequest::Blocks { ids } => {
                    let ids = &ids[..ids.len().min(MAX_BLOCKS)];
                    SyncResponse::Blocks(chain.blocks(ids, SOFT_RESPONSE_BYTES))
                }
                SyncRequest::BlockTransfers { block, indexes } => {
                    SyncResponse::Transfers(chain.block_transfers(&block, &indexes))
                }
                SyncRequest::MempoolIds { max } => {
                    let max = usize::try_from(max).unwrap_or(MAX_TX_IDS).min(MAX_TX_IDS);
                    SyncResponse::TxIds(chain.pending_ids(max))
                }
                SyncRequest::Transfers { ids } => SyncResponse::Transfers(
                    chain.pending_transfers(&ids[..ids.len().min(MAX_TRANSFERS)]),
                ),
            };
            Done::Served {
                peer,
                channel,
                response,
            }
        });
        if !accepted {
            debug!(target: "net", %peer, "busy: sync request dropped");
            self.stats.requests_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_task_that_panics_still_gives_its_place_back() {
        let peer = PeerId::random();
        let done = run_caught(|| panic!("a bug"), Done::Unserved { peer });
        assert!(matches!(done, Done::Unserved { peer: p } if p == peer));
        let done = run_caught(|| Done::lost_sync(peer), Done::Unserved { peer });
        assert!(matches!(done, Done::Synced { admitted: 0, .. }));
    }
}
