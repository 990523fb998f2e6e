//! The pool's shared state: the share log, the jobs, the extranonces in use, and the
//! per-worker and per-reason counts. Sessions ([`super::server`]) call in here; nothing
//! here does network I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cairn_core::{Address, BlockId, Hash};
use cairn_stratum::messages::Reason;
use cairn_stratum::pplns::{ShareLog, Split, share_work};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use super::jobs::{Job, JobBook};
use super::vardiff::{VardiffConfig, to_target};
use crate::node::{BlockSource, Node, now_ms};
use crate::store::schema::{ShareLogStart, ShareRecord};
use crate::store::{PoolStore, StoreError};

/// What the pool does (`[pool]` settings, resolved).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The Stratum endpoint's address.
    pub listen: SocketAddr,
    /// The pool's own payout address: its fee and the parked entitlements.
    pub address: Address,
    /// The pool's fee, in millionths of each reward.
    pub fee_ppm: u32,
    /// The PPLNS window, in blocks' work at the current target.
    pub window_blocks: u64,
    /// How many windows' worth of shares are kept (in memory and in the store), for
    /// replays and audits; older ones are deleted.
    pub log_windows: u64,
    /// Share difficulty per session.
    pub vardiff: VardiffConfig,
    /// Most sessions at once.
    pub max_connections: usize,
    /// A new job at least this often (new transfers, a newer window).
    pub refresh: Duration,
}

/// Why the pool could not start.
#[derive(Debug, Error)]
pub enum PoolError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored share log does not replay (a gap or an overflow).
    #[error("the stored share log does not replay: {0}")]
    ShareLog(String),
}

/// Counts of one worker (a payout address and a worker name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Shares accepted.
    pub accepted: u64,
    /// Their work.
    pub work: u128,
    /// Shares refused.
    pub refused: u64,
    /// Blocks found.
    pub blocks: u64,
    /// When its last share was accepted (ms since the epoch; 0: never).
    pub last_share_ms: u64,
    /// Its sessions now.
    pub sessions: u32,
    /// The difficulty of its newest session.
    pub difficulty: u64,
}

/// An accepted share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The work credited (the job's difficulty for this session).
    pub work: u64,
    /// The block it made, if it met the block target and the node took the block.
    pub block: Option<BlockId>,
    /// The share log's cumulative work at the end of this share.
    pub position: u128,
}

/// One session's standing towards a submit: who it is and what it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Its extranonce (the top bits of every nonce it may submit).
    pub extranonce: u16,
    /// Its payout address.
    pub address: Address,
    /// Its worker name.
    pub worker: String,
}

struct State {
    log: ShareLog,
    book: JobBook,
    extranonces: BTreeSet<u16>,
    next_extranonce: u16,
    workers: BTreeMap<(Address, String), WorkerStats>,
    refusals: BTreeMap<&'static str, u64>,
    blocks: u64,
    /// Shares of the last [`RATE_SPAN_MS`] (at most [`MAX_RECENT`]): time, work, worker.
    recent: VecDeque<(u64, u128, WorkerKey)>,
}

type WorkerKey = (Address, String);

/// Most workers (address and name) counted; open sessions are fewer still.
const MAX_WORKERS: usize = 100_000;

/// Stored shares are deleted this many at a time (not on every job).
const PRUNE_BATCH: u64 = 1_024;

/// The span share and hash rates are measured over.
const RATE_SPAN_MS: u64 = 60_000;
/// Most shares kept for the rates (beyond it the rates read low, never high).
const MAX_RECENT: usize = 100_000;

