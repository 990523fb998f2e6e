//! The chain manager: the one entry point for blocks from any source.
//!
//! A block goes through: the standalone header rules (PoW first, so a cheap forgery
//! costs nothing), the parent lookup (unknown parent: orphan pool), the contextual
//! header rules, the body rules (signatures on rayon), then it is stored. If its chain
//! has the most work, the manager reorganises to it: it disconnects main-chain blocks
//! down to the fork point and connects the new branch, each step one atomic write batch
//! that moves the tip pointer. A block that fails a state rule while being connected is
//! marked invalid with all its descendants, and the best remaining chain is activated.

mod headers;
mod hooks;
mod orphans;
mod verified;
mod view;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cairn_core::genesis::MEDIAN_TIME_SPAN;
use cairn_core::state::{ApplyError, apply_block};
use cairn_core::validation::{
    HeaderContext, RejectReason, validate_body_except, validate_header_in_context,
    validate_header_standalone,
};
use cairn_core::{Address, Block, BlockHeader, BlockId, ChainParams, Coinbase, Transaction, Work};
use tracing::{debug, info, warn};

pub use self::headers::{HeaderCursor, HeaderError, Known};
pub use self::hooks::{BlockHook, BlockHooks};
pub use self::orphans::OrphanPool;
pub use self::verified::VerifiedTransfers;
pub use self::view::{ChainView, ViewReader};
use crate::store::schema::{
    Accounts, BlockIndex, BlockStatus, Bodies, Body, Headers, Heights, IndexEntry, Rewards, Tip,
    TxIndex, TxLocation, Undo,
};
use crate::store::{Store, StoreError, StoreReader};

/// Most block ids remembered as invalid without being stored.
const MAX_REMEMBERED_INVALID: usize = 10_000;

/// Why a block was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// It breaks a consensus rule.
    #[error("block {id} rejected: {reason}")]
    Rejected {
        /// The block.
        id: BlockId,
        /// The rule.
        reason: RejectReason,
    },
    /// It was already found invalid.
    #[error("block {0} is known to be invalid")]
    KnownInvalid(BlockId),
    /// It descends from an invalid block.
    #[error("block {id} descends from invalid block {ancestor}")]
    InvalidAncestor {
        /// The block.
        id: BlockId,
        /// Its invalid ancestor.
        ancestor: BlockId,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to an accepted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// It (or the chain it completes) became the main chain.
    NewTip(TipChange),
    /// Stored on a side chain with less work than the tip.
    SideChain,
    /// Parent unknown: held in the orphan pool.
    Orphan,
    /// Already stored.
    Duplicate,
}

/// How the main chain moved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TipChange {
    /// Blocks taken off the main chain, tip first.
    pub disconnected: Vec<Block>,
    /// Blocks added to the main chain, lowest first.
    pub connected: Vec<Block>,
    /// Accounts whose matured rewards a disconnected block took back (their balances
    /// fell although no transaction of theirs moved).
    pub lost_credits: BTreeSet<Address>,
}

/// An in-memory block-tree entry.
#[derive(Debug, Clone)]
struct BlockEntry {
    header: BlockHeader,
    work: Work,
    status: BlockStatus,
    seq: u64,
    /// Timestamp of block 1 on this block's chain (0 for genesis): the ASERT anchor.
    anchor_ts: u64,
}

/// Why an id is remembered as invalid without being stored.
#[derive(Debug, Clone)]
enum Invalidity {
    /// It breaks this rule.
    Rule(RejectReason),
    /// It descends from this invalid block.
    Ancestor(BlockId),
}

/// Summary of the tip for callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipInfo {
    /// Tip id.
    pub id: BlockId,
    /// Tip height.
    pub height: u64,
    /// Tip header.
    pub header: BlockHeader,
    /// Cumulative work.
    pub work: Work,
}

