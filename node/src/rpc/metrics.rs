//! Prometheus metrics on `GET /metrics` (OpenMetrics text, via prometheus-client).
//!
//! Most values are read from the node when scraped, so nothing on the hot paths
//! pays for them; the block-import histogram is the one thing recorded as it
//! happens ([`crate::node::NodeMetrics`]).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::mining::hashrate::{local_hashrate, network_hashrate, work_to_f64};
use crate::rpc::RpcContext;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Info {
    version: String,
    network: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Worker {
    worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rejection {
    worker: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolWorker {
    address: String,
    worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// The Stratum pool's counts: per worker (address and name) and per refusal reason.
fn pool_metrics(r: &mut Registry, stats: &crate::pool::PoolStats) {
    gauge(
        r,
        "pool_sessions",
        "Open Stratum sessions",
        int(stats.sessions as u64),
    );
    counter(
        r,
        "pool_blocks",
        "Blocks the pool found since start",
        stats.blocks,
    );
    gauge_f64(
        r,
        "pool_hashrate",
        "The pool's hashes per second from its shares (last minute)",
        stats.hashrate,
    );
    let accepted = Family::<PoolWorker, Counter>::default();
    let refused = Family::<PoolWorker, Counter>::default();
    let work = Family::<PoolWorker, Counter<f64, AtomicU64>>::default();
    for ((address, worker), w) in &stats.workers {
        let label = PoolWorker {
            address: address.to_string(),
            worker: worker.clone(),
        };
        accepted.get_or_create(&label).inc_by(w.accepted);
        refused.get_or_create(&label).inc_by(w.refused);
        work.get_or_create(&label).inc_by(w.work as f64);
    }
    r.register(
        "pool_worker_shares_accepted",
        "Shares accepted per worker",
        accepted,
    );
    r.register(
        "pool_worker_shares_refused",
        "Shares refused per worker",
        refused,
    );
    r.register(
        "pool_worker_work",
        "Work (expected hashes) of the accepted shares per worker",
        work,
    );
    let reasons = Family::<Reason, Counter>::default();
    for (reason, n) in &stats.refusals {
        reasons
            .get_or_create(&Reason {
                reason: (*reason).to_owned(),
            })
            .inc_by(*n);
    }
    r.register("pool_refusals", "Stratum refusals by reason", reasons);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Column {
    column: String,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauge_f64(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Everything, as of now.
pub async fn render(ctx: &RpcContext) -> String {
    let mut r = Registry::with_prefix("cairn");
    let params = ctx.node.params();
    let info = Family::<Info, Gauge>::default();
    info.get_or_create(&Info {
        version: env!("CARGO_PKG_VERSION").into(),
        network: params.name().into(),
    })
    .set(1);
    r.register("node_info", "Version and network of this node", info);

    let tip = ctx.node.tip();
    let (mempool_txs, mempool_bytes) = ctx.node.mempool_counts();
    gauge(
        &mut r,
        "chain_height",
        "Height of the main-chain tip",
        int(tip.height),
    );
    let difficulty = tip
        .header
        .target
        .to_target()
        .map_or(0.0, |t| work_to_f64(&t.work()));
    gauge_f64(
        &mut r,
        "chain_difficulty",
        "Expected hashes per block at the tip",
        difficulty,
    );
    gauge(
        &mut r,
        "chain_tip_timestamp_seconds",
        "Timestamp of the tip block",
        int(tip.header.timestamp_ms / 1_000),
    );

    let sync = ctx.sync.as_ref().map(|s| s.status()).unwrap_or_default();
    let target = sync.target.max(tip.height);
    gauge(
        &mut r,
        "sync_target_height",
        "Highest tip a peer claims",
        int(target),
    );
    gauge(
        &mut r,
        "sync_syncing",
        "1 while blocks are being downloaded",
        i64::from(sync.syncing),
    );
    let progress = if target == 0 {
        1.0
    } else {
        tip.height as f64 / target as f64
    };
    gauge_f64(
        &mut r,
        "sync_progress_ratio",
        "Tip height over the sync target",
        progress,
    );

    let peers = Family::<Direction, Gauge>::default();
    for direction in ["inbound", "outbound"] {
        peers
            .get_or_create(&Direction {
                direction: direction.into(),
            })
            .set(0);
    }
    if let Some(client) = &ctx.network {
        for p in client.peers().await {
            let direction = if p.inbound { "inbound" } else { "outbound" };
            peers
                .get_or_create(&Direction {
                    direction: direction.into(),
                })
                .inc();
        }
        let stats = client.stats().await;
        counter(
            &mut r,
            "gossip_messages_received",
            "Gossip messages received",
            stats.gossip_in,
        );
        counter(
            &mut r,
            "gossip_messages_rejected",
            "Gossip messages rejected as invalid",
            stats.gossip_rejected,
        );
        counter(
            &mut r,
            "gossip_messages_published",
            "Gossip messages this node published",
            stats.gossip_published,
        );
        counter(
            &mut r,
            "sync_requests_served",
            "Sync requests answered",
            stats.requests_served,
        );
        counter(
            &mut r,
            "sync_requests_dropped",
            "Sync requests dropped: this node was serving the peer (or all peers) its limit",
            stats.requests_dropped,
        );
        counter(
            &mut r,
            "peer_penalties",
            "Penalties given to peers",
            stats.penalties,
        );
        counter(&mut r, "peer_bans", "Peers banned", stats.bans);
    }
    r.register("peers", "Connected peers by direction", peers);

    gauge(
        &mut r,
        "mempool_transactions",
        "Transfers in the mempool",
        int(mempool_txs as u64),
    );
    gauge(
        &mut r,
        "mempool_bytes",
        "Encoded size of the mempool",
        int(mempool_bytes as u64),
    );

    r.register(
        "block_import_seconds",
        "Time to validate and store a block",
        ctx.node.metrics().block_import_seconds.clone(),
    );

    gauge_f64(
        &mut r,
        "mining_local_hashrate",
        "Hashes per second of the built-in miner",
        local_hashrate(ctx.hashes.as_deref(), &ctx.hash_sample),
    );
    gauge_f64(
        &mut r,
        "mining_network_hashrate",
        "Estimated network hashes per second (last 60 blocks)",
        network_hashrate(&ctx.node),
    );
    let accepted = Family::<Worker, Counter>::default();
    let rejected = Family::<Rejection, Counter>::default();
    for (worker, stats) in ctx.work.workers() {
        accepted
            .get_or_create(&Worker {
                worker: worker.clone(),
            })
            .inc_by(stats.accepted);
        for (reason, n) in stats.rejected {
            rejected
                .get_or_create(&Rejection {
                    worker: worker.clone(),
                    reason: reason.into(),
                })
                .inc_by(n);
        }
    }
    r.register(
        "mining_worker_accepted",
        "Remote-worker blocks accepted",
        accepted,
    );
    r.register(
        "mining_worker_rejected",
        "Remote-worker submissions refused",
        rejected,
    );

    if let Some(pool) = &ctx.pool {
        pool_metrics(&mut r, &pool.stats());
    }

    let store = ctx.node.reader();

    let columns = Family::<Column, Gauge>::default();
    for c in store.column_stats() {
        columns
            .get_or_create(&Column {
                column: c.name.into(),
            })
            .set(int(c.sst_bytes.saturating_add(c.memtable_bytes)));
    }
    r.register(
        "storage_bytes",
        "RocksDB size per column family (SST files and memtables)",
        columns,
    );
    if let Ok(free) = crate::disk::free_bytes(ctx.node.datadir()) {
        gauge(
            &mut r,
            "disk_free_bytes",
            "Free space on the data directory's file system",
            int(free),
        );
    }

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}
