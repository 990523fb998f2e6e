//! The task that owns the swarm.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{Block, Decode, Encode, Transaction};
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, identity, kad, mdns, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::network::behaviour::{BAN_GOSSIP_SCORE, Behaviour, BehaviourEvent, Topics, peer_of};
use crate::network::codec::{MAX_BLOCKS, MAX_HEADERS, SOFT_RESPONSE_BYTES};
use crate::network::netgroup::{Group, MAX_OUTBOUND_PER_GROUP, ip_of, netgroup};
use crate::network::peers::PeerBook;
use crate::network::{
    ChainAccess, Command, Names, NetworkConfig, NetworkError, NetworkEvent, NetworkStats, PeerInfo,
    RequestFailure, SyncRequest, SyncResponse, Verdict,
};
use crate::node::now_ms;

/// Most gossip validations being worked on at once; beyond this, gossip is ignored.
const MAX_VALIDATING: usize = 128;
/// Most inbound sync requests being served at once, and per peer; beyond this,
/// requests are dropped (the peer sees a failed request).
const MAX_SERVING: usize = 32;
const MAX_SERVING_PER_PEER: usize = 4;
/// Capacity of the channel that brings blocking work back to the loop.
const MAX_BLOCKING: usize = MAX_VALIDATING + MAX_SERVING;
/// Penalty for an invalid (or undecodable) block or transfer.
const INVALID_POINTS: u32 = 100;
/// Penalty for a peer of another network.
const WRONG_NETWORK_POINTS: u32 = 100;
/// Most peers remembered from Kademlia queries as candidates to dial.
const MAX_FOUND: usize = 1_024;