/// The chain manager.
#[derive(Debug)]
pub struct Chain {
    params: ChainParams,
    store: Arc<Store>,
    index: HashMap<BlockId, BlockEntry>,
    children: HashMap<BlockId, Vec<BlockId>>,
    main: Vec<BlockId>,
    orphans: OrphanPool,
    invalid: HashMap<BlockId, Invalidity>,
    invalid_order: VecDeque<BlockId>,
    next_seq: u64,
    /// Main-chain moves not yet handed to the caller (kept even when an error cuts a
    /// reorganisation short, so the mempool can always follow the tip).
    pending: TipChange,
    /// State-rule failures met while activating, since the last `submit_block` began.
    failures: Vec<(BlockId, RejectReason)>,
    /// Set while activating; still set at the next activation only if an error cut
    /// the last one short: then every stored block is reconsidered.
    interrupted: bool,
    /// The block just stored, so connecting it does not read it back from disk.
    fresh: Option<Block>,
    /// Where readers find the tip; replaced after every connect and disconnect.
    view: tokio::sync::watch::Sender<Arc<ChainView>>,
    /// Other state written in each connect's and disconnect's batch.
    hooks: BlockHooks,
    /// Read access for the hooks.
    reader: StoreReader,
    /// Transfers whose signatures the node already verified (shared with the
    /// mempool's admission): not verified again when their block connects.
    verified: Arc<VerifiedTransfers>,
}

impl Chain {
    /// Loads the block tree and main chain from the store, then activates the chain
    /// with the most work (finishing a reorganisation a crash interrupted).
    pub fn open(params: ChainParams, store: Arc<Store>) -> Result<(Chain, TipChange), ChainError> {
        Chain::open_with(params, store, BlockHooks::new())
    }

    /// [`Chain::open`], with hooks that write their own state in every connect's and
    /// disconnect's batch (including those that finish a reorganisation on opening).
    pub fn open_with(
        params: ChainParams,
        store: Arc<Store>,
        hooks: BlockHooks,
    ) -> Result<(Chain, TipChange), ChainError> {
        let mut index = HashMap::new();
        let mut children: HashMap<BlockId, Vec<BlockId>> = HashMap::new();
        let mut next_seq = 0;
        for item in store.iter::<BlockIndex>() {
            let (id, entry) = item?;
            let header = store
                .get::<Headers>(&id)?
                .ok_or_else(|| StoreError::Corrupt(format!("index entry without header {id}")))?;
            next_seq = next_seq.max(entry.seq + 1);
            if id != params.genesis_id() {
                children.entry(header.prev).or_default().push(id);
            }
            index.insert(
                id,
                BlockEntry {
                    header,
                    work: entry.cumulative_work,
                    status: entry.status,
                    seq: entry.seq,
                    anchor_ts: 0,
                },
            );
        }
        // Anchors: block 1's timestamp, inherited down each branch.
        let mut stack: Vec<(BlockId, u64)> = vec![(params.genesis_id(), 0)];
        while let Some((id, anchor)) = stack.pop() {
            let Some(n) = index.get_mut(&id) else {
                continue;
            };
            n.anchor_ts = if n.header.height == 1 {
                n.header.timestamp_ms
            } else {
                anchor
            };
            let a = n.anchor_ts;
            stack.extend(children.get(&id).into_iter().flatten().map(|c| (*c, a)));
        }
        let tip = store.tip()?;
        let tip_height = index
            .get(&tip)
            .ok_or_else(|| StoreError::Corrupt(format!("tip {tip} not in the block index")))?
            .header
            .height;
        let mut main =
            Vec::with_capacity(usize::try_from(tip_height).unwrap_or(0).saturating_add(1));
        for h in 0..=tip_height {
            let id = store
                .get::<Heights>(&h)?
                .ok_or_else(|| StoreError::Corrupt(format!("no main-chain block at height {h}")))?;
            main.push(id);
        }
        if main.last() != Some(&tip) {
            return Err(StoreError::Corrupt("height index does not end at the tip".into()).into());
        }
        let mut chain = Chain {
            params: params.clone(),
            store: store.clone(),
            index,
            children,
            main,
            orphans: OrphanPool::new(256, 32 * 1024 * 1024),
            invalid: HashMap::new(),
            invalid_order: VecDeque::new(),
            next_seq,
            pending: TipChange::default(),
            failures: Vec::new(),
            interrupted: false,
            fresh: None,
            view: tokio::sync::watch::Sender::new(Arc::new(ChainView::genesis(&params))),
            hooks,
            reader: StoreReader::new(store.clone()),
            verified: Arc::new(VerifiedTransfers::default()),
        };
        // Descendants of invalid blocks are invalid.
        let invalid: Vec<BlockId> = chain
            .index
            .iter()
            .filter(|(_, n)| n.status == BlockStatus::Invalid)
            .map(|(id, _)| *id)
            .collect();
        for id in invalid {
            chain.mark_invalid_in_memory(&id);
        }
        chain.activate_best_chain(None)?;
        chain.publish();
        let change = chain.take_change();
        Ok((chain, change))
    }

