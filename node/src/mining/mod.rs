//! Built-in mining: block templates from the tip and the mempool, searched with the
//! miner crate's kernel on a thread pool of its own, restarted the moment the tip
//! changes.

pub mod hashrate;
pub mod work;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::header::{HEADER_LEN, HEADER_VERSION};
use cairn_core::tx::{COINBASE_FIXED_LEN, COINBASE_OUTPUT_LEN};
use cairn_core::{Address, Amount, Block, BlockHeader, ChainParams, Coinbase, Hash, Transaction};
use cairn_miner::{Backend, Miner, NonceRange, Template};
use tracing::{debug, info, warn};

use crate::chain::ChainView;
use crate::mempool::Mempool;
use crate::node::{BlockSource, Node};

/// Nonces searched per template slice before looking at the mempool again.
const SLICE: u64 = 1 << 26;
/// Longest a template is kept while transfers keep arriving.
const TEMPLATE_REFRESH: Duration = Duration::from_millis(1_000);
/// How often a miner paused behind a heavier chain looks again.
const BEHIND_POLL: Duration = Duration::from_millis(100);
/// Longest pause while the tip does not move towards the heavier chain.
const MAX_STALLED_PAUSE: Duration = Duration::from_secs(60);

/// What the built-in miner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiningConfig {
    /// Who the coinbase pays.
    pub coinbase: Address,
    /// Search threads.
    pub threads: usize,
    /// Kernel backend.
    pub backend: Backend,
    /// Measure the kernel against blake3 once, in the background, after start.
    pub self_test: bool,
}

/// What the built-in miner runs on, for `mining_getInfo` and the explorer.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalMiner {
    /// The kernel backend.
    pub backend: Backend,
    /// Search threads.
    pub threads: usize,
    /// The kernel against blake3 on one thread, once the self-test has run.
    pub self_test: Option<cairn_miner::bench::SelfTest>,
}

/// Length of each of the self-test's two measurements.
const SELF_TEST_SPAN: Duration = Duration::from_millis(300);
/// Wait after start before the self-test, so it does not compete with start-up.
const SELF_TEST_DELAY: Duration = Duration::from_secs(2);

/// A template before its coinbase's recipient is chosen: what every template of one
/// tip and one mempool selection shares (remote work derives one per coinbase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateBody {
    /// The header, `tx_root` still zero and nonce 0.
    pub header: BlockHeader,
    /// The network's chain id, for the coinbase.
    pub chain_id: u32,
    /// What the coinbase pays in all: subsidy plus fees.
    pub reward: Amount,
    /// The transfers after the coinbase.
    pub transfers: Vec<Transaction>,
}

impl TemplateBody {
    /// The coinbase transaction paying the whole reward to `recipient`.
    pub fn coinbase_for(&self, recipient: Address) -> Transaction {
        Transaction::Coinbase(Coinbase::single(
            self.chain_id,
            self.header.height,
            recipient,
            self.reward,
        ))
    }

    /// The block paying `recipient`, with its tx root.
    pub fn into_block(self, recipient: Address) -> Block {
        let mut txs = Vec::with_capacity(self.transfers.len() + 1);
        txs.push(self.coinbase_for(recipient));
        txs.extend(self.transfers);
        let mut block = Block {
            header: self.header,
            txs,
        };
        block.header.tx_root = block.compute_tx_root();
        block
    }
}

/// The parts of the next template: header fields from the tip, the best-paying
/// transfers that fit beside a coinbase of `coinbase_outputs` outputs (none without a
/// mempool).
pub fn build_body(
    params: &ChainParams,
    view: &ChainView,
    mempool: Option<&Mempool>,
    now_ms: u64,
    coinbase_outputs: usize,
) -> TemplateBody {
    let tip = &view.tip;
    let timestamp_ms = now_ms.max(view.median_time_ms + 1);
    let target = view.next_target;
    let coinbase_len = COINBASE_FIXED_LEN + COINBASE_OUTPUT_LEN * coinbase_outputs.max(1);
    let room = params
        .max_block_bytes()
        .saturating_sub(HEADER_LEN + 4 + coinbase_len);
    let transfers = mempool.map(|m| m.select(room)).unwrap_or_default();
    let fees = transfers
        .iter()
        .fold(Amount::ZERO, |acc, t| acc.checked_add(t.fee).unwrap_or(acc));
    let height = tip.height + 1;
    TemplateBody {
        header: BlockHeader {
            version: HEADER_VERSION,
            height,
            prev: tip.id,
            tx_root: Hash::ZERO,
            timestamp_ms,
            target,
            nonce: 0,
        },
        chain_id: params.chain_id(),
        reward: params
            .subsidy(height)
            .checked_add(fees)
            .unwrap_or(Amount(u64::MAX)),
        transfers: transfers.into_iter().map(Transaction::Transfer).collect(),
    }
}

/// Searches the whole nonce range of `block` with `miner`; true when its nonce now
/// meets the target (false if cancelled, exhausted or the target is malformed).
pub fn solve(miner: &Miner, block: &mut Block, cancel: &AtomicBool) -> bool {
    let Ok(template) = Template::from_header(&block.header) else {
        return false;
    };
    match miner
        .search(&template, NonceRange::FULL, cancel, None)
        .solution
    {
        Some(s) => {
            block.header.nonce = s.nonce;
            true
        }
        None => false,
    }
}

