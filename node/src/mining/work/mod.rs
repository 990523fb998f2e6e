//! Work for remote miners (`mining_getWork` / `mining_submitWork`).
//!
//! The rule: work issued on the current tip stays valid until the tip moves, whoever
//! else asks for work in the meantime. So nothing is kept per request. A work id
//! names a template of the current tip and an extranonce, sealed with a MAC under a
//! secret of this process; a submission is checked against the template it names.
//! What is kept per tip is shared: the template bodies (rebuilt at most once a
//! second, and only when the mempool's selection changed) and one small entry per
//! coinbase and body. Both tables are bounded; when one is full it stops growing
//! (newer transfers wait a block, or a coinbase new to this tip is refused work)
//! instead of dropping anything a miner may be working on. Duplicate solutions are
//! told by the chain itself, which already stores every block it accepted.
//!
//! Each worker name gets its own extranonce, which fixes the top
//! [`EXTRANONCE_BITS`] bits of the nonce, so no two machines ever search the same
//! space of the same template. The table of names is bounded too: a name that has
//! work on the current tip is never dropped to make room for a new one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use cairn_core::encoding::Encode;
use cairn_core::header::HEADER_LEN;
use cairn_core::merkle::{MerkleProof, merkle_root};
use cairn_core::{Address, Block, BlockHeader, BlockId, Hash, Transaction};
use cairn_miner::NonceRange;
use tracing::debug;

use crate::chain::{ChainError, SubmitOutcome};
use crate::mining::TemplateBody;
use crate::node::{BlockSource, Node, now_ms};

/// Nonce bits given to the extranonce: 65 536 workers, 2^48 nonces each.
pub const EXTRANONCE_BITS: u32 = 16;
/// Bits of a work id naming its template.
const TEMPLATE_BITS: u32 = 16;
/// Bits of a work id holding its MAC. With the two fields above a work id stays
/// below 2^53, so JavaScript clients read it exactly.
const MAC_BITS: u32 = 21;
/// Templates (one per coinbase and body) of one tip: 64 bytes each, plus the
/// coinbase index, under 10 MB when full.
pub const MAX_TEMPLATES: usize = 1 << TEMPLATE_BITS;
/// Bodies of one tip; past this (or [`MAX_BODY_BYTES`]) the newest one is served
/// until the tip moves.
const MAX_BODIES: usize = 256;
/// Bytes of transfers held in the bodies of one tip.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// A body is rebuilt (from the mempool) at most this often.
const BODY_REFRESH_MS: u64 = 1_000;
/// Worker names tracked (with an extranonce of their own and statistics).
pub const MAX_WORKERS: usize = 4_096;

/// Work handed out.
#[derive(Debug, Clone)]
pub struct Work {
    /// Its id.
    pub id: u64,
    /// The header to search, nonce 0.
    pub header: BlockHeader,
    /// Transactions in the block, coinbase included.
    pub txs: usize,
    /// Who it was given to.
    pub worker: String,
    /// The worker's nonce range.
    pub range: NonceRange,
    /// The worker's extranonce.
    pub extranonce: u32,
}

/// Why no work was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// The template table of this tip is full and this coinbase has none in it.
    #[error(
        "{MAX_TEMPLATES} templates were already made for this tip; a coinbase new to it gets work after the next block"
    )]
    TemplatesFull,
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// Unknown work id, or its template no longer builds on the tip.
    Stale,
    /// This block was already submitted.
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

impl WorkerStats {
    fn count<T>(&mut self, result: &Result<T, SubmitError>) {
        match result {
            Ok(_) => self.accepted += 1,
            Err(e) => *self.rejected.entry(e.name()).or_default() += 1,
        }
    }
}

/// A template body and what deriving one coinbase's template from it needs.
#[derive(Debug)]
struct Body {
    parts: TemplateBody,
    /// Siblings of the coinbase's leaf, bottom up: a template's tx root is its
    /// coinbase id folded with them, so a new coinbase costs a few hashes.
    branch: Vec<Hash>,
    /// Memory it holds, roughly.
    bytes: usize,
}

