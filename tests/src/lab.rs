//! The network lab (issue 16): N real `cairn-node` processes, each in its own
//! network namespace ([`Lab`]), joined through bootnodes and Kademlia discovery,
//! with blocks submitted on a schedule and a load of transfers spread over all nodes.
//! It measures what an operator of a large network asks: how fast a block reaches
//! every node, how many blocks go stale, what a node sends and receives per block,
//! what it costs in memory and CPU, how long a late joiner takes to reach the tip,
//! and whether honest nodes ever penalise each other.
//!
//! The lab's network has its own genesis: the easiest target the rules allow (about
//! 256 hashes a block) at the lab's block interval, so the lab's miner (this
//! process: `mining_getWork`, a few hundred blake3 hashes, `mining_submitWork` on
//! the node it picks) costs nothing and no node runs a miner thread. No code path in
//! the node knows it is in a lab.
//!
//! Latency: this kernel has no `netem`, so links get their delay from
//! [`DelayProxy`]s in the lab's own namespace. With a latency set, each node dials
//! `peers` others through their own delaying relay (its bootnodes are relays), and
//! direct host-to-host traffic is cut, so every link is delayed; discovery still
//! runs but finds only direct addresses, which are cut. Without latency, nodes dial
//! `peers` random earlier nodes as bootnodes and Kademlia discovery does the rest.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_core::genesis::{Allocation, GenesisConfig};
use cairn_core::{Amount, COIN, ChainParams, CompactTarget, Encode, Hash, SecretKey, Transaction};
use serde_json::{Value, json};

use crate::netlab::{DelayProxy, Lab};
use crate::{ChildGuard, RPC_TOKEN, Rng, node_binary, try_rpc};

const P2P_PORT: u16 = 8646;
const RPC_PORT: u16 = 8645;
/// Funded accounts the load generator sends from (round robin, so one account's
/// transfers are far apart and never arrive out of nonce order).
const ACCOUNTS: usize = 1_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Nodes (a late joiner comes on top).
    pub nodes: usize,
    /// How many of them have blocks submitted to them (the miners).
    pub miners: usize,
    /// Time between blocks.
    pub block_interval: Duration,
    /// Blocks on the schedule, not measured, after the network formed: gossip
    /// meshes, discovery and identify settle (the first blocks took up to 1.5 s to
    /// reach every node of 100, later ones under 0.5 s).
    pub warmup: Duration,
    /// How long blocks and transfers flow, measured (after the warm-up).
    pub duration: Duration,
    /// Transfers per second over the whole network.
    pub tx_rate: f64,
    /// One-way link latency (zero: direct links).
    pub latency: Duration,
    /// Latency jitter (±).
    pub jitter: Duration,
    /// Percent of packets each host drops.
    pub loss_percent: u32,
    /// Bootnodes per node (with latency: delayed links per node).
    pub peers: usize,
    /// Compact block relay (off: whole blocks, for comparison).
    pub compact: bool,
    /// Start one more node halfway through and time its way to the tip.
    pub late_joiner: bool,
    /// Where node data and logs go (a temp dir if `None`; kept if given).
    pub workdir: Option<PathBuf>,
}

impl Default for LabConfig {
    fn default() -> LabConfig {
        LabConfig {
            nodes: 16,
            miners: 4,
            block_interval: Duration::from_secs(10),
            warmup: Duration::from_secs(30),
            duration: Duration::from_secs(60),
            tx_rate: 20.0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss_percent: 0,
            peers: 3,
            compact: true,
            late_joiner: true,
            workdir: None,
        }
    }
}

/// The lab's network: the easiest target, blocks at the lab's interval, and
/// [`ACCOUNTS`] funded accounts.
pub fn lab_params(block_interval: Duration) -> ChainParams {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    lab_params_at(block_interval, now.saturating_sub(60_000))
}

