//! The peer-to-peer network: libp2p over TCP + noise + yamux, gossipsub for blocks and
//! transfers, a request-response protocol for sync, identify, ping, Kademlia (with
//! bootnodes) and optional mDNS.
//!
//! Shape (after rust-libp2p's `file-sharing` example): an [`EventLoop`] task owns the
//! `Swarm`; the rest of the node holds a cloneable [`Client`] that sends commands over
//! a bounded channel, and reads [`NetworkEvent`]s from another bounded channel. The
//! network never sees the chain manager: gossip is validated and sync requests are
//! served through the [`ChainAccess`] trait, on blocking threads.

mod behaviour;
pub mod codec;
mod event_loop;
pub mod netgroup;
mod peers;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_core::compact::{CompactBlock, PartialBlock};
use cairn_core::{Block, BlockHeader, BlockId, ChainParams, Transfer, TxId};
use libp2p::{Multiaddr, PeerId, identity};
use tokio::sync::{mpsc, oneshot};

use crate::config::P2pSettings;
pub use crate::network::codec::{ChainStatus, SyncRequest, SyncResponse};

/// Most sync requests a node serves one peer at once; beyond this it drops them
/// (the peer sees a failed request). A node has no more than this many requests open at
/// one peer: the network loop holds every request, sync's and its own, to it.
pub const MAX_SERVING_PER_PEER: usize = 4;
pub use crate::network::event_loop::EventLoop;

/// Capacity of the command channel (client → event loop).
const COMMAND_CAPACITY: usize = 1_024;
/// Capacity of the event channel (event loop → node).
const EVENT_CAPACITY: usize = 1_024;

/// Why the network could not start or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The node key file cannot be read or written.
    #[error("node key {path}: {reason}")]
    NodeKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A listen address or transport could not be set up.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// What went wrong.
        reason: String,
    },
    /// The transport or behaviour could not be built.
    #[error("cannot build the network stack: {0}")]
    Build(String),
    /// The event loop has stopped.
    #[error("the network has stopped")]
    Stopped,
    /// The peer did not answer a request.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Timeout, connection closed, bad response, …
        reason: RequestFailure,
    },
}

/// How an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFailure {
    /// No answer in time: the peer stalls.
    Timeout,
    /// The answer could not be decoded or broke the protocol's limits.
    BadResponse(String),
    /// The connection closed or could not be made.
    Unreachable(String),
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestFailure::Timeout => f.write_str("timed out"),
            RequestFailure::BadResponse(e) => write!(f, "bad response: {e}"),
            RequestFailure::Unreachable(e) => write!(f, "unreachable: {e}"),
        }
    }
}

/// What the chain side says about a gossiped block or transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Known, stale or not valid right now through no fault of the sender: drop it.
    Ignore,
    /// Invalid: drop it and penalise the sender.
    Reject(String),
    /// A block whose parent is unknown: drop it and sync headers from the sender.
    Unconnected,
}

/// What the chain side makes of a compact block.
#[derive(Debug)]
pub enum CompactOutcome {
    /// Judged on its header alone (known, unconnected, invalid proof of work, …).
    Judged(Verdict),
    /// Rebuilt from the mempool with no round trip, and validated.
    Rebuilt {
        /// The block's verdict.
        verdict: Verdict,
        /// The rebuilt block's encoded size.
        block_bytes: usize,
    },
    /// Worth completing: these positions are missing.
    Missing(Box<PartialBlock>),
    /// Worth having, but not rebuildable here (too much missing, or a short-id
    /// collision): fetch the whole block.
    Fetch,
}

