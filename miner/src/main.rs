//! `cairn-miner`: mine against a node over its RPC, or benchmark the PoW kernel.

mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_config as config;
use cairn_miner::Backend;
use cairn_miner::bench::{self, BenchConfig, BenchReport};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

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

    #[command(flatten)]
    settings: Settings,
}

/// What `miner.toml` and the mining flags set: each setting defined once, here (its
/// flag, its key, its default and its help, which is also its comment in the file
/// `cairn-miner init` writes).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The node's JSON-RPC URL (its --rpc-listen address).
    #[arg(
        long,
        value_name = "URL",
        env = "CAIRN_RPC",
        default_value = "http://127.0.0.1:8645"
    )]
    rpc: String,

    /// Address the mined blocks pay (required to mine).
    #[arg(long, value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    coinbase: Option<cairn_core::Address>,

    /// This machine's name at the node; each name gets its own nonce space, so give
    /// every machine its own (default: the host name).
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<String>,

    /// Mining threads; 0 means every logical CPU.
    #[arg(long, short = 't', value_name = "N", default_value_t = 0)]
    threads: usize,

    /// Kernel: avx512, avx2, sse41 or portable (default: the fastest this CPU
    /// supports).
    #[arg(long, value_name = "BACKEND")]
    #[serde(
        with = "cairn_config::display_opt",
        skip_serializing_if = "Option::is_none"
    )]
    backend: Option<Backend>,

    /// Seconds between status lines (hashrate, accepted, rejected).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    report_every: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        config::settings::defaults()
    }
}

const HEADER: &str = "\
# miner.toml: settings for cairn-miner. Every key is optional: a missing key
# takes the default shown here, and a flag on the command line overrides its key.

";

impl Cli {
    /// The settings in effect: the file's, then every flag the command line gave.
    fn settings(&self, matches: &ArgMatches) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => Some(config::load::<Settings>(path)?.0),
            None => match default_config_path() {
                Some(path) => config::load_if_exists::<Settings>(&path)?.map(|(f, _)| f),
                None => None,
            },
        };
        Ok(match file {
            Some(file) => config::settings::merge(&file, &self.settings, matches, &[])?,
            None => self.settings.clone(),
        })
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Init { force }) => {
            let path = match &cli.config {
                Some(p) => p.clone(),
                None => default_config_path()
                    .ok_or_else(|| anyhow::anyhow!("HOME is not set: pass --config FILE"))?,
            };
            let template = config::settings::template(HEADER, &Settings::default(), &[]);
            config::write_new(&path, &template, *force)?;
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
    let settings = cli.settings(matches)?;
    let Some(command) = cli.command else {
        let coinbase = settings.coinbase.ok_or_else(|| {
            anyhow::anyhow!("--coinbase <ADDRESS> is required to mine (see --help)")
        })?;
        let backend = match settings.backend {
            Some(b) => b.checked()?,
            None => Backend::from_env()?,
        };
        let rpc = settings.rpc;
        anyhow::ensure!(
            rpc.starts_with("http://") || rpc.starts_with("ws://"),
            "--rpc {rpc}: cairn-miner speaks plain http:// (or ws://) only; reach a remote \
             node over a trusted LAN, a VPN or an SSH tunnel \
             (ssh -L 8645:127.0.0.1:8645 <node>)"
        );
        let miner = cairn_miner::Miner::new(settings.threads, backend)?;
        let worker = settings.worker.unwrap_or_else(|| {
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
                report_every: std::time::Duration::from_secs(settings.report_every.max(1)),
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
        let template = config::settings::template(HEADER, &Settings::default(), &[]);
        let file: Settings = config::parse(std::path::Path::new("miner.toml"), &template).unwrap();
        assert_eq!(file, Settings::default());
        assert_eq!(file.rpc, "http://127.0.0.1:8645");
        assert_eq!((file.threads, file.report_every), (0, 10));
        for key in [
            "rpc",
            "coinbase",
            "worker",
            "threads",
            "backend",
            "report_every",
        ] {
            assert!(
                template.contains(&format!("{key} =")),
                "{key} missing:\n{template}"
            );
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: Settings = config::parse(
            std::path::Path::new("miner.toml"),
            "threads = 3\nworker = \"from-file\"\nreport_every = 5\n",
        )
        .unwrap();
        let matches = Cli::command()
            .try_get_matches_from(["cairn-miner", "--threads", "2"])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let merged = config::settings::merge(&file, &cli.settings, &matches, &[]).unwrap();
        assert_eq!(merged.threads, 2);
        assert_eq!(merged.worker.as_deref(), Some("from-file"));
        assert_eq!(merged.report_every, 5);
    }

    /// docs/CONFIGURATION.md shows the file as `init` writes it.
    #[test]
    fn the_documented_template_is_the_generated_one() {
        let docs = include_str!("../../docs/CONFIGURATION.md");
        let template = config::settings::template(HEADER, &Settings::default(), &[]);
        assert!(
            docs.contains(&format!("```toml\n{template}```")),
            "docs/CONFIGURATION.md shows another template:\n{template}"
        );
    }
}