/// [`lab_params`] with the genesis block at `timestamp_ms` (a chain of many blocks
/// at the target interval needs its genesis that far in the past).
pub fn lab_params_at(block_interval: Duration, timestamp_ms: u64) -> ChainParams {
    let config = GenesisConfig {
        name: "lab".into(),
        chain_id: 4_216,
        timestamp_ms,
        initial_target: CompactTarget(0x2001_0000),
        pow_limit: CompactTarget(0x2001_0000),
        target_block_time_ms: u64::try_from(block_interval.as_millis()).unwrap_or(10_000),
        asert_half_life_ms: 3_600_000,
        initial_subsidy: Amount(50 * COIN),
        halving_interval: 210_000,
        max_block_bytes: 1_000_000,
        max_future_drift_ms: 120_000,
        max_coinbase_outputs: 256,
        coinbase_maturity: 100,
        allocations: (0..ACCOUNTS)
            .map(|i| Allocation {
                address: account(i).address(),
                amount: Amount(1_000_000 * COIN),
            })
            .collect(),
    };
    ChainParams::from_config(config).expect("the lab's genesis is valid")
}

/// The lab's account `i`.
pub fn account(i: usize) -> SecretKey {
    let seed = blake3::hash(format!("cairn lab account {i}").as_bytes());
    SecretKey::from_seed(seed.as_bytes())
}

/// One node process and where it keeps things.
struct LabNode {
    _process: ChildGuard,
    rpc: SocketAddr,
    log: PathBuf,
    pid: u32,
}

/// Per-node resource figures.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu_ticks: u64,
    rss_bytes: u64,
    sent: u64,
    received: u64,
}

fn proc_usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based); here, 12 and 13.
    let cpu = ticks(11) + ticks(12);
    (cpu, crate::rss_of(pid))
}

/// The lab's results (also written as JSON).
#[derive(Debug, Clone)]
pub struct Report {
    /// Every figure, as JSON.
    pub json: Value,
    /// The same as a text table.
    pub table: String,
}

impl Report {
    fn num(&self, path: &[&str]) -> f64 {
        let mut v = &self.json;
        for p in path {
            v = &v[*p];
        }
        v.as_f64().unwrap_or(f64::NAN)
    }

    fn count(&self, path: &[&str]) -> u64 {
        let mut v = &self.json;
        for p in path {
            v = &v[*p];
        }
        v.as_u64().unwrap_or(0)
    }

    /// Blocks mined during the run.
    pub fn blocks(&self) -> u64 {
        self.count(&["blocks", "mined"])
    }

    /// Blocks that reached every node.
    pub fn blocks_everywhere(&self) -> u64 {
        self.count(&["blocks", "reached_all"])
    }

    /// p99 over blocks of the time to reach every node, seconds.
    pub fn p99_to_all(&self) -> f64 {
        self.num(&["propagation_s", "100%", "p99"])
    }

    /// Penalties and bans among the (honest) nodes.
    pub fn strikes(&self) -> u64 {
        self.count(&["strikes"])
    }

    /// Fraction of compact blocks rebuilt with no round trip.
    pub fn compact_no_round_trip(&self) -> f64 {
        self.num(&["compact", "no_round_trip"])
    }

    /// Seconds the late joiner took to reach the tip (NaN if none ran).
    pub fn late_joiner_s(&self) -> f64 {
        self.num(&["late_joiner", "to_tip_s"])
    }
}

/// A running lab: the namespaces, the relays and the nodes.
struct Net {
    // Fields drop in order: processes, then relays, then the namespaces.
    nodes: Vec<LabNode>,
    _relays: Vec<DelayProxy>,
    lab: Lab,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    genesis: PathBuf,
    config: LabConfig,
}

