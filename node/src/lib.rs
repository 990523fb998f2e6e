//! `cairn-node`: the Cairn full node as a library.
//!
//! Where a block goes: [`node::Node::submit_block`] (from the miner, a peer or the RPC)
//! → [`chain::Chain::submit_block`] (validated with `cairn-core`'s rules, stored, and
//! connected through [`store`] write batches) → the [`mempool`] follows the new tip →
//! the [`mining`] loop restarts on it.
//!
//! Layout: `store/` RocksDB and its typed tables, `chain/` block tree, fork choice and
//! reorganisation, `mempool/` pending transfers, `mining/` templates and the built-in
//! miner, `node.rs` the wiring.

pub mod chain;
pub mod mempool;
pub mod mining;
pub mod node;
pub mod store;

use std::path::PathBuf;

pub use crate::node::{BlockSource, Node, NodeConfig};

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
}
