//! The composed libp2p behaviour and its settings.

use std::time::Duration;

use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, PeerScoreParams, TopicScoreParams};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{PeerId, allow_block_list, connection_limits, identify, identity, kad, mdns, ping};

use crate::network::codec::SyncCodec;
use crate::network::netgroup::{InboundGuard, InboundLimits};
use crate::network::{Names, NetworkConfig, NetworkError};

/// Largest gossiped transfer message (a transfer is 146 bytes).
pub(crate) const MAX_TX_MESSAGE: usize = 1_024;
/// Gossip score below which a peer is banned (gossipsub's graylist threshold).
pub(crate) const BAN_GOSSIP_SCORE: f64 = -80.0;
/// Room for the gossip envelope and piggybacked control messages above the largest
/// block.
pub(crate) const GOSSIP_FRAME_HEADROOM: usize = 64 * 1024;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) inbound: InboundGuard,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The gossip topics: whole blocks, transfers, compact blocks.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    pub(crate) blocks: IdentTopic,
    pub(crate) txs: IdentTopic,
    pub(crate) compact: IdentTopic,
}

impl Topics {
    pub(crate) fn new(names: &Names) -> Topics {
        Topics {
            blocks: IdentTopic::new(names.blocks_topic.clone()),
            txs: IdentTopic::new(names.txs_topic.clone()),
            compact: IdentTopic::new(names.compact_topic.clone()),
        }
    }
}

/// Score parameters for one topic: only invalid messages count (quiet topics are
/// normal on a blockchain, so missing deliveries are not punished). One rejected
/// message takes a peer to -1000, far past the ban threshold, and still past it
/// when the ban check runs a second later after decay (0.9² × -1000).
fn topic_score() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1_000.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    }
}

impl Behaviour {
    pub(crate) fn new(
        key: &identity::Keypair,
        names: &Names,
        topics: &Topics,
        config: &NetworkConfig,
        max_block_bytes: usize,
    ) -> Result<Behaviour, NetworkError> {
        let local = key.public().to_peer_id();
        let build = |e: &dyn std::fmt::Display| NetworkError::Build(e.to_string());

        // Gossip: ids from topic and content, so one block or transfer from two
        // origins is one message; nothing is forwarded before the chain side says
        // `Accept`. Messages are anonymous (no author, sequence number or signature,
        // as Lighthouse does): blocks and transfers carry their own proof (PoW,
        // ed25519), penalties go to the peer that relayed a message, and signing
        // every published transfer cost a fifth of `tx_send` throughput.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .protocol_id_prefix(names.gossip_prefix.clone())
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .validate_messages()
            .message_id_fn(|m: &gossipsub::Message| {
                let mut h = blake3::Hasher::new();
                h.update(m.topic.as_str().as_bytes());
                h.update(&[0]);
                h.update(&m.data);
                gossipsub::MessageId::from(h.finalize().as_bytes().to_vec())
            })
            .heartbeat_interval(Duration::from_millis(700))
            // A message waiting for validation leaves the cache after this many
            // heartbeats and is then never forwarded: a compact block completed with
            // a round trip (a request may take up to its 20 s timeout) must still be
            // there. 30 × 700 ms = 21 s.
            .history_length(30)
            // One frame carries the message envelope (topic, ids) and any control
            // messages piggybacked on it (IHAVE/IWANT lists of 32-byte ids): a
            // maximum-size block must still fit, or it would be dropped unvalidated
            // (and its sender never penalised). The reliability suite found 4 KiB of
            // headroom too little (a 1 MB block in a 1 007 616-byte frame).
            .max_transmit_size(max_block_bytes + GOSSIP_FRAME_HEADROOM)
            .max_transmit_size_for_topic(MAX_TX_MESSAGE, topics.txs.hash())
            .duplicate_cache_time(Duration::from_secs(120))
            .build()
            .map_err(|e| build(&e))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
                .map_err(|e| build(&e))?;
        let mut score = PeerScoreParams {
            // Every test network and many LANs put all peers on one address.
            ip_colocation_factor_weight: 0.0,
            // Only invalid messages count: protocol races (a GRAFT during backoff, a
            // broken IWANT promise) and slow links are not grounds for a ban.
            behaviour_penalty_weight: 0.0,
            slow_peer_weight: 0.0,
            ..PeerScoreParams::default()
        };
        score.topics.insert(topics.blocks.hash(), topic_score());
        score.topics.insert(topics.txs.hash(), topic_score());
        score.topics.insert(topics.compact.hash(), topic_score());
        let thresholds = gossipsub::PeerScoreThresholds {
            graylist_threshold: BAN_GOSSIP_SCORE,
            ..gossipsub::PeerScoreThresholds::default()
        };
        gossipsub
            .with_peer_score(score, thresholds)
            .map_err(|e| build(&e))?;
        gossipsub.subscribe(&topics.blocks).map_err(|e| build(&e))?;
        gossipsub.subscribe(&topics.txs).map_err(|e| build(&e))?;
        gossipsub
            .subscribe(&topics.compact)
            .map_err(|e| build(&e))?;

        let sync = request_response::Behaviour::with_codec(
            SyncCodec::new(max_block_bytes),
            [(names.sync.clone(), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(64),
        );

        let identify = identify::Behaviour::new(
            identify::Config::new(names.identify.clone(), key.public())
                .with_agent_version(format!("cairn-node/{}", env!("CARGO_PKG_VERSION")))
                .with_interval(Duration::from_secs(60)),
        );

        let mut kad_config = kad::Config::new(names.kad.clone());
        kad_config.set_query_timeout(Duration::from_secs(30));
        let mut kad =
            kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kad_config);
        kad.set_mode(Some(kad::Mode::Server));

        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), local)
                    .map_err(|e| build(&e))?,
            )
        } else {
            None
        };

        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established_incoming(Some(config.max_inbound))
            .with_max_established_outgoing(Some(config.target_outbound.saturating_mul(2).max(8)))
            .with_max_pending_incoming(Some(32))
            .with_max_pending_outgoing(Some(32))
            .with_max_established_per_peer(Some(2));

        Ok(Behaviour {
            blocked: allow_block_list::Behaviour::default(),
            limits: connection_limits::Behaviour::new(limits),
            inbound: InboundGuard::new(InboundLimits {
                per_ip: config.max_inbound_per_ip,
                per_subnet: config.max_inbound_per_subnet,
                total: config.max_inbound,
            }),
            gossipsub,
            sync,
            identify,
            ping: ping::Behaviour::new(ping::Config::new()),
            kad,
            mdns: mdns.into(),
        })
    }
}

/// The peer id in a multiaddr's trailing `/p2p/…`, if any.
pub(crate) fn peer_of(addr: &libp2p::Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}
