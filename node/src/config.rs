//! `cairn.toml`: the node's configuration file.
//!
//! Every command-line flag that changes a setting has a key here ([`FLAG_KEYS`]);
//! a flag given on the command line overrides the key. The file is looked up as
//! `--config FILE`, else `<datadir>/cairn.toml`; `cairn-node init` writes a
//! commented one ([`template`]). Unknown keys and bad values are errors that name
//! the key and the line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_core::Address;
use cairn_core::config::{self, ConfigError, from_str, from_str_list};
use cairn_miner::Backend;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize, Serializer};

/// The file's name inside a data directory.
pub const FILE_NAME: &str = "cairn.toml";

/// Default JSON-RPC (and explorer, and metrics) address.
pub const DEFAULT_RPC_LISTEN: &str = "127.0.0.1:8645";
/// Default peer-to-peer address.
pub const DEFAULT_P2P_LISTEN: &str = "/ip4/0.0.0.0/tcp/8646";
/// Default free-space floor: below it the node refuses to start, or stops.
pub const DEFAULT_MIN_FREE_DISK_MB: u64 = 256;

/// Each setting flag of `cairn-node` and its key in `cairn.toml`. Flags missing
/// here are actions (`--check-config`, `--print-genesis`) or name the file itself
/// (`--config`); a test holds the CLI and this table together.
pub const FLAG_KEYS: &[(&str, &str)] = &[
    ("dev", "dev"),
    ("genesis", "genesis"),
    ("datadir", "datadir"),
    ("log-level", "log_level"),
    ("min-free-disk-mb", "min_free_disk_mb"),
    ("no-rpc", "rpc.enabled"),
    ("rpc-listen", "rpc.listen"),
    ("rpc-token", "rpc.token"),
    ("rpc-allowed-hosts", "rpc.allowed_hosts"),
    ("rpc-allowed-origins", "rpc.allowed_origins"),
    ("offline", "p2p.enabled"),
    ("listen", "p2p.listen"),
    ("bootnode", "p2p.bootnodes"),
    ("mdns", "p2p.mdns"),
    ("max-inbound", "p2p.max_inbound"),
    ("max-inbound-per-ip", "p2p.max_inbound_per_ip"),
    ("max-inbound-per-subnet", "p2p.max_inbound_per_subnet"),
    ("outbound", "p2p.outbound"),
    ("ban-seconds", "p2p.ban_seconds"),
    ("mine", "mining.enabled"),
    ("no-mine", "mining.enabled"),
    ("coinbase", "mining.coinbase"),
    ("mine-threads", "mining.threads"),
    ("mine-backend", "mining.backend"),
    ("mempool-max-mb", "mempool.max_mb"),
    ("min-fee", "mempool.min_fee"),
    ("dev-tx-rate", "dev_tx_rate"),
];

/// The file, and also the command line's overrides: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Run the development network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<bool>,
    /// A network definition file instead of the built-in main network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// The data directory (read only from a file named with `--config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadir: Option<PathBuf>,
    /// Log filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Free-space floor in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_free_disk_mb: Option<u64>,
    /// Dev network only: transfers generated per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_tx_rate: Option<u32>,
    /// `[rpc]`.
    #[serde(default)]
    pub rpc: RpcSection,
    /// `[p2p]`.
    #[serde(default)]
    pub p2p: P2pSection,
    /// `[mining]`.
    #[serde(default)]
    pub mining: MiningSection,
    /// `[mempool]`.
    #[serde(default)]
    pub mempool: MempoolSection,
}

/// `[rpc]`: JSON-RPC, the explorer page and `/metrics`, on one port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// Serve the port at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Listen address.
    #[serde(
        default,
        deserialize_with = "from_str",
        serialize_with = "display",
        skip_serializing_if = "Option::is_none"
    )]
    pub listen: Option<SocketAddr>,
    /// Admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Host names served besides IP addresses (`*`: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins served besides the node's own explorer (`*`: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
}