impl Net {
    fn spawn(&self, i: usize, bootnodes: &[String]) -> Result<LabNode, String> {
        let datadir = self.dir.join(format!("n{i}"));
        std::fs::create_dir_all(&datadir).map_err(|e| e.to_string())?;
        let log = datadir.join("node.log");
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let rpc = SocketAddr::from((self.lab.ip(i), RPC_PORT));
        // Nodes run at a lower priority than the lab, whose relays are the links:
        // on a saturated machine a starved relay would add its wait to every hop.
        let mut c = Command::new("nice");
        c.args(["-n", "10", "ip", "netns", "exec", &self.lab.ns(i)])
            .arg(node_binary())
            .arg("--genesis")
            .arg(&self.genesis)
            .arg("--datadir")
            .arg(&datadir)
            .args(["--rpc-token", RPC_TOKEN, "--no-miner-self-test"])
            .arg("--listen")
            .arg(format!("/ip4/{}/tcp/{P2P_PORT}", self.lab.ip(i)))
            .arg("--rpc-listen")
            .arg(rpc.to_string())
            // With delayed links every peer connects from the lab's relay address.
            .args(["--max-inbound-per-ip", "1000", "--max-inbound-per-subnet", "1000"]);
        if !self.config.compact {
            c.arg("--no-compact-blocks");
        }
        if !self.config.latency.is_zero() {
            // Links are the relays the lab made; discovery finds only addresses that
            // are cut, so a node that kept looking for more would only burn CPU.
            c.args(["--outbound", &self.config.peers.to_string()]);
        }
        for b in bootnodes {
            c.arg("--bootnode").arg(b);
        }
        let child = c
            .env("RUST_LOG", "info")
            // A hundred nodes share two cores: one runtime worker each cuts the
            // wake-ups between threads, about a third of an idle node's CPU.
            .env("TOKIO_WORKER_THREADS", "1")
            .env("NO_COLOR", "1")
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start cairn-node: {e}"))?;
        let pid = child.id();
        Ok(LabNode {
            _process: ChildGuard(child),
            rpc,
            log,
            pid,
        })
    }

    async fn call(&self, i: usize, method: &str, params: Value) -> Result<Value, String> {
        try_rpc(self.nodes[i].rpc, method, params).await
    }

    async fn height(&self, i: usize) -> Option<u64> {
        let info = self.call(i, "chain_getInfo", json!([])).await.ok()?;
        info["height"].as_str()?.parse().ok()
    }

    fn usage(&self, i: usize) -> Usage {
        let (cpu_ticks, rss_bytes) = proc_usage(self.nodes[i].pid);
        let (sent, received) = self.lab.link_bytes(i);
        Usage {
            cpu_ticks,
            rss_bytes,
            sent,
            received,
        }
    }

    /// Mines one block on node `i`'s tip through the mining RPC; its id and height.
    async fn mine(&self, i: usize) -> Result<(String, u64), String> {
        let coinbase = account(0).address().to_string();
        let work = self
            .call(
                i,
                "mining_getWork",
                json!({"coinbase": coinbase, "worker": "lab"}),
            )
            .await?;
        let pre: Hash = work["preHash"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("no preHash")?;
        let bits = work["target"]
            .as_str()
            .and_then(|t| u32::from_str_radix(t.trim_start_matches("0x"), 16).ok())
            .ok_or("no target")?;
        let target = CompactTarget(bits).to_target().map_err(|e| e.to_string())?;
        let start: u64 = work["nonceStart"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("no nonceStart")?;
        let nonce = (start..start.saturating_add(100_000_000))
            .find(|n| target.is_met_by(&cairn_core::pow::pow_hash(&pre, *n)))
            .ok_or("no nonce")?;
        let ok = self
            .call(
                i,
                "mining_submitWork",
                json!([work["workId"], nonce.to_string(), "lab"]),
            )
            .await?;
        let id = ok["block"]
            .as_str()
            .ok_or(format!("submit: {ok}"))?
            .to_string();
        let height = ok["height"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or(format!("submit: {ok}"))?;
        Ok((id, height))
    }
}

/// When each node made each block its tip, from its log ("new tip" lines): block id
/// → node → µs since the epoch.
fn tip_times(logs: &[PathBuf]) -> HashMap<String, HashMap<usize, i64>> {
    let mut out: HashMap<String, HashMap<usize, i64>> = HashMap::new();
    for (node, path) in logs.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            if !line.contains("new tip height=") {
                continue;
            }
            let Some(t) = line.split_whitespace().next().and_then(parse_rfc3339_us) else {
                continue;
            };
            let Some(id) = line.split_whitespace().find_map(|w| w.strip_prefix("id=")) else {
                continue;
            };
            out.entry(id.to_string())
                .or_default()
                .entry(node)
                .or_insert(t);
        }
    }
    out
}

/// `2026-12-03T08:35:23.123456Z` → µs since the epoch.
fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let micros: i64 = format!("{frac:0<6}")[..6].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + mi * 60 + sec) * 1_000_000) + micros)
}

