//! Work for remote miners (`mining_getWork` / `mining_submitWork`).
//!
//! Each worker name gets its own extranonce, which fixes the top
//! [`EXTRANONCE_BITS`] bits of the nonce, so no two machines ever search the same
//! space of the same template. Work is remembered (bounded) by id until the tip moves
//! past it; a submission is checked against it, and every verdict is counted per
//! worker.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use cairn_core::{Address, Block, BlockId};
use cairn_miner::NonceRange;

use crate::chain::ChainError;
use crate::node::{BlockSource, Node, now_ms};

/// Nonce bits given to the extranonce: 65 536 workers, 2^48 nonces each.
pub const EXTRANONCE_BITS: u32 = 16;
/// Work items remembered per worker (older ones are stale anyway).
const MAX_WORK_PER_WORKER: usize = 8;
/// Templates kept (one per coinbase): a client asking for many coinbases evicts the
/// oldest instead of growing memory.
const MAX_TEMPLATES: usize = 64;
/// Templates reused for this long while the tip stays.
const TEMPLATE_TTL_MS: u64 = 1_000;
/// Workers tracked.
const MAX_WORKERS: usize = 4_096;
/// Submissions remembered per work item (for duplicates).
const MAX_SUBMITTED: usize = 64;

/// Work handed out.
#[derive(Debug, Clone)]
pub struct Work {
    /// Its id.
    pub id: u64,
    /// The block, nonce 0 (shared by all work on the same template).
    pub block: Arc<Block>,
    /// Who it was given to.
    pub worker: String,
    /// The worker's nonce range.
    pub range: NonceRange,
    /// The worker's extranonce.
    pub extranonce: u32,
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// Unknown work id, or its template no longer builds on the tip.
    Stale,
    /// This nonce was already submitted for this work.
    Duplicate,
    /// The nonce is outside the worker's range.
    OutOfRange,
    /// The hash does not meet the target.
    LowDifficulty,
    /// The block broke a rule.
    Invalid(String),
}

impl SubmitError {
    /// Short name for statistics.
    pub fn name(&self) -> &'static str {
        match self {
            SubmitError::Stale => "stale",
            SubmitError::Duplicate => "duplicate",
            SubmitError::OutOfRange => "out-of-range",
            SubmitError::LowDifficulty => "low-difficulty",
            SubmitError::Invalid(_) => "invalid",
        }
    }
}

/// A worker's statistics.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Its extranonce.
    pub extranonce: u32,
    /// Blocks accepted.
    pub accepted: u64,
    /// Submissions refused, by reason.
    pub rejected: HashMap<&'static str, u64>,
    /// Last request, ms since the epoch.
    pub last_seen_ms: u64,
    /// Hashrate it last reported (hashes/s).
    pub hashrate: f64,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    works: HashMap<u64, (Work, HashSet<u64>)>,
    /// Per worker, its work ids, oldest first.
    by_worker: HashMap<String, VecDeque<u64>>,
    workers: HashMap<String, WorkerStats>,
    /// The last template per coinbase, and when it was built.
    templates: HashMap<Address, (Arc<Block>, u64)>,
}

/// Hands out and checks remote work.
#[derive(Debug, Default)]
pub struct WorkManager {
    state: Mutex<State>,
}