/// `[p2p]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Network at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Listen multiaddrs.
    #[serde(
        default,
        deserialize_with = "from_str_list",
        serialize_with = "display_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub listen: Option<Vec<Multiaddr>>,
    /// Peers to dial at start.
    #[serde(
        default,
        deserialize_with = "from_str_list",
        serialize_with = "display_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub bootnodes: Option<Vec<Multiaddr>>,
    /// Local discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mdns: Option<bool>,
    /// Most inbound connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inbound: Option<u32>,
    /// Most inbound connections from one IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inbound_per_ip: Option<u32>,
    /// Most inbound connections from one /24 (IPv4) or /48 (IPv6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inbound_per_subnet: Option<u32>,
    /// Outbound connections to keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<u32>,
    /// Ban length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_seconds: Option<u64>,
}

/// `[mining]`: the built-in miner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MiningSection {
    /// Mine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Who the coinbase pays.
    #[serde(
        default,
        deserialize_with = "from_str",
        serialize_with = "display",
        skip_serializing_if = "Option::is_none"
    )]
    pub coinbase: Option<Address>,
    /// Threads, 0 for every CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Kernel.
    #[serde(
        default,
        deserialize_with = "from_str",
        serialize_with = "display",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend: Option<Backend>,
}

/// `[mempool]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Size limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mb: Option<usize>,
    /// Fee floor in base units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_fee: Option<u64>,
}

fn display<S: Serializer, T: std::fmt::Display>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn display_list<S: Serializer, T: std::fmt::Display>(
    v: &Option<Vec<T>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_seq(v.iter().map(ToString::to_string)),
        None => s.serialize_none(),
    }
}

impl ConfigFile {
    /// Reads `path`: the text is kept to place later errors on their line.
    pub fn load(path: &Path) -> Result<(ConfigFile, String), ConfigError> {
        config::load(path)
    }

