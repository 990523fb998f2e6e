//! `cairn-node`: the Cairn full node daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cairn_core::genesis::dev_keys;
use cairn_core::{Address, Amount, ChainParams, Transfer};
use cairn_miner::Backend;
use cairn_node::mempool::MempoolConfig;
use cairn_node::mining::MiningConfig;
use cairn_node::network::NetworkConfig;
use cairn_node::rpc::RpcConfig;
use cairn_node::sync::SyncConfig;
use cairn_node::{Node, NodeConfig, Service, ServiceConfig};
use clap::Parser;
use libp2p::Multiaddr;
use tracing::{info, warn};

/// Runs a Cairn full node: keeps the ledger in RocksDB and can mine.
///
/// Quick start (a private development chain that mines by itself):
///
///     cairn-node --dev
///
/// Data lives in ~/.cairn/<network> unless --datadir says otherwise. Stop the node
/// with Ctrl-C (or SIGTERM): it finishes the block at hand and saves its mempool.
#[derive(Debug, Parser)]
#[command(name = "cairn-node", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    /// Run the built-in development network: easy difficulty, ten pre-funded accounts
    /// from the public test mnemonic (insecure), mining on by default.
    #[arg(long, conflicts_with = "genesis")]
    dev: bool,

    /// Network definition to use instead of the built-in `genesis.json`.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,

    /// Data directory (default: ~/.cairn/<network>).
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,

    /// JSON-RPC listen address: HTTP POST on `/`, WebSocket on `/ws`. Keep it on
    /// 127.0.0.1 unless a firewall or proxy stands in front.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8645")]
    rpc_listen: SocketAddr,

    /// Token for the admin RPC methods (default: a random one in <datadir>/.cookie).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CAIRN_RPC_TOKEN",
        hide_env_values = true
    )]
    rpc_token: Option<String>,

    /// Do not serve JSON-RPC.
    #[arg(long)]
    no_rpc: bool,

    /// Peer-to-peer listen address, a libp2p multiaddr (repeatable). Port 0 picks a
    /// free port.
    #[arg(
        long,
        value_name = "MULTIADDR",
        default_value = "/ip4/0.0.0.0/tcp/8646"
    )]
    listen: Vec<Multiaddr>,

    /// A peer to connect to at start, e.g. /ip4/192.0.2.7/tcp/8646 (repeatable; a
    /// trailing /p2p/<peer id> is optional).
    #[arg(long, value_name = "MULTIADDR")]
    bootnode: Vec<Multiaddr>,

    /// Find peers on the local network with mDNS.
    #[arg(long)]
    mdns: bool,

    /// Run without any peer-to-peer networking.
    #[arg(long, conflicts_with_all = ["bootnode", "mdns"])]
    offline: bool,

    /// Most inbound peer connections.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_inbound: u32,

    /// Outbound peer connections to keep.
    #[arg(long, value_name = "N", default_value_t = 8)]
    outbound: u32,

    /// How long a misbehaving peer stays banned, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    ban_seconds: u64,

    /// Log filter, e.g. `info` or `info,chain=debug` (RUST_LOG overrides it).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log_level: String,

    /// Mine blocks (the default with --dev).
    #[arg(long, conflicts_with = "no_mine")]
    mine: bool,

    /// Do not mine, even with --dev.
    #[arg(long)]
    no_mine: bool,

    /// Address the mined coinbases pay (default with --dev: dev account 0).
    #[arg(long, value_name = "ADDRESS")]
    coinbase: Option<Address>,

    /// Mining threads (default: every logical CPU).
    #[arg(long, value_name = "N")]
    mine_threads: Option<usize>,

    /// Mining kernel: avx512, avx2, sse41 or portable (default: the fastest available).
    #[arg(long, value_name = "BACKEND")]
    mine_backend: Option<Backend>,

    /// Mempool size limit in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    mempool_max_mb: usize,

    /// Smallest transfer fee the mempool accepts, in base units.
    #[arg(long, value_name = "UNITS", default_value_t = 1_000)]
    min_fee: u64,

    /// Dev network only: generate this many transfers per second between the dev
    /// accounts (a load for trying things out and for tests).
    #[arg(long, value_name = "PER_SECOND", requires = "dev")]
    dev_tx_rate: Option<u32>,

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
        None => ChainParams::from_json(MAIN_GENESIS).context("built-in genesis.json"),
    }
}

