//! Real nodes on loopback: gossip of transfers and blocks, convergence after a
//! partition, and networks that must never mix.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_tests::{NodeOptions, TestNode, dev_transfer, eventually, other_params, test_params};

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_transfers_blocks_and_one_tip() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let boot = NodeOptions::boot(&a.addr);
    let b = TestNode::start(&params, boot.clone()).await;
    let c = TestNode::start(&params, boot).await;
    let nodes = [&a, &b, &c];

    // Wait for the gossip mesh: a transfer published before a peer subscribes is
    // lost to it (as on any gossip network), so retry, each time from another
    // sender so that a lost transfer leaves no nonce gap behind.
    let to = dev_keys()[5].address();
    let mut reached = false;
    for sender in 0..5 {
        let tx = dev_transfer(a.node(), sender, to, 1_000);
        let id = a.node().submit_transfer(tx).unwrap();
        if eventually(Duration::from_secs(2), || {
            nodes.iter().all(|n| n.mempool_has(&id))
        })
        .await
        {
            reached = true;
            break;
        }
    }
    assert!(reached, "no transfer sent to A reached every mempool");

    // One more, now that the mesh is up: it must reach everyone.
    let tx = dev_transfer(a.node(), 6, to, 777);
    let id = a.node().submit_transfer(tx).unwrap();
    assert!(
        eventually(T, || nodes.iter().all(|n| n.mempool_has(&id))).await,
        "transfer did not reach all mempools"
    );

    // A block mined by B (holding the transfers) reaches everyone, and the
    // transfers leave every mempool.
    let block = b.mine_block(dev_keys()[9].address());
    assert!(block.txs.len() > 1, "the block carries the transfers");
    assert!(
        eventually(T, || nodes.iter().all(|n| n.tip().id == block.id())).await,
        "block mined by B did not become everyone's tip: {:?}",
        nodes.map(|n| n.tip().height)
    );
    assert!(nodes.iter().all(|n| !n.mempool_has(&id)));

    // A few more from different miners: still one tip.
    for n in [&c, &a, &b] {
        let block = n.mine_block(dev_keys()[8].address());
        assert!(
            eventually(T, || nodes.iter().all(|m| m.tip().id == block.id())).await,
            "tips differ: {:?}",
            nodes.map(|n| n.tip().height)
        );
    }
    assert_eq!(a.tip().height, 4);
    assert!(nodes.iter().all(|n| n.supply_is_conserved()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_miners_converge_on_the_most_work_chain() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let b = TestNode::start(&params, NodeOptions::default()).await;
    let c = TestNode::start(&params, NodeOptions::boot(&b.addr)).await;

    // A mines 4 blocks alone, one of them with a transfer; B (with C) mines 10.
    let tx = dev_transfer(a.node(), 2, dev_keys()[7].address(), 123_456);
    let txid = a.node().submit_transfer(tx).unwrap();
    for _ in 0..4 {
        a.mine_block(dev_keys()[0].address());
    }
    assert!(
        !a.mempool_has(&txid),
        "the transfer is confirmed on A's branch"
    );
    let mut last = None;
    for _ in 0..10 {
        last = Some(b.mine_block(dev_keys()[1].address()).id());
    }
    let heavy = last.unwrap();
    assert!(eventually(T, || c.tip().id == heavy).await);
    assert!(b.tip().work > a.tip().work);

    // Heal the partition.
    a.dial(&b.addr).await;
    assert!(
        eventually(T, || [&a, &b, &c].iter().all(|n| n.tip().id == heavy)).await,
        "nodes did not converge: a={} b={} c={}",
        a.tip().height,
        b.tip().height,
        c.tip().height
    );
    // The transfer of A's abandoned branch is pending again.
    assert!(
        eventually(T, || a.mempool_has(&txid)).await,
        "the losing branch's transfer is not back in A's mempool"
    );
    for n in [&a, &b, &c] {
        assert!(n.supply_is_conserved());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_different_networks_never_exchange_blocks() {
    never_exchange(&test_params(), &other_params()).await;
}

/// A copy of the test network's genesis.json that keeps the chain id and changes one
/// rule (not in the genesis block) keeps the genesis id as well: only the network id
/// tells the two networks apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_sharing_a_genesis_block_never_exchange_blocks() {
    let params = test_params();
    let mut cfg = params.config().clone();
    cfg.max_future_drift_ms += 1;
    let copy = cairn_core::ChainParams::from_config(cfg).unwrap();
    assert_eq!(copy.genesis_id(), params.genesis_id());
    assert_eq!(copy.chain_id(), params.chain_id());
    never_exchange(&params, &copy).await;
}

/// Node Y of `y_params` boots from node X of `x_params`: they part once identify tells
/// them apart, and neither X's blocks nor its transfers reach Y.
async fn never_exchange(x_params: &cairn_core::ChainParams, y_params: &cairn_core::ChainParams) {
    let x = TestNode::start(x_params, NodeOptions::default()).await;
    let y = TestNode::start(y_params, NodeOptions::boot(&x.addr)).await;
    for _ in 0..3 {
        x.mine_block(dev_keys()[0].address());
    }
    let tx = dev_transfer(x.node(), 0, dev_keys()[1].address(), 5_000);
    let txid = x.node().submit_transfer(tx).unwrap();
    // The other network's node drops the connection once identify tells it apart.
    assert!(
        cairn_tests::eventually_async(T, || async { !x.peers().await.contains(&y.peer_id) }).await,
        "nodes of different networks stayed connected"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(y.tip().height, 0, "a block crossed networks");
    assert!(!y.mempool_has(&txid), "a transfer crossed networks");
    assert_eq!(x.tip().height, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_discovers_peers_beyond_its_bootnode() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let boot = NodeOptions::boot(&a.addr);
    let b = TestNode::start(&params, boot.clone()).await;
    let c = TestNode::start(&params, boot.clone()).await;
    // D knows only A; Kademlia tells it about B and C.
    let d = TestNode::start(&params, boot).await;
    assert!(
        cairn_tests::eventually_async(T, || async {
            let peers = d.peers().await;
            peers.contains(&b.peer_id) && peers.contains(&c.peer_id)
        })
        .await,
        "D did not find B and C: {:?}",
        d.peers().await
    );
}
