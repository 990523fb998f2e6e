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
    /// Claims enormous work and drops every headers request unanswered (the stream is
    /// closed without a response).
    Dropping(ChainStatus),
    /// Claims this status; when asked for headers, first hands `block` to `node` (as
    /// if it had arrived by gossip meanwhile), then serves `headers`.
    Racing {
        status: ChainStatus,
        headers: Vec<cairn_core::BlockHeader>,
        node: std::sync::Arc<cairn_node::Node>,
        block: Option<Block>,
    },
    /// Answers a status request with two headers (a response of the wrong kind and
    /// larger than any status).
    Oversized(cairn_core::BlockHeader),
}

struct Hostile {
    swarm: Swarm<Behaviour>,
    names: Names,
    answers: Answers,
    node: PeerId,
    held: Vec<request_response::ResponseChannel<SyncResponse>>,
    /// Headers requests received.
    headers_asked: usize,
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
                    SyncCodec::new(params.max_block_bytes()),
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
            headers_asked: 0,
        };
        for topic in [h.blocks(), h.txs(), h.compact()] {
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

    fn compact(&self) -> IdentTopic {
        IdentTopic::new(self.names.compact_topic.clone())
    }

    /// Sends `request` to the node; its answer, or `None` if the request failed or
    /// went unanswered for `timeout`.
    async fn ask(&mut self, request: SyncRequest, timeout: Duration) -> Option<SyncResponse> {
        let node = self.node;
        let id = self.swarm.behaviour_mut().sync.send_request(&node, request);
        let mut answer = None;
        let mut failed = false;
        self.drive(timeout, |e| match e {
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) if *request_id == id => {
                answer = Some(response.clone());
                true
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure { request_id, .. },
            )) if *request_id == id => {
                failed = true;
                true
            }
            _ => false,
        })
        .await;
        if failed { None } else { answer }
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
                    if matches!(request, SyncRequest::Headers { .. }) {
                        self.headers_asked += 1;
                    }
                    match (&mut self.answers, &request) {
                        (Answers::Stalling(..), SyncRequest::Blocks { .. }) => {
                            self.held.push(channel);
                            continue;
                        }
                        (Answers::Dropping(_), SyncRequest::Headers { .. }) => {
                            drop(channel);
                            continue;
                        }
                        (Answers::Racing { node, block, .. }, SyncRequest::Headers { .. }) => {
                            if let Some(b) = block.take() {
                                node.submit_block(b, cairn_node::BlockSource::Miner)
                                    .unwrap();
                            }
                        }
                        _ => {}
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
            (Answers::Dropping(s), SyncRequest::Status) => SyncResponse::Status(*s),
            (Answers::Racing { status, .. }, SyncRequest::Status) => SyncResponse::Status(*status),
            (Answers::Racing { headers, .. }, SyncRequest::Headers { .. }) => {
                SyncResponse::Headers(headers.clone())
            }
            (Answers::Oversized(h), SyncRequest::Status) => SyncResponse::Headers(vec![*h, *h]),
            (_, SyncRequest::Headers { .. }) => SyncResponse::Headers(vec![]),
            (_, SyncRequest::Blocks { .. }) => SyncResponse::Blocks(vec![]),
            (_, SyncRequest::MempoolIds { .. }) => SyncResponse::TxIds(vec![]),
            (_, SyncRequest::BlockTransfers { .. } | SyncRequest::Transfers { .. }) => {
                SyncResponse::Transfers(vec![])
            }
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
                c.outputs[0].amount = Amount(c.outputs[0].amount.0 + 1);
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
        .reader()
        .snapshot()
        .headers_after(&[params.genesis_id()], 2_000)
        .unwrap();

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

/// Work that exceeds `work` by one unit.
fn just_above(work: Work) -> Work {
    let mut one = [0u8; 32];
    one[31] = 1;
    work.saturating_add(Work::from_be_bytes(one))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_the_most_work_that_drops_headers_requests_cannot_stop_sync() {
    let params = test_params();
    let honest = TestNode::start(&params, NodeOptions::default()).await;
    for _ in 0..100 {
        honest.mine_block(dev_keys()[0].address());
    }
    let fresh = TestNode::start(&params, NodeOptions::default()).await;
    // The liar is there first and claims the most work there can be.
    let liar_status = ChainStatus {
        network: params.network_id(),
        tip: cairn_core::Hash([7; 32]),
        height: 1_000_000,
        work: Work::from_be_bytes([0xff; 32]),
    };
    let mut liar = Hostile::connect(&params, &fresh, Answers::Dropping(liar_status)).await;
    let watch = tokio::spawn(async move {
        let dropped = liar.disconnected(Duration::from_secs(30)).await;
        (dropped, liar.headers_asked)
    });
    fresh.dial(&honest.addr).await;
    let start = std::time::Instant::now();
    let tip = honest.tip().id;
    assert!(
        eventually(Duration::from_secs(20), || fresh.tip().id == tip).await,
        "the liar stopped header sync: the fresh node is at {} of 100",
        fresh.tip().height
    );
    let took = start.elapsed();
    let (dropped, asked) = watch.await.unwrap();
    eprintln!(
        "liar dropping headers requests: synced 100 blocks from the honest peer in {took:?}; \
         the liar was asked for headers {asked} time(s), disconnected: {dropped}"
    );
    assert!(dropped, "the liar was kept");
    assert!(asked >= 1, "the liar was never asked for headers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_race_a_gossiped_block_cost_the_peer_nothing() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    for _ in 0..5 {
        a.mine_block(dev_keys()[0].address());
    }
    // An honest peer whose tip is one block ahead of ours; while our headers request is
    // in flight, that block reaches us by gossip, so every header it answers with is
    // already stored.
    let next = solved_on_tip(&a, |_| {});
    let tip = a.tip();
    let status = ChainStatus {
        network: params.network_id(),
        tip: next.id(),
        height: tip.height + 1,
        work: just_above(tip.work),
    };
    let penalties = a.stats().await.penalties;
    let mut racer = Hostile::connect(
        &params,
        &a,
        Answers::Racing {
            status,
            headers: vec![next.header],
            node: a.node().clone(),
            block: Some(next.clone()),
        },
    )
    .await;
    racer.drive(Duration::from_secs(2), |_| false).await;
    assert_eq!(racer.headers_asked, 1, "the race did not happen as planned");
    assert_eq!(a.tip().id, next.id());
    assert_eq!(
        a.stats().await.penalties,
        penalties,
        "an honest peer was penalised for a race with gossip"
    );
    assert!(
        a.peers()
            .await
            .contains(&racer.swarm.local_peer_id().clone())
    );

    // A liar that claims far more work and answers with headers we store loses the
    // header slot (it is not asked again before the status interval) and a strike.
    let next = solved_on_tip(&a, |_| {});
    let mut liar = Hostile::connect(
        &params,
        &a,
        Answers::Racing {
            status: ChainStatus {
                work: Work::from_be_bytes([0xff; 32]),
                tip: next.id(),
                height: 1_000_000,
                ..status
            },
            headers: vec![next.header],
            node: a.node().clone(),
            block: Some(next.clone()),
        },
    )
    .await;
    // (The test nodes ask every peer's tip every 2 s.)
    liar.drive(Duration::from_millis(1_500), |_| false).await;
    assert_eq!(
        liar.headers_asked, 1,
        "the liar kept the header slot after answering with stored headers"
    );
    assert_eq!(a.stats().await.penalties, penalties + 1);
    assert_eq!(
        a.stats().await.bans,
        0,
        "a single unbacked claim banned the peer"
    );
    // Asked again after the status interval, it lies again and is banned.
    assert!(
        liar.disconnected(Duration::from_secs(10)).await,
        "a peer that keeps claiming work it does not show was kept"
    );
    assert_eq!(a.stats().await.bans, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_answer_larger_than_a_status_gets_the_sender_banned() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let header = a.tip().header;
    let mut h = Hostile::connect(&params, &a, Answers::Oversized(header)).await;
    assert!(
        h.disconnected(Duration::from_secs(10)).await,
        "a peer answering a status request with a larger message was kept"
    );
    assert!(h.redial_refused(&a.addr).await);
    assert_eq!(a.stats().await.bans, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_the_most_work_with_headers_from_the_future_cannot_stop_sync() {
    let params = test_params();
    let honest = TestNode::start(&params, NodeOptions::default()).await;
    let fresh = TestNode::start(&params, NodeOptions::default()).await;
    // One header on genesis with valid PoW but a timestamp an hour ahead: not
    // provably bad (clocks differ), and not usable either.
    let mut future = fresh.node().block_template(dev_keys()[4].address()).header;
    future.timestamp_ms += 3_600_000;
    assert!(solve_naive(&mut future, 1 << 24));
    for _ in 0..100 {
        honest.mine_block(dev_keys()[0].address());
    }
    let mut liar = Hostile::connect(
        &params,
        &fresh,
        Answers::Lying(params.network_id(), vec![future]),
    )
    .await;
    let watch = tokio::spawn(async move {
        liar.drive(Duration::from_secs(20), |_| false).await;
        liar.headers_asked
    });
    fresh.dial(&honest.addr).await;
    let start = std::time::Instant::now();
    let tip = honest.tip().id;
    // The test nodes ask every peer's tip every 2 s: a few rounds at most.
    assert!(
        eventually(Duration::from_secs(8), || fresh.tip().id == tip).await,
        "a peer serving future headers stalled header sync: the fresh node is at {} of 100",
        fresh.tip().height
    );
    eprintln!(
        "liar serving future headers: synced 100 blocks from the honest peer in {:?}",
        start.elapsed()
    );
    watch.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mempool_request_floods_cost_points_and_a_bad_compact_block_bans_its_sender() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let tx = cairn_tests::dev_transfer(a.node(), 0, dev_keys()[3].address(), 5_000);
    let pending = a.node().submit_transfer(tx).unwrap();
    let mut h = Hostile::connect(&params, &a, Answers::Honest(genesis_status(&params))).await;

    // Four mempool id lists a minute are served (a connection and a few
    // reconnections); the fifth is refused, and costs points but not a ban.
    for i in 0..5 {
        let answer = h
            .ask(SyncRequest::MempoolIds { max: 10 }, Duration::from_secs(5))
            .await;
        if i < 4 {
            assert_eq!(
                answer,
                Some(SyncResponse::TxIds(vec![pending])),
                "request {i}"
            );
        } else {
            assert_eq!(answer, None, "request {i} was served");
        }
    }
    let s = a.stats().await;
    assert_eq!((s.penalties, s.bans), (1, 0), "{s:?}");
    // Transfers by id: served within the quota.
    let answer = h
        .ask(
            SyncRequest::Transfers { ids: vec![pending] },
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(answer, Some(SyncResponse::Transfers(t)) if t.len() == 1 && t[0].id() == pending)
    );

    // Garbage on the compact topic, a compact block that names more transactions
    // than any block can hold (with a valid header on the tip), and one whose header
    // lacks proof of work each get their sender banned. The node's tip does not move.
    let tip = a.tip().id;
    let mut too_many =
        cairn_core::compact::CompactBlock::new(&block_on_tip(&a, |_| {}, false), |_| false, 0);
    too_many.short_ids = vec![[7; 6]; params.max_block_bytes() / 145 + 10];
    let bad_pow =
        cairn_core::compact::CompactBlock::new(&block_on_tip(&a, |_| {}, true), |_| false, 0);
    let mut garbage = vec![0xde, 0xad, 0xbe, 0xef];
    garbage.extend_from_slice(&[7u8; 300]);
    for (what, bytes) in [
        ("undecodable", garbage),
        ("too many transactions", too_many.to_bytes()),
        ("no proof of work", bad_pow.to_bytes()),
    ] {
        let topic = h.compact();
        h.publish(topic, bytes);
        assert!(
            h.disconnected(Duration::from_secs(10)).await,
            "{what}: the sender of the compact block was kept"
        );
        assert!(h.redial_refused(&a.addr).await, "{what}");
        assert_eq!(a.tip().id, tip, "{what}");
        h = Hostile::connect(&params, &a, Answers::Honest(genesis_status(&params))).await;
    }
}
