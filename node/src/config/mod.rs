//! `cairn.toml` and `cairn-node`'s command line: every setting defined once.
//!
//! Each area is one struct ([`Settings`] for the top-level keys, [`RpcSettings`],
//! [`P2pSettings`], [`MiningSettings`], [`MempoolSettings`]) that derives both
//! `clap::Args`, flattened into the command line, and serde, a section of the file.
//! A field carries everything about its setting: the key (the argument's id,
//! `section.name`), the flag (`long`), the default (`default_value`) and the doc
//! comment, which is at once the `--help` text, the comment in the file
//! `cairn-node init` writes ([`template`]) and its row in `docs/CONFIGURATION.md`
//! ([`markdown`]).
//!
//! Precedence: a flag on the command line (or its environment variable), then the
//! file, then the default. The file is read whole, each missing key at its default;
//! then every argument the command line gave ([`clap::ArgMatches::value_source`])
//! replaces its key ([`merge`]). Unknown keys and bad values are errors that name
//! the key and the line ([`cairn_config::ConfigError`]).

mod generate;
mod sections;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use cairn_config::ConfigError;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};

pub use crate::config::generate::{markdown, template};
pub use crate::config::sections::{
    MempoolSettings, MiningSettings, P2pSettings, PoolSettings, RpcSettings,
};

/// The file's name inside a data directory.
pub const FILE_NAME: &str = "cairn.toml";

/// Default free-space floor (MiB): below it the node refuses to start, or stops.
pub const DEFAULT_MIN_FREE_DISK_MB: u64 = 256;

/// Flags that only turn a key off: the flag's argument id and the key it sets to
/// `false` (a key has one argument; `--mine` is `mining.enabled`'s).
pub const NEGATIONS: &[(&str, &str)] = &[("mining.no_mine", "mining.enabled")];

/// Every setting of `cairn-node`: the top-level keys of `cairn.toml` and one
/// section per area.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Run the built-in development network: easy difficulty, ten pre-funded
    /// accounts from the public test mnemonic (insecure), mining on by default.
    #[arg(long, conflicts_with = "genesis")]
    pub dev: bool,

    /// A network definition (genesis.json form) to use instead of the built-in main
    /// network.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,

    /// Data directory (default: ~/.cairn/<network>). A cairn.toml found in a data
    /// directory belongs to it and cannot move it: only a file given with --config
    /// may set this key.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadir: Option<PathBuf>,

    /// Log filter, e.g. "info" or "info,sync=debug" (RUST_LOG overrides it).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,

    /// Below this much free disk space (MiB) the node refuses to start, and a
    /// running node stops cleanly, rather than let the database run out of room
    /// mid-write.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MIN_FREE_DISK_MB)]
    pub min_free_disk_mb: u64,

    /// RocksDB's block cache in MiB, shared by every column family (reads of
    /// blocks and state that miss it go to disk; more helps explorers and RPC-heavy
    /// nodes).
    #[arg(long, value_name = "MIB", default_value_t = crate::store::StoreConfig::DEFAULT_CACHE_MB)]
    pub db_cache_mb: usize,

    /// RocksDB's write buffers (memtables) in MiB, all column families together
    /// (more means fewer flushes during a long sync, at that much more memory).
    #[arg(long, value_name = "MIB", default_value_t = crate::store::StoreConfig::DEFAULT_WRITE_BUFFER_MB)]
    pub db_write_buffer_mb: usize,

    /// Development network only: transfers per second generated between the dev
    /// accounts, as a load for trying things out and for tests (0: none).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 0)]
    pub dev_tx_rate: u32,

    /// `[rpc]`.
    #[command(flatten)]
    pub rpc: RpcSettings,

    /// `[p2p]`.
    #[command(flatten)]
    pub p2p: P2pSettings,

    /// `[mining]`.
    #[command(flatten)]
    pub mining: MiningSettings,

    /// `[mempool]`.
    #[command(flatten)]
    pub mempool: MempoolSettings,

    /// `[pool]`.
    #[command(flatten)]
    pub pool: PoolSettings,
}

impl Default for Settings {
    fn default() -> Settings {
        defaults()
    }
}

