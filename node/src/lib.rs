//! `cairn-node`: the Cairn full node as a library.
//!
//! Where a block goes: [`node::Node::submit_block`] (from the miner, a peer or the RPC)
//! → [`chain::Chain::submit_block`] (validated with `cairn-core`'s rules, stored, and
//! connected through [`store`] write batches) → the [`mempool`] follows the new tip →
//! the [`mining`] loop restarts on it.
//!
//! Blocks and transfers from peers arrive through [`network`] (gossip, validated by the
//! node behind the [`network::ChainAccess`] trait) and [`sync`] (headers first, then
//! bodies), and go into the same `Node::submit_block`.
//!
//! Layout: `store/` RocksDB and its typed tables, `chain/` block tree, fork choice and
//! reorganisation, `mempool/` pending transfers, `mining/` templates and the built-in
//! miner, `network/` libp2p, `sync/` block download, `rpc/` JSON-RPC and WebSocket, `node.rs` the node,
//! `service.rs` the node with its network, sync and miner, `config/` every setting
//! (flag, `cairn.toml` key, default and help in one place), `devload.rs` the dev
//! network's load generator.

pub mod chain;
pub mod config;
pub mod devload;
pub mod disk;
mod fsutil;
pub mod mempool;
pub mod mining;
pub mod network;
pub mod node;
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
}
