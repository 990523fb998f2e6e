//! Hostile peers: a raw libp2p peer (gossipsub and the sync protocol, nothing else)
//! that gossips garbage, blocks with invalid PoW, invalid blocks and oversized
//! messages, or serves headers with invalid PoW. Each is penalised, banned and
//! disconnected, the node's tip does not move, and an honest peer keeps syncing. A
//! peer that stalls is disconnected (not banned: a lossy link looks the same).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::solve_naive;
use cairn_core::{Amount, Block, ChainParams, Encode, Transaction, Work};
use cairn_node::network::codec::SyncCodec;
use cairn_node::network::{ChainStatus, Names, SyncRequest, SyncResponse};
use cairn_tests::{NodeOptions, TestNode, eventually, eventually_async, rss_bytes, test_params};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, noise, ping, tcp, yamux};

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    ping: ping::Behaviour,
}

/// What the hostile peer answers to sync requests.
#[derive(Clone)]
enum Answers {
    /// Nothing useful: its own genesis tip.
    Honest(ChainStatus),
    /// Claims enormous work on the node's network and serves these (invalid)
    /// headers.
    Lying(cairn_core::NetworkId, Vec<cairn_core::BlockHeader>),
    /// Claims enormous work, serves these (valid) headers, and never answers a
    /// request for blocks.
    Stalling(cairn_core::NetworkId, Vec<cairn_core::BlockHeader>),
}

struct Hostile {
    swarm: Swarm<Behaviour>,
    names: Names,
    answers: Answers,
    node: PeerId,
    held: Vec<request_response::ResponseChannel<SyncResponse>>,
}

impl Hostile {
    async fn connect(params: &ChainParams, node: &TestNode, answers: Answers) -> Hostile {
        let names = Names::new(params);
        let swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let config = gossipsub::ConfigBuilder::default()
                    .protocol_id_prefix(names.gossip_prefix.clone())
                    .validation_mode(gossipsub::ValidationMode::Anonymous)
                    // Anonymous messages have no sequence number: without an id from
                    // the content, every message after the first is a "duplicate".
                    .message_id_fn(|m| {
                        gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
                    })
                    .max_transmit_size(4 * 1024 * 1024)
                    .heartbeat_interval(Duration::from_millis(200))
                    .build()
                    .unwrap();
                let _ = key;
                let gossipsub =
                    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).unwrap();
                let sync = request_response::Behaviour::with_codec(
                    SyncCodec,
                    [(names.sync.clone(), ProtocolSupport::Full)],
                    request_response::Config::default(),
                );
                // Every 200 ms, so an honest peer's round trips can be watched.
                let ping = ping::Behaviour::new(
                    ping::Config::new().with_interval(Duration::from_millis(200)),
                );
                Behaviour {
                    gossipsub,
                    sync,
                    ping,
                }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let mut h = Hostile {
            swarm,
            names,
            answers,
            node: node.peer_id,
            held: Vec::new(),
        };
        for topic in [h.blocks(), h.txs()] {
            h.swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
        }
        h.swarm.dial(node.addr.clone()).unwrap();
        // Ready once the node has told us it is subscribed to both topics.
        let mut subscribed = 0;
        let ok = h
            .drive(Duration::from_secs(10), |e| {
                if matches!(
                    e,
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                        gossipsub::Event::Subscribed { .. }
                    ))
                ) {
                    subscribed += 1;
                }
                subscribed >= 2
            })
            .await;
        assert!(ok, "the hostile peer could not join the node's topics");
        h
    }

    fn blocks(&self) -> IdentTopic {
        IdentTopic::new(self.names.blocks_topic.clone())
    }

    fn txs(&self) -> IdentTopic {
        IdentTopic::new(self.names.txs_topic.clone())
    }

    /// Publishes without insisting (a flood may fill gossipsub's send queue).
    fn try_publish(&mut self, topic: IdentTopic, data: Vec<u8>) -> bool {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .is_ok()
    }

    fn publish(&mut self, topic: IdentTopic, data: Vec<u8>) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .unwrap();
    }

    /// Polls the swarm (answering sync requests) until `stop` returns true for an
    /// event, or `timeout`; returns whether it stopped.
    async fn drive(
        &mut self,
        timeout: Duration,
        mut stop: impl FnMut(&SwarmEvent<BehaviourEvent>) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::select! {
                e = self.swarm.select_next_some() => e,
                () = tokio::time::sleep_until(deadline) => return false,
            };
            let event = match event {
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                })) => {
                    if matches!(
                        (&self.answers, &request),
                        (Answers::Stalling(..), SyncRequest::Blocks { .. })
                    ) {
                        self.held.push(channel);
                        continue;
                    }
                    let response = self.answer(&request);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                    continue;
                }
                other => other,
            };
            if stop(&event) {
                return true;
            }
        }
    }

    fn answer(&self, request: &SyncRequest) -> SyncResponse {
        match (&self.answers, request) {
            (Answers::Honest(s), SyncRequest::Status) => SyncResponse::Status(*s),
            (Answers::Lying(network, h) | Answers::Stalling(network, h), SyncRequest::Status) => {
                SyncResponse::Status(ChainStatus {
                    network: *network,
                    tip: h.last().unwrap().id(),
                    height: 1_000_000,
                    work: Work::from_be_bytes([0xff; 32]),
                })
            }
            (Answers::Lying(_, h) | Answers::Stalling(_, h), SyncRequest::Headers { .. }) => {
                SyncResponse::Headers(h.clone())
            }
            (_, SyncRequest::Headers { .. }) => SyncResponse::Headers(vec![]),
            (_, SyncRequest::Blocks { .. }) => SyncResponse::Blocks(vec![]),
        }
    }

    /// Whether the node closes the connection within `timeout`.
    async fn disconnected(&mut self, timeout: Duration) -> bool {
        let node = self.node;
        self.drive(timeout, |e| {
            matches!(e, SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if *peer_id == node)
        })
        .await
    }

    /// Whether a new connection to the node is refused (or closed at once).
    async fn redial_refused(&mut self, addr: &Multiaddr) -> bool {
        if self.swarm.dial(addr.clone()).is_err() {
            return true;
        }
        let node = self.node;
        self.drive(Duration::from_secs(10), |e| match e {
            SwarmEvent::OutgoingConnectionError { .. } => true,
            SwarmEvent::ConnectionClosed { peer_id, .. } => *peer_id == node,
            _ => false,
        })
        .await
    }
}