impl Body {
    fn new(parts: TemplateBody) -> Body {
        // The coinbase's leaf is replaced per template; any recipient serves here.
        let leaves: Vec<Hash> = std::iter::once(Hash::ZERO)
            .chain(parts.transfers.iter().map(Transaction::id))
            .collect();
        let branch = MerkleProof::new(&leaves, 0)
            .map(|p| p.siblings)
            .unwrap_or_default();
        let bytes = HEADER_LEN
            + cairn_core::tx::COINBASE_LEN
            + parts
                .transfers
                .iter()
                .map(|t| t.encoded_len() + std::mem::size_of::<Transaction>())
                .sum::<usize>()
            + branch.len() * std::mem::size_of::<Hash>();
        Body {
            parts,
            branch,
            bytes,
        }
    }

    /// The tx root of the template paying `recipient`.
    fn tx_root(&self, recipient: Address) -> Hash {
        // The coinbase is leaf 0: at every level it is the left node, and the root of
        // two leaves is the inner node over them.
        self.branch
            .iter()
            .fold(self.parts.coinbase_for(recipient).id(), |acc, sibling| {
                merkle_root(&[acc, *sibling])
            })
    }

    /// Whether `other` would make the same blocks (bar the timestamp).
    fn same_content(&self, other: &Body) -> bool {
        self.parts.reward == other.parts.reward
            && self.parts.transfers.len() == other.parts.transfers.len()
            && self.branch == other.branch
    }
}

/// One coinbase's template on one body.
#[derive(Debug, Clone, Copy)]
struct Template {
    body: usize,
    coinbase: Address,
    tx_root: Hash,
}

#[derive(Debug)]
struct Worker {
    stats: WorkerStats,
    /// The epoch it last got work in.
    epoch: u64,
}

/// Everything handed out: the templates of the current tip, the workers and their
/// extranonces, and the key that makes work ids unforgeable.
#[derive(Debug)]
struct WorkBook {
    /// Key of the work-id MAC; new at every start, so ids of an earlier run are stale.
    secret: [u8; 32],
    /// Bumped whenever the tip changes: the ids of an earlier epoch are all stale.
    epoch: u64,
    tip: Option<BlockId>,
    bodies: Vec<Arc<Body>>,
    body_bytes: usize,
    body_built_ms: u64,
    templates: Vec<Template>,
    /// Each coinbase's newest template.
    latest: HashMap<Address, usize>,
    workers: HashMap<String, Worker>,
    /// The tracked workers' extranonces.
    taken: HashSet<u32>,
    /// Names beyond the table, together.
    untracked: WorkerStats,
}