fn default_datadir(network: &str) -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set: pass --datadir")?;
    Ok(PathBuf::from(home).join(".cairn").join(network))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let params = load_params(&cli)?;
    if cli.print_genesis {
        println!("{}", params.to_json());
        return Ok(());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log_level))
        .context("invalid --log-level")?;
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let datadir = match &cli.datadir {
        Some(d) => d.clone(),
        None => default_datadir(params.name())?,
    };
    let mine = (cli.dev || cli.mine) && !cli.no_mine;
    let coinbase = match (cli.coinbase, cli.dev) {
        (Some(a), _) => Some(a),
        (None, true) => Some(dev_keys()[0].address()),
        (None, false) if mine => anyhow::bail!("--mine needs --coinbase <ADDRESS>"),
        (None, false) => None,
    };
    let backend = match (mine, cli.mine_backend) {
        (false, _) => Backend::Portable, // unused
        (true, Some(b)) => b.checked()?,
        (true, None) => Backend::from_env()?,
    };
    let node_config = NodeConfig {
        params: params.clone(),
        datadir: datadir.clone(),
        mempool: MempoolConfig {
            max_bytes: cli.mempool_max_mb.saturating_mul(1024 * 1024),
            min_fee: Amount(cli.min_fee),
            ..MempoolConfig::default()
        },
    };
    let network = (!cli.offline).then(|| NetworkConfig {
        listen: cli.listen.clone(),
        bootnodes: cli.bootnode.clone(),
        mdns: cli.mdns,
        max_inbound: cli.max_inbound,
        target_outbound: cli.outbound,
        ban_duration: Duration::from_secs(cli.ban_seconds),
        ..NetworkConfig::new(&datadir)
    });
    let mining = match (mine, coinbase) {
        (true, Some(coinbase)) => Some(MiningConfig {
            coinbase,
            threads: cli.mine_threads.unwrap_or(0),
            backend,
        }),
        _ => None,
    };
    info!(
        target: "node",
        version = env!("CARGO_PKG_VERSION"),
        network = params.name(),
        chain_id = params.chain_id(),
        genesis = %params.genesis_id(),
        datadir = %datadir.display(),
        "starting"
    );
    let rpc = (!cli.no_rpc).then(|| RpcConfig {
        listen: cli.rpc_listen,
        token: cli.rpc_token.clone(),
        generate: cli.dev,
        ..RpcConfig::new(&datadir)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-rt")
        .build()?;
    runtime.block_on(async {
        let service = Service::start(ServiceConfig {
            node: node_config,
            network,
            sync: SyncConfig::default(),
            mining,
            rpc,
        })
        .await
        .with_context(|| format!("cannot start the node in {}", datadir.display()))?;
        let mut threads = Vec::new();
        if let Some(rate) = cli.dev_tx_rate.filter(|r| *r > 0) {
            let n = service.node().clone();
            threads.push(
                std::thread::Builder::new()
                    .name("dev-load".into())
                    .spawn(move || dev_load(&n, rate))?,
            );
        }
        wait_for_signal().await?;
        info!(target: "node", "shutting down");
        service.node().request_shutdown();
        for t in threads {
            let _ = t.join();
        }
        service.stop().await;
        anyhow::Ok(())
    })?;
    info!(target: "node", "stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Sends `rate` transfers a second round-robin between the dev accounts.
fn dev_load(node: &Node, rate: u32) {
    let keys = dev_keys();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut i = 0usize;
    while !node.is_shutting_down() {
        let key = &keys[i % keys.len()];
        let to = keys[(i + 1) % keys.len()].address();
        let sender = key.address();
        let nonce = node.with_state(|chain, mempool| {
            let confirmed = chain
                .store()
                .get::<cairn_node::store::schema::Accounts>(&sender)
                .ok()
                .flatten()
                .map_or(0, |a| a.nonce);
            mempool.next_nonce(&sender, confirmed)
        });
        let amount = Amount(1_000 + (i as u64 % 1_000));
        let tx = Transfer::new_signed(
            key,
            node.params().chain_id(),
            to,
            amount,
            Amount(2_000),
            nonce,
        );
        if let Err(e) = node.submit_transfer(tx) {
            warn!(target: "dev-load", "transfer refused: {e}");
        }
        i += 1;
        std::thread::sleep(interval);
    }
}