/// The pool (see the module documentation).
pub struct Pool {
    node: Arc<Node>,
    config: PoolConfig,
    store: PoolStore,
    state: Mutex<State>,
    jobs: watch::Sender<Option<Arc<Job>>>,
    connections: AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Opens the pool on `node`, replaying the stored share log, and makes its first
    /// job.
    pub fn open(node: Arc<Node>, config: PoolConfig) -> Result<Arc<Pool>, PoolError> {
        let store = node.pool_store();
        let start = store.log_start()?;
        let mut log = ShareLog::resume(start.seq, start.total, u128::MAX);
        for (seq, share) in store.shares_from(start.seq)? {
            let got = log
                .push(share.address, share.work)
                .map_err(|e| PoolError::ShareLog(e.to_string()))?;
            if got != seq {
                return Err(PoolError::ShareLog(format!("share {seq} replays as {got}")));
            }
        }
        info!(target: "pool", shares = log.len(), work = log.total(), "share log replayed");
        let (jobs, _) = watch::channel(None);
        let pool = Arc::new(Pool {
            node,
            config,
            store,
            state: Mutex::new(State {
                log,
                book: JobBook::default(),
                extranonces: BTreeSet::new(),
                next_extranonce: 0,
                workers: BTreeMap::new(),
                refusals: BTreeMap::new(),
                blocks: 0,
                recent: VecDeque::new(),
            }),
            jobs,
            connections: AtomicUsize::new(0),
        });
        pool.refresh();
        Ok(pool)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings it runs with.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The node it mines on.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// New jobs, as they are made (`None` before the first).
    pub fn jobs(&self) -> watch::Receiver<Option<Arc<Job>>> {
        self.jobs.subscribe()
    }

    /// The job `id`, if it is still accepted.
    pub fn job(&self, id: u64) -> Option<Arc<Job>> {
        self.lock().book.get(id)
    }

    /// The PPLNS window's size in work: `window_blocks` blocks at the tip's target.
    fn window_size(&self) -> u128 {
        let work = self
            .node
            .view()
            .next_target
            .to_target()
            .map_or(0, |t| u128::try_from(t.work().0).unwrap_or(u128::MAX));
        work.saturating_mul(u128::from(self.config.window_blocks))
    }

    /// Makes a new job on the node's tip: its template, the window at the log's end,
    /// the credits at the tip, and the split. Sessions are told through
    /// [`Pool::jobs`].
    pub fn refresh(&self) -> Arc<Job> {
        let params = self.node.params();
        let body = self
            .node
            .template_body_with_outputs(params.max_coinbase_outputs());
        let credits = match self.store.credits() {
            Ok(c) => c,
            Err(e) => {
                warn!(target: "pool", "cannot read the credits ({e}); this job carries none");
                BTreeMap::new()
            }
        };
        let size = self.window_size();
        let mut s = self.lock();
        s.log
            .set_keep(size.saturating_mul(u128::from(self.config.log_windows.max(1))));
        self.prune_store(&s.log);
        let window = s.log.window(size).unwrap_or_default();
        let split = Split::compute(
            body.reward,
            self.config.fee_ppm,
            self.config.address,
            &window,
            &credits,
            params.max_coinbase_outputs(),
        );
        let id = s.book.next_id();
        let job = Arc::new(Job::new(id, body, split, &window));
        s.book.push(job.clone());
        drop(s);
        self.jobs.send_replace(Some(job.clone()));
        job
    }

    /// A connection opened (`true`) or closed.
    pub fn connection(&self, opened: bool) {
        if opened {
            self.connections.fetch_add(1, Ordering::Relaxed);
        } else {
            self.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Deletes the stored shares the log in memory no longer holds, a batch at a time.
    fn prune_store(&self, log: &ShareLog) {
        let Some((seq, total)) = log.oldest() else {
            return;
        };
        let stored = match self.store.log_start() {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "pool", "cannot read where the share log starts: {e}");
                return;
            }
        };
        if seq < stored.seq.saturating_add(PRUNE_BATCH) {
            return;
        }
        match self.store.prune_shares_before(ShareLogStart { seq, total }) {
            Ok(()) => info!(target: "pool", before = seq, "old shares pruned from the store"),
            Err(e) => warn!(target: "pool", "cannot prune the share log: {e}"),
        }
    }

    /// An extranonce for a new session, or `None` when every one is in use.
    pub fn open_session(&self) -> Option<u16> {
        let mut s = self.lock();
        let start = s.next_extranonce;
        let mut e = start;
        loop {
            if s.extranonces.insert(e) {
                s.next_extranonce = e.wrapping_add(1);
                return Some(e);
            }
            e = e.wrapping_add(1);
            if e == start {
                return None;
            }
        }
    }

    /// Names the session's worker (once authorised). The table of workers is bounded:
    /// when it is full, the worker without a session whose last share is oldest makes
    /// room, so a stranger cycling names cannot grow it.
    pub fn authorise(&self, key: &SessionKey, difficulty: u64) {
        let mut s = self.lock();
        let name = (key.address, key.worker.clone());
        if !s.workers.contains_key(&name) && s.workers.len() >= MAX_WORKERS {
            let idle = s
                .workers
                .iter()
                .filter(|(_, w)| w.sessions == 0)
                .min_by_key(|(_, w)| w.last_share_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = idle {
                s.workers.remove(&k);
            }
        }
        let w = s.workers.entry(name).or_default();
        w.sessions = w.sessions.saturating_add(1);
        w.difficulty = difficulty;
    }

    /// The session's difficulty changed.
    pub fn set_difficulty(&self, key: &SessionKey, difficulty: u64) {
        if let Some(w) = self
            .lock()
            .workers
            .get_mut(&(key.address, key.worker.clone()))
        {
            w.difficulty = difficulty;
        }
    }

    /// Frees a closed session's extranonce (and its worker's session count).
    pub fn close_session(&self, extranonce: u16, key: Option<&SessionKey>) {
        let mut s = self.lock();
        s.extranonces.remove(&extranonce);
        if let Some(key) = key
            && let Some(w) = s.workers.get_mut(&(key.address, key.worker.clone()))
        {
            w.sessions = w.sessions.saturating_sub(1);
        }
    }

    /// Counts a refusal of `reason` (for a known worker, against it too).
    pub fn refused(&self, key: Option<&SessionKey>, reason: Reason) {
        let mut s = self.lock();
        *s.refusals.entry(reason.as_str()).or_insert(0) += 1;
        if let Some(key) = key
            && let Some(w) = s.workers.get_mut(&(key.address, key.worker.clone()))
        {
            w.refused = w.refused.saturating_add(1);
        }
    }

    /// Checks a share on the pool's job `job_id` at `difficulty` (what the session
    /// was told for that job): the job must still be accepted, and one blake3
    /// compression must meet the share target. (The session checks the nonce's range
    /// and duplicates first, in the order of `docs/STRATUM.md` §3.5.)
    pub fn check_share(
        &self,
        job_id: u64,
        nonce: u64,
        difficulty: u64,
    ) -> Result<(Arc<Job>, Hash), Reason> {
        let job = self.job(job_id).ok_or(Reason::StaleJob)?;
        let pow = cairn_core::pow::pow_hash(&job.pre_hash, nonce);
        if !to_target(difficulty).is_met_by(&pow) {
            return Err(Reason::AboveTarget);
        }
        Ok((job, pow))
    }

    /// Accepts a checked share: appends it to the share log (memory and store), and,
    /// if it meets the block target, records the job's credit changes and submits the
    /// block through the node's one entry point (blocking: call it off the runtime),
    /// then makes a new job at once.
    pub fn accept(
        &self,
        key: &SessionKey,
        job: &Job,
        nonce: u64,
        pow: &Hash,
        difficulty: u64,
    ) -> Result<Accepted, StoreError> {
        let work = share_work(&to_target(difficulty));
        let now = now_ms();
        let position = {
            let mut s = self.lock();
            let seq = s
                .log
                .push(key.address, work)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // Under the lock, so the stored log is in the order of the one in memory.
            self.store.append_share(
                seq,
                &ShareRecord {
                    address: key.address,
                    work,
                    time_ms: now,
                },
            )?;
            // Only authorised sessions submit, so their worker is in the table.
            if let Some(w) = s.workers.get_mut(&(key.address, key.worker.clone())) {
                w.accepted = w.accepted.saturating_add(1);
                w.work = w.work.saturating_add(work);
                w.last_share_ms = now;
            }
            s.recent
                .push_back((now, work, (key.address, key.worker.clone())));
            while s.recent.len() > MAX_RECENT
                || s.recent
                    .front()
                    .is_some_and(|(t, _, _)| t + RATE_SPAN_MS < now)
            {
                s.recent.pop_front();
            }
            s.log.total()
        };
        let mut block = None;
        if job.block_target.is_met_by(pow) {
            self.store.save_job(&job.coinbase_id, &job.record())?;
            let b = job.block(nonce);
            let id = b.id();
            match self.node.submit_block(b, BlockSource::Pool) {
                Ok(outcome) => {
                    info!(target: "pool", %id, height = job.header.height, worker = %key.worker, ?outcome, "pool block found");
                    block = Some(id);
                    let mut s = self.lock();
                    s.blocks += 1;
                    if let Some(w) = s.workers.get_mut(&(key.address, key.worker.clone())) {
                        w.blocks = w.blocks.saturating_add(1);
                    }
                }
                Err(e) => warn!(target: "pool", %id, "the node refused the pool's block: {e}"),
            }
            self.refresh();
        }
        Ok(Accepted {
            work: difficulty,
            block,
            position,
        })
    }

    /// A snapshot of the counts, for the RPC and `/metrics`.
    pub fn stats(&self) -> PoolStats {
        let now = now_ms();
        let s = self.lock();
        let span = RATE_SPAN_MS as f64 / 1000.0;
        let mut hashrates: BTreeMap<WorkerKey, f64> = BTreeMap::new();
        let (mut shares, mut work) = (0u64, 0f64);
        for (t, w, key) in &s.recent {
            if t + RATE_SPAN_MS >= now {
                shares += 1;
                work += *w as f64;
                *hashrates.entry(key.clone()).or_default() += *w as f64 / span;
            }
        }
        PoolStats {
            connections: self.connections.load(Ordering::Relaxed),
            sessions: s.extranonces.len(),
            shares: s.log.len() as u64,
            total_work: s.log.total(),
            blocks: s.blocks,
            workers: s.workers.clone(),
            refusals: s.refusals.clone(),
            job: s.book.latest(),
            share_rate: shares as f64 / span,
            hashrate: work / span,
            hashrates,
        }
    }

    /// The persisted books.
    pub fn store(&self) -> &PoolStore {
        &self.store
    }
}

/// The counts of [`Pool::stats`].
#[derive(Debug, Clone)]
pub struct PoolStats {
    /// Open TCP connections (subscribed or not).
    pub connections: usize,
    /// Open sessions (subscribed).
    pub sessions: usize,
    /// Shares in the log in memory.
    pub shares: u64,
    /// Cumulative work of every share ever accepted.
    pub total_work: u128,
    /// Blocks found since start.
    pub blocks: u64,
    /// Per worker.
    pub workers: BTreeMap<(Address, String), WorkerStats>,
    /// Refusals by reason.
    pub refusals: BTreeMap<&'static str, u64>,
    /// The newest job.
    pub job: Option<Arc<Job>>,
    /// Accepted shares a second over the last minute.
    pub share_rate: f64,
    /// The work of those shares a second: the pool's hash rate.
    pub hashrate: f64,
    /// The same per worker.
    pub hashrates: BTreeMap<(Address, String), f64>,
}
