//! The body download: the queued headers' blocks, in chunks, from every peer that
//! claims them, a bounded window ahead of the import; then the import, in order, on a
//! blocking thread.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_core::{Block, BlockId, RejectReason};
use libp2p::PeerId;
use tracing::{debug, warn};

use crate::chain::{ChainError, TipInfo};
use crate::network::{NetworkError, SyncRequest, SyncResponse};
use crate::node::BlockSource;
use crate::sync::manager::{BAN, Outcome, SyncManager};
use crate::sync::{SyncChain, SyncNetwork};

/// Most blocks handed to one import.
const IMPORT_BATCH: usize = 64;

/// Where a queued header's block is.
#[derive(Debug)]
pub(super) enum Slot {
    Wanted,
    InFlight(PeerId),
    Got(Block),
}

pub(super) struct ImportResult {
    imported: usize,
    failure: Option<(BlockId, ChainError)>,
    /// The queue generation and header peer the blocks came from.
    generation: u64,
    peer: Option<PeerId>,
}

impl<N: SyncNetwork, C: SyncChain> SyncManager<N, C> {
    /// Asks for the wanted blocks within the window, in runs of up to `chunk`, each
    /// from the least-loaded peer that claims it.
    pub(super) fn request_blocks(&mut self, tip: &TipInfo) {
        // Bodies only for a header chain with more work than ours.
        if self.cursor.as_ref().is_none_or(|c| c.work <= tip.work) {
            return;
        }
        // Runs of wanted blocks, each with its last block's height.
        let mut runs: Vec<(Vec<BlockId>, u64)> = Vec::new();
        let mut run = Vec::new();
        let mut run_height = 0;
        for &(id, height) in self.order.iter().take(self.config.window) {
            if matches!(self.slots.get(&id), Some(Slot::Wanted)) {
                run.push(id);
                run_height = height;
                if run.len() == self.config.chunk {
                    runs.push((std::mem::take(&mut run), run_height));
                }
            } else if !run.is_empty() {
                runs.push((std::mem::take(&mut run), run_height));
            }
        }
        if !run.is_empty() {
            runs.push((run, run_height));
        }
        let mut busy: HashSet<PeerId> = HashSet::new();
        for (ids, last_height) in runs {
            let Some(peer) = self.pick_body_peer(last_height, &busy) else {
                break;
            };
            for id in &ids {
                self.slots.insert(*id, Slot::InFlight(peer));
            }
            if let Some(p) = self.peers.get_mut(&peer) {
                p.inflight += 1;
                if !p.has_body_room(self.config.per_peer) {
                    busy.insert(peer);
                }
            }
            self.spawn_request(peer, SyncRequest::Blocks { ids });
        }
    }

    /// The least-loaded peer that claims the height, preferring those that have not
    /// come back empty-handed.
    fn pick_body_peer(&self, height: u64, busy: &HashSet<PeerId>) -> Option<PeerId> {
        self.peers
            .iter()
            .filter(|(id, p)| {
                !busy.contains(id)
                    && p.has_body_room(self.config.per_peer)
                    && p.status.is_some_and(|s| s.height >= height)
            })
            .min_by_key(|(id, p)| (p.lacking && Some(**id) != self.header_peer, p.inflight))
            .map(|(id, _)| *id)
    }

