//! The chain manager: the one entry point for blocks from any source.
//!
//! A block goes through: the standalone header rules (PoW first, so a cheap forgery
//! costs nothing), the parent lookup (unknown parent: orphan pool), the contextual
//! header rules, the body rules (signatures on rayon), then it is stored. If its chain
//! has the most work, the manager reorganises to it: it disconnects main-chain blocks
//! down to the fork point and connects the new branch, each step one atomic write batch
//! that moves the tip pointer. A block that fails a state rule while being connected is
//! marked invalid with all its descendants, and the best remaining chain is activated.
//!
//! Memory does not grow with the chain: the manager keeps in memory the entries of the
//! last [`WINDOW`] main-chain blocks, of every block off the main chain it met since it
//! opened, and of the candidates (the `candidates` table); every other entry is read
//! from the store when it is needed (a deep fork, a peer's old locator). Opening reads
//! the window and the candidates, never the whole index.

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
    Accounts, BlockIndex, BlockStatus, Bodies, Body, Candidates, Headers, Heights, IndexEntry,
    NextSeq, Rewards, SCHEMA_VERSION, SchemaVersion, Tip, TxIndex, TxLocation, Undo,
};
use crate::store::{Store, StoreError, StoreReader};

/// Most block ids remembered as invalid without being stored.
const MAX_REMEMBERED_INVALID: usize = 10_000;

/// Main-chain blocks below the tip whose entries stay in memory (about 200 bytes
/// each): every block a peer is likely to build on or ask about, and far more than
/// the median-time span.
pub const WINDOW: usize = 4_096;

/// Most deep main-chain ids (below the window) remembered for block locators.
const MAX_DEEP_IDS: usize = 256;

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

