//! `cairn-node`: the Cairn full node daemon.

use std::io::{IsTerminal, stdout};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cairn_core::config::ConfigError;
use cairn_core::genesis::dev_keys;
use cairn_core::{Address, Amount, ChainParams, Transfer};
use cairn_miner::Backend;
use cairn_node::config::{self, ConfigFile, MempoolSection, MiningSection, P2pSection, RpcSection};
use cairn_node::mempool::MempoolConfig;
use cairn_node::mining::MiningConfig;
use cairn_node::network::NetworkConfig;
use cairn_node::rpc::RpcConfig;
use cairn_node::sync::SyncConfig;
use cairn_node::{Node, NodeConfig, Service, ServiceConfig};
use clap::{CommandFactory, Parser, Subcommand};
use libp2p::Multiaddr;
use tracing::{info, warn};

mod progress;

/// Runs a Cairn full node: keeps the ledger in RocksDB and can mine.
///
/// Quick start (a private development chain that mines by itself):
///
///     cairn-node --dev
///
/// Then open http://127.0.0.1:8645/ for the explorer. Data lives in
/// ~/.cairn/<network> unless --datadir says otherwise. Settings come from
/// <datadir>/cairn.toml (`cairn-node init` writes a commented one) and the flags
/// below, which override the file. Stop the node with Ctrl-C (or SIGTERM): it
/// finishes the block at hand and saves its mempool.
#[derive(Debug, Parser)]
#[command(
    name = "cairn-node",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Settings file (default: <datadir>/cairn.toml, if it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the settings in effect (file and flags merged) and exit.
    #[arg(long)]
    check_config: bool,

    /// Run the built-in development network: easy difficulty, ten pre-funded accounts
    /// from the public test mnemonic (insecure), mining on by default. [key: dev]
    #[arg(long, conflicts_with = "genesis")]
    dev: bool,

    /// Network definition to use instead of the built-in `genesis.json`. [key: genesis]
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,

    /// Data directory (default: ~/.cairn/<network>). [key: datadir]
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,

    /// JSON-RPC listen address: HTTP POST on `/`, WebSocket on `/ws`, the explorer on
    /// `/` and metrics on `/metrics`. Keep it on 127.0.0.1 unless a firewall or proxy
    /// stands in front. [default: 127.0.0.1:8645] [key: rpc.listen]
    #[arg(long, value_name = "IP:PORT")]
    rpc_listen: Option<SocketAddr>,

    /// Token for the admin RPC methods (default: a random one in <datadir>/.cookie).
    /// [key: rpc.token]
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CAIRN_RPC_TOKEN",
        hide_env_values = true
    )]
    rpc_token: Option<String>,

    /// Host names the RPC port answers to, comma-separated. IP addresses always work;
    /// other names are refused (a web page can point a name it controls at 127.0.0.1:
    /// DNS rebinding). `*` answers to any name (insecure). [default: localhost]
    /// [key: rpc.allowed_hosts]
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    rpc_allowed_hosts: Vec<String>,

    /// Web origins (e.g. https://wallet.example) that may use the RPC from a browser,
    /// comma-separated, besides the explorer on the RPC port; requests without an
    /// Origin are always served. `*` lets every web page use the node (insecure).
    /// [key: rpc.allowed_origins]
    #[arg(long, value_name = "ORIGINS", value_delimiter = ',')]
    rpc_allowed_origins: Vec<String>,

    /// Do not serve JSON-RPC (nor the explorer and metrics). [key: rpc.enabled]
    #[arg(long)]
    no_rpc: bool,

    /// Peer-to-peer listen address, a libp2p multiaddr (repeatable). Port 0 picks a
    /// free port. [default: /ip4/0.0.0.0/tcp/8646] [key: p2p.listen]
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,

    /// A peer to connect to at start, e.g. /ip4/192.0.2.7/tcp/8646 (repeatable; a
    /// trailing /p2p/<peer id> is optional). [key: p2p.bootnodes]
    #[arg(long, value_name = "MULTIADDR")]
    bootnode: Vec<Multiaddr>,

    /// Find peers on the local network with mDNS. [key: p2p.mdns]
    #[arg(long)]
    mdns: bool,

    /// Run without any peer-to-peer networking. [key: p2p.enabled]
    #[arg(long, conflicts_with_all = ["bootnode", "mdns"])]
    offline: bool,

    /// Most inbound peer connections. [default: 64] [key: p2p.max_inbound]
    #[arg(long, value_name = "N")]
    max_inbound: Option<u32>,

    /// Most inbound connections from one IP address (loopback, bootnodes and
    /// net_connect peers are exempt). [default: 4] [key: p2p.max_inbound_per_ip]
    #[arg(long, value_name = "N")]
    max_inbound_per_ip: Option<u32>,

    /// Most inbound connections from one /24 (IPv4) or /48 (IPv6) subnet. [default: 8]
    /// [key: p2p.max_inbound_per_subnet]
    #[arg(long, value_name = "N")]
    max_inbound_per_subnet: Option<u32>,

    /// Outbound peer connections to keep. [default: 8] [key: p2p.outbound]
    #[arg(long, value_name = "N")]
    outbound: Option<u32>,

    /// How long a misbehaving peer stays banned, in seconds. [default: 86400]
    /// [key: p2p.ban_seconds]
    #[arg(long, value_name = "SECONDS")]
    ban_seconds: Option<u64>,

    /// Log filter, e.g. `info` or `info,chain=debug` (RUST_LOG overrides it).
    /// [default: info] [key: log_level]
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,

    /// Refuse to start, or stop cleanly, below this much free disk space in MiB.
    /// [default: 256] [key: min_free_disk_mb]
    #[arg(long, value_name = "MIB")]
    min_free_disk_mb: Option<u64>,

    /// Mine blocks (the default with --dev). [key: mining.enabled]
    #[arg(long, conflicts_with = "no_mine")]
    mine: bool,

    /// Do not mine, even with --dev. [key: mining.enabled]
    #[arg(long)]
    no_mine: bool,

    /// Address the mined coinbases pay (default with --dev: dev account 0).
    /// [key: mining.coinbase]
    #[arg(long, value_name = "ADDRESS")]
    coinbase: Option<Address>,

    /// Mining threads (default: every logical CPU). [key: mining.threads]
    #[arg(long, value_name = "N")]
    mine_threads: Option<usize>,

    /// Mining kernel: avx512, avx2, sse41 or portable (default: the fastest available).
    /// [key: mining.backend]
    #[arg(long, value_name = "BACKEND")]
    mine_backend: Option<Backend>,

    /// Mempool size limit in MiB. [default: 64] [key: mempool.max_mb]
    #[arg(long, value_name = "MIB")]
    mempool_max_mb: Option<usize>,

    /// Smallest transfer fee the mempool accepts, in base units. [default: 1000]
    /// [key: mempool.min_fee]
    #[arg(long, value_name = "UNITS")]
    min_fee: Option<u64>,

    /// Dev network only: generate this many transfers per second between the dev
    /// accounts (a load for trying things out and for tests). [key: dev_tx_rate]
    #[arg(long, value_name = "PER_SECOND")]
    dev_tx_rate: Option<u32>,

    /// Print the network definition (genesis.json form) and exit.
    #[arg(long)]
    print_genesis: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented cairn.toml (every key with its default) into the data
    /// directory, then edit it and start the node.
    Init {
        /// For the development network (written to ~/.cairn/dev by default).
        #[arg(long)]
        dev: bool,
        /// Data directory (default: ~/.cairn/main, or ~/.cairn/dev with --dev).
        #[arg(long, value_name = "DIR")]
        datadir: Option<PathBuf>,
        /// Replace an existing cairn.toml.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script, e.g.
    /// `cairn-node completions bash > /etc/bash_completion.d/cairn-node`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// The settings the flags set, as the keys of a `cairn.toml`.
    fn overrides(&self) -> ConfigFile {
        let flag = |set: bool, value: bool| set.then_some(value);
        let list = |v: &Vec<Multiaddr>| (!v.is_empty()).then(|| v.clone());
        let names = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        ConfigFile {
            dev: flag(self.dev, true),
            genesis: self.genesis.clone(),
            datadir: self.datadir.clone(),
            log_level: self.log_level.clone(),
            min_free_disk_mb: self.min_free_disk_mb,
            dev_tx_rate: self.dev_tx_rate,
            rpc: RpcSection {
                enabled: flag(self.no_rpc, false),
                listen: self.rpc_listen,
                token: self.rpc_token.clone(),
                allowed_hosts: names(&self.rpc_allowed_hosts),
                allowed_origins: names(&self.rpc_allowed_origins),
            },
            p2p: P2pSection {
                enabled: flag(self.offline, false),
                listen: list(&self.listen),
                bootnodes: list(&self.bootnode),
                mdns: flag(self.mdns, true),
                max_inbound: self.max_inbound,
                max_inbound_per_ip: self.max_inbound_per_ip,
                max_inbound_per_subnet: self.max_inbound_per_subnet,
                outbound: self.outbound,
                ban_seconds: self.ban_seconds,
            },
            mining: MiningSection {
                enabled: flag(self.mine, true).or(flag(self.no_mine, false)),
                coinbase: self.coinbase,
                threads: self.mine_threads,
                backend: self.mine_backend,
            },
            mempool: MempoolSection {
                max_mb: self.mempool_max_mb,
                min_fee: self.min_fee,
            },
        }
    }
}

