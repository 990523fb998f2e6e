//! `cairn-node`'s command line: the actions and subcommands around the settings
//! (which `cairn_node::config` defines), and how the file and the flags become the
//! settings in effect.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cairn_core::ChainParams;
use cairn_node::config::{self, ConfigError, Settings};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// Settings file (default: <datadir>/cairn.toml, if it exists).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Print the settings in effect (file and flags merged) and exit.
    #[arg(long)]
    pub(crate) check_config: bool,

    /// Print the network definition (genesis.json form) and exit.
    #[arg(long)]
    pub(crate) print_genesis: bool,

    #[command(flatten)]
    pub(crate) settings: Settings,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// The command line, each setting's help ending with its key in `cairn.toml`.
    pub(crate) fn command_with_keys() -> clap::Command {
        let keys = config::flag_keys();
        Cli::command().mut_args(|arg| {
            let Some((_, key)) = keys
                .iter()
                .find(|(f, _)| Some(f.as_str()) == arg.get_long())
            else {
                return arg;
            };
            let note =
                |h: Option<&clap::builder::StyledStr>| h.map(|h| format!("{h} [key: {key}]"));
            let (help, long) = (note(arg.get_help()), note(arg.get_long_help()));
            let mut arg = arg;
            if let Some(help) = help {
                arg = arg.help(help);
            }
            if let Some(long) = long {
                arg = arg.long_help(long);
            }
            arg
        })
    }

    /// Parses the process's arguments (exits on a usage error, as clap does).
    pub(crate) fn parse_args() -> (Cli, ArgMatches) {
        let matches = Cli::command_with_keys().get_matches();
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => (cli, matches),
            Err(e) => e.exit(),
        }
    }
}

/// Prints `shell`'s completion script.
pub(crate) fn completions(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "cairn-node",
        &mut std::io::stdout(),
    );
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

/// `cairn-node init`: writes the commented file.
pub(crate) fn init(dev: bool, datadir: Option<PathBuf>, force: bool) -> anyhow::Result<()> {
    let network = if dev { "dev" } else { "main" };
    let datadir = match datadir {
        Some(d) => d,
        None => default_datadir(network)?,
    };
    let path = config::default_path(&datadir);
    cairn_config::write_new(&path, &config::template(dev), force)?;
    println!("wrote {}", path.display());
    let dev_flag = if dev { " --dev" } else { "" };
    let dir_flag = if datadir == default_datadir(network)? {
        String::new()
    } else {
        format!(" --datadir {}", datadir.display())
    };
    println!("edit it, then start the node with: cairn-node{dev_flag}{dir_flag}");
    Ok(())
}

/// The settings file and the flags merged, with the data directory they apply to.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The settings in effect (keys with derived defaults filled in).
    pub(crate) settings: Settings,
    pub(crate) datadir: PathBuf,
    pub(crate) params: ChainParams,
    /// Where the file came from, if there was one.
    pub(crate) source: Option<PathBuf>,
}

/// Reads the file that `cli` names (or the data directory's) and lays the flags
/// over it.
pub(crate) fn load(cli: &Cli, matches: &ArgMatches) -> anyhow::Result<Loaded> {
    let flags = &cli.settings;
    // Without --config, the file is the one in the data directory the flags name.
    let (path, datadir) = match &cli.config {
        Some(path) => (path.clone(), None),
        None => {
            let params = load_params(flags.dev, flags.genesis.as_deref())?;
            let datadir = match &flags.datadir {
                Some(d) => d.clone(),
                None => default_datadir(params.name())?,
            };
            (config::default_path(&datadir), Some(datadir))
        }
    };
    let loaded = match &cli.config {
        Some(path) => Some(Settings::load(path)?),
        None => Settings::load_if_exists(&path)?,
    };
    let (file, text, source) = match loaded {
        Some((file, text)) => (file, text, Some(path.clone())),
        None => (Settings::default(), String::new(), None),
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
    let merged = config::merge(&file, flags, matches)
        .context("cannot merge the flags into the settings")?
        .resolved();
    let named = source
        .clone()
        .unwrap_or_else(|| PathBuf::from("command line"));
    merged.check(&named, &text)?;
    let params = load_params(merged.dev, merged.genesis.as_deref())?;
    let datadir = match (datadir, &merged.datadir) {
        (Some(d), _) => d,
        (None, Some(d)) => d.clone(),
        (None, None) => default_datadir(params.name())?,
    };
    Ok(Loaded {
        settings: merged,
        datadir,
        params,
        source,
    })
}

/// `--check-config`: the settings in effect, as a `cairn.toml`.
pub(crate) fn print_settings(loaded: &Loaded) {
    match &loaded.source {
        Some(p) => println!("# settings in effect: {} and the flags", p.display()),
        None => println!("# settings in effect: defaults and the flags (no cairn.toml)"),
    }
    println!("# data directory: {}\n", loaded.datadir.display());
    let shown = Settings {
        datadir: None,
        ..loaded.settings.clone()
    };
    print!("{}", shown.to_toml());
}

#[cfg(test)]
mod tests {
    use cairn_core::genesis::dev_keys;

    use super::*;

    /// Every flag of the command line is a setting with a key in cairn.toml, or one
    /// of the few actions.
    #[test]
    fn every_flag_is_a_setting_or_an_action() {
        let actions = ["config", "check-config", "print-genesis", "help", "version"];
        let keys = config::flag_keys();
        for arg in Cli::command_with_keys().get_arguments() {
            let Some(flag) = arg.get_long() else { continue };
            if actions.contains(&flag) {
                continue;
            }
            let (_, key) = keys
                .iter()
                .find(|(f, _)| f == flag)
                .unwrap_or_else(|| panic!("--{flag} has no cairn.toml key"));
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.ends_with(&format!("[key: {key}]")), "--{flag}: {help}");
        }
    }

    #[test]
    fn flags_parse_into_the_settings() {
        let coinbase = dev_keys()[1].address().to_string();
        let matches = Cli::command_with_keys()
            .try_get_matches_from([
                "cairn-node",
                "--offline",
                "--no-rpc",
                "--mine",
                "--coinbase",
                &coinbase,
                "--max-inbound",
                "5",
                "--rpc-allowed-hosts",
                "node.lan,Other.lan",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let s = config::merge(&Settings::default(), &cli.settings, &matches).unwrap();
        assert!(!s.p2p.enabled && !s.rpc.enabled);
        assert_eq!(s.mining.enabled, Some(true));
        assert_eq!(s.mining.coinbase.map(|a| a.to_string()), Some(coinbase));
        assert_eq!(s.p2p.max_inbound, 5);
        assert_eq!(s.rpc.allowed_hosts, ["node.lan", "Other.lan"]);
        assert_eq!(s.p2p.outbound, 8);
    }
}
