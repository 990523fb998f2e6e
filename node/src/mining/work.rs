//! Work for remote miners (`mining_getWork` / `mining_submitWork`).
//!
//! Each worker name gets its own extranonce, which fixes the top
//! [`EXTRANONCE_BITS`] bits of the nonce, so no two machines ever search the same
//! space of the same template. Work is remembered (bounded) by id until the tip moves
//! past it; a submission is checked against it, and every verdict is counted per
//! worker.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use cairn_core::{Address, Block, BlockId};
use cairn_miner::NonceRange;

use crate::chain::ChainError;
use crate::node::{BlockSource, Node, now_ms};

/// Nonce bits given to the extranonce: 65 536 workers, 2^48 nonces each.
pub const EXTRANONCE_BITS: u32 = 16;
/// Work items remembered.
const MAX_WORK: usize = 1_024;
/// Workers tracked.
const MAX_WORKERS: usize = 4_096;
/// Submissions remembered per work item (for duplicates).
const MAX_SUBMITTED: usize = 64;

/// Work handed out.
#[derive(Debug, Clone)]
pub struct Work {
    /// Its id.
    pub id: u64,
    /// The block, nonce 0.
    pub block: Block,
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
    order: VecDeque<u64>,
    workers: HashMap<String, WorkerStats>,
    next_extranonce: u32,
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
        let block = node.block_template(coinbase);
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
                }
                let e = s.next_extranonce;
                s.next_extranonce = (e + 1) % (1 << EXTRANONCE_BITS);
                e
            }
        };
        let stats = s.workers.entry(worker.to_string()).or_default();
        stats.extranonce = extranonce;
        stats.last_seen_ms = now_ms();
        if hashrate.is_finite() && hashrate >= 0.0 {
            stats.hashrate = hashrate;
        }
        s.next_id += 1;
        let work = Work {
            id: s.next_id,
            block,
            range: NonceRange::for_extranonce(extranonce, EXTRANONCE_BITS),
            extranonce,
        };
        s.works.insert(work.id, (work.clone(), HashSet::new()));
        s.order.push_back(work.id);
        while s.order.len() > MAX_WORK {
            if let Some(old) = s.order.pop_front() {
                s.works.remove(&old);
            }
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
        let result = self.check_and_submit(node, id, nonce);
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
        id: u64,
        nonce: u64,
    ) -> Result<(BlockId, u64), SubmitError> {
        let mut block = {
            let mut s = self.lock();
            let Some((work, submitted)) = s.works.get_mut(&id) else {
                return Err(SubmitError::Stale);
            };
            if nonce < work.range.start || nonce >= work.range.end {
                return Err(SubmitError::OutOfRange);
            }
            if submitted.len() >= MAX_SUBMITTED || !submitted.insert(nonce) {
                return Err(SubmitError::Duplicate);
            }
            work.block.clone()
        };
        if node.tip().id != block.header.prev {
            return Err(SubmitError::Stale);
        }
        block.header.nonce = nonce;
        let target = block
            .header
            .target
            .to_target()
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        if !target.is_met_by(&block.header.pow_hash()) {
            return Err(SubmitError::LowDifficulty);
        }
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
