//! Headers for sync: block locators, main-chain header ranges, and checking a peer's
//! header chain (PoW and every contextual header rule) before any body is fetched.

use cairn_core::genesis::MEDIAN_TIME_SPAN;
use cairn_core::validation::{
    HeaderContext, RejectReason, validate_header_in_context, validate_header_standalone,
};
use cairn_core::{BlockHeader, BlockId, ChainParams, Work};

use super::Chain;
use crate::store::schema::BlockStatus;

/// Most entries in a locator (enough for chains of 2^50 blocks).
const LOCATOR_LEN: usize = 64;

/// What the chain knows about a block id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Stored (valid, or not yet fully checked on a side chain).
    Stored {
        /// Its height.
        height: u64,
        /// Its cumulative work.
        work: Work,
    },
    /// Known to be invalid.
    Invalid,
    /// Never seen.
    Unknown,
}

/// A position at the end of a header chain, from which the next header is checked
/// with every header rule (the same ones a full block meets), without the body.
#[derive(Debug, Clone)]
pub struct HeaderCursor {
    /// The last header's id.
    pub id: BlockId,
    /// Its cumulative work.
    pub work: Work,
    ctx: HeaderContext,
}

/// Why a header chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A header does not follow the one before it.
    #[error("header {index} does not link to the previous one")]
    NotLinked {
        /// Position in the batch.
        index: usize,
    },
    /// A header breaks a rule.
    #[error("header {index} ({id}) is invalid: {reason}")]
    Invalid {
        /// Position in the batch.
        index: usize,
        /// The header's id.
        id: BlockId,
        /// The rule.
        reason: RejectReason,
    },
}

impl HeaderCursor {
    /// The height of the last header.
    pub fn height(&self) -> u64 {
        self.ctx.parent_height
    }

    /// Sets the local time that the future-drift rule is checked against.
    pub fn set_now(&mut self, now_ms: u64) {
        self.ctx.now_ms = now_ms;
    }

    /// Checks `header` as the next one and moves past it.
    pub fn advance(
        &mut self,
        header: &BlockHeader,
        params: &ChainParams,
        index: usize,
    ) -> Result<(), HeaderError> {
        if header.prev != self.id {
            return Err(HeaderError::NotLinked { index });
        }
        let id = header.id();
        let invalid = |reason| HeaderError::Invalid { index, id, reason };
        validate_header_standalone(header, params).map_err(invalid)?;
        validate_header_in_context(header, params, &self.ctx).map_err(invalid)?;
        let target = header
            .target
            .to_target()
            .map_err(|_| invalid(RejectReason::BadTargetEncoding(header.target)))?;
        self.work = self.work.saturating_add(target.work());
        self.id = id;
        let ctx = &mut self.ctx;
        ctx.recent_timestamps_ms.push(header.timestamp_ms);
        if ctx.recent_timestamps_ms.len() > MEDIAN_TIME_SPAN {
            ctx.recent_timestamps_ms.remove(0);
        }
        ctx.parent_height = header.height;
        ctx.parent_timestamp_ms = header.timestamp_ms;
        if header.height == 1 {
            ctx.anchor_timestamp_ms = header.timestamp_ms;
        }
        Ok(())
    }
}

