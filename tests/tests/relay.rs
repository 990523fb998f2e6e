//! Compact block relay and mempool sync between real nodes on loopback: blocks are
//! rebuilt from the receivers' mempools (with no round trip when they hold every
//! transfer or the announcer prefilled what they lacked, with one when it did not),
//! and a node that joins late fetches the transfers still pending. Also: a node asks
//! no peer for more at once than that peer serves it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cairn_core::TxId;
use cairn_core::genesis::dev_keys;
use cairn_node::TxSource;
use cairn_node::network::{MAX_SERVING_PER_PEER, NetworkStats, SyncRequest, SyncResponse};
use cairn_tests::{NodeOptions, TestNode, dev_transfer, eventually, test_params};

const T: Duration = Duration::from_secs(20);

/// Sends transfers from `senders` to `node` and waits until every node holds them,
/// retrying from the next sender while the gossip mesh forms (a transfer published
/// before a peer subscribes is lost to it).
async fn mesh_up(nodes: &[&TestNode]) {
    let to = dev_keys()[9].address();
    for sender in 0..6 {
        let tx = dev_transfer(nodes[0].node(), sender, to, 1_000);
        let id = nodes[0].node().submit_transfer(tx).unwrap();
        if eventually(Duration::from_secs(2), || {
            nodes.iter().all(|n| n.mempool_has(&id))
        })
        .await
        {
            return;
        }
    }
    panic!("no transfer reached every mempool");
}

/// Adds a transfer to `node`'s mempool without gossiping it (as if it had arrived
/// from a peer that sent it to no one else).
fn only_at(node: &TestNode, sender: usize, amount: u64) -> TxId {
    let tx = dev_transfer(node.node(), sender, dev_keys()[9].address(), amount);
    node.node()
        .submit_transfer_from(tx, TxSource::Peer)
        .unwrap()
}

async fn all_stats(nodes: &[&TestNode]) -> Vec<NetworkStats> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.stats().await);
    }
    out
}

