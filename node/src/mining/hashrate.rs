//! Hashrate estimates: the network's, from recent block times and targets, and the
//! built-in miner's, from its hash counter.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::node::Node;

/// A cumulative work or target work as a float (for display).
pub(crate) fn work_to_f64(w: &cairn_core::Work) -> f64 {
    w.to_be_bytes()
        .iter()
        .fold(0.0, |acc, b| acc * 256.0 + f64::from(*b))
}

/// Network hashrate: expected hashes per block over the mean block time of the
/// last 60 blocks.
pub(crate) fn network_hashrate(node: &Node) -> f64 {
    let tip = node.tip();
    // The genesis timestamp is set by hand, long before the first block.
    let start = tip.height.saturating_sub(60).max(1);
    let back = tip.height.saturating_sub(start);
    if back == 0 {
        return 0.0;
    }
    let snapshot = node.reader().snapshot();
    let first = snapshot
        .block_id_at(start)
        .ok()
        .flatten()
        .and_then(|id| snapshot.header(&id).ok().flatten())
        .map_or(tip.header.timestamp_ms, |h| h.timestamp_ms);
    let secs = tip.header.timestamp_ms.saturating_sub(first) as f64 / 1_000.0;
    let per_block = tip
        .header
        .target
        .to_target()
        .map_or(0.0, |t| work_to_f64(&t.work()));
    if secs > 0.0 {
        per_block * back as f64 / secs
    } else {
        0.0
    }
}

/// The built-in miner's hashrate, sampled at most once a second.
pub(crate) fn local_hashrate(
    hashes: Option<&AtomicU64>,
    sample: &Mutex<(Instant, u64, f64)>,
) -> f64 {
    hashes.map_or(0.0, |h| {
        let now = std::time::Instant::now();
        let total = h.load(std::sync::atomic::Ordering::Relaxed);
        let mut s = sample.lock().unwrap_or_else(|p| p.into_inner());
        let dt = now.duration_since(s.0).as_secs_f64();
        if dt >= 1.0 {
            s.2 = total.saturating_sub(s.1) as f64 / dt;
            *s = (now, total, s.2);
        }
        s.2
    })
}
