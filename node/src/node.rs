//! A node: the chain manager and the mempool, each behind its own lock, the view of
//! the tip they publish for readers, and the signals that drive the built-in miner.
//!
//! Locks: only block import (and sync's header checks) take the chain's lock; a
//! transfer's admission takes only the mempool's; a block import takes the chain's,
//! then the mempool's to let the pool follow the tip (never the other way round).
//! Readers take neither: they read the published [`ChainView`] and the store through
//! a [`StoreReader`] (RocksDB serves reads while a block is written).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::{Address, Amount, Block, BlockHeader, BlockId, ChainParams, Transfer, TxId};
use tracing::{info, warn};

use crate::NodeError;
use crate::chain::{
    Chain, ChainError, ChainView, SubmitOutcome, TipChange, TipInfo, VerifiedTransfers, ViewReader,
};
use crate::mempool::{Mempool, MempoolConfig, MempoolError};
use crate::mining::{LocalMiner, MinerSignals, TemplateBody, build_body};
use crate::store::{BanStore, PoolStore, Store, StoreReader};

/// Where a block came from (for logs and, later, peer scoring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSource {
    /// The built-in miner.
    Miner,
    /// A peer.
    Peer(String),
    /// The RPC (`mining_submitWork`, tests).
    Rpc,
    /// The Stratum pool: a miner's share that met the block target.
    Pool,
}

/// Where a transfer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxSource {
    /// This node's own user (RPC, wallet, dev load).
    Local,
    /// A peer (gossip).
    Peer,
}

/// What happened in the node, for the network relay and subscribers.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// The main chain moved.
    TipChanged {
        /// Headers of the blocks added to the main chain, lowest first. Headers, not
        /// blocks: a subscriber that falls behind keeps its unread events alive, and
        /// with whole blocks that could be gigabytes.
        connected: Vec<BlockHeader>,
        /// The same blocks whole, only when this node produced them (`Miner`, `Rpc`),
        /// for the relay to gossip; empty for blocks from peers.
        bodies: Vec<Arc<Block>>,
        /// Ids of blocks taken off it, tip first.
        disconnected: Vec<cairn_core::BlockId>,
        /// Where the block that moved it came from.
        source: BlockSource,
    },
    /// A transfer entered the mempool.
    TransferAdded {
        /// The transfer.
        tx: Arc<Transfer>,
        /// Where it came from.
        source: TxSource,
    },
}

/// Events buffered per subscriber; a slower one misses the oldest (and is told so).
const EVENT_BUFFER: usize = 4_096;

/// Metrics the node records as blocks arrive.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    /// Seconds to validate and store a block (main or side chain), 1 ms to ~16 s.
    pub block_import_seconds: prometheus_client::metrics::histogram::Histogram,
}

impl Default for NodeMetrics {
    fn default() -> NodeMetrics {
        let buckets = prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15);
        NodeMetrics {
            block_import_seconds: prometheus_client::metrics::histogram::Histogram::new(buckets),
        }
    }
}

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The network.
    pub params: ChainParams,
    /// Data directory (the database is `<datadir>/db`).
    pub datadir: PathBuf,
    /// Mempool policy.
    pub mempool: MempoolConfig,
    /// Free space (bytes) the data directory's file system must keep: below it the
    /// node refuses to open, and a running service stops (0: no floor).
    pub min_free_disk: u64,
    /// The store's memory budget.
    pub store: crate::store::StoreConfig,
}

impl NodeConfig {
    /// The default free-space floor, 256 MiB.
    pub const DEFAULT_MIN_FREE_DISK: u64 = crate::config::DEFAULT_MIN_FREE_DISK_MB * 1024 * 1024;
}

/// The mempool and the tip it was last brought up to date with.
struct Pool {
    mempool: Mempool,
    /// The tip whose state the pool's transfers were checked against.
    tip: BlockId,
}

