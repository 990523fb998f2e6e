//! `cairn-node`: the Cairn full node.
//!
//! This release parses the command line and the network definition; storage, chain
//! management, mining, networking and RPC arrive with the ledger-node, p2p and RPC
//! issues (see the README's roadmap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cairn_core::ChainParams;
use clap::Parser;

/// Runs a Cairn full node: keeps the ledger in RocksDB, talks to peers over libp2p,
/// serves JSON-RPC, and can mine.
///
/// Quick start (a private development chain that mines by itself):
///
///     cairn-node --dev
#[derive(Debug, Parser)]
#[command(name = "cairn-node", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    /// Run the built-in development network: easy difficulty, ten pre-funded accounts
    /// from the public test mnemonic (insecure), mining on by default.
    #[arg(long, conflicts_with = "genesis")]
    dev: bool,

    /// Network definition to use instead of the default `genesis.json`.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,

    /// Data directory (default: ~/.cairn/<network>).
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,

    /// JSON-RPC (HTTP and WebSocket) listen address.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8645")]
    rpc_listen: SocketAddr,

    /// Peer-to-peer listen address (libp2p multiaddr).
    #[arg(
        long,
        value_name = "MULTIADDR",
        default_value = "/ip4/0.0.0.0/tcp/8646"
    )]
    listen: String,

    /// Log filter, e.g. `info` or `info,sync=debug` (RUST_LOG overrides).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log_level: String,

    /// Print the network definition (genesis.json form) and exit.
    #[arg(long)]
    print_genesis: bool,
}

const MAIN_GENESIS: &str = include_str!("../../genesis.json");

fn load_params(cli: &Cli) -> anyhow::Result<ChainParams> {
    if cli.dev {
        return Ok(ChainParams::dev());
    }
    match &cli.genesis {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read genesis file {}", path.display()))?;
            ChainParams::from_json(&json).with_context(|| format!("in {}", path.display()))
        }
        None => Ok(ChainParams::from_json(MAIN_GENESIS).context("built-in genesis.json")?),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let params = match load_params(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if cli.print_genesis {
        println!("{}", params.to_json());
        return ExitCode::SUCCESS;
    }
    println!(
        "cairn-node {}: network {} (chain id {}), genesis {}",
        env!("CARGO_PKG_VERSION"),
        params.name(),
        params.chain_id(),
        params.genesis_id()
    );
    println!("node not yet implemented: storage, mining, p2p and RPC arrive in the next releases");
    ExitCode::SUCCESS
}