    /// Parses `text` (from `path`, named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        config::parse(path, text)
    }

    /// `self`, with every key that `overrides` sets replaced.
    pub fn overlay(self, o: ConfigFile) -> ConfigFile {
        ConfigFile {
            dev: o.dev.or(self.dev),
            genesis: o.genesis.or(self.genesis),
            datadir: o.datadir.or(self.datadir),
            log_level: o.log_level.or(self.log_level),
            min_free_disk_mb: o.min_free_disk_mb.or(self.min_free_disk_mb),
            rpc: RpcSection {
                enabled: o.rpc.enabled.or(self.rpc.enabled),
                listen: o.rpc.listen.or(self.rpc.listen),
                token: o.rpc.token.or(self.rpc.token),
                allowed_hosts: o.rpc.allowed_hosts.or(self.rpc.allowed_hosts),
                allowed_origins: o.rpc.allowed_origins.or(self.rpc.allowed_origins),
            },
            p2p: P2pSection {
                enabled: o.p2p.enabled.or(self.p2p.enabled),
                listen: o.p2p.listen.or(self.p2p.listen),
                bootnodes: o.p2p.bootnodes.or(self.p2p.bootnodes),
                mdns: o.p2p.mdns.or(self.p2p.mdns),
                max_inbound: o.p2p.max_inbound.or(self.p2p.max_inbound),
                max_inbound_per_ip: o.p2p.max_inbound_per_ip.or(self.p2p.max_inbound_per_ip),
                max_inbound_per_subnet: o
                    .p2p
                    .max_inbound_per_subnet
                    .or(self.p2p.max_inbound_per_subnet),
                outbound: o.p2p.outbound.or(self.p2p.outbound),
                ban_seconds: o.p2p.ban_seconds.or(self.p2p.ban_seconds),
            },
            mining: MiningSection {
                enabled: o.mining.enabled.or(self.mining.enabled),
                coinbase: o.mining.coinbase.or(self.mining.coinbase),
                threads: o.mining.threads.or(self.mining.threads),
                backend: o.mining.backend.or(self.mining.backend),
            },
            mempool: MempoolSection {
                max_mb: o.mempool.max_mb.or(self.mempool.max_mb),
                min_fee: o.mempool.min_fee.or(self.mempool.min_fee),
            },
            dev_tx_rate: o.dev_tx_rate.or(self.dev_tx_rate),
        }
    }

    /// Every key that has a default filled in with it (`dev` decides whether
    /// mining is on). Keys without a default (genesis, datadir, token, coinbase,
    /// backend) stay as they are.
    pub fn with_defaults(self) -> ConfigFile {
        #[allow(clippy::unwrap_used)] // Constants, parsed in a test.
        let rpc_listen: SocketAddr = DEFAULT_RPC_LISTEN.parse().unwrap();
        #[allow(clippy::unwrap_used)]
        let p2p_listen: Multiaddr = DEFAULT_P2P_LISTEN.parse().unwrap();
        let dev = self.dev.unwrap_or(false);
        ConfigFile {
            dev: Some(dev),
            log_level: Some(self.log_level.unwrap_or_else(|| "info".into())),
            min_free_disk_mb: Some(self.min_free_disk_mb.unwrap_or(DEFAULT_MIN_FREE_DISK_MB)),
            rpc: RpcSection {
                enabled: Some(self.rpc.enabled.unwrap_or(true)),
                listen: Some(self.rpc.listen.unwrap_or(rpc_listen)),
                token: self.rpc.token,
                allowed_hosts: Some(self.rpc.allowed_hosts.unwrap_or_else(|| {
                    crate::rpc::DEFAULT_ALLOWED_HOSTS
                        .iter()
                        .map(|h| (*h).to_string())
                        .collect()
                })),
                allowed_origins: Some(self.rpc.allowed_origins.unwrap_or_default()),
            },
            p2p: P2pSection {
                enabled: Some(self.p2p.enabled.unwrap_or(true)),
                listen: Some(self.p2p.listen.unwrap_or_else(|| vec![p2p_listen])),
                bootnodes: Some(self.p2p.bootnodes.unwrap_or_default()),
                mdns: Some(self.p2p.mdns.unwrap_or(false)),
                max_inbound: Some(self.p2p.max_inbound.unwrap_or(64)),
                max_inbound_per_ip: Some(self.p2p.max_inbound_per_ip.unwrap_or(4)),
                max_inbound_per_subnet: Some(self.p2p.max_inbound_per_subnet.unwrap_or(8)),
                outbound: Some(self.p2p.outbound.unwrap_or(8)),
                ban_seconds: Some(self.p2p.ban_seconds.unwrap_or(86_400)),
            },
            mining: MiningSection {
                enabled: Some(self.mining.enabled.unwrap_or(dev)),
                coinbase: self.mining.coinbase,
                threads: Some(self.mining.threads.unwrap_or(0)),
                backend: self.mining.backend,
            },
            mempool: MempoolSection {
                max_mb: Some(self.mempool.max_mb.unwrap_or(64)),
                min_fee: Some(self.mempool.min_fee.unwrap_or(1_000)),
            },
            dev_tx_rate: Some(self.dev_tx_rate.unwrap_or(0)),
            ..self
        }
    }

    /// Rules across keys, checked on the merged settings. `source` names where the
    /// file came from for the error (flags are reported as their key).
    pub fn check(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let dev = self.dev == Some(true);
        if dev && self.genesis.is_some() {
            return Err(ConfigError::at_key(
                path,
                text,
                "genesis",
                "cannot be used with dev = true (the dev network has its own genesis)",
            ));
        }
        if self.p2p.enabled == Some(false)
            && (self.p2p.bootnodes.as_ref().is_some_and(|b| !b.is_empty())
                || self.p2p.mdns == Some(true))
        {
            return Err(ConfigError::at_key(
                path,
                text,
                "p2p.enabled",
                "false (offline) cannot be combined with p2p.bootnodes or p2p.mdns",
            ));
        }
        if self.mining.enabled == Some(true) && !dev && self.mining.coinbase.is_none() {
            return Err(ConfigError::at_key(
                path,
                text,
                "mining.coinbase",
                "mining needs a coinbase address (mining.coinbase or --coinbase)",
            ));
        }
        if !dev && self.dev_tx_rate.is_some_and(|r| r > 0) {
            return Err(ConfigError::at_key(
                path,
                text,
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
            for entry in list.iter().flatten() {
                check(entry).map_err(|e| ConfigError::at_key(path, text, key, e))?;
            }
        }
        if self.p2p.listen.as_ref().is_some_and(Vec::is_empty) && self.p2p.enabled != Some(false) {
            return Err(ConfigError::at_key(
                path,
                text,
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
}

/// The commented file `cairn-node init` writes: every key with its default, so
/// that parsing it changes nothing (a test checks this).
pub fn template(dev: bool) -> String {
    let network = if dev {
        "# The development network: easy difficulty, ten pre-funded dev accounts from the\n\
         # public test mnemonic (insecure), mining on by default.\n\
         dev = true\n"
    } else {
        "# Run the development network instead of the main one (see cairn-node --help).\n\
         dev = false\n\
         # A network definition (genesis.json form) instead of the built-in main network.\n\
         # genesis = \"/etc/cairn/genesis.json\"\n"
    };
    let mining = if dev {
        "# Mine blocks with the built-in miner (on by default with dev = true).\n\
         enabled = true\n\
         # Address the coinbases pay (default with dev = true: dev account 0).\n\
         # coinbase = \"cairn1...\"\n"
    } else {
        "# Mine blocks with the built-in miner (needs coinbase).\n\
         enabled = false\n\
         # Address the coinbases pay.\n\
         # coinbase = \"cairn1...\"\n"
    };
    format!(
        "# cairn.toml: settings for cairn-node.\n\
         #\n\
         # Every key is optional: a missing key takes the default shown here, and a\n\
         # command-line flag overrides the key (docs/CONFIGURATION.md lists which flag\n\
         # sets which key). `cairn-node --check-config` prints the settings in effect.\n\
         \n\
         {network}\
         # The data directory: only read when this file is given with --config (a\n\
         # cairn.toml found in a data directory belongs to that directory).\n\
         # datadir = \"/var/lib/cairn\"\n\
         # Log filter, e.g. \"info\" or \"info,sync=debug\" (RUST_LOG overrides it).\n\
         log_level = \"info\"\n\
         # Below this much free disk space (MiB) the node refuses to start, and a running\n\
         # node stops cleanly, rather than let the database run out of room mid-write.\n\
         min_free_disk_mb = {DEFAULT_MIN_FREE_DISK_MB}\n\
         # Development network only: transfers per second generated between the dev\n\
         # accounts, as a load for trying things out (0: none).\n\
         dev_tx_rate = 0\n\
         \n\
         [rpc]\n\
         # JSON-RPC (POST /), WebSocket (/ws), the explorer page (/) and Prometheus\n\
         # metrics (/metrics), all on one port.\n\
         enabled = true\n\
         # Keep it on 127.0.0.1 unless a firewall or a proxy stands in front.\n\
         listen = \"{DEFAULT_RPC_LISTEN}\"\n\
         # Token for the admin methods (default: a random one in <datadir>/.cookie,\n\
         # new at every start). The environment variable CAIRN_RPC_TOKEN also sets it.\n\
         # token = \"...\"\n\
         # Host names the port answers to. IP addresses always work; other names are\n\
         # refused because a web page can point a name it controls at 127.0.0.1 (DNS\n\
         # rebinding). Add the names a proxy or other machines use to reach this node.\n\
         # \"*\" answers to any name: insecure unless something in front checks.\n\
         allowed_hosts = [\"localhost\"]\n\
         # Web pages (origins such as \"https://wallet.example\") that may use the RPC\n\
         # from a browser, besides the explorer on this port. Requests without an\n\
         # Origin (wallets, miners, curl) are always served. \"*\" lets every web page\n\
         # you visit use this node: insecure.\n\
         allowed_origins = []\n\
         \n\
         [p2p]\n\
         # Peer-to-peer networking (false: run offline).\n\
         enabled = true\n\
         # libp2p multiaddrs to listen on; port 0 picks a free port.\n\
         listen = [\"{DEFAULT_P2P_LISTEN}\"]\n\
         # Peers to connect to at start, e.g. \"/ip4/192.0.2.7/tcp/8646\".\n\
         bootnodes = []\n\
         # Find peers on the local network with mDNS.\n\
         mdns = false\n\
         # Most inbound connections, and outbound connections to keep.\n\
         max_inbound = 64\n\
         outbound = 8\n\
         # Most inbound connections from one IP address and from one /24 (IPv4) or\n\
         # /48 (IPv6). Loopback, bootnodes and net_connect peers are exempt.\n\
         max_inbound_per_ip = 4\n\
         max_inbound_per_subnet = 8\n\
         # How long a misbehaving peer stays banned.\n\
         ban_seconds = 86400\n\
         \n\
         [mining]\n\
         {mining}\
         # Mining threads; 0 means every logical CPU.\n\
         threads = 0\n\
         # Kernel: \"avx512\", \"avx2\", \"sse41\" or \"portable\" (default: the fastest\n\
         # this CPU supports).\n\
         # backend = \"avx2\"\n\
         \n\
         [mempool]\n\
         # Size limit in MiB; the lowest-fee transfers are evicted beyond it.\n\
         max_mb = 64\n\
         # Smallest fee accepted, in base units (1 CAIRN = 100000000 units).\n\
         min_fee = 1000\n"
    )
}

/// Where the file is looked up when `--config` is not given.
pub fn default_path(datadir: &Path) -> PathBuf {
    datadir.join(FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("cairn.toml"), text)
    }

    #[test]
    fn template_round_trips_to_the_defaults() {
        for dev in [false, true] {
            let text = template(dev);
            let file = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let defaults = ConfigFile {
                dev: Some(dev),
                ..ConfigFile::default()
            }
            .with_defaults();
            assert_eq!(file, defaults, "dev = {dev}");
            assert_eq!(file.clone().with_defaults(), file);
            file.check(Path::new("x"), &text).unwrap();
            // --check-config's output parses back to the same settings.
            assert_eq!(parse(&file.to_toml()).unwrap(), file);
        }
    }

    #[test]
    fn every_key_is_in_the_template() {
        let text = template(false);
        for (_, key) in FLAG_KEYS {
            let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
            let mut current = "";
            let found = text.lines().any(|line| {
                if let Some(h) = line.strip_prefix('[') {
                    current = h.trim_end_matches(']');
                }
                current == section
                    && line
                        .trim_start_matches("# ")
                        .starts_with(&format!("{name} ="))
            });
            assert!(found, "{key} is not in the template");
        }
    }

    /// docs/CONFIGURATION.md shows the real template and every flag with its key.
    #[test]
    fn configuration_doc_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIGURATION.md");
        let doc = std::fs::read_to_string(path).unwrap();
        assert!(
            doc.contains(template(false).trim_end()),
            "docs/CONFIGURATION.md does not hold the current template"
        );
        for (flag, key) in FLAG_KEYS {
            assert!(
                doc.contains(&format!("| `--{flag}` | `{key}` |")),
                "docs/CONFIGURATION.md lacks --{flag} → {key}"
            );
        }
    }

    #[test]
    fn overlay_prefers_overrides() {
        let file = parse("[p2p]\nmax_inbound = 5\noutbound = 3\n").unwrap();
        let flags = ConfigFile {
            p2p: P2pSection {
                max_inbound: Some(9),
                ..P2pSection::default()
            },
            ..ConfigFile::default()
        };
        let merged = file.overlay(flags).with_defaults();
        assert_eq!(merged.p2p.max_inbound, Some(9));
        assert_eq!(merged.p2p.outbound, Some(3));
        assert_eq!(merged.p2p.ban_seconds, Some(86_400));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("dev = \"yes\"\n", "dev", 1),
            ("min_free_disk_mb = -5\n", "min_free_disk_mb", 1),
            ("\n[rpc]\nlisten = \"localhost\"\n", "rpc.listen", 3),
            ("[rpc]\nenabled = 1\n", "rpc.enabled", 2),
            ("[p2p]\nlisten = [\"/ip9/x\"]\n", "p2p.listen", 2),
            (
                "[p2p]\nbootnodes = \"/ip4/1.2.3.4/tcp/1\"\n",
                "p2p.bootnodes",
                2,
            ),
            ("[p2p]\nmax_inbound = 1.5\n", "p2p.max_inbound", 2),
            (
                "[p2p]\nmax_inbound_per_ip = \"lots\"\n",
                "p2p.max_inbound_per_ip",
                2,
            ),
            (
                "[p2p]\nmax_inbound_per_subnet = -8\n",
                "p2p.max_inbound_per_subnet",
                2,
            ),
            ("[p2p]\noutbound = 99999999999\n", "p2p.outbound", 2),
            ("[p2p]\nban_seconds = true\n", "p2p.ban_seconds", 2),
            ("[p2p]\nmdns = \"no\"\n", "p2p.mdns", 2),
            (
                "[mining]\ncoinbase = \"cairn1nope\"\n",
                "mining.coinbase",
                2,
            ),
            ("[mining]\nbackend = \"gpu\"\n", "mining.backend", 2),
            ("[mining]\nthreads = -1\n", "mining.threads", 2),
            ("[mempool]\nmax_mb = \"big\"\n", "mempool.max_mb", 2),
            ("[mempool]\nmin_fee = -1\n", "mempool.min_fee", 2),
            (
                "[rpc]\nallowed_hosts = \"localhost\"\n",
                "rpc.allowed_hosts",
                2,
            ),
            ("[rpc]\nallowed_origins = true\n", "rpc.allowed_origins", 2),
            (
                "log_level = \"info\"\ndev_tx_rate = \"fast\"\n",
                "dev_tx_rate",
                2,
            ),
        ];
        for (text, key, line) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.key(), Some(key), "{text:?}: {e}");
            assert_eq!(e.line(), Some(line), "{text:?}: {e}");
            assert!(e.to_string().contains(&format!("`{key}`")), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        for (text, name, line) in [
            ("colour = 1\n", "colour", 1),
            ("[rpc]\nport = 1\n", "port", 2),
            ("[p2p]\n\nbootnode = []\n", "bootnode", 3),
            ("[mining]\nenable = true\n", "enable", 2),
            ("[wallet]\n", "wallet", 1),
            ("[dev]\nrate = 1\n", "dev", 1),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(name), "{text:?}: {e}");
            assert_eq!(e.line(), Some(line), "{text:?}: {e}");
        }
    }

    #[test]
    fn cross_key_rules_name_their_key() {
        for (text, key, line) in [
            ("dev = true\ngenesis = \"g.json\"\n", "genesis", 2),
            ("[p2p]\nenabled = false\nmdns = true\n", "p2p.enabled", 2),
            ("[mining]\nenabled = true\n", "mining.coinbase", 0),
            ("dev_tx_rate = 5\n", "dev_tx_rate", 1),
            ("[p2p]\nlisten = []\n", "p2p.listen", 2),
            (
                "[rpc]\nallowed_hosts = [\"localhost\", \"node.lan:8645\"]\n",
                "rpc.allowed_hosts",
                2,
            ),
            (
                "[rpc]\nallowed_origins = [\"wallet.example\"]\n",
                "rpc.allowed_origins",
                2,
            ),
        ] {
            let file = parse(text).unwrap().with_defaults();
            let e = file.check(Path::new("cairn.toml"), text).expect_err(text);
            assert_eq!(e.key(), Some(key), "{e}");
            assert_eq!(e.line(), (line > 0).then_some(line), "{e}");
        }
    }
}