/// A running node.
pub struct Node {
    /// The writer: block import and sync's header checks.
    chain: Mutex<Chain>,
    pool: Mutex<Pool>,
    view: ViewReader,
    reader: StoreReader,
    bans: BanStore,
    pool_store: PoolStore,
    /// Transfers whose signatures verified (the chain skips them in blocks).
    verified: Arc<VerifiedTransfers>,
    /// The built-in miner's backend, threads and self-test, once it runs.
    local_miner: Mutex<Option<LocalMiner>>,
    /// Transfers and bytes in the mempool, for readers that must not wait for its lock.
    mempool_len: AtomicUsize,
    mempool_bytes: AtomicUsize,
    params: ChainParams,
    datadir: PathBuf,
    min_free_disk: u64,
    metrics: NodeMetrics,
    signals: MinerSignals,
    shutdown: AtomicBool,
    events: tokio::sync::broadcast::Sender<NodeEvent>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("network", &self.params.name())
            .field("datadir", &self.datadir)
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Node {
    /// Opens the store in `config.datadir`, loads the chain (finishing any interrupted
    /// reorganisation) and the saved mempool. The first node of a process also builds
    /// rayon's global pool, where signatures are verified, at a lower priority
    /// ([`crate::priority`]).
    pub fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        // Before anything verifies: the pool's threads yield to readers.
        crate::priority::init_verification_pool();
        std::fs::create_dir_all(&config.datadir)
            .map_err(|e| NodeError::DataDir(config.datadir.clone(), e))?;
        crate::disk::check(&config.datadir, config.min_free_disk)?;
        let store = Arc::new(Store::open_with(
            &config.datadir.join("db"),
            &config.params,
            &config.store,
        )?);
        let bans = BanStore::new(store.clone());
        let pool_store = PoolStore::new(store.clone());
        // The pool's credits move with the chain, in its batches.
        let hooks: crate::chain::BlockHooks = vec![Arc::new(crate::pool::ledger::PoolLedger)];
        let (chain, change) = Chain::open_with(config.params.clone(), store, hooks)?;
        let reader = chain.reader();
        let mut mempool = Mempool::new(config.params.clone(), config.mempool);
        let tip = chain.tip();
        info!(
            target: "node",
            network = config.params.name(),
            height = tip.height,
            tip = %tip.id,
            reconnected = change.connected.len(),
            "chain loaded"
        );
        let path = mempool_path(&config.datadir);
        match mempool.load(&path, &reader, now_ms()) {
            Ok(n) => info!(target: "mempool", restored = n, "mempool loaded"),
            Err(e) => {
                warn!(target: "mempool", "{e}; starting with an empty mempool");
                let _ = std::fs::rename(&path, path.with_extension("corrupt"));
            }
        }
        // Transfers of blocks that a resumed reorganisation took off the main chain.
        if !change.disconnected.is_empty() {
            mempool.update(&reader, &change, now_ms())?;
        }
        let (mempool_len, mempool_bytes) = (mempool.len(), mempool.bytes());
        // Every pending transfer was verified on admission or on loading.
        let verified = chain.verified();
        for id in mempool.ids() {
            verified.insert(*id);
        }
        Ok(Arc::new(Node {
            verified,
            local_miner: Mutex::new(None),
            view: chain.view_reader(),
            chain: Mutex::new(chain),
            pool: Mutex::new(Pool {
                mempool,
                tip: tip.id,
            }),
            reader,
            bans,
            pool_store,
            mempool_len: AtomicUsize::new(mempool_len),
            mempool_bytes: AtomicUsize::new(mempool_bytes),
            params: config.params,
            datadir: config.datadir,
            min_free_disk: config.min_free_disk,
            metrics: NodeMetrics::default(),
            signals: MinerSignals::default(),
            shutdown: AtomicBool::new(false),
            events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
        }))
    }

    // A panic while holding a lock would leave the in-memory view suspect; the store
    // itself is always consistent, so keep going with what is there.
    fn lock_chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_mempool(&self, mempool: &Mempool) {
        self.mempool_len.store(mempool.len(), Ordering::Relaxed);
        self.mempool_bytes.store(mempool.bytes(), Ordering::Relaxed);
    }

    /// The network.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The data directory.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// Metrics recorded as things happen (the rest are read at scrape time).
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// The free-space floor of the data directory, in bytes.
    pub fn min_free_disk(&self) -> u64 {
        self.min_free_disk
    }

    /// The main-chain tip (from the published view: never waits for an import).
    pub fn tip(&self) -> TipInfo {
        self.view.get().tip
    }

    /// The latest published view of the tip.
    pub fn view(&self) -> Arc<ChainView> {
        self.view.get()
    }

    /// The published view, to watch for new tips.
    pub fn view_reader(&self) -> &ViewReader {
        &self.view
    }

    /// Read-only access to the store.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// Transfers and bytes in the mempool (without waiting for its lock).
    pub fn mempool_counts(&self) -> (usize, usize) {
        (
            self.mempool_len.load(Ordering::Relaxed),
            self.mempool_bytes.load(Ordering::Relaxed),
        )
    }

