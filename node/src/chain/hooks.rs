//! The extension point of a block's write batch: state other than the chain's own that
//! must move with the main chain (the pool's miner credits, next in line) is written
//! by a [`BlockHook`] into the very batch that connects or disconnects the block, so
//! a crash can never leave it one block apart from the chain.

use std::sync::Arc;

use cairn_core::Block;

use crate::store::{StoreBatch, StoreError, StoreReader};

/// State that moves with the main chain, one block at a time.
///
/// Both methods see the store as it is before the block's batch (through `reader`)
/// and add their writes to `batch`; returning an error aborts the connect or
/// disconnect as a store failure (nothing is written).
pub trait BlockHook: std::fmt::Debug + Send + Sync {
    /// `block` is being connected on top of the tip.
    fn connect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut StoreBatch<'_>,
    ) -> Result<(), StoreError>;

    /// `block`, the tip, is being disconnected.
    fn disconnect(
        &self,
        block: &Block,
        reader: &StoreReader,
        batch: &mut StoreBatch<'_>,
    ) -> Result<(), StoreError>;
}

/// The hooks a chain runs, in registration order.
pub type BlockHooks = Vec<Arc<dyn BlockHook>>;