/// What the network needs from the chain: gossip validation and sync data. Every
/// method may block (locks, disk, signature checks) and is called on a blocking
/// thread, never on the async executor.
pub trait ChainAccess: Send + Sync + 'static {
    /// Validates (and on success imports) a gossiped block.
    fn on_block(&self, block: Block, from: PeerId) -> Verdict;
    /// Validates (and on success admits) a gossiped transfer.
    fn on_transfer(&self, tx: Transfer, from: PeerId) -> Verdict;
    /// This node's tip.
    fn status(&self) -> ChainStatus;
    /// Main-chain headers after the first locator entry on our main chain, at most
    /// `max`.
    fn headers_after(&self, locator: &[cairn_core::BlockId], max: usize) -> Vec<BlockHeader>;
    /// The longest prefix of `ids` whose blocks we store, within about `max_bytes`.
    fn blocks(&self, ids: &[cairn_core::BlockId], max_bytes: usize) -> Vec<Block>;
    /// Judges a gossiped compact block, rebuilding it from the mempool; a block
    /// rebuilt whole is validated (and imported) as [`on_block`](Self::on_block)
    /// does.
    fn on_compact(&self, compact: &CompactBlock, from: PeerId) -> CompactOutcome;
    /// The transfers at `indexes` of a stored block: all of them, or none (unknown
    /// block, a position out of range or holding the coinbase).
    fn block_transfers(&self, block: &BlockId, indexes: &[u32]) -> Vec<Transfer>;
    /// Ids of pending transfers, best fee first, at most `max`.
    fn pending_ids(&self, max: usize) -> Vec<TxId>;
    /// The pending transfers among `ids`, in that order.
    fn pending_transfers(&self, ids: &[TxId]) -> Vec<Transfer>;
    /// Those of `ids` the mempool does not hold.
    fn unknown_transfers(&self, ids: &[TxId]) -> Vec<TxId>;
}

/// Where the network keeps what must outlive a restart about its peers: their bans.
/// Handed to [`start`] as the chain is through [`ChainAccess`]. Both calls block on
/// disk: the network calls `load_bans` once before its loop starts and `save_ban` on
/// tokio's blocking pool, never on the runtime.
pub trait PeerStore: Send + Sync + 'static {
    /// The bans that have not expired at `now_ms`: peer and expiry (ms since the epoch).
    fn load_bans(&self, now_ms: u64) -> Vec<(PeerId, u64)>;
    /// Records that `peer` is banned until `until_ms`.
    fn save_ban(&self, peer: &PeerId, until_ms: u64) -> Result<(), String>;
}

/// Settings of the network.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to at start (and to reconnect to when alone).
    pub bootnodes: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Where the node key is kept (created on first start).
    pub key_path: PathBuf,
    /// Most inbound connections.
    pub max_inbound: u32,
    /// Most inbound connections from one IP address (loopback, bootnodes and
    /// `net_connect` peers are exempt).
    pub max_inbound_per_ip: u32,
    /// Most inbound connections from one /24 (IPv4) or /48 (IPv6).
    pub max_inbound_per_subnet: u32,
    /// Outbound connections the node tries to keep.
    pub target_outbound: u32,
    /// How long a misbehaving peer stays banned.
    pub ban_duration: Duration,
    /// How long an outbound request may take.
    pub request_timeout: Duration,
    /// How often the node looks for more peers while below `target_outbound`.
    pub discovery_interval: Duration,
    /// Announce blocks as compact blocks (otherwise whole).
    pub compact_blocks: bool,
}

impl NetworkConfig {
    /// Defaults (those of `[p2p]` in `cairn.toml`) for a node whose key lives in
    /// `datadir`.
    pub fn new(datadir: &Path) -> NetworkConfig {
        NetworkConfig::from_settings(&P2pSettings::default(), datadir)
    }

    /// The settings of `[p2p]`, for a node whose key lives in `datadir`.
    pub fn from_settings(p2p: &P2pSettings, datadir: &Path) -> NetworkConfig {
        NetworkConfig {
            listen: p2p.listen.clone(),
            bootnodes: p2p.bootnodes.clone(),
            mdns: p2p.mdns,
            key_path: datadir.join("node_key"),
            max_inbound: p2p.max_inbound,
            max_inbound_per_ip: p2p.max_inbound_per_ip,
            max_inbound_per_subnet: p2p.max_inbound_per_subnet,
            target_outbound: p2p.outbound,
            ban_duration: Duration::from_secs(p2p.ban_seconds),
            request_timeout: Duration::from_secs(20),
            discovery_interval: Duration::from_secs(10),
            compact_blocks: p2p.compact_blocks,
        }
    }
}