/// A block on the node's tip with `tamper` applied (merkle root recomputed) and valid
/// PoW, unless `bad_pow`.
fn block_on_tip(node: &TestNode, tamper: impl FnOnce(&mut Block), bad_pow: bool) -> Block {
    let retamper = |b: &mut Block| {
        tamper(b);
        b.header.tx_root = b.compute_tx_root();
    };
    if !bad_pow {
        return solved_on_tip(node, retamper);
    }
    let mut block = node.node().block_template(dev_keys()[4].address());
    retamper(&mut block);
    let target = block.header.target.to_target().unwrap();
    while target.is_met_by(&block.header.pow_hash()) {
        block.header.nonce += 1;
    }
    block
}

/// The status of a peer that has only the genesis block.
fn genesis_status(params: &ChainParams) -> ChainStatus {
    ChainStatus {
        network: params.network_id(),
        tip: params.genesis_id(),
        height: 0,
        work: Work::default(),
    }
}

/// A fresh hostile peer sends `data` on the blocks topic (or the transfers topic) and
/// must be disconnected and refused when it dials again.
async fn sender_is_banned(
    params: &ChainParams,
    node: &TestNode,
    what: &str,
    block_topic: bool,
    data: Vec<u8>,
) {
    let mut h = Hostile::connect(params, node, Answers::Honest(genesis_status(params))).await;
    let topic = if block_topic { h.blocks() } else { h.txs() };
    h.publish(topic, data);
    assert!(
        h.disconnected(Duration::from_secs(10)).await,
        "{what}: the node kept the hostile peer"
    );
    assert!(
        h.redial_refused(&node.addr).await,
        "{what}: the banned peer could connect again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_banned_while_an_honest_peer_keeps_syncing() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    for _ in 0..200 {
        a.mine_block(dev_keys()[0].address());
    }
    let honest = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;

    let mut garbage = vec![0xde, 0xad, 0xbe, 0xef];
    garbage.extend_from_slice(&[7u8; 300]);
    let bad_pow = block_on_tip(&a, |_| {}, true);
    let excess_coinbase = block_on_tip(
        &a,
        |b| {
            if let Transaction::Coinbase(c) = &mut b.txs[0] {
                c.amount = Amount(c.amount.0 + 1);
            }
        },
        false,
    );
    let cases: Vec<(&str, bool, Vec<u8>)> = vec![
        ("garbage block", true, garbage.clone()),
        ("garbage transfer", false, garbage),
        ("block with invalid PoW", true, bad_pow.to_bytes()),
        (
            "block paying its miner too much",
            true,
            excess_coinbase.to_bytes(),
        ),
        ("oversized transfer message", false, vec![1u8; 4_096]),
    ];
    let tip_before = a.tip().id;
    for (what, block_topic, data) in cases {
        sender_is_banned(&params, &a, what, block_topic, data).await;
        assert_eq!(a.tip().id, tip_before, "{what}: the tip moved");
    }

    // Headers with invalid PoW, served to the node's sync.
    let mut headers = Vec::new();
    let mut prev = a.tip();
    for _ in 0..3 {
        let mut h = prev.header;
        h.prev = prev.id;
        h.height += 1;
        h.timestamp_ms += 1_000;
        let target = h.target.to_target().unwrap();
        while target.is_met_by(&h.pow_hash()) {
            h.nonce += 1;
        }
        headers.push(h);
        prev.id = h.id();
        prev.header = h;
    }
    let mut h = Hostile::connect(&params, &a, Answers::Lying(params.network_id(), headers)).await;
    assert!(
        h.disconnected(Duration::from_secs(20)).await,
        "a peer serving invalid-PoW headers was kept"
    );
    assert_eq!(a.tip().id, tip_before);

    // Meanwhile the honest peer synced everything.
    assert!(
        eventually(Duration::from_secs(30), || honest.tip().id == tip_before).await,
        "the honest peer stopped syncing: {} of {}",
        honest.tip().height,
        a.tip().height
    );
    assert!(
        eventually_async(Duration::from_secs(5), || async {
            a.peers().await.contains(&honest.peer_id)
        })
        .await,
        "the honest peer was disconnected"
    );
    // And it still follows new blocks.
    let next = a.mine_block(dev_keys()[0].address());
    assert!(eventually(Duration::from_secs(20), || honest.tip().id == next.id()).await);

    // Bans outlive a restart (they are kept in the store).
    let mut a = a;
    a.stop().await;
    let restarted = TestNode::start(
        &params,
        NodeOptions {
            datadir: Some(a.datadir().to_path_buf()),
            ..NodeOptions::default()
        },
    )
    .await;
    assert_eq!(restarted.peer_id, a.peer_id, "the node key persists");
    assert!(
        h.redial_refused(&restarted.addr).await,
        "a banned peer could connect after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stalls_is_dropped_and_its_blocks_come_from_others() {
    let params = test_params();
    let honest = TestNode::start(&params, NodeOptions::default()).await;
    for _ in 0..80 {
        honest.mine_block(dev_keys()[0].address());
    }
    let headers = honest
        .node()
        .with_state(|c, _| c.headers_after(&[params.genesis_id()], 2_000));
    assert_eq!(headers.len(), 80);
    let fresh = TestNode::start(
        &params,
        NodeOptions {
            request_timeout: Some(Duration::from_secs(2)),
            ..NodeOptions::default()
        },
    )
    .await;
    // The staller is the fresh node's only peer at first: it gets the header
    // request and the first block requests, and answers none of the latter.
    let mut staller = Hostile::connect(
        &params,
        &fresh,
        Answers::Stalling(params.network_id(), headers),
    )
    .await;
    // Answer its status and header requests (its block requests are held) for less
    // than the request timeout.
    staller.drive(Duration::from_millis(700), |_| false).await;
    assert!(
        !staller.held.is_empty(),
        "the node never asked the staller for blocks"
    );
    fresh.dial(&honest.addr).await;
    assert!(
        staller.disconnected(Duration::from_secs(20)).await,
        "the stalling peer was kept"
    );
    let tip = honest.tip().id;
    assert!(
        eventually(Duration::from_secs(30), || fresh.tip().id == tip).await,
        "sync did not recover from the staller: {} of 80",
        fresh.tip().height
    );
}

/// A block on the node's tip with valid PoW after `tamper` (which may break the
/// merkle root: it is not recomputed).
fn solved_on_tip(node: &TestNode, tamper: impl FnOnce(&mut Block)) -> Block {
    let mut block = node.node().block_template(dev_keys()[4].address());
    tamper(&mut block);
    assert!(solve_naive(&mut block.header, 1 << 24));
    block
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_blocks_and_floods_get_the_sender_banned_while_honest_peers_are_served() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    for _ in 0..300 {
        a.mine_block(dev_keys()[0].address());
    }
    let tip_before = a.tip().id;
    let status = genesis_status(&params);
    let rss_before = rss_bytes();

    // An honest raw peer pings the node every 200 ms throughout.
    let mut watcher = Hostile::connect(&params, &a, Answers::Honest(status)).await;
    let rtts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = rtts.clone();
    let watch = tokio::spawn(async move {
        watcher
            .drive(Duration::from_secs(600), |e| {
                if let SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                    result: Ok(rtt),
                    ..
                })) = e
                {
                    seen.lock().unwrap().push(*rtt);
                }
                false
            })
            .await;
    });

    let transfer = cairn_tests::dev_transfer(a.node(), 1, dev_keys()[2].address(), 5_000);
    let valid = solved_on_tip(&a, |_| {});
    let mut truncated = valid.to_bytes();
    truncated.truncate(truncated.len() - 7);
    let bad_root = solved_on_tip(&a, |b| b.header.tx_root = cairn_core::Hash([9; 32]));
    let duplicate = solved_on_tip(&a, |b| {
        b.txs.push(Transaction::Transfer(transfer.clone()));
        b.txs.push(Transaction::Transfer(transfer.clone()));
        b.header.tx_root = b.compute_tx_root();
    });
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated block", truncated),
        ("block with a wrong merkle root", bad_root.to_bytes()),
        ("block with a transfer twice", duplicate.to_bytes()),
    ];
    let mut bad_inputs = 0;
    for (what, data) in cases {
        sender_is_banned(&params, &a, what, true, data).await;
        bad_inputs += 1;
        assert_eq!(a.tip().id, tip_before, "{what}: the tip moved");
    }

    // A block from the future is not taken, but not held against the sender either:
    // it becomes valid in time (Bitcoin Core does not punish `time-too-new` either).
    let future = solved_on_tip(&a, |b| b.header.timestamp_ms += 3_600_000);
    let mut h = Hostile::connect(&params, &a, Answers::Honest(status)).await;
    h.publish(h.blocks(), future.to_bytes());
    bad_inputs += 1;
    assert!(
        !h.disconnected(Duration::from_secs(2)).await,
        "a block from the future got its sender disconnected"
    );
    assert_eq!(a.tip().id, tip_before, "a block from the future was taken");

    // A flood of 80 maximum-size messages: the first gets the sender banned, the rest
    // go nowhere, and memory stays bounded.
    let max = params.max_block_bytes();
    let mut flooder = Hostile::connect(&params, &a, Answers::Honest(status)).await;
    let mut sent = 0;
    for i in 0..80u8 {
        let mut junk = vec![i; max];
        junk[0] = 0xff;
        if flooder.try_publish(flooder.blocks(), junk) {
            sent += 1;
        }
    }
    bad_inputs += 80;
    assert!(sent >= 40, "only {sent} of the 80 flood messages were sent");
    assert!(
        flooder.disconnected(Duration::from_secs(20)).await,
        "the flooding peer was kept"
    );
    assert_eq!(a.tip().id, tip_before);

    // Meanwhile a fresh honest node syncs all 300 blocks from the attacked node.
    let honest = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;

    // Unknown-parent blocks (valid PoW, made-up parents, heights above the tip) from
    // a peer whose own chain is only its genesis: each one makes the node ask for the
    // peer's tip, and the answer does not back the claim.
    let mut orphaner = Hostile::connect(&params, &a, Answers::Honest(status)).await;
    let tip_height = a.tip().height;
    let mut banned = false;
    for i in 0..200u64 {
        let block = solved_on_tip(&a, |b| {
            b.header.prev = cairn_core::Hash::digest(&i.to_le_bytes());
            b.header.height = tip_height + 2 + i;
        });
        if !orphaner.try_publish(orphaner.blocks(), block.to_bytes()) {
            continue;
        }
        bad_inputs += 1;
        if orphaner.disconnected(Duration::from_millis(50)).await {
            banned = true;
            break;
        }
    }
    assert!(
        banned || orphaner.disconnected(Duration::from_secs(10)).await,
        "an unknown-parent flood did not get its sender banned"
    );
    assert!(orphaner.redial_refused(&a.addr).await);
    assert_eq!(
        a.tip().id,
        tip_before,
        "an unknown-parent block moved the tip"
    );

    assert!(
        eventually(Duration::from_secs(60), || honest.tip().id == tip_before).await,
        "the honest node did not sync during the attacks: {} of {}",
        honest.tip().height,
        a.tip().height
    );
    watch.abort();
    let rtts = rtts.lock().unwrap().clone();
    let grown = rss_bytes().saturating_sub(rss_before);
    eprintln!(
        "hostile: {bad_inputs} bad messages; the honest peer's pings meanwhile: {} answered, \
         slowest {:?}; memory grew {} MiB",
        rtts.len(),
        rtts.iter().max(),
        grown >> 20
    );
    assert!(
        grown < 512 << 20,
        "memory grew by {} MiB under the attacks",
        grown >> 20
    );
}
