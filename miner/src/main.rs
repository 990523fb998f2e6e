//! `cairn-miner`: mine against a node over its RPC or for a pool over Stratum, or
//! benchmark the PoW kernel.

mod remote;
mod stratum;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cairn_config as config;
use cairn_miner::Backend;
use cairn_miner::bench::{self, BenchConfig, BenchReport};
use cairn_stratum::messages::Username;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Mines Cairn blocks with a SIMD blake3 kernel on every core.
///
/// Mine for a node (on this or another machine; each --worker name gets its own
/// nonce space, so many machines can mine for one node):
///
///     cairn-miner --rpc http://127.0.0.1:8645 --coinbase cairn1… --worker rig-1
///
/// Work is pushed by the node on every new block; the miner reconnects by itself
/// when the node restarts.
///
/// Or mine for a pool (docs/STRATUM.md), which pays its miners in each block's
/// coinbase; every job's coinbase is checked before it is mined:
///
///     cairn-miner --stratum pool.example:8647 --user cairn1….rig-1
///
/// `cairn-miner bench` shows what this machine can do.
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

    /// Address the mined blocks pay (required to mine with --rpc).
    #[arg(long, value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    coinbase: Option<cairn_core::Address>,

    /// This machine's name at the node; each name gets its own nonce space, so give
    /// every machine its own (default: the host name).
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<String>,

    /// Mine for this pool over Stratum (docs/STRATUM.md) instead of for a node over
    /// --rpc: its HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    stratum: Option<String>,

    /// Who the pool pays: ADDRESS, or ADDRESS.WORKER with a worker name of 1 to 32
    /// letters, digits, _ or - (required with --stratum).
    #[arg(long, value_name = "ADDRESS[.WORKER]")]
    #[serde(
        with = "cairn_config::display_opt",
        skip_serializing_if = "Option::is_none"
    )]
    user: Option<Username>,

    /// The network's chain id, which the pool's coinbases must carry (with
    /// --stratum): 1 on the main network, 1337 on the dev network.
    #[arg(long, value_name = "ID", default_value_t = 1)]
    chain_id: u32,

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
        if let Some(pool) = stratum_config(&settings, matches)? {
            return mine_for_pool(&settings, &pool);
        }
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
            // The limit, the naive rate, each backend and blake3 on its instruction set, then
            // the scaling runs.
            let steps =
                2 + 2 * Backend::ALL.iter().filter(|b| b.is_supported()).count() + threads - 1;
            let mut step = 0;
            let report = bench::run(&config, &mut |what| {
                step += 1;
                let left = (steps + 1).saturating_sub(step) as f64 * seconds;
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

/// The pool to mine for, if the settings name one. `--stratum` excludes the node's
/// flags on the command line (the file always holds `rpc`, so only flags count), and
/// the pool's flags need `--stratum`.
fn stratum_config(
    settings: &Settings,
    matches: &ArgMatches,
) -> anyhow::Result<Option<stratum::StratumConfig>> {
    let on_command_line = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let Some(pool) = &settings.stratum else {
        for (id, flag) in [("user", "--user"), ("chain_id", "--chain-id")] {
            anyhow::ensure!(
                !on_command_line(id),
                "{flag} is for mining for a pool: add --stratum HOST:PORT"
            );
        }
        return Ok(None);
    };
    for (id, flag) in [
        ("rpc", "--rpc"),
        ("coinbase", "--coinbase"),
        ("worker", "--worker"),
    ] {
        anyhow::ensure!(
            !on_command_line(id),
            "--stratum and {flag} are mutually exclusive: mine for a pool with --stratum \
             HOST:PORT --user ADDRESS[.WORKER], or for a node with --rpc URL --coinbase ADDRESS"
        );
    }
    let valid = !pool.contains('/')
        && pool
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    anyhow::ensure!(
        valid,
        "--stratum {pool}: expected HOST:PORT, e.g. pool.example:8647 (no scheme)"
    );
    let user = settings.user.clone().ok_or_else(|| {
        anyhow::anyhow!("--user ADDRESS[.WORKER] is required to mine for a pool (see --help)")
    })?;
    Ok(Some(stratum::StratumConfig {
        pool: pool.clone(),
        user,
        chain_id: settings.chain_id,
        report_every: Duration::from_secs(settings.report_every.max(1)),
    }))
}

fn mine_for_pool(settings: &Settings, pool: &stratum::StratumConfig) -> anyhow::Result<()> {
    let backend = match settings.backend {
        Some(b) => b.checked()?,
        None => Backend::from_env()?,
    };
    let miner = cairn_miner::Miner::new(settings.threads, backend)?;
    eprintln!(
        "mining for the pool at {} with {} thread(s), {:?} kernel, paying {} (chain id {})",
        pool.pool,
        miner.threads(),
        backend,
        pool.user,
        pool.chain_id
    );
    stratum::run(pool, miner)
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
        let same_isa = b.blake3_same_isa.map_or_else(String::new, |l| {
            format!(
                "; {:.2}x blake3 on {} ({})",
                b.hashes_per_second / l,
                b.backend,
                mh(l).trim()
            )
        });
        println!(
            "kernel {:<9} 1 thread: {} hashes ({:.2}x limit{same_isa})",
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
        assert_eq!(file.chain_id, 1);
        for key in [
            "rpc",
            "coinbase",
            "worker",
            "stratum",
            "user",
            "chain_id",
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

    fn pool_settings(args: &[&str]) -> anyhow::Result<Option<stratum::StratumConfig>> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        stratum_config(&cli.settings, &matches)
    }

    #[test]
    fn stratum_mode_takes_a_pool_and_a_user_and_excludes_the_node() {
        let user = format!("{}.rig-1", cairn_core::Address([10; 20]));
        let user = user.as_str();
        let pool = pool_settings(&[
            "cairn-miner",
            "--stratum",
            "pool.example:8647",
            "--user",
            user,
        ])
        .unwrap()
        .unwrap();
        assert_eq!(pool.pool, "pool.example:8647");
        assert_eq!((pool.user.worker.as_str(), pool.chain_id), ("rig-1", 1));
        assert!(
            pool_settings(&["cairn-miner", "--rpc", "http://127.0.0.1:8645"])
                .unwrap()
                .is_none()
        );
        for bad in [
            vec!["cairn-miner", "--stratum", "pool.example:8647"],
            vec!["cairn-miner", "--stratum", "pool.example", "--user", user],
            vec![
                "cairn-miner",
                "--stratum",
                "tcp://pool.example:8647",
                "--user",
                user,
            ],
            vec![
                "cairn-miner",
                "--stratum",
                "pool.example:8647",
                "--user",
                user,
                "--rpc",
                "http://x:1",
            ],
            vec![
                "cairn-miner",
                "--stratum",
                "pool.example:8647",
                "--user",
                user,
                "--worker",
                "w",
            ],
            vec!["cairn-miner", "--user", user],
            vec!["cairn-miner", "--chain-id", "1337"],
        ] {
            assert!(pool_settings(&bad).is_err(), "{bad:?}");
        }
        assert!(
            Cli::command()
                .try_get_matches_from(["cairn-miner", "--stratum", "p:1", "--user", "cairn1nope"])
                .is_err()
        );
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