/// A connected peer, as the event loop sees it.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its id.
    pub peer: PeerId,
    /// The address of the connection.
    pub address: Multiaddr,
    /// Whether it dialled us.
    pub inbound: bool,
    /// Its gossipsub score.
    pub gossip_score: f64,
    /// Our misbehaviour points against it (banned at 100).
    pub penalty: u32,
    /// What it runs (identify's agent version), once known.
    pub agent: Option<String>,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Gossip messages received (before validation).
    pub gossip_in: u64,
    /// Gossip messages rejected as invalid.
    pub gossip_rejected: u64,
    /// Gossip messages this node published.
    pub gossip_published: u64,
    /// Sync requests answered.
    pub requests_served: u64,
    /// Sync requests dropped because this node was already serving that peer, or
    /// every peer, as many as it serves at once.
    pub requests_dropped: u64,
    /// Blocks sent in answers to sync requests.
    pub blocks_served: u64,
    /// Penalties given to peers (each strike, including those that ban).
    pub penalties: u64,
    /// Peers banned.
    pub bans: u64,
    /// Inbound connections refused by the per-address limits.
    pub inbound_refused: u64,
    /// Compact blocks received (before validation).
    pub compact_in: u64,
    /// Compact blocks rebuilt from the mempool with no round trip.
    pub compact_rebuilt: u64,
    /// Compact blocks completed by asking their sender for missing transfers.
    pub compact_completed: u64,
    /// Compact blocks for which the whole block was fetched.
    pub compact_fetched: u64,
    /// Bytes of the compact blocks received.
    pub compact_bytes: u64,
    /// Bytes of the blocks they stood for (those rebuilt or fetched).
    pub compact_block_bytes: u64,
    /// Pending transfers admitted from peers' mempools when they connected.
    pub mempool_synced: u64,
}

/// What the network reports to the node.
#[derive(Debug, Clone)]
pub enum NetworkEvent {
    /// A peer connected (its first connection). A peer of another network is
    /// dropped once identify or its first sync answer tells it apart.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// Whether it dialled us.
        inbound: bool,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A gossiped block does not connect to our chain: sync from its sender.
    UnconnectedBlock {
        /// Who sent it.
        peer: PeerId,
        /// Its header.
        header: BlockHeader,
    },
    /// A peer was banned (to persist the ban).
    Banned {
        /// The peer.
        peer: PeerId,
        /// Expiry, ms since the epoch.
        until_ms: u64,
        /// Why.
        reason: String,
    },
}

pub(crate) enum Command {
    PublishBlock(Arc<Block>),
    PublishCompact(Arc<CompactBlock>),
    PublishTransfer(Arc<Transfer>),
    Request {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetworkError>>,
    },
    Penalize {
        peer: PeerId,
        points: u32,
        reason: String,
    },
    Disconnect {
        peer: PeerId,
        reason: String,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Stats(oneshot::Sender<NetworkStats>),
    Dial(Multiaddr),
}

/// A cloneable handle on the network.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    compact_blocks: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.local_peer_id)
            .finish()
    }
}

impl Client {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Gossips a block (one this node mined or was given over RPC). Never blocks:
    /// dropped with a warning if the network is overloaded.
    pub fn publish_block(&self, block: Arc<Block>) {
        self.try_send(Command::PublishBlock(block));
    }

    /// Whether blocks are announced as compact blocks ([`Client::publish_compact`])
    /// rather than whole.
    pub fn compact_blocks(&self) -> bool {
        self.compact_blocks
    }

    /// Gossips a block as a compact block. Never blocks.
    pub fn publish_compact(&self, compact: Arc<CompactBlock>) {
        self.try_send(Command::PublishCompact(compact));
    }

    /// Gossips a transfer submitted to this node. Never blocks.
    pub fn publish_transfer(&self, tx: Arc<Transfer>) {
        self.try_send(Command::PublishTransfer(tx));
    }

    fn try_send(&self, command: Command) {
        if let Err(e) = self.commands.try_send(command) {
            tracing::warn!(target: "net", "network command dropped: {e}");
        }
    }

