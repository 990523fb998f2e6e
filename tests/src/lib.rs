//! Cairn's multi-node test harness: real nodes (RocksDB, libp2p over TCP on
//! 127.0.0.1 with random ports) in temporary directories, started in this process
//! ([`TestNode`]) or as `cairn-node` processes ([`NodeProcess`]).
//!
//! Everything a node writes lives in its own temporary directory, removed when the
//! node is dropped.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::solve_naive;
use cairn_core::{Address, Amount, Block, BlockId, ChainParams, CompactTarget, Transfer};
use cairn_node::chain::TipInfo;
use cairn_node::mempool::MempoolConfig;
use cairn_node::network::NetworkConfig;
use cairn_node::rpc::RpcConfig;
use cairn_node::store::schema::Accounts;
use cairn_node::sync::SyncConfig;
use cairn_node::{BlockSource, Node, NodeConfig, Service, ServiceConfig};
use cairn_rpc::{Client, ClientError, Method};
use libp2p::{Multiaddr, PeerId};

pub mod lab;
pub mod longchain;
pub mod netlab;
pub mod stratum;
pub mod webdriver;

/// A test network: the dev network's rules with a PoW limit of about 256 hashes a
/// block, so blocks are mined in microseconds but invalid PoW is still caught.
pub fn test_params() -> ChainParams {
    params_named("test", 1_767_225_600_000)
}

/// Another network with the same rules and a different genesis.
pub fn other_params() -> ChainParams {
    params_named("other", 1_767_225_600_001)
}

fn params_named(name: &str, timestamp_ms: u64) -> ChainParams {
    let mut cfg = ChainParams::dev().config().clone();
    cfg.name = name.into();
    cfg.timestamp_ms = timestamp_ms;
    cfg.initial_target = CompactTarget(0x2001_0000);
    cfg.pow_limit = CompactTarget(0x2001_0000);
    ChainParams::from_config(cfg).expect("valid test parameters")
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it
/// held.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`eventually`] with an async condition.
pub async fn eventually_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Options for a test node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Peers to connect to at start.
    pub bootnodes: Vec<Multiaddr>,
    /// Use this data directory instead of a fresh one (to restart a node).
    pub datadir: Option<PathBuf>,
    /// How long a sync request may go unanswered (default 10 s).
    pub request_timeout: Option<Duration>,
    /// Serve JSON-RPC here (default: a random loopback port).
    pub rpc_listen: Option<std::net::SocketAddr>,
    /// Host names the RPC answers to besides IP literals (default: `localhost`).
    pub rpc_allowed_hosts: Option<Vec<String>>,
    /// Browser origins allowed besides the node's own (default: none).
    pub rpc_allowed_origins: Option<Vec<String>>,
    /// Run a Stratum pool with this configuration (default: none).
    pub pool: Option<cairn_node::pool::PoolConfig>,
}