    /// The network parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The cache of transfers whose signatures verified: whoever verifies a transfer
    /// for this network records it here, and a block that holds it skips the check.
    pub fn verified(&self) -> Arc<VerifiedTransfers> {
        self.verified.clone()
    }

    /// A read-only handle on the store (only the chain writes chain state).
    pub fn reader(&self) -> StoreReader {
        self.reader.clone()
    }

    /// The published view of the tip, for readers that must not wait for this
    /// chain's lock.
    pub fn view_reader(&self) -> ViewReader {
        ViewReader(self.view.subscribe())
    }

    /// Publishes the view of the current tip. Called after every write that moves the
    /// tip, so the published tip's block and state are always readable.
    fn publish(&self) {
        let tip = self.tip();
        let child = self
            .child_context(&tip.id, 0)
            .expect("the tip is in the index");
        let view = ChainView::new(&self.params, tip, child, self.locator(), self.orphans.len());
        self.view.send_replace(Arc::new(view));
    }

    /// The main-chain tip.
    pub fn tip(&self) -> TipInfo {
        let id = *self
            .main
            .last()
            .expect("the main chain holds at least genesis");
        let node = &self.index[&id];
        TipInfo {
            id,
            height: node.header.height,
            header: node.header,
            work: node.work,
        }
    }

    /// Main-chain block id at `height`.
    pub fn block_id_at(&self, height: u64) -> Option<BlockId> {
        self.main.get(usize::try_from(height).ok()?).copied()
    }

