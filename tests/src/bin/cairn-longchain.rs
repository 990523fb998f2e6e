//! `cairn-longchain`: builds a chain of empty blocks, then measures what it costs a
//! node: restart time to a serving RPC, memory per block, and the sync rate of a
//! fresh node (see `cairn_tests::longchain`). Needs a built `cairn-node` next to
//! this binary (`make longchain` builds both).

use std::path::PathBuf;
use std::time::Duration;

use cairn_tests::longchain::{LongChainConfig, run};
use clap::Parser;

/// Build a long chain of empty blocks on the lab's network and measure a node's
/// restart time, memory per block and sync rate on it.
#[derive(Debug, Parser)]
#[command(name = "cairn-longchain", version)]
struct Args {
    /// Empty blocks in the chain.
    #[arg(long, default_value_t = 100_000)]
    blocks: u64,
    /// Target block interval of the chain, in seconds.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Keep the chain and the nodes' data here (a chain built there before is
    /// extended, not rebuilt); default: a temp dir, removed.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Measure the restart only, not the sync of a fresh node.
    #[arg(long)]
    no_sync: bool,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let report = run(LongChainConfig {
        blocks: a.blocks,
        interval: Duration::from_secs(a.interval),
        workdir: a.workdir,
        no_sync: a.no_sync,
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", report.table);
    if let Some(path) = a.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report.json)?)?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}
