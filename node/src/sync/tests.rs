//! The schedulers against a scripted network (after reth's downloader tests): each
//! remote peer answers from its own list of blocks, honestly, slowly, wrongly or not
//! at all, while our side is a real [`Node`] over a temp RocksDB. Every step checks
//! the queue bounds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cairn_core::testkit::{ChainBuilder, easy_params};
use cairn_core::{Block, BlockHeader, BlockId, ChainParams, SecretKey, Work};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::bodies::Slot;
use super::manager::{BAN, STRIKE, SyncManager};
use super::peers::{MAX_DROPPED_CLAIMS, MAX_HEADERS_FAILURES};
use super::{SyncConfig, SyncNetwork};
use crate::mempool::MempoolConfig;
use crate::network::codec::{MAX_BLOCKS, MAX_HEADERS};
use crate::network::{
    ChainStatus, NetworkError, NetworkEvent, RequestFailure, SyncRequest, SyncResponse,
};
use crate::node::{BlockSource, Node, NodeConfig};

/// How a remote answers headers requests.
#[derive(Debug, Clone, Default)]
enum HeadersMode {
    /// Its main chain after our locator.
    #[default]
    Honest,
    /// Nothing, whatever it claims.
    Empty,
    /// Its main chain from block 1, whatever the locator.
    FromGenesis,
    /// This failure.
    Fail(RequestFailure),
}

/// How a remote answers blocks requests.
#[derive(Debug, Clone, Default)]
enum BodiesMode {
    /// The longest prefix of the ids it has.
    #[default]
    Honest,
    /// A timeout, after `TIMEOUT`.
    Timeout,
    /// Never.
    Hang,
    /// The blocks with a transaction added (not matching the merkle root).
    Wrong,
}

/// The request timeout of the scripted network.
const TIMEOUT: Duration = Duration::from_millis(200);

/// A remote peer.
#[derive(Debug, Clone)]
struct Remote {
    params: ChainParams,
    /// The chain it shows, genesis first.
    main: Vec<Block>,
    /// Every block it serves.
    all: HashMap<BlockId, Block>,
    /// A tip it claims instead of its own: height and work.
    claim: Option<(u64, Work)>,
    headers: HeadersMode,
    bodies: BodiesMode,
    /// Before each headers answer.
    headers_delay: Duration,
    /// Before each blocks answer.
    bodies_delay: Duration,
    connected: bool,
}

impl Remote {
    fn new(main: &[Block]) -> Remote {
        let mut r = Remote {
            params: easy_params(),
            main: Vec::new(),
            all: HashMap::new(),
            claim: None,
            headers: HeadersMode::Honest,
            bodies: BodiesMode::Honest,
            headers_delay: Duration::ZERO,
            bodies_delay: Duration::ZERO,
            connected: true,
        };
        r.switch_to(main);
        r
    }

    /// Makes `main` its chain (it keeps serving the blocks of the old one).
    fn switch_to(&mut self, main: &[Block]) {
        self.main = main.to_vec();
        self.all.extend(main.iter().map(|b| (b.id(), b.clone())));
    }

    fn status(&self) -> ChainStatus {
        let tip = self.main.last().expect("genesis at least");
        let work = self.main.iter().fold(Work::default(), |w, b| {
            let target = b.header.target.to_target().expect("a valid target");
            w.saturating_add(target.work())
        });
        let (height, work) = self.claim.unwrap_or((tip.header.height, work));
        ChainStatus {
            network: self.params.network_id(),
            tip: tip.id(),
            height,
            work,
        }
    }

    fn headers_after(&self, locator: &[BlockId], max: usize) -> Vec<BlockHeader> {
        let start = locator
            .iter()
            .find_map(|id| {
                let h = usize::try_from(self.all.get(id)?.header.height).ok()?;
                (self.main.get(h).map(Block::id) == Some(*id)).then_some(h)
            })
            .unwrap_or(0);
        self.main
            .iter()
            .skip(start + 1)
            .take(max)
            .map(|b| b.header)
            .collect()
    }

    fn blocks(&self, ids: &[BlockId]) -> Vec<Block> {
        ids.iter()
            .take(MAX_BLOCKS)
            .map_while(|id| self.all.get(id).cloned())
            .collect()
    }
}