/// The `percent` quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], percent: usize) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (percent * v.len()).div_ceil(100).clamp(1, v.len());
    v[rank - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Runs the lab and reports; `Err` when the lab cannot be built (no privilege, no
/// `ip`/`nft`) or the network does not form.
pub async fn run(config: LabConfig) -> Result<Report, String> {
    let hosts = config.nodes + usize::from(config.late_joiner);
    let lab = Lab::new(hosts)?;
    let (temp, dir) = match &config.workdir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let params = lab_params(config.block_interval);
    let genesis = dir.join("genesis.json");
    std::fs::write(&genesis, params.to_json()).map_err(|e| e.to_string())?;
    let mut rng = Rng::from_time();
    let mut net = Net {
        nodes: Vec::new(),
        _relays: Vec::new(),
        lab,
        dir,
        _temp: temp,
        genesis,
        config: config.clone(),
    };

    // The topology: each node's bootnodes.
    let n = config.nodes;
    let delayed = !config.latency.is_zero();
    let mut relays = Vec::new();
    let mut boots: Vec<Vec<String>> = vec![Vec::new(); hosts];
    for (i, boot) in boots.iter_mut().enumerate().take(n).skip(1) {
        let mut picked: Vec<usize> = Vec::new();
        let pool = if delayed { n } else { i };
        while picked.len() < config.peers.min(pool.saturating_sub(usize::from(delayed))) {
            let j = rng.below(pool);
            if j != i && !picked.contains(&j) {
                picked.push(j);
            }
        }
        for j in picked {
            let target = SocketAddr::from((net.lab.ip(j), P2P_PORT));
            let addr = if delayed {
                let relay = DelayProxy::start(
                    SocketAddr::from((net.lab.gateway(), 0)),
                    target,
                    config.latency,
                    config.jitter,
                )
                .await;
                let a = relay.addr;
                relays.push(relay);
                a
            } else {
                target
            };
            boot.push(format!("/ip4/{}/tcp/{}", addr.ip(), addr.port()));
        }
    }
    if delayed {
        // Node 0 dials a few too, so it is not only ever dialled.
        boots[0] = boots[1].clone();
        net.lab.only_via_gateway();
    }
    if config.loss_percent > 0 {
        net.lab.lossy(config.loss_percent, RPC_PORT);
    }
    net._relays = relays;
    for (i, boot) in boots.iter().enumerate().take(n) {
        let node = net.spawn(i, boot)?;
        net.nodes.push(node);
    }
    let started = Instant::now();
    for i in 0..n {
        let up = crate::eventually_async(Duration::from_secs(60), || async {
            net.height(i).await.is_some()
        })
        .await;
        if !up {
            return Err(format!(
                "node {i} did not start (see {})",
                net.nodes[i].log.display()
            ));
        }
    }
    let start_s = started.elapsed().as_secs_f64();
    eprintln!("lab: {n} nodes up in {start_s:.1} s; forming the network");

    // The network has formed once a block reaches every node.
    let formed = Instant::now();
    let mut warm = 0;
    loop {
        let (_, height) = net.mine(rng.below(config.miners.max(1))).await?;
        warm += 1;
        let all = crate::eventually_async(Duration::from_secs(15), || async {
            let mut ok = true;
            for i in 0..n {
                ok &= net.height(i).await.is_some_and(|h| h >= height);
            }
            ok
        })
        .await;
        if all {
            break;
        }
        if formed.elapsed() > Duration::from_secs(180) {
            return Err(format!(
                "the network did not form in 3 minutes ({warm} blocks)"
            ));
        }
    }
    let form_s = formed.elapsed().as_secs_f64();
    eprintln!(
        "lab: network formed in {form_s:.1} s; running for {:?}",
        config.duration
    );

    let warm_until = Instant::now() + config.warmup;
    while Instant::now() < warm_until {
        let left = warm_until.saturating_duration_since(Instant::now());
        tokio::time::sleep(config.block_interval.min(left)).await;
        if let Err(e) = net.mine(rng.below(config.miners.max(1).min(n))).await {
            eprintln!("lab: warm-up block failed: {e}");
        }
    }
    let before: Vec<Usage> = (0..n).map(|i| net.usage(i)).collect();
    // With delayed links the late joiner dials through a relay too.
    let late_relay = if delayed && config.late_joiner {
        let target = SocketAddr::from((net.lab.ip(rng.below(n)), P2P_PORT));
        Some(
            DelayProxy::start(
                SocketAddr::from((net.lab.gateway(), 0)),
                target,
                config.latency,
                config.jitter,
            )
            .await,
        )
    } else {
        None
    };
    let net = Arc::new(net);

    // The load: transfers from the lab's accounts, round robin, in batches of up to
    // 20 `tx_send`s (one HTTP request each) to random nodes, every 200 ms.
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (net, sent, failed, stop) = (net.clone(), sent.clone(), failed.clone(), stop.clone());
        let rate = config.tx_rate;
        tokio::spawn(async move {
            if rate <= 0.0 {
                return;
            }
            let keys: Vec<SecretKey> = (0..ACCOUNTS).map(account).collect();
            let mut nonces = vec![0u64; ACCOUNTS];
            let params = lab_params_of(&net.genesis);
            let in_flight = Arc::new(tokio::sync::Semaphore::new(16));
            let mut rng = Rng::from_time();
            let period = Duration::from_millis(200);
            let t0 = tokio::time::Instant::now();
            let mut k = 0usize;
            let mut tick = 0u32;
            // Transfers due but not yet sent.
            let mut owed = 0.0f64;
            while !stop.load(Ordering::Relaxed) {
                tick += 1;
                tokio::time::sleep_until(t0 + period * tick).await;
                owed += rate * period.as_secs_f64();
                let mut batch = Vec::new();
                while owed >= 1.0 {
                    owed -= 1.0;
                    let s = k % ACCOUNTS;
                    k += 1;
                    let tx = cairn_core::Transfer::new_signed(
                        &keys[s],
                        params.network_id(),
                        params.chain_id(),
                        keys[(s + 1) % ACCOUNTS].address(),
                        Amount(1_000),
                        Amount(10_000),
                        nonces[s],
                    );
                    nonces[s] += 1;
                    let hex = hex::encode(Transaction::Transfer(tx).to_bytes());
                    batch.push(
                        json!({"jsonrpc": "2.0", "id": k, "method": "tx_send", "params": [hex]}),
                    );
                }
                for chunk in batch.chunks(20) {
                    let body = serde_json::to_vec(chunk).unwrap_or_default();
                    let count = chunk.len() as u64;
                    let rpc = net.nodes[rng.below(n)].rpc;
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        return;
                    };
                    let (sent, failed) = (sent.clone(), failed.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
                        let ok = post_batch(rpc, &body).await.unwrap_or(0);
                        sent.fetch_add(ok, Ordering::Relaxed);
                        failed.fetch_add(count - ok.min(count), Ordering::Relaxed);
                    });
                }
            }
        })
    };

    // Blocks on a schedule, each on a random miner's tip; a late joiner halfway.
    let run_started = Instant::now();
    let mut mined: Vec<(String, u64, usize)> = Vec::new();
    // The late joiner, and the task timing its way to the tip.
    type LateJoiner = (LabNode, tokio::task::JoinHandle<Option<(f64, u64)>>);
    let mut late: Option<LateJoiner> = None;
    let mut tick = tokio::time::interval(config.block_interval);
    tick.tick().await;
    while run_started.elapsed() < config.duration {
        tick.tick().await;
        let miner = rng.below(config.miners.max(1).min(n));
        match net.mine(miner).await {
            Ok((id, h)) => mined.push((id, h, miner)),
            Err(e) => eprintln!("lab: mining on node {miner} failed: {e}"),
        }
        if config.late_joiner && late.is_none() && run_started.elapsed() >= config.duration / 2 {
            let boot = rng.below(n);
            let addr = match &late_relay {
                Some(relay) => format!("/ip4/{}/tcp/{}", relay.addr.ip(), relay.addr.port()),
                None => format!("/ip4/{}/tcp/{P2P_PORT}", net.lab.ip(boot)),
            };
            let target = mined.last().map_or(0, |(_, h, _)| *h);
            let node = net.spawn(n, &[addr])?;
            let rpc = node.rpc;
            // Polled every 50 ms: when did it reach the height the network had when
            // it started, and how many pending transfers had it fetched by then.
            let watch = tokio::spawn(async move {
                let since = Instant::now();
                while since.elapsed() < Duration::from_secs(120) {
                    if let Ok(info) = try_rpc(rpc, "chain_getInfo", json!([])).await {
                        let h: u64 = info["height"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        if h >= target {
                            let at = since.elapsed().as_secs_f64();
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            let pool = try_rpc(rpc, "mempool_getInfo", json!([]))
                                .await
                                .ok()
                                .and_then(|m| m["size"].as_str().and_then(|s| s.parse().ok()))
                                .unwrap_or(0);
                            return Some((at, pool));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            });
            late = Some((node, watch));
        }
    }
    let late_result = match late.take() {
        Some((node, watch)) => {
            let r = watch.await.ok().flatten();
            drop(node);
            r
        }
        None => None,
    };
    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    let run_s = run_started.elapsed().as_secs_f64();
    let after: Vec<Usage> = (0..n).map(|i| net.usage(i)).collect();

    // Let the last block settle, then read every node's view.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut strikes = 0u64;
    let mut dropped = 0u64;
    let mut compact = [0u64; 6];
    for i in 0..n {
        if let Ok(info) = net.call(i, "net_getInfo", json!([])).await {
            let c = |k: &str| {
                info[k]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            strikes += c("penalties") + c("bans");
            dropped += c("requestsDropped");
            for (slot, key) in [
                "compactIn",
                "compactRebuilt",
                "compactCompleted",
                "compactFetched",
                "compactBytes",
                "compactBlockBytes",
            ]
            .iter()
            .enumerate()
            {
                compact[slot] += c(key);
            }
        }
    }
    let mut main_chain = BTreeMap::new();
    for (_, h, _) in &mined {
        if let Ok(b) = net
            .call(0, "chain_getBlockByHeight", json!([h.to_string()]))
            .await
            && let Some(id) = b["id"].as_str()
        {
            main_chain.insert(*h, id.to_string());
        }
    }
    let stale = mined
        .iter()
        .filter(|(id, h, _)| main_chain.get(h) != Some(id))
        .count();

    // Propagation: per block, the delay from the miner's import to the k-th node's.
    let logs: Vec<PathBuf> = net.nodes.iter().map(|x| x.log.clone()).collect();
    let times = tip_times(&logs);
    let fractions = [50usize, 90, 99, 100];
    let mut per_fraction: Vec<Vec<f64>> = vec![Vec::new(); fractions.len()];
    let mut reached_all = 0u64;
    for (id, _, miner) in &mined {
        let Some(at) = times.get(id) else { continue };
        let Some(t0) = at.get(miner) else { continue };
        let delays = sorted(
            at.iter()
                .filter(|(node, _)| **node != *miner)
                .map(|(_, t)| (t - t0).max(0) as f64 / 1e6)
                .collect(),
        );
        let others = n - 1;
        if delays.len() == others {
            reached_all += 1;
        }
        for (slot, f) in fractions.iter().enumerate() {
            let k = (f * others).div_ceil(100).max(1);
            if delays.len() >= k {
                per_fraction[slot].push(delays[k - 1]);
            }
        }
    }
    let mut propagation = serde_json::Map::new();
    for (slot, f) in fractions.iter().enumerate() {
        let v = sorted(per_fraction[slot].clone());
        propagation.insert(
            format!("{f}%"),
            json!({"p50": quantile(&v, 50), "p99": quantile(&v, 99), "blocks": v.len()}),
        );
    }

    let blocks = mined.len().max(1) as f64;
    let per_node = |f: &dyn Fn(&Usage, &Usage) -> f64| -> Vec<f64> {
        sorted(before.iter().zip(&after).map(|(b, a)| f(b, a)).collect())
    };
    let sent_per_block = per_node(&|b, a| a.sent.saturating_sub(b.sent) as f64 / blocks);
    let recv_per_block = per_node(&|b, a| a.received.saturating_sub(b.received) as f64 / blocks);
    let cpu = per_node(&|b, a| a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / 100.0 / run_s);
    let rss = per_node(&|_, a| a.rss_bytes as f64 / 1e6);
    let stats = |v: &[f64]| json!({"p50": quantile(v, 50), "max": quantile(v, 100)});
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let relayed = compact[1] + compact[2] + compact[3];
    let json = json!({
        "config": {
            "nodes": n, "miners": config.miners, "block_interval_s": config.block_interval.as_secs_f64(),
            "warmup_s": config.warmup.as_secs_f64(),
            "duration_s": run_s, "tx_rate": config.tx_rate, "latency_ms": ms(config.latency),
            "jitter_ms": ms(config.jitter), "loss_percent": config.loss_percent,
            "peers": config.peers, "compact": config.compact,
        },
        "startup_s": start_s,
        "formed_s": form_s,
        "blocks": {"mined": mined.len(), "reached_all": reached_all, "stale": stale,
                   "stale_rate": stale as f64 / blocks},
        "transfers": {"sent": sent.load(Ordering::Relaxed), "failed": failed.load(Ordering::Relaxed)},
        "propagation_s": propagation,
        "per_node_per_block_bytes": {"sent": stats(&sent_per_block), "received": stats(&recv_per_block)},
        "cpu_cores_per_node": stats(&cpu),
        "rss_mb": stats(&rss),
        "compact": {
            "received": compact[0], "rebuilt": compact[1], "completed": compact[2], "fetched": compact[3],
            "no_round_trip": if relayed == 0 { f64::NAN } else { compact[1] as f64 / relayed as f64 },
            "bytes_over_block_bytes": if compact[5] == 0 { f64::NAN } else { compact[4] as f64 / compact[5] as f64 },
        },
        "late_joiner": match late_result {
            Some((s, pool)) => json!({"to_tip_s": s, "mempool_after": pool}),
            None => json!({"to_tip_s": f64::NAN}),
        },
        "strikes": strikes,
        "requests_dropped": dropped,
    });
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{n} nodes, {} blocks every {:?} ({} stale), {:.0} transfers/s, latency {:?} ± {:?}, loss {} %, compact {}",
        mined.len(),
        config.block_interval,
        stale,
        config.tx_rate,
        config.latency,
        config.jitter,
        config.loss_percent,
        config.compact
    );
    let _ = writeln!(
        table,
        "| reached | p50 over blocks | p99 over blocks | blocks |"
    );
    let _ = writeln!(table, "|---|---|---|---|");
    for (slot, f) in fractions.iter().enumerate() {
        let v = sorted(per_fraction[slot].clone());
        let _ = writeln!(
            table,
            "| {f:>3} % of nodes | {:.3} s | {:.3} s | {} |",
            quantile(&v, 50),
            quantile(&v, 99),
            v.len()
        );
    }
    let _ = writeln!(
        table,
        "per node per block: sent {:.0} B (max {:.0}), received {:.0} B (max {:.0}); CPU {:.3} cores (max {:.3}); RSS {:.1} MB (max {:.1})",
        quantile(&sent_per_block, 50),
        quantile(&sent_per_block, 100),
        quantile(&recv_per_block, 50),
        quantile(&recv_per_block, 100),
        quantile(&cpu, 50),
        quantile(&cpu, 100),
        quantile(&rss, 50),
        quantile(&rss, 100)
    );
    let _ = writeln!(
        table,
        "compact: {} rebuilt with no round trip, {} completed with one, {} fetched whole; compact bytes / block bytes {:.3}",
        compact[1],
        compact[2],
        compact[3],
        if compact[5] == 0 {
            f64::NAN
        } else {
            compact[4] as f64 / compact[5] as f64
        }
    );
    let _ = writeln!(
        table,
        "late joiner: {}; strikes among honest nodes: {strikes}; requests dropped by busy peers: {dropped}; transfers sent {} ({} failed)",
        match late_result {
            Some((s, pool)) =>
                format!("at the tip in {s:.2} s, {pool} pending transfers a second later"),
            None => "did not reach the tip".into(),
        },
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    Ok(Report { json, table })
}

/// POSTs a JSON-RPC batch to `addr`; how many of its calls succeeded.
async fn post_batch(addr: SocketAddr, body: &[u8]) -> Result<u64, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {RPC_TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(body).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let replies: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(replies.as_array().map_or(0, |a| {
        a.iter().filter(|r| r.get("result").is_some()).count() as u64
    }))
}

/// The lab's parameters, read back from the genesis file the nodes use.
fn lab_params_of(path: &Path) -> ChainParams {
    let text = std::fs::read_to_string(path).expect("the lab's genesis file");
    ChainParams::from_json(&text).expect("the lab's genesis")
}
