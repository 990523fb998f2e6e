//! A block's (and a transfer's) way in from the network and out again.
//!
//! In: gossip reaches [`NodeAccess`] (the network's [`ChainAccess`]), whose admission
//! policy decides what is worth importing (proof of work first, known and invalid
//! blocks, stale side branches) and how a failure reflects on the sender; what
//! passes goes to [`Node::submit_block`] and on to the chain. Out: [`announce`]
//! gossips what this node produced itself (blocks and transfers from peers are
//! forwarded by gossipsub once validated here). The path reads network → import →
//! node → chain → store.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::compact::CompactBlock;
use cairn_core::validation::RejectReason;
use cairn_core::wire::MAX_TX_INDEXES;
use cairn_core::{Block, BlockHeader, BlockId, Encode, Transaction, Transfer, TxId};
use libp2p::PeerId;
use tracing::{debug, warn};

use crate::Node;
use crate::chain::{ChainError, HeaderError, Known, SubmitOutcome};
use crate::mempool::MempoolError;
use crate::network::{ChainAccess, ChainStatus, Client, CompactOutcome, PeerStore, Verdict};
use crate::node::{BlockSource, NodeEvent, TxSource};
use crate::store::BanStore;

/// How far below the tip a gossiped block may fork and still be stored: deeper
/// branches come through headers-first sync, which only fetches heavier ones.
pub const MAX_GOSSIP_FORK_DEPTH: u64 = 6;

/// Transfers that reached this node within this long are sent whole in the compact
/// blocks it announces: its peers are the likeliest to lack them.
pub const PREFILL_WINDOW: Duration = Duration::from_secs(1);
/// Most bytes of prefilled transfers in one compact block (about 110 transfers).
pub const PREFILL_BUDGET: usize = 16 * 1024;
/// Most arrivals remembered for prefilling (a full second of a busy node).
const MAX_RECENT: usize = 20_000;

/// The transfers that reached this node lately, oldest first.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<(Instant, TxId)>,
    ids: HashSet<TxId>,
}

impl Recent {
    fn add(&mut self, id: TxId, now: Instant) {
        self.expire(now);
        if self.order.len() >= MAX_RECENT
            && let Some((_, old)) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        if self.ids.insert(id) {
            self.order.push_back((now, id));
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, id)) = self.order.front().copied() {
            if now.duration_since(t) <= PREFILL_WINDOW {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&id);
        }
    }
}

