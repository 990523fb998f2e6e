//! What each peer claims and how it is treated: status requests, claims of work its
//! headers must back, penalties and disconnections.

use std::time::{Duration, Instant};

use libp2p::PeerId;
use tracing::debug;

use crate::network::{
    ChainStatus, NetworkError, NetworkEvent, RequestFailure, SyncRequest, SyncResponse,
};
use crate::sync::bodies::Slot;
use crate::sync::manager::{BAN, STRIKE, SyncManager};
use crate::sync::{SyncChain, SyncNetwork};

/// Most peers remembered across reconnections as having failed to back a claim.
pub(super) const MAX_DROPPED_CLAIMS: usize = 4_096;
/// Headers requests in a row a peer may fail (close or reset the stream) before it is
/// disconnected. An overloaded honest node drops requests too, so one is not enough.
pub(super) const MAX_HEADERS_FAILURES: u32 = 3;

/// A connected peer, as sync sees it.
#[derive(Debug, Default)]
pub(super) struct Peer {
    pub(super) status: Option<ChainStatus>,
    pub(super) status_at: Option<Instant>,
    pub(super) asking: bool,
    /// Body requests in flight.
    pub(super) inflight: usize,
    /// Status and headers requests in flight.
    pub(super) open: usize,
    /// It answered a body request without the blocks: ask others first.
    pub(super) lacking: bool,
    /// The highest block it gossiped that we could not place (unknown parent): its
    /// next status must show a chain at least that high.
    pub(super) claimed: Option<u64>,
    /// Such a block that arrived while a status request was in flight: that answer
    /// may predate the block, so the status after it judges this claim.
    pub(super) late_claim: Option<u64>,
}

impl Peer {
    /// Whether one more request of any kind fits in what the peer serves at once.
    pub(super) fn has_room(&self, per_peer: usize) -> bool {
        self.inflight + self.open < per_peer
    }

    /// Whether one more body request fits, keeping a place for a headers or status
    /// request unless one is already open: a busy node drops requests beyond its
    /// limit, and a dropped headers request costs the peer its claim (and sync ten
    /// seconds until its next status).
    pub(super) fn has_body_room(&self, per_peer: usize) -> bool {
        let reserve = usize::from(self.open == 0 && per_peer > 1);
        self.inflight + self.open + reserve < per_peer
    }
}

