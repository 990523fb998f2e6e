//! The sections of `cairn.toml`, each also a group of `cairn-node`'s flags, and what
//! the node's parts take from them.

use std::net::SocketAddr;
use std::path::Path;

use cairn_core::genesis::dev_keys;
use cairn_core::{Address, Amount};
use cairn_miner::{Backend, BackendError};
use clap::{ArgAction, Args};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::mempool::MempoolConfig;
use crate::mining::MiningConfig;
use crate::network::NetworkConfig;
use crate::rpc::RpcConfig;

/// `[rpc]`: JSON-RPC (POST /), WebSocket (/ws), the explorer page (/) and
/// Prometheus metrics (/metrics), all on one port.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "JSON-RPC, explorer and metrics [rpc]")]
pub struct RpcSettings {
    /// Serve JSON-RPC, the WebSocket, the explorer and the metrics; --no-rpc
    /// (enabled = false) serves none of them.
    #[arg(id = "rpc.enabled", long = "no-rpc", action = ArgAction::SetFalse)]
    pub enabled: bool,

    /// JSON-RPC listen address. Keep it on 127.0.0.1 unless a firewall or a proxy
    /// stands in front.
    #[arg(
        id = "rpc.listen",
        long = "rpc-listen",
        value_name = "IP:PORT",
        default_value = "127.0.0.1:8645"
    )]
    pub listen: SocketAddr,

    /// Token for the admin RPC methods (default: a random one in <datadir>/.cookie,
    /// new at every start).
    #[arg(
        id = "rpc.token",
        long = "rpc-token",
        value_name = "TOKEN",
        env = "CAIRN_RPC_TOKEN",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,

    /// Host names the RPC port answers to (the flag takes them comma-separated). IP
    /// addresses always work; other names are refused because a web page can point a
    /// name it controls at 127.0.0.1 (DNS rebinding). Add the names a proxy or other
    /// machines use to reach this node, and keep "localhost". "*" answers to any name:
    /// insecure unless something in front checks.
    #[arg(id = "rpc.allowed_hosts", long = "rpc-allowed-hosts", value_name = "NAMES",
          value_delimiter = ',',
          default_values_t = crate::rpc::DEFAULT_ALLOWED_HOSTS.iter().map(|h| (*h).to_string()))]
    pub allowed_hosts: Vec<String>,

    /// Web pages (origins such as "https://wallet.example", comma-separated on the
    /// flag) that may use the RPC from a browser, besides the explorer on this port.
    /// Requests without an Origin (wallets, miners, curl) are always served. "*" lets
    /// every web page you visit use this node: insecure.
    #[arg(
        id = "rpc.allowed_origins",
        long = "rpc-allowed-origins",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
}

impl Default for RpcSettings {
    fn default() -> RpcSettings {
        super::defaults()
    }
}

impl RpcSettings {
    /// The RPC server's configuration, or `None` when it is off. `generate` lets
    /// `node_generate` mine (the dev network).
    pub fn rpc_config(&self, datadir: &Path, generate: bool) -> Option<RpcConfig> {
        self.enabled.then(|| RpcConfig {
            listen: self.listen,
            token: self.token.clone(),
            generate,
            allowed_hosts: self.allowed_hosts.clone(),
            allowed_origins: self.allowed_origins.clone(),
            ..RpcConfig::new(datadir)
        })
    }
}

