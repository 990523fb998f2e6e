//! `cairn-miner`: Cairn's proof-of-work miner. The kernel and its commands arrive with
//! the miner-kernel issue; this release only documents the interface.

use clap::{Parser, Subcommand};

/// Mines Cairn blocks: benchmarks the PoW kernel, or pulls work from a node over
/// JSON-RPC and submits solutions.
#[derive(Debug, Parser)]
#[command(name = "cairn-miner", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the kernel's hashrate against blake3's own throughput.
    Bench,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench => anyhow::bail!("cairn-miner bench is not implemented yet"),
    }
}