/// A block-tree entry: in memory for recent and side blocks, read from the store
/// otherwise.
#[derive(Debug, Clone, Copy)]
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
    /// The entries held in memory: the window, blocks off the main chain met since
    /// opening, and the candidates. Every other stored block is read on demand.
    index: HashMap<BlockId, BlockEntry>,
    /// Children of blocks held in memory (those whose parent is held too).
    children: HashMap<BlockId, Vec<BlockId>>,
    /// Main-chain ids from height `base` to the tip (at most [`WINDOW`] + 1); lower
    /// heights are read from the `heights` table.
    window: VecDeque<BlockId>,
    base: u64,
    /// [`WINDOW`], but for tests.
    window_len: usize,
    /// Main-chain ids below the window that block locators name (rounded heights,
    /// so the same few are asked for block after block).
    deep: HashMap<u64, BlockId>,
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
        Chain::open_windowed(params, store, hooks, WINDOW)
    }

    /// [`Chain::open_with`], holding `window_len` main-chain blocks below the tip.
    pub(crate) fn open_windowed(
        params: ChainParams,
        store: Arc<Store>,
        hooks: BlockHooks,
        window_len: usize,
    ) -> Result<(Chain, TipChange), ChainError> {
        if store.get::<NextSeq>(&NextSeq::KEY)?.is_none() {
            upgrade_store(&store)?;
        }
        let next_seq = store
            .get::<NextSeq>(&NextSeq::KEY)?
            .ok_or_else(|| StoreError::Corrupt("no next_seq".into()))?;
        let tip = store.tip()?;
        let tip_header = store
            .get::<Headers>(&tip)?
            .ok_or_else(|| StoreError::Corrupt(format!("tip {tip} has no header")))?;
        let tip_height = tip_header.height;
        let reserve = usize::try_from(tip_height).map_or(window_len, |h| h.min(window_len) + 1);
        let mut chain = Chain {
            params: params.clone(),
            store: store.clone(),
            index: HashMap::with_capacity(reserve),
            children: HashMap::with_capacity(reserve),
            window: VecDeque::with_capacity(reserve + 1),
            base: tip_height.saturating_sub(u64::try_from(window_len).unwrap_or(u64::MAX)),
            window_len,
            deep: HashMap::new(),
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
        // The window: the last main-chain blocks, each with the anchor of the main
        // chain (block 1's timestamp).
        let anchor = match store.get::<Heights>(&1)? {
            Some(id) if tip_height >= 1 => {
                store
                    .get::<Headers>(&id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("no header for {id}")))?
                    .timestamp_ms
            }
            _ => 0,
        };
        for h in chain.base..=tip_height {
            let id = store
                .get::<Heights>(&h)?
                .ok_or_else(|| StoreError::Corrupt(format!("no main-chain block at height {h}")))?;
            let mut entry = chain
                .read_entry(&id)?
                .ok_or_else(|| StoreError::Corrupt(format!("main-chain block {id} not stored")))?;
            entry.anchor_ts = if h == 0 { 0 } else { anchor };
            chain.hold(id, entry);
            chain.window.push_back(id);
        }
        if chain.window.back() != Some(&tip) {
            return Err(StoreError::Corrupt("height index does not end at the tip".into()).into());
        }
        // The candidates: valid blocks off the main chain with more work than the tip.
        let tip_work = chain.tip().work;
        let mut stale = store.batch();
        let mut kept = Vec::new();
        for item in store.iter::<Candidates>() {
            let (id, ()) = item?;
            match chain.lookup(&id)? {
                Some(e)
                    if e.status == BlockStatus::Valid
                        && e.work > tip_work
                        && chain.main_id(e.header.height)? != Some(id) =>
                {
                    kept.push((e.header.height, id));
                }
                _ => stale.delete::<Candidates>(&id),
            }
        }
        store.write(stale)?;
        // Lowest first: each one's anchor is then found at its held parent, and the
        // children links between them are made.
        kept.sort_unstable();
        for (_, id) in kept {
            if let Some(entry) = chain.entry(&id)? {
                chain.hold(id, entry);
            }
        }
        chain.activate_best_chain(None)?;
        chain.publish();
        let change = chain.take_change();
        Ok((chain, change))
    }

    /// Holds `entry` in memory, linked to its parent if that is held too.
    fn hold(&mut self, id: BlockId, entry: BlockEntry) {
        if self.index.insert(id, entry).is_none() && self.index.contains_key(&entry.header.prev) {
            self.children.entry(entry.header.prev).or_default().push(id);
        }
    }

    /// The entry of a stored block as far as status, work and header go: from memory,
    /// or read from the store (then its anchor is left 0: use [`Chain::entry`] where
    /// the anchor matters).
    fn lookup(&self, id: &BlockId) -> Result<Option<BlockEntry>, StoreError> {
        match self.index.get(id) {
            Some(n) => Ok(Some(*n)),
            None => self.read_entry(id),
        }
    }

    /// The whole entry of a stored block: from memory, or read from the store with its
    /// anchor found (a walk down its branch if it is off the main chain).
    fn entry(&self, id: &BlockId) -> Result<Option<BlockEntry>, StoreError> {
        if let Some(n) = self.index.get(id) {
            return Ok(Some(*n));
        }
        let Some(mut entry) = self.read_entry(id)? else {
            return Ok(None);
        };
        entry.anchor_ts = self.stored_anchor(id, &entry.header)?;
        Ok(Some(entry))
    }

    /// A stored block's header: from memory, or read from the store.
    fn stored_header(&self, id: &BlockId) -> Result<Option<BlockHeader>, StoreError> {
        match self.index.get(id) {
            Some(n) => Ok(Some(n.header)),
            None => self.store.get::<Headers>(id),
        }
    }

    /// A stored block's entry as the store has it (its anchor left 0).
    fn read_entry(&self, id: &BlockId) -> Result<Option<BlockEntry>, StoreError> {
        let Some(stored) = self.store.get::<BlockIndex>(id)? else {
            return Ok(None);
        };
        let header = self
            .store
            .get::<Headers>(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("index entry without header {id}")))?;
        Ok(Some(BlockEntry {
            header,
            work: stored.cumulative_work,
            status: stored.status,
            seq: stored.seq,
            anchor_ts: 0,
        }))
    }

    /// The anchor (block 1's timestamp) of a block not held in memory: that of the
    /// main chain if it is on it, else found by walking down its branch.
    fn stored_anchor(&self, id: &BlockId, header: &BlockHeader) -> Result<u64, StoreError> {
        let (mut id, mut header) = (*id, *header);
        loop {
            match header.height {
                0 => return Ok(0),
                1 => return Ok(header.timestamp_ms),
                h => {
                    if let Some(n) = self.index.get(&id) {
                        return Ok(n.anchor_ts);
                    }
                    if self.main_id(h)? == Some(id) {
                        return Ok(self.tip_entry().anchor_ts);
                    }
                }
            }
            id = header.prev;
            header = self
                .store
                .get::<Headers>(&id)?
                .ok_or_else(|| StoreError::Corrupt(format!("no header for {id}")))?;
        }
    }

    /// The main-chain block at `height`: from the window, or read from the store.
    fn main_id(&self, height: u64) -> Result<Option<BlockId>, StoreError> {
        if height >= self.base {
            return Ok(usize::try_from(height - self.base)
                .ok()
                .and_then(|i| self.window.get(i))
                .copied());
        }
        match self.deep.get(&height) {
            Some(id) => Ok(Some(*id)),
            None => self.store.get::<Heights>(&height),
        }
    }

    /// Appends a connected block to the window, letting the oldest entry go.
    fn push_main(&mut self, id: BlockId) {
        self.window.push_back(id);
        if self.window.len() > self.window_len + 1
            && let Some(old) = self.window.pop_front()
        {
            self.base += 1;
            self.index.remove(&old);
            self.children.remove(&old);
        }
    }

    /// The entry of the block below the tip when the window holds the tip alone
    /// (read before the disconnect's batch, so that nothing can fail after it).
    fn below_window(&self, prev: &BlockId) -> Result<Option<BlockEntry>, StoreError> {
        if self.window.len() > 1 {
            return Ok(None);
        }
        // Read while the tip (whose anchor the block below shares) is still held.
        self.entry(prev)?
            .ok_or_else(|| StoreError::Corrupt(format!("parent {prev} not stored")))
            .map(Some)
    }

    /// Takes the disconnected tip off the window (its entry stays: it is now off the
    /// main chain), putting `below` (from [`Chain::below_window`]) in if it ran out.
    fn pop_main(&mut self, prev: &BlockId, below: Option<BlockEntry>) {
        self.window.pop_back();
        if let Some(entry) = below {
            self.hold(*prev, entry);
            self.window.push_back(*prev);
            self.base = entry.header.height;
            let base = self.base;
            self.deep.retain(|h, _| *h < base);
        }
    }

    fn tip_entry(&self) -> &BlockEntry {
        let id = self
            .window
            .back()
            .expect("the main chain holds at least genesis");
        &self.index[id]
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
    fn publish(&mut self) {
        let tip = self.tip();
        // Only a failed read (logged) can leave it out: readers keep the last view.
        let Some(child) = self.child_context(&tip.id, 0) else {
            return;
        };
        let locator = self.locator();
        let view = ChainView::new(&self.params, tip, child, locator, self.orphans.len());
        self.view.send_replace(Arc::new(view));
    }

    /// The main-chain tip.
    pub fn tip(&self) -> TipInfo {
        let id = *self
            .window
            .back()
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
    pub fn block_id_at(&self, height: u64) -> Result<Option<BlockId>, ChainError> {
        Ok(self.main_id(height)?)
    }

    /// A stored block.
    pub fn block(&self, id: &BlockId) -> Result<Option<Block>, ChainError> {
        let Some(header) = self.stored_header(id)? else {
            return Ok(None);
        };
        let body = self
            .store
            .get::<Bodies>(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("no body for {id}")))?;
        Ok(Some(Block {
            header,
            txs: body.0,
        }))
    }

    /// Number of orphans held.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// The context in which a child of `parent` is validated, at local time `now_ms`
    /// (`None` if `parent` is not stored, or the store could not be read).
    pub fn child_context(&self, parent: &BlockId, now_ms: u64) -> Option<HeaderContext> {
        match self.try_child_context(parent, now_ms) {
            Ok(ctx) => ctx,
            Err(e) => {
                warn!(target: "chain", %parent, "cannot read the block index: {e}");
                None
            }
        }
    }

    fn try_child_context(
        &self,
        parent: &BlockId,
        now_ms: u64,
    ) -> Result<Option<HeaderContext>, StoreError> {
        let Some(p) = self.entry(parent)? else {
            return Ok(None);
        };
        let mut recent = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cur = Some(p.header);
        while let Some(h) = cur {
            recent.push(h.timestamp_ms);
            if recent.len() == MEDIAN_TIME_SPAN || h.height == 0 {
                break;
            }
            cur = self.stored_header(&h.prev)?;
        }
        recent.reverse();
        Ok(Some(HeaderContext {
            parent_height: p.header.height,
            recent_timestamps_ms: recent,
            parent_timestamp_ms: p.header.timestamp_ms,
            anchor_timestamp_ms: p.anchor_ts,
            now_ms,
        }))
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
        if let Some(n) = self.lookup(&id)? {
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
        let Some(parent) = self.entry(&prev)? else {
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
            .try_child_context(&prev, now_ms)?
            .ok_or_else(|| StoreError::Corrupt(format!("parent {prev} vanished")))?;
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
        b.put::<NextSeq>(&NextSeq::KEY, &(seq + 1));
        if work > self.tip().work {
            b.put::<Candidates>(&id, &());
        }
        self.store.write(b)?;
        self.next_seq = seq + 1;
        self.hold(
            id,
            BlockEntry {
                header: block.header,
                work,
                status: BlockStatus::Valid,
                seq,
                anchor_ts,
            },
        );
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
    /// from the current tip so that it only moves for strictly more work. Only the
    /// entries in memory are looked at: every candidate is among them.
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
            let target = match hint.and_then(|h| Some((h, self.index.get(&h)?))) {
                _ if full_scan => self.best_candidate(),
                Some((h, n)) if n.status == BlockStatus::Valid && n.work > tip.work => h,
                _ => tip.id,
            };
            if target == tip.id {
                self.interrupted = false;
                return Ok(());
            }
            // The branch from the fork point (exclusive) up to the target, highest
            // first. A block on it may be known invalid although the target is not
            // (its descendants are marked only where they are in memory): then the
            // branch from there up is marked, and the best candidate chosen again.
            let mut branch = Vec::new();
            let mut invalid_from = None;
            let mut cur = target;
            loop {
                let n = self
                    .lookup(&cur)?
                    .ok_or_else(|| StoreError::Corrupt(format!("missing block {cur}")))?;
                if self.main_id(n.header.height)? == Some(cur) {
                    break;
                }
                if n.status == BlockStatus::Invalid {
                    invalid_from = Some(branch.len());
                }
                branch.push(cur);
                cur = n.header.prev;
            }
            if let Some(last) = invalid_from {
                for id in &branch[..last] {
                    self.mark_invalid(id)?;
                }
                full_scan = true;
                continue;
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

    /// Marks `id` invalid with its descendants held in memory, in one batch (and
    /// holds their entries, so that the marks are seen without a read).
    fn mark_invalid(&mut self, id: &BlockId) -> Result<(), ChainError> {
        let mut stack = vec![*id];
        let mut seen = HashSet::new();
        let mut b = self.store.batch();
        let mut marked = Vec::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            if let Some(mut n) = self.entry(&x)? {
                n.status = BlockStatus::Invalid;
                b.put::<BlockIndex>(
                    &x,
                    &IndexEntry {
                        cumulative_work: n.work,
                        status: BlockStatus::Invalid,
                        seq: n.seq,
                    },
                );
                b.delete::<Candidates>(&x);
                marked.push((x, n));
            }
            if let Some(c) = self.children.get(&x) {
                stack.extend(c.iter().copied());
            }
        }
        self.store.write(b)?;
        for (x, n) in marked {
            self.hold(x, n);
        }
        Ok(())
    }

    /// Connects the stored block `id`, whose parent is the tip: one atomic batch.
    fn connect(&mut self, id: &BlockId) -> Result<Block, ChainError> {
        // Every block of the window is held (a branch stored in an earlier run is not).
        if !self.index.contains_key(id) {
            let entry = self
                .entry(id)?
                .ok_or_else(|| StoreError::Corrupt(format!("missing block {id}")))?;
            self.hold(*id, entry);
        }
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
        b.delete::<Candidates>(id);
        for hook in &self.hooks {
            hook.connect(&block, &self.reader, &mut b)?;
        }
        self.store.write(b)?;
        self.push_main(*id);
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
            .main_id(h)?
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
        // It has more work than the new tip: if what replaces it fails, it is found
        // again, even after a restart.
        b.put::<Candidates>(&tip.id, &());
        for hook in &self.hooks {
            hook.disconnect(&block, &self.reader, &mut b)?;
        }
        let below = self.below_window(&block.header.prev)?;
        self.store.write(b)?;
        self.pop_main(&block.header.prev, below);
        self.publish();
        info!(target: "chain", height = tip.height, id = %tip.id, "disconnected block");
        Ok(block)
    }
}

/// Brings a store written before the `candidates` table and the `next_seq` fact up
/// to date: one walk of the block index, in one batch (then opening never walks it).
fn upgrade_store(store: &Store) -> Result<(), StoreError> {
    let tip = store.tip()?;
    let tip_work = store
        .get::<BlockIndex>(&tip)?
        .ok_or_else(|| StoreError::Corrupt(format!("tip {tip} not in the block index")))?
        .cumulative_work;
    let mut next_seq = 0;
    let mut b = store.batch();
    let mut candidates = 0usize;
    for item in store.iter::<BlockIndex>() {
        let (id, entry) = item?;
        next_seq = next_seq.max(entry.seq + 1);
        if entry.status == BlockStatus::Valid && entry.cumulative_work > tip_work {
            b.put::<Candidates>(&id, &());
            candidates += 1;
        }
    }
    b.put::<NextSeq>(&NextSeq::KEY, &next_seq);
    b.put::<SchemaVersion>(&SchemaVersion::KEY, &SCHEMA_VERSION);
    store.write(b)?;
    info!(target: "chain", next_seq, candidates, "store upgraded to schema {SCHEMA_VERSION}");
    Ok(())
}

#[cfg(test)]
mod tests;