    pub(super) fn on_blocks_outcome(
        &mut self,
        peer: PeerId,
        ids: Vec<BlockId>,
        r: Result<SyncResponse, NetworkError>,
        bad: Option<BlockId>,
    ) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.inflight = p.inflight.saturating_sub(1);
        }
        if let Some(id) = bad {
            self.release(&ids, peer);
            return self.penalize(peer, BAN, format!("block {id} does not match its header"));
        }
        match r {
            Ok(SyncResponse::Blocks(blocks)) => self.on_blocks(peer, &ids, blocks),
            Err(e) => {
                self.release(&ids, peer);
                // Ask others first for what it did not deliver.
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.lacking = true;
                }
                self.on_failure(peer, "blocks", &e);
            }
            Ok(_) => {
                self.release(&ids, peer);
                self.penalize(peer, BAN, "wrong response to a blocks request".into());
            }
        }
    }

    /// Makes the blocks `peer` was asked for wanted again (those still in flight at
    /// it: another peer may have delivered them meanwhile).
    fn release(&mut self, ids: &[BlockId], peer: PeerId) {
        for id in ids {
            if let Some(slot) = self.slots.get_mut(id)
                && matches!(slot, Slot::InFlight(p) if *p == peer)
            {
                *slot = Slot::Wanted;
            }
        }
    }

    fn on_blocks(&mut self, peer: PeerId, ids: &[BlockId], blocks: Vec<Block>) {
        if blocks.len() > ids.len() {
            self.release(ids, peer);
            return self.penalize(peer, BAN, "more blocks than asked".into());
        }
        let got = blocks.len();
        // Already checked against the ids and merkle roots (`first_mismatch`).
        for (block, id) in blocks.into_iter().zip(ids) {
            if let Some(slot) = self.slots.get_mut(id)
                && !matches!(slot, Slot::Got(_))
            {
                *slot = Slot::Got(block);
            }
        }
        if got < ids.len() {
            self.release(&ids[got..], peer);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.lacking = true;
            }
        }
    }

    /// Hands the downloaded blocks at the front of the queue to a blocking thread, if
    /// no import is running.
    pub(super) fn import(&mut self) {
        if self.importing {
            return;
        }
        let mut batch = Vec::new();
        while let Some(&(id, _)) = self.order.front() {
            if !matches!(self.slots.get(&id), Some(Slot::Got(_))) || batch.len() >= IMPORT_BATCH {
                break;
            }
            self.order.pop_front();
            if let Some(Slot::Got(block)) = self.slots.remove(&id) {
                batch.push(block);
            }
        }
        if batch.is_empty() {
            return;
        }
        self.importing = true;
        let chain = self.chain.clone();
        let (generation, peer) = (self.generation, self.header_peer);
        let source = BlockSource::Peer(peer.map_or_else(|| "sync".to_string(), |p| p.to_string()));
        self.tasks.push(Box::pin(async move {
            let r =
                tokio::task::spawn_blocking(move || import_blocks(&chain, batch, &source)).await;
            let (imported, failure) = r.unwrap_or((0, None));
            Outcome::Imported(ImportResult {
                imported,
                failure,
                generation,
                peer,
            })
        }));
    }

    pub(super) fn on_imported(&mut self, r: ImportResult) {
        self.importing = false;
        self.progress.imported(r.imported);
        let current = r.generation == self.generation;
        if let Some((id, e)) = r.failure {
            match &e {
                ChainError::Store(_) => warn!(target: "sync", "import stopped: {e}"),
                ChainError::Rejected {
                    reason: RejectReason::TimestampTooFarInFuture { .. },
                    ..
                } => debug!(target: "sync", %id, "block from the future; will retry"),
                _ => {
                    warn!(target: "sync", %id, "synced block is invalid: {e}");
                    if let Some(peer) = r.peer {
                        self.penalize(peer, BAN, format!("served an invalid chain: {e}"));
                    }
                }
            }
            if current {
                self.reset_queue();
            }
        }
    }
}

/// The first asked id whose block is not the one asked for (the id covers the
/// header) or whose transactions do not hash to its merkle root.
pub(super) fn first_mismatch(blocks: &[Block], asked: &[BlockId]) -> Option<BlockId> {
    blocks
        .iter()
        .zip(asked)
        .find(|(b, id)| b.id() != **id || b.compute_tx_root() != b.header.tx_root)
        .map(|(_, id)| *id)
}

/// Imports `blocks` in order; stops at the first failure.
fn import_blocks<C: SyncChain>(
    chain: &Arc<C>,
    blocks: Vec<Block>,
    source: &BlockSource,
) -> (usize, Option<(BlockId, ChainError)>) {
    let mut imported = 0;
    for block in blocks {
        let id = block.id();
        match chain.submit_block(block, source.clone()) {
            Ok(()) => imported += 1,
            Err(e) => return (imported, Some((id, e))),
        }
    }
    (imported, None)
}
