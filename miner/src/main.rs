//! `cairn-miner`: mine against a node over its RPC, or benchmark the PoW kernel.

mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_config as config;
use cairn_miner::Backend;
use cairn_miner::bench::{self, BenchConfig, BenchReport};
use clap::{CommandFactory, Parser, Subcommand};

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

    /// Settings file (default: ~/.cairn/miner.toml, if it exists). Every flag below
    /// has a key of the same name (`report_every` for --report-every); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The node's JSON-RPC URL. [default: http://127.0.0.1:8645] [key: rpc]
    #[arg(long, value_name = "URL", env = "CAIRN_RPC")]
    rpc: Option<String>,

    /// Address the mined blocks pay (required to mine). [key: coinbase]
    #[arg(long, value_name = "ADDRESS")]
    coinbase: Option<cairn_core::Address>,

    /// This machine's name at the node (default: the host name). [key: worker]
    #[arg(long, value_name = "NAME")]
    worker: Option<String>,

    /// Mining threads (default: every logical CPU). [key: threads]
    #[arg(long, short = 't', value_name = "N")]
    threads: Option<usize>,

    /// Kernel backend: avx512, avx2, sse41 or portable (default: the fastest).
    /// [key: backend]
    #[arg(long, value_name = "BACKEND")]
    backend: Option<Backend>,

    /// Seconds between status lines (hashrate, accepted, rejected). [default: 10]
    /// [key: report_every]
    #[arg(long, value_name = "SECONDS")]
    report_every: Option<u64>,
}

/// `miner.toml`: the same settings as the flags.
#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    rpc: Option<String>,
    #[serde(default, deserialize_with = "config::from_str")]
    coinbase: Option<cairn_core::Address>,
    worker: Option<String>,
    threads: Option<usize>,
    #[serde(default, deserialize_with = "config::from_str")]
    backend: Option<Backend>,
    report_every: Option<u64>,
}

const TEMPLATE: &str = "\
# miner.toml: settings for cairn-miner. Every key is optional; a flag given on
# the command line overrides its key.

# The node's JSON-RPC URL (its --rpc-listen address).
rpc = \"http://127.0.0.1:8645\"
# Address the mined blocks pay (required to mine).
# coinbase = \"cairn1...\"
# This machine's name at the node; each name gets its own nonce space, so give
# every machine its own (default: the host name).
# worker = \"rig-1\"
# Mining threads; 0 means every logical CPU.
threads = 0
# Kernel: \"avx512\", \"avx2\", \"sse41\" or \"portable\" (default: the fastest
# this CPU supports).
# backend = \"avx2\"
# Seconds between status lines.
report_every = 10
";

impl Cli {
    /// Fills every setting the flags left out from the file.
    fn with_file(mut self) -> anyhow::Result<Cli> {
        let file = match &self.config {
            Some(path) => Some(config::load::<ConfigFile>(path)?.0),
            None => match default_config_path() {
                Some(path) => config::load_if_exists::<ConfigFile>(&path)?.map(|(f, _)| f),
                None => None,
            },
        };
        let Some(file) = file else { return Ok(self) };
        self.rpc = self.rpc.or(file.rpc);
        self.coinbase = self.coinbase.or(file.coinbase);
        self.worker = self.worker.or(file.worker);
        self.threads = self.threads.or(file.threads);
        self.backend = self.backend.or(file.backend);
        self.report_every = self.report_every.or(file.report_every);
        Ok(self)
    }
}

fn default_config_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cairn").join("miner.toml"))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented miner.toml (to --config, or ~/.cairn/miner.toml).
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script, e.g.
    /// `cairn-miner completions bash > /etc/bash_completion.d/cairn-miner`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
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
    match &cli.command {
        Some(Command::Init { force }) => {
            let path = match &cli.config {
                Some(p) => p.clone(),
                None => default_config_path()
                    .ok_or_else(|| anyhow::anyhow!("HOME is not set: pass --config FILE"))?,
            };
            config::write_new(&path, TEMPLATE, *force)?;
            println!("wrote {}", path.display());
            return Ok(());
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "cairn-miner", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    let cli = cli.with_file()?;
    let Some(command) = cli.command else {
        let coinbase = cli.coinbase.ok_or_else(|| {
            anyhow::anyhow!("--coinbase <ADDRESS> is required to mine (see --help)")
        })?;
        let backend = match cli.backend {
            Some(b) => b.checked()?,
            None => Backend::from_env()?,
        };
        let rpc = cli.rpc.unwrap_or_else(|| "http://127.0.0.1:8645".into());
        anyhow::ensure!(
            rpc.starts_with("http://") || rpc.starts_with("ws://"),
            "--rpc {rpc}: cairn-miner speaks plain http:// (or ws://) only; reach a remote \
             node over a trusted LAN, a VPN or an SSH tunnel \
             (ssh -L 8645:127.0.0.1:8645 <node>)"
        );
        let miner = cairn_miner::Miner::new(cli.threads.unwrap_or(0), backend)?;
        let worker = cli.worker.unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "miner".into())
        });
        eprintln!(
            "mining for {rpc} with {} thread(s), {:?} kernel, worker `{worker}`",
            miner.threads(),
            backend
        );
        return remote::run(
            &remote::RemoteConfig {
                url: rpc,
                coinbase,
                worker,
                report_every: std::time::Duration::from_secs(cli.report_every.unwrap_or(10).max(1)),
            },
            miner,
        );
    };
    match command {
        Command::Init { .. } | Command::Completions { .. } => Ok(()),
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
                let left = (steps + 1 - step) as f64 * seconds;
                eprintln!(
                    "[{step}/{steps}] measuring {what} for {seconds} s (about {left:.0} s left)"
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_the_defaults() {
        let file: ConfigFile = config::parse(std::path::Path::new("miner.toml"), TEMPLATE).unwrap();
        assert_eq!(file.rpc.as_deref(), Some("http://127.0.0.1:8645"));
        assert_eq!((file.threads, file.report_every), (Some(0), Some(10)));
        assert_eq!(
            (file.coinbase, file.backend, file.worker),
            (None, None, None)
        );
    }
}