impl Chain {
    /// Main-chain ids from the tip back to genesis: the last ten one by one, then
    /// exponentially spaced (Bitcoin's block locator). Below the window the heights
    /// are rounded down to a multiple of the step, so that block after block the
    /// same few deep ids are named (and read from the store once).
    pub fn locator(&mut self) -> Vec<BlockId> {
        let genesis = self.params.genesis_id();
        let mut out = Vec::new();
        let mut height = self.tip().height;
        let mut step = 1u64;
        loop {
            match self.locator_id(height) {
                Ok(Some(id)) => out.push(id),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(target: "chain", height, "cannot read the height index: {e}");
                    break;
                }
            }
            if height == 0 || out.len() == LOCATOR_LEN - 1 {
                break;
            }
            if out.len() >= 10 {
                step = step.saturating_mul(2);
            }
            height = height.saturating_sub(step);
            if height < self.base {
                height -= height % step;
            }
        }
        if out.last() != Some(&genesis) {
            out.push(genesis);
        }
        out
    }

    /// A main-chain id for the locator, remembering those below the window.
    fn locator_id(&mut self, height: u64) -> Result<Option<BlockId>, crate::store::StoreError> {
        if height >= self.base || self.deep.contains_key(&height) {
            return self.main_id(height);
        }
        let id = self.main_id(height)?;
        if let Some(id) = id {
            if self.deep.len() >= super::MAX_DEEP_IDS {
                self.deep.clear();
            }
            self.deep.insert(height, id);
        }
        Ok(id)
    }

    /// Main-chain headers after the first locator entry that is on our main chain (or
    /// after genesis if none is), at most `max`. Peers are served from a store
    /// snapshot (`ReadSnapshot::headers_after`); this is the tests' reference.
    #[cfg(test)]
    pub(crate) fn headers_after(&self, locator: &[BlockId], max: usize) -> Vec<BlockHeader> {
        let on_main = |id: &BlockId| {
            let n = self.lookup(id).ok()??;
            (self.main_id(n.header.height).ok()? == Some(*id)).then_some(n.header.height)
        };
        let start = locator.iter().find_map(on_main).unwrap_or(0);
        let tip = self.tip().height;
        (start + 1..=tip)
            .take(max)
            .map(|h| {
                let id = self.main_id(h).unwrap().unwrap();
                self.lookup(&id).unwrap().unwrap().header
            })
            .collect()
    }

    /// The header of a stored block (`None` also if the store could not be read).
    pub fn header(&self, id: &BlockId) -> Option<BlockHeader> {
        match self.stored_header(id) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(target: "chain", %id, "cannot read the block index: {e}");
                None
            }
        }
    }

    /// What is known about `id` (`Unknown` also if the store could not be read).
    pub fn known(&self, id: &BlockId) -> Known {
        let entry = self.lookup(id).unwrap_or_else(|e| {
            tracing::warn!(target: "chain", %id, "cannot read the block index: {e}");
            None
        });
        match entry {
            Some(n) if n.status == BlockStatus::Invalid => Known::Invalid,
            Some(n) => Known::Stored {
                height: n.header.height,
                work: n.work,
            },
            None if self.invalid.contains_key(id) => Known::Invalid,
            None => Known::Unknown,
        }
    }

    /// A cursor just after the stored valid block `id`, for checking its would-be
    /// descendants at local time `now_ms`.
    pub fn header_cursor(&self, id: &BlockId, now_ms: u64) -> Option<HeaderCursor> {
        let n = self.entry(id).ok()??;
        if n.status == BlockStatus::Invalid {
            return None;
        }
        Some(HeaderCursor {
            id: *id,
            work: n.work,
            ctx: self.child_context(id, now_ms)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_core::testkit::{ChainBuilder, easy_params};

    use super::*;
    use crate::store::Store;

    fn chain_of(n: usize) -> (tempfile::TempDir, Chain, ChainBuilder) {
        let dir = tempfile::tempdir().expect("tempdir");
        let params = easy_params();
        let store = Arc::new(Store::open(dir.path(), &params).expect("store"));
        let (mut chain, _) = Chain::open(params.clone(), store).expect("chain");
        let mut b = ChainBuilder::new(params);
        for _ in 0..n {
            let block = b.extend(vec![], 1_000).clone();
            chain
                .submit_block(block, crate::node::now_ms())
                .expect("valid");
        }
        (dir, chain, b)
    }

    #[test]
    fn locator_starts_at_the_tip_and_ends_at_genesis() {
        let (_d, mut chain, b) = chain_of(100);
        let loc = chain.locator();
        assert_eq!(loc[0], b.tip().id());
        assert_eq!(*loc.last().expect("non-empty"), b.blocks[0].id());
        assert!(loc.len() < 25, "{} entries", loc.len());
        super::super::tests::locator_heights(&chain, &loc);
    }

    #[test]
    fn headers_after_finds_the_fork_point() {
        let (_d, chain, b) = chain_of(30);
        // A locator whose first entries are unknown (another branch) falls back to the
        // first known one.
        let loc = vec![BlockId::default(), b.blocks[12].id(), b.blocks[3].id()];
        let headers = chain.headers_after(&loc, 5);
        let want: Vec<BlockHeader> = b.blocks[13..18].iter().map(|x| x.header).collect();
        assert_eq!(headers, want);
        assert!(chain.headers_after(&[b.tip().id()], 10).is_empty());
        assert_eq!(chain.headers_after(&[], 1000).len(), 30);
    }

    #[test]
    fn cursor_accepts_a_valid_header_chain_and_refuses_a_bad_one() {
        let (_d, chain, mut b) = chain_of(5);
        let now = crate::node::now_ms();
        let more: Vec<BlockHeader> = (0..5).map(|_| b.extend(vec![], 1_000).header).collect();
        let mut cursor = chain.header_cursor(&b.blocks[5].id(), now).expect("known");
        for (i, h) in more.iter().enumerate() {
            cursor.advance(h, chain.params(), i).expect("valid");
        }
        assert_eq!(cursor.id, b.tip().id());
        assert_eq!(cursor.height(), 10);

        let mut cursor = chain.header_cursor(&b.blocks[5].id(), now).expect("known");
        let mut bad = more[0];
        bad.height += 1;
        assert!(matches!(
            cursor.advance(&bad, chain.params(), 0),
            Err(HeaderError::Invalid { .. })
        ));
        assert_eq!(
            cursor.advance(&more[1], chain.params(), 1),
            Err(HeaderError::NotLinked { index: 1 })
        );
    }
}
