//! Parallel nonce search over a rayon pool, cancellable within about a millisecond.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cairn_core::pow::pow_hash;
use cairn_core::{BlockHeader, Hash, Target};
use rayon::prelude::*;

use crate::MinerError;
use crate::kernel::{BATCH, Backend, Kernel, Midstate};

/// Batches a thread scans between looks at the cancel flag: 1024 × 16 nonces, about
/// 0.15 ms at 100 M hashes/s, so a cancelled search returns well within 1 ms.
const CHUNK_BATCHES: u32 = 1024;

/// What to mine: the template's pre-hash and the target to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// `blake3(header without nonce)`.
    pub pre: Hash,
    /// The PoW target.
    pub target: Target,
}

impl Template {
    /// The template of a header (its nonce is ignored).
    pub fn from_header(header: &BlockHeader) -> Result<Template, MinerError> {
        let target = header
            .target
            .to_target()
            .map_err(|_| MinerError::BadTarget(header.target.0))?;
        Ok(Template {
            pre: header.pre_hash(),
            target,
        })
    }
}

/// A half-open range of nonces `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceRange {
    /// First nonce.
    pub start: u64,
    /// One past the last nonce.
    pub end: u64,
}

impl NonceRange {
    /// Every nonce but `u64::MAX`.
    pub const FULL: NonceRange = NonceRange {
        start: 0,
        end: u64::MAX,
    };

    /// The nonces whose top `bits` bits equal `extranonce`: machines given different
    /// extranonces never search the same space. `bits` is clamped to 0..=32 and
    /// `extranonce` to its low `bits` bits.
    pub fn for_extranonce(extranonce: u32, bits: u32) -> NonceRange {
        let bits = bits.min(32);
        if bits == 0 {
            return Self::FULL;
        }
        let e = u64::from(extranonce) & ((1u64 << bits) - 1);
        let shift = 64 - bits;
        let start = e << shift;
        let end = start.saturating_add((1u64 << shift) - 1); // ≤ u64::MAX; last nonce left out
        NonceRange { start, end }
    }

    /// How many nonces it holds.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` contiguous, disjoint parts covering it (the first ones one nonce larger
    /// when it does not divide evenly).
    pub fn split(&self, n: u64) -> Vec<NonceRange> {
        let n = n.max(1);
        let (len, extra) = (self.len() / n, self.len() % n);
        let mut start = self.start;
        (0..n)
            .map(|i| {
                let size = len + u64::from(i < extra);
                let r = NonceRange {
                    start,
                    end: start + size,
                };
                start += size;
                r
            })
            .collect()
    }
}

/// A nonce that meets the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solution {
    /// The winning nonce.
    pub nonce: u64,
    /// Its PoW hash (the block id).
    pub pow: Hash,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchResult {
    /// The solution, if one was found before the range ran out or the search was cancelled.
    pub solution: Option<Solution>,
    /// Nonces tried.
    pub hashes: u64,
}

/// A miner: a kernel and a thread pool of its own (so mining never competes with the
/// node's other rayon work for pool slots).
#[derive(Debug)]
pub struct Miner {
    kernel: Kernel,
    pool: rayon::ThreadPool,
    threads: usize,
}

impl Miner {
    /// A miner on `threads` threads (0: one per logical CPU) with `backend`.
    pub fn new(threads: usize, backend: Backend) -> Result<Miner, MinerError> {
        let kernel = Kernel::new(backend)?;
        let threads = if threads == 0 { num_cpus() } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cairn-miner-{i}"))
            .build()
            .map_err(|e| MinerError::ThreadPool(e.to_string()))?;
        Ok(Miner {
            kernel,
            pool,
            threads,
        })
    }

    /// Runs `f` once on each of the miner's threads (a node uses it to lower their
    /// scheduling priority below its own work).
    pub fn on_each_thread(&self, f: impl Fn() + Sync) {
        self.pool.broadcast(|_| f());
    }

    /// Threads it searches on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Its kernel.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Searches `range` for a nonce meeting `template.target` on every thread, until
    /// one is found, the range is exhausted, or `cancel` becomes true (checked about
    /// every 0.15 ms per thread). `progress`, if given, is increased by the hashes done
    /// as the search goes, for live hashrate displays.
    pub fn search(
        &self,
        template: &Template,
        range: NonceRange,
        cancel: &AtomicBool,
        progress: Option<&AtomicU64>,
    ) -> SearchResult {
        let found = AtomicBool::new(false);
        let parts = range.split(self.threads as u64);
        let ms = Midstate::new(&template.pre);
        let stop = || cancel.load(Ordering::Relaxed) || found.load(Ordering::Relaxed);
        self.pool.install(|| {
            parts
                .par_iter()
                .map(|part| {
                    let r = search_part(&self.kernel, &ms, template, *part, &stop, progress);
                    if r.solution.is_some() {
                        found.store(true, Ordering::Relaxed);
                    }
                    r
                })
                .reduce(
                    || SearchResult {
                        solution: None,
                        hashes: 0,
                    },
                    |a, b| SearchResult {
                        solution: match (a.solution, b.solution) {
                            (Some(x), Some(y)) => Some(if x.nonce <= y.nonce { x } else { y }),
                            (x, y) => x.or(y),
                        },
                        hashes: a.hashes + b.hashes,
                    },
                )
        })
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Checks one nonce in full with the reference hash.
fn check(template: &Template, nonce: u64) -> Option<Solution> {
    let pow = pow_hash(&template.pre, nonce);
    template
        .target
        .is_met_by(&pow)
        .then_some(Solution { nonce, pow })
}

/// One thread's share: unaligned head and tail nonces one by one, the aligned middle
/// through the kernel in chunks, candidates confirmed with the reference hash.
fn search_part(
    kernel: &Kernel,
    ms: &Midstate,
    template: &Template,
    part: NonceRange,
    stop: &(impl Fn() -> bool + Sync),
    progress: Option<&AtomicU64>,
) -> SearchResult {
    let target_hi = template.target.high_word();
    let mut hashes = 0u64;
    let mut n = part.start;
    let done = |hashes: u64, solution: Option<Solution>| SearchResult { solution, hashes };
    let report = |k: u64| {
        if let Some(p) = progress {
            p.fetch_add(k, Ordering::Relaxed);
        }
    };
    // Head: up to the first multiple of BATCH.
    while n < part.end && !n.is_multiple_of(BATCH) {
        hashes += 1;
        report(1);
        if let Some(s) = check(template, n) {
            return done(hashes, Some(s));
        }
        n += 1;
    }
    // Body.
    while part.end - n >= BATCH {
        if stop() {
            return done(hashes, None);
        }
        let batches =
            u32::try_from((part.end - n) / BATCH).map_or(CHUNK_BATCHES, |b| b.min(CHUNK_BATCHES));
        match kernel.scan(ms, n, batches, target_hi) {
            None => {
                let k = u64::from(batches) * BATCH;
                hashes += k;
                report(k);
                n += k;
            }
            Some((base, mask)) => {
                let k = base + BATCH - n;
                hashes += k;
                report(k);
                n = base + BATCH;
                let mut bits = mask;
                while bits != 0 {
                    let i = u64::from(bits.trailing_zeros());
                    if let Some(s) = check(template, base + i) {
                        return done(hashes, Some(s));
                    }
                    bits &= bits - 1;
                }
            }
        }
    }
    // Tail.
    while n < part.end {
        hashes += 1;
        report(1);
        if let Some(s) = check(template, n) {
            return done(hashes, Some(s));
        }
        n += 1;
    }
    done(hashes, None)
}