/// What a remote will answer.
enum Answer {
    Now(Result<SyncResponse, NetworkError>),
    Timeout,
    Never,
}

#[derive(Debug, Default)]
struct Script {
    remotes: HashMap<PeerId, Remote>,
    /// Every request, in order.
    log: Vec<(PeerId, SyncRequest)>,
    /// Requests of any kind being answered, per peer, and the most there ever were.
    open: HashMap<PeerId, usize>,
    most_open: HashMap<PeerId, usize>,
    penalties: Vec<(PeerId, u32, String)>,
    points: HashMap<PeerId, u32>,
    disconnects: Vec<(PeerId, String)>,
}

/// A network of scripted remotes that reports disconnections and bans through the
/// same events as the real one.
#[derive(Debug, Clone)]
struct ScriptedNet {
    script: Arc<Mutex<Script>>,
    events: mpsc::Sender<NetworkEvent>,
}

impl ScriptedNet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("script lock")
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.lock().remotes.get(peer).is_some_and(|r| r.connected)
    }

    /// Drops the connection to `peer`, as the network does, and says so.
    fn drop_peer(&self, peer: PeerId) {
        if let Some(r) = self.lock().remotes.get_mut(&peer) {
            r.connected = false;
        }
        let _ = self
            .events
            .try_send(NetworkEvent::PeerDisconnected { peer });
    }
}

fn unreachable(peer: PeerId) -> NetworkError {
    NetworkError::Request {
        peer,
        reason: RequestFailure::Unreachable("connection closed".into()),
    }
}

/// Counts a request as open at its remote until it is answered (or dropped).
struct Open(Arc<Mutex<Script>>, PeerId);

impl Drop for Open {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock()
            && let Some(n) = s.open.get_mut(&self.1)
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl SyncNetwork for ScriptedNet {
    async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetworkError> {
        let _open = Open(self.script.clone(), peer);
        let (delay, answer) = {
            let mut s = self.lock();
            s.log.push((peer, request.clone()));
            let n = {
                let n = s.open.entry(peer).or_insert(0);
                *n += 1;
                *n
            };
            let most = s.most_open.entry(peer).or_insert(0);
            *most = (*most).max(n);
            let Some(r) = s.remotes.get(&peer).filter(|r| r.connected) else {
                return Err(unreachable(peer));
            };
            match request {
                SyncRequest::Status => (
                    Duration::ZERO,
                    Answer::Now(Ok(SyncResponse::Status(r.status()))),
                ),
                SyncRequest::Headers { locator, max } => {
                    let max = usize::try_from(max).unwrap_or(MAX_HEADERS).min(MAX_HEADERS);
                    let answer = match &r.headers {
                        HeadersMode::Honest => {
                            Ok(SyncResponse::Headers(r.headers_after(&locator, max)))
                        }
                        HeadersMode::Empty => Ok(SyncResponse::Headers(Vec::new())),
                        HeadersMode::FromGenesis => Ok(SyncResponse::Headers(
                            r.main.iter().skip(1).take(max).map(|b| b.header).collect(),
                        )),
                        HeadersMode::Fail(reason) => Err(NetworkError::Request {
                            peer,
                            reason: reason.clone(),
                        }),
                    };
                    (r.headers_delay, Answer::Now(answer))
                }
                SyncRequest::Blocks { ids } => {
                    let answer = match r.bodies {
                        BodiesMode::Honest => Answer::Now(Ok(SyncResponse::Blocks(r.blocks(&ids)))),
                        BodiesMode::Timeout => Answer::Timeout,
                        BodiesMode::Hang => Answer::Never,
                        BodiesMode::Wrong => {
                            let mut blocks = r.blocks(&ids);
                            for b in &mut blocks {
                                b.txs.push(b.txs[0].clone());
                            }
                            Answer::Now(Ok(SyncResponse::Blocks(blocks)))
                        }
                    };
                    (r.bodies_delay, answer)
                }
                SyncRequest::BlockTransfers { .. }
                | SyncRequest::MempoolIds { .. }
                | SyncRequest::Transfers { .. } => return Err(unreachable(peer)),
            }
        };
        tokio::time::sleep(delay).await;
        let answer = match answer {
            Answer::Now(r) => r,
            Answer::Timeout => {
                tokio::time::sleep(TIMEOUT).await;
                Err(NetworkError::Request {
                    peer,
                    reason: RequestFailure::Timeout,
                })
            }
            // A request whose connection went may only be reported much later.
            Answer::Never => std::future::pending().await,
        };
        if self.is_connected(&peer) {
            answer
        } else {
            Err(unreachable(peer))
        }
    }

    fn penalize(&self, peer: PeerId, points: u32, reason: String) {
        let banned = {
            let mut s = self.lock();
            s.penalties.push((peer, points, reason.clone()));
            let total = s.points.entry(peer).or_insert(0);
            *total += points;
            *total >= 100
        };
        if banned && self.is_connected(&peer) {
            let _ = self.events.try_send(NetworkEvent::Banned {
                peer,
                until_ms: u64::MAX,
                reason,
            });
            self.drop_peer(peer);
        }
    }

    fn disconnect(&self, peer: PeerId, reason: String) {
        self.lock().disconnects.push((peer, reason));
        self.drop_peer(peer);
    }
}

/// The work of a chain of `blocks` easy blocks (genesis included).
fn work_of(blocks: usize) -> Work {
    let one = cairn_core::testkit::easy_target().work();
    (0..blocks).fold(Work::default(), |w, _| w.saturating_add(one))
}

/// Genesis and `n` blocks after it, one target block time apart.
fn chain(n: usize) -> Vec<Block> {
    let mut b = ChainBuilder::new(easy_params());
    extend(&mut b, n)
}

fn extend(b: &mut ChainBuilder, n: usize) -> Vec<Block> {
    let dt = b.params.target_block_time_ms();
    for _ in 0..n {
        b.extend(vec![], dt);
    }
    b.blocks.clone()
}

/// A chain longer than one full headers answer, built once.
fn long_chain() -> &'static [Block] {
    static CHAIN: OnceLock<Vec<Block>> = OnceLock::new();
    CHAIN.get_or_init(|| chain(MAX_HEADERS + 10))
}

