//! The header download: one headers request at a time, to the peer claiming the most
//! work (or the one whose chain is being queued), each header checked against every
//! header rule before it is queued for its body.

use cairn_core::{BlockHeader, ChainParams, RejectReason};
use libp2p::PeerId;
use tracing::{debug, warn};

use crate::chain::{HeaderError, TipInfo};
use crate::network::codec::{MAX_HEADERS, MAX_LOCATOR};
use crate::network::{NetworkError, RequestFailure, SyncRequest, SyncResponse};
use crate::node::now_ms;
use crate::sync::bodies::Slot;
use crate::sync::manager::{BAN, SyncManager};
use crate::sync::{SyncChain, SyncNetwork};

/// A header from (our idea of) the future: perhaps only our clocks differ.
fn from_the_future(e: &HeaderError) -> bool {
    matches!(
        e,
        HeaderError::Invalid {
            reason: RejectReason::TimestampTooFarInFuture { .. },
            ..
        }
    )
}

impl<N: SyncNetwork, C: SyncChain> SyncManager<N, C> {
    /// Asks for the next headers, if none are being asked for, the queue has room and
    /// a peer has more to show: the header peer while its answers are full, else the
    /// peer that claims the most work above ours and above the queue's.
    pub(super) fn request_headers(&mut self, tip: &TipInfo) {
        if self.headers_inflight || self.order.len() >= self.config.max_queue {
            return;
        }
        let queued_work = self.cursor.as_ref().map(|c| c.work);
        let floor = queued_work.map_or(tip.work, |w| w.max(tip.work));
        let peer = match self.header_peer {
            Some(p) if self.headers_more && self.peers.contains_key(&p) => Some(p),
            _ => self
                .peers
                .iter()
                .filter_map(|(id, p)| Some((*id, p.status?.work)))
                .filter(|(_, w)| *w > floor)
                .max_by_key(|(_, w)| *w)
                .map(|(id, _)| id),
        };
        // A peer busy with as many requests as it serves is asked once one returns.
        let Some(peer) = peer.filter(|p| {
            self.peers
                .get(p)
                .is_some_and(|p| p.has_room(self.config.per_peer))
        }) else {
            return;
        };
        let mut locator = self.chain.locator();
        if let Some(c) = &self.cursor {
            locator.insert(0, c.id);
            locator.truncate(MAX_LOCATOR);
        }
        self.headers_inflight = true;
        self.spawn_request(
            peer,
            SyncRequest::Headers {
                locator,
                max: u32::try_from(MAX_HEADERS).unwrap_or(u32::MAX),
            },
        );
    }

