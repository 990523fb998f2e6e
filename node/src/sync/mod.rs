//! Headers-first block download.
//!
//! The sync manager asks every peer for its tip ([`SyncRequest::Status`]). When a peer
//! claims more work than our tip, it fetches that peer's headers after our block
//! locator, checks each one (linkage, PoW, difficulty, timestamps: every header rule)
//! and queues them. Only when the queued header chain has more work than our tip are
//! bodies fetched, in chunks, from every peer that has them, in parallel; they are
//! checked against their headers (id and merkle root) and imported in order on a
//! blocking thread. Peers that send invalid data are banned, peers that stall are
//! banned for a while, and work in flight at a peer that leaves goes to the others.
//!
//! A gossiped block that does not connect triggers a status request to its sender,
//! so a node that missed blocks catches up through headers, not through orphans.

mod progress;

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::{Block, BlockHeader, BlockId};
use futures::stream::FuturesUnordered;
use futures::{Future, StreamExt};
use libp2p::PeerId;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::chain::{ChainError, HeaderCursor, Known};
use crate::network::codec::MAX_HEADERS;
use crate::network::{
    ChainStatus, Client, NetworkError, NetworkEvent, RequestFailure, SyncRequest, SyncResponse,
};
use crate::node::{BlockSource, Node, now_ms};
use crate::sync::progress::Progress;

/// Penalty that bans at once: invalid data, or a peer of another network.
const BAN: u32 = 100;
/// Penalty for a claim of work its headers do not back: two within a minute ban
/// (points halve every minute).
const STRIKE: u32 = 50;
/// Most peers remembered across reconnections as having failed to back a claim.
const MAX_DROPPED_CLAIMS: usize = 4_096;
/// Headers requests in a row a peer may fail (close or reset the stream) before it is
/// disconnected. An overloaded honest node drops requests too, so one is not enough.
const MAX_HEADERS_FAILURES: u32 = 3;

/// Settings of the sync manager.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Most blocks downloaded ahead of the next one to import.
    pub window: usize,
    /// Blocks per body request.
    pub chunk: usize,
    /// Body requests in flight per peer.
    pub per_peer: usize,
    /// Most validated headers queued ahead of their bodies.
    pub max_queue: usize,
    /// How often each peer's tip is asked for.
    pub status_interval: Duration,
    /// How often progress is logged while behind.
    pub progress_interval: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            window: 1_024,
            chunk: 16,
            per_peer: 4,
            max_queue: 50_000,
            status_interval: Duration::from_secs(10),
            progress_interval: Duration::from_secs(5),
        }
    }
}

/// Where sync stands, for the RPC and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Our tip's height.
    pub height: u64,
    /// The highest tip a peer claims (our own height if none is higher).
    pub target: u64,
    /// Blocks are being downloaded.
    pub syncing: bool,
}

#[derive(Debug, Default)]
struct Peer {
    status: Option<ChainStatus>,
    status_at: Option<Instant>,
    asking: bool,
    inflight: usize,
    /// It answered a body request without the blocks: ask others first.
    lacking: bool,
    /// The highest block it gossiped that we could not place (unknown parent): its
    /// next status must show a chain at least that high.
    claimed: Option<u64>,
}

#[derive(Debug)]
enum Slot {
    Wanted,
    InFlight(PeerId),
    Got(Block),
}

type Task = Pin<Box<dyn Future<Output = Outcome> + Send>>;

enum Outcome {
    Status(PeerId, Result<SyncResponse, NetworkError>),
    Headers(PeerId, u64, Result<SyncResponse, NetworkError>),
    /// The answer to a blocks request, and the first block (if any) that does not
    /// match the id asked for or whose transactions do not match its merkle root.
    Blocks(
        PeerId,
        Vec<BlockId>,
        Result<SyncResponse, NetworkError>,
        Option<BlockId>,
    ),
    Imported(ImportResult),
}

struct ImportResult {
    imported: usize,
    failure: Option<(BlockId, ChainError)>,
    /// The queue generation and header peer the blocks came from.
    generation: u64,
    peer: Option<PeerId>,
}

/// A handle on the running sync manager.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    status: watch::Receiver<SyncStatus>,
    heights: Arc<std::sync::Mutex<HashMap<PeerId, u64>>>,
}

impl SyncHandle {
    /// Where sync stands.
    pub fn status(&self) -> SyncStatus {
        *self.status.borrow()
    }