/// A settings struct with every argument at its declared default.
pub(crate) fn defaults<T: Args + FromArgMatches>() -> T {
    cairn_config::settings::defaults()
}

impl Settings {
    /// The arguments of the settings alone (no actions, no subcommands).
    pub fn command() -> Command {
        Settings::augment_args(Command::new("cairn-node"))
    }

    /// Reads `path`; the text is kept to place later errors on their line.
    pub fn load(path: &Path) -> Result<(Settings, String), ConfigError> {
        cairn_config::load(path)
    }

    /// Reads `path` if it exists.
    pub fn load_if_exists(path: &Path) -> Result<Option<(Settings, String)>, ConfigError> {
        cairn_config::load_if_exists(path)
    }

    /// Parses `text` (from `path`, named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        cairn_config::parse(path, text)
    }

    /// Fills the keys whose default depends on others: mining is on by default on
    /// the dev network only.
    pub fn resolved(mut self) -> Settings {
        self.mining.enabled = Some(self.mining.enabled.unwrap_or(self.dev));
        self
    }

    /// Rules across keys, checked on the merged settings. `path` and `text` place
    /// the error (the file, or "command line" and no text).
    pub fn check(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: &str| ConfigError::at_key(path, text, key, message);
        if self.dev && self.genesis.is_some() {
            return Err(at(
                "genesis",
                "cannot be used with dev = true (the dev network has its own genesis)",
            ));
        }
        if !self.p2p.enabled && (!self.p2p.bootnodes.is_empty() || self.p2p.mdns) {
            return Err(at(
                "p2p.enabled",
                "false (offline) cannot be combined with p2p.bootnodes or p2p.mdns",
            ));
        }
        if self.mining.enabled == Some(true) && !self.dev && self.mining.coinbase.is_none() {
            return Err(at(
                "mining.coinbase",
                "mining needs a coinbase address (mining.coinbase or --coinbase)",
            ));
        }
        if !self.dev && self.dev_tx_rate > 0 {
            return Err(at(
                "dev_tx_rate",
                "needs the dev network (dev = true or --dev)",
            ));
        }
        let lists = [
            (
                "rpc.allowed_hosts",
                &self.rpc.allowed_hosts,
                crate::rpc::access::check_host_entry as fn(&str) -> Result<(), String>,
            ),
            (
                "rpc.allowed_origins",
                &self.rpc.allowed_origins,
                crate::rpc::access::check_origin_entry,
            ),
        ];
        for (key, list, check) in lists {
            for entry in list {
                check(entry).map_err(|e| at(key, &e))?;
            }
        }
        if self.p2p.listen.is_empty() && self.p2p.enabled {
            return Err(at(
                "p2p.listen",
                "needs at least one address (use p2p.enabled = false to run offline)",
            ));
        }
        Ok(())
    }

    /// The settings as a `cairn.toml` (for `--check-config`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The settings as a TOML table (keys without a value left out).
    pub(crate) fn to_table(&self) -> toml::Table {
        cairn_config::settings::to_table(self)
    }
}

/// `file` with every key that the command line gave replaced by `flags`' value:
/// `flags` and `matches` come from one parse of a command line that flattens
/// [`Settings`].
pub fn merge(
    file: &Settings,
    flags: &Settings,
    matches: &ArgMatches,
) -> Result<Settings, toml::de::Error> {
    cairn_config::settings::merge(file, flags, matches, NEGATIONS)
}

/// Each setting's flag and its key, in the order of `--help` (`--no-mine` names
/// `mining.enabled`).
pub fn flag_keys() -> Vec<(String, String)> {
    Settings::command()
        .get_arguments()
        .filter_map(|a| {
            let id = a.get_id().as_str();
            let key = NEGATIONS
                .iter()
                .find(|(flag, _)| *flag == id)
                .map_or(id, |(_, key)| key);
            Some((a.get_long()?.to_string(), key.to_string()))
        })
        .collect()
}

/// Where the file is looked up when `--config` is not given.
pub fn default_path(datadir: &Path) -> PathBuf {
    datadir.join(FILE_NAME)
}
