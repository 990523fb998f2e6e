//! The sync manager: its state, its loop, and the scheduler that decides what is due
//! after every event.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::BlockId;
use futures::stream::FuturesUnordered;
use futures::{Future, StreamExt};
use libp2p::PeerId;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use crate::chain::{HeaderCursor, TipInfo};
use crate::network::{NetworkError, NetworkEvent, SyncRequest, SyncResponse};
use crate::sync::bodies::{ImportResult, Slot, first_mismatch};
use crate::sync::peers::Peer;
use crate::sync::progress::Progress;
use crate::sync::{SyncChain, SyncConfig, SyncHandle, SyncNetwork, SyncStatus};

/// Penalty that bans at once: invalid data, or a peer of another network.
pub(super) const BAN: u32 = 100;
/// Penalty for a claim of work its headers do not back: two within a minute ban
/// (points halve every minute).
pub(super) const STRIKE: u32 = 50;

pub(super) type Task = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Work that finished: an answer from a peer, or an import.
pub(super) enum Outcome {
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

/// The sync manager's state; the schedulers live in `headers.rs`, `bodies.rs` and
/// `peers.rs`.
pub(super) struct SyncManager<N, C> {
    pub(super) chain: Arc<C>,
    pub(super) net: N,
    pub(super) config: SyncConfig,
    pub(super) peers: HashMap<PeerId, Peer>,
    /// Validated headers waiting for their blocks, lowest first: id and height (the
    /// id kept, not hashed again at every scheduling pass over the window).
    pub(super) order: VecDeque<(BlockId, u64)>,
    pub(super) slots: HashMap<BlockId, Slot>,
    /// The end of the queued header chain (None when nothing is queued).
    pub(super) cursor: Option<HeaderCursor>,
    /// Who sent the queued headers.
    pub(super) header_peer: Option<PeerId>,
    pub(super) headers_inflight: bool,
    /// The last header response was full: there are more.
    pub(super) headers_more: bool,
    pub(super) importing: bool,
    /// Bumped whenever the queue is dropped, so answers and imports for an old queue
    /// are recognised.
    pub(super) generation: u64,
    pub(super) tasks: FuturesUnordered<Task>,
    pub(super) status: watch::Sender<SyncStatus>,
    pub(super) heights: Arc<std::sync::Mutex<HashMap<PeerId, u64>>>,
    pub(super) progress: Progress,
    /// When each peer last failed to back its claimed work with headers: its claim is
    /// not asked for again before `status_interval` has passed, even if it reconnects.
    pub(super) dropped_claims: HashMap<PeerId, Instant>,
    /// Headers requests each peer failed in a row (reset by any answer).
    pub(super) headers_failures: HashMap<PeerId, u32>,
}

impl<N: SyncNetwork, C: SyncChain> SyncManager<N, C> {
    /// A manager with nothing queued, and the handle that watches it.
    pub(super) fn new(chain: Arc<C>, net: N, config: SyncConfig) -> (Self, SyncHandle) {
        let tip = chain.tip();
        let (tx, rx) = watch::channel(SyncStatus {
            height: tip.height,
            target: tip.height,
            syncing: false,
        });
        let heights = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let manager = SyncManager {
            heights: heights.clone(),
            progress: Progress::new(config.progress_interval),
            chain,
            net,
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
        let handle = SyncHandle {
            status: rx,
            heights,
        };
        (manager, handle)
    }

    pub(super) async fn run(mut self, mut events: mpsc::Receiver<NetworkEvent>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.step(&mut events, &mut tick).await {}
        debug!(target: "sync", "sync manager stopped");
    }

    /// Waits for one network event, finished task or tick, handles it and schedules
    /// what is then due. False once the node shuts down or the network stops.
    pub(super) async fn step(
        &mut self,
        events: &mut mpsc::Receiver<NetworkEvent>,
        tick: &mut tokio::time::Interval,
    ) -> bool {
        tokio::select! {
            event = events.recv() => match event {
                Some(e) => self.on_event(e),
                None => return false,
            },
            Some(outcome) = self.tasks.next(), if !self.tasks.is_empty() => {
                self.on_outcome(outcome);
            }
            _ = tick.tick() => {
                if self.chain.is_shutting_down() {
                    return false;
                }
                self.report_progress();
            }
        }
        self.schedule();
        true
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Status(peer, r) => self.on_status(peer, r),
            Outcome::Headers(peer, generation, r) => self.on_headers_outcome(peer, generation, r),
            Outcome::Blocks(peer, ids, r, bad) => self.on_blocks_outcome(peer, ids, r, bad),
            Outcome::Imported(r) => self.on_imported(r),
        }
    }

    pub(super) fn spawn_request(&mut self, peer: PeerId, request: SyncRequest) {
        if matches!(request, SyncRequest::Status | SyncRequest::Headers { .. })
            && let Some(p) = self.peers.get_mut(&peer)
        {
            p.open += 1;
        }
        let net = self.net.clone();
        let task: Task = match request {
            SyncRequest::Status => Box::pin(async move {
                Outcome::Status(peer, net.request(peer, SyncRequest::Status).await)
            }),
            r @ SyncRequest::Headers { .. } => {
                let generation = self.generation;
                Box::pin(
                    async move { Outcome::Headers(peer, generation, net.request(peer, r).await) },
                )
            }
            SyncRequest::Blocks { ids } => Box::pin(async move {
                let r = net
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
            // Compact blocks and mempools are the network's own business.
            SyncRequest::BlockTransfers { .. }
            | SyncRequest::MempoolIds { .. }
            | SyncRequest::Transfers { .. } => return,
        };
        self.tasks.push(task);
    }

    /// Drops the queue (a new branch, an invalid block, a branch not worth fetching).
    pub(super) fn reset_queue(&mut self) {
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

    /// Starts whatever work is due: status requests, the next headers request, body
    /// requests, and the next import.
    pub(super) fn schedule(&mut self) {
        let tip = self.chain.tip();
        // Drop queued blocks that arrived by other means (gossip, another branch).
        while let Some(&(id, _)) = self.order.front() {
            if !self.chain.is_stored(&id) {
                break;
            }
            self.order.pop_front();
            self.slots.remove(&id);
        }
        // The queue is done once its blocks are stored: not while the last of them
        // are still being imported, nor while a headers request that continues it is
        // in flight (its answer starts after the cursor, which we may not store yet:
        // without the cursor it would look like headers that do not connect).
        if self.order.is_empty() && !self.headers_more && !self.importing && !self.headers_inflight
        {
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

        self.request_statuses();
        self.request_headers(&tip);
        self.request_blocks(&tip);
        self.import();
        self.publish_status(&tip);
    }

    fn publish_status(&mut self, tip: &TipInfo) {
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
        // Behind only on headers we checked (PoW and every header rule), never on a
        // peer's claim: a liar cannot stop this node's mining.
        self.chain
            .set_behind(self.cursor.as_ref().is_some_and(|c| c.work > tip.work));
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
