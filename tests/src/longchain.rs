//! The long-chain measurement: what a chain of a million blocks costs a node.
//!
//! 1. **Build.** A chain of empty blocks on the lab's network (easiest target, blocks
//!    at the target interval, genesis far enough in the past that the last block is
//!    not in the future) is imported straight into a node's store through the chain
//!    manager, as a node imports a mined block.
//! 2. **Restart.** A real `cairn-node` process opens that data directory; the time
//!    from its start until its RPC answers with the whole chain is the restart time,
//!    and its memory (VmRSS) a few seconds later, against that of an idle node on the
//!    same network with only the genesis block, gives the bytes held per block.
//! 3. **Sync.** A fresh `cairn-node` syncs the whole chain from the first over
//!    loopback (headers first, then bodies); the time to the tip gives the sync rate,
//!    and its memory afterwards the bytes per block of a node that synced.
//!
//! Run with `make longchain BLOCKS=1000000` (or the `cairn-longchain` binary).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::header::HEADER_VERSION;
use cairn_core::testkit::solve_naive;
use cairn_core::{
    Block, BlockHeader, ChainParams, Coinbase, CoinbaseOutput, Hash, SecretKey, Transaction,
};
use cairn_node::chain::{BlockHooks, Chain};
use cairn_node::node::now_ms;
use cairn_node::store::Store;
use serde_json::{Value, json};

use crate::lab::lab_params_at;
use crate::{ChildGuard, RPC_TOKEN, free_port, node_binary, rss_of, try_rpc};

/// What to measure.
#[derive(Debug, Clone)]
pub struct LongChainConfig {
    /// Empty blocks in the chain.
    pub blocks: u64,
    /// The chain's target block interval (timestamps follow it exactly).
    pub interval: Duration,
    /// Keep the data directories here (default: a temp dir, removed). A directory
    /// that already holds a built chain of at least `blocks` blocks is reused.
    pub workdir: Option<PathBuf>,
    /// Skip the sync phase.
    pub no_sync: bool,
}

/// The figures, as a table and as JSON.
#[derive(Debug, Clone)]
pub struct LongChainReport {
    /// Every figure.
    pub json: Value,
    /// The same as text.
    pub table: String,
}

/// A progress line every few seconds, with the rate and the time left.
struct Progress {
    what: &'static str,
    total: u64,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            total,
            start: now,
            last: now,
        }
    }

    fn update(&mut self, done: u64) {
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let left = self.total.saturating_sub(done) as f64 / rate.max(1e-9);
        eprintln!(
            "{}: {done}/{} blocks, {rate:.0} blocks/s, {left:.0} s left",
            self.what, self.total
        );
    }
}