impl<N: SyncNetwork, C: SyncChain> SyncManager<N, C> {
    pub(super) fn on_event(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::PeerConnected { peer, .. } => {
                // A peer that just failed to back its claim does not get a fresh one
                // heard (and the header slot back) by reconnecting.
                let status_at = self
                    .dropped_claims
                    .get(&peer)
                    .copied()
                    .filter(|t| t.elapsed() < self.config.status_interval);
                self.peers.insert(
                    peer,
                    Peer {
                        status_at,
                        ..Peer::default()
                    },
                );
            }
            NetworkEvent::PeerDisconnected { peer } => self.forget(&peer),
            NetworkEvent::UnconnectedBlock { peer, header } => {
                // It claims a block we cannot place: ask for its tip now.
                let tip = self.chain.tip().height;
                if let Some(p) = self.peers.get_mut(&peer)
                    && header.height > tip
                {
                    if p.asking {
                        p.late_claim = p.late_claim.max(Some(header.height));
                    } else {
                        p.claimed = p.claimed.max(Some(header.height));
                    }
                    if !p.asking
                        && p.status_at
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    {
                        p.status_at = None;
                    }
                }
            }
            // The network persisted the ban (through its `PeerStore`).
            NetworkEvent::Banned { peer, .. } => self.forget(&peer),
        }
    }

    /// A peer left: what was in flight at it is wanted again.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
        if let Ok(mut h) = self.heights.lock() {
            h.remove(peer);
        }
        for slot in self.slots.values_mut() {
            if matches!(slot, Slot::InFlight(p) if p == peer) {
                *slot = Slot::Wanted;
            }
        }
        if self.header_peer == Some(*peer) {
            self.headers_more = false;
        }
    }

    /// Asks for the tips of peers not heard from lately.
    pub(super) fn request_statuses(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                !p.asking
                    && p.has_room(self.config.per_peer)
                    && p.status_at
                        .is_none_or(|t| now.duration_since(t) >= self.config.status_interval)
            })
            .map(|(id, _)| *id)
            .collect();
        for peer in due {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.asking = true;
            }
            self.spawn_request(peer, SyncRequest::Status);
        }
    }

    pub(super) fn on_status(&mut self, peer: PeerId, r: Result<SyncResponse, NetworkError>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.asking = false;
        p.open = p.open.saturating_sub(1);
        p.status_at = Some(Instant::now());
        match r {
            Ok(SyncResponse::Status(s)) if s.network == self.chain.params().network_id() => {
                // A peer forwards only blocks that became its tip, so its chain holds
                // every block it gossiped: one it cannot back up was made up (an
                // unknown-parent flood costs a node a sync round each).
                if let Some(claimed) = p.claimed.take()
                    && s.height < claimed
                {
                    self.penalize(
                        peer,
                        STRIKE,
                        format!(
                            "gossiped a block at height {claimed} above its chain ({})",
                            s.height
                        ),
                    );
                }
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                p.status = Some(s);
                // A block gossiped while this answer was on its way is judged by a
                // status asked for now.
                if let Some(late) = p.late_claim.take() {
                    p.claimed = Some(late);
                    p.status_at = None;
                }
                if let Ok(mut h) = self.heights.lock() {
                    h.insert(peer, s.height);
                }
            }
            Ok(SyncResponse::Status(_)) => {
                self.penalize(peer, BAN, "peer of another network".into());
            }
            Ok(_) => self.penalize(peer, BAN, "wrong response to a status request".into()),
            Err(e) => self.on_failure(peer, "status", &e),
        }
    }

    pub(super) fn penalize(&self, peer: PeerId, points: u32, reason: String) {
        self.net.penalize(peer, points, reason);
    }

    pub(super) fn disconnect(&self, peer: PeerId, reason: String) {
        self.net.disconnect(peer, reason);
    }

    /// A failed request: a bad response costs the peer; a stall gets it disconnected
    /// (its requests go to others) but is not held against it: a slow or lossy link
    /// looks the same as a stalling peer, and two stalls used to ban an honest peer for
    /// a day (as Bitcoin Core, stalling peers are dropped, not banned). The rest costs
    /// nothing.
    pub(super) fn on_failure(&mut self, peer: PeerId, what: &str, e: &NetworkError) {
        match e {
            NetworkError::Request {
                reason: RequestFailure::Timeout,
                ..
            } => self.disconnect(peer, format!("stalled on {what}")),
            NetworkError::Request {
                reason: RequestFailure::BadResponse(r),
                ..
            } => self.penalize(peer, BAN, format!("bad {what} response: {r}")),
            _ => debug!(target: "sync", %peer, "{what} request failed: {e}"),
        }
    }

    /// Counts a headers request `peer` failed; the MAX_HEADERS_FAILURES-th in a row
    /// gets it disconnected.
    pub(super) fn headers_failed(&mut self, peer: PeerId, why: &str) {
        if self.headers_failures.len() >= MAX_DROPPED_CLAIMS {
            self.headers_failures.clear();
        }
        let n = self.headers_failures.entry(peer).or_insert(0);
        *n += 1;
        if *n >= MAX_HEADERS_FAILURES {
            self.headers_failures.remove(&peer);
            self.disconnect(
                peer,
                format!("failed {MAX_HEADERS_FAILURES} headers requests in a row: {why}"),
            );
        }
    }

    /// Forgets the work `peer` claims (so the next headers request goes to someone
    /// else) and does not ask for its tip again before `status_interval`, even if it
    /// reconnects.
    pub(super) fn drop_claim(&mut self, peer: PeerId) {
        let now = Instant::now();
        if let Some(p) = self.peers.get_mut(&peer) {
            p.status_at = Some(now);
            p.status = None;
        }
        if self.dropped_claims.len() >= MAX_DROPPED_CLAIMS {
            let interval = self.config.status_interval;
            self.dropped_claims.retain(|_, t| t.elapsed() < interval);
        }
        if self.dropped_claims.len() < MAX_DROPPED_CLAIMS {
            self.dropped_claims.insert(peer, now);
        }
    }

    /// A headers answer showed no chain heavier than ours: an empty answer, headers we
    /// all store, or a branch that is not heavier. That is a normal race when the
    /// peer's tip reached us by gossip while the request was in flight: a claim no
    /// higher than our tip or what its headers showed (`shown`) costs nothing and is
    /// kept (it can no longer win the header slot, and its height still serves body
    /// requests). A claim above both is a lie: it goes, with a strike.
    pub(super) fn claim_not_shown(&mut self, peer: PeerId, shown: Option<cairn_core::Work>) {
        let tip = self.chain.tip().work;
        let shown = shown.map_or(tip, |w| w.max(tip));
        let claimed = self.peers.get(&peer).and_then(|p| p.status).map(|s| s.work);
        if claimed.is_some_and(|c| c > shown) {
            self.drop_claim(peer);
            self.penalize(
                peer,
                STRIKE,
                "claimed more work than its headers show".into(),
            );
        }
    }
}
