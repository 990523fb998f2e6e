//! What readers see of the chain: an immutable summary of the tip, published whole
//! after every block connect and disconnect, so that RPC handlers, `/metrics`, status
//! answers to peers and template building never wait for the chain's lock.

use std::sync::Arc;

use cairn_core::difficulty::{AsertInput, next_compact_target};
use cairn_core::pow::CompactTarget;
use cairn_core::validation::{HeaderContext, median_time_past};
use cairn_core::{BlockId, ChainParams};

use super::TipInfo;

/// The chain at one tip. Every field describes the same tip, and the tip's block and
/// state were written to the store before the view was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainView {
    /// The main-chain tip.
    pub tip: TipInfo,
    /// Median of the timestamps of the tip and the blocks before it (a child's
    /// timestamp must exceed it).
    pub median_time_ms: u64,
    /// The compact target a child of the tip must carry.
    pub next_target: CompactTarget,
    /// The context in which a child of the tip is validated (`now_ms` is 0: the
    /// caller sets its clock).
    pub child: HeaderContext,
    /// A block locator from the tip (the last ten ids, then exponentially spaced).
    pub locator: Vec<BlockId>,
    /// Blocks held in the orphan pool.
    pub orphans: usize,
}

impl ChainView {
    pub(super) fn new(
        params: &ChainParams,
        tip: TipInfo,
        child: HeaderContext,
        locator: Vec<BlockId>,
        orphans: usize,
    ) -> ChainView {
        let next_target = next_compact_target(
            &params.asert(),
            &AsertInput {
                parent_height: child.parent_height,
                parent_timestamp_ms: child.parent_timestamp_ms,
                anchor_timestamp_ms: child.anchor_timestamp_ms,
            },
        );
        ChainView {
            tip,
            median_time_ms: median_time_past(&child.recent_timestamps_ms),
            next_target,
            child,
            locator,
            orphans,
        }
    }

    /// The context for validating (or building) a child of the tip at `now_ms`.
    pub fn child_context(&self, now_ms: u64) -> HeaderContext {
        HeaderContext {
            now_ms,
            ..self.child.clone()
        }
    }
}

/// The receiving side of the published view: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct ViewReader(pub(super) tokio::sync::watch::Receiver<Arc<ChainView>>);

impl ViewReader {
    /// The latest published view.
    pub fn get(&self) -> Arc<ChainView> {
        self.0.borrow().clone()
    }

    /// A receiver that is told each time a new view is published.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Arc<ChainView>> {
        self.0.clone()
    }
}

impl ChainView {
    /// The view of a chain that is only its genesis block.
    pub(super) fn genesis(params: &ChainParams) -> ChainView {
        let header = params.genesis_block().header;
        let work = header
            .target
            .to_target()
            .map(|t| t.work())
            .unwrap_or_default();
        let tip = TipInfo {
            id: params.genesis_id(),
            height: 0,
            header,
            work,
        };
        let child = HeaderContext {
            parent_height: 0,
            recent_timestamps_ms: vec![header.timestamp_ms],
            parent_timestamp_ms: header.timestamp_ms,
            anchor_timestamp_ms: 0,
            now_ms: 0,
        };
        ChainView::new(params, tip, child, vec![params.genesis_id()], 0)
    }
}