impl WorkBook {
    fn new() -> WorkBook {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // Without OS randomness the MAC still tells ids of other epochs apart.
            let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
            secret = *blake3::hash(seed.as_bytes()).as_bytes();
        }
        WorkBook {
            secret,
            epoch: 0,
            tip: None,
            bodies: Vec::new(),
            body_bytes: 0,
            body_built_ms: 0,
            templates: Vec::new(),
            latest: HashMap::new(),
            workers: HashMap::new(),
            taken: HashSet::new(),
            untracked: WorkerStats::default(),
        }
    }

    fn start_epoch(&mut self, tip: BlockId) {
        self.epoch += 1;
        self.tip = Some(tip);
        self.bodies.clear();
        self.body_bytes = 0;
        self.body_built_ms = 0;
        self.templates.clear();
        self.latest.clear();
    }

    /// Takes `parts` as the newest body unless it changes nothing or does not fit.
    fn add_body(&mut self, parts: TemplateBody) {
        let body = Body::new(parts);
        if let Some(last) = self.bodies.last()
            && (last.same_content(&body) || self.body_bytes + body.bytes > MAX_BODY_BYTES)
        {
            return;
        }
        self.body_bytes += body.bytes;
        self.bodies.push(Arc::new(body));
    }

    fn wants_body(&self, now: u64) -> bool {
        self.bodies.is_empty()
            || (now.saturating_sub(self.body_built_ms) >= BODY_REFRESH_MS
                && self.bodies.len() < MAX_BODIES
                && self.body_bytes < MAX_BODY_BYTES)
    }

    /// The template of `coinbase` on the newest body, made if need be; when the
    /// table is full, the coinbase's newest one on an older body.
    fn template_for(&mut self, coinbase: Address) -> Result<usize, WorkError> {
        let newest = self.bodies.len() - 1;
        let existing = self.latest.get(&coinbase).copied();
        if let Some(t) = existing
            && self.templates[t].body == newest
        {
            return Ok(t);
        }
        if self.templates.len() >= MAX_TEMPLATES {
            return existing.ok_or(WorkError::TemplatesFull);
        }
        let tx_root = self.bodies[newest].tx_root(coinbase);
        self.templates.push(Template {
            body: newest,
            coinbase,
            tx_root,
        });
        let t = self.templates.len() - 1;
        self.latest.insert(coinbase, t);
        Ok(t)
    }

    fn header(&self, t: &Template) -> BlockHeader {
        BlockHeader {
            tx_root: t.tx_root,
            ..self.bodies[t.body].parts.header
        }
    }

    /// `worker`'s extranonce, registering the name if there is room.
    fn extranonce_for(&mut self, worker: &str, now: u64, hashrate: f64) -> u32 {
        let epoch = self.epoch;
        if let Some(w) = self.workers.get_mut(worker) {
            w.epoch = epoch;
            w.stats.last_seen_ms = now;
            if hashrate.is_finite() && hashrate >= 0.0 {
                w.stats.hashrate = hashrate;
            }
            return w.stats.extranonce;
        }
        if self.workers.len() >= MAX_WORKERS {
            // Only a name without work on this tip makes room: the least recently
            // seen one.
            let idle = self
                .workers
                .iter()
                .filter(|(_, w)| w.epoch != epoch)
                .min_by_key(|(_, w)| w.stats.last_seen_ms)
                .map(|(k, _)| k.clone());
            match idle.and_then(|k| self.workers.remove(&k)) {
                Some(gone) => {
                    self.taken.remove(&gone.stats.extranonce);
                }
                None => return self.untracked_extranonce(worker),
            }
        }
        // The lowest extranonce no tracked worker has (there are more extranonces
        // than tracked names).
        let extranonce = (0..1u32 << EXTRANONCE_BITS)
            .find(|e| !self.taken.contains(e))
            .unwrap_or(0);
        self.taken.insert(extranonce);
        let stats = WorkerStats {
            extranonce,
            last_seen_ms: now,
            hashrate: if hashrate.is_finite() && hashrate >= 0.0 {
                hashrate
            } else {
                0.0
            },
            ..WorkerStats::default()
        };
        self.workers
            .insert(worker.to_string(), Worker { stats, epoch });
        extranonce
    }

    /// An extranonce for a name the table has no room for: one no tracked worker has,
    /// found from a keyed hash of the name (so it is stable while the table is full,
    /// and nobody can aim it); such names may share one.
    fn untracked_extranonce(&self, worker: &str) -> u32 {
        let h = blake3::keyed_hash(
            &self.secret,
            &[b"cairn extranonce ".as_slice(), worker.as_bytes()].concat(),
        );
        let space = 1u32 << EXTRANONCE_BITS;
        let start = u32::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1], 0, 0]) % space;
        (0..space)
            .map(|i| (start + i) % space)
            .find(|e| !self.taken.contains(e))
            .unwrap_or(start)
    }

    fn mac(&self, template: usize, extranonce: u32, worker: &str) -> u64 {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(b"cairn work id ");
        h.update(&self.epoch.to_le_bytes());
        h.update(&(template as u64).to_le_bytes());
        h.update(&extranonce.to_le_bytes());
        h.update(worker.as_bytes());
        let out = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out.as_bytes()[..8]);
        u64::from_le_bytes(first) & ((1 << MAC_BITS) - 1)
    }

    fn work_id(&self, template: usize, extranonce: u32, worker: &str) -> u64 {
        ((template as u64) << (EXTRANONCE_BITS + MAC_BITS))
            | (u64::from(extranonce) << MAC_BITS)
            | self.mac(template, extranonce, worker)
    }

    /// The template and extranonce work `id` was issued for to `worker` in this
    /// epoch; None for any other id.
    fn open(&self, id: u64, worker: &str) -> Option<(usize, u32)> {
        if id >> (TEMPLATE_BITS + EXTRANONCE_BITS + MAC_BITS) != 0 {
            return None;
        }
        let template = (id >> (EXTRANONCE_BITS + MAC_BITS)) as usize;
        let extranonce = ((id >> MAC_BITS) & ((1 << EXTRANONCE_BITS) - 1)) as u32;
        (template < self.templates.len()
            && id & ((1 << MAC_BITS) - 1) == self.mac(template, extranonce, worker))
        .then_some((template, extranonce))
    }

    fn record<T>(&mut self, worker: &str, result: &Result<T, SubmitError>, now: u64) {
        match self.workers.get_mut(worker) {
            Some(w) => {
                w.stats.last_seen_ms = now;
                w.stats.count(result);
            }
            None => self.untracked.count(result),
        }
    }
}