/// Imports `blocks` empty blocks into the store at `datadir` (on top of what it
/// holds); the import rate in blocks a second.
fn build(datadir: &Path, params: &ChainParams, blocks: u64) -> Result<f64, String> {
    let store =
        Arc::new(Store::open(&datadir.join("db"), params).map_err(|e| format!("the store: {e}"))?);
    let hooks: BlockHooks = vec![Arc::new(cairn_node::pool::ledger::PoolLedger)];
    let (mut chain, _) =
        Chain::open_with(params.clone(), store, hooks).map_err(|e| format!("the chain: {e}"))?;
    let miner = SecretKey::from_seed(&[0x10; 32]).address();
    let interval = params.target_block_time_ms();
    let view = chain.view_reader();
    let have = chain.tip().height;
    let mut progress = Progress::new("build", blocks);
    let start = Instant::now();
    for _ in have..blocks {
        let v = view.get();
        let height = v.tip.height + 1;
        let coinbase = Coinbase {
            chain_id: params.chain_id(),
            height,
            outputs: vec![CoinbaseOutput {
                recipient: miner,
                amount: params.subsidy(height),
            }],
        };
        let mut block = Block {
            header: BlockHeader {
                version: HEADER_VERSION,
                height,
                prev: v.tip.id,
                tx_root: Hash::ZERO,
                timestamp_ms: v.tip.header.timestamp_ms + interval,
                target: v.next_target,
                nonce: 0,
            },
            txs: vec![Transaction::Coinbase(coinbase)],
        };
        block.header.tx_root = block.compute_tx_root();
        if !solve_naive(&mut block.header, 1 << 24) {
            return Err(format!("no nonce for block {height}"));
        }
        chain
            .submit_block(block, now_ms())
            .map_err(|e| format!("block {height}: {e}"))?;
        progress.update(height);
    }
    Ok((blocks - have) as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// A `cairn-node` process on the lab's genesis.
struct Proc {
    _child: ChildGuard,
    pid: u32,
    rpc: SocketAddr,
    p2p: u16,
    started: Instant,
}

fn spawn(genesis: &Path, datadir: &Path, bootnode: Option<u16>) -> Result<Proc, String> {
    std::fs::create_dir_all(datadir).map_err(|e| e.to_string())?;
    let rpc = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let p2p = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(datadir.join("node.log"))
        .map_err(|e| e.to_string())?;
    let mut c = Command::new(node_binary());
    c.arg("--genesis")
        .arg(genesis)
        .arg("--datadir")
        .arg(datadir)
        .args(["--rpc-token", RPC_TOKEN, "--no-miner-self-test"])
        .arg("--listen")
        .arg(format!("/ip4/127.0.0.1/tcp/{p2p}"))
        .arg("--rpc-listen")
        .arg(rpc.to_string());
    if let Some(port) = bootnode {
        c.arg("--bootnode")
            .arg(format!("/ip4/127.0.0.1/tcp/{port}"));
    }
    let started = Instant::now();
    let child = c
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .env("NO_COLOR", "1")
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", node_binary().display()))?;
    Ok(Proc {
        pid: child.id(),
        _child: ChildGuard(child),
        rpc,
        p2p,
        started,
    })
}

async fn height(p: &Proc) -> Option<u64> {
    let info = try_rpc(p.rpc, "chain_getInfo", json!([])).await.ok()?;
    info["height"].as_str()?.parse().ok()
}

/// Waits until `p`'s RPC reports at least `want` blocks; the time since its start.
async fn until_height(
    p: &Proc,
    want: u64,
    limit: Duration,
    mut progress: Option<&mut Progress>,
) -> Result<Duration, String> {
    loop {
        let h = height(p).await;
        if h.is_some_and(|h| h >= want) {
            return Ok(p.started.elapsed());
        }
        if let (Some(pr), Some(h)) = (progress.as_deref_mut(), h) {
            pr.update(h);
        }
        if p.started.elapsed() > limit {
            return Err(format!("height {h:?} after {limit:?}, wanted {want}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Memory of a settled node: the median of a few readings a second apart.
async fn settled_rss(p: &Proc) -> u64 {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut r = Vec::new();
    for _ in 0..5 {
        r.push(rss_of(p.pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    r.sort_unstable();
    r[r.len() / 2]
}

/// Runs the measurement.
pub async fn run(config: LongChainConfig) -> Result<LongChainReport, String> {
    let temp;
    let dir = match &config.workdir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // One genesis per work dir, kept so a built chain can be measured again.
    let genesis = dir.join("genesis.json");
    let params = match std::fs::read_to_string(&genesis) {
        Ok(text) => ChainParams::from_json(&text).map_err(|e| e.to_string())?,
        Err(_) => {
            let span = config.interval.as_millis() * u128::from(config.blocks + 1_000);
            let ts = u128::from(now_ms()).saturating_sub(span);
            let params = lab_params_at(config.interval, u64::try_from(ts).unwrap_or(0));
            std::fs::write(&genesis, params.to_json()).map_err(|e| e.to_string())?;
            params
        }
    };
    let source = dir.join("source");
    eprintln!(
        "building {} empty blocks in {}",
        config.blocks,
        source.display()
    );
    let build_rate = build(&source, &params, config.blocks)?;
    let disk = dir_bytes(&source.join("db"));

    eprintln!("idle node with the genesis block only");
    let idle = spawn(&genesis, &dir.join("idle"), None)?;
    until_height(&idle, 0, Duration::from_secs(60), None).await?;
    let idle_rss = settled_rss(&idle).await;
    drop(idle);

    eprintln!("restarting a node on the {} blocks", config.blocks);
    let a = spawn(&genesis, &source, None)?;
    let restart = until_height(&a, config.blocks, Duration::from_secs(600), None).await?;
    let restart_rss = settled_rss(&a).await;
    let per_block = |rss: u64| (rss.saturating_sub(idle_rss)) as f64 / config.blocks.max(1) as f64;

    let mut sync = Value::Null;
    let mut sync_line = String::from("(skipped)");
    if !config.no_sync {
        let target = dir.join("synced");
        // A fresh node every time.
        let _ = std::fs::remove_dir_all(&target);
        eprintln!("a fresh node syncs them");
        let b = spawn(&genesis, &target, Some(a.p2p))?;
        let mut progress = Progress::new("sync", config.blocks);
        let took = until_height(
            &b,
            config.blocks,
            Duration::from_secs(7_200),
            Some(&mut progress),
        )
        .await?;
        let rss = settled_rss(&b).await;
        let rate = config.blocks as f64 / took.as_secs_f64();
        // What of that memory stays: the synced node, restarted.
        drop(b);
        let again = spawn(&genesis, &target, None)?;
        until_height(&again, config.blocks, Duration::from_secs(600), None).await?;
        let rss_again = settled_rss(&again).await;
        drop(again);
        sync = json!({
            "seconds": took.as_secs_f64(),
            "blocks_per_second": rate,
            "rss_bytes": rss,
            "rss_bytes_per_block": per_block(rss),
            "restarted_rss_bytes": rss_again,
            "restarted_rss_bytes_per_block": per_block(rss_again),
        });
        sync_line = format!(
            "{:.1} s, {rate:.0} blocks/s; RSS {:.1} MB, {:.1} B/block; \
             restarted: RSS {:.1} MB, {:.1} B/block",
            took.as_secs_f64(),
            rss as f64 / 1e6,
            per_block(rss),
            rss_again as f64 / 1e6,
            per_block(rss_again)
        );
    }
    let json = json!({
        "blocks": config.blocks,
        "build_blocks_per_second": build_rate,
        "disk_bytes": disk,
        "disk_bytes_per_block": disk as f64 / config.blocks.max(1) as f64,
        "idle_rss_bytes": idle_rss,
        "restart": {
            "to_rpc_s": restart.as_secs_f64(),
            "rss_bytes": restart_rss,
            "rss_bytes_per_block": per_block(restart_rss),
        },
        "sync": sync,
    });
    let table = format!(
        "long chain: {} empty blocks\n\
         build (chain manager, in process): {build_rate:.0} blocks/s; store {:.0} MB, {:.0} B/block\n\
         idle node (genesis only): RSS {:.1} MB\n\
         restart to a serving RPC: {:.2} s; RSS {:.1} MB, {:.1} B/block beyond idle\n\
         sync from it: {sync_line}",
        config.blocks,
        disk as f64 / 1e6,
        disk as f64 / config.blocks.max(1) as f64,
        idle_rss as f64 / 1e6,
        restart.as_secs_f64(),
        restart_rss as f64 / 1e6,
        per_block(restart_rss),
    );
    Ok(LongChainReport { json, table })
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
