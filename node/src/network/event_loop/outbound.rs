//! One budget for every request this node sends a peer. A node serves one peer at most
//! [`MAX_SERVING_PER_PEER`] requests at once and drops the rest, so sync's requests
//! (from the [`Client`]) and the loop's own (completing compact blocks, mempool sync)
//! share that many places per peer here: a request beyond them waits at this end, in
//! a bounded queue per peer, and goes when an earlier one is answered or fails.
//! Compact-block completions wait ahead of the rest: a block is on its way through
//! the network.
//!
//! Time spent waiting does not count against the request timeout, which starts when a
//! request is sent; a request is never held for longer than the one ahead of it takes
//! to answer or time out.
//!
//! [`Client`]: crate::network::Client

use std::collections::VecDeque;

use libp2p::PeerId;
use tokio::sync::oneshot;

use super::EventLoop;
use super::relay::Fetch;
use crate::network::{
    MAX_SERVING_PER_PEER, NetworkError, RequestFailure, SyncRequest, SyncResponse,
};

/// Most requests waiting for a place at one peer. Sync keeps within
/// [`MAX_SERVING_PER_PEER`] and the relay within a few more, so this is only reached by
/// a bug; beyond it a request fails at once.
const MAX_WAITING_PER_PEER: usize = 32;

/// Who waits for an outbound request's answer.
pub(super) enum Purpose {
    /// A caller of the network client (sync).
    Reply(oneshot::Sender<Result<SyncResponse, NetworkError>>),
    /// The loop itself.
    Fetch(Fetch),
}

/// A request waiting for a place at its peer.
pub(super) struct Waiting {
    request: SyncRequest,
    purpose: Purpose,
}

impl Waiting {
    /// What the loop waits for with it, if it is one of the loop's own.
    pub(super) fn fetch(&self) -> Option<&Fetch> {
        match &self.purpose {
            Purpose::Fetch(f) => Some(f),
            Purpose::Reply(_) => None,
        }
    }
}

impl EventLoop {
    /// Requests sent to `peer` and not yet answered or failed.
    fn open_at(&self, peer: PeerId) -> usize {
        self.pending.values().filter(|(p, _)| *p == peer).count()
            + self.fetches.values().filter(|(p, _)| *p == peer).count()
    }

    /// Sends `request` to `peer` if it has a place, else queues it (`urgent`: ahead of
    /// the requests already waiting).
    pub(super) fn request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        purpose: Purpose,
        urgent: bool,
    ) {
        let queued = self.waiting.get(&peer).map_or(0, VecDeque::len);
        if queued == 0 && self.open_at(peer) < MAX_SERVING_PER_PEER {
            self.send_now(peer, request, purpose);
            return;
        }
        if queued >= MAX_WAITING_PER_PEER {
            self.fail(peer, purpose, "too many requests waiting for this peer");
            return;
        }
        let queue = self.waiting.entry(peer).or_default();
        let item = Waiting { request, purpose };
        if urgent {
            queue.push_front(item);
        } else {
            queue.push_back(item);
        }
    }

    fn send_now(&mut self, peer: PeerId, request: SyncRequest, purpose: Purpose) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        match purpose {
            Purpose::Reply(reply) => {
                self.pending.insert(id, (peer, reply));
            }
            Purpose::Fetch(fetch) => {
                self.fetches.insert(id, (peer, fetch));
            }
        }
    }

    /// A request to `peer` was answered or failed: the requests waiting for it go
    /// while it has places.
    pub(super) fn send_waiting(&mut self, peer: PeerId) {
        while self.open_at(peer) < MAX_SERVING_PER_PEER {
            let Some(next) = self.waiting.get_mut(&peer).and_then(VecDeque::pop_front) else {
                break;
            };
            self.send_now(peer, next.request, next.purpose);
        }
        if self.waiting.get(&peer).is_some_and(VecDeque::is_empty) {
            self.waiting.remove(&peer);
        }
    }

    /// `peer` is gone: the requests waiting for it fail.
    pub(super) fn fail_waiting(&mut self, peer: PeerId) {
        for w in self.waiting.remove(&peer).unwrap_or_default() {
            self.fail(peer, w.purpose, "disconnected");
        }
    }

    fn fail(&mut self, peer: PeerId, purpose: Purpose, why: &str) {
        match purpose {
            Purpose::Reply(reply) => {
                let _ = reply.send(Err(NetworkError::Request {
                    peer,
                    reason: RequestFailure::Unreachable(why.to_owned()),
                }));
            }
            Purpose::Fetch(fetch) => self.on_fetched(peer, fetch, Err(why.to_owned())),
        }
    }
}