/// Mines a block on `miner` and waits until every node has it as its tip.
async fn mine_and_spread(miner: &TestNode, nodes: &[&TestNode]) -> cairn_core::Block {
    let block = miner.mine_block(dev_keys()[8].address());
    assert!(
        eventually(T, || nodes.iter().all(|n| n.tip().id == block.id())).await,
        "block {} did not reach every node: {:?}",
        block.header.height,
        nodes.iter().map(|n| n.tip().height).collect::<Vec<_>>()
    );
    block
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_blocks_are_rebuilt_from_mempools_and_only_missing_transfers_are_fetched() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let b = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    let c = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    let nodes = [&a, &b, &c];
    mesh_up(&nodes).await;
    let receivers = [&a, &c];
    // Transfers lost while the mesh formed may be in some mempools and not others:
    // a first block confirms whatever the miner holds.
    mine_and_spread(&b, &nodes).await;

    // 1. Every receiver holds every transfer: rebuilt with no round trip.
    let to = dev_keys()[9].address();
    let mut sent = Vec::new();
    for sender in [6, 7] {
        let tx = dev_transfer(a.node(), sender, to, 5_000);
        sent.push(a.node().submit_transfer(tx).unwrap());
    }
    assert!(
        eventually(T, || nodes
            .iter()
            .all(|n| sent.iter().all(|id| n.mempool_has(id))))
        .await
    );
    let before = all_stats(&receivers).await;
    let block = mine_and_spread(&b, &nodes).await;
    assert_eq!(block.txs.len(), 3, "the block carries the two transfers");
    let after = all_stats(&receivers).await;
    for (x, y) in before.iter().zip(&after) {
        assert_eq!(y.compact_rebuilt, x.compact_rebuilt + 1, "{y:?}");
        assert_eq!(y.compact_completed, x.compact_completed);
        assert_eq!(y.compact_fetched, x.compact_fetched);
        assert!(y.compact_bytes > x.compact_bytes);
    }

    // 2. Transfers only the miner holds, which reached it more than a second before
    //    the block (so they are not prefilled): the receivers ask for them.
    let hidden = [only_at(&b, 1, 11), only_at(&b, 2, 12), only_at(&b, 3, 13)];
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // A receiver that connected to the miner since (discovery keeps dialling) has
    // fetched its mempool, hidden transfers included; A, connected from the start,
    // has not.
    let had: Vec<bool> = receivers
        .iter()
        .map(|n| hidden.iter().all(|h| n.mempool_has(h)))
        .collect();
    assert!(!had[0], "A got the hidden transfers");
    let before = all_stats(&receivers).await;
    let block = mine_and_spread(&b, &nodes).await;
    let ids = block.txids();
    assert!(hidden.iter().all(|h| ids.contains(h)));
    let after = all_stats(&receivers).await;
    for ((x, y), had) in before.iter().zip(&after).zip(had) {
        let (rebuilt, completed) = if had { (1, 0) } else { (0, 1) };
        assert_eq!(y.compact_rebuilt, x.compact_rebuilt + rebuilt, "{y:?}");
        assert_eq!(
            y.compact_completed,
            x.compact_completed + completed,
            "{y:?}"
        );
        assert_eq!(y.compact_fetched, x.compact_fetched, "{y:?}");
    }

    // 3. Transfers that reached the miner just now are prefilled: no round trip.
    let fresh = [only_at(&b, 4, 21), only_at(&b, 5, 22)];
    let before = all_stats(&receivers).await;
    let block = mine_and_spread(&b, &nodes).await;
    assert!(fresh.iter().all(|h| block.txids().contains(h)));
    let after = all_stats(&receivers).await;
    for (x, y) in before.iter().zip(&after) {
        assert_eq!(y.compact_rebuilt, x.compact_rebuilt + 1, "{y:?}");
        assert_eq!(y.compact_completed, x.compact_completed);
    }

    // Nobody was penalised for any of it, and the chains agree on the supply.
    for n in &nodes {
        let s = n.stats().await;
        assert_eq!((s.penalties, s.bans), (0, 0), "{s:?}");
        assert!(n.supply_is_conserved());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_fetches_the_pending_transfers() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let pending: Vec<TxId> = (0..4).map(|s| only_at(&a, s, 100 + s as u64)).collect();

    let late = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    assert!(
        eventually(T, || pending.iter().all(|id| late.mempool_has(id))).await,
        "the late node did not fetch the pending transfers"
    );
    assert_eq!(late.stats().await.mempool_synced, 4);

    // It can build a full template from them, and the block it mines is rebuilt by
    // the first node from its own mempool.
    let block = mine_and_spread(&late, &[&a, &late]).await;
    assert_eq!(block.txs.len(), 5);
    let s = a.stats().await;
    assert_eq!(s.compact_rebuilt, 1, "{s:?}");
    assert_eq!((s.penalties, late.stats().await.penalties), (0, 0));
}

/// A node has no more requests open at a peer than the peer serves one peer at once
/// (`network::MAX_SERVING_PER_PEER`), whoever asks (sync, the relay, or here a caller
/// of the network client): the rest wait their turn at the sender instead of being
/// dropped by the peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_what_a_peer_serves_at_once_wait_their_turn() {
    let params = test_params();
    let a = TestNode::start(&params, NodeOptions::default()).await;
    let blocks: Vec<cairn_core::Block> = (0..30)
        .map(|_| a.mine_block(dev_keys()[8].address()))
        .collect();
    let b = TestNode::start(&params, NodeOptions::boot(&a.addr)).await;
    assert!(
        eventually(T, || b.tip().id == a.tip().id).await,
        "b did not sync"
    );
    let peer = b.peers().await[0];
    let ids: Vec<_> = blocks.iter().map(cairn_core::Block::id).collect();
    let genesis = blocks[0].header.prev;

    let burst = 4 * MAX_SERVING_PER_PEER;
    let answers = futures::future::join_all((0..burst).map(|i| {
        let request = if i % 2 == 0 {
            SyncRequest::Blocks { ids: ids.clone() }
        } else {
            SyncRequest::Headers {
                locator: vec![genesis],
                max: 1_000,
            }
        };
        b.request(peer, request)
    }))
    .await;
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(SyncResponse::Blocks(got)) => assert_eq!(got.len(), ids.len(), "request {i}"),
            Ok(SyncResponse::Headers(got)) => assert_eq!(got.len(), ids.len(), "request {i}"),
            other => panic!("request {i}: {other:?}"),
        }
    }
    let s = a.stats().await;
    assert_eq!(s.requests_dropped, 0, "{s:?}");
    assert_eq!((s.penalties, b.stats().await.penalties), (0, 0));
}
