//! The task that owns the swarm: connections, commands from the [`Client`]s, and
//! behaviour events. Discovery and the blocking work (gossip validation, serving
//! sync requests) have their own files below.
//!
//! [`Client`]: crate::network::Client

mod discovery;
mod inbound;
mod outbound;
mod relay;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{Encode, Transaction};
use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, identity, kad, mdns, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use self::inbound::{Done, MAX_BLOCKING};
use crate::network::behaviour::{BAN_GOSSIP_SCORE, Behaviour, BehaviourEvent, Topics, peer_of};
use crate::network::netgroup::{MAX_OUTBOUND_PER_GROUP, ip_of};
use crate::network::peers::PeerBook;
use crate::network::{
    ChainAccess, Command, Names, NetworkConfig, NetworkError, NetworkEvent, NetworkStats, PeerInfo,
    PeerStore, RequestFailure, SyncResponse,
};
use crate::node::now_ms;

/// Penalty for a peer of another network, or an answer that breaks the protocol.
const WRONG_NETWORK_POINTS: u32 = 100;
/// Most peers remembered from Kademlia queries as candidates to dial.
const MAX_FOUND: usize = 1_024;

struct Connected {
    address: Multiaddr,
    inbound: bool,
    connections: u32,
    agent: Option<String>,
}

/// Owns the swarm; driven by [`EventLoop::run`].
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    topics: Topics,
    names: Names,
    config: NetworkConfig,
    chain: Arc<dyn ChainAccess>,
    /// Where bans are persisted.
    peer_store: Arc<dyn PeerStore>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,

    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    validating: usize,
    serving: HashMap<PeerId, usize>,
    /// Requests sent for the clients (sync): to whom, and who waits for the answer.
    pending:
        HashMap<OutboundRequestId, (PeerId, oneshot::Sender<Result<SyncResponse, NetworkError>>)>,
    /// The loop's own requests (completing compact blocks, mempool sync): to whom,
    /// and what for.
    fetches: HashMap<OutboundRequestId, (PeerId, relay::Fetch)>,
    /// Requests waiting for a place at their peer (see `outbound`).
    waiting: HashMap<PeerId, VecDeque<outbound::Waiting>>,
    /// What each peer asked of our mempool lately.
    quota: HashMap<PeerId, relay::Quota>,
    peers: HashMap<PeerId, Connected>,
    book: PeerBook,
    stats: NetworkStats,
    /// Peers (and an address) that Kademlia lookups returned: candidates to dial.
    found: HashMap<PeerId, Multiaddr>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("peer", self.swarm.local_peer_id())
            .field("peers", &self.peers.len())
            .finish()
    }
}