    /// A main-chain block by height.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, ChainError> {
        Ok(self.reader.snapshot().block_at(height)?)
    }

    /// Runs `f` with the chain locked: for the few callers that need the block tree
    /// itself (sync's header checks). Readers use [`Node::view`] and
    /// [`Node::reader`] instead.
    pub fn with_chain<R>(&self, f: impl FnOnce(&Chain) -> R) -> R {
        f(&self.lock_chain())
    }

    /// The nonce `sender`'s next transfer should carry: after its confirmed nonce and
    /// every transfer of its waiting in the mempool.
    pub fn next_nonce(&self, sender: &Address) -> u64 {
        let confirmed = self
            .reader
            .get::<crate::store::schema::Accounts>(sender)
            .ok()
            .flatten()
            .map_or(0, |a| a.nonce);
        self.with_mempool(|m| m.next_nonce(sender, confirmed))
    }

    /// Runs `f` with the mempool locked.
    pub fn with_mempool<R>(&self, f: impl FnOnce(&Mempool) -> R) -> R {
        f(&self.lock_pool().mempool)
    }

    /// Submits a block from any source; on a new tip the mempool follows and the
    /// miner restarts.
    pub fn submit_block(
        &self,
        block: Block,
        source: BlockSource,
    ) -> Result<SubmitOutcome, ChainError> {
        let mut chain = self.lock_chain();
        let now = now_ms();
        let previous = chain.tip();
        let started = std::time::Instant::now();
        let result = chain.submit_block(block, now);
        if let Ok(SubmitOutcome::NewTip(_) | SubmitOutcome::SideChain) = &result {
            self.metrics
                .block_import_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        // The tip can move even when the block is refused (a reorganisation to its
        // branch cut short by an invalid block): follow it either way.
        let taken;
        let change = match &result {
            Ok(SubmitOutcome::NewTip(change)) => change,
            _ => {
                taken = chain.take_change();
                &taken
            }
        };
        if !change.connected.is_empty() || !change.disconnected.is_empty() {
            let tip = chain.tip();
            {
                // Still under the chain's lock, so the pool follows tips in order.
                let mut pool = self.lock_pool();
                if let Err(e) = pool.mempool.update(&self.reader, change, now) {
                    warn!(target: "mempool", "revalidation failed: {e}");
                }
                pool.tip = tip.id;
                self.count_mempool(&pool.mempool);
            }
            drop(chain);
            // After the pool follows, so the next template is built on the new tip.
            self.signals.cancel.store(true, Ordering::SeqCst);
            log_tip_change(&previous, &tip, change, &source);
            if self.events.receiver_count() > 0 {
                let local = matches!(
                    source,
                    BlockSource::Miner | BlockSource::Rpc | BlockSource::Pool
                );
                let _ = self.events.send(NodeEvent::TipChanged {
                    connected: change.connected.iter().map(|b| b.header).collect(),
                    bodies: if local {
                        change.connected.iter().cloned().map(Arc::new).collect()
                    } else {
                        Vec::new()
                    },
                    disconnected: change.disconnected.iter().map(Block::id).collect(),
                    source,
                });
            }
        }
        result
    }

    /// Admits a transfer from this node's user into the mempool.
    pub fn submit_transfer(&self, tx: Transfer) -> Result<TxId, MempoolError> {
        self.submit_transfer_from(tx, TxSource::Local)
    }

    /// Admits a transfer into the mempool.
    pub fn submit_transfer_from(
        &self,
        tx: Transfer,
        source: TxSource,
    ) -> Result<TxId, MempoolError> {
        // The signature (the expensive part) is checked before taking the lock, so
        // transfers arriving on several threads are verified in parallel.
        cairn_core::validation::validate_transfer_stateless(&tx, &self.params)?;
        let announce = (self.events.receiver_count() > 0).then(|| tx.clone());
        let id = {
            let mut pool = self.lock_pool();
            // Account reads under the pool's lock: a block connected meanwhile is
            // followed by an update that re-checks this sender.
            let sender = tx.sender_address();
            let added = pool.mempool.add_prevalidated(tx, &self.reader, now_ms());
            self.count_mempool(&pool.mempool);
            match added {
                // The node's own user is told about rewards still maturing (not a
                // peer: that costs a read per immature block).
                Err(MempoolError::InsufficientFunds {
                    balance, needed, ..
                }) if source == TxSource::Local => {
                    let immature = self
                        .reader
                        .snapshot()
                        .immature(&self.params, &sender)
                        .unwrap_or(Amount::ZERO);
                    return Err(MempoolError::InsufficientFunds {
                        balance,
                        needed,
                        immature,
                    });
                }
                other => other?,
            }
        };
        // Its block will not verify it again.
        self.verified.insert(id);
        self.signals.mempool_changed.store(true, Ordering::SeqCst);
        if let Some(tx) = announce {
            let _ = self.events.send(NodeEvent::TransferAdded {
                tx: Arc::new(tx),
                source,
            });
        }
        Ok(id)
    }

    /// Transfers whose signatures this node verified and no block has used yet.
    pub fn verified(&self) -> &VerifiedTransfers {
        &self.verified
    }

    /// Subscribes to the node's events.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The persisted peer bans.
    pub fn bans(&self) -> &BanStore {
        &self.bans
    }

    /// The pool's persisted books.
    pub fn pool_store(&self) -> PoolStore {
        self.pool_store.clone()
    }

    /// The parts of the next block template: header fields from the published tip,
    /// the best-paying transfers checked against that same tip.
    pub fn template_body(&self) -> TemplateBody {
        self.template_body_with_outputs(1)
    }

    /// [`Node::template_body`] leaving room for a coinbase of `outputs` outputs (a
    /// pool's).
    pub fn template_body_with_outputs(&self, outputs: usize) -> TemplateBody {
        let now = now_ms();
        let pool = self.lock_pool();
        let view = self.view.get();
        // Between a block's write and the pool following it, the pool belongs to the
        // tip before: offer no transfers rather than ones checked against another tip.
        let mempool = (pool.tip == view.tip.id).then_some(&pool.mempool);
        build_body(&self.params, &view, mempool, now, outputs)
    }

    /// A block template paying `coinbase`.
    pub fn block_template(&self, coinbase: Address) -> Block {
        self.template_body().into_block(coinbase)
    }

    /// The flag that cancels the running search.
    pub fn miner_cancel(&self) -> Arc<AtomicBool> {
        self.signals.cancel.clone()
    }

    pub(crate) fn mempool_changed(&self) -> bool {
        self.signals.mempool_changed.load(Ordering::Relaxed)
    }

    pub(crate) fn take_mempool_changed(&self) {
        self.signals.mempool_changed.store(false, Ordering::Relaxed);
    }

    /// What the built-in miner runs on, once it runs.
    pub fn local_miner(&self) -> Option<LocalMiner> {
        self.local_miner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_local_miner(&self, miner: LocalMiner) {
        *self.local_miner.lock().unwrap_or_else(|p| p.into_inner()) = Some(miner);
    }

    pub(crate) fn record_self_test(&self, test: cairn_miner::bench::SelfTest) {
        if let Some(m) = self
            .local_miner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            m.self_test = Some(test);
        }
    }

    /// Whether sync holds validated headers with more work than the tip (never
    /// judged from what peers claim): the built-in miner waits meanwhile.
    pub fn is_behind(&self) -> bool {
        self.signals.behind.load(Ordering::Relaxed)
    }

    /// Sync reports whether it holds validated headers with more work than the tip.
    /// Setting it cancels the search in progress (its tip is about to be replaced).
    pub fn set_behind(&self, behind: bool) {
        if self.signals.behind.swap(behind, Ordering::Relaxed) != behind && behind {
            self.signals.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// Whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Asks the miner and other loops to stop (they check [`Node::is_shutting_down`]).
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.signals.cancel.store(true, Ordering::SeqCst);
    }

    /// Stops the miner and saves the mempool. Join the threads that submit blocks or
    /// transfers between [`Node::request_shutdown`] and this, so nothing arrives after
    /// the save. The store closes when the last reference to the node is dropped.
    pub fn shutdown(&self) {
        self.request_shutdown();
        let pool = self.lock_pool();
        match pool.mempool.save(&mempool_path(&self.datadir)) {
            Ok(()) => info!(target: "node", txs = pool.mempool.len(), "mempool saved"),
            Err(e) => warn!(target: "node", "cannot save the mempool: {e}"),
        }
    }
}

fn mempool_path(datadir: &Path) -> PathBuf {
    datadir.join("mempool.dat")
}

fn log_tip_change(previous: &TipInfo, tip: &TipInfo, change: &TipChange, source: &BlockSource) {
    if !change.disconnected.is_empty() {
        info!(
            target: "chain",
            from = %previous.id,
            to = %tip.id,
            disconnected = change.disconnected.len(),
            connected = change.connected.len(),
            "reorganisation"
        );
    }
    if let Some(last) = change.connected.last() {
        let since = last
            .header
            .timestamp_ms
            .saturating_sub(previous.header.timestamp_ms);
        info!(
            target: "chain",
            "new tip height={} id={} txs={} since_last={:.3}s source={:?}",
            tip.height,
            tip.id,
            last.txs.len(),
            since as f64 / 1000.0,
            source
        );
    }
}