/// `[p2p]`: peer-to-peer networking.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Peer-to-peer [p2p]")]
pub struct P2pSettings {
    /// Peer-to-peer networking; --offline (enabled = false) runs without it.
    #[arg(id = "p2p.enabled", long = "offline", action = ArgAction::SetFalse,
          conflicts_with_all = ["p2p.bootnodes", "p2p.mdns"])]
    pub enabled: bool,

    /// libp2p multiaddrs to listen on (repeat the flag for several); port 0 picks a
    /// free port.
    #[arg(
        id = "p2p.listen",
        long = "listen",
        value_name = "MULTIADDR",
        default_value = "/ip4/0.0.0.0/tcp/8646"
    )]
    #[serde(with = "cairn_config::display_list")]
    pub listen: Vec<Multiaddr>,

    /// Peers to connect to at start, e.g. "/ip4/192.0.2.7/tcp/8646" (repeat the flag
    /// for several; a trailing /p2p/<peer id> is optional).
    #[arg(id = "p2p.bootnodes", long = "bootnode", value_name = "MULTIADDR")]
    #[serde(with = "cairn_config::display_list")]
    pub bootnodes: Vec<Multiaddr>,

    /// Find peers on the local network with mDNS.
    #[arg(id = "p2p.mdns", long = "mdns")]
    pub mdns: bool,

    /// Most inbound peer connections.
    #[arg(
        id = "p2p.max_inbound",
        long = "max-inbound",
        value_name = "N",
        default_value_t = 64
    )]
    pub max_inbound: u32,

    /// Most inbound connections from one IP address (loopback, bootnodes and
    /// net_connect peers are exempt).
    #[arg(
        id = "p2p.max_inbound_per_ip",
        long = "max-inbound-per-ip",
        value_name = "N",
        default_value_t = 4
    )]
    pub max_inbound_per_ip: u32,

    /// Most inbound connections from one /24 (IPv4) or /48 (IPv6) subnet, with the
    /// same exemptions.
    #[arg(
        id = "p2p.max_inbound_per_subnet",
        long = "max-inbound-per-subnet",
        value_name = "N",
        default_value_t = 8
    )]
    pub max_inbound_per_subnet: u32,

    /// Outbound peer connections to keep.
    #[arg(
        id = "p2p.outbound",
        long = "outbound",
        value_name = "N",
        default_value_t = 8
    )]
    pub outbound: u32,

    /// How long a misbehaving peer stays banned, in seconds.
    #[arg(
        id = "p2p.ban_seconds",
        long = "ban-seconds",
        value_name = "SECONDS",
        default_value_t = 86_400
    )]
    pub ban_seconds: u64,

    /// Announce blocks as compact blocks (header, coinbase, short transfer ids),
    /// which peers rebuild from their mempools; --no-compact-blocks
    /// (compact_blocks = false) sends whole blocks, for comparison.
    #[arg(id = "p2p.compact_blocks", long = "no-compact-blocks", action = ArgAction::SetFalse)]
    pub compact_blocks: bool,
}

impl Default for P2pSettings {
    fn default() -> P2pSettings {
        super::defaults()
    }
}

impl P2pSettings {
    /// The network's configuration, or `None` when offline.
    pub fn network_config(&self, datadir: &Path) -> Option<NetworkConfig> {
        self.enabled
            .then(|| NetworkConfig::from_settings(self, datadir))
    }
}

/// `[mining]`: the built-in miner.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Mining [mining]")]
pub struct MiningSettings {
    /// Mine blocks with the built-in miner (default: on with dev = true, else off;
    /// off the dev network it needs coinbase).
    #[arg(
        id = "mining.enabled",
        long = "mine",
        num_args = 0,
        default_missing_value = "true",
        conflicts_with = "mining.no_mine"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Do not mine, even with --dev (sets mining.enabled to false).
    #[arg(id = "mining.no_mine", long = "no-mine")]
    #[serde(skip)]
    pub no_mine: bool,

    /// Address the mined coinbases pay (default with dev = true: dev account 0).
    #[arg(id = "mining.coinbase", long = "coinbase", value_name = "ADDRESS")]
    #[serde(
        with = "cairn_config::display_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub coinbase: Option<Address>,

    /// Mining threads; 0 means every logical CPU.
    #[arg(
        id = "mining.threads",
        long = "mine-threads",
        value_name = "N",
        default_value_t = 0
    )]
    pub threads: usize,

    /// Mining kernel: "avx512", "avx2", "sse41" or "portable" (default: the fastest
    /// this CPU supports).
    #[arg(id = "mining.backend", long = "mine-backend", value_name = "BACKEND")]
    #[serde(
        with = "cairn_config::display_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend: Option<Backend>,

    /// Measure the kernel against blake3's own rate once, in the background, shortly
    /// after start (shown in mining_getInfo and the explorer); --no-miner-self-test
    /// (self_test = false) skips it, e.g. for many nodes on one machine.
    #[arg(id = "mining.self_test", long = "no-miner-self-test", action = ArgAction::SetFalse)]
    pub self_test: bool,
}

impl Default for MiningSettings {
    fn default() -> MiningSettings {
        super::defaults()
    }
}

impl MiningSettings {
    /// The built-in miner's configuration, or `None` when it does not mine (mining
    /// on needs a coinbase; on the dev network it defaults to dev account 0). Call
    /// it on resolved settings.
    pub fn mining_config(&self, dev: bool) -> Result<Option<MiningConfig>, BackendError> {
        let coinbase = self
            .coinbase
            .or_else(|| dev.then(|| dev_keys()[0].address()));
        let (Some(true), Some(coinbase)) = (self.enabled, coinbase) else {
            return Ok(None);
        };
        let backend = match self.backend {
            Some(b) => b.checked()?,
            None => Backend::from_env()?,
        };
        Ok(Some(MiningConfig {
            coinbase,
            threads: self.threads,
            backend,
            self_test: self.self_test,
        }))
    }
}