impl EventLoop {
    pub(crate) fn new(
        params: &cairn_core::ChainParams,
        config: NetworkConfig,
        key: identity::Keypair,
        chain: Arc<dyn ChainAccess>,
        peer_store: Arc<dyn PeerStore>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetworkEvent>,
    ) -> Result<EventLoop, NetworkError> {
        let names = Names::new(params);
        let topics = Topics::new(&names);
        let max_block = params.max_block_bytes();
        let behaviour = Behaviour::new(&key, &names, &topics, &config, max_block)?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetworkError::Build(e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| NetworkError::Build(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetworkError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut book = PeerBook::default();
        let now = now_ms();
        for (peer, until) in peer_store.load_bans(now) {
            if until > now {
                if let Some(evicted) = book.ban(peer, until) {
                    swarm.behaviour_mut().blocked.unblock_peer(evicted);
                }
                swarm.behaviour_mut().blocked.block_peer(peer);
            }
        }
        let (done_tx, done_rx) = mpsc::channel(MAX_BLOCKING);
        let mut event_loop = EventLoop {
            swarm,
            topics,
            names,
            config,
            chain,
            peer_store,
            commands,

            events,
            done_tx,
            done_rx,
            validating: 0,
            serving: HashMap::new(),
            pending: HashMap::new(),
            fetches: HashMap::new(),
            waiting: HashMap::new(),
            quota: HashMap::new(),
            peers: HashMap::new(),
            book,
            stats: NetworkStats::default(),
            found: HashMap::new(),
        };
        event_loop.dial_bootnodes();
        Ok(event_loop)
    }

    /// Runs until every [`crate::network::Client`] is dropped.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                _ = tick.tick() => {
                    ticks += 1;
                    self.on_tick(ticks);
                }
            }
        }
        debug!(target: "net", "event loop stopped");
    }

    fn on_tick(&mut self, ticks: u64) {
        let now = now_ms();
        for peer in self.book.expire(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            debug!(target: "net", %peer, "ban expired");
        }
        // Peers that gossipsub's own scoring has graylisted (invalid or oversized
        // messages, protocol abuse) are banned outright.
        let low: Vec<(PeerId, f64)> = self
            .peers
            .keys()
            .filter_map(|p| {
                let s = self.swarm.behaviour().gossipsub.peer_score(p)?;
                (s < BAN_GOSSIP_SCORE).then_some((*p, s))
            })
            .collect();
        for (peer, score) in low {
            self.ban(peer, format!("gossip score {score:.0}"));
        }
        if ticks.is_multiple_of(60) {
            self.book.decay();
        }
        self.expire_quotas(now);
        let every = self.config.discovery_interval.as_secs().max(1);
        if ticks.is_multiple_of(every) {
            self.discover();
        }
    }

    fn emit(&self, event: NetworkEvent) {
        if let Err(e) = self.events.try_send(event) {
            warn!(target: "net", "network event dropped: {e}");
        }
    }

    fn penalize(&mut self, peer: PeerId, points: u32, reason: &str) {
        info!(target: "net", %peer, points, "penalty: {reason}");
        self.stats.penalties += 1;
        if self.book.penalize(peer, points) {
            self.ban(peer, reason.to_string());
        }
    }

    fn ban(&mut self, peer: PeerId, reason: String) {
        let duration = u64::try_from(self.config.ban_duration.as_millis()).unwrap_or(u64::MAX);
        let until_ms = now_ms().saturating_add(duration);
        warn!(target: "net", %peer, "banning peer: {reason}");
        self.stats.bans += 1;
        if let Some(evicted) = self.book.ban(peer, until_ms) {
            self.swarm.behaviour_mut().blocked.unblock_peer(evicted);
        }
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        // Its address is discouraged rather than refused: a whole NAT may share it.
        if let Some(c) = self.peers.get(&peer) {
            let address = c.address.clone();
            self.swarm
                .behaviour_mut()
                .inbound
                .discourage(&address, until_ms, now_ms());
        }
        // A RocksDB write: on the blocking pool, never on the runtime.
        let store = self.peer_store.clone();
        let why = reason.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.save_ban(&peer, until_ms) {
                warn!(target: "net", %peer, "cannot persist the ban ({why}): {e}");
            }
        });
        self.emit(NetworkEvent::Banned {
            peer,
            until_ms,
            reason,
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::PublishBlock(block) => {
                let topic = self.topics.blocks.clone();
                self.publish(topic, block.to_bytes());
            }
            Command::PublishCompact(compact) => {
                let topic = self.topics.compact.clone();
                self.publish(topic, compact.to_bytes());
            }
            Command::PublishTransfer(tx) => {
                let topic = self.topics.txs.clone();
                self.publish(topic, Transaction::Transfer((*tx).clone()).to_bytes());
            }
            Command::Request {
                peer,
                request,
                reply,
            } => self.request(peer, request, outbound::Purpose::Reply(reply), false),
            Command::Penalize {
                peer,
                points,
                reason,
            } => self.penalize(peer, points, &reason),
            Command::Peers(reply) => {
                let peers = self
                    .peers
                    .iter()
                    .map(|(p, c)| PeerInfo {
                        peer: *p,
                        address: c.address.clone(),
                        inbound: c.inbound,
                        gossip_score: self
                            .swarm
                            .behaviour()
                            .gossipsub
                            .peer_score(p)
                            .unwrap_or(0.0),
                        penalty: self.book.penalty(p),
                        agent: c.agent.clone(),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Stats(reply) => {
                let mut stats = self.stats;
                stats.inbound_refused = self.swarm.behaviour().inbound.refused();
                let _ = reply.send(stats);
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Disconnect { peer, reason } => {
                debug!(target: "net", %peer, "disconnecting: {reason}");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Dial(addr) => {
                // The operator asked for this peer: never limited by address.
                self.swarm
                    .behaviour_mut()
                    .inbound
                    .exempt(peer_of(&addr), Some(&addr));
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    warn!(target: "net", %addr, "cannot dial: {e}");
                }
            }
        }
    }

    fn publish(&mut self, topic: gossipsub::IdentTopic, data: Vec<u8>) {
        let what = topic.to_string();
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(id) => {
                self.stats.gossip_published += 1;
                debug!(target: "net", %id, topic = %what, "published");
            }
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                debug!(target: "net", "nothing to publish to: no peers");
            }
            Err(e) => warn!(target: "net", "cannot publish: {e}"),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(target: "net", "listening on {address}/p2p/{}", self.swarm.local_peer_id());
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.book.is_banned(&peer_id, now_ms()) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let inbound = endpoint.is_listener();
                if !inbound && num_established.get() == 1 {
                    let address = endpoint.get_remote_address().clone();
                    // At most MAX_OUTBOUND_PER_GROUP outbound peers per /16, however
                    // they were dialled (Kademlia queries dial too).
                    if let Some(g) = self.limited_group(&peer_id, &address)
                        && self.outbound_groups().get(&g).copied().unwrap_or(0)
                            >= MAX_OUTBOUND_PER_GROUP
                    {
                        debug!(target: "net", peer = %peer_id, %address, "outbound netgroup full");
                        let _ = self.swarm.close_connection(connection_id);
                        return;
                    }
                    // An address we dialled successfully is one Kademlia may share.
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, address);
                }
                // A peer that dialled us and that we dial too (a bootnode, a lookup
                // result) becomes an outbound peer, if its /16 has room for one more.
                let upgrade = !inbound
                    && self.peers.get(&peer_id).is_some_and(|c| c.inbound)
                    && self
                        .limited_group(&peer_id, endpoint.get_remote_address())
                        .is_none_or(|g| {
                            self.outbound_groups().get(&g).copied().unwrap_or(0)
                                < MAX_OUTBOUND_PER_GROUP
                        });
                let entry = self.peers.entry(peer_id).or_insert_with(|| Connected {
                    address: endpoint.get_remote_address().clone(),
                    inbound,
                    connections: 0,
                    agent: None,
                });
                if upgrade {
                    entry.inbound = false;
                    entry.address = endpoint.get_remote_address().clone();
                }
                entry.connections = num_established.get();
                if num_established.get() == 1 {
                    debug!(target: "net", peer = %peer_id, inbound, "peer connected");
                    self.emit(NetworkEvent::PeerConnected {
                        peer: peer_id,
                        inbound,
                    });
                    // A node that joins late gets the transfers still pending.
                    self.ask_mempool(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.fail_waiting(peer_id);
                    if self.peers.remove(&peer_id).is_some() {
                        debug!(target: "net", peer = %peer_id, "peer disconnected");
                        self.emit(NetworkEvent::PeerDisconnected { peer: peer_id });
                    }
                } else if let Some(c) = self.peers.get_mut(&peer_id) {
                    c.connections = num_established;
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: "net", ?peer_id, "dial failed: {error}");
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message),
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.on_request(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some((peer, fetch)) = self.fetches.remove(&request_id) {
                            self.on_fetched(peer, fetch, Ok(response));
                        } else if let Some((_, reply)) = self.pending.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                        self.send_waiting(peer);
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                let reason = match error {
                    request_response::OutboundFailure::Timeout => RequestFailure::Timeout,
                    request_response::OutboundFailure::Io(e)
                        if e.kind() == std::io::ErrorKind::InvalidData =>
                    {
                        RequestFailure::BadResponse(e.to_string())
                    }
                    other => RequestFailure::Unreachable(other.to_string()),
                };
                if let Some((peer, fetch)) = self.fetches.remove(&request_id) {
                    if let RequestFailure::BadResponse(e) = &reason {
                        self.penalize(peer, WRONG_NETWORK_POINTS, &format!("bad response: {e}"));
                    }
                    self.on_fetched(peer, fetch, Err(reason.to_string()));
                } else if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Request { peer, reason }));
                }
                self.send_waiting(peer);
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                debug!(target: "net", %peer, "inbound sync request failed: {error}");
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.names.identify {
                    self.penalize(
                        peer_id,
                        WRONG_NETWORK_POINTS,
                        &format!("other network ({})", info.protocol_version),
                    );
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let Some(c) = self.peers.get_mut(&peer_id) else {
                    return;
                };
                c.agent = Some(info.agent_version.clone());
                // Only listen addresses on the IP the peer connects from go into the
                // routing table: a peer cannot fill it with other hosts' addresses
                // (or made-up ones), so Kademlia shares only addresses of hosts that
                // really connected.
                let observed = ip_of(&c.address);
                for addr in info.listen_addrs {
                    if observed.is_some() && ip_of(&addr) == observed {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.peers.contains_key(&peer) && !self.book.is_banned(&peer, now_ms()) {
                        let _ = self.swarm.dial(addr.with_p2p(peer).unwrap_or_else(|a| a));
                    }
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(ok)),
                ..
            }) => {
                let local = *self.swarm.local_peer_id();
                debug!(target: "net", found = ok.peers.len(), "lookup done");
                for p in ok.peers {
                    if self.found.len() >= MAX_FOUND {
                        break;
                    }
                    if p.peer_id != local
                        && !self.peers.contains_key(&p.peer_id)
                        && let Some(addr) = p.addrs.into_iter().next()
                    {
                        self.found.insert(p.peer_id, addr);
                    }
                }
                self.dial_candidates();
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, .. }) => {
                debug!(target: "net", %peer, "routing table updated");
            }
            _ => {}
        }
    }
}
