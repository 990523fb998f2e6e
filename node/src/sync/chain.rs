//! What sync needs from the chain, and its one implementation, for [`Node`].
//!
//! Every method may block (locks, disk): the manager calls `submit_block` on a
//! blocking thread and the rest only for short reads.

use cairn_core::{Block, BlockHeader, BlockId, ChainParams};

use crate::chain::{ChainError, HeaderCursor, Known, TipInfo};
use crate::node::{BlockSource, Node};

/// The chain as the sync manager sees it.
pub trait SyncChain: Send + Sync + 'static {
    /// The network's parameters.
    fn params(&self) -> &ChainParams;
    /// The main-chain tip.
    fn tip(&self) -> TipInfo;
    /// Whether the block `id` is stored (valid, or not yet fully checked on a side
    /// chain).
    fn is_stored(&self, id: &BlockId) -> bool;
    /// Our block locator: main-chain ids from the tip back to genesis.
    fn locator(&self) -> Vec<BlockId>;
    /// Where a peer's (non-empty) header batch leaves what we store: how many of its
    /// first headers we store, and a cursor after the last of them (after the first
    /// header's parent when we store none); no cursor when that block is not one of
    /// ours. Both from one view of the chain.
    fn branch_point(&self, headers: &[BlockHeader], now_ms: u64) -> (usize, Option<HeaderCursor>);
    /// Validates and imports a downloaded block.
    fn submit_block(&self, block: Block, source: BlockSource) -> Result<(), ChainError>;

    /// The node is shutting down: sync stops.
    fn is_shutting_down(&self) -> bool;

    /// Whether sync holds a validated header chain with more work than the tip.
    fn set_behind(&self, behind: bool);
}

impl SyncChain for Node {
    fn params(&self) -> &ChainParams {
        Node::params(self)
    }

    fn tip(&self) -> TipInfo {
        Node::tip(self)
    }

    fn is_stored(&self, id: &BlockId) -> bool {
        self.with_chain(|c| matches!(c.known(id), Known::Stored { .. }))
    }

    fn locator(&self) -> Vec<BlockId> {
        // From the published view: never waits for an import.
        self.view().locator.clone()
    }

    fn branch_point(&self, headers: &[BlockHeader], now_ms: u64) -> (usize, Option<HeaderCursor>) {
        let Some(first) = headers.first() else {
            return (0, None);
        };
        self.with_chain(|chain| {
            let skip = headers
                .iter()
                .take_while(|h| matches!(chain.known(&h.id()), Known::Stored { .. }))
                .count();
            let parent = if skip == 0 {
                first.prev
            } else {
                headers[skip - 1].id()
            };
            (skip, chain.header_cursor(&parent, now_ms))
        })
    }

    fn submit_block(&self, block: Block, source: BlockSource) -> Result<(), ChainError> {
        Node::submit_block(self, block, source).map(|_| ())
    }

    fn is_shutting_down(&self) -> bool {
        Node::is_shutting_down(self)
    }

    fn set_behind(&self, behind: bool) {
        Node::set_behind(self, behind);
    }
}