/// `[mempool]`: pending transfers.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Mempool [mempool]")]
pub struct MempoolSettings {
    /// Mempool size limit in MiB; the lowest-fee transfers are evicted beyond it.
    #[arg(
        id = "mempool.max_mb",
        long = "mempool-max-mb",
        value_name = "MIB",
        default_value_t = 64
    )]
    pub max_mb: usize,

    /// Smallest transfer fee the mempool accepts, in base units (1 CAIRN = 100000000
    /// units).
    #[arg(
        id = "mempool.min_fee",
        long = "min-fee",
        value_name = "UNITS",
        default_value_t = 1_000
    )]
    pub min_fee: u64,
}

impl Default for MempoolSettings {
    fn default() -> MempoolSettings {
        super::defaults()
    }
}

impl MempoolSettings {
    /// The mempool's policy.
    pub fn mempool_config(&self) -> MempoolConfig {
        MempoolConfig {
            max_bytes: self.max_mb.saturating_mul(1024 * 1024),
            min_fee: Amount(self.min_fee),
            ..MempoolConfig::default()
        }
    }
}

/// `[pool]`: a Stratum endpoint for miners who pool their hash rate, each paid by
/// PPLNS in the coinbase (docs/STRATUM.md).
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Pool [pool]")]
pub struct PoolSettings {
    /// Run the pool: a Stratum endpoint whose blocks pay its miners by PPLNS.
    #[arg(id = "pool.enabled", long = "pool")]
    pub enabled: bool,

    /// Address of the Stratum endpoint (TCP, JSON lines).
    #[arg(
        id = "pool.listen",
        long = "stratum-listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:8647"
    )]
    pub listen: SocketAddr,

    /// The pool's own address: its fee and what it holds for miners paid later
    /// (default: mining.coinbase; with dev = true, dev account 0).
    #[arg(id = "pool.address", long = "pool-address", value_name = "ADDRESS")]
    #[serde(
        with = "cairn_config::display_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<Address>,

    /// The pool's fee in millionths of each block's reward (10000 = 1 %).
    #[arg(
        id = "pool.fee_ppm",
        long = "pool-fee-ppm",
        value_name = "PPM",
        default_value_t = 0
    )]
    pub fee_ppm: u32,

    /// The PPLNS window: the last this-many blocks' worth of share work is paid.
    #[arg(
        id = "pool.window_blocks",
        long = "pool-window-blocks",
        value_name = "BLOCKS",
        default_value_t = 2
    )]
    pub window_blocks: u64,

    /// Shares older than this many windows are deleted (kept for replays and audits).
    #[arg(
        id = "pool.log_windows",
        long = "pool-log-windows",
        value_name = "WINDOWS",
        default_value_t = 64
    )]
    pub log_windows: u64,

    /// Each miner's share difficulty aims at one share this often (milliseconds).
    #[arg(
        id = "pool.share_interval_ms",
        long = "pool-share-interval-ms",
        value_name = "MS",
        default_value_t = 10_000
    )]
    pub share_interval_ms: u64,

    /// The share difficulty of a new session (expected hashes per share).
    #[arg(
        id = "pool.start_difficulty",
        long = "pool-start-difficulty",
        value_name = "HASHES",
        default_value_t = 1 << 24
    )]
    pub start_difficulty: u64,

    /// The lowest share difficulty.
    #[arg(
        id = "pool.min_difficulty",
        long = "pool-min-difficulty",
        value_name = "HASHES",
        default_value_t = 1 << 16
    )]
    pub min_difficulty: u64,

    /// Most Stratum sessions at once (each costs a file descriptor).
    #[arg(
        id = "pool.max_connections",
        long = "pool-max-connections",
        value_name = "N",
        default_value_t = 20_000
    )]
    pub max_connections: usize,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        super::defaults()
    }
}

impl PoolSettings {
    /// The pool's configuration, or `None` when it is off. `coinbase` is the mining
    /// section's (the default pool address).
    pub fn pool_config(
        &self,
        coinbase: Option<Address>,
        dev: bool,
    ) -> Result<Option<crate::pool::PoolConfig>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let address = self
            .address
            .or(coinbase)
            .or_else(|| dev.then(|| dev_keys()[0].address()))
            .ok_or("the pool needs an address: set pool.address (or mining.coinbase)")?;
        let interval = std::time::Duration::from_millis(self.share_interval_ms.max(1));
        let mut vardiff = crate::pool::vardiff::VardiffConfig::for_interval(interval);
        vardiff.start_difficulty = self.start_difficulty;
        vardiff.min_difficulty = self.min_difficulty;
        vardiff.validate().map_err(|e| e.to_string())?;
        Ok(Some(crate::pool::PoolConfig {
            listen: self.listen,
            address,
            fee_ppm: self.fee_ppm.min(1_000_000),
            window_blocks: self.window_blocks.max(1),
            log_windows: self.log_windows.max(1),
            vardiff,
            max_connections: self.max_connections.max(1),
            refresh: interval.clamp(
                std::time::Duration::from_millis(200),
                std::time::Duration::from_secs(10),
            ),
        }))
    }
}
