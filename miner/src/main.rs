//! `cairn-miner`: mine against a node over its RPC, or benchmark the PoW kernel.

mod remote;

use std::process::ExitCode;

use cairn_miner::Backend;
use cairn_miner::bench::{self, BenchConfig, BenchReport};
use clap::{Parser, Subcommand};

/// Mines Cairn blocks with a SIMD blake3 kernel on every core.
///
/// Mine for a node (on this or another machine; each --worker name gets its own
/// nonce space, so many machines can mine for one node):
///
///     cairn-miner --rpc http://127.0.0.1:8645 --coinbase cairn1… --worker rig-1
///
/// Work is pushed by the node on every new block; the miner reconnects by itself
/// when the node restarts. `cairn-miner bench` shows what this machine can do.
#[derive(Debug, Parser)]
#[command(name = "cairn-miner", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The node's JSON-RPC URL.
    #[arg(
        long,
        value_name = "URL",
        env = "CAIRN_RPC",
        default_value = "http://127.0.0.1:8645"
    )]
    rpc: String,

    /// Address the mined blocks pay (required to mine).
    #[arg(long, value_name = "ADDRESS")]
    coinbase: Option<cairn_core::Address>,

    /// This machine's name at the node (default: the host name).
    #[arg(long, value_name = "NAME")]
    worker: Option<String>,

    /// Mining threads (default: every logical CPU).
    #[arg(long, short = 't', value_name = "N")]
    threads: Option<usize>,

    /// Kernel backend: avx512, avx2, sse41 or portable (default: the fastest).
    #[arg(long, value_name = "BACKEND")]
    backend: Option<Backend>,

    /// Seconds between status lines (hashrate, accepted, rejected).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    report_every: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the kernel against blake3's own throughput and a naive loop, and its
    /// scaling from 1 to N threads.
    Bench {
        /// Most threads to measure (default: every logical CPU).
        #[arg(long, short = 't')]
        threads: Option<usize>,
        /// Seconds per measurement (there are about N + 6 of them).
        #[arg(long, short = 's', default_value_t = 3.0)]
        seconds: f64,
        /// Kernel backend: avx512, avx2, sse41 or portable (default: the fastest this
        /// CPU supports, or CAIRN_MINER_BACKEND).
        #[arg(long)]
        backend: Option<Backend>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        let coinbase = cli.coinbase.ok_or_else(|| {
            anyhow::anyhow!("--coinbase <ADDRESS> is required to mine (see --help)")
        })?;
        let backend = match cli.backend {
            Some(b) => b.checked()?,
            None => Backend::from_env()?,
        };
        let miner = cairn_miner::Miner::new(cli.threads.unwrap_or(0), backend)?;
        let worker = cli.worker.unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "miner".into())
        });
        eprintln!(
            "mining for {} with {} thread(s), {:?} kernel, worker `{worker}`",
            cli.rpc,
            miner.threads(),
            backend
        );
        return remote::run(
            &remote::RemoteConfig {
                url: cli.rpc,
                coinbase,
                worker,
                report_every: std::time::Duration::from_secs(cli.report_every.max(1)),
            },
            miner,
        );
    };
    match command {
        Command::Bench {
            threads,
            seconds,
            backend,
            json,
        } => {
            anyhow::ensure!(
                seconds.is_finite() && seconds > 0.0,
                "--seconds must be positive"
            );
            let backend = match backend {
                Some(b) => b.checked()?,
                None => Backend::from_env()?,
            };
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
            let config = BenchConfig {
                threads,
                seconds,
                backend,
            };
            let steps = 2 + Backend::ALL.iter().filter(|b| b.is_supported()).count() + threads - 1;
            let mut step = 0;
            let report = bench::run(&config, &mut |what| {
                step += 1;
                eprintln!("[{step}/{steps}] measuring {what} for {seconds} s");
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_table(&report);
            }
            Ok(())
        }
    }
}

fn mh(x: f64) -> String {
    format!("{:8.2} M/s", x / 1e6)
}

fn print_table(r: &BenchReport) {
    println!("cpu: {} [{}]", r.cpu, r.cpu_flags.join(" "));
    println!(
        "blake3 crate, 1 thread:   {} compressions ({:.0} MB/s on 256 KiB)",
        mh(r.limit_compressions_per_second_per_core),
        r.limit_bytes_per_second / 1e6
    );
    println!(
        "naive per-nonce, 1 thread:{} hashes",
        mh(r.naive_hashes_per_second)
    );
    for b in &r.backends {
        println!(
            "kernel {:<9} 1 thread: {} hashes ({:.2}x limit)",
            b.backend,
            mh(b.hashes_per_second),
            b.hashes_per_second / r.limit_compressions_per_second_per_core
        );
    }
    for s in &r.scaling {
        println!(
            "kernel {:<9} {} thr:  {} hashes",
            s.backend,
            s.threads,
            mh(s.hashes_per_second)
        );
    }
    println!(
        "kernel/limit per thread: {:.2}",
        r.kernel_over_limit_per_thread
    );
    println!("kernel/naive:            {:.2}", r.kernel_over_naive);
    println!(
        "{} threads / 1 thread:   {:.2}",
        r.threads, r.thread_scaling
    );
}