/// Hands out and checks remote work.
#[derive(Debug)]
pub struct WorkManager {
    book: Mutex<WorkBook>,
}

impl Default for WorkManager {
    fn default() -> WorkManager {
        WorkManager {
            book: Mutex::new(WorkBook::new()),
        }
    }
}

impl WorkManager {
    fn lock(&self) -> std::sync::MutexGuard<'_, WorkBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// New work for `worker`, paying `coinbase`.
    pub fn get_work(
        &self,
        node: &Node,
        worker: &str,
        coinbase: Address,
        hashrate: f64,
    ) -> Result<Work, WorkError> {
        let now = now_ms();
        // One lock for the whole call: the tip is read under it, so the tables never
        // go back to an older tip than one already seen.
        let mut s = self.lock();
        let tip = node.tip().id;
        if s.tip != Some(tip) {
            s.start_epoch(tip);
        }
        if s.wants_body(now) {
            let parts = node.template_body();

            s.body_built_ms = now;
            // The tip may have moved since it was read: the body is the newer one.
            if s.tip != Some(parts.header.prev) {
                s.start_epoch(parts.header.prev);
            }
            s.add_body(parts);
        }
        let t = s.template_for(coinbase)?;
        let extranonce = s.extranonce_for(worker, now, hashrate);
        let template = s.templates[t];
        Ok(Work {
            id: s.work_id(t, extranonce, worker),
            header: s.header(&template),
            txs: s.bodies[template.body].parts.transfers.len() + 1,
            worker: worker.to_string(),
            range: NonceRange::for_extranonce(extranonce, EXTRANONCE_BITS),
            extranonce,
        })
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
        self.lock().record(worker, &result, now_ms());
        result
    }

    fn check_and_submit(
        &self,
        node: &Node,
        worker: &str,
        id: u64,
        nonce: u64,
    ) -> Result<(BlockId, u64), SubmitError> {
        let tip = node.tip().id;
        let (mut header, body, recipient, extranonce) = {
            let s = self.lock();
            // The tables hold the templates of the tip they last saw: if the node
            // has moved on since, every work id they could name is stale.
            if s.tip != Some(tip) {
                debug!(target: "mining", id, worker, "work of an earlier tip");
                return Err(SubmitError::Stale);
            }
            let Some((t, extranonce)) = s.open(id, worker) else {
                debug!(target: "mining", id, worker, epoch = s.epoch, "work id not issued to this worker on this tip");
                return Err(SubmitError::Stale);
            };
            let template = s.templates[t];
            (
                s.header(&template),
                s.bodies[template.body].clone(),
                template.coinbase,
                extranonce,
            )
        };
        let range = NonceRange::for_extranonce(extranonce, EXTRANONCE_BITS);
        if nonce < range.start || nonce >= range.end {
            return Err(SubmitError::OutOfRange);
        }
        // Proof of work before anything else: junk nonces cost one hash.
        header.nonce = nonce;
        let target = header
            .target
            .to_target()
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        if !target.is_met_by(&header.pow_hash()) {
            return Err(SubmitError::LowDifficulty);
        }
        let mut txs = Vec::with_capacity(body.parts.transfers.len() + 1);
        txs.push(body.parts.coinbase_for(recipient));
        txs.extend(body.parts.transfers.iter().cloned());
        let block = Block { header, txs };
        let (bid, height) = (block.id(), block.header.height);
        match node.submit_block(block, BlockSource::Rpc) {
            Ok(SubmitOutcome::NewTip(_)) => Ok((bid, height)),
            // The chain remembers every block it stored: a second submission of the
            // same solution is told apart with no memory here.
            Ok(SubmitOutcome::Duplicate) => Err(SubmitError::Duplicate),
            Ok(outcome) => {
                debug!(target: "mining", %bid, ?outcome, "remote block did not become the tip");
                Err(SubmitError::Stale)
            }
            Err(ChainError::Store(e)) => Err(SubmitError::Invalid(e.to_string())),
            Err(e) => Err(SubmitError::Invalid(e.to_string())),
        }
    }

    /// Every tracked worker's statistics, by name.
    pub fn workers(&self) -> Vec<(String, WorkerStats)> {
        let s = self.lock();
        let mut v: Vec<_> = s
            .workers
            .iter()
            .map(|(k, w)| (k.clone(), w.stats.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Statistics of the names the table had no room for, together.
    pub fn untracked(&self) -> WorkerStats {
        self.lock().untracked.clone()
    }
}

#[cfg(test)]
mod tests;