    /// Sends a sync request and waits for the answer (or the request timeout, counted
    /// from when it is sent: a request waits first while [`MAX_SERVING_PER_PEER`] of
    /// this node's requests are open at `peer`).
    pub async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Adds misbehaviour points against a peer; at 100 it is banned and disconnected.
    pub async fn penalize(&self, peer: PeerId, points: u32, reason: impl Into<String>) {
        let reason = reason.into();
        let _ = self
            .commands
            .send(Command::Penalize {
                peer,
                points,
                reason,
            })
            .await;
    }

    /// Closes the connections to a peer without holding anything against it (it may
    /// connect again): for a peer that is slow rather than wrong.
    pub async fn disconnect(&self, peer: PeerId, reason: impl Into<String>) {
        let reason = reason.into();
        let _ = self
            .commands
            .send(Command::Disconnect { peer, reason })
            .await;
    }

    /// The connected peers.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Peers(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The addresses the node listens on (with the real port when 0 was asked).
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::ListenAddrs(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Counters since start.
    pub async fn stats(&self) -> NetworkStats {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stats(tx)).await.is_err() {
            return NetworkStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Connects to a peer.
    pub async fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.send(Command::Dial(addr)).await;
    }
}

/// The names that keep networks apart: every protocol and topic carries the chain id
/// and the start of the genesis id.
#[derive(Debug, Clone)]
pub struct Names {
    /// The sync request-response protocol.
    pub sync: libp2p::StreamProtocol,
    /// The Kademlia protocol.
    pub kad: libp2p::StreamProtocol,
    /// Identify's protocol version (peers announcing another one are dropped).
    pub identify: String,
    /// The gossipsub protocol id prefix.
    pub gossip_prefix: String,
    /// The blocks topic.
    pub blocks_topic: String,
    /// The transfers topic.
    pub txs_topic: String,
    /// The compact blocks topic.
    pub compact_topic: String,
}

impl Names {
    /// The names for a network.
    pub fn new(params: &ChainParams) -> Names {
        // The network id, not the genesis id: networks that differ only in a rule
        // share their genesis id, and must not share peers.
        let network = params.network_id().to_string();
        let net = format!("/cairn/{}-{}", params.chain_id(), &network[..16]);
        let protocol = |suffix: &str| {
            libp2p::StreamProtocol::try_from_owned(format!("{net}/{suffix}"))
                .expect("protocol names start with a slash")
        };
        Names {
            sync: protocol("sync/1"),
            kad: protocol("kad/1"),
            identify: format!("{net}/1"),
            gossip_prefix: format!("{net}/meshsub"),
            blocks_topic: format!("{net}/blocks/1"),
            txs_topic: format!("{net}/txs/1"),
            compact_topic: format!("{net}/cblocks/1"),
        }
    }
}

/// Loads the node key from `path`, or creates it (mode 0600) on first start.
pub fn load_or_create_key(path: &Path) -> Result<identity::Keypair, NetworkError> {
    let err = |reason: String| NetworkError::NodeKey {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => identity::Keypair::from_protobuf_encoding(&bytes).map_err(|e| {
            err(format!(
                "not a valid key ({e}); move it away to make a new one"
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = identity::Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| err(e.to_string()))?;
            crate::fsutil::write_private(path, &bytes).map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// A started network: the client, the event stream, and the event loop's task (which
/// ends once every client is dropped).
pub type Started = (
    Client,
    mpsc::Receiver<NetworkEvent>,
    tokio::task::JoinHandle<()>,
);

/// Starts the network: builds the swarm, listens, dials the bootnodes, and spawns the
/// event loop on the current tokio runtime.
pub fn start(
    params: &ChainParams,
    config: NetworkConfig,
    chain: Arc<dyn ChainAccess>,
    peers: Arc<dyn PeerStore>,
) -> Result<Started, NetworkError> {
    let key = load_or_create_key(&config.key_path)?;
    let local_peer_id = key.public().to_peer_id();
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
    let compact_blocks = config.compact_blocks;
    let event_loop = EventLoop::new(params, config, key, chain, peers, commands_rx, events_tx)?;

    let task = tokio::spawn(event_loop.run());
    Ok((
        Client {
            commands: commands_tx,
            local_peer_id,
            compact_blocks,
        },
        events_rx,
        task,
    ))
}
