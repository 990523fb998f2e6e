//! Headers-first sync: a fresh node catches up with a long chain, also after being
//! killed (SIGKILL, as a real `cairn-node` process) half-way through.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_core::testkit::ChainBuilder;
use cairn_core::{Block, ChainParams};
use cairn_tests::{NodeOptions, NodeProcess, TestNode, eventually, test_params, tip_height_in};

/// A chain of `n` blocks on `params`, each with `per_block` transfers between the
/// dev accounts, one second apart.
fn long_chain(params: &ChainParams, n: usize, per_block: usize) -> Vec<Block> {
    let mut b = ChainBuilder::new(params.clone());
    let keys = dev_keys();
    for h in 0..n {
        let txs = (0..per_block)
            .map(|i| {
                let from = (h + i) % keys.len();
                let to = keys[(from + 1) % keys.len()].address();
                b.transfer(from, to, 1_000 + h as u64, 2_000)
            })
            .collect();
        b.extend(txs, 1_000);
    }
    b.blocks[1..].to_vec()
}

async fn node_with_chain(params: &ChainParams, blocks: &[Block]) -> TestNode {
    let a = TestNode::start(params, NodeOptions::default()).await;
    for block in blocks {
        a.import(block.clone());
    }
    assert_eq!(a.tip().id, blocks.last().unwrap().id());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_catches_up_with_a_long_chain() {
    let params = test_params();
    let blocks = long_chain(&params, 600, 4);
    let a = node_with_chain(&params, &blocks).await;
    let b = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    // A third node that knows only B: it syncs from a node that is itself syncing.
    let c = TestNode::start(&params, NodeOptions::boot(&b.addr)).await;
    let tip = a.tip().id;
    assert!(
        eventually(Duration::from_secs(60), || b.tip().id == tip
            && c.tip().id == tip)
        .await,
        "sync stalled: a={} b={} c={}",
        a.tip().height,
        b.tip().height,
        c.tip().height
    );
    for key in dev_keys() {
        let addr = key.address();
        assert_eq!(b.balance(&addr), a.balance(&addr));
        assert_eq!(c.balance(&addr), a.balance(&addr));
    }
    assert!(b.supply_is_conserved() && c.supply_is_conserved());
    // And it follows new blocks by gossip.
    let next = a.mine_block(dev_keys()[3].address());
    assert!(eventually(Duration::from_secs(20), || c.tip().id == next.id()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_come_from_every_peer_that_has_them() {
    let params = test_params();
    let blocks = long_chain(&params, 400, 2);
    let a = node_with_chain(&params, &blocks).await;
    let b = node_with_chain(&params, &blocks).await;
    let c = TestNode::start(
        &params,
        NodeOptions {
            bootnodes: vec![a.addr.clone(), b.addr.clone()],
            ..NodeOptions::default()
        },
    )
    .await;
    let tip = a.tip().id;
    assert!(eventually(Duration::from_secs(60), || c.tip().id == tip).await);
    let (sa, sb) = (a.stats().await, b.stats().await);
    assert_eq!(sa.blocks_served + sb.blocks_served, 400, "{sa:?} {sb:?}");
    assert!(
        sa.blocks_served > 0 && sb.blocks_served > 0,
        "one peer served everything: a={} b={}",
        sa.blocks_served,
        sb.blocks_served
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_half_way_through_sync_resumes_on_restart() {
    let params = test_params();
    let n = 1_200;
    let blocks = long_chain(&params, n, 8);
    let a = node_with_chain(&params, &blocks).await;

    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, params.to_json()).unwrap();
    let datadir = dir.path().join("node");
    let args: Vec<String> = [
        "--genesis",
        genesis.to_str().unwrap(),
        "--datadir",
        datadir.to_str().unwrap(),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootnode",
        &a.addr.to_string(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let process = NodeProcess::spawn(&args);
    let seen = process.wait_for(Duration::from_secs(60), |line| {
        tip_height_in(line).filter(|h| *h >= 100)
    });
    assert!(seen.is_some(), "the node process did not start syncing");
    process.kill();

    // The store reopens on a consistent tip somewhere on the way.
    let resumed_at = {
        let store = std::sync::Arc::new(
            cairn_node::store::Store::open(&datadir.join("db"), &params).unwrap(),
        );
        let (chain, _) = cairn_node::chain::Chain::open(params.clone(), store).unwrap();
        chain.tip().height
    };
    let b = TestNode::start(
        &params,
        NodeOptions {
            bootnodes: vec![a.addr.clone()],
            datadir: Some(datadir.clone()),
            ..NodeOptions::default()
        },
    )
    .await;
    assert!(
        resumed_at >= 100,
        "restarted below the height seen: {resumed_at}"
    );
    assert!(
        resumed_at < n as u64,
        "the kill came after sync had finished; the test proves nothing"
    );
    let tip = a.tip().id;
    assert!(
        eventually(Duration::from_secs(60), || b.tip().id == tip).await,
        "did not finish syncing after the restart: {} of {n}",
        b.tip().height
    );
    assert!(b.supply_is_conserved());
}
