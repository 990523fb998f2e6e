//! `cairn-miner`: benchmark the PoW kernel (and, with the RPC issue, mine against a
//! node's `mining_getWork`).

use std::process::ExitCode;

use cairn_miner::Backend;
use cairn_miner::bench::{self, BenchConfig, BenchReport};
use clap::{Parser, Subcommand};

/// Mines Cairn blocks with a SIMD blake3 kernel on every core.
///
/// Try `cairn-miner bench` to see what this machine can do.
#[derive(Debug, Parser)]
#[command(name = "cairn-miner", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    match cli.command {
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
