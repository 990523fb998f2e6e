//! `cairn-lab`: runs the network lab (see `cairn_tests::lab`) and prints its table;
//! `--json FILE` writes every figure too. Needs root, iproute2 and nftables, and a
//! built `cairn-node` next to this binary (`cargo build -p cairn-node` first, or
//! `make testnet`, which does both).

use std::path::PathBuf;
use std::time::Duration;

use cairn_tests::lab::{LabConfig, run};
use clap::Parser;

/// Run N real cairn-node processes, each in its own network namespace, joined
/// through bootnodes and discovery; submit blocks on a schedule and spread a
/// transfer load over them; report block propagation, stale blocks, bytes, CPU,
/// memory, a late joiner's time to the tip and peer strikes.
#[derive(Debug, Parser)]
#[command(name = "cairn-lab", version)]
struct Args {
    /// Nodes in the lab (a late joiner comes on top).
    #[arg(long, default_value_t = 16)]
    nodes: usize,
    /// How many nodes blocks are submitted to (the miners).
    #[arg(long, default_value_t = 4)]
    miners: usize,
    /// Seconds between blocks.
    #[arg(long, default_value_t = 10.0)]
    block_interval: f64,
    /// Seconds of blocks, not measured, once the network formed (meshes and
    /// discovery settle).
    #[arg(long, default_value_t = 30.0)]
    warmup: f64,
    /// Seconds of blocks and transfers, measured, after the warm-up.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Transfers per second over the whole network.
    #[arg(long, default_value_t = 20.0)]
    tx_rate: f64,
    /// One-way link latency in ms (0: direct links and discovery).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Latency jitter in ms (±).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Percent of packets every host drops.
    #[arg(long, default_value_t = 0)]
    loss: u32,
    /// Bootnodes per node (with latency: delayed links per node).
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Relay whole blocks instead of compact blocks (for comparison).
    #[arg(long)]
    no_compact: bool,
    /// Skip the late joiner.
    #[arg(long)]
    no_late_joiner: bool,
    /// Keep node data and logs here (default: a temp dir, removed).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let config = LabConfig {
        nodes: a.nodes,
        miners: a.miners,
        block_interval: Duration::from_secs_f64(a.block_interval),
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.seconds),
        tx_rate: a.tx_rate,
        latency: Duration::from_millis(a.latency_ms),
        jitter: Duration::from_millis(a.jitter_ms),
        loss_percent: a.loss,
        peers: a.peers,
        compact: !a.no_compact,
        late_joiner: !a.no_late_joiner,
        workdir: a.workdir,
    };
    let report = run(config).await.map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", report.table);
    if let Some(path) = a.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report.json)?)?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}
