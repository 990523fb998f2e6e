//! Sync over loopback next to local import, measured in one run.
//!
//! `cargo bench -p cairn-tests --bench sync` (after `--`: number of full blocks,
//! default 20). Node A imports the blocks directly (`Node::submit_block`: the local
//! import rate); then a fresh node B, on the same machine, syncs them from A over
//! libp2p (headers first, then bodies), and the time until B's tip equals A's gives
//! the sync rate. Blocks are full (1 MB, ~6 900 signed transfers between 1 000
//! accounts), on the test network (real PoW, about 256 hashes a block).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cairn_core::testkit::full_blocks;
use cairn_tests::{NodeOptions, TestNode, eventually, test_params};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(n));
}

async fn run(n: usize) {
    let params = test_params();
    eprintln!("building {n} full blocks...");
    let blocks = full_blocks(&params, n);
    let txs: usize = blocks.iter().map(|b| b.txs.len() - 1).sum();

    let a = TestNode::start(&params, NodeOptions::default()).await;
    let start = Instant::now();
    for block in &blocks {
        a.import(block.clone());
    }
    let import_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let b = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    let tip = a.tip().id;
    assert!(
        eventually(Duration::from_secs(600), || b.tip().id == tip).await,
        "sync did not finish"
    );
    let sync_secs = start.elapsed().as_secs_f64();
    let import_rate = txs as f64 / import_secs;
    let sync_rate = txs as f64 / sync_secs;
    println!(
        "{{\"blocks\": {}, \"txs\": {txs}, \"import_blocks_per_second\": {:.2}, \"import_txs_per_second\": {import_rate:.0}, \"sync_blocks_per_second\": {:.2}, \"sync_txs_per_second\": {sync_rate:.0}, \"sync_over_import\": {:.3}}}",
        blocks.len(),
        blocks.len() as f64 / import_secs,
        blocks.len() as f64 / sync_secs,
        sync_rate / import_rate
    );
}