impl NodeOptions {
    /// Options for a fresh node whose bootnode is `addr`.
    pub fn boot(addr: &Multiaddr) -> NodeOptions {
        NodeOptions {
            bootnodes: vec![addr.clone()],
            ..NodeOptions::default()
        }
    }
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node running in this process.
pub struct TestNode {
    service: Option<Service>,
    params: ChainParams,
    datadir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The address peers dial, with `/p2p/<peer id>`.
    pub addr: Multiaddr,
    /// Its peer id.
    pub peer_id: PeerId,
    /// Where its JSON-RPC server listens.
    pub rpc_addr: std::net::SocketAddr,
}

/// The admin token of every test node's RPC.
pub const RPC_TOKEN: &str = "test-token";

impl std::fmt::Debug for TestNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNode")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestNode {
    /// Starts a node of `params` listening on a random loopback port. Call from a
    /// multi-threaded tokio runtime.
    pub async fn start(params: &ChainParams, options: NodeOptions) -> TestNode {
        init_logs();
        let (dir, datadir) = match options.datadir {
            Some(d) => (None, d),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        let network = NetworkConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
            bootnodes: options.bootnodes,
            ban_duration: Duration::from_secs(600),
            request_timeout: options.request_timeout.unwrap_or(Duration::from_secs(10)),
            discovery_interval: Duration::from_secs(1),
            ..NetworkConfig::new(&datadir)
        };
        let service = Service::start(ServiceConfig {
            node: NodeConfig {
                params: params.clone(),
                datadir: datadir.clone(),
                mempool: MempoolConfig::default(),
                min_free_disk: NodeConfig::DEFAULT_MIN_FREE_DISK,
                store: cairn_node::store::StoreConfig::default(),
            },
            network: Some(network),
            sync: SyncConfig {
                status_interval: Duration::from_secs(2),
                ..SyncConfig::default()
            },
            mining: None,
            pool: options.pool,
            rpc: Some(RpcConfig {
                listen: options
                    .rpc_listen
                    .unwrap_or_else(|| "127.0.0.1:0".parse().expect("socket address")),
                token: Some(RPC_TOKEN.into()),
                generate: true,
                allowed_hosts: options
                    .rpc_allowed_hosts
                    .unwrap_or_else(|| RpcConfig::new(&datadir).allowed_hosts),
                allowed_origins: options.rpc_allowed_origins.unwrap_or_default(),
                ..RpcConfig::new(&datadir)
            }),
        })
        .await
        .expect("node starts");
        let rpc_addr = service.rpc_addr().expect("rpc runs");
        let client = service.network().expect("networked").clone();
        let peer_id = client.local_peer_id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let listen = loop {
            let l = client.listen_addrs().await;
            if !l.is_empty() {
                break l;
            }
            assert!(Instant::now() < deadline, "node did not start listening");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let addr = listen[0]
            .clone()
            .with_p2p(peer_id)
            .expect("no /p2p suffix yet");
        TestNode {
            rpc_addr,
            service: Some(service),
            params: params.clone(),
            datadir,
            _dir: dir,
            addr,
            peer_id,
        }
    }

    fn service(&self) -> &Service {
        self.service.as_ref().expect("node is running")
    }

    /// Where the node's Stratum endpoint listens (it must run a pool).
    pub fn pool_addr(&self) -> std::net::SocketAddr {
        self.service
            .as_ref()
            .and_then(Service::pool_addr)
            .expect("the node runs a pool")
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        self.service().node()
    }

    /// The data directory.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The main-chain tip.
    pub fn tip(&self) -> TipInfo {
        self.node().tip()
    }

    /// Ids of the connected peers.
    pub async fn peers(&self) -> Vec<PeerId> {
        let client = self.service().network().expect("networked");
        client.peers().await.into_iter().map(|p| p.peer).collect()
    }

    /// The network's counters.
    pub async fn stats(&self) -> cairn_node::network::NetworkStats {
        let client = self.service().network().expect("networked");
        client.stats().await
    }

    /// Sends `peer` a sync request through this node's network, as sync does.
    pub async fn request(
        &self,
        peer: PeerId,
        request: cairn_node::network::SyncRequest,
    ) -> Result<cairn_node::network::SyncResponse, cairn_node::network::NetworkError> {
        let client = self.service().network().expect("networked");
        client.request(peer, request).await
    }

    /// Connects to another node.
    pub async fn dial(&self, addr: &Multiaddr) {
        let client = self.service().network().expect("networked");
        client.dial(addr.clone()).await;
    }

    /// Builds a block on the tip paying `coinbase` (mempool transfers included),
    /// mines it and submits it as this node's miner would (so it is gossiped).
    pub fn mine_block(&self, coinbase: Address) -> Block {
        mine_on(self.node(), coinbase)
    }

    /// Submits a block directly (not gossiped).
    pub fn import(&self, block: Block) {
        self.node()
            .submit_block(block, BlockSource::Rpc)
            .expect("valid block");
    }

    /// Whether the mempool holds `tx`.
    pub fn mempool_has(&self, tx: &cairn_core::TxId) -> bool {
        self.node().with_mempool(|m| m.contains(tx))
    }

    /// The confirmed balance of `address`.
    pub fn balance(&self, address: &Address) -> u64 {
        self.node()
            .reader()
            .get::<Accounts>(address)
            .ok()
            .flatten()
            .map_or(0, |a| a.balance.0)
    }

    /// What `address` has been paid: its confirmed balance plus its immature rewards.
    pub fn earned(&self, address: &Address) -> u64 {
        let snapshot = self.node().reader().snapshot();
        let balance = snapshot
            .get::<Accounts>(address)
            .expect("readable")
            .map_or(0, |a| a.balance.0);
        balance
            + snapshot
                .immature(&self.params, address)
                .expect("readable")
                .0
    }

    /// The sum of all confirmed balances and immature rewards equals the subsidy
    /// schedule at the tip.
    pub fn supply_is_conserved(&self) -> bool {
        let snapshot = self.node().reader().snapshot();
        let balances: u128 = snapshot
            .iter::<Accounts>()
            .map(|r| u128::from(r.expect("readable").1.balance.0))
            .sum();
        let immature: u128 = snapshot
            .immature_coinbases(&self.params)
            .expect("readable")
            .iter()
            .flat_map(|cb| &cb.outputs)
            .map(|o| u128::from(o.amount.0))
            .sum();
        let height = snapshot.tip_header().expect("readable").height;
        balances + immature == u128::from(self.params.supply_at(height).0)
    }

    /// Stops the node (gracefully), keeping its data directory.
    pub async fn stop(&mut self) {
        if let Some(s) = self.service.take() {
            s.stop().await;
        }
    }
}

/// Builds a block on `node`'s tip paying `coinbase` (mempool transfers included),
/// mines it and submits it as the node's miner would (so it is gossiped).
pub fn mine_on(node: &Node, coinbase: Address) -> Block {
    let mut block = node.block_template(coinbase);
    assert!(
        solve_naive(&mut block.header, 1 << 24),
        "no nonce found for {}",
        block.header.target
    );
    node.submit_block(block.clone(), BlockSource::Miner)
        .expect("a mined template is valid");
    block
}

/// A signed transfer of `amount` from dev account `from` to `to`, with the nonce
/// after what `node` knows (confirmed and pending).
pub fn dev_transfer(node: &Node, from: usize, to: Address, amount: u64) -> Transfer {
    let key = &dev_keys()[from];
    let sender = key.address();
    let nonce = node.next_nonce(&sender);

    Transfer::new_signed(
        key,
        node.params().network_id(),
        node.params().chain_id(),
        to,
        Amount(amount),
        Amount(10_000),
        nonce,
    )
}

/// Where `cargo test` put the workspace binary `name` (next to the test executable's
/// `deps/` directory, or next to this binary when it is one, like `cairn-lab`).
/// `cargo test --workspace` builds every binary whose package has integration
/// tests, which all three have.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let parent = exe.parent().expect("target/<profile>/…");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target/<profile>/deps/<test>")
    } else {
        parent
    };
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` (or `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// The `cairn-node` binary: `CAIRN_NODE_BIN` if set (to run the process tests
/// against another build, e.g. an older one), else the workspace's.
pub fn node_binary() -> PathBuf {
    match std::env::var_os("CAIRN_NODE_BIN") {
        Some(path) => PathBuf::from(path),
        None => binary("cairn-node"),
    }
}

