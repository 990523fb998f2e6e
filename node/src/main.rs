//! `cairn-node`: the Cairn full node daemon. Wiring only: the settings are defined
//! in `cairn_node::config`, the command line around them in `cli.rs`; this file
//! turns them into the node's parts and runs them until a signal.

mod cli;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cairn_node::sync::SyncConfig;
use cairn_node::{NodeConfig, Service, ServiceConfig, devload};
use tracing::{info, warn};

use crate::cli::{Cli, Command, Loaded};

fn main() -> ExitCode {
    let (cli, matches) = Cli::parse_args();
    let result = match &cli.command {
        Some(Command::Init {
            dev,
            datadir,
            force,
        }) => cli::init(*dev, datadir.clone(), *force),
        Some(Command::Completions { shell }) => {
            cli::completions(*shell);
            Ok(())
        }
        None => cli::load(&cli, &matches).and_then(|loaded| {
            if cli.print_genesis {
                println!("{}", loaded.params.to_json());
                Ok(())
            } else if cli.check_config {
                cli::print_settings(&loaded);
                Ok(())
            } else {
                run(loaded)
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(loaded: Loaded) -> anyhow::Result<()> {
    let Loaded {
        settings: cfg,
        datadir,
        params,
        source,
    } = loaded;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log_level))
        .with_context(|| format!("invalid log_level {:?}", cfg.log_level))?;
    // On a terminal, initial sync draws a progress bar, and log lines are printed
    // above it; otherwise sync logs a progress line every few seconds.
    let bar = std::io::stderr().is_terminal().then(progress::sync_bar);
    match &bar {
        Some(bar) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(progress::BarWriter(bar.clone()))
            .init(),
        // Log files get no colour codes.
        None => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stdout().is_terminal())
            .init(),
    }

    let mining = cfg.mining.mining_config(cfg.dev)?;
    let pool = cfg
        .pool
        .pool_config(cfg.mining.coinbase, cfg.dev)
        .map_err(|e| anyhow::anyhow!("[pool]: {e}"))?;
    // Every peer, RPC client and Stratum session holds a file descriptor.
    match cairn_node::fsutil::raise_open_file_limit() {
        Ok(n) => info!(target: "node", open_files = n, "open-file limit"),
        Err(e) => warn!(target: "node", "cannot raise the open-file limit: {e}"),
    }
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
    let config = ServiceConfig {
        node: NodeConfig {
            params,
            datadir: datadir.clone(),
            mempool: cfg.mempool.mempool_config(),
            min_free_disk: cfg.min_free_disk_mb.saturating_mul(1024 * 1024),
            store: cairn_node::store::StoreConfig {
                cache_bytes: cfg.db_cache_mb.saturating_mul(1 << 20),
                write_buffer_bytes: cfg.db_write_buffer_mb.saturating_mul(1 << 20),
            },
        },
        network: cfg.p2p.network_config(&datadir),
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
        rpc: cfg.rpc.rpc_config(&datadir, cfg.dev),
        pool,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-rt")
        .build()?;
    runtime.block_on(async {
        let service = Service::start(config)
            .await
            .with_context(|| format!("cannot start the node in {}", datadir.display()))?;
        if let (Some(bar), Some(sync)) = (bar, service.sync()) {
            tokio::spawn(progress::drive(bar, sync.clone()));
        }
        let mut threads = Vec::new();
        if cfg.dev_tx_rate > 0 {
            let (node, rate) = (service.node().clone(), cfg.dev_tx_rate);
            threads.push(
                std::thread::Builder::new()
                    .name("dev-load".into())
                    .spawn(move || devload::run(&node, rate))?,
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