/// Our node with the sync manager, driven step by step.
struct Harness {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    net: ScriptedNet,
    events: mpsc::Receiver<NetworkEvent>,
    manager: SyncManager<ScriptedNet, Node>,
    tick: tokio::time::Interval,
}

impl Harness {
    fn new(config: SyncConfig) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Node::open(NodeConfig {
            params: easy_params(),
            datadir: dir.path().to_path_buf(),
            mempool: MempoolConfig::default(),
            min_free_disk: 0,
            store: crate::store::StoreConfig::default(),
        })
        .expect("node");
        let (tx, events) = mpsc::channel(1_024);
        let net = ScriptedNet {
            script: Arc::default(),
            events: tx,
        };
        let (manager, _) = SyncManager::new(node.clone(), net.clone(), config);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Harness {
            _dir: dir,
            node,
            net,
            events,
            manager,
            tick,
        }
    }

    fn connect(&self, remote: Remote) -> PeerId {
        let peer = PeerId::random();
        self.net.lock().remotes.insert(peer, remote);
        self.net
            .events
            .try_send(NetworkEvent::PeerConnected {
                peer,
                inbound: false,
            })
            .expect("room for the event");
        peer
    }

    /// Our node gets these blocks by other means.
    fn import(&self, blocks: &[Block]) {
        for b in blocks {
            self.node
                .submit_block(b.clone(), BlockSource::Rpc)
                .expect("valid block");
        }
    }

    fn tip(&self) -> BlockId {
        self.node.tip().id
    }

    /// One step of the manager, then the bounds every queue must keep.
    async fn step(&mut self) {
        assert!(
            self.manager.step(&mut self.events, &mut self.tick).await,
            "the manager stopped"
        );
        let m = &self.manager;
        let in_flight = m
            .slots
            .values()
            .filter(|s| matches!(s, Slot::InFlight(_)))
            .count();
        assert!(in_flight <= m.config.window, "{in_flight} blocks in flight");
        // Never more requests of any kind at a peer than it serves at once (a busy
        // node drops the rest, and a dropped headers request costs its claim).
        for (id, most) in &self.net.lock().most_open {
            assert!(
                *most <= m.config.per_peer,
                "{id}: {most} requests open at once"
            );
        }
        assert!(m.order.len() < m.config.max_queue + MAX_HEADERS);
        assert_eq!(m.order.len(), m.slots.len());
        assert!(m.dropped_claims.len() <= MAX_DROPPED_CLAIMS);
    }

    /// Steps until `done`, failing after `limit`.
    async fn run_until(&mut self, what: &str, limit: Duration, done: impl Fn(&Harness) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            self.step().await;
        }
    }

    /// Steps for `d`.
    async fn run_for(&mut self, d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            self.step().await;
        }
    }

    fn requests(&self, peer: PeerId, kind: fn(&SyncRequest) -> bool) -> Vec<SyncRequest> {
        self.net
            .lock()
            .log
            .iter()
            .filter(|(p, r)| *p == peer && kind(r))
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn penalties(&self, peer: PeerId) -> Vec<(u32, String)> {
        self.net
            .lock()
            .penalties
            .iter()
            .filter(|(p, ..)| *p == peer)
            .map(|(_, n, r)| (*n, r.clone()))
            .collect()
    }

    fn disconnects(&self, peer: PeerId) -> Vec<String> {
        self.net
            .lock()
            .disconnects
            .iter()
            .filter(|(p, _)| *p == peer)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The ids asked of `peer` in blocks requests.
    fn asked_blocks(&self, peer: PeerId) -> HashSet<BlockId> {
        self.requests(peer, is_blocks)
            .into_iter()
            .flat_map(|r| match r {
                SyncRequest::Blocks { ids } => ids,
                _ => Vec::new(),
            })
            .collect()
    }
}

fn is_status(r: &SyncRequest) -> bool {
    matches!(r, SyncRequest::Status)
}

fn is_headers(r: &SyncRequest) -> bool {
    matches!(r, SyncRequest::Headers { .. })
}

fn is_blocks(r: &SyncRequest) -> bool {
    matches!(r, SyncRequest::Blocks { .. })
}

/// Small chunks and a status interval longer than any test unless a test says so.
fn config() -> SyncConfig {
    SyncConfig {
        window: 64,
        chunk: 4,
        per_peer: 2,
        max_queue: 50_000,
        status_interval: Duration::from_secs(60),
        progress_interval: Duration::from_secs(60),
    }
}

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_from_an_honest_peer() {
    let blocks = chain(40);
    let mut h = Harness::new(config());
    let peer = h.connect(Remote::new(&blocks));
    let want = blocks[40].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    assert!(h.penalties(peer).is_empty());
    assert_eq!(h.asked_blocks(peer).len(), 40);
    h.run_until("an empty queue", LIMIT, |h| h.manager.order.is_empty())
        .await;
    assert!(!h.manager.status.borrow().syncing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_peer_is_disconnected_and_its_blocks_come_from_another() {
    let blocks = chain(40);
    let mut h = Harness::new(config());
    let mut slow = Remote::new(&blocks);
    slow.bodies = BodiesMode::Timeout;
    let slow = h.connect(slow);
    let fast = h.connect(Remote::new(&blocks));
    let want = blocks[40].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    let stalled = h.asked_blocks(slow);
    assert!(!stalled.is_empty(), "the slow peer was never asked");
    assert!(stalled.is_subset(&h.asked_blocks(fast)));
    // Both its requests may time out before the first disconnection is seen.
    let disconnects = h.disconnects(slow);
    assert!(!disconnects.is_empty());
    assert!(
        disconnects.iter().all(|r| r == "stalled on blocks"),
        "{disconnects:?}"
    );
    // A stall is not held against a peer: a slow link looks the same.
    assert!(h.penalties(slow).is_empty());
    assert!(h.penalties(fast).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_vanishing_mid_request_has_its_blocks_asked_of_another() {
    let blocks = chain(40);
    let mut h = Harness::new(config());
    let mut vanishing = Remote::new(&blocks);
    vanishing.bodies = BodiesMode::Hang;
    let vanishing = h.connect(vanishing);
    let mut other = Remote::new(&blocks);
    other.bodies_delay = Duration::from_millis(20);
    let other = h.connect(other);
    h.run_until("a request to the peer that vanishes", LIMIT, |h| {
        !h.asked_blocks(vanishing).is_empty()
    })
    .await;
    // It leaves; its requests never come back.
    h.net.drop_peer(vanishing);
    let want = blocks[40].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    assert!(h.asked_blocks(vanishing).is_subset(&h.asked_blocks(other)));
    assert!(h.penalties(vanishing).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_more_work_than_its_headers_show_loses_its_claim() {
    let blocks = chain(30);
    let mut h = Harness::new(config());
    let mut liar = Remote::new(&blocks[..11]);
    liar.claim = Some((1_000, work_of(1_001)));
    liar.headers = HeadersMode::Empty;
    let liar = h.connect(liar);
    let honest = h.connect(Remote::new(&blocks));
    let want = blocks[30].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    assert_eq!(
        h.penalties(liar),
        vec![(STRIKE, "claimed more work than its headers show".into())]
    );
    assert_eq!(h.requests(liar, is_headers).len(), 1);
    assert!(h.penalties(honest).is_empty());
    assert!(h.manager.peers[&liar].status.is_none());
    // Reconnecting does not get its claim heard again before the status interval.
    h.net.drop_peer(liar);
    h.net.lock().remotes.get_mut(&liar).expect("liar").connected = true;
    h.net
        .events
        .try_send(NetworkEvent::PeerConnected {
            peer: liar,
            inbound: true,
        })
        .expect("room");
    h.run_for(Duration::from_millis(300)).await;
    assert!(h.manager.peers.contains_key(&liar));
    assert_eq!(h.requests(liar, is_status).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_with_headers_we_store_loses_its_claim() {
    let blocks = chain(10);
    let mut h = Harness::new(config());
    h.import(&blocks[1..]);
    let mut liar = Remote::new(&blocks);
    liar.claim = Some((50, work_of(51)));
    liar.headers = HeadersMode::FromGenesis;
    let liar = h.connect(liar);
    h.run_until("its claim dropped", LIMIT, |h| {
        h.requests(liar, is_headers).len() == 1 && !h.manager.headers_inflight
    })
    .await;
    h.run_for(Duration::from_millis(200)).await;
    assert_eq!(
        h.penalties(liar),
        vec![(STRIKE, "claimed more work than its headers show".into())]
    );
    assert_eq!(h.requests(liar, is_headers).len(), 1);
    assert_eq!(h.tip(), blocks[10].id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_tip_reached_us_meanwhile_is_not_blamed() {
    let blocks = chain(15);
    let mut h = Harness::new(config());
    h.import(&blocks[1..11]);
    let mut remote = Remote::new(&blocks);
    remote.headers_delay = Duration::from_millis(300);
    let peer = h.connect(remote);
    h.run_until("a headers request", LIMIT, |h| {
        h.manager.headers_inflight && !h.requests(peer, is_headers).is_empty()
    })
    .await;
    // Its blocks arrive by gossip while the request is in flight.
    h.import(&blocks[11..]);
    h.run_until("the answer", LIMIT, |h| !h.manager.headers_inflight)
        .await;
    h.run_for(Duration::from_millis(200)).await;
    assert!(h.penalties(peer).is_empty());
    assert!(h.manager.peers[&peer].status.is_some(), "claim kept");
    assert!(h.manager.order.is_empty());
    assert_eq!(h.tip(), blocks[15].id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_failing_headers_requests_in_a_row_is_disconnected() {
    let blocks = chain(10);
    let mut h = Harness::new(SyncConfig {
        status_interval: Duration::from_millis(100),
        ..config()
    });
    let mut remote = Remote::new(&blocks);
    remote.headers = HeadersMode::Fail(RequestFailure::Unreachable("stream reset".into()));
    let peer = h.connect(remote);
    h.run_until("a disconnection", LIMIT, |h| {
        !h.disconnects(peer).is_empty()
    })
    .await;
    assert_eq!(
        h.requests(peer, is_headers).len(),
        usize::try_from(MAX_HEADERS_FAILURES).expect("small")
    );
    assert_eq!(
        h.disconnects(peer),
        vec![format!(
            "failed {MAX_HEADERS_FAILURES} headers requests in a row: stream reset"
        )]
    );
    assert!(h.penalties(peer).is_empty());
    assert!(h.manager.headers_failures.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_wrong_bodies_is_banned_and_its_blocks_come_from_another() {
    let blocks = chain(20);
    let mut h = Harness::new(config());
    let mut liar = Remote::new(&blocks);
    liar.bodies = BodiesMode::Wrong;
    let liar = h.connect(liar);
    let mut honest = Remote::new(&blocks);
    honest.bodies_delay = Duration::from_millis(20);
    let honest = h.connect(honest);
    let want = blocks[20].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    // Each of its answers in flight costs it a ban's worth.
    let penalties = h.penalties(liar);
    assert!(!penalties.is_empty());
    for (points, reason) in &penalties {
        assert_eq!(*points, BAN);
        assert!(reason.ends_with("does not match its header"), "{reason}");
    }
    assert!(h.asked_blocks(liar).is_subset(&h.asked_blocks(honest)));
    // (The network persists bans itself, through its `PeerStore`: hostile.rs checks
    // that a ban outlives a restart.)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_during_sync_moves_to_the_heavier_branch() {
    let mut a = ChainBuilder::new(easy_params());
    let common = extend(&mut a, 4);
    let mut b = a.clone();
    b.miner = SecretKey::from_seed(&[0x42; 32]).address();
    let branch_a = extend(&mut a, 26);
    let branch_b = extend(&mut b, 36);
    assert_eq!(common[..], branch_b[..5]);
    assert_ne!(branch_a[5].id(), branch_b[5].id());
    let mut h = Harness::new(SyncConfig {
        chunk: 2,
        per_peer: 1,
        status_interval: Duration::from_millis(200),
        ..config()
    });
    let mut remote = Remote::new(&branch_a);
    remote.bodies_delay = Duration::from_millis(40);
    let peer = h.connect(remote);
    h.run_until("the first branch part-way", LIMIT, |h| {
        h.node.tip().height >= 8
    })
    .await;
    assert_eq!(
        h.node.block_at(5).expect("read").map(|b| b.id()),
        Some(branch_a[5].id())
    );
    assert!(
        !h.manager.order.is_empty(),
        "the first branch is still downloading"
    );
    // The peer reorganises to a heavier branch from block 4.
    h.net
        .lock()
        .remotes
        .get_mut(&peer)
        .expect("remote")
        .switch_to(&branch_b);
    let want = branch_b[40].id();
    h.run_until("the heavier branch", LIMIT, |h| h.tip() == want)
        .await;
    for (height, block) in branch_b.iter().enumerate() {
        let height = u64::try_from(height).expect("small");
        assert_eq!(h.node.block_at(height).expect("read"), Some(block.clone()));
    }
    assert!(h.penalties(peer).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queues_stay_bounded() {
    let blocks = long_chain();
    let mut h = Harness::new(SyncConfig {
        window: 20,
        chunk: 4,
        per_peer: 3,
        max_queue: 10,
        ..config()
    });
    let peers: Vec<PeerId> = (0..3)
        .map(|_| {
            let mut r = Remote::new(blocks);
            r.bodies = BodiesMode::Hang;
            h.connect(r)
        })
        .collect();
    h.run_until("a full window", LIMIT, |h| {
        h.manager
            .slots
            .values()
            .filter(|s| matches!(s, Slot::InFlight(_)))
            .count()
            == 20
    })
    .await;
    h.run_for(Duration::from_millis(300)).await;
    // One full headers answer fills the queue past `max_queue`: no more are asked.
    let headers: usize = peers.iter().map(|p| h.requests(*p, is_headers).len()).sum();
    assert_eq!(headers, 1);
    assert_eq!(h.manager.order.len(), MAX_HEADERS);
    // The window, in chunks, at most `per_peer` requests a peer.
    let requests: Vec<SyncRequest> = peers
        .iter()
        .flat_map(|p| h.requests(*p, is_blocks))
        .collect();
    assert_eq!(requests.len(), 5);
    for r in &requests {
        assert!(matches!(r, SyncRequest::Blocks { ids } if ids.len() == 4));
    }
    for p in &peers {
        assert!(h.requests(*p, is_blocks).len() <= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_of_dropped_claims_and_failures_is_bounded() {
    let mut h = Harness::new(config());
    for _ in 0..MAX_DROPPED_CLAIMS + 10 {
        let peer = PeerId::random();
        h.manager.drop_claim(peer);
        h.manager.headers_failed(peer, "reset");
    }
    assert!(h.manager.dropped_claims.len() <= MAX_DROPPED_CLAIMS);
    assert!(h.manager.headers_failures.len() <= MAX_DROPPED_CLAIMS);
    h.step().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_is_behind_only_on_checked_headers_with_more_work() {
    let blocks = chain(40);
    let mut h = Harness::new(config());
    // A claim alone (no headers behind it) never makes the node behind.
    let mut liar = Remote::new(&blocks[..11]);
    liar.claim = Some((1_000, work_of(1_001)));
    liar.headers = HeadersMode::Empty;
    h.connect(liar);
    h.run_for(Duration::from_millis(300)).await;
    assert!(!h.node.is_behind());
    // Checked headers with more work do, until the blocks are in.
    let mut slow = Remote::new(&blocks);
    slow.bodies_delay = Duration::from_millis(50);
    h.connect(slow);
    h.run_until("headers ahead of the tip", LIMIT, |h| h.node.is_behind())
        .await;
    let want = blocks[40].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    h.run_for(Duration::from_millis(100)).await;
    assert!(!h.node.is_behind());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_gossiped_while_a_status_was_in_flight_is_judged_by_the_next_status() {
    let blocks = chain(8);
    let mut h = Harness::new(config());
    let honest = h.connect(Remote::new(&blocks[..4]));
    let liar = h.connect(Remote::new(&blocks[..4]));
    let want = blocks[3].id();
    h.run_until("the tip", LIMIT, |h| h.tip() == want).await;
    for peer in [honest, liar] {
        // Its block 5 arrives by gossip while a status request, asked before it had
        // the block, is still on its way; that answer shows height 3.
        h.manager.peers.get_mut(&peer).expect("connected").asking = true;
        h.manager.on_event(NetworkEvent::UnconnectedBlock {
            peer,
            header: blocks[5].header,
        });
        let old = h.net.lock().remotes[&peer].status();
        h.manager.on_status(peer, Ok(SyncResponse::Status(old)));
        assert!(h.penalties(peer).is_empty(), "a stale answer cost a strike");
    }
    // The honest peer's chain holds the block; the liar's never will.
    h.net
        .lock()
        .remotes
        .get_mut(&honest)
        .expect("honest")
        .switch_to(&blocks[..6]);
    let want = blocks[5].id();
    h.run_until("the honest peer's tip", LIMIT, |h| h.tip() == want)
        .await;
    h.run_until("the liar judged", LIMIT, |h| !h.penalties(liar).is_empty())
        .await;
    assert!(h.penalties(honest).is_empty());
    assert_eq!(
        h.penalties(liar),
        vec![(
            STRIKE,
            "gossiped a block at height 5 above its chain (3)".into()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_continuing_a_queue_whose_last_blocks_are_being_imported_cost_nothing() {
    let blocks = chain(10);
    let mut h = Harness::new(config());
    h.import(&blocks[1..6]);
    let peer = h.connect(Remote::new(&blocks));
    h.run_until("its status", LIMIT, |h| {
        h.manager
            .peers
            .get(&peer)
            .is_some_and(|p| p.status.is_some())
    })
    .await;
    // The queue ran to block 8; blocks 6–8 have left the queue for the import, which
    // has not stored them yet; a headers request (asked after block 8) is in flight.
    let params = easy_params();
    let mut cursor = h
        .node
        .with_chain(|c| c.header_cursor(&blocks[5].id(), u64::MAX / 2))
        .expect("block 5 is stored");
    for (i, b) in blocks[6..9].iter().enumerate() {
        cursor.advance(&b.header, &params, i).expect("valid header");
    }
    let m = &mut h.manager;
    m.order.clear();
    m.slots.clear();
    m.cursor = Some(cursor);
    m.header_peer = Some(peer);
    m.headers_more = false;
    m.headers_inflight = true;
    m.importing = true;
    m.schedule();
    // Its answer continues after block 8.
    let generation = m.generation;
    m.on_headers_outcome(
        peer,
        generation,
        Ok(SyncResponse::Headers(vec![
            blocks[9].header,
            blocks[10].header,
        ])),
    );
    assert!(h.penalties(peer).is_empty(), "{:?}", h.penalties(peer));
    assert_eq!(h.manager.order.len(), 2, "blocks 9 and 10 queued");
}