/// Mines a block on `node` every `interval` until the returned handle is aborted.
pub fn keep_mining(node: Arc<Node>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let coinbase = dev_keys()[9].address();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let n = node.clone();
            let mined = tokio::task::spawn_blocking(move || {
                let mut block = n.block_template(coinbase);
                solve_naive(&mut block.header, 1 << 24)
                    && n.submit_block(block, BlockSource::Miner).is_ok()
            })
            .await;
            if !matches!(mined, Ok(true)) {
                return;
            }
        }
    })
}

/// A `cairn-node` process whose log is read line by line.
pub struct NodeProcess {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl std::fmt::Debug for NodeProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeProcess")
            .field("pid", &self.child.id())
            .finish()
    }
}

impl NodeProcess {
    /// Starts `cairn-node` with `args` (logging at info, colours off).
    pub fn spawn(args: &[String]) -> NodeProcess {
        let mut command = Command::new(node_binary());
        command.args(args);
        NodeProcess::spawn_command(command)
    }

    /// Starts `command` (a `cairn-node` invocation, perhaps wrapped, e.g. in
    /// `ip netns exec`) with logging at info (unless the command sets `RUST_LOG`) and
    /// colours off.
    pub fn spawn_command(mut command: Command) -> NodeProcess {
        if !command.get_envs().any(|(k, _)| k == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cairn-node starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::sync_channel(100_000);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        NodeProcess { child, lines: rx }
    }

    /// Waits up to `timeout` for a log line for which `f` returns `Some`.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(v) = f(&line) {
                return Some(v);
            }
        }
    }

    /// The log lines printed so far and not yet read.
    pub fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the node did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The height in a "new tip height=N …" log line.
