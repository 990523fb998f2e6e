//! Headers-first block download.
//!
//! The sync manager asks every peer for its tip ([`SyncRequest::Status`]). When a peer
//! claims more work than our tip, it fetches that peer's headers after our block
//! locator, checks each one (linkage, PoW, difficulty, timestamps: every header rule)
//! and queues them. Only when the queued header chain has more work than our tip are
//! bodies fetched, in chunks, from every peer that has them, in parallel; they are
//! checked against their headers (id and merkle root) and imported in order on a
//! blocking thread. Peers that send invalid data are banned, peers that stall are
//! disconnected, and work in flight at a peer that leaves goes to the others.
//!
//! A gossiped block that does not connect triggers a status request to its sender,
//! so a node that missed blocks catches up through headers, not through orphans.
//!
//! Layout: `manager.rs` runs the loop and decides what is due; `peers.rs` keeps what
//! each peer claims and how it is treated; `headers.rs` and `bodies.rs` schedule the
//! two kinds of download. The manager reaches the network only through [`SyncNetwork`]
//! (`network.rs`) and the chain only through [`SyncChain`] (`chain.rs`), each
//! implemented once for the real thing, so the schedulers are tested against a
//! scripted network (`tests.rs`).
//!
//! [`SyncRequest::Status`]: crate::network::SyncRequest::Status

mod bodies;
mod chain;
mod headers;
mod manager;
mod network;
mod peers;
mod progress;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::{mpsc, watch};

pub use self::chain::SyncChain;
pub use self::network::SyncNetwork;
use crate::network::{Client, NetworkEvent};
use crate::node::Node;
use crate::sync::manager::SyncManager;

/// Settings of the sync manager.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Most blocks downloaded ahead of the next one to import.
    pub window: usize,
    /// Blocks per body request.
    pub chunk: usize,
    /// Requests of any kind in flight per peer (bodies keep one place free for a
    /// headers or status request): what a node serves a peer at once.
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
            per_peer: crate::network::MAX_SERVING_PER_PEER,
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

/// Starts the sync manager on the current tokio runtime. Its task ends when the node
/// shuts down or the network stops.
pub fn start(
    node: Arc<Node>,
    client: Client,
    events: mpsc::Receiver<NetworkEvent>,
    config: SyncConfig,
) -> (SyncHandle, tokio::task::JoinHandle<()>) {
    let (manager, handle) = SyncManager::new(node, client, config);
    let task = tokio::spawn(manager.run(events));
    (handle, task)
}
