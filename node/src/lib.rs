//! `cairn-node`: the Cairn full node as a library.
//!
//! The path of a block, one file (or folder) a step:
//! [`network`] (libp2p gossip and the sync protocol) → [`import`] (the gossip
//! admission policy: what is worth importing and what a failure says about the
//! sender; [`sync`] downloads headers first, then bodies) → [`node`]
//! ([`node::Node::submit_block`], the entry point for the miner, peers and the RPC)
//! → [`chain`] (validated with `cairn-core`'s rules, stored, connected or
//! disconnected, each step one write batch) → [`store`] (RocksDB and its typed
//! tables). The [`mempool`] follows each new tip, the [`mining`] loop restarts on it,
//! and [`import::announce`] gossips what this node produced.
//!
//! Readers never wait for an import: after every connect and disconnect the chain
//! publishes an immutable [`chain::ChainView`] of its tip, and point reads go to
//! RocksDB through a read-only [`store::StoreReader`], at a snapshot when several
//! reads must agree. Only `chain/` writes chain state; other state that must move
//! with a block joins the same batch through a [`chain::BlockHook`]; peer bans have
//! their own small table API ([`store::BanStore`]).
//!
//! Layout: `store/` RocksDB, typed tables, readers, bans; `chain/` block tree, fork
//! choice, reorganisation, the published view; `mempool/` pending transfers;
//! `mining/` templates, remote work and the built-in miner; `network/` libp2p;
//! `sync/` block download; `import.rs` gossip admission and announcing; `rpc/`
//! JSON-RPC (the method table in `rpc/api.rs`, handlers in `rpc/handlers/`, the
//! contract's types in the `cairn-rpc` crate), WebSocket, metrics and the explorer;
//! `node.rs` the node and its locks;
//! `service.rs` the node with its network, sync and miner; `config/` every setting
//! (flag, `cairn.toml` key, default and help text defined once); `devload.rs` the
//! dev network's load generator; `main.rs` and `cli.rs` the binary's wiring.

pub mod chain;
pub mod config;
pub mod devload;
pub mod disk;
pub mod fsutil;
pub mod import;
pub mod mempool;
pub mod mining;
pub mod network;
pub mod node;
pub mod pool;
pub mod priority;
pub mod rpc;
pub mod service;
pub mod store;
pub mod sync;

use std::path::PathBuf;

pub use crate::node::{BlockSource, Node, NodeConfig, NodeEvent, TxSource};
pub use crate::service::{Service, ServiceConfig};

/// Everything that can stop a node from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory cannot be created.
    #[error("cannot create data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The store failed to open or is of another network.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The chain could not be loaded.
    #[error(transparent)]
    Chain(#[from] chain::ChainError),
    /// The network could not start.
    #[error(transparent)]
    Network(#[from] network::NetworkError),
    /// The RPC server could not start.
    #[error(transparent)]
    Rpc(#[from] rpc::RpcStartError),
    /// The data directory's file system is nearly full.
    #[error(transparent)]
    DiskFull(#[from] disk::DiskFull),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The pool's books could not be loaded.
    #[error(transparent)]
    PoolBooks(#[from] pool::PoolError),
    /// The Stratum endpoint could not start.
    #[error("cannot start the Stratum endpoint: {0}")]
    Pool(std::io::Error),
}