/// Gossips what this node produced: blocks it mined or was given over RPC (as
/// compact blocks, prefilled with the transfers that reached it within
/// [`PREFILL_WINDOW`], unless compact relay is off), and transfers its users sent.
/// Blocks and transfers from peers are forwarded by gossipsub itself once validated.
pub async fn announce(node: Arc<Node>, client: Client) {
    let mut events = node.subscribe();
    let mut recent = Recent::default();
    loop {
        match events.recv().await {
            Ok(NodeEvent::TipChanged { bodies, source, .. }) => {
                if matches!(
                    source,
                    BlockSource::Miner | BlockSource::Rpc | BlockSource::Pool
                ) {
                    recent.expire(Instant::now());
                    if !client.compact_blocks() {
                        bodies.into_iter().for_each(|b| client.publish_block(b));
                        continue;
                    }
                    // Hashing every transfer of a full block takes milliseconds: off the
                    // runtime, with the prefill set as it is now.
                    let prefill = recent.ids.clone();
                    let built = tokio::task::spawn_blocking(move || {
                        bodies
                            .iter()
                            .map(|b| {
                                CompactBlock::new(b, |id| prefill.contains(id), PREFILL_BUDGET)
                            })
                            .collect::<Vec<_>>()
                    })
                    .await;
                    for compact in built.unwrap_or_default() {
                        client.publish_compact(Arc::new(compact));
                    }
                }
            }
            Ok(NodeEvent::TransferAdded { tx, source }) => {
                recent.add(tx.id(), Instant::now());
                if source == TxSource::Local {
                    client.publish_transfer(tx);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                warn!(target: "net", "relay fell behind; {n} events not gossiped");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The chain side of the network: the node behind the [`ChainAccess`] trait.
#[derive(Debug)]
pub struct NodeAccess {
    node: Arc<Node>,
}

impl NodeAccess {
    /// Wraps a node.
    pub fn new(node: Arc<Node>) -> NodeAccess {
        NodeAccess { node }
    }
}

/// Transfer rules that no change of state can make pass: breaking them is the
/// sender's fault.
fn transfer_is_malformed(reason: &RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::Malformed(_)
            | RejectReason::WrongChainId { .. }
            | RejectReason::EmptyTransfer { .. }
            | RejectReason::AmountOverflow { .. }
            | RejectReason::BadSignature { .. }
    )
}

impl NodeAccess {
    /// The verdict on a gossiped block that its header alone decides (no proof of
    /// work, known, invalid, unconnected, a stale side branch); `None` when the block
    /// is worth validating.
    fn judge_header(&self, header: &BlockHeader) -> Option<Verdict> {
        let id = header.id();
        // Proof of work first: nothing else is worth doing for a block without it.
        if let Err(reason) =
            cairn_core::validation::validate_header_standalone(header, self.node.params())
        {
            return Some(Verdict::Reject(format!("block {id}: {reason}")));
        }
        let (this, parent, tip_height) = self
            .node
            .with_chain(|c| (c.known(&id), c.known(&header.prev), c.tip().height));
        match (this, parent) {
            (Known::Stored { .. }, _) => Some(Verdict::Ignore),
            // Peers forward only blocks that became their tip, after every rule
            // (state included): an invalid one is the sender's fault.
            (Known::Invalid, _) => Some(Verdict::Reject(format!("block {id} is invalid"))),
            (_, Known::Invalid) => Some(Verdict::Reject(format!(
                "block {id} extends an invalid block"
            ))),
            (_, Known::Unknown) => Some(Verdict::Unconnected),
            (_, Known::Stored { height, .. }) => {
                if height.saturating_add(MAX_GOSSIP_FORK_DEPTH) < tip_height {
                    debug!(target: "net", %id, height = height + 1, "stale side-branch block ignored");
                    return Some(Verdict::Ignore);
                }
                // Every header rule in its parent's context (difficulty, height, time)
                // before anything is fetched or rebuilt for it: a header mined at the
                // easiest target must not cost a round trip.
                let now = crate::node::now_ms();
                let params = self.node.params();
                let checked = self.node.with_chain(|c| {
                    c.header_cursor(&header.prev, now)
                        .map(|mut cursor| cursor.advance(header, params, 0))
                });
                match checked {
                    Some(Err(HeaderError::Invalid {
                        reason: RejectReason::TimestampTooFarInFuture { .. },
                        ..
                    })) => Some(Verdict::Ignore),
                    Some(Err(e)) => Some(Verdict::Reject(format!("block {id}: {e}"))),
                    _ => None,
                }
            }
        }
    }

    /// Submits a block whose header [`judge_header`](Self::judge_header) passed, and
    /// says how its sender did.
    fn submit(&self, block: Block, from: PeerId) -> Verdict {
        match self
            .node
            .submit_block(block, BlockSource::Peer(from.to_string()))
        {
            // Only blocks that became our tip are passed on (as Bitcoin announces only
            // tips); a side block is kept but not forwarded.
            Ok(SubmitOutcome::NewTip(_)) => Verdict::Accept,
            Ok(_) => Verdict::Ignore,
            // Clocks differ: a block from the future is not proof of malice.
            Err(ChainError::Rejected {
                reason: RejectReason::TimestampTooFarInFuture { .. },
                ..
            })
            | Err(ChainError::Store(_)) => Verdict::Ignore,
            Err(e) => Verdict::Reject(e.to_string()),
        }
    }
}

impl ChainAccess for NodeAccess {
    fn on_block(&self, block: Block, from: PeerId) -> Verdict {
        if let Some(verdict) = self.judge_header(&block.header) {
            return verdict;
        }
        self.submit(block, from)
    }

    fn on_transfer(&self, tx: Transfer, _from: PeerId) -> Verdict {
        match self.node.submit_transfer_from(tx, TxSource::Peer) {
            Ok(_) => Verdict::Accept,
            Err(MempoolError::Invalid(reason)) if transfer_is_malformed(&reason) => {
                Verdict::Reject(reason.to_string())
            }
            Err(_) => Verdict::Ignore,
        }
    }

    fn status(&self) -> ChainStatus {
        let tip = self.node.tip();
        ChainStatus {
            network: self.node.params().network_id(),
            tip: tip.id,
            height: tip.height,
            work: tip.work,
        }
    }

    fn headers_after(&self, locator: &[BlockId], max: usize) -> Vec<BlockHeader> {
        let snapshot = self.node.reader().snapshot();
        snapshot.headers_after(locator, max).unwrap_or_else(|e| {
            warn!(target: "net", "cannot read headers to serve: {e}");
            Vec::new()
        })
    }

    fn on_compact(&self, compact: &CompactBlock, from: PeerId) -> CompactOutcome {
        if let Some(verdict) = self.judge_header(&compact.header) {
            return CompactOutcome::Judged(verdict);
        }
        // More transactions than the largest block can hold: no such block exists
        // (and rebuilding it would allocate for all of them).
        let most = self.node.params().max_block_bytes() / cairn_core::tx::TRANSFER_LEN + 1;
        if compact.tx_count() > most {
            return CompactOutcome::Judged(Verdict::Reject(format!(
                "compact block {} names {} transactions; a block holds at most {most}",
                compact.id(),
                compact.tx_count()
            )));
        }
        // The mempool's ids copied out under its lock (~50 µs for 7 000), their short
        // ids hashed without it (~1.2 ms for 7 000, which transfer admission and RPC
        // reads used to wait for), then the transfers the block names copied out under
        // the lock again. A transfer that left the pool in between is missing here
        // and fetched like any other.
        let ids: Vec<TxId> = self.node.with_mempool(|m| m.ids().copied().collect());
        let index = compact.index(ids);
        let partial = self
            .node
            .with_mempool(|m| compact.rebuild(&index, |id| m.get(id).cloned()));
        let missing = partial.missing().len();
        if missing > MAX_TX_INDEXES {
            return CompactOutcome::Fetch;
        }
        if missing > 0 {
            return CompactOutcome::Missing(Box::new(partial));
        }
        match partial.complete(Vec::new()) {
            Ok(block) => {
                let block_bytes = block.encoded_len();
                CompactOutcome::Rebuilt {
                    // Its header was judged above.
                    verdict: self.submit(block, from),
                    block_bytes,
                }
            }
            // A short-id collision in our mempool: the whole block settles it.
            Err(_) => CompactOutcome::Fetch,
        }
    }

    fn block_transfers(&self, block: &BlockId, indexes: &[u32]) -> Vec<Transfer> {
        let snapshot = self.node.reader().snapshot();
        let Ok(Some(block)) = snapshot.block(block) else {
            return Vec::new();
        };
        let picked: Option<Vec<Transfer>> = indexes
            .iter()
            .map(|i| match block.txs.get(*i as usize) {
                Some(Transaction::Transfer(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        picked.unwrap_or_default()
    }

    fn pending_ids(&self, max: usize) -> Vec<TxId> {
        self.node.with_mempool(|m| m.top_ids(max))
    }

    fn pending_transfers(&self, ids: &[TxId]) -> Vec<Transfer> {
        self.node
            .with_mempool(|m| ids.iter().filter_map(|id| m.get(id).cloned()).collect())
    }

    fn unknown_transfers(&self, ids: &[TxId]) -> Vec<TxId> {
        self.node
            .with_mempool(|m| ids.iter().filter(|id| !m.contains(id)).copied().collect())
    }

    fn blocks(&self, ids: &[BlockId], max_bytes: usize) -> Vec<Block> {
        let snapshot = self.node.reader().snapshot();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for id in ids {
            let Ok(Some(block)) = snapshot.block(id) else {
                break;
            };

            let len = block.encoded_len();
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push(block);
        }
        out
    }
}

/// Bans outlive a restart: the network persists them through the node's ban table.
impl PeerStore for BanStore {
    fn load_bans(&self, now_ms: u64) -> Vec<(PeerId, u64)> {
        self.load(now_ms)
            .into_iter()
            .filter_map(|(p, until)| Some((PeerId::from_bytes(&p).ok()?, until)))
            .collect()
    }

    fn save_ban(&self, peer: &PeerId, until_ms: u64) -> Result<(), String> {
        self.save(&peer.to_bytes(), until_ms)
            .map_err(|e| e.to_string())
    }
}