/// The mining loop: runs until the node shuts down.
pub fn run(node: Arc<Node>, config: MiningConfig, hashes: Arc<AtomicU64>) {
    let miner = match Miner::new(config.threads, config.backend) {
        Ok(m) => m,
        Err(e) => {
            warn!(target: "mining", "cannot start the miner: {e}");
            return;
        }
    };
    // Below verification: a node that mines on every core still imports blocks.
    miner.on_each_thread(|| {
        if let Err(e) = crate::priority::lower_current_thread(crate::priority::MINE_NICE) {
            debug!(target: "mining", error = %e, "mining thread keeps its priority");
        }
    });
    info!(target: "mining", threads = miner.threads(), backend = %config.backend, coinbase = %config.coinbase, "mining");
    node.set_local_miner(LocalMiner {
        backend: config.backend,
        threads: miner.threads(),
        self_test: None,
    });
    if config.self_test {
        spawn_self_test(node.clone(), config.backend);
    }
    let cancel = node.miner_cancel();
    // While behind: since when the tip has not moved, and that tip.
    let mut paused: Option<(Instant, cairn_core::BlockId)> = None;
    // Set when a pause ran out; cleared once sync no longer holds a heavier chain.
    let mut pause_expired = false;
    while !node.is_shutting_down() {
        cancel.store(false, Ordering::SeqCst);
        // A shutdown requested just before the reset above must not be lost.
        if node.is_shutting_down() {
            break;
        }
        if node.is_behind() && !pause_expired {
            // Paused while the tip moves (sync importing the heavier chain). A heavier
            // chain whose blocks never come (bodies withheld) stops mining for at most
            // MAX_STALLED_PAUSE: then it mines on until sync no longer holds it.
            let tip = node.tip().id;
            let (since, at) = paused.get_or_insert_with(|| {
                info!(target: "mining", "paused while the node catches up with a heavier chain");
                (Instant::now(), tip)
            });
            if *at != tip {
                (*since, *at) = (Instant::now(), tip);
            }
            if since.elapsed() < MAX_STALLED_PAUSE {
                std::thread::sleep(BEHIND_POLL);
                continue;
            }
            warn!(target: "mining", "the heavier chain's blocks do not come: mining on");
            pause_expired = true;
        } else if !node.is_behind() {
            pause_expired = false;
            if paused.take().is_some() {
                info!(target: "mining", "caught up: mining again");
            }
        }
        node.take_mempool_changed();
        let mut block = node.block_template(config.coinbase);
        let Ok(template) = Template::from_header(&block.header) else {
            warn!(target: "mining", "template with a bad target");
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let started = Instant::now();
        let mut slice = 0u64;
        let solution = loop {
            let range = NonceRange {
                start: slice * SLICE,
                end: (slice + 1) * SLICE,
            };
            let r = miner.search(&template, range, &cancel, Some(&hashes));
            if r.solution.is_some() || cancel.load(Ordering::Relaxed) {
                break r.solution;
            }
            slice += 1;
            if node.is_shutting_down() {
                break None;
            }
            if node.mempool_changed() && started.elapsed() >= TEMPLATE_REFRESH {
                break None;
            }
            if slice
                .checked_mul(SLICE)
                .is_none_or(|s| s >= u64::MAX - SLICE)
            {
                break None;
            }
        };
        let Some(solution) = solution else { continue };
        block.header.nonce = solution.nonce;
        let id = block.id();
        match node.submit_block(block, BlockSource::Miner) {
            Ok(outcome) => debug!(target: "mining", %id, ?outcome, "mined block submitted"),
            Err(e) => warn!(target: "mining", %id, "own block rejected: {e}"),
        }
    }
    info!(target: "mining", "miner stopped");
}

/// Measures the kernel against blake3 on a background thread at the miner's priority
/// (it never delays the RPC or the import) and records the result.
fn spawn_self_test(node: Arc<Node>, backend: Backend) {
    let spawned = std::thread::Builder::new()
        .name("miner-self-test".into())
        .spawn(move || {
            let _ = crate::priority::lower_current_thread(crate::priority::MINE_NICE);
            std::thread::sleep(SELF_TEST_DELAY);
            match cairn_miner::bench::self_test(backend, SELF_TEST_SPAN) {
                Ok(t) => {
                    info!(target: "mining", %backend, ratio = format!("{:.2}", t.ratio()), "kernel self-test: hashes per second against blake3's own rate, one thread");
                    node.record_self_test(t);
                }
                Err(e) => warn!(target: "mining", "kernel self-test failed: {e}"),
            }
        });
    if let Err(e) = spawned {
        warn!(target: "mining", "cannot start the kernel self-test: {e}");
    }
}

/// Shared flag plumbing used by [`Node`] to stop or restart the miner.
#[derive(Debug, Default)]
pub(crate) struct MinerSignals {
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) mempool_changed: AtomicBool,
    /// Sync holds a validated header chain with more work than the tip: blocks
    /// mined now would build on a tip about to be replaced.
    pub(crate) behind: AtomicBool,
}