    /// The tip height each peer last reported.
    pub fn peer_heights(&self) -> HashMap<PeerId, u64> {
        self.heights.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

/// Starts the sync manager on the current tokio runtime; it also persists the bans
/// the network reports. Its task ends when the node shuts down or the network stops.
pub fn start(
    node: Arc<Node>,
    client: Client,
    events: mpsc::Receiver<NetworkEvent>,
    config: SyncConfig,
) -> (SyncHandle, tokio::task::JoinHandle<()>) {
    let tip = node.tip();
    let (tx, rx) = watch::channel(SyncStatus {
        height: tip.height,
        target: tip.height,
        syncing: false,
    });
    let heights = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let manager = SyncManager {
        heights: heights.clone(),
        progress: Progress::new(config.progress_interval),
        node,
        client,
        config,
        peers: HashMap::new(),
        order: VecDeque::new(),
        slots: HashMap::new(),
        cursor: None,
        header_peer: None,
        headers_inflight: false,
        headers_more: false,
        importing: false,
        generation: 0,
        tasks: FuturesUnordered::new(),
        status: tx,
        dropped_claims: HashMap::new(),
        headers_failures: HashMap::new(),
    };
    let task = tokio::spawn(manager.run(events));
    (
        SyncHandle {
            status: rx,
            heights,
        },
        task,
    )
}

struct SyncManager {
    node: Arc<Node>,
    client: Client,
    config: SyncConfig,
    peers: HashMap<PeerId, Peer>,
    /// Validated headers waiting for their blocks, lowest first.
    order: VecDeque<BlockHeader>,
    slots: HashMap<BlockId, Slot>,
    /// The end of the queued header chain (None when nothing is queued).
    cursor: Option<HeaderCursor>,
    /// Who sent the queued headers.
    header_peer: Option<PeerId>,
    headers_inflight: bool,
    /// The last header response was full: there are more.
    headers_more: bool,
    importing: bool,
    /// Bumped whenever the queue is dropped, so answers and imports for an old queue
    /// are recognised.
    generation: u64,
    tasks: FuturesUnordered<Task>,
    status: watch::Sender<SyncStatus>,
    heights: Arc<std::sync::Mutex<HashMap<PeerId, u64>>>,
    progress: Progress,
    /// When each peer last failed to back its claimed work with headers: its claim is
    /// not asked for again before `status_interval` has passed, even if it reconnects.
    dropped_claims: HashMap<PeerId, Instant>,
    /// Headers requests each peer failed in a row (reset by any answer).
    headers_failures: HashMap<PeerId, u32>,
}

impl SyncManager {
    async fn run(mut self, mut events: mpsc::Receiver<NetworkEvent>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => self.on_event(e),
                    None => break,
                },
                Some(outcome) = self.tasks.next(), if !self.tasks.is_empty() => {
                    self.on_outcome(outcome);
                }
                _ = tick.tick() => {
                    if self.node.is_shutting_down() {
                        break;
                    }
                    self.report_progress();
                }
            }
            self.schedule();
        }
        debug!(target: "sync", "sync manager stopped");
    }

    fn on_event(&mut self, event: NetworkEvent) {
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
                let tip = self.node.tip().height;
                if let Some(p) = self.peers.get_mut(&peer)
                    && header.height > tip
                {
                    p.claimed = p.claimed.max(Some(header.height));
                    if !p.asking
                        && p.status_at
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    {
                        p.status_at = None;
                    }
                }
            }
            NetworkEvent::Banned {
                peer,
                until_ms,
                reason,
            } => {
                self.forget(&peer);
                // A RocksDB write: off the async runtime.
                let bans = self.node.bans().clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = bans.save(&peer.to_bytes(), until_ms) {
                        warn!(target: "sync", %peer, "cannot persist the ban ({reason}): {e}");
                    }
                });
            }
        }
    }

    fn forget(&mut self, peer: &PeerId) {
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

    fn spawn_request(&mut self, peer: PeerId, request: SyncRequest) {
        let client = self.client.clone();
        let task: Task = match request {
            SyncRequest::Status => Box::pin(async move {
                Outcome::Status(peer, client.request(peer, SyncRequest::Status).await)
            }),
            r @ SyncRequest::Headers { .. } => {
                let generation = self.generation;
                Box::pin(async move {
                    Outcome::Headers(peer, generation, client.request(peer, r).await)
                })
            }
            SyncRequest::Blocks { ids } => Box::pin(async move {
                let r = client
                    .request(peer, SyncRequest::Blocks { ids: ids.clone() })
                    .await;
                // Hashing megabytes of transactions runs off the runtime.
                let (r, bad) = match r {
                    Ok(SyncResponse::Blocks(blocks)) => {
                        let asked = ids.clone();
                        tokio::task::spawn_blocking(move || {
                            let bad = first_mismatch(&blocks, &asked);
                            (Ok(SyncResponse::Blocks(blocks)), bad)
                        })
                        .await
                        .unwrap_or((Err(NetworkError::Stopped), None))
                    }
                    other => (other, None),
                };
                Outcome::Blocks(peer, ids, r, bad)
            }),
        };
        self.tasks.push(task);
    }

    fn penalize(&self, peer: PeerId, points: u32, reason: String) {
        let client = self.client.clone();
        tokio::spawn(async move { client.penalize(peer, points, reason).await });
    }

    /// A failed request: a bad response costs the peer; a stall gets it disconnected
    /// (its requests go to others) but is not held against it: a slow or lossy link
    /// looks the same as a stalling peer, and two stalls used to ban an honest peer for
    /// a day (as Bitcoin Core, stalling peers are dropped, not banned). The rest costs
    /// nothing.
    fn on_failure(&mut self, peer: PeerId, what: &str, e: &NetworkError) {
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
    fn headers_failed(&mut self, peer: PeerId, why: &str) {
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

    fn disconnect(&self, peer: PeerId, reason: String) {
        let client = self.client.clone();
        tokio::spawn(async move { client.disconnect(peer, reason).await });
    }

    /// Forgets the work `peer` claims (so the next headers request goes to someone
    /// else) and does not ask for its tip again before `status_interval`, even if it
    /// reconnects.
    fn drop_claim(&mut self, peer: PeerId) {
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
    fn claim_not_shown(&mut self, peer: PeerId, shown: Option<cairn_core::Work>) {
        let tip = self.node.tip().work;
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

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Status(peer, r) => self.on_status(peer, r),
            Outcome::Headers(peer, generation, r) => {
                self.headers_inflight = false;
                match r {
                    // Asked for a queue since dropped: the answer proves nothing.
                    Ok(SyncResponse::Headers(_)) if generation != self.generation => {}
                    Ok(SyncResponse::Headers(h)) => self.on_headers(peer, h),
                    Ok(_) => self.penalize(peer, BAN, "wrong response to a headers request".into()),
                    Err(e) => {
                        // Whatever went wrong, the claim it made goes: a peer that
                        // claims the most work and drops every headers request must
                        // not hold the header slot. One that keeps dropping them is
                        // disconnected (a busy honest node drops one now and then).
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
            Outcome::Blocks(peer, ids, r, bad) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.inflight = p.inflight.saturating_sub(1);
                }
                if let Some(id) = bad {
                    self.release(&ids, peer);
                    return self.penalize(
                        peer,
                        BAN,
                        format!("block {id} does not match its header"),
                    );
                }
                match r {
                    Ok(SyncResponse::Blocks(blocks)) => self.on_blocks(peer, &ids, blocks),
                    other => {
                        self.release(&ids, peer);
                        match other {
                            Err(e) => {
                                // Ask others first for what it did not deliver.
                                if let Some(p) = self.peers.get_mut(&peer) {
                                    p.lacking = true;
                                }
                                self.on_failure(peer, "blocks", &e);
                            }
                            Ok(_) => self.penalize(
                                peer,
                                BAN,
                                "wrong response to a blocks request".into(),
                            ),
                        }
                    }
                }
            }
            Outcome::Imported(r) => self.on_imported(r),
        }
    }

    fn on_status(&mut self, peer: PeerId, r: Result<SyncResponse, NetworkError>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.asking = false;
        p.status_at = Some(Instant::now());
        match r {
            Ok(SyncResponse::Status(s)) if s.network == self.node.params().network_id() => {
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

    fn reset_queue(&mut self) {
        self.generation += 1;
        // Who lacked blocks of the old queue says nothing about the next one.
        for p in self.peers.values_mut() {
            p.lacking = false;
        }
        self.order.clear();
        self.slots.clear();
        self.cursor = None;
        self.header_peer = None;
        self.headers_more = false;
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
        let params = self.node.params().clone();
        let now = now_ms();
        // Continue the queued chain, or start afresh from a block we store.
        let continues = self.cursor.as_ref().is_some_and(|c| c.id == first.prev);
        if !continues {
            let (cursor, skip) = self.node.with_chain(|chain| {
                // Skip what we already have; start after the last stored header.
                let skip = headers
                    .iter()
                    .take_while(|h| matches!(chain.known(&h.id()), Known::Stored { .. }))
                    .count();
                let parent = if skip == 0 {
                    first.prev
                } else {
                    headers[skip - 1].id()
                };
                (chain.header_cursor(&parent, now), skip)
            });
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
                    if matches!(
                        e,
                        crate::chain::HeaderError::Invalid {
                            reason: cairn_core::RejectReason::TimestampTooFarInFuture { .. },
                            ..
                        }
                    ) {
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
        params: &cairn_core::ChainParams,
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
                early = matches!(
                    e,
                    crate::chain::HeaderError::Invalid {
                        reason: cairn_core::RejectReason::TimestampTooFarInFuture { .. },
                        ..
                    }
                );
                invalid = Some(e);
                break;
            }
            let id = h.id();
            self.order.push_back(*h);
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
        let tip = self.node.tip();
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

    fn release(&mut self, ids: &[BlockId], peer: PeerId) {
        for id in ids {
            if let Some(slot) = self.slots.get_mut(id)
                && matches!(slot, Slot::InFlight(p) if *p == peer)
            {
                *slot = Slot::Wanted;
            }
        }
    }

    fn on_blocks(&mut self, peer: PeerId, ids: &[BlockId], blocks: Vec<Block>) {
        if blocks.len() > ids.len() {
            self.release(ids, peer);
            return self.penalize(peer, BAN, "more blocks than asked".into());
        }
        let got = blocks.len();
        // Already checked against the ids and merkle roots (`first_mismatch`).
        for (block, id) in blocks.into_iter().zip(ids) {
            if let Some(slot) = self.slots.get_mut(id)
                && !matches!(slot, Slot::Got(_))
            {
                *slot = Slot::Got(block);
            }
        }
        if got < ids.len() {
            self.release(&ids[got..], peer);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.lacking = true;
            }
        }
    }

    fn on_imported(&mut self, r: ImportResult) {
        self.importing = false;
        self.progress.imported(r.imported);
        let current = r.generation == self.generation;
        if let Some((id, e)) = r.failure {
            match &e {
                ChainError::Store(_) => warn!(target: "sync", "import stopped: {e}"),
                ChainError::Rejected {
                    reason: cairn_core::RejectReason::TimestampTooFarInFuture { .. },
                    ..
                } => debug!(target: "sync", %id, "block from the future; will retry"),
                _ => {
                    warn!(target: "sync", %id, "synced block is invalid: {e}");
                    if let Some(peer) = r.peer {
                        self.penalize(peer, BAN, format!("served an invalid chain: {e}"));
                    }
                }
            }
            if current {
                self.reset_queue();
            }
        }
    }

    /// Starts whatever work is due: status requests, the next headers request, body
    /// requests, and the next import.
    fn schedule(&mut self) {
        let tip = self.node.tip();
        // Drop queued blocks that arrived by other means (gossip, another branch).
        while let Some(h) = self.order.front() {
            let id = h.id();
            let stored = self
                .node
                .with_chain(|c| matches!(c.known(&id), Known::Stored { .. }));
            if !stored {
                break;
            }
            self.order.pop_front();
            self.slots.remove(&id);
        }
        if self.order.is_empty() && !self.headers_more {
            self.cursor = None;
        }
        // A queue that is not heavier than our tip and can grow no more (its header
        // peer has nothing more, has left, or the queue is full) will never be
        // downloaded: drop it so other peers get their turn.
        if let Some(c) = &self.cursor
            && c.work <= tip.work
            && !self.headers_inflight
            && (!self.headers_more || self.order.len() >= self.config.max_queue)
        {
            if let Some(peer) = self.header_peer
                && self.order.len() >= self.config.max_queue
            {
                self.penalize(peer, STRIKE, "a long branch without more work".into());
            }
            self.reset_queue();
        }

        // Tips of peers not heard from lately.
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                !p.asking
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

        self.request_headers(&tip);
        self.request_blocks(&tip);
        self.import();
        self.publish_status(&tip);
    }

    fn request_headers(&mut self, tip: &crate::chain::TipInfo) {
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
        let Some(peer) = peer else {
            return;
        };
        let mut locator = self.node.view().locator.clone();
        if let Some(c) = &self.cursor {
            locator.insert(0, c.id);
            locator.truncate(crate::network::codec::MAX_LOCATOR);
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

    fn request_blocks(&mut self, tip: &crate::chain::TipInfo) {
        // Bodies only for a header chain with more work than ours.
        if self.cursor.as_ref().is_none_or(|c| c.work <= tip.work) {
            return;
        }
        let mut runs: Vec<Vec<BlockId>> = Vec::new();
        let mut run = Vec::new();
        for h in self.order.iter().take(self.config.window) {
            let id = h.id();
            if matches!(self.slots.get(&id), Some(Slot::Wanted)) {
                run.push(id);
                if run.len() == self.config.chunk {
                    runs.push(std::mem::take(&mut run));
                }
            } else if !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        let heights: HashMap<BlockId, u64> = self
            .order
            .iter()
            .take(self.config.window)
            .map(|h| (h.id(), h.height))
            .collect();
        let mut busy: HashSet<PeerId> = HashSet::new();
        for ids in runs {
            let last_height = ids
                .last()
                .and_then(|id| heights.get(id))
                .copied()
                .unwrap_or(0);
            let Some(peer) = self.pick_body_peer(last_height, &busy) else {
                break;
            };
            for id in &ids {
                self.slots.insert(*id, Slot::InFlight(peer));
            }
            if let Some(p) = self.peers.get_mut(&peer) {
                p.inflight += 1;
                if p.inflight >= self.config.per_peer {
                    busy.insert(peer);
                }
            }
            self.spawn_request(peer, SyncRequest::Blocks { ids });
        }
    }

    /// The least-loaded peer that claims the height, preferring those that have not
    /// come back empty-handed.
    fn pick_body_peer(&self, height: u64, busy: &HashSet<PeerId>) -> Option<PeerId> {
        self.peers
            .iter()
            .filter(|(id, p)| {
                !busy.contains(id)
                    && p.inflight < self.config.per_peer
                    && p.status.is_some_and(|s| s.height >= height)
            })
            .min_by_key(|(id, p)| (p.lacking && Some(**id) != self.header_peer, p.inflight))
            .map(|(id, _)| *id)
    }

    fn import(&mut self) {
        if self.importing {
            return;
        }
        let mut batch = Vec::new();
        while let Some(h) = self.order.front() {
            let id = h.id();
            if !matches!(self.slots.get(&id), Some(Slot::Got(_))) || batch.len() >= 64 {
                break;
            }
            self.order.pop_front();
            if let Some(Slot::Got(block)) = self.slots.remove(&id) {
                batch.push(block);
            }
        }
        if batch.is_empty() {
            return;
        }
        self.importing = true;
        let node = self.node.clone();
        let (generation, peer) = (self.generation, self.header_peer);
        let source = BlockSource::Peer(peer.map_or_else(|| "sync".to_string(), |p| p.to_string()));
        self.tasks.push(Box::pin(async move {
            let r = tokio::task::spawn_blocking(move || import_blocks(&node, batch, &source)).await;
            let (imported, failure) = r.unwrap_or((0, None));
            Outcome::Imported(ImportResult {
                imported,
                failure,
                generation,
                peer,
            })
        }));
    }

    fn publish_status(&mut self, tip: &crate::chain::TipInfo) {
        let target = self
            .peers
            .values()
            .filter_map(|p| p.status.map(|s| s.height))
            .max()
            .unwrap_or(0)
            .max(tip.height);
        let status = SyncStatus {
            height: tip.height,
            target,
            syncing: !self.order.is_empty() || self.headers_inflight && target > tip.height,
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn report_progress(&mut self) {
        let s = *self.status.borrow();
        if let Some(line) = self.progress.line(s.height, s.target) {
            info!(target: "sync", "{line}");
        }
    }
}

/// The first asked id whose block is not the one asked for (the id covers the
/// header) or whose transactions do not hash to its merkle root.
fn first_mismatch(blocks: &[Block], asked: &[BlockId]) -> Option<BlockId> {
    blocks
        .iter()
        .zip(asked)
        .find(|(b, id)| b.id() != **id || b.compute_tx_root() != b.header.tx_root)
        .map(|(_, id)| *id)
}

/// Imports `blocks` in order; stops at the first failure.
fn import_blocks(
    node: &Node,
    blocks: Vec<Block>,
    source: &BlockSource,
) -> (usize, Option<(BlockId, ChainError)>) {
    let mut imported = 0;
    for block in blocks {
        let id = block.id();
        match node.submit_block(block, source.clone()) {
            Ok(_) => imported += 1,
            Err(e) => return (imported, Some((id, e))),
        }
    }
    (imported, None)
}