impl WorkManager {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// New work for `worker`, paying `coinbase`.
    pub fn get_work(&self, node: &Node, worker: &str, coinbase: Address, hashrate: f64) -> Work {
        let tip = node.tip().id;
        let now = now_ms();
        let cached = {
            let s = self.lock();
            s.templates
                .get(&coinbase)
                .filter(|(b, at)| b.header.prev == tip && now.saturating_sub(*at) < TEMPLATE_TTL_MS)
                .map(|(b, _)| b.clone())
        };
        let block = match cached {
            Some(b) => b,
            None => {
                let b = Arc::new(node.block_template(coinbase));
                let mut s = self.lock();
                // Templates of an old tip are of no use to anyone.
                s.templates
                    .retain(|_, (t, _)| t.header.prev == b.header.prev);
                if s.templates.len() >= MAX_TEMPLATES
                    && let Some(oldest) = s
                        .templates
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(a, _)| *a)
                {
                    s.templates.remove(&oldest);
                }
                s.templates.insert(coinbase, (b.clone(), now));
                b
            }
        };
        let mut s = self.lock();
        let extranonce = match s.workers.get(worker) {
            Some(w) => w.extranonce,
            None => {
                if s.workers.len() >= MAX_WORKERS
                    && let Some(oldest) = s
                        .workers
                        .iter()
                        .min_by_key(|(_, w)| w.last_seen_ms)
                        .map(|(k, _)| k.clone())
                {
                    s.workers.remove(&oldest);
                    if let Some(ids) = s.by_worker.remove(&oldest) {
                        for id in ids {
                            s.works.remove(&id);
                        }
                    }
                }
                // The lowest extranonce no live worker has.
                let used: HashSet<u32> = s.workers.values().map(|w| w.extranonce).collect();
                (0..).find(|e| !used.contains(e)).unwrap_or(0)
            }
        };
        let stats = s.workers.entry(worker.to_string()).or_default();
        stats.extranonce = extranonce;
        stats.last_seen_ms = now;
        if hashrate.is_finite() && hashrate >= 0.0 {
            stats.hashrate = hashrate;
        }
        s.next_id += 1;
        let work = Work {
            id: s.next_id,
            block,
            worker: worker.to_string(),
            range: NonceRange::for_extranonce(extranonce, EXTRANONCE_BITS),
            extranonce,
        };
        s.works.insert(work.id, (work.clone(), HashSet::new()));
        let ids = s.by_worker.entry(worker.to_string()).or_default();
        ids.push_back(work.id);
        let evicted = (ids.len() > MAX_WORK_PER_WORKER)
            .then(|| ids.pop_front())
            .flatten();
        if let Some(old) = evicted {
            s.works.remove(&old);
        }
        work
    }

    /// Checks and submits a solution for work `id`; on success the block's id and
    /// height.
    pub fn submit(
        &self,
        node: &Node,
        worker: &str,
        id: u64,
        nonce: u64,
    ) -> Result<(BlockId, u64), SubmitError> {
        let result = self.check_and_submit(node, worker, id, nonce);
        let mut s = self.lock();
        if let Some(w) = s.workers.get_mut(worker) {
            w.last_seen_ms = now_ms();
            match &result {
                Ok(_) => w.accepted += 1,
                Err(e) => *w.rejected.entry(e.name()).or_default() += 1,
            }
        }
        result
    }

    fn check_and_submit(
        &self,
        node: &Node,
        worker: &str,
        id: u64,
        nonce: u64,
    ) -> Result<(BlockId, u64), SubmitError> {
        let template = {
            let s = self.lock();
            let Some((work, submitted)) = s.works.get(&id) else {
                return Err(SubmitError::Stale);
            };
            // Work belongs to the worker it was given to: nobody else can spend its
            // duplicate-nonce memory.
            if work.worker != worker {
                return Err(SubmitError::Stale);
            }
            if nonce < work.range.start || nonce >= work.range.end {
                return Err(SubmitError::OutOfRange);
            }
            if submitted.contains(&nonce) {
                return Err(SubmitError::Duplicate);
            }
            work.block.clone()
        };
        if node.tip().id != template.header.prev {
            return Err(SubmitError::Stale);
        }
        // Proof of work before anything is remembered: junk nonces cost nothing.
        let mut header = template.header;
        header.nonce = nonce;
        let target = header
            .target
            .to_target()
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        if !target.is_met_by(&header.pow_hash()) {
            return Err(SubmitError::LowDifficulty);
        }
        {
            let mut s = self.lock();
            if let Some((_, submitted)) = s.works.get_mut(&id)
                && (submitted.len() >= MAX_SUBMITTED || !submitted.insert(nonce))
            {
                return Err(SubmitError::Duplicate);
            }
        }
        let block = Block {
            header,
            txs: template.txs.clone(),
        };
        let (bid, height) = (block.id(), block.header.height);
        match node.submit_block(block, BlockSource::Rpc) {
            Ok(crate::chain::SubmitOutcome::NewTip(_)) => Ok((bid, height)),
            Ok(_) => Err(SubmitError::Stale),
            Err(ChainError::Store(e)) => Err(SubmitError::Invalid(e.to_string())),
            Err(e) => Err(SubmitError::Invalid(e.to_string())),
        }
    }

    /// Every worker's statistics, by name.
    pub fn workers(&self) -> Vec<(String, WorkerStats)> {
        let s = self.lock();
        let mut v: Vec<_> = s
            .workers
            .iter()
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