pub fn tip_height_in(line: &str) -> Option<u64> {
    let rest = line.split("new tip height=").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The value of a `name=N` field in a log line.
pub fn field_in(line: &str, name: &str) -> Option<u64> {
    let rest = line.split(&format!(" {name}=")).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// What [`replay_check`] found in a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// The main-chain tip.
    pub tip: BlockId,
    /// Its height.
    pub height: u64,
    /// Transfers confirmed on the main chain.
    pub transfers: usize,
}

/// Opens the store of a stopped node (its data directory) and checks it from scratch:
/// the main chain links from genesis, every block passes the body rules, the stored
/// accounts equal a replay of the chain from genesis, and the total supply (balances
/// and immature rewards) equals the subsidy schedule at the tip. Panics, naming the first difference, otherwise.
pub fn replay_check(datadir: &Path, params: &ChainParams) -> Replayed {
    use cairn_core::state::MemoryState;
    use cairn_node::chain::Chain;
    use cairn_node::store::Store;
    let store = Arc::new(Store::open(&datadir.join("db"), params).expect("the store reopens"));
    let (chain, _) = Chain::open(params.clone(), store.clone()).expect("the chain loads");
    let tip = chain.tip();
    let mut state = MemoryState::genesis(params);
    let mut prev = params.genesis_id();
    let mut transfers = 0;
    for h in 1..=tip.height {
        let id = chain
            .block_id_at(h)
            .expect("the height index reads")
            .expect("a main-chain block at every height");
        let block = chain.block(&id).expect("readable").expect("stored body");
        assert_eq!(
            block.header.prev, prev,
            "height {h} does not link to its parent"
        );
        assert_eq!(block.header.height, h);
        cairn_core::validation::validate_body(&block, params).expect("a valid body");
        state
            .apply(&block, params)
            .expect("the block applies in a replay");
        transfers += block.txs.len() - 1;
        prev = id;
    }
    let stored: std::collections::BTreeMap<_, _> = store
        .iter::<Accounts>()
        .map(|r| r.expect("readable"))
        .collect();
    assert!(
        stored == state.accounts,
        "{}: stored state differs from a replay of the chain at height {}",
        datadir.display(),
        tip.height
    );
    assert_eq!(
        state.total_balance() + state.total_immature(params, tip.height),
        u128::from(params.supply_at(tip.height).0),
        "supply differs from the subsidy schedule"
    );
    Replayed {
        tip: tip.id,
        height: tip.height,
        transfers,
    }
}

/// A small seeded generator (xorshift64*) for test randomness: reproducible from its
/// seed, which tests print.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock (never zero).
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        Rng(u64::from(nanos) << 32 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).expect("usize fits in u64");
        usize::try_from(self.next_u64() % n64).expect("below n")
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[7]
    }
}

/// The environment variable `name` as a number, or `default` (long forms of the
/// reliability scenarios are switched on this way).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory (VmRSS) of process `pid`, in bytes; 0 if it cannot be read (the
/// process is gone).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// This process's resident memory (VmRSS), in bytes; in-process nodes count too.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
    let kib: u64 = kib
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// Dev account `sender`'s transfer with `nonce` to dev account 0: always the same
/// bytes for the same arguments (fixed amount and fee, deterministic ed25519), so
/// resending it after a crash can never make a conflicting transfer.
pub fn fixed_transfer(params: &ChainParams, sender: usize, nonce: u64) -> Transfer {
    Transfer::new_signed(
        &dev_keys()[sender],
        params.network_id(),
        params.chain_id(),
        dev_keys()[0].address(),
        Amount(1_000 + nonce),
        Amount(10_000),
        nonce,
    )
}