    pub(super) fn on_headers_outcome(
        &mut self,
        peer: PeerId,
        generation: u64,
        r: Result<SyncResponse, NetworkError>,
    ) {
        self.headers_inflight = false;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.open = p.open.saturating_sub(1);
        }
        match r {
            // Asked for a queue since dropped: the answer proves nothing.
            Ok(SyncResponse::Headers(_)) if generation != self.generation => {}
            Ok(SyncResponse::Headers(h)) => self.on_headers(peer, h),
            Ok(_) => self.penalize(peer, BAN, "wrong response to a headers request".into()),
            Err(e) => {
                // Whatever went wrong, the claim it made goes: a peer that claims the
                // most work and drops every headers request must not hold the header
                // slot. One that keeps dropping them is disconnected (a busy honest
                // node drops one now and then).
                self.headers_more = false;
                self.drop_claim(peer);
                match &e {
                    NetworkError::Request {
                        reason: RequestFailure::Unreachable(why),
                        ..
                    } => self.headers_failed(peer, why),
                    _ => self.on_failure(peer, "headers", &e),
                }
            }
        }
    }

    fn on_headers(&mut self, peer: PeerId, headers: Vec<BlockHeader>) {
        self.headers_failures.remove(&peer);
        let full = headers.len() >= MAX_HEADERS;
        let Some(first) = headers.first() else {
            // Nothing after our locator: its tip is one we have (a race with gossip),
            // the end of the chain it is sending us (a multiple of MAX_HEADERS), or it
            // claimed work it does not have.
            self.headers_more = false;
            let queued = self
                .cursor
                .as_ref()
                .filter(|_| self.header_peer == Some(peer))
                .map(|c| c.work);
            self.claim_not_shown(peer, queued);
            return;
        };
        let params = self.chain.params().clone();
        let now = now_ms();
        // Continue the queued chain, or start afresh from a block we store.
        let continues = self.cursor.as_ref().is_some_and(|c| c.id == first.prev);
        if !continues {
            // Skip what we already have; start after the last stored header.
            let (skip, cursor) = self.chain.branch_point(&headers, now);
            let Some(cursor) = cursor else {
                // Not after anything in our locator: the peer broke the protocol.
                self.penalize(peer, BAN, "headers that do not connect".into());
                return;
            };
            if skip == headers.len() && !full {
                // Every header is one we store: typically its tip reached us by gossip
                // while the request was in flight. Nothing to queue; keep our queue.
                self.headers_more = false;
                self.claim_not_shown(peer, Some(cursor.work));
                return;
            }
            // The queue is dropped for the new branch only once its first new header
            // passes every rule: a bad or future header must not cost us the queue.
            if let Some(h) = headers.get(skip) {
                let mut probe = cursor.clone();
                probe.set_now(now);
                if let Err(e) = probe.advance(h, &params, skip) {
                    self.headers_more = false;
                    if from_the_future(&e) {
                        // Perhaps only our clocks differ: no blame, but the claim goes
                        // until its next status, so others get the header slot.
                        debug!(target: "sync", %peer, "headers from the future; claim dropped for now");
                        self.drop_claim(peer);
                    } else {
                        warn!(target: "sync", %peer, "invalid headers: {e}");
                        self.penalize(peer, BAN, format!("invalid headers: {e}"));
                    }
                    return;
                }
            }
            self.reset_queue();
            self.cursor = Some(cursor);
            self.header_peer = Some(peer);
            return self.queue_headers(peer, &headers[skip..], &params, full);
        }
        self.queue_headers(peer, &headers, &params, full);
    }

    fn queue_headers(
        &mut self,
        peer: PeerId,
        headers: &[BlockHeader],
        params: &ChainParams,
        full: bool,
    ) {
        let Some(cursor) = self.cursor.as_mut() else {
            return;
        };
        cursor.set_now(now_ms());
        let mut invalid = None;
        let mut early = false;
        let mut queued = 0;
        for (i, h) in headers.iter().enumerate() {
            if let Err(e) = cursor.advance(h, params, i) {
                // A header from (our idea of) the future: not proof of malice; queue
                // what came before and ask again later.
                early = from_the_future(&e);
                invalid = Some(e);
                break;
            }
            let id = h.id();
            self.order.push_back((id, h.height));
            self.slots.insert(id, Slot::Wanted);
            queued += 1;
        }
        if early {
            debug!(target: "sync", %peer, "headers from the future; stopping there for now");
            self.header_peer = Some(peer);
            self.headers_more = false;
            if queued == 0 {
                // Nothing usable: others get the header slot until its next status.
                self.drop_claim(peer);
            }
            return;
        }
        if let Some(e) = invalid {
            warn!(target: "sync", %peer, "invalid headers: {e}");
            self.penalize(peer, BAN, format!("invalid headers: {e}"));
            self.reset_queue();
            return;
        }
        self.header_peer = Some(peer);
        self.headers_more = full;
        let tip = self.chain.tip();
        if !full && self.cursor.as_ref().is_some_and(|c| c.work <= tip.work) {
            // The whole branch has no more work than ours: its bodies are not wanted.
            debug!(target: "sync", %peer, "peer's branch is not heavier; dropped");
            let shown = self.cursor.as_ref().map(|c| c.work);
            self.reset_queue();
            self.claim_not_shown(peer, shown);
        } else if let Some(c) = &self.cursor {
            debug!(target: "sync", %peer, height = c.height(), queued = self.order.len(), "headers queued");
        }
    }
}