const MAIN_GENESIS: &str = include_str!("../../genesis.json");

fn load_params(dev: bool, genesis: Option<&Path>) -> anyhow::Result<ChainParams> {
    if dev {
        return Ok(ChainParams::dev());
    }
    match genesis {
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
    let result = match &cli.command {
        Some(Command::Init {
            dev,
            datadir,
            force,
        }) => init(*dev, datadir.clone(), *force),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "cairn-node", &mut stdout());
            Ok(())
        }
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init(dev: bool, datadir: Option<PathBuf>, force: bool) -> anyhow::Result<()> {
    let datadir = match datadir {
        Some(d) => d,
        None => default_datadir(if dev { "dev" } else { "main" })?,
    };
    let path = config::default_path(&datadir);
    cairn_core::config::write_new(&path, &config::template(dev), force)?;
    println!("wrote {}", path.display());
    let dev_flag = if dev { " --dev" } else { "" };
    let dir_flag = if datadir == default_datadir(if dev { "dev" } else { "main" })? {
        String::new()
    } else {
        format!(" --datadir {}", datadir.display())
    };
    println!("edit it, then start the node with: cairn-node{dev_flag}{dir_flag}");
    Ok(())
}

/// The settings file and the flags merged, with the data directory they apply to.
struct Settings {
    file: ConfigFile,
    datadir: PathBuf,
    params: ChainParams,
    /// Where the file came from, if there was one.
    source: Option<PathBuf>,
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let overrides = cli.overrides();
    // Without --config, the file is the one in the data directory the flags name.
    let (path, datadir) = match &cli.config {
        Some(path) => (path.clone(), None),
        None => {
            let params = load_params(cli.dev, cli.genesis.as_deref())?;
            let datadir = match &cli.datadir {
                Some(d) => d.clone(),
                None => default_datadir(params.name())?,
            };
            (config::default_path(&datadir), Some(datadir))
        }
    };
    let loaded = match &cli.config {
        Some(path) => Some(ConfigFile::load(path)?),
        None => cairn_core::config::load_if_exists(&path)?,
    };
    let (file, text, source) = match loaded {
        Some((file, text)) => (file, text, Some(path.clone())),
        None => (ConfigFile::default(), String::new(), None),
    };
    if datadir.is_some() && file.datadir.is_some() {
        let e = ConfigError::at_key(
            &path,
            &text,
            "datadir",
            "a cairn.toml inside a data directory cannot move it (use --config FILE)",
        );
        return Err(e.into());
    }
    let merged = file.overlay(overrides).with_defaults();
    let named = source
        .clone()
        .unwrap_or_else(|| PathBuf::from("command line"));
    merged.check(&named, &text)?;
    let params = load_params(merged.dev == Some(true), merged.genesis.as_deref())?;
    let datadir = match (datadir, &merged.datadir) {
        (Some(d), _) => d,
        (None, Some(d)) => d.clone(),
        (None, None) => default_datadir(params.name())?,
    };
    Ok(Settings {
        file: merged,
        datadir,
        params,
        source,
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Settings {
        file: cfg,
        datadir,
        params,
        source,
    } = settings(&cli)?;
    if cli.print_genesis {
        println!("{}", params.to_json());
        return Ok(());
    }
    if cli.check_config {
        match &source {
            Some(p) => println!("# settings in effect: {} and the flags", p.display()),
            None => println!("# settings in effect: defaults and the flags (no cairn.toml)"),
        }
        println!("# data directory: {}\n", datadir.display());
        let shown = ConfigFile {
            datadir: None,
            ..cfg
        };
        print!("{}", shown.to_toml());
        return Ok(());
    }
    let log_level = cfg.log_level.as_deref().unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(log_level))
        .with_context(|| format!("invalid log_level {log_level:?}"))?;
    // On a terminal, initial sync draws a progress bar, and log lines are printed
    // above it; otherwise sync logs a progress line every few seconds.
    let bar = std::io::stderr().is_terminal().then(progress::sync_bar);
    match &bar {
        Some(bar) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(progress::BarWriter(bar.clone()))
            .init(),
        None => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }

    let dev = cfg.dev == Some(true);
    let mine = cfg.mining.enabled == Some(true);
    let coinbase = match (cfg.mining.coinbase, dev) {
        (Some(a), _) => Some(a),
        (None, true) => Some(dev_keys()[0].address()),
        (None, false) => None,
    };
    let backend = match (mine, cfg.mining.backend) {
        (false, _) => Backend::Portable, // unused
        (true, Some(b)) => b.checked()?,
        (true, None) => Backend::from_env()?,
    };
    let node_config = NodeConfig {
        params: params.clone(),
        datadir: datadir.clone(),
        mempool: MempoolConfig {
            max_bytes: cfg.mempool.max_mb.unwrap_or(64).saturating_mul(1024 * 1024),
            min_fee: Amount(cfg.mempool.min_fee.unwrap_or(1_000)),
            ..MempoolConfig::default()
        },
        min_free_disk: cfg
            .min_free_disk_mb
            .unwrap_or(config::DEFAULT_MIN_FREE_DISK_MB)
            .saturating_mul(1024 * 1024),
    };
    let p2p = &cfg.p2p;
    let network = (p2p.enabled != Some(false)).then(|| NetworkConfig {
        listen: p2p.listen.clone().unwrap_or_default(),
        bootnodes: p2p.bootnodes.clone().unwrap_or_default(),
        mdns: p2p.mdns == Some(true),
        max_inbound: p2p.max_inbound.unwrap_or(64),
        max_inbound_per_ip: p2p.max_inbound_per_ip.unwrap_or(4),
        max_inbound_per_subnet: p2p.max_inbound_per_subnet.unwrap_or(8),
        target_outbound: p2p.outbound.unwrap_or(8),
        ban_duration: Duration::from_secs(p2p.ban_seconds.unwrap_or(86_400)),
        ..NetworkConfig::new(&datadir)
    });
    let mining = match (mine, coinbase) {
        (true, Some(coinbase)) => Some(MiningConfig {
            coinbase,
            threads: cfg.mining.threads.unwrap_or(0),
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
        config = %source.as_deref().map_or_else(|| "none".into(), |p| p.display().to_string()),
        "starting"
    );
    let rpc = match (cfg.rpc.enabled, cfg.rpc.listen) {
        (Some(true), Some(listen)) => Some(RpcConfig {
            listen,
            token: cfg.rpc.token.clone(),
            generate: dev,
            allowed_hosts: cfg.rpc.allowed_hosts.clone().unwrap_or_default(),
            allowed_origins: cfg.rpc.allowed_origins.clone().unwrap_or_default(),
            ..RpcConfig::new(&datadir)
        }),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-rt")
        .build()?;
    runtime.block_on(async {
        let service = Service::start(ServiceConfig {
            node: node_config,
            network,
            sync: SyncConfig {
                // The bar shows it.
                progress_interval: if bar.is_some() {
                    Duration::from_secs(3_600)
                } else {
                    SyncConfig::default().progress_interval
                },
                ..SyncConfig::default()
            },
            mining,
            rpc,
        })
        .await
        .with_context(|| format!("cannot start the node in {}", datadir.display()))?;
        if let (Some(bar), Some(sync)) = (bar, service.sync()) {
            tokio::spawn(progress::drive(bar, sync.clone()));
        }
        let mut threads = Vec::new();
        if let Some(rate) = cfg.dev_tx_rate.filter(|r| *r > 0) {
            let n = service.node().clone();
            threads.push(
                std::thread::Builder::new()
                    .name("dev-load".into())
                    .spawn(move || dev_load(&n, rate))?,
            );
        }
        let failure = tokio::select! {
            r = wait_for_signal() => { r?; None }
            reason = service.failed() => Some(reason),
        };
        info!(target: "node", "shutting down");
        service.node().request_shutdown();
        for t in threads {
            let _ = t.join();
        }
        service.stop().await;
        match failure {
            Some(reason) => Err(anyhow::anyhow!(reason)),
            None => anyhow::Ok(()),
        }
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
        let confirmed = node
            .reader()
            .get::<cairn_node::store::schema::Accounts>(&sender)
            .ok()
            .flatten()
            .map_or(0, |a| a.nonce);
        let nonce = node.with_mempool(|mempool| mempool.next_nonce(&sender, confirmed));

        let amount = Amount(1_000 + (i as u64 % 1_000));
        let tx = Transfer::new_signed(
            key,
            node.params().network_id(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag that changes a setting has a key in cairn.toml, and the table
    /// names no flag that does not exist.
    #[test]
    fn every_setting_flag_has_a_config_key() {
        let actions = ["config", "check-config", "print-genesis", "help", "version"];
        let cmd = Cli::command();
        let flags: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for flag in &flags {
            if actions.contains(&flag.as_str()) {
                continue;
            }
            assert!(
                config::FLAG_KEYS.iter().any(|(f, _)| f == flag),
                "--{flag} has no cairn.toml key in FLAG_KEYS"
            );
        }
        for (flag, _) in config::FLAG_KEYS {
            assert!(flags.iter().any(|f| f == flag), "FLAG_KEYS names --{flag}");
        }
    }

    #[test]
    fn flags_become_the_keys_of_the_table() {
        let cli = Cli::parse_from([
            "cairn-node",
            "--offline",
            "--no-rpc",
            "--mine",
            "--coinbase",
            &dev_keys()[1].address().to_string(),
            "--max-inbound",
            "5",
            "--min-free-disk-mb",
            "10",
            "--rpc-allowed-hosts",
            "node.lan,Other.lan",
            "--rpc-allowed-origins",
            "https://wallet.example",
        ]);
        let o = cli.overrides();
        assert_eq!(o.p2p.enabled, Some(false));
        assert_eq!(o.rpc.enabled, Some(false));
        assert_eq!(o.mining.enabled, Some(true));
        assert_eq!(o.p2p.max_inbound, Some(5));
        assert_eq!(o.min_free_disk_mb, Some(10));
        assert_eq!(
            o.rpc.allowed_hosts,
            Some(vec!["node.lan".to_string(), "Other.lan".to_string()])
        );
        assert_eq!(
            o.rpc.allowed_origins,
            Some(vec!["https://wallet.example".to_string()])
        );
        assert_eq!(o.p2p.outbound, None, "a flag left out does not override");
        let none = Cli::parse_from(["cairn-node"]).overrides();
        assert_eq!(none, ConfigFile::default());
    }
}