/// Work finished on a blocking thread.
enum Done {
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
}

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
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    validating: usize,
    serving: HashMap<PeerId, usize>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, NetworkError>>>,
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
        for (peer, until) in &config.bans {
            if *until > now {
                if let Some(evicted) = book.ban(*peer, *until) {
                    swarm.behaviour_mut().blocked.unblock_peer(evicted);
                }
                swarm.behaviour_mut().blocked.block_peer(*peer);
            }
        }
        let (done_tx, done_rx) = mpsc::channel(MAX_BLOCKING);
        let mut event_loop = EventLoop {
            swarm,
            topics,
            names,
            config,
            chain,
            commands,
            events,
            done_tx,
            done_rx,
            validating: 0,
            serving: HashMap::new(),
            pending: HashMap::new(),
            peers: HashMap::new(),
            book,
            stats: NetworkStats::default(),
            found: HashMap::new(),
        };
        event_loop.dial_bootnodes();
        Ok(event_loop)
    }

    fn dial_bootnodes(&mut self) {
        for addr in self.config.bootnodes.clone() {
            // The operator chose these: never limited by address.
            self.swarm
                .behaviour_mut()
                .inbound
                .exempt(peer_of(&addr), Some(&addr));
            if let Some(peer) = peer_of(&addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                warn!(target: "net", %addr, "cannot dial bootnode: {e}");
            }
        }
    }

    /// Dials the configured bootnodes we have no connection to: by peer id when the
    /// address names one, else by the address of an outbound connection.
    fn redial_missing_bootnodes(&mut self) {
        for addr in self.config.bootnodes.clone() {
            let connected = match peer_of(&addr) {
                Some(peer) => self.peers.contains_key(&peer),
                None => self.peers.values().any(|c| !c.inbound && c.address == addr),
            };
            if !connected && let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(target: "net", %addr, "cannot dial bootnode: {e}");
            }
        }
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
        let every = self.config.discovery_interval.as_secs().max(1);
        if ticks.is_multiple_of(every) {
            self.discover();
        }
    }

    /// Keeps the outbound peer count up: redial bootnodes when alone, otherwise ask
    /// Kademlia for more peers and dial the ones it knows.
    fn discover(&mut self) {
        let outbound = self.peers.values().filter(|c| !c.inbound).count();
        let target = usize::try_from(self.config.target_outbound).unwrap_or(usize::MAX);
        if outbound >= target {
            return;
        }
        if self.peers.is_empty() {
            self.dial_bootnodes();
            return;
        }
        // Short of outbound peers: the operator's bootnodes first. Inbound peers alone
        // (perhaps all one attacker's) are no reason to stop trying them.
        self.redial_missing_bootnodes();
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
        // A lookup of a random key returns peers our table may not hold yet (the
        // table only takes peers once they are connected); they are dialled when it
        // ends.
        self.swarm
            .behaviour_mut()
            .kad
            .get_closest_peers(PeerId::random());
        self.dial_candidates();
    }

    /// Dials peers from Kademlia's table and lookups until `target_outbound`.
    fn dial_candidates(&mut self) {
        let outbound = self.peers.values().filter(|c| !c.inbound).count();
        let target = usize::try_from(self.config.target_outbound).unwrap_or(usize::MAX);
        if outbound >= target {
            return;
        }
        let mut candidates: Vec<(PeerId, Multiaddr)> = self.found.drain().collect();
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for entry in bucket.iter() {
                let peer = *entry.node.key.preimage();
                candidates.push((peer, entry.node.value.first().clone()));
            }
        }
        candidates.sort_by_key(|(p, _)| *p);
        candidates.dedup_by_key(|(p, _)| *p);
        // In random order (table order would let whoever fills a bucket first be
        // dialled first), at most MAX_OUTBOUND_PER_GROUP per /16.
        let mut salt = [0u8; 16];
        let _ = getrandom::fill(&mut salt);
        candidates.sort_by_cached_key(|(p, _)| {
            let mut h = blake3::Hasher::new();
            h.update(&salt);
            h.update(&p.to_bytes());
            *h.finalize().as_bytes()
        });
        let mut groups = self.outbound_groups();
        let now = now_ms();
        let mut dialled = 0;
        for (peer, addr) in candidates {
            if dialled >= target - outbound {
                break;
            }
            if self.peers.contains_key(&peer) || self.book.is_banned(&peer, now) {
                continue;
            }
            if let Some(g) = self.limited_group(&peer, &addr) {
                let n = groups.entry(g).or_insert(0);
                if *n >= MAX_OUTBOUND_PER_GROUP {
                    continue;
                }
                *n += 1;
            }
            dialled += 1;
            debug!(target: "net", %peer, %addr, "dialling");
            let _ = self.swarm.dial(addr.with_p2p(peer).unwrap_or_else(|a| a));
        }
    }

    /// The /16 (IPv4) or /32 (IPv6) of a peer at `addr`, unless it is exempt from the
    /// outbound diversity rule (loopback, bootnodes, `net_connect` peers).
    fn limited_group(&self, peer: &PeerId, addr: &Multiaddr) -> Option<Group> {
        let ip = ip_of(addr)?;
        if self.swarm.behaviour().inbound.is_exempt(peer, Some(ip)) {
            return None;
        }
        Some(netgroup(ip))
    }

    /// Outbound peers per netgroup (exempt ones not counted).
    fn outbound_groups(&self) -> HashMap<Group, usize> {
        let mut groups = HashMap::new();
        for (peer, c) in &self.peers {
            if !c.inbound
                && let Some(g) = self.limited_group(peer, &c.address)
            {
                *groups.entry(g).or_insert(0) += 1;
            }
        }
        groups
    }

    fn emit(&self, event: NetworkEvent) {
        if let Err(e) = self.events.try_send(event) {
            warn!(target: "net", "network event dropped: {e}");
        }
    }

    fn penalize(&mut self, peer: PeerId, points: u32, reason: &str) {
        debug!(target: "net", %peer, points, "penalty: {reason}");
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
        self.emit(NetworkEvent::Banned {
            peer,
            until_ms,
            reason,
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::PublishBlock(block) => self.publish(true, block.to_bytes()),
            Command::PublishTransfer(tx) => {
                self.publish(false, Transaction::Transfer((*tx).clone()).to_bytes());
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
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

    fn publish(&mut self, block: bool, data: Vec<u8>) {
        let topic = if block {
            self.topics.blocks.clone()
        } else {
            self.topics.txs.clone()
        };
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(id) => {
                self.stats.gossip_published += 1;
                debug!(target: "net", %id, block, "published");
            }
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                debug!(target: "net", "nothing to publish to: no peers");
            }
            Err(e) => warn!(target: "net", "cannot publish: {e}"),
        }
    }

    /// Runs `work` on a blocking thread, sending its result back to the loop.
    fn spawn_blocking(&self, work: impl FnOnce() -> Done + Send + 'static) {
        let tx = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            // Capacity equals the number of tasks allowed at once, so this never waits.
            let _ = tx.blocking_send(work());
        });
    }

    /// Validates gossip on a blocking thread if there is room; false when full.
    fn spawn_validation(&mut self, work: impl FnOnce() -> Done + Send + 'static) -> bool {
        if self.validating >= MAX_VALIDATING {
            return false;
        }
        self.validating += 1;
        self.spawn_blocking(work);
        true
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
        self.spawn_blocking(work);
        true
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Gossip {
                id,
                source,
                verdict,
                header,
            } => {
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
                        self.penalize(source, INVALID_POINTS, reason);
                        MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Done::Served {
                peer,
                channel,
                response,
            } => {
                if let Some(n) = self.serving.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.serving.remove(&peer);
                    }
                }
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

    fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        self.stats.gossip_in += 1;
        let chain = self.chain.clone();
        let blocks = message.topic == self.topics.blocks.hash();
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
        let spawned = self.spawn_validation(move || {
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
        });
        if !spawned {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
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
            };
            Done::Served {
                peer,
                channel,
                response,
            }
        });
        if !accepted {
            debug!(target: "net", %peer, "busy: sync request dropped");
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
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
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
                        if let Some(reply) = self.pending.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
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
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Request { peer, reason }));
                }
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
