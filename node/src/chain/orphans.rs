//! Blocks whose parent is not known yet, bounded in count and bytes.

use std::collections::{HashMap, VecDeque};

use cairn_core::encoding::Encode;
use cairn_core::{Block, BlockId};

/// A bounded pool of orphan blocks, oldest evicted first.
#[derive(Debug)]
pub struct OrphanPool {
    blocks: HashMap<BlockId, Block>,
    order: VecDeque<BlockId>,
    bytes: usize,
    max_blocks: usize,
    max_bytes: usize,
}

impl OrphanPool {
    /// A pool holding at most `max_blocks` blocks and `max_bytes` encoded bytes.
    pub fn new(max_blocks: usize, max_bytes: usize) -> OrphanPool {
        OrphanPool {
            blocks: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_blocks,
            max_bytes,
        }
    }

    /// Adds an orphan (ignored if already present), evicting the oldest ones to fit.
    pub fn insert(&mut self, block: Block) {
        let id = block.id();
        let size = block.encoded_len();
        if self.blocks.contains_key(&id) || size > self.max_bytes {
            return;
        }
        while !self.order.is_empty()
            && (self.blocks.len() >= self.max_blocks || self.bytes + size > self.max_bytes)
        {
            if let Some(b) = self
                .order
                .pop_front()
                .and_then(|old| self.blocks.remove(&old))
            {
                self.bytes -= b.encoded_len();
            }
        }
        self.bytes += size;
        self.order.push_back(id);
        self.blocks.insert(id, block);
    }

    /// Removes and returns the orphans whose parent is `parent`.
    pub fn take_children(&mut self, parent: &BlockId) -> Vec<Block> {
        let ids: Vec<BlockId> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.header.prev == *parent)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(b) = self.blocks.remove(&id) {
                self.bytes -= b.encoded_len();
                self.order.retain(|x| *x != id);
                out.push(b);
            }
        }
        out
    }

    /// Number of orphans held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}