/// Sends dev account `sender`'s next [`fixed_transfer`] (the nonce after what the node
/// at `addr` knows, pending included) to that node: the transfer id, or why not.
pub async fn send_fixed_transfer(
    addr: std::net::SocketAddr,
    params: &ChainParams,
    sender: usize,
) -> Result<String, String> {
    let from = dev_keys()[sender].address().to_string();
    let account = try_rpc(addr, "state_getAccount", serde_json::json!([from])).await?;
    let nonce = account["pendingNonce"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no pendingNonce in {account}"))?;
    let tx = cairn_core::Transaction::Transfer(fixed_transfer(params, sender, nonce));
    let hex = hex::encode(cairn_core::Encode::to_bytes(&tx));
    let id = try_rpc(addr, "tx_send", serde_json::json!([hex])).await?;
    id.as_str()
        .map(String::from)
        .ok_or_else(|| format!("tx_send answered {id}"))
}

/// A free TCP port on 127.0.0.1 (bound, then released), for a process that must
/// listen on the same port again after a restart.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Block ids of a chain, for comparing.
pub fn ids(blocks: &[Block]) -> Vec<BlockId> {
    blocks.iter().map(Block::id).collect()
}

/// One HTTP/1.1 POST of `body` to `addr` (with the bearer `token`, if any): the status
/// and the body parsed as JSON (None when empty or not JSON).
pub async fn http_post(
    addr: std::net::SocketAddr,
    body: &[u8],
    token: Option<&str>,
) -> (u16, Option<serde_json::Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // A server may answer (413) before reading an oversized body: ignore write errors.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).ok())
}

/// One HTTP/1.1 GET of `path`: the status, the headers (lower-cased, one per line)
/// and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    (status, head.to_lowercase(), body.to_string())
}

/// Calls `method` on the node at `addr` through `cairn-rpc`'s client (the one the
/// wallet and the miner use), with the test token, on a blocking thread.
async fn call_value(
    addr: std::net::SocketAddr,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, ClientError> {
    let method = method.to_string();
    tokio::task::spawn_blocking(move || {
        Client::with_timeout(&addr.to_string(), Duration::from_secs(10))
            .token(RPC_TOKEN)
            .call_value(&method, params)
    })
    .await
    .expect("the RPC call's thread")
}

/// Calls method `M` on the node at `addr` with typed parameters and result.
pub async fn call<M: Method>(
    addr: std::net::SocketAddr,
    params: M::Params,
) -> Result<M::Result, ClientError> {
    tokio::task::spawn_blocking(move || {
        Client::with_timeout(&addr.to_string(), Duration::from_secs(10))
            .token(RPC_TOKEN)
            .call::<M>(&params)
    })
    .await
    .expect("the RPC call's thread")
}

/// Calls `method` over HTTP with the test token, tolerating a dead, restarting or
/// unreachable node: any failure (connection, HTTP, JSON-RPC error) is an `Err` with
/// its text (for an error answer, the error object as JSON).
pub async fn try_rpc(
    addr: std::net::SocketAddr,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, String> {
    call_value(addr, method, params).await.map_err(|e| match e {
        ClientError::Rpc(o) => serde_json::to_string(&o).unwrap_or_default(),
        other => format!("{method}: {other}"),
    })
}

/// Calls `method` over HTTP with the test token: `Ok(result)` or `Err(error object)`;
/// panics when the node does not answer with JSON-RPC.
pub async fn rpc(
    addr: std::net::SocketAddr,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    match call_value(addr, method, params).await {
        Ok(v) => Ok(v),
        Err(ClientError::Rpc(o)) => Err(serde_json::to_value(o).unwrap_or_default()),
        Err(e) => panic!("{method}: {e}"),
    }
}

/// A u64 of an RPC answer (a decimal string, as every u64 is); panics on anything
/// else.
pub fn num(v: &serde_json::Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal-string u64: {v}"))
}

/// A WebSocket connection to a node's RPC (`/ws`).
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message on `ws`, as JSON; panics if none comes within `timeout`.
pub async fn ws_next(ws: &mut Ws, timeout: Duration) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(timeout, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a well-formed frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("JSON");
        }
    }
}

/// Sends `text` on `ws` and returns the next text message (see [`ws_next`]).
pub async fn ws_call(ws: &mut Ws, text: &str, timeout: Duration) -> serde_json::Value {
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
        .await
        .expect("the request is sent");
    ws_next(ws, timeout).await
}