    /// A stored block.
    pub fn block(&self, id: &BlockId) -> Result<Option<Block>, ChainError> {
        let Some(node) = self.index.get(id) else {
            return Ok(None);
        };
        let body = self
            .store
            .get::<Bodies>(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("no body for {id}")))?;
        Ok(Some(Block {
            header: node.header,
            txs: body.0,
        }))
    }

    /// Number of orphans held.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// The context in which a child of `parent` is validated, at local time `now_ms`.
    pub fn child_context(&self, parent: &BlockId, now_ms: u64) -> Option<HeaderContext> {
        let p = self.index.get(parent)?;
        let mut recent = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cur = Some(p);
        while let Some(n) = cur {
            recent.push(n.header.timestamp_ms);
            if recent.len() == MEDIAN_TIME_SPAN || n.header.height == 0 {
                break;
            }
            cur = self.index.get(&n.header.prev);
        }
        recent.reverse();
        Some(HeaderContext {
            parent_height: p.header.height,
            recent_timestamps_ms: recent,
            parent_timestamp_ms: p.header.timestamp_ms,
            anchor_timestamp_ms: self.anchor_timestamp(parent)?,
            now_ms,
        })
    }

    /// Timestamp of block 1 on the chain ending at `id` (0 if `id` is genesis).
    fn anchor_timestamp(&self, id: &BlockId) -> Option<u64> {
        self.index.get(id).map(|n| n.anchor_ts)
    }

    /// Takes the main-chain moves not yet reported, with blocks that were both
    /// disconnected and reconnected (or the reverse) cancelled out.
    pub fn take_change(&mut self) -> TipChange {
        let mut c = std::mem::take(&mut self.pending);
        let connected: HashSet<BlockId> = c.connected.iter().map(Block::id).collect();
        let disconnected: HashSet<BlockId> = c.disconnected.iter().map(Block::id).collect();
        c.connected.retain(|b| !disconnected.contains(&b.id()));
        c.disconnected.retain(|b| !connected.contains(&b.id()));
        c
    }

    /// The one entry point for a new block, from the local miner, a peer or the RPC.
    ///
    /// On `Ok(NewTip)` the change is returned; if the tip moved although the result is
    /// an error (a reorganisation cut short), [`Chain::take_change`] returns the move.
    pub fn submit_block(&mut self, block: Block, now_ms: u64) -> Result<SubmitOutcome, ChainError> {
        self.failures.clear();
        let id = block.id();
        let first = self.submit_one(block, now_ms);
        // Orphans waiting for this block, and for those in turn: iteratively, so a long
        // chain of orphans cannot exhaust the stack.
        if matches!(
            first,
            Ok(SubmitOutcome::NewTip(_) | SubmitOutcome::SideChain)
        ) {
            let mut ready = self.orphans.take_children(&id);
            while let Some(orphan) = ready.pop() {
                let oid = orphan.id();
                match self.submit_one(orphan, now_ms) {
                    Ok(SubmitOutcome::NewTip(_) | SubmitOutcome::SideChain) => {
                        ready.extend(self.orphans.take_children(&oid));
                    }
                    Ok(_) => {}
                    Err(ChainError::Store(e)) => return Err(ChainError::Store(e)),
                    Err(e) => debug!(target: "chain", %oid, "orphan rejected: {e}"),
                }
            }
        }
        let outcome = first?;
        if self
            .index
            .get(&id)
            .is_some_and(|n| n.status == BlockStatus::Invalid)
        {
            {
                // It failed a state rule (or its branch did) while being connected.
                return Err(match self.failures.iter().find(|(f, _)| *f == id) {
                    Some((_, reason)) => ChainError::Rejected {
                        id,
                        reason: reason.clone(),
                    },
                    None => ChainError::InvalidAncestor {
                        id,
                        ancestor: self.failures.first().map_or(id, |(f, _)| *f),
                    },
                });
            }
        }
        match outcome {
            SubmitOutcome::NewTip(_) | SubmitOutcome::SideChain => {
                let change = self.take_change();
                if change.connected.is_empty() && change.disconnected.is_empty() {
                    Ok(SubmitOutcome::SideChain)
                } else {
                    Ok(SubmitOutcome::NewTip(change))
                }
            }
            other => Ok(other),
        }
    }

    /// Validates and stores one block, and activates it if it has the most work.
    fn submit_one(&mut self, mut block: Block, now_ms: u64) -> Result<SubmitOutcome, ChainError> {
        let id = block.id();
        if let Some(n) = self.index.get(&id) {
            return if n.status == BlockStatus::Invalid {
                Err(ChainError::KnownInvalid(id))
            } else {
                Ok(SubmitOutcome::Duplicate)
            };
        }
        if let Some(why) = self.invalid.get(&id) {
            return Err(match why {
                Invalidity::Rule(reason) => ChainError::Rejected {
                    id,
                    reason: reason.clone(),
                },
                Invalidity::Ancestor(ancestor) => ChainError::InvalidAncestor {
                    id,
                    ancestor: *ancestor,
                },
            });
        }
        // Cheap, and proves work was spent before anything is remembered about the id.
        validate_header_standalone(&block.header, &self.params)
            .map_err(|reason| ChainError::Rejected { id, reason })?;
        let prev = block.header.prev;
        let Some(parent) = self.index.get(&prev) else {
            if self.invalid.contains_key(&prev) {
                self.remember_invalid(id, Invalidity::Ancestor(prev));
                return Err(ChainError::InvalidAncestor { id, ancestor: prev });
            }
            debug!(target: "chain", %id, %prev, "orphan block");
            self.orphans.insert(block);
            self.publish();
            return Ok(SubmitOutcome::Orphan);
        };
        if parent.status == BlockStatus::Invalid {
            self.remember_invalid(id, Invalidity::Ancestor(prev));
            return Err(ChainError::InvalidAncestor { id, ancestor: prev });
        }
        let parent_work = parent.work;
        let parent_anchor = parent.anchor_ts;
        let ctx = self
            .child_context(&prev, now_ms)
            .expect("parent is in the index");
        if let Err(reason) =
            validate_header_in_context(&block.header, &self.params, &ctx).and_then(|()| {
                // A block uses up the cache's ids: once it connects they are not
                // needed again (a reorganisation only re-verifies them).
                validate_body_except(&block, &self.params, |ids| self.verified.take_each(ids))
            })
        {
            if reason.is_permanent() {
                self.remember_invalid(id, Invalidity::Rule(reason.clone()));
            }
            return Err(ChainError::Rejected { id, reason });
        }
        let target = block
            .header
            .target
            .to_target()
            .expect("checked by TargetCheck");
        let work = parent_work.saturating_add(target.work());
        let anchor_ts = if block.header.height == 1 {
            block.header.timestamp_ms
        } else {
            parent_anchor
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut b = self.store.batch();
        b.put::<Headers>(&id, &block.header);
        // Move the transactions into the stored value and back: no copy of the body.
        let body = Body(std::mem::take(&mut block.txs));
        b.put::<Bodies>(&id, &body);
        block.txs = body.0;
        b.put::<BlockIndex>(
            &id,
            &IndexEntry {
                cumulative_work: work,
                status: BlockStatus::Valid,
                seq,
            },
        );
        self.store.write(b)?;
        self.index.insert(
            id,
            BlockEntry {
                header: block.header,
                work,
                status: BlockStatus::Valid,
                seq,
                anchor_ts,
            },
        );
        self.children.entry(prev).or_default().push(id);
        self.fresh = Some(block);
        let hint = if self.interrupted { None } else { Some(id) };
        let result = self.activate_best_chain(hint);
        self.fresh = None;
        result?;
        Ok(SubmitOutcome::SideChain) // the caller looks at the pending change
    }

    fn remember_invalid(&mut self, id: BlockId, reason: Invalidity) {
        if self.invalid.insert(id, reason).is_none() {
            self.invalid_order.push_back(id);
            if self.invalid_order.len() > MAX_REMEMBERED_INVALID
                && let Some(old) = self.invalid_order.pop_front()
            {
                self.invalid.remove(&old);
            }
        }
    }

    /// The valid stored block with the most work (first seen among equals), starting
    /// from the current tip so that it only moves for strictly more work.
    fn best_candidate(&self) -> BlockId {
        let tip = self.tip();
        let mut best = (tip.id, tip.work, 0u64);
        for (id, n) in &self.index {
            if n.status == BlockStatus::Valid
                && (n.work > best.1 || (n.work == best.1 && best.0 != tip.id && n.seq < best.2))
            {
                best = (*id, n.work, n.seq);
            }
        }
        best.0
    }

    /// Moves the main chain to the best valid candidate, block by block, recording
    /// every move in `self.pending`. With a `hint` (a block just stored) only that block
    /// is considered, unless a connect fails: then, as with no hint, every stored block
    /// is.
    fn activate_best_chain(&mut self, hint: Option<BlockId>) -> Result<(), ChainError> {
        self.interrupted = true;
        let mut full_scan = hint.is_none();
        loop {
            let tip = self.tip();
            let target = match hint {
                _ if full_scan => self.best_candidate(),
                Some(h)
                    if self.index[&h].status == BlockStatus::Valid
                        && self.index[&h].work > tip.work =>
                {
                    h
                }
                _ => tip.id,
            };
            if target == tip.id {
                self.interrupted = false;
                return Ok(());
            }
            // The branch from the fork point (exclusive) up to the target.
            let mut branch = Vec::new();
            let mut cur = target;
            while self.block_id_at(self.index[&cur].header.height) != Some(cur) {
                branch.push(cur);
                cur = self.index[&cur].header.prev;
            }
            let fork = cur;
            branch.reverse();
            while self.tip().id != fork {
                let block = self.disconnect_tip()?;
                self.pending.disconnected.push(block);
            }
            for id in branch {
                match self.connect(&id) {
                    Ok(block) => self.pending.connected.push(block),
                    Err(ChainError::Rejected { id, reason }) => {
                        warn!(target: "chain", %id, code = reason.code(), "block failed a state rule: {reason}");
                        self.failures.push((id, reason));
                        self.mark_invalid(&id)?;
                        full_scan = true;
                        break; // pick the best candidate again
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    fn mark_invalid_in_memory(&mut self, id: &BlockId) -> Vec<BlockId> {
        let mut stack = vec![*id];
        let mut marked = Vec::new();
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            if let Some(n) = self.index.get_mut(&x) {
                n.status = BlockStatus::Invalid;
                marked.push(x);
            }
            if let Some(c) = self.children.get(&x) {
                stack.extend(c.iter().copied());
            }
        }
        marked
    }

    fn mark_invalid(&mut self, id: &BlockId) -> Result<(), ChainError> {
        let marked = self.mark_invalid_in_memory(id);
        let mut b = self.store.batch();
        for x in marked {
            let n = &self.index[&x];
            b.put::<BlockIndex>(
                &x,
                &IndexEntry {
                    cumulative_work: n.work,
                    status: BlockStatus::Invalid,
                    seq: n.seq,
                },
            );
        }
        self.store.write(b)?;
        Ok(())
    }

    /// Connects the stored block `id`, whose parent is the tip: one atomic batch.
    fn connect(&mut self, id: &BlockId) -> Result<Block, ChainError> {
        let block = match self.fresh.take_if(|b| b.id() == *id) {
            Some(b) => b,
            None => self
                .block(id)?
                .ok_or_else(|| StoreError::Corrupt(format!("missing block {id}")))?,
        };
        let matured = self.maturing_coinbase(block.header.height)?;
        let effect = match apply_block(&*self.store, &block, &self.params, matured.as_ref()) {
            Ok(e) => e,
            Err(ApplyError::Reject(reason)) => {
                return Err(ChainError::Rejected { id: *id, reason });
            }
            Err(ApplyError::View(e)) => return Err(e.into()),
            Err(e @ ApplyError::MaturedMissing { .. }) => {
                return Err(StoreError::Corrupt(e.to_string()).into());
            }
        };
        let mut b = self.store.batch();
        if let Some(Transaction::Coinbase(cb)) = block.txs.first() {
            b.put::<Rewards>(id, cb);
        }
        for (addr, acc) in &effect.writes {
            b.put::<Accounts>(addr, acc);
        }
        b.put::<Undo>(id, &effect.undo);
        b.put::<Heights>(&block.header.height, id);
        for (i, tx) in block.txs.iter().enumerate() {
            let index =
                u32::try_from(i).map_err(|_| StoreError::Corrupt("block too long".into()))?;
            b.put::<TxIndex>(&tx.id(), &TxLocation { block: *id, index });
        }
        b.put::<Tip>(&Tip::KEY, id);
        for hook in &self.hooks {
            hook.connect(&block, &self.reader, &mut b)?;
        }
        self.store.write(b)?;
        self.main.push(*id);
        self.publish();
        Ok(block)
    }

    /// The coinbase that matures when the block at `height` connects on the tip, if an
    /// earlier block's does (see [`cairn_core::state::apply_block`]).
    fn maturing_coinbase(&self, height: u64) -> Result<Option<Coinbase>, ChainError> {
        if self.params.coinbase_maturity() == 0 {
            return Ok(None);
        }
        let Some(h) = self.params.maturing_height(height) else {
            return Ok(None);
        };
        let id = self
            .block_id_at(h)
            .ok_or_else(|| StoreError::Corrupt(format!("no main-chain block at height {h}")))?;
        let cb = self
            .store
            .get::<Rewards>(&id)?
            .ok_or_else(|| StoreError::Corrupt(format!("no coinbase stored for block {id}")))?;
        Ok(Some(cb))
    }

    /// Disconnects the tip: one atomic batch restoring the accounts from its undo record.
    fn disconnect_tip(&mut self) -> Result<Block, ChainError> {
        let tip = self.tip();
        assert!(tip.height > 0, "genesis is never disconnected");
        let block = self
            .block(&tip.id)?
            .ok_or_else(|| StoreError::Corrupt(format!("missing block {}", tip.id)))?;
        let undo = self
            .store
            .get::<Undo>(&tip.id)?
            .ok_or_else(|| StoreError::Corrupt(format!("no undo record for {}", tip.id)))?;
        let mut b = self.store.batch();
        for (addr, before) in &undo.entries {
            match before {
                Some(acc) => b.put::<Accounts>(addr, acc),
                None => b.delete::<Accounts>(addr),
            }
        }
        if let Some(cb) = self.maturing_coinbase(tip.height)? {
            self.pending
                .lost_credits
                .extend(cb.outputs.iter().map(|o| o.recipient));
        }
        b.delete::<Undo>(&tip.id);
        b.delete::<Rewards>(&tip.id);
        b.delete::<Heights>(&tip.height);
        for tx in &block.txs {
            b.delete::<TxIndex>(&tx.id());
        }
        b.put::<Tip>(&Tip::KEY, &block.header.prev);
        for hook in &self.hooks {
            hook.disconnect(&block, &self.reader, &mut b)?;
        }
        self.store.write(b)?;
        self.main.pop();
        self.publish();
        info!(target: "chain", height = tip.height, id = %tip.id, "disconnected block");
        Ok(block)
    }
}

#[cfg(test)]
mod tests;
