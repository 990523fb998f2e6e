//! Propagation in a 5-node loopback network: from submit to every mempool (a
//! transfer) and from mined to every tip (a block), p50 and p99.
//!
//! `cargo bench -p cairn-tests --bench propagation` (after `--`: number of transfers,
//! of small blocks and of full blocks, default 300, 100 and 0). Each node records when
//! its own event stream reports the transfer or the new tip; a sample's latency is the
//! slowest node's. Full blocks are filled with transfers submitted to the mining node
//! (gossiped to the others as usual) just before it mines. At the end it reports every
//! penalty and ban the honest nodes gave each other (it must be 0).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_core::Hash;
use cairn_core::genesis::dev_keys;
use cairn_core::testkit::solve_naive;
use cairn_node::{BlockSource, NodeEvent};
use cairn_tests::{NodeOptions, TestNode, dev_transfer, eventually, eventually_async, test_params};

const NODES: usize = 5;

type Seen = Arc<Mutex<HashMap<Hash, Vec<Instant>>>>;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let txs = args.first().copied().unwrap_or(300);
    let blocks = args.get(1).copied().unwrap_or(100);
    let full = args.get(2).copied().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(txs, blocks, full));
}

/// The `pct`-th percentile (nearest rank) in milliseconds.
fn percentile(sorted: &[Duration], pct: usize) -> f64 {
    let i = ((sorted.len() - 1) * pct).div_ceil(100);
    sorted[i].as_secs_f64() * 1_000.0
}

async fn run(n_txs: usize, n_blocks: usize, n_full: usize) {
    let params = test_params();
    let first = TestNode::start(&params, NodeOptions::default()).await;
    let mut nodes = vec![first];
    for _ in 1..NODES {
        let boot = nodes.iter().map(|n| n.addr.clone()).collect();
        let node = TestNode::start(
            &params,
            NodeOptions {
                bootnodes: boot,
                ..NodeOptions::default()
            },
        )
        .await;
        nodes.push(node);
    }
    for n in &nodes {
        assert!(
            eventually_async(Duration::from_secs(20), || async {
                n.peers().await.len() >= NODES - 1
            })
            .await,
            "the network did not form"
        );
    }
    // Let the gossip meshes settle (a few heartbeats).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let seen: Seen = Arc::default();
    for n in &nodes {
        let mut events = n.node().subscribe();
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                let now = Instant::now();
                let key = match e {
                    NodeEvent::TransferAdded { tx, .. } => tx.id(),
                    NodeEvent::TipChanged { connected, .. } => match connected.last() {
                        Some(b) => b.id(),
                        None => continue,
                    },
                };
                seen.lock().unwrap().entry(key).or_default().push(now);
            }
        });
    }
    let wait_all = |key: Hash, timeout: Duration| {
        let seen = seen.clone();
        async move {
            eventually(timeout, || {
                seen.lock()
                    .unwrap()
                    .get(&key)
                    .is_some_and(|v| v.len() == NODES)
            })
            .await
        }
    };

    let mut tx_lat = Vec::new();
    for i in 0..n_txs {
        let origin = &nodes[i % NODES];
        let to = dev_keys()[(i + 1) % 10].address();
        let tx = dev_transfer(origin.node(), i % 10, to, 1_000);
        let start = Instant::now();
        let id = origin.node().submit_transfer(tx).unwrap();
        assert!(
            wait_all(id, Duration::from_secs(10)).await,
            "transfer {i} did not reach every mempool"
        );
        let last = *seen.lock().unwrap()[&id].iter().max().unwrap();
        tx_lat.push(last - start);
    }

    // Mines a block on `origin`'s template and returns how long it took to reach
    // every node, and how many transactions it held.
    let propagate = |origin: &TestNode, timeout: Duration| {
        let mut block = origin.node().block_template(dev_keys()[0].address());
        let txs = block.txs.len();
        assert!(solve_naive(&mut block.header, 1 << 24));
        let id = block.id();
        let start = Instant::now();
        origin
            .node()
            .submit_block(block, BlockSource::Miner)
            .unwrap();
        let wait = wait_all(id, timeout);
        let seen = seen.clone();
        async move {
            assert!(wait.await, "block {id} did not reach every node");
            let last = *seen.lock().unwrap()[&id].iter().max().unwrap();
            (last - start, txs)
        }
    };
    let mut block_lat = Vec::new();
    for i in 0..n_blocks {
        let (lat, _) = propagate(&nodes[i % NODES], Duration::from_secs(10)).await;
        block_lat.push(lat);
    }

    // Full blocks: fill the origin's mempool (each dev key sends a run of transfers),
    // then mine. The other nodes get most transfers by gossip, the rest in the block.
    let mut full_lat = Vec::new();
    let mut full_txs = 0;
    for i in 0..n_full {
        let origin = &nodes[i % NODES];
        let per_tx = cairn_core::tx::TRANSFER_LEN + 1;
        let want = params.max_block_bytes() / per_tx;
        for j in 0..want {
            let to = dev_keys()[(j + 1) % 10].address();
            let tx = dev_transfer(origin.node(), j % 10, to, 1_000);
            origin.node().submit_transfer(tx).unwrap();
        }
        let (lat, txs) = propagate(origin, Duration::from_secs(60)).await;
        full_txs += txs;
        full_lat.push(lat);
    }
    let (mut penalties, mut bans) = (0, 0);
    for n in &nodes {
        let stats = n.stats().await;
        penalties += stats.penalties;
        bans += stats.bans;
    }
    full_lat.sort();
    tx_lat.sort();
    block_lat.sort();
    let block_txs: usize = {
        let tip = nodes[0].tip().height;
        (1..=tip)
            .map(|h| nodes[0].node().block_at(h).unwrap().unwrap().txs.len())
            .sum()
    };
    let full_ms = |pct| {
        if full_lat.is_empty() {
            0.0
        } else {
            percentile(&full_lat, pct)
        }
    };
    println!(
        "{{\"nodes\": {NODES}, \"full_blocks\": {}, \"full_block_txs\": {full_txs}, \"full_p50_ms\": {:.2}, \"full_max_ms\": {:.2}, \"penalties\": {penalties}, \"bans\": {bans}}}",
        full_lat.len(),
        full_ms(50),
        full_ms(100),
    );
    println!(
        "{{\"nodes\": {NODES}, \"txs\": {}, \"tx_p50_ms\": {:.2}, \"tx_p99_ms\": {:.2}, \"tx_max_ms\": {:.2}, \"blocks\": {}, \"block_p50_ms\": {:.2}, \"block_p99_ms\": {:.2}, \"block_max_ms\": {:.2}, \"txs_in_blocks\": {block_txs}}}",
        tx_lat.len(),
        percentile(&tx_lat, 50),
        percentile(&tx_lat, 99),
        percentile(&tx_lat, 100),
        block_lat.len(),
        percentile(&block_lat, 50),
        percentile(&block_lat, 99),
        percentile(&block_lat, 100),
    );
}
